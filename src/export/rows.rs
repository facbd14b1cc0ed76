//! Which rows of the actual state go into the export: each row is selected,
//! skipped with a reason, or left to MCPBox by design. Why a row cannot be a
//! manifest lives in `problems`; the `Selection` it fills, in `contents`.

use std::collections::{BTreeMap, HashMap, HashSet};

use chrono::SecondsFormat;
use uuid::Uuid;

use super::contents::{
    At, NetKey, Selection, ServerOut, SettingOut, SourceOut, ToolOut, TunnelOut,
};
use super::names::{unique, upper_snake};
use super::problems::{
    module_problem, name_problem, network_problem, passthrough_problem, python_problem,
    secret_problem, server_problem, source_problem, tunnel_problem,
};
use super::text::shown;
use super::{Error, Options, SETTING_ENV, TUNNEL_TOKEN_ENV};
use crate::approvals::Pin;
use crate::manifest::secrets;
use crate::model::ToolType;
use crate::model::{network_key, Kind};
use crate::rules::approval::Status;
use crate::state::{ActualState, SourceRow, ToolRow, TunnelRow};

/// Picks what can be exported; everything else is skipped or left with a reason.
pub(super) fn select(actual: &ActualState, opts: &Options) -> Result<Selection, Error> {
    let mut sel = Selection::default();
    let exported = select_servers(actual, &mut sel)?;
    select_secrets(actual, &exported, &mut sel);
    let sources = select_sources(actual, &exported, &mut sel);
    select_tools(actual, &exported, &sources, opts, &mut sel);
    let owned_ids: HashSet<Uuid> = actual.ownership.values().map(|o| o.row_id).collect();
    select_network(actual, &exported, &owned_ids, &mut sel);
    select_modules(actual, &owned_ids, &mut sel);
    select_settings(actual, &mut sel);
    select_tunnels(actual, &mut sel);
    Ok(sel)
}

/// Servers that can be manifests, by row id.
fn select_servers(
    actual: &ActualState,
    sel: &mut Selection,
) -> Result<HashMap<Uuid, String>, Error> {
    let mut count: BTreeMap<&str, usize> = BTreeMap::new();
    for s in &actual.servers {
        *count.entry(s.obj.name.as_str()).or_default() += 1;
    }
    let dups: Vec<String> = count
        .iter()
        .filter(|(name, n)| **n > 1 && name_problem(name).is_none())
        .map(|(name, n)| format!("`{name}` ({n} servers)"))
        .collect();
    if !dups.is_empty() {
        return Err(Error::DuplicateServers(dups.join(", ")));
    }

    let mut servers: Vec<_> = actual.servers.iter().collect();
    servers.sort_by(|a, b| (&a.obj.name, a.id).cmp(&(&b.obj.name, b.id)));
    let mut exported: HashMap<Uuid, String> = HashMap::new();
    for row in servers {
        let object = format!("server `{}`", shown(&row.obj.name));
        if let Some(why) = server_problem(&row.obj) {
            let why = format!(
                "{why} (its tools, sources, secrets and network entries stay unmanaged too)"
            );
            sel.skip(At::Root, object, why);
            continue;
        }
        exported.insert(row.id, row.obj.name.clone());
        let out = ServerOut {
            obj: row.obj.clone(),
            secrets: BTreeMap::new(),
            network: BTreeMap::new(),
            notes: Vec::new(),
        };
        sel.servers.insert(row.obj.name.clone(), out);
    }
    Ok(exported)
}

fn select_secrets(actual: &ActualState, exported: &HashMap<Uuid, String>, sel: &mut Selection) {
    let mut rows: Vec<_> = actual.secrets.iter().collect();
    rows.sort_by(|a, b| (&a.obj.server, &a.obj.name).cmp(&(&b.obj.server, &b.obj.name)));
    for s in rows {
        let Some(server) = exported.get(&s.server_id) else {
            continue;
        };
        // A name that looks like a value is never printed, not even shortened.
        let name = if secrets::name_looks_like_value(&s.obj.name) {
            "(looks like a value; not shown)".to_string()
        } else {
            shown(&s.obj.name)
        };
        let object = format!("secret `{server}/{name}`");
        if let Some(why) = secret_problem(&s.obj.name, s.obj.description.as_deref()) {
            sel.skip(At::Server(server), object, why);
            continue;
        }
        if s.has_value {
            let line = format!("the value of secret `{}` (only its name is exported; a new MCPBox needs it set again)", s.obj.name);
            sel.leave(At::Server(server), "secret value(s)", line);
        }
        if let Some(out) = sel.servers.get_mut(server) {
            out.secrets
                .insert(s.obj.name.clone(), s.obj.description.clone());
        }
    }
}

