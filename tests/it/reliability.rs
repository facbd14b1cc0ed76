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
