//! Issue 9, through the real binary: what a manifest may read (`valueFrom`), links
//! out of the repository, names printed raw, unbounded diagnostics, and keys and
//! rights checked up front. Each refusal leaves the database as it was.

use std::path::Path;

use assert_cmd::Command;
use sqlx::PgPool;

/// The key of the shared test vectors.
const KEY: &str = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
/// What must never reach MCPBox or any output: stands for the reconciler's own
/// credentials in its environment.
const OWN_SECRET: &str = "reconciler-own-Vb7Qm2Lx9";

fn server(value_from: &str) -> String {
    format!(
        "apiVersion: mcpbox/v1
kind: Server
metadata: {{name: github}}
spec:
  secrets:
    - name: TOKEN
      valueFrom: {value_from}
"
    )
}

fn bin(url: Option<&str>) -> Command {
    let mut cmd = Command::cargo_bin("mcpbox-gitops").unwrap();
    cmd.env("NO_COLOR", "1")
        .env("MCPBOX_ENCRYPTION_KEY", KEY)
        .env("DATABASE_URL_FOR_NOTHING", OWN_SECRET)
        .env("GIT_TOKEN", OWN_SECRET)
        .env("SANDBOX_API_KEY", OWN_SECRET)
        .env_remove("MCPBOX_GITOPS_VALUES_DIRS")
        .env_remove("MCPBOX_GITOPS_ENV_PREFIXES");
    match url {
        Some(u) => cmd.env("DATABASE_URL", u),
        None => cmd.env_remove("DATABASE_URL"),
    };
    cmd
}

/// Runs; returns (exit code, stdout + stderr), asserting nothing of ours leaked.
fn run(cmd: &mut Command) -> (i32, String) {
    let out = cmd.output().unwrap();
    let text =
        String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    assert!(!text.contains(OWN_SECRET), "leaked:\n{text}");
    assert!(!text.contains(KEY), "leaked the key:\n{text}");
    // miette wraps long messages: join its continuation lines for matching.
    let mut flat = String::with_capacity(text.len());
    for (i, line) in text.split('\n').enumerate() {
        match line.trim_start().strip_prefix("│ ") {
            Some(rest) if i > 0 => {
                flat.push(' ');
                flat.push_str(rest);
            }
            _ => {
                if i > 0 {
                    flat.push('\n');
                }
                flat.push_str(line);
            }
        }
    }
    (out.status.code().unwrap_or(-1), flat)
}

/// Every stored secret value of the database, as (key name, bytes or null).
async fn secrets(pool: &PgPool) -> Vec<(String, Option<Vec<u8>>)> {
    sqlx::query_as("SELECT key_name, encrypted_value FROM server_secrets ORDER BY key_name")
        .fetch_all(pool)
        .await
        .unwrap()
}

fn write(dir: &Path, name: &str, text: &str) {
    std::fs::write(dir.join(name), text).unwrap();
}

/// Issue 9.1: `//proc/self/environ`, `/etc/../proc/self/environ` and a link to it
/// from an allowed directory are all refused, and nothing reaches MCPBox.
#[sqlx::test(migrations = false)]
async fn value_files_cannot_reach_proc_however_spelled(pool: PgPool) {
    crate::common::migrate(&pool).await;
    let url = crate::common::url(&pool);
    let values = tempfile::tempdir().unwrap();
    #[cfg(unix)]
    std::os::unix::fs::symlink("/proc/self/environ", values.path().join("env")).unwrap();
    let link = values.path().join("env");
    let cases = [
        ("//proc/self/environ", "system file"),
        ("/etc/../proc/self/environ", "system file"),
        (link.to_str().unwrap(), "which can expose the reconciler"),
    ];
    for (file, phrase) in cases {
        let repo = tempfile::tempdir().unwrap();
        write(
            repo.path(),
            "s.yaml",
            &server(&format!("{{file: '{file}'}}")),
        );
        let (code, text) = run(bin(Some(&url))
            .args(["apply", "--auto-approve", "--values-dir"])
            .arg(values.path())
            .arg(repo.path()));
        assert_eq!(code, 1, "{file}: {text}");
        assert!(text.contains(phrase), "{file}: {text}");
        assert!(secrets(&pool).await.is_empty(), "{file}: a row was written");
    }
}

