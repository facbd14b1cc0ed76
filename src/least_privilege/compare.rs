//! Needs against grants: what the sandbox will refuse, what git grants for
//! nothing, and which tools use each grant — the least-privilege diff.
//!
//! The rules are MCPBox's, not ours:
//! - a host is allowed for a tool when its server has a network entry with that
//!   host and either no port (any port) or the port the URL implies; the sandbox
//!   checks `host:port`, then bare `host`, against `servers.allowed_hosts`
//!   (MCPBOX.md §3.3), which holds exactly those entries (§3.4);
//! - a module is allowed when its name or its top-level package is in
//!   `global_config.allowed_modules`: MCPBox's 34 defaults, every approved name
//!   and the names derived from them (§3.5, `rules::sync::allowed_modules`). The
//!   list is global, so a module entry is "used" by a tool of any server.
//!
//! Only what git grants is compared: rows MCPBox holds outside git are not seen
//! (the plan lists those separately). Locating needs and grants lives in
//! `inventory`; printing the result, in `plan::render` and `cli::validate`.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use super::inventory::{Inventory, Place};
use crate::diagnostic::{Code, Diagnostic};
use crate::infer::{HostUse, ModuleUse};
use crate::rules::sync;

/// A host (with its port, or any port) or a module.
#[derive(
    Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, schemars::JsonSchema,
)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Capability {
    /// A network host.
    Host {
        /// Host name.
        host: String,
        /// Port; absent means any port (grants only).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        port: Option<u16>,
    },
    /// A Python module (dotted name).
    Module {
        /// Module name, as imported or as granted.
        name: String,
    },
}

impl std::fmt::Display for Capability {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Capability::Host {
                host,
                port: Some(p),
            } => write!(f, "{host}:{p}"),
            Capability::Host { host, port: None } => write!(f, "{host}"),
            Capability::Module { name } => write!(f, "{name}"),
        }
    }
}

/// A use the sandbox will refuse at run time.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Missing {
    /// The tool (`server/tool`).
    pub tool: String,
    /// What it uses.
    pub capability: Capability,
    /// Where, in the tool's code.
    pub place: Place,
    /// What is wrong, for reviewers.
    pub message: String,
}

/// A grant no tool appears to use.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Unused {
    /// The server of a network entry (None for a module: modules are global).
    pub server: Option<String>,
    /// What is granted.
    pub capability: Capability,
    /// Where the entry is.
    pub place: Place,
}

/// One grant and the tools that use it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Usage {
    /// The server of a network entry (None for a module).
    pub server: Option<String>,
    /// What is granted.
    pub capability: Capability,
    /// Tools (`server/tool`) whose code uses it.
    pub tools: Vec<String>,
    /// Tools whose hosts (of the same server) or modules are dynamic: they may
    /// use it too.
    pub dynamic_tools: Vec<String>,
}

/// A use whose host or module the code does not write down.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Dynamic {
    /// The tool (`server/tool`).
    pub tool: String,
    /// `host` or `module`.
    pub what: String,
    /// Why it cannot be told (e.g. "argument `url`").
    pub why: String,
    /// Where, in the tool's code.
    pub place: Place,
}

/// The least-privilege diff of a repository. Display only: apply never reads it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct LeastPrivilege {
    /// Needed, not granted: each will fail at run time in MCPBox's sandbox.
    pub needed_not_granted: Vec<Missing>,
    /// Granted, not used: candidates for removal (suppressed by dynamic uses).
    pub granted_not_used: Vec<Unused>,
    /// Every grant of git with the tools that use it.
    pub used_by: Vec<Usage>,
    /// Uses whose host or module only the run knows.
    pub dynamic: Vec<Dynamic>,
}

impl LeastPrivilege {
    /// Whether there is nothing to say.
    pub fn is_empty(&self) -> bool {
        *self == LeastPrivilege::default()
    }

    /// The tools using a grant, if git has it.
    pub fn usage(&self, server: Option<&str>, capability: &Capability) -> Option<&Usage> {
        self.used_by
            .iter()
            .find(|u| u.server.as_deref() == server && &u.capability == capability)
    }

