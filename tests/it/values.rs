//! Secret and setting values from `valueFrom`, through the real binary: stored in
//! MCPBox's exact format, compared by decrypting (a no-op apply stays a no-op),
//! and never printed.

use assert_cmd::Command;
use mcpbox_gitops::crypto::{self, Aad, Key};
use sqlx::PgPool;
use uuid::Uuid;

/// The key of the shared test vectors.
const KEY: &str = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
/// A value that must never appear in any output.
const VALUE: &str = "hunter2-Zq8vLw3Rk9";
const VALUE2: &str = "correct-horse-Tb4nXp7Ys2";

const SERVER: &str = "apiVersion: mcpbox/v1
kind: Server
metadata: {name: github}
spec:
  secrets:
    - name: GITHUB_TOKEN
      description: a PAT
      valueFrom: {env: MCPBOX_SECRET_GH_TOKEN_FOR_TEST}
    - name: PLACEHOLDER
";

const SETTINGS: &str = "apiVersion: mcpbox/v1
kind: Settings
metadata: {name: mcpbox}
spec:
  log_retention_days: {valueFrom: {env: MCPBOX_SECRET_LOG_DAYS_FOR_TEST}}
";

fn repo() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("github.yaml"), SERVER).unwrap();
    std::fs::write(dir.path().join("settings.yaml"), SETTINGS).unwrap();
    dir
}

fn bin(url: &str, value: &str) -> Command {
    let mut cmd = Command::cargo_bin("mcpbox-gitops").unwrap();
    cmd.env("NO_COLOR", "1")
        .env("DATABASE_URL", url)
        .env("MCPBOX_ENCRYPTION_KEY", KEY)
        .env("MCPBOX_SECRET_GH_TOKEN_FOR_TEST", value)
        .env("MCPBOX_SECRET_LOG_DAYS_FOR_TEST", "45")
        .env("RUST_LOG", "debug");
    cmd
}

/// Runs a command; returns (exit code, stdout + stderr), asserting no value leaked.
fn run(mut cmd: Command, args: &[&str]) -> (i32, String) {
    let out = cmd.args(args).output().unwrap();
    let text =
        String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    for secret in [VALUE, VALUE2, KEY] {
        assert!(!text.contains(secret), "{args:?} leaked a secret:\n{text}");
    }
    (out.status.code().unwrap_or(-1), text)
}

async fn stored(pool: &PgPool) -> (Uuid, Option<Vec<u8>>) {
    sqlx::query_as(
        "SELECT s.server_id, s.encrypted_value FROM server_secrets s WHERE s.key_name = 'GITHUB_TOKEN'",
    )
    .fetch_one(pool)
    .await
    .unwrap()
}

