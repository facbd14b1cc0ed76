//! `db migrate` / `db check`: MCPBox's schema byte-for-byte, and coexistence with
//! a database MCPBox's own Alembic migrated.

use mcpbox_gitops::state::migrate;
use sqlx::PgPool;

use crate::common::url;

/// The reference file is the oracle: the fingerprint of our migration must equal it.
#[sqlx::test(migrations = false)]
async fn migrate_reproduces_mcpbox_schema_fingerprint(pool: PgPool) {
    let m = migrate::migrate(&pool).await.unwrap();
    assert!(m.created_mcpbox_schema);
    // Ours: ownership, daemon, owner, quarantine, ….
    assert_eq!(m.applied.len(), migrate::our_migrations());
    assert!(m.applied.len() >= 4);
    let root = concat!(env!("CARGO_MANIFEST_DIR"), "/reference");
    let out = std::process::Command::new(format!("{root}/schema-fingerprint"))
        .arg(url(&pool))
        .output()
        .expect("run schema-fingerprint (needs psql)");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let want = std::fs::read_to_string(format!("{root}/mcpbox-schema-0002.txt")).unwrap();
    let got = String::from_utf8(out.stdout).unwrap();
    let diff = similar::TextDiff::from_lines(&want, &got)
        .unified_diff()
        .to_string();
    assert!(got == want, "schema differs from the reference:\n{diff}");
    // Alembic's bookkeeping, so MCPBox's start-up `alembic upgrade head` is a no-op.
    let rev: String = sqlx::query_scalar("SELECT version_num FROM alembic_version")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(rev, "0002");
    let comment: Option<String> = sqlx::query_scalar("SELECT col_description('tools'::regclass, (SELECT attnum FROM pg_attribute WHERE attrelid = 'tools'::regclass AND attname = 'current_version'))")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(
        comment.as_deref(),
        Some("Current version number of this tool")
    );
}

#[sqlx::test(migrations = false)]
async fn migrate_twice_is_a_noop(pool: PgPool) {
    migrate::migrate(&pool).await.unwrap();
    let again = migrate::migrate(&pool).await.unwrap();
    assert!(!again.created_mcpbox_schema);
    assert!(again.applied.is_empty());
    assert!(migrate::check(&pool).await.unwrap().problems().is_empty());
}

/// A database MCPBox's Alembic migrated (simulated with the same DDL applied
/// outside our runner, plus a row MCPBox wrote): only our bookkeeping is created.
#[sqlx::test(migrations = false)]
async fn migrate_leaves_an_mcpbox_migrated_database_untouched(pool: PgPool) {
    let ddl = include_str!("../../migrations/mcpbox/20260302000000_mcpbox_schema_0002.sql");
    sqlx::raw_sql(ddl).execute(&pool).await.unwrap();
    sqlx::query("INSERT INTO servers (id, name, status, default_timeout_ms) VALUES (gen_random_uuid(), 'existing', 'running', 30000)").execute(&pool).await.unwrap();
    let before = migrate::check(&pool).await.unwrap();
    assert_eq!(before.alembic_revision.as_deref(), Some("0002"));
    assert_eq!(before.pending.len(), migrate::our_migrations());
    let m = migrate::migrate(&pool).await.unwrap();
    assert!(!m.created_mcpbox_schema);
    assert_eq!(m.applied.len(), migrate::our_migrations());
    let n: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM servers WHERE name = 'existing' AND status = 'running'",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(n, 1);
    let ours: bool =
        sqlx::query_scalar("SELECT to_regclass('mcpbox_gitops.ownership') IS NOT NULL")
            .fetch_one(&pool)
            .await
            .unwrap();
    assert!(ours);
}

#[sqlx::test(migrations = false)]
async fn migrate_refuses_another_alembic_revision(pool: PgPool) {
    let ddl = include_str!("../../migrations/mcpbox/20260302000000_mcpbox_schema_0002.sql");
    sqlx::raw_sql(ddl).execute(&pool).await.unwrap();
    sqlx::query("UPDATE alembic_version SET version_num = '0003'")
        .execute(&pool)
        .await
        .unwrap();
    let err = migrate::migrate(&pool).await.unwrap_err();
    assert!(err.to_string().contains("revision 0003"), "{err}");
    let status = migrate::check(&pool).await.unwrap();
    assert!(status.problems().iter().any(|p| p.contains("0003")));
}

#[sqlx::test(migrations = false)]
async fn check_reports_an_empty_database(pool: PgPool) {
    let status = migrate::check(&pool).await.unwrap();
    let problems = status.problems();
    assert!(
        problems.iter().any(|p| p.contains("tables are missing")),
        "{problems:?}"
    );
}
