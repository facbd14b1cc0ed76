//! `export`: a database populated by apply and by MCPBox-shaped raw rows is
//! exported, planned back as adoptions only (without the encryption key, and
//! with it and the variables the export names), applied without changing an
//! MCPBox row, and rebuilt on an empty database, encrypted values included.

use std::collections::BTreeMap;
use std::path::Path;

use assert_cmd::Command;
use mcpbox_gitops::crypto::{self, Aad, Key};
use mcpbox_gitops::export::{self, Options};
use mcpbox_gitops::plan::Action;
use mcpbox_gitops::source::{Entry, FileSet};
use mcpbox_gitops::values::{Resolved, ValueSource};
use predicates::prelude::*;
use serde_json::json;
use sqlx::PgPool;
use uuid::Uuid;

use crate::common;

const REVIEWER: &str = "gitops@homelab.example";
/// Tools MCPBox holds that a manifest cannot state (see `populate`).
const UNEXPORTABLE_TOOLS: [&str; 1] = ["gone_search"];
/// MCPBox's `MCPBOX_ENCRYPTION_KEY` in these tests.
const KEY: &str = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
/// The setting stored encrypted, and its plaintext.
const ENCRYPTED_SETTING: (&str, &str) = ("module_approval_mode", "auto_approve");
/// The tunnel configurations (name, token, active); the first is MCPBox's
/// active one.
const TUNNELS: [(&str, &str, bool); 2] = [
    ("prod", "eyJhIjoicHJvZCJ9-prod-token-0123456789", true),
    (
        "Wizard: homelab",
        "eyJhIjoiaG9tZSJ9-wizard-token-0123456789",
        false,
    ),
];
/// The variables the export names for them, with the plaintext each must hold.
const VARIABLES: [(&str, &str); 3] = [
    (
        "MCPBOX_SECRET_SETTING_MODULE_APPROVAL_MODE",
        ENCRYPTED_SETTING.1,
    ),
    ("MCPBOX_SECRET_TUNNEL_TOKEN_PROD", TUNNELS[0].1),
    ("MCPBOX_SECRET_TUNNEL_TOKEN_WIZARD_HOMELAB", TUNNELS[1].1),
];

const NOTES_SERVER: &str = "apiVersion: mcpbox/v1
kind: Server
metadata: {name: notes}
spec:
  description: Personal notes
  defaultTimeoutMs: 45000
  secrets:
    - {name: NOTES_KEY, description: API key of the notes service}
  network:
    - {host: notes.example.com, justification: notes API}
";

