//! Who changed a drifted object and when: the newest row of MCPBox's
//! `activity_logs` whose details mention the object's row id or name. Deciding
//! what is drift is `pass`'s.

use serde::Serialize;
use sqlx::PgPool;
use uuid::Uuid;

/// One drifted object, as reported.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Drifted {
    /// Kind (`tool`, `server`, …).
    pub kind: String,
    /// Natural key.
    pub key: String,
    /// The fields that differ from git.
    pub fields: Vec<String>,
    /// Who changed it, from `activity_logs` (a user, `mcp`, or the message).
    pub who: Option<String>,
    /// When, from `activity_logs`.
    pub when: Option<chrono::DateTime<chrono::Utc>>,
    /// Whether this pass reverted it (`--self-heal`).
    pub reverted: bool,
}

/// The newest activity row mentioning `row_id` or `name`: (who, when).
pub async fn attribution(
    pool: &PgPool,
    row_id: Option<Uuid>,
    name: &str,
) -> (Option<String>, Option<chrono::DateTime<chrono::Utc>>) {
    let id = row_id.map(|u| u.to_string()).unwrap_or_default();
    let row: Result<Option<(Option<String>, chrono::DateTime<chrono::Utc>)>, _> = sqlx::query_as(
        "SELECT coalesce(details->>'user', details->>'actor', details->>'username',
                         details->>'changed_by', details->>'performed_by', message),
                created_at
         FROM activity_logs
         WHERE details IS NOT NULL
           AND (($1 <> '' AND strpos(details::text, $1) > 0) OR strpos(details::text, $2) > 0)
           AND coalesce(details->>'action', '') <> 'gitops.apply'
         ORDER BY created_at DESC LIMIT 1",
    )
    .bind(&id)
    .bind(format!("\"{name}\""))
    .fetch_optional(pool)
    .await;
    match row {
        Ok(Some((who, when))) => (who, Some(when)),
        _ => (None, None),
    }
}
