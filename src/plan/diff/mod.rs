//! The diff engine: (DesiredState, ActualState) → [`Plan`].
//!
//! Each kind is matched by natural key (owned rows first, then unowned rows to
//! adopt), compared field by field, and given MCPBox's rules: approval decisions,
//! version rows, and the caches the sync helpers will recompute. Pure: no I/O;
//! the states are read elsewhere (`desired`, `state`).
//!
//! # Layout
//! - this file: the `diff` walk over the desired objects, deletes, ordering.
//! - `change`: field differences and the change for one matched (or missing) row.
//! - `matcher`: rows indexed by id and adoption key; one row per desired object.
//! - `versions`: the `tool_versions` rows a create or an update writes.
//! - `caches`: the sync helpers' caches after the plan, simulated.
//! - `sources`: pass-through tools' description and schema from discovery,
//!   re-linking, and the tools a source's delete unlinks.
//! - `tunnels`: tunnel tokens' labels and the "at most one active" rule.

mod caches;
mod change;
mod matcher;
mod quarantine;
mod sources;
mod tunnels;
mod versions;

use std::collections::{HashMap, HashSet};

use serde_json::Value;
use uuid::Uuid;

use super::{
    Action, Bookkeeping, Cascade, Change, FieldChange, Plan, Summary, ToolChange, FORMAT_VERSION,
};
use crate::desired::DesiredState;
use crate::model::{Kind, Object, Secret, Setting, Tunnel};
use crate::rules::approval::{self, Existing, Facts};
use crate::state::ActualState;
use crate::values::Labelled;
use caches::caches;
pub use change::{field_changes, KEY_FIELDS};
use change::{request_change, simple_change, Outcome};
use matcher::{network_bucket, scoped, Index, Matcher};
pub use tunnels::activation;
use versions::{create_versions, update_keys, update_versions};

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
    /// A secret or setting value could not be compared (the message names the
    /// object, never the value).
    #[error("{0}")]
    Value(String),
    /// git removed the active tunnel configuration, which MCPBox never deletes.
    #[error("tunnel configuration `{0}` is MCPBox's active one, and MCPBox never deletes the active configuration; keep it in git with `active: false` (or make another configuration active) and apply, then remove it")]
    ActiveTunnel(String),
}

impl From<crate::values::Error> for Error {
    fn from(e: crate::values::Error) -> Error {
        Error::Value(e.to_string())
    }
}

/// The label of a desired secret's value, compared with the stored one, and
/// what apply does with it.
fn secret_value(
    desired: &DesiredState,
    key: &str,
    row: Option<&crate::state::SecretRow>,
) -> Result<Option<Labelled>, Error> {
    let Some(source) = desired.value_sources.get(key) else {
        // No valueFrom: the value is MCPBox's business; whatever is stored stands.
        return Ok(row.and_then(|r| r.obj.value.clone()).map(Labelled::kept));
    };
    let aad = row.map(|r| crate::crypto::Aad::server_secret(r.server_id, &r.obj.name));
    let stored = match (row.and_then(|r| r.encrypted_value.as_deref()), aad.as_ref()) {
        (Some(b), Some(a)) => Some((b, a)),
        _ => None,
    };
    Ok(desired
        .values
        .label(key, source, stored, crate::values::STORED, &|k, b, a| {
            crate::crypto::decrypt(k, b, a)
        })?)
}

/// The label of a desired encrypted setting's value and what apply does with
/// it, or None for a plain one.
fn setting_value(
    desired: &DesiredState,
    key: &str,
    row: Option<&crate::state::SettingRow>,
) -> Result<Option<Labelled>, Error> {
    let Some(source) = desired.value_sources.get(key) else {
        return Ok(None);
    };
    let aad = crate::crypto::Aad::setting(key);
    let stored = row
        .and_then(|r| r.ciphertext.as_deref())
        .map(|c| (c.as_bytes(), &aad));
    Ok(desired
        .values
        .label(key, source, stored, crate::values::ENCRYPTED, &|k, b, a| {
            crate::crypto::decrypt_b64(k, std::str::from_utf8(b).unwrap_or(""), a)
        })?)
}

/// `c` with what apply does with its value, when that is more than keeping it.
fn with_value(mut c: Change, value: Option<Labelled>) -> Change {
    c.value = value
        .map(|v| v.change)
        .filter(|v| *v != crate::values::ValueChange::Keep);
    c
}

