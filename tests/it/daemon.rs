//! The reconciliation daemon as a child process against a real PostgreSQL: new
//! commits applied, webhooks, directory watching, invalid commits, drift and
//! self-heal, leader election among replicas, suspend/resume, SIGTERM, metrics
//! and activation. Every wait is a bounded poll.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::Value;
use sqlx::PgPool;

use crate::common::{migrate, url, CODE_V1, CODE_V2, SERVER};
use crate::fake_sandbox::FakeSandbox;

const SECRET: &str = "hook-Secret-Tq8Wz3";
/// The default webhook secret variable (cleared unless a test sets it).
const WEBHOOK_ENV: &str = "MCPBOX_GITOPS_WEBHOOK_SECRET";

pub(crate) fn tool(description: &str) -> String {
    format!(
        "apiVersion: mcpbox/v1\nkind: Tool\nmetadata: {{name: list_issues, server: github}}\nspec:\n  description: {description}\n  codeFile: list_issues.py\n"
    )
}

pub(crate) use crate::common::git;
use crate::common::write_files as write;

/// Writes `files` and commits them on main; returns the SHA.
pub(crate) fn commit(dir: &Path, files: &[(&str, &str)]) -> String {
    crate::common::write_files(dir, files);
    git(dir, &["add", "-A"]);
    git(dir, &["commit", "-q", "-m", "change"]);
    git(dir, &["rev-parse", "HEAD"])
}

/// A repository with the basic server and tool (description `v1`).
pub(crate) fn new_repo() -> (tempfile::TempDir, String) {
    let dir = tempfile::tempdir().unwrap();
    git(dir.path(), &["init", "-q"]);
    let sha = commit(
        dir.path(),
        &[
            ("github.yaml", SERVER),
            ("list_issues.yaml", &tool("v1")),
            ("list_issues.py", CODE_V1),
        ],
    );
    (dir, sha)
}

/// A daemon child process, killed on drop.
pub(crate) struct Daemon {
    child: Child,
    port: u16,
    log: Arc<Mutex<Vec<String>>>,
}

