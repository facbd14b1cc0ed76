//! The `Selection`: what goes into the export, the header notes saying what
//! does not, and dropping an object with everything that hangs off it. Which
//! rows are selected lives in `rows`; turning a selection into files, in
//! `render`.

use std::collections::{BTreeMap, BTreeSet};

use super::text::shown;
use super::{EnvValue, Skipped};
use crate::approvals::Pin;
use crate::model::ToolType;
use crate::model::{network_key, Kind, Server, Source, Tool, Tunnel};
use crate::rules::approval::Status;

/// (host, port, tool) of a network entry within its server.
pub(super) type NetKey = (String, Option<i32>, Option<String>);

pub(super) struct ServerOut {
    pub(super) obj: Server,
    /// Name → description.
    pub(super) secrets: BTreeMap<String, Option<String>>,
    /// Entry → justification.
    pub(super) network: BTreeMap<NetKey, String>,
    /// Header lines of its server.yaml: what of this server the file leaves out.
    pub(super) notes: Vec<String>,
}

/// Which optional fields a tool's manifest states, because leaving them out
/// would give another value.
#[derive(Debug, Clone, Copy)]
pub(super) struct Shape {
    /// `description` is written. Always for a Python tool; for a pass-through
    /// tool only when set (absent means "the discovered one").
    pub(super) description: bool,
    /// `inputSchema` is written: the stored schema is not the one a plan derives
    /// without it.
    pub(super) schema: bool,
}

pub(super) struct ToolOut {
    pub(super) obj: Tool,
    pub(super) status: Status,
    pub(super) shape: Shape,
    pub(super) pin: Option<Pin>,
}

pub(super) struct SourceOut {
    pub(super) obj: Source,
    /// Header lines of its file: MCPBox's runtime state the file leaves out.
    pub(super) notes: Vec<String>,
}

pub(super) struct TunnelOut {
    pub(super) obj: Tunnel,
    /// The variable its token is read from at apply time.
    pub(super) env: String,
}

/// A setting's exported value.
pub(super) enum SettingOut {
    /// The stored text.
    Plain(String),
    /// Stored encrypted: read from this variable at apply time.
    Env(String),
}

/// What goes into the export (and header lines saying what does not).
#[derive(Default)]
pub(super) struct Selection {
    pub(super) servers: BTreeMap<String, ServerOut>,
    /// By (server, source name).
    pub(super) sources: BTreeMap<(String, String), SourceOut>,
    pub(super) tools: BTreeMap<(String, String), ToolOut>,
    /// By module key (`name`, or `name via server/tool` for a tool's).
    pub(super) modules: BTreeMap<String, crate::model::Module>,
    pub(super) settings: BTreeMap<String, SettingOut>,
    pub(super) tunnels: BTreeMap<String, TunnelOut>,
    pub(super) module_notes: Vec<String>,
    pub(super) setting_notes: Vec<String>,
    pub(super) root_notes: Vec<String>,
    pub(super) skipped: Vec<Skipped>,
    /// States of exported objects no manifest can state (the object is
    /// exported, this part of it comes back otherwise).
    pub(super) lost: Vec<Skipped>,
    pub(super) notes: Vec<String>,
    /// Rows left to MCPBox by design, counted by what they are.
    pub(super) left: BTreeMap<String, usize>,
}

/// Which file's header a note goes to.
pub(super) enum At<'a> {
    Server(&'a str),
    Modules,
    Settings,
    Root,
}

/// One exported object, to drop it when it fails the check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Item {
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

    pub(super) fn skip(&mut self, at: At<'_>, object: String, reason: String) {
        self.header(at, format!("not exported: {object}: {reason}"));
        self.skipped.push(Skipped { object, reason });
    }

    /// Records a state of `object` that the export cannot state.
    pub(super) fn lose(&mut self, at: At<'_>, object: String, reason: String) {
        self.header(at, format!("not expressible: {object}: {reason}"));
        self.lost.push(Skipped { object, reason });
    }

    pub(super) fn leave(&mut self, at: At<'_>, what: &str, line: String) {
        *self.left.entry(what.to_string()).or_default() += 1;
        self.header(at, format!("left to MCPBox: {line}"));
    }

    pub(super) fn len(&self) -> usize {
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
    pub(super) fn drop_item(&mut self, item: &Item, reason: &str) {
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
                    let tool = format!("{s}/{t}");
                    let gone: Vec<String> = self
                        .modules
                        .iter()
                        .filter(|(_, m)| m.tool.as_deref() == Some(tool.as_str()))
                        .map(|(k, _)| k.clone())
                        .collect();
                    for k in gone {
                        self.drop_item(&Item::Module(k), "its tool is not exported");
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
    pub(super) fn item(&self, kind: Kind, key: &str) -> Option<Item> {
        self.items()
            .into_iter()
            .find(|((k, name), _)| *k == kind && name == key)
            .map(|(_, item)| item)
    }

    /// Natural keys of everything exported.
    pub(super) fn keys(&self) -> BTreeSet<(Kind, String)> {
        self.items().into_iter().map(|(key, _)| key).collect()
    }

    /// The variables values are read from, with what they hold.
    pub(super) fn env(&self) -> Vec<EnvValue> {
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

#[cfg(test)]
mod tests {
    use crate::export::fixtures::{skip_reason, sourced};
    use crate::export::rows::select;
    use crate::export::{settle, Options};

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
}