/// External sources that can be manifests, by row id (pass-through tools
/// resolve their source through it). Runs after `select_secrets`: a source's
/// auth secret must be an exported secret of its server.
fn select_sources<'a>(
    actual: &'a ActualState,
    exported: &HashMap<Uuid, String>,
    sel: &mut Selection,
) -> HashMap<Uuid, &'a SourceRow> {
    // MCPBox's source names are not unique; a manifest's are, per server, and
    // planning a name two unowned rows share is refused as ambiguous.
    let mut count: HashMap<(Uuid, &str), usize> = HashMap::new();
    for s in &actual.sources {
        *count.entry((s.server_id, s.obj.name.as_str())).or_default() += 1;
    }
    let mut rows: Vec<_> = actual.sources.iter().collect();
    rows.sort_by(|a, b| {
        (&a.obj.server, &a.obj.name, a.id).cmp(&(&b.obj.server, &b.obj.name, b.id))
    });
    let mut out = HashMap::new();
    for row in rows {
        let Some(server) = exported.get(&row.server_id) else {
            continue;
        };
        let object = format!("external source `{server}/{}`", shown(&row.obj.name));
        let same_name = count
            .get(&(row.server_id, row.obj.name.as_str()))
            .copied()
            .unwrap_or(1);
        let why = if same_name > 1 {
            Some(format!("{same_name} external sources of server `{server}` have this name, and a manifest names each source once per server; rename the others in MCPBox and export again"))
        } else {
            let secrets = sel.servers.get(server).map(|o| &o.secrets);
            source_problem(&row.obj, |name| {
                secrets.is_some_and(|s| s.contains_key(name))
            })
        };
        if let Some(why) = why {
            let why = format!("{why} (its pass-through tools stay unmanaged too)");
            sel.skip(At::Server(server), object, why);
            continue;
        }
        let mut notes = Vec::new();
        if row.status == "error" {
            notes.push("status in MCPBox: error (its last discovery failed); a manifest's `active` counts it as such, and apply leaves MCPBox's error alone".to_string());
        }
        if row.discovered_tools_cache.is_some() {
            notes.push("its discovered tools (discovered_tools_cache, tool_count) are MCPBox's: a rebuilt MCPBox discovers them again".to_string());
        }
        let key = (server.clone(), row.obj.name.clone());
        sel.sources.insert(
            key,
            SourceOut {
                obj: row.obj.clone(),
                notes,
            },
        );
        out.insert(row.id, row);
    }
    out
}

fn select_tools(
    actual: &ActualState,
    exported: &HashMap<Uuid, String>,
    sources: &HashMap<Uuid, &SourceRow>,
    opts: &Options,
    sel: &mut Selection,
) {
    let mut rows: Vec<_> = actual.tools.iter().collect();
    rows.sort_by(|a, b| (&a.obj.server, &a.obj.name).cmp(&(&b.obj.server, &b.obj.name)));
    for t in rows {
        let Some(server) = exported.get(&t.server_id) else {
            continue;
        };
        let object = format!("tool `{server}/{}`", shown(&t.obj.name));
        let shape = match t.obj.tool_type {
            ToolType::PythonCode => python_problem(&t.obj),
            ToolType::McpPassthrough => passthrough_problem(t, sources),
        };
        match shape {
            Err(why) => sel.skip(At::Server(server), object, why),
            Ok(shape) => {
                let key = t.obj.key();
                match t.approval_status {
                    Status::Rejected => sel.lose(
                        At::Server(server),
                        object.clone(),
                        format!(
                            "rejected in MCPBox{}; a database rebuilt from the export holds it pending_review",
                            t.rejection_reason
                                .as_deref()
                                .map(|r| format!(" (reason: {})", shown(r)))
                                .unwrap_or_default()
                        ),
                    ),
                    Status::Draft => sel.lose(
                        At::Server(server),
                        object.clone(),
                        "a draft in MCPBox; a database rebuilt from the export holds it pending_review".into(),
                    ),
                    _ => {}
                }
                let pin = (t.approval_status == Status::Approved)
                    .then(|| pin_for(t, &key, opts, &mut sel.notes));
                let out = ToolOut {
                    obj: t.obj.clone(),
                    status: t.approval_status,
                    shape,
                    pin,
                };
                sel.tools.insert((server.clone(), t.obj.name.clone()), out);
            }
        }
    }
}

