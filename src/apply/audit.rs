//! What an apply tells the world: MCPBox-shaped audit rows in `activity_logs`, and
//! the report of running servers whose sandbox registration is now stale.

use std::collections::{BTreeMap, BTreeSet, HashSet};

use chrono::{DateTime, Utc};
use serde_json::json;
use sqlx::PgConnection;
use uuid::Uuid;

use super::error::{write_error, Error};
use super::ids::Ids;
use crate::model::{Kind, Object};
use crate::plan::{Action, Change, Plan, Summary};
use crate::rules::approval::Status;
use crate::state::ActualState;

/// A server whose sandbox registration is now out of date.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Reregister {
    /// Server name.
    pub server: String,
    /// `servers.id`: what activation re-registers (names are not unique in MCPBox).
    pub server_id: Uuid,
    /// Why. Shown to people only; activation never branches on it.
    pub reasons: Vec<String>,
}

/// A deleted server that was `running` when the apply read the database, so the
/// sandbox still serves it until it is unregistered (MCPBOX.md §8.1).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Unregister {
    /// Server name.
    pub server: String,
    /// The deleted row's `servers.id`, the sandbox's registration key.
    pub server_id: Uuid,
}

/// What an apply did.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Report {
    /// The plan that was applied.
    pub summary: Summary,
    /// Whether anything was written to MCPBox's tables.
    pub changed: bool,
    /// Running servers that must be re-registered for the changes to take effect
    /// (MCPBOX.md §8).
    pub reregister: Vec<Reregister>,
    /// New servers, left `imported` as MCPBox leaves them until started.
    pub not_started: Vec<String>,
    /// Deleted servers that were running: still registered in the sandbox.
    pub unregister: Vec<Unregister>,
    /// Whether `global_config.allowed_modules` changed. Module changes are global:
    /// every running server must be re-registered (already listed in
    /// `reregister`) and the sandbox asked to install packages (MCPBOX.md §8.5).
    pub modules_changed: bool,
}

/// MCPBox-shaped audit rows: one global row for the apply, and one per server
/// that still exists and was touched, so the server's activity view shows it.
pub(super) async fn audit(
    tx: &mut PgConnection,
    plan: &Plan,
    ids: &Ids,
    now: DateTime<Utc>,
) -> Result<(), Error> {
    let timestamp = now.to_rfc3339_opts(chrono::SecondsFormat::Micros, false);
    let list = |action: Action, c: &[&Change]| -> Vec<String> {
        c.iter()
            .filter(|c| c.action == action)
            .map(|c| format!("{} {}", c.kind.as_str(), c.key))
            .collect()
    };
    let changes_json = |c: &[&Change]| {
        json!({
            "source": plan.source,
            "commit": plan.revision,
            "created": list(Action::Create, c),
            "updated": list(Action::Update, c),
            "adopted": list(Action::Adopt, c),
            "deleted": list(Action::Delete, c),
        })
    };
    let all: Vec<&Change> = plan.changes.iter().collect();
    let (mut id, mut sid, mut message, mut details) = (vec![], vec![], vec![], vec![]);
    id.push(Uuid::new_v4());
    sid.push(None::<Uuid>);
    message.push(format!("gitops.apply: gitops ({})", plan.source));
    details.push(json!({
        "action": "gitops.apply",
        "resource_type": "gitops",
        "resource_id": plan.source,
        "timestamp": timestamp,
        "changes": changes_json(&all),
    }));
    let deleted = deleted_servers(plan);
    let mut per_server: BTreeMap<Uuid, Vec<&Change>> = BTreeMap::new();
    for c in &plan.changes {
        if let Some(server_id) = ids.server_of_change(c) {
            per_server.entry(server_id).or_default().push(c);
        }
    }
    for (server_id, changes) in per_server {
        // A deleted server's activity rows go with it (ON DELETE CASCADE).
        if deleted.contains(&server_id) {
            continue;
        }
        id.push(Uuid::new_v4());
        sid.push(Some(server_id));
        message.push(format!("gitops.apply: server ({server_id})"));
        details.push(json!({
            "action": "gitops.apply",
            "resource_type": "server",
            "resource_id": server_id.to_string(),
            "timestamp": timestamp,
            "changes": changes_json(&changes),
        }));
    }
    sqlx::query(
        "INSERT INTO activity_logs (id, server_id, log_type, level, message, details)
         SELECT u.id, u.sid, 'audit'::log_type, 'info'::log_level, u.message, u.details
           FROM UNNEST($1::uuid[], $2::uuid[], $3::text[], $4::jsonb[]) AS u(id, sid, message, details)",
    )
    .bind(&id)
    .bind(&sid)
    .bind(&message)
    .bind(&details)
    .execute(&mut *tx)
    .await
    .map_err(write_error("writing audit rows"))?;
    Ok(())
}

/// Records this apply in our bookkeeping, inside its transaction: after a
/// connection lost at COMMIT, finding `id` tells whether it committed.
pub(super) async fn record(tx: &mut PgConnection, id: Uuid, plan: &Plan) -> Result<(), Error> {
    sqlx::query("INSERT INTO mcpbox_gitops.applies (id, source, summary) VALUES ($1, $2, $3)")
        .bind(id)
        .bind(&plan.source)
        .bind(json!(plan.summary))
        .execute(&mut *tx)
        .await
        .map_err(write_error("recording the apply"))?;
    Ok(())
}

