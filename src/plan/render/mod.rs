//! Turns a [`Plan`](super::Plan) into text or JSON. Computing the plan lives in
//! `plan::diff`; nothing here touches the database.
//!
//! # Layout
//! - `text`: Terraform's visual grammar for terminals and logs.
//! - `json`: the versioned JSON document (schema in `schemas/plan.schema.json`).

pub mod json;
pub mod text;

/// Output formats of `plan`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// Human-readable, Terraform style.
    Text,
    /// Versioned JSON document.
    Json,
}
