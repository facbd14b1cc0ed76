//! Everyday commands as a new user runs them: `init` then `fmt`, `validate`,
//! `approve` and `plan` on what it wrote.

use assert_cmd::Command;
use predicates::prelude::*;

fn bin() -> Command {
    let mut cmd = Command::cargo_bin("mcpbox-gitops").unwrap();
    cmd.env_remove("DATABASE_URL").env("NO_COLOR", "1");
    cmd
}

#[test]
fn init_writes_a_repository_that_validates_formats_approves_and_plans() {
    let dir = tempfile::tempdir().unwrap();
    let repo = dir.path().join("mcp");
    bin()
        .args(["init"])
        .arg(&repo)
        .assert()
        .success()
        .stdout(predicate::str::contains(
            "mcpbox-gitops approve example/hello",
        ));
    for f in [
        "servers/example/server.yaml",
        "servers/example/tools/hello.yaml",
        "servers/example/tools/hello.py",
        "approvals.yaml",
        "mcpbox-gitops.yaml",
        "schemas/manifest.schema.json",
        "README.md",
    ] {
        assert!(repo.join(f).is_file(), "{f} missing");
    }
    bin().arg("validate").arg(&repo).assert().success();
    bin()
        .args(["fmt", "--check"])
        .arg(&repo)
        .assert()
        .success()
        .stderr(predicate::str::contains("all formatted"));
    // The approve command init suggests works as printed.
    bin()
        .args([
            "approve",
            "example/hello",
            "--by",
            "you@example.com",
            "--repo",
        ])
        .arg(&repo)
        .assert()
        .success();
    let approvals = std::fs::read_to_string(repo.join("approvals.yaml")).unwrap();
    assert!(approvals.contains("tool: example/hello"), "{approvals}");
    bin().args(["fmt", "--check"]).arg(&repo).assert().success();
    let plan = bin()
        .arg("plan")
        .arg(&repo)
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let plan = String::from_utf8(plan).unwrap();
    assert!(plan.contains("example/hello"), "{plan}");
    assert!(plan.contains("approved"), "{plan}");

    // A second init refuses rather than overwrite, and changes nothing.
    std::fs::write(repo.join("README.md"), "mine\n").unwrap();
    bin()
        .arg("init")
        .arg(&repo)
        .assert()
        .code(1)
        .stderr(predicate::str::contains("--force"));
    assert_eq!(
        std::fs::read_to_string(repo.join("README.md")).unwrap(),
        "mine\n"
    );
    assert_eq!(
        std::fs::read_to_string(repo.join("approvals.yaml")).unwrap(),
        approvals
    );
}

#[test]
fn fmt_rewrites_lists_checks_and_leaves_what_it_cannot_format() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let messy = "\
kind: Server   # the kind
apiVersion: mcpbox/v1
metadata: {name: github}
spec:
  network:
  - {host: api.github.com, port: 443, justification: 'REST API'}
";
    let clean = "\
apiVersion: mcpbox/v1
kind: Server # the kind
metadata:
  name: github
spec:
  network:
    - host: api.github.com
      port: 443
      justification: REST API
";
    let anchors = "a: &x 1\nb: *x\n";
    std::fs::create_dir_all(root.join("servers/github")).unwrap();
    std::fs::write(root.join("servers/github/server.yaml"), messy).unwrap();
    std::fs::write(root.join("anchors.yaml"), anchors).unwrap();

    // --check writes nothing, names the file, and fails.
    bin()
        .args(["fmt", "--check", "--diff"])
        .arg(root)
        .assert()
        .code(1)
        .stdout(predicate::str::contains("+    - host: api.github.com"))
        .stderr(predicate::str::contains("anchors.yaml:1:7: uses an anchor"));
    assert_eq!(
        std::fs::read_to_string(root.join("servers/github/server.yaml")).unwrap(),
        messy
    );

    // fmt rewrites the one it can, leaves the other byte for byte, exits 1.
    bin()
        .arg("fmt")
        .arg(root)
        .assert()
        .code(1)
        .stdout(predicate::str::contains("servers/github/server.yaml"))
        .stderr(predicate::str::contains("1 file(s) left as they are"));
    assert_eq!(
        std::fs::read_to_string(root.join("servers/github/server.yaml")).unwrap(),
        clean
    );
    assert_eq!(
        std::fs::read_to_string(root.join("anchors.yaml")).unwrap(),
        anchors
    );

    // One file by name; already canonical: nothing to do.
    bin()
        .args(["fmt", "--check"])
        .arg(root.join("servers/github/server.yaml"))
        .assert()
        .success();
}

