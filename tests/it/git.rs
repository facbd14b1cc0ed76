//! Git sources and the pull-request workflow with real repositories: reading
//! commits (not the working tree), PR comments in markdown, saved plans that go
//! stale safely, policy read from the base commit, remote mirrors.

use std::path::Path;

use assert_cmd::Command;
use sqlx::PgPool;

use crate::common::{CODE_V1, CODE_V2, SERVER, TOOL};

use crate::common::{git, write_files as write};

fn commit(dir: &Path, message: &str) -> String {
    git(dir, &["add", "-A"]);
    git(dir, &["commit", "-q", "-m", message]);
    git(dir, &["rev-parse", "HEAD"])
}

fn bin(url: Option<&str>) -> Command {
    let mut cmd = Command::cargo_bin("mcpbox-gitops").unwrap();
    cmd.env_remove("DATABASE_URL").env("NO_COLOR", "1");
    if let Some(url) = url {
        cmd.env("DATABASE_URL", url);
    }
    cmd
}

/// An error report with miette's line wrapping undone.
fn flat(text: &str) -> String {
    text.replace('│', " ")
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}

fn run(cmd: &mut Command) -> (i32, String, String) {
    let out = cmd.output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).to_string(),
        String::from_utf8_lossy(&out.stderr).to_string(),
    )
}

/// A pin line for `tool` of the repo at `dir` (by `by`), via the CLI.
fn approve(dir: &Path, tool: &str, by: &str) {
    let (code, out, err) = run(bin(None)
        .args(["approve", tool, "--by", by, "--repo"])
        .arg(dir));
    assert_eq!(code, 0, "{out}{err}");
}

/// Two commits: the basic repo, then a code change with its pin.
fn two_commits() -> (tempfile::TempDir, String, String) {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    git(d, &["init", "-q"]);
    write(
        d,
        &[
            ("github.yaml", SERVER),
            ("list_issues.yaml", TOOL),
            ("list_issues.py", CODE_V1),
            ("mcpbox-gitops.yaml", "approval: {mode: pinned}\n"),
        ],
    );
    approve(d, "github/list_issues", "alice@example.com");
    let c1 = commit(d, "github server");
    write(d, &[("list_issues.py", CODE_V2)]);
    approve(d, "github/list_issues", "alice@example.com");
    let c2 = commit(d, "list_issues: filter by state");
    (dir, c1, c2)
}

#[test]
fn reading_a_commit_ignores_the_working_tree() {
    let (dir, _, c2) = two_commits();
    let d = dir.path();
    // An uncommitted edit and an untracked manifest.
    write(
        d,
        &[
            (
                "list_issues.py",
                "async def main():\n    return 'uncommitted'\n",
            ),
            (
                "extra.yaml",
                "apiVersion: mcpbox/v1\nkind: Server\nmetadata: {name: extra}\nspec: {}\n",
            ),
        ],
    );
    let (code, out, err) = run(bin(None)
        .arg("plan")
        .arg(d)
        .args(["--git", "HEAD", "--format", "json"]));
    assert_eq!(code, 0, "{err}");
    let plan: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(plan["revision"], c2.as_str());
    assert!(
        plan["source"].as_str().unwrap().starts_with("git:"),
        "{}",
        plan["source"]
    );
    assert!(
        !out.contains("uncommitted") && !out.contains("\"extra\""),
        "{out}"
    );
    assert!(out.contains("params={"), "HEAD's code is planned");
    // Without --git the working tree is read.
    let (_, out, _) = run(bin(None).arg("plan").arg(d).args(["--format", "json"]));
    assert!(out.contains("uncommitted"));
    // An older commit.
    let (_, out, _) = run(bin(None)
        .arg("plan")
        .arg(d)
        .args(["--git", "HEAD~1", "--format", "json"]));
    assert!(!out.contains("params={"), "HEAD~1 has the first version");
    // A revision that does not exist.
    let (code, _, err) = run(bin(None).arg("plan").arg(d).args(["--git", "nope"]));
    assert_eq!(code, 1);
    assert!(err.contains("nope"), "{err}");
}

