//! Watches a local source with `notify` and wakes the loop once per burst of
//! changes (about 500 ms of quiet), so a `git checkout` or an editor's save is
//! one pass. What a pass does is `pass`'s.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use notify::{RecursiveMode, Watcher};
use tokio::sync::Notify;

use super::Error;

/// Quiet time that ends a burst.
pub const DEBOUNCE: Duration = Duration::from_millis(500);

/// Starts watching `path`; the watcher stops when the returned value is dropped.
pub fn spawn(path: &Path, wake: Arc<Notify>) -> Result<notify::RecommendedWatcher, Error> {
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<()>();
    let mut watcher = notify::recommended_watcher(move |ev: notify::Result<notify::Event>| {
        if let Ok(ev) = ev {
            if !matches!(ev.kind, notify::EventKind::Access(_)) {
                let _ = tx.send(());
            }
        }
    })
    .map_err(|e| Error::Watch {
        path: path.display().to_string(),
        message: e.to_string(),
    })?;
    watcher
        .watch(path, RecursiveMode::Recursive)
        .map_err(|e| Error::Watch {
            path: path.display().to_string(),
            message: e.to_string(),
        })?;
    tokio::spawn(async move {
        while rx.recv().await.is_some() {
            // Swallow the rest of the burst: wait until DEBOUNCE passes quietly.
            loop {
                match tokio::time::timeout(DEBOUNCE, rx.recv()).await {
                    Ok(Some(())) => continue,
                    Ok(None) => return,
                    Err(_) => break,
                }
            }
            wake.notify_one();
        }
    });
    Ok(watcher)
}