const NOTES_TOOL: &str = "apiVersion: mcpbox/v1
kind: Tool
metadata: {name: jot, server: notes}
spec:
  description: Write a note
  dependencies: [httpx]
  inputSchema:
    type: object
    properties:
      text: {type: string, description: what to write down}
    required: [text]
  code: |
    async def main(text: str):
        return {\"saved\": text}
";

const LLM_CODE: &str =
    "async def main(city: str, days: int | None = None):\n    return {\"city\": city, \"days\": days}\n";

fn bin() -> Command {
    let mut cmd = Command::cargo_bin("mcpbox-gitops").unwrap();
    cmd.current_dir(env!("CARGO_MANIFEST_DIR"))
        .env_remove("DATABASE_URL")
        .env("NO_COLOR", "1");
    cmd
}

fn key() -> Key {
    Key::parse(KEY).unwrap()
}

/// The plaintext the export's variable `var` must hold.
fn variable(var: &str) -> Option<std::ffi::OsString> {
    VARIABLES
        .iter()
        .find(|(v, _)| *v == var)
        .map(|(_, plain)| (*plain).into())
}

fn homelab() -> FileSet {
    FileSet::from_dir(&Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/homelab")).unwrap()
}

async fn id_of(pool: &PgPool, sql: &str) -> Uuid {
    sqlx::query_scalar(sql).fetch_one(pool).await.unwrap()
}

/// Inserts a tool the way MCPBox's tool service writes one (version 1 included).
async fn llm_tool(pool: &PgPool, server: Uuid, name: &str, status: &str) -> Uuid {
    let id = Uuid::new_v4();
    let schema = mcpbox_gitops::python::input_schema(&mcpbox_gitops::python::validate(LLM_CODE));
    sqlx::query(
        "INSERT INTO tools (id, server_id, name, description, input_schema, enabled, timeout_ms, tool_type, python_code,
                            code_dependencies, current_version, approval_status, approval_requested_at, rejection_reason, publish_notes)
         VALUES ($1, $2, $3, 'written by an LLM', $4, true, NULL, 'python_code', $5, NULL, 1, $6::approval_status,
                 CASE WHEN $6 = 'draft' THEN NULL ELSE now() END,
                 CASE WHEN $6 = 'rejected' THEN 'too broad' END,
                 CASE WHEN $6 = 'draft' THEN NULL ELSE 'please review' END)",
    )
    .bind(id).bind(server).bind(name).bind(&schema).bind(LLM_CODE).bind(status)
    .execute(pool).await.unwrap();
    sqlx::query(
        "INSERT INTO tool_versions (id, tool_id, version_number, name, description, enabled, timeout_ms, python_code, input_schema, change_summary, change_source)
         VALUES ($1, $2, 1, $3, 'written by an LLM', true, NULL, $4, $5, 'Initial version', 'manual')",
    )
    .bind(Uuid::new_v4()).bind(id).bind(name).bind(LLM_CODE).bind(&schema)
    .execute(pool).await.unwrap();
    id
}

/// A database as MCPBox could hold it, managed by nobody: homelab plus one more
/// server applied, every ownership record forgotten, then rows MCPBox itself
/// writes (LLM tools in every approval state, an admin's edit, requests, a
/// secret value, settings, external sources and their imported pass-through
/// tools, tunnel configurations, an encrypted setting) and rows no manifest can
/// state.
async fn populate(pool: &PgPool) {
    common::migrate(pool).await;
    let mut files = homelab();
    files.insert("servers/notes/server.yaml", NOTES_SERVER);
    files.insert("servers/notes/tools/jot.yaml", NOTES_TOOL);
    common::apply(pool, &files).await;
    sqlx::query("DELETE FROM mcpbox_gitops.ownership")
        .execute(pool)
        .await
        .unwrap();

    let weather = id_of(pool, "SELECT id FROM servers WHERE name = 'weather'").await;
    let github = id_of(pool, "SELECT id FROM servers WHERE name = 'github'").await;
    let draft = llm_tool(pool, weather, "llm_draft", "draft").await;
    llm_tool(pool, weather, "llm_pending", "pending_review").await;
    llm_tool(pool, weather, "llm_rejected", "rejected").await;
    // Created, then edited by an admin (enabled, timeout, dependencies), then approved.
    let tuned = llm_tool(pool, weather, "tuned", "draft").await;
    sqlx::query(
        "UPDATE tools SET enabled = false, timeout_ms = 7000, code_dependencies = '{httpx,pyyaml}', current_version = 2,
                approval_status = 'approved', approved_at = now(), approved_by = 'bob@example.com', updated_at = now()
          WHERE id = $1",
    )
    .bind(tuned).execute(pool).await.unwrap();
    sqlx::query(
        "INSERT INTO tool_versions (id, tool_id, version_number, name, description, enabled, timeout_ms, python_code, input_schema, change_summary, change_source)
         SELECT $1, id, 2, name, description, false, 7000, python_code, input_schema, 'Updated enabled status, timeout, and code_dependencies', 'manual'
           FROM tools WHERE id = $2",
    )
    .bind(Uuid::new_v4()).bind(tuned).execute(pool).await.unwrap();
    // A tool and a pass-through tool without timeout in a server whose default
    // is not 30000 (MCPBox's create and import write NULL): `timeoutMs: inherit`.
    llm_tool(pool, github, "gh_draft", "draft").await;
    let source = Uuid::new_v4();
    sqlx::query(
        "INSERT INTO external_mcp_sources (id, server_id, name, url, auth_type, transport_type, status, tool_count)
         VALUES ($1, $2, 'github-mcp', 'https://api.githubcopilot.com/mcp/', 'none', 'streamable_http', 'active', 1)",
    )
    .bind(source).bind(github).execute(pool).await.unwrap();
    sqlx::query(
        "INSERT INTO tools (id, server_id, name, description, input_schema, enabled, tool_type, external_source_id, external_tool_name,
                            current_version, approval_status)
         VALUES ($1, $2, 'search_code', 'Search code', '{\"type\": \"object\", \"properties\": {}}', true, 'mcp_passthrough', $3,
                 'search_code', 1, 'approved')",
    )
    .bind(Uuid::new_v4()).bind(github).bind(source).execute(pool).await.unwrap();
    // An LLM's pending network request and an admin's rejected module request.
    sqlx::query(
        "INSERT INTO network_access_requests (id, tool_id, server_id, host, port, justification, requested_by, status)
         VALUES ($1, $2, $3, 'llm.example.com', 443, 'the LLM wants it', NULL, 'pending')",
    )
    .bind(Uuid::new_v4()).bind(draft).bind(weather).execute(pool).await.unwrap();
    sqlx::query(
        "INSERT INTO module_requests (id, tool_id, server_id, module_name, justification, requested_by, status, reviewed_at, reviewed_by, rejection_reason)
         VALUES ($1, NULL, NULL, 'yaml', 'Manually added by admin', 'admin', 'rejected', now(), 'admin', 'not needed')",
    )
    .bind(Uuid::new_v4()).execute(pool).await.unwrap();
    // An LLM's module request for `tuned`, approved (MCPBOX.md §3.1: the tool and
    // its server, no requester). Its reviewer is the export's: no manifest
    // carries who reviewed a request, so a rebuilt one names the reviewer.
    sqlx::query(
        "INSERT INTO module_requests (id, tool_id, server_id, module_name, justification, requested_by, status, reviewed_at, reviewed_by)
         VALUES ($1, $2, $3, 'python-dateutil', 'parse dates', NULL, 'approved', now(), $4)",
    )
    .bind(Uuid::new_v4()).bind(tuned).bind(weather).bind(REVIEWER).execute(pool).await.unwrap();
    // … and MCPBox's approval re-syncs the module cache (§3.5: the name and its
    // derived names, code-point order).
    sqlx::query(
        "UPDATE global_config SET allowed_modules = (SELECT array_agg(m ORDER BY m COLLATE \"C\")
                                                       FROM (SELECT DISTINCT unnest(allowed_modules || '{python-dateutil,python_dateutil,python}'::varchar[]) AS m) d),
                                  updated_at = now()
          WHERE config_key = 'main'",
    )
    .execute(pool).await.unwrap();
    // A secret value (any bytes: it is never read here) and settings MCPBox writes,
    // one of them encrypted as MCPBox encrypts settings.
    sqlx::query("UPDATE server_secrets SET encrypted_value = '\\x00010203040506070809'::bytea, updated_at = now() WHERE key_name = 'GITHUB_TOKEN'")
        .execute(pool).await.unwrap();
    let (encrypted_key, plain) = ENCRYPTED_SETTING;
    let ciphertext = crypto::encrypt_b64(&key(), plain, &Aad::setting(encrypted_key)).unwrap();
    for (key, value, encrypted) in [
        ("onboarding_completed", "true", false),
        ("redact_secrets_in_output", "enabled", false),
        (encrypted_key, ciphertext.as_str(), true),
    ] {
        let description = mcpbox_gitops::settings::known(key).map(|k| k.description);
        sqlx::query("INSERT INTO settings (id, key, value, encrypted, description) VALUES ($1, $2, $3, $4, $5)")
            .bind(Uuid::new_v4()).bind(key).bind(value).bind(encrypted).bind(description)
            .execute(pool).await.unwrap();
    }
    sources_and_tunnels(pool).await;
}

