//! Issue 13.6: crash consistency as a test. An apply of 1,000 tools is killed
//! (SIGKILL) or has its backend terminated at random moments; every time the
//! database is exactly the state before or exactly the state after — every
//! table's row count on one side, and a plan of that side empty — and the next
//! apply converges. `MCPBOX_GITOPS_CRASH_ROUNDS=100` runs the long mode.

use std::path::Path;
use std::time::{Duration, Instant};

use sqlx::PgPool;

/// Tables whose rows an apply writes, ours included. The last three only grow
/// (versions, audit rows, our apply records): they are compared by growth.
const TABLES: [&str; 9] = [
    "servers",
    "tools",
    "server_secrets",
    "network_access_requests",
    "global_config",
    "mcpbox_gitops.ownership",
    "tool_versions",
    "activity_logs",
    "mcpbox_gitops.applies",
];

/// How many of [`TABLES`], from the end, only grow.
const APPEND_ONLY: usize = 3;

/// `counts` with the append-only tables as growth since `base`.
fn shape(counts: &[i64], base: &[i64]) -> Vec<i64> {
    let split = counts.len() - APPEND_ONLY;
    counts[..split]
        .iter()
        .copied()
        .chain(
            counts[split..]
                .iter()
                .zip(&base[split..])
                .map(|(n, b)| n - b),
        )
        .collect()
}

/// A repository of `servers` × `per` tools; `rev` changes every other tool's
/// code and drops the last server, so the second apply updates, creates
/// versions, deletes and prunes.
fn write_repo(root: &Path, servers: usize, per: usize, rev: usize) {
    let _ = std::fs::remove_dir_all(root);
    std::fs::create_dir_all(root).unwrap();
    let count = if rev == 0 { servers } else { servers - 1 };
    for s in 0..count {
        let mut doc = format!(
            "apiVersion: mcpbox/v1\nkind: Server\nmetadata: {{name: s{s}}}\nspec:\n  secrets: [{{name: TOKEN}}]\n  network:\n    - {{host: api{s}.example.com, port: 443, justification: api}}\n"
        );
        for t in 0..per {
            let r = if rev > 0 && t % 2 == 0 { rev } else { 0 };
            doc.push_str(&format!(
                "---\napiVersion: mcpbox/v1\nkind: Tool\nmetadata: {{name: t{t}, server: s{s}}}\nspec:\n  timeoutMs: 5000\n  code: |\n    async def main(q: str, n: int = {r}):\n        return {{\"q\": q, \"t\": {t}, \"r\": {r}}}\n"
            ));
        }
        std::fs::write(root.join(format!("s{s}.yaml")), doc).unwrap();
    }
}

async fn counts(pool: &PgPool) -> Vec<i64> {
    let mut out = Vec::new();
    for t in TABLES {
        let n: i64 = sqlx::query_scalar(&format!("SELECT count(*) FROM {t}"))
            .fetch_one(pool)
            .await
            .unwrap();
        out.push(n);
    }
    out
}

fn bin(url: &str) -> std::process::Command {
    let mut cmd = std::process::Command::new(assert_cmd::cargo::cargo_bin("mcpbox-gitops"));
    cmd.env("DATABASE_URL", url)
        .env("NO_COLOR", "1")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped());
    cmd
}

