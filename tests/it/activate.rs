//! Activation stories: apply a change to a real PostgreSQL, then make it live in a
//! fake MCPBox sandbox that records every call, checked against MCPBOX.md §8.3 and
//! §8.4 (payload fields and values, headers, which servers, retries).

use std::time::Duration;

use mcpbox_gitops::activate::{self, Affected, Call, Config, Outcome};
use mcpbox_gitops::apply::Report;
use mcpbox_gitops::crypto::{self, Aad, Key};
use mcpbox_gitops::model::{Kind, Object};
use mcpbox_gitops::source::FileSet;
use serde_json::{json, Value};
use sqlx::PgPool;
use uuid::Uuid;

use crate::common::*;
use crate::fake_sandbox::FakeSandbox;

/// The shared test vectors' key.
const KEY: &str = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
/// A secret value that must reach the sandbox and nothing else.
const VALUE: &str = "ghp-Secret-Qx7Lm2Vd9";
/// The sandbox API key.
const API_KEY: &str = "sandbox-key-Hn4Rt8Wq1";

const SOURCE: &str = "apiVersion: mcpbox/v1
kind: ExternalSource
metadata: {name: github-mcp, server: github}
spec:
  url: https://api.githubcopilot.com/mcp/
  auth: {type: bearer, secret: GITHUB_TOKEN}
";

const OTHER: &str = "apiVersion: mcpbox/v1
kind: Server
metadata: {name: other}
spec:
  description: Another server
";

const PING: &str = "apiVersion: mcpbox/v1
kind: Tool
metadata: {name: ping, server: other}
spec:
  description: Ping
  codeFile: ping.py
";

const PING_CODE: &str = "async def main():\n    return \"pong\"\n";

const IDLE: &str = "apiVersion: mcpbox/v1
kind: Server
metadata: {name: idle}
spec: {}
";

const MODULES: &str = "apiVersion: mcpbox/v1
kind: Modules
metadata: {name: platform}
spec:
  modules:
    - {name: pyyaml, justification: parse YAML}
";

/// approvals.yaml pinning every tool of `files` at its content.
fn pins(files: &FileSet) -> String {
    let d = desired(files);
    let mut out = String::from("approvals:\n");
    for ((kind, key), obj) in &d.objects {
        if let (Kind::Tool, Object::Tool(t)) = (kind, obj) {
            out.push_str(&format!(
                "  - tool: {key}\n    sha256: {}\n    approvedBy: alice@example.com\n",
                t.content_hash()
            ));
        }
    }
    out
}

/// github (with its source) and other, each with one tool, all pinned; `extra`
/// files added. (path, text) pairs.
fn files_with(code: &str, extra: &[(&str, &str)]) -> Vec<(String, String)> {
    let mut files = vec![
        ("github.yaml", SERVER),
        ("list_issues.yaml", TOOL),
        ("list_issues.py", code),
        ("source.yaml", SOURCE),
        ("other.yaml", OTHER),
        ("ping.yaml", PING),
        ("ping.py", PING_CODE),
    ];
    files.extend_from_slice(extra);
    let p = pins(&repo(&files));
    files.push(("approvals.yaml", &p));
    files
        .into_iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect()
}

/// [`files_with`] as a repository.
fn repo_with(code: &str, extra: &[(&str, &str)]) -> FileSet {
    let files = files_with(code, extra);
    let refs: Vec<(&str, &str)> = files
        .iter()
        .map(|(a, b)| (a.as_str(), b.as_str()))
        .collect();
    repo(&refs)
}

/// Applies and returns the report.
async fn apply_report(pool: &PgPool, files: &FileSet) -> Report {
    let opts = mcpbox_gitops::apply::Options {
        allow_destroy: true,
        ..Default::default()
    };
    mcpbox_gitops::apply::execute(pool, &desired(files), None, &opts)
        .await
        .expect("apply")
        .1
}

async fn server_id(pool: &PgPool, name: &str) -> Uuid {
    sqlx::query_scalar("SELECT id FROM servers WHERE name = $1")
        .bind(name)
        .fetch_one(pool)
        .await
        .unwrap()
}