/// Issue 9.1: without `--values-dir` no value file is read; outside one it is
/// refused; inside one it is stored.
#[sqlx::test(migrations = false)]
async fn value_files_must_resolve_inside_a_values_directory(pool: PgPool) {
    crate::common::migrate(&pool).await;
    let url = crate::common::url(&pool);
    let values = tempfile::tempdir().unwrap();
    let elsewhere = tempfile::tempdir().unwrap();
    write(values.path(), "token", "in-the-volume-Pw3\n");
    write(elsewhere.path(), "token", "elsewhere-Hk2\n");
    #[cfg(unix)]
    std::os::unix::fs::symlink(elsewhere.path().join("token"), values.path().join("escape"))
        .unwrap();
    let repo = tempfile::tempdir().unwrap();
    let apply = |file: &Path, dirs: &[&Path]| {
        write(
            repo.path(),
            "s.yaml",
            &server(&format!("{{file: '{}'}}", file.display())),
        );
        let mut cmd = bin(Some(&url));
        cmd.args(["apply", "--auto-approve"]);
        for d in dirs {
            cmd.arg("--values-dir").arg(d);
        }
        run(cmd.arg(repo.path()))
    };
    let (code, text) = apply(&values.path().join("token"), &[]);
    assert_eq!(code, 1, "{text}");
    assert!(text.contains("no values directory is allowed"), "{text}");
    let (code, text) = apply(&elsewhere.path().join("token"), &[values.path()]);
    assert_eq!(code, 1, "{text}");
    assert!(text.contains("outside the values directories"), "{text}");
    let (code, text) = apply(&values.path().join("escape"), &[values.path()]);
    assert_eq!(code, 1, "{text}");
    assert!(text.contains("a symbolic link may not lead out"), "{text}");
    assert!(secrets(&pool).await.is_empty());
    let (code, text) = apply(&values.path().join("token"), &[values.path()]);
    assert_eq!(code, 0, "{text}");
    let stored = secrets(&pool).await;
    assert_eq!(stored.len(), 1);
    assert!(stored[0].1.is_some(), "the value was stored");
}

/// Issue 9.1: variables need the prefix and are never the reconciler's own.
#[test]
fn value_variables_need_the_prefix_and_are_never_our_own() {
    let repo = tempfile::tempdir().unwrap();
    // The reconciler's own: refused offline, by validate.
    for var in [
        "MCPBOX_ENCRYPTION_KEY",
        "DATABASE_URL",
        "SANDBOX_API_KEY",
        "MCPBOX_GITOPS_X",
    ] {
        write(repo.path(), "s.yaml", &server(&format!("{{env: {var}}}")));
        let (code, text) = run(bin(None).arg("validate").arg(repo.path()));
        assert_eq!(code, 1, "{var}: {text}");
        assert!(text.contains("own credentials"), "{var}: {text}");
    }
    // Any other variable of the runner: refused by plan, by prefix.
    write(repo.path(), "s.yaml", &server("{env: CI_RUNNER_PAT}"));
    let (code, text) = run(bin(None)
        .env("CI_RUNNER_PAT", OWN_SECRET)
        .arg("plan")
        .arg(repo.path()));
    assert_eq!(code, 1, "{text}");
    assert!(text.contains("MCPBOX_SECRET_"), "{text}");
    // The operator may allow it; a name --git-token-env configures stays reserved.
    let (code, text) = run(bin(None)
        .env("CI_RUNNER_PAT", "allowed-value-Jx8")
        .args(["plan", "--env-prefix", "CI_"])
        .arg(repo.path()));
    assert_eq!(code, 0, "{text}");
    let (code, text) = run(bin(None)
        .env("CI_RUNNER_PAT", OWN_SECRET)
        .args([
            "plan",
            "--env-prefix",
            "CI_",
            "--git-token-env",
            "CI_RUNNER_PAT",
        ])
        .arg(repo.path()));
    assert_eq!(code, 1, "{text}");
    assert!(text.contains("own credentials"), "{text}");
}

