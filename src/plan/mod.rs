//! The plan: an ordered list of changes, as data (Terraform's plan/apply split).
//!
//! # Layout
//! - this file: the `Plan` type and its parts; the deletion guard.
//! - `diff`: (DesiredState, ActualState) → Plan, applying MCPBox's rules.
//! - `render`: Plan → text or JSON.
//!
//! Rendering and applying both consume the same `Plan`; nothing here touches the
//! database.

pub mod diff;
pub mod pull_request;
pub mod render;
pub mod review;
pub mod saved;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::model::{Kind, Object};
use crate::rules::approval::Decision;
use crate::rules::versions::UpdateKey;
use crate::state::ToolCascade;

/// Version of the JSON plan document; bumped on incompatible changes.
pub const FORMAT_VERSION: u32 = 3;

/// What happens to one object.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, schemars::JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    /// Take an existing, unowned row under management (may also update it).
    Adopt,
    /// Insert a row.
    Create,
    /// Update a row.
    Update,
    /// Delete a row (and what cascades with it).
    Delete,
}

impl Action {
    /// Terraform's symbol.
    pub fn symbol(self) -> &'static str {
        match self {
            Action::Adopt => "=",
            Action::Create => "+",
            Action::Update => "~",
            Action::Delete => "-",
        }
    }
}

/// One field that differs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct FieldChange {
    /// Field name as in the manifest.
    pub field: String,
    /// Value before (None: absent). Not given for `python_code`: the code is
    /// the change's `before` and `after` objects' (see [`Change::code`]), so a
    /// plan carries each version of a tool's code once.
    pub before: Option<serde_json::Value>,
    /// Value after (None: absent). Not given for `python_code`, as `before`.
    pub after: Option<serde_json::Value>,
}

/// The field whose values a [`FieldChange`] leaves to the change's objects.
pub const CODE_FIELD: &str = "python_code";

/// A version row the change writes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct VersionWrite {
    /// `tool_versions.version_number` (= the tool's new `current_version`).
    pub number: i32,
    /// Keys of MCPBox's update dictionary, in its order (empty for "Initial version").
    pub keys: Vec<UpdateKey>,
    /// `tool_versions.change_summary`.
    pub summary: String,
}

/// Tool-specific parts of a change.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct ToolChange {
    /// git's content hash.
    pub content_hash: String,
    /// Whether the content (what the hash covers) differs from the database.
    pub content_changed: bool,
    /// Whether `python_code` itself differs (MCPBox resets approval only then).
    #[serde(default)]
    pub code_changed: bool,
    /// The approval decision.
    pub approval: Decision,
    /// Version rows to write, in order.
    pub versions: Vec<VersionWrite>,
    /// Identity of the pin in force (recorded in the ownership table).
    pub pin: Option<String>,
}

/// What a delete takes with it.
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema,
)]
pub struct Cascade {
    /// Tools (server delete).
    pub tools: i64,
    /// Secrets (server delete).
    pub secrets: i64,
    /// Tool versions.
    pub versions: i64,
    /// Network and module requests.
    pub requests: i64,
    /// Tool execution logs.
    pub execution_logs: i64,
    /// External MCP sources (server delete).
    #[serde(default)]
    pub sources: i64,
    /// Activity log rows, audit rows included (server delete).
    #[serde(default)]
    pub activity_logs: i64,
}

impl Cascade {
    /// Adds a tool's cascade.
    pub fn add_tool(&mut self, t: &ToolCascade) {
        self.versions += t.versions;
        self.requests += t.requests;
        self.execution_logs += t.execution_logs;
    }

    /// Whether nothing cascades.
    pub fn is_empty(&self) -> bool {
        *self == Cascade::default()
    }
}

/// One change to one object.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Change {
    /// What happens.
    pub action: Action,
    /// The object's kind.
    pub kind: Kind,
    /// Its natural key.
    pub key: String,
    /// The existing row (adopt, update, delete).
    pub row_id: Option<Uuid>,
    /// For secrets, tools and network rows: the id of the server row they belong
    /// to, when that row exists already (None: the server is created by this plan).
    /// Server names are not unique in MCPBox, so apply never looks servers up by name.
    #[serde(default)]
    pub server_id: Option<Uuid>,
    /// For tool-originated network rows: the id of the tool row, when it exists.
    #[serde(default)]
    pub tool_id: Option<Uuid>,
    /// The object as it is (adopt, update, delete).
    pub before: Option<Object>,
    /// The object as it will be (adopt, create, update).
    pub after: Option<Object>,
    /// The fields that differ (update, adopt).
    pub fields: Vec<FieldChange>,
    /// Tools: approval and versions.
    pub tool: Option<ToolChange>,
    /// Deletes: what goes with the row.
    pub cascade: Option<Cascade>,
    /// For a secret, an encrypted setting or a tunnel token: what apply does
    /// with its value. The writer reads this, never the label the object shows.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<crate::values::ValueChange>,
    /// Why, for reviewers (drift, re-creation, …). Display only; apply never
    /// branches on it.
    pub reason: Option<String>,
}