    /// `validate`'s warnings: W001 for each refused use, W002 for each unused grant.
    pub fn diagnostics(&self) -> Vec<Diagnostic> {
        let mut out: Vec<Diagnostic> = self
            .needed_not_granted
            .iter()
            .map(|m| {
                let help = match &m.capability {
                    Capability::Host { host, port } => format!(
                        "add `{{host: {host}, port: {}, justification: …}}` to the server's `network`, or fix the URL",
                        port.map_or("…".to_string(), |p| p.to_string())
                    ),
                    Capability::Module { name } if name.starts_with('.') => {
                        "MCPBox runs each tool as a lone module: inline the code or import an allowed module".to_string()
                    }
                    Capability::Module { name } => format!(
                        "add `{{name: {name}, justification: …}}` to a `Modules` manifest, or drop the import"
                    ),
                };
                Diagnostic::new(Code::NeededNotGranted, &m.place.file, m.place.location(), &m.message)
                    .help(help)
            })
            .collect();
        out.extend(self.granted_not_used.iter().map(|u| {
            let whom = match &u.server {
                Some(s) => format!("no tool of server `{s}`"),
                None => "no tool".to_string(),
            };
            Diagnostic::new(
                Code::GrantedNotUsed,
                &u.place.file,
                u.place.location(),
                format!("`{}` is granted but {whom} appears to use it", u.capability),
            )
            .help("remove the entry (least privilege), or keep it if code the checks cannot see needs it")
        }));
        out
    }
}

/// The least-privilege diff of an inventory.
pub fn check(inv: &Inventory) -> LeastPrivilege {
    let mut out = LeastPrivilege::default();
    hosts(inv, &mut out);
    modules(inv, &mut out);
    out.needed_not_granted.sort_by(|a, b| a.place.cmp(&b.place));
    out.granted_not_used.sort_by(|a, b| a.place.cmp(&b.place));
    out.dynamic.sort_by(|a, b| a.place.cmp(&b.place));
    out
}

/// Whether a network entry lets the sandbox call `host:port`.
fn admits(grant_host: &str, grant_port: Option<u16>, host: &str, port: u16) -> bool {
    grant_host == host && grant_port.is_none_or(|p| p == port)
}

fn hosts(inv: &Inventory, out: &mut LeastPrivilege) {
    let mut grants: BTreeMap<&str, Vec<(&str, Option<u16>)>> = BTreeMap::new();
    for g in &inv.hosts {
        grants
            .entry(g.server.as_str())
            .or_default()
            .push((g.host.as_str(), g.port));
    }
    // Tools per server with a dynamic host use: they may call any granted host.
    let mut dynamic: BTreeMap<&str, BTreeSet<String>> = BTreeMap::new();
    for t in &inv.tools {
        let granted = grants.get(t.server.as_str()).map_or(&[][..], |v| v);
        for (use_, place) in &t.hosts {
            match use_ {
                HostUse::Known { host, port } => {
                    if !granted.iter().any(|(h, p)| admits(h, *p, host, *port)) {
                        out.needed_not_granted.push(Missing {
                            tool: t.key(),
                            capability: Capability::Host {
                                host: host.clone(),
                                port: Some(*port),
                            },
                            place: place.clone(),
                            message: format!(
                                "`{host}:{port}` is not allowed for server `{}`: this call will fail at run time in MCPBox's sandbox",
                                t.server
                            ),
                        });
                    }
                }
                HostUse::Dynamic { why } => {
                    dynamic
                        .entry(t.server.as_str())
                        .or_default()
                        .insert(t.key());
                    out.dynamic.push(Dynamic {
                        tool: t.key(),
                        what: "host".to_string(),
                        why: why.clone(),
                        place: place.clone(),
                    });
                }
            }
        }
    }
    // Each grant is compared with its own server's tools only: a fleet of
    // servers costs the sum of their sizes, not their product.
    let mut by_server: BTreeMap<&str, Vec<&super::inventory::ToolUses>> = BTreeMap::new();
    for t in &inv.tools {
        by_server.entry(t.server.as_str()).or_default().push(t);
    }
    for g in &inv.hosts {
        let tools: BTreeSet<String> = by_server
            .get(g.server.as_str())
            .map_or(&[][..], |v| v)
            .iter()
            .filter(|t| {
                t.hosts.iter().any(|(u, _)| {
                    matches!(u, HostUse::Known { host, port } if admits(&g.host, g.port, host, *port))
                })
            })
            .map(|t| t.key())
            .collect();
        let dynamic_tools: Vec<String> = dynamic
            .get(g.server.as_str())
            .map(|d| d.iter().filter(|k| !tools.contains(*k)).cloned().collect())
            .unwrap_or_default();
        let capability = Capability::Host {
            host: g.host.clone(),
            port: g.port,
        };
        if tools.is_empty() && dynamic_tools.is_empty() {
            out.granted_not_used.push(Unused {
                server: Some(g.server.clone()),
                capability: capability.clone(),
                place: g.place.clone(),
            });
        }
        out.used_by.push(Usage {
            server: Some(g.server.clone()),
            capability,
            tools: tools.into_iter().collect(),
            dynamic_tools,
        });
    }
}

/// The top-level package of a dotted name.
fn top(name: &str) -> &str {
    name.split('.').next().unwrap_or(name)
}

