//! A spinner on stderr for plans and applies that take more than a second:
//! which step is running ("reading the database", "planning", …) and for how
//! long. Only on a terminal, never in pipes, CI logs or `--format json`
//! output; `MCPBOX_GITOPS_PROGRESS=never` turns it off.
//!
//! `MCPBOX_GITOPS_PROGRESS_AFTER` (milliseconds, default 1000) sets the delay
//! before it appears; tests set it to 0.

use std::io::IsTerminal;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// The spinner of one command; cleared when dropped.
pub struct Progress {
    bar: Option<ProgressBar>,
    done: Arc<AtomicBool>,
    /// The step running and when it started, for the timings logged at
    /// debug level (`RUST_LOG=mcpbox_gitops=debug`): where a slow plan goes.
    current: std::sync::Mutex<(String, std::time::Instant)>,
}

impl Progress {
    /// Starts the spinner, hidden until the delay has passed. Does nothing
    /// when stderr is not a terminal.
    pub fn start(first: &str) -> Progress {
        let done = Arc::new(AtomicBool::new(false));
        let current = std::sync::Mutex::new((first.to_string(), std::time::Instant::now()));
        let wanted = std::env::var("MCPBOX_GITOPS_PROGRESS").ok();
        if wanted.as_deref() == Some("never") || !std::io::stderr().is_terminal() {
            return Progress {
                bar: None,
                done,
                current,
            };
        }
        let after = std::env::var("MCPBOX_GITOPS_PROGRESS_AFTER")
            .ok()
            .and_then(|v| v.parse::<u64>().ok())
            .map_or(Duration::from_secs(1), Duration::from_millis);
        let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::hidden());
        // The template is a constant that parses; the fallback keeps the
        // default look if it ever did not.
        let style = ProgressStyle::with_template("{spinner} {msg} ({elapsed})")
            .unwrap_or_else(|_| ProgressStyle::default_spinner());
        bar.set_style(style);
        bar.set_message(first.to_string());
        if after.is_zero() {
            bar.set_draw_target(ProgressDrawTarget::stderr());
            bar.tick();
        } else {
            let shown = bar.clone();
            let finished = done.clone();
            std::thread::spawn(move || {
                std::thread::sleep(after);
                if !finished.load(Ordering::SeqCst) {
                    shown.set_draw_target(ProgressDrawTarget::stderr());
                    shown.tick();
                }
            });
        }
        bar.enable_steady_tick(Duration::from_millis(120));
        Progress {
            bar: Some(bar),
            done,
            current,
        }
    }

    /// Names the step now running.
    pub fn step(&self, what: &str) {
        self.log_step(what);
        if let Some(bar) = &self.bar {
            bar.set_message(what.to_string());
        }
    }

    /// Clears the spinner (before printing the plan or asking).
    pub fn finish(&self) {
        if !self.done.swap(true, Ordering::SeqCst) {
            self.log_step("");
        }
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}

impl Progress {
    /// Logs how long the step that ends took and starts timing `next`.
    fn log_step(&self, next: &str) {
        let Ok(mut current) = self.current.lock() else {
            return;
        };
        let (step, started) = &*current;
        tracing::debug!(
            step = %step,
            ms = started.elapsed().as_millis() as u64,
            peak_mib = crate::timing::peak_rss_mib(),
            "step took"
        );
        *current = (next.to_string(), std::time::Instant::now());
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        self.finish();
    }
}
