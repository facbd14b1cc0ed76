//! Reads the [`ActualState`] from PostgreSQL: one query per table, never one per
//! object, all inside the caller's transaction so the picture is consistent.
//!
//! Writing lives in `apply`; this module only reads.

use std::collections::HashMap;

use sqlx::{PgConnection, Row};
use tracing::instrument;
use uuid::Uuid;

use super::query_error;
use super::{
    ActualState, Error, ModuleRow, NetworkRow, Owned, SecretRow, ServerRow, SettingRow, SourceRow,
    ToolCascade, ToolRow, TunnelRow,
};
use crate::model::{
    AuthType, Kind, Module, Network, Secret, Server, Setting, Source, SourceStatus, Tool, ToolType,
    Transport, Tunnel,
};
use crate::rules::approval::Status;

/// Reads everything the reconciler compares, on an open connection (inside a
/// transaction for a consistent snapshot).
#[instrument(skip_all)]
pub async fn read(conn: &mut PgConnection) -> Result<ActualState, Error> {
    let mut state = ActualState {
        connected: true,
        ..ActualState::default()
    };

    let rows = sqlx::query("SELECT s.id, s.name, s.description, s.status::text AS status, s.allowed_hosts::text[] AS allowed_hosts, s.default_timeout_ms,
                COALESCE(es.n, 0) AS sources, COALESCE(al.n, 0) AS logs, COALESCE(mr.n, 0) AS modules
           FROM servers s
           LEFT JOIN (SELECT server_id, count(*) AS n FROM external_mcp_sources GROUP BY server_id) es ON es.server_id = s.id
           LEFT JOIN (SELECT server_id, count(*) AS n FROM activity_logs WHERE server_id IS NOT NULL GROUP BY server_id) al ON al.server_id = s.id
           LEFT JOIN (SELECT server_id, count(*) AS n FROM module_requests WHERE server_id IS NOT NULL AND tool_id IS NULL GROUP BY server_id) mr ON mr.server_id = s.id")
        .fetch_all(&mut *conn)
        .await
        .map_err(query_error("servers"))?;
    for r in rows {
        state.servers.push(ServerRow {
            id: r.get("id"),
            obj: Server {
                name: r.get("name"),
                description: r.get("description"),
                default_timeout_ms: r.get("default_timeout_ms"),
            },
            status: r.get("status"),
            allowed_hosts: r.get("allowed_hosts"),
            cascade: super::ServerCascade {
                sources: r.get("sources"),
                activity_logs: r.get("logs"),
                module_requests: r.get("modules"),
            },
        });
    }
    let server_names: HashMap<Uuid, String> = state
        .servers
        .iter()
        .map(|s| (s.id, s.obj.name.clone()))
        .collect();
    let server_name = |id: Uuid| server_names.get(&id).cloned().unwrap_or_default();

    let rows = sqlx::query(
        "SELECT t.id, t.server_id, t.name, t.description, t.input_schema, t.enabled, t.timeout_ms,
                t.tool_type::text AS tool_type, t.python_code, t.external_source_id, t.external_tool_name,
                t.code_dependencies::text[] AS code_dependencies, t.current_version,
                t.approval_status::text AS approval_status, t.approval_requested_at, t.approved_at,
                t.approved_by, t.rejection_reason, t.created_by, t.publish_notes, t.updated_at,
                es.name AS source_name,
                COALESCE(v.n, 0) AS versions, v.last_source::text AS last_source,
                v.last_summary::text AS last_summary,
                COALESCE(nr.n, 0) + COALESCE(mr.n, 0) AS requests,
                COALESCE(l.n, 0) AS logs
           FROM tools t
           LEFT JOIN external_mcp_sources es ON es.id = t.external_source_id
           -- Counts for the cascade a delete would cause, aggregated once per table
           -- (MCPBox has no index on these tool_id columns: a per-tool subquery
           -- would scan the table once per tool).
           -- With the newest version row's source and summary (what MCPBox
           -- last did: a rollback says so).
           LEFT JOIN (SELECT tool_id, count(*) AS n,
                             (array_agg(change_source ORDER BY version_number DESC, created_at DESC))[1] AS last_source,
                             (array_agg(change_summary ORDER BY version_number DESC, created_at DESC))[1] AS last_summary
                        FROM tool_versions GROUP BY tool_id) v ON v.tool_id = t.id
           LEFT JOIN (SELECT tool_id, count(*) AS n FROM network_access_requests WHERE tool_id IS NOT NULL GROUP BY tool_id) nr ON nr.tool_id = t.id
           LEFT JOIN (SELECT tool_id, count(*) AS n FROM module_requests WHERE tool_id IS NOT NULL GROUP BY tool_id) mr ON mr.tool_id = t.id
           LEFT JOIN (SELECT tool_id, count(*) AS n FROM tool_execution_logs GROUP BY tool_id) l ON l.tool_id = t.id",
    )
    .fetch_all(&mut *conn)
    .await
    .map_err(query_error("tools"))?;
    for r in rows {
        let tool_type: String = r.get("tool_type");
        let status: String = r.get("approval_status");
        let server_id: Uuid = r.get("server_id");
        state.tools.push(ToolRow {
            id: r.get("id"),
            server_id,
            obj: Tool {
                server: server_name(server_id),
                name: r.get("name"),
                description: r.get("description"),
                enabled: r.get("enabled"),
                timeout_ms: r.get("timeout_ms"),
                tool_type: if tool_type == "mcp_passthrough" {
                    ToolType::McpPassthrough
                } else {
                    ToolType::PythonCode
                },
                python_code: r.get("python_code"),
                dependencies: r
                    .get::<Option<Vec<String>>, _>("code_dependencies")
                    .unwrap_or_default(),
                input_schema: r
                    .get::<Option<serde_json::Value>, _>("input_schema")
                    .unwrap_or(serde_json::Value::Null),
                external_source: r.get("source_name"),
                external_tool_name: r.get("external_tool_name"),
            },
            current_version: r.get("current_version"),
            approval_status: Status::parse(&status).unwrap_or(Status::Draft),
            approval_requested_at: r.get("approval_requested_at"),
            approved_at: r.get("approved_at"),
            approved_by: r.get("approved_by"),
            rejection_reason: r.get("rejection_reason"),
            created_by: r.get("created_by"),
            publish_notes: r.get("publish_notes"),
            external_source_id: r.get("external_source_id"),
            updated_at: r.get("updated_at"),
            cascade: ToolCascade {
                versions: r.get("versions"),
                requests: r.get("requests"),
                execution_logs: r.get("logs"),
            },
            last_version: r.get::<Option<String>, _>("last_source").map(|source| {
                super::LastVersion {
                    source,
                    summary: r.get("last_summary"),
                }
            }),
        });
    }
    let tool_names: HashMap<Uuid, String> = state
        .tools
        .iter()
        .map(|t| (t.id, t.obj.name.clone()))
        .collect();

    let rows = sqlx::query(
        "SELECT id, server_id, key_name, description, encrypted_value FROM server_secrets",
    )
    .fetch_all(&mut *conn)
    .await
    .map_err(query_error("server_secrets"))?;
    for r in rows {
        let server_id: Uuid = r.get("server_id");
        let encrypted: Option<Vec<u8>> = r.get("encrypted_value");
        state.secrets.push(SecretRow {
            id: r.get("id"),
            server_id,
            obj: Secret {
                server: server_name(server_id),
                name: r.get("key_name"),
                description: r.get("description"),
                value: encrypted
                    .as_ref()
                    .map(|_| crate::values::STORED.to_string()),
            },
            has_value: encrypted.is_some(),
            encrypted_value: encrypted,
        });
    }

    // Discovery (`tool_count`, `last_discovered_at`) and OAuth columns are MCPBox's:
    // not read, never written.
    let rows = sqlx::query(
        "SELECT id, server_id, name, url, auth_type::text AS auth_type, auth_secret_name,
                auth_header_name, transport_type::text AS transport_type, status::text AS status,
                discovered_tools_cache
           FROM external_mcp_sources",
    )
    .fetch_all(&mut *conn)
    .await
    .map_err(query_error("external_mcp_sources"))?;
    for r in rows {
        let server_id: Uuid = r.get("server_id");
        let status: String = r.get("status");
        let auth_type: String = r.get("auth_type");
        let transport: String = r.get("transport_type");
        state.sources.push(SourceRow {
            id: r.get("id"),
            server_id,
            obj: Source {
                server: server_name(server_id),
                name: r.get("name"),
                url: r.get("url"),
                transport: if transport == "sse" {
                    Transport::Sse
                } else {
                    Transport::StreamableHttp
                },
                auth_type: AuthType::parse(&auth_type).unwrap_or(AuthType::None),
                auth_secret: r.get("auth_secret_name"),
                auth_header: r.get("auth_header_name"),
                // `error` is what MCPBox's discovery sets on failure: runtime
                // state, not configuration; it reads as `active` so it never
                // shows as a difference (`status` keeps the stored label).
                status: if status == "disabled" {
                    SourceStatus::Disabled
                } else {
                    SourceStatus::Active
                },
            },
            status,
            discovered_tools_cache: r.get("discovered_tools_cache"),
        });
    }

    let rows = sqlx::query(
        "SELECT id, name, description, public_url, is_active, tunnel_token FROM tunnel_configurations",
    )
    .fetch_all(&mut *conn)
    .await
    .map_err(query_error("tunnel_configurations"))?;
    for r in rows {
        let token: Option<String> = r.get("tunnel_token");
        let public_url: Option<String> = r.get("public_url");
        state.tunnels.push(TunnelRow {
            id: r.get("id"),
            obj: Tunnel {
                name: r.get("name"),
                description: r.get("description"),
                // MCPBox stores it normalised; normalising again only makes an
                // older, unnormalised value compare equal to git's.
                public_url: public_url
                    .as_deref()
                    .and_then(crate::rules::tunnel::normalise_public_url),
                active: r.get("is_active"),
                token: token.as_ref().map(|_| crate::values::ENCRYPTED.to_string()),
            },
            ciphertext: token,
        });
    }

    // A request belongs to its tool's server, else to its own server_id (as
    // MCPBox's sync helper joins them).
    let rows = sqlx::query(
        "SELECT n.id, COALESCE(t.server_id, n.server_id) AS server_id, n.tool_id, n.host, n.port,
                n.justification, n.status::text AS status
           FROM network_access_requests n LEFT JOIN tools t ON t.id = n.tool_id
          WHERE COALESCE(t.server_id, n.server_id) IS NOT NULL",
    )
    .fetch_all(&mut *conn)
    .await
    .map_err(query_error("network_access_requests"))?;
    for r in rows {
        let server_id: Uuid = r.get("server_id");
        let tool_id: Option<Uuid> = r.get("tool_id");
        state.network.push(NetworkRow {
            id: r.get("id"),
            server_id,
            tool_id,
            obj: Network {
                server: server_name(server_id),
                tool: tool_id.and_then(|t| tool_names.get(&t).cloned()),
                host: r.get("host"),
                port: r.get("port"),
                justification: r.get("justification"),
            },
            status: r.get("status"),
        });
    }

    let rows = sqlx::query("SELECT id, tool_id, module_name, justification, status::text AS status FROM module_requests")
        .fetch_all(&mut *conn)
        .await
        .map_err(query_error("module_requests"))?;
    // A tool's request names its tool as `server/tool` (its key).
    let tool_keys: HashMap<Uuid, String> =
        state.tools.iter().map(|t| (t.id, t.obj.key())).collect();
    for r in rows {
        let tool_id: Option<Uuid> = r.get("tool_id");
        state.modules.push(ModuleRow {
            id: r.get("id"),
            tool_id,
            obj: Module {
                name: r.get("module_name"),
                justification: r.get("justification"),
                tool: tool_id.and_then(|t| tool_keys.get(&t).cloned()),
            },
            status: r.get("status"),
        });
    }

    let rows = sqlx::query("SELECT id, key, value, encrypted FROM settings")
        .fetch_all(&mut *conn)
        .await
        .map_err(query_error("settings"))?;
    for r in rows {
        let encrypted: bool = r.get("encrypted");
        let value: Option<String> = r.get("value");
        let (value, ciphertext) = match (encrypted, value) {
            (true, Some(c)) => (Some(crate::values::ENCRYPTED.to_string()), Some(c)),
            (_, v) => (v, None),
        };
        state.settings.push(SettingRow {
            id: r.get("id"),
            obj: Setting {
                key: r.get("key"),
                value,
            },
            encrypted,
            ciphertext,
        });
    }

    let row = sqlx::query("SELECT allowed_modules::text[] AS allowed_modules FROM global_config WHERE config_key = 'main'")
        .fetch_optional(&mut *conn)
        .await
        .map_err(query_error("global_config"))?;
    state.allowed_modules = row.map(|r| r.get::<Option<Vec<String>>, _>("allowed_modules"));

    // A database that never saw `db migrate` has no bookkeeping: nothing is
    // owned (export reads such a database as it is).
    let bookkeeping: bool =
        sqlx::query_scalar("SELECT to_regclass('mcpbox_gitops.ownership') IS NOT NULL")
            .fetch_one(&mut *conn)
            .await
            .map_err(query_error("mcpbox_gitops.ownership"))?;
    let rows = if bookkeeping {
        sqlx::query(
            "SELECT kind, key, row_id, applied_hash, pin, owner FROM mcpbox_gitops.ownership",
        )
        .fetch_all(&mut *conn)
        .await
        .map_err(query_error("mcpbox_gitops.ownership"))?
    } else {
        Vec::new()
    };
    for r in rows {
        let kind: String = r.get("kind");
        if let Some(kind) = Kind::parse(&kind) {
            state.ownership.insert(
                (kind, r.get("key")),
                Owned {
                    row_id: r.get("row_id"),
                    applied_hash: r.get("applied_hash"),
                    pin: r.get("pin"),
                    owner: r.get("owner"),
                },
            );
        }
    }
    state.removals = removals(&mut *conn, &state).await?;
    state.quarantine = super::quarantine::read(&mut *conn).await?;
    Ok(state)
}

