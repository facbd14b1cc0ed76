//! The `tool_versions` rows a tool change writes, as MCPBox's create and update
//! would write them. Wording lives in `rules::versions`; approval in `rules::approval`.

use crate::model::{Tool, ToolType};
use crate::plan::VersionWrite;
use crate::rules::versions::{change_summary, UpdateKey, INITIAL_VERSION};

/// The versions MCPBox would write for a tool created with these values: version 1
/// from create (which ignores enabled=false, timeout and dependencies), then an
/// update for those, as an admin's create + edit would.
///
/// A pass-through tool is created as MCPBox's import creates it: `current_version`
/// 1 and no version row at all (MCPBOX.md §2.4, §4.4).
pub(super) fn create_versions(t: &Tool) -> Vec<VersionWrite> {
    if t.tool_type == ToolType::McpPassthrough {
        return Vec::new();
    }
    let mut out = vec![VersionWrite {
        number: 1,
        keys: Vec::new(),
        summary: INITIAL_VERSION.to_string(),
    }];
    let mut keys = Vec::new();
    if !t.enabled {
        keys.push(UpdateKey::Enabled);
    }
    if t.timeout_ms.is_some() {
        keys.push(UpdateKey::TimeoutMs);
    }
    if !t.dependencies.is_empty() {
        keys.push(UpdateKey::CodeDependencies);
    }
    if !keys.is_empty() {
        out.push(VersionWrite {
            number: 2,
            summary: change_summary(&keys),
            keys,
        });
    }
    out
}

/// The versions an update of an existing tool writes: MCPBox's one row for the
/// change (none without update keys). A tool without any version row (MCPBox's
/// import of pass-through tools writes none, MCPBOX.md §2.4) first gets a
/// snapshot of its current state as version `current_version`, "Initial
/// version", so its history reads 1..N and MCPBox's rollback finds the state
/// before the change.
pub(super) fn update_versions(
    current_version: i32,
    existing_versions: i64,
    keys: Vec<UpdateKey>,
) -> Vec<VersionWrite> {
    if keys.is_empty() {
        return Vec::new();
    }
    let mut out = Vec::new();
    if existing_versions == 0 {
        out.push(VersionWrite {
            number: current_version,
            keys: Vec::new(),
            summary: INITIAL_VERSION.to_string(),
        });
    }
    out.push(VersionWrite {
        number: current_version + 1,
        summary: change_summary(&keys),
        keys,
    });
    out
}

/// The update keys MCPBox's tool update would record, in its order. MCPBox's
/// update path is the same for every tool type, so an update of a pass-through
/// tool (description, enabled, timeout, schema) writes a version row too, even
/// though its import wrote none. Its pass-through target is not a key of MCPBox's
/// update dictionary (and not snapshotted): changing only the target writes no
/// version, like the approval transition a dependency change takes. Approval keys
/// follow MCPBox's update, not our decision: `approval_status` only when the code
/// really differs, `approved_at`/`approved_by` only in auto-approve mode. An
/// approval by pin is MCPBox's separate approve action, which writes no version.
pub(super) fn update_keys(before: &Tool, after: &Tool, auto_approve: bool) -> Vec<UpdateKey> {
    let mut keys = Vec::new();
    if before.name != after.name {
        keys.push(UpdateKey::Name);
    }
    if before.description != after.description {
        keys.push(UpdateKey::Description);
    }
    if before.enabled != after.enabled {
        keys.push(UpdateKey::Enabled);
    }
    if before.timeout_ms != after.timeout_ms {
        keys.push(UpdateKey::TimeoutMs);
    }
    let code_changed = before.python_code != after.python_code;
    if code_changed {
        keys.push(UpdateKey::PythonCode);
    }
    if before.dependencies != after.dependencies {
        keys.push(UpdateKey::CodeDependencies);
    }
    // input_schema is regenerated whenever code is submitted.
    if code_changed || before.input_schema != after.input_schema {
        keys.push(UpdateKey::InputSchema);
    }
    if keys.is_empty() {
        return keys;
    }
    if code_changed {
        keys.push(UpdateKey::ApprovalStatus);
        if auto_approve {
            keys.extend([UpdateKey::ApprovedAt, UpdateKey::ApprovedBy]);
        }
    }
    keys
}
