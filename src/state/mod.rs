//! The actual state: what MCPBox's database holds now, plus what we own.
//!
//! # Layout
//! - this file: the plain-data `ActualState` (rows mapped onto `model` objects).
//! - `read`: fills it from PostgreSQL with a handful of set-based queries.
//! - `marker`: one cheap query that tells whether any row a plan reads changed.
//! - `migrate`: creates MCPBox's schema on an empty database and our bookkeeping.
//!
//! Only reads happen here; writing lives in `apply`.

pub mod marker;
pub mod migrate;
pub mod quarantine;
pub mod read;

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use crate::model::{Kind, Module, Network, Secret, Server, Setting, Source, Tool, Tunnel};
use crate::rules::approval::Status;

/// An error reading the database.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A query failed.
    #[error("cannot read MCPBox's database ({context}); nothing was applied, the command can be run again")]
    Query {
        /// Which read.
        context: &'static str,
        /// The driver's error.
        #[source]
        source: sqlx::Error,
    },
    /// The database does not hold MCPBox's schema (or our bookkeeping).
    #[error("database is not ready: {0}")]
    NotReady(String),
}

/// `map_err` for a failed query: names which read failed.
pub(crate) fn query_error(context: &'static str) -> impl FnOnce(sqlx::Error) -> Error {
    move |source| Error::Query { context, source }
}

/// The `application_name` our connections carry, so that anyone looking at
/// PostgreSQL's activity (and an apply waiting for the lock) can tell who we
/// are: `mcpbox-gitops pid=<pid> host=<host>[ src=<source>]`, cut to the 63
/// bytes PostgreSQL keeps.
pub fn application_name(source: Option<&str>) -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .unwrap_or_default();
    let mut name = format!("mcpbox-gitops pid={} host={host}", std::process::id());
    if let Some(src) = source {
        name.push_str(" src=");
        name.push_str(src);
    }
    while name.len() > 63 {
        name.pop();
    }
    name
}

/// A `servers` row.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ServerRow {
    /// `servers.id`.
    pub id: Uuid,
    /// The managed fields.
    pub obj: Server,
    /// `servers.status` (decides whether a change needs re-registration).
    pub status: String,
    /// `servers.allowed_hosts` cache.
    pub allowed_hosts: Vec<String>,
    /// Rows of other tables a delete of this server cascades to (its tools' own
    /// cascades are counted from the tools).
    #[serde(default)]
    pub cascade: ServerCascade,
}

/// Counts of server-level rows that go with a server when it is deleted.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServerCascade {
    /// `external_mcp_sources` rows.
    pub sources: i64,
    /// `activity_logs` rows (audit rows included).
    pub activity_logs: i64,
    /// `module_requests` rows with this `server_id` and no tool.
    pub module_requests: i64,
}

/// A `tools` row with what a delete would cascade to.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ToolRow {
    /// `tools.id`.
    pub id: Uuid,
    /// `tools.server_id`.
    pub server_id: Uuid,
    /// The managed fields (server resolved to its name).
    pub obj: Tool,
    /// `tools.current_version`.
    pub current_version: i32,
    /// `tools.approval_status`.
    pub approval_status: Status,
    /// `tools.approval_requested_at`.
    pub approval_requested_at: Option<DateTime<Utc>>,
    /// `tools.approved_at`.
    pub approved_at: Option<DateTime<Utc>>,
    /// `tools.approved_by`.
    pub approved_by: Option<String>,
    /// `tools.rejection_reason`.
    pub rejection_reason: Option<String>,
    /// `tools.created_by`.
    pub created_by: Option<String>,
    /// `tools.publish_notes`.
    pub publish_notes: Option<String>,
    /// `tools.external_source_id`.
    pub external_source_id: Option<Uuid>,
    /// `tools.updated_at`, shown when reporting a human's decision.
    pub updated_at: DateTime<Utc>,
    /// Rows a delete cascades to.
    pub cascade: ToolCascade,
    /// The newest `tool_versions` row: what MCPBox last did to the tool
    /// (a rollback says so), for the plan's wording.
    #[serde(default)]
    pub last_version: Option<LastVersion>,
}

