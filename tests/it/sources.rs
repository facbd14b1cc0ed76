//! External sources, pass-through tools and tunnel configurations against a real
//! database: rows shaped as MCPBox shapes them, MCPBox's runtime state (`error`,
//! discovery) left alone, the foreign key's SET NULL shown before it happens, and
//! at most one active tunnel with its token encrypted as MCPBox encrypts it.

use mcpbox_gitops::crypto::{self, Aad, Key};
use mcpbox_gitops::desired::DesiredState;
use mcpbox_gitops::model::{Kind, Object};
use mcpbox_gitops::plan::{Action, Plan};
use mcpbox_gitops::values::Resolved;
use serde_json::json;
use sqlx::{PgPool, Row};
use uuid::Uuid;

use crate::common::*;

const SERVER: &str = "apiVersion: mcpbox/v1
kind: Server
metadata: {name: github}
spec:
  secrets:
    - {name: GITHUB_TOKEN, description: a PAT}
";

fn source(url: &str) -> String {
    format!("apiVersion: mcpbox/v1\nkind: ExternalSource\nmetadata: {{name: github-mcp, server: github}}\nspec:\n  url: {url}\n  auth: {{type: bearer, secret: GITHUB_TOKEN}}\n")
}

fn passthrough(name: &str, external: &str) -> String {
    format!("apiVersion: mcpbox/v1\nkind: Tool\nmetadata: {{name: {name}, server: github}}\nspec:\n  type: mcp_passthrough\n  externalSource: github-mcp\n  externalToolName: {external}\n")
}

const URL: &str = "https://api.githubcopilot.com/mcp/";

/// The server, its source, `search_code` pinned by alice and `list_prs` unpinned.
fn repo_with(url: &str) -> mcpbox_gitops::source::FileSet {
    let files = [
        ("github.yaml", SERVER.to_string()),
        ("source.yaml", source(url)),
        (
            "search_code.yaml",
            passthrough("search_code", "search_code"),
        ),
        (
            "list_prs.yaml",
            passthrough("list_prs", "list_pull_requests"),
        ),
    ];
    let unpinned: Vec<(&str, &str)> = files.iter().map(|(p, t)| (*p, t.as_str())).collect();
    let d = desired(&repo(&unpinned));
    let Some(Object::Tool(t)) = d.objects.get(&(Kind::Tool, "github/search_code".into())) else {
        panic!("no tool")
    };
    let pins = format!(
        "approvals:\n  - tool: github/search_code\n    sha256: {}\n    approvedBy: alice@example.com\n",
        t.content_hash()
    );
    let mut all = unpinned;
    all.push(("approvals.yaml", &pins));
    repo(&all)
}

async fn one<T>(pool: &PgPool, sql: &str) -> T
where
    T: for<'r> sqlx::Decode<'r, sqlx::Postgres> + sqlx::Type<sqlx::Postgres> + Send + Unpin,
{
    sqlx::query_scalar(sql).fetch_one(pool).await.unwrap()
}

fn keys(plan: &Plan) -> Vec<(Action, Kind, &str)> {
    plan.changes
        .iter()
        .map(|c| (c.action, c.kind, c.key.as_str()))
        .collect()
}

