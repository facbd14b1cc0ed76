//! The quarantine records (`mcpbox_gitops.quarantine`): read with the state,
//! written by apply in its transaction — a quarantine that starts is
//! recorded, one that is lifted removed. Deciding is `rules::quarantine`'s.

use std::collections::BTreeMap;

use sqlx::{PgConnection, Row};

use super::query_error;
use super::Error;
use crate::rules::quarantine::{Held, Quarantine};

/// Every recorded quarantine, by `server/tool`.
pub async fn read(conn: &mut PgConnection) -> Result<BTreeMap<String, Held>, Error> {
    // A database whose bookkeeping predates quarantines has none.
    let exists: bool =
        sqlx::query_scalar("SELECT to_regclass('mcpbox_gitops.quarantine') IS NOT NULL")
            .fetch_one(&mut *conn)
            .await
            .map_err(query_error("mcpbox_gitops.quarantine"))?;
    if !exists {
        return Ok(BTreeMap::new());
    }
    let rows =
        sqlx::query("SELECT tool_key, git_hash, drifted_hash, since FROM mcpbox_gitops.quarantine")
            .fetch_all(&mut *conn)
            .await
            .map_err(query_error("mcpbox_gitops.quarantine"))?;
    Ok(rows
        .into_iter()
        .map(|r| {
            (
                r.get("tool_key"),
                Held {
                    git_hash: r.get("git_hash"),
                    drifted_hash: r.get("drifted_hash"),
                    since: r.get("since"),
                },
            )
        })
        .collect())
}

/// Records the quarantines that start and removes those lifted, in two
/// statements. `row_id` finds a starting tool's MCPBox row.
pub async fn record(
    conn: &mut PgConnection,
    decisions: &[Quarantine],
    row_id: impl Fn(&str) -> Option<uuid::Uuid>,
) -> Result<(), Error> {
    let mut keys = Vec::new();
    let mut ids: Vec<Option<uuid::Uuid>> = Vec::new();
    let mut git = Vec::new();
    let mut drifted = Vec::new();
    let mut code: Vec<Option<String>> = Vec::new();
    let mut lifted = Vec::new();
    for d in decisions {
        match d {
            Quarantine::Start {
                tool,
                git_hash,
                drifted_hash,
                git_code,
            } => {
                keys.push(tool.clone());
                ids.push(row_id(tool));
                git.push(git_hash.clone());
                drifted.push(drifted_hash.clone());
                code.push(git_code.clone());
            }
            Quarantine::Lift { tool, .. } => lifted.push(tool.clone()),
            Quarantine::Hold { .. } => {}
        }
    }
    if !lifted.is_empty() {
        sqlx::query("DELETE FROM mcpbox_gitops.quarantine WHERE tool_key = ANY($1)")
            .bind(&lifted)
            .execute(&mut *conn)
            .await
            .map_err(query_error("mcpbox_gitops.quarantine"))?;
    }
    if !keys.is_empty() {
        sqlx::query(
            "INSERT INTO mcpbox_gitops.quarantine (tool_key, row_id, git_hash, drifted_hash, git_code)
             SELECT * FROM UNNEST($1::text[], $2::uuid[], $3::text[], $4::text[], $5::text[])
             ON CONFLICT (tool_key) DO UPDATE SET row_id = EXCLUDED.row_id,
                 git_hash = EXCLUDED.git_hash, drifted_hash = EXCLUDED.drifted_hash,
                 git_code = EXCLUDED.git_code, since = now()",
        )
        .bind(&keys)
        .bind(&ids)
        .bind(&git)
        .bind(&drifted)
        .bind(&code)
        .execute(&mut *conn)
        .await
        .map_err(query_error("mcpbox_gitops.quarantine"))?;
    }
    Ok(())
}

/// One quarantined tool's two versions, for `export --drift`.
pub struct DriftedCode {
    /// `server/tool`.
    pub tool: String,
    /// Git's code when the quarantine began.
    pub git_code: Option<String>,
    /// MCPBox's code now.
    pub mcpbox_code: Option<String>,
    /// Git's and MCPBox's content hashes when it began.
    pub git_hash: String,
    /// MCPBox's content hash when it began.
    pub drifted_hash: String,
    /// When it began.
    pub since: chrono::DateTime<chrono::Utc>,
}

/// Every quarantined tool with both versions of its code.
pub async fn drifted_code(pool: &sqlx::PgPool) -> Result<Vec<DriftedCode>, Error> {
    let rows = sqlx::query(
        "SELECT q.tool_key, q.git_code, t.python_code, q.git_hash, q.drifted_hash, q.since
         FROM mcpbox_gitops.quarantine q
         LEFT JOIN tools t ON t.id = q.row_id
         ORDER BY q.tool_key",
    )
    .fetch_all(pool)
    .await
    .map_err(query_error("mcpbox_gitops.quarantine"))?;
    Ok(rows
        .into_iter()
        .map(|r| DriftedCode {
            tool: r.get("tool_key"),
            git_code: r.get("git_code"),
            mcpbox_code: r.get("python_code"),
            git_hash: r.get("git_hash"),
            drifted_hash: r.get("drifted_hash"),
            since: r.get("since"),
        })
        .collect())
}