/// The newest version row of a tool.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LastVersion {
    /// `tool_versions.change_source` (`manual`, `import`, `rollback`).
    pub source: String,
    /// `tool_versions.change_summary`.
    pub summary: Option<String>,
}

/// Counts of rows that go with a tool when it is deleted.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ToolCascade {
    /// `tool_versions` rows.
    pub versions: i64,
    /// `network_access_requests` + `module_requests` rows of the tool.
    pub requests: i64,
    /// `tool_execution_logs` rows.
    pub execution_logs: i64,
}

/// A `server_secrets` row (never its value).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SecretRow {
    /// `server_secrets.id`.
    pub id: Uuid,
    /// `server_secrets.server_id`.
    pub server_id: Uuid,
    /// The managed fields.
    pub obj: Secret,
    /// Whether `encrypted_value` is set.
    pub has_value: bool,
    /// `encrypted_value` itself (ciphertext; compared by decrypting, never shown).
    /// Serialised as its sha256, so fingerprints notice a new value.
    #[serde(skip_deserializing, serialize_with = "digest_bytes")]
    pub encrypted_value: Option<Vec<u8>>,
}

/// An `external_mcp_sources` row (OAuth columns are never read: they are
/// MCPBox's, and never written either).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SourceRow {
    /// `external_mcp_sources.id`.
    pub id: Uuid,
    /// `external_mcp_sources.server_id`.
    pub server_id: Uuid,
    /// The managed fields (`status` `error` reads as `active`).
    pub obj: Source,
    /// `status` as stored (`active`, `error` or `disabled`): an update keeps
    /// MCPBox's `error` unless git disables the source.
    pub status: String,
    /// `discovered_tools_cache`: `[{"name", "description", "input_schema"}…]`,
    /// where a pass-through tool's description and schema come from.
    pub discovered_tools_cache: Option<serde_json::Value>,
}

impl SourceRow {
    /// The discovered tool named `name`, if discovery found it.
    pub fn discovered(&self, name: &str) -> Option<&serde_json::Value> {
        self.discovered_tools_cache
            .as_ref()?
            .as_array()?
            .iter()
            .find(|t| t.get("name").and_then(|n| n.as_str()) == Some(name))
    }
}

/// A `tunnel_configurations` row (never its token in clear).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TunnelRow {
    /// `tunnel_configurations.id`.
    pub id: Uuid,
    /// The managed fields (`token` is the label `(encrypted)` when one is stored;
    /// `public_url` normalised as MCPBox normalises it).
    pub obj: Tunnel,
    /// The stored base64 ciphertext (compared by decrypting, never shown).
    /// Serialised as its sha256.
    #[serde(skip_deserializing, serialize_with = "digest_text")]
    pub ciphertext: Option<String>,
}

/// A `network_access_requests` row.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NetworkRow {
    /// `network_access_requests.id`.
    pub id: Uuid,
    /// The server it belongs to (`server_id`, or its tool's server).
    pub server_id: Uuid,
    /// `tool_id`.
    pub tool_id: Option<Uuid>,
    /// The managed fields.
    pub obj: Network,
    /// `status` label.
    pub status: String,
}

/// A `module_requests` row.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ModuleRow {
    /// `module_requests.id`.
    pub id: Uuid,
    /// `tool_id` (None for admin rows).
    pub tool_id: Option<Uuid>,
    /// The managed fields.
    pub obj: Module,
    /// `status` label.
    pub status: String,
}

/// A `settings` row.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SettingRow {
    /// `settings.id`.
    pub id: Uuid,
    /// The managed fields.
    pub obj: Setting,
    /// `settings.encrypted`.
    pub encrypted: bool,
    /// The stored base64 ciphertext of an encrypted setting (its `obj.value` is
    /// the label `(encrypted)`). Serialised as its sha256.
    #[serde(skip_deserializing, serialize_with = "digest_text")]
    pub ciphertext: Option<String>,
}

