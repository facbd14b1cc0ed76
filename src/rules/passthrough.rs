//! Names of imported `mcp_passthrough` tools, exactly as MCPBox builds them (MCPBOX.md §4.4).
//!
//! Only the naming rule lives here; which external tools are imported, conflict
//! checks (`skipped_conflict`) and the tool row itself live in `plan::diff` and `apply`.

/// MCPBox's `sanitize`: lowercase (Unicode lowercasing), every character outside
/// `[a-z0-9_]` becomes `_`, `t_` is prefixed if the first character is not a letter,
/// runs of `_` collapse into one, leading and trailing `_` are stripped, and an empty
/// result becomes `unnamed_tool`.
///
/// `GitHub MCP` → `github_mcp`; `123 source` → `t_123_source`; `___` → `t`.
pub fn sanitize(name: &str) -> String {
    let replaced: String = name
        .to_lowercase()
        .chars()
        .map(|c| {
            if c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect();
    // Only `[a-z0-9_]` is left, so "a letter" means `a-z`; an empty name gets no prefix.
    let prefixed = match replaced.chars().next() {
        Some(first) if !first.is_ascii_lowercase() => format!("t_{replaced}"),
        _ => replaced,
    };
    let mut collapsed = String::with_capacity(prefixed.len());
    for c in prefixed.chars() {
        if !(c == '_' && collapsed.ends_with('_')) {
            collapsed.push(c);
        }
    }
    let trimmed = collapsed.trim_matches('_');
    if trimmed.is_empty() {
        "unnamed_tool".to_owned()
    } else {
        trimmed.to_owned()
    }
}

/// The tool name MCPBox gives an imported external tool:
/// `sanitize(source_name) + "_" + sanitize(external_tool_name)`.
///
/// `GitHub MCP` + `search_code` → `github_mcp_search_code`. The original external name
/// is kept separately in `tools.external_tool_name`.
pub fn passthrough_tool_name(source_name: &str, external_tool_name: &str) -> String {
    format!("{}_{}", sanitize(source_name), sanitize(external_tool_name))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;

    fn vectors() -> Vec<Value> {
        crate::test_vectors("passthrough_tool_name")
            .as_array()
            .expect("passthrough_tool_name is an array")
            .clone()
    }

    fn s<'a>(v: &'a Value, field: &str) -> &'a str {
        v[field]
            .as_str()
            .unwrap_or_else(|| panic!("{field} in {v}"))
    }

    #[test]
    fn mcpbox_vectors_match() {
        let vectors = vectors();
        assert_eq!(vectors.len(), 8);
        for v in &vectors {
            let (source, tool) = (s(v, "source_name"), s(v, "tool_name"));
            assert_eq!(sanitize(source), s(v, "sanitized_source"), "vector {v}");
            assert_eq!(sanitize(tool), s(v, "sanitized_tool"), "vector {v}");
            assert_eq!(
                passthrough_tool_name(source, tool),
                s(v, "prefixed"),
                "vector {v}"
            );
        }
    }

    #[test]
    fn documented_examples_and_edges() {
        assert_eq!(
            passthrough_tool_name("GitHub MCP", "search_code"),
            "github_mcp_search_code"
        );
        assert_eq!(sanitize("123 source"), "t_123_source");
        assert_eq!(sanitize("_a"), "t_a");
        assert_eq!(sanitize("a--b..c"), "a_b_c");
        // Lowercasing first: KELVIN SIGN lowercases to ASCII `k`, `İ` to `i` + U+0307.
        assert_eq!(sanitize("\u{212A}ey"), "key");
        assert_eq!(sanitize("İd"), "i_d");
        assert_eq!(sanitize("☃"), "t");
        assert_eq!(sanitize(""), "unnamed_tool");
    }
}
