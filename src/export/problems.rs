//! Why a row of MCPBox cannot be a manifest: the checks `manifest::validate`
//! and MCPBox would apply, each giving the skip reason (`None` or `Ok` when there
//! is none). Walking the state and recording the reasons lives in `rows`.

use std::collections::HashMap;

use serde_json::{json, Value as Json};
use uuid::Uuid;

use super::contents::Shape;
use super::text::{one_line, shown};
use crate::manifest::locate::MAX_DEPTH;
use crate::manifest::secrets;
use crate::model::{AuthType, Network, Server, Source, Tool};
use crate::rules::limits;
use crate::rules::names::{
    host_problem, is_header_name, is_module_name, is_secret_name, is_snake_name,
};
use crate::state::{SourceRow, ToolRow, TunnelRow};

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
pub(super) fn name_problem(name: &str) -> Option<&'static str> {
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

pub(super) fn server_problem(s: &Server) -> Option<String> {
    let d = s.description.as_deref();
    name_problem(&s.name)
        .map(str::to_string)
        .or_else(|| too_long("description", d, limits::DESCRIPTION))
        .or_else(|| credential_in("description", d))
        .or_else(|| timeout_problem("default timeout", s.default_timeout_ms))
}

pub(super) fn secret_problem(name: &str, description: Option<&str>) -> Option<String> {
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
pub(super) fn source_problem(s: &Source, exported_secret: impl Fn(&str) -> bool) -> Option<String> {
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

pub(super) fn tunnel_problem(t: &TunnelRow) -> Option<String> {
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

pub(super) fn network_problem(n: &Network) -> Option<String> {
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

/// Why a module row cannot be an entry: an admin entry's name follows MCPBox's
/// admin rule; a tool's (`tool` set) only needs to be non-empty, as MCPBox's
/// LLM path accepts.
pub(super) fn module_problem(name: &str, justification: &str, tool: bool) -> Option<String> {
    if tool && name.trim().is_empty() {
        return Some("its name is empty".into());
    }
    if !tool && (!is_module_name(name) || name.len() > limits::MODULE_NAME) {
        return Some("its name is not a dotted Python identifier of at most 128 characters (MCPBox's rule for admin modules)".into());
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
fn tool_common_problem(t: &Tool) -> Result<(), String> {
    if !is_snake_name(&t.name) || t.name.len() > limits::NAME {
        return Err("its name does not match ^[a-z][a-z0-9_]*$".into());
    }
    let d = t.description.as_deref();
    fail(too_long("description", d, limits::DESCRIPTION))?;
    fail(credential_in("description", d))?;
    // NULL is `timeoutMs: inherit` (render), whatever the server's default.
    match t.timeout_ms {
        Some(ms) => fail(timeout_problem("timeout", ms)),
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
pub(super) fn python_problem(t: &Tool) -> Result<Shape, String> {
    tool_common_problem(t)?;
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
pub(super) fn passthrough_problem(
    row: &ToolRow,
    sources: &HashMap<Uuid, &SourceRow>,
) -> Result<Shape, String> {
    let t = &row.obj;
    tool_common_problem(t)?;
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

#[cfg(test)]
mod tests {
    use super::source_problem;
    use crate::export::fixtures::{server, source};

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
}