fn modules(inv: &Inventory, out: &mut LeastPrivilege) {
    let allowed: BTreeSet<String> =
        sync::allowed_modules(inv.modules.iter().map(|m| m.name.as_str()))
            .into_iter()
            .collect();
    let mut dynamic_tools: BTreeSet<String> = BTreeSet::new();
    for t in &inv.tools {
        for (use_, place) in &t.modules {
            let missing = |capability: Capability, message: String| Missing {
                tool: t.key(),
                capability,
                place: place.clone(),
                message,
            };
            match use_ {
                // MCPBox's sandbox: `name in allowed or name.split(".")[0] in allowed`.
                ModuleUse::Named { name, guarded } => {
                    if !*guarded && !allowed.contains(name) && !allowed.contains(top(name)) {
                        out.needed_not_granted.push(missing(
                            Capability::Module { name: name.clone() },
                            format!(
                                "module `{name}` is not allowed ({} in MCPBox's defaults or git's modules): this import will fail at run time in MCPBox's sandbox",
                                if top(name) == name {
                                    "not".to_string()
                                } else {
                                    format!("neither it nor `{}` is", top(name))
                                }
                            ),
                        ));
                    }
                }
                ModuleUse::Relative { written } => out.needed_not_granted.push(missing(
                    Capability::Module {
                        name: written.clone(),
                    },
                    format!(
                        "relative import `from {written} import …` has no package to import from: it will fail at run time in MCPBox's sandbox"
                    ),
                )),
                ModuleUse::Dynamic { why } => {
                    dynamic_tools.insert(t.key());
                    out.dynamic.push(Dynamic {
                        tool: t.key(),
                        what: "module".to_string(),
                        why: why.clone(),
                        place: place.clone(),
                    });
                }
            }
        }
    }
    // Tools by every name an import of theirs could be allowed by: the
    // imported name and its top-level package.
    let mut importers: BTreeMap<&str, BTreeSet<String>> = BTreeMap::new();
    for t in &inv.tools {
        for (u, _) in &t.modules {
            if let ModuleUse::Named { name, .. } = u {
                importers.entry(name.as_str()).or_default().insert(t.key());
                importers.entry(top(name)).or_default().insert(t.key());
            }
        }
    }
    for g in &inv.modules {
        // The import names this entry lets through: itself and its derived names.
        let mut admitted: BTreeSet<String> =
            sync::derived_import_names(&g.name).into_iter().collect();
        admitted.insert(g.name.clone());
        let tools: BTreeSet<String> = admitted
            .iter()
            .filter_map(|n| importers.get(n.as_str()))
            .flatten()
            .cloned()
            .collect();
        let dynamic: Vec<String> = dynamic_tools
            .iter()
            .filter(|k| !tools.contains(*k))
            .cloned()
            .collect();
        let capability = Capability::Module {
            name: g.name.clone(),
        };
        if tools.is_empty() && dynamic.is_empty() {
            out.granted_not_used.push(Unused {
                server: None,
                capability: capability.clone(),
                place: g.place.clone(),
            });
        }
        out.used_by.push(Usage {
            server: None,
            capability,
            tools: tools.into_iter().collect(),
            dynamic_tools: dynamic,
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::source::FileSet;

    fn check_repo(files: &[(&str, &str)]) -> LeastPrivilege {
        let mut set = FileSet::empty("test-repo");
        for (p, t) in files {
            set.insert(*p, t.as_bytes());
        }
        let d = crate::desired::build(&set).unwrap_or_else(|d| panic!("invalid: {d:#?}"));
        check(&d.inventory)
    }

    const SERVER: &str = "apiVersion: mcpbox/v1\nkind: Server\nmetadata: {name: s}\nspec:\n  network:\n    - {host: a.io, port: 443, justification: a}\n    - {host: b.io, justification: b}\n    - {host: unused.io, port: 8080, justification: c}\n";

    fn tool(name: &str, file: &str) -> String {
        format!("---\napiVersion: mcpbox/v1\nkind: Tool\nmetadata: {{name: {name}, server: s}}\nspec:\n  codeFile: {file}\n")
    }

    fn caps(missing: &[Missing]) -> Vec<String> {
        missing
            .iter()
            .map(|m| format!("{} {}:{}", m.capability, m.place.file, m.place.line))
            .collect()
    }

    #[test]
    fn ports_match_as_the_sandbox_matches_them() {
        let code = "async def main():\n    await http.get('https://a.io/')\n    await http.get('http://a.io/')\n    await http.get('http://b.io:9/')\n    await http.get('https://c.io/')\n";
        let lp = check_repo(&[
            ("s.yaml", &(SERVER.to_string() + &tool("t", "t.py"))),
            ("t.py", code),
        ]);
        // a.io is granted on 443 only; b.io on any port; c.io not at all.
        assert_eq!(
            caps(&lp.needed_not_granted),
            ["a.io:80 t.py:3", "c.io:443 t.py:5"]
        );
        assert_eq!(lp.needed_not_granted[0].place.column, 20);
        let unused: Vec<String> = lp
            .granted_not_used
            .iter()
            .map(|u| u.capability.to_string())
            .collect();
        assert_eq!(unused, ["unused.io:8080"]);
        let a = lp
            .usage(
                Some("s"),
                &Capability::Host {
                    host: "a.io".into(),
                    port: Some(443),
                },
            )
            .expect("a.io is granted");
        assert_eq!(a.tools, ["s/t"]);
    }

    #[test]
    fn a_dynamic_host_suppresses_unused_notes_of_its_server_only() {
        let code = "async def main(url: str):\n    await http.get(url)\n";
        let other = "apiVersion: mcpbox/v1\nkind: Server\nmetadata: {name: o}\nspec:\n  network:\n    - {host: o.io, justification: o}\n";
        let lp = check_repo(&[
            ("s.yaml", &(SERVER.to_string() + &tool("t", "t.py"))),
            ("o.yaml", other),
            ("t.py", code),
        ]);
        let unused: Vec<String> = lp
            .granted_not_used
            .iter()
            .map(|u| u.capability.to_string())
            .collect();
        assert_eq!(unused, ["o.io"]);
        assert_eq!(lp.dynamic.len(), 1);
        assert_eq!(lp.dynamic[0].why, "argument `url`");
        let b = lp.usage(
            Some("s"),
            &Capability::Host {
                host: "b.io".into(),
                port: None,
            },
        );
        assert_eq!(
            b.map(|u| u.dynamic_tools.clone()),
            Some(vec!["s/t".to_string()])
        );
    }

    #[test]
    fn modules_are_checked_by_name_or_top_level_package() {
        let modules = "apiVersion: mcpbox/v1\nkind: Modules\nmetadata: {name: m}\nspec:\n  modules:\n    - {name: email.utils, justification: x}\n    - {name: ipaddress, justification: y}\n";
        // `email` is derived from `email.utils`; `xml.etree` is not a default
        // (only `xml.etree.ElementTree` is, and defaults are not expanded).
        let code = "import email.message\nimport xml.etree.ElementTree\nfrom xml.etree import ElementTree\nimport collections.abc\nimport yaml\nasync def main():\n    pass\n";
        let lp = check_repo(&[
            ("s.yaml", &(SERVER.to_string() + &tool("t", "t.py"))),
            ("m.yaml", modules),
            ("t.py", code),
        ]);
        let missing: Vec<String> = caps(&lp.needed_not_granted)
            .into_iter()
            .filter(|c| !c.contains(".io"))
            .collect();
        assert_eq!(missing, ["xml.etree t.py:3", "yaml t.py:5"]);
        let unused: Vec<String> = lp
            .granted_not_used
            .iter()
            .map(|u| u.capability.to_string())
            .collect();
        assert!(unused.contains(&"ipaddress".to_string()), "{unused:?}");
        assert!(!unused.contains(&"email.utils".to_string()), "{unused:?}");
        let place = &lp
            .granted_not_used
            .iter()
            .find(|u| u.capability.to_string() == "ipaddress")
            .map(|u| u.place.clone());
        assert_eq!(
            place.as_ref().map(|p| (p.file.as_str(), p.line)),
            Some(("m.yaml", 7))
        );
    }

    #[test]
    fn inline_code_is_placed_in_its_manifest() {
        let inline = "---\napiVersion: mcpbox/v1\nkind: Tool\nmetadata: {name: i, server: s}\nspec:\n  code: |\n    import yaml\n    async def main():\n        return await http.get('https://nope.io/x')\n";
        let lp = check_repo(&[("s.yaml", &(SERVER.to_string() + inline))]);
        let got: Vec<(String, usize, usize)> = lp
            .needed_not_granted
            .iter()
            .map(|m| (m.capability.to_string(), m.place.line, m.place.column))
            .collect();
        assert_eq!(
            got,
            [
                ("yaml".to_string(), 15, 12),
                ("nope.io:443".to_string(), 17, 31)
            ]
        );
    }

    #[test]
    fn diagnostics_are_warnings_with_codes() {
        let code = "import yaml\nasync def main():\n    pass\n";
        let lp = check_repo(&[
            ("s.yaml", &(SERVER.to_string() + &tool("t", "t.py"))),
            ("t.py", code),
        ]);
        let d = lp.diagnostics();
        assert!(d.iter().all(|d| d.code.is_warning()));
        assert_eq!(d[0].to_string().split(" (help").next(), Some("t.py:1:8: W001 needed-not-granted: module `yaml` is not allowed (not in MCPBox's defaults or git's modules): this import will fail at run time in MCPBox's sandbox"));
        assert_eq!(
            d.iter().filter(|d| d.code == Code::GrantedNotUsed).count(),
            3
        );
    }
}
