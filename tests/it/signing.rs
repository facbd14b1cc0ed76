//! Signed approvals end to end: `approve --sign-with`, `requireSignedApprovals`,
//! `allowed_signers` from BASE in PR mode, and interoperability with the real
//! `ssh-keygen -Y sign` / `-Y verify` in both directions.

use std::path::{Path, PathBuf};
use std::process::Command as Process;

use assert_cmd::Command;

use crate::common::{CODE_V1, SERVER, TOOL};

fn bin() -> Command {
    let mut cmd = Command::cargo_bin("mcpbox-gitops").unwrap();
    cmd.env_remove("DATABASE_URL").env("NO_COLOR", "1");
    cmd
}

fn run(cmd: &mut Command) -> (i32, String, String) {
    let out = cmd.output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).to_string(),
        String::from_utf8_lossy(&out.stderr).to_string(),
    )
}

fn sh(dir: &Path, program: &str, args: &[&str]) -> String {
    let out = Process::new(program)
        .current_dir(dir)
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{program} {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).to_string()
}

use crate::common::git;

/// An ed25519 key made by ssh-keygen: (private key, public key line).
fn keygen(dir: &Path, name: &str) -> (PathBuf, String) {
    let path = dir.join(name);
    sh(
        dir,
        "ssh-keygen",
        &["-q", "-t", "ed25519", "-N", "", "-C", name, "-f", name],
    );
    let public = std::fs::read_to_string(path.with_extension("pub")).unwrap();
    (path, public.trim().to_string())
}

/// A repository with one tool and a policy requiring signed approvals.
fn repo(dir: &Path) {
    for (p, t) in [
        ("github.yaml", SERVER),
        ("list_issues.yaml", TOOL),
        ("list_issues.py", CODE_V1),
        (
            "mcpbox-gitops.yaml",
            "approval: {mode: pinned}\nrequireSignedApprovals: true\n",
        ),
    ] {
        std::fs::write(dir.join(p), t).unwrap();
    }
}

/// `approve github/list_issues --by BY --sign-with KEY --repo DIR`, which must
/// succeed; returns what it printed.
fn approve_signed(dir: &Path, by: &str, key: &Path) -> String {
    let (code, out, err) = run(bin()
        .args(["approve", "github/list_issues", "--by", by, "--sign-with"])
        .arg(key)
        .arg("--repo")
        .arg(dir));
    assert_eq!(code, 0, "{err}");
    out
}

fn plan(dir: &Path) -> String {
    let (code, out, err) = run(bin().arg("plan").arg(dir));
    assert_eq!(code, 0, "{out}{err}");
    out
}