#[sqlx::test(migrations = false)]
async fn sources_and_passthrough_tools_are_written_as_mcpbox_writes_them(pool: PgPool) {
    migrate(&pool).await;
    let v1 = repo_with(URL);
    let plan = apply(&pool, &v1).await;
    assert_eq!(
        keys(&plan),
        vec![
            (Action::Create, Kind::Server, "github"),
            (Action::Create, Kind::Secret, "github/GITHUB_TOKEN"),
            (Action::Create, Kind::Source, "github/github-mcp"),
            (Action::Create, Kind::Tool, "github/list_prs"),
            (Action::Create, Kind::Tool, "github/search_code"),
        ]
    );
    // Nothing is discovered yet: the plan says what the tools get instead.
    assert!(
        plan.notes
            .iter()
            .any(|n| n.contains("tool github/search_code")
                && n.contains("github/github-mcp is new and has not discovered `search_code`")),
        "{:#?}",
        plan.notes
    );
    let text = mcpbox_gitops::plan::render::text::render(&plan);
    assert!(
        text.contains("+ passthrough → github-mcp/list_pull_requests"),
        "{text}"
    );
    assert!(
        text.contains("+ external github/github-mcp → https://api.githubcopilot.com/mcp/ (bearer auth, sends secret GITHUB_TOKEN)"),
        "{text}"
    );

    // The source row: enum labels, and the ORM's defaults for what discovery owns.
    let s = sqlx::query(
        "SELECT id, server_id, url, auth_type::text AS auth, auth_secret_name, auth_header_name,
                transport_type::text AS transport, status::text AS status, tool_count,
                discovered_tools_cache IS NULL AS no_cache, last_discovered_at IS NULL AS never,
                oauth_tokens_encrypted IS NULL AND oauth_issuer IS NULL AND oauth_client_id IS NULL AS no_oauth
           FROM external_mcp_sources",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    let source_id: Uuid = s.get("id");
    let server_id: Uuid = one(&pool, "SELECT id FROM servers").await;
    assert_eq!(s.get::<Uuid, _>("server_id"), server_id);
    assert_eq!(s.get::<String, _>("url"), URL);
    assert_eq!(
        (
            s.get::<String, _>("auth"),
            s.get::<Option<String>, _>("auth_secret_name"),
            s.get::<Option<String>, _>("auth_header_name"),
            s.get::<String, _>("transport"),
            s.get::<String, _>("status"),
            s.get::<i32, _>("tool_count"),
        ),
        (
            "bearer".to_string(),
            Some("GITHUB_TOKEN".to_string()),
            None,
            "streamable_http".to_string(),
            "active".to_string(),
            0
        )
    );
    assert!(
        s.get::<bool, _>("no_cache") && s.get::<bool, _>("never") && s.get::<bool, _>("no_oauth")
    );

    // The tools: as MCPBox's import shapes them, approval by our pins.
    let rows = sqlx::query(
        "SELECT name, tool_type::text AS ttype, python_code, external_source_id, external_tool_name,
                description, input_schema, enabled, current_version, code_dependencies IS NULL AS no_deps,
                approval_status::text AS status, approved_by, approved_at IS NOT NULL AS approved_at,
                approval_requested_at IS NOT NULL AS requested
           FROM tools ORDER BY name",
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    assert_eq!(rows.len(), 2);
    for r in &rows {
        assert_eq!(r.get::<String, _>("ttype"), "mcp_passthrough");
        assert_eq!(r.get::<Option<String>, _>("python_code"), None);
        assert_eq!(
            r.get::<Option<Uuid>, _>("external_source_id"),
            Some(source_id)
        );
        assert_eq!(r.get::<Option<String>, _>("description"), None);
        assert_eq!(
            r.get::<serde_json::Value, _>("input_schema"),
            json!({"type": "object", "properties": {}})
        );
        assert!(r.get::<bool, _>("enabled") && r.get::<bool, _>("no_deps"));
        assert_eq!(r.get::<i32, _>("current_version"), 1);
        assert!(r.get::<bool, _>("requested"));
    }
    let (prs, search) = (&rows[0], &rows[1]);
    assert_eq!(
        prs.get::<Option<String>, _>("external_tool_name")
            .as_deref(),
        Some("list_pull_requests")
    );
    assert_eq!(
        (
            prs.get::<String, _>("status"),
            prs.get::<Option<String>, _>("approved_by")
        ),
        ("pending_review".to_string(), None)
    );
    assert_eq!(
        (
            search.get::<String, _>("status"),
            search.get::<Option<String>, _>("approved_by").as_deref(),
            search.get::<bool, _>("approved_at")
        ),
        ("approved".to_string(), Some("alice@example.com"), true)
    );
    // Import writes no version row for a pass-through tool.
    let versions: i64 = one(&pool, "SELECT count(*) FROM tool_versions").await;
    assert_eq!(versions, 0);

    // Re-planning the same repository: nothing to do.
    let again = crate::common::plan(&pool, &v1).await;
    assert!(!again.has_changes(), "{:#?}", again.changes);

    // MCPBox discovers the source's tools and then fails a later discovery
    // (`status = error`): the runtime status is no difference; the discovered
    // description and schema now describe the tool git left undescribed.
    let schema =
        json!({"type": "object", "properties": {"q": {"type": "string"}}, "required": ["q"]});
    sqlx::query(
        "UPDATE external_mcp_sources SET status = 'error', tool_count = 1, last_discovered_at = now(),
                discovered_tools_cache = $1",
    )
    .bind(json!([{"name": "search_code", "description": "Search code on GitHub", "input_schema": schema}]))
    .execute(&pool)
    .await
    .unwrap();
    let plan = crate::common::plan(&pool, &v1).await;
    assert_eq!(
        keys(&plan),
        vec![(Action::Update, Kind::Tool, "github/search_code")],
        "an `error` status must not show as a change"
    );
    let change = &plan.changes[0];
    let fields: Vec<&str> = change.fields.iter().map(|f| f.field.as_str()).collect();
    assert_eq!(fields, vec!["description", "input_schema"]);
    let tool = change.tool.as_ref().unwrap();
    // An update writes a version, as MCPBox's update does; the tool had none
    // (MCPBox's import writes none), so its state before is version 1 first.
    let summaries: Vec<(i32, &str)> = tool
        .versions
        .iter()
        .map(|v| (v.number, v.summary.as_str()))
        .collect();
    assert_eq!(
        summaries,
        vec![
            (1, "Initial version"),
            (2, "Updated description and input_schema")
        ]
    );
    assert!(
        tool.approval.write.is_none(),
        "same content: the approval stands"
    );
    apply(&pool, &v1).await;
    let r = sqlx::query(
        "SELECT description, input_schema, current_version, approval_status::text AS s FROM tools WHERE name = 'search_code'",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(
        r.get::<Option<String>, _>("description").as_deref(),
        Some("Search code on GitHub")
    );
    assert_eq!(r.get::<serde_json::Value, _>("input_schema"), schema);
    assert_eq!(r.get::<i32, _>("current_version"), 2);
    assert_eq!(r.get::<String, _>("s"), "approved");
    let v: Vec<(i32, String, String)> = sqlx::query_as(
        "SELECT version_number, change_summary, change_source FROM tool_versions ORDER BY version_number",
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    assert_eq!(
        v,
        vec![
            (1, "Initial version".into(), "import".into()),
            (
                2,
                "Updated description and input_schema".into(),
                "gitops".into()
            )
        ]
    );
    assert!(!crate::common::plan(&pool, &v1).await.has_changes());

    // A new URL in git: one update of the source; MCPBox's status and discovery
    // columns stay as MCPBox left them.
    let v2 = repo_with("https://example.com/mcp");
    let plan = crate::common::plan(&pool, &v2).await;
    assert_eq!(
        keys(&plan),
        vec![(Action::Update, Kind::Source, "github/github-mcp")]
    );
    let fields: Vec<&str> = plan.changes[0]
        .fields
        .iter()
        .map(|f| f.field.as_str())
        .collect();
    assert_eq!(fields, vec!["url"]);
    apply(&pool, &v2).await;
    let s = sqlx::query(
        "SELECT url, status::text AS status, tool_count, discovered_tools_cache IS NOT NULL AS cache FROM external_mcp_sources",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(s.get::<String, _>("url"), "https://example.com/mcp");
    assert_eq!(s.get::<String, _>("status"), "error");
    assert_eq!(s.get::<i32, _>("tool_count"), 1);
    assert!(s.get::<bool, _>("cache"));
    assert!(!crate::common::plan(&pool, &v2).await.has_changes());
}

#[sqlx::test(migrations = false)]
async fn deleting_a_source_names_the_tools_it_unlinks(pool: PgPool) {
    migrate(&pool).await;
    apply(&pool, &repo_with(URL)).await;
    // An LLM imported another tool from the source in MCPBox (a draft, no version
    // row): git does not manage it.
    sqlx::query(
        "INSERT INTO tools (id, server_id, name, input_schema, enabled, tool_type, external_source_id, external_tool_name,
                            current_version, approval_status)
         SELECT gen_random_uuid(), s.server_id, 'github_mcp_get_me', '{}'::jsonb, true, 'mcp_passthrough', s.id, 'get_me', 1, 'draft'
           FROM external_mcp_sources s",
    )
    .execute(&pool)
    .await
    .unwrap();
    // git drops the source and both of its pass-through tools.
    let v2 = repo(&[("github.yaml", SERVER)]);
    let plan = crate::common::plan(&pool, &v2).await;
    assert_eq!(
        keys(&plan),
        vec![
            (Action::Delete, Kind::Tool, "github/list_prs"),
            (Action::Delete, Kind::Tool, "github/search_code"),
            (Action::Delete, Kind::Source, "github/github-mcp"),
        ]
    );
    let delete = &plan.changes[2];
    let reason = delete.reason.as_deref().unwrap_or_default();
    assert!(
        reason
            .contains("unlinks 1 pass-through tool that stays in MCPBox: github/github_mcp_get_me")
            && reason.contains("external_source_id becomes NULL"),
        "{reason}"
    );
    // The tools deleted with it are not "unlinked".
    assert!(!reason.contains("search_code"), "{reason}");
    let text = mcpbox_gitops::plan::render::text::render(&plan);
    assert!(
        text.contains("# source.github/github-mcp will be destroyed")
            && text.contains(
                "unlinks 1 pass-through tool that stays in MCPBox: github/github_mcp_get_me"
            ),
        "{text}"
    );
    apply(&pool, &v2).await;
    let sources: i64 = one(&pool, "SELECT count(*) FROM external_mcp_sources").await;
    assert_eq!(sources, 0);
    let left: Vec<(String, Option<Uuid>)> =
        sqlx::query_as("SELECT name, external_source_id FROM tools")
            .fetch_all(&pool)
            .await
            .unwrap();
    assert_eq!(left, vec![("github_mcp_get_me".to_string(), None)]);
    let owned: i64 = one(
        &pool,
        "SELECT count(*) FROM mcpbox_gitops.ownership WHERE kind IN ('source', 'tool')",
    )
    .await;
    assert_eq!(owned, 0);
}

#[sqlx::test(migrations = false)]
async fn a_source_deleted_in_mcpbox_is_recreated_and_its_tools_relinked(pool: PgPool) {
    migrate(&pool).await;
    let v1 = repo_with(URL);
    apply(&pool, &v1).await;
    let old: Uuid = one(&pool, "SELECT id FROM external_mcp_sources").await;
    // Deleted in MCPBox: the foreign key unlinks the tools.
    sqlx::query("DELETE FROM external_mcp_sources")
        .execute(&pool)
        .await
        .unwrap();
    let unlinked: i64 = one(
        &pool,
        "SELECT count(*) FROM tools WHERE external_source_id IS NULL",
    )
    .await;
    assert_eq!(unlinked, 2);
    let plan = crate::common::plan(&pool, &v1).await;
    assert_eq!(
        keys(&plan),
        vec![
            (Action::Create, Kind::Source, "github/github-mcp"),
            (Action::Update, Kind::Tool, "github/list_prs"),
            (Action::Update, Kind::Tool, "github/search_code"),
        ]
    );
    assert_eq!(
        plan.changes[0].reason.as_deref(),
        Some("deleted in MCPBox since the last apply; re-creating it")
    );
    let search = &plan.changes[2];
    let f = &search.fields[0];
    assert_eq!(
        (f.field.as_str(), f.before.clone(), f.after.clone()),
        ("external_source", None, Some(json!("github-mcp")))
    );
    // Re-linking restores git's pinned content: approved by the pin again.
    assert_eq!(
        search.tool.as_ref().unwrap().approval.status,
        mcpbox_gitops::rules::approval::Status::Approved
    );
    let text = mcpbox_gitops::plan::render::text::render(&plan);
    assert!(
        text.contains("~ passthrough          : passthrough → (no source)/search_code -> passthrough → github-mcp/search_code"),
        "{text}"
    );
    apply(&pool, &v1).await;
    let new: Uuid = one(&pool, "SELECT id FROM external_mcp_sources").await;
    assert_ne!(new, old);
    let linked: i64 = one(
        &pool,
        &format!("SELECT count(*) FROM tools WHERE external_source_id = '{new}'"),
    )
    .await;
    assert_eq!(linked, 2);
    assert!(!crate::common::plan(&pool, &v1).await.has_changes());
}

/// The key of the shared test vectors.
const KEY: &str = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
const PROD_TOKEN: &str = "eyJhIjoicHJvZCJ9-tunnel-Zq8vLw3Rk9";
const STAGING_TOKEN: &str = "eyJhIjoic3RhZ2UifQ-tunnel-Tb4nXp7Ys2";

fn tunnel(name: &str, env: &str, url: &str, active: bool) -> String {
    format!("apiVersion: mcpbox/v1\nkind: TunnelConfiguration\nmetadata: {{name: {name}}}\nspec:\n  description: {name} tunnel\n  publicUrl: '{url}'\n  active: {active}\n  token: {{valueFrom: {{env: {env}}}}}\n")
}

fn tunnels(prod_active: bool, staging_active: bool) -> mcpbox_gitops::source::FileSet {
    repo(&[
        (
            "prod.yaml",
            &tunnel("prod", "PROD_TUNNEL", " mcp.example.com/ ", prod_active),
        ),
        (
            "staging.yaml",
            &tunnel(
                "staging",
                "STAGING_TUNNEL",
                "http://staging.example.com",
                staging_active,
            ),
        ),
    ])
}

/// The desired state with the tunnel tokens read, as `apply` reads them.
fn with_values(files: &mcpbox_gitops::source::FileSet) -> DesiredState {
    let mut d = desired(files);
    d.values = Resolved::read(
        &d.value_sources,
        &mcpbox_gitops::values::Access::new(&[], &[String::new()], &[]).unwrap(),
        Some(Key::parse(KEY)),
        false,
        &|var| match var {
            "PROD_TUNNEL" => Some(PROD_TOKEN.into()),
            "STAGING_TUNNEL" => Some(STAGING_TOKEN.into()),
            _ => None,
        },
    )
    .expect("read values");
    d
}

async fn plan_values(pool: &PgPool, d: &DesiredState) -> Plan {
    let actual = mcpbox_gitops::state::read::snapshot(pool).await.unwrap();
    mcpbox_gitops::plan::diff::diff(d, &actual).expect("diff")
}

async fn apply_values(pool: &PgPool, d: &DesiredState) -> Plan {
    let opts = mcpbox_gitops::apply::Options {
        allow_destroy: true,
        ..Default::default()
    };
    mcpbox_gitops::apply::execute(pool, d, None, &opts)
        .await
        .expect("apply")
        .0
}

async fn active(pool: &PgPool) -> Vec<String> {
    sqlx::query_scalar("SELECT name FROM tunnel_configurations WHERE is_active ORDER BY name")
        .fetch_all(pool)
        .await
        .unwrap()
}

#[sqlx::test(migrations = false)]
async fn tunnels_keep_one_active_and_store_tokens_as_mcpbox_does(pool: PgPool) {
    migrate(&pool).await;
    let v1 = with_values(&tunnels(true, false));
    let plan = apply_values(&pool, &v1).await;
    assert_eq!(
        keys(&plan),
        vec![
            (Action::Create, Kind::Tunnel, "prod"),
            (Action::Create, Kind::Tunnel, "staging"),
        ]
    );
    let text = mcpbox_gitops::plan::render::text::render(&plan);
    assert!(text.contains("(from env PROD_TUNNEL)"), "{text}");
    assert!(
        text.contains(
            "+ tunnel   prod becomes the active configuration at https://mcp.example.com"
        ),
        "{text}"
    );
    assert!(!text.contains(PROD_TOKEN) && !text.contains(STAGING_TOKEN));
    assert_eq!(active(&pool).await, vec!["prod"]);

    // Stored as MCPBox stores it: base64 of iv || ciphertext || tag, AAD `tunnel_token`;
    // the public URL normalised.
    let key = Key::parse(KEY).unwrap();
    type Row = (String, Option<String>, Option<String>, Option<String>);
    let rows: Vec<Row> = sqlx::query_as(
        "SELECT name, description, public_url, tunnel_token FROM tunnel_configurations ORDER BY name",
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    assert_eq!(rows[0].2.as_deref(), Some("https://mcp.example.com"));
    assert_eq!(rows[1].2.as_deref(), Some("http://staging.example.com"));
    assert_eq!(rows[0].1.as_deref(), Some("prod tunnel"));
    let prod_token = rows[0].3.clone().expect("a token");
    assert!(prod_token
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || "+/=".contains(c)));
    let plain = crypto::decrypt_b64(&key, &prod_token, &Aad::tunnel_token()).unwrap();
    assert_eq!(plain.expose(), PROD_TOKEN);
    let plain =
        crypto::decrypt_b64(&key, rows[1].3.as_deref().unwrap(), &Aad::tunnel_token()).unwrap();
    assert_eq!(plain.expose(), STAGING_TOKEN);
    assert!(
        crypto::decrypt_b64(&key, &prod_token, &Aad::setting("tunnel_token")).is_err(),
        "bound to its AAD"
    );

    // Same values: compared by decrypting, nothing to do, nothing rewritten —
    // and without the values read, stored tokens are assumed current.
    assert!(!plan_values(&pool, &v1).await.has_changes());
    assert!(!crate::common::plan(&pool, &tunnels(true, false))
        .await
        .has_changes());
    apply_values(&pool, &v1).await;
    let again: String = one(
        &pool,
        "SELECT tunnel_token FROM tunnel_configurations WHERE name = 'prod'",
    )
    .await;
    assert_eq!(again, prod_token, "a no-op apply rewrote the token");

    // Another token in the environment: a changed label, re-encrypted.
    let mut rotated = desired(&tunnels(true, false));
    rotated.values = Resolved::read(
        &rotated.value_sources,
        &mcpbox_gitops::values::Access::new(&[], &[String::new()], &[]).unwrap(),
        Some(Key::parse(KEY)),
        false,
        &|var| {
            Some(
                if var == "PROD_TUNNEL" {
                    "rotated-token-0123456789"
                } else {
                    STAGING_TOKEN
                }
                .into(),
            )
        },
    )
    .unwrap();
    let plan = plan_values(&pool, &rotated).await;
    assert_eq!(keys(&plan), vec![(Action::Update, Kind::Tunnel, "prod")]);
    assert_eq!(
        plan.changes[0].fields[0].after,
        Some(json!("(changed, from env PROD_TUNNEL)"))
    );

    // git makes staging the active one: exactly one active row after apply.
    let v2 = with_values(&tunnels(false, true));
    let plan = plan_values(&pool, &v2).await;
    assert_eq!(
        keys(&plan),
        vec![
            (Action::Update, Kind::Tunnel, "prod"),
            (Action::Update, Kind::Tunnel, "staging"),
        ]
    );
    apply_values(&pool, &v2).await;
    assert_eq!(active(&pool).await, vec!["staging"]);
    assert!(!plan_values(&pool, &v2).await.has_changes());

    // A configuration made in MCPBox is activated there (MCPBox deactivates the
    // others); git's staging is then turned active again, which deactivates it.
    sqlx::query("UPDATE tunnel_configurations SET is_active = false")
        .execute(&pool)
        .await
        .unwrap();
    sqlx::query(
        "INSERT INTO tunnel_configurations (id, name, tunnel_token, is_active) VALUES (gen_random_uuid(), 'Wizard: home', NULL, true)",
    )
    .execute(&pool)
    .await
    .unwrap();
    let plan = plan_values(&pool, &v2).await;
    assert_eq!(keys(&plan), vec![(Action::Update, Kind::Tunnel, "staging")]);
    assert!(
        plan.notes.iter().any(|n| n
            .contains("activating tunnel staging deactivates tunnel configuration `Wizard: home`")),
        "{:#?}",
        plan.notes
    );
    apply_values(&pool, &v2).await;
    assert_eq!(active(&pool).await, vec!["staging"]);

    // git drops the active configuration without activating another: refused,
    // as MCPBox refuses to delete the active configuration.
    let only_prod = with_values(&repo(&[(
        "prod.yaml",
        &tunnel("prod", "PROD_TUNNEL", "mcp.example.com", false),
    )]));
    let actual = mcpbox_gitops::state::read::snapshot(&pool).await.unwrap();
    let err = mcpbox_gitops::plan::diff::diff(&only_prod, &actual).unwrap_err();
    assert!(
        err.to_string()
            .contains("tunnel configuration `staging` is MCPBox's active one"),
        "{err}"
    );
    // Dropping it while making prod active is fine: activation deactivates it first.
    let prod_active = with_values(&repo(&[(
        "prod.yaml",
        &tunnel("prod", "PROD_TUNNEL", "mcp.example.com", true),
    )]));
    let plan = apply_values(&pool, &prod_active).await;
    assert_eq!(
        keys(&plan),
        vec![
            (Action::Update, Kind::Tunnel, "prod"),
            (Action::Delete, Kind::Tunnel, "staging"),
        ]
    );
    assert_eq!(active(&pool).await, vec!["prod"]);
    let names: Vec<String> =
        sqlx::query_scalar("SELECT name FROM tunnel_configurations ORDER BY name")
            .fetch_all(&pool)
            .await
            .unwrap();
    assert_eq!(names, vec!["Wizard: home", "prod"]);
}

#[test]
fn two_active_tunnels_are_refused_before_any_database() {
    let diags = mcpbox_gitops::desired::build(&tunnels(true, true)).unwrap_err();
    assert_eq!(diags.len(), 1, "{diags:#?}");
    assert_eq!(diags[0].code, mcpbox_gitops::manifest::Code::Duplicate);
    assert_eq!(
        (diags[0].file.as_str(), diags[0].location.line),
        ("staging.yaml", 7)
    );
    assert!(
        diags[0].message.contains("at most one active"),
        "{}",
        diags[0].message
    );
}