/// Replaces credential-looking text in what a change shows of the database
/// (`before`, and the old side of field changes) with `(redacted)`. Git's side
/// passed the literal-secret check; MCPBox's rows did not (a UI-made source URL
/// with a password, a token pasted into drifted code), and plans are published.
/// The writer never reads `before`, so nothing applied changes.
fn redact_before(c: &mut super::Change) {
    fn walk(v: &mut Value) {
        match v {
            Value::String(s) => {
                let found = crate::manifest::secrets::scan(s);
                // Back to front, skipping a finding that overlaps one replaced.
                let mut limit = s.len();
                for f in found.iter().rev() {
                    if f.offset + f.len <= limit {
                        s.replace_range(f.offset..f.offset + f.len, "(redacted)");
                        limit = f.offset;
                    }
                }
            }
            Value::Array(items) => items.iter_mut().for_each(walk),
            Value::Object(map) => map.values_mut().for_each(walk),
            _ => {}
        }
    }
    if let Some(before) = &c.before {
        if let Ok(mut v) = serde_json::to_value(before) {
            let original = v.clone();
            walk(&mut v);
            if v != original {
                if let Ok(obj) = serde_json::from_value(v) {
                    c.before = Some(obj);
                }
            }
        }
    }
    for f in &mut c.fields {
        if let Some(v) = &mut f.before {
            walk(v);
        }
    }
}

/// Computes the plan.
pub fn diff(desired: &DesiredState, actual: &ActualState) -> Result<Plan, Error> {
    let decisions = quarantine::decide(desired, actual);
    let mut plan = match quarantine::held(desired, actual, &decisions) {
        Some(held) => diff_all(&held, actual)?,
        None => diff_all(desired, actual)?,
    };
    plan.quarantine = decisions;
    plan.guard = plan.refusal(
        false,
        desired.policy.deletion_guard.max_delete_percent,
        desired.is_empty(),
    );
    plan.grants = crate::plan::review::grants(&plan);
    Ok(plan)
}

/// The plan of `desired` (with quarantined tools already substituted).
/// The note for a tool git writes with `timeout_ms` NULL (`timeoutMs:
/// inherit`) in a server whose default is not MCPBox's: which timeout the
/// sandbox will really use. Said when the NULL is written (create, or a
/// change to NULL), not on every pass.
fn inherited_timeout(
    desired: &DesiredState,
    t: &crate::model::Tool,
    row: Option<&crate::state::ToolRow>,
) -> Option<String> {
    if t.timeout_ms.is_some() || row.is_some_and(|r| r.obj.timeout_ms.is_none()) {
        return None;
    }
    let server = match desired.objects.get(&(Kind::Server, t.server.clone())) {
        Some(Object::Server(s)) => s,
        _ => return None,
    };
    (server.default_timeout_ms != crate::desired::DEFAULT_SERVER_TIMEOUT_MS).then(|| {
        format!(
            "tool {}: timeoutMs inherit writes timeout_ms NULL; MCPBox's sandbox runs it with {} ms, not the server's default of {} ms{}",
            t.key(),
            crate::activate::payload::DEFAULT_TOOL_TIMEOUT_MS,
            server.default_timeout_ms,
            match desired.policy.unset_tool_timeout {
                crate::policy::UnsetToolTimeout::Inherit => " (policy unsetToolTimeout: inherit)",
                crate::policy::UnsetToolTimeout::ServerDefault => "",
            }
        )
    })
}

/// Every tool's content hash on both sides (sha256 over its code), computed
/// once and on every core before the serial walk of the diff needs them.
struct ContentHashes<'a> {
    /// Desired tools by key.
    desired: HashMap<&'a str, String>,
    /// Tool rows by id.
    actual: HashMap<Uuid, String>,
}

