//! Export: MCPBox's database as a manifest repository, the inverse of `desired`.
//!
//! [`export`] turns an [`ActualState`] into a [`FileSet`] laid out as
//! `servers/<server>/server.yaml`, `servers/<server>/tools/<tool>.yaml` with the
//! `.py` next to it, `platform/modules.yaml`, `platform/settings.yaml`,
//! `approvals.yaml` and `mcpbox-gitops.yaml`, and says what it left out and why.
//! Every export is checked before it is returned: it must load and validate, and
//! planning it against the same state must propose adoptions only (an object that
//! would not is dropped with a warning). Pure: reading the database and writing the
//! files live in `cli::export`.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use chrono::SecondsFormat;
use serde::Serialize;
use serde_yaml::Value as Yaml;
use uuid::Uuid;

use crate::approvals::{self, Pin, Pins};
use crate::desired::{self, DEFAULT_SERVER_TIMEOUT_MS};
use crate::manifest::kinds::{
    Doc, Metadata, ModuleEntry, ModulesSpec, NetworkEntry, SecretEntry, ServerScopedMetadata,
    ServerSpec, SettingsSpec, ToolSpec, ToolType, API_VERSION,
};
use crate::manifest::load::{APPROVALS_FILE, POLICY_FILE};
use crate::manifest::locate::MAX_DEPTH;
use crate::manifest::secrets;
use crate::manifest::validate::{
    host_problem, is_module_name, is_secret_name, is_snake_name, limits,
};
use crate::model::{network_key, Kind, Network, Server, Tool};
use crate::plan::{diff, Action, Change, Plan};
use crate::policy::{ApprovalMode, Policy};
use crate::rules::approval::Status;
use crate::source::{Entry, FileSet, MAX_FILE_BYTES, MAX_TOTAL_BYTES};
use crate::state::{ActualState, ToolRow};

/// Where the global modules go.
pub const MODULES_FILE: &str = "platform/modules.yaml";
/// Where the settings go.
pub const SETTINGS_FILE: &str = "platform/settings.yaml";

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

/// How much was exported.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    /// Server documents.
    pub servers: usize,
    /// Tool documents.
    pub tools: usize,
    /// Tools pinned in `approvals.yaml`.
    pub pinned: usize,
    /// Secret placeholders.
    pub secrets: usize,
    /// Network entries.
    pub network: usize,
    /// Global modules.
    pub modules: usize,
    /// Settings.
    pub settings: usize,
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

struct ToolOut {
    obj: Tool,
    status: Status,
    /// The stored input_schema differs from the one derived from `main`.
    explicit_schema: bool,
    pin: Option<Pin>,
}

