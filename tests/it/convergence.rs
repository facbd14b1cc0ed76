//! Issue 13.8: convergence by property. For random manifest sets A and B
//! (servers with secrets and hosts, Python tools with timeouts, dependencies,
//! enabled flags and pins, modules, settings): `apply(A); apply(B)` leaves
//! MCPBox in the same state as `apply(B)` on a fresh database (ids, timestamps,
//! version history and audit rows aside); every apply is followed by an empty
//! plan; and an export of the result plans as adoptions only.
//!
//! Cases are bounded for CI (8); `MCPBOX_GITOPS_PROPTEST_CASES` runs more.

use proptest::prelude::*;
use sqlx::PgPool;

use mcpbox_gitops::plan::Action;
use mcpbox_gitops::source::FileSet;

/// One tool: (code variant, timeout, enabled, with httpx, pinned).
type ToolSpec = (u8, Option<u32>, bool, bool, bool);
/// One server: (description variant, default timeout, secrets, hosts, tools).
type ServerSpec = (u8, Option<u32>, (bool, bool), (bool, bool), Vec<ToolSpec>);
/// A repository: servers, modules (csv, statistics), log retention days.
type RepoSpec = (Vec<ServerSpec>, (bool, bool), u8);

fn repo_spec() -> impl Strategy<Value = RepoSpec> {
    let tool = (
        0u8..3,
        prop_oneof![Just(None), Just(Some(5000u32))],
        any::<bool>(),
        any::<bool>(),
        any::<bool>(),
    );
    let server = (
        0u8..2,
        prop_oneof![Just(None), Just(Some(30000u32)), Just(Some(60000u32))],
        (any::<bool>(), any::<bool>()),
        (any::<bool>(), any::<bool>()),
        proptest::collection::vec(tool, 0..4),
    );
    (
        proptest::collection::vec(server, 1..4),
        (any::<bool>(), any::<bool>()),
        0u8..2,
    )
}

/// The repository's files (pins computed from the tools' content).
fn files(spec: &RepoSpec) -> FileSet {
    let (servers, (csv, stats), retention) = spec;
    let mut set = FileSet::empty("convergence");
    let mut pinned: Vec<String> = Vec::new();
    for (s, (descr, timeout, (sa, sb), (ha, hb), tools)) in servers.iter().enumerate() {
        let mut doc = format!(
            "apiVersion: mcpbox/v1\nkind: Server\nmetadata: {{name: s{s}}}\nspec:\n  description: server {s} v{descr}\n"
        );
        if let Some(t) = timeout {
            doc.push_str(&format!("  defaultTimeoutMs: {t}\n"));
        }
        let secrets: Vec<&str> = [(sa, "A_TOKEN"), (sb, "B_KEY")]
            .iter()
            .filter(|(on, _)| **on)
            .map(|(_, n)| *n)
            .collect();
        if !secrets.is_empty() {
            doc.push_str("  secrets:\n");
            for n in secrets {
                doc.push_str(&format!("    - {{name: {n}}}\n"));
            }
        }
        if *ha || *hb {
            doc.push_str("  network:\n");
            if *ha {
                doc.push_str(&format!(
                    "    - {{host: api{s}.example.com, port: 443, justification: api}}\n"
                ));
            }
            if *hb {
                doc.push_str("    - {host: shared.example.com, justification: any port}\n");
            }
        }
        for (t, (code, tt, enabled, httpx, pin)) in tools.iter().enumerate() {
            doc.push_str(&format!(
                "---\napiVersion: mcpbox/v1\nkind: Tool\nmetadata: {{name: t{t}, server: s{s}}}\nspec:\n  description: tool {t}\n  enabled: {enabled}\n"
            ));
            if let Some(ms) = tt {
                doc.push_str(&format!("  timeoutMs: {ms}\n"));
            }
            if *httpx {
                doc.push_str("  dependencies: [httpx]\n");
            }
            doc.push_str(&format!(
                "  code: |\n    async def main(q: str, n: int = {code}):\n        return {{\"q\": q, \"v\": {code}}}\n"
            ));
            if *pin {
                pinned.push(format!("s{s}/t{t}"));
            }
        }
        set.insert(format!("s{s}.yaml"), doc.into_bytes());
    }
    let mut modules = Vec::new();
    if *csv {
        modules.push("csv");
    }
    if *stats {
        modules.push("statistics");
    }
    if !modules.is_empty() {
        let mut doc = String::from(
            "apiVersion: mcpbox/v1\nkind: Modules\nmetadata: {name: platform}\nspec:\n  modules:\n",
        );
        for m in modules {
            doc.push_str(&format!("    - {{name: {m}, justification: reports}}\n"));
        }
        set.insert("modules.yaml", doc.into_bytes());
    }
    set.insert(
        "settings.yaml",
        format!(
            "apiVersion: mcpbox/v1\nkind: Settings\nmetadata: {{name: mcpbox}}\nspec:\n  log_retention_days: {}\n",
            [30, 90][*retention as usize]
        )
        .into_bytes(),
    );
    // Pins at the tools' content, as `approve` writes them.
    if !pinned.is_empty() {
        let desired = crate::common::desired(&set);
        let mut text = String::from("approvals:\n");
        for key in pinned {
            if let Some(mcpbox_gitops::model::Object::Tool(t)) = desired
                .objects
                .get(&(mcpbox_gitops::model::Kind::Tool, key.clone()))
            {
                text.push_str(&format!(
                    "  - {{tool: {key}, sha256: {}, approvedBy: alice@example.com, approvedAt: \"2026-12-01T00:00:00Z\"}}\n",
                    t.content_hash()
                ));
            }
        }
        set.insert("approvals.yaml", text.into_bytes());
    }
    set
}