impl<'a> ContentHashes<'a> {
    fn of(desired: &'a DesiredState, actual: &ActualState) -> ContentHashes<'a> {
        let tools: Vec<(&str, &crate::model::Tool)> = desired
            .objects
            .iter()
            .filter_map(|((_, key), o)| match o {
                Object::Tool(t) => Some((key.as_str(), t)),
                _ => None,
            })
            .collect();
        let hashes = crate::parallel::map(&tools, |(_, t)| t.content_hash());
        let rows = crate::parallel::map(&actual.tools, |r| r.obj.content_hash());
        ContentHashes {
            desired: tools.iter().map(|(k, _)| *k).zip(hashes).collect(),
            actual: actual.tools.iter().map(|r| r.id).zip(rows).collect(),
        }
    }
}

fn diff_all(desired: &DesiredState, actual: &ActualState) -> Result<Plan, Error> {
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
    let ix_sources = Index::new(
        &actual.sources,
        |r| r.id,
        |r| scoped(r.server_id, &r.obj.name),
    );
    let ix_tunnels = Index::new(&actual.tunnels, |r| r.id, |r| r.obj.name.clone());
    let content = ContentHashes::of(desired, actual);
    // Desired source key → its existing row (None: created by this plan).
    let mut source_rows: HashMap<String, Option<&crate::state::SourceRow>> = HashMap::new();
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
        let hash = desired.hash_of(kind, key, obj);
        if let Some(o) = actual.ownership.get(&(kind, key.to_string())) {
            // A row recorded before owners were (NULL) is claimed by the
            // source that declares it, once; another source's row is claimed
            // only by an apply allowed to take ownership (a conflict
            // otherwise, refused before anything is written).
            let claim = desired.owner.is_some() && o.owner != desired.owner;
            if o.applied_hash != hash || (kind == Kind::Tool && o.pin != pin) || claim {
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
                let value = secret_value(desired, key, found.map(|(r, _)| r))?;
                let obj = &Object::Secret(Secret {
                    value: value.as_ref().map(|v| v.label.clone()),
                    ..s.clone()
                });
                let found = found.map(|(r, adopt)| (r.id, Object::Secret(r.obj.clone()), adopt));
                match simple_change(actual, *kind, key, obj, found.clone(), Vec::new()) {
                    Some(c) => changes.push(with_value(c, value)),
                    None => {
                        if let Some((id, ..)) = found {
                            refresh(*kind, key, id, obj, None, &mut bookkeeping)
                        }
                    }
                }
            }
            Object::Source(s) => {
                let sid = server_of(&s.server);
                let found = match sid {
                    Some(sid) => m.find(
                        *kind,
                        key,
                        &ix_sources,
                        &scoped(sid, &s.name),
                        |r| r.id,
                        |r| r.server_id == sid && r.obj.name == s.name,
                    )?,
                    None => None,
                };
                source_rows.insert(key.clone(), found.map(|(r, _)| r));
                if let Some((r, _)) = found {
                    kept_rows.insert(r.id);
                }
                let found = found.map(|(r, adopt)| (r.id, Object::Source(r.obj.clone()), adopt));
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
                // Sources sort before tools, so a pass-through tool's source was
                // matched above.
                let source_row = t.external_source.as_ref().and_then(|src| {
                    source_rows
                        .get(&format!("{}/{src}", t.server))
                        .copied()
                        .flatten()
                });
                let declared = obj;
                let resolved;
                let (t, obj) = match sources::passthrough(
                    t,
                    key,
                    source_row,
                    found.map(|(r, _)| r),
                    &mut notes,
                ) {
                    Some(p) => {
                        resolved = (Object::Tool(p.clone()), p);
                        (&resolved.1, &resolved.0)
                    }
                    None => (t, obj),
                };
                let pin = desired.pins.get(key);
                // Computed up front unless discovery filled the tool in.
                let hash = match content.desired.get(key.as_str()) {
                    Some(h) if std::ptr::eq(obj, declared) => h.clone(),
                    _ => t.content_hash(),
                };
                let pin_identity = pin.filter(|p| p.sha256 == hash).map(|p| p.identity());
                if let Some(n) = inherited_timeout(desired, t, found.map(|(r, _)| r)) {
                    notes.push(n);
                }
                match found {
                    None => {
                        let decision = approval::decide(&Facts {
                            mode: desired.policy.approval.mode,
                            auto_approve,
                            content_hash: &hash,
                            pin,
                            keep_on_dependencies: false,
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
                            value: None,
                            reason: owned.map(|_| {
                                "deleted in MCPBox since the last apply; re-creating it".to_string()
                            }),
                        });
                    }
                    Some((row, adopt)) => {
                        kept_rows.insert(row.id);
                        let before = Object::Tool(row.obj.clone());
                        let content_changed = match content.actual.get(&row.id) {
                            Some(h) => *h != hash,
                            None => row.obj.content_hash() != hash,
                        };
                        let owned = actual.ownership.get(&(*kind, key.clone()));
                        let decision = approval::decide(&Facts {
                            mode: desired.policy.approval.mode,
                            auto_approve,
                            content_hash: &hash,
                            pin,
                            keep_on_dependencies: desired.policy.approval.on_dependency_change
                                == crate::policy::OnDependencyChange::Keep,
                            existing: Some(Existing {
                                status: row.approval_status,
                                approved_by: row.approved_by.as_deref(),
                                content_changed,
                                dependencies_only: content_changed
                                    && row.obj.python_code == t.python_code
                                    && row.obj.tool_type == t.tool_type
                                    && row.obj.external_source == t.external_source
                                    && row.obj.external_tool_name == t.external_tool_name,
                                applied_pin: if adopt {
                                    None
                                } else {
                                    owned.map(|o| o.pin.as_deref())
                                },
                                last_version: row
                                    .last_version
                                    .as_ref()
                                    .map(|v| (v.source.as_str(), v.summary.as_deref())),
                            }),
                        });
                        let mut fields = field_changes(&before, obj);
                        fields.extend(sources::relink(row, t, source_row));
                        if decision.write.is_some() && decision.status != row.approval_status {
                            fields.push(FieldChange {
                                field: "approval_status".into(),
                                before: Some(Value::String(row.approval_status.label().into())),
                                after: Some(Value::String(decision.status.label().into())),
                            });
                        }
                        let versions = update_versions(
                            row.current_version,
                            row.cascade.versions,
                            update_keys(&row.obj, t, auto_approve),
                        );
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
                            value: None,
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
        // Network and module entries: the matched request row, with its status.
        let request = match obj {
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
                    let bucket = network_bucket(sid.unwrap_or_default(), tid, &n.host, n.port);
                    m.find_request(
                        *kind,
                        key,
                        &ix_network,
                        &bucket,
                        |r| r.id,
                        |r| r.status.as_str(),
                        |r| {
                            Some(r.server_id) == sid
                                && r.tool_id == tid
                                && r.obj.host == n.host
                                && r.obj.port == n.port
                        },
                    )?
                } else {
                    None
                };
                found.map(|(r, adopt)| {
                    (
                        r.id,
                        Object::Network(r.obj.clone()),
                        adopt,
                        r.status.as_str(),
                    )
                })
            }
            Object::Module(md) => {
                // A tool's entry matches its tool's rows (an LLM's request,
                // approved or pending: adopted and approved in place); a tool
                // that is new can only get a new row.
                let tid = md
                    .tool
                    .as_ref()
                    .map(|t| tool_ids.get(t.as_str()).copied().flatten());
                let mut found = match tid {
                    Some(None) => None,
                    _ => m.find_request(
                        *kind,
                        key,
                        &ix_modules,
                        &md.name,
                        |r| r.id,
                        |r| r.status.as_str(),
                        |r| r.tool_id == tid.flatten() && r.obj.name == md.name,
                    )?,
                };
                // No admin row: an LLM's pending request for the module (a
                // tool's) is adopted and approved in place, as MCPBox's admin
                // approval does, instead of a second, admin row beside it —
                // unless git lists that tool's entry itself.
                if found.is_none() && md.tool.is_none() {
                    found = m.find(
                        *kind,
                        key,
                        &ix_modules,
                        &md.name,
                        |r| r.id,
                        |r| {
                            r.tool_id.is_some()
                                && r.status == "pending"
                                && r.obj.name == md.name
                                && !desired.objects.contains_key(&(Kind::Module, r.obj.key()))
                        },
                    )?;
                }
                found.map(|(r, adopt)| {
                    (
                        r.id,
                        // Its origin is git's entry's: an admin entry that
                        // adopted a tool's row keeps the row's tool_id, as
                        // MCPBox's approval does, and is no difference.
                        Object::Module(crate::model::Module {
                            tool: md.tool.clone(),
                            ..r.obj.clone()
                        }),
                        adopt,
                        r.status.as_str(),
                    )
                })
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
                let encrypt = desired.value_sources.contains_key(key);
                let extra = match found {
                    Some((r, _)) if r.encrypted != encrypt => vec![FieldChange {
                        field: "encrypted".into(),
                        before: Some(Value::Bool(r.encrypted)),
                        after: Some(Value::Bool(encrypt)),
                    }],
                    _ => Vec::new(),
                };
                let value = setting_value(desired, key, found.map(|(r, _)| r))?;
                let obj = &match &value {
                    Some(v) => Object::Setting(Setting {
                        value: Some(v.label.clone()),
                        ..s.clone()
                    }),
                    None => obj.clone(),
                };
                let found = found.map(|(r, adopt)| (r.id, Object::Setting(r.obj.clone()), adopt));
                match simple_change(actual, *kind, key, obj, found.clone(), extra) {
                    Some(c) => changes.push(with_value(c, value)),
                    None => {
                        if let Some((id, ..)) = found {
                            refresh(*kind, key, id, obj, None, &mut bookkeeping)
                        }
                    }
                }
                continue;
            }
            Object::Tunnel(tn) => {
                let found = m.find(
                    *kind,
                    key,
                    &ix_tunnels,
                    &tn.name,
                    |r| r.id,
                    |r| r.obj.name == tn.name,
                )?;
                if let Some((r, _)) = found {
                    kept_rows.insert(r.id);
                }
                let value = tunnels::token_label(desired, &tn.name, found.map(|(r, _)| r))?;
                let obj = &Object::Tunnel(Tunnel {
                    token: value.as_ref().map(|v| v.label.clone()),
                    ..tn.clone()
                });
                let found = found.map(|(r, adopt)| (r.id, Object::Tunnel(r.obj.clone()), adopt));
                match simple_change(actual, *kind, key, obj, found.clone(), Vec::new()) {
                    Some(c) => changes.push(with_value(c, value)),
                    None => {
                        if let Some((id, ..)) = found {
                            refresh(*kind, key, id, obj, None, &mut bookkeeping)
                        }
                    }
                }
                continue;
            }
            _ => continue,
        };
        if let Some((id, ..)) = &request {
            kept_rows.insert(*id);
        }
        match request_change(
            actual,
            *kind,
            key,
            obj,
            request,
            desired.restore_removed,
            &mut notes,
        ) {
            Outcome::Change(c) => changes.push(*c),
            Outcome::Unchanged(id) => refresh(*kind, key, id, obj, None, &mut bookkeeping),
            Outcome::Standing => {}
        }
    }

    // Another source's objects: never pruned by this one; declared by both, a
    // conflict apply refuses unless told to take ownership (Argo's
    // FailOnSharedResource). NULL owners (older rows) belong to whoever applies.
    let foreign = |owned: &crate::state::Owned| match (&owned.owner, &desired.owner) {
        (Some(theirs), Some(ours)) => theirs != ours,
        _ => false,
    };
    let conflicts: Vec<String> = actual
        .ownership
        .iter()
        .filter(|((kind, key), owned)| {
            foreign(owned) && desired.objects.contains_key(&(*kind, key.clone()))
        })
        .map(|((kind, key), owned)| {
            format!(
                "{} {key} (owned by {})",
                kind.as_str(),
                owned.owner.as_deref().unwrap_or("")
            )
        })
        .collect();

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
        if foreign(owned) {
            continue; // another source's: not ours to prune
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
            Kind::Source => ix_sources
                .get(owned.row_id)
                .map(|r| Object::Source(r.obj.clone())),
            Kind::Tunnel => ix_tunnels
                .get(owned.row_id)
                .map(|r| Object::Tunnel(r.obj.clone())),
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
            value: None,
            reason: None,
        });
    }