/// Approved network rows become entries. Approved rows may repeat; the entry
/// takes the justification of the row the diff will adopt.
fn select_network(
    actual: &ActualState,
    exported: &HashMap<Uuid, String>,
    owned_ids: &HashSet<Uuid>,
    sel: &mut Selection,
) {
    let mut groups: BTreeMap<(String, NetKey), Vec<_>> = BTreeMap::new();
    for n in &actual.network {
        let Some(server) = exported.get(&n.server_id) else {
            continue;
        };
        let o = &n.obj;
        let key = shown(&network_key(server, o.tool.as_deref(), &o.host, o.port));
        let object = format!("network entry `{key}`");
        if n.status != "approved" {
            let what = format!("{} network request(s)", n.status);
            let line = format!(
                "{} network request `{key}` (only approved requests are entries)",
                n.status
            );
            sel.leave(At::Server(server), &what, line);
            continue;
        }
        let tool_exported = match (&o.tool, n.tool_id) {
            (Some(t), _) => sel.tools.contains_key(&(server.clone(), t.clone())),
            (None, Some(_)) => false,
            (None, None) => true,
        };
        if !tool_exported {
            sel.skip(
                At::Server(server),
                object,
                "its tool is not exported".into(),
            );
            continue;
        }
        if let Some(why) = network_problem(o) {
            sel.skip(At::Server(server), object, why);
            continue;
        }
        let k = (o.host.clone(), o.port, o.tool.clone());
        groups.entry((server.clone(), k)).or_default().push(n);
    }
    for ((server, k), rows) in groups {
        let key = network_key(&server, k.2.as_deref(), &k.0, k.1);
        let chosen = representative(actual, owned_ids, Kind::Network, &key, &rows, |r| r.id);
        if let (Some(row), Some(out)) = (chosen, sel.servers.get_mut(&server)) {
            out.network.insert(k, row.obj.justification.clone());
        }
    }
}

/// Approved module rows become entries: an admin's as they are, a tool's with
/// `tool:` when its tool is exported; requests not approved stay MCPBox's.
fn select_modules(actual: &ActualState, owned_ids: &HashSet<Uuid>, sel: &mut Selection) {
    let mut groups: BTreeMap<String, Vec<_>> = BTreeMap::new();
    for m in &actual.modules {
        let object = format!("module `{}`", shown(&m.obj.key()));
        if m.status != "approved" {
            let (what, line) = match m.tool_id {
                Some(_) => (
                    format!("{} module request(s) of tools", m.status),
                    format!("{} request of a tool for {object}", m.status),
                ),
                None => (
                    format!("{} module request(s)", m.status),
                    format!("{} admin request for {object}", m.status),
                ),
            };
            sel.leave(At::Modules, &what, line);
            continue;
        }
        let tool_exported = match (&m.obj.tool, m.tool_id) {
            (Some(t), _) => t
                .rsplit_once('/')
                .is_some_and(|(s, t)| sel.tools.contains_key(&(s.to_string(), t.to_string()))),
            (None, Some(_)) => false,
            (None, None) => true,
        };
        if !tool_exported {
            sel.skip(At::Modules, object, "its tool is not exported".into());
            continue;
        }
        if let Some(why) = module_problem(&m.obj.name, &m.obj.justification, m.tool_id.is_some()) {
            sel.skip(At::Modules, object, why);
            continue;
        }
        groups.entry(m.obj.key()).or_default().push(m);
    }
    for (key, rows) in groups {
        if let Some(row) = representative(actual, owned_ids, Kind::Module, &key, &rows, |r| r.id) {
            sel.modules.insert(key, row.obj.clone());
        }
    }
}

