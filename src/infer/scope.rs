//! Which names a Python module binds, in which scope, and which of them are
//! constants — the facts `hosts` needs to follow `f"{API}/repos"` back to
//! `API = "https://api.github.com"`.
//!
//! A name is a *constant* of a scope when that scope binds it exactly once, by a
//! plain assignment (`NAME = expr` or `NAME: T = expr`) directly in the scope's
//! body — not inside an `if`, loop, `try`, `with` or `match`, and not rebound by
//! `global`/`nonlocal` from a function, an augmented assignment, a loop target,
//! a walrus, an import or a `def`. Anything else is a variable: its value is only
//! known at run time. Comprehension and lambda targets count as bindings of the
//! enclosing scope, which can only make a name *less* constant, never guess one.
//!
//! Finding hosts lives in `hosts`; this module only records bindings.

use std::collections::{HashMap, HashSet};

use ruff_python_ast::visitor::{self, Visitor};
use ruff_python_ast::{self as ast, Expr, Parameters, Pattern, Stmt};

/// How a name is bound once.
#[derive(Debug, Clone, Copy)]
pub enum Binding<'a> {
    /// `NAME = value`; `top_level` when directly in the scope's body.
    Value {
        /// The assigned expression.
        value: &'a Expr,
        /// Not inside a branch, loop, `try`, `with` or `match`.
        top_level: bool,
    },
    /// `import a.b as NAME` (path `a.b`), `import a.b` (NAME `a`, path `a`),
    /// `from a import b as NAME` (path `a.b`).
    Import(&'a str, Option<&'a str>),
    /// Any other binding (loop target, augmented assignment, `def`, …).
    Other,
}

/// What kind of block opened a scope.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// The module.
    Module,
    /// A function or lambda.
    Function,
    /// A class body (invisible to the functions nested in it, as in Python).
    Class,
}

/// One scope.
#[derive(Debug)]
pub struct Scope<'a> {
    /// The enclosing scope (None for the module).
    pub parent: Option<usize>,
    /// Module, function or class.
    pub kind: Kind,
    /// Parameter names (functions and lambdas).
    pub params: HashSet<&'a str>,
    /// Every binding of every name, in source order.
    pub bindings: HashMap<&'a str, Vec<Binding<'a>>>,
    globals: HashSet<&'a str>,
    nonlocals: HashSet<&'a str>,
}

impl Scope<'_> {
    fn new(parent: Option<usize>, kind: Kind) -> Self {
        Scope {
            parent,
            kind,
            params: HashSet::new(),
            bindings: HashMap::new(),
            globals: HashSet::new(),
            nonlocals: HashSet::new(),
        }
    }
}

/// What a name refers to, seen from one scope.
#[derive(Debug, Clone, Copy)]
pub enum Resolved<'a> {
    /// A parameter of an enclosing function: an argument of the call.
    Param,
    /// A constant, with the scope its value must be evaluated in.
    Constant(&'a Expr, usize),
    /// An imported module or attribute: the dotted path.
    Import(&'a str, Option<&'a str>),
    /// Bound more than once, or in a branch: a run-time value.
    Variable {
        /// Bound once, but inside a branch, loop, `try`, `with` or `match`.
        conditional: bool,
    },
    /// Not bound by the code: a builtin or a name the sandbox injects
    /// (`http`, `secrets`, `json`, `datetime`).
    Unbound,
}

/// Every scope of a module; index 0 is the module itself.
#[derive(Debug)]
pub struct Scopes<'a> {
    /// The scopes, in the order their blocks start.
    pub scopes: Vec<Scope<'a>>,
    /// Scope index of each function, lambda and class, by node address.
    by_node: HashMap<usize, usize>,
}