/// What MCPBox's start does to the status, and what its admin API does to a
/// secret's value (MCPBOX.md §5.4).
async fn start_with_secret(pool: &PgPool, names: &[&str]) {
    for name in names {
        sqlx::query("UPDATE servers SET status = 'running' WHERE name = $1")
            .bind(name)
            .execute(pool)
            .await
            .unwrap();
    }
    let id = server_id(pool, "github").await;
    let key = Key::parse(KEY).unwrap();
    let blob = crypto::encrypt(&key, VALUE, &Aad::server_secret(id, "GITHUB_TOKEN")).unwrap();
    sqlx::query("UPDATE server_secrets SET encrypted_value = $1 WHERE key_name = 'GITHUB_TOKEN'")
        .bind(blob)
        .execute(pool)
        .await
        .unwrap();
}

fn config(sandbox: &FakeSandbox) -> Config {
    Config::new(sandbox.url(), API_KEY)
        .with_gateway(sandbox.url())
        .with_retries(3, Duration::from_millis(10))
        .with_timeout(Duration::from_secs(5))
}

/// The daemon runs activation inside `tokio::spawn`: its future must be `Send`.
#[allow(dead_code)]
fn activation_future_is_send(pool: &PgPool, affected: &Affected, cfg: &Config) {
    fn send<T: Send>(_: T) {}
    send(activate::activate(pool, None, affected, cfg));
}

async fn run(pool: &PgPool, report: &Report, cfg: &Config) -> Outcome {
    let key = Key::parse(KEY).unwrap();
    activate::activate(pool, Some(&key), &Affected::from(report), cfg).await
}

fn calls(outcome: &Outcome) -> Vec<(Option<&str>, Call, bool)> {
    outcome
        .calls
        .iter()
        .map(|c| (c.server.as_deref(), c.call, c.ok))
        .collect()
}

/// Neither the secret value nor the API key shows in the outcome.
fn assert_no_secret(outcome: &Outcome) {
    let text = format!("{outcome:?} {}", serde_json::to_string(outcome).unwrap());
    assert!(
        !text.contains(VALUE) && !text.contains(API_KEY),
        "secret leaked: {text}"
    );
}

