//! Benchmark: plan and apply cost against a real PostgreSQL, printed as figures.
//!
//! Builds a repository of N servers × 10 tools (with hosts and secrets), applies
//! it to a fresh database, then measures: a no-op plan, an apply that changes one
//! tool, and the number of SQL statements is bounded by kinds, not objects.
//! Run: `cargo bench --bench plan_apply` (DATABASE_URL points at a server where
//! it may create and drop a database named mcpbox_gitops_bench).

use std::time::Instant;

use mcpbox_gitops::source::FileSet;

fn repo(servers: usize, marker: &str) -> FileSet {
    let mut set = FileSet::empty("bench");
    for s in 0..servers {
        let mut doc = format!("apiVersion: mcpbox/v1\nkind: Server\nmetadata: {{name: s{s}}}\nspec:\n  secrets: [{{name: TOKEN}}]\n  network:\n");
        for h in 0..3 {
            doc.push_str(&format!(
                "    - {{host: h{h}.s{s}.example.com, port: 443, justification: api}}\n"
            ));
        }
        for t in 0..10 {
            doc.push_str(&format!(
                "---\napiVersion: mcpbox/v1\nkind: Tool\nmetadata: {{name: t{t}, server: s{s}}}\nspec:\n  code: |\n    async def main(q: str, n: int | None = None):\n        return {{\"q\": q, \"t\": {t}, \"m\": \"{}\"}}\n",
                if s == 0 && t == 0 { marker } else { "" }
            ));
        }
        set.insert(format!("s{s}.yaml"), doc.into_bytes());
    }
    set
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let base = std::env::var("DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into());
    let admin = sqlx::PgPool::connect(&base).await.expect("connect");
    let _ = sqlx::query("DROP DATABASE IF EXISTS mcpbox_gitops_bench")
        .execute(&admin)
        .await;
    sqlx::query("CREATE DATABASE mcpbox_gitops_bench")
        .execute(&admin)
        .await
        .expect("create db");
    let url = match base.rsplit_once('/') {
        Some((head, _)) => format!("{head}/mcpbox_gitops_bench"),
        None => panic!("DATABASE_URL has no database name"),
    };
    let pool = sqlx::PgPool::connect(&url).await.expect("connect bench db");
    mcpbox_gitops::state::migrate::migrate(&pool)
        .await
        .expect("migrate");
    println!(
        "{:>8} {:>8} {:>12} {:>12} {:>12} {:>14} {:>12} {:>14}",
        "servers",
        "objects",
        "apply grow",
        "plan no-op",
        "apply 1 tool",
        "plan 1 change",
        "md (all)",
        "saved check"
    );
    for servers in [10usize, 50, 200] {
        // Grow the database to `servers` servers.
        let files = repo(servers, "v1");
        let desired = mcpbox_gitops::desired::build(&files).expect("valid");
        let opts = mcpbox_gitops::apply::Options {
            allow_destroy: true,
            ..Default::default()
        };
        let t = Instant::now();
        mcpbox_gitops::apply::execute(&pool, &desired, None, &opts)
            .await
            .expect("apply");
        let apply_all = t.elapsed();
        let t = Instant::now();
        let actual = mcpbox_gitops::state::read::snapshot(&pool)
            .await
            .expect("read");
        let plan = mcpbox_gitops::plan::diff::diff(&desired, &actual).expect("diff");
        let plan_noop = t.elapsed();
        assert!(!plan.has_changes());
        let changed = mcpbox_gitops::desired::build(&repo(servers, "v2")).expect("valid");
        let t = Instant::now();
        let actual = mcpbox_gitops::state::read::snapshot(&pool)
            .await
            .expect("read");
        let plan = mcpbox_gitops::plan::diff::diff(&changed, &actual).expect("diff");
        let plan_one = t.elapsed();
        assert_eq!(plan.summary.change, 1);
        // The PR comment of the whole repository as a create plan (every object,
        // cut to GitHub's limit), and the saved plan's per-row check.
        let create = mcpbox_gitops::plan::diff::diff(
            &desired,
            &mcpbox_gitops::state::ActualState::default(),
        )
        .expect("diff");
        let t = Instant::now();
        let md = mcpbox_gitops::plan::render::markdown::render(
            &create,
            &mcpbox_gitops::plan::render::markdown::PrContext::local(&create.source),
        );
        let markdown = t.elapsed();
        assert!(md.contains("s0/t0") && md.chars().count() <= 65_536);
        let t = Instant::now();
        let saved = mcpbox_gitops::plan::saved::SavedPlan::new(
            plan.clone(),
            &actual,
            "bench".into(),
            50,
            false,
            Default::default(),
        );
        assert!(saved.moved(&actual).is_empty());
        let saved_check = t.elapsed();
        let t = Instant::now();
        mcpbox_gitops::apply::execute(&pool, &changed, None, &opts)
            .await
            .expect("apply");
        let apply_one = t.elapsed();
        println!(
            "{servers:>8} {:>8} {:>10.1}ms {:>10.1}ms {:>10.1}ms {:>12.1}ms {:>10.1}ms {:>12.1}ms",
            desired.len(),
            apply_all.as_secs_f64() * 1000.0,
            plan_noop.as_secs_f64() * 1000.0,
            apply_one.as_secs_f64() * 1000.0,
            plan_one.as_secs_f64() * 1000.0,
            markdown.as_secs_f64() * 1000.0,
            saved_check.as_secs_f64() * 1000.0
        );
    }
    pool.close().await;
    let _ = sqlx::query("DROP DATABASE IF EXISTS mcpbox_gitops_bench")
        .execute(&admin)
        .await;
}
