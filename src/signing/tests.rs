//! Signing and verifying pins with keys made by the real `ssh-keygen`.

use super::*;

/// A fresh ed25519 key pair from `ssh-keygen` in `dir`: (private key path,
/// public key line).
fn keygen(dir: &Path, name: &str) -> (std::path::PathBuf, String) {
    let path = dir.join(name);
    let ok = std::process::Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-C", name, "-f"])
        .arg(&path)
        .status()
        .map(|s| s.success())
        .unwrap_or(false);
    assert!(ok, "ssh-keygen is needed for these tests");
    let public = std::fs::read_to_string(path.with_extension("pub")).unwrap_or_default();
    let line = public
        .split_whitespace()
        .take(2)
        .collect::<Vec<_>>()
        .join(" ");
    (path, line)
}

fn pin(tool: &str) -> Pin {
    Pin {
        tool: tool.into(),
        sha256: "a".repeat(64),
        approved_by: "alice@example.com".into(),
        approved_at: Some("2026-12-05T10:00:00Z".into()),
        signature: None,
    }
}

fn signed(p: Pin, key: &Path) -> Pin {
    let sig = sign(&p, key).unwrap_or_else(|e| panic!("{e}"));
    Pin {
        signature: Some(sig),
        ..p
    }
}

#[test]
fn a_pin_signed_by_a_listed_key_counts_and_any_change_breaks_it() {
    let dir = tempfile::tempdir().unwrap();
    let (key, public) = keygen(dir.path(), "alice");
    let signers =
        AllowedSigners::parse("allowed_signers", &format!("alice@example.com {public}\n"));
    let p = signed(pin("github/list_issues"), &key);
    assert!(p
        .signature
        .as_deref()
        .unwrap_or("")
        .starts_with("-----BEGIN SSH SIGNATURE-----"));
    assert_eq!(verify(&p, Some(&signers)), Verdict::Valid { line: 1 });

    for (what, changed) in [
        (
            "hash",
            Pin {
                sha256: "b".repeat(64),
                ..p.clone()
            },
        ),
        (
            "tool",
            Pin {
                tool: "github/other".into(),
                ..p.clone()
            },
        ),
        (
            "approver",
            Pin {
                approved_by: "mallory@example.com".into(),
                ..p.clone()
            },
        ),
        (
            "time",
            Pin {
                approved_at: Some("2026-12-06T10:00:00Z".into()),
                ..p.clone()
            },
        ),
    ] {
        let signers = AllowedSigners::parse(
            "allowed_signers",
            &format!("alice@example.com,mallory@example.com {public}\n"),
        );
        match verify(&changed, Some(&signers)) {
            Verdict::Refused(why) => {
                assert!(why.contains("does not match the pin"), "{what}: {why}")
            }
            v => panic!("a changed {what} still verified: {v:?}"),
        }
    }
}

#[test]
fn unlisted_keys_wrong_servers_and_missing_signatures_are_refused_with_the_reason() {
    let dir = tempfile::tempdir().unwrap();
    let (alice, alice_pub) = keygen(dir.path(), "alice");
    let (_, other_pub) = keygen(dir.path(), "other");
    let only_other = AllowedSigners::parse(
        "allowed_signers",
        &format!("alice@example.com {other_pub}\n"),
    );
    let p = signed(pin("github/list_issues"), &alice);
    match verify(&p, Some(&only_other)) {
        Verdict::Refused(why) => {
            assert!(why.contains("which allowed_signers does not list"), "{why}")
        }
        v => panic!("{v:?}"),
    }

    // Scoped to servers named weather*: a github pin is refused, a weather one counts.
    let scoped = AllowedSigners::parse(
        "allowed_signers",
        &format!("alice@example.com/weather* {alice_pub}\n"),
    );
    match verify(&p, Some(&scoped)) {
        Verdict::Refused(why) => assert!(
            why.contains("not for alice@example.com on server github"),
            "{why}"
        ),
        v => panic!("{v:?}"),
    }
    let weather = signed(pin("weather_eu/forecast"), &alice);
    assert_eq!(verify(&weather, Some(&scoped)), Verdict::Valid { line: 1 });

    // Outside the key's validity window.
    let expired = AllowedSigners::parse(
        "allowed_signers",
        &format!("alice@example.com valid-before=\"20261201\" {alice_pub}\n"),
    );
    assert!(matches!(verify(&p, Some(&expired)), Verdict::Refused(_)));

    match verify(&pin("github/list_issues"), Some(&scoped)) {
        Verdict::Refused(why) => assert!(why.contains("has no signature"), "{why}"),
        v => panic!("{v:?}"),
    }
    match verify(&p, None) {
        Verdict::Refused(why) => assert!(why.contains("no allowed_signers file"), "{why}"),
        v => panic!("{v:?}"),
    }
    let garbage = Pin {
        signature: Some("not a signature".into()),
        ..p.clone()
    };
    match verify(&garbage, Some(&scoped)) {
        Verdict::Refused(why) => assert!(why.contains("not an SSH signature"), "{why}"),
        v => panic!("{v:?}"),
    }
}

#[test]
fn a_signature_for_another_namespace_is_not_an_approval() {
    let dir = tempfile::tempdir().unwrap();
    let (key, public) = keygen(dir.path(), "alice");
    let p = pin("github/list_issues");
    // A git commit signature of the same bytes (namespace `git`).
    let msg = dir.path().join("statement");
    std::fs::write(&msg, statement(&p)).unwrap();
    let ok = std::process::Command::new("ssh-keygen")
        .args(["-q", "-Y", "sign", "-n", "git", "-f"])
        .arg(&key)
        .arg(&msg)
        .status()
        .map(|s| s.success())
        .unwrap_or(false);
    assert!(ok);
    let sig = std::fs::read_to_string(msg.with_extension("sig")).unwrap_or_default();
    let signers =
        AllowedSigners::parse("allowed_signers", &format!("alice@example.com {public}\n"));
    match verify(
        &Pin {
            signature: Some(sig),
            ..p
        },
        Some(&signers),
    ) {
        Verdict::Refused(why) => assert!(why.contains("namespace `git`"), "{why}"),
        v => panic!("{v:?}"),
    }
}

#[test]
fn a_field_with_a_line_break_is_refused() {
    let p = Pin {
        approved_by: "alice@example.com\napprovedAt: 2020".into(),
        signature: Some("x".into()),
        ..pin("a/b")
    };
    let signers = AllowedSigners::default();
    match verify(&p, Some(&signers)) {
        Verdict::Refused(why) => assert!(why.contains("line break"), "{why}"),
        v => panic!("{v:?}"),
    }
}
