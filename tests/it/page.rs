//! Issue 16: the daemon's status page in a real headless browser (Debian's
//! Chromium): the daemon runs as a child process against a real database and git
//! repository, and each state — tools waiting, synced, suspended and out of sync
//! (with hostile HTML in a description), drift, an invalid commit — is loaded,
//! its rendered DOM checked, and a screenshot taken (into
//! `MCPBOX_GITOPS_SCREENSHOTS` when set, else a temporary folder).
//!
//! Without Chromium these tests say so and pass, unless
//! `MCPBOX_GITOPS_REQUIRE_BROWSER` is set (CI sets it: there they must run).

use std::path::{Path, PathBuf};
use std::process::Command;

use sqlx::PgPool;

use crate::common::{migrate, url};
use crate::daemon::{commit, new_repo, tamper, tool, wait_until, Daemon};

/// The Chromium binary, or `None` (and why) when this machine has none.
fn chromium() -> Option<PathBuf> {
    for name in ["chromium", "chromium-browser", "google-chrome"] {
        if let Ok(out) = Command::new("which").arg(name).output() {
            if out.status.success() {
                let p = String::from_utf8_lossy(&out.stdout).trim().to_string();
                if !p.is_empty() {
                    return Some(PathBuf::from(p));
                }
            }
        }
    }
    assert!(
        std::env::var_os("MCPBOX_GITOPS_REQUIRE_BROWSER").is_none(),
        "MCPBOX_GITOPS_REQUIRE_BROWSER is set but no chromium is installed (apt-get install chromium)"
    );
    eprintln!("skipping the status page's browser test: no chromium on this machine (apt-get install chromium)");
    None
}

/// The DOM Chromium renders for `url`, and a screenshot of it in `shot`.
fn browse(browser: &Path, url: &str, shot: &Path) -> String {
    let profile = tempfile::tempdir().unwrap();
    let common = |cmd: &mut Command| {
        cmd.args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--no-first-run",
            "--hide-scrollbars",
        ])
        .arg(format!("--user-data-dir={}", profile.path().display()));
    };
    let mut dump = Command::new(browser);
    common(&mut dump);
    let out = dump
        .args(["--virtual-time-budget=2000", "--dump-dom", url])
        .output()
        .unwrap();
    let dom = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(
        dom.contains("<main>"),
        "no page rendered: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut snap = Command::new(browser);
    common(&mut snap);
    let ok = snap
        .args(["--window-size=1100,1400"])
        .arg(format!("--screenshot={}", shot.display()))
        .arg(url)
        .output()
        .unwrap();
    assert!(
        ok.status.success(),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );
    let png = std::fs::read(shot).unwrap();
    assert!(
        png.starts_with(b"\x89PNG") && png.len() > 10_000,
        "{}",
        shot.display()
    );
    dom
}

/// The text of the element with `id`, roughly (from the serialised DOM).
fn section<'a>(dom: &'a str, id: &str) -> &'a str {
    let start = dom
        .find(&format!("id=\"{id}\""))
        .unwrap_or_else(|| panic!("no #{id} in\n{dom}"));
    let rest = &dom[start..];
    let end = rest
        .find("</section>")
        .or_else(|| rest.find("</header>"))
        .unwrap_or(rest.len());
    &rest[..end]
}