#[sqlx::test(migrations = false)]
async fn changed_tool_reregisters_its_running_server_with_mcpboxs_payload(pool: PgPool) {
    migrate(&pool).await;
    apply(&pool, &repo_with(CODE_V1, &[("idle.yaml", IDLE)])).await;
    start_with_secret(&pool, &["github", "other"]).await;
    let sandbox = FakeSandbox::start(0).await;

    // New code, pinned again: approved before and after, so github's served set
    // changed; other (running) and idle (not running) did not.
    let report = apply_report(&pool, &repo_with(CODE_V2, &[("idle.yaml", IDLE)])).await;
    let outcome = run(&pool, &report, &config(&sandbox)).await;
    assert_eq!(
        calls(&outcome),
        vec![
            (Some("github"), Call::Register, true),
            (None, Call::NotifyGateway, true)
        ],
        "{outcome:#?}"
    );
    assert_eq!((outcome.ok, outcome.failed), (2, 0));
    assert_eq!(outcome.calls[0].tools, Some(1));
    assert_no_secret(&outcome);

    let registered = sandbox.to("/servers/register");
    assert_eq!(registered.len(), 1);
    let r = &registered[0];
    assert_eq!(r.method, "POST");
    assert_eq!(
        r.headers.get("x-api-key").map(String::as_str),
        Some(API_KEY)
    );
    let github = server_id(&pool, "github").await;
    let (tool_schema, source_id): (Value, Uuid) = sqlx::query_as(
        "SELECT t.input_schema, s.id FROM tools t, external_mcp_sources s WHERE t.name = 'list_issues'",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    // §8.3: exactly these fields, with MCPBox's values.
    assert_eq!(
        r.body,
        json!({
            "server_id": github.to_string(),
            "server_name": "github",
            "tools": [{
                "name": "list_issues",
                "description": "List issues",
                "parameters": tool_schema,
                "python_code": CODE_V2,
                "timeout_ms": 30000,
                "tool_type": "python_code",
            }],
            "allowed_modules": mcpbox_gitops::rules::sync::DEFAULT_ALLOWED_MODULES.as_slice(),
            "secrets": {"GITHUB_TOKEN": VALUE},
            "external_sources": [{
                "source_id": source_id.to_string(),
                "url": "https://api.githubcopilot.com/mcp/",
                "auth_headers": {"Authorization": format!("Bearer {VALUE}")},
                "transport_type": "streamable_http",
            }],
            "allowed_hosts": ["api.github.com:443", "raw.githubusercontent.com"],
        })
    );
    // §8.4: the gateway is told, with the key as a bearer token.
    let notified = sandbox.to("/mcp/internal/notify-tools-changed");
    assert_eq!(notified.len(), 1);
    assert_eq!(
        notified[0].headers.get("authorization").map(String::as_str),
        Some(format!("Bearer {API_KEY}").as_str())
    );
    assert_eq!(sandbox.requests().len(), 2, "nothing else was called");
}

#[sqlx::test(migrations = false)]
async fn only_enabled_approved_tools_are_registered(pool: PgPool) {
    migrate(&pool).await;
    apply(&pool, &repo_with(CODE_V1, &[])).await;
    start_with_secret(&pool, &["github"]).await;
    // A second tool of github, unpinned: it goes to review and is not served.
    let draft = "apiVersion: mcpbox/v1\nkind: Tool\nmetadata: {name: draft_tool, server: github}\nspec:\n  codeFile: list_issues.py\n";
    let mut files = vec![
        ("github.yaml", SERVER),
        ("list_issues.yaml", TOOL),
        ("list_issues.py", CODE_V1),
        ("source.yaml", SOURCE),
        ("other.yaml", OTHER),
        ("ping.yaml", PING),
        ("ping.py", PING_CODE),
    ];
    let p = pins(&repo(&files));
    files.push(("approvals.yaml", &p));
    files.push(("draft.yaml", draft));
    let report = apply_report(&pool, &repo(&files)).await;
    // The new tool is not served: github's served set did not change.
    assert!(report.reregister.is_empty(), "{:#?}", report.reregister);
    // Activating github anyway sends only its approved, enabled tool.
    let sandbox = FakeSandbox::start(0).await;
    let key = Key::parse(KEY).unwrap();
    let affected = Affected {
        reregister: [server_id(&pool, "github").await].into(),
        ..Affected::default()
    };
    let outcome = activate::activate(&pool, Some(&key), &affected, &config(&sandbox)).await;
    assert!(outcome.is_ok(), "{outcome:#?}");
    let body = &sandbox.to("/servers/register")[0].body;
    let names: Vec<&str> = body["tools"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["list_issues"]);
}

#[sqlx::test(migrations = false)]
async fn module_change_reregisters_every_running_server_and_syncs_packages(pool: PgPool) {
    migrate(&pool).await;
    apply(&pool, &repo_with(CODE_V1, &[("idle.yaml", IDLE)])).await;
    start_with_secret(&pool, &["github", "other"]).await;
    let sandbox = FakeSandbox::start(0).await;
    let report = apply_report(
        &pool,
        &repo_with(CODE_V1, &[("idle.yaml", IDLE), ("m.yaml", MODULES)]),
    )
    .await;
    assert!(report.modules_changed);
    let mut cfg = config(&sandbox);
    cfg.mcp_gateway_url = None;
    let outcome = run(&pool, &report, &cfg).await;
    assert_eq!(
        calls(&outcome),
        vec![
            (Some("github"), Call::Register, true),
            (Some("other"), Call::Register, true),
            (None, Call::PackagesSync, true),
        ],
        "every running server, not idle; no gateway configured: no notify"
    );
    let stored: Vec<String> = sqlx::query_scalar(
        "SELECT allowed_modules::text[] FROM global_config WHERE config_key = 'main'",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert!(stored.contains(&"pyyaml".to_string()));
    for r in sandbox.to("/servers/register") {
        assert_eq!(r.body["allowed_modules"], json!(stored));
    }
    let sync = sandbox.to("/packages/sync");
    assert_eq!(sync.len(), 1);
    assert_eq!(sync[0].body, json!({"modules": stored}));
    assert_eq!(
        sync[0].headers.get("x-api-key").map(String::as_str),
        Some(API_KEY)
    );
}

#[sqlx::test(migrations = false)]
async fn deleted_running_server_is_unregistered(pool: PgPool) {
    migrate(&pool).await;
    apply(&pool, &repo_with(CODE_V1, &[("idle.yaml", IDLE)])).await;
    start_with_secret(&pool, &["github", "other"]).await;
    let other = server_id(&pool, "other").await;
    let sandbox = FakeSandbox::start(0).await;
    // Drop `other` (running) and `idle` (never started) from git.
    let files = repo(&[
        ("github.yaml", SERVER),
        ("list_issues.yaml", TOOL),
        ("list_issues.py", CODE_V1),
        ("source.yaml", SOURCE),
    ]);
    let p = pins(&files);
    let files = repo(&[
        ("github.yaml", SERVER),
        ("list_issues.yaml", TOOL),
        ("list_issues.py", CODE_V1),
        ("source.yaml", SOURCE),
        ("approvals.yaml", &p),
    ]);
    let report = apply_report(&pool, &files).await;
    let outcome = run(&pool, &report, &config(&sandbox)).await;
    // The fake answers 404 (not registered), which counts as success.
    assert_eq!(
        calls(&outcome),
        vec![
            (Some("other"), Call::Unregister, true),
            (None, Call::NotifyGateway, true)
        ],
        "{outcome:#?}"
    );
    let r = &sandbox.to(&format!("/servers/{other}/unregister"))[0];
    assert_eq!(r.method, "POST");
    assert_eq!(
        r.headers.get("x-api-key").map(String::as_str),
        Some(API_KEY)
    );
    assert_eq!(r.body, Value::Null, "MCPBox sends no body");

    // Through the admin API without a sandbox key: MCPBox's API cannot
    // unregister, so nothing is sent (not even a login) and the outcome says why.
    let before = sandbox.requests().len();
    let cfg = Config::new(sandbox.url(), "").with_admin_api(activate::AdminApi {
        backend_url: sandbox.url(),
        username: "admin".into(),
        password: "pw".into(),
    });
    let outcome = run(&pool, &report, &cfg).await;
    assert_eq!(
        calls(&outcome),
        vec![(Some("other"), Call::Unregister, false)]
    );
    assert!(outcome.calls[0]
        .error
        .as_deref()
        .unwrap()
        .contains("stays callable until the sandbox restarts"));
    assert_eq!(sandbox.requests().len(), before);
}

#[sqlx::test(migrations = false)]
async fn server_errors_are_retried_with_backoff_then_succeed(pool: PgPool) {
    migrate(&pool).await;
    apply(&pool, &repo_with(CODE_V1, &[])).await;
    start_with_secret(&pool, &["github"]).await;
    let sandbox = FakeSandbox::start(2).await;
    let report = apply_report(&pool, &repo_with(CODE_V2, &[])).await;
    let outcome = run(&pool, &report, &config(&sandbox)).await;
    assert!(outcome.is_ok(), "{outcome:#?}");
    assert_eq!(outcome.calls[0].call, Call::Register);
    assert_eq!(outcome.calls[0].attempts, 3, "two 503s, then success");
    assert_eq!(sandbox.to("/servers/register").len(), 3);
}

#[sqlx::test(migrations = false)]
async fn failures_are_reported_and_never_undo_the_commit(pool: PgPool) {
    migrate(&pool).await;
    apply(&pool, &repo_with(CODE_V1, &[("idle.yaml", IDLE)])).await;
    start_with_secret(&pool, &["github", "other"]).await;
    let sandbox = FakeSandbox::start(usize::MAX).await;
    // Change both servers' tools, and delete idle (never started: nothing to
    // unregister).
    let ping2 = "async def main():\n    return \"pong!\"\n";
    let mut files = vec![
        ("github.yaml", SERVER),
        ("list_issues.yaml", TOOL),
        ("list_issues.py", CODE_V2),
        ("source.yaml", SOURCE),
        ("other.yaml", OTHER),
        ("ping.yaml", PING),
        ("ping.py", ping2),
    ];
    let p = pins(&repo(&files));
    files.push(("approvals.yaml", &p));
    let report = apply_report(&pool, &repo(&files)).await;
    let outcome = run(&pool, &report, &config(&sandbox)).await;
    // Each call tried 1 + 3 times; none stopped the next; nothing succeeded, so
    // clients are not told.
    assert_eq!(
        calls(&outcome),
        vec![
            (Some("github"), Call::Register, false),
            (Some("other"), Call::Register, false),
        ],
        "{outcome:#?}"
    );
    assert!(outcome.calls.iter().all(|c| c.attempts == 4));
    let error = outcome.calls[0].error.as_deref().unwrap();
    assert!(
        error.contains("http 503") && error.contains("sandbox busy"),
        "{error}"
    );
    assert_no_secret(&outcome);
    // The commit stands.
    let code: String =
        sqlx::query_scalar("SELECT python_code FROM tools WHERE name = 'list_issues'")
            .fetch_one(&pool)
            .await
            .unwrap();
    assert_eq!(code, CODE_V2);

    // An unreachable sandbox: connection errors, retried, reported.
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap()
    };
    let cfg =
        Config::new(format!("http://{closed}"), API_KEY).with_retries(1, Duration::from_millis(10));
    let outcome = run(&pool, &report, &cfg).await;
    assert_eq!(outcome.failed, 2, "{outcome:#?}");
    let error = outcome.calls[0].error.as_deref().unwrap();
    assert!(error.contains("cannot connect"), "{error}");
    assert!(
        !error.contains(&closed.to_string()),
        "no URL in errors: {error}"
    );
    // Retried for the first server; once known unreachable, tried once.
    assert_eq!(outcome.calls[0].attempts, 2);
    assert_eq!(outcome.calls[1].attempts, 1);

    // Without the encryption key, github (it has a secret) fails unsent; other
    // is still registered.
    sandbox.fail_next(0);
    let outcome =
        activate::activate(&pool, None, &Affected::from(&report), &config(&sandbox)).await;
    assert_eq!(
        calls(&outcome),
        vec![
            (Some("github"), Call::Register, false),
            (Some("other"), Call::Register, true),
            (None, Call::NotifyGateway, true),
        ]
    );
    assert_eq!(outcome.calls[0].attempts, 0);
    assert!(outcome.calls[0]
        .error
        .as_deref()
        .unwrap()
        .contains("MCPBOX_ENCRYPTION_KEY is not set"));
}

/// Runs the binary off the async runtime (the fake sandbox runs on it); returns
/// (exit code, stdout, stderr), asserting no secret was printed.
async fn cli(url: &str, args: Vec<String>, api_key: bool) -> (i32, String, String) {
    let url = url.to_string();
    let out = tokio::task::spawn_blocking(move || {
        let mut cmd = assert_cmd::Command::cargo_bin("mcpbox-gitops").unwrap();
        cmd.env("NO_COLOR", "1")
            .env("DATABASE_URL", &url)
            .env("MCPBOX_ENCRYPTION_KEY", KEY)
            // Everything any crate logs, HTTP client included, must stay clean.
            .env("RUST_LOG", "trace")
            .env_remove("SANDBOX_API_KEY")
            .timeout(Duration::from_secs(60));
        if api_key {
            cmd.env("SANDBOX_API_KEY", API_KEY);
        }
        cmd.args(&args).output().unwrap()
    })
    .await
    .unwrap();
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout).to_string(),
        String::from_utf8_lossy(&out.stderr).to_string(),
    );
    for secret in [VALUE, API_KEY, KEY] {
        assert!(
            !stdout.contains(secret) && !stderr.contains(secret),
            "secret printed:\n{stdout}\n{stderr}"
        );
    }
    (out.status.code().unwrap_or(-1), stdout, stderr)
}

