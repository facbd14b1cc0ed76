//! The hosts a tool calls through MCPBox's sandbox `http` client.
//!
//! The sandbox injects `http` (an SSRF-protected `httpx.AsyncClient` wrapper) into
//! every tool; its methods `get`, `post`, `put`, `patch`, `delete`, `head`,
//! `options` take the URL first and `request(method, url)` second (or `url=`).
//! For each such call the URL expression is followed as far as the code writes
//! it:
//! - string literals, and f-strings, `+` concatenations, `"…".format(…)` and
//!   `"…" % …` as far as their leading part is known;
//! - names bound once, unconditionally, in the scope they resolve to (module
//!   constants, locals, through nested functions — see `scope`);
//! - `urllib.parse.urljoin(base, path)` when `path` is a literal that keeps the
//!   base's host, and `urlunsplit`/`urlunparse` of a literal scheme and netloc.
//!
//! Arguments, `secrets[…]`, names assigned twice or in a branch, and anything
//! computed make the use *dynamic*, with the reason; a host is never guessed.
//! `client = http` aliases are followed like any constant.

use ruff_python_ast::visitor::{self, Visitor};
use ruff_python_ast::{self as ast, Expr, Operator, Stmt};
use ruff_text_size::Ranged;

use super::scope::{Resolved, Scopes};
use super::url::{self, Target, Text};
use super::{Found, HostUse, Span};

/// The client's methods whose first argument is the URL.
const URL_FIRST: [&str; 7] = ["get", "post", "put", "patch", "delete", "head", "options"];

/// How deep constants may refer to constants before we stop following them
/// (a cycle `A = B`, `B = A` would never end).
const MAX_DEPTH: usize = 32;

/// Every `http` client call in the module, in source order.
pub fn find(body: &[Stmt], scopes: &Scopes<'_>) -> Vec<Found<HostUse>> {
    let mut f = Finder {
        scopes,
        current: 0,
        found: Vec::new(),
    };
    for stmt in body {
        f.visit_stmt(stmt);
    }
    f.found.sort_by_key(|u| u.at.offset);
    f.found
}

struct Finder<'s, 'a> {
    scopes: &'s Scopes<'a>,
    current: usize,
    found: Vec<Found<HostUse>>,
}

impl<'a> Finder<'_, 'a> {
    fn within<T>(&mut self, node: &T, f: impl FnOnce(&mut Self)) {
        let outer = self.current;
        if let Some(id) = self.scopes.of(node) {
            self.current = id;
        }
        f(self);
        self.current = outer;
    }

    /// A call of the client: record where its URL leads.
    fn call(&mut self, call: &'a ast::ExprCall) {
        let Expr::Attribute(attr) = &*call.func else {
            return;
        };
        if !is_client(self.scopes, self.current, &attr.value, 0) {
            return;
        }
        let method = attr.attr.as_str();
        let position = if URL_FIRST.contains(&method) {
            0
        } else if method == "request" {
            1
        } else {
            return;
        };
        let args = &call.arguments;
        let url = args.find_keyword("url").map(|k| &k.value).or_else(|| {
            // A `*args` before the URL's position hides it.
            let before = args.args.iter().take(position + 1);
            if before.clone().any(|a| a.is_starred_expr()) {
                None
            } else {
                args.args.get(position)
            }
        });
        let (what, range) = match url {
            Some(url) => {
                let text = eval(self.scopes, self.current, url, 0);
                let what = match url::target(&text) {
                    Target::Host(host, port) => HostUse::Known { host, port },
                    Target::Dynamic(why) => HostUse::Dynamic { why },
                    Target::Nowhere => return,
                };
                (what, url.range())
            }
            None if args.args.iter().any(|a| a.is_starred_expr())
                || args.keywords.iter().any(|k| k.arg.is_none()) =>
            {
                (
                    HostUse::Dynamic {
                        why: "the URL is passed with `*args`/`**kwargs`".to_string(),
                    },
                    call.range(),
                )
            }
            // No URL at all: the call fails before any network access.
            None => return,
        };
        self.found.push(Found {
            what,
            at: Span {
                offset: range.start().to_usize(),
                len: range.len().to_usize(),
            },
        });
    }
}

impl<'a> Visitor<'a> for Finder<'_, 'a> {
    fn visit_stmt(&mut self, stmt: &'a Stmt) {
        match stmt {
            Stmt::FunctionDef(f) => {
                f.decorator_list
                    .iter()
                    .for_each(|d| self.visit_expr(&d.expression));
                for p in f.parameters.iter_non_variadic_params() {
                    if let Some(d) = &p.default {
                        self.visit_expr(d);
                    }
                }
                self.within(f, |me| f.body.iter().for_each(|s| me.visit_stmt(s)));
            }
            Stmt::ClassDef(c) => {
                c.decorator_list
                    .iter()
                    .for_each(|d| self.visit_expr(&d.expression));
                if let Some(args) = &c.arguments {
                    self.visit_arguments(args);
                }
                self.within(c, |me| c.body.iter().for_each(|s| me.visit_stmt(s)));
            }
            _ => visitor::walk_stmt(self, stmt),
        }
    }