/// MCPBox's state as rows of natural keys and managed columns, sorted: ids,
/// timestamps, version numbers and history, and audit rows left out. A tool's
/// approval is compared only where git states it (a pin in `pinned`): without
/// one, approval is MCPBox's decision and stands while the content is the same
/// (DESIGN: "unchanged content keeps whatever approval it has"), so it depends
/// on history by design.
async fn dump(pool: &PgPool, pinned: &std::collections::BTreeSet<String>) -> Vec<String> {
    let queries = [
        "SELECT 'server|' || name || '|' || coalesce(description, '') || '|' || default_timeout_ms || '|' || status || '|' || coalesce(array_to_string(ARRAY(SELECT unnest(allowed_hosts) ORDER BY 1), ','), '-') FROM servers",
        "SELECT 'tool|' || s.name || '/' || t.name || '|' || coalesce(t.description, '') || '|' || t.enabled || '|' || coalesce(t.timeout_ms::text, '-') || '|' || t.tool_type || '|' || md5(coalesce(t.python_code, '')) || '|' || coalesce(array_to_string(t.code_dependencies, ','), '-') || '|' || t.input_schema::text || '|' || CASE WHEN (s.name || '/' || t.name) = ANY($1) THEN t.approval_status || '|' || coalesce(t.approved_by, '-') ELSE '(decided in MCPBox)' END FROM tools t JOIN servers s ON s.id = t.server_id",
        "SELECT 'secret|' || s.name || '/' || x.key_name || '|' || coalesce(x.description, '') || '|' || (x.encrypted_value IS NULL) FROM server_secrets x JOIN servers s ON s.id = x.server_id",
        "SELECT 'host|' || coalesce(s.name, '-') || '|' || coalesce(t.name, '-') || '|' || r.host || '|' || coalesce(r.port::text, '-') || '|' || r.status || '|' || r.justification || '|' || coalesce(r.requested_by, '-') || '|' || coalesce(r.reviewed_by, '-') FROM network_access_requests r LEFT JOIN servers s ON s.id = r.server_id LEFT JOIN tools t ON t.id = r.tool_id",
        "SELECT 'module|' || r.module_name || '|' || r.status || '|' || r.justification || '|' || coalesce(r.requested_by, '-') || '|' || coalesce(r.reviewed_by, '-') FROM module_requests r",
        "SELECT 'setting|' || key || '|' || coalesce(value, '-') || '|' || encrypted FROM settings",
        "SELECT 'modules|' || coalesce(array_to_string(ARRAY(SELECT unnest(allowed_modules) ORDER BY 1), ','), '-') FROM global_config",
    ];
    let pinned: Vec<String> = pinned.iter().cloned().collect();
    let mut rows = Vec::new();
    for q in queries {
        let mut query = sqlx::query_scalar(q);
        if q.contains("$1") {
            query = query.bind(&pinned);
        }
        let part: Vec<String> = query.fetch_all(pool).await.unwrap();
        rows.extend(part);
    }
    // No global_config row means MCPBox's defaults (MCPBOX.md §8.3: "the stored
    // list or the defaults"): the same state as a row holding exactly them.
    let defaults = {
        let mut d: Vec<&str> = mcpbox_gitops::rules::sync::DEFAULT_ALLOWED_MODULES.to_vec();
        d.sort();
        format!("modules|{}", d.join(","))
    };
    rows.retain(|r| *r != defaults);
    rows.sort();
    rows
}

