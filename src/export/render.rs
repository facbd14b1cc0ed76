//! A selection as files: one YAML document per object (or per platform file)
//! through the manifest kinds' serde types, each with a header comment saying
//! what it leaves out, plus `approvals.yaml` and the policy. What goes into the
//! selection lives in `rows`; checking the files, in `check`.

use std::collections::BTreeMap;

use serde::Serialize;
use serde_yaml::Value as Yaml;

use super::contents::{Item, Selection, SettingOut};
use super::names::Paths;
use super::text::{one_line, shown};
use super::{Error, Options, MODULES_FILE, SETTINGS_FILE, TUNNELS_DIR};
use crate::approvals::{self, Pins};
use crate::desired::DEFAULT_SERVER_TIMEOUT_MS;
use crate::manifest::kinds::{
    Doc, Metadata, ModuleEntry, ModulesSpec, NetworkEntry, SecretEntry, ServerScopedMetadata,
    ServerSpec, SettingsSpec, SourceAuth, SourceMetadata, SourceSpec, Timeout, ToolSpec,
    TunnelSpec, TunnelToken, ValueFrom, API_VERSION,
};
use crate::manifest::load::{APPROVALS_FILE, POLICY_FILE};
use crate::model::{AuthType, SourceStatus, ToolType, Transport};
use crate::policy::{ApprovalMode, Policy};
use crate::rules::passthrough::sanitize;
use crate::source::FileSet;
use crate::state::ActualState;

fn yaml_error(what: &str, e: &serde_yaml::Error) -> Error {
    Error::NotLoadable(format!("cannot write {what} as YAML: {e}"))
}

/// Removes `null` values from mappings, at every level.
fn strip_nulls(v: &mut Yaml) {
    match v {
        Yaml::Mapping(m) => {
            m.retain(|_, v| !v.is_null());
            m.values_mut().for_each(strip_nulls);
        }
        Yaml::Sequence(items) => items.iter_mut().for_each(strip_nulls),
        _ => {}
    }
}

/// A kind's document as YAML, through its serde type. Absent optional fields are
/// left out instead of written as `null` (and empty `secrets`/`network` lists);
/// `inputSchema` is never touched, since a `null` inside it is data.
fn yaml<T: Serialize>(what: &str, doc: &T) -> Result<String, Error> {
    let mut v = serde_yaml::to_value(doc).map_err(|e| yaml_error(what, &e))?;
    if let Some(Yaml::Mapping(spec)) = v.get_mut("spec") {
        spec.retain(|k, v| {
            let empty_list = matches!(k.as_str(), Some("secrets" | "network"))
                && v.as_sequence().is_some_and(|s| s.is_empty());
            !v.is_null() && !empty_list
        });
        for (k, v) in spec.iter_mut() {
            if k.as_str() != Some("inputSchema") {
                strip_nulls(v);
            }
        }
    }
    serde_yaml::to_string(&v).map_err(|e| yaml_error(what, &e))
}

fn with_header(lines: &[String], body: &str) -> String {
    let mut out = String::from("# Exported from MCPBox by mcpbox-gitops export.\n");
    for l in lines {
        out.push_str("# ");
        out.push_str(&one_line(l));
        out.push('\n');
    }
    out.push_str(body);
    out
}

/// A secret entry, built from a mapping rather than a struct literal so that
/// optional fields the kind gains later (a value source) stay absent: an export
/// never carries a secret's value, nor says where one comes from.
fn secret_entry(name: &str, description: Option<&str>) -> Result<SecretEntry, Error> {
    let mut m = serde_yaml::Mapping::new();
    m.insert("name".into(), name.into());
    if let Some(d) = description {
        m.insert("description".into(), d.into());
    }
    serde_yaml::from_value(Yaml::Mapping(m)).map_err(|e| yaml_error("a secret entry", &e))
}

