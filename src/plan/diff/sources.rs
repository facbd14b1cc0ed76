//! External sources and the pass-through tools that point at them: what a
//! pass-through tool's description and schema are when git does not give them,
//! when a tool must be re-linked, and which tools a source's delete unlinks.
//!
//! Matching source rows and building their changes happens in `plan::diff` like
//! any other kind; the rows are written by `apply`.

use std::collections::HashSet;

use serde_json::{json, Value};
use uuid::Uuid;

use crate::model::{Kind, Tool, ToolType};
use crate::plan::{Action, Change, FieldChange};
use crate::state::{ActualState, SourceRow, ToolRow};

/// The `input_schema` of a pass-through tool nothing describes: MCPBox's schema
/// of a function without parameters.
pub(super) fn empty_schema() -> Value {
    json!({"type": "object", "properties": {}})
}

/// A desired pass-through tool with its description and `input_schema` filled in
/// where git leaves them out (None for other tools). As MCPBox's import does
/// (MCPBOX.md §4.4), they come from the source's discovery cache when it lists
/// the external tool (`{}` for a missing schema); otherwise an existing row keeps
/// its own, and a new one gets no description and an empty schema (with a note).
pub(super) fn passthrough(
    t: &Tool,
    key: &str,
    source: Option<&SourceRow>,
    row: Option<&ToolRow>,
    notes: &mut Vec<String>,
) -> Option<Tool> {
    if t.tool_type != ToolType::McpPassthrough {
        return None;
    }
    let mut out = t.clone();
    let given_description = t.description.is_some();
    let given_schema = !t.input_schema.is_null();
    let external = t.external_tool_name.as_deref().unwrap_or_default();
    let discovered = source.and_then(|s| s.discovered(external));
    if given_schema {
        schema_against_discovery(t, key, discovered, notes);
    }
    if given_description && given_schema {
        return Some(out);
    }
    if let Some(found) = discovered {
        if !given_description {
            out.description = found
                .get("description")
                .and_then(Value::as_str)
                .map(str::to_string);
        }
        if !given_schema {
            out.input_schema = found
                .get("input_schema")
                .filter(|s| !s.is_null())
                .cloned()
                .unwrap_or_else(|| json!({}));
        }
        return Some(out);
    }
    if let Some(r) = row {
        // Not (or no longer) discovered: what the row holds stands.
        if !given_description {
            out.description = r.obj.description.clone();
        }
        if !given_schema {
            out.input_schema = if r.obj.input_schema.is_null() {
                empty_schema()
            } else {
                r.obj.input_schema.clone()
            };
        }
        return Some(out);
    }
    if !given_schema {
        out.input_schema = empty_schema();
    }
    let missing = match (given_description, given_schema) {
        (false, false) => "no description and an empty input_schema",
        (false, true) => "no description",
        _ => "an empty input_schema",
    };
    let why = match source {
        Some(_) => "has not discovered",
        None => "is new and has not discovered",
    };
    notes.push(format!(
        "tool {key}: external source {}/{} {why} `{external}` yet, so the tool is created with {missing}; run discovery in MCPBox and plan again, or give them in git",
        t.server,
        t.external_source.as_deref().unwrap_or_default(),
    ));
    Some(out)
}

/// A note when git states a pass-through tool's `inputSchema` and the source's
/// discovery holds another one for the external tool: the external server's
/// schema is what the tool really takes (MCPBOX.md §4.3, §4.4), git's replaces
/// it on every apply, so say where each comes from instead of silently
/// overwriting the discovered one every pass.
fn schema_against_discovery(
    t: &Tool,
    key: &str,
    discovered: Option<&Value>,
    notes: &mut Vec<String>,
) {
    let Some(found) = discovered
        .and_then(|f| f.get("input_schema"))
        .filter(|s| !s.is_null())
    else {
        return;
    };
    if *found != t.input_schema {
        notes.push(format!(
            "tool {key}: git's inputSchema differs from the one external source {}/{} discovered for `{}`; git's is written (the external server's stays in the discovery cache) — leave inputSchema out of the manifest to take the discovered one",
            t.server,
            t.external_source.as_deref().unwrap_or_default(),
            t.external_tool_name.as_deref().unwrap_or_default(),
        ));
    }
}

/// A field change that re-links a pass-through tool whose row points at another
/// `external_mcp_sources` row than git's source (same name, different row: names
/// are not unique in MCPBox), or at none while its name still matches.
pub(super) fn relink(row: &ToolRow, t: &Tool, source: Option<&SourceRow>) -> Option<FieldChange> {
    if t.tool_type != ToolType::McpPassthrough || row.obj.external_source != t.external_source {
        // A different name is shown as an `external_source` change already.
        return None;
    }
    let want = source.map(|s| s.id);
    if row.external_source_id == want {
        return None;
    }
    let id = |v: Option<Uuid>| v.map(|id| Value::String(id.to_string()));
    Some(FieldChange {
        field: "external_source_id".into(),
        before: id(row.external_source_id),
        after: id(want).or_else(|| Some(Value::String("(created by this plan)".into()))),
    })
}