/// A fresh, migrated database; dropped by [`drop_db`].
async fn fresh_db(admin: &PgPool, name: &str) -> PgPool {
    sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
        .execute(admin)
        .await
        .unwrap();
    sqlx::query(&format!("CREATE DATABASE {name}"))
        .execute(admin)
        .await
        .unwrap();
    let o = admin.connect_options();
    let url = format!(
        "postgres://{}@{}:{}/{name}",
        o.get_username(),
        o.get_host(),
        o.get_port()
    );
    let pool = PgPool::connect(&url).await.unwrap();
    crate::common::migrate(&pool).await;
    pool
}

async fn drop_db(admin: &PgPool, pool: PgPool, name: &str) {
    pool.close().await;
    let _ = sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
        .execute(admin)
        .await;
}

/// Applies and checks that the next plan is empty.
async fn apply_converged(pool: &PgPool, files: &FileSet) {
    crate::common::apply(pool, files).await;
    let again = crate::common::plan(pool, files).await;
    assert!(
        !again.has_changes(),
        "apply then plan is not empty: {:#?}",
        again
            .changes
            .iter()
            .map(|c| (&c.key, &c.fields))
            .collect::<Vec<_>>()
    );
}

fn cases() -> u32 {
    std::env::var("MCPBOX_GITOPS_PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(8)
}

#[test]
fn apply_converges_whatever_came_before() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let base = std::env::var("DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into());
    let admin = rt.block_on(PgPool::connect(&base)).unwrap();
    // Database names unique to this process (test binaries may run side by side).
    let tag = std::process::id();
    let config = ProptestConfig {
        cases: cases(),
        failure_persistence: None,
        ..ProptestConfig::default()
    };
    let mut runner = proptest::test_runner::TestRunner::new(config);
    let result = runner.run(&(repo_spec(), repo_spec()), |(a, b)| {
        rt.block_on(async {
            let (fa, fb) = (files(&a), files(&b));
            let (one, two) = (format!("conv_{tag}_a"), format!("conv_{tag}_b"));
            let db1 = fresh_db(&admin, &one).await;
            apply_converged(&db1, &fa).await;
            apply_converged(&db1, &fb).await;
            let db2 = fresh_db(&admin, &two).await;
            apply_converged(&db2, &fb).await;
            let pinned = crate::common::desired(&fb).pins.keys().cloned().collect();
            assert_eq!(
                dump(&db1, &pinned).await,
                dump(&db2, &pinned).await,
                "apply(A); apply(B) differs from apply(B)"
            );
            // Export, then plan: adoptions only. The rows are ours already, so
            // ownership is forgotten first, as on a database MCPBox filled.
            sqlx::query("DELETE FROM mcpbox_gitops.ownership")
                .execute(&db2)
                .await
                .unwrap();
            let actual = mcpbox_gitops::state::read::snapshot(&db2).await.unwrap();
            let exported =
                mcpbox_gitops::export::export(&actual, &mcpbox_gitops::export::Options::default())
                    .unwrap();
            let plan = crate::common::plan(&db2, &exported.files).await;
            let others: Vec<_> = plan
                .changes
                .iter()
                .filter(|c| c.action != Action::Adopt)
                .map(|c| (c.action, c.key.clone(), c.fields.clone()))
                .collect();
            assert!(
                others.is_empty(),
                "export then plan is not adoptions only: {others:#?}"
            );
            drop_db(&admin, db1, &one).await;
            drop_db(&admin, db2, &two).await;
        });
        Ok(())
    });
    if let Err(e) = result {
        panic!("{e}");
    }
}