#[sqlx::test(migrations = false)]
async fn secret_values_round_trip_in_mcpbox_format(pool: PgPool) {
    crate::common::migrate(&pool).await;
    let url = crate::common::url(&pool);
    let dir = repo();
    let path = dir.path().to_str().unwrap();

    let (code, text) = run(bin(&url, VALUE), &["plan", path, "--detailed-exitcode"]);
    assert_eq!(code, 2, "{text}");
    assert!(
        text.contains("(from env MCPBOX_SECRET_GH_TOKEN_FOR_TEST)"),
        "{text}"
    );
    let (code, text) = run(bin(&url, VALUE), &["apply", path, "--auto-approve"]);
    assert_eq!(code, 0, "{text}");

    // Stored as MCPBox stores it: raw iv || ciphertext || tag, AAD bound to the
    // server's id and the key name.
    let key = Key::parse(KEY).unwrap();
    let (server_id, bytes) = stored(&pool).await;
    let bytes = bytes.expect("a value");
    assert_eq!(bytes.len(), 12 + VALUE.len() + 16);
    let plain =
        crypto::decrypt(&key, &bytes, &Aad::server_secret(server_id, "GITHUB_TOKEN")).unwrap();
    assert_eq!(plain.expose(), VALUE);
    let placeholder: Option<Vec<u8>> = sqlx::query_scalar(
        "SELECT encrypted_value FROM server_secrets WHERE key_name = 'PLACEHOLDER'",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(placeholder, None);
    let (enc, setting): (bool, String) =
        sqlx::query_as("SELECT encrypted, value FROM settings WHERE key = 'log_retention_days'")
            .fetch_one(&pool)
            .await
            .unwrap();
    assert!(enc);
    let days = crypto::decrypt_b64(&key, &setting, &Aad::setting("log_retention_days")).unwrap();
    assert_eq!(days.expose(), "45");

    // Same values: nothing to do, and nothing rewritten.
    let (code, text) = run(bin(&url, VALUE), &["plan", path, "--detailed-exitcode"]);
    assert_eq!(code, 0, "{text}");
    assert!(text.contains("No changes."), "{text}");
    let (code, _) = run(bin(&url, VALUE), &["apply", path, "--auto-approve"]);
    assert_eq!(code, 0);
    assert_eq!(
        stored(&pool).await.1.unwrap(),
        bytes,
        "a no-op apply rewrote the value"
    );

    // Without the key a plan cannot compare, says so, and proposes nothing.
    let mut no_key = bin(&url, VALUE2);
    no_key.env_remove("MCPBOX_ENCRYPTION_KEY");
    let (code, text) = run(no_key, &["plan", path, "--detailed-exitcode"]);
    assert_eq!(code, 0, "{text}");
    assert!(text.contains("MCPBOX_ENCRYPTION_KEY is not set"), "{text}");
    // …and apply refuses, naming what needs the key.
    let mut no_key = bin(&url, VALUE2);
    no_key.env_remove("MCPBOX_ENCRYPTION_KEY");
    let (code, text) = run(no_key, &["apply", path, "--auto-approve"]);
    assert_eq!(code, 1);
    assert!(
        text.contains("github/GITHUB_TOKEN") && text.contains("MCPBOX_ENCRYPTION_KEY"),
        "{text}"
    );

    // A new value: shown as changed, stored, decrypts to the new value.
    let (code, text) = run(bin(&url, VALUE2), &["plan", path, "--detailed-exitcode"]);
    assert_eq!(code, 2, "{text}");
    assert!(
        text.contains("(changed, from env MCPBOX_SECRET_GH_TOKEN_FOR_TEST)"),
        "{text}"
    );
    run(bin(&url, VALUE2), &["apply", path, "--auto-approve"]);
    let (_, bytes2) = stored(&pool).await;
    let plain = crypto::decrypt(
        &key,
        &bytes2.unwrap(),
        &Aad::server_secret(server_id, "GITHUB_TOKEN"),
    )
    .unwrap();
    assert_eq!(plain.expose(), VALUE2);

    // An empty value clears it.
    let (code, text) = run(bin(&url, ""), &["apply", path, "--auto-approve"]);
    assert_eq!(code, 0, "{text}");
    assert!(text.contains("(cleared)"), "{text}");
    assert_eq!(stored(&pool).await.1, None);

    // An unset variable is an error naming the secret and the variable.
    let mut unset = bin(&url, VALUE);
    unset.env_remove("MCPBOX_SECRET_GH_TOKEN_FOR_TEST");
    let (code, text) = run(unset, &["apply", path, "--auto-approve"]);
    assert_eq!(code, 1);
    assert!(
        text.contains("MCPBOX_SECRET_GH_TOKEN_FOR_TEST") && text.contains("github/GITHUB_TOKEN"),
        "{text}"
    );

    // A setting value MCPBox would not start with is refused without showing it.
    let mut bad = bin(&url, VALUE);
    bad.env("MCPBOX_SECRET_LOG_DAYS_FOR_TEST", "a-fortnight-Kq3");
    let (code, text) = run(bad, &["apply", path, "--auto-approve"]);
    assert_eq!(code, 1);
    assert!(
        text.contains("log_retention_days") && !text.contains("a-fortnight-Kq3"),
        "{text}"
    );
}

#[sqlx::test(migrations = false)]
async fn a_value_that_no_longer_decrypts_is_refused_then_overwritten(pool: PgPool) {
    crate::common::migrate(&pool).await;
    let url = crate::common::url(&pool);
    let dir = repo();
    let path = dir.path().to_str().unwrap();
    run(bin(&url, VALUE), &["apply", path, "--auto-approve"]);
    // MCPBox's key was rotated: the stored bytes were made with another key.
    let other = Key::parse(&"f".repeat(64)).unwrap();
    let (server_id, _) = stored(&pool).await;
    let foreign = crypto::encrypt(
        &other,
        VALUE,
        &Aad::server_secret(server_id, "GITHUB_TOKEN"),
    )
    .unwrap();
    sqlx::query("UPDATE server_secrets SET encrypted_value = $1 WHERE key_name = 'GITHUB_TOKEN'")
        .bind(&foreign)
        .execute(&pool)
        .await
        .unwrap();
    let (code, text) = run(bin(&url, VALUE), &["plan", path]);
    assert_eq!(code, 1);
    assert!(
        text.contains("github/GITHUB_TOKEN") && text.contains("--overwrite-undecryptable"),
        "{text}"
    );
    let (code, text) = run(
        bin(&url, VALUE),
        &["apply", path, "--auto-approve", "--overwrite-undecryptable"],
    );
    assert_eq!(code, 0, "{text}");
    let key = Key::parse(KEY).unwrap();
    let bytes = stored(&pool).await.1.unwrap();
    let plain =
        crypto::decrypt(&key, &bytes, &Aad::server_secret(server_id, "GITHUB_TOKEN")).unwrap();
    assert_eq!(plain.expose(), VALUE);
}

/// Every command, with a known value in the environment and a file: the value
/// appears in none of their outputs (text, JSON, errors, debug logs).
#[sqlx::test(migrations = false)]
async fn no_command_prints_a_secret_value(pool: PgPool) {
    crate::common::migrate(&pool).await;
    let url = crate::common::url(&pool);
    let dir = repo();
    let secret_file = dir.path().join("value.txt");
    std::fs::write(&secret_file, format!("{VALUE2}\n")).unwrap();
    let with_file = SERVER.replace(
        "    - name: PLACEHOLDER\n",
        &format!(
            "    - name: PLACEHOLDER\n      valueFrom: {{file: {}}}\n",
            secret_file.display()
        ),
    );
    std::fs::write(dir.path().join("github.yaml"), with_file).unwrap();
    let path = dir.path().to_str().unwrap();
    let out_dir = tempfile::tempdir().unwrap();
    let saved = out_dir.path().join("plan.json");
    let saved_s = saved.to_str().unwrap();
    let export = out_dir.path().join("export");
    let export_s = export.to_str().unwrap();
    // (expected exit code, command)
    let commands: Vec<(i32, Vec<&str>)> = vec![
        (0, vec!["validate", path]),
        (0, vec!["validate", path, "--format", "json"]),
        (0, vec!["plan", path]),
        (0, vec!["plan", path, "--format", "json"]),
        (0, vec!["plan", path, "--format", "markdown"]),
        (0, vec!["plan", path, "--out", saved_s]),
        (0, vec!["apply", "--plan", saved_s, "--auto-approve"]),
        (0, vec!["plan", path, "--format", "json"]),
        (0, vec!["apply", path, "--auto-approve"]),
        (0, vec!["plan", path, "--format", "markdown"]),
        (0, vec!["export", "--out", export_s]),
        (0, vec!["db", "check"]),
        (
            1,
            vec!["approve", "github/none", "--by", "a@b.c", "--repo", path],
        ),
    ];
    for (want, args) in &commands {
        let mut cmd = bin(&url, VALUE);
        // The value file is read from the repository's folder, allowed here.
        cmd.env("MCPBOX_GITOPS_VALUES_DIRS", dir.path());
        let (code, text) = run(cmd, args);
        assert_eq!(code, *want, "{args:?}: {text}");
    }
    // Files the commands wrote hold no value either.
    let mut written = vec![std::fs::read_to_string(&saved).unwrap()];
    let mut stack = vec![export.clone()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else {
                written.push(std::fs::read_to_string(&p).unwrap_or_default());
            }
        }
    }
    assert!(
        written.len() > 2,
        "the saved plan and the export were written"
    );
    for text in &written {
        for secret in [VALUE, VALUE2, KEY] {
            assert!(
                !text.contains(secret),
                "a written file leaked a secret:\n{text}"
            );
        }
    }
    // The file's value was stored (so the commands really handled it).
    let bytes: Option<Vec<u8>> = sqlx::query_scalar(
        "SELECT encrypted_value FROM server_secrets WHERE key_name = 'PLACEHOLDER'",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert!(bytes.is_some());
}

/// A saved plan that sets a value, applied when the variable is empty (e.g. a CI
/// secret missing in the apply job), is refused instead of clearing the value.
#[sqlx::test(migrations = false)]
async fn a_saved_plan_never_clears_a_value_it_meant_to_set(pool: PgPool) {
    crate::common::migrate(&pool).await;
    let url = crate::common::url(&pool);
    let dir = repo();
    let path = dir.path().to_str().unwrap();
    let (code, text) = run(bin(&url, VALUE), &["apply", path, "--auto-approve"]);
    assert_eq!(code, 0, "{text}");
    let before = stored(&pool).await.1.unwrap();
    let saved = dir.path().join("plan.json");
    let saved_s = saved.to_str().unwrap();
    let (code, text) = run(bin(&url, VALUE2), &["plan", path, "--out", saved_s]);
    assert_eq!(code, 0, "{text}");
    assert!(
        text.contains("(changed, from env MCPBOX_SECRET_GH_TOKEN_FOR_TEST)"),
        "{text}"
    );
    let (code, text) = run(
        bin(&url, ""),
        &["apply", "--plan", saved_s, "--auto-approve"],
    );
    assert_eq!(code, 1, "{text}");
    assert!(
        text.contains("github/GITHUB_TOKEN") && text.contains("but none was"),
        "{text}"
    );
    assert_eq!(
        stored(&pool).await.1.unwrap(),
        before,
        "nothing was written"
    );
    // With the value present, the same file applies.
    let (code, text) = run(
        bin(&url, VALUE2),
        &["apply", "--plan", saved_s, "--auto-approve"],
    );
    assert_eq!(code, 0, "{text}");
    assert_ne!(stored(&pool).await.1.unwrap(), before);
}

/// Credentials that sit in MCPBox's rows (a token pasted into drifted code, a
/// password in a URL) are not copied into plans, which are published.
#[sqlx::test(migrations = false)]
async fn plans_do_not_repeat_credentials_found_in_the_database(pool: PgPool) {
    crate::common::migrate(&pool).await;
    let url = crate::common::url(&pool);
    let files = crate::common::basic(crate::common::CODE_V1, &[]);
    crate::common::apply(&pool, &files).await;
    let token = "sk-proj-Abc123Def456Ghi789Jkl012Mno345";
    sqlx::query("UPDATE tools SET python_code = $1 WHERE name = 'list_issues'")
        .bind(format!("API_KEY = \"{token}\"\n{}", crate::common::CODE_V1))
        .execute(&pool)
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    for (p, e) in &files.files {
        if let mcpbox_gitops::source::Entry::Bytes(b) = e {
            std::fs::write(dir.path().join(p), b).unwrap();
        }
    }
    let path = dir.path().to_str().unwrap();
    for format in ["text", "json", "markdown"] {
        let mut cmd = Command::cargo_bin("mcpbox-gitops").unwrap();
        cmd.env("NO_COLOR", "1").env("DATABASE_URL", &url);
        let out = cmd
            .args(["plan", path, "--format", format])
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout).to_string();
        assert_eq!(out.status.code(), Some(0), "{text}");
        assert!(
            text.contains("(redacted)"),
            "the drift is still shown: {text}"
        );
        assert!(
            !text.contains(token),
            "{format} repeated the token:\n{text}"
        );
    }
}