#[test]
fn signed_pins_count_and_unsigned_or_unlisted_ones_do_not_saying_why() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path().join("repo");
    std::fs::create_dir(&d).unwrap();
    repo(&d);
    let (alice, alice_pub) = keygen(tmp.path(), "alice");

    // Unsigned pin: counts as none.
    let (code, _, err) = run(bin()
        .args([
            "approve",
            "github/list_issues",
            "--by",
            "alice@example.com",
            "--repo",
        ])
        .arg(&d));
    assert_eq!(code, 0, "{err}");
    let text = plan(&d);
    assert!(
        text.contains("ignored pin of github/list_issues by alice@example.com: the policy requires signed approvals and it has no signature"),
        "{text}"
    );

    // Signed, but no allowed_signers yet.
    let out = approve_signed(&d, "alice@example.com", &alice);
    assert!(out.contains(", signed"), "{out}");
    let approvals = std::fs::read_to_string(d.join("approvals.yaml")).unwrap();
    assert!(
        approvals.contains("signature: |\n      -----BEGIN SSH SIGNATURE-----"),
        "{approvals}"
    );
    assert!(plan(&d).contains("no allowed_signers file"));

    // Listed: the pin counts (no note, the tool is approved).
    std::fs::write(
        d.join("allowed_signers"),
        format!("alice@example.com {alice_pub}\n"),
    )
    .unwrap();
    let text = plan(&d);
    assert!(!text.contains("ignored pin"), "{text}");

    // Listed for another server only.
    std::fs::write(
        d.join("allowed_signers"),
        format!("alice@example.com/weather* {alice_pub}\n"),
    )
    .unwrap();
    assert!(plan(&d).contains("but not for alice@example.com on server github"));

    // A hand-edited hash (the code changed, the signature did not).
    std::fs::write(
        d.join("allowed_signers"),
        format!("alice@example.com {alice_pub}\n"),
    )
    .unwrap();
    let tampered = std::fs::read_to_string(d.join("approvals.yaml"))
        .unwrap()
        .lines()
        .map(|l| {
            if l.trim_start().starts_with("sha256:") {
                format!("    sha256: {}", "0".repeat(64))
            } else {
                l.to_string()
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
        + "\n";
    std::fs::write(d.join("approvals.yaml"), tampered).unwrap();
    assert!(plan(&d).contains("does not match the pin"));

    // fmt keeps the signature block byte for byte.
    let (code, _, err) = run(bin().args(["fmt", "--check"]).arg(d.join("approvals.yaml")));
    assert_eq!(code, 0, "{err}");
}

#[test]
fn our_signatures_verify_with_ssh_keygen_and_ssh_keygen_signatures_verify_with_ours() {
    let tmp = tempfile::tempdir().unwrap();
    let t = tmp.path();
    let d = t.join("repo");
    std::fs::create_dir(&d).unwrap();
    repo(&d);
    let (alice, alice_pub) = keygen(t, "alice");
    std::fs::write(
        t.join("allowed"),
        format!("alice@example.com {alice_pub}\n"),
    )
    .unwrap();

    // Ours → ssh-keygen -Y verify.
    approve_signed(&d, "alice@example.com", &alice);
    let text = std::fs::read_to_string(d.join("approvals.yaml")).unwrap();
    let parsed: serde_yaml::Value = serde_yaml::from_str(&text).unwrap();
    let pin = &parsed["approvals"][0];
    let statement = format!(
        "mcpbox-gitops approval v1\ntool: {}\nsha256: {}\napprovedBy: {}\napprovedAt: {}\n",
        pin["tool"].as_str().unwrap(),
        pin["sha256"].as_str().unwrap(),
        pin["approvedBy"].as_str().unwrap(),
        pin["approvedAt"].as_str().unwrap(),
    );
    std::fs::write(t.join("statement"), &statement).unwrap();
    std::fs::write(t.join("statement.sig"), pin["signature"].as_str().unwrap()).unwrap();
    let verify = |principal: &str| {
        Process::new("ssh-keygen")
            .current_dir(t)
            .args([
                "-Y",
                "verify",
                "-f",
                "allowed",
                "-I",
                principal,
                "-n",
                "mcpbox-gitops",
                "-s",
                "statement.sig",
            ])
            .stdin(std::fs::File::open(t.join("statement")).unwrap())
            .output()
            .unwrap()
    };
    let ok = verify("alice@example.com");
    assert!(
        ok.status.success(),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );
    assert!(!verify("mallory@example.com").status.success());

    // ed25519 signatures are deterministic: ssh-keygen's of the same
    // statement is ours, byte for byte.
    let ours = pin["signature"].as_str().unwrap();
    std::fs::remove_file(t.join("statement.sig")).unwrap();
    sh(
        t,
        "ssh-keygen",
        &[
            "-q",
            "-Y",
            "sign",
            "-n",
            "mcpbox-gitops",
            "-f",
            "alice",
            "statement",
        ],
    );
    assert_eq!(
        std::fs::read_to_string(t.join("statement.sig"))
            .unwrap()
            .trim(),
        ours.trim()
    );

    // ssh-keygen -Y sign → ours, with an ECDSA key (randomised signatures):
    // the pin's signature replaced by one only ssh-keygen made.
    sh(
        t,
        "ssh-keygen",
        &[
            "-q",
            "-t",
            "ecdsa",
            "-b",
            "256",
            "-N",
            "",
            "-C",
            "alice-ecdsa",
            "-f",
            "alice-ecdsa",
        ],
    );
    let ecdsa_pub = std::fs::read_to_string(t.join("alice-ecdsa.pub")).unwrap();
    std::fs::remove_file(t.join("statement.sig")).unwrap();
    sh(
        t,
        "ssh-keygen",
        &[
            "-q",
            "-Y",
            "sign",
            "-n",
            "mcpbox-gitops",
            "-f",
            "alice-ecdsa",
            "statement",
        ],
    );
    let theirs = std::fs::read_to_string(t.join("statement.sig")).unwrap();
    let replaced = text.replace(&indent(ours, "      "), &indent(&theirs, "      "));
    assert_ne!(replaced, text, "the signature block was found and replaced");
    std::fs::write(d.join("approvals.yaml"), &replaced).unwrap();
    std::fs::write(
        d.join("allowed_signers"),
        format!("alice@example.com {alice_pub}\n"),
    )
    .unwrap();
    assert!(
        plan(&d).contains("which allowed_signers does not list"),
        "the ecdsa key is not listed yet"
    );
    std::fs::write(
        d.join("allowed_signers"),
        format!(
            "alice@example.com {alice_pub}\nalice@example.com {}\n",
            ecdsa_pub.trim()
        ),
    )
    .unwrap();
    let out = plan(&d);
    assert!(!out.contains("ignored pin"), "{out}");

    // An unlisted key signing the same statement with ssh-keygen is refused.
    let (_, mallory_pub) = keygen(t, "mallory");
    let _ = mallory_pub;
    std::fs::remove_file(t.join("statement.sig")).unwrap();
    sh(
        t,
        "ssh-keygen",
        &[
            "-q",
            "-Y",
            "sign",
            "-n",
            "mcpbox-gitops",
            "-f",
            "mallory",
            "statement",
        ],
    );
    let mallory_sig = std::fs::read_to_string(t.join("statement.sig")).unwrap();
    std::fs::write(
        d.join("approvals.yaml"),
        replaced.replace(&indent(&theirs, "      "), &indent(&mallory_sig, "      ")),
    )
    .unwrap();
    assert!(plan(&d).contains("which allowed_signers does not list"));
}

fn indent(block: &str, pad: &str) -> String {
    block
        .trim()
        .lines()
        .map(|l| format!("{pad}{l}\n"))
        .collect()
}

#[test]
fn in_a_pull_request_the_allowed_signers_of_base_decide() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path().join("repo");
    std::fs::create_dir(&d).unwrap();
    git(&d, &["init", "-q"]);
    repo(&d);
    let (_, alice_pub) = keygen(tmp.path(), "alice");
    let (mallory, mallory_pub) = keygen(tmp.path(), "mallory");
    std::fs::write(
        d.join("allowed_signers"),
        format!("alice@example.com {alice_pub}\n"),
    )
    .unwrap();
    git(&d, &["add", "-A"]);
    git(&d, &["commit", "-q", "-m", "base"]);
    let base = git(&d, &["rev-parse", "HEAD"]);

    // The PR adds its author's key and a pin signed with it.
    std::fs::write(
        d.join("allowed_signers"),
        format!("alice@example.com {alice_pub}\nmallory@example.com {mallory_pub}\n"),
    )
    .unwrap();
    approve_signed(&d, "mallory@example.com", &mallory);
    git(&d, &["add", "-A"]);
    git(&d, &["commit", "-q", "-m", "self-approve"]);

    let (code, out, err) = run(bin()
        .arg("plan")
        .arg(&d)
        .args(["--git", "HEAD", "--base", &base, "--format", "markdown"]));
    assert_eq!(code, 0, "{err}");
    // (markdown escapes `@`)
    assert!(
        out.contains("ignored pin of github/list_issues by mallory&#64;example.com"),
        "{out}"
    );
    assert!(out.contains("does not list"), "{out}");
    // Planned from the PR's own commit alone, its file would have let it in.
    let (_, own, _) = run(bin().arg("plan").arg(&d).args(["--git", "HEAD"]));
    assert!(!own.contains("ignored pin"), "{own}");
}

#[test]
fn the_homelab_example_carries_one_signed_pin_that_verifies() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/homelab");
    let files = mcpbox_gitops::source::FileSet::from_dir(&root).unwrap();
    let mut desired = mcpbox_gitops::desired::build(&files).unwrap();
    assert!(
        !desired
            .warnings
            .iter()
            .any(|w| w.to_string().contains("does not verify")),
        "{:?}",
        desired.warnings
    );
    let mut policy = desired.policy.clone();
    policy.require_signed_approvals = true;
    desired.set_policy(policy);
    assert_eq!(
        desired.pins.keys().collect::<Vec<_>>(),
        ["weather/forecast"],
        "{:?}",
        desired.warnings
    );
    assert_eq!(
        desired
            .warnings
            .iter()
            .filter(|w| w.to_string().contains("has no signature"))
            .count(),
        desired.all_pins.len() - 1
    );
}

#[test]
fn re_pinning_a_signed_pin_without_a_key_drops_the_old_signature() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path().join("repo");
    std::fs::create_dir(&d).unwrap();
    repo(&d);
    let (alice, _) = keygen(tmp.path(), "alice");
    let approve = |extra: &[&std::ffi::OsStr]| {
        let (code, _, err) = run(bin()
            .args([
                "approve",
                "github/list_issues",
                "--by",
                "alice@example.com",
                "--repo",
            ])
            .arg(&d)
            .args(extra));
        assert_eq!(code, 0, "{err}");
        std::fs::read_to_string(d.join("approvals.yaml")).unwrap()
    };
    assert!(approve(&["--sign-with".as_ref(), alice.as_os_str()]).contains("signature: |"));
    // The signature covered the old approvedAt: kept, it would never verify.
    let unsigned = approve(&[]);
    assert!(!unsigned.contains("signature"), "{unsigned}");
    assert!(!unsigned.contains("SSH SIGNATURE"), "{unsigned}");
}
