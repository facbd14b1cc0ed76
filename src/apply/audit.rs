//! What an apply tells the world: MCPBox-shaped audit rows in `activity_logs`, and
//! the report of running servers whose sandbox registration is now stale.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Utc};
use serde_json::json;
use sqlx::PgConnection;
use uuid::Uuid;

use super::execute::{w, Error, Report, Reregister};
use super::ids::Ids;
use crate::model::{Kind, Object};
use crate::plan::{Action, Change, Plan};
use crate::state::ActualState;

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
    let deleted: BTreeSet<Uuid> = plan
        .changes
        .iter()
        .filter(|c| c.kind == Kind::Server && c.action == Action::Delete)
        .filter_map(|c| c.row_id)
        .collect();
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
    .map_err(w("writing audit rows"))?;
    sqlx::query("INSERT INTO mcpbox_gitops.applies (id, source, summary) VALUES ($1, $2, $3)")
        .bind(Uuid::new_v4())
        .bind(&plan.source)
        .bind(json!(plan.summary))
        .execute(&mut *tx)
        .await
        .map_err(w("recording the apply"))?;
    Ok(())
}

/// Which running servers need re-registration, and why (MCPBOX.md §8).
pub(super) fn report(actual: &ActualState, plan: &Plan, ids: &Ids) -> Report {
    let mut reasons: BTreeMap<Uuid, BTreeSet<String>> = BTreeMap::new();
    for c in &plan.changes {
        let why = match c.after.as_ref().or(c.before.as_ref()) {
            Some(Object::Tool(t)) => format!("tool {} {}", t.name, verb(c.action)),
            Some(Object::Network(_)) => "allowed hosts changed".to_string(),
            Some(Object::Secret(s)) => format!("secret {} {}", s.name, verb(c.action)),
            // Registration carries the server's non-disabled sources (MCPBOX.md §8.3).
            Some(Object::Source(s)) => format!("external source {} {}", s.name, verb(c.action)),
            _ => continue,
        };
        if let Some(id) = ids.server_of_change(c) {
            reasons.entry(id).or_default().insert(why);
        }
    }
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
    let reregister = actual
        .servers
        .iter()
        .filter(|s| s.status == "running")
        .filter_map(|s| {
            reasons.remove(&s.id).map(|r| Reregister {
                server: s.obj.name.clone(),
                reasons: r.into_iter().collect(),
            })
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
    }
}

fn verb(a: Action) -> &'static str {
    match a {
        Action::Adopt => "adopted",
        Action::Create => "created",
        Action::Update => "updated",
        Action::Delete => "deleted",
    }
}
