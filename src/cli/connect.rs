//! Opens the database pool from `--database-url` / `DATABASE_URL`, and checks the
//! schema is one we can write. The URL is never printed (it may hold a password).

use std::time::Duration;

use sqlx::postgres::PgPoolOptions;
use sqlx::PgPool;

use super::Error;

/// The `--database-url` flag.
#[derive(Debug, Clone, clap::Args)]
pub struct DbArgs {
    /// PostgreSQL URL of MCPBox's database (default: $DATABASE_URL).
    #[arg(long, env = "DATABASE_URL", hide_env_values = true)]
    pub database_url: Option<String>,
}

/// Connects, without checking the schema.
pub async fn pool(url: &str) -> Result<PgPool, Error> {
    PgPoolOptions::new()
        .max_connections(4)
        .acquire_timeout(Duration::from_secs(15))
        .connect(url)
        .await
        .map_err(|e| {
            Error::Other(format!(
                "cannot connect to the database: {}",
                redact(&e.to_string(), url)
            ))
        })
}

/// Connects and checks that MCPBox's schema and our bookkeeping are in place.
pub async fn ready_pool(url: &str) -> Result<PgPool, Error> {
    checked_pool(url, false).await
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
        return Err(Error::Other(format!(
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