/// Says, on each source delete, which pass-through tools it unlinks: tools that
/// point at the row and stay in MCPBox (not deleted, not re-linked by this plan).
/// MCPBox's foreign key sets their `external_source_id` to NULL; they stay,
/// broken, until linked again.
pub(super) fn unlinked(changes: &mut [Change], actual: &ActualState) {
    let touched: HashSet<Uuid> = changes
        .iter()
        .filter(|c| c.kind == Kind::Tool)
        .filter_map(|c| c.row_id)
        .collect();
    // A deleted server takes its tools with it: they do not stay.
    let deleted_servers: HashSet<Uuid> = changes
        .iter()
        .filter(|c| c.kind == Kind::Server && c.action == Action::Delete)
        .filter_map(|c| c.row_id)
        .collect();
    for c in changes.iter_mut() {
        if c.kind != Kind::Source || c.action != Action::Delete {
            continue;
        }
        let Some(source_id) = c.row_id else { continue };
        let mut tools: Vec<String> = actual
            .tools
            .iter()
            .filter(|t| {
                t.external_source_id == Some(source_id)
                    && !touched.contains(&t.id)
                    && !deleted_servers.contains(&t.server_id)
            })
            .map(|t| t.obj.key())
            .collect();
        if tools.is_empty() {
            continue;
        }
        tools.sort();
        c.reason = Some(format!(
            "unlinks {} pass-through tool{} that stay{} in MCPBox: {} — tools.external_source_id becomes NULL (ON DELETE SET NULL) and {} cannot run until linked to a source again",
            tools.len(),
            if tools.len() == 1 { "" } else { "s" },
            if tools.len() == 1 { "s" } else { "" },
            tools.join(", "),
            if tools.len() == 1 { "it" } else { "they" },
        ));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tool(description: Option<&str>, schema: Value) -> Tool {
        Tool {
            server: "github".into(),
            name: "search".into(),
            description: description.map(str::to_string),
            enabled: true,
            timeout_ms: None,
            tool_type: ToolType::McpPassthrough,
            python_code: None,
            dependencies: vec![],
            input_schema: schema,
            external_source: Some("gh".into()),
            external_tool_name: Some("search_code".into()),
        }
    }

    fn source(cache: Option<Value>) -> SourceRow {
        serde_json::from_value(json!({
            "id": Uuid::nil(), "server_id": Uuid::nil(),
            "obj": {"server": "github", "name": "gh", "url": "https://x", "transport": "sse",
                    "auth_type": "none", "auth_secret": null, "auth_header": null, "status": "active"},
            "status": "error", "discovered_tools_cache": cache,
        }))
        .unwrap()
    }

    #[test]
    fn description_and_schema_come_from_discovery_unless_git_gives_them() {
        let cache = json!([{"name": "search_code", "description": "Search code", "input_schema": {"type": "object", "properties": {"q": {"type": "string"}}}}]);
        let src = source(Some(cache));
        let mut notes = vec![];
        let t = passthrough(
            &tool(None, Value::Null),
            "github/search",
            Some(&src),
            None,
            &mut notes,
        )
        .unwrap();
        assert_eq!(t.description.as_deref(), Some("Search code"));
        assert_eq!(t.input_schema["properties"]["q"]["type"], "string");
        let t = passthrough(
            &tool(Some("mine"), json!({"type": "object"})),
            "github/search",
            Some(&src),
            None,
            &mut notes,
        )
        .unwrap();
        assert_eq!(t.description.as_deref(), Some("mine"));
        assert_eq!(t.input_schema, json!({"type": "object"}));
        // Git's schema is not the discovered one: written, and said so.
        assert_eq!(notes.len(), 1, "{notes:?}");
        assert!(notes[0].contains("inputSchema differs"), "{}", notes[0]);
    }

    #[test]
    fn undiscovered_tools_get_an_empty_schema_and_a_note() {
        let mut notes = vec![];
        let t = passthrough(
            &tool(None, Value::Null),
            "github/search",
            None,
            None,
            &mut notes,
        )
        .unwrap();
        assert_eq!(t.description, None);
        assert_eq!(t.input_schema, empty_schema());
        assert_eq!(notes.len(), 1);
        assert!(
            notes[0].contains("github/gh is new") && notes[0].contains("`search_code`"),
            "{}",
            notes[0]
        );
        let python = Tool {
            tool_type: ToolType::PythonCode,
            ..tool(None, Value::Null)
        };
        assert!(passthrough(&python, "k", None, None, &mut notes).is_none());
    }
}