#[sqlx::test(migrations = false)]
async fn pr_markdown_shows_the_change_its_pin_and_changes_outside(pool: PgPool) {
    crate::common::migrate(&pool).await;
    let url = crate::common::url(&pool);
    let (dir, c1, _) = two_commits();
    let d = dir.path();
    // The database is at BASE: applying HEAD~1.
    let (code, out, err) =
        run(bin(Some(&url))
            .arg("apply")
            .arg(d)
            .args(["--git", "HEAD~1", "--auto-approve"]));
    assert_eq!(code, 0, "{out}{err}");
    let pr = |extra: &[&str]| {
        let mut cmd = bin(Some(&url));
        cmd.arg("plan")
            .arg(d)
            .args(["--git", "HEAD", "--base", "HEAD~1", "--format", "markdown"])
            .args(extra);
        run(&mut cmd)
    };
    let (code, md, err) = pr(&[]);
    assert_eq!(code, 0, "{err}");
    assert!(md.contains("<details>"), "{md}");
    assert!(md.contains("|"), "a summary table: {md}");
    assert!(md.contains("list_issues"), "{md}");
    assert!(md.contains("```diff"), "{md}");
    assert!(
        md.contains("+    resp = await http.get"),
        "the changed line: {md}"
    );
    assert!(
        md.to_lowercase().contains("pin"),
        "the pin changes in this PR: {md}"
    );
    assert!(
        md.contains("matches BASE") || md.contains("matches the base"),
        "no outside changes yet: {md}"
    );
    assert!(md.chars().count() <= 65_536);

    // Someone changes MCPBox directly: the PR comment must say so.
    sqlx::query("UPDATE servers SET description = 'edited in the UI' WHERE name = 'github'")
        .execute(&pool)
        .await
        .unwrap();
    let (_, md, _) = pr(&[]);
    assert!(md.contains("outside this PR"), "{md}");
    let outside = md.split("outside this PR").nth(1).unwrap_or_default();
    assert!(
        outside.contains("update server <code>github</code>: description"),
        "{md}"
    );
    let _ = c1;
}