fn digest_bytes<S: serde::Serializer>(v: &Option<Vec<u8>>, s: S) -> Result<S::Ok, S::Error> {
    match v {
        Some(b) => s.serialize_some(&hex::encode(Sha256::digest(b))),
        None => s.serialize_none(),
    }
}

fn digest_text<S: serde::Serializer>(v: &Option<String>, s: S) -> Result<S::Ok, S::Error> {
    digest_bytes(&v.as_ref().map(|t| t.as_bytes().to_vec()), s)
}

/// One row of our ownership table.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Owned {
    /// The MCPBox row we manage.
    pub row_id: Uuid,
    /// Hash of the object as we last applied it.
    pub applied_hash: String,
    /// Identity of the approval pin in force when last applied (tools only).
    pub pin: Option<String>,
    /// The source that owns it (repository location + subdir); None for rows
    /// written before owners were recorded, or by an unnamed source.
    pub owner: Option<String>,
}

/// Everything read from the database.
#[derive(Debug, Clone, Default)]
pub struct ActualState {
    /// Whether this is a real database (false: planning against an empty MCPBox).
    pub connected: bool,
    /// `servers`.
    pub servers: Vec<ServerRow>,
    /// `tools`.
    pub tools: Vec<ToolRow>,
    /// `server_secrets`.
    pub secrets: Vec<SecretRow>,
    /// `external_mcp_sources`.
    pub sources: Vec<SourceRow>,
    /// `tunnel_configurations`.
    pub tunnels: Vec<TunnelRow>,
    /// `network_access_requests`.
    pub network: Vec<NetworkRow>,
    /// `module_requests`.
    pub modules: Vec<ModuleRow>,
    /// `settings`.
    pub settings: Vec<SettingRow>,
    /// `global_config.allowed_modules` of `main` (outer None: no row).
    pub allowed_modules: Option<Option<Vec<String>>>,
    /// Our ownership records by (kind, natural key).
    pub ownership: BTreeMap<(Kind, String), Owned>,
    /// Owned hosts and modules whose request row is gone from MCPBox (an
    /// admin removed it), with who and when when MCPBox logged it.
    pub removals: BTreeMap<(Kind, String), Removal>,
    /// Tools held in quarantine (`onCodeDrift: quarantine`), by `server/tool`.
    pub quarantine: BTreeMap<String, crate::rules::quarantine::Held>,
}

/// An owned request row removed in MCPBox: who and when, from its activity log.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Removal {
    /// Who, as MCPBox logged it.
    pub who: Option<String>,
    /// When.
    pub when: Option<chrono::DateTime<chrono::Utc>>,
}

/// One row of the state, as [`ActualState::rows`] lists it.
#[derive(Debug, Clone)]
pub struct StateRow {
    /// The table (`tools`, `ownership`, …).
    pub table: &'static str,
    /// The row's id (nil for one-row tables and keyed records).
    pub id: Uuid,
    /// What it is, for messages (`tool github/list_issues`).
    pub object: String,
    /// The server it belongs to; None for global rows.
    pub server: Option<Uuid>,
    /// Its content as compared.
    pub json: String,
}

impl ActualState {
    /// MCPBox's `tool_approval_mode` as stored (missing = `require_approval`).
    pub fn setting(&self, key: &str) -> Option<&str> {
        self.settings
            .iter()
            .find(|s| s.obj.key == key)
            .and_then(|s| s.obj.value.as_deref())
    }

    /// Server row by id.
    pub fn server(&self, id: Uuid) -> Option<&ServerRow> {
        self.servers.iter().find(|s| s.id == id)
    }