/// What goes into the export (and header lines saying what does not).
#[derive(Default)]
struct Selection {
    servers: BTreeMap<String, ServerOut>,
    tools: BTreeMap<(String, String), ToolOut>,
    modules: BTreeMap<String, String>,
    settings: BTreeMap<String, String>,
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
    Tool(String, String),
    Network(String, NetKey),
    Module(String),
    Setting(String),
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
            + self.tools.len()
            + self.modules.len()
            + self.settings.len()
    }

    /// Removes an object that failed the check, with what hangs off it.
    fn drop_item(&mut self, item: &Item, reason: &str) {
        match item {
            Item::Server(s) => {
                if self.servers.remove(s).is_some() {
                    self.tools.retain(|(server, _), _| server != s);
                    let why = format!(
                        "{reason} (its tools, secrets and network entries stay unmanaged too)"
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
        let files = render(&sel, actual, opts)?;
        match check(&files, actual, &sel)? {
            Checked::Adoptable(plan) => return Ok(finish(sel, files, &plan)),
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
    select_tools(actual, &exported, opts, &mut sel);
    let owned_ids: HashSet<Uuid> = actual.ownership.values().map(|o| o.row_id).collect();
    select_network(actual, &exported, &owned_ids, &mut sel);
    select_modules(actual, &owned_ids, &mut sel);
    select_settings(actual, &mut sel);
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
            let why = format!("{why} (its tools, secrets and network entries stay unmanaged too)");
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
        if row.cascade.sources > 0 {
            let object = format!("external MCP source(s) of server `{}`", row.obj.name);
            let why = format!("{} source(s): this version cannot manage external sources yet (their pass-through tools are skipped too)", row.cascade.sources);
            sel.skip(At::Server(&row.obj.name), object, why);
        }
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

fn select_tools(
    actual: &ActualState,
    exported: &HashMap<Uuid, String>,
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
        match tool_problem(&t.obj, default_timeout) {
            Err(why) => sel.skip(At::Server(server), object, why),
            Ok(derived) => {
                let key = t.obj.key();
                let pin = (t.approval_status == Status::Approved)
                    .then(|| pin_for(t, &key, opts, &mut sel.notes));
                let out = ToolOut {
                    obj: t.obj.clone(),
                    status: t.approval_status,
                    explicit_schema: t.obj.input_schema != derived,
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

/// Known, plain, valid settings.
fn select_settings(actual: &ActualState, sel: &mut Selection) {
    let mut rows: Vec<_> = actual.settings.iter().collect();
    rows.sort_by(|a, b| a.obj.key.cmp(&b.obj.key));
    for s in rows {
        let object = format!("setting `{}`", shown(&s.obj.key));
        let why = match &s.obj.value {
            _ if s.encrypted => {
                Some("it is stored encrypted, and values never go in git".to_string())
            }
            None => Some("its value is NULL, which a manifest cannot state".to_string()),
            Some(v) if !secrets::scan(v).is_empty() => {
                Some("its value looks like a credential".to_string())
            }
            Some(v) => crate::settings::check(&s.obj.key, v).err(),
        };
        match (why, &s.obj.value) {
            (None, Some(v)) => {
                sel.settings.insert(s.obj.key.clone(), v.clone());
            }
            (why, _) => sel.skip(At::Settings, object, why.unwrap_or_default()),
        }
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

/// Why a tool cannot be a manifest, or the input_schema its code derives.
fn tool_problem(t: &Tool, server_timeout: i32) -> Result<serde_json::Value, String> {
    let fail = |why: Option<String>| why.map_or(Ok(()), Err);
    if t.tool_type == ToolType::McpPassthrough {
        return Err(
            "pass-through tools (and their external sources) cannot be managed by this version yet"
                .into(),
        );
    }
    if !is_snake_name(&t.name) || t.name.len() > limits::NAME {
        return Err("its name does not match ^[a-z][a-z0-9_]*$".into());
    }
    let d = t.description.as_deref();
    fail(too_long("description", d, limits::DESCRIPTION))?;
    fail(credential_in("description", d))?;
    match t.timeout_ms {
        Some(ms) => fail(timeout_problem("timeout", ms))?,
        // desired.rs writes an explicit server default into every tool without
        // timeoutMs (MCPBox's sandbox ignores server defaults): NULL has no manifest.
        None if server_timeout != DEFAULT_SERVER_TIMEOUT_MS => {
            return Err(format!("its timeout_ms is NULL while its server's default is {server_timeout} ms, and a manifest tool without timeoutMs gets that default written; set the tool's timeout in MCPBox (or the server's default to 30000) and export again"));
        }
        None => {}
    }
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
    let derived = crate::python::input_schema(&v);
    if t.input_schema != derived {
        if !t.input_schema.is_object() {
            return Err(
                "its input_schema is not a JSON object, which a manifest cannot state".into(),
            );
        }
        // root mapping, spec and inputSchema itself are the first levels.
        if depth(&t.input_schema) + 2 >= MAX_DEPTH {
            return Err("its input_schema is nested too deeply for a manifest".into());
        }
        let mut texts = Vec::new();
        strings(&t.input_schema, &mut texts);
        for s in texts {
            fail(credential_in("input_schema", Some(s)))?;
        }
    }
    Ok(derived)
}

fn depth(v: &serde_json::Value) -> usize {
    match v {
        serde_json::Value::Array(a) => 1 + a.iter().map(depth).max().unwrap_or(0),
        serde_json::Value::Object(m) => 1 + m.values().map(depth).max().unwrap_or(0),
        _ => 0,
    }
}

fn strings<'a>(v: &'a serde_json::Value, out: &mut Vec<&'a str>) {
    match v {
        serde_json::Value::String(s) => out.push(s),
        serde_json::Value::Array(a) => a.iter().for_each(|x| strings(x, out)),
        serde_json::Value::Object(m) => m.values().for_each(|x| strings(x, out)),
        _ => {}
    }
}

fn server_dir(server: &str) -> String {
    format!("servers/{server}")
}

fn tool_path(server: &str, tool: &str, ext: &str) -> String {
    format!("servers/{server}/tools/{tool}.{ext}")
}

/// The tool a file of the export belongs to.
fn tool_of_path(path: &str) -> Option<Item> {
    let rest = path.strip_prefix("servers/")?;
    let (server, file) = rest.split_once("/tools/")?;
    let tool = file
        .strip_suffix(".yaml")
        .or_else(|| file.strip_suffix(".py"))?;
    Some(Item::Tool(server.to_string(), tool.to_string()))
}

fn yaml_error(what: &str, e: &serde_yaml::Error) -> Error {
    Error::NotLoadable(format!("cannot write {what} as YAML: {e}"))
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
        for list in ["secrets", "network", "modules"] {
            if let Some(Yaml::Sequence(items)) = spec.get_mut(list) {
                for item in items {
                    if let Yaml::Mapping(entry) = item {
                        entry.retain(|_, v| !v.is_null());
                    }
                }
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
/// never carries a value, nor says where one comes from.
fn secret_entry(name: &str, description: Option<&str>) -> Result<SecretEntry, Error> {
    let mut m = serde_yaml::Mapping::new();
    m.insert("name".into(), name.into());
    if let Some(d) = description {
        m.insert("description".into(), d.into());
    }
    serde_yaml::from_value(Yaml::Mapping(m)).map_err(|e| yaml_error("a secret entry", &e))
}

/// The files of a selection.
fn render(sel: &Selection, actual: &ActualState, opts: &Options) -> Result<FileSet, Error> {
    let mut files = FileSet::empty("export");
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

    let mut pins = Pins::new();
    for ((server, name), t) in &sel.tools {
        let spec = ToolSpec {
            description: t.obj.description.clone(),
            timeout_ms: t.obj.timeout_ms.map(i64::from),
            enabled: (!t.obj.enabled).then_some(false),
            code_file: Some(format!("{name}.py")),
            dependencies: (!t.obj.dependencies.is_empty()).then(|| t.obj.dependencies.clone()),
            input_schema: t.explicit_schema.then(|| t.obj.input_schema.clone()),
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
        if t.explicit_schema {
            notes.push("inputSchema is MCPBox's stored schema, which differs from the one derived from `async def main`".into());
        }
        let path = tool_path(server, name, "yaml");
        let text = with_header(&notes, &yaml(&path, &doc)?);
        files.insert(path, text);
        let code = t.obj.python_code.clone().unwrap_or_default();
        files.insert(tool_path(server, name, "py"), code);
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
        let spec: SettingsSpec = sel
            .settings
            .iter()
            .map(|(k, v)| (k.clone(), Yaml::String(v.clone())))
            .collect();
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
    Ok(files)
}

enum Checked {
    Adoptable(Box<Plan>),
    Drop(Vec<(Item, String)>),
}

/// Loads, validates and plans the files against the state they came from.
fn check(files: &FileSet, actual: &ActualState, sel: &Selection) -> Result<Checked, Error> {
    let mut drop = Vec::new();
    let mut total = 0u64;
    for (path, entry) in &files.files {
        let Entry::Bytes(bytes) = entry else { continue };
        let size = bytes.len() as u64;
        total += size;
        if size > MAX_FILE_BYTES {
            match tool_of_path(path) {
                Some(item) => drop.push((item, "its manifest is larger than 1 MiB".to_string())),
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
                match tool_of_path(&d.file) {
                    Some(item) => drop.push((
                        item,
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
    };
    Export {
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
    use crate::state::{ModuleRow, NetworkRow, Owned, SecretRow, ServerRow, SettingRow};
    use serde_json::json;

    const TOKEN: &str = "ghp_aB3dE5gH7jK9mN1pQ3sT5vW7yZ9bC1dE3fG5";

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

    fn setting(n: u128, key: &str, value: &str, encrypted: bool) -> SettingRow {
        serde_json::from_value(json!({
            "id": id(n), "encrypted": encrypted, "obj": {"key": key, "value": value},
        }))
        .unwrap()
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
            setting(50, "tool_approval_mode", "require_approval", false),
            setting(51, "log_retention_days", "thirty", false),
            setting(52, "mcp_rate_limit_rpm", "c2VjcmV0", true),
        ];
        state
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
        // svc, API_TOKEN, ok, draft, rejected, 2 network entries, ipaddress, 1 setting.
        assert_eq!(
            plan.summary.adopt,
            9,
            "{:#?}",
            plan.changes.iter().map(|c| &c.key).collect::<Vec<_>>()
        );
        assert!(plan.caches.is_empty(), "{:?}", plan.caches);
        assert_eq!(e.adoptions, 9);
        assert_eq!(
            e.counts,
            Counts {
                servers: 1,
                tools: 3,
                pinned: 1,
                secrets: 1,
                network: 2,
                modules: 1,
                settings: 1
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
        assert!(text(&e, SETTINGS_FILE).contains("tool_approval_mode: require_approval"));
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
            "setting `mcp_rate_limit_rpm`",
        ] {
            assert!(skipped.contains(&want), "{want} not in {skipped:#?}");
        }
        assert_eq!(skipped.len(), 8, "{skipped:#?}");
        let leaky = e
            .skipped
            .iter()
            .find(|s| s.object.contains("leaky"))
            .unwrap();
        assert!(leaky.reason.contains("GitHub token"), "{}", leaky.reason);
        for (path, entry) in &e.files.files {
            let Entry::Bytes(b) = entry else { continue };
            let t = String::from_utf8_lossy(b);
            assert!(
                !t.contains(TOKEN) && !t.contains("c2VjcmV0"),
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
            e.adoptions, 6,
            "svc, draft, rejected, one host, a module, a setting"
        );
    }

    #[test]
    fn stale_caches_are_reported_not_refused() {
        let mut actual = state();
        actual.servers[0].allowed_hosts = vec!["stale.example.com".into()];
        let e = export(&actual, &Options::default()).unwrap();
        assert_eq!((e.stale_caches, e.adoptions), (1, 9));
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
}
