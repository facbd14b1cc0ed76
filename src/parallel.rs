//! A parallel, order-keeping map over a slice, for the CPU-bound front of the
//! pipeline (YAML and Python parsing): one scoped worker per core, items handed
//! out from a shared counter, results put back in input order.
//!
//! Plain `std::thread::scope`: the work is a few thousand independent calls,
//! which needs no pool or work stealing. Callers keep what they compute pure.

use std::sync::atomic::{AtomicUsize, Ordering};

/// Stack of each worker: parsing recurses once per level of nesting, and the
/// inputs are bounded (64 levels of YAML; Python sizes its own threads).
const WORKER_STACK: usize = 16 * 1024 * 1024;

/// `items.iter().map(f).collect()`, computed on up to one thread per core.
/// Falls back to the calling thread for one item, one core, or when a worker
/// cannot be started.
pub fn map<T: Sync, R: Send>(items: &[T], f: impl Fn(&T) -> R + Sync) -> Vec<R> {
    let workers = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .min(items.len());
    if workers <= 1 {
        return items.iter().map(&f).collect();
    }
    let next = AtomicUsize::new(0);
    let mut done: Vec<(usize, R)> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..workers)
            .filter_map(|_| {
                std::thread::Builder::new()
                    .stack_size(WORKER_STACK)
                    .spawn_scoped(scope, || {
                        let mut mine = Vec::new();
                        loop {
                            let i = next.fetch_add(1, Ordering::Relaxed);
                            let Some(item) = items.get(i) else { break };
                            mine.push((i, f(item)));
                        }
                        mine
                    })
                    .ok()
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| {
                // A worker that panicked lost its items; they are redone below.
                h.join().unwrap_or_default()
            })
            .collect()
    });
    done.sort_by_key(|(i, _)| *i);
    let mut out = Vec::with_capacity(items.len());
    let mut done = done.into_iter().peekable();
    for (i, item) in items.iter().enumerate() {
        match done.next_if(|(j, _)| *j == i) {
            Some((_, r)) => out.push(r),
            // Not taken by any worker (none started), or lost to a panic.
            None => out.push(f(item)),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn keeps_order_and_covers_every_item() {
        let items: Vec<u64> = (0..10_000).collect();
        let squares = super::map(&items, |x| x * x);
        assert_eq!(squares, items.iter().map(|x| x * x).collect::<Vec<_>>());
        assert!(super::map(&[] as &[u8], |x| *x).is_empty());
        assert_eq!(super::map(&[7u8], |x| *x + 1), vec![8]);
    }
}
