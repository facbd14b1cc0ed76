//! The real binary: exit codes, stdout/stderr, and golden plans.

use assert_cmd::Command;
use predicates::prelude::*;
use sqlx::PgPool;

fn bin() -> Command {
    let mut cmd = Command::cargo_bin("mcpbox-gitops").unwrap();
    cmd.current_dir(env!("CARGO_MANIFEST_DIR"))
        .env_remove("DATABASE_URL")
        .env("NO_COLOR", "1");
    cmd
}

#[test]
fn validate_examples_is_clean() {
    bin()
        .args(["validate", "examples/homelab"])
        .assert()
        .success()
        .stdout(predicate::str::contains("is valid"));
}

/// Issue 17: code that needs what the manifests do not grant is a warning
/// naming the line in the `.py` (an error with `--strict`); a grant no tool
/// uses is a warning too. The repository stays valid.
#[test]
fn validate_warns_about_needs_not_granted_and_strict_fails() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("s.yaml"),
        "apiVersion: mcpbox/v1\nkind: Server\nmetadata: {name: s}\nspec:\n  network:\n    - {host: spare.example.com, justification: unused}\n---\napiVersion: mcpbox/v1\nkind: Tool\nmetadata: {name: t, server: s}\nspec:\n  codeFile: t.py\n",
    )
    .unwrap();
    std::fs::write(
        dir.path().join("t.py"),
        "import yaml\n\n\nasync def main():\n    return await http.get(\"https://api.example.com/v1\")\n",
    )
    .unwrap();
    bin()
        .args(["validate"])
        .arg(dir.path())
        .assert()
        .success()
        .stdout(predicate::str::contains("is valid with 3 warning(s)"))
        .stderr(predicate::str::contains("t.py:1:8"))
        .stderr(predicate::str::contains("W001 needed-not-granted"))
        .stderr(predicate::str::contains("t.py:5:27"))
        .stderr(predicate::str::contains(
            "will fail at run time in MCPBox's sandbox",
        ))
        .stderr(predicate::str::contains("0 error(s) and 3 warning(s)"));
    bin()
        .args(["validate", "--strict"])
        .arg(dir.path())
        .assert()
        .code(1)
        .stdout(predicate::str::is_empty())
        .stderr(predicate::str::contains("2 error(s) and 1 warning(s)"));
    let out = bin()
        .args(["validate", "--format", "json"])
        .arg(dir.path())
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let v: serde_json::Value = serde_json::from_slice(&out).unwrap();
    assert_eq!(v["valid"], true);
    assert_eq!(v["diagnostics"][1]["severity"], "warning");
    assert_eq!(v["diagnostics"][1]["file"], "t.py");
    assert_eq!(v["diagnostics"][1]["location"]["line"], 1);
    // Spare host: W002, pointing at the manifest entry.
    let codes: Vec<&str> = v["diagnostics"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["code"].as_str().unwrap())
        .collect();
    assert_eq!(
        codes,
        [
            "W002 granted-not-used",
            "W001 needed-not-granted",
            "W001 needed-not-granted"
        ]
    );
}

#[test]
fn plan_without_database_plans_against_an_empty_mcpbox() {
    let out = bin()
        .args(["plan", "examples/homelab", "--detailed-exitcode"])
        .assert()
        .code(2)
        .get_output()
        .stdout
        .clone();
    let text = String::from_utf8(out).unwrap();
    assert!(text.contains("against an empty MCPBox"), "{text}");
    assert!(text.lines().last().unwrap().starts_with("Plan: "), "{text}");
}

#[test]
fn plan_text_is_golden_and_deterministic() {
    let a = bin()
        .args(["plan", "examples/homelab"])
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let b = bin()
        .args(["plan", "examples/homelab"])
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    assert_eq!(a, b, "planning twice must give byte-identical output");
    insta::assert_snapshot!("homelab_plan_text", String::from_utf8(a).unwrap());
}

#[test]
fn plan_json_is_golden() {
    let out = bin()
        .args(["plan", "examples/homelab", "--format", "json"])
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let v: serde_json::Value = serde_json::from_slice(&out).unwrap();
    assert_eq!(v["format_version"], mcpbox_gitops::plan::FORMAT_VERSION);
    // The owner names where the repository is on this machine.
    assert!(v["owner"]
        .as_str()
        .is_some_and(|o| o.ends_with("examples/homelab")));
    insta::assert_json_snapshot!("homelab_plan_json", v, {".tool_version" => "[version]", ".owner" => "[owner]"});
}

