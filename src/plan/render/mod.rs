//! Turns a [`Plan`](super::Plan) into text, JSON or markdown. Computing the plan lives in
//! `plan::diff`; nothing here touches the database.
//!
//! # Layout
//! - `text`: Terraform's visual grammar for terminals and logs.
//! - `json`: the versioned JSON document (schema in `schemas/plan.schema.json`).
//! - `markdown`: pull-request comments, Atlantis style, within GitHub's size limit.

pub mod json;
pub mod markdown;
pub mod text;

/// Output formats of `plan`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// Human-readable, Terraform style.
    Text,
    /// Versioned JSON document.
    Json,
    /// A pull-request comment (GitHub-flavoured markdown).
    Markdown,
}

/// A unified diff of two texts: changed hunks only, with 3 lines of context
/// (never a whole file), each line after `indent`.
pub(crate) fn code_diff(out: &mut dyn std::fmt::Write, old: &str, new: &str, indent: &str) {
    let diff = similar::TextDiff::from_lines(old, new);
    let unified = diff.unified_diff().context_radius(3).to_string();
    for line in unified.lines() {
        let _ = writeln!(out, "{indent}{line}");
    }
}