/// Known settings: plain ones with valid values as they are, encrypted ones as
/// `valueFrom` an environment variable (their values never leave MCPBox).
fn select_settings(actual: &ActualState, sel: &mut Selection) {
    let mut rows: Vec<_> = actual.settings.iter().collect();
    rows.sort_by(|a, b| a.obj.key.cmp(&b.obj.key));
    for s in rows {
        let key = &s.obj.key;
        let object = format!("setting `{}`", shown(key));
        if s.encrypted {
            // `state::read` gives an encrypted row's ciphertext, and the label
            // `(encrypted)` as its value, only when the column is not NULL.
            let why = if crate::settings::known(key).is_none() {
                Some("it is stored encrypted under a key MCPBox does not read, and a manifest sets only the settings MCPBox reads".to_string())
            } else if s.ciphertext.is_none() {
                Some(
                    "it is stored encrypted with a NULL value, which a manifest cannot state"
                        .to_string(),
                )
            } else {
                None
            };
            if let Some(why) = why {
                sel.skip(At::Settings, object, why);
                continue;
            }
            let var = format!("{SETTING_ENV}{}", upper_snake(key));
            sel.setting_notes.push(format!("`{key}` is stored encrypted in MCPBox and its value is never exported: before `apply`, set MCPBOX_ENCRYPTION_KEY and {var} to its value (apply checks it and rewrites the row only if it differs); a `plan` without MCPBOX_ENCRYPTION_KEY leaves the stored value alone"));
            sel.settings.insert(key.clone(), SettingOut::Env(var));
            continue;
        }
        let why = match &s.obj.value {
            None => Some("its value is NULL, which a manifest cannot state".to_string()),
            Some(v) if !secrets::scan(v).is_empty() => {
                Some("its value looks like a credential".to_string())
            }
            Some(v) => crate::settings::check(key, v).err(),
        };
        match (why, &s.obj.value) {
            (None, Some(v)) => {
                sel.settings
                    .insert(key.clone(), SettingOut::Plain(v.clone()));
            }
            (why, _) => sel.skip(At::Settings, object, why.unwrap_or_default()),
        }
    }
}

/// Tunnel configurations with a token and a usable, unique name; when MCPBox
/// holds more than one active configuration (it allows one), none of the active
/// ones: declaring one active and the others not would deactivate the others.
fn select_tunnels(actual: &ActualState, sel: &mut Selection) {
    let mut count: HashMap<&str, usize> = HashMap::new();
    for t in &actual.tunnels {
        *count.entry(t.obj.name.as_str()).or_default() += 1;
    }
    let mut rows: Vec<_> = actual.tunnels.iter().collect();
    rows.sort_by(|a, b| (&a.obj.name, a.id).cmp(&(&b.obj.name, b.id)));
    let mut ok: Vec<&TunnelRow> = Vec::new();
    for row in rows {
        let object = format!("tunnel configuration `{}`", shown(&row.obj.name));
        let same_name = count.get(row.obj.name.as_str()).copied().unwrap_or(1);
        let why = if same_name > 1 {
            Some(format!("{same_name} tunnel configurations have this name, and a manifest names each one once; rename the others in MCPBox and export again"))
        } else {
            tunnel_problem(row)
        };
        match why {
            Some(why) => sel.skip(At::Root, object, why),
            None => ok.push(row),
        }
    }
    let active: Vec<String> = ok
        .iter()
        .filter(|t| t.obj.active)
        .map(|t| format!("`{}`", shown(&t.obj.name)))
        .collect();
    if active.len() > 1 {
        let why = format!("MCPBox holds {} active tunnel configurations ({}) and allows one; a manifest may declare only one active, and declaring the others inactive would deactivate them, so activate the right one in MCPBox and export again", active.len(), active.join(", "));
        for row in ok.iter().filter(|t| t.obj.active) {
            let object = format!("tunnel configuration `{}`", shown(&row.obj.name));
            sel.skip(At::Root, object, why.clone());
        }
        ok.retain(|t| !t.obj.active);
    }
    // Names map to variables in order; a clash (`prod`, `Prod`) gets a suffix.
    let mut used: HashSet<String> = HashSet::new();
    for row in ok {
        let env = unique(
            &mut used,
            format!("{TUNNEL_TOKEN_ENV}{}", upper_snake(&row.obj.name)),
        );
        let out = TunnelOut {
            obj: row.obj.clone(),
            env,
        };
        sel.tunnels.insert(row.obj.name.clone(), out);
    }
}

