//! Signed approvals: a pin in `approvals.yaml` may carry an SSH signature of
//! its statement — tool, content hash, approver, time — in the format git
//! uses for SSH commit signing (`ssh-keygen -Y sign`, namespace
//! `mcpbox-gitops`). With `requireSignedApprovals: true` in the policy, a pin
//! counts only when its signature verifies against a key that
//! `allowed_signers` lists for its approver (and server); otherwise it counts
//! as no pin, and the plan says why.
//!
//! - `allowed`: the `allowed_signers` file (who may sign what);
//! - here: the statement, verifying a pin, and signing one (`approve
//!   --sign-with`).
//!
//! Deciding what a pin means for a tool's approval lives in `rules::approval`;
//! which pins count, in `desired`.

pub mod allowed;

use std::path::Path;

use ssh_key::{HashAlg, LineEnding, PrivateKey, SshSig};

use crate::approvals::Pin;
pub use allowed::AllowedSigners;

/// The SSHSIG namespace approvals are signed in; a signature made for git
/// commits (namespace `git`) or files (`file`) cannot be replayed as an
/// approval.
pub const NAMESPACE: &str = "mcpbox-gitops";

/// The exact bytes signed for a pin: what it asserts, one field per line.
/// `ssh-keygen -Y sign -n mcpbox-gitops` of this text produces a valid
/// signature, so an approver can sign without this tool.
pub fn statement(pin: &Pin) -> String {
    format!(
        "mcpbox-gitops approval v1\ntool: {}\nsha256: {}\napprovedBy: {}\napprovedAt: {}\n",
        pin.tool,
        pin.sha256,
        pin.approved_by,
        pin.approved_at.as_deref().unwrap_or("")
    )
}

/// Whether a pin's signature makes it count, and if not, why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Signed by a key `allowed_signers` lists for the approver; the line.
    Valid {
        /// The `allowed_signers` line that allowed it.
        line: usize,
    },
    /// Does not count, for this reason (a phrase for "pin of X ignored: …").
    Refused(String),
}

/// Checks `pin`'s signature against `signers` (None: the file is missing).
pub fn verify(pin: &Pin, signers: Option<&AllowedSigners>) -> Verdict {
    let refused = |why: String| Verdict::Refused(why);
    let Some(armored) = pin.signature.as_deref() else {
        return refused(format!(
            "it has no signature (sign it: `mcpbox-gitops approve {} --by {} --sign-with KEY`)",
            pin.tool, pin.approved_by
        ));
    };
    let Some(signers) = signers else {
        return refused("there is no allowed_signers file to check its signature against".into());
    };
    let Some(at) = pin.approved_at.as_deref() else {
        return refused("a signed pin needs approvedAt".into());
    };
    // One field per line: a field with a line break could make two pins
    // share a statement.
    if [&pin.tool, &pin.sha256, &pin.approved_by, at]
        .iter()
        .any(|f| f.contains(['\n', '\r']))
    {
        return refused("a field of it contains a line break".into());
    }
    let sig = match SshSig::from_pem(armored.trim()) {
        Ok(s) => s,
        Err(e) => return refused(format!("its signature is not an SSH signature ({e})")),
    };
    if sig.namespace() != NAMESPACE {
        return refused(format!(
            "its signature was made for namespace `{}`, not `{NAMESPACE}`",
            sig.namespace()
        ));
    }
    let key = ssh_key::PublicKey::from(sig.public_key().clone());
    let fingerprint = key.fingerprint(HashAlg::Sha256);
    if let Err(e) = key.verify(NAMESPACE, statement(pin).as_bytes(), &sig) {
        return refused(format!(
            "its signature does not match the pin ({e}): the tool, hash, approver or time changed after signing"
        ));
    }
    let server = pin.tool.split('/').next().unwrap_or("");
    let identities = [
        pin.approved_by.clone(),
        format!("{}/{server}", pin.approved_by),
    ];
    let when = compact_time(at);
    if let Some(s) = signers
        .allowing(sig.public_key(), &identities, &when)
        .next()
    {
        return Verdict::Valid { line: s.line };
    }
    if signers.knows(sig.public_key()) {
        refused(format!(
            "key {fingerprint} is in {} but not for {} on server {server} (or not at {at})",
            signers.file, pin.approved_by
        ))
    } else {
        refused(format!(
            "it is signed by key {fingerprint}, which {} does not list",
            signers.file
        ))
    }
}

/// RFC 3339 `2026-12-05T03:45:34Z` as `20261205034534` (UTC), for the
/// validity windows of `allowed_signers`.
fn compact_time(at: &str) -> String {
    match chrono::DateTime::parse_from_rfc3339(at) {
        Ok(t) => t
            .with_timezone(&chrono::Utc)
            .format("%Y%m%d%H%M%S")
            .to_string(),
        Err(_) => String::new(),
    }
}

/// Why a pin could not be signed.
#[derive(Debug, thiserror::Error)]
pub enum SignError {
    /// The key file could not be read or is not an OpenSSH key.
    #[error("cannot read the signing key {path}: {why}")]
    Key {
        /// The key file, escaped.
        path: String,
        /// Why.
        why: String,
    },
    /// `ssh-keygen -Y sign` failed or is missing.
    #[error("ssh-keygen -Y sign failed: {0}")]
    SshKeygen(String),
    /// Signing itself failed.
    #[error("cannot sign: {0}")]
    Sign(String),
}

/// Signs `pin`'s statement with the key at `key_path`; returns the armored
/// signature. An unencrypted OpenSSH private key is used directly; an
/// encrypted one, or a public key whose private half is in ssh-agent, goes
/// through `ssh-keygen -Y sign` (which asks for the passphrase or uses the
/// agent), as git does.
pub fn sign(pin: &Pin, key_path: &Path) -> Result<String, SignError> {
    let shown = crate::escape::path(key_path);
    let text = std::fs::read_to_string(key_path).map_err(|e| SignError::Key {
        path: shown.clone(),
        why: e.to_string(),
    })?;
    let message = statement(pin);
    if text.contains("PRIVATE KEY") {
        let key = PrivateKey::from_openssh(&text).map_err(|e| SignError::Key {
            path: shown.clone(),
            why: e.to_string(),
        })?;
        if !key.is_encrypted() {
            let sig = key
                .sign(NAMESPACE, HashAlg::Sha512, message.as_bytes())
                .map_err(|e| SignError::Sign(e.to_string()))?;
            return sig
                .to_pem(LineEnding::LF)
                .map_err(|e| SignError::Sign(e.to_string()));
        }
    }
    ssh_keygen_sign(key_path, &message)
}

fn ssh_keygen_sign(key_path: &Path, message: &str) -> Result<String, SignError> {
    use std::io::Write;
    let mut child = std::process::Command::new("ssh-keygen")
        .args(["-Y", "sign", "-n", NAMESPACE, "-f"])
        .arg(key_path)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::inherit())
        .spawn()
        .map_err(|e| SignError::SshKeygen(format!("cannot run ssh-keygen: {e}")))?;
    if let Some(mut stdin) = child.stdin.take() {
        stdin
            .write_all(message.as_bytes())
            .map_err(|e| SignError::SshKeygen(e.to_string()))?;
    }
    let out = child
        .wait_with_output()
        .map_err(|e| SignError::SshKeygen(e.to_string()))?;
    if !out.status.success() {
        return Err(SignError::SshKeygen(format!("exit status {}", out.status)));
    }
    String::from_utf8(out.stdout).map_err(|e| SignError::SshKeygen(e.to_string()))
}

#[cfg(test)]
mod tests;