    fn visit_expr(&mut self, expr: &'a Expr) {
        match expr {
            Expr::Lambda(l) => {
                if let Some(p) = &l.parameters {
                    for p in p.iter_non_variadic_params() {
                        if let Some(d) = &p.default {
                            self.visit_expr(d);
                        }
                    }
                }
                self.within(l, |me| me.visit_expr(&l.body));
            }
            Expr::Call(c) => {
                self.call(c);
                visitor::walk_expr(self, expr);
            }
            _ => visitor::walk_expr(self, expr),
        }
    }
}

/// Whether `expr` is MCPBox's `http` client: the injected global (or a `main`
/// parameter named `http`, which MCPBox fills with it), or a constant alias.
fn is_client(scopes: &Scopes<'_>, scope: usize, expr: &Expr, depth: usize) -> bool {
    let Expr::Name(n) = expr else { return false };
    if depth > MAX_DEPTH {
        return false;
    }
    match scopes.resolve(scope, n.id.as_str()) {
        Resolved::Unbound | Resolved::Param => n.id.as_str() == "http",
        Resolved::Constant(value, at) => is_client(scopes, at, value, depth + 1),
        Resolved::Import(..) | Resolved::Variable { .. } => false,
    }
}

/// What the code says of the string `expr` evaluates to.
fn eval(scopes: &Scopes<'_>, scope: usize, expr: &Expr, depth: usize) -> Text {
    if depth > MAX_DEPTH {
        return Text::Unknown("the URL is built too deeply (or in a cycle) to follow".to_string());
    }
    match expr {
        Expr::StringLiteral(s) => Text::Full(s.value.to_str().to_string()),
        Expr::FString(f) => fstring(scopes, scope, &f.value, depth),
        Expr::BinOp(b) if b.op == Operator::Add => match eval(scopes, scope, &b.left, depth + 1) {
            Text::Full(left) => match eval(scopes, scope, &b.right, depth + 1) {
                Text::Full(right) => Text::Full(left + &right),
                Text::Prefix(right, why) => Text::Prefix(left + &right, why),
                Text::Unknown(why) => Text::Prefix(left, why),
            },
            other => other,
        },
        // `"https://%s/x" % host`: known up to the first conversion.
        Expr::BinOp(b) if b.op == Operator::Mod => match eval(scopes, scope, &b.left, depth + 1) {
            Text::Full(left) | Text::Prefix(left, _) => {
                let cut = left.find('%').unwrap_or(left.len());
                Text::Prefix(
                    left[..cut].to_string(),
                    "the URL is %-formatted".to_string(),
                )
            }
            other => other,
        },
        Expr::Name(n) => name(scopes, scope, n.id.as_str(), depth),
        Expr::Subscript(s) if is_secrets(&s.value) => Text::Unknown(secret_reason(Some(&s.slice))),
        Expr::Call(c) => call(scopes, scope, c, depth),
        _ => Text::Unknown("the URL is computed at run time".to_string()),
    }
}

/// A name's value: a constant is followed, anything else says why not.
fn name(scopes: &Scopes<'_>, scope: usize, id: &str, depth: usize) -> Text {
    match scopes.resolve(scope, id) {
        Resolved::Constant(value, at) => eval(scopes, at, value, depth + 1),
        Resolved::Param => Text::Unknown(format!("argument `{id}`")),
        Resolved::Variable { conditional: true } => {
            Text::Unknown(format!("`{id}` is assigned in a branch, not a constant"))
        }
        Resolved::Variable { conditional: false } => {
            Text::Unknown(format!("`{id}` is rebound, not a constant"))
        }
        Resolved::Import(..) => Text::Unknown(format!("`{id}` is imported")),
        Resolved::Unbound if id == "secrets" => Text::Unknown(secret_reason(None)),
        Resolved::Unbound => Text::Unknown(format!("`{id}` is not defined in the code")),
    }
}

fn is_secrets(expr: &Expr) -> bool {
    matches!(expr, Expr::Name(n) if n.id.as_str() == "secrets")
}

fn secret_reason(key: Option<&Expr>) -> String {
    match key {
        Some(Expr::StringLiteral(k)) => format!("secret `{}`", k.value.to_str()),
        _ => "a secret".to_string(),
    }
}