    sources::unlinked(&mut changes, actual);
    tunnels::check_activation(&changes, actual, &kept_rows, &mut notes)?;

    // Attach the ids of the rows each change hangs off, so apply never has to
    // look a server up by name (names are not unique in MCPBox).
    for c in &mut changes {
        match (c.action, c.after.as_ref().or(c.before.as_ref())) {
            (Action::Delete, _) => {
                let Some(id) = c.row_id else { continue };
                match c.kind {
                    Kind::Secret => c.server_id = ix_secrets.get(id).map(|r| r.server_id),
                    Kind::Source => c.server_id = ix_sources.get(id).map(|r| r.server_id),
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
            (_, Some(Object::Source(x))) => {
                c.server_id = server_ids.get(x.server.as_str()).copied().flatten()
            }
            (_, Some(Object::Tool(x))) => {
                c.server_id = server_ids.get(x.server.as_str()).copied().flatten()
            }
            (_, Some(Object::Module(x))) if c.action == Action::Create => {
                if let (Some(server), Some(tool)) = (x.server(), &x.tool) {
                    c.server_id = server_ids.get(server).copied().flatten();
                    c.tool_id = tool_ids.get(tool.as_str()).copied().flatten();
                }
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
    for c in &mut changes {
        redact_before(c);
    }
    Ok(Plan {
        format_version: FORMAT_VERSION,
        tool_version: env!("CARGO_PKG_VERSION").to_string(),
        source: desired.source.clone(),
        revision: desired.revision.clone(),
        against_database: actual.connected,
        desired_fingerprint: desired.fingerprint(),
        actual_fingerprint: actual.fingerprint(),
        changes,
        caches,
        bookkeeping,
        kept,
        notes: desired
            .warnings
            .iter()
            .map(ToString::to_string)
            .chain(notes)
            .collect(),
        summary,
        owned: actual.ownership.values().filter(|o| !foreign(o)).count(),
        owner: desired.owner.clone(),
        conflicts,
        least_privilege: crate::least_privilege::check(&desired.inventory),
        quarantine: Vec::new(),
        guard: None,
        grants: Vec::new(),
        pull_request: None,
    })
}
