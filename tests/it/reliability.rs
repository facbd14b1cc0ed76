//! Issue 13, the parts this release covers, through the real binary: an apply
//! that waits for the lock names its holder and gives up cleanly, and a
//! database that cannot be reached is named with the reason, nothing written.

use assert_cmd::Command;
use sqlx::{Connection, PgPool};

fn bin(url: &str) -> Command {
    let mut cmd = Command::cargo_bin("mcpbox-gitops").unwrap();
    cmd.current_dir(env!("CARGO_MANIFEST_DIR"))
        .env("DATABASE_URL", url)
        .env("NO_COLOR", "1");
    cmd
}

fn output(cmd: &mut Command) -> (i32, String) {
    let out = cmd.output().unwrap();
    let text =
        String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    // miette wraps long lines: join them for matching.
    let flat = text
        .lines()
        .map(|l| l.trim_start().trim_start_matches('│').trim())
        .collect::<Vec<_>>()
        .join(" ");
    (out.status.code().unwrap_or(-1), flat)
}

/// Issue 13.3: while another process holds the apply lock, apply says who it
/// is (pid, application, since when), and `--lock-timeout` ends the wait with
/// an error naming the holder; nothing is written.
#[sqlx::test(migrations = false)]
async fn a_waiting_apply_names_the_holder_of_the_lock(pool: PgPool) {
    crate::common::migrate(&pool).await;
    let url = crate::common::url(&pool);
    let mut holder = sqlx::PgConnection::connect(&format!("{url}?application_name=ci-job-42"))
        .await
        .unwrap();
    let holder_pid: i32 = sqlx::query_scalar("SELECT pg_backend_pid()")
        .fetch_one(&mut holder)
        .await
        .unwrap();
    let got: bool = sqlx::query_scalar("SELECT pg_try_advisory_lock($1)")
        .bind(mcpbox_gitops::apply::execute::APPLY_LOCK)
        .fetch_one(&mut holder)
        .await
        .unwrap();
    assert!(got);
    let (code, text) = output(bin(&url).args([
        "apply",
        "examples/homelab",
        "--auto-approve",
        "--lock-timeout",
        "1s",
    ]));
    assert_eq!(code, 1, "{text}");
    assert!(text.contains("waiting for another apply"), "{text}");
    assert!(
        text.contains(&format!("backend pid {holder_pid}")) && text.contains("ci-job-42"),
        "{text}"
    );
    assert!(text.contains("gave up after 1 s"), "{text}");
    let tools: i64 = sqlx::query_scalar("SELECT count(*) FROM tools")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(tools, 0, "nothing was applied");
    // Released: the same apply goes through.
    drop(holder);
    let (code, text) = output(bin(&url).args(["apply", "examples/homelab", "--auto-approve"]));
    assert_eq!(code, 0, "{text}");
}

/// Issue 13.9: a database that is down or missing is named with the reason
/// (not "pool timed out"), and the URL's password never shows.
#[test]
fn unreachable_databases_are_named_with_the_reason() {
    // Nothing listens on port 1.
    let (code, text) = output(
        bin("postgres://postgres:pw-Hx81@127.0.0.1:1/mcpbox").args(["plan", "examples/homelab"]),
    );
    assert_eq!(code, 1, "{text}");
    assert!(
        text.contains("cannot connect to the database at 127.0.0.1:1/mcpbox")
            && text.contains("is PostgreSQL running"),
        "{text}"
    );
    assert!(!text.contains("pw-Hx81"), "{text}");
    let (code, text) = output(
        bin("postgres://postgres@127.0.0.1:5432/no_such_db_for_mcpbox_gitops")
            .args(["db", "check"]),
    );
    assert_eq!(code, 1, "{text}");
    assert!(text.contains("does not exist"), "{text}");
}

/// A TCP proxy in front of the test's PostgreSQL that, the first time a
/// client sends `COMMIT` on a connection that recorded an apply (inserted into
/// `mcpbox_gitops.applies`), either forwards it and then cuts both sides before
/// the answer comes back (`forward = true`: the server commits, the client
/// never hears), or cuts without forwarding it (the server rolls back).
async fn commit_cutting_proxy(forward: bool) -> u16 {
    cutting_proxy(if forward {
        Cut::AfterCommit
    } else {
        Cut::BeforeCommit
    })
    .await
}

