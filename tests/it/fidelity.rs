//! Fidelity stories (issue 14): MCPBox's own transitions taking turns with
//! ours on a real PostgreSQL, each row written as MCPBox's code path writes it
//! (`reference/MCPBOX.md`). Export round trips live in `export.rs`, human
//! removals and quarantines in `quarantine.rs`.

use sqlx::{PgPool, Row};

use crate::common::*;

const TOOL_MODULES: &str = "apiVersion: mcpbox/v1
kind: Modules
metadata: {name: tools}
spec:
  modules:
    - {name: pyyaml, justification: parse YAML, tool: github/list_issues}
    - {name: python-dateutil, justification: parse dates, tool: github/list_issues}
";

/// Issue 14.1 (a): a module entry with `tool:` is written in the shape of an
/// LLM's module request an admin approved (MCPBOX.md §3.1: `tool_id`, the
/// tool's server, `requested_by` NULL, reviewed); an LLM's pending request
/// for the same tool and module is adopted and approved in place, not left
/// beside a new row; the module cache gets both with their derived names; the
/// next plan is empty; removing the entries deletes the rows we own.
#[sqlx::test(migrations = false)]
async fn tool_module_entries_are_written_as_mcpbox_approves_an_llm_request(pool: PgPool) {
    migrate(&pool).await;
    apply(&pool, &basic(CODE_V1, &[])).await;
    // The LLM path (MCPBOX.md §3.1): pending, tool and its server, no requester.
    sqlx::query("INSERT INTO module_requests (id, tool_id, server_id, module_name, justification, status) SELECT gen_random_uuid(), id, server_id, 'python-dateutil', 'parse dates', 'pending' FROM tools")
        .execute(&pool)
        .await
        .unwrap();
    let files = basic(CODE_V1, &[("modules.yaml", TOOL_MODULES)]);
    let plan = crate::common::plan(&pool, &files).await;
    let actions: Vec<(String, mcpbox_gitops::plan::Action)> = plan
        .changes
        .iter()
        .filter(|c| c.kind == mcpbox_gitops::model::Kind::Module)
        .map(|c| (c.key.clone(), c.action))
        .collect();
    assert_eq!(
        actions,
        vec![
            (
                "python-dateutil via github/list_issues".to_string(),
                mcpbox_gitops::plan::Action::Adopt
            ),
            (
                "pyyaml via github/list_issues".to_string(),
                mcpbox_gitops::plan::Action::Create
            ),
        ]
    );
    apply(&pool, &files).await;
    let rows = sqlx::query(
        "SELECT m.module_name, m.tool_id = t.id AS own_tool, m.server_id = t.server_id AS tool_server,
                m.requested_by, m.status::text AS status, m.reviewed_by, m.reviewed_at IS NOT NULL AS reviewed
           FROM module_requests m JOIN tools t ON t.name = 'list_issues' ORDER BY m.module_name",
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    assert_eq!(rows.len(), 2, "one row per module, the LLM's adopted");
    for r in &rows {
        let name: String = r.get("module_name");
        assert!(r.get::<Option<bool>, _>("own_tool") == Some(true), "{name}");
        assert!(
            r.get::<Option<bool>, _>("tool_server") == Some(true),
            "{name}"
        );
        assert_eq!(r.get::<Option<String>, _>("requested_by"), None, "{name}");
        assert_eq!(r.get::<String, _>("status"), "approved", "{name}");
        assert_eq!(
            r.get::<Option<String>, _>("reviewed_by").as_deref(),
            Some("mcpbox-gitops"),
            "{name}"
        );
        assert!(r.get::<bool, _>("reviewed"), "{name}");
    }
    let allowed: Vec<String> = sqlx::query_scalar(
        "SELECT unnest(allowed_modules)::text FROM global_config WHERE config_key = 'main'",
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    for m in [
        "pyyaml",
        "python-dateutil",
        "python_dateutil",
        "python",
        "json",
    ] {
        assert!(allowed.iter().any(|a| a == m), "{m} in {allowed:?}");
    }
    let again = crate::common::plan(&pool, &files).await;
    assert!(!again.has_changes(), "{:#?}", again.changes);

    // Entries removed from git: the rows we own go (and leave the cache).
    apply(&pool, &basic(CODE_V1, &[])).await;
    let n: i64 = sqlx::query_scalar("SELECT count(*) FROM module_requests")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(n, 0);
    let allowed: Vec<String> = sqlx::query_scalar(
        "SELECT unnest(allowed_modules)::text FROM global_config WHERE config_key = 'main'",
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    assert!(!allowed.iter().any(|a| a == "pyyaml"), "{allowed:?}");
}

/// Issue 14.1 (a): a tool's module entry for a tool created by the same
/// apply gets the new tool's id and server.
#[sqlx::test(migrations = false)]
async fn a_tool_module_entry_of_a_new_tool_gets_its_ids(pool: PgPool) {
    migrate(&pool).await;
    apply(&pool, &basic(CODE_V1, &[("modules.yaml", TOOL_MODULES)])).await;
    let n: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM module_requests m JOIN tools t ON t.id = m.tool_id AND t.server_id = m.server_id WHERE m.status = 'approved'",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(n, 2);
}

const PT_SERVER: &str = "apiVersion: mcpbox/v1
kind: Server
metadata: {name: github}
spec: {}
---
apiVersion: mcpbox/v1
kind: ExternalSource
metadata: {name: github-mcp, server: github}
spec:
  url: https://api.githubcopilot.com/mcp/
";

/// Issue 14.2: a pass-through tool whose `inputSchema` git states, while the
/// source's discovery holds another for the external tool, is planned with a
/// note saying so (git's is written; leave it out to take the discovered
/// one); a schema equal to the discovered one, or none in git, gives no note.
#[sqlx::test(migrations = false)]
async fn a_passthrough_schema_that_differs_from_discovery_is_named(pool: PgPool) {
    migrate(&pool).await;
    let tool = |schema: &str| {
        format!("apiVersion: mcpbox/v1\nkind: Tool\nmetadata: {{name: search_code, server: github}}\nspec:\n  type: mcp_passthrough\n  externalSource: github-mcp\n  externalToolName: search_code\n  description: Search code\n{schema}")
    };
    let given = tool("  inputSchema: {type: object, properties: {q: {type: string}}}\n");
    let files = repo(&[("github.yaml", PT_SERVER), ("search_code.yaml", &given)]);
    apply(&pool, &files).await;
    // MCPBox's discovery (MCPBOX.md §4.4) finds another schema.
    let discovered = serde_json::json!([{"name": "search_code", "description": "Search code",
        "input_schema": {"type": "object", "properties": {"query": {"type": "string"}}, "required": ["query"]}}]);
    sqlx::query("UPDATE external_mcp_sources SET discovered_tools_cache = $1, tool_count = 1, last_discovered_at = now()")
        .bind(&discovered)
        .execute(&pool)
        .await
        .unwrap();
    let plan = crate::common::plan(&pool, &files).await;
    let note = plan
        .notes
        .iter()
        .find(|n| n.contains("github/search_code"))
        .cloned()
        .unwrap_or_default();
    assert!(
        note.contains(
            "git's inputSchema differs from the one external source github/github-mcp discovered"
        ) && note.contains("leave inputSchema out"),
        "{:#?}",
        plan.notes
    );
    // Git stating the discovered schema, or none: nothing to say.
    let same = tool(
        "  inputSchema: {type: object, properties: {query: {type: string}}, required: [query]}\n",
    );
    let none = tool("");
    for t in [same, none] {
        let files = repo(&[("github.yaml", PT_SERVER), ("search_code.yaml", &t)]);
        let plan = crate::common::plan(&pool, &files).await;
        assert!(
            !plan.notes.iter().any(|n| n.contains("inputSchema differs")),
            "{t}: {:#?}",
            plan.notes
        );
    }
}

/// Issue 14.2: a pass-through tool MCPBox's admin UI imported (approved, no
/// approver, `current_version` 1, no version row: MCPBOX.md §2.2, §4.4) that
/// git then changes gets its state before the change as version 1 ("Initial
/// version", source `import`) and the change as version 2, so its history
/// reads 1..N and MCPBox's rollback to 1 finds the imported state.
#[sqlx::test(migrations = false)]
async fn a_passthrough_tools_first_version_row_is_a_snapshot_of_version_1(pool: PgPool) {
    migrate(&pool).await;
    let files = |description: &str| {
        let tool = format!("apiVersion: mcpbox/v1\nkind: Tool\nmetadata: {{name: search_code, server: github}}\nspec:\n  type: mcp_passthrough\n  externalSource: github-mcp\n  externalToolName: search_code\n  description: {description}\n  inputSchema: {{type: object, properties: {{}}}}\n");
        repo(&[("github.yaml", PT_SERVER), ("search_code.yaml", &tool)])
    };
    // The server and source from git, then MCPBox's admin-UI import of the tool.
    apply(&pool, &repo(&[("github.yaml", PT_SERVER)])).await;
    sqlx::query(
        "INSERT INTO tools (id, server_id, name, description, input_schema, enabled, tool_type, external_source_id, external_tool_name,
                            current_version, approval_status)
         SELECT gen_random_uuid(), s.id, 'search_code', 'Imported description', '{\"type\": \"object\", \"properties\": {}}', true,
                'mcp_passthrough', e.id, 'search_code', 1, 'approved'
           FROM servers s JOIN external_mcp_sources e ON e.server_id = s.id",
    )
    .execute(&pool)
    .await
    .unwrap();
    let plan = apply(&pool, &files("Search code from git")).await;
    let versions: Vec<(i32, String)> = plan
        .changes
        .iter()
        .filter_map(|c| c.tool.as_ref())
        .flat_map(|t| t.versions.iter().map(|v| (v.number, v.summary.clone())))
        .collect();
    assert_eq!(
        versions,
        vec![
            (1, "Initial version".to_string()),
            (2, "Updated description".to_string())
        ]
    );
    let rows: Vec<(i32, Option<String>, String, String)> = sqlx::query_as(
        "SELECT version_number, description, change_summary, change_source FROM tool_versions ORDER BY version_number",
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    assert_eq!(
        rows,
        vec![
            (
                1,
                Some("Imported description".into()),
                "Initial version".into(),
                "import".into()
            ),
            (
                2,
                Some("Search code from git".into()),
                "Updated description".into(),
                "gitops".into()
            ),
        ]
    );
    let (current, status): (i32, String) =
        sqlx::query_as("SELECT current_version, approval_status::text FROM tools")
            .fetch_one(&pool)
            .await
            .unwrap();
    assert_eq!((current, status.as_str()), (2, "approved"));
    // The next change adds one row, no second snapshot.
    apply(&pool, &files("Search code, again")).await;
    let numbers: Vec<i32> =
        sqlx::query_scalar("SELECT version_number FROM tool_versions ORDER BY version_number")
            .fetch_all(&pool)
            .await
            .unwrap();
    assert_eq!(numbers, vec![1, 2, 3]);
}
