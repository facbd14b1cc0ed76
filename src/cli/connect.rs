//! Opens the database pool from `--database-url` / `DATABASE_URL`, and checks the
//! schema is one we can write. The URL is never printed (it may hold a password).

use std::time::Duration;

use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{Connection, PgConnection, PgPool};

use super::Error;

/// The `--database-url` flag.
#[derive(Debug, Clone, clap::Args)]
pub struct DbArgs {
    /// PostgreSQL URL of MCPBox's database (default: $DATABASE_URL).
    #[arg(long, env = "DATABASE_URL", hide_env_values = true)]
    pub database_url: Option<String>,
}

/// How long one connection attempt may take before we say why it failed
/// (a pool's own retries would wait 15 s and say only "pool timed out").
/// `MCPBOX_GITOPS_CONNECT_TIMEOUT` (e.g. `2s`, `30s`) changes it.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// The connect timeout in force: the environment's, or [`CONNECT_TIMEOUT`].
fn connect_timeout() -> Result<Duration, Error> {
    match std::env::var("MCPBOX_GITOPS_CONNECT_TIMEOUT") {
        Ok(v) => super::parse_duration(&v)
            .map_err(|e| Error::Database(format!("MCPBOX_GITOPS_CONNECT_TIMEOUT: {e}"))),
        Err(_) => Ok(CONNECT_TIMEOUT),
    }
}

/// Connects, without checking the schema. Every connection names this process
/// (`application_name`: pid and host, so a waiting apply can name the holder of
/// the lock) and asks the server to probe it (TCP keepalives every 5 s after
/// 15 s idle: a client gone without a goodbye is dropped, and its locks freed,
/// in about 30 s instead of the system's two hours), and to end a transaction
/// left idle for a minute.
pub async fn pool(url: &str) -> Result<PgPool, Error> {
    let options = options(url)?;
    // One attempt first, to say exactly what is wrong (down, no such database,
    // refused login) within seconds.
    let timeout = connect_timeout()?;
    let first = tokio::time::timeout(timeout, PgConnection::connect_with(&options)).await;
    match first {
        Err(_) => {
            return Err(Error::Database(format!(
                "cannot connect to the database at {}: no answer within {} s (MCPBOX_GITOPS_CONNECT_TIMEOUT); check the host and port, and that PostgreSQL is running; nothing was read or written",
                where_(&options),
                timeout.as_secs_f32()
            )))
        }
        Ok(Err(e)) => {
            return Err(Error::Database(format!(
                "cannot connect to the database at {}: {}; nothing was read or written",
                where_(&options),
                explain(&redact(&e.to_string(), url))
            )))
        }
        Ok(Ok(conn)) => {
            let _ = conn.close().await;
        }
    }
    Ok(PgPoolOptions::new()
        .max_connections(4)
        .acquire_timeout(Duration::from_secs(15))
        .connect_lazy_with(options))
}

/// `host:port/database` of a database URL, without user or password (for
/// messages and PR comments); `(unparsable URL)` when it is not one.
pub fn describe(url: &str) -> String {
    url.parse::<PgConnectOptions>()
        .map(|o| where_(&o))
        .unwrap_or_else(|_| "(unparsable URL)".to_string())
}

/// The connection options every connection of ours uses (the pool's, and the
/// daemon's dedicated leader-lock connection): `application_name`, keepalives,
/// and the idle-in-transaction timeout described at [`pool`].
pub fn options(url: &str) -> Result<PgConnectOptions, Error> {
    let options: PgConnectOptions = url.parse().map_err(|e: sqlx::Error| {
        Error::Database(format!(
            "DATABASE_URL is not a PostgreSQL URL: {} (e.g. postgres://user@host:5432/mcpbox)",
            redact(&e.to_string(), url)
        ))
    })?;
    Ok(options
        .application_name(&crate::state::application_name(None))
        .options([
            ("tcp_keepalives_idle", "15"),
            ("tcp_keepalives_interval", "5"),
            ("tcp_keepalives_count", "3"),
            ("idle_in_transaction_session_timeout", "60s"),
        ]))
}

/// `host:port/database` of a connection, without user or password.
fn where_(o: &PgConnectOptions) -> String {
    format!(
        "{}:{}/{}",
        o.get_host(),
        o.get_port(),
        o.get_database().unwrap_or("(default database)")
    )
}

/// The driver's error with a hint for the usual causes.
fn explain(msg: &str) -> String {
    let hint = if msg.contains("Connection refused") {
        " (is PostgreSQL running and listening there?)"
    } else if msg.contains("does not exist") && msg.contains("database") {
        " (create it, or point DATABASE_URL at MCPBox's database)"
    } else if msg.contains("password authentication failed") || msg.contains("role") {
        " (check the user and password in DATABASE_URL)"
    } else {
        ""
    };
    format!("{msg}{hint}")
}

/// Connects and checks that MCPBox's schema and our bookkeeping are in place.
pub async fn ready_pool(url: &str) -> Result<PgPool, Error> {
    checked_pool(url, false).await
}

/// A pool for commands that only read MCPBox's tables (`export`): MCPBox's
/// schema must be there at the revision we know, our own bookkeeping need not
/// (a database that never saw `db migrate` reads as owning nothing).
pub async fn read_pool(url: &str) -> Result<PgPool, Error> {
    let pool = pool(url).await?;
    let status = crate::state::migrate::check(&pool).await?;
    let problems = status.mcpbox_problems();
    if !problems.is_empty() {
        return Err(Error::Database(format!(
            "the database is not ready: {}",
            problems.join("; ")
        )));
    }
    Ok(pool)
}

/// Like [`ready_pool`], and the role must have every right `apply` needs.
pub async fn write_pool(url: &str) -> Result<PgPool, Error> {
    checked_pool(url, true).await
}

async fn checked_pool(url: &str, writes: bool) -> Result<PgPool, Error> {
    let pool = pool(url).await?;
    let status = crate::state::migrate::check(&pool).await?;
    let problems = if writes {
        status.write_problems()
    } else {
        status.problems()
    };
    if !problems.is_empty() {
        return Err(Error::Database(format!(
            "the database is not ready: {}",
            problems.join("; ")
        )));
    }
    Ok(pool)
}

/// Removes the URL (and so any password in it) from a message.
fn redact(msg: &str, url: &str) -> String {
    msg.replace(url, "(database url)")
}
