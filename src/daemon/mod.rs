//! The reconciliation daemon: the CLI's plan and apply in a loop, following a
//! branch or a directory, with drift reports, one leader among replicas, an HTTP
//! endpoint (health, status, webhooks, metrics) and activation in MCPBox's sandbox.
//!
//! # Layout
//! - `config`: the resolved options (flags merged over the `--config` file).
//! - `source`: reads the manifests and names their revision (commit SHA or a
//!   content hash), cheaply when only the revision is needed.
//! - `pass`: one level-triggered pass (read, skip, diff, classify, apply, activate).
//! - `drift`: who changed a drifted object, from MCPBox's `activity_logs`.
//! - `leader`: the advisory-lock leader election on a dedicated connection.
//! - `control`: suspend/resume and the remembered last good pass (`daemon_state`).
//! - `status`: the daemon's state, one struct behind a lock; handlers read snapshots.
//! - `http`: the axum server (`/healthz`, `/readyz`, `/status`, `/hooks/git`, `/metrics`).
//! - `metrics`: the Prometheus text rendering of a status snapshot.
//! - [`page`]: the status page (`GET /`), rendered from the status document.
//! - `watch`: the debounced `notify` watcher for local sources.
//! - `run` (here): the loop, its back-off and the shutdown on SIGTERM/SIGINT.
//!
//! Flags are parsed in `cli::daemon`; nothing here reads the command line.

pub mod config;
pub mod control;
pub mod drift;
pub mod http;
pub mod leader;
pub mod metrics;
pub mod page;
pub mod pass;
pub mod source;
pub mod status;
pub mod watch;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use rand::Rng;
use sqlx::PgPool;
use tokio::sync::Notify;
use tracing::{info, warn};

pub use config::Config;
pub use status::{Shared, Status};

/// Errors that stop the daemon from starting.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The HTTP listener could not be bound.
    #[error("cannot listen on {addr}: {source}")]
    Listen {
        /// The address.
        addr: String,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The file watcher could not be started.
    #[error("cannot watch {path}: {message}")]
    Watch {
        /// What was watched.
        path: String,
        /// Why.
        message: String,
    },
}

/// The first back-off after a failed pass; doubled per failure up to [`BACKOFF_CAP`].
pub const BACKOFF_START: Duration = Duration::from_secs(1);
/// The longest back-off.
pub const BACKOFF_CAP: Duration = Duration::from_secs(300);

/// The delay before the next pass: the interval plus up to 10% jitter after a
/// good pass; after `failures` failed passes in a row, 1 s doubling per failure
/// (capped at 5 min) with up to 25% jitter.
pub fn next_delay(interval: Duration, failures: u32) -> Duration {
    let mut rng = rand::thread_rng();
    if failures == 0 {
        let jitter = interval.as_secs_f64() * 0.1 * rng.gen::<f64>();
        return interval + Duration::from_secs_f64(jitter);
    }
    let base = BACKOFF_START
        .saturating_mul(1u32 << (failures - 1).min(16))
        .min(BACKOFF_CAP);
    let jitter = base.as_secs_f64() * 0.25 * rng.gen::<f64>();
    (base + Duration::from_secs_f64(jitter)).min(BACKOFF_CAP)
}

/// Runs the daemon until SIGTERM or SIGINT; a pass in flight finishes first.
pub async fn run(cfg: Config, pool: PgPool) -> Result<(), Error> {
    let shared = Arc::new(Shared::new(&cfg, pool.clone()));
    let shutdown = Arc::new(AtomicBool::new(false));
    let stop = Arc::new(Notify::new());
    leader::start(cfg.leader_options.clone(), shared.clone()).await;
    let listener = tokio::net::TcpListener::bind(&cfg.listen)
        .await
        .map_err(|source| Error::Listen {
            addr: cfg.listen.clone(),
            source,
        })?;
    let addr = listener
        .local_addr()
        .map(|a| a.to_string())
        .unwrap_or_else(|_| cfg.listen.clone());
    info!("listening on {addr}");
    tokio::spawn(http::serve(listener, shared.clone()));
    let _watcher = match cfg.source.watch_path() {
        Some(path) => Some(watch::spawn(&path, shared.wake.clone())?),
        None => None,
    };
    spawn_signals(shutdown.clone(), stop.clone());
    if cfg.activation.is_none() {
        info!("activation is off: applied changes reach MCPBox's sandbox only at its next restart (pass --sandbox-url or --activate to re-register running servers)");
    }
    let mut failures = 0u32;
    while !shutdown.load(Ordering::SeqCst) {
        let outcome = pass::run(&cfg, &shared).await;
        failures = if outcome.failed() { failures + 1 } else { 0 };
        if shutdown.load(Ordering::SeqCst) {
            break;
        }
        let delay = next_delay(cfg.interval, failures);
        tokio::select! {
            _ = tokio::time::sleep(delay) => {}
            _ = shared.wake.notified() => {}
            _ = stop.notified() => {}
        }
    }
    info!("stopped");
    Ok(())
}

/// One pass for `--once`: the outcome as one JSON line's value.
pub async fn once(cfg: &Config, pool: PgPool) -> pass::Outcome {
    let shared = Shared::new(cfg, pool);
    leader::try_once(&cfg.leader_options, &shared).await;
    pass::run(cfg, &shared).await
}

/// SIGTERM and SIGINT set `shutdown` and wake the loop; the pass in flight is
/// never cancelled.
fn spawn_signals(shutdown: Arc<AtomicBool>, stop: Arc<Notify>) {
    tokio::spawn(async move {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{signal, SignalKind};
            match signal(SignalKind::terminate()) {
                Ok(mut term) => {
                    tokio::select! {
                        _ = term.recv() => {}
                        _ = tokio::signal::ctrl_c() => {}
                    }
                }
                Err(e) => {
                    warn!("cannot handle SIGTERM ({e}); only SIGINT stops the daemon cleanly");
                    let _ = tokio::signal::ctrl_c().await;
                }
            }
        }
        #[cfg(not(unix))]
        {
            let _ = tokio::signal::ctrl_c().await;
        }
        info!("shutting down: no new pass; the pass in flight finishes");
        shutdown.store(true, Ordering::SeqCst);
        stop.notify_one();
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn back_off_doubles_from_one_second_and_is_capped() {
        let interval = Duration::from_secs(60);
        for _ in 0..20 {
            let ok = next_delay(interval, 0);
            assert!(ok >= interval && ok <= Duration::from_secs(66), "{ok:?}");
            let first = next_delay(interval, 1);
            assert!(first >= BACKOFF_START && first <= Duration::from_millis(1250));
            let third = next_delay(interval, 3);
            assert!(third >= Duration::from_secs(4) && third <= Duration::from_secs(5));
            assert!(next_delay(interval, 40) <= BACKOFF_CAP);
            assert!(next_delay(interval, 40) >= Duration::from_secs(256));
        }
    }
}