/// Issue 9.2: a folder linked out of the repository stops the plan (E032, by
/// path) instead of planning its objects as deletions.
#[cfg(unix)]
#[sqlx::test(migrations = false)]
async fn a_folder_linked_outside_stops_the_plan(pool: PgPool) {
    crate::common::migrate(&pool).await;
    let url = crate::common::url(&pool);
    let repo = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(repo.path().join("servers")).unwrap();
    write(repo.path(), "a.yaml", &server("{env: MCPBOX_SECRET_A}"));
    let other = "apiVersion: mcpbox/v1\nkind: Server\nmetadata: {name: other}\nspec: {}\n";
    write(&repo.path().join("servers"), "other.yaml", other);
    let (code, text) = run(bin(Some(&url))
        .env("MCPBOX_SECRET_A", "a-value-Rt5")
        .args(["apply", "--auto-approve"])
        .arg(repo.path()));
    assert_eq!(code, 0, "{text}");
    // The folder moves out of the repository, a link left in its place.
    let outside = tempfile::tempdir().unwrap();
    std::fs::rename(repo.path().join("servers"), outside.path().join("servers")).unwrap();
    std::os::unix::fs::symlink(outside.path().join("servers"), repo.path().join("servers"))
        .unwrap();
    let before: i64 = sqlx::query_scalar("SELECT count(*) FROM servers")
        .fetch_one(&pool)
        .await
        .unwrap();
    let (code, text) = run(bin(Some(&url))
        .env("MCPBOX_SECRET_A", "a-value-Rt5")
        .args(["apply", "--auto-approve", "--allow-destroy"])
        .arg(repo.path()));
    assert_eq!(code, 1, "{text}");
    assert!(
        text.contains("E032") && text.contains("servers: symbolic link leads outside"),
        "{text}"
    );
    assert!(text.contains("help: replace the link"), "{text}");
    let after: i64 = sqlx::query_scalar("SELECT count(*) FROM servers")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!((before, after), (2, 2), "nothing was deleted");
}

/// Issue 9.3: a file name cannot forge a line of output; a name that is not
/// UTF-8 is said to be so.
#[cfg(unix)]
#[test]
fn file_names_are_printed_escaped() {
    use std::os::unix::ffi::OsStrExt;
    let repo = tempfile::tempdir().unwrap();
    let forged = "x\n::error file=ok.yaml::forged\n.yaml";
    write(repo.path(), forged, "kind: [unclosed\n");
    let raw = std::ffi::OsStr::from_bytes(b"n\xffo.yaml");
    std::fs::write(repo.path().join(raw), "kind: Server\n").unwrap();
    let (code, text) = run(bin(None).arg("validate").arg(repo.path()));
    assert_eq!(code, 1, "{text}");
    assert!(
        !text.lines().any(|l| l.trim_start().starts_with("::error")),
        "a file name forged a line:\n{text}"
    );
    assert!(
        text.contains("x\\n::error file=ok.yaml::forged\\n.yaml"),
        "{text}"
    );
    assert!(
        text.contains("n\\xffo.yaml: ") && text.contains("file name is not valid UTF-8"),
        "{text}"
    );
    assert!(!text.contains("No such file"), "{text}");
}

