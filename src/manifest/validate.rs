//! Semantic checks of loaded manifests: names, references, MCPBox's limits and
//! Python rules. Offline and pure: every problem is returned, none stops the others.
//!
//! Parsing and field types are checked earlier, in `load`; turning valid manifests
//! into a desired state happens in `desired`.

use std::collections::{BTreeMap, BTreeSet};

use super::kinds::{
    Doc, Document, Metadata, ModulesSpec, ServerScopedMetadata, ServerSpec, SettingsSpec, ToolSpec,
    TunnelSpec,
};
use super::load::{Loaded, ToolCode};
use crate::diagnostic::{location_at, Code, Diagnostic};
use crate::model::{AuthType, ToolType};
use crate::rules::limits;
use crate::rules::names::{
    host_problem, is_header_name, is_module_name, is_secret_name, is_snake_name,
};
use crate::source::FileSet;

struct Checker<'a> {
    files: &'a FileSet,
    diags: Vec<Diagnostic>,
    /// Literal secrets found in tool code, scrubbed from every message at the end.
    literals: Vec<super::secrets::Literal>,
}

impl Checker<'_> {
    fn push(&mut self, doc: &Loaded, code: Code, path: &str, msg: String, help: &str) {
        let d = doc.diag(self.files, code, path, msg).help(help);
        self.diags.push(d);
    }

    fn len(&mut self, doc: &Loaded, path: &str, what: &str, value: Option<&str>, max: usize) {
        if let Some(v) = value {
            let n = v.chars().count();
            if n > max {
                self.push(
                    doc,
                    Code::OutOfRange,
                    path,
                    format!("{what} is {n} characters, more than MCPBox's {max}"),
                    "shorten it",
                );
            }
        }
    }

    fn timeout(&mut self, doc: &Loaded, path: &str, value: Option<i64>) {
        if let Some(t) = value {
            if !limits::TIMEOUT.contains(&t) {
                self.push(
                    doc,
                    Code::OutOfRange,
                    path,
                    format!("timeout {t} ms is outside MCPBox's 1000 to 300000"),
                    "give a value from 1000 to 300000 milliseconds",
                );
            }
        }
    }

    fn tool_name(&mut self, doc: &Loaded, path: &str, name: &str, what: &str) {
        if !is_snake_name(name) || name.len() > limits::NAME {
            self.push(
                doc,
                Code::InvalidName,
                path,
                format!("{what} name `{name}` does not match ^[a-z][a-z0-9_]*$"),
                "use lower-case letters, digits and underscores, starting with a letter",
            );
        }
    }
}

/// Checks everything that can be checked without a database.
pub fn validate(files: &FileSet, docs: &[Loaded]) -> Vec<Diagnostic> {
    validate_with(files, docs, &[])
}

/// [`validate`], knowing the objects of documents that failed to load: a
/// reference to one of them is not a second error (its own error is reported).
pub fn validate_with(
    files: &FileSet,
    docs: &[Loaded],
    unloaded: &[crate::manifest::load::Declared],
) -> Vec<Diagnostic> {
    let mut c = Checker {
        files,
        diags: Vec::new(),
        literals: Vec::new(),
    };
    let ix = index(&mut c, files, docs, unloaded);
    let mut modules: BTreeSet<(&str, Option<&str>)> = BTreeSet::new();
    let mut settings: BTreeSet<&str> = BTreeSet::new();
    for doc in docs {
        match &doc.doc {
            Document::Server(s) => check_server(&mut c, doc, s, &ix),
            Document::Tool(t) => check_tool(&mut c, doc, t, &ix),
            Document::Source(src) => {
                check_source(&mut c, doc, src, &|n: &str| ix.has_server(n), &ix.secrets)
            }
            Document::Tunnel(t) => check_tunnel(&mut c, doc, t),
            Document::Modules(m) => check_modules(&mut c, doc, m, &ix, &mut modules),
            Document::Settings(s) => check_settings(&mut c, doc, s, &mut settings),
        }
    }
    super::secrets::scrub(&mut c.diags, &c.literals);
    c.diags
}

/// The first pass: what exists, for reference checks, and what is declared
/// twice (or active twice, for tunnels).
fn index<'a>(
    c: &mut Checker<'_>,
    files: &FileSet,
    docs: &'a [Loaded],
    unloaded: &'a [crate::manifest::load::Declared],
) -> Index<'a> {
    let mut servers: BTreeMap<&str, &Loaded> = BTreeMap::new();
    let mut tools: BTreeMap<(&str, &str), &Loaded> = BTreeMap::new();
    let mut sources: BTreeMap<(&str, &str), &Loaded> = BTreeMap::new();
    let mut tunnels: BTreeMap<&str, &Loaded> = BTreeMap::new();
    // The first `active: true` tunnel, to report the others against.
    let mut active_tunnel: Option<(&str, &Loaded)> = None;
    // Secrets declared per server, for `auth.secret` references.
    let mut secrets: BTreeSet<(&str, &str)> = BTreeSet::new();
    for doc in docs {
        if let Document::Server(s) = &doc.doc {
            for secret in &s.spec.secrets {
                secrets.insert((&s.metadata.name, &secret.name));
            }
        }
        match &doc.doc {
            Document::Source(src)
                if sources
                    .insert((&src.metadata.server, &src.metadata.name), doc)
                    .is_some() =>
            {
                c.push(
                    doc,
                    Code::Duplicate,
                    "metadata.name",
                    format!(
                        "external source `{}/{}` is declared twice",
                        src.metadata.server, src.metadata.name
                    ),
                    "source names are unique per server; give each one ExternalSource document",
                );
            }
            Document::Tunnel(t) if tunnels.insert(&t.metadata.name, doc).is_some() => {
                c.push(
                    doc,
                    Code::Duplicate,
                    "metadata.name",
                    format!(
                        "tunnel configuration `{}` is declared twice",
                        t.metadata.name
                    ),
                    "give each tunnel configuration one TunnelConfiguration document",
                );
            }
            Document::Tunnel(t) if t.spec.active == Some(true) => match active_tunnel {
                None => active_tunnel = Some((&t.metadata.name, doc)),
                Some((first, first_doc)) => {
                    let line = first_doc.at(files, "spec.active").line;
                    c.push(
                        doc,
                        Code::Duplicate,
                        "spec.active",
                        format!(
                            "tunnel configuration `{}` is active, and so is `{first}` ({}:{line}); MCPBox allows at most one active tunnel configuration",
                            t.metadata.name, first_doc.file
                        ),
                        "set `active: true` on one configuration only",
                    );
                }
            },
            _ => {}
        }
        match &doc.doc {
            Document::Server(s) if servers.insert(&s.metadata.name, doc).is_some() => {
                c.push(
                    doc,
                    Code::Duplicate,
                    "metadata.name",
                    format!("server `{}` is declared twice", s.metadata.name),
                    "give each server one Server document",
                );
            }
            Document::Tool(t)
                if tools
                    .insert((&t.metadata.server, &t.metadata.name), doc)
                    .is_some() =>
            {
                c.push(
                    doc,
                    Code::Duplicate,
                    "metadata.name",
                    format!(
                        "tool `{}/{}` is declared twice",
                        t.metadata.server, t.metadata.name
                    ),
                    "tool names are unique per server",
                );
            }
            _ => {}
        }
    }
    Index {
        servers,
        tools,
        sources,
        secrets,
        unloaded,
    }
}