/// Owned request rows (hosts, modules) that are gone from MCPBox, with who
/// removed them and when, from the newest `activity_logs` row that names the
/// row's id. One query, and only when such rows exist.
async fn removals(
    conn: &mut PgConnection,
    state: &ActualState,
) -> Result<std::collections::BTreeMap<(Kind, String), super::Removal>, Error> {
    let present: std::collections::HashSet<uuid::Uuid> = state
        .network
        .iter()
        .map(|r| r.id)
        .chain(state.modules.iter().map(|r| r.id))
        .collect();
    let gone: Vec<(&(Kind, String), uuid::Uuid)> = state
        .ownership
        .iter()
        .filter(|((kind, _), o)| {
            matches!(kind, Kind::Network | Kind::Module) && !present.contains(&o.row_id)
        })
        .map(|(k, o)| (k, o.row_id))
        .collect();
    let mut out = std::collections::BTreeMap::new();
    if gone.is_empty() {
        return Ok(out);
    }
    let ids: Vec<String> = gone.iter().map(|(_, id)| id.to_string()).collect();
    let rows = sqlx::query(
        "SELECT DISTINCT ON (u.id) u.id,
                coalesce(a.details->>'user', a.details->>'actor', a.details->>'username',
                         a.details->>'changed_by', a.details->>'performed_by', a.message) AS who,
                a.created_at
           FROM UNNEST($1::text[]) AS u(id)
           JOIN activity_logs a ON a.details IS NOT NULL AND strpos(a.details::text, u.id) > 0
          ORDER BY u.id, a.created_at DESC",
    )
    .bind(&ids)
    .fetch_all(&mut *conn)
    .await
    .map_err(query_error("activity_logs"))?;
    let seen: std::collections::HashMap<String, (Option<String>, chrono::DateTime<chrono::Utc>)> =
        rows.into_iter()
            .map(|r| (r.get("id"), (r.get("who"), r.get("created_at"))))
            .collect();
    for (key, id) in gone {
        let (who, when) = match seen.get(&id.to_string()) {
            Some((who, when)) => (who.clone(), Some(*when)),
            None => (None, None),
        };
        out.insert(key.clone(), super::Removal { who, when });
    }
    Ok(out)
}

