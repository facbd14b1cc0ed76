//! Export: MCPBox's database as a manifest repository, the inverse of `desired`.
//!
//! [`export`] turns an [`ActualState`] into a [`FileSet`] laid out as
//! `servers/<server>/server.yaml`, `servers/<server>/sources/<source>.yaml`,
//! `servers/<server>/tools/<tool>.yaml` (with the `.py` of a Python tool next to
//! it), `platform/modules.yaml`, `platform/settings.yaml`,
//! `platform/tunnels/<tunnel>.yaml`, `approvals.yaml` and `mcpbox-gitops.yaml`, and
//! says what it left out and why. Every export is checked before it is returned: it
//! must load and validate, and planning it against the same state must propose
//! adoptions only (an object that would not is dropped with a warning). Pure:
//! reading the database and writing the files live in `cli::export`.
//!
//! # Values that stay encrypted
//!
//! A tunnel token or an encrypted setting is never read, decrypted or written
//! out: it is exported as `valueFrom: {env: MCPBOX_TUNNEL_TOKEN_<NAME>}` or
//! `{env: MCPBOX_SETTING_<KEY>}` (listed in [`Export::env`] and in the file's
//! header). A plan without `MCPBOX_ENCRYPTION_KEY` does not read values and takes
//! a stored one as current, so it shows adoptions only; with the key, plan and
//! apply read every variable (an unset one is an error naming it) and compare it
//! with the stored value by decrypting. Secret values are not exported at all:
//! secrets are names only, their values stay MCPBox's.
//!
//! # What cannot be expressed
//!
//! Skipped with a warning (and a header comment): servers whose name is not a
//! manifest server name (with everything under them); secrets with names MCPBox's
//! admin API refuses; Python tools MCPBox would refuse, or without a timeout in a
//! server whose default is not 30000 ms; external sources using OAuth (their tokens
//! come from MCPBox's OAuth flow), sharing a name within their server, or whose
//! auth is inconsistent (a `bearer`/`header` source without a secret or naming a
//! secret that is not exported, a secret or header where the type uses none);
//! pass-through tools whose source is one of those or was deleted
//! (`external_source_id` NULL), or whose description or input_schema is NULL where
//! a manifest would give them one; tunnel configurations without a token, with a
//! name that is not 1–255 characters or not unique, and every active one when
//! MCPBox holds more than one; settings MCPBox does not read, NULL, or with
//! values it would refuse; anything whose text looks like a credential. Left to
//! MCPBox by design: requests that are not approved, tools' module requests,
//! secret values, tools' approval state when not approved, and discovery results
//! (`discovered_tools_cache`, `tool_count`, status `error`).

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use chrono::SecondsFormat;
use serde::Serialize;
use serde_json::{json, Value as Json};
use serde_yaml::Value as Yaml;
use uuid::Uuid;

use crate::approvals::{self, Pin, Pins};
use crate::desired::{self, DEFAULT_SERVER_TIMEOUT_MS};
use crate::manifest::kinds::{
    Doc, Metadata, ModuleEntry, ModulesSpec, NetworkEntry, SecretEntry, ServerScopedMetadata,
    ServerSpec, SettingsSpec, SourceAuth, SourceMetadata, SourceSpec, ToolSpec, ToolType,
    TunnelSpec, TunnelToken, ValueFrom, API_VERSION,
};
use crate::manifest::load::{APPROVALS_FILE, POLICY_FILE};
use crate::manifest::locate::MAX_DEPTH;
use crate::manifest::secrets;
use crate::manifest::validate::{
    host_problem, is_module_name, is_secret_name, is_snake_name, limits,
};
use crate::model::{
    network_key, AuthType, Kind, Network, Server, Source, SourceStatus, Tool, Transport, Tunnel,
};
use crate::plan::{diff, Action, Change, Plan};
use crate::policy::{ApprovalMode, Policy};
use crate::rules::approval::Status;
use crate::rules::passthrough::sanitize;
use crate::source::{Entry, FileSet, MAX_FILE_BYTES, MAX_TOTAL_BYTES};
use crate::state::{ActualState, SourceRow, ToolRow, TunnelRow};

/// Where the global modules go.
pub const MODULES_FILE: &str = "platform/modules.yaml";
/// Where the settings go.
pub const SETTINGS_FILE: &str = "platform/settings.yaml";
/// The folder of the tunnel configurations, one file each.
pub const TUNNELS_DIR: &str = "platform/tunnels";
/// Prefix of the variable a tunnel token is read from (then the name in upper
/// snake case).
pub const TUNNEL_TOKEN_ENV: &str = "MCPBOX_TUNNEL_TOKEN_";
/// Prefix of the variable an encrypted setting is read from (then the key in
/// upper case).
pub const SETTING_ENV: &str = "MCPBOX_SETTING_";

/// How to export.
#[derive(Debug, Clone)]
#[must_use]
pub struct Options {
    /// `reviewer` of the exported policy (`requested_by`/`reviewed_by` of the
    /// request rows a later apply creates), and `approvedBy` of pins of approved
    /// tools whose `approved_by` is NULL or unusable.
    pub reviewer: String,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            reviewer: Policy::default().reviewer,
        }
    }
}

/// An object left out of the export.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Skipped {
    /// What, e.g. "tool `github/search`".
    pub object: String,
    /// Why (never quotes a secret value).
    pub reason: String,
}

/// A value the export names by environment variable instead of exporting it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EnvValue {
    /// The variable `valueFrom: {env: …}` names.
    pub var: String,
    /// What it holds, e.g. "token of tunnel configuration `prod`".
    pub object: String,
}

/// How much was exported.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    /// Server documents.
    pub servers: usize,
    /// Tool documents (Python and pass-through).
    pub tools: usize,
    /// Tools pinned in `approvals.yaml`.
    pub pinned: usize,
    /// Secret placeholders.
    pub secrets: usize,
    /// Network entries.
    pub network: usize,
    /// Global modules.
    pub modules: usize,
    /// Settings (plain and encrypted).
    pub settings: usize,
    /// ExternalSource documents.
    pub sources: usize,
    /// TunnelConfiguration documents.
    pub tunnels: usize,
}

/// An exported repository.
#[derive(Debug, Clone)]
pub struct Export {
    /// The files, by repository-relative path.
    pub files: FileSet,
    /// Objects left out, with the reason (the CLI shows them as warnings).
    pub skipped: Vec<Skipped>,
    /// Rows left to MCPBox by design (requests that are not approved, …) and what
    /// the first apply will still do (caches that are stale in MCPBox).
    pub notes: Vec<String>,
    /// Variables the files read values from, sorted by variable: apply needs
    /// `MCPBOX_ENCRYPTION_KEY` and each of them set to the value MCPBox holds.
    pub env: Vec<EnvValue>,
    /// What was exported.
    pub counts: Counts,
    /// Adoptions a plan of the export against the same database proposes.
    pub adoptions: usize,
    /// Caches (`allowed_hosts`, `allowed_modules`) that are stale in MCPBox and
    /// that the first apply recomputes, the one row change it makes.
    pub stale_caches: usize,
}

/// Why no export was made.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Manifests name each server once; MCPBox's names are not unique.
    #[error("server name(s) used by more than one server in MCPBox: {0}; manifests name each server once, so rename the extra servers in MCPBox and export again")]
    DuplicateServers(String),
    /// `--reviewer` cannot be written.
    #[error("reviewer `{0}` must be 1 to 255 characters without line breaks (it becomes requested_by/reviewed_by/approved_by)")]
    BadReviewer(String),
    /// The export is too large for `FileSet::from_dir` to read back.
    #[error("the export would be {size} bytes, more than the {limit}-byte limit of a manifest repository")]
    TooLarge {
        /// Total bytes.
        size: u64,
        /// The limit.
        limit: u64,
    },
    /// A bug: the exported files do not load.
    #[error("internal error: the exported files do not load ({0}); nothing was written")]
    NotLoadable(String),
    /// A bug: the export would not plan as adoptions only.
    #[error(
        "internal error: the export would not plan as adoptions only ({0}); nothing was written"
    )]
    NotAdoptable(String),
    /// Planning the export failed.
    #[error(transparent)]
    Plan(#[from] diff::Error),
}

/// (host, port, tool) of a network entry within its server.
type NetKey = (String, Option<i32>, Option<String>);

struct ServerOut {
    obj: Server,
    /// Name → description.
    secrets: BTreeMap<String, Option<String>>,
    /// Entry → justification.
    network: BTreeMap<NetKey, String>,
    /// Header lines of its server.yaml: what of this server the file leaves out.
    notes: Vec<String>,
}

/// Which optional fields a tool's manifest states, because leaving them out
/// would give another value.
#[derive(Debug, Clone, Copy)]
struct Shape {
    /// `description` is written. Always for a Python tool; for a pass-through
    /// tool only when set (absent means "the discovered one").
    description: bool,
    /// `inputSchema` is written: the stored schema is not the one a plan derives
    /// without it.
    schema: bool,
}

struct ToolOut {
    obj: Tool,
    status: Status,
    shape: Shape,
    pin: Option<Pin>,
}

struct SourceOut {
    obj: Source,
    /// Header lines of its file: MCPBox's runtime state the file leaves out.
    notes: Vec<String>,
}

struct TunnelOut {
    obj: Tunnel,
    /// The variable its token is read from at apply time.
    env: String,
}

