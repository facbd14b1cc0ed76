//! One object's change: field-level differences, and the change for a matched (or
//! missing) row, including the rule that a human's decision on a request row
//! stands. Matching rows lives in `matcher`; tools' approval in `rules::approval`.

use std::collections::BTreeSet;

use serde_json::Value;
use uuid::Uuid;

use crate::model::{Kind, Object};
use crate::plan::{Action, Change, FieldChange};
use crate::state::ActualState;

/// Fields that are part of an object's natural key (or its tag): never shown as
/// field changes, since a different value is a different object. `name` is not
/// among them: an owned row renamed in MCPBox is drift, restored to git's name.
pub const KEY_FIELDS: [&str; 6] = ["kind", "server", "key", "tool", "host", "port"];

/// Field-level differences between two objects of the same kind (keys of the
/// natural key are left out).
pub fn field_changes(before: &Object, after: &Object) -> Vec<FieldChange> {
    // Equal objects serialise equally: skip building two JSON documents (with
    // the code in each) for the common case of nothing changed.
    if before == after {
        return Vec::new();
    }
    let (Ok(Value::Object(b)), Ok(Value::Object(a))) =
        (serde_json::to_value(before), serde_json::to_value(after))
    else {
        return Vec::new();
    };
    let skip = KEY_FIELDS;
    let keys: BTreeSet<&String> = b.keys().chain(a.keys()).collect();
    let mut out = Vec::new();
    for k in keys {
        if skip.contains(&k.as_str()) {
            continue;
        }
        let (bv, av) = (b.get(k), a.get(k));
        if bv != av {
            // The code itself stays in the objects (`Change::code`).
            let values = k != crate::plan::CODE_FIELD;
            out.push(FieldChange {
                field: k.clone(),
                before: bv.filter(|v| values && !v.is_null()).cloned(),
                after: av.filter(|v| values && !v.is_null()).cloned(),
            });
        }
    }
    out
}

/// Builds the change for a matched or missing row of a simple kind.
pub(super) fn simple_change(
    actual: &ActualState,
    kind: Kind,
    key: &str,
    desired: &Object,
    found: Option<(Uuid, Object, bool)>,
    extra_fields: Vec<FieldChange>,
) -> Option<Change> {
    let owned = actual.ownership.get(&(kind, key.to_string()));
    match found {
        None => Some(Change {
            action: Action::Create,
            kind,
            key: key.to_string(),
            row_id: None,
            server_id: None,
            tool_id: None,
            before: None,
            after: Some(desired.clone()),
            fields: Vec::new(),
            tool: None,
            cascade: None,
            value: None,
            reason: owned
                .map(|_| "deleted in MCPBox since the last apply; re-creating it".to_string()),
        }),
        Some((id, before, adopt)) => {
            let mut fields = field_changes(&before, desired);
            fields.extend(extra_fields);
            if !adopt && fields.is_empty() {
                return None;
            }
            let reason = match (adopt, owned) {
                (true, _) => {
                    Some("exists in MCPBox and is not managed yet; adopting it".to_string())
                }
                (false, Some(o)) if o.applied_hash != before.hash() => Some(
                    "drift: changed in MCPBox since the last apply; restoring git's version"
                        .to_string(),
                ),
                _ => None,
            };
            Some(Change {
                action: if adopt { Action::Adopt } else { Action::Update },
                kind,
                key: key.to_string(),
                row_id: Some(id),
                server_id: None,
                tool_id: None,
                before: Some(before),
                after: Some(desired.clone()),
                fields,
                tool: None,
                cascade: None,
                value: None,
                reason,
            })
        }
    }
}

fn status_field(before: &str) -> Vec<FieldChange> {
    if before == "approved" {
        Vec::new()
    } else {
        vec![FieldChange {
            field: "status".into(),
            before: Some(Value::String(before.into())),
            after: Some(Value::String("approved".into())),
        }]
    }
}

/// What git's entry for a request row comes to.
pub(super) enum Outcome {
    /// A change to plan.
    Change(Box<Change>),
    /// Nothing to change; the row's id, for bookkeeping.
    Unchanged(Uuid),
    /// A human's revoke or reject in MCPBox stands.
    Standing,
}

/// The change for a network or module entry and the row it matched (with the
/// row's status). An approved row is git's to converge; a row an admin revoked
/// (back to `pending`) or rejected in MCPBox since our last apply keeps that
/// decision until git changes the entry — as with tools, git never silently
/// reverses a human's security decision. A changed entry re-grants: a revoked
/// row is approved again (MCPBox's approve), a rejected one is left as history
/// and a new approved row is written (MCPBox cannot approve a rejected request).
pub(super) fn request_change(
    actual: &ActualState,
    kind: Kind,
    key: &str,
    desired: &Object,
    found: Option<(Uuid, Object, bool, &str)>,
    restore_removed: bool,
    notes: &mut Vec<String>,
) -> Outcome {
    let Some((id, before, adopt, status)) = found else {
        // Removed in MCPBox (an admin deleted the request row): a human's
        // decision, which stands like a revocation until git changes the entry
        // or `--restore-removed` is given.
        let unchanged_in_git = actual
            .ownership
            .get(&(kind, key.to_string()))
            .is_some_and(|o| o.applied_hash == desired.hash());
        if unchanged_in_git && !restore_removed {
            let removal = actual.removals.get(&(kind, key.to_string()));
            let by = removal
                .and_then(|r| r.who.as_deref())
                .map(|w| format!(" by {w}"))
                .unwrap_or_default();
            let at = removal
                .and_then(|r| r.when)
                .map(|t| {
                    format!(
                        " at {}",
                        t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
                    )
                })
                .unwrap_or_default();
            notes.push(format!(
                "{} {key} was removed in MCPBox{by}{at}; that decision stands (change the entry in git, or run `mcpbox-gitops apply --restore-removed`, to grant it again)",
                kind.as_str()
            ));
            return Outcome::Standing;
        }
        return match simple_change(actual, kind, key, desired, None, Vec::new()) {
            Some(c) => Outcome::Change(Box::new(c)),
            None => Outcome::Standing,
        };
    };
    if !adopt && status != "approved" {
        let what = if status == "rejected" {
            "rejected"
        } else {
            "revoked"
        };
        let unchanged_in_git = actual
            .ownership
            .get(&(kind, key.to_string()))
            .is_some_and(|o| o.applied_hash == desired.hash());
        if unchanged_in_git {
            notes.push(format!(
                "{} {key} was {what} in MCPBox; that decision stands (change the entry's justification in git to grant it again)",
                kind.as_str()
            ));
            return Outcome::Standing;
        }
        if status == "rejected" {
            return match simple_change(actual, kind, key, desired, None, Vec::new()) {
                Some(mut c) => {
                    c.reason = Some("rejected in MCPBox; git changed the entry, so a new approved row is written and the rejected one stays as history".into());
                    Outcome::Change(Box::new(c))
                }
                None => Outcome::Standing,
            };
        }
    }
    match simple_change(
        actual,
        kind,
        key,
        desired,
        Some((id, before, adopt)),
        status_field(status),
    ) {
        Some(c) => Outcome::Change(Box::new(c)),
        None => Outcome::Unchanged(id),
    }
}