fn apply(url: &str, repo: &Path) {
    let out = bin(url)
        .args(["apply", "--auto-approve", "--allow-destroy"])
        .arg(repo)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Whether a plan of `repo` against the database is empty.
fn plan_is_empty(url: &str, repo: &Path) -> bool {
    let out = bin(url)
        .args(["plan", "--detailed-exitcode"])
        .arg(repo)
        .output()
        .unwrap();
    out.status.code() == Some(0)
}

/// A small deterministic generator: no dependency on rand's seeding here.
fn next(seed: &mut u64) -> u64 {
    *seed ^= *seed << 13;
    *seed ^= *seed >> 7;
    *seed ^= *seed << 17;
    *seed
}

#[sqlx::test(migrations = false)]
async fn killed_or_terminated_applies_leave_before_or_after(pool: PgPool) {
    crate::common::migrate(&pool).await;
    let url = crate::common::url(&pool);
    let rounds: usize = std::env::var("MCPBOX_GITOPS_CRASH_ROUNDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10);
    let tmp = tempfile::tempdir().unwrap();
    // One repository (one source) at two states: A, and B after a commit.
    let (a, b) = (tmp.path().join("repo"), tmp.path().join("repo"));
    let to_a = || write_repo(&a, 100, 10, 0);
    let to_b = || write_repo(&b, 100, 10, 1);
    to_a();
    // The two states, and how long the A → B apply takes.
    apply(&url, &a);
    let base = counts(&pool).await;
    to_b();
    let t = Instant::now();
    apply(&url, &b);
    let span = t.elapsed();
    // The state of A and of B: row counts, and for the append-only tables what
    // one apply from A adds (nothing before it, a fixed growth after it).
    let before = shape(&base, &base);
    let after = shape(&counts(&pool).await, &base);
    assert_ne!(before, after);
    let mut seed = 0x9e37_79b9_7f4a_7c15_u64;
    let (mut saw_before, mut saw_after, mut refused) = (0, 0, 0);
    for round in 0..rounds {
        to_a();
        apply(&url, &a);
        let pre = counts(&pool).await;
        to_b();
        assert_eq!(shape(&pre, &pre), before, "round {round}: back to A");
        // A moment within the apply, from its start to a little past its end.
        let at = Duration::from_millis(next(&mut seed) % (span.as_millis() as u64 * 11 / 10 + 1));
        let terminate = round % 2 == 1;
        let mut child = bin(&url)
            .args(["apply", "--auto-approve", "--allow-destroy"])
            .arg(&b)
            .spawn()
            .unwrap();
        tokio::time::sleep(at).await;
        if terminate {
            // The backend dies under the apply (a failover, an admin's kill).
            sqlx::query(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity
                  WHERE application_name LIKE 'mcpbox-gitops%' AND datname = current_database() AND pid <> pg_backend_pid()",
            )
            .execute(&pool)
            .await
            .unwrap();
        } else {
            let _ = child.kill();
        }
        let out = child.wait_with_output().unwrap();
        // miette wraps long messages: join its continuation lines.
        let stderr = String::from_utf8_lossy(&out.stderr)
            .lines()
            .map(|l| l.trim_start().trim_start_matches('│').trim())
            .collect::<Vec<_>>()
            .join(" ");
        if terminate && !out.status.success() {
            refused += 1;
            // Said plainly: nothing was applied, run it again (or, at COMMIT,
            // which way it went).
            assert!(
                stderr.contains("nothing was applied")
                    || stderr.contains("nothing was read or written")
                    || stderr.contains("it committed"),
                "round {round}: {stderr}"
            );
        }
        // Let PostgreSQL finish with a killed client's backend.
        for _ in 0..50 {
            let busy: i64 = sqlx::query_scalar(
                "SELECT count(*) FROM pg_stat_activity WHERE application_name LIKE 'mcpbox-gitops%' AND datname = current_database() AND pid <> pg_backend_pid()",
            )
            .fetch_one(&pool)
            .await
            .unwrap();
            if busy == 0 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let now = shape(&counts(&pool).await, &pre);
        if now == before {
            saw_before += 1;
            to_a();
            let empty = plan_is_empty(&url, &a);
            to_b();
            assert!(empty, "round {round}: counts of A but not A");
        } else if now == after {
            saw_after += 1;
            assert!(
                plan_is_empty(&url, &b),
                "round {round}: counts of B but not B"
            );
        } else {
            panic!("round {round} ({at:?}): neither before nor after:\n{now:?}\n{before:?}\n{after:?}\n{stderr}");
        }
        // Convergence: the next apply reaches B, and then nothing is left.
        apply(&url, &b);
        assert!(plan_is_empty(&url, &b), "round {round}: did not converge");
    }
    eprintln!(
        "{rounds} rounds: {saw_before} left the state before, {saw_after} after; {refused} terminated applies said so"
    );
    assert_eq!(saw_before + saw_after, rounds);
}