/// What exists, for reference checks: declared objects (and those whose
/// document failed to load, so their dependants are not reported twice).
struct Index<'a> {
    servers: BTreeMap<&'a str, &'a Loaded>,
    tools: BTreeMap<(&'a str, &'a str), &'a Loaded>,
    sources: BTreeMap<(&'a str, &'a str), &'a Loaded>,
    /// Secrets declared per server, for `auth.secret` references.
    secrets: BTreeSet<(&'a str, &'a str)>,
    unloaded: &'a [crate::manifest::load::Declared],
}

impl Index<'_> {
    fn unloaded(&self, kind: &str, server: Option<&str>, name: &str) -> bool {
        self.unloaded
            .iter()
            .any(|d| d.kind == kind && d.name == name && d.server.as_deref() == server)
    }

    fn has_server(&self, name: &str) -> bool {
        self.servers.contains_key(name) || self.unloaded("Server", None, name)
    }

    fn has_tool(&self, server: &str, name: &str) -> bool {
        self.tools.contains_key(&(server, name)) || self.unloaded("Tool", Some(server), name)
    }

    fn has_source(&self, server: &str, name: &str) -> bool {
        self.sources.contains_key(&(server, name))
            || self.unloaded("ExternalSource", Some(server), name)
    }
}

/// A Server document: its name, description, timeout, secrets and network.
fn check_server(c: &mut Checker<'_>, doc: &Loaded, s: &Doc<Metadata, ServerSpec>, ix: &Index<'_>) {
    let name = &s.metadata.name;
    if !is_snake_name(name) || name.len() > limits::NAME {
        c.push(
            doc,
            Code::InvalidName,
            "metadata.name",
            format!("server name `{name}` does not match ^[a-z][a-z0-9_]*$"),
            "use lower-case letters, digits and underscores (MCP clients see `<server>__<tool>`)",
        );
    } else if name.contains("__") {
        c.push(doc, Code::InvalidName, "metadata.name", format!("server name `{name}` contains `__`, which splits MCP tool names `<server>__<tool>`"), "use a single underscore");
    } else if name.starts_with("mcpbox_") {
        c.push(doc, Code::InvalidName, "metadata.name", format!("server name `{name}` starts with `mcpbox_`; MCPBox's gateway treats such tools as its management tools"), "choose another prefix");
    }
    c.len(
        doc,
        "spec.description",
        "description",
        s.spec.description.as_deref(),
        limits::DESCRIPTION,
    );
    c.timeout(doc, "spec.defaultTimeoutMs", s.spec.default_timeout_ms);
    let mut seen = BTreeSet::new();
    for (i, secret) in s.spec.secrets.iter().enumerate() {
        let p = format!("spec.secrets[{i}].name");
        if super::secrets::name_looks_like_value(&secret.name) {
            // Reported by `load` when it matches a known token shape.
            if super::secrets::scan(&secret.name).is_empty() {
                c.diags.push(
                    doc.diag(c.files, Code::LiteralSecret, &p, format!("`{p}` looks like a secret value, not a name (value not shown)"))
                        .help("a secret entry holds only the name, e.g. `GITHUB_TOKEN`; give the value with `valueFrom` at apply time, and rotate the leaked credential")
                        .redacted(),
                );
            }
        } else if !is_secret_name(&secret.name) || secret.name.len() > limits::NAME {
            c.push(
                doc,
                Code::InvalidName,
                &p,
                format!(
                    "secret name `{}` does not match ^[A-Z][A-Z0-9_]*$",
                    secret.name
                ),
                "use upper-case letters, digits and underscores, e.g. GITHUB_TOKEN",
            );
        }
        if let Some(vf) = &secret.value_from {
            check_value_from(c, doc, &format!("spec.secrets[{i}].valueFrom"), vf);
        }
        if !seen.insert(secret.name.as_str()) {
            c.push(
                doc,
                Code::Duplicate,
                &p,
                format!(
                    "secret `{}` is declared twice in server `{name}`",
                    secret.name
                ),
                "list each secret once",
            );
        }
        c.len(
            doc,
            &format!("spec.secrets[{i}].description"),
            "description",
            secret.description.as_deref(),
            limits::DESCRIPTION,
        );
    }
    let mut seen = BTreeSet::new();
    for (i, n) in s.spec.network.iter().enumerate() {
        let p = format!("spec.network[{i}]");
        if let Some(problem) = host_problem(&n.host) {
            c.push(
                doc,
                Code::InvalidValue,
                &format!("{p}.host"),
                problem,
                "give a bare lower-case host name such as api.github.com, and the port separately",
            );
        }
        if let Some(port) = n.port {
            if !(1..=65535).contains(&port) {
                c.push(
                    doc,
                    Code::OutOfRange,
                    &format!("{p}.port"),
                    format!("port {port} is outside 1 to 65535"),
                    "give a TCP port, or leave `port` out for any port",
                );
            }
        }
        if n.justification.trim().is_empty() {
            c.push(
                doc,
                Code::InvalidValue,
                &format!("{p}.justification"),
                "justification is empty".into(),
                "say why the server needs this host; reviewers read it",
            );
        }
        if let Some(tool) = &n.tool {
            if !ix.has_tool(name, tool) {
                c.push(
                    doc,
                    Code::DanglingReference,
                    &format!("{p}.tool"),
                    format!(
                        "network entry names tool `{tool}`, which is not a tool of server `{name}`"
                    ),
                    "name a Tool of this server, or leave `tool` out for an admin entry",
                );
            }
        }
        if !seen.insert((n.tool.as_deref(), n.host.as_str(), n.port)) {
            c.push(
                doc,
                Code::Duplicate,
                &format!("{p}.host"),
                format!(
                    "network entry `{}` is listed twice",
                    crate::model::network_key(
                        name,
                        n.tool.as_deref(),
                        &n.host,
                        n.port.map(|p| p as i32)
                    )
                ),
                "list each host once",
            );
        }
    }
}

