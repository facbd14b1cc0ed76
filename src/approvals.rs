//! Approval pins: `approvals.yaml`, which binds a tool's approval to one content hash.
//!
//! Parsing and writing the file live here (pure text in, text out). Deciding what
//! a pin means for a tool's approval status lives in `rules::approval`.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::diagnostic::{location_at, Code, Diagnostic};

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
    /// An SSH signature (`-----BEGIN SSH SIGNATURE-----` …) of the pin's
    /// statement by the approver (see `signing`). Not part of the pin's
    /// identity: signing an existing pin changes nothing in MCPBox.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signature: Option<String>,
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
            out.push_str(&format!("    approvedAt: {}\n", quoted(at)));
        }
        out.push_str(&signature_lines(pin, "    "));
    }
    out
}

/// `signature: |` and the armored signature, indented under `pad`; empty
/// when the pin has none.
fn signature_lines(pin: &Pin, pad: &str) -> String {
    let Some(sig) = &pin.signature else {
        return String::new();
    };
    let mut out = format!("{pad}signature: |\n");
    for line in sig.trim().lines() {
        out.push_str(&format!("{pad}  {line}\n"));
    }
    out
}

/// `text` (an `approvals.yaml`) with `pin` written in place: the item that
/// pins the same tool is replaced, line for line, or a new item is inserted
/// before the first item whose tool sorts after it (at the end otherwise).
/// Every other byte — comments, quoting, order, blank lines, other pins — is
/// kept, so the file's diff is exactly that pin (it is the file CODEOWNERS
/// protects). `None` when the text is not a plain block list this can edit
/// safely (the caller then says so, and writes nothing).
pub fn upsert(text: &str, pin: &Pin) -> Option<String> {
    let pins = parse("approvals.yaml", text).ok()?;
    if text.trim().is_empty() {
        let mut one = Pins::new();
        one.insert(pin.tool.clone(), pin.clone());
        return Some(render(&one));
    }
    let lines: Vec<&str> = text.split_inclusive('\n').collect();
    let indent = |l: &str| l.len() - l.trim_start().len();
    let is_content = |l: &str| {
        let t = l.trim();
        !t.is_empty() && !t.starts_with('#')
    };
    // The `approvals:` key at column 0, and the items of its block sequence.
    let key = lines.iter().position(|l| l.starts_with("approvals:"))?;
    let rest = lines[key].trim_start_matches("approvals:").trim();
    let empty_flow = rest == "[]";
    if !rest.is_empty() && !rest.starts_with('#') && !empty_flow {
        return None;
    }
    let mut items: Vec<(usize, usize)> = Vec::new(); // [start, end) line ranges
    let mut item_indent = None;
    let mut end_of_list = key + 1;
    if !empty_flow {
        let mut i = key + 1;
        while i < lines.len() {
            let l = lines[i];
            if !is_content(l) {
                i += 1;
                continue;
            }
            let ind = indent(l);
            let dash = l.trim_start().starts_with("- ") || l.trim() == "-";
            match item_indent {
                None if dash => item_indent = Some(ind),
                None => return None,
                Some(_) => {}
            }
            let at = item_indent?;
            if ind < at || (ind == at && !dash) {
                break;
            }
            if ind == at && dash {
                items.push((i, i + 1));
            } else if let Some(last) = items.last_mut() {
                last.1 = i + 1;
            }
            i += 1;
            end_of_list = i;
        }
        if let Some(last) = items.last() {
            end_of_list = last.1;
        }
    }
    let at = item_indent.unwrap_or(2);
    let pad = " ".repeat(at);
    let mut item = format!(
        "{pad}- tool: {}\n{pad}  sha256: {}\n{pad}  approvedBy: {}\n",
        pin.tool,
        pin.sha256,
        yaml_str(&pin.approved_by)
    );
    if let Some(when) = &pin.approved_at {
        item.push_str(&format!("{pad}  approvedAt: {}\n", quoted(when)));
    }
    item.push_str(&signature_lines(pin, &format!("{pad}  ")));
    // Which tool each item pins: the item parsed on its own.
    let tool_of = |(s, e): (usize, usize)| -> Option<String> {
        let body: String = lines[s..e].concat();
        let parsed: Vec<Pin> = serde_yaml::from_str(&body).ok()?;
        parsed.into_iter().next().map(|p| p.tool)
    };
    let mut out: Vec<String> = lines.iter().map(|l| l.to_string()).collect();
    let existing = items
        .iter()
        .copied()
        .find(|r| tool_of(*r).as_deref() == Some(pin.tool.as_str()));
    match existing {
        Some((s, e)) => {
            out.splice(s..e, std::iter::once(item));
        }
        None if empty_flow => {
            out[key] = format!("approvals:\n{item}");
        }
        None => {
            let before = items
                .iter()
                .copied()
                .find(|r| tool_of(*r).is_some_and(|t| t > pin.tool));
            let at_line = before.map_or(end_of_list, |(s, _)| s);
            if at_line == lines.len() && !text.ends_with('\n') {
                out.push("\n".to_string());
            }
            out.insert(at_line.min(out.len()), item);
        }
    }
    let edited = out.concat();
    // Safety net: the edit changed exactly this pin, or it is not written.
    let mut expected = pins;
    expected.insert(pin.tool.clone(), pin.clone());
    (parse("approvals.yaml", &edited).ok()? == expected).then_some(edited)
}