impl<'a> Scopes<'a> {
    /// Collects the bindings of a module body.
    pub fn build(body: &'a [Stmt]) -> Self {
        let mut c = Collector {
            scopes: vec![Scope::new(None, Kind::Module)],
            by_node: HashMap::new(),
            current: 0,
            nesting: 0,
        };
        for stmt in body {
            c.visit_stmt(stmt);
        }
        let mut scopes = c.scopes;
        // `global NAME` in a function rebinds the module's NAME; `nonlocal NAME`
        // an enclosing function's. Either way the name is no longer constant there.
        for i in 0..scopes.len() {
            let globals: Vec<&str> = scopes[i].globals.iter().copied().collect();
            for name in globals {
                scopes[i].bindings.remove(name);
                scopes[0]
                    .bindings
                    .entry(name)
                    .or_default()
                    .push(Binding::Other);
            }
            let nonlocals: Vec<&str> = scopes[i].nonlocals.iter().copied().collect();
            for name in nonlocals {
                scopes[i].bindings.remove(name);
                let mut up = scopes[i].parent;
                while let Some(p) = up {
                    if scopes[p].kind == Kind::Function {
                        scopes[p]
                            .bindings
                            .entry(name)
                            .or_default()
                            .push(Binding::Other);
                    }
                    up = scopes[p].parent;
                }
            }
        }
        Scopes {
            scopes,
            by_node: c.by_node,
        }
    }

    /// The scope a function, lambda or class node opened.
    pub fn of<T>(&self, node: &T) -> Option<usize> {
        self.by_node.get(&(node as *const T as usize)).copied()
    }

    /// What `name` refers to in scope `from`, by Python's rules (class scopes
    /// are skipped once the lookup has left them).
    pub fn resolve(&self, from: usize, name: &str) -> Resolved<'a> {
        let mut at = Some(from);
        let mut first = true;
        while let Some(i) = at {
            let Some(scope) = self.scopes.get(i) else {
                break;
            };
            at = scope.parent;
            if scope.kind == Kind::Class && !first {
                continue;
            }
            first = false;
            if scope.params.contains(name) {
                return Resolved::Param;
            }
            let Some(bindings) = scope.bindings.get(name) else {
                continue;
            };
            return match bindings.as_slice() {
                [Binding::Value {
                    value,
                    top_level: true,
                }] => Resolved::Constant(value, i),
                [Binding::Value {
                    top_level: false, ..
                }] => Resolved::Variable { conditional: true },
                [Binding::Import(path, attr)] => Resolved::Import(path, *attr),
                _ => Resolved::Variable { conditional: false },
            };
        }
        Resolved::Unbound
    }
}

struct Collector<'a> {
    scopes: Vec<Scope<'a>>,
    by_node: HashMap<usize, usize>,
    current: usize,
    /// Compound statements (if, loops, try, with, match) around the statement
    /// being visited, within the current scope.
    nesting: usize,
}

impl<'a> Collector<'a> {
    fn bind(&mut self, name: &'a str, b: Binding<'a>) {
        if let Some(scope) = self.scopes.get_mut(self.current) {
            scope.bindings.entry(name).or_default().push(b);
        }
    }

    /// Every name a target expression binds, as [`Binding::Other`].
    fn bind_target(&mut self, target: &'a Expr) {
        match target {
            Expr::Name(n) => self.bind(n.id.as_str(), Binding::Other),
            Expr::Tuple(t) => t.elts.iter().for_each(|e| self.bind_target(e)),
            Expr::List(l) => l.elts.iter().for_each(|e| self.bind_target(e)),
            Expr::Starred(s) => self.bind_target(&s.value),
            _ => {}
        }
    }

    /// Opens a scope for `node`, runs `f` in it, and closes it.
    fn enter<T>(&mut self, node: &T, kind: Kind, f: impl FnOnce(&mut Self)) {
        let id = self.scopes.len();
        self.scopes.push(Scope::new(Some(self.current), kind));
        self.by_node.insert(node as *const T as usize, id);
        let (outer, nesting) = (self.current, self.nesting);
        self.current = id;
        self.nesting = 0;
        f(self);
        self.current = outer;
        self.nesting = nesting;
    }

    fn add_params(&mut self, params: &'a Parameters) {
        if let Some(scope) = self.scopes.get_mut(self.current) {
            for p in params.iter() {
                scope.params.insert(p.name().as_str());
            }
        }
    }

    /// Defaults and annotations are evaluated in the enclosing scope.
    fn visit_parameter_exprs(&mut self, params: &'a Parameters) {
        for p in params.iter_non_variadic_params() {
            if let Some(d) = &p.default {
                self.visit_expr(d);
            }
        }
    }