/// A Tool document: name, server, limits, and its code or pass-through target.
fn check_tool(
    c: &mut Checker<'_>,
    doc: &Loaded,
    t: &Doc<ServerScopedMetadata, ToolSpec>,
    ix: &Index<'_>,
) {
    let (server, name) = (&t.metadata.server, &t.metadata.name);
    c.tool_name(doc, "metadata.name", name, "tool");
    if !ix.has_server(server) {
        c.push(
            doc,
            Code::DanglingReference,
            "metadata.server",
            format!("tool `{name}` names server `{server}`, which no Server document declares"),
            "add a Server document or fix the name",
        );
    }
    let spec = &t.spec;
    c.len(
        doc,
        "spec.description",
        "description",
        spec.description.as_deref(),
        limits::DESCRIPTION,
    );
    if let Some(crate::manifest::kinds::Timeout::Ms(ms)) = spec.timeout_ms {
        c.timeout(doc, "spec.timeoutMs", Some(ms));
    }
    if let Some(deps) = &spec.dependencies {
        if deps.len() > limits::DEPENDENCIES {
            c.push(
                doc,
                Code::OutOfRange,
                "spec.dependencies",
                format!(
                    "{} dependencies, more than MCPBox's {}",
                    deps.len(),
                    limits::DEPENDENCIES
                ),
                "list at most 20",
            );
        }
        for (i, d) in deps.iter().enumerate() {
            if d.trim().is_empty() || d.chars().count() > limits::NAME {
                c.push(
                    doc,
                    Code::InvalidValue,
                    &format!("spec.dependencies[{i}]"),
                    format!("dependency `{d}` must be 1 to 255 characters"),
                    "give a package name",
                );
            }
        }
    }
    if let Some(schema) = &spec.input_schema {
        if !schema.is_object() {
            c.push(
                doc,
                Code::InvalidValue,
                "spec.inputSchema",
                "inputSchema must be a JSON object".into(),
                "give a JSON Schema object, or leave it out to derive it from `async def main`",
            );
        }
    }
    match spec.tool_type.unwrap_or(ToolType::PythonCode) {
        ToolType::McpPassthrough => {
            check_passthrough(c, doc, server, name, spec, &|srv: &str, n: &str| {
                ix.has_source(srv, n)
            });
        }
        ToolType::PythonCode => {
            if spec.external_source.is_some() || spec.external_tool_name.is_some() {
                c.push(
                    doc,
                    Code::InvalidValue,
                    "spec.externalSource",
                    "externalSource/externalToolName only apply to `type: mcp_passthrough`".into(),
                    "remove them, or set `type: mcp_passthrough`",
                );
            }
            match (&spec.code, &spec.code_file) {
                (Some(_), Some(_)) => c.push(
                    doc,
                    Code::CodeSource,
                    "spec.codeFile",
                    "both `code` and `codeFile` are given".into(),
                    "keep one of them",
                ),
                (None, None) => c.push(
                    doc,
                    Code::CodeSource,
                    "spec",
                    format!("tool `{name}` has no code"),
                    "add `codeFile: <file>.py` (relative to this manifest) or inline `code: |`",
                ),
                _ => {}
            }
            if let Some(code) = &doc.code {
                check_python(c, doc, code);
            }
        }
    }
}

/// A TunnelConfiguration document: name, description, public URL, token source.
fn check_tunnel(c: &mut Checker<'_>, doc: &Loaded, t: &Doc<Metadata, TunnelSpec>) {
    free_name(c, doc, &t.metadata.name, "tunnel configuration");
    c.len(
        doc,
        "spec.description",
        "description",
        t.spec.description.as_deref(),
        limits::DESCRIPTION,
    );
    if let Some(raw) = &t.spec.public_url {
        // MCPBox checks the length as given, and the column holds the
        // normalised form (which may be longer by `https://`).
        let stored = crate::rules::tunnel::normalise_public_url(raw).unwrap_or_default();
        let n = raw.chars().count().max(stored.chars().count());
        if n > limits::PUBLIC_URL {
            c.push(
                doc,
                Code::OutOfRange,
                "spec.publicUrl",
                format!(
                    "publicUrl is {n} characters (as stored), more than MCPBox's {}",
                    limits::PUBLIC_URL
                ),
                "shorten it",
            );
        }
    }
    check_value_from(c, doc, "spec.token.valueFrom", &t.spec.token.value_from);
}

/// The Modules document: each module's name, justification and tool, once
/// across files (an admin entry and a tool's entry for the same module are two).
fn check_modules<'a>(
    c: &mut Checker<'_>,
    doc: &Loaded,
    m: &'a Doc<Metadata, ModulesSpec>,
    ix: &Index<'_>,
    modules: &mut BTreeSet<(&'a str, Option<&'a str>)>,
) {
    for (i, module) in m.spec.modules.iter().enumerate() {
        let p = format!("spec.modules[{i}]");
        if let Some(tool) = &module.tool {
            check_module_tool(c, doc, &p, &module.name, tool, ix);
        } else if !is_module_name(&module.name) || module.name.len() > limits::MODULE_NAME {
            c.push(
                doc,
                Code::InvalidName,
                &format!("{p}.name"),
                format!(
                    "module name `{}` is not a dotted Python identifier of at most 128 characters",
                    module.name
                ),
                "use the import name, e.g. `xml.etree.ElementTree` (no hyphens)",
            );
        }
        if module.justification.trim().is_empty() {
            c.push(
                doc,
                Code::InvalidValue,
                &format!("{p}.justification"),
                "justification is empty".into(),
                "say why tools need this module",
            );
        }
        if !modules.insert((&module.name, module.tool.as_deref())) {
            c.push(
                doc,
                Code::Duplicate,
                &format!("{p}.name"),
                format!(
                    "module `{}` is listed twice",
                    crate::model::module_key(&module.name, module.tool.as_deref())
                ),
                "list each module once (per tool, for entries with `tool`)",
            );
        }
    }
}

/// A tool's module entry: the name as MCPBox's LLM path accepts it (any
/// non-empty name up to the column's 255), and `tool` naming a Tool in git.
fn check_module_tool(
    c: &mut Checker<'_>,
    doc: &Loaded,
    p: &str,
    name: &str,
    tool: &str,
    ix: &Index<'_>,
) {
    if name.trim().is_empty() || name.chars().count() > limits::NAME {
        c.push(
            doc,
            Code::InvalidName,
            &format!("{p}.name"),
            format!("module name `{name}` is empty or longer than 255 characters"),
            "use the name the tool imports or installs, e.g. `pyyaml`",
        );
    }
    let known = tool
        .rsplit_once('/')
        .is_some_and(|(server, t)| ix.has_tool(server, t));
    if !known {
        c.push(
            doc,
            Code::DanglingReference,
            &format!("{p}.tool"),
            format!("module entry names tool `{tool}`, which is not a Tool in git"),
            "write `tool: SERVER/TOOL` naming a Tool of the repository, or leave `tool` out for an admin entry",
        );
    }
}