/// External sources and pass-through tools as MCPBox's source service, its
/// discovery and its import write them (MCPBOX.md §4.4, §6.1), and tunnel
/// configurations as its tunnel service does (§6.4), tokens encrypted.
async fn sources_and_tunnels(pool: &PgPool) {
    let ha = id_of(pool, "SELECT id FROM servers WHERE name = 'home_assistant'").await;
    let ops = id_of(pool, "SELECT id FROM servers WHERE name = 'homelab_ops'").await;
    // Bearer auth with a secret of its server; never discovered.
    let ha_source = Uuid::new_v4();
    sqlx::query(
        "INSERT INTO external_mcp_sources (id, server_id, name, url, auth_type, auth_secret_name, transport_type, status, tool_count)
         VALUES ($1, $2, 'Home Assistant MCP', 'http://homeassistant.local:8123/mcp_server/sse', 'bearer', 'HA_TOKEN', 'sse', 'active', 0)",
    )
    .bind(ha_source).bind(ha).execute(pool).await.unwrap();
    // Discovered once (the cache), then a discovery failed (status `error`).
    let cache = json!([
        {"name": "dns_stats", "description": "Pi-hole DNS statistics",
         "input_schema": {"type": "object", "properties": {"hours": {"type": "integer"}}, "required": ["hours"]}},
        {"name": "noop", "description": null, "input_schema": null},
    ]);
    let feeds = Uuid::new_v4();
    sqlx::query(
        "INSERT INTO external_mcp_sources (id, server_id, name, url, auth_type, transport_type, status, tool_count,
                                           last_discovered_at, discovered_tools_cache)
         VALUES ($1, $2, 'feeds', 'https://feeds.example.com/mcp', 'none', 'streamable_http', 'error', 2, now(), $3)",
    )
    .bind(feeds).bind(ops).bind(&cache).execute(pool).await.unwrap();
    // Imported from the cache, then approved by an admin.
    sqlx::query(
        "INSERT INTO tools (id, server_id, name, description, input_schema, enabled, tool_type, external_source_id, external_tool_name,
                            current_version, approval_status, approved_at, approved_by)
         VALUES ($1, $2, 'feeds_dns_stats', $3, $4, true, 'mcp_passthrough', $5, 'dns_stats', 1, 'approved', now(), 'carol@example.com')",
    )
    .bind(Uuid::new_v4()).bind(ops).bind(cache[0]["description"].as_str()).bind(&cache[0]["input_schema"]).bind(feeds)
    .execute(pool).await.unwrap();
    // Imported by the LLM (draft) while its source still listed it.
    sqlx::query(
        "INSERT INTO tools (id, server_id, name, description, input_schema, enabled, tool_type, external_source_id, external_tool_name,
                            current_version, approval_status)
         VALUES ($1, $2, 'home_assistant_mcp_get_state', 'Read an entity''s state', $3, true, 'mcp_passthrough', $4, 'get_state', 1, 'draft')",
    )
    .bind(Uuid::new_v4()).bind(ha).bind(json!({"type": "object", "properties": {"entity_id": {"type": "string"}}}))
    .bind(ha_source).execute(pool).await.unwrap();
    // Its source was deleted since: ON DELETE SET NULL left it behind, broken.
    sqlx::query(
        "INSERT INTO tools (id, server_id, name, description, input_schema, enabled, tool_type, external_source_id, external_tool_name,
                            current_version, approval_status)
         VALUES ($1, $2, 'gone_search', 'Search', '{\"type\": \"object\", \"properties\": {}}', true, 'mcp_passthrough', NULL, 'search', 1, 'draft')",
    )
    .bind(Uuid::new_v4()).bind(ha).execute(pool).await.unwrap();
    for (i, (name, token, active)) in TUNNELS.into_iter().enumerate() {
        let token = crypto::encrypt_b64(&key(), token, &Aad::tunnel_token()).unwrap();
        let (description, url) = if i == 0 {
            (
                Some("Cloudflare tunnel of the homelab"),
                Some("https://mcp.homelab.example"),
            )
        } else {
            (None, None)
        };
        sqlx::query(
            "INSERT INTO tunnel_configurations (id, name, description, tunnel_token, public_url, is_active)
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(Uuid::new_v4()).bind(name).bind(description).bind(token).bind(url).bind(active)
        .execute(pool).await.unwrap();
    }
}

/// A hash of every public table but `activity_logs` (audit rows are expected).
async fn dump(pool: &PgPool) -> Vec<(String, String)> {
    let tables: Vec<String> = sqlx::query_scalar(
        "SELECT table_name::text FROM information_schema.tables
          WHERE table_schema = 'public' AND table_type = 'BASE TABLE' AND table_name <> 'activity_logs' ORDER BY 1",
    )
    .fetch_all(pool)
    .await
    .unwrap();
    let mut out = Vec::new();
    for table in tables {
        let sql = format!("SELECT coalesce(string_agg(t::text, '|' ORDER BY t::text), '') FROM public.\"{table}\" t");
        out.push((
            table,
            sqlx::query_scalar(&sql).fetch_one(pool).await.unwrap(),
        ));
    }
    out
}

