//! The modules a tool imports, named as MCPBox's sandbox import hook sees them.
//!
//! The sandbox replaces `__import__` with a hook that receives the module name
//! of each import statement and refuses it unless that name *or its top-level
//! package* is in the allowed list (`name in allowed or name.split(".")[0] in
//! allowed`, MCPBox's sandbox executor `safe_import`). So:
//! - `import a.b.c` and `import a.b.c as x` ask for `a.b.c`;
//! - `from a.b import c` asks for `a.b` (`c` is an attribute of it);
//! - `from . import x` runs with no parent package and always fails;
//! - `__import__("a")` and `importlib.import_module("a")` ask for `a` — with a
//!   computed name they are *dynamic*.
//!
//! Imports anywhere count (module level, functions, classes, branches), since any
//! of them may run. An import inside a `try` that catches `ImportError` (or
//! `ModuleNotFoundError`, `Exception`, `BaseException`, or everything) is
//! *guarded*: the code copes with the refusal. Checking the names against the
//! allow-list lives in `compare`.

use ruff_python_ast::visitor::{self, Visitor};
use ruff_python_ast::{self as ast, Expr, Stmt};
use ruff_text_size::Ranged;

use super::{Found, ModuleUse, Span};

/// Every import of the module, in source order.
pub fn find(body: &[Stmt]) -> Vec<Found<ModuleUse>> {
    let mut f = Finder {
        guarded: 0,
        found: Vec::new(),
    };
    for stmt in body {
        f.visit_stmt(stmt);
    }
    f.found.sort_by_key(|u| u.at.offset);
    f.found
}

struct Finder {
    /// `try` bodies around the current statement whose handlers catch ImportError.
    guarded: usize,
    found: Vec<Found<ModuleUse>>,
}

fn span(r: ruff_text_size::TextRange) -> Span {
    Span {
        offset: r.start().to_usize(),
        len: r.len().to_usize(),
    }
}

impl Finder {
    fn named(&mut self, name: &str, at: Span) {
        self.found.push(Found {
            what: ModuleUse::Named {
                name: name.to_string(),
                guarded: self.guarded > 0,
            },
            at,
        });
    }
}

/// Whether an `except` clause catches a refused import.
fn catches_import_error(h: &ast::ExceptHandler) -> bool {
    let ast::ExceptHandler::ExceptHandler(h) = h;
    let catches = |e: &Expr| match e {
        Expr::Name(n) => matches!(
            n.id.as_str(),
            "ImportError" | "ModuleNotFoundError" | "Exception" | "BaseException"
        ),
        _ => false,
    };
    match h.type_.as_deref() {
        None => true,
        Some(Expr::Tuple(t)) => t.elts.iter().any(catches),
        Some(e) => catches(e),
    }
}

impl<'a> Visitor<'a> for Finder {
    fn visit_stmt(&mut self, stmt: &'a Stmt) {
        match stmt {
            Stmt::Import(i) => {
                for alias in &i.names {
                    self.named(alias.name.as_str(), span(alias.range));
                }
            }
            Stmt::ImportFrom(i) => {
                let module = i.module.as_ref().map_or("", |m| m.as_str());
                let at = match &i.module {
                    Some(m) => span(m.range),
                    None => span(i.range),
                };
                if i.level > 0 {
                    self.found.push(Found {
                        what: ModuleUse::Relative {
                            written: format!("{}{module}", ".".repeat(i.level as usize)),
                        },
                        at,
                    });
                } else {
                    self.named(module, at);
                }
            }
            Stmt::Try(t) if t.handlers.iter().any(catches_import_error) => {
                self.guarded += 1;
                t.body.iter().for_each(|s| self.visit_stmt(s));
                self.guarded -= 1;
                for h in &t.handlers {
                    self.visit_except_handler(h);
                }
                t.orelse.iter().for_each(|s| self.visit_stmt(s));
                t.finalbody.iter().for_each(|s| self.visit_stmt(s));
                return;
            }
            _ => {}
        }
        visitor::walk_stmt(self, stmt);
    }

    fn visit_expr(&mut self, expr: &'a Expr) {
        if let Expr::Call(c) = expr {
            let dynamic_import = match &*c.func {
                Expr::Name(n) => n.id.as_str() == "__import__",
                Expr::Attribute(a) => {
                    a.attr.as_str() == "import_module"
                        && matches!(&*a.value, Expr::Name(n) if n.id.as_str() == "importlib")
                }
                _ => false,
            };
            if dynamic_import {
                match c.arguments.args.first() {
                    Some(Expr::StringLiteral(s)) => self.named(s.value.to_str(), span(s.range)),
                    Some(other) => self.found.push(Found {
                        what: ModuleUse::Dynamic {
                            why: "the module name is computed at run time".to_string(),
                        },
                        at: span(other.range()),
                    }),
                    None => {}
                }
            }
        }
        visitor::walk_expr(self, expr);
    }
}

#[cfg(test)]
mod tests {
    use crate::infer::testing::modules_of;

    #[test]
    fn import_names_are_what_the_hook_receives() {
        let code = "import xml.etree.ElementTree as ET\nimport json, re\nfrom email.utils import parsedate\nfrom urllib import parse\nasync def main():\n    import ipaddress\n";
        assert_eq!(
            modules_of(code),
            [
                "xml.etree.ElementTree",
                "json",
                "re",
                "email.utils",
                "urllib",
                "ipaddress"
            ]
        );
    }

    #[test]
    fn relative_dynamic_and_guarded_imports() {
        let code = "from . import helpers\nfrom ..pkg import x\ntry:\n    import yaml\nexcept ImportError:\n    yaml = None\nasync def main(m: str):\n    __import__('os')\n    importlib.import_module(m)\n";
        assert_eq!(
            modules_of(code),
            [
                ".",
                "..pkg",
                "?yaml",
                "os",
                "dynamic: the module name is computed at run time"
            ]
        );
    }

    #[test]
    fn a_try_that_does_not_catch_import_errors_does_not_guard() {
        let code = "try:\n    import yaml\nexcept KeyError:\n    pass\n";
        assert_eq!(modules_of(code), ["yaml"]);
    }
}
