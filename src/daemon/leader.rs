//! Leader election: a PostgreSQL session advisory lock held on a dedicated
//! connection. Standbys try it about every second; the leader pings its
//! connection about every second and stops leading at the first failed ping,
//! before its next write. What a leader does differently is `pass`'s.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use sqlx::postgres::PgConnectOptions;
use sqlx::{Connection, PgConnection};
use tracing::{info, warn};

use super::status::Shared;

/// The advisory lock key ("mcpblead").
pub const LOCK_KEY: i64 = 0x6d63_7062_6c65_6164;

/// How often standbys try the lock and the leader pings.
const TICK: Duration = Duration::from_secs(1);
/// How long one ping or attempt may take.
const TIMEOUT: Duration = Duration::from_secs(2);

/// Tries to take the lock on `conn`.
async fn try_lock(conn: &mut PgConnection) -> Result<bool, sqlx::Error> {
    sqlx::query_scalar("SELECT pg_try_advisory_lock($1)")
        .bind(LOCK_KEY)
        .fetch_one(conn)
        .await
}

/// One attempt (for `--once`): leader if the lock is free; the connection is
/// kept open for the pass by leaking it into a task that ends with the process.
pub async fn try_once(options: &PgConnectOptions, shared: &Shared) {
    let Ok(Ok(mut conn)) = tokio::time::timeout(TIMEOUT, PgConnection::connect_with(options)).await
    else {
        return;
    };
    if let Ok(Ok(true)) = tokio::time::timeout(TIMEOUT, try_lock(&mut conn)).await {
        shared.leader.store(true, Ordering::SeqCst);
        // Held until the process exits (the lock goes with the session).
        tokio::spawn(async move {
            let _conn = conn;
            std::future::pending::<()>().await;
        });
    }
}

/// Tries the lock once now (so a lone replica's first pass already leads),
/// then runs the election in the background for the life of the process.
pub async fn start(options: PgConnectOptions, shared: Arc<Shared>) {
    let mut conn: Option<PgConnection> = None;
    if let Ok(Ok(mut c)) = tokio::time::timeout(TIMEOUT, PgConnection::connect_with(&options)).await
    {
        if let Ok(Ok(true)) = tokio::time::timeout(TIMEOUT, try_lock(&mut c)).await {
            shared.leader.store(true, Ordering::SeqCst);
            shared.set_role(true);
            info!("became leader");
        }
        conn = Some(c);
    }
    tokio::spawn(async move {
        loop {
            tokio::time::sleep(TICK).await;
            let leading = shared.leader.load(Ordering::SeqCst);
            if leading {
                let ok = match conn.as_mut() {
                    Some(c) => matches!(tokio::time::timeout(TIMEOUT, c.ping()).await, Ok(Ok(()))),
                    None => false,
                };
                if !ok {
                    shared.leader.store(false, Ordering::SeqCst);
                    shared.set_role(false);
                    warn!("lost the leader lock's connection: no longer leader, nothing more is applied");
                    conn = None;
                }
            } else {
                if conn.is_none() {
                    if let Ok(Ok(c)) =
                        tokio::time::timeout(TIMEOUT, PgConnection::connect_with(&options)).await
                    {
                        conn = Some(c);
                    }
                }
                if let Some(c) = conn.as_mut() {
                    match tokio::time::timeout(TIMEOUT, try_lock(c)).await {
                        Ok(Ok(true)) => {
                            shared.leader.store(true, Ordering::SeqCst);
                            shared.set_role(true);
                            info!("became leader");
                            shared.wake.notify_one();
                        }
                        Ok(Ok(false)) => {}
                        _ => conn = None,
                    }
                }
            }
        }
    });
}