#[sqlx::test(migrations = false)]
async fn the_status_page_shows_every_state_in_a_browser(pool: PgPool) {
    let Some(browser) = chromium() else { return };
    migrate(&pool).await;
    let db = url(&pool);
    let shots = match std::env::var_os("MCPBOX_GITOPS_SCREENSHOTS") {
        Some(d) => PathBuf::from(d),
        None => std::env::temp_dir().join(format!("mcpbox-gitops-page-{}", std::process::id())),
    };
    std::fs::create_dir_all(&shots).unwrap();
    let (repo, _) = new_repo();
    let d = Daemon::start(
        &db,
        &[
            "--repo",
            repo.path().to_str().unwrap(),
            "--branch",
            "main",
            "--interval",
            "1s",
        ],
        &[],
    );
    let page = d.url("/");

    // Synced, with the new tool waiting for review in MCPBox.
    wait_until("synced", || async { d.status().await["sync"] == "Synced" }).await;
    let dom = browse(&browser, &page, &shots.join("1-synced.png"));
    assert!(section(&dom, "sync").contains("Synced"));
    let review = section(&dom, "review");
    assert!(
        review.contains("github") && review.contains("list_issues"),
        "{review}"
    );
    assert!(section(&dom, "passes").contains("applied"), "{dom}");
    assert!(
        dom.contains("<svg") && dom.contains("class=\"durations\""),
        "{dom}"
    );

    // Suspended, and out of sync: a commit whose description is hostile HTML.
    let out = Command::new(assert_cmd::cargo::cargo_bin("mcpbox-gitops"))
        .args(["daemon", "suspend", "--database-url", &db])
        .output()
        .unwrap();
    assert!(out.status.success());
    let hostile = "<script>alert(1)</script> <img src=x onerror=alert(2)>";
    commit(
        repo.path(),
        &[("list_issues.yaml", &tool(&format!("'{hostile}'")))],
    );
    wait_until("suspended and out of sync", || async {
        let s = d.status().await;
        s["sync"] == "Suspended" && s["out_of_sync"].as_array().is_some_and(|a| !a.is_empty())
    })
    .await;
    let dom = browse(&browser, &page, &shots.join("2-suspended-out-of-sync.png"));
    assert!(section(&dom, "sync").contains("Suspended"));
    let pending = section(&dom, "out-of-sync");
    assert!(
        pending.contains("tool.github/list_issues will be updated"),
        "{pending}"
    );
    // Shown as text: the browser made no element of it.
    assert!(
        pending.contains("&lt;script&gt;alert(1)&lt;/script&gt;"),
        "{pending}"
    );
    assert!(
        pending.contains("&lt;img src=x onerror=alert(2)&gt;"),
        "{pending}"
    );
    assert!(!dom.contains("<script") && !dom.contains("<img"), "{dom}");
    let out = Command::new(assert_cmd::cargo::cargo_bin("mcpbox-gitops"))
        .args(["daemon", "resume", "--database-url", &db])
        .output()
        .unwrap();
    assert!(out.status.success());
    wait_until("synced again", || async {
        d.status().await["sync"] == "Synced"
    })
    .await;

    // Drift, with who did it.
    tamper(&pool).await;
    wait_until("drift reported", || async {
        d.status().await["drifted"]
            .as_array()
            .is_some_and(|a| !a.is_empty())
    })
    .await;
    let dom = browse(&browser, &page, &shots.join("3-drift.png"));
    let drift = section(&dom, "drift");
    assert!(
        drift.contains("tool github/list_issues") && drift.contains("mallory@example.com"),
        "{drift}"
    );
    assert!(drift.contains("reported only"), "{drift}");

    // An invalid commit: its diagnostics with file:line:col.
    commit(
        repo.path(),
        &[(
            "broken.yaml",
            "apiVersion: mcpbox/v1\nkind: Server\nmetadata: {name: x}\nspec: {bogus: 1}\n",
        )],
    );
    wait_until("invalid commit reported", || async {
        d.status().await["diagnostics"]
            .as_array()
            .is_some_and(|a| !a.is_empty())
    })
    .await;
    let dom = browse(&browser, &page, &shots.join("4-invalid-commit.png"));
    let invalid = section(&dom, "out-of-sync");
    assert!(invalid.contains("broken.yaml:4:"), "{invalid}");
    assert!(invalid.contains("E002"), "{invalid}");
    eprintln!("screenshots in {}", shots.display());
}

/// With `--ui-actions`, "suspend" needs the token and this page's CSRF token;
/// without them nothing happens.
#[sqlx::test(migrations = false)]
async fn page_actions_need_the_token_and_the_csrf_token(pool: PgPool) {
    migrate(&pool).await;
    let db = url(&pool);
    let (repo, _) = new_repo();
    let token = "ui-token-Kd8Rw2Lq5Zx9";
    let d = Daemon::start(
        &db,
        &[
            "--repo",
            repo.path().to_str().unwrap(),
            "--branch",
            "main",
            "--interval",
            "1s",
            "--ui-actions",
        ],
        &[("MCPBOX_GITOPS_UI_TOKEN", token)],
    );
    wait_until("synced", || async { d.status().await["sync"] == "Synced" }).await;
    let html = reqwest::get(d.url("/"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let csrf = html
        .split("name=\"csrf\" value=\"")
        .nth(1)
        .and_then(|r| r.split('"').next())
        .unwrap()
        .to_string();
    assert!(!html.contains(token));
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let post = |form: Vec<(&'static str, String)>| {
        let client = client.clone();
        let url = d.url("/ui/suspend");
        async move {
            // application/x-www-form-urlencoded, as the page's form sends it.
            let body: Vec<String> = form
                .iter()
                .map(|(k, v)| {
                    format!(
                        "{k}={}",
                        v.replace('%', "%25")
                            .replace('&', "%26")
                            .replace('=', "%3D")
                            .replace(' ', "+")
                    )
                })
                .collect();
            client
                .post(url)
                .header("content-type", "application/x-www-form-urlencoded")
                .body(body.join("&"))
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        }
    };
    assert_eq!(
        post(vec![
            ("csrf", csrf.clone()),
            ("token", "wrong-token-000000".into())
        ])
        .await,
        403
    );
    assert_eq!(
        post(vec![("csrf", "forged".into()), ("token", token.into())]).await,
        403
    );
    let suspended: Option<bool> =
        sqlx::query_scalar("SELECT suspended FROM mcpbox_gitops.daemon_state")
            .fetch_optional(&pool)
            .await
            .unwrap();
    assert_ne!(suspended, Some(true));
    assert_eq!(
        post(vec![("csrf", csrf), ("token", token.into())]).await,
        303
    );
    wait_until("suspended", || async {
        d.status().await["sync"] == "Suspended"
    })
    .await;
}