impl Daemon {
    pub(crate) fn start(db: &str, args: &[&str], env: &[(&str, &str)]) -> Daemon {
        let mut cmd = Command::new(assert_cmd::cargo::cargo_bin("mcpbox-gitops"));
        cmd.arg("daemon")
            .args(["--database-url", db, "--listen", "127.0.0.1:0"])
            .args(args)
            .env_remove("DATABASE_URL")
            .env_remove(WEBHOOK_ENV)
            .env("RUST_LOG", "info")
            .env("NO_COLOR", "1")
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        for (k, v) in env {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().unwrap();
        let stderr = child.stderr.take().unwrap();
        let log = Arc::new(Mutex::new(Vec::new()));
        let (tx, rx) = std::sync::mpsc::channel();
        let l = log.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if let Some(i) = line.find("listening on 127.0.0.1:") {
                    let port: String = line[i + 23..]
                        .chars()
                        .take_while(char::is_ascii_digit)
                        .collect();
                    let _ = tx.send(port.parse::<u16>().unwrap_or(0));
                }
                l.lock().unwrap().push(line);
            }
        });
        let port = rx
            .recv_timeout(Duration::from_secs(15))
            .unwrap_or_else(|_| panic!("daemon did not start: {:?}", log.lock().unwrap()));
        Daemon { child, port, log }
    }

    pub(crate) fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    pub(crate) async fn status(&self) -> Value {
        match reqwest::get(self.url("/status")).await {
            Ok(r) => r.json().await.unwrap_or(Value::Null),
            Err(_) => Value::Null,
        }
    }

    async fn metrics(&self) -> prometheus_parse::Scrape {
        let text = reqwest::get(self.url("/metrics"))
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        let lines = text.lines().map(|l| Ok(l.to_string()));
        prometheus_parse::Scrape::parse(lines).expect("valid Prometheus text")
    }

    fn logs(&self) -> String {
        self.log.lock().unwrap().join("\n")
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Polls `cond` up to 150 × 100 ms.
pub(crate) async fn wait_until<F, Fut>(what: &str, mut cond: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    for _ in 0..150 {
        if cond().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("timed out waiting until {what}");
}

async fn description(pool: &PgPool) -> String {
    sqlx::query_scalar("SELECT description FROM tools WHERE name = 'list_issues'")
        .fetch_optional(pool)
        .await
        .unwrap()
        .flatten()
        .unwrap_or_default()
}

async fn applies(pool: &PgPool) -> i64 {
    sqlx::query_scalar("SELECT count(*) FROM mcpbox_gitops.applies")
        .fetch_one(pool)
        .await
        .unwrap()
}

async fn wait_description(pool: &PgPool, want: &str) {
    wait_until(&format!("description is {want}"), || async {
        description(pool).await == want
    })
    .await;
}

/// The value of a metric sample with these labels.
fn sample(scrape: &prometheus_parse::Scrape, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    scrape
        .samples
        .iter()
        .find(|s| s.metric == name && labels.iter().all(|(k, v)| s.labels.get(k) == Some(*v)))
        .map(|s| match s.value {
            prometheus_parse::Value::Counter(v)
            | prometheus_parse::Value::Gauge(v)
            | prometheus_parse::Value::Untyped(v) => v,
            _ => f64::NAN,
        })
}

#[sqlx::test(migrations = false)]
async fn a_new_commit_is_applied_and_metrics_parse(pool: PgPool) {
    migrate(&pool).await;
    let (repo, sha1) = new_repo();
    let path = repo.path().to_str().unwrap();
    let d = Daemon::start(
        &url(&pool),
        &["--repo", path, "--branch", "main", "--interval", "1s"],
        &[],
    );
    wait_description(&pool, "v1").await;
    wait_until("the first commit is reported applied", || async {
        d.status().await["last_applied"]["commit"] == sha1.as_str()
    })
    .await;
    let sha2 = commit(repo.path(), &[("list_issues.yaml", &tool("v2"))]);
    wait_description(&pool, "v2").await;
    wait_until("status shows the new commit", || async {
        let s = d.status().await;
        s["last_applied"]["commit"] == sha2.as_str() && s["sync"] == "Synced"
    })
    .await;
    let s = d.status().await;
    assert_eq!(s["role"], "leader", "{s}");
    assert_eq!(s["branch"], "main");
    assert_eq!(applies(&pool).await, 2, "one apply per commit");

    let m = d.metrics().await;
    assert!(
        sample(
            &m,
            "mcpbox_gitops_reconcile_total",
            &[("result", "applied")]
        )
        .unwrap()
            >= 2.0
    );
    assert_eq!(sample(&m, "mcpbox_gitops_leader", &[]), Some(1.0));
    assert_eq!(
        sample(&m, "mcpbox_gitops_last_applied_info", &[("commit", &sha2)]),
        Some(1.0)
    );
    assert!(
        sample(
            &m,
            "mcpbox_gitops_applied_changes_total",
            &[("kind", "tool"), ("action", "update")]
        )
        .unwrap()
            >= 1.0
    );
    assert!(m
        .samples
        .iter()
        .any(|s| s.metric == "mcpbox_gitops_reconcile_duration_seconds"
            && matches!(s.value, prometheus_parse::Value::Histogram(_))));
    let health = reqwest::get(d.url("/healthz")).await.unwrap();
    assert_eq!(health.status(), 200);
    let ready = reqwest::get(d.url("/readyz")).await.unwrap();
    assert_eq!(ready.status(), 200);
}

#[sqlx::test(migrations = false)]
async fn once_twice_the_second_pass_is_a_cheap_skip(pool: PgPool) {
    migrate(&pool).await;
    let (repo, sha1) = new_repo();
    let path = repo.path().to_str().unwrap();
    let once = || {
        let out = Command::new(assert_cmd::cargo::cargo_bin("mcpbox-gitops"))
            .args(["daemon", "--once", "--repo", path, "--branch", "main"])
            .args(["--database-url", &url(&pool)])
            .env_remove("DATABASE_URL")
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice::<Value>(&out.stdout).unwrap()
    };
    let first = once();
    assert_eq!(first["outcome"], "applied", "{first}");
    assert_eq!(first["revision"], sha1.as_str());
    let second = once();
    assert_eq!(second["outcome"], "unchanged", "{second}");
    assert_eq!(applies(&pool).await, 1);
}

#[sqlx::test(migrations = false)]
async fn a_signed_webhook_fetches_at_once_and_unsigned_ones_do_nothing(pool: PgPool) {
    migrate(&pool).await;
    let (repo, _) = new_repo();
    let cache = tempfile::tempdir().unwrap();
    let remote = format!("file://{}", repo.path().display());
    let d = Daemon::start(
        &url(&pool),
        &[
            "--repo",
            &remote,
            "--branch",
            "main",
            "--interval",
            "300s",
            "--git-cache",
            cache.path().to_str().unwrap(),
        ],
        &[(WEBHOOK_ENV, SECRET)],
    );
    wait_description(&pool, "v1").await;
    commit(repo.path(), &[("list_issues.yaml", &tool("v2"))]);
    let before = d.status().await["passes"].as_u64().unwrap();
    let body = r#"{"ref":"refs/heads/main"}"#;
    let client = reqwest::Client::new();
    let post = |headers: Vec<(&'static str, String)>| {
        let mut req = client.post(d.url("/hooks/git")).body(body);
        for (k, v) in headers {
            req = req.header(k, v);
        }
        req.send()
    };
    assert_eq!(post(vec![]).await.unwrap().status(), 401);
    assert_eq!(
        post(vec![(
            "X-Hub-Signature-256",
            format!("sha256={}", "00".repeat(32))
        )])
        .await
        .unwrap()
        .status(),
        401
    );
    assert_eq!(
        post(vec![("X-Gitlab-Token", "wrong".into())])
            .await
            .unwrap()
            .status(),
        401
    );
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(
        description(&pool).await,
        "v1",
        "a bad webhook started a pass"
    );
    assert_eq!(d.status().await["passes"], before);

    use hmac::Mac;
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(SECRET.as_bytes()).unwrap();
    mac.update(body.as_bytes());
    let sig = format!("sha256={}", hex::encode(mac.finalize().into_bytes()));
    assert_eq!(
        post(vec![("X-Hub-Signature-256", sig)])
            .await
            .unwrap()
            .status(),
        202
    );
    wait_description(&pool, "v2").await;
    // GitLab's token works too (nothing new to apply: one more pass).
    assert_eq!(
        post(vec![("X-Gitlab-Token", SECRET.into())])
            .await
            .unwrap()
            .status(),
        202
    );
    wait_until("the GitLab hook ran a pass", || async {
        d.status().await["passes"].as_u64().unwrap_or(0) >= before + 2
    })
    .await;
    assert!(!d.logs().contains(SECRET), "the secret was logged");
}

#[sqlx::test(migrations = false)]
async fn webhooks_are_off_without_a_secret(pool: PgPool) {
    migrate(&pool).await;
    let (repo, _) = new_repo();
    let path = repo.path().to_str().unwrap();
    let d = Daemon::start(&url(&pool), &["--repo", path, "--interval", "300s"], &[]);
    let r = reqwest::Client::new()
        .post(d.url("/hooks/git"))
        .header("X-Gitlab-Token", SECRET)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
}

#[sqlx::test(migrations = false)]
async fn a_burst_of_writes_to_a_directory_is_one_pass(pool: PgPool) {
    migrate(&pool).await;
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        &[
            ("github.yaml", SERVER),
            ("list_issues.yaml", &tool("v1")),
            ("list_issues.py", CODE_V1),
        ],
    );
    let d = Daemon::start(
        &url(&pool),
        &["--repo", dir.path().to_str().unwrap(), "--interval", "300s"],
        &[],
    );
    wait_description(&pool, "v1").await;
    wait_until("the first pass is recorded", || async {
        d.status().await["passes"] == 1
    })
    .await;
    let before = 1;
    for i in 0..10 {
        write(
            dir.path(),
            &[("list_issues.yaml", &tool(&format!("burst{i}")))],
        );
        write(dir.path(), &[("list_issues.py", CODE_V2)]);
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    wait_description(&pool, "burst9").await;
    // Longer than the debounce: a second pass from the same burst would show.
    tokio::time::sleep(Duration::from_millis(1200)).await;
    let s = d.status().await;
    assert_eq!(s["passes"], before + 1, "one pass for the burst: {s}");
    assert!(s["last_seen"]["commit"]
        .as_str()
        .unwrap()
        .starts_with("dir:"));
}

#[sqlx::test(migrations = false)]
async fn an_invalid_commit_is_reported_and_the_last_good_state_stays(pool: PgPool) {
    migrate(&pool).await;
    let (repo, _) = new_repo();
    let path = repo.path().to_str().unwrap();
    let d = Daemon::start(
        &url(&pool),
        &["--repo", path, "--branch", "main", "--interval", "1s"],
        &[],
    );
    wait_description(&pool, "v1").await;
    let bad = "apiVersion: mcpbox/v1\nkind: Tool\nmetadata: {name: list_issues, server: github}\nspec:\n  description: broken\n  codeFile: list_issues.py\n  colour: red\n";
    commit(repo.path(), &[("list_issues.yaml", bad)]);
    wait_until("status shows the diagnostics", || async {
        d.status().await["diagnostics"]
            .as_array()
            .is_some_and(|a| !a.is_empty())
    })
    .await;
    let s = d.status().await;
    let diags = s["diagnostics"].as_array().unwrap();
    let diag = diags
        .iter()
        .find(|d| d["code"] == "E002")
        .expect("E002 reported");
    assert!(
        diag["at"]
            .as_str()
            .unwrap()
            .starts_with("list_issues.yaml:7:"),
        "{s}"
    );
    assert_eq!(s["sync"], "Degraded");
    assert_eq!(description(&pool).await, "v1");
    let m = d.metrics().await;
    assert!(
        sample(
            &m,
            "mcpbox_gitops_reconcile_total",
            &[("result", "invalid")]
        )
        .unwrap()
            >= 1.0
    );
    assert!(
        d.logs().contains("E002 at list_issues.yaml:7:"),
        "{}",
        d.logs()
    );
    // The daemon keeps following the branch: a fix is applied.
    commit(repo.path(), &[("list_issues.yaml", &tool("fixed"))]);
    wait_description(&pool, "fixed").await;
}

/// An out-of-band edit with MCPBox's audit row.
pub(crate) async fn tamper(pool: &PgPool) {
    let id: uuid::Uuid = sqlx::query_scalar(
        "UPDATE tools SET description = 'hacked' WHERE name = 'list_issues' RETURNING id",
    )
    .fetch_one(pool)
    .await
    .unwrap();
    sqlx::query(
        "INSERT INTO activity_logs (id, log_type, level, message, details)
         VALUES ($1, 'audit', 'info', 'tool.update', $2)",
    )
    .bind(uuid::Uuid::new_v4())
    .bind(
        serde_json::json!({"action": "tool.update", "resource_type": "tool",
        "resource_id": id.to_string(), "user": "mallory@example.com"}),
    )
    .execute(pool)
    .await
    .unwrap();
}

#[sqlx::test(migrations = false)]
async fn drift_is_reported_with_who_and_healed_only_with_self_heal(pool: PgPool) {
    migrate(&pool).await;
    let (repo, _) = new_repo();
    let path = repo.path().to_str().unwrap();
    let args = ["--repo", path, "--branch", "main", "--interval", "1s"];
    let d = Daemon::start(&url(&pool), &args, &[]);
    wait_description(&pool, "v1").await;
    tamper(&pool).await;
    wait_until("drift is reported", || async {
        d.status().await["drifted"]
            .as_array()
            .is_some_and(|a| !a.is_empty())
    })
    .await;
    let s = d.status().await;
    let drift = &s["drifted"][0];
    assert_eq!(drift["kind"], "tool", "{s}");
    assert_eq!(drift["key"], "github/list_issues");
    assert!(drift["fields"]
        .as_array()
        .unwrap()
        .iter()
        .any(|f| f == "description"));
    assert_eq!(drift["who"], "mallory@example.com", "{s}");
    assert!(drift["when"].is_string());
    assert_eq!(drift["reverted"], false);
    assert_eq!(s["sync"], "OutOfSync");
    assert_eq!(
        sample(&d.metrics().await, "mcpbox_gitops_drifted_objects", &[]),
        Some(1.0)
    );
    assert!(d.logs().contains("drift: tool github/list_issues"));
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(
        description(&pool).await,
        "hacked",
        "drift was reverted without --self-heal"
    );
    drop(d);

    let mut healing: Vec<&str> = args.to_vec();
    healing.push("--self-heal");
    let d = Daemon::start(&url(&pool), &healing, &[]);
    wait_description(&pool, "v1").await;
    wait_until("status says what was reverted", || async {
        d.status().await["drifted"][0]["reverted"] == true
    })
    .await;
}

#[sqlx::test(migrations = false)]
async fn one_leader_among_replicas_and_a_standby_takes_over(pool: PgPool) {
    migrate(&pool).await;
    let (repo, _) = new_repo();
    let path = repo.path().to_str().unwrap();
    let args = ["--repo", path, "--branch", "main", "--interval", "1s"];
    let mut replicas: Vec<Option<Daemon>> = (0..3)
        .map(|_| Some(Daemon::start(&url(&pool), &args, &[])))
        .collect();
    wait_description(&pool, "v1").await;
    let roles = |replicas: &Vec<Option<Daemon>>| {
        let urls: Vec<Option<String>> = replicas
            .iter()
            .map(|d| d.as_ref().map(|d| d.url("/status")))
            .collect();
        async move {
            let mut out = vec![];
            for u in urls {
                out.push(match u {
                    Some(u) => match reqwest::get(u).await {
                        Ok(r) => r
                            .json::<Value>()
                            .await
                            .map(|v| v["role"].clone())
                            .unwrap_or(Value::Null),
                        Err(_) => Value::Null,
                    },
                    None => Value::Null,
                });
            }
            out
        }
    };
    wait_until("exactly one leader", || async {
        let r = roles(&replicas).await;
        r.iter().filter(|r| *r == "leader").count() == 1
            && r.iter().filter(|r| *r == "standby").count() == 2
    })
    .await;
    let r = roles(&replicas).await;
    let leader = r.iter().position(|r| r == "leader").unwrap();
    let mut dead = replicas[leader].take().unwrap();
    dead.child.kill().unwrap(); // SIGKILL
    let _ = dead.child.wait();
    wait_until("another replica leads", || async {
        roles(&replicas)
            .await
            .iter()
            .filter(|r| *r == "leader")
            .count()
            == 1
    })
    .await;
    commit(repo.path(), &[("list_issues.yaml", &tool("v2"))]);
    wait_description(&pool, "v2").await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(applies(&pool).await, 2, "each commit applied exactly once");
}

#[sqlx::test(migrations = false)]
async fn suspend_stops_applying_and_resume_applies(pool: PgPool) {
    migrate(&pool).await;
    let (repo, _) = new_repo();
    let path = repo.path().to_str().unwrap();
    let db = url(&pool);
    let d = Daemon::start(
        &db,
        &["--repo", path, "--branch", "main", "--interval", "1s"],
        &[],
    );
    wait_description(&pool, "v1").await;
    let control = |what: &str| {
        let out = Command::new(assert_cmd::cargo::cargo_bin("mcpbox-gitops"))
            .args(["daemon", what, "--database-url", &db])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    control("suspend");
    wait_until("status says Suspended", || async {
        d.status().await["sync"] == "Suspended"
    })
    .await;
    let sha2 = commit(repo.path(), &[("list_issues.yaml", &tool("v2"))]);
    wait_until(
        "the new commit is seen and reported out of sync",
        || async {
            let s = d.status().await;
            s["last_seen"]["commit"] == sha2.as_str()
                && s["out_of_sync"].as_array().is_some_and(|a| !a.is_empty())
                && s["suspended"] == true
        },
    )
    .await;
    assert_eq!(description(&pool).await, "v1", "applied while suspended");
    assert_eq!(
        sample(&d.metrics().await, "mcpbox_gitops_suspended", &[]),
        Some(1.0)
    );
    control("resume");
    wait_description(&pool, "v2").await;
    wait_until("status says Synced", || async {
        d.status().await["sync"] == "Synced"
    })
    .await;
}

#[sqlx::test(migrations = false)]
async fn sigterm_exits_cleanly_and_leaves_no_partial_state(pool: PgPool) {
    migrate(&pool).await;
    let (repo, _) = new_repo();
    let path = repo.path().to_str().unwrap();
    let mut d = Daemon::start(
        &url(&pool),
        &["--repo", path, "--branch", "main", "--interval", "1s"],
        &[],
    );
    wait_description(&pool, "v1").await;
    commit(
        repo.path(),
        &[
            ("list_issues.yaml", &tool("v2")),
            ("list_issues.py", CODE_V2),
        ],
    );
    // The watcher wakes the loop within ~500 ms: signal around then.
    tokio::time::sleep(Duration::from_millis(550)).await;
    // SAFETY: kill(2) on our own child's pid has no memory-safety preconditions.
    let pid = d.child.id() as i32;
    assert_eq!(unsafe { libc::kill(pid, libc::SIGTERM) }, 0);
    let mut status = None;
    for _ in 0..150 {
        if let Some(s) = d.child.try_wait().unwrap() {
            status = Some(s);
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let status = status.expect("the daemon exits within 15 s of SIGTERM");
    assert!(status.success(), "{status:?}\n{}", d.logs());
    // Either the whole commit or none of it.
    let (desc, code): (String, String) = sqlx::query_as(
        "SELECT t.description, t.python_code FROM tools t WHERE t.name = 'list_issues'",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    let n = applies(&pool).await;
    if desc == "v2" {
        assert_eq!((code.as_str(), n), (CODE_V2, 2));
    } else {
        assert_eq!((desc.as_str(), code.as_str(), n), ("v1", CODE_V1, 1));
    }
}

#[sqlx::test(migrations = false)]
async fn a_changed_tool_of_a_running_server_is_registered_again(pool: PgPool) {
    migrate(&pool).await;
    let (repo, _) = new_repo();
    // The first call fails: the commit stands and a later pass retries.
    let sandbox = FakeSandbox::start(1).await;
    let pin =
        |code: &str| crate::common::pin_for(&crate::common::basic(code, &[]), "alice@example.com");
    commit(repo.path(), &[("approvals.yaml", &pin(CODE_V1))]);
    let path = repo.path().to_str().unwrap();
    let d = Daemon::start(
        &url(&pool),
        &[
            "--repo",
            path,
            "--branch",
            "main",
            "--interval",
            "1s",
            "--sandbox-url",
            &sandbox.url(),
            "--activate-retries",
            "0",
        ],
        &[
            ("SANDBOX_API_KEY", "sandbox-key-Hn4Rt8Wq1"),
            (
                "MCPBOX_ENCRYPTION_KEY",
                "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
            ),
        ],
    );
    wait_until("the first commit is applied", || async {
        d.status().await["sync"] == "Synced"
    })
    .await;
    sqlx::query("UPDATE servers SET status = 'running' WHERE name = 'github'")
        .execute(&pool)
        .await
        .unwrap();
    commit(
        repo.path(),
        &[
            ("list_issues.py", CODE_V2),
            ("approvals.yaml", &pin(CODE_V2)),
        ],
    );
    wait_until("the sandbox got a register call", || async {
        !sandbox.to("/servers/register").is_empty()
    })
    .await;
    wait_until("a later pass retried the failed activation", || async {
        let a = &d.status().await["activation"];
        a["ok"].as_u64().unwrap_or(0) >= 1 && a["failed"] == 0
    })
    .await;
    let m = d.metrics().await;
    let calls = |result: &str| {
        sample(
            &m,
            "mcpbox_gitops_activation_calls_total",
            &[("result", result)],
        )
        .unwrap_or(0.0)
    };
    assert!(calls("ok") >= 1.0 && calls("failed") >= 1.0);
    let failed_passes = sample(
        &m,
        "mcpbox_gitops_reconcile_total",
        &[("result", "activation_failed")],
    );
    assert!(failed_passes.unwrap_or(0.0) >= 1.0);
    let code: String =
        sqlx::query_scalar("SELECT python_code FROM tools WHERE name = 'list_issues'")
            .fetch_one(&pool)
            .await
            .unwrap();
    assert_eq!(code, CODE_V2, "a failed activation never undoes the commit");
    assert!(!d.logs().contains("sandbox-key-Hn4Rt8Wq1"));
}

#[sqlx::test(migrations = false)]
async fn a_leader_that_loses_its_lock_connection_stops_leading(pool: PgPool) {
    migrate(&pool).await;
    let (repo, _) = new_repo();
    let path = repo.path().to_str().unwrap();
    let d = Daemon::start(
        &url(&pool),
        &["--repo", path, "--branch", "main", "--interval", "1s"],
        &[],
    );
    wait_description(&pool, "v1").await;
    assert_eq!(d.status().await["role"], "leader");
    // The session holding the leader lock ("mcpblead"), as an administrator
    // (or a failover) would end it.
    let killed: Vec<bool> = sqlx::query_scalar(
        "SELECT pg_terminate_backend(pid) FROM pg_locks
         WHERE locktype = 'advisory' AND granted
           AND database = (SELECT oid FROM pg_database WHERE datname = current_database())
           AND ((classid::bigint << 32) | objid::bigint) = $1",
    )
    .bind(0x6d63_7062_6c65_6164_i64)
    .fetch_all(&pool)
    .await
    .unwrap();
    assert_eq!(killed, vec![true], "one session holds the leader lock");
    wait_until("the daemon notices and steps down", || async {
        d.logs().contains("no longer leader")
    })
    .await;
    // The lock is free again: the same replica takes it back and applies.
    wait_until("it leads again", || async {
        d.status().await["role"] == "leader"
    })
    .await;
    commit(repo.path(), &[("list_issues.yaml", &tool("v2"))]);
    wait_description(&pool, "v2").await;
}

/// A commit the CLI already applied is not new to a daemon that starts after
/// it: drift made since is reported, and not reverted without --self-heal.
#[sqlx::test(migrations = false)]
async fn a_commit_applied_by_the_cli_is_not_new_to_the_daemon(pool: PgPool) {
    migrate(&pool).await;
    let db = url(&pool);
    let (repo, _) = new_repo();
    let path = repo.path().to_str().unwrap();
    let out = Command::new(assert_cmd::cargo::cargo_bin("mcpbox-gitops"))
        .args([
            "apply",
            path,
            "--git",
            "main",
            "--auto-approve",
            "--database-url",
            &db,
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    tamper(&pool).await;
    let d = Daemon::start(
        &db,
        &["--repo", path, "--branch", "main", "--interval", "1s"],
        &[],
    );
    wait_until("drift reported", || async {
        d.status().await["drifted"]
            .as_array()
            .is_some_and(|a| !a.is_empty())
    })
    .await;
    // Two more passes, and the out-of-band change still stands.
    wait_until("two more passes", || async {
        d.status().await["passes"].as_u64().unwrap_or(0) >= 3
    })
    .await;
    assert_eq!(description(&pool).await, "hacked", "{}", d.logs());
}

/// `onCodeDrift: quarantine` in a running daemon: a tool's code changed in
/// MCPBox is disabled without --self-heal, and /status and /metrics say so.
#[sqlx::test(migrations = false)]
async fn a_quarantine_shows_in_status_and_metrics(pool: PgPool) {
    migrate(&pool).await;
    let (repo, _) = new_repo();
    commit(
        repo.path(),
        &[("mcpbox-gitops.yaml", "onCodeDrift: quarantine\n")],
    );
    let path = repo.path().to_str().unwrap();
    let args = ["--repo", path, "--branch", "main", "--interval", "1s"];
    let d = Daemon::start(&url(&pool), &args, &[]);
    wait_description(&pool, "v1").await;
    sqlx::query(
        "UPDATE tools SET python_code = 'async def main(repo: str):\n    return 1\n' WHERE name = 'list_issues'",
    )
    .execute(&pool)
    .await
    .unwrap();
    wait_until("the tool is held in quarantine", || async {
        d.status().await["quarantined"]
            .as_array()
            .is_some_and(|a| a.iter().any(|q| q["action"] == "hold"))
    })
    .await;
    let enabled: bool = sqlx::query_scalar("SELECT enabled FROM tools WHERE name = 'list_issues'")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert!(!enabled, "the quarantined tool is disabled");
    assert_eq!(
        sample(&d.metrics().await, "mcpbox_gitops_quarantined_tools", &[]),
        Some(1.0)
    );
}
