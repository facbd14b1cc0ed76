//! Update and delete of each kind, and the text plan of an update (golden).

use mcpbox_gitops::plan::Action;
use sqlx::{PgPool, Row};

use crate::common::*;

fn server(descr: &str, secret_descr: &str, with_secret: bool, justification: &str) -> String {
    let secrets = if with_secret {
        format!("  secrets:\n    - {{name: GITHUB_TOKEN, description: {secret_descr}}}\n")
    } else {
        String::new()
    };
    format!(
        "apiVersion: mcpbox/v1\nkind: Server\nmetadata: {{name: github}}\nspec:\n  description: {descr}\n{secrets}  network:\n    - {{host: api.github.com, port: 443, justification: {justification}, tool: list_issues}}\n"
    )
}

fn tool(enabled: bool) -> String {
    format!("apiVersion: mcpbox/v1\nkind: Tool\nmetadata: {{name: list_issues, server: github}}\nspec:\n  description: List issues\n  enabled: {enabled}\n  codeFile: list_issues.py\n")
}

#[sqlx::test(migrations = false)]
async fn each_kind_updates_in_place_without_touching_unchanged_rows(pool: PgPool) {
    migrate(&pool).await;
    let v1 = repo(&[
        ("s.yaml", &server("one", "a PAT", true, "REST")),
        ("t.yaml", &tool(true)),
        ("list_issues.py", CODE_V1),
    ]);
    apply(&pool, &v1).await;
    let stamp = |table: &'static str| {
        let pool = pool.clone();
        async move {
            let sql = format!("SELECT max(updated_at) FROM {table}");
            sqlx::query_scalar::<_, chrono::DateTime<chrono::Utc>>(&sql)
                .fetch_one(&pool)
                .await
                .unwrap()
        }
    };
    let tool_stamp = stamp("tools").await;
    // Server description, secret description, justification, tool enabled.
    let v2 = repo(&[
        (
            "s.yaml",
            &server("two", "a fine-grained PAT", true, "GitHub REST API"),
        ),
        ("t.yaml", &tool(false)),
        ("list_issues.py", CODE_V1),
    ]);
    let plan = crate::common::plan(&pool, &v2).await;
    let actions: Vec<(Action, &str)> = plan
        .changes
        .iter()
        .map(|c| (c.action, c.key.as_str()))
        .collect();
    assert_eq!(
        actions,
        vec![
            (Action::Update, "github"),
            (Action::Update, "github/GITHUB_TOKEN"),
            (Action::Update, "github/list_issues"),
            (Action::Update, "github/api.github.com:443 via list_issues"),
        ]
    );
    insta::assert_snapshot!(
        "update_plan_text",
        mcpbox_gitops::plan::render::text::render(&plan)
    );
    apply(&pool, &v2).await;
    let s = sqlx::query("SELECT description, default_timeout_ms FROM servers")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(
        s.get::<Option<String>, _>("description").as_deref(),
        Some("two")
    );
    let d: Option<String> = sqlx::query_scalar("SELECT description FROM server_secrets")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(d.as_deref(), Some("a fine-grained PAT"));
    let j: String = sqlx::query_scalar("SELECT justification FROM network_access_requests")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(j, "GitHub REST API");
    // An update without a code change: a version row, approval untouched.
    let t = sqlx::query(
        "SELECT enabled, current_version, approval_status::text AS s, updated_at FROM tools",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert!(!t.get::<bool, _>("enabled"));
    assert_eq!(t.get::<i32, _>("current_version"), 2);
    assert_eq!(t.get::<String, _>("s"), "pending_review");
    assert!(t.get::<chrono::DateTime<chrono::Utc>, _>("updated_at") > tool_stamp);
    let summary: String =
        sqlx::query_scalar("SELECT change_summary FROM tool_versions WHERE version_number = 2")
            .fetch_one(&pool)
            .await
            .unwrap();
    assert_eq!(summary, "Updated enabled status");
    // A no-op apply touches nothing: updated_at stays.
    let before = (
        stamp("servers").await,
        stamp("tools").await,
        stamp("network_access_requests").await,
    );
    let plan = apply(&pool, &v2).await;
    assert!(!plan.has_changes());
    assert_eq!(
        before,
        (
            stamp("servers").await,
            stamp("tools").await,
            stamp("network_access_requests").await
        )
    );
}

#[sqlx::test(migrations = false)]
async fn secrets_delete_only_with_allow_destroy_and_keep_set_values(pool: PgPool) {
    migrate(&pool).await;
    let v1 = repo(&[
        ("s.yaml", &server("one", "a PAT", true, "REST")),
        ("t.yaml", &tool(true)),
        ("list_issues.py", CODE_V1),
    ]);
    apply(&pool, &v1).await;
    // An admin sets the value in MCPBox: git manages the placeholder, never the value.
    sqlx::query("UPDATE server_secrets SET encrypted_value = '\\x00'::bytea")
        .execute(&pool)
        .await
        .unwrap();
    assert!(!crate::common::plan(&pool, &v1).await.has_changes());
    let v2 = repo(&[
        ("s.yaml", &server("one", "a PAT", false, "REST")),
        ("t.yaml", &tool(true)),
        ("list_issues.py", CODE_V1),
    ]);
    let d = desired(&v2);
    let err = mcpbox_gitops::apply::execute(&pool, &d, None, &Default::default())
        .await
        .unwrap_err();
    assert!(
        err.to_string().contains("secret(s) github/GITHUB_TOKEN"),
        "{err}"
    );
    let plan = apply(&pool, &v2).await;
    assert_eq!(plan.summary.destroy, 1);
    let n: i64 = sqlx::query_scalar("SELECT count(*) FROM server_secrets")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(n, 0);
    let owned: i64 =
        sqlx::query_scalar("SELECT count(*) FROM mcpbox_gitops.ownership WHERE kind = 'secret'")
            .fetch_one(&pool)
            .await
            .unwrap();
    assert_eq!(owned, 0);
}

#[sqlx::test(migrations = false)]
async fn deleting_a_server_cascades_and_is_shown(pool: PgPool) {
    migrate(&pool).await;
    let v1 = basic(CODE_V1, &[]);
    apply(&pool, &v1).await;
    sqlx::query("INSERT INTO tool_execution_logs (id, tool_id, server_id, tool_name, success, is_test) SELECT gen_random_uuid(), id, server_id, name, true, false FROM tools")
        .execute(&pool)
        .await
        .unwrap();
    let other = repo(&[(
        "o.yaml",
        "apiVersion: mcpbox/v1\nkind: Server\nmetadata: {name: other}\nspec: {}\n",
    )]);
    let plan = crate::common::plan(&pool, &other).await;
    let server = plan
        .changes
        .iter()
        .find(|c| c.key == "github" && c.action == Action::Delete)
        .unwrap();
    let cascade = server.cascade.unwrap();
    assert_eq!(
        (cascade.tools, cascade.secrets, cascade.execution_logs),
        (1, 1, 1)
    );
    let text = mcpbox_gitops::plan::render::text::render(&plan);
    assert!(text.contains("DESTROYED"), "{text}");
    assert!(
        text.find("DESTROYED").unwrap() < text.find("will be created").unwrap(),
        "deletes come first:\n{text}"
    );
    assert!(
        text.contains("deletes with it: 1 tool, 1 secret, 1 version, 2 requests, 1 execution log, 1 activity log row"),
        "{text}"
    );
    apply(&pool, &other).await;
    let n: i64 = sqlx::query_scalar("SELECT count(*) FROM servers WHERE name = 'github'")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(n, 0);
}