/// f-strings: literal parts and known interpolations, up to the first unknown.
fn fstring(scopes: &Scopes<'_>, scope: usize, value: &ast::FStringValue, depth: usize) -> Text {
    let mut known = String::new();
    for part in value.iter() {
        let elements = match part {
            ast::FStringPart::Literal(s) => {
                known.push_str(&s.value);
                continue;
            }
            ast::FStringPart::FString(f) => &f.elements,
        };
        for element in elements.iter() {
            match element {
                ast::InterpolatedStringElement::Literal(l) => known.push_str(&l.value),
                ast::InterpolatedStringElement::Interpolation(i) => {
                    // `{x!r}`, `{x:>10}` and `{x=}` change the text: not followed.
                    let plain = i.conversion == ast::ConversionFlag::None
                        && i.format_spec.is_none()
                        && i.debug_text.is_none();
                    let text = if plain {
                        eval(scopes, scope, &i.expression, depth + 1)
                    } else {
                        Text::Unknown("the URL is formatted at run time".to_string())
                    };
                    match text {
                        Text::Full(s) => known.push_str(&s),
                        Text::Prefix(s, why) => return Text::Prefix(known + &s, why),
                        Text::Unknown(why) if known.is_empty() => return Text::Unknown(why),
                        Text::Unknown(why) => return Text::Prefix(known, why),
                    }
                }
            }
        }
    }
    Text::Full(known)
}

/// Calls that build URLs: `urljoin`, `urlunsplit`/`urlunparse`, `str.format`,
/// `secrets.get`.
fn call(scopes: &Scopes<'_>, scope: usize, c: &ast::ExprCall, depth: usize) -> Text {
    let args = &c.arguments;
    if let Expr::Attribute(a) = &*c.func {
        if is_secrets(&a.value) && a.attr.as_str() == "get" {
            return Text::Unknown(secret_reason(args.args.first()));
        }
        // `"https://{}/x".format(host)`: known up to the first field.
        if a.attr.as_str() == "format" {
            if let Text::Full(s) | Text::Prefix(s, _) = eval(scopes, scope, &a.value, depth + 1) {
                let cut = s.find('{').unwrap_or(s.len());
                return Text::Prefix(s[..cut].to_string(), "the URL is formatted".to_string());
            }
        }
    }
    let computed = || Text::Unknown("the URL is computed at run time".to_string());
    let Some(path) = callee(scopes, scope, &c.func) else {
        return computed();
    };
    match path.as_str() {
        "urllib.parse.urljoin" => {
            let (Some(base), Some(rel)) = (args.args.first(), args.args.get(1)) else {
                return computed();
            };
            let base = eval(scopes, scope, base, depth + 1);
            match eval(scopes, scope, rel, depth + 1) {
                // A relative reference keeps the base's scheme and host.
                Text::Full(r) if !r.starts_with("//") && !has_scheme(&r) => origin(&base),
                // A path whose known start already rules out a scheme or `//host`.
                Text::Prefix(r, _)
                    if r.len() >= 2 && r.starts_with('/') && !r.starts_with("//") =>
                {
                    origin(&base)
                }
                // An absolute reference replaces them.
                Text::Full(r) if has_scheme(&r) => Text::Full(r),
                Text::Full(_) | Text::Prefix(..) => computed(),
                Text::Unknown(why) => Text::Unknown(format!(
                    "urljoin with a run-time second argument may replace the host ({why})"
                )),
            }
        }
        "urllib.parse.urlunsplit" | "urllib.parse.urlunparse" => {
            let Some(
                Expr::Tuple(ast::ExprTuple { elts, .. }) | Expr::List(ast::ExprList { elts, .. }),
            ) = args.args.first()
            else {
                return computed();
            };
            match (
                elts.first().map(|e| eval(scopes, scope, e, depth + 1)),
                elts.get(1).map(|e| eval(scopes, scope, e, depth + 1)),
            ) {
                (Some(Text::Full(scheme)), Some(Text::Full(netloc))) => Text::Prefix(
                    format!("{scheme}://{netloc}/"),
                    "the path is joined".to_string(),
                ),
                (_, Some(Text::Unknown(why))) | (Some(Text::Unknown(why)), _) => Text::Unknown(why),
                _ => computed(),
            }
        }
        _ => computed(),
    }
}