/// Which running servers need re-registration, and why (MCPBOX.md §8): those
/// whose served set changed — tools that are or were approved and enabled, secret
/// values, external sources, allowed hosts — and every running server after a
/// change of the allowed modules. Deleted servers that were running need unregistering
/// instead.
pub(super) fn report(actual: &ActualState, plan: &Plan, ids: &Ids) -> Report {
    let deleted = deleted_servers(plan);
    // Tools the sandbox serves now (approved and enabled), looked up once.
    let served: HashSet<Uuid> = actual
        .tools
        .iter()
        .filter(|t| t.obj.enabled && t.approval_status == Status::Approved)
        .map(|t| t.id)
        .collect();
    let mut reasons: BTreeMap<Uuid, BTreeSet<String>> = BTreeMap::new();
    for c in &plan.changes {
        let why = match c.after.as_ref().or(c.before.as_ref()) {
            Some(Object::Tool(_)) if !changes_served_tools(&served, c) => continue,
            Some(Object::Tool(t)) => format!("tool {} {}", t.name, verb(c.action)),
            // Network rows reach the sandbox only through `allowed_hosts`, whose
            // changes are the plan's caches (below): a new justification alone
            // changes nothing it serves.
            Some(Object::Secret(_)) if !changes_secret_values(c) => continue,
            Some(Object::Secret(s)) => format!("secret {} {}", s.name, verb(c.action)),
            // Registration carries the server's non-disabled sources (MCPBOX.md §8.3).
            Some(Object::Source(s)) => format!("external source {} {}", s.name, verb(c.action)),
            _ => continue,
        };
        if let Some(id) = ids.server_of_change(c) {
            reasons.entry(id).or_default().insert(why);
        }
    }
    let mut modules_changed = false;
    for cache in &plan.caches {
        match cache.server_id {
            Some(id) => {
                reasons
                    .entry(id)
                    .or_default()
                    .insert("allowed hosts changed".into());
            }
            None if cache.server.is_none() => {
                // Module changes are global: every running server.
                modules_changed = true;
                for s in &actual.servers {
                    reasons
                        .entry(s.id)
                        .or_default()
                        .insert("allowed modules changed".into());
                }
            }
            None => {}
        }
    }
    let running = actual.servers.iter().filter(|s| s.status == "running");
    let reregister = running
        .clone()
        .filter(|s| !deleted.contains(&s.id))
        .filter_map(|s| {
            reasons.remove(&s.id).map(|r| Reregister {
                server: s.obj.name.clone(),
                server_id: s.id,
                reasons: r.into_iter().collect(),
            })
        })
        .collect();
    let unregister = running
        .filter(|s| deleted.contains(&s.id))
        .map(|s| Unregister {
            server: s.obj.name.clone(),
            server_id: s.id,
        })
        .collect();
    let not_started = plan
        .changes
        .iter()
        .filter(|c| c.kind == Kind::Server && c.action == Action::Create)
        .map(|c| c.key.clone())
        .collect();
    Report {
        summary: plan.summary,
        changed: plan.has_changes(),
        reregister,
        not_started,
        unregister,
        modules_changed,
    }
}

/// Whether a secret change changes the server's `secrets` dict (values only,
/// MCPBOX.md §8.3): a value written, changed or removed — not a description, not
/// a placeholder created or deleted without a value.
fn changes_secret_values(c: &Change) -> bool {
    let has_value = |o: &Option<Object>| matches!(o, Some(Object::Secret(s)) if s.value.is_some());
    match c.action {
        Action::Create => has_value(&c.after),
        Action::Delete => has_value(&c.before),
        Action::Update | Action::Adopt => c.fields.iter().any(|f| f.field == "value"),
    }
}

/// Whether a tool change can change what a running server serves: the tool is
/// approved and enabled before or after it (MCPBox registers only those, §4.5).
/// A draft edited into another draft changes nothing in the sandbox.
fn changes_served_tools(served: &HashSet<Uuid>, c: &Change) -> bool {
    let served_before = c.row_id.is_some_and(|id| served.contains(&id));
    let served_after = match (&c.after, &c.tool) {
        (Some(Object::Tool(t)), Some(tc)) => t.enabled && tc.approval.status == Status::Approved,
        // No decision recorded: assume it may be served rather than miss it.
        (Some(Object::Tool(_)), None) => true,
        _ => false,
    };
    served_before || served_after
}

fn verb(a: Action) -> &'static str {
    match a {
        Action::Adopt => "adopted",
        Action::Create => "created",
        Action::Update => "updated",
        Action::Delete => "deleted",
    }
}

/// Ids of the servers the plan deletes.
fn deleted_servers(plan: &Plan) -> BTreeSet<Uuid> {
    plan.changes
        .iter()
        .filter(|c| c.kind == Kind::Server && c.action == Action::Delete)
        .filter_map(|c| c.row_id)
        .collect()
}
