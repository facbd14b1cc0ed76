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
    /// Every row the plan read: `table:row id` → object name and fingerprint.
    pub rows: BTreeMap<String, RowPrint>,
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
    /// Rows it read have changed.
    #[error("the database changed since the plan was made; these objects moved: {}. Nothing was applied: run plan again", .0.join(", "))]
    Moved(Vec<String>),
}

fn hash(json: String) -> String {
    hex::encode(Sha256::digest(json.as_bytes()))
}

/// Fingerprints of every row of `actual`, by `table:row id`. Counts that move
/// whenever MCPBox runs a tool or logs (execution and activity logs) are left out.
pub fn rows(actual: &ActualState) -> BTreeMap<String, RowPrint> {
    let mut out = BTreeMap::new();
    let mut add = |table: &str, id: uuid::Uuid, object: String, json: String| {
        out.insert(
            format!("{table}:{id}"),
            RowPrint {
                object,
                hash: hash(json),
            },
        );
    };
    let server_name = |id: uuid::Uuid| {
        actual
            .server(id)
            .map(|s| s.obj.name.clone())
            .unwrap_or_else(|| id.to_string())
    };
    for s in &actual.servers {
        // Not `status`: MCPBox starts and stops servers on its own.
        add(
            "servers",
            s.id,
            format!("server {}", s.obj.name),
            serde_json::to_string(&(&s.obj, &s.allowed_hosts)).unwrap_or_default(),
        );
    }
    for t in &actual.tools {
        let mut row = t.clone();
        row.cascade.execution_logs = 0;
        add(
            "tools",
            t.id,
            format!("tool {}/{}", server_name(t.server_id), t.obj.name),
            serde_json::to_string(&row).unwrap_or_default(),
        );
    }
    for s in &actual.secrets {
        add(
            "server_secrets",
            s.id,
            format!("secret {}/{}", server_name(s.server_id), s.obj.name),
            serde_json::to_string(s).unwrap_or_default(),
        );
    }
    for n in &actual.network {
        add(
            "network_access_requests",
            n.id,
            format!("network {}", n.obj.key()),
            serde_json::to_string(n).unwrap_or_default(),
        );
    }
    for m in &actual.modules {
        add(
            "module_requests",
            m.id,
            format!("module {}", m.obj.name),
            serde_json::to_string(m).unwrap_or_default(),
        );
    }
    for s in &actual.settings {
        add(
            "settings",
            s.id,
            format!("setting {}", s.obj.key),
            serde_json::to_string(s).unwrap_or_default(),
        );
    }
    add(
        "global_config",
        uuid::Uuid::nil(),
        "global_config allowed_modules".into(),
        serde_json::to_string(&actual.allowed_modules).unwrap_or_default(),
    );
    for ((kind, key), o) in &actual.ownership {
        add(
            "ownership",
            o.row_id,
            format!("ownership of {} {key}", kind.as_str()),
            serde_json::to_string(o).unwrap_or_default(),
        );
    }
    out
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
        let current = rows(now);
        let mut moved: Vec<String> = Vec::new();
        for (id, was) in &self.rows {
            match current.get(id) {
                Some(is) if is.hash == was.hash => {}
                Some(_) => moved.push(format!("{} (changed)", was.object)),
                None => moved.push(format!("{} (deleted)", was.object)),
            }
        }
        // A create must still find nothing in its place: a row that appeared
        // since would be adopted or collide.
        let now_names: std::collections::BTreeSet<&str> = current
            .iter()
            .filter(|(id, _)| !self.rows.contains_key(*id))
            .map(|(_, r)| r.object.as_str())
            .collect();
        for c in &self.plan.changes {
            if c.action == Action::Create {
                let object = format!("{} {}", c.kind.as_str(), c.key);
                if now_names.contains(object.as_str()) {
                    moved.push(format!("{object} (created in MCPBox since)"));
                }
            }
        }
        moved.sort();
        moved.dedup();
        moved
    }
}