#[sqlx::test(migrations = false)]
async fn apply_activate_and_activate_drive_the_sandbox_from_the_binary(pool: PgPool) {
    migrate(&pool).await;
    let url = crate::common::url(&pool);
    apply(&pool, &repo_with(CODE_V1, &[])).await;
    start_with_secret(&pool, &["github"]).await;
    let dir = tempfile::tempdir().unwrap();
    for (path, text) in files_with(CODE_V2, &[]) {
        std::fs::write(dir.path().join(path), text).unwrap();
    }
    let path = dir.path().to_str().unwrap().to_string();
    let sandbox = FakeSandbox::start(0).await;
    let args = |extra: &[&str]| -> Vec<String> {
        extra
            .iter()
            .map(|s| s.to_string())
            .chain([
                "--sandbox-url".to_string(),
                sandbox.url(),
                "--mcp-gateway-url".to_string(),
                sandbox.url(),
            ])
            .collect()
    };

    // Without the API key: refused before anything is written.
    let (code, _, stderr) = cli(
        &url,
        args(&["apply", &path, "--auto-approve", "--activate"]),
        false,
    )
    .await;
    assert_eq!(code, 1);
    assert!(stderr.contains("SANDBOX_API_KEY is not set"), "{stderr}");
    assert!(sandbox.requests().is_empty());

    let (code, stdout, stderr) = cli(
        &url,
        args(&["apply", &path, "--auto-approve", "--activate"]),
        true,
    )
    .await;
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    assert!(stdout.contains("Apply complete!"), "{stdout}");
    assert!(
        stdout.contains("Server github: register (1 tool): ok"),
        "{stdout}"
    );
    assert!(stdout.contains("notify gateway: ok"), "{stdout}");
    assert!(!stdout.contains("must be re-registered"), "{stdout}");
    let registered = sandbox.to("/servers/register");
    assert_eq!(registered.len(), 1);
    assert_eq!(
        registered[0].body["secrets"],
        json!({"GITHUB_TOKEN": VALUE})
    );
    assert_eq!(registered[0].body["tools"][0]["python_code"], CODE_V2);

    // A re-run has no changes: nothing to activate, and it says how.
    let (code, stdout, _) = cli(
        &url,
        args(&["apply", &path, "--auto-approve", "--activate"]),
        true,
    )
    .await;
    assert_eq!(code, 0);
    assert!(stdout.contains("mcpbox-gitops activate"), "{stdout}");

    // `activate` against a failing sandbox: every running server tried, exit 1,
    // and the message says the database stands and how to retry.
    sandbox.fail_next(usize::MAX);
    let (code, stdout, stderr) =
        cli(&url, args(&["activate", "--activate-retries", "0"]), true).await;
    assert_eq!(code, 1, "{stdout}\n{stderr}");
    assert!(
        stdout.contains("Server github: register: failed after 1 attempt(s): http 503"),
        "{stdout}"
    );
    assert!(
        stderr.contains("the database changes are committed")
            && stderr.contains("mcpbox-gitops activate"),
        "{stderr}"
    );
    // Healthy again: `activate` re-registers every running server.
    sandbox.fail_next(0);
    let (code, stdout, _) = cli(&url, args(&["activate"]), true).await;
    assert_eq!(code, 0, "{stdout}");
    assert!(
        stdout.contains("Server github: register (1 tool): ok"),
        "{stdout}"
    );
    assert!(stdout.contains("packages sync: ok"), "{stdout}");
}