/// A Settings document: each value as MCPBox stores and reads it, once across files.
fn check_settings<'a>(
    c: &mut Checker<'_>,
    doc: &Loaded,
    s: &'a Doc<Metadata, SettingsSpec>,
    settings: &mut BTreeSet<&'a str>,
) {
    for (key, value) in &s.spec {
        let p = format!("spec.{key}");
        if let Some(vf) = crate::manifest::kinds::setting_value_from(value) {
            match vf {
                Err(msg) => c.push(doc, Code::InvalidSetting, &p, msg, "e.g. `log_retention_days: {valueFrom: {env: LOG_DAYS}}`; the value is checked when apply reads it"),
                Ok(vf) => check_value_from(c, doc, &format!("{p}.valueFrom"), &vf),
            }
        } else {
            match setting_text(value) {
                None => c.push(
                    doc,
                    Code::InvalidSetting,
                    &p,
                    format!("setting `{key}` must be a plain string or number"),
                    "write the value as MCPBox stores it, e.g. \"30\"",
                ),
                Some(v) => {
                    if let Err(msg) = crate::settings::check(key, &v) {
                        c.push(
                            doc,
                            Code::InvalidSetting,
                            &p,
                            msg,
                            "MCPBox reads this setting; a bad value breaks it",
                        );
                    }
                }
            }
        }
        if !settings.insert(key) {
            c.push(
                doc,
                Code::Duplicate,
                &p,
                format!("setting `{key}` is set twice"),
                "set each setting in one place",
            );
        }
    }
}

/// A free-form MCPBox name (sources, tunnels): 1 to 255 characters.
fn free_name(c: &mut Checker<'_>, doc: &Loaded, name: &str, what: &str) {
    let n = name.chars().count();
    if n == 0 || n > limits::NAME || name.trim().is_empty() {
        c.push(
            doc,
            Code::InvalidName,
            "metadata.name",
            format!("{what} name must be 1 to 255 characters, not only white space (it is {n})"),
            "give a short, descriptive name",
        );
    }
}

/// An ExternalSource document (MCPBOX.md §6.1): its server, name, URL and auth.
fn check_source(
    c: &mut Checker<'_>,
    doc: &Loaded,
    src: &super::kinds::Doc<super::kinds::SourceMetadata, super::kinds::SourceSpec>,
    server_exists: &dyn Fn(&str) -> bool,
    secrets: &BTreeSet<(&str, &str)>,
) {
    let (server, name) = (src.metadata.server.as_str(), src.metadata.name.as_str());
    free_name(c, doc, name, "external source");
    if !server_exists(server) {
        c.push(doc, Code::DanglingReference, "metadata.server", format!("external source `{name}` names server `{server}`, which no Server document declares"), "add a Server document or fix the name");
    }
    let url = src.spec.url.as_str();
    if url.trim().is_empty() {
        c.push(
            doc,
            Code::InvalidValue,
            "spec.url",
            "url is empty".into(),
            "give the external server's MCP endpoint, e.g. https://api.githubcopilot.com/mcp/",
        );
    }
    c.len(doc, "spec.url", "url", Some(url), limits::URL);
    let Some(auth) = &src.spec.auth else {
        return;
    };
    match auth.auth_type {
        AuthType::Oauth => {
            c.push(doc, Code::InvalidValue, "spec.auth.type", "auth type `oauth` cannot be managed from git: OAuth tokens come from MCPBox's OAuth flow, not from git".into(), "create the source in git with `type: none`, then connect it with OAuth in MCPBox's UI; or use `bearer`/`header` with a secret");
            return;
        }
        AuthType::None => {
            if auth.secret.is_some() {
                c.push(
                    doc,
                    Code::InvalidValue,
                    "spec.auth.secret",
                    "auth type `none` sends no secret".into(),
                    "remove `secret`, or set `type: bearer` or `type: header`",
                );
            }
        }
        AuthType::Bearer | AuthType::Header => match &auth.secret {
            None => c.push(
                doc,
                Code::MissingField,
                "spec.auth",
                format!(
                    "auth type `{}` needs `secret`: without one MCPBox sends no header",
                    auth.auth_type.label()
                ),
                "add `secret: NAME` naming a secret of this server",
            ),
            Some(secret) if !secrets.contains(&(server, secret.as_str())) => c.push(
                doc,
                Code::DanglingReference,
                "spec.auth.secret",
                format!("auth secret `{secret}` is not a secret of server `{server}`"),
                "declare it under the server's `secrets:`, or fix the name",
            ),
            Some(_) => {}
        },
    }
    if let Some(header) = &auth.header {
        if auth.auth_type != AuthType::Header {
            c.push(
                doc,
                Code::InvalidValue,
                "spec.auth.header",
                format!(
                    "`header` is only used by auth type `header`, not `{}`",
                    auth.auth_type.label()
                ),
                "remove `header`, or set `type: header`",
            );
        } else if !is_header_name(header) {
            c.push(doc, Code::InvalidValue, "spec.auth.header", format!("`{header}` is not an HTTP header name"), "give a header name such as X-Api-Key (letters, digits and -), at most 255 characters");
        }
    }
}

/// A pass-through tool: no code, a source of the same server, an external name.
fn check_passthrough(
    c: &mut Checker<'_>,
    doc: &Loaded,
    server: &str,
    name: &str,
    spec: &super::kinds::ToolSpec,
    source_exists: &dyn Fn(&str, &str) -> bool,
) {
    for (given, path, what) in [
        (spec.code.is_some(), "spec.code", "code"),
        (spec.code_file.is_some(), "spec.codeFile", "codeFile"),
        (
            spec.dependencies.is_some(),
            "spec.dependencies",
            "dependencies",
        ),
    ] {
        if given {
            c.push(doc, Code::InvalidValue, path, format!("pass-through tool `{name}` has `{what}`, but pass-through tools run on the external server and have no code"), "remove it, or set `type: python_code`");
        }
    }
    match &spec.external_source {
        None => c.push(doc, Code::MissingField, "spec", format!("pass-through tool `{name}` has no `externalSource`"), "add `externalSource:` naming an ExternalSource of this server"),
        Some(source) if !source_exists(server, source.as_str()) => c.push(doc, Code::DanglingReference, "spec.externalSource", format!("pass-through tool `{name}` names external source `{source}`, which is not an ExternalSource of server `{server}`"), "add an ExternalSource document with that name and `server:`, or fix the name"),
        Some(_) => {}
    }
    match &spec.external_tool_name {
        None => c.push(
            doc,
            Code::MissingField,
            "spec",
            format!("pass-through tool `{name}` has no `externalToolName`"),
            "add `externalToolName:` with the tool's name on the external server",
        ),
        Some(t) if t.is_empty() || t.chars().count() > limits::NAME => c.push(
            doc,
            Code::OutOfRange,
            "spec.externalToolName",
            format!(
                "externalToolName must be 1 to 255 characters (it is {})",
                t.chars().count()
            ),
            "give the tool's name on the external server",
        ),
        Some(_) => {}
    }
}