/// Reads the state in its own read-only, repeatable-read transaction.
pub async fn snapshot(pool: &sqlx::PgPool) -> Result<ActualState, Error> {
    Ok(snapshot_with(pool, false).await?.0)
}

/// [`snapshot`] with the change marker of the same snapshot
/// ([`super::marker::marker_in`]): an apply that finds the marker unchanged
/// under its lock can apply the plan made from this state without reading
/// and diffing everything again.
pub async fn snapshot_marked(pool: &sqlx::PgPool) -> Result<(ActualState, String), Error> {
    let (state, marker) = snapshot_with(pool, true).await?;
    Ok((state, marker.unwrap_or_default()))
}

/// The state, and its marker when `marked`, in one read-only, repeatable-read
/// transaction.
async fn snapshot_with(
    pool: &sqlx::PgPool,
    marked: bool,
) -> Result<(ActualState, Option<String>), Error> {
    let mut tx = pool.begin().await.map_err(query_error("begin"))?;
    sqlx::query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY")
        .execute(&mut *tx)
        .await
        .map_err(query_error("begin"))?;
    let state = read(&mut tx).await?;
    let marker = match marked {
        true => Some(super::marker::marker_in(&mut tx).await?),
        false => None,
    };
    tx.commit().await.map_err(query_error("commit"))?;
    Ok((state, marker))
}