/// Issue 17: the homelab example's pull-request comment, with the "used by"
/// column (which tools use each new host and module) and the dynamic note.
#[test]
fn plan_markdown_is_golden_with_used_by() {
    let out = bin()
        .args(["plan", "examples/homelab", "--format", "markdown"])
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let md = String::from_utf8(out).unwrap();
    assert!(md.contains("| | count | what | used by |"), "{md}");
    insta::assert_snapshot!("homelab_plan_markdown", md);
}

#[test]
fn invalid_repo_exits_1_with_file_line_col() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("s.yaml"),
        "apiVersion: mcpbox/v1\nkind: Server\nmetadata: {name: s}\nspec:\n  descripton: typo\n",
    )
    .unwrap();
    bin()
        .args(["plan"])
        .arg(dir.path())
        .assert()
        .code(1)
        .stderr(predicate::str::contains("s.yaml:5:3"))
        .stderr(predicate::str::contains("E002"))
        .stderr(predicate::str::contains("unknown field `descripton`"));
    let out = bin()
        .args(["validate", "--format", "json"])
        .arg(dir.path())
        .assert()
        .code(1)
        .get_output()
        .stdout
        .clone();
    let v: serde_json::Value = serde_json::from_slice(&out).unwrap();
    assert_eq!(v["diagnostics"][0]["location"]["line"], 5);
}

#[test]
fn approve_writes_a_pin_for_the_current_content() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("s.yaml"), crate::common::SERVER).unwrap();
    std::fs::write(dir.path().join("t.yaml"), crate::common::TOOL).unwrap();
    std::fs::write(dir.path().join("list_issues.py"), crate::common::CODE_V1).unwrap();
    let schema_line = "# yaml-language-server: $schema=schemas/approvals.schema.json";
    std::fs::write(
        dir.path().join("approvals.yaml"),
        format!("{schema_line}\napprovals: []\n"),
    )
    .unwrap();
    bin()
        .args([
            "approve",
            "github/list_issues",
            "--by",
            "alice@example.com",
            "--path",
        ])
        .arg(dir.path())
        .assert()
        .success()
        .stdout(predicate::str::contains("pinned github/list_issues"))
        // Issue 15.4: the old spelling works, and says it is deprecated.
        .stderr(predicate::str::contains(
            "`approve --path` is deprecated: use `--repo`",
        ));
    let text = std::fs::read_to_string(dir.path().join("approvals.yaml")).unwrap();
    assert!(text.starts_with(schema_line), "{text}");
    let pins = mcpbox_gitops::approvals::parse("approvals.yaml", &text).unwrap();
    let files = mcpbox_gitops::source::FileSet::from_dir(dir.path()).unwrap();
    let d = crate::common::desired(&files);
    let Some(mcpbox_gitops::model::Object::Tool(t)) = d.objects.get(&(
        mcpbox_gitops::model::Kind::Tool,
        "github/list_issues".into(),
    )) else {
        panic!()
    };
    assert_eq!(pins["github/list_issues"].sha256, t.content_hash());
    bin()
        .args(["approve", "github/nope", "--by", "a", "--repo"])
        .arg(dir.path())
        .assert()
        .code(1)
        .stderr(predicate::str::contains("no tool `github/nope`"));
}

