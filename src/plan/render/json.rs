//! The plan as a versioned JSON document, like decK's and Terraform's `show -json`.
//!
//! The document is the serialised `Plan` itself (`format_version`, `changes`,
//! `summary`, …); its schema is `schemas/plan.schema.json`. Secret values are not
//! in the model at all, so they cannot appear here.

use super::super::Plan;

/// Renders the plan as pretty-printed JSON with a trailing newline.
pub fn render(plan: &Plan) -> String {
    let mut s =
        serde_json::to_string_pretty(plan).unwrap_or_else(|e| format!("{{\"error\": \"{e}\"}}"));
    s.push('\n');
    s
}