    fn visit_pattern_names(&mut self, pattern: &'a Pattern) {
        match pattern {
            Pattern::MatchAs(p) => {
                if let Some(n) = &p.name {
                    self.bind(n.as_str(), Binding::Other);
                }
                if let Some(inner) = &p.pattern {
                    self.visit_pattern_names(inner);
                }
            }
            Pattern::MatchStar(p) => {
                if let Some(n) = &p.name {
                    self.bind(n.as_str(), Binding::Other);
                }
            }
            Pattern::MatchMapping(p) => {
                if let Some(n) = &p.rest {
                    self.bind(n.as_str(), Binding::Other);
                }
                p.patterns.iter().for_each(|q| self.visit_pattern_names(q));
            }
            Pattern::MatchSequence(p) => {
                p.patterns.iter().for_each(|q| self.visit_pattern_names(q))
            }
            Pattern::MatchOr(p) => p.patterns.iter().for_each(|q| self.visit_pattern_names(q)),
            Pattern::MatchClass(p) => {
                p.arguments
                    .patterns
                    .iter()
                    .for_each(|q| self.visit_pattern_names(q));
                p.arguments
                    .keywords
                    .iter()
                    .for_each(|k| self.visit_pattern_names(&k.pattern));
            }
            Pattern::MatchValue(_) | Pattern::MatchSingleton(_) => {}
        }
    }
}

