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