    /// Every row plans depend on, once: MCPBox's rows (counts that move
    /// whenever MCPBox runs a tool or logs, and a server's running status, left
    /// out), the module cache, our ownership and quarantine records. Saved
    /// plans fingerprint these one by one; [`ActualState::fingerprint`] hashes
    /// them all.
    pub fn rows(&self) -> Vec<StateRow> {
        fn json<T: Serialize>(v: &T) -> String {
            // Plain data types: serialising cannot fail.
            serde_json::to_string(v).unwrap_or_default()
        }
        let names: std::collections::HashMap<Uuid, &str> = self
            .servers
            .iter()
            .map(|s| (s.id, s.obj.name.as_str()))
            .collect();
        let server_name = |id: Uuid| {
            names
                .get(&id)
                .map(|n| n.to_string())
                .unwrap_or_else(|| id.to_string())
        };
        let mut out = Vec::new();
        let mut add =
            |table: &'static str, id: Uuid, object: String, server: Option<Uuid>, json: String| {
                out.push(StateRow {
                    table,
                    id,
                    object,
                    server,
                    json,
                })
            };
        for s in &self.servers {
            let object = format!("server {}", s.obj.name);
            add(
                "servers",
                s.id,
                object,
                Some(s.id),
                json(&(&s.obj, &s.allowed_hosts)),
            );
        }
        // The bulk of the work (every tool's code), so on every core.
        let tools = crate::parallel::map(&self.tools, |t| {
            let mut row = t.clone();
            row.cascade.execution_logs = 0;
            json(&row)
        });
        for (t, json) in self.tools.iter().zip(tools) {
            let object = format!("tool {}/{}", server_name(t.server_id), t.obj.name);
            add("tools", t.id, object, Some(t.server_id), json);
        }
        for s in &self.secrets {
            let object = format!("secret {}/{}", server_name(s.server_id), s.obj.name);
            add("server_secrets", s.id, object, Some(s.server_id), json(s));
        }
        for s in &self.sources {
            let object = format!("source {}/{}", server_name(s.server_id), s.obj.name);
            add(
                "external_mcp_sources",
                s.id,
                object,
                Some(s.server_id),
                json(s),
            );
        }
        for n in &self.network {
            let object = format!("network {}", n.obj.key());
            add(
                "network_access_requests",
                n.id,
                object,
                Some(n.server_id),
                json(n),
            );
        }
        for m in &self.modules {
            add(
                "module_requests",
                m.id,
                format!("module {}", m.obj.name),
                None,
                json(m),
            );
        }
        for s in &self.settings {
            add(
                "settings",
                s.id,
                format!("setting {}", s.obj.key),
                None,
                json(s),
            );
        }
        for t in &self.tunnels {
            add(
                "tunnel_configurations",
                t.id,
                format!("tunnel {}", t.obj.name),
                None,
                json(t),
            );
        }
        add(
            "global_config",
            Uuid::nil(),
            "global_config allowed_modules".into(),
            None,
            json(&self.allowed_modules),
        );
        for ((kind, key), o) in &self.ownership {
            let object = format!("ownership of {} {key}", kind.as_str());
            add("ownership", o.row_id, object, None, json(o));
        }
        for (tool, q) in &self.quarantine {
            let row = (tool, &q.git_hash, &q.drifted_hash, q.since);
            // Keyed by tool, not by row: an id derived from the key keeps the
            // rows apart.
            let digest = Sha256::digest(tool.as_bytes());
            let mut id = [0u8; 16];
            id.copy_from_slice(&digest[..16]);
            add(
                "quarantine",
                Uuid::from_bytes(id),
                format!("quarantine of tool {tool}"),
                None,
                json(&row),
            );
        }
        out
    }

    /// A fingerprint of everything [`ActualState::rows`] holds: equal exactly
    /// when no row a plan depends on moved.
    pub fn fingerprint(&self) -> String {
        let rows = self.rows();
        let digests = crate::parallel::map(&rows, |r| Sha256::digest(r.json.as_bytes()));
        let mut h = Sha256::new();
        for (r, digest) in rows.iter().zip(digests) {
            h.update(r.table.as_bytes());
            h.update(r.id.as_bytes());
            h.update(r.object.as_bytes());
            h.update(digest);
        }
        hex::encode(h.finalize())
    }
}