impl<'a> Visitor<'a> for Collector<'a> {
    fn visit_stmt(&mut self, stmt: &'a Stmt) {
        let top_level = self.nesting == 0;
        match stmt {
            Stmt::FunctionDef(f) => {
                self.bind(f.name.as_str(), Binding::Other);
                f.decorator_list
                    .iter()
                    .for_each(|d| self.visit_expr(&d.expression));
                self.visit_parameter_exprs(&f.parameters);
                self.enter(f, Kind::Function, |c| {
                    c.add_params(&f.parameters);
                    f.body.iter().for_each(|s| c.visit_stmt(s));
                });
                return;
            }
            Stmt::ClassDef(cl) => {
                self.bind(cl.name.as_str(), Binding::Other);
                cl.decorator_list
                    .iter()
                    .for_each(|d| self.visit_expr(&d.expression));
                if let Some(args) = &cl.arguments {
                    self.visit_arguments(args);
                }
                self.enter(cl, Kind::Class, |c| {
                    cl.body.iter().for_each(|s| c.visit_stmt(s));
                });
                return;
            }
            Stmt::Assign(a) => {
                for t in &a.targets {
                    match t {
                        Expr::Name(n) => self.bind(
                            n.id.as_str(),
                            Binding::Value {
                                value: &a.value,
                                top_level,
                            },
                        ),
                        other => self.bind_target(other),
                    }
                }
            }
            Stmt::AnnAssign(a) => match (&*a.target, &a.value) {
                (Expr::Name(n), Some(value)) => {
                    self.bind(n.id.as_str(), Binding::Value { value, top_level })
                }
                // `x: str` alone binds nothing.
                (Expr::Name(_), None) => {}
                (other, _) => self.bind_target(other),
            },
            Stmt::AugAssign(a) => self.bind_target(&a.target),
            Stmt::For(f) => self.bind_target(&f.target),
            Stmt::With(w) => {
                for item in &w.items {
                    if let Some(v) = &item.optional_vars {
                        self.bind_target(v);
                    }
                }
            }
            Stmt::Delete(d) => d.targets.iter().for_each(|t| self.bind_target(t)),
            Stmt::Import(i) => {
                for alias in &i.names {
                    let full = alias.name.as_str();
                    match &alias.asname {
                        Some(as_name) => self.bind(as_name.as_str(), Binding::Import(full, None)),
                        None => {
                            // `import a.b.c` binds `a`, the top-level package.
                            let top = full.split('.').next().unwrap_or(full);
                            self.bind(top, Binding::Import(top, None));
                        }
                    }
                }
            }
            Stmt::ImportFrom(i) => {
                for alias in &i.names {
                    let bound = alias.asname.as_ref().unwrap_or(&alias.name).as_str();
                    match (&i.module, i.level) {
                        (Some(m), 0) => self.bind(
                            bound,
                            Binding::Import(m.as_str(), Some(alias.name.as_str())),
                        ),
                        _ => self.bind(bound, Binding::Other),
                    }
                }
            }
            Stmt::Global(g) => {
                if let Some(scope) = self.scopes.get_mut(self.current) {
                    scope.globals.extend(g.names.iter().map(|n| n.as_str()));
                }
            }
            Stmt::Nonlocal(n) => {
                if let Some(scope) = self.scopes.get_mut(self.current) {
                    scope.nonlocals.extend(n.names.iter().map(|n| n.as_str()));
                }
            }
            Stmt::Try(t) => {
                for h in &t.handlers {
                    let ast::ExceptHandler::ExceptHandler(h) = h;
                    if let Some(n) = &h.name {
                        self.bind(n.as_str(), Binding::Other);
                    }
                }
            }
            Stmt::Match(m) => {
                for case in &m.cases {
                    self.visit_pattern_names(&case.pattern);
                }
            }
            Stmt::TypeAlias(t) => self.bind_target(&t.name),
            _ => {}
        }
        let compound = matches!(
            stmt,
            Stmt::If(_)
                | Stmt::For(_)
                | Stmt::While(_)
                | Stmt::Try(_)
                | Stmt::With(_)
                | Stmt::Match(_)
        );
        if compound {
            self.nesting += 1;
        }
        visitor::walk_stmt(self, stmt);
        if compound {
            self.nesting -= 1;
        }
    }

    fn visit_expr(&mut self, expr: &'a Expr) {
        match expr {
            Expr::Lambda(l) => {
                if let Some(p) = &l.parameters {
                    self.visit_parameter_exprs(p);
                }
                self.enter(l, Kind::Function, |c| {
                    if let Some(p) = &l.parameters {
                        c.add_params(p);
                    }
                    c.visit_expr(&l.body);
                });
                return;
            }
            Expr::Named(n) => self.bind_target(&n.target),
            _ => {}
        }
        visitor::walk_expr(self, expr);
    }

    fn visit_comprehension(&mut self, comprehension: &'a ast::Comprehension) {
        self.bind_target(&comprehension.target);
        visitor::walk_comprehension(self, comprehension);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ruff_python_parser::parse_module;

    fn with_scopes(code: &str, f: impl FnOnce(&Scopes<'_>)) {
        let parsed = parse_module(code).expect("parses");
        let scopes = Scopes::build(&parsed.syntax().body);
        f(&scopes);
    }

    #[test]
    fn a_single_top_level_assignment_is_a_constant() {
        with_scopes("API = 'https://x'\nasync def main():\n    pass\n", |s| {
            assert!(matches!(s.resolve(1, "API"), Resolved::Constant(_, 0)));
        });
    }

    #[test]
    fn reassigned_conditional_and_global_rebinding_are_variables() {
        let code =
            "A = 'x'\nA = 'y'\nif c:\n    B = 'x'\nC = 'z'\ndef f():\n    global C\n    C = 'w'\n";
        with_scopes(code, |s| {
            assert!(matches!(
                s.resolve(0, "A"),
                Resolved::Variable { conditional: false }
            ));
            assert!(matches!(
                s.resolve(0, "B"),
                Resolved::Variable { conditional: true }
            ));
            assert!(matches!(s.resolve(0, "C"), Resolved::Variable { .. }));
        });
    }

    #[test]
    fn parameters_shadow_module_names_and_class_scopes_are_skipped() {
        let code = "U = 'a'\nclass K:\n    U = 'b'\n    def m(self):\n        return U\ndef f(U):\n    return U\n";
        with_scopes(code, |s| {
            // Scopes: 0 module, 1 class K, 2 method m, 3 function f.
            assert!(matches!(s.resolve(2, "U"), Resolved::Constant(_, 0)));
            assert!(matches!(s.resolve(1, "U"), Resolved::Constant(_, 1)));
            assert!(matches!(s.resolve(3, "U"), Resolved::Param));
        });
    }

    #[test]
    fn imports_record_their_path() {
        let code = "import urllib.parse\nimport urllib.parse as up\nfrom urllib.parse import urljoin as j\n";
        with_scopes(code, |s| {
            assert!(matches!(
                s.resolve(0, "up"),
                Resolved::Import("urllib.parse", None)
            ));
            assert!(matches!(
                s.resolve(0, "j"),
                Resolved::Import("urllib.parse", Some("urljoin"))
            ));
            assert!(matches!(
                s.resolve(0, "urllib"),
                Resolved::Import("urllib", None)
            ));
            assert!(matches!(s.resolve(0, "http"), Resolved::Unbound));
        });
    }
}