#[sqlx::test(migrations = false)]
async fn policy_comes_from_base_not_from_the_pr(pool: PgPool) {
    crate::common::migrate(&pool).await;
    let url = crate::common::url(&pool);
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    git(d, &["init", "-q"]);
    write(
        d,
        &[
            ("github.yaml", SERVER),
            ("list_issues.yaml", TOOL),
            ("list_issues.py", CODE_V1),
            ("mcpbox-gitops.yaml", "approvers: [alice@example.com]\n"),
        ],
    );
    commit(d, "base: only alice approves");
    // The PR changes the code, pins it as mallory, and adds mallory to approvers.
    write(
        d,
        &[
            ("list_issues.py", CODE_V2),
            ("mcpbox-gitops.yaml", "approvers: [mallory@example.com]\n"),
        ],
    );
    approve(d, "github/list_issues", "mallory@example.com");
    commit(d, "pr: self-approve");
    let (code, out, err) = run(bin(Some(&url))
        .arg("plan")
        .arg(d)
        .args(["--git", "HEAD", "--base", "HEAD~1", "--format", "json"]));
    assert_eq!(code, 0, "{err}");
    let plan: serde_json::Value = serde_json::from_str(&out).unwrap();
    let notes = plan["notes"].to_string();
    assert!(
        notes.contains("ignored pin of github/list_issues by mallory@example.com"),
        "{notes}"
    );
    let tool = plan["changes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["key"] == "github/list_issues")
        .unwrap();
    assert_ne!(tool["tool"]["approval"]["status"], "approved", "{tool}");
    // The comment shows the policy change and what it means after merge.
    let (code, md, err) = run(bin(Some(&url))
        .arg("plan")
        .arg(d)
        .args(["--git", "HEAD", "--base", "HEAD~1", "--format", "markdown"]));
    assert_eq!(code, 0, "{err}");
    let section = md
        .split("This PR changes the reconciler's policy")
        .nth(1)
        .unwrap_or_else(|| panic!("no policy section:\n{md}"));
    assert!(
        section.contains("-- alice&#64;example.com") || section.contains("-- alice@example.com"),
        "{section}"
    );
    assert!(section.contains("+- mallory@example.com"), "{section}");
    assert!(
        section.contains("tool github/list&#95;issues: approved (pinned by mallory")
            || section.contains("tool github/list_issues: approved (pinned by mallory"),
        "{section}"
    );
    // Without --base the PR's own policy would count: the difference is the point.
    let (_, out, _) = run(bin(Some(&url))
        .arg("plan")
        .arg(d)
        .args(["--git", "HEAD", "--format", "json"]));
    assert!(!out.contains("ignored pin"), "{out}");
}

#[sqlx::test(migrations = false)]
async fn saved_plans_apply_exactly_and_go_stale_per_object(pool: PgPool) {
    crate::common::migrate(&pool).await;
    let url = crate::common::url(&pool);
    let (dir, _, c2) = two_commits();
    let d = dir.path();
    let plan_file = d.join("plan.json");
    run(bin(Some(&url))
        .arg("apply")
        .arg(d)
        .args(["--git", "HEAD~1", "--auto-approve"]));

    // Fresh: plan --out, then apply --plan applies it.
    let (code, _, err) = run(bin(Some(&url))
        .arg("plan")
        .arg(d)
        .args(["--git", "HEAD", "--out"])
        .arg(&plan_file));
    assert_eq!(code, 0, "{err}");
    let saved = std::fs::read_to_string(&plan_file).unwrap();
    assert!(saved.contains(&c2), "the commit is recorded");
    let (code, out, err) = run(bin(Some(&url))
        .arg("apply")
        .arg("--plan")
        .arg(&plan_file)
        .arg("--auto-approve"));
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("Apply complete!"), "{out}");
    let (code, out, _) =
        run(bin(Some(&url))
            .arg("plan")
            .arg(d)
            .args(["--git", "HEAD", "--detailed-exitcode"]));
    assert_eq!(code, 0, "{out}");
    let audit: String = sqlx::query_scalar(
        "SELECT details::text FROM activity_logs WHERE details->>'action' = 'gitops.apply' ORDER BY created_at DESC LIMIT 1",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert!(audit.contains(&c2), "audit rows name the commit: {audit}");

    // Stale: a change to a row the plan read is refused, naming the object.
    write(
        d,
        &[(
            "list_issues.yaml",
            &TOOL.replace("List issues", "List open issues"),
        )],
    );
    commit(d, "describe");
    run(bin(Some(&url))
        .arg("plan")
        .arg(d)
        .args(["--git", "HEAD", "--out"])
        .arg(&plan_file));
    sqlx::query("UPDATE tools SET timeout_ms = 5000 WHERE name = 'list_issues'")
        .execute(&pool)
        .await
        .unwrap();
    let before: String =
        sqlx::query_scalar("SELECT description FROM tools WHERE name = 'list_issues'")
            .fetch_one(&pool)
            .await
            .unwrap();
    let (code, out, err) = run(bin(Some(&url))
        .arg("apply")
        .arg("--plan")
        .arg(&plan_file)
        .arg("--auto-approve"));
    assert_eq!(code, 1, "{out}");
    let err = flat(&err);
    assert!(
        err.contains("moved: tool github/list_issues (changed)"),
        "{err}"
    );
    let after: String =
        sqlx::query_scalar("SELECT description FROM tools WHERE name = 'list_issues'")
            .fetch_one(&pool)
            .await
            .unwrap();
    assert_eq!(before, after, "nothing was applied");

    // A change elsewhere does not stale it: another server is applied, the plan
    // touches github only, then the other server's tool drifts and a row
    // appears in a global table.
    write(
        d,
        &[
            (
                "other.yaml",
                "apiVersion: mcpbox/v1\nkind: Server\nmetadata: {name: other}\nspec: {}\n---\napiVersion: mcpbox/v1\nkind: Tool\nmetadata: {name: ping, server: other}\nspec:\n  code: |\n    async def main():\n        return 'pong'\n",
            ),
        ],
    );
    commit(d, "another server");
    let (code, out, err) =
        run(bin(Some(&url))
            .arg("apply")
            .arg(d)
            .args(["--git", "HEAD", "--auto-approve"]));
    assert_eq!(code, 0, "{out}{err}");
    write(
        d,
        &[(
            "list_issues.yaml",
            &TOOL.replace("List issues", "List the issues"),
        )],
    );
    commit(d, "describe again");
    let (code, out, err) = run(bin(Some(&url))
        .arg("plan")
        .arg(d)
        .args(["--git", "HEAD", "--out"])
        .arg(&plan_file));
    assert_eq!(code, 0, "{out}{err}");
    sqlx::query("INSERT INTO settings (id, key, value, encrypted, created_at, updated_at) VALUES (gen_random_uuid(), 'unrelated_key', 'x', false, now(), now())")
        .execute(&pool)
        .await
        .unwrap();
    sqlx::query(
        "UPDATE tools SET python_code = 'async def main():\n    return 1\n' WHERE name = 'ping'",
    )
    .execute(&pool)
    .await
    .unwrap();
    let (code, out, err) = run(bin(Some(&url))
        .arg("apply")
        .arg("--plan")
        .arg(&plan_file)
        .arg("--auto-approve"));
    assert_eq!(code, 0, "{out}{err}");

    // Another version's plan is refused.
    run(bin(Some(&url))
        .arg("plan")
        .arg(d)
        .args(["--git", "HEAD", "--out"])
        .arg(&plan_file));
    let text = std::fs::read_to_string(&plan_file).unwrap();
    let mut v: serde_json::Value = serde_json::from_str(&text).unwrap();
    v["toolVersion"] = "0.0.1-other".into();
    std::fs::write(&plan_file, v.to_string()).unwrap();
    let (code, _, err) = run(bin(Some(&url))
        .arg("apply")
        .arg("--plan")
        .arg(&plan_file)
        .arg("--auto-approve"));
    assert_eq!(code, 1);
    assert!(
        flat(&err).contains("made by mcpbox-gitops 0.0.1-other"),
        "{err}"
    );
}

#[test]
fn a_remote_is_mirrored_into_the_cache_and_reused() {
    let (origin, _, c2) = two_commits();
    let cache = tempfile::tempdir().unwrap();
    let url = format!("file://{}", origin.path().display());
    let plan = |rev: &str| {
        let mut cmd = bin(None);
        cmd.args([
            "plan",
            &url,
            "--git",
            rev,
            "--format",
            "json",
            "--git-cache",
        ])
        .arg(cache.path());
        run(&mut cmd)
    };
    let (code, out, err) = plan("main");
    assert_eq!(code, 0, "{err}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["revision"], c2.as_str());
    let mirrors: Vec<_> = std::fs::read_dir(cache.path()).unwrap().collect();
    assert_eq!(mirrors.len(), 1);
    // A new commit on the origin is fetched into the same mirror.
    write(
        origin.path(),
        &[(
            "list_issues.yaml",
            &TOOL.replace("List issues", "List every issue"),
        )],
    );
    let c3 = commit(origin.path(), "third");
    let (code, out, _) = plan("main");
    assert_eq!(code, 0);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["revision"], c3.as_str());
    assert_eq!(
        std::fs::read_dir(cache.path()).unwrap().count(),
        1,
        "the mirror is reused"
    );
    // --subdir limits the manifests to a folder.
    let (code, _, err) = {
        let mut cmd = bin(None);
        cmd.args(["plan", &url, "--subdir", "nope", "--git-cache"])
            .arg(cache.path());
        run(&mut cmd)
    };
    assert_eq!(code, 1);
    assert!(err.contains("nope"), "{err}");
}

#[test]
fn a_base_with_invalid_manifests_still_gets_a_comment() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    git(d, &["init", "-q"]);
    write(
        d,
        &[
            (
                "github.yaml",
                &SERVER.replace("description:", "descripton:"),
            ),
            ("list_issues.yaml", TOOL),
            ("list_issues.py", CODE_V1),
        ],
    );
    commit(d, "broken");
    write(d, &[("github.yaml", SERVER)]);
    commit(d, "fixed");
    let (code, md, err) = run(bin(None)
        .arg("plan")
        .arg(d)
        .args(["--git", "HEAD", "--base", "HEAD~1", "--format", "markdown"]));
    assert_eq!(code, 0, "{err}");
    assert!(
        md.contains("manifest problem(s), so changes outside this PR could not be computed"),
        "{md}"
    );
    assert!(md.contains("server <code>github</code>"), "{md}");
}