impl Change {
    /// A tool's code before and after, when the change changes it (empty for
    /// none, e.g. a pass-through tool).
    pub fn code(&self) -> Option<(&str, &str)> {
        if !self.fields.iter().any(|f| f.field == CODE_FIELD) {
            return None;
        }
        fn code(o: &Option<Object>) -> &str {
            match o {
                Some(Object::Tool(t)) => t.python_code.as_deref().unwrap_or(""),
                _ => "",
            }
        }
        Some((code(&self.before), code(&self.after)))
    }
}

/// A derived cache the sync helpers will recompute.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct CacheChange {
    /// `servers.allowed_hosts` of this server, or None for `global_config.allowed_modules`.
    pub server: Option<String>,
    /// The server's row id when it exists already (None: created by this plan, or
    /// the global modules cache).
    #[serde(default)]
    pub server_id: Option<Uuid>,
    /// Entries added.
    pub added: Vec<String>,
    /// Entries removed.
    pub removed: Vec<String>,
}

/// A bookkeeping update that changes no MCPBox row (e.g. a new pin on an
/// already-approved tool); not counted as a change.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Bookkeeping {
    /// Kind of the owned object.
    pub kind: Kind,
    /// Natural key.
    pub key: String,
    /// Row.
    pub row_id: Uuid,
    /// Hash to record.
    pub applied_hash: String,
    /// Pin identity to record.
    pub pin: Option<String>,
    /// Drop the record: the row it named no longer exists.
    pub forget: bool,
}

/// Counts per action.
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema,
)]
pub struct Summary {
    /// Adoptions.
    pub adopt: usize,
    /// Creates.
    pub add: usize,
    /// Updates (including adoptions that also change fields).
    pub change: usize,
    /// Deletes.
    pub destroy: usize,
}

impl Summary {
    /// `N to add, N to change, N to destroy`, led by `N to adopt, ` when any.
    pub fn tally(&self) -> String {
        let adopt = if self.adopt > 0 {
            format!("{} to adopt, ", self.adopt)
        } else {
            String::new()
        };
        format!(
            "{adopt}{} to add, {} to change, {} to destroy",
            self.add, self.change, self.destroy
        )
    }
}

/// A whole plan.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Plan {
    /// [`FORMAT_VERSION`].
    pub format_version: u32,
    /// Version of mcpbox-gitops that made it.
    pub tool_version: String,
    /// Where the desired state came from (path or commit).
    pub source: String,
    /// The full commit SHA, when the manifests were read from git.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revision: Option<String>,
    /// Planned against a real database (false: an empty MCPBox).
    pub against_database: bool,
    /// Fingerprint of the desired state.
    pub desired_fingerprint: String,
    /// Fingerprint of the actual state read.
    pub actual_fingerprint: String,
    /// The changes, in apply order.
    pub changes: Vec<Change>,
    /// Caches the sync helpers will change.
    pub caches: Vec<CacheChange>,
    /// Ownership records to refresh without changing MCPBox rows.
    pub bookkeeping: Vec<Bookkeeping>,
    /// Owned objects that left git but are kept (prune off).
    pub kept: Vec<String>,
    /// Notes for reviewers: things the reconciler noticed and left alone.
    pub notes: Vec<String>,
    /// Counts.
    pub summary: Summary,
    /// Objects we own now (for the deletion guard's share).
    pub owned: usize,
    /// The source this plan was made from, as recorded in our ownership
    /// (repository location + subdir); None for an unnamed source.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner: Option<String>,
    /// Objects git declares that another source owns (`kind key (owned by …)`):
    /// apply refuses them unless told to take ownership.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conflicts: Vec<String>,
    /// The least-privilege diff (`infer`): uses of hosts and modules git does
    /// not grant (they fail at run time in MCPBox's sandbox), grants no tool
    /// uses, and which tools use each grant. Display only; apply never reads it.
    #[serde(
        default,
        skip_serializing_if = "crate::least_privilege::LeastPrivilege::is_empty"
    )]
    pub least_privilege: crate::least_privilege::LeastPrivilege,
    /// Tools quarantined under `onCodeDrift: quarantine` (their code changed
    /// in MCPBox outside git): starting, held, or lifted by this plan.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub quarantine: Vec<crate::rules::quarantine::Quarantine>,
    /// The deletion guard's verdict under the repository's policy: why a
    /// plain `apply` (without `--allow-destroy`) refuses this plan, if it does.
    /// Every output shows it, so a reviewer sees it before anyone applies.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub guard: Option<String>,
    /// What the plan grants (`review`), computed once; every renderer words
    /// these.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub grants: Vec<review::Grant>,
    /// In pull-request mode: BASE, the changes outside the PR, the PR's policy
    /// change and the pins it moves (`pull_request`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pull_request: Option<pull_request::Facts>,
}

