//! Every tool's needs and every grant of a repository, each with its place
//! (`file:line:col`): the input of `compare`, gathered once when the desired
//! state is built.
//!
//! The needs come from the validation each tool's code already had
//! ([`ToolCode::python`]): nothing is parsed here. Positions inside inline code
//! (`code: |` in a manifest) are moved to the manifest's lines and columns, as
//! Python syntax errors are.

use serde::{Deserialize, Serialize};

use crate::diagnostic::{location_at, offset_of, Location};
use crate::infer::{HostUse, ModuleUse, Span};
use crate::manifest::kinds::Document;
use crate::manifest::load::{text_of, Loaded, ToolCode};
use crate::model::ToolType;
use crate::source::FileSet;

/// A place in the repository.
#[derive(
    Debug,
    Clone,
    Default,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Serialize,
    Deserialize,
    schemars::JsonSchema,
)]
pub struct Place {
    /// Repository-relative path of the `.py` file (or the manifest, for inline code).
    pub file: String,
    /// 1-based line.
    pub line: usize,
    /// 1-based column, in characters.
    pub column: usize,
    /// Byte offset in the file, for snippets (not part of the plan document).
    #[serde(skip)]
    pub offset: usize,
    /// Length in bytes of the marked span (not part of the plan document).
    #[serde(skip)]
    pub len: usize,
}

impl Place {
    fn new(file: &str, loc: Location) -> Self {
        Place {
            file: file.to_string(),
            line: loc.line,
            column: loc.column,
            offset: loc.offset,
            len: loc.len,
        }
    }

    /// The diagnostic location of this place.
    pub fn location(&self) -> Location {
        Location {
            line: self.line,
            column: self.column,
            offset: self.offset,
            len: self.len,
        }
    }
}

/// What one tool's code uses, placed in the repository.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ToolUses {
    /// The tool's server.
    pub server: String,
    /// The tool's name.
    pub tool: String,
    /// Its imports.
    pub modules: Vec<(ModuleUse, Place)>,
    /// Its `http` calls.
    pub hosts: Vec<(HostUse, Place)>,
}

impl ToolUses {
    /// `server/tool`, the key plans use.
    pub fn key(&self) -> String {
        format!("{}/{}", self.server, self.tool)
    }
}

/// A network entry of a server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostGrant {
    /// The server.
    pub server: String,
    /// The host as written.
    pub host: String,
    /// The port; None is any port.
    pub port: Option<u16>,
    /// Where the entry is.
    pub place: Place,
}

/// A module entry (global: MCPBox's allowed modules are one list for every server).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModuleGrant {
    /// The module name as written.
    pub name: String,
    /// Where the entry is.
    pub place: Place,
}

/// Needs and grants of a whole repository.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Inventory {
    /// Python tools, in document order.
    pub tools: Vec<ToolUses>,
    /// Network entries, in document order.
    pub hosts: Vec<HostGrant>,
    /// Module entries, in document order.
    pub modules: Vec<ModuleGrant>,
}

/// Gathers the inventory of loaded (and validated) documents.
pub fn collect(files: &FileSet, docs: &[Loaded]) -> Inventory {
    let mut inv = Inventory::default();
    for doc in docs {
        match &doc.doc {
            Document::Tool(t) => {
                let python =
                    t.spec.tool_type.unwrap_or(ToolType::PythonCode) == ToolType::PythonCode;
                let Some(code) = doc.code.as_ref().filter(|_| python) else {
                    continue;
                };
                let needs = &code.python().needs;
                let place = |at: Span| place_in(files, code, at);
                inv.tools.push(ToolUses {
                    server: t.metadata.server.clone(),
                    tool: t.metadata.name.clone(),
                    modules: needs
                        .modules
                        .iter()
                        .map(|f| (f.what.clone(), place(f.at)))
                        .collect(),
                    hosts: needs
                        .hosts
                        .iter()
                        .map(|f| (f.what.clone(), place(f.at)))
                        .collect(),
                });
            }
            Document::Server(s) => {
                for (i, n) in s.spec.network.iter().enumerate() {
                    let loc = doc.at(files, &format!("spec.network[{i}].host"));
                    inv.hosts.push(HostGrant {
                        server: s.metadata.name.clone(),
                        host: n.host.clone(),
                        port: n.port.and_then(|p| u16::try_from(p).ok()),
                        place: Place::new(&doc.file, loc),
                    });
                }
            }
            Document::Modules(m) => {
                for (i, module) in m.spec.modules.iter().enumerate() {
                    let loc = doc.at(files, &format!("spec.modules[{i}].name"));
                    inv.modules.push(ModuleGrant {
                        name: module.name.clone(),
                        place: Place::new(&doc.file, loc),
                    });
                }
            }
            _ => {}
        }
    }
    inv
}

/// The place in the repository of a span of a tool's code.
fn place_in(files: &FileSet, code: &ToolCode, at: Span) -> Place {
    let in_code = location_at(&code.text, at.offset, at.len);
    if code.first_line == 0 && code.indent == 0 {
        // A `.py` file: the code is the file.
        return Place::new(&code.file, in_code);
    }
    let text = text_of(files, &code.file).unwrap_or("");
    let off = offset_of(
        text,
        code.first_line + in_code.line,
        in_code.column + code.indent,
    );
    // The span stays on its line (block scalars re-indent the next ones).
    let line_end = text[off.min(text.len())..]
        .find('\n')
        .map_or(text.len(), |i| off + i);
    let len = at.len.min(line_end.saturating_sub(off));
    Place::new(&code.file, location_at(text, off, len))
}