/// A setting's exported value.
enum SettingOut {
    /// The stored text.
    Plain(String),
    /// Stored encrypted: read from this variable at apply time.
    Env(String),
}

/// What goes into the export (and header lines saying what does not).
#[derive(Default)]
struct Selection {
    servers: BTreeMap<String, ServerOut>,
    /// By (server, source name).
    sources: BTreeMap<(String, String), SourceOut>,
    tools: BTreeMap<(String, String), ToolOut>,
    modules: BTreeMap<String, String>,
    settings: BTreeMap<String, SettingOut>,
    tunnels: BTreeMap<String, TunnelOut>,
    module_notes: Vec<String>,
    setting_notes: Vec<String>,
    root_notes: Vec<String>,
    skipped: Vec<Skipped>,
    notes: Vec<String>,
    /// Rows left to MCPBox by design, counted by what they are.
    left: BTreeMap<String, usize>,
}

/// Which file's header a note goes to.
enum At<'a> {
    Server(&'a str),
    Modules,
    Settings,
    Root,
}

/// One exported object, to drop it when it fails the check.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Item {
    Server(String),
    Secret(String, String),
    Source(String, String),
    Tool(String, String),
    Network(String, NetKey),
    Module(String),
    Setting(String),
    Tunnel(String),
}

impl Selection {
    fn header(&mut self, at: At<'_>, line: String) {
        match at {
            At::Server(s) => match self.servers.get_mut(s) {
                Some(out) => out.notes.push(line),
                None => self.root_notes.push(line),
            },
            At::Modules => self.module_notes.push(line),
            At::Settings => self.setting_notes.push(line),
            At::Root => self.root_notes.push(line),
        }
    }

    fn skip(&mut self, at: At<'_>, object: String, reason: String) {
        self.header(at, format!("not exported: {object}: {reason}"));
        self.skipped.push(Skipped { object, reason });
    }

    fn leave(&mut self, at: At<'_>, what: &str, line: String) {
        *self.left.entry(what.to_string()).or_default() += 1;
        self.header(at, format!("left to MCPBox: {line}"));
    }

    fn len(&self) -> usize {
        self.servers
            .values()
            .map(|s| 1 + s.secrets.len() + s.network.len())
            .sum::<usize>()
            + self.sources.len()
            + self.tools.len()
            + self.modules.len()
            + self.settings.len()
            + self.tunnels.len()
    }

    /// Removes an object that failed the check, with what hangs off it.
    fn drop_item(&mut self, item: &Item, reason: &str) {
        match item {
            Item::Server(s) => {
                if self.servers.remove(s).is_some() {
                    self.tools.retain(|(server, _), _| server != s);
                    self.sources.retain(|(server, _), _| server != s);
                    let why = format!(
                        "{reason} (its tools, sources, secrets and network entries stay unmanaged too)"
                    );
                    self.skip(At::Root, format!("server `{s}`"), why);
                }
            }
            Item::Tool(s, t) => {
                if self.tools.remove(&(s.clone(), t.clone())).is_some() {
                    self.skip(At::Server(s), format!("tool `{s}/{t}`"), reason.to_string());
                    let gone: Vec<NetKey> = self.servers.get(s).map_or(Vec::new(), |out| {
                        out.network
                            .keys()
                            .filter(|k| k.2.as_deref() == Some(t))
                            .cloned()
                            .collect()
                    });
                    for k in gone {
                        self.drop_item(&Item::Network(s.clone(), k), "its tool is not exported");
                    }
                }
            }
            Item::Secret(s, n) => {
                if self
                    .servers
                    .get_mut(s)
                    .and_then(|o| o.secrets.remove(n))
                    .is_some()
                {
                    self.skip(
                        At::Server(s),
                        format!("secret `{s}/{n}`"),
                        reason.to_string(),
                    );
                    // A source naming it would no longer validate.
                    let gone: Vec<Item> = self
                        .sources
                        .iter()
                        .filter(|((server, _), o)| {
                            server == s && o.obj.auth_secret.as_deref() == Some(n)
                        })
                        .map(|((server, name), _)| Item::Source(server.clone(), name.clone()))
                        .collect();
                    for item in gone {
                        self.drop_item(&item, "its auth secret is not exported");
                    }
                }
            }
            Item::Source(s, n) => {
                if self.sources.remove(&(s.clone(), n.clone())).is_some() {
                    self.skip(
                        At::Server(s),
                        format!("external source `{s}/{}`", shown(n)),
                        reason.to_string(),
                    );
                    let gone: Vec<Item> = self
                        .tools
                        .iter()
                        .filter(|((server, _), t)| {
                            server == s
                                && t.obj.tool_type == ToolType::McpPassthrough
                                && t.obj.external_source.as_deref() == Some(n)
                        })
                        .map(|((server, name), _)| Item::Tool(server.clone(), name.clone()))
                        .collect();
                    for item in gone {
                        self.drop_item(&item, "its external source is not exported");
                    }
                }
            }
            Item::Network(s, k) => {
                if self
                    .servers
                    .get_mut(s)
                    .and_then(|o| o.network.remove(k))
                    .is_some()
                {
                    let key = network_key(s, k.2.as_deref(), &k.0, k.1);
                    self.skip(
                        At::Server(s),
                        format!("network entry `{key}`"),
                        reason.to_string(),
                    );
                }
            }
            Item::Module(m) => {
                if self.modules.remove(m).is_some() {
                    self.skip(At::Modules, format!("module `{m}`"), reason.to_string());
                }
            }
            Item::Setting(k) => {
                if self.settings.remove(k).is_some() {
                    self.skip(At::Settings, format!("setting `{k}`"), reason.to_string());
                }
            }
            Item::Tunnel(n) => {
                if self.tunnels.remove(n).is_some() {
                    let object = format!("tunnel configuration `{}`", shown(n));
                    self.skip(At::Root, object, reason.to_string());
                }
            }
        }
    }

    /// Every exported object with its kind and natural key.
    fn items(&self) -> Vec<((Kind, String), Item)> {
        let mut out = Vec::new();
        for (s, o) in &self.servers {
            out.push(((Kind::Server, s.clone()), Item::Server(s.clone())));
            for n in o.secrets.keys() {
                let item = Item::Secret(s.clone(), n.clone());
                out.push(((Kind::Secret, format!("{s}/{n}")), item));
            }
            for k in o.network.keys() {
                let key = network_key(s, k.2.as_deref(), &k.0, k.1);
                out.push(((Kind::Network, key), Item::Network(s.clone(), k.clone())));
            }
        }
        for (s, n) in self.sources.keys() {
            let item = Item::Source(s.clone(), n.clone());
            out.push(((Kind::Source, format!("{s}/{n}")), item));
        }
        for (s, t) in self.tools.keys() {
            let item = Item::Tool(s.clone(), t.clone());
            out.push(((Kind::Tool, format!("{s}/{t}")), item));
        }
        for m in self.modules.keys() {
            out.push(((Kind::Module, m.clone()), Item::Module(m.clone())));
        }
        for k in self.settings.keys() {
            out.push(((Kind::Setting, k.clone()), Item::Setting(k.clone())));
        }
        for n in self.tunnels.keys() {
            out.push(((Kind::Tunnel, n.clone()), Item::Tunnel(n.clone())));
        }
        out
    }

    /// The exported object a plan change is about.
    fn item(&self, kind: Kind, key: &str) -> Option<Item> {
        self.items()
            .into_iter()
            .find(|((k, name), _)| *k == kind && name == key)
            .map(|(_, item)| item)
    }

    /// Natural keys of everything exported.
    fn keys(&self) -> BTreeSet<(Kind, String)> {
        self.items().into_iter().map(|(key, _)| key).collect()
    }

    /// The variables values are read from, with what they hold.
    fn env(&self) -> Vec<EnvValue> {
        let mut out: Vec<EnvValue> = self
            .tunnels
            .values()
            .map(|t| EnvValue {
                var: t.env.clone(),
                object: format!("token of tunnel configuration `{}`", shown(&t.obj.name)),
            })
            .chain(self.settings.iter().filter_map(|(k, v)| match v {
                SettingOut::Env(var) => Some(EnvValue {
                    var: var.clone(),
                    object: format!("value of encrypted setting `{k}`"),
                }),
                SettingOut::Plain(_) => None,
            }))
            .collect();
        out.sort_by(|a, b| a.var.cmp(&b.var));
        out
    }
}

/// Exports `actual` as a manifest repository.
pub fn export(actual: &ActualState, opts: &Options) -> Result<Export, Error> {
    let r = &opts.reviewer;
    if r.trim().is_empty() || r.chars().count() > 255 || r.chars().any(char::is_control) {
        return Err(Error::BadReviewer(shown(r)));
    }
    settle(select(actual, opts)?, actual, opts)
}

/// Renders and checks a selection, dropping what fails until the rest passes.
fn settle(mut sel: Selection, actual: &ActualState, opts: &Options) -> Result<Export, Error> {
    // Each failed round drops at least one object, so this ends.
    for _ in 0..=sel.len() + 1 {
        let rendered = render(&sel, actual, opts)?;
        match check(&rendered, actual, &sel)? {
            Checked::Adoptable(plan) => return Ok(finish(sel, rendered.files, &plan)),
            Checked::Drop(items) => {
                for (item, why) in items {
                    sel.drop_item(&item, &format!("unexpected: {why}"));
                }
            }
        }
    }
    Err(Error::NotAdoptable("objects kept failing the check".into()))
}

