//! What a tool's Python code needs from MCPBox's sandbox — modules it imports and
//! hosts it calls through the sandbox's `http` client — inferred from the AST the
//! syntax check already built. Comparing that with what the manifests grant is
//! `least_privilege`'s job.
//!
//! Nothing here parses Python (that is `python`, which calls [`needs`] on the tree
//! it built), reads files or touches the database. Rendering the findings lives in
//! `plan::render` and `cli::validate`.
//!
//! The inference never guesses: a URL whose host is not fully written in the code
//! (an argument, a secret, a name assigned twice or in a branch, a computed value)
//! is recorded as a *dynamic* use with the reason, never as a host.
//!
//! # Layout
//! - this file: the per-tool result ([`Needs`]) and the entry point [`needs`].
//! - `scope`: which names are bound where, and which are constants.
//! - `imports`: `import`/`from … import`/`__import__` → modules, as the sandbox's
//!   import hook sees them.
//! - `hosts`: calls of the sandbox's `http` client → hosts and ports, or dynamic.
//! - `url`: the host and port `urlparse` finds in a URL (the sandbox's own parse).

pub mod hosts;
pub mod imports;
pub mod scope;
pub mod url;

use ruff_python_ast::Stmt;

/// A range of the tool's code, in bytes, for diagnostics (`file:line:col`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Span {
    /// Byte offset of the start in the code.
    pub offset: usize,
    /// Length in bytes.
    pub len: usize,
}

/// One module the code imports, as MCPBox's sandbox import hook sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ModuleUse {
    /// `import a.b` → `a.b`; `from a.b import c` → `a.b` (the name `__import__`
    /// receives; `c` is an attribute, not an import).
    Named {
        /// The dotted module name.
        name: String,
        /// Inside a `try` whose handlers catch `ImportError`: the code copes
        /// with the module missing, so it is not a run-time failure.
        guarded: bool,
    },
    /// `from . import x`: MCPBox runs a tool as a lone module, so a relative
    /// import always fails ("attempted relative import with no known parent package").
    Relative {
        /// The import as written, e.g. `.helpers`.
        written: String,
    },
    /// `__import__(name)` / `importlib.import_module(name)` with a name the code
    /// computes: no module can be named.
    Dynamic {
        /// Why (for reviewers).
        why: String,
    },
}

/// One call of the sandbox's `http` client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HostUse {
    /// The URL's host and port are written in the code.
    Known {
        /// Host, lowercased as the sandbox lowercases it.
        host: String,
        /// Port: explicit, or implied by the scheme (443 for https, 80 for http).
        port: u16,
    },
    /// The host (or port) depends on what only the run knows.
    Dynamic {
        /// Why (e.g. "argument `url`"), for reviewers.
        why: String,
    },
}

/// One use found in the code, with where it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Found<T> {
    /// What is used.
    pub what: T,
    /// Where, in the code.
    pub at: Span,
}

/// Everything one tool's code needs, in source order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Needs {
    /// Imports.
    pub modules: Vec<Found<ModuleUse>>,
    /// Calls of the `http` client.
    pub hosts: Vec<Found<HostUse>>,
}

/// Infers what a module's code needs, from its parsed body. Pure and total: any
/// tree gives an answer (unknown shapes are dynamic or ignored, never a panic).
pub fn needs(body: &[Stmt]) -> Needs {
    let scopes = scope::Scopes::build(body);
    Needs {
        modules: imports::find(body),
        hosts: hosts::find(body, &scopes),
    }
}

#[cfg(test)]
pub(crate) mod testing {
    //! Parsing for the unit tests of this module (production code gets its
    //! tree from `python::validate`).

    /// The needs of `code`, which must parse.
    pub fn needs_of(code: &str) -> super::Needs {
        let v = crate::python::validate(code);
        assert!(v.valid, "test code must parse: {:?}", v.error);
        v.needs
    }

    /// The hosts of `code` as `host:port` or `dynamic: why`.
    pub fn hosts_of(code: &str) -> Vec<String> {
        needs_of(code)
            .hosts
            .into_iter()
            .map(|f| match f.what {
                super::HostUse::Known { host, port } => format!("{host}:{port}"),
                super::HostUse::Dynamic { why } => format!("dynamic: {why}"),
            })
            .collect()
    }

    /// The modules of `code` as names (`?name` when guarded, `.x` relative,
    /// `dynamic: why`).
    pub fn modules_of(code: &str) -> Vec<String> {
        needs_of(code)
            .modules
            .into_iter()
            .map(|f| match f.what {
                super::ModuleUse::Named { name, guarded } => {
                    if guarded {
                        format!("?{name}")
                    } else {
                        name
                    }
                }
                super::ModuleUse::Relative { written } => written,
                super::ModuleUse::Dynamic { why } => format!("dynamic: {why}"),
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::testing::{hosts_of, modules_of};

    /// Every program of `tests/infer/` gives the hosts and modules its header
    /// comment expects (see `tests/infer/README.md`).
    #[test]
    fn corpus_matches_its_expectations() {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/infer");
        let mut paths: Vec<_> = std::fs::read_dir(dir)
            .expect("tests/infer exists")
            .map(|e| e.expect("entry").path())
            .filter(|p| p.extension().is_some_and(|e| e == "py"))
            .collect();
        paths.sort();
        assert!(paths.len() >= 30, "the corpus has {} programs", paths.len());
        let expected = |code: &str, key: &str| -> Vec<String> {
            let line = code
                .lines()
                .find_map(|l| l.strip_prefix(&format!("# {key}:")))
                .unwrap_or_else(|| panic!("no `# {key}:` line"));
            line.split("; ")
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(String::from)
                .collect()
        };
        let mut failures = Vec::new();
        for path in &paths {
            let code = std::fs::read_to_string(path).expect("read");
            let name = path.file_name().unwrap_or_default().to_string_lossy();
            let (hosts, modules) = (hosts_of(&code), modules_of(&code));
            if hosts != expected(&code, "hosts") {
                failures.push(format!("{name}: hosts {hosts:?}"));
            }
            if modules != expected(&code, "modules") {
                failures.push(format!("{name}: modules {modules:?}"));
            }
        }
        assert!(failures.is_empty(), "{}", failures.join("\n"));
    }

    /// Shapes that could make a naive follower loop or recurse without end
    /// get an answer: cycles and long chains are dynamic or ignored.
    #[test]
    fn cycles_and_long_chains_end() {
        let cycle = "A = B\nB = A\nasync def main():\n    await http.get(A)\n";
        assert_eq!(
            hosts_of(cycle),
            ["dynamic: the URL is built too deeply (or in a cycle) to follow"]
        );
        let long_sum = format!(
            "async def main():\n    await http.get('https://a.io/' + {})\n",
            vec!["'x'"; 3000].join(" + ")
        );
        assert_eq!(hosts_of(&long_sum).len(), 1);
        let chain = format!(
            "import urllib.parse\nasync def main():\n    await http.get(urllib.parse{}.urljoin('https://a.io/', 'x'))\n",
            ".parse".repeat(2000)
        );
        assert_eq!(
            hosts_of(&chain),
            ["dynamic: the URL is computed at run time"]
        );
        assert!(modules_of("from . import x\n").contains(&".".to_string()));
    }
}
