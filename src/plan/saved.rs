//! Saved plans: `plan --out plan.json` writes a plan together with what it was
//! made from, and `apply --plan plan.json` executes exactly that plan — unless a
//! row it read has moved since.
//!
//! The check is per object, as in Terraform's saved plans: every row the plan
//! read is fingerprinted, and apply names each one that changed or vanished, and
//! each object the plan creates that now already exists. A change elsewhere in
//! the database does not stale the plan. Secret values are not in the file: only
//! their sources (`env NAME`, `file PATH`), read again at apply time.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::{Action, Plan, FORMAT_VERSION};
use crate::state::ActualState;
use crate::values::ValueSource;

/// Version of the saved-plan file layout.
pub const SAVED_FORMAT: u32 = 1;

/// A plan on disk.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SavedPlan {
    /// [`SAVED_FORMAT`].
    pub saved_format: u32,
    /// Version of mcpbox-gitops that wrote it; apply refuses another version.
    pub tool_version: String,
    /// The plan.
    pub plan: Plan,
    /// The policy's reviewer identity (written into request and tool rows).
    pub reviewer: String,
    /// The policy's deletion guard.
    pub max_delete_percent: u8,
    /// Whether git declared nothing (such a plan never deletes).
    pub desired_empty: bool,
    /// Where secret and setting values come from (never the values).
    pub value_sources: BTreeMap<String, ValueSource>,
    /// The policy's `values:` allow-list when the plan was made (flags given to
    /// `apply --plan` replace it).
    #[serde(default)]
    pub values_policy: crate::policy::ValuesPolicy,
    /// Every row the plan depends on: `table:row id` → object name and
    /// fingerprint (see [`SavedPlan::new`]).
    pub rows: BTreeMap<String, RowPrint>,
    /// Every row read (`table:row id`), to tell rows that appeared since.
    pub known: std::collections::BTreeSet<String>,
}

/// One row as the plan saw it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RowPrint {
    /// The object, e.g. `tool github/list_issues`.
    pub object: String,
    /// sha256 of the row's managed content.
    pub hash: String,
}

/// Why a saved plan cannot be applied.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum Error {
    /// Made by another version, or another file layout.
    #[error("the saved plan was made by mcpbox-gitops {made} (plan format {format}); this is {this} (format {this_format}): run plan again with this version")]
    Incompatible {
        /// Version that made it.
        made: String,
        /// Its plan format.
        format: u32,
        /// This version.
        this: String,
        /// This plan format.
        this_format: u32,
    },
}

fn hash(json: String) -> String {
    hex::encode(Sha256::digest(json.as_bytes()))
}

/// One row read, with what it belongs to.
struct Row {
    key: String,
    print: RowPrint,
    /// The server it belongs to; None for global rows (settings, modules,
    /// tunnels, the module cache, ownership).
    server: Option<uuid::Uuid>,
}

/// Fingerprints every row of `actual` (the rows and what is left out are
/// `ActualState::rows`'s).
fn all_rows(actual: &ActualState) -> Vec<Row> {
    actual
        .rows()
        .into_iter()
        .map(|r| Row {
            key: format!("{}:{}", r.table, r.id),
            print: RowPrint {
                object: r.object,
                hash: hash(r.json),
            },
            server: r.server,
        })
        .collect()
}

impl SavedPlan {
    /// A plan made against `actual`, ready to be written. Reads every row once:
    /// the fingerprints of those the plan depends on — every row of each server
    /// the plan touches (its objects, requests and the host cache MCPBox
    /// recomputes from all of them) and the global rows (settings decide approval,
    /// tunnels activation, modules the module cache, ownership what we manage) —
    /// and the ids of all of them. Servers the plan leaves alone are not checked:
    /// an LLM editing a tool elsewhere does not stale it.
    pub fn new(
        plan: Plan,
        actual: &ActualState,
        reviewer: String,
        max_delete_percent: u8,
        desired_empty: bool,
        value_sources: BTreeMap<String, ValueSource>,
    ) -> SavedPlan {
        let mut servers: std::collections::BTreeSet<uuid::Uuid> = Default::default();
        for c in &plan.changes {
            servers.extend(c.server_id);
            if c.kind == crate::model::Kind::Server {
                servers.extend(c.row_id);
            }
        }
        for c in &plan.caches {
            servers.extend(c.server_id);
        }
        let mut rows = BTreeMap::new();
        let mut known = std::collections::BTreeSet::new();
        for r in all_rows(actual) {
            if r.server.is_none_or(|s| servers.contains(&s)) {
                rows.insert(r.key.clone(), r.print);
            }
            known.insert(r.key);
        }
        SavedPlan {
            saved_format: SAVED_FORMAT,
            tool_version: env!("CARGO_PKG_VERSION").to_string(),
            plan,
            reviewer,
            max_delete_percent,
            desired_empty,
            value_sources,
            values_policy: Default::default(),
            rows,
            known,
        }
    }
}

