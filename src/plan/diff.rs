//! The diff engine: (DesiredState, ActualState) → [`Plan`].
//!
//! Each kind is matched by natural key (owned rows first, then unowned rows to
//! adopt), compared field by field, and given MCPBox's rules: approval decisions,
//! version rows, and the caches the sync helpers will recompute. Pure: no I/O;
//! the states are read elsewhere (`desired`, `state`).

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use serde_json::Value;
use uuid::Uuid;

use super::{
    Action, Bookkeeping, CacheChange, Cascade, Change, FieldChange, Plan, Summary, ToolChange,
    VersionWrite, FORMAT_VERSION,
};
use crate::desired::DesiredState;
use crate::model::{Kind, Object, Tool};
use crate::rules::approval::{self, Existing, Facts};
use crate::rules::sync;
use crate::rules::versions::{change_summary, UpdateKey, INITIAL_VERSION};
use crate::state::ActualState;

/// Why no plan could be made.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum Error {
    /// Several unowned rows share a natural key; adopting one would be a guess.
    #[error("{kind} `{key}` exists {count} times in MCPBox and none is managed by mcpbox-gitops; delete or rename the extra rows in MCPBox first")]
    Ambiguous {
        /// Kind.
        kind: &'static str,
        /// Natural key.
        key: String,
        /// How many rows.
        count: usize,
    },
}

/// Fields that are part of an object's natural key (or its tag): never shown as
/// field changes, since a different value is a different object. `name` is not
/// among them: an owned row renamed in MCPBox is drift, restored to git's name.
pub const KEY_FIELDS: [&str; 6] = ["kind", "server", "key", "tool", "host", "port"];

/// Field-level differences between two objects of the same kind (keys of the
/// natural key are left out).
pub fn field_changes(before: &Object, after: &Object) -> Vec<FieldChange> {
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
            out.push(FieldChange {
                field: k.clone(),
                before: bv.cloned().filter(|v| !v.is_null()),
                after: av.cloned().filter(|v| !v.is_null()),
            });
        }
    }
    out
}

/// Rows of one kind indexed by id and by the natural key they can be adopted
/// under, so matching costs one lookup per desired object, not a scan.
struct Index<'a, T> {
    by_id: HashMap<Uuid, &'a T>,
    by_key: HashMap<String, Vec<&'a T>>,
}

impl<'a, T> Index<'a, T> {
    fn new(rows: &'a [T], id: impl Fn(&T) -> Uuid, key: impl Fn(&T) -> String) -> Self {
        let mut by_key: HashMap<String, Vec<&'a T>> = HashMap::new();
        for r in rows {
            by_key.entry(key(r)).or_default().push(r);
        }
        Index {
            by_id: rows.iter().map(|r| (id(r), r)).collect(),
            by_key,
        }
    }

    fn get(&self, id: Uuid) -> Option<&'a T> {
        self.by_id.get(&id).copied()
    }
}

/// The adoption key of a server-scoped row: `<server id>/<name>`.
fn scoped(server_id: Uuid, name: &str) -> String {
    format!("{server_id}/{name}")
}

/// The adoption key of a network row.
fn network_bucket(server_id: Uuid, tool_id: Option<Uuid>, host: &str, port: Option<i32>) -> String {
    format!("{server_id}|{tool_id:?}|{host}|{port:?}")
}

/// Row ids of what is being matched, so each row is used once.
struct Matcher<'a> {
    actual: &'a ActualState,
    owned_ids: HashSet<Uuid>,
    used: HashSet<Uuid>,
    /// Notes for reviewers about what matching decided.
    notes: Vec<String>,
}

