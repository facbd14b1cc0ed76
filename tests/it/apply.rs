//! Apply stories against a real PostgreSQL: every row as MCPBox would write it.

use mcpbox_gitops::plan::Action;
use sqlx::{PgPool, Row};

use crate::common::*;

async fn tool_row(pool: &PgPool) -> sqlx::postgres::PgRow {
    sqlx::query("SELECT approval_status::text AS status, approved_by, approved_at, approval_requested_at, current_version, publish_notes, input_schema FROM tools WHERE name = 'list_issues'")
        .fetch_one(pool)
        .await
        .unwrap()
}

#[sqlx::test(migrations = false)]
async fn create_then_plan_is_empty(pool: PgPool) {
    migrate(&pool).await;
    let files = basic(CODE_V1, &[]);
    let plan = apply(&pool, &files).await;
    assert_eq!(
        plan.summary.add,
        5,
        "{:#?}",
        plan.changes.iter().map(|c| &c.key).collect::<Vec<_>>()
    );
    let again = crate::common::plan(&pool, &files).await;
    assert!(!again.has_changes(), "{:#?}", again.changes);
    // Server as MCPBox's service creates it.
    let s = sqlx::query("SELECT status::text AS status, default_timeout_ms, allowed_hosts::text[] AS hosts FROM servers WHERE name = 'github'").fetch_one(&pool).await.unwrap();
    assert_eq!(s.get::<String, _>("status"), "imported");
    assert_eq!(s.get::<i32, _>("default_timeout_ms"), 30000);
    assert_eq!(
        s.get::<Vec<String>, _>("hosts"),
        vec!["api.github.com:443", "raw.githubusercontent.com"]
    );
    // Secret placeholder without a value.
    let v: Option<Vec<u8>> = sqlx::query_scalar(
        "SELECT encrypted_value FROM server_secrets WHERE key_name = 'GITHUB_TOKEN'",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert!(v.is_none());
    // New tool without a pin: submitted for review with notes; version 1.
    let t = tool_row(&pool).await;
    assert_eq!(t.get::<String, _>("status"), "pending_review");
    assert_eq!(t.get::<i32, _>("current_version"), 1);
    assert!(t
        .get::<Option<chrono::DateTime<chrono::Utc>>, _>("approval_requested_at")
        .is_some());
    assert!(t
        .get::<Option<String>, _>("publish_notes")
        .unwrap()
        .contains("test-repo"));
    let schema: serde_json::Value = t.get("input_schema");
    assert_eq!(schema["required"], serde_json::json!(["repo"]));
    let (n, summary, source): (i32, String, String) =
        sqlx::query_as("SELECT version_number, change_summary, change_source FROM tool_versions")
            .fetch_one(&pool)
            .await
            .unwrap();
    assert_eq!(
        (n, summary.as_str(), source.as_str()),
        (1, "Initial version", "gitops")
    );
    // Tool-originated network row: requested_by NULL; admin row: requester set; both approved.
    let rows = sqlx::query("SELECT host, tool_id IS NOT NULL AS tool, server_id IS NOT NULL AS srv, requested_by, status::text AS status, reviewed_at IS NOT NULL AS reviewed FROM network_access_requests ORDER BY host").fetch_all(&pool).await.unwrap();
    assert_eq!(rows.len(), 2);
    assert!(
        rows[0].get::<bool, _>("tool")
            && rows[0].get::<bool, _>("srv")
            && rows[0].get::<Option<String>, _>("requested_by").is_none()
    );
    assert!(
        !rows[1].get::<bool, _>("tool")
            && rows[1].get::<Option<String>, _>("requested_by").is_some()
    );
    assert!(rows
        .iter()
        .all(|r| r.get::<String, _>("status") == "approved" && r.get::<bool, _>("reviewed")));
    // Audit rows name the source.
    let msgs: Vec<String> =
        sqlx::query_scalar("SELECT message FROM activity_logs WHERE log_type = 'audit'")
            .fetch_all(&pool)
            .await
            .unwrap();
    assert!(msgs.iter().any(|m| m.contains("test-repo")), "{msgs:?}");
}

#[sqlx::test(migrations = false)]
async fn code_change_without_pin_goes_back_to_review_with_a_version(pool: PgPool) {
    migrate(&pool).await;
    let v1 = basic(CODE_V1, &[]);
    let pins = pin_for(&v1, "alice@example.com");
    let v1 = basic(CODE_V1, &[("approvals.yaml", &pins)]);
    apply(&pool, &v1).await;
    let t = tool_row(&pool).await;
    assert_eq!(t.get::<String, _>("status"), "approved");
    assert_eq!(
        t.get::<Option<String>, _>("approved_by").as_deref(),
        Some("alice@example.com")
    );
    // Same pin, new code: the pin no longer matches.
    let v2 = basic(CODE_V2, &[("approvals.yaml", &pins)]);
    let plan = crate::common::plan(&pool, &v2).await;
    let text = mcpbox_gitops::plan::render::text::render(&plan);
    assert!(text.contains("-    return await http.get"), "{text}");
    assert!(text.contains("pin is stale"), "{text}");
    apply(&pool, &v2).await;
    let t = tool_row(&pool).await;
    assert_eq!(t.get::<String, _>("status"), "pending_review");
    assert_eq!(t.get::<i32, _>("current_version"), 2);
    // MCPBox keeps the stale approved_at/approved_by on a code change.
    assert_eq!(
        t.get::<Option<String>, _>("approved_by").as_deref(),
        Some("alice@example.com")
    );
    let summary: String =
        sqlx::query_scalar("SELECT change_summary FROM tool_versions WHERE version_number = 2")
            .fetch_one(&pool)
            .await
            .unwrap();
    assert_eq!(
        summary,
        "Updated Python code, input_schema, and approval_status"
    );
    // Re-pinning the new code approves it by the new approver, without a new version.
    let pins2 = pin_for(&v2, "bob@example.com");
    let v2p = basic(CODE_V2, &[("approvals.yaml", &pins2)]);
    apply(&pool, &v2p).await;
    let t = tool_row(&pool).await;
    assert_eq!(t.get::<String, _>("status"), "approved");
    assert_eq!(
        t.get::<Option<String>, _>("approved_by").as_deref(),
        Some("bob@example.com")
    );
    assert_eq!(t.get::<i32, _>("current_version"), 2);
    assert!(!crate::common::plan(&pool, &v2p).await.has_changes());
}

#[sqlx::test(migrations = false)]
async fn code_and_pin_changed_together_are_approved(pool: PgPool) {
    migrate(&pool).await;
    apply(&pool, &basic(CODE_V1, &[])).await;
    let v2 = basic(CODE_V2, &[]);
    let pins = pin_for(&v2, "carol@example.com");
    apply(&pool, &basic(CODE_V2, &[("approvals.yaml", &pins)])).await;
    let t = tool_row(&pool).await;
    assert_eq!(t.get::<String, _>("status"), "approved");
    assert_eq!(
        t.get::<Option<String>, _>("approved_by").as_deref(),
        Some("carol@example.com")
    );
    let summary: String =
        sqlx::query_scalar("SELECT change_summary FROM tool_versions WHERE version_number = 2")
            .fetch_one(&pool)
            .await
            .unwrap();
    assert_eq!(
        summary,
        "Updated Python code, input_schema, and approval_status"
    );
}

#[sqlx::test(migrations = false)]
async fn admin_mode_never_approves(pool: PgPool) {
    migrate(&pool).await;
    let v1 = basic(CODE_V1, &[]);
    let pins = pin_for(&v1, "alice@example.com");
    apply(
        &pool,
        &basic(
            CODE_V1,
            &[
                ("approvals.yaml", &pins),
                ("mcpbox-gitops.yaml", "approval: {mode: admin}\n"),
            ],
        ),
    )
    .await;
    assert_eq!(
        tool_row(&pool).await.get::<String, _>("status"),
        "pending_review"
    );
}

#[sqlx::test(migrations = false)]
async fn auto_approve_setting_behaves_as_mcpbox(pool: PgPool) {
    migrate(&pool).await;
    let settings = "apiVersion: mcpbox/v1\nkind: Settings\nmetadata: {name: mcpbox}\nspec: {tool_approval_mode: auto_approve}\n";
    apply(&pool, &basic(CODE_V1, &[("settings.yaml", settings)])).await;
    let t = tool_row(&pool).await;
    assert_eq!(t.get::<String, _>("status"), "approved");
    assert_eq!(
        t.get::<Option<String>, _>("approved_by").as_deref(),
        Some("auto_approve")
    );
    let descr: Option<String> =
        sqlx::query_scalar("SELECT description FROM settings WHERE key = 'tool_approval_mode'")
            .fetch_one(&pool)
            .await
            .unwrap();
    assert_eq!(
        descr.as_deref(),
        Some("Whether new tools require admin approval or are auto-approved")
    );
}

#[sqlx::test(migrations = false)]
async fn unchanged_content_keeps_an_admin_ui_approval_and_a_revocation(pool: PgPool) {
    migrate(&pool).await;
    let files = basic(CODE_V1, &[]);
    apply(&pool, &files).await;
    // An admin approves in MCPBox's UI.
    sqlx::query("UPDATE tools SET approval_status = 'approved', approved_by = 'admin', approved_at = now(), updated_at = now() WHERE name = 'list_issues'").execute(&pool).await.unwrap();
    let plan = crate::common::plan(&pool, &files).await;
    assert!(
        !plan.has_changes(),
        "an admin's approval must not be downgraded: {:#?}",
        plan.changes
    );
    // With a pin, an admin's revocation stands until the pin changes.
    let pins = pin_for(&files, "alice@example.com");
    let pinned = basic(CODE_V1, &[("approvals.yaml", &pins)]);
    apply(&pool, &pinned).await;
    sqlx::query("UPDATE tools SET approval_status = 'pending_review', approved_by = NULL, approved_at = NULL WHERE name = 'list_issues'").execute(&pool).await.unwrap();
    let plan = crate::common::plan(&pool, &pinned).await;
    assert!(!plan.has_changes(), "{:#?}", plan.changes);
    assert!(
        plan.notes.iter().any(|n| n.contains("re-pin")),
        "{:?}",
        plan.notes
    );
}

/// Issue 14.4: after MCPBox's rollback to git's content, the tool is pending
/// again and the plan names the rollback (not a revoke); the pin stands aside
/// as it does for a revoke, and nothing is written.
#[sqlx::test(migrations = false)]
async fn a_rollback_in_mcpbox_is_named_as_one(pool: PgPool) {
    migrate(&pool).await;
    let v1 = basic(CODE_V1, &[]);
    let pins = pin_for(&v1, "alice@example.com");
    let pinned = basic(CODE_V1, &[("approvals.yaml", &pins)]);
    apply(&pool, &pinned).await;
    // An LLM edits the code (MCPBox's update: version 2, pending, stale
    // approved_by kept) …
    sqlx::query("UPDATE tools SET python_code = 'async def main():\n    return 1\n', approval_status = 'pending_review', current_version = current_version + 1 WHERE name = 'list_issues'").execute(&pool).await.unwrap();
    sqlx::query("INSERT INTO tool_versions (id, tool_id, version_number, name, description, enabled, timeout_ms, python_code, input_schema, change_summary, change_source)
                 SELECT gen_random_uuid(), id, current_version, name, description, enabled, timeout_ms, python_code, input_schema, 'Updated python_code', 'manual' FROM tools WHERE name = 'list_issues'").execute(&pool).await.unwrap();
    // … and an admin rolls back to version 1 (MCPBOX.md §2.4): git's code,
    // pending again, version 3 says so.
    sqlx::query("UPDATE tools t SET python_code = v.python_code, approval_status = 'pending_review', current_version = t.current_version + 1
                   FROM tool_versions v WHERE v.tool_id = t.id AND v.version_number = 1 AND t.name = 'list_issues'").execute(&pool).await.unwrap();
    sqlx::query("INSERT INTO tool_versions (id, tool_id, version_number, name, description, enabled, timeout_ms, python_code, input_schema, change_summary, change_source)
                 SELECT gen_random_uuid(), id, current_version, name, description, enabled, timeout_ms, python_code, input_schema, 'Rolled back to version 1', 'rollback' FROM tools WHERE name = 'list_issues'").execute(&pool).await.unwrap();
    let plan = crate::common::plan(&pool, &pinned).await;
    assert!(!plan.has_changes(), "{:#?}", plan.changes);
    let said = plan.notes.join("\n");
    assert!(
        said.contains("rolled back to version 1 in MCPBox"),
        "{said}"
    );
    assert!(!said.contains("revoked"), "{said}");
    // A revoke (approved_by cleared, no rollback row on top) is still a revoke.
    apply(
        &pool,
        &basic(
            CODE_V2,
            &[(
                "approvals.yaml",
                &pin_for(&basic(CODE_V2, &[]), "alice@example.com"),
            )],
        ),
    )
    .await;
    sqlx::query("UPDATE tools SET approval_status = 'pending_review', approved_by = NULL, approved_at = NULL WHERE name = 'list_issues'").execute(&pool).await.unwrap();
    let v2 = basic(
        CODE_V2,
        &[(
            "approvals.yaml",
            &pin_for(&basic(CODE_V2, &[]), "alice@example.com"),
        )],
    );
    let said = crate::common::plan(&pool, &v2).await.notes.join("\n");
    assert!(said.contains("revoked in MCPBox"), "{said}");
}

#[sqlx::test(migrations = false)]
async fn drift_restored_to_pinned_content_is_approved_again(pool: PgPool) {
    migrate(&pool).await;
    let v1 = basic(CODE_V1, &[]);
    let pins = pin_for(&v1, "alice@example.com");
    let pinned = basic(CODE_V1, &[("approvals.yaml", &pins)]);
    apply(&pool, &pinned).await;
    // An LLM edits the code in MCPBox: MCPBox resets approval and bumps the version.
    sqlx::query("UPDATE tools SET python_code = 'async def main():\n    return 1\n', approval_status = 'pending_review', current_version = current_version + 1 WHERE name = 'list_issues'").execute(&pool).await.unwrap();
    let plan = crate::common::plan(&pool, &pinned).await;
    let c = plan
        .changes
        .iter()
        .find(|c| c.key == "github/list_issues")
        .expect("tool change");
    assert!(
        c.reason.as_deref().unwrap_or("").contains("drift"),
        "{c:#?}"
    );
    apply(&pool, &pinned).await;
    let t = tool_row(&pool).await;
    assert_eq!(t.get::<String, _>("status"), "approved");
    assert_eq!(t.get::<i32, _>("current_version"), 3);
}

#[sqlx::test(migrations = false)]
async fn adopts_unowned_rows_and_prunes_only_owned(pool: PgPool) {
    migrate(&pool).await;
    // Rows MCPBox itself wrote: the same server name, and an unrelated server.
    sqlx::query("INSERT INTO servers (id, name, description, status, default_timeout_ms) VALUES (gen_random_uuid(), 'github', 'GitHub helpers', 'running', 30000), (gen_random_uuid(), 'manual', NULL, 'imported', 30000)")
        .execute(&pool)
        .await
        .unwrap();
    let files = basic(CODE_V1, &[]);
    let plan = crate::common::plan(&pool, &files).await;
    let server = plan.changes.iter().find(|c| c.key == "github").unwrap();
    assert_eq!(server.action, Action::Adopt);
    assert_eq!(plan.summary.adopt, 1);
    apply(&pool, &files).await;
    let n: i64 = sqlx::query_scalar("SELECT count(*) FROM servers WHERE name = 'github'")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(n, 1, "adopted, not duplicated");
    let status: String =
        sqlx::query_scalar("SELECT status::text FROM servers WHERE name = 'github'")
            .fetch_one(&pool)
            .await
            .unwrap();
    assert_eq!(
        status, "running",
        "adoption does not touch what git does not manage"
    );
    assert!(!crate::common::plan(&pool, &files).await.has_changes());
    // Drop the tool from git: it is deleted; the unowned server is not.
    let without_tool = repo(&[("github.yaml", &SERVER.replace(", tool: list_issues", ""))]);
    let plan = crate::common::plan(&pool, &without_tool).await;
    let deletes: Vec<&str> = plan
        .changes
        .iter()
        .filter(|c| c.action == Action::Delete)
        .map(|c| c.key.as_str())
        .collect();
    assert_eq!(
        deletes,
        vec![
            "github/api.github.com:443 via list_issues",
            "github/list_issues"
        ]
    );
    let tool_delete = plan
        .changes
        .iter()
        .find(|c| c.key == "github/list_issues")
        .unwrap();
    assert_eq!(tool_delete.cascade.unwrap().versions, 1);
    apply(&pool, &without_tool).await;
    let manual: i64 = sqlx::query_scalar("SELECT count(*) FROM servers WHERE name = 'manual'")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(manual, 1);
    let hosts: Vec<String> =
        sqlx::query_scalar("SELECT unnest(allowed_hosts)::text FROM servers WHERE name = 'github'")
            .fetch_all(&pool)
            .await
            .unwrap();
    // api.github.com stays allowed: git now lists it as an admin entry.
    assert_eq!(
        hosts,
        vec!["api.github.com:443", "raw.githubusercontent.com"]
    );
    let tool_rows: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM network_access_requests WHERE tool_id IS NOT NULL",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(tool_rows, 0);
}

#[sqlx::test(migrations = false)]
async fn deletion_guard_refuses_servers_secrets_and_empty_checkouts(pool: PgPool) {
    migrate(&pool).await;
    let files = basic(CODE_V1, &[]);
    apply(&pool, &files).await;
    let d = desired(&repo(&[(
        "other.yaml",
        "apiVersion: mcpbox/v1\nkind: Server\nmetadata: {name: other}\nspec: {}\n",
    )]));
    let err = mcpbox_gitops::apply::execute(&pool, &d, None, &Default::default())
        .await
        .unwrap_err();
    let msg = err.to_string();
    assert!(
        msg.contains("server(s) github")
            && msg.contains("secret(s) github/GITHUB_TOKEN")
            && msg.contains("--allow-destroy"),
        "{msg}"
    );
    let empty = desired(&repo(&[]));
    let opts = mcpbox_gitops::apply::Options {
        allow_destroy: true,
        ..Default::default()
    };
    let err = mcpbox_gitops::apply::execute(&pool, &empty, None, &opts)
        .await
        .unwrap_err();
    assert!(
        err.to_string().contains("empty or unreadable checkout"),
        "{err}"
    );
    let n: i64 = sqlx::query_scalar("SELECT count(*) FROM tools")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(n, 1, "nothing was deleted");
}

#[sqlx::test(migrations = false)]
async fn stale_plan_is_refused(pool: PgPool) {
    migrate(&pool).await;
    let files = basic(CODE_V1, &[]);
    apply(&pool, &files).await;
    let changed = basic(CODE_V2, &[]);
    let shown = crate::common::plan(&pool, &changed).await;
    sqlx::query("UPDATE tools SET description = 'edited in the UI', updated_at = now()")
        .execute(&pool)
        .await
        .unwrap();
    let err =
        mcpbox_gitops::apply::execute(&pool, &desired(&changed), Some(&shown), &Default::default())
            .await
            .unwrap_err();
    assert!(err.to_string().contains("changed since the plan"), "{err}");
    let code: String = sqlx::query_scalar("SELECT python_code FROM tools")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(code, CODE_V1);
}

#[sqlx::test(migrations = false)]
async fn modules_and_settings_create_update_delete(pool: PgPool) {
    migrate(&pool).await;
    let modules = |names: &[&str]| {
        let mut s = String::from(
            "apiVersion: mcpbox/v1\nkind: Modules\nmetadata: {name: platform}\nspec:\n  modules:\n",
        );
        for n in names {
            s.push_str(&format!("    - {{name: {n}, justification: needed}}\n"));
        }
        s
    };
    let settings = |days: &str| {
        format!("apiVersion: mcpbox/v1\nkind: Settings\nmetadata: {{name: m}}\nspec: {{log_retention_days: \"{days}\"}}\n")
    };
    // The vectors' case ["yaml", "requests", "json"].
    let files = repo(&[
        ("m.yaml", &modules(&["yaml", "requests", "json"])),
        ("s.yaml", &settings("30")),
    ]);
    apply(&pool, &files).await;
    let vectors: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/reference/mcpbox-vectors.json"
        ))
        .unwrap(),
    )
    .unwrap();
    let case = vectors["sync_allowed_modules"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["approved"] == serde_json::json!(["yaml", "requests", "json"]))
        .unwrap();
    let want: Vec<String> = serde_json::from_value(case["allowed_modules"].clone()).unwrap();
    let got: Vec<String> = sqlx::query_scalar(
        "SELECT allowed_modules::text[] FROM global_config WHERE config_key = 'main'",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(got, want);
    let server_id: Option<uuid::Uuid> =
        sqlx::query_scalar("SELECT server_id FROM module_requests LIMIT 1")
            .fetch_one(&pool)
            .await
            .unwrap();
    assert!(server_id.is_none(), "admin module rows have server_id NULL");
    // Remove one module, change a setting.
    let files = repo(&[
        ("m.yaml", &modules(&["yaml", "json"])),
        ("s.yaml", &settings("7")),
    ]);
    apply(&pool, &files).await;
    let got: Vec<String> = sqlx::query_scalar(
        "SELECT allowed_modules::text[] FROM global_config WHERE config_key = 'main'",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert!(!got.contains(&"requests".to_string()) && got.contains(&"yaml".to_string()));
    let v: String =
        sqlx::query_scalar("SELECT value FROM settings WHERE key = 'log_retention_days'")
            .fetch_one(&pool)
            .await
            .unwrap();
    assert_eq!(v, "7");
    assert!(!crate::common::plan(&pool, &files).await.has_changes());
    // Drop the setting from git: the owned row is deleted (MCPBox's default applies).
    apply(&pool, &repo(&[("m.yaml", &modules(&["yaml", "json"]))])).await;
    let n: i64 = sqlx::query_scalar("SELECT count(*) FROM settings")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(n, 0);
}

#[sqlx::test(migrations = false)]
async fn adopting_a_pending_llm_request_approves_it(pool: PgPool) {
    migrate(&pool).await;
    let files = basic(CODE_V1, &[]);
    apply(&pool, &files).await;
    // An LLM asks for a host; git then lists it.
    sqlx::query("INSERT INTO network_access_requests (id, tool_id, server_id, host, port, justification, status) SELECT gen_random_uuid(), id, server_id, 'uploads.github.com', 443, 'uploads', 'pending' FROM tools")
        .execute(&pool)
        .await
        .unwrap();
    let server = SERVER.to_string() + "    - {host: uploads.github.com, port: 443, justification: uploads, tool: list_issues}\n";
    let files = repo(&[
        ("github.yaml", &server),
        ("list_issues.yaml", TOOL),
        ("list_issues.py", CODE_V1),
    ]);
    let plan = crate::common::plan(&pool, &files).await;
    let c = plan
        .changes
        .iter()
        .find(|c| c.key.contains("uploads"))
        .unwrap();
    assert_eq!(c.action, Action::Adopt);
    apply(&pool, &files).await;
    let n: i64 = sqlx::query_scalar("SELECT count(*) FROM network_access_requests WHERE host = 'uploads.github.com' AND status = 'approved'").fetch_one(&pool).await.unwrap();
    assert_eq!(n, 1);
    let hosts: Vec<String> =
        sqlx::query_scalar("SELECT unnest(allowed_hosts)::text FROM servers WHERE name = 'github'")
            .fetch_all(&pool)
            .await
            .unwrap();
    assert_eq!(
        hosts,
        vec![
            "api.github.com:443",
            "raw.githubusercontent.com",
            "uploads.github.com:443"
        ]
    );
}

/// Issue 14.5: an LLM's pending module request (a tool's row) that git lists
/// is adopted and approved in place, as MCPBox's admin approval does, not
/// left pending beside a new admin row; the module cache gets it once, and
/// the next plan is empty.
#[sqlx::test(migrations = false)]
async fn adopting_a_pending_llm_module_request_approves_it_in_place(pool: PgPool) {
    migrate(&pool).await;
    let files = basic(CODE_V1, &[]);
    apply(&pool, &files).await;
    // The LLM path: tool_id and the tool's server set, requested_by NULL.
    sqlx::query("INSERT INTO module_requests (id, tool_id, server_id, module_name, justification, status) SELECT gen_random_uuid(), id, server_id, 'pyyaml', 'parse YAML', 'pending' FROM tools")
        .execute(&pool)
        .await
        .unwrap();
    let modules = "apiVersion: mcpbox/v1\nkind: Modules\nmetadata: {name: extra}\nspec:\n  modules:\n    - {name: pyyaml, justification: parse YAML}\n";
    let files = basic(CODE_V1, &[("modules.yaml", modules)]);
    let plan = crate::common::plan(&pool, &files).await;
    let c = plan
        .changes
        .iter()
        .find(|c| c.key.contains("pyyaml"))
        .expect("a change for pyyaml");
    assert_eq!(c.action, Action::Adopt, "{c:#?}");
    apply(&pool, &files).await;
    let rows: Vec<(Option<uuid::Uuid>, String, Option<String>)> = sqlx::query_as(
        "SELECT tool_id, status::text, reviewed_by FROM module_requests WHERE module_name = 'pyyaml'",
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert!(rows[0].0.is_some(), "the LLM's row itself: {rows:?}");
    assert_eq!(rows[0].1, "approved");
    assert!(rows[0].2.is_some(), "a reviewer is recorded: {rows:?}");
    let allowed: Vec<String> = sqlx::query_scalar(
        "SELECT unnest(allowed_modules)::text FROM global_config WHERE config_key = 'main'",
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    assert_eq!(
        allowed.iter().filter(|m| *m == "pyyaml").count(),
        1,
        "{allowed:?}"
    );
    assert!(!crate::common::plan(&pool, &files).await.has_changes());
}

/// Server names are not unique in MCPBox: rows git adds to its server must go to
/// the row it owns, never to an unmanaged server of the same name.
#[sqlx::test(migrations = false)]
async fn same_named_unmanaged_server_is_never_written(pool: PgPool) {
    migrate(&pool).await;
    apply(&pool, &basic(CODE_V1, &[])).await;
    let stranger = uuid::Uuid::new_v4();
    sqlx::query("INSERT INTO servers (id, name, status, default_timeout_ms) VALUES ($1, 'github', 'imported', 30000)").bind(stranger).execute(&pool).await.unwrap();
    let plan = crate::common::plan(&pool, &basic(CODE_V1, &[])).await;
    assert!(!plan.has_changes(), "{:#?}", plan.changes);
    // A new tool and host for github.
    let extra_tool = "apiVersion: mcpbox/v1\nkind: Tool\nmetadata: {name: second, server: github}\nspec:\n  code: |\n    async def main():\n        return 2\n";
    let server = SERVER.to_string()
        + "    - {host: uploads.github.com, justification: uploads, tool: second}\n";
    let files = repo(&[
        ("github.yaml", &server),
        ("list_issues.yaml", TOOL),
        ("list_issues.py", CODE_V1),
        ("second.yaml", extra_tool),
    ]);
    apply(&pool, &files).await;
    let n: i64 = sqlx::query_scalar("SELECT count(*) FROM tools WHERE server_id = $1")
        .bind(stranger)
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(n, 0);
    let hosts: Vec<String> =
        sqlx::query_scalar("SELECT allowed_hosts::text[] FROM servers WHERE id = $1")
            .bind(stranger)
            .fetch_one(&pool)
            .await
            .unwrap();
    assert!(hosts.is_empty());
    assert!(!crate::common::plan(&pool, &files).await.has_changes());
}

/// A server or tool renamed in MCPBox is drift: git's name is restored, with a
/// version row naming the change.
#[sqlx::test(migrations = false)]
async fn renames_in_mcpbox_are_restored(pool: PgPool) {
    migrate(&pool).await;
    let files = basic(CODE_V1, &[]);
    apply(&pool, &files).await;
    sqlx::query("UPDATE servers SET name = 'gh'")
        .execute(&pool)
        .await
        .unwrap();
    sqlx::query("UPDATE tools SET name = 'issues'")
        .execute(&pool)
        .await
        .unwrap();
    let plan = crate::common::plan(&pool, &files).await;
    let fields: Vec<(&str, &str)> = plan
        .changes
        .iter()
        .flat_map(|c| {
            c.fields
                .iter()
                .map(move |f| (c.key.as_str(), f.field.as_str()))
        })
        .collect();
    assert!(
        fields.contains(&("github", "name")) && fields.contains(&("github/list_issues", "name")),
        "{fields:?}"
    );
    apply(&pool, &files).await;
    let names: (String, String) =
        sqlx::query_as("SELECT s.name, t.name FROM servers s JOIN tools t ON t.server_id = s.id")
            .fetch_one(&pool)
            .await
            .unwrap();
    assert_eq!(names, ("github".to_string(), "list_issues".to_string()));
    let summary: String =
        sqlx::query_scalar("SELECT change_summary FROM tool_versions WHERE version_number = 2")
            .fetch_one(&pool)
            .await
            .unwrap();
    assert_eq!(summary, "Updated name");
    assert!(!crate::common::plan(&pool, &files).await.has_changes());
}

/// Dependencies are part of the content hash but MCPBox's update does not reset
/// approval for them: an approved tool is revoked (MCPBox's revoke), and the
/// version summary names only the dependencies.
#[sqlx::test(migrations = false)]
async fn dependency_change_revokes_without_a_code_summary(pool: PgPool) {
    migrate(&pool).await;
    let v1 = basic(CODE_V1, &[]);
    let pins = pin_for(&v1, "alice@example.com");
    apply(&pool, &basic(CODE_V1, &[("approvals.yaml", &pins)])).await;
    let tool = TOOL.to_string() + "  dependencies: [httpx]\n";
    let files = repo(&[
        ("github.yaml", SERVER),
        ("list_issues.yaml", &tool),
        ("list_issues.py", CODE_V1),
        ("approvals.yaml", &pins),
    ]);
    apply(&pool, &files).await;
    let t = tool_row(&pool).await;
    assert_eq!(t.get::<String, _>("status"), "pending_review");
    assert!(t.get::<Option<String>, _>("approved_by").is_none());
    let summary: String =
        sqlx::query_scalar("SELECT change_summary FROM tool_versions WHERE version_number = 2")
            .fetch_one(&pool)
            .await
            .unwrap();
    assert_eq!(summary, "Updated code_dependencies");
}

/// A tool created with enabled: false and a timeout: version 1 as MCPBox's create
/// writes it, version 2 for the fields create ignores.
#[sqlx::test(migrations = false)]
async fn created_tool_versions_follow_create_then_edit(pool: PgPool) {
    migrate(&pool).await;
    let tool = TOOL.to_string() + "  enabled: false\n  timeoutMs: 5000\n";
    apply(
        &pool,
        &repo(&[
            ("github.yaml", SERVER),
            ("list_issues.yaml", &tool),
            ("list_issues.py", CODE_V1),
        ]),
    )
    .await;
    let rows = sqlx::query("SELECT version_number, enabled, timeout_ms, change_summary FROM tool_versions ORDER BY version_number").fetch_all(&pool).await.unwrap();
    let got: Vec<(i32, bool, Option<i32>, String)> = rows
        .iter()
        .map(|r| (r.get(0), r.get(1), r.get(2), r.get(3)))
        .collect();
    assert_eq!(
        got,
        vec![
            (1, true, None, "Initial version".into()),
            (
                2,
                false,
                Some(5000),
                "Updated enabled status and timeout".into()
            )
        ]
    );
    let v: i32 = sqlx::query_scalar("SELECT current_version FROM tools")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(v, 2);
}

/// The audit rows have MCPBox's shape (MCPBOX.md §7.1).
#[sqlx::test(migrations = false)]
async fn audit_rows_have_mcpbox_shape(pool: PgPool) {
    migrate(&pool).await;
    apply(&pool, &basic(CODE_V1, &[])).await;
    let rows = sqlx::query("SELECT server_id, level::text AS level, message, details, request_id, duration_ms FROM activity_logs WHERE log_type = 'audit' ORDER BY server_id NULLS FIRST").fetch_all(&pool).await.unwrap();
    assert_eq!(rows.len(), 2, "one global row and one for the server");
    for r in &rows {
        assert_eq!(r.get::<String, _>("level"), "info");
        assert!(
            r.get::<Option<String>, _>("request_id").is_none()
                && r.get::<Option<i32>, _>("duration_ms").is_none()
        );
        let d: serde_json::Value = r.get("details");
        assert_eq!(d["action"], "gitops.apply");
        assert!(d.get("resource_id").is_some());
        assert!(d["timestamp"].as_str().unwrap().ends_with("+00:00"), "{d}");
        let msg: String = r.get("message");
        assert_eq!(
            msg,
            format!(
                "{}: {} ({})",
                d["action"].as_str().unwrap(),
                d["resource_type"].as_str().unwrap(),
                d["resource_id"].as_str().unwrap()
            )
        );
    }
    let d: serde_json::Value = rows[0].get("details");
    assert!(
        d["changes"]["created"]
            .as_array()
            .unwrap()
            .iter()
            .any(|k| k == "tool github/list_issues"),
        "{d}"
    );
}

/// The share rule of the deletion guard, end to end.
#[sqlx::test(migrations = false)]
async fn deleting_more_than_half_of_owned_objects_is_refused(pool: PgPool) {
    migrate(&pool).await;
    let files = basic(CODE_V1, &[("m.yaml", "apiVersion: mcpbox/v1\nkind: Modules\nmetadata: {name: p}\nspec:\n  modules:\n    - {name: a1, justification: j}\n    - {name: a2, justification: j}\n    - {name: a3, justification: j}\n    - {name: a4, justification: j}\n    - {name: a5, justification: j}\n    - {name: a6, justification: j}\n")]);
    apply(&pool, &files).await;
    let d = desired(&basic(CODE_V1, &[]));
    let err = mcpbox_gitops::apply::execute(&pool, &d, None, &Default::default())
        .await
        .unwrap_err();
    assert!(
        err.to_string()
            .contains("6 of 11 owned objects, more than 50%"),
        "{err}"
    );
}

/// An admin's revoke or reject of a host git granted stands until git changes the
/// entry; then a revoked row is approved again and a rejected one is kept as
/// history beside a new approved row.
#[sqlx::test(migrations = false)]
async fn revoked_and_rejected_hosts_stand_until_git_changes_the_entry(pool: PgPool) {
    migrate(&pool).await;
    let files = basic(CODE_V1, &[]);
    apply(&pool, &files).await;
    sqlx::query("UPDATE network_access_requests SET status = 'pending', reviewed_at = NULL, reviewed_by = NULL WHERE host = 'api.github.com'").execute(&pool).await.unwrap();
    let plan = crate::common::plan(&pool, &files).await;
    assert!(plan.changes.is_empty(), "{:#?}", plan.changes);
    assert!(
        plan.notes.iter().any(|n| n.contains("revoked in MCPBox")),
        "{:?}",
        plan.notes
    );
    let regrant = |justification: &str| {
        let server = SERVER.replace(
            "justification: REST API",
            &format!("justification: {justification}"),
        );
        repo(&[
            ("github.yaml", &server),
            ("list_issues.yaml", TOOL),
            ("list_issues.py", CODE_V1),
        ])
    };
    apply(&pool, &regrant("REST API reviewed again")).await;
    let status: String = sqlx::query_scalar(
        "SELECT status::text FROM network_access_requests WHERE host = 'api.github.com'",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(status, "approved");
    sqlx::query("UPDATE network_access_requests SET status = 'rejected', rejection_reason = 'no' WHERE host = 'api.github.com'").execute(&pool).await.unwrap();
    let files = regrant("REST API reviewed again");
    assert!(crate::common::plan(&pool, &files).await.changes.is_empty());
    apply(&pool, &regrant("REST API third time")).await;
    let rows: Vec<String> = sqlx::query_scalar("SELECT status::text FROM network_access_requests WHERE host = 'api.github.com' ORDER BY status").fetch_all(&pool).await.unwrap();
    assert_eq!(rows, vec!["approved", "rejected"]);
    let hosts: Vec<String> = sqlx::query_scalar("SELECT unnest(allowed_hosts)::text FROM servers")
        .fetch_all(&pool)
        .await
        .unwrap();
    assert!(hosts.contains(&"api.github.com:443".to_string()));
    assert!(!crate::common::plan(&pool, &regrant("REST API third time"))
        .await
        .has_changes());
}

/// Dropping `tool_approval_mode: auto_approve` from git deletes the row in the
/// same apply, so tools in that apply are not auto-approved.
#[sqlx::test(migrations = false)]
async fn pruned_auto_approve_setting_does_not_approve_the_same_apply(pool: PgPool) {
    migrate(&pool).await;
    let settings = "apiVersion: mcpbox/v1\nkind: Settings\nmetadata: {name: mcpbox}\nspec: {tool_approval_mode: auto_approve}\n";
    apply(&pool, &basic(CODE_V1, &[("settings.yaml", settings)])).await;
    apply(&pool, &basic(CODE_V2, &[])).await;
    assert_eq!(
        tool_row(&pool).await.get::<String, _>("status"),
        "pending_review"
    );
}

/// Issue 13.4: a plan a person confirmed is refused when the database moved in
/// between, and the refusal names the objects that moved.
#[sqlx::test(migrations = false)]
async fn a_stale_confirmed_plan_names_what_moved(pool: PgPool) {
    migrate(&pool).await;
    let v1 = basic(CODE_V1, &[]);
    apply(&pool, &v1).await;
    // The person looks at a plan that changes the tool's code…
    let v2 = basic(&CODE_V1.replace("main", "main  "), &[]);
    let shown = crate::common::plan(&pool, &v2).await;
    assert!(shown.has_changes());
    // …while MCPBox's UI renames the server's description.
    sqlx::query("UPDATE servers SET description = 'edited in the UI' WHERE name = 'github'")
        .execute(&pool)
        .await
        .unwrap();
    let err = mcpbox_gitops::apply::execute(
        &pool,
        &desired(&v2),
        Some(&shown),
        &mcpbox_gitops::apply::Options::default(),
    )
    .await
    .err()
    .map(|e| e.to_string())
    .unwrap_or_default();
    assert!(
        err.contains("these objects moved: server github") && err.contains("nothing was applied"),
        "{err}"
    );
}

/// Issue 11: an apply that planned outside the lock applies that plan as it
/// is when the change marker under the lock has not moved, and writes exactly
/// what a plan made inside the lock would have.
#[sqlx::test(migrations = false)]
async fn an_unmoved_plan_is_applied_as_planned(pool: PgPool) {
    use mcpbox_gitops::apply::execute::{execute_planned, Planned};
    migrate(&pool).await;
    apply(&pool, &basic(CODE_V1, &[])).await;
    let v2 = basic(CODE_V2, &[]);
    let d = desired(&v2);
    let (actual, marker) = mcpbox_gitops::state::read::snapshot_marked(&pool)
        .await
        .unwrap();
    let plan = mcpbox_gitops::plan::diff::diff(&d, &actual).unwrap();
    assert!(plan.has_changes());
    let planned = Planned {
        actual: &actual,
        plan: plan.clone(),
        marker: &marker,
    };
    let opts = mcpbox_gitops::apply::Options::default();
    let applied = execute_planned(&pool, &d, planned, true, &opts)
        .await
        .unwrap();
    assert_eq!(applied.plan, plan);
    assert!(!applied.moved);
    let code: String = sqlx::query_scalar("SELECT python_code FROM tools")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(code, CODE_V2);
    assert!(!crate::common::plan(&pool, &v2).await.has_changes());
}

/// Issue 11: when a row moved between the plan and the lock, the marker says
/// so: an auto-approved apply plans again inside the lock (and also reverts
/// the edit), a confirmed one is refused as stale.
#[sqlx::test(migrations = false)]
async fn a_moved_marker_plans_again_under_the_lock(pool: PgPool) {
    use mcpbox_gitops::apply::execute::{execute_planned, Planned};
    migrate(&pool).await;
    apply(&pool, &basic(CODE_V1, &[])).await;
    let v2 = basic(CODE_V2, &[]);
    let d = desired(&v2);
    let (actual, marker) = mcpbox_gitops::state::read::snapshot_marked(&pool)
        .await
        .unwrap();
    let plan = mcpbox_gitops::plan::diff::diff(&d, &actual).unwrap();
    sqlx::query("UPDATE servers SET description = 'edited in the UI' WHERE name = 'github'")
        .execute(&pool)
        .await
        .unwrap();
    let planned = || Planned {
        actual: &actual,
        plan: plan.clone(),
        marker: &marker,
    };
    let opts = mcpbox_gitops::apply::Options::default();
    let err = execute_planned(&pool, &d, planned(), true, &opts)
        .await
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    assert!(err.contains("these objects moved: server github"), "{err}");
    let applied = execute_planned(&pool, &d, planned(), false, &opts)
        .await
        .unwrap();
    assert!(applied.moved);
    let applied = applied.plan;
    assert_ne!(applied, plan);
    assert!(applied
        .changes
        .iter()
        .any(|c| c.key == "github" && c.action == Action::Update));
    let description: Option<String> =
        sqlx::query_scalar("SELECT description FROM servers WHERE name = 'github'")
            .fetch_one(&pool)
            .await
            .unwrap();
    assert_ne!(description.as_deref(), Some("edited in the UI"));
    assert!(!crate::common::plan(&pool, &v2).await.has_changes());
}

/// The deletion guard's verdict is part of the plan: JSON, text and the PR
/// comment all say that a plain apply refuses it, before anyone applies.
#[sqlx::test(migrations = false)]
async fn the_guard_verdict_is_in_every_output(pool: PgPool) {
    crate::common::migrate(&pool).await;
    let files = crate::common::basic(crate::common::CODE_V1, &[]);
    crate::common::apply(&pool, &files).await;
    // A second server keeps the manifests non-empty; github goes.
    let other = "apiVersion: mcpbox/v1\nkind: Server\nmetadata: {name: other}\nspec: {}\n";
    let plan = crate::common::plan(&pool, &crate::common::repo(&[("other.yaml", other)])).await;
    let why = plan.guard.clone().expect("deleting a server is refused");
    assert!(why.contains("it deletes server(s) github"), "{why}");
    let json = serde_json::to_value(&plan).unwrap();
    assert_eq!(json["guard"].as_str(), Some(why.as_str()));
    let text = mcpbox_gitops::plan::render::text::render(&plan);
    assert!(
        text.contains(
            "!! Without --allow-destroy, apply refuses this plan: it deletes server(s) github"
        ),
        "{text}"
    );
    let ctx = mcpbox_gitops::plan::render::markdown::PrContext::local("test");
    let md = mcpbox_gitops::plan::render::markdown::render(&plan, &ctx);
    assert!(md.contains("#### ⛔ Apply refuses this plan"), "{md}");
    // Without deletes there is no verdict.
    assert!(crate::common::plan(&pool, &files).await.guard.is_none());
}

/// Issue 14.5 (a): a change to a tool's dependencies alone resets its approval
/// by default; with `approval.onDependencyChange: keep` it stands, as MCPBox's
/// own update leaves it. A code change resets it under either.
#[sqlx::test(migrations = false)]
async fn a_dependencies_only_change_keeps_approval_only_when_the_policy_says(pool: PgPool) {
    migrate(&pool).await;
    let with_deps = |deps: &str, policy: &str| {
        let tool = format!("{TOOL}  dependencies: [{deps}]\n");
        let unpinned = repo(&[
            ("github.yaml", SERVER),
            ("list_issues.yaml", &tool),
            ("list_issues.py", CODE_V1),
        ]);
        let pins = pin_for(&unpinned, "alice@example.com");
        repo(&[
            ("github.yaml", SERVER),
            ("list_issues.yaml", &tool),
            ("list_issues.py", CODE_V1),
            ("approvals.yaml", &pins),
            ("mcpbox-gitops.yaml", policy),
        ])
    };
    let status = |pool: PgPool| async move {
        sqlx::query_scalar::<_, String>(
            "SELECT approval_status::text FROM tools WHERE name = 'list_issues'",
        )
        .fetch_one(&pool)
        .await
        .unwrap()
    };
    // Approved at httpx; git changes the dependencies, keeping the old pin.
    apply(&pool, &with_deps("httpx", "reviewer: gitops\n")).await;
    assert_eq!(status(pool.clone()).await, "approved");
    let keep = "approval: {onDependencyChange: keep}\n";
    let mut next = with_deps("httpx, pyyaml", keep);
    // The pin stays the one for httpx alone.
    let old_pins = pin_for(
        &repo(&[
            ("github.yaml", SERVER),
            (
                "list_issues.yaml",
                &format!("{TOOL}  dependencies: [httpx]\n"),
            ),
            ("list_issues.py", CODE_V1),
        ]),
        "alice@example.com",
    );
    next.files.insert(
        "approvals.yaml".into(),
        mcpbox_gitops::source::Entry::Bytes(old_pins.clone().into_bytes()),
    );
    apply(&pool, &next).await;
    assert_eq!(status(pool.clone()).await, "approved", "keep: MCPBox's way");
    let deps: Vec<String> = sqlx::query_scalar(
        "SELECT unnest(code_dependencies)::text FROM tools WHERE name = 'list_issues'",
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    assert_eq!(deps, vec!["httpx", "pyyaml"]);
    // The default revokes on the next dependencies-only change.
    let mut strict = with_deps("httpx", "reviewer: gitops\n");
    strict.files.insert(
        "approvals.yaml".into(),
        mcpbox_gitops::source::Entry::Bytes(b"approvals: []\n".to_vec()),
    );
    apply(&pool, &strict).await;
    assert_eq!(
        status(pool.clone()).await,
        "pending_review",
        "revoke: the default"
    );
}

/// Issue 14.5 (b): a tool without `timeoutMs` on a 60000 ms server gets the
/// server's default written by default, and NULL (MCPBox's way, the plan
/// saying which timeout runs) with `unsetToolTimeout: inherit`.
#[sqlx::test(migrations = false)]
async fn an_unset_tool_timeout_follows_the_policy(pool: PgPool) {
    migrate(&pool).await;
    let server = SERVER.replace(
        "  description: GitHub helpers\n",
        "  description: GitHub helpers\n  defaultTimeoutMs: 60000\n",
    );
    let files = |policy: &str| {
        repo(&[
            ("github.yaml", &server),
            ("list_issues.yaml", TOOL),
            ("list_issues.py", CODE_V1),
            ("mcpbox-gitops.yaml", policy),
        ])
    };
    let timeout = |pool: PgPool| async move {
        sqlx::query_scalar::<_, Option<i32>>(
            "SELECT timeout_ms FROM tools WHERE name = 'list_issues'",
        )
        .fetch_one(&pool)
        .await
        .unwrap()
    };
    apply(&pool, &files("reviewer: gitops\n")).await;
    assert_eq!(timeout(pool.clone()).await, Some(60000));
    let inherit = files("unsetToolTimeout: inherit\n");
    let plan = crate::common::plan(&pool, &inherit).await;
    let said = plan.notes.join("\n");
    assert!(
        said.contains("runs it with 30000 ms, not the server's default of 60000 ms (policy unsetToolTimeout: inherit)"),
        "{said}"
    );
    apply(&pool, &inherit).await;
    assert_eq!(timeout(pool.clone()).await, None);
    assert!(!crate::common::plan(&pool, &inherit).await.has_changes());
}

/// Issue 11: a plan's JSON carries each version of a tool's code once: the
/// `before` and `after` objects hold it, the `python_code` field entry only
/// says it changed; the text still shows the code's diff.
#[sqlx::test(migrations = false)]
async fn a_plan_carries_each_version_of_the_code_once(pool: PgPool) {
    migrate(&pool).await;
    apply(&pool, &basic(CODE_V1, &[])).await;
    let plan = crate::common::plan(&pool, &basic(CODE_V2, &[])).await;
    let json = mcpbox_gitops::plan::render::json::render(&plan);
    // A line only the new code has, and one only the old code has.
    assert_eq!(json.matches("return resp.json()").count(), 1, "{json}");
    assert_eq!(json.matches("return await http.get(").count(), 1, "{json}");
    let change = plan
        .changes
        .iter()
        .find(|c| c.key == "github/list_issues")
        .unwrap();
    let field = change
        .fields
        .iter()
        .find(|f| f.field == "python_code")
        .expect("the code changed");
    assert_eq!((field.before.as_ref(), field.after.as_ref()), (None, None));
    assert_eq!(change.code(), Some((CODE_V1, CODE_V2)));
    let text = mcpbox_gitops::plan::render::text::render(&plan);
    assert!(text.contains("+    return resp.json()"), "{text}");
    assert!(text.contains("-    return await http.get("), "{text}");
}

/// The daemon remembers the change marker of the state its apply committed,
/// read inside the transaction: it equals a marker read right after, when
/// nobody else wrote, and is only read when asked for.
#[sqlx::test(migrations = false)]
async fn an_apply_reports_the_marker_it_committed_when_asked(pool: PgPool) {
    use mcpbox_gitops::apply::execute::{execute_planned, Planned};
    migrate(&pool).await;
    let v1 = basic(CODE_V1, &[]);
    let d = desired(&v1);
    for asked in [true, false] {
        let (actual, marker) = mcpbox_gitops::state::read::snapshot_marked(&pool)
            .await
            .unwrap();
        let plan = mcpbox_gitops::plan::diff::diff(&d, &actual).unwrap();
        let planned = Planned {
            actual: &actual,
            plan,
            marker: &marker,
        };
        let opts = mcpbox_gitops::apply::Options {
            marker_after: asked,
            ..Default::default()
        };
        let applied = execute_planned(&pool, &d, planned, false, &opts)
            .await
            .unwrap();
        let after = mcpbox_gitops::state::marker::marker(&pool).await.unwrap();
        match asked {
            true => {
                assert_eq!(applied.marker.as_deref(), Some(after.as_str()));
                assert_ne!(after, marker, "the apply wrote rows");
            }
            false => assert_eq!(applied.marker, None),
        }
    }
}
