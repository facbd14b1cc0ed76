//! Tunnel configurations: the token's label, and MCPBox's "at most one active"
//! (MCPBOX.md §6.4) as the plan sees it — which activation the plan makes, which
//! other active rows that deactivates, and the active row MCPBox never deletes.
//!
//! Matching rows and building their changes happens in `plan::diff`; writing the
//! activation (deactivate the others first, in the same transaction) in `apply`.

use std::collections::HashSet;

use uuid::Uuid;

use super::Error;
use crate::desired::DesiredState;
use crate::model::{Kind, Object};
use crate::plan::{Action, Change};
use crate::state::{ActualState, TunnelRow};

/// The label of a desired tunnel's token, compared with the stored one by
/// decrypting (AAD `tunnel_token`).
pub(super) fn token_label(
    desired: &DesiredState,
    name: &str,
    row: Option<&TunnelRow>,
) -> Result<Option<crate::values::Labelled>, Error> {
    let key = crate::values::tunnel_key(name);
    let Some(source) = desired.value_sources.get(&key) else {
        // No valueFrom (not possible from a manifest): what is stored stands.
        return Ok(row
            .and_then(|r| r.obj.token.clone())
            .map(crate::values::Labelled::kept));
    };
    let aad = crate::crypto::Aad::tunnel_token();
    let stored = row
        .and_then(|r| r.ciphertext.as_deref())
        .map(|c| (c.as_bytes(), &aad));
    Ok(desired.values.label(
        &key,
        source,
        stored,
        crate::values::ENCRYPTED,
        &|k, b, a| crate::crypto::decrypt_b64(k, std::str::from_utf8(b).unwrap_or(""), a),
    )?)
}

/// The tunnel configuration a plan activates (creates active, or turns active),
/// if any; validation allows at most one. Apply deactivates every other
/// configuration before writing it, as MCPBox's activate does.
pub fn activation(changes: &[Change]) -> Option<&Change> {
    changes.iter().find(|c| {
        let active = |o: &Option<Object>| matches!(o, Some(Object::Tunnel(t)) if t.active);
        c.kind == Kind::Tunnel
            && c.action != Action::Delete
            && active(&c.after)
            && !active(&c.before)
    })
}

/// Checks the plan against MCPBox's rule that the active configuration is never
/// deleted, and notes what an activation deactivates besides git's own rows.
/// `kept` holds the rows git declares (their own changes deactivate them).
pub(super) fn check_activation(
    changes: &[Change],
    actual: &ActualState,
    kept: &HashSet<Uuid>,
    notes: &mut Vec<String>,
) -> Result<(), Error> {
    let activating = activation(changes);
    let deleted: HashSet<Uuid> = changes
        .iter()
        .filter(|c| c.kind == Kind::Tunnel && c.action == Action::Delete)
        .filter_map(|c| c.row_id)
        .collect();
    let active: Vec<&TunnelRow> = actual.tunnels.iter().filter(|t| t.obj.active).collect();
    match activating {
        // MCPBox refuses to delete the active configuration; activating another
        // one first (in this same plan) deactivates it, which makes it deletable.
        None => {
            if let Some(row) = active.iter().find(|t| deleted.contains(&t.id)) {
                return Err(Error::ActiveTunnel(row.obj.name.clone()));
            }
            if active.len() > 1 {
                let mut names: Vec<&str> = active.iter().map(|t| t.obj.name.as_str()).collect();
                names.sort();
                notes.push(format!(
                    "MCPBox holds {} active tunnel configurations ({}); it expects at most one (its tunnel start fails); activating one, in MCPBox or from git, deactivates the others",
                    active.len(),
                    names.join(", ")
                ));
            }
        }
        Some(c) => {
            let mut others: Vec<&str> = active
                .iter()
                .filter(|t| {
                    Some(t.id) != c.row_id && !kept.contains(&t.id) && !deleted.contains(&t.id)
                })
                .map(|t| t.obj.name.as_str())
                .collect();
            others.sort();
            for other in others {
                notes.push(format!(
                    "activating tunnel {} deactivates tunnel configuration `{other}`, which git does not declare (MCPBox's activate deactivates every other configuration)",
                    c.key
                ));
            }
        }
    }
    Ok(())
}