impl<'a> Matcher<'a> {
    /// The owned row for (kind, key) if it still exists, or the single unowned
    /// candidate in `bucket` to adopt.
    fn find<T>(
        &mut self,
        kind: Kind,
        key: &str,
        index: &Index<'a, T>,
        bucket: &str,
        id: impl Fn(&T) -> Uuid,
        is_candidate: impl Fn(&T) -> bool,
    ) -> Result<Option<(&'a T, bool)>, Error> {
        if let Some(o) = self.actual.ownership.get(&(kind, key.to_string())) {
            if let Some(row) = index.get(o.row_id) {
                self.used.insert(o.row_id);
                return Ok(Some((row, false)));
            }
        }
        let candidates: Vec<&'a T> = index
            .by_key
            .get(bucket)
            .map(|rows| {
                rows.iter()
                    .copied()
                    .filter(|r| {
                        !self.owned_ids.contains(&id(r))
                            && !self.used.contains(&id(r))
                            && is_candidate(r)
                    })
                    .collect()
            })
            .unwrap_or_default();
        match candidates.len() {
            0 => Ok(None),
            1 => {
                self.used.insert(id(candidates[0]));
                Ok(Some((candidates[0], true)))
            }
            // Approved request rows may legally repeat (only pending ones are
            // unique): adopt one, deterministically, and leave the rest unmanaged.
            n if matches!(kind, Kind::Network | Kind::Module) => {
                let first = candidates
                    .iter()
                    .copied()
                    .min_by_key(|r| id(r))
                    .unwrap_or(candidates[0]);
                self.used.insert(id(first));
                self.notes.push(format!("{} {key} has {n} identical rows in MCPBox; adopting one, the other {} stay unmanaged", kind.as_str(), n - 1));
                Ok(Some((first, true)))
            }
            n => Err(Error::Ambiguous {
                kind: kind.as_str(),
                key: key.to_string(),
                count: n,
            }),
        }
    }
}