#[test]
fn fmt_of_the_examples_is_a_no_op() {
    bin()
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .args(["fmt", "--check", "examples/homelab"])
        .assert()
        .success();
}

/// Runs `mcpbox-gitops ARGS` on a pseudo-terminal (util-linux `script`), so
/// stderr is a terminal; returns everything the terminal showed.
fn on_a_terminal(args: &str, env: &[(&str, &str)]) -> Option<String> {
    let script = std::path::Path::new("/usr/bin/script");
    if !script.exists() {
        return None;
    }
    let bin = assert_cmd::cargo::cargo_bin("mcpbox-gitops");
    let out = std::process::Command::new(script)
        .args(["-qec", &format!("{} {args}", bin.display()), "/dev/null"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env_remove("DATABASE_URL")
        .envs(env.iter().copied())
        .output()
        .ok()?;
    Some(String::from_utf8_lossy(&out.stdout).into_owned())
}

#[test]
fn a_slow_plan_shows_its_steps_on_a_terminal_and_nowhere_else() {
    let Some(tty) = on_a_terminal(
        "plan examples/homelab",
        &[("MCPBOX_GITOPS_PROGRESS_AFTER", "0")],
    ) else {
        panic!("util-linux `script` is needed to give the command a terminal");
    };
    assert!(tty.contains("reading manifests"), "{tty}");
    assert!(tty.contains("Plan: "), "{tty}");
    // Turned off, or before the delay: nothing.
    let off = on_a_terminal(
        "plan examples/homelab",
        &[
            ("MCPBOX_GITOPS_PROGRESS", "never"),
            ("MCPBOX_GITOPS_PROGRESS_AFTER", "0"),
        ],
    )
    .unwrap_or_default();
    assert!(!off.contains("reading manifests"), "{off}");
    // A plan that ends before the delay shows nothing (the delay is set far
    // beyond any plan's duration, so this does not depend on timing).
    let quick = on_a_terminal(
        "plan examples/homelab",
        &[("MCPBOX_GITOPS_PROGRESS_AFTER", "600000")],
    )
    .unwrap_or_default();
    assert!(quick.contains("Plan: "), "{quick}");
    assert!(!quick.contains("reading manifests"), "{quick}");
    // Not a terminal (a pipe, as in CI): nothing on stderr either.
    let piped = bin()
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env("MCPBOX_GITOPS_PROGRESS_AFTER", "0")
        .args(["plan", "examples/homelab"])
        .assert()
        .success()
        .get_output()
        .stderr
        .clone();
    assert!(
        !String::from_utf8_lossy(&piped).contains("reading manifests"),
        "no spinner in a pipe"
    );
}

/// `fmt` of an export is a no-op: export writes fmt's canonical layout.
#[sqlx::test(migrations = false)]
async fn fmt_of_an_export_is_a_no_op(pool: sqlx::PgPool) {
    crate::common::migrate(&pool).await;
    let url = crate::common::url(&pool);
    bin()
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env("DATABASE_URL", &url)
        .env("MCPBOX_ENCRYPTION_KEY", "ab".repeat(32))
        .args(["apply", "--auto-approve", "examples/homelab"])
        .assert()
        .success();
    let out = tempfile::tempdir().unwrap();
    let dir = out.path().join("export");
    bin()
        .env("DATABASE_URL", &url)
        .arg("export")
        .arg("--out")
        .arg(&dir)
        .assert()
        .success();
    bin()
        .args(["fmt", "--check"])
        .arg(&dir)
        .assert()
        .success()
        .stderr(predicate::str::contains("all formatted"));
}