/// `scheme://authority/` of a base URL whose authority is complete; the rest
/// of the join is not needed to know the host.
fn origin(base: &Text) -> Text {
    let why = "the path is joined".to_string();
    let s = match base {
        Text::Full(s) => s.clone(),
        Text::Prefix(s, _) => s.clone(),
        Text::Unknown(w) => return Text::Unknown(w.clone()),
    };
    let Some(i) = s.find("://") else {
        return Text::Unknown("urljoin of a base that is not an absolute URL".to_string());
    };
    let after = &s[i + 3..];
    match (after.find(['/', '?', '#']), base) {
        (Some(e), _) => Text::Prefix(format!("{}/", &s[..i + 3 + e]), why),
        (None, Text::Full(_)) => Text::Prefix(format!("{s}/"), why),
        (None, _) => Text::Prefix(s, why),
    }
}

/// `scheme:` at the start (RFC 3986: a letter, then letters, digits, `+-.`).
fn has_scheme(s: &str) -> bool {
    let Some((scheme, _)) = s.split_once(':') else {
        return false;
    };
    let mut chars = scheme.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic())
        && chars.all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c))
}

/// The dotted path a callee names through imports: `urljoin` after
/// `from urllib.parse import urljoin`, `up.urljoin` after
/// `import urllib.parse as up`, `urllib.parse.urljoin` after `import urllib.parse`.
fn callee(scopes: &Scopes<'_>, scope: usize, func: &Expr) -> Option<String> {
    // Walk down `a.b.c` to `a` without recursion (chains may be long).
    let mut attrs: Vec<&str> = Vec::new();
    let mut at = func;
    while let Expr::Attribute(a) = at {
        if attrs.len() > MAX_DEPTH {
            return None;
        }
        attrs.push(a.attr.as_str());
        at = &a.value;
    }
    let Expr::Name(n) = at else { return None };
    let mut path = match scopes.resolve(scope, n.id.as_str()) {
        Resolved::Import(path, Some(attr)) => format!("{path}.{attr}"),
        Resolved::Import(path, None) => path.to_string(),
        _ => return None,
    };
    for attr in attrs.iter().rev() {
        path.push('.');
        path.push_str(attr);
    }
    Some(path)
}

#[cfg(test)]
mod tests {
    use crate::infer::testing::hosts_of;

    #[test]
    fn literals_and_module_constants() {
        let code = "API = 'https://api.github.com'\nasync def main(repo: str):\n    await http.get('http://pihole.lan/api')\n    return await http.get(f'{API}/repos/{repo}')\n";
        assert_eq!(hosts_of(code), ["pihole.lan:80", "api.github.com:443"]);
    }

    #[test]
    fn arguments_and_secrets_are_dynamic() {
        let code = "async def main(url: str):\n    await http.get(url)\n    await http.post(secrets['HA_URL'] + '/api')\n    await http.get(f\"{secrets.get('B')}/x\")\n";
        assert_eq!(
            hosts_of(code),
            [
                "dynamic: argument `url`",
                "dynamic: secret `HA_URL`",
                "dynamic: secret `B`"
            ]
        );
    }

    #[test]
    fn a_host_not_closed_by_the_literal_is_dynamic() {
        let code = "async def main(sub: str, path: str):\n    await http.get(f'https://{sub}.example.com/')\n    await http.get('https://api.example.com' + path)\n";
        assert_eq!(
            hosts_of(code),
            ["dynamic: argument `sub`", "dynamic: argument `path`"]
        );
    }

    #[test]
    fn request_takes_the_url_second_and_url_keyword_anywhere() {
        let code = "async def main():\n    await http.request('GET', 'https://a.io/x')\n    await http.get(url='https://b.io:8443/')\n    await http.stream('GET', 'https://c.io/')\n";
        assert_eq!(hosts_of(code), ["a.io:443", "b.io:8443"]);
    }

    #[test]
    fn urljoin_keeps_the_base_host_only_for_relative_literals() {
        let code = "from urllib.parse import urljoin\nimport urllib.parse as up\nBASE = 'https://api.x.io/v1/'\nasync def main(p: str):\n    await http.get(urljoin(BASE, 'items'))\n    await http.get(up.urljoin(BASE, p))\n    await http.get(urljoin(BASE, 'https://other.io/'))\n";
        let got = hosts_of(code);
        assert_eq!(got[0], "api.x.io:443");
        assert!(got[1].starts_with("dynamic: urljoin"), "{got:?}");
        assert_eq!(got[2], "other.io:443");
    }

    #[test]
    fn other_receivers_are_not_the_client() {
        let code = "import httpx\nasync def main():\n    await httpx.get('https://a.io/')\n    client = object()\n    await client.get('https://b.io/')\n";
        assert!(hosts_of(code).is_empty());
    }

    #[test]
    fn aliases_of_the_client_are_followed() {
        let code = "client = http\nasync def main():\n    await client.get('https://a.io/')\n";
        assert_eq!(hosts_of(code), ["a.io:443"]);
    }
}
