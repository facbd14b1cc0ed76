//! Approval pins: `approvals.yaml`, which binds a tool's approval to one content hash.
//!
//! Parsing and writing the file live here (pure text in, text out). Deciding what
//! a pin means for a tool's approval status lives in `rules::approval`.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::manifest::diagnostic::{location_at, Code, Diagnostic};

/// One pin: "this content of this tool is approved by this person".
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Pin {
    /// `server/tool`.
    pub tool: String,
    /// The tool's content hash (hex sha256) that was approved.
    pub sha256: String,
    /// Who approved it (written as `tools.approved_by`).
    pub approved_by: String,
    /// When (RFC 3339); re-pinning the same content changes it, which is how an
    /// approval revoked in MCPBox is granted again.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub approved_at: Option<String>,
}

impl Pin {
    /// Identity of this pin (hash of all its fields), recorded in the ownership
    /// table so that a new pin can be told from the one already applied.
    pub fn identity(&self) -> String {
        let mut h = Sha256::new();
        for part in [
            &self.tool,
            &self.sha256,
            &self.approved_by,
            self.approved_at.as_deref().unwrap_or(""),
        ] {
            h.update(part.as_bytes());
            h.update([0u8]);
        }
        hex::encode(h.finalize())
    }
}

#[derive(Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
struct File {
    #[serde(default)]
    approvals: Vec<Pin>,
}

/// All pins of a repository, by `server/tool`.
pub type Pins = BTreeMap<String, Pin>;

/// Parses `approvals.yaml`.
pub fn parse(file: &str, text: &str) -> Result<Pins, Diagnostic> {
    if text.trim().is_empty() {
        return Ok(Pins::new());
    }
    let parsed: File =
        serde_yaml::from_str(text).map_err(|e| crate::policy::repo_file_error(file, text, &e))?;
    let mut pins = Pins::new();
    for pin in parsed.approvals {
        let at = text.find(&pin.tool).unwrap_or(0);
        if pin.sha256.len() != 64 || !pin.sha256.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(Diagnostic::new(
                Code::RepoFile,
                file,
                location_at(text, at, pin.tool.len()),
                format!("pin for `{}` has a malformed sha256", pin.tool),
            )
            .help("regenerate it with `mcpbox-gitops approve SERVER/TOOL --by EMAIL`"));
        }
        if pin.approved_by.trim().is_empty() || pin.approved_by.chars().count() > 255 {
            return Err(Diagnostic::new(
                Code::RepoFile,
                file,
                location_at(text, at, pin.tool.len()),
                format!("pin for `{}` has an approvedBy of {} characters; MCPBox's approved_by holds 1 to 255", pin.tool, pin.approved_by.chars().count()),
            )
            .help("use an e-mail address or user name"));
        }
        if pins.contains_key(&pin.tool) {
            return Err(Diagnostic::new(
                Code::RepoFile,
                file,
                location_at(text, at, pin.tool.len()),
                format!("`{}` is pinned twice", pin.tool),
            )
            .help("keep one pin per tool"));
        }
        pins.insert(pin.tool.clone(), pin);
    }
    Ok(pins)
}

/// Renders pins as the canonical `approvals.yaml` text (sorted by tool).
pub fn render(pins: &Pins) -> String {
    let mut out = String::from(
        "# Approval pins: each binds a tool's approval to one content hash.\n# Written by `mcpbox-gitops approve SERVER/TOOL --by EMAIL`; changing a tool's\n# code without re-pinning sends it back to review.\napprovals:\n",
    );
    if pins.is_empty() {
        out = out.replace("approvals:\n", "approvals: []\n");
    }
    for pin in pins.values() {
        out.push_str(&format!(
            "  - tool: {}\n    sha256: {}\n    approvedBy: {}\n",
            pin.tool,
            pin.sha256,
            yaml_str(&pin.approved_by)
        ));
        if let Some(at) = &pin.approved_at {
            out.push_str(&format!("    approvedAt: {}\n", yaml_str(at)));
        }
    }
    out
}

fn yaml_str(s: &str) -> String {
    serde_yaml::to_string(s)
        .map(|t| t.trim_end().to_string())
        .unwrap_or_else(|_| format!("{s:?}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        let mut pins = Pins::new();
        pins.insert(
            "a/b".into(),
            Pin {
                tool: "a/b".into(),
                sha256: "ab".repeat(32),
                approved_by: "x@y.z".into(),
                approved_at: Some("2026-11-26T00:00:00Z".into()),
            },
        );
        let text = render(&pins);
        assert_eq!(parse("approvals.yaml", &text).unwrap(), pins);
        assert_eq!(
            parse("approvals.yaml", &render(&Pins::new())).unwrap(),
            Pins::new()
        );
    }

    #[test]
    fn refuses_bad_hash_and_duplicates() {
        let e = parse(
            "approvals.yaml",
            "approvals:\n  - tool: a/b\n    sha256: nope\n    approvedBy: x\n",
        )
        .unwrap_err();
        assert!(e.message.contains("malformed sha256"));
        let h = "a".repeat(64);
        let e = parse("approvals.yaml", &format!("approvals:\n  - {{tool: a/b, sha256: {h}, approvedBy: x}}\n  - {{tool: a/b, sha256: {h}, approvedBy: y}}\n")).unwrap_err();
        assert!(e.message.contains("pinned twice"));
        let e = parse(
            "approvals.yaml",
            &format!(
                "approvals:\n  - {{tool: a/b, sha256: {h}, approvedBy: {}}}\n",
                "x".repeat(256)
            ),
        )
        .unwrap_err();
        assert!(e.message.contains("1 to 255"), "{}", e.message);
    }

    #[test]
    fn identity_changes_with_repin() {
        let a = Pin {
            tool: "a/b".into(),
            sha256: "0".repeat(64),
            approved_by: "x".into(),
            approved_at: None,
        };
        let mut b = a.clone();
        b.approved_at = Some("later".into());
        assert_ne!(a.identity(), b.identity());
    }
}