#[sqlx::test(migrations = false)]
async fn a_tool_that_stops_being_served_reregisters_its_server_without_it(pool: PgPool) {
    migrate(&pool).await;
    apply(&pool, &repo_with(CODE_V1, &[])).await;
    start_with_secret(&pool, &["github", "other"]).await;
    let sandbox = FakeSandbox::start(0).await;
    // Disabled in git: hidden from tools/list at once, but callable until the
    // server is re-registered without it (MCPBOX.md §8.1).
    let disabled = TOOL.to_string() + "  enabled: false\n";
    let files = files_with(CODE_V1, &[]);
    let refs: Vec<(&str, &str)> = files
        .iter()
        .map(|(a, b)| {
            if a == "list_issues.yaml" {
                (a.as_str(), disabled.as_str())
            } else {
                (a.as_str(), b.as_str())
            }
        })
        .collect();
    let report = apply_report(&pool, &repo(&refs)).await;
    assert_eq!(
        report
            .reregister
            .iter()
            .map(|r| r.server.as_str())
            .collect::<Vec<_>>(),
        ["github"]
    );
    let outcome = run(&pool, &report, &config(&sandbox)).await;
    assert!(outcome.is_ok(), "{outcome:#?}");
    let registered = sandbox.to("/servers/register");
    assert_eq!(registered.len(), 1);
    assert_eq!(registered[0].body["server_name"], "github");
    assert_eq!(
        registered[0].body["tools"],
        json!([]),
        "registered with no tools, so the disabled one is no longer callable"
    );
}