/// `valueFrom` names exactly one source: an env name a shell could export that
/// is not one of the reconciler's own, or an absolute file path outside /proc,
/// /sys and /dev. The allow-list (value directories, prefixes) is the
/// operator's and is checked when values are read (`values::access`).
fn check_value_from(
    c: &mut Checker<'_>,
    doc: &Loaded,
    path: &str,
    vf: &crate::manifest::kinds::ValueFrom,
) {
    match (&vf.env, &vf.file) {
        (Some(env), None) => {
            let ok = env
                .chars()
                .next()
                .is_some_and(|ch| ch.is_ascii_alphabetic() || ch == '_')
                && env
                    .chars()
                    .all(|ch| ch.is_ascii_alphanumeric() || ch == '_');
            if !ok {
                c.push(
                    doc,
                    Code::InvalidValue,
                    &format!("{path}.env"),
                    format!("`{env}` is not an environment variable name"),
                    "use letters, digits and underscores, e.g. GITHUB_TOKEN",
                );
            } else if crate::values::access::RESERVED_ENV
                .contains(&env.to_ascii_uppercase().as_str())
                || env
                    .to_ascii_uppercase()
                    .starts_with(crate::values::access::RESERVED_ENV_PREFIX)
            {
                c.push(
                    doc,
                    Code::InvalidValue,
                    &format!("{path}.env"),
                    format!("`{env}` holds the reconciler's own credentials; a manifest cannot copy it into MCPBox, where tools could read it"),
                    "give the value its own variable, e.g. MCPBOX_SECRET_GITHUB_TOKEN",
                );
            }
        }
        (None, Some(file)) => {
            use crate::values::access::{is_system, normalize};
            let shown = crate::escape::text(file);
            if file.trim().is_empty() {
                c.push(doc, Code::InvalidValue, &format!("{path}.file"), "`file` is empty".into(), "give the absolute path of a file in a values directory, e.g. /run/secrets/github_token");
            } else {
                match normalize(std::path::Path::new(file)) {
                    None => c.push(doc, Code::InvalidValue, &format!("{path}.file"), format!("`{shown}` is not an absolute path"), "give the absolute path of a file in a values directory (--values-dir), e.g. /run/secrets/github_token"),
                    Some(p) if is_system(&p) => c.push(doc, Code::InvalidValue, &format!("{path}.file"), format!("`{shown}` is a system file (under /proc, /sys or /dev, it can expose the reconciler's own environment or devices)"), "point at a file that holds only this value, e.g. a mounted secret under /run/secrets"),
                    Some(_) => {}
                }
            }
        }
        _ => c.push(
            doc,
            Code::InvalidValue,
            path,
            "valueFrom needs exactly one of `env` and `file`".into(),
            "write `valueFrom: {env: NAME}` or `valueFrom: {file: /path}`",
        ),
    }
}