/// A double-quoted YAML scalar (JSON's string syntax is YAML's): a timestamp
/// stays a string for YAML 1.1 readers such as PyYAML.
fn quoted(s: &str) -> String {
    serde_json::to_string(s).unwrap_or_else(|_| format!("{s:?}"))
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
                signature: None,
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

    const FILE: &str = "# yaml-language-server: $schema=schemas/approvals.schema.json
# Hand-written comment that must survive.
approvals:
  - tool: a/one
    sha256: 1111111111111111111111111111111111111111111111111111111111111111
    approvedBy: alice@example.com
    approvedAt: \"2026-11-26T12:00:00Z\"

  # weather pins
  - tool: w/two
    sha256: 2222222222222222222222222222222222222222222222222222222222222222
    approvedBy: 'bob@example.com'
    approvedAt: '2026-11-26T12:00:00Z'
";

    fn pin(tool: &str, c: char) -> Pin {
        Pin {
            tool: tool.into(),
            sha256: c.to_string().repeat(64),
            approved_by: "carol@example.com".into(),
            approved_at: Some("2026-12-05T10:00:00Z".into()),
            signature: None,
        }
    }

    /// Issue 15.3: a re-pin is a diff of exactly that pin; a new pin is an
    /// insertion in sorted place; nothing else moves.
    #[test]
    fn upsert_changes_exactly_one_pin() {
        let edited = upsert(FILE, &pin("a/one", '3')).unwrap();
        let want = FILE.replace(
            "  - tool: a/one\n    sha256: 1111111111111111111111111111111111111111111111111111111111111111\n    approvedBy: alice@example.com\n    approvedAt: \"2026-11-26T12:00:00Z\"\n",
            "  - tool: a/one\n    sha256: 3333333333333333333333333333333333333333333333333333333333333333\n    approvedBy: carol@example.com\n    approvedAt: \"2026-12-05T10:00:00Z\"\n",
        );
        assert_eq!(edited, want);
        let added = upsert(FILE, &pin("m/mid", '4')).unwrap();
        let (before, after) = FILE.split_at(FILE.find("  # weather pins").unwrap());
        let new_item = "  - tool: m/mid\n    sha256: 4444444444444444444444444444444444444444444444444444444444444444\n    approvedBy: carol@example.com\n    approvedAt: \"2026-12-05T10:00:00Z\"\n";
        // Inserted before the item that sorts after it (its comment stays with it).
        let at = FILE.find("  - tool: w/two").unwrap();
        assert_eq!(added, format!("{}{new_item}{}", &FILE[..at], &FILE[at..]));
        assert!(before.len() < at && !after.is_empty());
        let last = upsert(FILE, &pin("z/last", '5')).unwrap();
        assert!(last.starts_with(FILE) && last.ends_with("approvedAt: \"2026-12-05T10:00:00Z\"\n"));
        // Empty lists and empty files.
        let from_empty = upsert("approvals: []\n", &pin("a/one", '6')).unwrap();
        assert_eq!(parse("f", &from_empty).unwrap().len(), 1);
        assert_eq!(
            parse("f", &upsert("", &pin("a/one", '6')).unwrap())
                .unwrap()
                .len(),
            1
        );
        // A flow-style file is not edited blindly.
        assert!(upsert(
            "approvals: [{tool: a/one, sha256: x}]\n",
            &pin("a/one", '7')
        )
        .is_none());
    }

    #[test]
    fn identity_changes_with_repin() {
        let a = Pin {
            tool: "a/b".into(),
            sha256: "0".repeat(64),
            approved_by: "x".into(),
            approved_at: None,
            signature: None,
        };
        let mut b = a.clone();
        b.approved_at = Some("later".into());
        assert_ne!(a.identity(), b.identity());
    }
}