/// The managed rows by natural key: ids, timestamps and foreign-key uuids left
/// out, and what an export leaves to MCPBox by design (requests that are not
/// approved, the tools it cannot state, secret values, the approval details of
/// tools that are not approved, version `change_source`, sources' discovery).
/// Encrypted values are compared decrypted, by `decrypted`.
async fn rows(pool: &PgPool) -> BTreeMap<&'static str, Vec<String>> {
    let skipped_tools: Vec<String> = UNEXPORTABLE_TOOLS.iter().map(|s| s.to_string()).collect();
    let queries: [(&str, &str); 10] = [
        ("servers", "SELECT name, description, status, allowed_hosts, default_timeout_ms FROM servers"),
        ("tools", "SELECT s.name AS server, t.name, t.description, t.input_schema, t.enabled, t.timeout_ms, t.tool_type, t.python_code,
                          t.code_dependencies, t.current_version, t.approval_status = 'approved' AS approved,
                          -- an approval without approver (MCPBox's admin-UI import) is pinned by the
                          -- reviewer; the export notes it
                          CASE WHEN t.approval_status = 'approved' THEN coalesce(t.approved_by, 'gitops@homelab.example') END AS approved_by,
                          es.name AS source, t.external_tool_name
                     FROM tools t JOIN servers s ON s.id = t.server_id LEFT JOIN external_mcp_sources es ON es.id = t.external_source_id
                    WHERE t.name <> ALL($1)"),
        ("tool_versions", "SELECT s.name AS server, t.name AS tool, v.version_number, v.name, v.description, v.enabled, v.timeout_ms,
                                  v.python_code, v.input_schema, v.change_summary
                             FROM tool_versions v JOIN tools t ON t.id = v.tool_id JOIN servers s ON s.id = t.server_id
                            WHERE t.name <> ALL($1)"),
        ("server_secrets", "SELECT s.name AS server, x.key_name, x.description FROM server_secrets x JOIN servers s ON s.id = x.server_id"),
        ("network_access_requests", "SELECT s.name AS server, t.name AS tool, n.host, n.port, n.justification, n.requested_by, n.status,
                                            n.reviewed_by, n.rejection_reason, n.server_id IS NOT NULL AS has_server
                                       FROM network_access_requests n JOIN servers s ON s.id = n.server_id LEFT JOIN tools t ON t.id = n.tool_id
                                      WHERE n.status = 'approved'"),
        ("module_requests", "SELECT m.module_name, m.justification, m.requested_by, m.status, m.reviewed_by, m.rejection_reason,
                                    m.tool_id IS NULL AS admin, m.server_id IS NULL AS global, t.name AS tool,
                                    m.server_id IS NOT DISTINCT FROM t.server_id AS tool_server
                               FROM module_requests m LEFT JOIN tools t ON t.id = m.tool_id WHERE m.status = 'approved'"),
        // An encrypted value differs by its random IV: compared decrypted, aside.
        ("settings", "SELECT key, CASE WHEN encrypted THEN NULL ELSE value END AS value, encrypted, description FROM settings"),
        ("global_config", "SELECT config_key, allowed_modules FROM global_config"),
        // Discovery (cache, tool_count, the `error` of a failed one) is MCPBox's.
        ("external_mcp_sources", "SELECT s.name AS server, e.name, e.url, e.auth_type, e.auth_secret_name, e.auth_header_name, e.transport_type,
                                         CASE WHEN e.status = 'error' THEN 'active' ELSE e.status::text END AS status,
                                         e.oauth_tokens_encrypted IS NULL AS no_oauth
                                    FROM external_mcp_sources e JOIN servers s ON s.id = e.server_id"),
        // Tokens differ by their random IV: compared decrypted, aside.
        ("tunnel_configurations", "SELECT name, description, public_url, is_active, tunnel_token IS NOT NULL AS has_token FROM tunnel_configurations"),
    ];
    let mut out = BTreeMap::new();
    for (table, sql) in queries {
        let wrapped = format!("SELECT row_to_json(x)::text FROM ({sql}) x ORDER BY 1");
        let mut q = sqlx::query_scalar::<_, String>(&wrapped);
        if sql.contains("$1") {
            q = q.bind(&skipped_tools);
        }
        out.insert(table, q.fetch_all(pool).await.unwrap());
    }
    out
}

/// The plaintexts of the encrypted columns: tunnel tokens by name, then the
/// encrypted settings by key.
async fn decrypted(pool: &PgPool) -> Vec<(String, String)> {
    let tunnels: Vec<(String, String)> = sqlx::query_as(
        "SELECT name, tunnel_token FROM tunnel_configurations WHERE tunnel_token IS NOT NULL ORDER BY name",
    )
    .fetch_all(pool)
    .await
    .unwrap();
    let settings: Vec<(String, String)> =
        sqlx::query_as("SELECT key, value FROM settings WHERE encrypted ORDER BY key")
            .fetch_all(pool)
            .await
            .unwrap();
    let tunnels = tunnels.into_iter().map(|(name, token)| {
        let plain = crypto::decrypt_b64(&key(), &token, &Aad::tunnel_token()).unwrap();
        (format!("tunnel {name}"), plain.expose().to_string())
    });
    let settings = settings.into_iter().map(|(k, value)| {
        let plain = crypto::decrypt_b64(&key(), &value, &Aad::setting(&k)).unwrap();
        (format!("setting {k}"), plain.expose().to_string())
    });
    tunnels.chain(settings).collect()
}

fn write(files: &FileSet, dir: &Path) {
    for (rel, entry) in &files.files {
        let Entry::Bytes(bytes) = entry else {
            panic!("{rel}: {entry:?}")
        };
        let path = dir.join(rel);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, bytes).unwrap();
    }
}

#[sqlx::test(migrations = false)]
async fn export_adopts_applies_as_a_no_op_and_rebuilds_an_empty_mcpbox(pool: PgPool) {
    populate(&pool).await;
    let actual = mcpbox_gitops::state::read::snapshot(&pool).await.unwrap();
    let opts = Options {
        reviewer: REVIEWER.into(),
    };
    let e = export::export(&actual, &opts).unwrap();

    // What cannot be stated is skipped, loudly; values never leave MCPBox.
    let skipped: Vec<&str> = e.skipped.iter().map(|s| s.object.as_str()).collect();
    assert_eq!(
        skipped,
        ["tool `home_assistant/gone_search`"],
        "{:#?}",
        e.skipped
    );
    assert!(
        e.skipped[0]
            .reason
            .contains("external source was deleted in MCPBox (external_source_id is NULL)"),
        "{:?}",
        e.skipped[0]
    );
    // NULL timeouts on a 20000 ms server are stated as `inherit` and come back NULL.
    let gh = e
        .files
        .files
        .iter()
        .find(|(p, _)| p.ends_with("tools/gh_draft.yaml"))
        .map(|(_, f)| match f {
            Entry::Bytes(b) => String::from_utf8_lossy(b).into_owned(),
            _ => String::new(),
        })
        .unwrap();
    assert!(gh.contains("timeoutMs: inherit"), "{gh}");
    // States no manifest states are listed (drafts, the rejection).
    let lost: Vec<&str> = e.lost.iter().map(|s| s.object.as_str()).collect();
    assert!(
        lost.contains(&"tool `weather/llm_rejected`") && lost.contains(&"tool `github/gh_draft`"),
        "{lost:?}"
    );
    // A module approved for a tool is an entry naming it (issue 14.1).
    assert!(!lost.iter().any(|l| l.contains("module")), "{lost:?}");
    let (c, rows_before) = (e.counts, rows(&pool).await);
    assert_eq!((c.sources, c.tunnels), (3, 2), "{c:?}");
    assert_eq!(
        rows_before["external_mcp_sources"].len(),
        3,
        "every source is exported"
    );
    // Encrypted values are named by variable, never carried.
    let vars: Vec<(&str, &str)> = e
        .env
        .iter()
        .map(|v| (v.var.as_str(), v.object.as_str()))
        .collect();
    assert_eq!(
        vars,
        [
            (
                VARIABLES[0].0,
                "value of encrypted setting `module_approval_mode`"
            ),
            (VARIABLES[1].0, "token of tunnel configuration `prod`"),
            (
                VARIABLES[2].0,
                "token of tunnel configuration `Wizard: homelab`"
            ),
        ]
    );
    let stored = decrypted(&pool).await;
    let ciphertexts: Vec<String> = sqlx::query_scalar(
        "SELECT tunnel_token FROM tunnel_configurations UNION ALL SELECT value FROM settings WHERE encrypted",
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    for (path, entry) in &e.files.files {
        let Entry::Bytes(b) = entry else { continue };
        let text = String::from_utf8_lossy(b);
        let leaked = stored
            .iter()
            .any(|(_, plain)| text.contains(plain.as_str()))
            || ciphertexts.iter().any(|c| text.contains(c.as_str()));
        assert!(!leaked, "{path} holds an encrypted value");
        let may_read_values =
            path == export::SETTINGS_FILE || path.starts_with(export::TUNNELS_DIR);
        assert_eq!(text.contains("valueFrom"), may_read_values, "{path}");
    }
    let dir = tempfile::tempdir().unwrap();
    write(&e.files, dir.path());
    let files = FileSet::from_dir(dir.path()).unwrap();
    let weather = std::fs::read_to_string(dir.path().join("servers/weather/server.yaml")).unwrap();
    assert!(
        weather.contains(
            "left to MCPBox: pending network request `weather/llm.example.com:443 via llm_draft`"
        ),
        "{weather}"
    );
    let tuned =
        std::fs::read_to_string(dir.path().join("servers/weather/tools/tuned.yaml")).unwrap();
    for want in ["timeoutMs: 7000", "enabled: false", "- httpx", "- pyyaml"] {
        assert!(tuned.contains(want), "{want}: {tuned}");
    }
    let modules = std::fs::read_to_string(dir.path().join(export::MODULES_FILE)).unwrap();
    assert!(
        modules.contains("name: python-dateutil") && modules.contains("tool: weather/tuned"),
        "{modules}"
    );
    let jot = std::fs::read_to_string(dir.path().join("servers/notes/tools/jot.yaml")).unwrap();
    assert!(
        jot.contains("inputSchema") && jot.contains("timeoutMs: 45000"),
        "{jot}"
    );
    let read = |rel: &str| std::fs::read_to_string(dir.path().join(rel)).unwrap();
    let ha = read("servers/home_assistant/sources/home_assistant_mcp.yaml");
    for want in [
        "name: Home Assistant MCP",
        "transport: sse",
        "type: bearer",
        "secret: HA_TOKEN",
    ] {
        assert!(ha.contains(want), "{want}: {ha}");
    }
    let feeds = read("servers/homelab_ops/sources/feeds.yaml");
    assert!(
        feeds.contains("# status in MCPBox: error") && !feeds.contains("status: "),
        "{feeds}"
    );
    // Discovered description and schema are written: a rebuilt MCPBox has no
    // discovery to take them from.
    let dns = read("servers/homelab_ops/tools/feeds_dns_stats.yaml");
    for want in [
        "type: mcp_passthrough",
        "externalSource: feeds",
        "externalToolName: dns_stats",
        "description: Pi-hole DNS statistics",
        "inputSchema:",
    ] {
        assert!(dns.contains(want), "{want}: {dns}");
    }
    let prod = read("platform/tunnels/prod.yaml");
    for want in [
        "active: true",
        "publicUrl: https://mcp.homelab.example",
        "env: MCPBOX_SECRET_TUNNEL_TOKEN_PROD\n",
        "set MCPBOX_ENCRYPTION_KEY and MCPBOX_SECRET_TUNNEL_TOKEN_PROD to",
    ] {
        assert!(prod.contains(want), "{want}: {prod}");
    }
    let settings = read(export::SETTINGS_FILE);
    assert!(
        settings.contains("env: MCPBOX_SECRET_SETTING_MODULE_APPROVAL_MODE")
            && settings.contains("# `module_approval_mode` is stored encrypted"),
        "{settings}"
    );
    let pins = read("approvals.yaml");
    assert!(
        pins.contains("weather/tuned") && pins.contains("approvedBy: bob@example.com"),
        "{pins}"
    );
    assert!(
        pins.contains("homelab_ops/feeds_dns_stats") && pins.contains("carol@example.com"),
        "{pins}"
    );
    assert!(
        !pins.contains("llm_pending")
            && !pins.contains("llm_draft")
            && !pins.contains("llm_rejected")
            && !pins.contains("get_state"),
        "{pins}"
    );

    // The CLI's plan: without the key the stored values stand; with the key it
    // needs every variable (an unset one is named) and compares by decrypting.
    let url = common::url(&pool);
    let cli_plan = |key: Option<&str>, vars: &[(&str, &str)]| {
        let mut cmd = bin();
        cmd.args(["plan", "--detailed-exitcode"])
            .arg(dir.path())
            .env("DATABASE_URL", &url)
            .env_remove(crypto::ENV_VAR);
        for (var, _) in VARIABLES {
            cmd.env_remove(var);
        }
        if let Some(k) = key {
            cmd.env(crypto::ENV_VAR, k);
        }
        for (var, value) in vars {
            cmd.env(var, value);
        }
        cmd.assert()
    };
    let adoptions_only = predicate::str::contains("0 to add, 0 to change, 0 to destroy.");
    cli_plan(None, &[])
        .code(2)
        .stdout(adoptions_only.clone().and(predicate::str::contains(
            "3 value(s) from valueFrom were not read or compared",
        )));
    cli_plan(Some(KEY), &VARIABLES[..1]).code(1).stderr(
        // miette wraps the message: its parts are checked one by one.
        predicate::str::contains("tunnel:Wizard: homelab: environment variable")
            .and(predicate::str::contains(
                "`MCPBOX_SECRET_TUNNEL_TOKEN_WIZARD_HOMELAB` is not set",
            ))
            .and(predicate::str::contains(TUNNELS[1].1).not()),
    );
    cli_plan(Some(KEY), &VARIABLES)
        .code(2)
        .stdout(adoptions_only);

    // The CLI writes the same files, warns about what it left out, and lists the
    // variables apply will need.
    let cli_dir = tempfile::tempdir().unwrap();
    bin()
        .args(["export", "--reviewer", REVIEWER, "--out"])
        .arg(cli_dir.path())
        .env("DATABASE_URL", &url)
        .assert()
        .success()
        .stdout(
            predicate::str::contains("3 external source(s), 2 tunnel configuration(s).")
                .and(predicate::str::contains("3 value(s) stay encrypted in MCPBox"))
                .and(predicate::str::contains(
                    "  MCPBOX_SECRET_TUNNEL_TOKEN_WIZARD_HOMELAB  token of tunnel configuration `Wizard: homelab`\n",
                )),
        )
        .stderr(
            predicate::str::contains(
                "warning: not exported: tool `home_assistant/gone_search`: its external source was deleted",
            )
            .and(predicate::str::contains(
                "warning: not expressible: tool `weather/llm_rejected`: rejected in MCPBox (reason: too broad)",
            )),
        );
    // --strict writes the same files and fails on what it lists.
    let strict_dir = tempfile::tempdir().unwrap();
    bin()
        .args(["export", "--strict", "--reviewer", REVIEWER, "--out"])
        .arg(strict_dir.path())
        .env("DATABASE_URL", &url)
        .assert()
        .code(1)
        .stderr(predicate::str::contains("error: --strict:"));
    assert_eq!(
        FileSet::from_dir(cli_dir.path()).unwrap().files,
        files.files
    );

    // Plan: adoptions only.
    let plan = common::plan(&pool, &files).await;
    let s = plan.summary;
    assert_eq!(
        (s.add, s.change, s.destroy),
        (0, 0, 0),
        "{:#?}",
        plan.changes
    );
    assert!(s.adopt > 40, "{s:?}");
    assert_eq!(e.adoptions, s.adopt);
    for c in &plan.changes {
        assert_eq!(c.action, Action::Adopt, "{}", c.key);
        assert!(c.fields.is_empty(), "{}: {:?}", c.key, c.fields);
        if let Some(t) = &c.tool {
            assert!(
                t.approval.write.is_none() && t.versions.is_empty(),
                "{}: {:?}",
                c.key,
                t
            );
        }
    }
    assert!(plan.caches.is_empty(), "{:?}", plan.caches);
    let text = mcpbox_gitops::plan::render::text::render(&plan);
    assert!(
        text.contains("0 to add, 0 to change, 0 to destroy."),
        "{text}"
    );

    // Apply takes ownership and changes no MCPBox row (audit rows aside).
    let before = dump(&pool).await;
    for table in ["external_mcp_sources", "tunnel_configurations", "settings"] {
        assert!(
            before
                .iter()
                .any(|(t, rows)| t == table && !rows.is_empty()),
            "{table} is not compared"
        );
    }
    let logs_before: i64 = sqlx::query_scalar("SELECT count(*) FROM activity_logs")
        .fetch_one(&pool)
        .await
        .unwrap();
    let desired = common::desired(&files);
    let opts = mcpbox_gitops::apply::Options {
        allow_destroy: false,
        ..Default::default()
    };
    mcpbox_gitops::apply::execute(&pool, &desired, Some(&plan), &opts)
        .await
        .unwrap();
    assert_eq!(dump(&pool).await, before);
    let new_logs: Vec<String> = sqlx::query_scalar(
        "SELECT log_type::text || ' ' || message FROM activity_logs ORDER BY created_at OFFSET $1",
    )
    .bind(logs_before)
    .fetch_all(&pool)
    .await
    .unwrap();
    assert!(
        !new_logs.is_empty() && new_logs.iter().all(|m| m.starts_with("audit gitops.apply")),
        "{new_logs:?}"
    );
    let owned: i64 = sqlx::query_scalar("SELECT count(*) FROM mcpbox_gitops.ownership")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(owned as usize, s.adopt);
    let again = common::plan(&pool, &files).await;
    assert!(!again.has_changes(), "{:#?}", again.changes);
    assert!(again.bookkeeping.is_empty(), "{:#?}", again.bookkeeping);
    assert!(mcpbox_gitops::plan::render::text::render(&again).contains("No changes."));

    // An empty MCPBox rebuilt from the export holds the same rows. (The name is
    // new: sqlx's test database names already use PostgreSQL's 63 characters.)
    let fresh_name = format!("mcpbox_export_fresh_{}", Uuid::new_v4().simple());
    sqlx::query(&format!("CREATE DATABASE \"{fresh_name}\""))
        .execute(&pool)
        .await
        .unwrap();
    let name: String = sqlx::query_scalar("SELECT current_database()")
        .fetch_one(&pool)
        .await
        .unwrap();
    let url = common::url(&pool).replace(&format!("/{name}"), &format!("/{fresh_name}"));
    let fresh = PgPool::connect(&url).await.unwrap();
    common::migrate(&fresh).await;
    // Values are read as apply reads them: the key, and each variable the export
    // named set to MCPBox's plaintext. A wrong mapping shows as a wrong token below.
    let mut with_values = desired.clone();
    let chosen: Vec<(&str, &ValueSource)> = desired
        .value_sources
        .iter()
        .map(|(object, source)| (object.as_str(), source))
        .collect();
    let env = |var: &str| ValueSource::Env(var.to_string());
    assert_eq!(
        chosen,
        [
            ("module_approval_mode", &env(VARIABLES[0].0)),
            ("tunnel:Wizard: homelab", &env(VARIABLES[2].0)),
            ("tunnel:prod", &env(VARIABLES[1].0)),
        ]
    );
    with_values.values = Resolved::read(
        &desired.value_sources,
        &mcpbox_gitops::values::Access::new(&[], &[String::new()], &[]).unwrap(),
        Some(Key::parse(KEY)),
        false,
        &variable,
    )
    .unwrap();
    let applied = mcpbox_gitops::apply::execute(&fresh, &with_values, None, &opts).await;
    let have = rows(&fresh).await;
    let fresh_values = decrypted(&fresh).await;
    // Tools that are not approved are submitted for review, as MCPBox's request-publish.
    let statuses: Vec<(String, String)> = sqlx::query_as(
        "SELECT name, approval_status::text FROM tools WHERE approval_status <> 'approved' ORDER BY name",
    )
    .fetch_all(&fresh)
    .await
    .unwrap();
    let values: i64 =
        sqlx::query_scalar("SELECT count(*) FROM server_secrets WHERE encrypted_value IS NOT NULL")
            .fetch_one(&fresh)
            .await
            .unwrap();
    let replanned = common::plan(&fresh, &files).await;
    fresh.close().await;
    // FORCE: a closed connection's server process may still be exiting.
    sqlx::query(&format!(
        "DROP DATABASE IF EXISTS \"{fresh_name}\" WITH (FORCE)"
    ))
    .execute(&pool)
    .await
    .unwrap();
    let (plan, _) = applied.unwrap();
    assert_eq!(plan.summary.add, s.adopt, "every adopted object is created");
    assert!(!replanned.has_changes(), "{:#?}", replanned.changes);
    assert_eq!(values, 0, "no secret value leaves MCPBox");
    assert!(statuses.iter().any(|(n, _)| n == "llm_draft"));
    assert!(
        statuses.iter().all(|(_, s)| s == "pending_review"),
        "{statuses:?}"
    );
    let want = rows(&pool).await;
    assert_eq!(want, rows_before, "apply changed no compared row");
    for (table, rows) in &want {
        assert!(!rows.is_empty(), "{table} is empty");
        assert_eq!(rows, &have[table], "{table} differs");
    }
    assert_eq!(
        stored,
        [
            (
                "tunnel Wizard: homelab".to_string(),
                TUNNELS[1].1.to_string()
            ),
            ("tunnel prod".to_string(), TUNNELS[0].1.to_string()),
            (
                "setting module_approval_mode".to_string(),
                ENCRYPTED_SETTING.1.to_string()
            ),
        ]
    );
    assert_eq!(
        fresh_values, stored,
        "the rebuilt values decrypt to MCPBox's"
    );
}

#[sqlx::test(migrations = false)]
async fn cli_refuses_a_non_empty_directory_without_force(pool: PgPool) {
    common::migrate(&pool).await;
    common::apply(&pool, &homelab()).await;
    let url = common::url(&pool);
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("notes.txt"), "mine").unwrap();
    bin()
        .args(["export", "--out"])
        .arg(dir.path())
        .env("DATABASE_URL", &url)
        .assert()
        .code(1)
        .stderr(
            predicate::str::contains("is not empty (notes.txt)")
                .and(predicate::str::contains("--force")),
        );
    assert!(
        !dir.path().join("servers").exists(),
        "nothing is written when refused"
    );
    bin()
        .args(["export", "--force", "--out"])
        .arg(dir.path())
        .env("DATABASE_URL", &url)
        .assert()
        .success()
        .stdout(predicate::str::contains(
            "4 server(s), 12 tool(s) (6 pinned)",
        ))
        .stderr(predicate::str::contains(
            "notes.txt was not written by this export",
        ));
    assert_eq!(
        std::fs::read_to_string(dir.path().join("notes.txt")).unwrap(),
        "mine"
    );
    std::fs::remove_file(dir.path().join("notes.txt")).unwrap();
    // The database is managed already: the export plans as no change at all.
    bin()
        .args(["plan", "--detailed-exitcode"])
        .arg(dir.path())
        .env("DATABASE_URL", &url)
        .assert()
        .code(0)
        .stdout(predicate::str::contains("No changes."));
}

#[sqlx::test(migrations = false)]
async fn cli_exports_names_too_long_for_file_names(pool: PgPool) {
    common::migrate(&pool).await;
    common::apply(&pool, &homelab()).await;
    sqlx::query("DELETE FROM mcpbox_gitops.ownership")
        .execute(&pool)
        .await
        .unwrap();
    // MCPBox allows names of 1 to 255 characters; most file systems allow 255
    // bytes per file name, `.yaml` included.
    let weather = id_of(&pool, "SELECT id FROM servers WHERE name = 'weather'").await;
    let tool = "a".repeat(252);
    llm_tool(&pool, weather, &tool, "draft").await;
    let tunnel = format!("Long tunnel {}", "z".repeat(243));
    assert_eq!(tunnel.len(), 255);
    let token = crypto::encrypt_b64(&key(), TUNNELS[0].1, &Aad::tunnel_token()).unwrap();
    sqlx::query(
        "INSERT INTO tunnel_configurations (id, name, description, tunnel_token, public_url, is_active)
         VALUES ($1, $2, NULL, $3, NULL, false)",
    )
    .bind(Uuid::new_v4()).bind(&tunnel).bind(token)
    .execute(&pool).await.unwrap();

    let url = common::url(&pool);
    let parent = tempfile::tempdir().unwrap();
    let out = parent.path().join("repo");
    bin()
        .args(["export", "--out"])
        .arg(&out)
        .env("DATABASE_URL", &url)
        .assert()
        .success()
        .stdout(predicate::str::contains("1 tunnel configuration(s)"));
    // Every file is in place, nothing is left beside it, and every name fits.
    let files = FileSet::from_dir(&out).unwrap();
    for path in files.files.keys() {
        for part in path.split('/') {
            assert!(part.len() <= 100, "{path}: {} bytes", part.len());
        }
    }
    let siblings: Vec<_> = std::fs::read_dir(parent.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(siblings, ["repo"], "the temporary directory is gone");
    let manifests: Vec<String> = files
        .files
        .values()
        .filter_map(|e| match e {
            Entry::Bytes(b) => Some(String::from_utf8_lossy(b).into_owned()),
            _ => None,
        })
        .collect();
    for name in [&tool, &tunnel] {
        assert!(
            manifests
                .iter()
                .any(|m| m.contains(&format!("name: {name}\n"))),
            "{name} keeps its full name"
        );
    }
    // Plan: adoptions only, the long names included.
    let plan = common::plan(&pool, &files).await;
    assert_eq!(
        (plan.summary.add, plan.summary.change, plan.summary.destroy),
        (0, 0, 0),
        "{:#?}",
        plan.changes
    );
    for key in [format!("weather/{tool}"), tunnel.clone()] {
        let c = plan.changes.iter().find(|c| c.key == key);
        assert_eq!(c.map(|c| c.action), Some(Action::Adopt), "{key}");
    }
    bin()
        .args(["plan", "--detailed-exitcode"])
        .arg(&out)
        .env("DATABASE_URL", &url)
        .env_remove(crypto::ENV_VAR)
        .assert()
        .code(2)
        .stdout(predicate::str::contains(
            "0 to add, 0 to change, 0 to destroy.",
        ));
}

/// The compared state of a database, by natural key (no ids, no timestamps).
async fn semantic(pool: &PgPool) -> Vec<String> {
    let queries = [
        "SELECT name, description, default_timeout_ms, allowed_hosts::text FROM servers",
        "SELECT s.name, t.name, t.description, t.input_schema::text, t.enabled, t.timeout_ms, t.tool_type::text,
                t.python_code, t.approval_status::text,
                -- an approval without approver (MCPBox's admin-UI import) is pinned by the reviewer; the export notes it
                coalesce(t.approved_by, 'mcpbox-gitops'), t.rejection_reason, es.name, t.external_tool_name
           FROM tools t JOIN servers s ON s.id = t.server_id LEFT JOIN external_mcp_sources es ON es.id = t.external_source_id",
        "SELECT s.name, n.host, n.port, n.tool_id IS NULL FROM network_access_requests n JOIN servers s ON s.id = n.server_id
          WHERE n.status = 'approved'",
        "SELECT s.name, e.name, e.url, e.auth_type::text, e.transport_type::text FROM external_mcp_sources e JOIN servers s ON s.id = e.server_id",
        "SELECT allowed_modules::text FROM global_config",
    ];
    let mut out = Vec::new();
    for q in queries {
        let sql =
            format!("SELECT coalesce(string_agg(t::text, '|' ORDER BY t::text), '') FROM ({q}) t");
        out.push(sqlx::query_scalar(&sql).fetch_one(pool).await.unwrap());
    }
    out
}

/// MCPBox's own rows and none of ours (the database never saw `db migrate`):
/// a 60000 ms server whose LLM-created tool kept its NULL timeout and was
/// approved by an admin, an admin's host, and a pass-through tool the admin UI
/// imported (NULL timeout, no version row). Nothing is lost, so
/// `export --strict` exits 0 and leaves the database without our schema; a
/// fresh database rebuilt from the files holds the same state.
#[sqlx::test(migrations = false)]
async fn strict_export_of_a_never_migrated_database_round_trips(pool: PgPool) {
    common::migrate(&pool).await;
    sqlx::query("DROP SCHEMA mcpbox_gitops CASCADE")
        .execute(&pool)
        .await
        .unwrap();
    let server = Uuid::new_v4();
    sqlx::query(
        "INSERT INTO servers (id, name, description, status, default_timeout_ms) VALUES ($1, 'slow', 'Slow APIs', 'imported', 60000)",
    )
    .bind(server).execute(&pool).await.unwrap();
    let tool = llm_tool(&pool, server, "fetch", "draft").await;
    sqlx::query(
        "UPDATE tools SET approval_status = 'approved', approved_at = now(), approved_by = 'alice', updated_at = now() WHERE id = $1",
    )
    .bind(tool).execute(&pool).await.unwrap();
    sqlx::query(
        "INSERT INTO network_access_requests (id, tool_id, server_id, host, port, justification, requested_by, status, reviewed_at, reviewed_by)
         VALUES ($1, NULL, $2, 'api.slow.example', NULL, 'Manually added by admin', 'admin', 'approved', now(), 'admin')",
    )
    .bind(Uuid::new_v4()).bind(server).execute(&pool).await.unwrap();
    sqlx::query(
        "UPDATE servers SET allowed_hosts = '{api.slow.example}', updated_at = now() WHERE id = $1",
    )
    .bind(server)
    .execute(&pool)
    .await
    .unwrap();
    let source = Uuid::new_v4();
    sqlx::query(
        "INSERT INTO external_mcp_sources (id, server_id, name, url, auth_type, transport_type, status, tool_count)
         VALUES ($1, $2, 'feeds', 'https://feeds.example.com/mcp', 'none', 'streamable_http', 'active', 0)",
    )
    .bind(source).bind(server).execute(&pool).await.unwrap();
    sqlx::query(
        "INSERT INTO tools (id, server_id, name, description, input_schema, enabled, tool_type, external_source_id, external_tool_name,
                            current_version, approval_status)
         VALUES ($1, $2, 'feeds_latest', 'Latest items', '{\"type\": \"object\", \"properties\": {}}', true, 'mcp_passthrough', $3,
                 'latest', 1, 'approved')",
    )
    .bind(Uuid::new_v4()).bind(server).bind(source).execute(&pool).await.unwrap();
    let want = semantic(&pool).await;

    let dir = tempfile::tempdir().unwrap();
    let url = common::url(&pool);
    bin()
        .args(["export", "--strict", "--out"])
        .arg(dir.path())
        .env("DATABASE_URL", &url)
        .assert()
        .success()
        .stderr(predicate::str::contains("warning: not").not());
    let ours: bool = sqlx::query_scalar("SELECT to_regnamespace('mcpbox_gitops') IS NOT NULL")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert!(!ours, "export created no schema of ours");
    let files = FileSet::from_dir(dir.path()).unwrap();
    let tool_yaml = |name: &str| match &files.files[&format!("servers/slow/tools/{name}.yaml")] {
        Entry::Bytes(b) => String::from_utf8_lossy(b).into_owned(),
        _ => String::new(),
    };
    assert!(tool_yaml("fetch").contains("timeoutMs: inherit"));
    assert!(tool_yaml("feeds_latest").contains("timeoutMs: inherit"));

    // Rebuilt on a fresh database: the same state.
    let fresh_name = format!("mcpbox_export_strict_{}", Uuid::new_v4().simple());
    sqlx::query(&format!("CREATE DATABASE \"{fresh_name}\""))
        .execute(&pool)
        .await
        .unwrap();
    let name: String = sqlx::query_scalar("SELECT current_database()")
        .fetch_one(&pool)
        .await
        .unwrap();
    let fresh_url = url.replace(&format!("/{name}"), &format!("/{fresh_name}"));
    let fresh = PgPool::connect(&fresh_url).await.unwrap();
    common::migrate(&fresh).await;
    let plan = common::apply(&fresh, &files).await;
    let have = semantic(&fresh).await;
    fresh.close().await;
    sqlx::query(&format!(
        "DROP DATABASE IF EXISTS \"{fresh_name}\" WITH (FORCE)"
    ))
    .execute(&pool)
    .await
    .unwrap();
    assert!(
        plan.notes
            .iter()
            .any(|n| n.contains("slow/fetch: timeoutMs inherit writes timeout_ms NULL; MCPBox's sandbox runs it with 30000 ms")),
        "{:?}",
        plan.notes
    );
    assert_eq!(have, want);
}