/// What the proxy does at the first COMMIT of a connection that recorded an apply.
#[derive(Clone, Copy, PartialEq)]
enum Cut {
    /// Forward it, then close both sides before the answer comes back.
    AfterCommit,
    /// Close both sides without forwarding it.
    BeforeCommit,
    /// Forward it, then go silent both ways while keeping the server's side
    /// open: a half-open connection, idle on the server after its COMMIT.
    Blackhole,
}

async fn cutting_proxy(mode: Cut) -> u16 {
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::Arc;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let cut = Arc::new(AtomicBool::new(false));
    tokio::spawn(async move {
        // Bounded: a test makes a handful of connections.
        for _ in 0..64 {
            let Ok((client, _)) = listener.accept().await else {
                return;
            };
            let Ok(server) = tokio::net::TcpStream::connect("127.0.0.1:5432").await else {
                return;
            };
            let cut = cut.clone();
            tokio::spawn(async move {
                let (mut cr, mut cw) = client.into_split();
                let (mut sr, mut sw) = server.into_split();
                let back = tokio::spawn(async move {
                    let _ = tokio::io::copy(&mut sr, &mut cw).await;
                });
                let mut buf = vec![0u8; 64 * 1024];
                let mut recorded = false;
                loop {
                    let n = match cr.read(&mut buf).await {
                        Ok(0) | Err(_) => break,
                        Ok(n) => n,
                    };
                    let chunk = &buf[..n];
                    let record = b"INSERT INTO mcpbox_gitops.applies";
                    recorded |= chunk.windows(record.len()).any(|w| w == record);
                    let is_commit = chunk.windows(6).any(|w| w == b"COMMIT");
                    if recorded && is_commit && !cut.swap(true, Ordering::SeqCst) {
                        // The answer must never reach the client: stop the way
                        // back first (dropping the client's side of it).
                        back.abort();
                        let _ = back.await;
                        if mode != Cut::BeforeCommit {
                            let _ = sw.write_all(chunk).await;
                            // Let the server commit before its line goes dead too;
                            // a black hole keeps the server's side open longer.
                            let hold = if mode == Cut::Blackhole { 30_000 } else { 300 };
                            tokio::time::sleep(std::time::Duration::from_millis(hold)).await;
                        }
                        return;
                    }
                    if sw.write_all(chunk).await.is_err() {
                        break;
                    }
                }
                back.abort();
            });
        }
    });
    port
}

fn via_proxy(pool: &PgPool, port: u16) -> String {
    let o = pool.connect_options();
    format!(
        "postgres://{}@127.0.0.1:{port}/{}",
        o.get_username(),
        o.get_database().unwrap_or("postgres")
    )
}

/// Issue 13.2: the connection dies right after COMMIT was sent and the server
/// committed: apply does not claim a rollback; it looks its record up on a
/// new connection and reports the apply as done.
#[sqlx::test(migrations = false)]
async fn a_commit_whose_answer_is_lost_is_found_committed(pool: PgPool) {
    crate::common::migrate(&pool).await;
    let port = commit_cutting_proxy(true).await;
    let url = via_proxy(&pool, port);
    let out = tokio::task::spawn_blocking(move || {
        output(bin(&url).args(["apply", "examples/homelab", "--auto-approve"]))
    })
    .await
    .unwrap();
    let (code, text) = out;
    assert!(text.contains("lost at COMMIT"), "{text}");
    assert!(text.contains("it committed"), "{text}");
    assert!(!text.contains("rolled back"), "{text}");
    assert_eq!(code, 0, "{text}");
    let tools: i64 = sqlx::query_scalar("SELECT count(*) FROM tools")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(tools, 12);
}

/// Issue 13.2: the connection dies before the server saw COMMIT: the
/// transaction rolled back, and apply says so with certainty.
#[sqlx::test(migrations = false)]
async fn a_commit_that_never_arrived_is_reported_not_committed(pool: PgPool) {
    crate::common::migrate(&pool).await;
    let port = commit_cutting_proxy(false).await;
    let url = via_proxy(&pool, port);
    let (code, text) = tokio::task::spawn_blocking(move || {
        output(bin(&url).args(["apply", "examples/homelab", "--auto-approve"]))
    })
    .await
    .unwrap();
    assert_eq!(code, 1, "{text}");
    assert!(
        text.contains("is not recorded: it did not commit and nothing was applied"),
        "{text}"
    );
    let tools: i64 = sqlx::query_scalar("SELECT count(*) FROM tools")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(tools, 0);
}

