//! Stage timings logged at debug level (`RUST_LOG=mcpbox_gitops=debug`), so a
//! slow plan or apply says where its time went without a profiler. Nothing
//! here decides anything; benchmarks measure from the outside.

use std::cell::Cell;
use std::time::Instant;

/// Laps of one piece of work: each [`Laps::lap`] logs the time since the last.
pub struct Laps(Cell<Instant>);

impl Default for Laps {
    fn default() -> Laps {
        Laps(Cell::new(Instant::now()))
    }
}

impl Laps {
    /// Logs how long the stage `what` (which just ended) took.
    pub fn lap(&self, what: &str) {
        let now = Instant::now();
        let ms = now.duration_since(self.0.replace(now)).as_millis() as u64;
        tracing::debug!(ms, peak_mib = peak_rss_mib(), "{what}");
    }
}

/// The process's peak resident set so far (`VmHWM`), in MiB, where the
/// system says (Linux); 0 elsewhere.
pub fn peak_rss_mib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VmHWM:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        })
        .map_or(0, |kib| kib / 1024)
}