#[sqlx::test(migrations = false)]
async fn reregistration_sends_served_tools_among_the_first_50_by_creation(pool: PgPool) {
    migrate(&pool).await;
    apply(&pool, &repo_with(CODE_V1, &[])).await;
    start_with_secret(&pool, &["github"]).await;
    let github = server_id(&pool, "github").await;
    // 55 more tools as MCPBox would hold them, created one second apart after
    // list_issues: t01 is disabled, t02 a draft, the rest approved.
    sqlx::query(
        "INSERT INTO tools (id, server_id, name, enabled, tool_type, python_code, current_version,
                            approval_status, created_at)
         SELECT gen_random_uuid(), $1, 't' || lpad(n::text, 2, '0'), n <> 1, 'python_code',
                'async def main():\n    return 1\n', 1,
                (CASE WHEN n = 2 THEN 'draft' ELSE 'approved' END)::approval_status,
                now() + n * interval '1 second'
           FROM generate_series(1, 55) AS n",
    )
    .bind(github)
    .execute(&pool)
    .await
    .unwrap();
    let sandbox = FakeSandbox::start(0).await;
    let affected = Affected {
        reregister: [github].into(),
        ..Affected::default()
    };
    let key = Key::parse(KEY).unwrap();
    let outcome = activate::activate(&pool, Some(&key), &affected, &config(&sandbox)).await;
    assert!(outcome.is_ok(), "{outcome:#?}");
    let body = &sandbox.to("/servers/register")[0].body;
    let names: Vec<&str> = body["tools"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    // The first 50 are list_issues and t01..t49; of those, t01 and t02 are not
    // served.
    let mut want = vec!["list_issues".to_string()];
    want.extend((3..=49).map(|n| format!("t{n:02}")));
    assert_eq!(names, want);
    assert_eq!(outcome.calls[0].tools, Some(48));
}