/// Issue 13.9: a database that is not MCPBox's, or one at another Alembic
/// revision, is refused by plan and apply with one message saying what and how
/// to fix it, and nothing is written.
#[sqlx::test(migrations = false)]
async fn databases_apply_cannot_use_are_refused_with_the_fix(pool: PgPool) {
    let url = crate::common::url(&pool);
    // An empty database: not MCPBox's (yet).
    for cmd in [
        vec!["plan", "examples/homelab"],
        vec!["apply", "examples/homelab", "--auto-approve"],
    ] {
        let (code, text) = output(bin(&url).args(&cmd));
        assert_eq!(code, 1, "{cmd:?}: {text}");
        assert!(
            text.contains("MCPBox's tables are missing") && text.contains("db migrate"),
            "{cmd:?}: {text}"
        );
    }
    let tables: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM information_schema.tables WHERE table_schema = 'public'",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(tables, 0, "nothing was created");
    // MCPBox upgraded past the revision we write.
    crate::common::migrate(&pool).await;
    sqlx::query("UPDATE alembic_version SET version_num = '0003'")
        .execute(&pool)
        .await
        .unwrap();
    let (code, text) = output(bin(&url).args(["apply", "examples/homelab", "--auto-approve"]));
    assert_eq!(code, 1, "{text}");
    assert!(
        text.contains("Alembic revision 0003") && text.contains("0002"),
        "{text}"
    );
    let servers: i64 = sqlx::query_scalar("SELECT count(*) FROM servers")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(servers, 0);
}

const RACE_SERVER: &str = "apiVersion: mcpbox/v1
kind: Server
metadata: {name: github}
spec:
  secrets: [{name: TOKEN}]
  network:
    - {host: api.github.com, port: 443, justification: api}
";

fn race_tool(name: &str, rev: u32) -> String {
    format!(
        "apiVersion: mcpbox/v1\nkind: Tool\nmetadata: {{name: {name}, server: github}}\nspec:\n  description: tool {name}\n  code: |\n    async def main(q: str):\n        return {{\"q\": q, \"rev\": {rev}}}\n"
    )
}

fn race_repo(dir: &std::path::Path, rev_a: u32) {
    std::fs::write(dir.join("server.yaml"), RACE_SERVER).unwrap();
    std::fs::write(dir.join("a.yaml"), race_tool("a", rev_a)).unwrap();
    std::fs::write(dir.join("b.yaml"), race_tool("b", 1)).unwrap();
}

