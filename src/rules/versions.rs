//! `tool_versions.change_summary` exactly as MCPBox words it (MCPBOX.md §2.4).
//!
//! Which fields an update submits is decided in `plan::diff`; this module only
//! orders and words them.

/// A key of MCPBox's tool update dictionary.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    serde::Serialize,
    serde::Deserialize,
    schemars::JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum UpdateKey {
    /// `name`.
    Name,
    /// `description`.
    Description,
    /// `enabled`.
    Enabled,
    /// `timeout_ms`.
    TimeoutMs,
    /// `python_code`.
    PythonCode,
    /// `code_dependencies`.
    CodeDependencies,
    /// `input_schema` (regenerated whenever code is submitted).
    InputSchema,
    /// `approval_status`.
    ApprovalStatus,
    /// `approved_at`.
    ApprovedAt,
    /// `approved_by`.
    ApprovedBy,
}

impl UpdateKey {
    /// The word MCPBox uses for the key in a summary.
    pub fn word(self) -> &'static str {
        match self {
            UpdateKey::Name => "name",
            UpdateKey::Description => "description",
            UpdateKey::Enabled => "enabled status",
            UpdateKey::TimeoutMs => "timeout",
            UpdateKey::PythonCode => "Python code",
            UpdateKey::CodeDependencies => "code_dependencies",
            UpdateKey::InputSchema => "input_schema",
            UpdateKey::ApprovalStatus => "approval_status",
            UpdateKey::ApprovedAt => "approved_at",
            UpdateKey::ApprovedBy => "approved_by",
        }
    }

    /// The key as MCPBox spells it in the update dictionary.
    pub fn key(self) -> &'static str {
        match self {
            UpdateKey::Name => "name",
            UpdateKey::Description => "description",
            UpdateKey::Enabled => "enabled",
            UpdateKey::TimeoutMs => "timeout_ms",
            UpdateKey::PythonCode => "python_code",
            UpdateKey::CodeDependencies => "code_dependencies",
            UpdateKey::InputSchema => "input_schema",
            UpdateKey::ApprovalStatus => "approval_status",
            UpdateKey::ApprovedAt => "approved_at",
            UpdateKey::ApprovedBy => "approved_by",
        }
    }

    /// Parses MCPBox's spelling.
    pub fn from_key(key: &str) -> Option<UpdateKey> {
        ALL_KEYS.iter().copied().find(|k| k.key() == key)
    }
}

const ALL_KEYS: [UpdateKey; 10] = [
    UpdateKey::Name,
    UpdateKey::Description,
    UpdateKey::Enabled,
    UpdateKey::TimeoutMs,
    UpdateKey::PythonCode,
    UpdateKey::CodeDependencies,
    UpdateKey::InputSchema,
    UpdateKey::ApprovalStatus,
    UpdateKey::ApprovedAt,
    UpdateKey::ApprovedBy,
];

/// The summary text for keys already in MCPBox's order: `No changes`,
/// `Updated A`, `Updated A and B`, `Updated A, B, and C`.
pub fn change_summary(keys: &[UpdateKey]) -> String {
    let words: Vec<&str> = keys.iter().map(|k| k.word()).collect();
    match words.as_slice() {
        [] => "No changes".to_string(),
        [a] => format!("Updated {a}"),
        [a, b] => format!("Updated {a} and {b}"),
        [init @ .., last] => format!("Updated {}, and {last}", init.join(", ")),
    }
}

/// The summary of a tool's first version.
pub const INITIAL_VERSION: &str = "Initial version";

/// `tool_versions.change_source` of every version row the reconciler writes.
pub const CHANGE_SOURCE: &str = "gitops";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn summaries_match_mcpbox_vectors() {
        let v = crate::test_vectors("change_summary");
        let cases = v.as_array().unwrap();
        assert!(cases.len() >= 10);
        for case in cases {
            let keys: Vec<UpdateKey> = case["keys"]
                .as_array()
                .unwrap()
                .iter()
                .map(|k| UpdateKey::from_key(k.as_str().unwrap()).unwrap())
                .collect();
            assert_eq!(change_summary(&keys), case["summary"].as_str().unwrap());
        }
    }
}