/// A setting's YAML value as the text MCPBox stores, if it is a scalar.
pub fn setting_text(v: &serde_yaml::Value) -> Option<String> {
    match v {
        serde_yaml::Value::String(s) => Some(s.clone()),
        serde_yaml::Value::Number(n) => Some(n.to_string()),
        serde_yaml::Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

fn check_python(c: &mut Checker<'_>, doc: &Loaded, code: &ToolCode) {
    let n = code.text.chars().count();
    if n > limits::CODE {
        let at = if doc.index.contains("spec.codeFile") {
            "spec.codeFile"
        } else {
            "spec.code"
        };
        c.push(
            doc,
            Code::OutOfRange,
            at,
            format!(
                "code is {n} characters, more than MCPBox's {}",
                limits::CODE
            ),
            "split the tool",
        );
        return;
    }
    let v = code.python();
    let text = crate::manifest::load::text_of(c.files, &code.file).unwrap_or("");
    let at = |line: usize, col: usize| {
        let off = crate::diagnostic::offset_of(text, code.first_line + line, col + code.indent);
        location_at(text, off, crate::diagnostic::token_len(text, off))
    };
    // Inline code was scanned with its manifest (`load`); code files here.
    let inline = code.file.ends_with(".yaml") || code.file.ends_with(".yml");
    for f in super::secrets::scan(&code.text)
        .into_iter()
        .filter(|_| !inline)
    {
        let before = &code.text[..f.offset];
        let line = before.matches('\n').count() + 1;
        let col = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
        let mut loc = at(line, col);
        loc.len = f.len;
        c.literals.push(super::secrets::Literal::new(
            &code.text[f.offset..f.offset + f.len],
        ));
        c.diags.push(
            Diagnostic::new(Code::LiteralSecret, &code.file, loc, format!("tool code holds what looks like {} (value not shown)", f.what))
                .help("declare a secret on the server (`secrets: [{name: API_TOKEN}]`) and read it in the tool with `secrets[\"API_TOKEN\"]`; rotate the leaked credential")
                .redacted(),
        );
    }
    if !v.valid {
        let (loc, msg) = match &v.syntax_error {
            Some(e) => (
                at(e.line, e.column),
                format!("Python syntax error: {}", e.message),
            ),
            None => (
                at(1, 1),
                v.error
                    .clone()
                    .unwrap_or_else(|| "invalid Python code".into()),
            ),
        };
        c.diags.push(
            Diagnostic::new(Code::PythonSyntax, &code.file, loc, msg)
                .help("MCPBox refuses code that Python cannot parse; fix the syntax"),
        );
        return;
    }
    if !v.has_main {
        // A plain `def main` is the likely mistake: point at it.
        let plain = code.text.lines().enumerate().find_map(|(i, l)| {
            let col = l.len() - l.trim_start().len();
            let rest = l.trim_start().strip_prefix("def main")?;
            rest.trim_start()
                .starts_with('(')
                .then_some((i + 1, col + 1))
        });
        let (line, column, help) = match plain {
            Some((line, column)) => (line, column, "make it `async def main(...)`: MCPBox awaits main, so a plain `def main` does not count"),
            None => (1, 1, "MCPBox runs `async def main(...)`; a plain `def main` does not count"),
        };
        c.diags.push(
            Diagnostic::new(
                Code::PythonNoMain,
                &code.file,
                at(line, column),
                "code has no `async def main(...)`",
            )
            .help(help),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::manifest::load::load;

    /// Issue 15.1: one mistake in a Server document is one problem, not one
    /// more per tool, source and network entry that refers to it.
    #[test]
    fn a_document_that_failed_to_load_still_declares_its_name() {
        let d = check(&[
            (
                "s.yaml",
                "apiVersion: mcpbox/v1\nkind: Server\nmetadata: {name: github}\nspec:\n  network:\n    - {host: api.github.com, port: \"443\", justification: api}\n",
            ),
            (
                "t.yaml",
                "apiVersion: mcpbox/v1\nkind: Tool\nmetadata: {name: a, server: github}\nspec:\n  code: |\n    async def main():\n        pass\n---\napiVersion: mcpbox/v1\nkind: Tool\nmetadata: {name: b, server: github}\nspec:\n  code: |\n    async def main():\n        pass\n---\napiVersion: mcpbox/v1\nkind: ExternalSource\nmetadata: {name: gh, server: github}\nspec: {url: 'https://example.com/mcp'}\n",
            ),
        ]);
        assert_eq!(d.len(), 1, "{d:#?}");
        assert_eq!(d[0].file, "s.yaml");
        // A server that is really missing is still reported, once per reference.
        let d = check(&[(
            "t.yaml",
            "apiVersion: mcpbox/v1\nkind: Tool\nmetadata: {name: a, server: nowhere}\nspec:\n  code: |\n    async def main():\n        pass\n",
        )]);
        assert_eq!(d.len(), 1, "{d:#?}");
        assert_eq!(d[0].code, Code::DanglingReference);
    }

    fn check(files: &[(&str, &str)]) -> Vec<Diagnostic> {
        let mut set = FileSet::empty("t");
        for (p, t) in files {
            set.insert(*p, t.as_bytes());
        }
        let m = load(&set);
        let mut d = m.diagnostics.clone();
        d.extend(validate_with(&set, &m.docs, &m.unloaded));
        d
    }

    const SERVER: &str = "apiVersion: mcpbox/v1\nkind: Server\nmetadata: {name: s}\nspec:\n  network:\n    - {host: api.example.com, justification: api, tool: t}\n";

    #[test]
    fn a_valid_repo_has_no_diagnostics() {
        let d = check(&[("s.yaml", SERVER), ("t.yaml", "apiVersion: mcpbox/v1\nkind: Tool\nmetadata: {name: t, server: s}\nspec: {codeFile: t.py}\n"), ("t.py", "async def main(x: str):\n    return x\n")]);
        assert!(d.is_empty(), "{d:?}");
    }

    #[test]
    fn python_syntax_error_points_into_the_py_file() {
        let d = check(&[("s.yaml", SERVER), ("t.yaml", "apiVersion: mcpbox/v1\nkind: Tool\nmetadata: {name: t, server: s}\nspec: {codeFile: t.py}\n"), ("t.py", "async def main():\n    return (\n")]);
        assert_eq!(d.len(), 1, "{d:?}");
        assert_eq!(d[0].code, Code::PythonSyntax);
        assert_eq!(d[0].file, "t.py");
        assert!(d[0].location.line >= 2);
    }

    #[test]
    fn inline_code_without_main_points_into_the_manifest() {
        let d = check(&[("s.yaml", SERVER), ("t.yaml", "apiVersion: mcpbox/v1\nkind: Tool\nmetadata: {name: t, server: s}\nspec:\n  code: |\n    def main():\n        pass\n")]);
        assert_eq!(d.len(), 1, "{d:?}");
        assert_eq!(d[0].code, Code::PythonNoMain);
        assert_eq!(
            (d[0].file.as_str(), d[0].location.line, d[0].location.column),
            ("t.yaml", 6, 5)
        );
    }

    /// Issue 15.1: a plain `def main` further down is where E021 points, and
    /// a misspelled field gets a suggestion.
    #[test]
    fn no_main_points_at_the_plain_def_and_fields_get_suggestions() {
        let d = check(&[("s.yaml", SERVER), ("t.yaml", "apiVersion: mcpbox/v1\nkind: Tool\nmetadata: {name: t, server: s}\nspec:\n  code: |\n    import json\n\n    def main(x: str):\n        return x\n")]);
        assert_eq!(d.len(), 1, "{d:?}");
        assert_eq!(
            (d[0].code, d[0].location.line, d[0].location.column),
            (Code::PythonNoMain, 8, 5)
        );
        let d = check(&[("s.yaml", SERVER), ("t.yaml", "apiVersion: mcpbox/v1\nkind: Tool\nmetadata: {name: t, server: s}\nspec:\n  descripton: x\n  code: |\n    async def main():\n        pass\n")]);
        assert_eq!(d.len(), 1, "{d:?}");
        assert!(
            d[0].help
                .as_deref()
                .is_some_and(|h| h.starts_with("did you mean `description`?")),
            "{d:?}"
        );
        let d = check(&[
            ("s.yaml", SERVER),
            ("w/forecast.py", "async def main():\n    pass\n"),
            ("w/t.yaml", "apiVersion: mcpbox/v1\nkind: Tool\nmetadata: {name: t, server: s}\nspec:\n  codeFile: forcast.py\n"),
        ]);
        assert_eq!(d.len(), 1, "{d:?}");
        assert!(
            d[0].help
                .as_deref()
                .is_some_and(|h| h.starts_with("did you mean `forecast.py`?")),
            "{d:?}"
        );
    }

    #[test]
    fn dangling_tool_reference_and_bad_names() {
        let d = check(&[("s.yaml", "apiVersion: mcpbox/v1\nkind: Server\nmetadata: {name: Bad__name}\nspec:\n  secrets: [{name: lower}]\n  network:\n    - {host: API.example.com, port: 70000, justification: x, tool: nope}\n")]);
        let codes: Vec<Code> = d.iter().map(|d| d.code).collect();
        assert!(codes.contains(&Code::InvalidName));
        assert!(codes.contains(&Code::DanglingReference));
        assert!(codes.contains(&Code::OutOfRange));
        assert!(codes.contains(&Code::InvalidValue));
        assert!(d.iter().all(|d| d.location.line >= 3), "{d:?}");
    }

    /// Issue 14.1: a module entry's `tool` names a Tool in git as SERVER/TOOL
    /// (error at the entry's `tool`); a tool's module name is as free as
    /// MCPBox's LLM path allows, an admin's is not; an admin entry and a
    /// tool's entry for the same module are two entries.
    #[test]
    fn module_entries_with_a_tool() {
        let tool = "apiVersion: mcpbox/v1\nkind: Tool\nmetadata: {name: t, server: s}\nspec:\n  code: \"async def main():\\n    return 1\\n\"\n";
        let modules = "apiVersion: mcpbox/v1\nkind: Modules\nmetadata: {name: m}\nspec:\n  modules:\n    - {name: python-dateutil, justification: dates, tool: s/t}\n    - {name: pyyaml, justification: yaml, tool: s/t}\n    - {name: pyyaml, justification: yaml}\n    - {name: toml, justification: toml, tool: s/nope}\n    - {name: py-toml, justification: toml}\n";
        let d = check(&[
            (
                "s.yaml",
                "apiVersion: mcpbox/v1\nkind: Server\nmetadata: {name: s}\nspec: {}\n",
            ),
            ("t.yaml", tool),
            ("m.yaml", modules),
        ]);
        let got: Vec<(Code, usize, usize)> = d
            .iter()
            .map(|d| (d.code, d.location.line, d.location.column))
            .collect();
        assert_eq!(
            got,
            vec![
                (Code::DanglingReference, 9, 47),
                (Code::InvalidName, 10, 14)
            ],
            "{d:?}"
        );
        assert!(d[0].message.contains("`s/nope`"), "{}", d[0].message);
        assert!(d[0]
            .help
            .as_deref()
            .is_some_and(|h| h.contains("SERVER/TOOL")));
    }

    #[test]
    fn settings_are_checked() {
        let d = check(&[("p.yaml", "apiVersion: mcpbox/v1\nkind: Settings\nmetadata: {name: m}\nspec:\n  log_retention_days: forever\n  tool_approval_mode: auto_approve\n")]);
        assert_eq!(d.len(), 1, "{d:?}");
        assert_eq!(d[0].code, Code::InvalidSetting);
        assert_eq!(d[0].location.line, 5);
    }

    const GH: &str = "apiVersion: mcpbox/v1\nkind: Server\nmetadata: {name: github}\nspec:\n  secrets: [{name: GITHUB_TOKEN}]\n";

    fn source(spec: &str) -> String {
        format!("apiVersion: mcpbox/v1\nkind: ExternalSource\nmetadata: {{name: github-mcp, server: github}}\nspec:\n{spec}")
    }

    fn passthrough(spec: &str) -> String {
        format!("apiVersion: mcpbox/v1\nkind: Tool\nmetadata: {{name: search_code, server: github}}\nspec:\n  type: mcp_passthrough\n{spec}")
    }

    /// (code, line, column, message) of each diagnostic.
    fn found(d: &[Diagnostic]) -> Vec<(Code, usize, usize, String)> {
        d.iter()
            .map(|d| {
                (
                    d.code,
                    d.location.line,
                    d.location.column,
                    d.message.clone(),
                )
            })
            .collect()
    }

    #[test]
    fn a_source_with_a_passthrough_tool_is_valid() {
        let d = check(&[
            ("s.yaml", GH),
            ("src.yaml", &source("  url: https://api.githubcopilot.com/mcp/\n  transport: sse\n  auth: {type: bearer, secret: GITHUB_TOKEN}\n")),
            ("t.yaml", &passthrough("  externalSource: github-mcp\n  externalToolName: search_code\n  enabled: false\n")),
        ]);
        assert!(d.is_empty(), "{d:?}");
    }

    #[test]
    fn oauth_is_refused_with_the_reason() {
        let d = check(&[
            ("s.yaml", GH),
            (
                "src.yaml",
                &source("  url: https://x.io/mcp\n  auth:\n    type: oauth\n"),
            ),
        ]);
        let d = found(&d);
        assert_eq!(d.len(), 1, "{d:?}");
        assert_eq!((d[0].0, d[0].1, d[0].2), (Code::InvalidValue, 7, 11));
        assert!(
            d[0].3
                .contains("OAuth tokens come from MCPBox's OAuth flow"),
            "{}",
            d[0].3
        );
    }

    #[test]
    fn auth_secret_must_be_a_secret_of_the_same_server() {
        let other = "apiVersion: mcpbox/v1\nkind: Server\nmetadata: {name: other}\nspec:\n  secrets: [{name: OTHER_TOKEN}]\n";
        let d = check(&[
            ("s.yaml", GH),
            ("o.yaml", other),
            (
                "src.yaml",
                &source("  url: https://x.io\n  auth: {type: bearer, secret: OTHER_TOKEN}\n"),
            ),
        ]);
        let d = found(&d);
        assert_eq!(d.len(), 1, "{d:?}");
        assert_eq!((d[0].0, d[0].1), (Code::DanglingReference, 6));
        assert!(
            d[0].3
                .contains("`OTHER_TOKEN` is not a secret of server `github`"),
            "{}",
            d[0].3
        );
    }

    #[test]
    fn auth_fields_must_fit_the_auth_type() {
        let d = check(&[
            ("s.yaml", GH),
            ("a.yaml", &source("  url: https://x.io\n  auth: {type: none, secret: GITHUB_TOKEN}\n")),
            ("b.yaml", &source("  url: https://x.io\n  auth: {type: bearer, secret: GITHUB_TOKEN, header: X-Key}\n").replace("github-mcp", "b")),
            ("c.yaml", &source("  url: https://x.io\n  auth: {type: header}\n").replace("github-mcp", "c")),
            ("d.yaml", &source("  url: https://x.io\n  auth: {type: header, secret: GITHUB_TOKEN, header: 'X Key'}\n").replace("github-mcp", "d")),
        ]);
        let by_file: Vec<(&str, Code, String)> = d
            .iter()
            .map(|d| (d.file.as_str(), d.code, d.message.clone()))
            .collect();
        assert_eq!(by_file.len(), 4, "{by_file:?}");
        assert_eq!((by_file[0].0, by_file[0].1), ("a.yaml", Code::InvalidValue));
        assert!(by_file[0].2.contains("sends no secret"));
        assert_eq!((by_file[1].0, by_file[1].1), ("b.yaml", Code::InvalidValue));
        assert!(by_file[1].2.contains("only used by auth type `header`"));
        assert_eq!((by_file[2].0, by_file[2].1), ("c.yaml", Code::MissingField));
        assert!(by_file[2].2.contains("needs `secret`"));
        assert_eq!((by_file[3].0, by_file[3].1), ("d.yaml", Code::InvalidValue));
        assert!(by_file[3].2.contains("not an HTTP header name"));
    }

    #[test]
    fn source_names_urls_and_duplicates() {
        let long_url = format!("  url: https://x.io/{}\n", "a".repeat(2000));
        let d = check(&[
            ("s.yaml", GH),
            ("a.yaml", &source(&long_url)),
            ("b.yaml", &source("  url: https://y.io\n")),
            (
                "c.yaml",
                &source("  url: ' '\n").replace("github-mcp", "''"),
            ),
            (
                "d.yaml",
                &source("  url: https://y.io\n")
                    .replace("server: github", "server: nope")
                    .replace("github-mcp", "x"),
            ),
        ]);
        let by_file: Vec<(&str, Code, usize, String)> = d
            .iter()
            .map(|d| (d.file.as_str(), d.code, d.location.line, d.message.clone()))
            .collect();
        assert!(
            by_file.contains(&(
                "a.yaml",
                Code::OutOfRange,
                5,
                "url is 2013 characters, more than MCPBox's 2000".into()
            )),
            "{by_file:?}"
        );
        assert!(
            by_file.iter().any(|(f, c, l, m)| *f == "b.yaml"
                && *c == Code::Duplicate
                && *l == 3
                && m.contains("`github/github-mcp` is declared twice")),
            "{by_file:?}"
        );
        assert!(
            by_file.iter().any(|(f, c, l, m)| *f == "c.yaml"
                && *c == Code::InvalidName
                && *l == 3
                && m.contains("1 to 255")),
            "{by_file:?}"
        );
        assert!(
            by_file.iter().any(|(f, c, _, m)| *f == "c.yaml"
                && *c == Code::InvalidValue
                && m == "url is empty"),
            "{by_file:?}"
        );
        assert!(
            by_file.iter().any(|(f, c, _, m)| *f == "d.yaml"
                && *c == Code::DanglingReference
                && m.contains("server `nope`")),
            "{by_file:?}"
        );
    }

    #[test]
    fn passthrough_tools_need_a_source_of_their_server_and_no_code() {
        let d = check(&[
            ("s.yaml", GH),
            ("src.yaml", &source("  url: https://x.io\n")),
            ("a.yaml", &passthrough("  externalSource: elsewhere\n  externalToolName: search\n")),
            ("b.yaml", &passthrough("  externalSource: github-mcp\n  code: 'async def main(): pass'\n  dependencies: [httpx]\n").replace("search_code", "b")),
            ("c.yaml", &passthrough("  externalToolName: ''\n").replace("search_code", "c")),
        ]);
        let by_file: Vec<(&str, Code, usize, String)> = d
            .iter()
            .map(|d| (d.file.as_str(), d.code, d.location.line, d.message.clone()))
            .collect();
        assert!(by_file.contains(&("a.yaml", Code::DanglingReference, 6, "pass-through tool `search_code` names external source `elsewhere`, which is not an ExternalSource of server `github`".into())), "{by_file:?}");
        assert!(
            by_file.iter().any(|(f, c, l, m)| *f == "b.yaml"
                && *c == Code::InvalidValue
                && *l == 7
                && m.contains("has `code`")),
            "{by_file:?}"
        );
        assert!(
            by_file.iter().any(|(f, c, l, m)| *f == "b.yaml"
                && *c == Code::InvalidValue
                && *l == 8
                && m.contains("has `dependencies`")),
            "{by_file:?}"
        );
        assert!(
            by_file.iter().any(|(f, c, _, m)| *f == "b.yaml"
                && *c == Code::MissingField
                && m.contains("no `externalToolName`")),
            "{by_file:?}"
        );
        assert!(
            by_file.iter().any(|(f, c, _, m)| *f == "c.yaml"
                && *c == Code::MissingField
                && m.contains("no `externalSource`")),
            "{by_file:?}"
        );
        assert!(
            by_file.iter().any(|(f, c, l, m)| *f == "c.yaml"
                && *c == Code::OutOfRange
                && *l == 6
                && m.contains("externalToolName must be 1 to 255")),
            "{by_file:?}"
        );
        assert!(!by_file
            .iter()
            .any(|(_, _, _, m)| m.contains("cannot manage yet")));
    }

    fn tunnel(name: &str, spec: &str) -> String {
        format!("apiVersion: mcpbox/v1\nkind: TunnelConfiguration\nmetadata: {{name: {name}}}\nspec:\n  token: {{valueFrom: {{env: TUNNEL_TOKEN}}}}\n{spec}")
    }

    #[test]
    fn at_most_one_tunnel_is_active() {
        let d = check(&[
            ("a.yaml", &tunnel("a", "  active: true\n")),
            ("b.yaml", &tunnel("b", "  active: true\n")),
            ("c.yaml", &tunnel("c", "  active: false\n")),
        ]);
        let d = found(&d);
        assert_eq!(d.len(), 1, "{d:?}");
        assert_eq!((d[0].0, d[0].1, d[0].2), (Code::Duplicate, 6, 11));
        assert!(
            d[0].3.contains("`b` is active, and so is `a` (a.yaml:6)")
                && d[0].3.contains("at most one active"),
            "{}",
            d[0].3
        );
    }

    #[test]
    fn tunnel_names_urls_and_tokens() {
        let d = check(&[
            (
                "a.yaml",
                &tunnel("a", &format!("  publicUrl: {}\n", "x".repeat(1020))),
            ),
            ("b.yaml", &tunnel("a", "  description: dup\n")),
            ("c.yaml", &tunnel("''", "")),
            (
                "d.yaml",
                &tunnel("d", "").replace("{env: TUNNEL_TOKEN}", "{env: TUNNEL_TOKEN, file: /x}"),
            ),
        ]);
        let mut by_file: Vec<(&str, Code, usize, String)> = d
            .iter()
            .map(|d| (d.file.as_str(), d.code, d.location.line, d.message.clone()))
            .collect();
        by_file.sort();
        assert_eq!(by_file.len(), 4, "{by_file:?}");
        // 1020 characters given, 1028 once `https://` is added.
        assert_eq!(
            by_file[0],
            (
                "a.yaml",
                Code::OutOfRange,
                6,
                "publicUrl is 1028 characters (as stored), more than MCPBox's 1024".into()
            )
        );
        assert_eq!(
            (by_file[1].0, by_file[1].1, by_file[1].2),
            ("b.yaml", Code::Duplicate, 3)
        );
        assert_eq!((by_file[2].0, by_file[2].1), ("c.yaml", Code::InvalidName));
        assert_eq!(
            (by_file[3].0, by_file[3].1, by_file[3].2),
            ("d.yaml", Code::InvalidValue, 5)
        );
        // A literal token is refused as a literal secret, before any type error.
        let d = check(&[(
            "a.yaml",
            &tunnel("a", "").replace("{valueFrom: {env: TUNNEL_TOKEN}}", "abcdef0123456789"),
        )]);
        assert_eq!(d[0].code, Code::LiteralSecret, "{d:?}");
    }

    #[test]
    fn name_rules() {
        assert!(is_snake_name("list_issues"));
        assert!(!is_snake_name("List"));
        assert!(!is_snake_name("1a"));
        assert!(is_secret_name("GITHUB_TOKEN"));
        assert!(!is_secret_name("github"));
        assert!(is_module_name("xml.etree.ElementTree"));
        assert!(!is_module_name("paho-mqtt"));
        assert!(!is_module_name("a..b"));
        assert!(host_problem("https://x.io").is_some());
        assert!(host_problem("api.github.com").is_none());
    }
}
