//! The daemon's shared row, `mcpbox_gitops.daemon_state`: suspend/resume (seen
//! by every replica) and the remembered last good pass, so a new process or
//! `daemon --once` can skip an unchanged revision and database. The skip
//! decision itself is `pass`'s.

use sqlx::PgPool;

/// What the row holds.
#[derive(Debug, Clone, Default, PartialEq, Eq, sqlx::FromRow)]
pub struct Row {
    /// Applying is suspended.
    pub suspended: bool,
    /// The source key of the last good pass.
    pub last_source_key: Option<String>,
    /// The change marker after the last good pass.
    pub last_marker: Option<String>,
    /// The revision of the last apply that changed rows.
    pub last_applied_commit: Option<String>,
    /// When that apply happened.
    pub last_applied_at: Option<chrono::DateTime<chrono::Utc>>,
}

/// Errors reading or writing the row.
#[derive(Debug, thiserror::Error)]
#[error("cannot {what} mcpbox_gitops.daemon_state (run `mcpbox-gitops db migrate`?): {source}")]
pub struct Error {
    what: &'static str,
    #[source]
    source: sqlx::Error,
}

fn e(what: &'static str) -> impl FnOnce(sqlx::Error) -> Error {
    move |source| Error { what, source }
}

/// Reads the row (defaults when it does not exist yet).
pub async fn read(pool: &PgPool) -> Result<Row, Error> {
    let row: Option<Row> = sqlx::query_as(
        "SELECT suspended, last_source_key, last_marker, last_applied_commit, last_applied_at
         FROM mcpbox_gitops.daemon_state WHERE id",
    )
    .fetch_optional(pool)
    .await
    .map_err(e("read"))?;
    Ok(row.unwrap_or_default())
}

/// Sets or clears `suspended`, naming who did it.
pub async fn set_suspended(pool: &PgPool, suspended: bool, by: &str) -> Result<(), Error> {
    sqlx::query(
        "INSERT INTO mcpbox_gitops.daemon_state (id, suspended, suspended_by, updated_at)
         VALUES (true, $1, $2, now())
         ON CONFLICT (id) DO UPDATE SET suspended = $1, suspended_by = $2, updated_at = now()",
    )
    .bind(suspended)
    .bind(by)
    .execute(pool)
    .await
    .map_err(e("write"))?;
    Ok(())
}

/// Remembers a good pass (and, when it applied changes, the applied revision).
pub async fn remember(
    pool: &PgPool,
    source_key: &str,
    marker: &str,
    applied: Option<&str>,
) -> Result<(), Error> {
    sqlx::query(
        "INSERT INTO mcpbox_gitops.daemon_state (id, last_source_key, last_marker, last_applied_commit, last_applied_at)
         VALUES (true, $1, $2, $3, CASE WHEN $3::text IS NULL THEN NULL ELSE now() END)
         ON CONFLICT (id) DO UPDATE SET last_source_key = $1, last_marker = $2,
           last_applied_commit = coalesce($3, daemon_state.last_applied_commit),
           last_applied_at = CASE WHEN $3::text IS NULL THEN daemon_state.last_applied_at ELSE now() END",
    )
    .bind(source_key)
    .bind(marker)
    .bind(applied)
    .execute(pool)
    .await
    .map_err(e("write"))?;
    Ok(())
}