impl SavedPlan {
    /// Checks that this version can apply the file.
    pub fn check_version(&self) -> Result<(), Error> {
        let this = env!("CARGO_PKG_VERSION");
        if self.saved_format != SAVED_FORMAT
            || self.plan.format_version != FORMAT_VERSION
            || self.tool_version != this
        {
            return Err(Error::Incompatible {
                made: self.tool_version.clone(),
                format: self.plan.format_version,
                this: this.to_string(),
                this_format: FORMAT_VERSION,
            });
        }
        Ok(())
    }

    /// The objects that moved since the plan was made: rows it read that
    /// changed or vanished, and objects it creates that now exist.
    pub fn moved(&self, now: &ActualState) -> Vec<String> {
        let current = all_rows(now);
        let by_key: BTreeMap<&str, &RowPrint> =
            current.iter().map(|r| (r.key.as_str(), &r.print)).collect();
        let mut moved: Vec<String> = Vec::new();
        for (id, was) in &self.rows {
            match by_key.get(id.as_str()) {
                Some(is) if is.hash == was.hash => {}
                Some(_) => moved.push(format!("{} (changed)", was.object)),
                None => moved.push(format!("{} (deleted)", was.object)),
            }
        }
        // A create must still find nothing in its place: a row that appeared
        // since would be adopted or collide.
        let appeared: std::collections::BTreeSet<&str> = current
            .iter()
            .filter(|r| !self.known.contains(&r.key))
            .map(|r| r.print.object.as_str())
            .collect();
        for c in &self.plan.changes {
            if c.action == Action::Create {
                let object = format!("{} {}", c.kind.as_str(), c.key);
                if appeared.contains(object.as_str()) {
                    moved.push(format!("{object} (created in MCPBox since)"));
                }
            }
        }
        moved.sort();
        moved.dedup();
        moved
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Kind, Object, Tunnel};
    use crate::plan::{Change, Summary};
    use crate::state::TunnelRow;

    fn tunnel(name: &str, active: bool) -> TunnelRow {
        TunnelRow {
            id: uuid::Uuid::new_v4(),
            obj: Tunnel {
                name: name.into(),
                description: None,
                public_url: None,
                active,
                token: None,
            },
            ciphertext: None,
        }
    }

    fn saved(plan: Plan, actual: &ActualState) -> SavedPlan {
        SavedPlan::new(plan, actual, "r".into(), 50, false, BTreeMap::new())
    }

    fn change(action: Action, key: &str, after: Option<Object>) -> Change {
        Change {
            action,
            kind: Kind::Tunnel,
            key: key.into(),
            row_id: None,
            server_id: None,
            tool_id: None,
            before: None,
            after,
            fields: Vec::new(),
            tool: None,
            cascade: None,
            value: None,
            reason: None,
        }
    }

    fn plan(changes: Vec<Change>) -> Plan {
        Plan {
            format_version: FORMAT_VERSION,
            tool_version: String::new(),
            source: "t".into(),
            revision: None,
            against_database: true,
            desired_fingerprint: String::new(),
            actual_fingerprint: String::new(),
            changes,
            caches: Vec::new(),
            bookkeeping: Vec::new(),
            kept: Vec::new(),
            notes: Vec::new(),
            summary: Summary::default(),
            owned: 0,
            owner: None,
            conflicts: Vec::new(),
            least_privilege: Default::default(),
            quarantine: Vec::new(),
            guard: None,
            grants: Vec::new(),
            pull_request: None,
        }
    }

    #[test]
    fn tunnels_are_global_rows_and_creates_must_find_nothing() {
        let mut actual = ActualState {
            connected: true,
            ..Default::default()
        };
        actual.tunnels = vec![tunnel("a", true), tunnel("b", false)];
        let p = plan(vec![change(Action::Delete, "a", None)]);
        let s = saved(p, &actual);
        assert!(s.moved(&actual).is_empty());
        // MCPBox switched the active tunnel after the plan was made.
        let mut now = actual.clone();
        now.tunnels[0].obj.active = false;
        now.tunnels[1].obj.active = true;
        assert_eq!(
            s.moved(&now),
            vec!["tunnel a (changed)", "tunnel b (changed)"]
        );
        // A plan creating `c` is stale once a `c` appeared in MCPBox.
        let c = Object::Tunnel(tunnel("c", false).obj);
        let s = saved(plan(vec![change(Action::Create, "c", Some(c))]), &actual);
        let mut now = actual.clone();
        now.tunnels.push(tunnel("c", false));
        assert_eq!(s.moved(&now), vec!["tunnel c (created in MCPBox since)"]);
    }
}