/// The quickstart story end to end: migrate, plan (exit 2), apply, plan (exit 0),
/// then change one tool's code: a code diff, version 2, pending_review.
#[sqlx::test(migrations = false)]
async fn migrate_plan_apply_plan_story(pool: PgPool) {
    let url = crate::common::url(&pool);
    let dir = tempfile::tempdir().unwrap();
    copy_dir(
        &std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/homelab"),
        dir.path(),
    );
    let run = |args: &[&str]| {
        let mut c = bin();
        c.env("DATABASE_URL", &url).args(args);
        c
    };
    run(&["db", "check"])
        .assert()
        .code(1)
        .stdout(predicate::str::contains("not ready"));
    run(&["db", "migrate"]).assert().success();
    run(&["db", "check"]).assert().success();
    let path = dir.path().to_str().unwrap();
    run(&["plan", path, "--detailed-exitcode"]).assert().code(2);
    run(&["apply", path])
        .write_stdin("")
        .assert()
        .code(1)
        .stderr(predicate::str::contains("--auto-approve"));
    run(&["apply", path, "--auto-approve"])
        .assert()
        .success()
        .stdout(predicate::str::contains("Apply complete!"));
    run(&["plan", path, "--detailed-exitcode"])
        .assert()
        .code(0)
        .stdout(predicate::str::contains("No changes."));
    // weather/current_weather is pinned in the example: approved at version 1.
    let (status, version): (String, i32) = sqlx::query_as(
        "SELECT approval_status::text, current_version FROM tools WHERE name = 'current_weather'",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!((status.as_str(), version), ("approved", 1));
    let py = dir.path().join("servers/weather/tools/current_weather.py");
    let code = std::fs::read_to_string(&py).unwrap();
    std::fs::write(
        &py,
        code.replace("async def main(", "# reviewed\nasync def main("),
    )
    .unwrap();
    run(&["plan", path, "--detailed-exitcode"])
        .assert()
        .code(2)
        .stdout(predicate::str::contains("+# reviewed"))
        .stdout(predicate::str::contains("pin is stale"))
        .stdout(predicate::str::contains(
            "Plan: 0 to add, 1 to change, 0 to destroy.",
        ));
    run(&["apply", path, "--auto-approve"]).assert().success();
    let (status, version): (String, i32) = sqlx::query_as(
        "SELECT approval_status::text, current_version FROM tools WHERE name = 'current_weather'",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(status, "pending_review");
    assert_eq!(version, 2);
    let n: i64 = sqlx::query_scalar("SELECT count(*) FROM tool_versions v JOIN tools t ON t.id = v.tool_id WHERE t.name = 'current_weather'").fetch_one(&pool).await.unwrap();
    assert_eq!(n, 2);
}

fn copy_dir(from: &std::path::Path, to: &std::path::Path) {
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            std::fs::create_dir_all(&target).unwrap();
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}

/// Snippets never show a credential, whatever diagnostic they are shown for: a
/// token next to an unrelated mistake, two tokens on one line, a token in a file
/// that is not valid YAML, and a password under a misspelt kind.
#[test]
fn diagnostics_never_print_a_credential() {
    let gh = "ghp_aB3dE5gH7jK9mN1pQ3sT5vW7yZ9bC1dE3fG5";
    let gl = "glpat-zZ3dE5gH7jK9mN1pQ3sT5vW";
    let dir = tempfile::tempdir().unwrap();
    let files = [
        (
            "a.yaml",
            format!("apiVersion: mcpbox/v1\nkind: Server\nmetadata: {{name: s}}\nspec:\n  description: \"use {gh} or {gl}\"\n  defaultTimeoutMs: 5\n"),
        ),
        ("b.yaml", format!("a: [1, 2\ntoken: {gh}\n")),
        (
            "c.yaml",
            "apiVersion: mcpbox/v1\nkind: Sever\nmetadata: {name: t}\npassword: \"hunter2-Zq8\"\nspec: {}\n".to_string(),
        ),
    ];
    for (p, t) in &files {
        std::fs::write(dir.path().join(p), t).unwrap();
    }
    for format in ["text", "json"] {
        let out = bin()
            .args(["validate", "--format", format])
            .arg(dir.path())
            .assert()
            .code(1)
            .get_output()
            .clone();
        let text = String::from_utf8_lossy(&out.stdout).to_string()
            + &String::from_utf8_lossy(&out.stderr);
        for secret in [gh, gl, "hunter2-Zq8"] {
            assert!(!text.contains(secret), "{format} leaked {secret}:\n{text}");
        }
        assert!(text.contains("E013") && text.contains("E060"), "{text}");
    }
}

/// Issue 13.1: three `apply --auto-approve` of one repository started together
/// (CI jobs of three merges) all succeed: the ones that waited for the lock
/// re-plan inside it and apply what is left, instead of failing as stale.
#[sqlx::test(migrations = false)]
async fn concurrent_auto_approved_applies_all_succeed(pool: PgPool) {
    crate::common::migrate(&pool).await;
    let url = crate::common::url(&pool);
    let exe = assert_cmd::cargo::cargo_bin("mcpbox-gitops");
    let children: Vec<_> = (0..3)
        .map(|_| {
            std::process::Command::new(&exe)
                .current_dir(env!("CARGO_MANIFEST_DIR"))
                .args(["apply", "examples/homelab", "--auto-approve"])
                .env("DATABASE_URL", &url)
                .env("NO_COLOR", "1")
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    let mut applied = 0;
    for child in children {
        let out = child.wait_with_output().unwrap();
        let text = String::from_utf8_lossy(&out.stdout).to_string()
            + &String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(0), "{text}");
        if text.contains("Apply complete!") && !text.contains("0 added, 0 changed") {
            applied += 1;
        }
    }
    // Every object exists once, and the next plan is empty.
    let tools: i64 = sqlx::query_scalar("SELECT count(*) FROM tools")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(tools, 12);
    assert!(applied >= 1);
    bin()
        .args(["plan", "examples/homelab", "--detailed-exitcode"])
        .env("DATABASE_URL", &url)
        .assert()
        .code(0);
}

/// Issue 15.3: `approve` edits approvals.yaml in place: re-pinning one tool of
/// the example changes exactly that pin's lines, byte for byte; every other
/// pin, comment and quote stays.
#[test]
fn approve_changes_exactly_the_pin_it_writes() {
    let dir = tempfile::tempdir().unwrap();
    copy_dir(
        &std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/homelab"),
        dir.path(),
    );
    let before = std::fs::read_to_string(dir.path().join("approvals.yaml")).unwrap();
    bin()
        .args([
            "approve",
            // Not weather/forecast: its pin is signed, and a new pin drops the
            // signature of the old one (tests/it/signing.rs).
            "weather/current_weather",
            "--by",
            "dana@homelab.example",
            "--repo",
        ])
        .arg(dir.path())
        .assert()
        .success();
    let after = std::fs::read_to_string(dir.path().join("approvals.yaml")).unwrap();
    let changed: Vec<(usize, &str, &str)> = before
        .lines()
        .zip(after.lines())
        .enumerate()
        .filter(|(_, (a, b))| a != b)
        .map(|(i, (a, b))| (i, a, b))
        .collect();
    assert_eq!(before.lines().count(), after.lines().count(), "{after}");
    assert_eq!(changed.len(), 2, "{changed:#?}");
    assert!(
        changed[0].2.trim() == "approvedBy: dana@homelab.example",
        "{changed:#?}"
    );
    assert!(
        changed[1].2.trim().starts_with("approvedAt: \""),
        "{changed:#?}"
    );
    // Both lines belong to the current_weather pin.
    let pin_line = before
        .lines()
        .position(|l| l.trim() == "- tool: weather/current_weather")
        .unwrap();
    assert_eq!((changed[0].0, changed[1].0), (pin_line + 2, pin_line + 3));
}

/// Issue 15.2: `plan --out` says where the plan went and the exact command to
/// apply it, and that command, as printed, applies it; `apply --plan` does not
/// open with "Planning"; a markdown plan names the database without credentials.
#[sqlx::test(migrations = false)]
async fn plan_out_prints_the_command_that_applies_it(pool: PgPool) {
    crate::common::migrate(&pool).await;
    let url = crate::common::url(&pool);
    let dir = tempfile::tempdir().unwrap();
    let saved = dir.path().join("my plan.json");
    let out = bin()
        .args(["plan", "examples/homelab", "--out"])
        .arg(&saved)
        .env("DATABASE_URL", &url)
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let text = String::from_utf8(out).unwrap();
    assert!(
        text.contains(&format!("Saved the plan to: {}", saved.display())),
        "{text}"
    );
    let command = text
        .lines()
        .map(str::trim)
        .find(|l| l.starts_with("mcpbox-gitops apply --plan "))
        .expect("the next command is printed");
    // The printed words, as a shell would split them (one quoted path).
    let path = command
        .trim_start_matches("mcpbox-gitops apply --plan ")
        .trim_matches('\'');
    assert_eq!(std::path::Path::new(path), saved);
    let applied = bin()
        .args(["apply", "--plan", path, "--auto-approve"])
        .env("DATABASE_URL", &url)
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let applied = String::from_utf8(applied).unwrap();
    assert!(applied.starts_with("Applying the saved plan "), "{applied}");
    assert!(!applied.contains("Planning "), "{applied}");
    // Markdown names the database, never its password.
    let o = pool.connect_options();
    let with_password = format!(
        "postgres://{}:hunter2-Qz@{}:{}/{}",
        o.get_username(),
        o.get_host(),
        o.get_port(),
        o.get_database().unwrap_or("postgres")
    );
    let md = bin()
        .args(["plan", "examples/homelab", "--format", "markdown"])
        .env("DATABASE_URL", &with_password)
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let md = String::from_utf8(md).unwrap();
    let want = format!(
        "planned against <code>{}:{}/{}</code>",
        o.get_host(),
        o.get_port(),
        o.get_database().unwrap_or("postgres")
    );
    assert!(md.replace("&#95;", "_").contains(&want), "{md}");
    assert!(!md.contains("hunter2"), "{md}");
}

/// Issue 15.6: completions, man pages, `show` of a saved plan, and every
/// command's `--help` names the environment it reads.
#[sqlx::test(migrations = false)]
async fn everyday_commands_work(pool: PgPool) {
    let out = |args: &[&str]| {
        let o = bin()
            .args(args)
            .assert()
            .success()
            .get_output()
            .stdout
            .clone();
        String::from_utf8(o).unwrap()
    };
    let bash = out(&["completions", "bash"]);
    assert!(
        bash.contains("_mcpbox__gitops()") && bash.contains("--auto-approve"),
        "{bash}"
    );
    assert!(out(&["completions", "fish"]).contains("complete -c mcpbox-gitops"));
    let man = out(&["man"]);
    assert!(
        man.starts_with(".ie") || man.contains(".TH mcpbox-gitops"),
        "{man}"
    );
    let dir = tempfile::tempdir().unwrap();
    out(&["man", "--out", dir.path().to_str().unwrap()]);
    assert!(dir.path().join("mcpbox-gitops-plan.1").exists());
    for cmd in ["plan", "apply", "validate", "export", "show"] {
        let help = out(&[cmd, "--help"]);
        assert!(
            help.contains("DATABASE_URL")
                && help.contains("MCPBOX_ENCRYPTION_KEY")
                && help.contains("RUST_LOG"),
            "{cmd}: {help}"
        );
    }
    // show: a saved plan in each format, as plan printed it.
    crate::common::migrate(&pool).await;
    let url = crate::common::url(&pool);
    let saved = dir.path().join("plan.json");
    let printed = bin()
        .args(["plan", "examples/homelab", "--out"])
        .arg(&saved)
        .env("DATABASE_URL", &url)
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let printed = String::from_utf8(printed).unwrap();
    let shown = out(&["show", saved.to_str().unwrap()]);
    assert!(
        printed.starts_with(&shown),
        "show differs from plan:\n{shown}"
    );
    let json: serde_json::Value =
        serde_json::from_str(&out(&["show", saved.to_str().unwrap(), "--format", "json"])).unwrap();
    assert_eq!(json["summary"]["add"], 33);
    assert!(out(&["show", saved.to_str().unwrap(), "--format", "markdown"]).contains("<details>"));
}

/// Issue 15.8: `--compact` summarises a new tool's code; the full plan shows it.
#[test]
fn compact_plans_summarise_new_code() {
    let full = bin()
        .args(["plan", "examples/homelab"])
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let compact = bin()
        .args(["plan", "examples/homelab", "--compact"])
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let (full, compact) = (
        String::from_utf8(full).unwrap(),
        String::from_utf8(compact).unwrap(),
    );
    assert!(
        compact.contains("+ python_code          = (+38 lines, sha256:"),
        "{compact}"
    );
    assert!(!compact.contains("@@ -0,0"), "{compact}");
    assert!(full.contains("@@ -0,0 +1,38 @@"));
    assert!(compact.lines().count() * 2 < full.lines().count());
    // The same closing tally.
    assert_eq!(full.lines().last(), compact.lines().last());
}

/// Issue 11: the source size limit (64 MiB by default) is a setting: a fleet
/// of 100,000 tools is larger. Too small a limit names itself and the
/// variable that raises it; a large enough one reads the repository.
#[test]
fn the_source_size_limit_is_named_and_can_be_raised() {
    let example = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/homelab");
    let out = bin()
        .args(["validate", &example.to_string_lossy()])
        .env("MCPBOX_GITOPS_MAX_SOURCE_BYTES", "100")
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    // The report wraps at the terminal's width: compare its words.
    let words: Vec<&str> = err.split_whitespace().filter(|w| *w != "│").collect();
    let flat = words.join(" ");
    assert!(
        flat.contains("larger than 100 bytes") && flat.contains("MCPBOX_GITOPS_MAX_SOURCE_BYTES"),
        "{err}"
    );
    bin()
        .args(["validate", &example.to_string_lossy()])
        .env("MCPBOX_GITOPS_MAX_SOURCE_BYTES", "1000000000")
        .assert()
        .success();
}

/// A plan's text is streamed to stdout as it is rendered: a reader that went
/// away (`| head`) ends it quietly with the plan's own exit code, not a panic
/// or an I/O error.
#[test]
fn a_streamed_plan_into_a_closed_pipe_ends_quietly() {
    let mut child = std::process::Command::new(assert_cmd::cargo::cargo_bin("mcpbox-gitops"))
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .args(["plan", "examples/homelab"])
        .env_remove("DATABASE_URL")
        .env("NO_COLOR", "1")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Closed before the plan is written: its first write meets EPIPE.
    drop(child.stdout.take());
    let out = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{err}");
    assert!(
        !err.contains("panicked") && !err.contains("Broken pipe"),
        "{err}"
    );
}