/// Builds the change for a matched or missing row of a simple kind.
fn simple_change(
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
enum Outcome {
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
fn request_change(
    actual: &ActualState,
    kind: Kind,
    key: &str,
    desired: &Object,
    found: Option<(Uuid, Object, bool, &str)>,
    notes: &mut Vec<String>,
) -> Outcome {
    let Some((id, before, adopt, status)) = found else {
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

/// The versions MCPBox would write for a tool created with these values: version 1
/// from create (which ignores enabled=false, timeout and dependencies), then an
/// update for those, as an admin's create + edit would.
fn create_versions(t: &Tool) -> Vec<VersionWrite> {
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

/// The update keys MCPBox's tool update would record, in its order. Approval keys
/// follow MCPBox's update, not our decision: `approval_status` only when the code
/// really differs, `approved_at`/`approved_by` only in auto-approve mode. An
/// approval by pin is MCPBox's separate approve action, which writes no version.
fn update_keys(before: &Tool, after: &Tool, auto_approve: bool) -> Vec<UpdateKey> {
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

/// Computes the plan.
pub fn diff(desired: &DesiredState, actual: &ActualState) -> Result<Plan, Error> {
    let mut m = Matcher {
        actual,
        owned_ids: actual.ownership.values().map(|o| o.row_id).collect(),
        used: HashSet::new(),
        notes: Vec::new(),
    };
    let ix_servers = Index::new(&actual.servers, |r| r.id, |r| r.obj.name.clone());
    let ix_secrets = Index::new(
        &actual.secrets,
        |r| r.id,
        |r| scoped(r.server_id, &r.obj.name),
    );
    let ix_tools = Index::new(
        &actual.tools,
        |r| r.id,
        |r| scoped(r.server_id, &r.obj.name),
    );
    let ix_network = Index::new(
        &actual.network,
        |r| r.id,
        |r| network_bucket(r.server_id, r.tool_id, &r.obj.host, r.obj.port),
    );
    let ix_modules = Index::new(&actual.modules, |r| r.id, |r| r.obj.name.clone());
    let ix_settings = Index::new(&actual.settings, |r| r.id, |r| r.obj.key.clone());
    let mut changes: Vec<Change> = Vec::new();
    let mut bookkeeping: Vec<Bookkeeping> = Vec::new();
    let mut notes: Vec<String> = Vec::new();
    // Desired server name → existing row id (None: created by this plan).
    let mut server_ids: HashMap<&str, Option<Uuid>> = HashMap::new();
    // Desired tool key → existing row id.
    let mut tool_ids: HashMap<String, Option<Uuid>> = HashMap::new();
    // Existing rows that git still declares.
    let mut kept_rows: HashSet<Uuid> = HashSet::new();

    // MCPBox's approval mode as it will be after this apply: git's value, else
    // the stored one — unless we own that row and git dropped it, in which case
    // this apply deletes it and MCPBox falls back to require_approval.
    let mode_key = (Kind::Setting, "tool_approval_mode".to_string());
    let mode_pruned = desired.policy.prune
        && actual.ownership.contains_key(&mode_key)
        && !desired.objects.contains_key(&mode_key);
    let auto_approve = desired
        .setting("tool_approval_mode")
        .or_else(|| {
            if mode_pruned {
                None
            } else {
                actual.setting("tool_approval_mode")
            }
        })
        .map(|v| v == "auto_approve")
        .unwrap_or(false);

    let refresh = |kind: Kind,
                   key: &str,
                   row_id: Uuid,
                   obj: &Object,
                   pin: Option<String>,
                   bookkeeping: &mut Vec<Bookkeeping>| {
        let hash = obj.hash();
        if let Some(o) = actual.ownership.get(&(kind, key.to_string())) {
            if o.applied_hash != hash || (kind == Kind::Tool && o.pin != pin) {
                bookkeeping.push(Bookkeeping {
                    kind,
                    key: key.to_string(),
                    row_id,
                    applied_hash: hash,
                    pin,
                    forget: false,
                });
            }
        }
    };

    for ((kind, key), obj) in &desired.objects {
        if let Object::Server(s) = obj {
            let found = m.find(
                Kind::Server,
                key,
                &ix_servers,
                &s.name,
                |r| r.id,
                |r| r.obj.name == s.name,
            )?;
            server_ids.insert(&s.name, found.map(|(r, _)| r.id));
            if let Some((r, _)) = found {
                kept_rows.insert(r.id);
            }
            let found = found.map(|(r, adopt)| (r.id, Object::Server(r.obj.clone()), adopt));
            match simple_change(actual, *kind, key, obj, found.clone(), Vec::new()) {
                Some(c) => changes.push(c),
                None => {
                    if let Some((id, ..)) = found {
                        refresh(*kind, key, id, obj, None, &mut bookkeeping)
                    }
                }
            }
        }
    }

    for ((kind, key), obj) in &desired.objects {
        let server_of = |name: &str| server_ids.get(name).copied().flatten();
        match obj {
            Object::Secret(s) => {
                let sid = server_of(&s.server);
                let found = match sid {
                    Some(sid) => m.find(
                        *kind,
                        key,
                        &ix_secrets,
                        &scoped(sid, &s.name),
                        |r| r.id,
                        |r| r.server_id == sid && r.obj.name == s.name,
                    )?,
                    None => None,
                };
                if let Some((r, _)) = found {
                    kept_rows.insert(r.id);
                }
                let found = found.map(|(r, adopt)| (r.id, Object::Secret(r.obj.clone()), adopt));
                match simple_change(actual, *kind, key, obj, found.clone(), Vec::new()) {
                    Some(c) => changes.push(c),
                    None => {
                        if let Some((id, ..)) = found {
                            refresh(*kind, key, id, obj, None, &mut bookkeeping)
                        }
                    }
                }
            }
            Object::Tool(t) => {
                let sid = server_of(&t.server);
                let found = match sid {
                    Some(sid) => m.find(
                        *kind,
                        key,
                        &ix_tools,
                        &scoped(sid, &t.name),
                        |r| r.id,
                        |r| r.server_id == sid && r.obj.name == t.name,
                    )?,
                    None => None,
                };
                tool_ids.insert(key.clone(), found.map(|(r, _)| r.id));
                let pin = desired.pins.get(key);
                let pin_identity = pin
                    .filter(|p| p.sha256 == t.content_hash())
                    .map(|p| p.identity());
                let hash = t.content_hash();
                match found {
                    None => {
                        let decision = approval::decide(&Facts {
                            mode: desired.policy.approval.mode,
                            auto_approve,
                            content_hash: &hash,
                            pin,
                            existing: None,
                        });
                        let owned = actual.ownership.get(&(*kind, key.clone()));
                        changes.push(Change {
                            action: Action::Create,
                            kind: *kind,
                            key: key.clone(),
                            row_id: None,
                            server_id: None,
                            tool_id: None,
                            before: None,
                            after: Some(obj.clone()),
                            fields: Vec::new(),
                            tool: Some(ToolChange {
                                content_hash: hash,
                                content_changed: true,
                                code_changed: true,
                                approval: decision,
                                versions: create_versions(t),
                                pin: pin_identity,
                            }),
                            cascade: None,
                            reason: owned.map(|_| {
                                "deleted in MCPBox since the last apply; re-creating it".to_string()
                            }),
                        });
                    }
                    Some((row, adopt)) => {
                        kept_rows.insert(row.id);
                        let before = Object::Tool(row.obj.clone());
                        let content_changed = row.obj.content_hash() != hash;
                        let owned = actual.ownership.get(&(*kind, key.clone()));
                        let decision = approval::decide(&Facts {
                            mode: desired.policy.approval.mode,
                            auto_approve,
                            content_hash: &hash,
                            pin,
                            existing: Some(Existing {
                                status: row.approval_status,
                                approved_by: row.approved_by.as_deref(),
                                content_changed,
                                applied_pin: if adopt {
                                    None
                                } else {
                                    owned.map(|o| o.pin.as_deref())
                                },
                            }),
                        });
                        let mut fields = field_changes(&before, obj);
                        if decision.write.is_some() && decision.status != row.approval_status {
                            fields.push(FieldChange {
                                field: "approval_status".into(),
                                before: Some(Value::String(row.approval_status.label().into())),
                                after: Some(Value::String(decision.status.label().into())),
                            });
                        }
                        let keys = update_keys(&row.obj, t, auto_approve);
                        let versions = if keys.is_empty() {
                            Vec::new()
                        } else {
                            vec![VersionWrite {
                                number: row.current_version + 1,
                                summary: change_summary(&keys),
                                keys,
                            }]
                        };
                        if !adopt && fields.is_empty() && decision.write.is_none() {
                            refresh(*kind, key, row.id, obj, pin_identity, &mut bookkeeping);
                            if decision.status != crate::rules::approval::Status::Approved
                                && pin.is_some()
                                && desired.policy.approval.mode
                                    == crate::policy::ApprovalMode::Pinned
                            {
                                notes.push(format!("tool {key}: {}", decision.reason));
                            }
                            continue;
                        }
                        let reason = match (adopt, owned) {
                            (true, _) => Some("exists in MCPBox and is not managed yet; adopting it".to_string()),
                            (false, Some(o)) if o.applied_hash != before.hash() => Some("drift: changed in MCPBox since the last apply; restoring git's version".to_string()),
                            _ => None,
                        };
                        changes.push(Change {
                            action: if adopt { Action::Adopt } else { Action::Update },
                            kind: *kind,
                            key: key.clone(),
                            row_id: Some(row.id),
                            server_id: None,
                            tool_id: None,
                            before: Some(before),
                            after: Some(obj.clone()),
                            fields,
                            tool: Some(ToolChange {
                                content_hash: hash,
                                content_changed,
                                code_changed: row.obj.python_code != t.python_code,
                                approval: decision,
                                versions,
                                pin: pin_identity,
                            }),
                            cascade: None,
                            reason,
                        });
                    }
                }
            }
            _ => {}
        }
    }

    for ((kind, key), obj) in &desired.objects {
        let server_of = |name: &str| server_ids.get(name).copied().flatten();
        match obj {
            Object::Network(n) => {
                let sid = server_of(&n.server);
                let tid = n.tool.as_ref().and_then(|t| {
                    tool_ids
                        .get(&format!("{}/{t}", n.server))
                        .copied()
                        .flatten()
                });
                // A tool-originated entry whose tool is new can only be created.
                let matchable = sid.is_some() && (n.tool.is_none() || tid.is_some());
                let found = if matchable {
                    let pick = |status: &'static str| {
                        move |r: &&crate::state::NetworkRow| {
                            Some(r.server_id) == sid
                                && r.tool_id == tid
                                && r.obj.host == n.host
                                && r.obj.port == n.port
                                && r.status == status
                        }
                    };
                    let approved = pick("approved");
                    let bucket = network_bucket(sid.unwrap_or_default(), tid, &n.host, n.port);
                    match m.find(*kind, key, &ix_network, &bucket, |r| r.id, |r| approved(&r))? {
                        Some(f) => Some(f),
                        None => {
                            let pending = pick("pending");
                            m.find(*kind, key, &ix_network, &bucket, |r| r.id, |r| pending(&r))?
                        }
                    }
                } else {
                    None
                };
                if let Some((r, _)) = found {
                    kept_rows.insert(r.id);
                }
                let found = found.map(|(r, adopt)| {
                    (
                        r.id,
                        Object::Network(r.obj.clone()),
                        adopt,
                        r.status.as_str(),
                    )
                });
                match request_change(actual, *kind, key, obj, found, &mut notes) {
                    Outcome::Change(c) => changes.push(*c),
                    Outcome::Unchanged(id) => refresh(*kind, key, id, obj, None, &mut bookkeeping),
                    Outcome::Standing => {}
                }
            }
            Object::Module(md) => {
                let mut found = m.find(
                    *kind,
                    key,
                    &ix_modules,
                    &md.name,
                    |r| r.id,
                    |r| r.tool_id.is_none() && r.obj.name == md.name && r.status == "approved",
                )?;
                if found.is_none() {
                    found = m.find(
                        *kind,
                        key,
                        &ix_modules,
                        &md.name,
                        |r| r.id,
                        |r| r.tool_id.is_none() && r.obj.name == md.name && r.status == "pending",
                    )?;
                }
                if let Some((r, _)) = found {
                    kept_rows.insert(r.id);
                }
                let found = found.map(|(r, adopt)| {
                    (
                        r.id,
                        Object::Module(r.obj.clone()),
                        adopt,
                        r.status.as_str(),
                    )
                });
                match request_change(actual, *kind, key, obj, found, &mut notes) {
                    Outcome::Change(c) => changes.push(*c),
                    Outcome::Unchanged(id) => refresh(*kind, key, id, obj, None, &mut bookkeeping),
                    Outcome::Standing => {}
                }
            }
            Object::Setting(s) => {
                let found = m.find(
                    *kind,
                    key,
                    &ix_settings,
                    &s.key,
                    |r| r.id,
                    |r| r.obj.key == s.key,
                )?;
                if let Some((r, _)) = found {
                    kept_rows.insert(r.id);
                }
                let extra = match found {
                    Some((r, _)) if r.encrypted => vec![FieldChange {
                        field: "encrypted".into(),
                        before: Some(Value::Bool(true)),
                        after: Some(Value::Bool(false)),
                    }],
                    _ => Vec::new(),
                };
                let found = found.map(|(r, adopt)| (r.id, Object::Setting(r.obj.clone()), adopt));
                match simple_change(actual, *kind, key, obj, found.clone(), extra) {
                    Some(c) => changes.push(c),
                    None => {
                        if let Some((id, ..)) = found {
                            refresh(*kind, key, id, obj, None, &mut bookkeeping)
                        }
                    }
                }
            }
            _ => {}
        }
    }

    // Owned objects that left git: delete (prune) or keep; records of rows that
    // no longer exist are forgotten.
    let mut kept = Vec::new();
    let mut deleted_servers: HashSet<Uuid> = HashSet::new();
    let mut deleted_tools: HashSet<Uuid> = HashSet::new();
    let mut deleted_rows: HashSet<Uuid> = HashSet::new();
    for ((kind, key), owned) in &actual.ownership {
        if desired.objects.contains_key(&(*kind, key.clone())) && kept_rows.contains(&owned.row_id)
        {
            continue;
        }
        if desired.objects.contains_key(&(*kind, key.clone())) {
            continue; // re-created above
        }
        let before: Option<Object> = match kind {
            Kind::Server => ix_servers
                .get(owned.row_id)
                .map(|r| Object::Server(r.obj.clone())),
            Kind::Secret => ix_secrets
                .get(owned.row_id)
                .map(|r| Object::Secret(r.obj.clone())),
            Kind::Tool => ix_tools
                .get(owned.row_id)
                .map(|r| Object::Tool(r.obj.clone())),
            Kind::Network => ix_network
                .get(owned.row_id)
                .map(|r| Object::Network(r.obj.clone())),
            Kind::Module => ix_modules
                .get(owned.row_id)
                .map(|r| Object::Module(r.obj.clone())),
            Kind::Setting => ix_settings
                .get(owned.row_id)
                .map(|r| Object::Setting(r.obj.clone())),
        };
        let Some(before) = before else {
            bookkeeping.push(Bookkeeping {
                kind: *kind,
                key: key.clone(),
                row_id: owned.row_id,
                applied_hash: owned.applied_hash.clone(),
                pin: None,
                forget: true,
            });
            continue;
        };
        if !desired.policy.prune {
            kept.push(format!("{} {key}", kind.as_str()));
            continue;
        }
        let cascade = match kind {
            Kind::Tool => ix_tools.get(owned.row_id).map(|r| {
                let mut c = Cascade::default();
                c.add_tool(&r.cascade);
                c
            }),
            Kind::Server => {
                let mut c = Cascade::default();
                for t in actual.tools.iter().filter(|t| t.server_id == owned.row_id) {
                    c.tools += 1;
                    c.add_tool(&t.cascade);
                }
                c.secrets = actual
                    .secrets
                    .iter()
                    .filter(|s| s.server_id == owned.row_id)
                    .count() as i64;
                c.requests += actual
                    .network
                    .iter()
                    .filter(|n| n.server_id == owned.row_id && n.tool_id.is_none())
                    .count() as i64;
                if let Some(server) = ix_servers.get(owned.row_id) {
                    c.requests += server.cascade.module_requests;
                    c.sources = server.cascade.sources;
                    c.activity_logs = server.cascade.activity_logs;
                }
                let unmanaged = actual
                    .tools
                    .iter()
                    .filter(|t| t.server_id == owned.row_id && !m.owned_ids.contains(&t.id))
                    .count();
                if unmanaged > 0 {
                    notes.push(format!("deleting server {key} also deletes {unmanaged} tool(s) that mcpbox-gitops does not manage"));
                }
                Some(c)
            }
            _ => None,
        };
        match kind {
            Kind::Server => {
                deleted_servers.insert(owned.row_id);
            }
            Kind::Tool => {
                deleted_tools.insert(owned.row_id);
            }
            _ => {}
        }
        deleted_rows.insert(owned.row_id);
        changes.push(Change {
            action: Action::Delete,
            kind: *kind,
            key: key.clone(),
            row_id: Some(owned.row_id),
            server_id: None,
            tool_id: None,
            before: Some(before),
            after: None,
            fields: Vec::new(),
            tool: None,
            cascade: cascade.filter(|c| !c.is_empty()),
            reason: None,
        });
    }

    // Attach the ids of the rows each change hangs off, so apply never has to
    // look a server up by name (names are not unique in MCPBox).
    for c in &mut changes {
        match (c.action, c.after.as_ref().or(c.before.as_ref())) {
            (Action::Delete, _) => {
                let Some(id) = c.row_id else { continue };
                match c.kind {
                    Kind::Secret => c.server_id = ix_secrets.get(id).map(|r| r.server_id),
                    Kind::Tool => c.server_id = ix_tools.get(id).map(|r| r.server_id),
                    Kind::Network => {
                        c.server_id = ix_network.get(id).map(|r| r.server_id);
                        c.tool_id = ix_network.get(id).and_then(|r| r.tool_id);
                    }
                    _ => {}
                }
            }
            (_, Some(Object::Secret(x))) => {
                c.server_id = server_ids.get(x.server.as_str()).copied().flatten()
            }
            (_, Some(Object::Tool(x))) => {
                c.server_id = server_ids.get(x.server.as_str()).copied().flatten()
            }
            (_, Some(Object::Network(x))) => {
                c.server_id = server_ids.get(x.server.as_str()).copied().flatten();
                c.tool_id = x.tool.as_ref().and_then(|t| {
                    tool_ids
                        .get(&format!("{}/{t}", x.server))
                        .copied()
                        .flatten()
                });
            }
            _ => {}
        }
    }

    let caches = caches(
        desired,
        actual,
        &changes,
        &server_ids,
        &deleted_servers,
        &deleted_tools,
        &deleted_rows,
    );

    // Apply order: creates, adoptions and updates top-down; deletes bottom-up.
    changes.sort_by_key(|c| {
        let rank = if c.action == Action::Delete {
            (1, -(c.kind as i32))
        } else {
            (0, c.kind as i32)
        };
        (rank, c.key.clone())
    });

    let mut summary = Summary::default();
    for c in &changes {
        match c.action {
            Action::Adopt => {
                summary.adopt += 1;
                if !c.fields.is_empty() {
                    summary.change += 1;
                }
            }
            Action::Create => summary.add += 1,
            Action::Update => summary.change += 1,
            Action::Delete => summary.destroy += 1,
        }
    }
    bookkeeping.sort_by(|a, b| (a.kind, &a.key).cmp(&(b.kind, &b.key)));
    notes.append(&mut m.notes);
    notes.sort();
    Ok(Plan {
        format_version: FORMAT_VERSION,
        tool_version: env!("CARGO_PKG_VERSION").to_string(),
        source: desired.source.clone(),
        against_database: actual.connected,
        desired_fingerprint: desired.fingerprint(),
        actual_fingerprint: actual.fingerprint(),
        changes,
        caches,
        bookkeeping,
        kept,
        notes,
        summary,
        owned: actual.ownership.len(),
    })
}

/// A server as the caches see it: an existing row (by id, since names are not
/// unique in MCPBox) or one this plan creates (by its manifest name).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
enum ServerRef {
    Existing(Uuid),
    New(String),
}

/// The caches the sync helpers will change: simulate the approved request rows
/// after apply and run MCPBox's algorithms on them.
#[allow(clippy::too_many_arguments)]
fn caches(
    desired: &DesiredState,
    actual: &ActualState,
    changes: &[Change],
    server_ids: &HashMap<&str, Option<Uuid>>,
    deleted_servers: &HashSet<Uuid>,
    deleted_tools: &HashSet<Uuid>,
    deleted_rows: &HashSet<Uuid>,
) -> Vec<CacheChange> {
    let servers: HashMap<Uuid, &crate::state::ServerRow> =
        actual.servers.iter().map(|s| (s.id, s)).collect();
    let tool_servers: HashMap<Uuid, Uuid> =
        actual.tools.iter().map(|t| (t.id, t.server_id)).collect();
    let gone = |id: Uuid, tool: Option<Uuid>, server: Option<Uuid>| {
        deleted_rows.contains(&id)
            || tool.is_some_and(|t| deleted_tools.contains(&t))
            || server.is_some_and(|s| deleted_servers.contains(&s))
    };
    let server_of = |c: &Change, name: &str| match c.server_id {
        Some(id) => ServerRef::Existing(id),
        None => ServerRef::New(name.to_string()),
    };
    // Hosts: server → approved (host, port) after apply.
    let mut hosts: BTreeMap<ServerRef, Vec<(String, Option<i32>)>> = BTreeMap::new();
    let mut touched: BTreeSet<ServerRef> = BTreeSet::new();
    for r in &actual.network {
        let sref = ServerRef::Existing(r.server_id);
        if gone(r.id, r.tool_id, Some(r.server_id)) {
            if r.status == "approved" && !deleted_servers.contains(&r.server_id) {
                touched.insert(sref);
            }
            continue;
        }
        if r.status == "approved" {
            hosts
                .entry(sref)
                .or_default()
                .push((r.obj.host.clone(), r.obj.port));
        }
    }
    let mut module_touched = false;
    let mut modules: Vec<String> = Vec::new();
    for r in &actual.modules {
        let tool_server = r.tool_id.and_then(|t| tool_servers.get(&t).copied());
        if gone(r.id, r.tool_id, tool_server) {
            module_touched |= r.status == "approved";
            continue;
        }
        if r.status == "approved" {
            modules.push(r.obj.name.clone());
        }
    }
    for c in changes {
        let granted = c.action == Action::Create || c.fields.iter().any(|f| f.field == "status");
        match &c.after {
            Some(Object::Network(n)) if granted && c.action != Action::Delete => {
                let sref = server_of(c, &n.server);
                touched.insert(sref.clone());
                hosts
                    .entry(sref)
                    .or_default()
                    .push((n.host.clone(), n.port));
            }
            Some(Object::Module(md)) if granted && c.action != Action::Delete => {
                module_touched = true;
                modules.push(md.name.clone());
            }
            _ => {}
        }
        if c.action == Action::Delete && c.kind == Kind::Network {
            if let Some(Object::Network(n)) = &c.before {
                touched.insert(server_of(c, &n.server));
            }
        }
        if c.action == Action::Delete && c.kind == Kind::Module {
            module_touched = true;
        }
    }
    // Managed servers whose cache is stale are re-synced too.
    for (name, id) in server_ids {
        match id {
            Some(id) => {
                touched.insert(ServerRef::Existing(*id));
            }
            None => {
                if desired
                    .objects
                    .keys()
                    .any(|(k, key)| *k == Kind::Network && key.starts_with(&format!("{name}/")))
                {
                    touched.insert(ServerRef::New(name.to_string()));
                }
            }
        }
    }
    let mut out = Vec::new();
    for sref in touched {
        let (name, server_id, before) = match &sref {
            ServerRef::Existing(id) => {
                if deleted_servers.contains(id) {
                    continue;
                }
                let Some(row) = servers.get(id) else { continue };
                (row.obj.name.clone(), Some(*id), row.allowed_hosts.clone())
            }
            ServerRef::New(name) => (name.clone(), None, Vec::new()),
        };
        let after = sync::allowed_hosts(
            hosts
                .get(&sref)
                .map(|v| v.iter().map(|(h, p)| (h.as_str(), *p)).collect::<Vec<_>>())
                .unwrap_or_default(),
        );
        if before != after {
            out.push(CacheChange {
                server: Some(name),
                server_id,
                added: after
                    .iter()
                    .filter(|h| !before.contains(h))
                    .cloned()
                    .collect(),
                removed: before
                    .iter()
                    .filter(|h| !after.contains(h))
                    .cloned()
                    .collect(),
            });
        }
    }
    let stale = matches!(&actual.allowed_modules, Some(Some(_)));
    if module_touched || stale {
        let before: Vec<String> = match &actual.allowed_modules {
            Some(Some(list)) if !list.is_empty() => list.clone(),
            _ => sync::DEFAULT_ALLOWED_MODULES
                .iter()
                .map(|s| s.to_string())
                .collect(),
        };
        let after = sync::allowed_modules(modules.iter().map(String::as_str));
        let row_differs = !matches!(&actual.allowed_modules, Some(Some(list)) if *list == after);
        if row_differs && (module_touched || before != after) {
            out.push(CacheChange {
                server: None,
                server_id: None,
                added: after
                    .iter()
                    .filter(|h| !before.contains(h))
                    .cloned()
                    .collect(),
                removed: before
                    .iter()
                    .filter(|h| !after.contains(h))
                    .cloned()
                    .collect(),
            });
        }
    }
    out
}