/// Issue 9.2: the directory reader and the git reader agree on links: a folder
/// linked inside is read under its name, a link out of the repository and a
/// loop are recorded as such (errors for the loader), in both.
#[cfg(unix)]
#[test]
fn directory_and_commit_read_links_alike() {
    use mcpbox_gitops::source::{git as source_git, FileSet};
    let dir = tempfile::tempdir().unwrap();
    git(dir.path(), &["init", "-q", "-b", "main"]);
    write(
        dir.path(),
        &[("real/deep/x.yaml", "k: v\n"), ("top.yaml", "k: w\n")],
    );
    std::os::unix::fs::symlink("real", dir.path().join("alias")).unwrap();
    std::os::unix::fs::symlink("/etc", dir.path().join("away")).unwrap();
    std::os::unix::fs::symlink("..", dir.path().join("real/up")).unwrap();
    commit(dir.path(), "links");
    let from_dir = FileSet::from_dir(dir.path()).unwrap();
    let from_git = source_git::from_commit(dir.path(), "HEAD", None)
        .unwrap()
        .file_set;
    assert_eq!(from_dir.files, from_git.files);
    assert!(from_dir.files.contains_key("alias/deep/x.yaml"));
}

/// What a pull request adds to its plan is plan data too: the JSON plan of a
/// PR names BASE and the pins it moves (issue 12: computed once, every output).
#[test]
fn a_pull_request_plan_in_json_carries_the_pr_facts() {
    let (dir, c1, c2) = two_commits();
    let (code, out, err) = run(bin(None)
        .arg("plan")
        .arg(dir.path())
        .args(["--git", &c2, "--base", &c1, "--format", "json"]));
    assert_eq!(code, 0, "{err}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    let pr = &v["pull_request"];
    assert!(
        pr["base"].as_str().is_some_and(|b| b.contains(&c1[..12])),
        "{pr}"
    );
    assert_eq!(
        pr["pins_in_range"],
        serde_json::json!(["github/list_issues"])
    );
    assert!(pr["policy_change"].is_null(), "{pr}");
    // Not a PR: no such section.
    let (_, plain, _) = run(bin(None)
        .arg("plan")
        .arg(dir.path())
        .args(["--git", &c2, "--format", "json"]));
    let v: serde_json::Value = serde_json::from_str(&plain).unwrap();
    assert!(v.get("pull_request").is_none());
}