/// Issue 9.4: diagnostics are bounded per code in text; JSON keeps them all.
#[test]
fn diagnostics_are_bounded_per_code() {
    let repo = tempfile::tempdir().unwrap();
    for i in 0..450 {
        write(repo.path(), &format!("empty-{i:04}.yaml"), "");
    }
    let (code, text) = run(bin(None).arg("validate").arg(repo.path()));
    assert_eq!(code, 1);
    let shown = text.matches("E008").count();
    // 100 diagnostics (each names its code once) plus the count line.
    assert_eq!(shown, 101, "{}", &text[text.len().saturating_sub(2000)..]);
    assert!(
        text.contains("… and 350 more E008 empty-file not shown"),
        "{text}"
    );
    assert!(text.contains("450 error(s) in 450 file(s)"), "{text}");
    let (code, json) = run(bin(None)
        .args(["validate", "--format", "json"])
        .arg(repo.path()));
    assert_eq!(code, 1);
    let doc: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(doc["diagnostics"].as_array().unwrap().len(), 450);
}

/// Issue 9.5: a malformed key is refused whenever it is set, even with no
/// secret to encrypt.
#[test]
fn a_malformed_key_is_refused_even_without_secrets() {
    let repo = tempfile::tempdir().unwrap();
    write(
        repo.path(),
        "s.yaml",
        "apiVersion: mcpbox/v1\nkind: Server\nmetadata: {name: plain}\nspec: {}\n",
    );
    for bad in ["abcd", &"g".repeat(64)] {
        let (code, text) = run(bin(None)
            .env("MCPBOX_ENCRYPTION_KEY", bad)
            .arg("plan")
            .arg(repo.path()));
        assert_eq!(code, 1, "{bad}: {text}");
        assert!(text.contains("MCPBOX_ENCRYPTION_KEY"), "{bad}: {text}");
    }
    let (code, text) = run(bin(None).arg("plan").arg(repo.path()));
    assert_eq!(code, 0, "{text}");
}

/// Issue 9.5: `db check` names the rights a SELECT-only role lacks, and apply
/// refuses before writing.
#[sqlx::test(migrations = false)]
async fn db_check_names_missing_write_rights(pool: PgPool) {
    crate::common::migrate(&pool).await;
    let url = crate::common::url(&pool);
    let (code, text) = run(bin(Some(&url)).args(["db", "check"]));
    assert_eq!(code, 0, "{text}");
    // A role per test database, so tests running together do not share it.
    let db: String = sqlx::query_scalar("SELECT current_database()")
        .fetch_one(&pool)
        .await
        .unwrap();
    let tail: String = db
        .chars()
        .rev()
        .take(24)
        .filter(char::is_ascii_alphanumeric)
        .collect();
    let role = format!("ro_{}", tail.to_ascii_lowercase());
    for sql in [
        format!("DROP ROLE IF EXISTS {role}"),
        format!("CREATE ROLE {role} LOGIN"),
        format!("GRANT USAGE ON SCHEMA public, mcpbox_gitops TO {role}"),
        format!("GRANT SELECT ON ALL TABLES IN SCHEMA public, mcpbox_gitops TO {role}"),
    ] {
        sqlx::query(&sql).execute(&pool).await.unwrap();
    }
    let o = pool.connect_options();
    let ro_url = format!("postgres://{role}@{}:{}/{db}", o.get_host(), o.get_port());
    let (code, text) = run(bin(Some(&ro_url)).args(["db", "check"]));
    assert_eq!(code, 1, "{text}");
    assert!(
        text.contains("INSERT on public.servers")
            && text.contains("DELETE on public.tools")
            && text.contains("INSERT on mcpbox_gitops.ownership"),
        "{text}"
    );
    let repo = tempfile::tempdir().unwrap();
    write(
        repo.path(),
        "s.yaml",
        "apiVersion: mcpbox/v1\nkind: Server\nmetadata: {name: plain}\nspec: {}\n",
    );
    let (code, text) = run(bin(Some(&ro_url))
        .args(["apply", "--auto-approve"])
        .arg(repo.path()));
    assert_eq!(code, 1, "{text}");
    assert!(text.contains("lacks rights apply needs"), "{text}");
    // Plan needs only SELECT.
    let (code, text) = run(bin(Some(&ro_url)).arg("plan").arg(repo.path()));
    assert_eq!(code, 0, "{text}");
    let n: i64 = sqlx::query_scalar("SELECT count(*) FROM servers")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(n, 0);
    drop(pool);
}