/// `valueFrom: {env: var}`.
fn from_env(var: &str) -> ValueFrom {
    ValueFrom {
        env: Some(var.to_string()),
        file: None,
    }
}

/// The files of a selection, and which exported object each per-object file
/// belongs to (to drop the object when its file fails the check).
pub(super) struct Rendered {
    pub(super) files: FileSet,
    pub(super) owners: BTreeMap<String, Item>,
}

/// The files of a selection.
pub(super) fn render(
    sel: &Selection,
    actual: &ActualState,
    opts: &Options,
) -> Result<Rendered, Error> {
    let mut files = FileSet::empty("export");
    let mut owners: BTreeMap<String, Item> = BTreeMap::new();
    // Names are up to 255 characters: paths are capped and kept unique here.
    let mut paths = Paths::default();
    for (name, s) in &sel.servers {
        let mut spec = ServerSpec {
            description: s.obj.description.clone(),
            default_timeout_ms: (s.obj.default_timeout_ms != DEFAULT_SERVER_TIMEOUT_MS)
                .then_some(i64::from(s.obj.default_timeout_ms)),
            ..Default::default()
        };
        for (n, d) in &s.secrets {
            spec.secrets.push(secret_entry(n, d.as_deref())?);
        }
        for ((host, port, tool), justification) in &s.network {
            spec.network.push(NetworkEntry {
                host: host.clone(),
                port: port.map(i64::from),
                justification: justification.clone(),
                tool: tool.clone(),
            });
        }
        let doc = Doc {
            api_version: API_VERSION.into(),
            kind: "Server".into(),
            metadata: Metadata { name: name.clone() },
            spec,
        };
        let path = format!("{}/server.yaml", paths.server_dir(name));
        let text = with_header(&s.notes, &yaml(&path, &doc)?);
        files.insert(path, text);
    }

    // Source names are free-form: files are named after MCPBox's sanitised form,
    // numbered on a clash within the server.
    for ((server, name), s) in &sel.sources {
        let dir = format!("{}/sources", paths.server_dir(server));
        let path = paths.file(&dir, &sanitize(name), "yaml");
        let auth = (s.obj.auth_type != AuthType::None).then(|| SourceAuth {
            auth_type: s.obj.auth_type,
            secret: s.obj.auth_secret.clone(),
            header: s.obj.auth_header.clone(),
        });
        let doc = Doc {
            api_version: API_VERSION.into(),
            kind: "ExternalSource".into(),
            metadata: SourceMetadata {
                name: name.clone(),
                server: server.clone(),
            },
            spec: SourceSpec {
                url: s.obj.url.clone(),
                transport: (s.obj.transport != Transport::StreamableHttp)
                    .then_some(s.obj.transport),
                auth,
                status: (s.obj.status != SourceStatus::Active).then_some(s.obj.status),
            },
        };
        let text = with_header(&s.notes, &yaml(&path, &doc)?);
        files.insert(path.clone(), text);
        owners.insert(path, Item::Source(server.clone(), name.clone()));
    }

    let mut pins = Pins::new();
    for ((server, name), t) in &sel.tools {
        let item = Item::Tool(server.clone(), name.clone());
        let passthrough = t.obj.tool_type == ToolType::McpPassthrough;
        // The manifest and its code share a stem, so `codeFile` is `<stem>.py`
        // (shortened with the manifest when the name is long).
        let dir = format!("{}/tools", paths.server_dir(server));
        let stem = paths.stem(&dir, name, &["yaml", "py"]);
        let spec = ToolSpec {
            tool_type: passthrough.then_some(ToolType::McpPassthrough),
            description: t
                .shape
                .description
                .then(|| t.obj.description.clone())
                .flatten(),
            timeout_ms: match t.obj.timeout_ms {
                Some(ms) => Some(Timeout::Ms(i64::from(ms))),
                // Absent would mean the server's default, written into the tool.
                None if sel
                    .servers
                    .get(server)
                    .is_some_and(|s| s.obj.default_timeout_ms != DEFAULT_SERVER_TIMEOUT_MS) =>
                {
                    Some(Timeout::Inherit)
                }
                None => None,
            },
            enabled: (!t.obj.enabled).then_some(false),
            code_file: (!passthrough).then(|| format!("{stem}.py")),
            dependencies: (!t.obj.dependencies.is_empty()).then(|| t.obj.dependencies.clone()),
            input_schema: t.shape.schema.then(|| t.obj.input_schema.clone()),
            external_source: t.obj.external_source.clone().filter(|_| passthrough),
            external_tool_name: t.obj.external_tool_name.clone().filter(|_| passthrough),
            ..Default::default()
        };
        let doc = Doc {
            api_version: API_VERSION.into(),
            kind: "Tool".into(),
            metadata: ServerScopedMetadata {
                name: name.clone(),
                server: server.clone(),
            },
            spec,
        };
        let mut notes = vec![match &t.pin {
            Some(_) => "approved in MCPBox: pinned in approvals.yaml at its current content".to_string(),
            None => format!("approval state in MCPBox: {}; exported without a pin, so that state stays MCPBox's (approve in MCPBox, or pin with `mcpbox-gitops approve {server}/{name} --by EMAIL`)", t.status.label()),
        }];
        if passthrough {
            let fields = match (t.shape.description, t.shape.schema) {
                (true, true) => Some("description and inputSchema are MCPBox's stored values (a rebuilt MCPBox has not discovered anything yet); leave them out"),
                (true, false) => Some("description is MCPBox's stored value (a rebuilt MCPBox has not discovered anything yet); leave it out"),
                (false, true) => Some("inputSchema is MCPBox's stored value (a rebuilt MCPBox has not discovered anything yet); leave it out"),
                (false, false) => None,
            };
            if let Some(fields) = fields {
                notes.push(format!("{fields} to take what the source discovers"));
            }
        } else if t.shape.schema {
            notes.push("inputSchema is MCPBox's stored schema, which differs from the one derived from `async def main`".into());
        }
        let path = format!("{dir}/{stem}.yaml");
        let text = with_header(&notes, &yaml(&path, &doc)?);
        files.insert(path.clone(), text);
        owners.insert(path, item.clone());
        if !passthrough {
            let code = t.obj.python_code.clone().unwrap_or_default();
            let py = format!("{dir}/{stem}.py");
            files.insert(py.clone(), code);
            owners.insert(py, item);
        }
        if let Some(pin) = &t.pin {
            pins.insert(pin.tool.clone(), pin.clone());
        }
    }

    if !sel.modules.is_empty() || !sel.module_notes.is_empty() {
        let mut spec = ModulesSpec::default();
        for m in sel.modules.values() {
            spec.modules.push(ModuleEntry {
                name: m.name.clone(),
                justification: m.justification.clone(),
                tool: m.tool.clone(),
            });
        }
        let doc = Doc {
            api_version: API_VERSION.into(),
            kind: "Modules".into(),
            metadata: Metadata {
                name: "platform".into(),
            },
            spec,
        };
        let text = with_header(&sel.module_notes, &yaml(MODULES_FILE, &doc)?);
        files.insert(MODULES_FILE, text);
    }

    if !sel.settings.is_empty() || !sel.setting_notes.is_empty() {
        let mut spec = SettingsSpec::new();
        for (k, v) in &sel.settings {
            let value = match v {
                SettingOut::Plain(text) => Yaml::String(text.clone()),
                SettingOut::Env(var) => {
                    let mut m = serde_yaml::Mapping::new();
                    let from = serde_yaml::to_value(from_env(var))
                        .map_err(|e| yaml_error(SETTINGS_FILE, &e))?;
                    m.insert("valueFrom".into(), from);
                    Yaml::Mapping(m)
                }
            };
            spec.insert(k.clone(), value);
        }
        let doc = Doc {
            api_version: API_VERSION.into(),
            kind: "Settings".into(),
            metadata: Metadata {
                name: "mcpbox".into(),
            },
            spec,
        };
        let text = with_header(&sel.setting_notes, &yaml(SETTINGS_FILE, &doc)?);
        files.insert(SETTINGS_FILE, text);
    }

    for (name, t) in &sel.tunnels {
        let path = paths.file(TUNNELS_DIR, &sanitize(name), "yaml");
        let doc = Doc {
            api_version: API_VERSION.into(),
            kind: "TunnelConfiguration".into(),
            metadata: Metadata { name: name.clone() },
            spec: TunnelSpec {
                description: t.obj.description.clone(),
                public_url: t.obj.public_url.clone(),
                token: TunnelToken {
                    value_from: from_env(&t.env),
                },
                active: t.obj.active.then_some(true),
            },
        };
        let notes = [format!("token: MCPBox stores it encrypted and the export never reads it; before `apply`, set MCPBOX_ENCRYPTION_KEY and {} to this configuration's cloudflared tunnel token (apply rewrites it only if it differs from the stored one); a `plan` without MCPBOX_ENCRYPTION_KEY leaves the stored token alone", t.env)];
        let text = with_header(&notes, &yaml(&path, &doc)?);
        files.insert(path.clone(), text);
        owners.insert(path, Item::Tunnel(name.clone()));
    }

    let approvals_notes = ["approved tools are pinned at their current content hash; tools in draft, pending_review or rejected have no pin and keep MCPBox's state".to_string()];
    files.insert(
        APPROVALS_FILE,
        with_header(&approvals_notes, &approvals::render(&pins)),
    );

    // An object we own that the export leaves out would be pruned by the next
    // apply: keep such objects instead, and say so.
    let keys = sel.keys();
    let orphans: Vec<String> = actual
        .ownership
        .keys()
        .filter(|k| !keys.contains(*k))
        .map(|(kind, key)| format!("{} {}", kind.as_str(), shown(key)))
        .collect();
    let mut policy = Policy::default();
    policy.approval.mode = ApprovalMode::Pinned;
    policy.reviewer = opts.reviewer.clone();
    policy.prune = orphans.is_empty();
    let mut notes = vec!["reconciler policy; `reviewer` is written as requested_by/reviewed_by of the request rows an apply creates".to_string()];
    if !orphans.is_empty() {
        notes.push(format!("prune is off: mcpbox-gitops manages {} object(s) this export leaves out ({}); set it to true once they are declared or forgotten", orphans.len(), orphans.join(", ")));
    }
    notes.extend(sel.root_notes.iter().cloned());
    let body = serde_yaml::to_string(&policy).map_err(|e| yaml_error(POLICY_FILE, &e))?;
    files.insert(POLICY_FILE, with_header(&notes, &body));
    Ok(Rendered { files, owners })
}

#[cfg(test)]
mod tests {
    use crate::desired;
    use crate::export::fixtures::{id, state, text};
    use crate::export::{export, Options};
    use crate::manifest::load::POLICY_FILE;
    use crate::model::Kind;
    use crate::plan::diff;
    use crate::state::Owned;

    #[test]
    fn owned_objects_left_out_turn_pruning_off() {
        let mut actual = state();
        let owned = Owned {
            row_id: id(15),
            applied_hash: "h".into(),
            pin: None,
            owner: None,
        };
        actual
            .ownership
            .insert((Kind::Tool, "svc/leaky".into()), owned);
        let e = export(&actual, &Options::default()).unwrap();
        let policy = text(&e, POLICY_FILE);
        assert!(
            policy.contains("prune: false") && policy.contains("tool svc/leaky"),
            "{policy}"
        );
        let plan = diff::diff(&desired::build(&e.files).unwrap(), &actual).unwrap();
        assert_eq!(plan.summary.destroy, 0);
        assert_eq!(plan.kept, ["tool svc/leaky"]);
    }
}