#[sqlx::test(migrations = false)]
async fn admin_api_route_logs_in_and_restarts_running_servers(pool: PgPool) {
    use crate::fake_sandbox::ACCESS_TOKEN;
    const PASSWORD: &str = "pw-Adm1n-Xy7";
    migrate(&pool).await;
    apply(&pool, &repo_with(CODE_V1, &[("idle.yaml", IDLE)])).await;
    start_with_secret(&pool, &["github", "other"]).await;
    let sandbox = FakeSandbox::start(0).await;
    let report = apply_report(
        &pool,
        &repo_with(CODE_V1, &[("idle.yaml", IDLE), ("m.yaml", MODULES)]),
    )
    .await;
    let cfg = Config::new(sandbox.url(), API_KEY)
        .with_retries(0, Duration::from_millis(10))
        .with_admin_api(activate::AdminApi {
            backend_url: sandbox.url(),
            username: "admin".into(),
            password: PASSWORD.into(),
        });
    let outcome = run(&pool, &report, &cfg).await;
    assert_eq!(
        calls(&outcome),
        vec![
            (None, Call::Login, true),
            (Some("github"), Call::Restart, true),
            (Some("other"), Call::Restart, true),
            (None, Call::PackagesSync, true),
        ],
        "{outcome:#?}"
    );
    let text = format!("{outcome:?}");
    assert!(
        !text.contains(PASSWORD) && !text.contains(ACCESS_TOKEN),
        "{text}"
    );
    let login = &sandbox.to("/auth/login")[0];
    assert_eq!(
        login.body,
        json!({"username": "admin", "password": PASSWORD})
    );
    assert!(!login.headers.contains_key("authorization"));
    let github = server_id(&pool, "github").await;
    let restart = &sandbox.to(&format!("/api/sandbox/servers/{github}/restart"))[0];
    let bearer = format!("Bearer {ACCESS_TOKEN}");
    assert_eq!(restart.headers.get("authorization"), Some(&bearer));
    let sync = &sandbox.to("/api/settings/modules/sync")[0];
    assert_eq!(sync.headers.get("authorization"), Some(&bearer));
    assert!(
        sandbox.to("/servers/register").is_empty(),
        "no direct registration"
    );

    // A failed login: nothing else is sent, every call says why.
    sandbox.fail_next(usize::MAX);
    let outcome = run(&pool, &report, &cfg).await;
    assert_eq!(
        calls(&outcome),
        vec![
            (None, Call::Login, false),
            (Some("github"), Call::Restart, false),
            (Some("other"), Call::Restart, false),
            (None, Call::PackagesSync, false),
        ]
    );
    assert_eq!(outcome.calls[1].attempts, 0);
    assert_eq!(
        outcome.calls[1].error.as_deref(),
        Some("not sent: logging in to MCPBox failed")
    );
}

