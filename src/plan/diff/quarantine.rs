//! Where the diff meets `rules::quarantine`: gathers, for every managed tool,
//! git's object, MCPBox's row and what was last applied; asks the rules what
//! is quarantined; and gives the diff the desired state with each held tool
//! replaced by the held one (MCPBox's code, disabled), so that the ordinary
//! diff plans exactly the disabling and nothing that runs changes.

use std::collections::BTreeMap;

use crate::desired::DesiredState;
use crate::model::{Kind, Object, Tool};
use crate::rules::quarantine::{self, Quarantine, Sides};
use crate::state::ActualState;

/// MCPBox's row of each owned tool, by key.
fn owned_rows(actual: &ActualState) -> BTreeMap<&str, &Tool> {
    let by_id: BTreeMap<uuid::Uuid, &Tool> = actual.tools.iter().map(|r| (r.id, &r.obj)).collect();
    actual
        .ownership
        .iter()
        .filter(|((kind, _), _)| *kind == Kind::Tool)
        .filter_map(|((_, key), o)| by_id.get(&o.row_id).map(|t| (key.as_str(), *t)))
        .collect()
}

/// This plan's quarantine decisions.
pub(super) fn decide(desired: &DesiredState, actual: &ActualState) -> Vec<Quarantine> {
    let policy = desired.policy.on_code_drift;
    if policy == quarantine::OnCodeDrift::Revert && actual.quarantine.is_empty() {
        return Vec::new();
    }
    let rows = owned_rows(actual);
    let hashes: BTreeMap<&str, String> = desired
        .objects
        .iter()
        .filter(|((kind, key), _)| *kind == Kind::Tool && rows.contains_key(key.as_str()))
        .map(|((kind, key), obj)| (key.as_str(), desired.hash_of(*kind, key, obj)))
        .collect();
    let mut tools: BTreeMap<String, Sides<'_>> = BTreeMap::new();
    for ((kind, key), obj) in &desired.objects {
        let (Kind::Tool, Object::Tool(git)) = (kind, obj) else {
            continue;
        };
        let (Some(mcpbox), Some(hash)) = (rows.get(key.as_str()), hashes.get(key.as_str())) else {
            continue;
        };
        tools.insert(
            key.clone(),
            Sides {
                git,
                mcpbox,
                applied_hash: actual
                    .ownership
                    .get(&(Kind::Tool, key.clone()))
                    .map(|o| o.applied_hash.as_str()),
                git_object_hash: hash,
            },
        );
    }
    quarantine::decide(
        policy,
        &tools,
        &actual.quarantine,
        desired.restore_quarantined,
    )
}

/// `desired` with every held tool replaced by its held form; `None` when
/// nothing is held (the diff then uses `desired` itself, without a copy).
pub(super) fn held(
    desired: &DesiredState,
    actual: &ActualState,
    decisions: &[Quarantine],
) -> Option<DesiredState> {
    if !decisions.iter().any(Quarantine::holds) {
        return None;
    }
    let rows = owned_rows(actual);
    let mut held = desired.clone();
    for d in decisions.iter().filter(|d| d.holds()) {
        let key = (Kind::Tool, d.tool().to_string());
        if let (Some(Object::Tool(git)), Some(mcpbox)) =
            (desired.objects.get(&key), rows.get(d.tool()))
        {
            held.replace_object(key, Object::Tool(quarantine::held_tool(git, mcpbox)));
        }
    }
    Some(held)
}