/// Picks what can be exported; everything else is skipped or left with a reason.
fn select(actual: &ActualState, opts: &Options) -> Result<Selection, Error> {
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
        let default_timeout = sel
            .servers
            .get(server)
            .map_or(DEFAULT_SERVER_TIMEOUT_MS, |s| s.obj.default_timeout_ms);
        let object = format!("tool `{server}/{}`", shown(&t.obj.name));
        let shape = match t.obj.tool_type {
            ToolType::PythonCode => python_problem(&t.obj, default_timeout),
            ToolType::McpPassthrough => passthrough_problem(t, sources, default_timeout),
        };
        match shape {
            Err(why) => sel.skip(At::Server(server), object, why),
            Ok(shape) => {
                let key = t.obj.key();
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

/// Approved admin module rows become entries; tools' requests stay MCPBox's.
fn select_modules(actual: &ActualState, owned_ids: &HashSet<Uuid>, sel: &mut Selection) {
    let mut groups: BTreeMap<String, Vec<_>> = BTreeMap::new();
    for m in &actual.modules {
        let object = format!("module `{}`", shown(&m.obj.name));
        if m.tool_id.is_some() {
            let line = format!(
                "{} request of a tool for {object} (the Modules kind holds admin modules only)",
                m.status
            );
            sel.leave(At::Modules, "module request(s) of tools", line);
            continue;
        }
        if m.status != "approved" {
            let what = format!("{} module request(s)", m.status);
            let line = format!("{} admin request for {object}", m.status);
            sel.leave(At::Modules, &what, line);
            continue;
        }
        if let Some(why) = module_problem(&m.obj.name, &m.obj.justification) {
            sel.skip(At::Modules, object, why);
            continue;
        }
        groups.entry(m.obj.name.clone()).or_default().push(m);
    }
    for (name, rows) in groups {
        if let Some(row) = representative(actual, owned_ids, Kind::Module, &name, &rows, |r| r.id) {
            sel.modules.insert(name, row.obj.justification.clone());
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
    }
}

/// A text shown in a message or a header comment: one line, at most 80
/// characters, and never anything that looks like a credential.
fn shown(s: &str) -> String {
    if !secrets::scan(s).is_empty() {
        return "(looks like a credential; not shown)".into();
    }
    let mut out = one_line(&s.chars().take(80).collect::<String>());
    if s.chars().count() > 80 {
        out.push('…');
    }
    out
}

fn one_line(s: &str) -> String {
    s.chars()
        .flat_map(|c| {
            let escaped: Vec<char> = if c.is_control() {
                c.escape_default().collect()
            } else {
                vec![c]
            };
            escaped
        })
        .collect()
}

/// `s` in upper snake case for a variable name: ASCII letters and digits kept
/// (upper-cased), every run of anything else one `_`, none at either end;
/// `UNNAMED` when nothing is left. `Wizard: home` → `WIZARD_HOME`.
fn upper_snake(s: &str) -> String {
    let mut out = String::new();
    for c in s.chars() {
        if c.is_ascii_alphanumeric() {
            out.push(c.to_ascii_uppercase());
        } else if !out.is_empty() && !out.ends_with('_') {
            out.push('_');
        }
    }
    let trimmed = out.trim_end_matches('_');
    if trimmed.is_empty() {
        "UNNAMED".into()
    } else {
        trimmed.to_string()
    }
}

/// `want`, or `want_2`, `want_3`… when taken; records the one returned.
fn unique(used: &mut HashSet<String>, want: String) -> String {
    let mut name = want.clone();
    let mut n = 2;
    while used.contains(&name) {
        name = format!("{want}_{n}");
        n += 1;
    }
    used.insert(name.clone());
    name
}

fn credential_in(what: &str, text: Option<&str>) -> Option<String> {
    let f = secrets::scan(text?).into_iter().next()?;
    Some(format!(
        "its {what} holds what looks like {} (git must hold names only)",
        f.what
    ))
}

fn too_long(what: &str, text: Option<&str>, max: usize) -> Option<String> {
    let n = text?.chars().count();
    (n > max).then(|| format!("its {what} is {n} characters, more than MCPBox's {max}"))
}

fn timeout_problem(what: &str, t: i32) -> Option<String> {
    (!limits::TIMEOUT.contains(&i64::from(t)))
        .then(|| format!("its {what} {t} ms is outside 1000 to 300000"))
}

/// Why a server name cannot be a manifest name.
fn name_problem(name: &str) -> Option<&'static str> {
    if !is_snake_name(name) || name.len() > limits::NAME {
        Some("its name does not match ^[a-z][a-z0-9_]*$ (manifest server names are MCP tool-name prefixes)")
    } else if name.contains("__") {
        Some("its name contains `__`, which splits MCP tool names")
    } else if name.starts_with("mcpbox_") {
        Some("its name starts with `mcpbox_`, which MCPBox's gateway reserves")
    } else {
        None
    }
}

/// Why a free-form MCPBox name (sources, tunnels) cannot be a manifest name, as
/// `validate` checks it: 1 to 255 characters, not only white space.
fn free_name_problem(name: &str) -> Option<String> {
    let n = name.chars().count();
    if n == 0 || n > limits::NAME || name.trim().is_empty() {
        return Some(format!(
            "its name must be 1 to 255 characters, not only white space (it is {n})"
        ));
    }
    (!secrets::scan(name).is_empty()).then(|| "its name looks like a credential".to_string())
}

/// Whether `name` is an HTTP header field name (RFC 9110 `token`), as
/// `validate` requires of `auth.header`.
fn is_header_name(name: &str) -> bool {
    !name.is_empty()
        && name.chars().count() <= limits::NAME
        && name
            .chars()
            .all(|ch| ch.is_ascii_alphanumeric() || "!#$%&'*+-.^_`|~".contains(ch))
}

fn server_problem(s: &Server) -> Option<String> {
    let d = s.description.as_deref();
    name_problem(&s.name)
        .map(str::to_string)
        .or_else(|| too_long("description", d, limits::DESCRIPTION))
        .or_else(|| credential_in("description", d))
        .or_else(|| timeout_problem("default timeout", s.default_timeout_ms))
}

fn secret_problem(name: &str, description: Option<&str>) -> Option<String> {
    if secrets::name_looks_like_value(name) {
        return Some("its name looks like a secret value".into());
    }
    if !is_secret_name(name) || name.len() > limits::NAME {
        return Some("its name does not match ^[A-Z][A-Z0-9_]*$".into());
    }
    too_long("description", description, limits::DESCRIPTION)
        .or_else(|| credential_in("description", description))
}

/// Why an external source cannot be a manifest (MCPBOX.md §6.1 as `validate`
/// narrows it). `exported_secret` says whether a secret of its server is exported.
fn source_problem(s: &Source, exported_secret: impl Fn(&str) -> bool) -> Option<String> {
    if s.auth_type == AuthType::Oauth {
        return Some("it authenticates with OAuth, whose tokens come from MCPBox's OAuth flow and cannot be managed from git".into());
    }
    if let Some(why) = free_name_problem(&s.name) {
        return Some(why);
    }
    let url = s.url.as_str();
    if url.trim().is_empty() {
        return Some("its url is empty".into());
    }
    if let Some(why) =
        too_long("url", Some(url), limits::URL).or_else(|| credential_in("url", Some(url)))
    {
        return Some(why);
    }
    let label = s.auth_type.label();
    match (&s.auth_type, &s.auth_secret) {
        (AuthType::None, Some(_)) => {
            return Some("its auth type is `none` but it names an auth secret, which a manifest cannot state".into());
        }
        (AuthType::Bearer | AuthType::Header, None) => {
            return Some(format!("its auth type is `{label}` without an auth secret (MCPBox then sends no header), and a manifest must name one"));
        }
        (AuthType::Bearer | AuthType::Header, Some(secret)) if !exported_secret(secret) => {
            return Some(format!(
                "its auth secret `{}` is not an exported secret of its server",
                shown(secret)
            ));
        }
        _ => {}
    }
    match &s.auth_header {
        Some(_) if s.auth_type != AuthType::Header => Some(format!(
            "it has an auth header name but auth type `{label}`, which a manifest cannot state"
        )),
        Some(h) if !is_header_name(h) => Some(format!(
            "its auth header `{}` is not an HTTP header name",
            shown(h)
        )),
        _ => None,
    }
}

fn tunnel_problem(t: &TunnelRow) -> Option<String> {
    if let Some(why) = free_name_problem(&t.obj.name) {
        return Some(why);
    }
    if t.ciphertext.is_none() {
        return Some(
            "it has no token, and a manifest must give one (MCPBox requires a token)".into(),
        );
    }
    let d = t.obj.description.as_deref();
    let url = t.obj.public_url.as_deref();
    too_long("description", d, limits::DESCRIPTION)
        .or_else(|| credential_in("description", d))
        .or_else(|| too_long("public URL", url, limits::PUBLIC_URL))
        .or_else(|| credential_in("public URL", url))
}

fn network_problem(n: &Network) -> Option<String> {
    if let Some(p) = host_problem(&n.host) {
        return Some(one_line(&p));
    }
    if n.port.is_some_and(|p| !(1..=65535).contains(&p)) {
        return Some("its port is outside 1 to 65535".into());
    }
    if n.justification.trim().is_empty() {
        return Some("its justification is empty".into());
    }
    credential_in("justification", Some(&n.justification))
}

fn module_problem(name: &str, justification: &str) -> Option<String> {
    if !is_module_name(name) || name.len() > limits::MODULE_NAME {
        return Some("its name is not a dotted Python identifier of at most 128 characters (the Modules kind holds admin modules)".into());
    }
    if justification.trim().is_empty() {
        return Some("its justification is empty".into());
    }
    credential_in("justification", Some(justification))
}

fn fail(why: Option<String>) -> Result<(), String> {
    why.map_or(Ok(()), Err)
}

/// What any tool needs to be a manifest: a name, a description and a timeout a
/// manifest can state.
fn tool_common_problem(t: &Tool, server_timeout: i32) -> Result<(), String> {
    if !is_snake_name(&t.name) || t.name.len() > limits::NAME {
        return Err("its name does not match ^[a-z][a-z0-9_]*$".into());
    }
    let d = t.description.as_deref();
    fail(too_long("description", d, limits::DESCRIPTION))?;
    fail(credential_in("description", d))?;
    match t.timeout_ms {
        Some(ms) => fail(timeout_problem("timeout", ms)),
        // desired.rs writes an explicit server default into every tool without
        // timeoutMs (MCPBox's sandbox ignores server defaults): NULL has no manifest.
        None if server_timeout != DEFAULT_SERVER_TIMEOUT_MS => Err(format!("its timeout_ms is NULL while its server's default is {server_timeout} ms, and a manifest tool without timeoutMs gets that default written; set the tool's timeout in MCPBox (or the server's default to 30000) and export again")),
        None => Ok(()),
    }
}

/// Why an explicit `inputSchema` cannot be written.
fn schema_problem(schema: &Json) -> Result<(), String> {
    if !schema.is_object() {
        return Err("its input_schema is not a JSON object, which a manifest cannot state".into());
    }
    // root mapping, spec and inputSchema itself are the first levels.
    if depth(schema) + 2 >= MAX_DEPTH {
        return Err("its input_schema is nested too deeply for a manifest".into());
    }
    let mut texts = Vec::new();
    strings(schema, &mut texts);
    for s in texts {
        fail(credential_in("input_schema", Some(s)))?;
    }
    Ok(())
}

/// Why a Python tool cannot be a manifest, or what its manifest states.
fn python_problem(t: &Tool, server_timeout: i32) -> Result<Shape, String> {
    tool_common_problem(t, server_timeout)?;
    if t.dependencies.len() > limits::DEPENDENCIES {
        return Err(format!(
            "it has {} dependencies, more than MCPBox's {}",
            t.dependencies.len(),
            limits::DEPENDENCIES
        ));
    }
    for dep in &t.dependencies {
        if dep.trim().is_empty() || dep.chars().count() > limits::NAME {
            return Err("a dependency is empty or longer than 255 characters".into());
        }
        fail(credential_in("dependencies", Some(dep)))?;
    }
    let Some(code) = t.python_code.as_deref() else {
        return Err("its python_code is NULL".into());
    };
    let n = code.chars().count();
    if n > limits::CODE {
        return Err(format!(
            "its code is {n} characters, more than MCPBox's {}",
            limits::CODE
        ));
    }
    fail(credential_in("code", Some(code)))?;
    let v = crate::python::validate(code);
    if !v.valid {
        let why = v.error.clone().unwrap_or_else(|| "invalid Python".into());
        return Err(format!("MCPBox would refuse its code: {}", one_line(&why)));
    }
    if !v.has_main {
        return Err("its code has no `async def main(...)`".into());
    }
    let schema = t.input_schema != crate::python::input_schema(&v);
    if schema {
        schema_problem(&t.input_schema)?;
    }
    Ok(Shape {
        description: true,
        schema,
    })
}

/// Why a pass-through tool cannot be a manifest, or what its manifest states.
///
/// Without `description`/`inputSchema`, a plan takes the ones its source
/// discovered (MCPBOX.md §4.4), else the row's own; a new row without discovery
/// gets no description and an empty schema. A field is left out only when every
/// database derives the stored value from that: this one, and one rebuilt from
/// the export (whose source has not discovered anything yet). So a description
/// is always written when set, and a schema unless it is the empty one on both.
fn passthrough_problem(
    row: &ToolRow,
    sources: &HashMap<Uuid, &SourceRow>,
    server_timeout: i32,
) -> Result<Shape, String> {
    let t = &row.obj;
    tool_common_problem(t, server_timeout)?;
    let Some(source_id) = row.external_source_id else {
        return Err("its external source was deleted in MCPBox (external_source_id is NULL): it cannot run, and a manifest must name a source; delete the tool in MCPBox or import it again from a source".into());
    };
    let Some(source) = sources.get(&source_id) else {
        return Err("its external source is not exported".into());
    };
    if source.server_id != row.server_id {
        return Err(
            "its external source belongs to another server, which a manifest cannot state".into(),
        );
    }
    if t.python_code.is_some() || !t.dependencies.is_empty() {
        return Err("it has python_code or code_dependencies, which a pass-through tool's manifest cannot state".into());
    }
    let Some(external) = t.external_tool_name.as_deref() else {
        return Err("its external_tool_name is NULL".into());
    };
    let n = external.chars().count();
    if n == 0 || n > limits::NAME {
        return Err(format!(
            "its external_tool_name must be 1 to 255 characters (it is {n})"
        ));
    }
    fail(credential_in("external tool name", Some(external)))?;
    let found = source.discovered(external);
    let discovered_description = found
        .and_then(|f| f.get("description"))
        .and_then(Json::as_str);
    if t.description.is_none() && discovered_description.is_some() {
        return Err("its description is NULL while its source's discovery lists one, and a manifest without a description takes that one".into());
    }
    if t.input_schema.is_null() {
        return Err("its input_schema is NULL, which a manifest cannot state (without inputSchema a plan takes the discovered or an empty schema)".into());
    }
    // MCPBox's schema of a tool nothing describes (see `plan::diff::sources`).
    let empty = json!({"type": "object", "properties": {}});
    let discovered_schema = found.map(|f| {
        f.get("input_schema")
            .filter(|s| !s.is_null())
            .cloned()
            .unwrap_or_else(|| json!({}))
    });
    let schema = t.input_schema != empty || discovered_schema.is_some_and(|s| s != empty);
    if schema {
        schema_problem(&t.input_schema)?;
    }
    Ok(Shape {
        description: t.description.is_some(),
        schema,
    })
}

fn depth(v: &Json) -> usize {
    match v {
        Json::Array(a) => 1 + a.iter().map(depth).max().unwrap_or(0),
        Json::Object(m) => 1 + m.values().map(depth).max().unwrap_or(0),
        _ => 0,
    }
}

fn strings<'a>(v: &'a Json, out: &mut Vec<&'a str>) {
    match v {
        Json::String(s) => out.push(s),
        Json::Array(a) => a.iter().for_each(|x| strings(x, out)),
        Json::Object(m) => m.values().for_each(|x| strings(x, out)),
        _ => {}
    }
}

fn server_dir(server: &str) -> String {
    format!("servers/{server}")
}

fn tool_path(server: &str, tool: &str, ext: &str) -> String {
    format!("servers/{server}/tools/{tool}.{ext}")
}

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
    let mut out = String::from("# Exported from MCPBox by `mcpbox-gitops export`.\n");
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
struct Rendered {
    files: FileSet,
    owners: BTreeMap<String, Item>,
}

/// The files of a selection.
fn render(sel: &Selection, actual: &ActualState, opts: &Options) -> Result<Rendered, Error> {
    let mut files = FileSet::empty("export");
    let mut owners: BTreeMap<String, Item> = BTreeMap::new();
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
        let path = format!("{}/server.yaml", server_dir(name));
        let text = with_header(&s.notes, &yaml(&path, &doc)?);
        files.insert(path, text);
    }

    // Source names are free-form: files are named after MCPBox's sanitised form,
    // numbered on a clash within the server.
    let mut used: HashSet<String> = HashSet::new();
    for ((server, name), s) in &sel.sources {
        let stem = format!("{}/sources/{}", server_dir(server), sanitize(name));
        let path = format!("{}.yaml", unique(&mut used, stem));
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
        let spec = ToolSpec {
            tool_type: passthrough.then_some(ToolType::McpPassthrough),
            description: t
                .shape
                .description
                .then(|| t.obj.description.clone())
                .flatten(),
            timeout_ms: t.obj.timeout_ms.map(i64::from),
            enabled: (!t.obj.enabled).then_some(false),
            code_file: (!passthrough).then(|| format!("{name}.py")),
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
            None => format!("approval state in MCPBox: {}; exported without a pin, so that state stays MCPBox's (approve in MCPBox, or pin with `mcpbox-gitops approve`)", t.status.label()),
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
        let path = tool_path(server, name, "yaml");
        let text = with_header(&notes, &yaml(&path, &doc)?);
        files.insert(path.clone(), text);
        owners.insert(path, item.clone());
        if !passthrough {
            let code = t.obj.python_code.clone().unwrap_or_default();
            let py = tool_path(server, name, "py");
            files.insert(py.clone(), code);
            owners.insert(py, item);
        }
        if let Some(pin) = &t.pin {
            pins.insert(pin.tool.clone(), pin.clone());
        }
    }

    if !sel.modules.is_empty() || !sel.module_notes.is_empty() {
        let mut spec = ModulesSpec::default();
        for (name, justification) in &sel.modules {
            spec.modules.push(ModuleEntry {
                name: name.clone(),
                justification: justification.clone(),
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

    let mut used: HashSet<String> = HashSet::new();
    for (name, t) in &sel.tunnels {
        let stem = format!("{TUNNELS_DIR}/{}", sanitize(name));
        let path = format!("{}.yaml", unique(&mut used, stem));
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

enum Checked {
    Adoptable(Box<Plan>),
    Drop(Vec<(Item, String)>),
}

/// Loads, validates and plans the files against the state they came from.
/// Values are not read (no key): a stored tunnel token or encrypted setting
/// counts as current, as in a `plan` without `MCPBOX_ENCRYPTION_KEY`.
fn check(rendered: &Rendered, actual: &ActualState, sel: &Selection) -> Result<Checked, Error> {
    let Rendered { files, owners } = rendered;
    let mut drop = Vec::new();
    let mut total = 0u64;
    for (path, entry) in &files.files {
        let Entry::Bytes(bytes) = entry else { continue };
        let size = bytes.len() as u64;
        total += size;
        if size > MAX_FILE_BYTES {
            match owners.get(path) {
                Some(item) => drop.push((
                    item.clone(),
                    "its manifest is larger than 1 MiB".to_string(),
                )),
                None => {
                    return Err(Error::TooLarge {
                        size,
                        limit: MAX_FILE_BYTES,
                    })
                }
            }
        }
    }
    if total > MAX_TOTAL_BYTES {
        return Err(Error::TooLarge {
            size: total,
            limit: MAX_TOTAL_BYTES,
        });
    }
    if !drop.is_empty() {
        return Ok(Checked::Drop(drop));
    }
    let desired = match desired::build(files) {
        Ok(d) => d,
        Err(diags) => {
            let mut fatal = Vec::new();
            for d in diags {
                match owners.get(&d.file) {
                    Some(item) => drop.push((
                        item.clone(),
                        format!("its manifest does not validate: {}", d.message),
                    )),
                    None => fatal.push(d.to_string()),
                }
            }
            if !fatal.is_empty() {
                return Err(Error::NotLoadable(one_line(&fatal.join("; "))));
            }
            return Ok(Checked::Drop(drop));
        }
    };
    let plan = diff::diff(&desired, actual)?;
    for c in plan.changes.iter().filter(|c| !adoption_only(c)) {
        let why = format!("a plan would {} it{}", verb(c.action), fields_of(c));
        match sel.item(c.kind, &c.key) {
            Some(item) => drop.push((item, why)),
            None => {
                return Err(Error::NotAdoptable(format!(
                    "{} {}: {why}",
                    c.kind.as_str(),
                    shown(&c.key)
                )))
            }
        }
    }
    Ok(if drop.is_empty() {
        Checked::Adoptable(Box::new(plan))
    } else {
        Checked::Drop(drop)
    })
}

fn adoption_only(c: &Change) -> bool {
    c.action == Action::Adopt
        && c.fields.is_empty()
        && c.tool
            .as_ref()
            .is_none_or(|t| t.versions.is_empty() && t.approval.write.is_none())
}

fn verb(a: Action) -> &'static str {
    match a {
        Action::Adopt => "adopt and change",
        Action::Create => "create",
        Action::Update => "update",
        Action::Delete => "delete",
    }
}

fn fields_of(c: &Change) -> String {
    let mut names: Vec<&str> = c.fields.iter().map(|f| f.field.as_str()).collect();
    if c.tool.as_ref().is_some_and(|t| t.approval.write.is_some()) {
        names.push("approval");
    }
    if names.is_empty() {
        String::new()
    } else {
        format!(" ({})", names.join(", "))
    }
}

fn finish(sel: Selection, files: FileSet, plan: &Plan) -> Export {
    let mut notes: Vec<String> = sel
        .left
        .iter()
        .map(|(what, n)| {
            format!("left to MCPBox: {n} {what} (listed in the exported files' header comments)")
        })
        .collect();
    notes.extend(sel.notes.iter().cloned());
    for c in &plan.caches {
        let name = match &c.server {
            Some(s) => format!("servers.allowed_hosts of {s}"),
            None => "global_config.allowed_modules".to_string(),
        };
        notes.push(format!("{name} does not match MCPBox's approved requests; the first apply recomputes it (+{} -{})", c.added.len(), c.removed.len()));
    }
    notes.extend(plan.notes.iter().map(|n| format!("plan: {n}")));
    let counts = Counts {
        servers: sel.servers.len(),
        tools: sel.tools.len(),
        pinned: sel.tools.values().filter(|t| t.pin.is_some()).count(),
        secrets: sel.servers.values().map(|s| s.secrets.len()).sum(),
        network: sel.servers.values().map(|s| s.network.len()).sum(),
        modules: sel.modules.len(),
        settings: sel.settings.len(),
        sources: sel.sources.len(),
        tunnels: sel.tunnels.len(),
    };
    Export {
        env: sel.env(),
        files,
        skipped: sel.skipped,
        notes,
        counts,
        adoptions: plan.summary.adopt,
        stale_caches: plan.caches.len(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::{self, Aad, Key};
    use crate::state::{ModuleRow, NetworkRow, Owned, SecretRow, ServerRow, SettingRow};
    use crate::values::{Resolved, ValueSource};

    const TOKEN: &str = "ghp_aB3dE5gH7jK9mN1pQ3sT5vW7yZ9bC1dE3fG5";
    const KEY: &str = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

    fn id(n: u128) -> Uuid {
        Uuid::from_u128(n)
    }

    fn server(n: u128, name: &str, timeout: i32) -> ServerRow {
        ServerRow {
            id: id(n),
            obj: Server {
                name: name.into(),
                description: Some(format!("{name} helpers")),
                default_timeout_ms: timeout,
            },
            status: "imported".into(),
            allowed_hosts: Vec::new(),
            cascade: Default::default(),
        }
    }

    fn tool(n: u128, server: &ServerRow, name: &str, code: &str, status: Status) -> ToolRow {
        let schema = crate::python::input_schema(&crate::python::validate(code));
        ToolRow {
            id: id(n),
            server_id: server.id,
            obj: Tool {
                server: server.obj.name.clone(),
                name: name.into(),
                description: Some(format!("the {name} tool")),
                enabled: true,
                timeout_ms: Some(5000),
                tool_type: ToolType::PythonCode,
                python_code: Some(code.into()),
                dependencies: Vec::new(),
                input_schema: schema,
                external_source: None,
                external_tool_name: None,
            },
            current_version: 1,
            approval_status: status,
            approval_requested_at: None,
            approved_at: None,
            approved_by: None,
            rejection_reason: None,
            created_by: None,
            publish_notes: None,
            external_source_id: None,
            updated_at: chrono::Utc::now(),
            cascade: Default::default(),
        }
    }

    fn network(
        n: u128,
        server: &ServerRow,
        tool: Option<&ToolRow>,
        host: &str,
        status: &str,
    ) -> NetworkRow {
        NetworkRow {
            id: id(n),
            server_id: server.id,
            tool_id: tool.map(|t| t.id),
            obj: Network {
                server: server.obj.name.clone(),
                tool: tool.map(|t| t.obj.name.clone()),
                host: host.into(),
                port: Some(443),
                justification: format!("reach {host}"),
            },
            status: status.into(),
        }
    }

    fn module(n: u128, name: &str, tool: Option<Uuid>, status: &str) -> ModuleRow {
        ModuleRow {
            id: id(n),
            tool_id: tool,
            obj: crate::model::Module {
                name: name.into(),
                justification: format!("needs {name}"),
            },
            status: status.into(),
        }
    }

    // Built through serde: these rows gain fields as secret values are managed.
    fn secret(n: u128, server: &ServerRow, name: &str, has_value: bool) -> SecretRow {
        serde_json::from_value(json!({
            "id": id(n), "server_id": server.id, "has_value": has_value,
            "obj": {"server": server.obj.name, "name": name, "description": "a token"},
        }))
        .unwrap()
    }

    fn setting(n: u128, key: &str, value: &str) -> SettingRow {
        serde_json::from_value(json!({
            "id": id(n), "encrypted": false, "obj": {"key": key, "value": value},
        }))
        .unwrap()
    }

    fn key() -> Key {
        Key::parse(KEY).unwrap()
    }

    /// An encrypted setting as `state::read` gives it: the label as its value and
    /// the ciphertext aside.
    fn encrypted_setting(n: u128, key_name: &str, plaintext: &str) -> SettingRow {
        let mut row: SettingRow = serde_json::from_value(json!({
            "id": id(n), "encrypted": true,
            "obj": {"key": key_name, "value": crate::values::ENCRYPTED},
        }))
        .unwrap();
        row.ciphertext =
            Some(crypto::encrypt_b64(&key(), plaintext, &Aad::setting(key_name)).unwrap());
        row
    }

    /// Every kind, every approval state, and the cases that cannot be exported.
    fn state() -> ActualState {
        let svc = server(1, "svc", 20000);
        let bad = server(2, "My Server", 30000);
        let code = "async def main(city: str, days: int | None = None):\n    return city\n";
        let mut ok = tool(10, &svc, "ok", code, Status::Approved);
        ok.obj.enabled = false;
        ok.obj.dependencies = vec!["httpx".into()];
        ok.approved_by = Some("alice@example.com".into());
        ok.approved_at = Some(chrono::Utc::now());
        let mut draft = tool(11, &svc, "draft", code, Status::Draft);
        draft.obj.input_schema = json!({"type": "object", "properties": {"city": {"type": "string", "description": "a city"}}, "required": null});
        let rejected = tool(12, &svc, "rejected", code, Status::Rejected);
        let mut no_timeout = tool(13, &svc, "no_timeout", code, Status::PendingReview);
        no_timeout.obj.timeout_ms = None;
        let mut proxy = tool(14, &svc, "proxy", code, Status::Approved);
        proxy.obj.tool_type = ToolType::McpPassthrough;
        proxy.obj.python_code = None;
        let leaky = tool(
            15,
            &svc,
            "leaky",
            &format!("async def main():\n    return '{TOKEN}'\n"),
            Status::Draft,
        );
        let other = tool(16, &bad, "other", code, Status::Draft);
        let mut net = vec![
            network(20, &svc, None, "api.example.com", "approved"),
            network(21, &svc, Some(&ok), "ok.example.com", "approved"),
            network(22, &svc, Some(&draft), "llm.example.com", "pending"),
            network(23, &svc, Some(&proxy), "proxy.example.com", "approved"),
            network(24, &svc, None, "api.example.com", "approved"),
        ];
        net[4].obj.justification = "a duplicate".into();
        let mut svc = svc;
        svc.allowed_hosts = crate::rules::sync::allowed_hosts(
            net.iter()
                .filter(|n| n.status == "approved")
                .map(|n| (n.obj.host.as_str(), n.obj.port)),
        );
        // Field by field on a default: the state gains kinds as the reconciler does.
        let mut state = ActualState {
            connected: true,
            ..ActualState::default()
        };
        state.servers = vec![svc.clone(), bad.clone()];
        state.tools = vec![ok, draft, rejected, no_timeout, proxy, leaky, other];
        state.secrets = vec![
            secret(30, &svc, "API_TOKEN", true),
            secret(31, &svc, "lower", false),
        ];
        state.network = net;
        state.modules = vec![
            module(40, "ipaddress", None, "approved"),
            module(41, "yaml", None, "rejected"),
            module(42, "requests", Some(id(11)), "approved"),
        ];
        state.settings = vec![
            setting(50, "tool_approval_mode", "require_approval"),
            setting(51, "log_retention_days", "thirty"),
            encrypted_setting(52, "mcp_rate_limit_rpm", "600"),
        ];
        state
    }

    fn source(n: u128, server: &ServerRow, name: &str, auth: (&str, Option<&str>)) -> SourceRow {
        serde_json::from_value(json!({
            "id": id(n), "server_id": server.id,
            "obj": {"server": server.obj.name, "name": name, "url": "https://mcp.example.com/mcp",
                    "transport": "streamable_http", "auth_type": auth.0, "auth_secret": auth.1,
                    "auth_header": null, "status": "active"},
            "status": "active", "discovered_tools_cache": null,
        }))
        .unwrap()
    }

    fn passthrough(
        n: u128,
        server: &ServerRow,
        name: &str,
        source: &SourceRow,
        external: &str,
        status: Status,
    ) -> ToolRow {
        let mut t = tool(n, server, name, "", status);
        t.obj.tool_type = ToolType::McpPassthrough;
        t.obj.python_code = None;
        t.obj.description = None;
        t.obj.input_schema = json!({"type": "object", "properties": {}});
        t.obj.external_source = Some(source.obj.name.clone());
        t.obj.external_tool_name = Some(external.into());
        t.external_source_id = Some(source.id);
        t
    }

    fn tunnel(n: u128, name: &str, active: bool, token: Option<&str>) -> TunnelRow {
        TunnelRow {
            id: id(n),
            obj: Tunnel {
                name: name.into(),
                description: Some(format!("{name} tunnel")),
                public_url: Some(format!("https://{}.example.com", sanitize(name))),
                active,
                token: token.map(|_| crate::values::ENCRYPTED.to_string()),
            },
            ciphertext: token
                .map(|t| crypto::encrypt_b64(&key(), t, &Aad::tunnel_token()).unwrap()),
        }
    }

    /// `state()` plus external sources, pass-through tools and tunnels, with the
    /// cases that cannot be exported.
    fn sourced() -> ActualState {
        let mut state = state();
        let svc = state.servers[0].clone();
        let mut gh = source(60, &svc, "GitHub MCP", ("bearer", Some("API_TOKEN")));
        gh.status = "error".into();
        gh.obj.transport = Transport::Sse;
        gh.discovered_tools_cache = Some(json!([
            {"name": "search_code", "description": "Search code", "input_schema": {"type": "object", "properties": {"q": {"type": "string"}}}},
            {"name": "bare", "description": null, "input_schema": null},
        ]));
        let mut plain = source(61, &svc, "plain", ("none", None));
        plain.obj.status = SourceStatus::Disabled;
        plain.status = "disabled".into();
        let oauth = source(62, &svc, "oauth", ("oauth", None));
        let twin_a = source(63, &svc, "twin", ("none", None));
        let twin_b = source(64, &svc, "twin", ("none", None));
        let lower = source(65, &svc, "lower", ("bearer", Some("lower")));

        let mut search = passthrough(70, &svc, "search", &gh, "search_code", Status::Approved);
        search.obj.description = Some("Search code".into());
        search.obj.input_schema = gh.discovered("search_code").unwrap()["input_schema"].clone();
        search.approved_by = Some("carol@example.com".into());
        let mut bare = passthrough(71, &svc, "bare", &gh, "bare", Status::Draft);
        bare.obj.input_schema = json!({});
        let mut undiscovered = passthrough(72, &svc, "undiscovered", &plain, "x", Status::Draft);
        undiscovered.obj.enabled = false;
        let via_oauth = passthrough(73, &svc, "via_oauth", &oauth, "x", Status::Draft);
        let mut no_schema = passthrough(74, &svc, "no_schema", &gh, "search_code", Status::Draft);
        no_schema.obj.description = Some("Search code".into());
        no_schema.obj.input_schema = serde_json::Value::Null;
        let via_twin = passthrough(75, &svc, "via_twin", &twin_a, "x", Status::Draft);

        state.sources = vec![gh, plain, oauth, twin_a, twin_b, lower];
        state
            .tools
            .extend([search, bare, undiscovered, via_oauth, no_schema, via_twin]);
        state.tunnels = vec![
            tunnel(80, "prod", true, Some("prod-token-0123456789")),
            tunnel(81, "PROD", false, Some("other-token-0123456789")),
            tunnel(82, "Wizard: home", false, Some("home-token-0123456789")),
            tunnel(83, "   ", false, Some("blank-token-0123456789")),
            tunnel(84, "tokenless", false, None),
        ];
        state
    }

    /// The plaintext behind each variable of `sourced()`'s export.
    fn plaintext(var: &str) -> Option<&'static str> {
        Some(match var {
            // `PROD` sorts before `prod`, so it takes the plain name.
            "MCPBOX_TUNNEL_TOKEN_PROD" => "other-token-0123456789",
            "MCPBOX_TUNNEL_TOKEN_PROD_2" => "prod-token-0123456789",
            "MCPBOX_TUNNEL_TOKEN_WIZARD_HOME" => "home-token-0123456789",
            "MCPBOX_SETTING_MCP_RATE_LIMIT_RPM" => "600",
            _ => return None,
        })
    }

    fn text<'a>(e: &'a Export, path: &str) -> &'a str {
        match e.files.get(path) {
            Some(Entry::Bytes(b)) => std::str::from_utf8(b).unwrap(),
            other => panic!("{path}: {other:?}\n{:#?}", e.files.files.keys()),
        }
    }

    #[test]
    fn exports_every_kind_and_plans_as_adoptions_only() {
        let actual = state();
        let e = export(&actual, &Options::default()).unwrap();
        let desired = desired::build(&e.files).unwrap();
        let plan = diff::diff(&desired, &actual).unwrap();
        assert!(
            plan.changes.iter().all(adoption_only),
            "{:#?}",
            plan.changes
        );
        assert_eq!(
            (plan.summary.add, plan.summary.change, plan.summary.destroy),
            (0, 0, 0)
        );
        // svc, API_TOKEN, ok, draft, rejected, 2 network entries, ipaddress, 2 settings.
        assert_eq!(
            plan.summary.adopt,
            10,
            "{:#?}",
            plan.changes.iter().map(|c| &c.key).collect::<Vec<_>>()
        );
        assert!(plan.caches.is_empty(), "{:?}", plan.caches);
        assert_eq!(e.adoptions, 10);
        assert_eq!(
            e.counts,
            Counts {
                servers: 1,
                tools: 3,
                pinned: 1,
                secrets: 1,
                network: 2,
                modules: 1,
                settings: 2,
                sources: 0,
                tunnels: 0,
            }
        );

        let server = text(&e, "servers/svc/server.yaml");
        assert!(server.contains("defaultTimeoutMs: 20000"), "{server}");
        assert!(
            server.contains("name: API_TOKEN")
                && !server.contains("valueFrom")
                && !server.contains("null"),
            "{server}"
        );
        assert!(
            server.contains(
                "left to MCPBox: pending network request `svc/llm.example.com:443 via draft`"
            ),
            "{server}"
        );
        // Of identical approved rows, the one the diff adopts gives the justification.
        assert!(
            server.contains("reach api.example.com") && !server.contains("a duplicate"),
            "{server}"
        );
        let ok = text(&e, "servers/svc/tools/ok.yaml");
        for want in [
            "timeoutMs: 5000",
            "enabled: false",
            "codeFile: ok.py",
            "- httpx",
        ] {
            assert!(ok.contains(want), "{want}: {ok}");
        }
        assert!(!ok.contains("inputSchema"), "{ok}");
        let draft = text(&e, "servers/svc/tools/draft.yaml");
        assert!(
            draft.contains("inputSchema") && draft.contains("required: null"),
            "{draft}"
        );
        assert!(draft.contains("approval state in MCPBox: draft"), "{draft}");
        assert_eq!(
            text(&e, "servers/svc/tools/ok.py"),
            actual.tools[0].obj.python_code.as_deref().unwrap()
        );

        let pins = approvals::parse(APPROVALS_FILE, text(&e, APPROVALS_FILE)).unwrap();
        assert_eq!(pins.keys().collect::<Vec<_>>(), ["svc/ok"]);
        assert_eq!(pins["svc/ok"].sha256, actual.tools[0].obj.content_hash());
        assert_eq!(pins["svc/ok"].approved_by, "alice@example.com");
        assert_eq!(desired.policy.approval.mode, ApprovalMode::Pinned);
        assert!(desired.policy.prune);
        let settings = text(&e, SETTINGS_FILE);
        assert!(
            settings.contains("tool_approval_mode: require_approval"),
            "{settings}"
        );
        // The encrypted setting is read from a variable, named in the header.
        assert!(
            settings.contains(
                "mcp_rate_limit_rpm:\n    valueFrom:\n      env: MCPBOX_SETTING_MCP_RATE_LIMIT_RPM\n"
            ) && settings.contains("# `mcp_rate_limit_rpm` is stored encrypted"),
            "{settings}"
        );
        assert_eq!(
            e.env,
            [EnvValue {
                var: "MCPBOX_SETTING_MCP_RATE_LIMIT_RPM".into(),
                object: "value of encrypted setting `mcp_rate_limit_rpm`".into()
            }]
        );
        assert_eq!(
            desired.value_sources.get("mcp_rate_limit_rpm"),
            Some(&ValueSource::Env(
                "MCPBOX_SETTING_MCP_RATE_LIMIT_RPM".into()
            ))
        );
        assert!(text(&e, MODULES_FILE).contains("name: ipaddress"));

        let skipped: Vec<&str> = e.skipped.iter().map(|s| s.object.as_str()).collect();
        for want in [
            "server `My Server`",
            "secret `svc/lower`",
            "tool `svc/no_timeout`",
            "tool `svc/proxy`",
            "tool `svc/leaky`",
            "network entry `svc/proxy.example.com:443 via proxy`",
            "setting `log_retention_days`",
        ] {
            assert!(skipped.contains(&want), "{want} not in {skipped:#?}");
        }
        assert_eq!(skipped.len(), 7, "{skipped:#?}");
        let proxy = e
            .skipped
            .iter()
            .find(|s| s.object.contains("proxy"))
            .unwrap();
        assert!(
            proxy.reason.contains("external_source_id is NULL"),
            "{}",
            proxy.reason
        );
        let leaky = e
            .skipped
            .iter()
            .find(|s| s.object.contains("leaky"))
            .unwrap();
        assert!(leaky.reason.contains("GitHub token"), "{}", leaky.reason);
        for (path, entry) in &e.files.files {
            let Entry::Bytes(b) = entry else { continue };
            let t = String::from_utf8_lossy(b);
            let ciphertext = actual.settings[2].ciphertext.as_deref().unwrap();
            assert!(
                !t.contains(TOKEN) && !t.contains(ciphertext) && !t.contains("(encrypted)"),
                "{path} leaks a value"
            );
        }
        assert!(
            e.notes.iter().any(|n| n.contains("1 secret value(s)")),
            "{:?}",
            e.notes
        );
    }

    #[test]
    fn export_is_deterministic() {
        let actual = state();
        let a = export(&actual, &Options::default()).unwrap();
        let b = export(&actual, &Options::default()).unwrap();
        assert_eq!(a.files.files, b.files.files);
    }

    #[test]
    fn duplicate_server_names_are_refused() {
        let mut actual = state();
        actual.servers.push(server(3, "svc", 30000));
        let err = export(&actual, &Options::default()).unwrap_err();
        assert!(err.to_string().contains("`svc` (2 servers)"), "{err}");
        let opts = Options {
            reviewer: "a\nb".into(),
        };
        assert!(matches!(
            export(&state(), &opts),
            Err(Error::BadReviewer(_))
        ));
    }

    #[test]
    fn owned_objects_left_out_turn_pruning_off() {
        let mut actual = state();
        let owned = Owned {
            row_id: id(13),
            applied_hash: "h".into(),
            pin: None,
        };
        actual
            .ownership
            .insert((Kind::Tool, "svc/no_timeout".into()), owned);
        let e = export(&actual, &Options::default()).unwrap();
        let policy = text(&e, POLICY_FILE);
        assert!(
            policy.contains("prune: false") && policy.contains("tool svc/no_timeout"),
            "{policy}"
        );
        let plan = diff::diff(&desired::build(&e.files).unwrap(), &actual).unwrap();
        assert_eq!(plan.summary.destroy, 0);
        assert_eq!(plan.kept, ["tool svc/no_timeout"]);
    }

    #[test]
    fn objects_failing_the_check_are_dropped_with_what_hangs_off_them() {
        let actual = state();
        let opts = Options::default();
        let mut sel = select(&actual, &opts).unwrap();
        // Past the pre-checks: code MCPBox would refuse, and a secret that would change.
        let ok = sel.tools.get_mut(&("svc".into(), "ok".into())).unwrap();
        ok.obj.python_code = Some("x = 1\n".into());
        let svc = sel.servers.get_mut("svc").unwrap();
        svc.secrets
            .insert("API_TOKEN".into(), Some("another".into()));
        let e = settle(sel, &actual, &opts).unwrap();
        let skipped: Vec<(&str, &str)> = e
            .skipped
            .iter()
            .map(|s| (s.object.as_str(), s.reason.as_str()))
            .collect();
        let find = |object: &str| {
            skipped
                .iter()
                .find(|(o, _)| *o == object)
                .map(|(_, why)| *why)
                .unwrap_or_else(|| panic!("{object} not in {skipped:#?}"))
        };
        assert!(find("tool `svc/ok`").contains("async def main"));
        assert!(find("secret `svc/API_TOKEN`").contains("adopt and change it (description)"));
        assert_eq!(
            find("network entry `svc/ok.example.com:443 via ok`"),
            "its tool is not exported"
        );
        assert!(!e.files.files.contains_key("servers/svc/tools/ok.py"));
        assert_eq!(
            e.adoptions, 7,
            "svc, draft, rejected, one host, a module, two settings"
        );
    }

    #[test]
    fn stale_caches_are_reported_not_refused() {
        let mut actual = state();
        actual.servers[0].allowed_hosts = vec!["stale.example.com".into()];
        let e = export(&actual, &Options::default()).unwrap();
        assert_eq!((e.stale_caches, e.adoptions), (1, 10));
        assert!(
            e.notes
                .iter()
                .any(|n| n.contains("servers.allowed_hosts of svc")),
            "{:?}",
            e.notes
        );
    }

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

    fn skip_reason<'a>(e: &'a Export, object: &str) -> &'a str {
        e.skipped
            .iter()
            .find(|s| s.object == object)
            .map(|s| s.reason.as_str())
            .unwrap_or_else(|| panic!("{object} not in {:#?}", e.skipped))
    }

    #[test]
    fn exports_sources_passthrough_tools_and_tunnels_as_adoptions_only() {
        let actual = sourced();
        let e = export(&actual, &Options::default()).unwrap();
        let mut desired = desired::build(&e.files).unwrap();
        let plan = diff::diff(&desired, &actual).unwrap();
        assert!(
            plan.changes.iter().all(adoption_only),
            "{:#?}",
            plan.changes
        );
        assert_eq!(
            (plan.summary.add, plan.summary.change, plan.summary.destroy),
            (0, 0, 0)
        );
        let new_kinds: BTreeSet<(Kind, &str)> = plan
            .changes
            .iter()
            .filter(|c| match &c.after {
                Some(crate::model::Object::Tool(t)) => t.tool_type == ToolType::McpPassthrough,
                _ => matches!(c.kind, Kind::Source | Kind::Tunnel),
            })
            .map(|c| (c.kind, c.key.as_str()))
            .collect();
        let want: BTreeSet<(Kind, &str)> = [
            (Kind::Source, "svc/GitHub MCP"),
            (Kind::Source, "svc/plain"),
            (Kind::Tool, "svc/search"),
            (Kind::Tool, "svc/bare"),
            (Kind::Tool, "svc/undiscovered"),
            (Kind::Tunnel, "PROD"),
            (Kind::Tunnel, "prod"),
            (Kind::Tunnel, "Wizard: home"),
        ]
        .into_iter()
        .collect();
        assert_eq!(new_kinds, want);
        assert_eq!((e.counts.sources, e.counts.tunnels), (2, 3));

        for (object, why) in [
            ("external source `svc/oauth`", "OAuth"),
            (
                "external source `svc/twin`",
                "2 external sources of server `svc`",
            ),
            (
                "external source `svc/lower`",
                "`lower` is not an exported secret",
            ),
            (
                "tool `svc/via_oauth`",
                "its external source is not exported",
            ),
            ("tool `svc/via_twin`", "its external source is not exported"),
            ("tool `svc/no_schema`", "input_schema is NULL"),
            ("tunnel configuration `   `", "1 to 255 characters"),
            ("tunnel configuration `tokenless`", "no token"),
        ] {
            let reason = skip_reason(&e, object);
            assert!(reason.contains(why), "{object}: {reason}");
        }
        let twins = e
            .skipped
            .iter()
            .filter(|s| s.object == "external source `svc/twin`")
            .count();
        assert_eq!(twins, 2, "both rows of an ambiguous name are skipped");

        let gh = text(&e, "servers/svc/sources/github_mcp.yaml");
        for want in [
            "name: GitHub MCP",
            "server: svc",
            "transport: sse",
            "type: bearer",
            "secret: API_TOKEN",
            "# status in MCPBox: error",
        ] {
            assert!(gh.contains(want), "{want}: {gh}");
        }
        assert!(!gh.contains("status:") && !gh.contains("null"), "{gh}");
        let plain = text(&e, "servers/svc/sources/plain.yaml");
        assert!(
            plain.contains("status: disabled") && !plain.contains("auth"),
            "{plain}"
        );

        // Discovered values are written (a rebuilt MCPBox has no discovery yet);
        // MCPBox's own defaults are not.
        let search = text(&e, "servers/svc/tools/search.yaml");
        for want in [
            "type: mcp_passthrough",
            "externalSource: GitHub MCP",
            "externalToolName: search_code",
            "description: Search code",
            "inputSchema:",
        ] {
            assert!(search.contains(want), "{want}: {search}");
        }
        assert!(!search.contains("codeFile"), "{search}");
        assert!(!e.files.files.contains_key("servers/svc/tools/search.py"));
        let bare = text(&e, "servers/svc/tools/bare.yaml");
        assert!(
            bare.contains("inputSchema: {}") && !bare.contains("description:"),
            "{bare}"
        );
        let undiscovered = text(&e, "servers/svc/tools/undiscovered.yaml");
        assert!(
            undiscovered.contains("enabled: false")
                && !undiscovered.contains("inputSchema")
                && !undiscovered.contains("description"),
            "{undiscovered}"
        );
        let pins = approvals::parse(APPROVALS_FILE, text(&e, APPROVALS_FILE)).unwrap();
        assert_eq!(pins["svc/search"].approved_by, "carol@example.com");
        assert!(!pins.contains_key("svc/bare"));

        let prod = text(&e, "platform/tunnels/prod_2.yaml");
        for want in [
            "name: prod\n",
            "active: true",
            "publicUrl: https://prod.example.com",
            "token:\n    valueFrom:\n      env: MCPBOX_TUNNEL_TOKEN_PROD_2\n",
            "# token: MCPBox stores it encrypted",
            "set MCPBOX_ENCRYPTION_KEY and MCPBOX_TUNNEL_TOKEN_PROD_2",
        ] {
            assert!(prod.contains(want), "{want}: {prod}");
        }
        let home = text(&e, "platform/tunnels/wizard_home.yaml");
        assert!(
            home.contains("name: 'Wizard: home'") && !home.contains("active"),
            "{home}"
        );
        let vars: Vec<&str> = e.env.iter().map(|v| v.var.as_str()).collect();
        assert_eq!(
            vars,
            [
                "MCPBOX_SETTING_MCP_RATE_LIMIT_RPM",
                "MCPBOX_TUNNEL_TOKEN_PROD",
                "MCPBOX_TUNNEL_TOKEN_PROD_2",
                "MCPBOX_TUNNEL_TOKEN_WIZARD_HOME"
            ]
        );
        for (path, entry) in &e.files.files {
            let Entry::Bytes(b) = entry else { continue };
            let t = String::from_utf8_lossy(b);
            for row in &actual.tunnels {
                let leaked = row.ciphertext.as_deref().is_some_and(|c| t.contains(c));
                assert!(
                    !leaked && !t.contains("-token-0123456789"),
                    "{path} leaks a token"
                );
            }
        }

        // With the key and the right values, the stored ones compare equal…
        let env = |var: &str| plaintext(var).map(Into::into);
        desired.values =
            Resolved::read(&desired.value_sources, Some(Key::parse(KEY)), false, &env).unwrap();
        let plan = diff::diff(&desired, &actual).unwrap();
        assert!(
            plan.changes.iter().all(adoption_only),
            "{:#?}",
            plan.changes
        );
        // …another value is a change of that token alone…
        let other = |var: &str| match var {
            "MCPBOX_TUNNEL_TOKEN_WIZARD_HOME" => Some("another-token-0123456789".into()),
            _ => plaintext(var).map(Into::into),
        };
        desired.values =
            Resolved::read(&desired.value_sources, Some(Key::parse(KEY)), false, &other).unwrap();
        let plan = diff::diff(&desired, &actual).unwrap();
        let changed: Vec<(&str, Vec<&str>)> = plan
            .changes
            .iter()
            .filter(|c| !adoption_only(c))
            .map(|c| {
                (
                    c.key.as_str(),
                    c.fields.iter().map(|f| f.field.as_str()).collect(),
                )
            })
            .collect();
        assert_eq!(changed, [("Wizard: home", vec!["token"])]);
        // …and an unset variable is an error naming it.
        let unset = |var: &str| match var {
            "MCPBOX_TUNNEL_TOKEN_PROD_2" => None,
            _ => plaintext(var).map(Into::into),
        };
        let err = Resolved::read(&desired.value_sources, Some(Key::parse(KEY)), false, &unset)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("`MCPBOX_TUNNEL_TOKEN_PROD_2` is not set") && err.contains("tunnel:prod"),
            "{err}"
        );
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

    #[test]
    fn a_dropped_secret_takes_its_source_and_their_tools() {
        let actual = sourced();
        let opts = Options::default();
        let mut sel = select(&actual, &opts).unwrap();
        // Past the pre-checks: a secret that a plan would change.
        let svc = sel.servers.get_mut("svc").unwrap();
        svc.secrets
            .insert("API_TOKEN".into(), Some("another".into()));
        let e = settle(sel, &actual, &opts).unwrap();
        assert!(skip_reason(&e, "secret `svc/API_TOKEN`").contains("adopt and change"));
        assert_eq!(
            skip_reason(&e, "external source `svc/GitHub MCP`"),
            "its auth secret is not exported"
        );
        for tool in ["tool `svc/search`", "tool `svc/bare`"] {
            assert_eq!(skip_reason(&e, tool), "its external source is not exported");
        }
        assert!(!e
            .files
            .files
            .contains_key("servers/svc/sources/github_mcp.yaml"));
        assert!(e
            .files
            .files
            .contains_key("servers/svc/tools/undiscovered.yaml"));
    }

    #[test]
    fn source_auth_a_manifest_cannot_state_is_named() {
        let svc = server(1, "svc", 30000);
        let problem = |auth: (&str, Option<&str>), header: Option<&str>| {
            let mut s = source(1, &svc, "s", auth).obj;
            s.auth_header = header.map(str::to_string);
            source_problem(&s, |name| name == "TOKEN")
        };
        assert_eq!(problem(("header", Some("TOKEN")), Some("X-Api-Key")), None);
        assert_eq!(problem(("bearer", Some("TOKEN")), None), None);
        for (auth, header, want) in [
            (
                ("none", Some("TOKEN")),
                None,
                "`none` but it names an auth secret",
            ),
            (("header", None), None, "`header` without an auth secret"),
            (
                ("bearer", Some("OTHER")),
                None,
                "`OTHER` is not an exported secret",
            ),
            (
                ("bearer", Some("TOKEN")),
                Some("X-Key"),
                "auth header name but auth type `bearer`",
            ),
            (
                ("header", Some("TOKEN")),
                Some("X Key"),
                "`X Key` is not an HTTP header name",
            ),
        ] {
            let why = problem(auth, header).unwrap_or_default();
            assert!(why.contains(want), "{auth:?} {header:?}: {why}");
        }
        let mut s = source(1, &svc, "s", ("none", None)).obj;
        s.url = "https://bob:hunter2@mcp.example.com".into();
        assert!(source_problem(&s, |_| true)
            .unwrap_or_default()
            .contains("password inside a URL"));
    }

    #[test]
    fn variable_names_are_upper_snake_and_unique() {
        assert_eq!(upper_snake("Wizard: home"), "WIZARD_HOME");
        assert_eq!(upper_snake("  a--b.c "), "A_B_C");
        assert_eq!(upper_snake("module_approval_mode"), "MODULE_APPROVAL_MODE");
        assert_eq!(upper_snake("☃"), "UNNAMED");
        let mut used = HashSet::new();
        assert_eq!(unique(&mut used, "X".into()), "X");
        assert_eq!(unique(&mut used, "X".into()), "X_2");
        assert_eq!(unique(&mut used, "X".into()), "X_3");
    }
}