/// Issue 13.7: while an apply sits between its read and its writes (a test
/// pause), MCPBox's UI or LLM writes on another connection. No such write is
/// ever lost silently: it is still in the database afterwards, and when it
/// touched a row the apply writes, the apply was refused and rolled back
/// (REPEATABLE READ: "could not serialize access") instead of overwriting it.
#[sqlx::test(migrations = false)]
async fn racing_mcpbox_writes_are_never_lost_silently(pool: PgPool) {
    crate::common::migrate(&pool).await;
    let url = crate::common::url(&pool);
    // (what MCPBox does, SQL, whether it touches a row the apply writes, check)
    let races: [(&str, &str, bool, &str); 7] = [
        ("edit the changed tool's description", "UPDATE tools SET description = 'edited in the UI' WHERE name = 'a'", true,
         "SELECT count(*) FROM tools WHERE name = 'a' AND description = 'edited in the UI'"),
        ("revoke the changed tool", "UPDATE tools SET approval_status = 'rejected', rejection_reason = 'no' WHERE name = 'a'", true,
         "SELECT count(*) FROM tools WHERE name = 'a' AND approval_status = 'rejected'"),
        ("edit another tool's description", "UPDATE tools SET description = 'edited by the LLM' WHERE name = 'b'", false,
         "SELECT count(*) FROM tools WHERE name = 'b' AND description = 'edited by the LLM'"),
        ("approve another tool", "UPDATE tools SET approval_status = 'approved', approved_by = 'admin@ui', approved_at = now() WHERE name = 'b'", false,
         "SELECT count(*) FROM tools WHERE name = 'b' AND approved_by = 'admin@ui'"),
        ("request a host", "INSERT INTO network_access_requests (id, server_id, host, justification, requested_by, status, created_at, updated_at) SELECT gen_random_uuid(), id, 'evil.example.com', 'llm', 'llm', 'pending', now(), now() FROM servers WHERE name = 'github'", false,
         "SELECT count(*) FROM network_access_requests WHERE host = 'evil.example.com' AND status = 'pending'"),
        ("delete another tool", "DELETE FROM tools WHERE name = 'b'", false,
         "SELECT 1 - count(*) FROM tools WHERE name = 'b'"),
        ("set a secret's value", "UPDATE server_secrets SET encrypted_value = '\\x00'::bytea WHERE key_name = 'TOKEN'", false,
         "SELECT count(*) FROM server_secrets WHERE key_name = 'TOKEN' AND encrypted_value = '\\x00'::bytea"),
    ];
    let repo = tempfile::tempdir().unwrap();
    for (round, (what, sql, conflicts, check)) in races.iter().enumerate() {
        // State A: tool a at revision `round`; the apply moves it on.
        race_repo(repo.path(), round as u32);
        let (code, text) = output(
            bin(&url)
                .args(["apply", "--auto-approve", "--allow-destroy"])
                .arg(repo.path()),
        );
        assert_eq!(code, 0, "{what}: {text}");
        race_repo(repo.path(), 100 + round as u32);
        let pause = tempfile::tempdir().unwrap();
        let child = std::process::Command::new(assert_cmd::cargo::cargo_bin("mcpbox-gitops"))
            .args(["apply", "--auto-approve"])
            .arg(repo.path())
            .env("DATABASE_URL", &url)
            .env("NO_COLOR", "1")
            .env("MCPBOX_GITOPS_TEST_PAUSE", pause.path())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        // Bounded wait for the apply to reach its pause.
        for _ in 0..300 {
            if pause.path().join("paused").exists() {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        assert!(
            pause.path().join("paused").exists(),
            "{what}: the apply never paused"
        );
        sqlx::query(sql).execute(&pool).await.unwrap();
        std::fs::write(pause.path().join("resume"), b"").unwrap();
        let out = tokio::task::spawn_blocking(move || child.wait_with_output().unwrap())
            .await
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout).to_string()
            + &String::from_utf8_lossy(&out.stderr);
        let kept: i64 = sqlx::query_scalar(check).fetch_one(&pool).await.unwrap();
        assert_eq!(kept, 1, "{what}: MCPBox's write was lost\n{text}");
        if *conflicts {
            assert_eq!(out.status.code(), Some(1), "{what}: {text}");
            assert!(
                text.contains("could not serialize") && text.contains("nothing was applied"),
                "{what}: {text}"
            );
        } else {
            assert_eq!(out.status.code(), Some(0), "{what}: {text}");
        }
        // Restore tool b and the secret for the next round, as git says.
        let (code, text) = output(
            bin(&url)
                .args(["apply", "--auto-approve", "--allow-destroy"])
                .arg(repo.path()),
        );
        assert_eq!(code, 0, "{what}: {text}");
        sqlx::query("UPDATE server_secrets SET encrypted_value = NULL WHERE key_name = 'TOKEN'")
            .execute(&pool)
            .await
            .unwrap();
        sqlx::query("DELETE FROM network_access_requests WHERE host = 'evil.example.com'")
            .execute(&pool)
            .await
            .unwrap();
    }
}

/// Issue 13.5: two sources, one database. Each object records the source that
/// owns it; a plan of another source that declares it shows a conflict and
/// apply refuses it (nothing written) unless --take-ownership; and a source
/// never prunes another's objects.
#[sqlx::test(migrations = false)]
async fn two_sources_never_fight(pool: PgPool) {
    crate::common::migrate(&pool).await;
    let url = crate::common::url(&pool);
    let server = |name: &str| {
        format!("apiVersion: mcpbox/v1\nkind: Server\nmetadata: {{name: {name}}}\nspec: {{description: {name}}}\n")
    };
    let a = tempfile::tempdir().unwrap();
    let c = tempfile::tempdir().unwrap();
    std::fs::write(
        a.path().join("s.yaml"),
        server("shared") + "---\n" + &server("a_only"),
    )
    .unwrap();
    std::fs::write(
        c.path().join("s.yaml"),
        server("shared") + "---\n" + &server("c_only"),
    )
    .unwrap();
    let apply = |dir: &std::path::Path, extra: &[&str]| {
        output(
            bin(&url)
                .args(["apply", "--auto-approve", "--allow-destroy"])
                .args(extra)
                .arg(dir),
        )
    };
    let (code, text) = apply(a.path(), &[]);
    assert_eq!(code, 0, "{text}");
    let owner_a: String = sqlx::query_scalar(
        "SELECT owner FROM mcpbox_gitops.ownership WHERE kind = 'server' AND key = 'shared'",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert!(
        owner_a.ends_with(a.path().file_name().unwrap().to_str().unwrap()),
        "{owner_a}"
    );
    // C declares `shared` too: a conflict, refused, nothing written, and A's
    // own object is not pruned by C.
    let (code, text) = output(bin(&url).args(["plan"]).arg(c.path()));
    assert_eq!(code, 0, "{text}");
    assert!(
        text.contains("belong to another source") && text.contains("server shared (owned by"),
        "{text}"
    );
    assert!(!text.contains("a_only will be destroyed"), "{text}");
    let (code, text) = apply(c.path(), &[]);
    assert_eq!(code, 1, "{text}");
    assert!(text.contains("--take-ownership"), "{text}");
    let names = |pool: PgPool| async move {
        sqlx::query_scalar::<_, String>("SELECT name FROM servers ORDER BY name")
            .fetch_all(&pool)
            .await
            .unwrap()
    };
    assert_eq!(names(pool.clone()).await, ["a_only", "shared"]);
    // Taking ownership moves `shared` to C; A's other object stays A's.
    let (code, text) = apply(c.path(), &["--take-ownership"]);
    assert_eq!(code, 0, "{text}");
    assert_eq!(names(pool.clone()).await, ["a_only", "c_only", "shared"]);
    let owners: Vec<(String, String)> = sqlx::query_as(
        "SELECT key, owner FROM mcpbox_gitops.ownership WHERE kind = 'server' ORDER BY key",
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    assert_eq!(owners[0].1, owner_a, "a_only is still A's");
    assert_ne!(owners[2].1, owner_a, "shared moved to C");
    // A row recorded before owners were (NULL) is claimed by the source that
    // declares it, without a conflict.
    sqlx::query("UPDATE mcpbox_gitops.ownership SET owner = NULL WHERE key = 'c_only'")
        .execute(&pool)
        .await
        .unwrap();
    let (code, text) = apply(c.path(), &[]);
    assert_eq!(code, 0, "{text}");
    let claimed: Option<String> =
        sqlx::query_scalar("SELECT owner FROM mcpbox_gitops.ownership WHERE key = 'c_only'")
            .fetch_one(&pool)
            .await
            .unwrap();
    assert_eq!(claimed.as_deref(), Some(owners[2].1.as_str()));
}

/// Issue 13.3: the apply lock cannot outlive its holder's transaction. An
/// apply whose connection goes half-open right after COMMIT (the server
/// committed and sits idle; the client hears nothing) used to keep the
/// session lock until TCP keepalive gave up; the lock is the transaction's
/// now, released by that COMMIT, so the next apply gets it at once.
#[sqlx::test(migrations = false)]
async fn a_half_open_connection_after_commit_holds_no_lock(pool: PgPool) {
    crate::common::migrate(&pool).await;
    let port = cutting_proxy(Cut::Blackhole).await;
    let via = via_proxy(&pool, port);
    let (code, text) = tokio::task::spawn_blocking(move || {
        output(bin(&via).args(["apply", "examples/homelab", "--auto-approve"]))
    })
    .await
    .unwrap();
    // It could not learn the outcome while the old backend lived on.
    assert_eq!(code, 1, "{text}");
    assert!(text.contains("lost at COMMIT"), "{text}");
    // The half-open backend is still there, idle after its COMMIT…
    let idle: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()
            AND application_name LIKE 'mcpbox-gitops%' AND state = 'idle'",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert!(idle >= 1, "the black-holed connection should still be open");
    // A drifted row, so that the next apply has something to write (an
    // apply with nothing to do never takes the lock).
    sqlx::query("UPDATE tools SET description = 'drifted' WHERE name = 'forecast'")
        .execute(&pool)
        .await
        .unwrap();
    // …and holds no lock: the next apply goes through at once.
    let url = crate::common::url(&pool);
    let (code, text) = tokio::task::spawn_blocking(move || {
        output(bin(&url).args([
            "apply",
            "examples/homelab",
            "--auto-approve",
            "--lock-timeout",
            "2s",
        ]))
    })
    .await
    .unwrap();
    assert_eq!(code, 0, "{text}");
    assert!(text.contains("drift"), "{text}");
    let tools: i64 = sqlx::query_scalar("SELECT count(*) FROM tools")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(tools, 12, "the first apply committed");
}
