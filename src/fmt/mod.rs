//! `fmt`: rewrites manifests in one canonical layout so that a review shows
//! only real changes — keys in the order our types declare them, two-space
//! indentation with lists indented under their key, strings quoted only where
//! YAML needs it (double quotes), multi-line code as literal blocks, comments
//! and single blank lines kept with the entry they precede.
//!
//! Formatting never changes meaning: the result is read back and compared
//! with the original (same documents, same values, same comments), and a file
//! whose result differs is refused, not written. `export` writes its files
//! through here, so `fmt` of an export is a no-op.
//!
//! - `tree`: YAML text → nodes with their comments;
//! - `order`: the canonical key order, from the types;
//! - `emit`: nodes → canonical text.

mod emit;
mod order;
mod tree;

pub use tree::Refusal;

use order::{Ctx, Kind};
use tree::Node;

/// What a file is, which decides its key order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileKind {
    /// A manifest file (documents of our kinds).
    Manifest,
    /// `approvals.yaml`.
    Approvals,
    /// `mcpbox-gitops.yaml`.
    Policy,
}

impl FileKind {
    /// The kind of the file at `path` (by its name).
    pub fn of(path: &str) -> FileKind {
        let name = path.rsplit('/').next().unwrap_or(path);
        match name {
            crate::manifest::load::APPROVALS_FILE => FileKind::Approvals,
            crate::manifest::load::POLICY_FILE => FileKind::Policy,
            _ => FileKind::Manifest,
        }
    }
}

/// `text` in canonical form, or why it is left as it is.
pub fn format(text: &str, kind: FileKind) -> Result<String, Refusal> {
    let body = text.strip_prefix('\u{feff}').unwrap_or(text);
    if body.lines().any(|l| l.starts_with('%')) {
        return Err(Refusal {
            line: 1,
            col: 1,
            message: "has a YAML directive (%…); fmt leaves such files as they are".into(),
        });
    }
    if body.trim().is_empty() {
        return Ok(String::new());
    }
    let docs = tree::parse(body)?;
    let out = emit::emit(&docs, |root| root_ctx(kind, root));
    check_same(body, &out)?;
    Ok(out)
}

/// The context of a document's root.
fn root_ctx(kind: FileKind, root: &Node) -> Ctx {
    match kind {
        FileKind::Approvals => Ctx::Approvals,
        FileKind::Policy => Ctx::Policy,
        FileKind::Manifest => {
            let Node::Map(entries) = root else {
                return Ctx::Free;
            };
            entries
                .iter()
                .find(|e| e.key.value == "kind")
                .and_then(|e| match &e.value {
                    Node::Scalar(s) => Kind::from_name(&s.value),
                    _ => None,
                })
                .map_or(Ctx::Free, Ctx::Doc)
        }
    }
}

/// Refuses a result that does not mean what the original meant: different
/// documents or values, or a comment lost or added.
fn check_same(before: &str, after: &str) -> Result<(), Refusal> {
    let lost = |what: &str| Refusal {
        line: 1,
        col: 1,
        message: format!(
            "fmt could not keep {what} in this file, so it left it as it is (please report it)"
        ),
    };
    let values = |t: &str| -> Option<Vec<serde_yaml::Value>> {
        use serde::Deserialize;
        serde_yaml::Deserializer::from_str(t)
            .map(|d| serde_yaml::Value::deserialize(d).ok())
            .collect()
    };
    if values(before).is_none() || values(before) != values(after) {
        return Err(lost("the values"));
    }
    let comments = |t: &str| -> Option<Vec<String>> {
        let (_, mut all) = tree::parse_with_comments(t).ok()?;
        all.sort();
        Some(all)
    };
    if comments(before) != comments(after) {
        return Err(lost("every comment"));
    }
    Ok(())
}

#[cfg(test)]
mod tests;