#[sqlx::test(migrations = false)]
async fn only_changes_to_what_the_sandbox_receives_need_reregistration(pool: PgPool) {
    migrate(&pool).await;
    apply(&pool, &repo_with(CODE_V1, &[])).await;
    start_with_secret(&pool, &["github", "other"]).await;
    let reregistered = |report: &Report| -> Vec<String> {
        report
            .reregister
            .iter()
            .map(|r| format!("{}: {}", r.server, r.reasons.join("; ")))
            .collect()
    };
    // A secret's description and a host's justification: nothing the sandbox
    // receives changes.
    let edited = SERVER
        .replace("description: a PAT", "description: a fine-grained PAT")
        .replace(
            "justification: raw files",
            "justification: raw file downloads",
        );
    let files = files_with(CODE_V1, &[]);
    let with = |server: &str, extra: &[(&str, &str)]| {
        let mut refs: Vec<(String, String)> = files
            .iter()
            .map(|(a, b)| {
                let text = if a == "github.yaml" { server } else { b };
                (a.clone(), text.to_string())
            })
            .collect();
        refs.extend(extra.iter().map(|(a, b)| (a.to_string(), b.to_string())));
        refs
    };
    let as_repo = |files: &[(String, String)]| {
        let refs: Vec<(&str, &str)> = files
            .iter()
            .map(|(a, b)| (a.as_str(), b.as_str()))
            .collect();
        repo(&refs)
    };
    let report = apply_report(&pool, &as_repo(&with(&edited, &[]))).await;
    assert!(report.changed);
    assert_eq!(reregistered(&report), Vec::<String>::new());
    // A new host changes github's allowed_hosts: github only.
    let more = edited.clone() + "    - {host: uploads.github.com, justification: uploads}\n";
    let report = apply_report(&pool, &as_repo(&with(&more, &[]))).await;
    assert_eq!(reregistered(&report), ["github: allowed hosts changed"]);
}