/// The row of a group of identical request rows that the diff will match: the
/// one we own under this key, else the unowned one with the smallest id.
fn representative<'a, T>(
    actual: &ActualState,
    owned_ids: &HashSet<Uuid>,
    kind: Kind,
    key: &str,
    rows: &[&'a T],
    id: impl Fn(&T) -> Uuid,
) -> Option<&'a T> {
    if let Some(o) = actual.ownership.get(&(kind, key.to_string())) {
        if let Some(r) = rows.iter().copied().find(|r| id(r) == o.row_id) {
            return Some(r);
        }
    }
    rows.iter()
        .copied()
        .filter(|r| !owned_ids.contains(&id(r)))
        .min_by_key(|r| id(r))
        .or_else(|| rows.iter().copied().min_by_key(|r| id(r)))
}

fn pin_for(t: &ToolRow, key: &str, opts: &Options, notes: &mut Vec<String>) -> Pin {
    let by = match t.approved_by.as_deref() {
        Some(b)
            if !b.trim().is_empty()
                && b.chars().count() <= 255
                && !b.chars().any(char::is_control) =>
        {
            b.to_string()
        }
        _ => {
            notes.push(format!(
                "tool {key} is approved in MCPBox without a usable approved_by; its pin names {}",
                opts.reviewer
            ));
            opts.reviewer.clone()
        }
    };
    Pin {
        tool: key.to_string(),
        sha256: t.obj.content_hash(),
        approved_by: by,
        approved_at: t
            .approved_at
            .map(|at| at.to_rfc3339_opts(SecondsFormat::Secs, true)),
        signature: None,
    }
}

#[cfg(test)]
mod tests {
    use crate::approvals;
    use crate::desired;
    use crate::export::check::adoption_only;
    use crate::export::fixtures::{skip_reason, sourced, state, text};
    use crate::export::{export, Options, TUNNELS_DIR};
    use crate::manifest::load::{APPROVALS_FILE, POLICY_FILE};
    use crate::plan::diff;

    #[test]
    fn null_approver_is_pinned_by_the_reviewer() {
        let mut actual = state();
        actual.tools[0].approved_by = None;
        let opts = Options {
            reviewer: "gitops@example.com".into(),
        };
        let e = export(&actual, &opts).unwrap();
        let pins = approvals::parse(APPROVALS_FILE, text(&e, APPROVALS_FILE)).unwrap();
        assert_eq!(pins["svc/ok"].approved_by, "gitops@example.com");
        assert!(text(&e, POLICY_FILE).contains("reviewer: gitops@example.com"));
    }

    #[test]
    fn two_active_tunnels_are_both_left_out() {
        let mut actual = sourced();
        actual.tunnels[2].obj.active = true;
        let e = export(&actual, &Options::default()).unwrap();
        for object in [
            "tunnel configuration `prod`",
            "tunnel configuration `Wizard: home`",
        ] {
            let reason = skip_reason(&e, object);
            assert!(
                reason.contains("2 active tunnel configurations (`Wizard: home`, `prod`)"),
                "{reason}"
            );
        }
        let tunnels: Vec<&String> = e
            .files
            .files
            .keys()
            .filter(|p| p.starts_with(TUNNELS_DIR))
            .collect();
        assert_eq!(tunnels, ["platform/tunnels/prod.yaml"]);
        assert!(text(&e, "platform/tunnels/prod.yaml").contains("name: PROD"));
        let plan = diff::diff(&desired::build(&e.files).unwrap(), &actual).unwrap();
        assert!(
            plan.changes.iter().all(adoption_only),
            "{:#?}",
            plan.changes
        );
        assert!(
            e.notes
                .iter()
                .any(|n| n.contains("plan: MCPBox holds 2 active tunnel configurations")),
            "{:?}",
            e.notes
        );
        assert!(
            text(&e, POLICY_FILE).contains("# not exported: tunnel configuration `prod`"),
            "the reason is in a header too"
        );
    }
}
