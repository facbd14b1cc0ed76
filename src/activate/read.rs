//! Reads the rows registrations are built from, after the apply's commit: one
//! query per table for all affected servers, in one read-only snapshot.
//!
//! Building the payloads from these rows lives in `activate::payload`; nothing
//! here decrypts or sends anything.

use std::collections::{BTreeSet, HashMap};

use sqlx::{PgPool, Row};
use tracing::instrument;
use uuid::Uuid;

use super::payload::{ServerRows, SourceRow, StoredSecret, ToolRow};

/// How many tools MCPBox's `ToolService.list_by_server` returns, which every
/// re-registration path uses (MCPBOX.md §2.5, §8.2).
pub const REREGISTER_TOOL_LIMIT: i64 = 50;

/// Why the rows could not be read.
#[derive(Debug, thiserror::Error)]
#[error("cannot read {what} to activate")]
pub struct Error {
    /// Which rows.
    what: &'static str,
    /// The driver's error.
    #[source]
    source: sqlx::Error,
}

fn query_error(what: &'static str) -> impl FnOnce(sqlx::Error) -> Error {
    move |source| Error { what, source }
}

/// What registration needs.
#[derive(Debug, Default)]
pub struct Snapshot {
    /// The running servers asked for, by name then id.
    pub servers: Vec<ServerRows>,
    /// `global_config.allowed_modules` of the `main` row (None: no row or NULL).
    pub allowed_modules: Option<Vec<String>>,
}

/// Reads the servers among `ids` (or every server, with `all`) whose status is
/// `running` now, with their tools, secrets and sources.
#[instrument(skip_all, fields(servers = ids.len(), all))]
pub async fn read(pool: &PgPool, ids: &BTreeSet<Uuid>, all: bool) -> Result<Snapshot, Error> {
    let ids: Vec<Uuid> = ids.iter().copied().collect();
    let mut tx = pool.begin().await.map_err(query_error("the database"))?;
    // One consistent picture across the five queries.
    sqlx::query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
        .execute(&mut *tx)
        .await
        .map_err(query_error("the database"))?;

    // Only running servers: MCPBox re-registers nothing else (§8.2).
    let rows = sqlx::query(
        "SELECT id, name, allowed_hosts::text[] AS allowed_hosts
           FROM servers
          WHERE status = 'running' AND ($2 OR id = ANY($1))
          ORDER BY name, id",
    )
    .bind(&ids)
    .bind(all)
    .fetch_all(&mut *tx)
    .await
    .map_err(query_error("servers"))?;
    let mut servers: Vec<ServerRows> = rows
        .iter()
        .map(|r| ServerRows {
            id: r.get("id"),
            name: r.get("name"),
            allowed_hosts: r.get("allowed_hosts"),
            ..ServerRows::default()
        })
        .collect();
    let index: HashMap<Uuid, usize> = servers.iter().enumerate().map(|(i, s)| (s.id, i)).collect();
    let running: Vec<Uuid> = servers.iter().map(|s| s.id).collect();

    // MCPBox takes the first 50 tools by created_at, then keeps the enabled and
    // approved ones. Rows created in one transaction share created_at; MCPBox's
    // order among them is whatever PostgreSQL returns, ours is by id.
    let rows = sqlx::query(
        "SELECT server_id, name, description, input_schema, python_code, timeout_ms,
                tool_type::text AS tool_type, external_source_id, external_tool_name
           FROM (SELECT t.*, row_number() OVER (PARTITION BY server_id ORDER BY created_at, id) AS n
                   FROM tools t
                  WHERE server_id = ANY($1)) t
          WHERE n <= $2 AND enabled AND approval_status = 'approved'
          ORDER BY server_id, n",
    )
    .bind(&running)
    .bind(REREGISTER_TOOL_LIMIT)
    .fetch_all(&mut *tx)
    .await
    .map_err(query_error("tools"))?;
    for r in rows {
        let Some(&i) = index.get(&r.get::<Uuid, _>("server_id")) else {
            continue;
        };
        servers[i].tools.push(ToolRow {
            name: r.get("name"),
            description: r.get("description"),
            input_schema: r.get("input_schema"),
            python_code: r.get("python_code"),
            timeout_ms: r.get("timeout_ms"),
            tool_type: r.get("tool_type"),
            external_source_id: r.get("external_source_id"),
            external_tool_name: r.get("external_tool_name"),
        });
    }

    let rows = sqlx::query(
        "SELECT server_id, key_name, encrypted_value
           FROM server_secrets
          WHERE server_id = ANY($1) AND encrypted_value IS NOT NULL
          ORDER BY server_id, key_name",
    )
    .bind(&running)
    .fetch_all(&mut *tx)
    .await
    .map_err(query_error("server secrets"))?;
    for r in rows {
        let Some(&i) = index.get(&r.get::<Uuid, _>("server_id")) else {
            continue;
        };
        servers[i].secrets.push(StoredSecret {
            key_name: r.get("key_name"),
            encrypted: r.get("encrypted_value"),
        });
    }

    // MCPBox leaves `disabled` sources out of registration (§6.1).
    let rows = sqlx::query(
        "SELECT id, server_id, url, auth_type::text AS auth_type, auth_secret_name,
                auth_header_name, transport_type::text AS transport_type, oauth_tokens_encrypted
           FROM external_mcp_sources
          WHERE server_id = ANY($1) AND status <> 'disabled'
          ORDER BY server_id, created_at, id",
    )
    .bind(&running)
    .fetch_all(&mut *tx)
    .await
    .map_err(query_error("external sources"))?;
    for r in rows {
        let Some(&i) = index.get(&r.get::<Uuid, _>("server_id")) else {
            continue;
        };
        servers[i].sources.push(SourceRow {
            id: r.get("id"),
            url: r.get("url"),
            auth_type: r.get("auth_type"),
            auth_secret_name: r.get("auth_secret_name"),
            auth_header_name: r.get("auth_header_name"),
            transport_type: r.get("transport_type"),
            oauth_tokens: r.get("oauth_tokens_encrypted"),
        });
    }

    let allowed_modules: Option<Vec<String>> = sqlx::query_scalar(
        "SELECT allowed_modules::text[] FROM global_config WHERE config_key = 'main'",
    )
    .fetch_optional(&mut *tx)
    .await
    .map_err(query_error("global config"))?
    .flatten();
    tx.commit().await.map_err(query_error("the database"))?;
    Ok(Snapshot {
        servers,
        allowed_modules,
    })
}