impl Plan {
    /// Whether the plan changes any MCPBox row.
    pub fn has_changes(&self) -> bool {
        !self.changes.is_empty() || !self.caches.is_empty() || self.quarantine_changes()
    }

    /// Whether a quarantine starts or ends (a record to write, even when the
    /// tool's row is already as the quarantine wants it).
    pub fn quarantine_changes(&self) -> bool {
        self.quarantine
            .iter()
            .any(|q| !matches!(q, crate::rules::quarantine::Quarantine::Hold { .. }))
    }

    /// The deletion guard (DESIGN.md "Deletion safety"): returns why the plan is
    /// refused, if it is.
    pub fn refusal(
        &self,
        allow_destroy: bool,
        max_delete_percent: u8,
        desired_is_empty: bool,
    ) -> Option<String> {
        let deletes: Vec<&Change> = self
            .changes
            .iter()
            .filter(|c| c.action == Action::Delete)
            .collect();
        if deletes.is_empty() {
            return None;
        }
        if desired_is_empty {
            return Some(format!(
                "the manifests declare nothing, yet the plan would delete {} object(s); an empty or unreadable checkout never wipes MCPBox (check the path or the commit)",
                deletes.len()
            ));
        }
        if allow_destroy {
            return None;
        }
        let mut reasons = Vec::new();
        let servers: Vec<&str> = deletes
            .iter()
            .filter(|c| c.kind == Kind::Server)
            .map(|c| c.key.as_str())
            .collect();
        if !servers.is_empty() {
            reasons.push(format!("it deletes server(s) {}", servers.join(", ")));
        }
        let secrets: Vec<&str> = deletes
            .iter()
            .filter(|c| c.kind == Kind::Secret)
            .map(|c| c.key.as_str())
            .collect();
        if !secrets.is_empty() {
            reasons.push(format!("it deletes secret(s) {}", secrets.join(", ")));
        }
        if self.owned > 0 && deletes.len() * 100 > self.owned * usize::from(max_delete_percent) {
            reasons.push(format!(
                "it deletes {} of {} owned objects, more than {max_delete_percent}%",
                deletes.len(),
                self.owned
            ));
        }
        if reasons.is_empty() {
            None
        } else {
            Some(format!(
                "{}; re-run with --allow-destroy if that is intended",
                reasons.join(", and ")
            ))
        }
    }
}

/// The JSON Schema of the plan document (`schemas/plan.schema.json`).
pub fn json_schema() -> String {
    let schema = schemars::schema_for!(Plan);
    let mut s = serde_json::to_string_pretty(&schema).unwrap_or_default();
    s.push('\n');
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `schemas/plan.schema.json` is generated from these types; regenerate with
    /// `UPDATE_SCHEMAS=1 cargo test --lib plan::tests`.
    #[test]
    fn plan_schema_file_is_current() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/schemas/plan.schema.json");
        let want = json_schema();
        if std::env::var_os("UPDATE_SCHEMAS").is_some() {
            std::fs::write(path, &want).unwrap();
        }
        let have = std::fs::read_to_string(path).unwrap_or_default();
        assert!(
            have == want,
            "schemas/plan.schema.json is stale; run UPDATE_SCHEMAS=1 cargo test --lib plan::tests"
        );
    }

    #[test]
    fn deletion_guard() {
        let del = |kind: Kind, key: &str| Change {
            action: Action::Delete,
            kind,
            key: key.into(),
            row_id: None,
            server_id: None,
            tool_id: None,
            before: None,
            after: None,
            fields: vec![],
            tool: None,
            cascade: None,
            value: None,
            reason: None,
        };
        let mut plan = Plan {
            format_version: FORMAT_VERSION,
            tool_version: String::new(),
            source: String::new(),
            revision: None,
            against_database: true,
            desired_fingerprint: String::new(),
            actual_fingerprint: String::new(),
            changes: vec![del(Kind::Tool, "s/t")],
            caches: vec![],
            bookkeeping: vec![],
            kept: vec![],
            notes: vec![],
            summary: Summary::default(),
            owned: 10,
            owner: None,
            conflicts: Vec::new(),
            least_privilege: Default::default(),
            quarantine: Vec::new(),
            guard: None,
            grants: Vec::new(),
            pull_request: None,
        };
        assert_eq!(plan.refusal(false, 50, false), None);
        assert!(plan.refusal(false, 50, true).unwrap().contains("empty"));
        assert!(
            plan.refusal(true, 50, true).is_some(),
            "an empty checkout never wipes, even when allowed"
        );
        plan.changes.push(del(Kind::Secret, "s/K"));
        assert!(plan
            .refusal(false, 50, false)
            .unwrap()
            .contains("secret(s) s/K"));
        assert_eq!(plan.refusal(true, 50, false), None);
        plan.changes = (0..6)
            .map(|i| del(Kind::Tool, &format!("s/t{i}")))
            .collect();
        assert!(plan.refusal(false, 50, false).unwrap().contains("6 of 10"));
    }
}
