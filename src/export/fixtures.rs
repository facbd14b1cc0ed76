//! Rows of an `ActualState` for the export's unit tests: `state()` with every
//! kind, `sourced()` adding sources, pass-through tools and tunnels, and helpers
//! to read an export. The tests themselves live beside the code they test.

use serde_json::json;
use uuid::Uuid;

use super::Export;
use crate::crypto::{self, Aad, Key};
use crate::model::ToolType;
use crate::model::{Network, Server, SourceStatus, Tool, Transport, Tunnel};
use crate::rules::approval::Status;
use crate::rules::passthrough::sanitize;
use crate::source::Entry;
use crate::state::{
    ActualState, ModuleRow, NetworkRow, SecretRow, ServerRow, SettingRow, SourceRow, ToolRow,
    TunnelRow,
};

pub(super) const TOKEN: &str = "ghp_aB3dE5gH7jK9mN1pQ3sT5vW7yZ9bC1dE3fG5";
pub(super) const KEY: &str = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

pub(super) fn id(n: u128) -> Uuid {
    Uuid::from_u128(n)
}

pub(super) fn server(n: u128, name: &str, timeout: i32) -> ServerRow {
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

pub(super) fn tool(n: u128, server: &ServerRow, name: &str, code: &str, status: Status) -> ToolRow {
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
        last_version: None,
    }
}

pub(super) fn network(
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

/// A module row; `tool` is a tool's (id, `server/tool`) for a tool's request.
pub(super) fn module(n: u128, name: &str, tool: Option<(Uuid, &str)>, status: &str) -> ModuleRow {
    ModuleRow {
        id: id(n),
        tool_id: tool.map(|(id, _)| id),
        obj: crate::model::Module {
            name: name.into(),
            justification: format!("needs {name}"),
            tool: tool.map(|(_, key)| key.to_string()),
        },
        status: status.into(),
    }
}

// Built through serde: these rows gain fields as secret values are managed.
pub(super) fn secret(n: u128, server: &ServerRow, name: &str, has_value: bool) -> SecretRow {
    serde_json::from_value(json!({
        "id": id(n), "server_id": server.id, "has_value": has_value,
        "obj": {"server": server.obj.name, "name": name, "description": "a token"},
    }))
    .unwrap()
}

pub(super) fn setting(n: u128, key: &str, value: &str) -> SettingRow {
    serde_json::from_value(json!({
        "id": id(n), "encrypted": false, "obj": {"key": key, "value": value},
    }))
    .unwrap()
}

pub(super) fn key() -> Key {
    Key::parse(KEY).unwrap()
}

/// An encrypted setting as `state::read` gives it: the label as its value and
/// the ciphertext aside.
pub(super) fn encrypted_setting(n: u128, key_name: &str, plaintext: &str) -> SettingRow {
    let mut row: SettingRow = serde_json::from_value(json!({
        "id": id(n), "encrypted": true,
        "obj": {"key": key_name, "value": crate::values::ENCRYPTED},
    }))
    .unwrap();
    row.ciphertext = Some(crypto::encrypt_b64(&key(), plaintext, &Aad::setting(key_name)).unwrap());
    row
}

/// Every kind, every approval state, and the cases that cannot be exported.
pub(super) fn state() -> ActualState {
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
        module(42, "requests", Some((id(11), "svc/draft")), "approved"),
    ];
    state.settings = vec![
        setting(50, "tool_approval_mode", "require_approval"),
        setting(51, "log_retention_days", "thirty"),
        encrypted_setting(52, "mcp_rate_limit_rpm", "600"),
    ];
    state
}

pub(super) fn source(
    n: u128,
    server: &ServerRow,
    name: &str,
    auth: (&str, Option<&str>),
) -> SourceRow {
    serde_json::from_value(json!({
        "id": id(n), "server_id": server.id,
        "obj": {"server": server.obj.name, "name": name, "url": "https://mcp.example.com/mcp",
                "transport": "streamable_http", "auth_type": auth.0, "auth_secret": auth.1,
                "auth_header": null, "status": "active"},
        "status": "active", "discovered_tools_cache": null,
    }))
    .unwrap()
}

pub(super) fn passthrough(
    n: u128,
    server: &ServerRow,
    name: &str,
    source: &SourceRow,
    external: &str,
    status: Status,
) -> ToolRow {
    let mut t = tool(n, server, name, "", status);
    t.obj.tool_type = ToolType::McpPassthrough;
    t.obj.python_code = None;
    t.obj.description = None;
    t.obj.input_schema = json!({"type": "object", "properties": {}});
    t.obj.external_source = Some(source.obj.name.clone());
    t.obj.external_tool_name = Some(external.into());
    t.external_source_id = Some(source.id);
    t
}

pub(super) fn tunnel(n: u128, name: &str, active: bool, token: Option<&str>) -> TunnelRow {
    TunnelRow {
        id: id(n),
        obj: Tunnel {
            name: name.into(),
            description: Some(format!("{name} tunnel")),
            public_url: Some(format!("https://{}.example.com", sanitize(name))),
            active,
            token: token.map(|_| crate::values::ENCRYPTED.to_string()),
        },
        ciphertext: token.map(|t| crypto::encrypt_b64(&key(), t, &Aad::tunnel_token()).unwrap()),
    }
}

/// `state()` plus external sources, pass-through tools and tunnels, with the
/// cases that cannot be exported.
pub(super) fn sourced() -> ActualState {
    let mut state = state();
    let svc = state.servers[0].clone();
    let mut gh = source(60, &svc, "GitHub MCP", ("bearer", Some("API_TOKEN")));
    gh.status = "error".into();
    gh.obj.transport = Transport::Sse;
    gh.discovered_tools_cache = Some(json!([
        {"name": "search_code", "description": "Search code", "input_schema": {"type": "object", "properties": {"q": {"type": "string"}}}},
        {"name": "bare", "description": null, "input_schema": null},
    ]));
    let mut plain = source(61, &svc, "plain", ("none", None));
    plain.obj.status = SourceStatus::Disabled;
    plain.status = "disabled".into();
    let oauth = source(62, &svc, "oauth", ("oauth", None));
    let twin_a = source(63, &svc, "twin", ("none", None));
    let twin_b = source(64, &svc, "twin", ("none", None));
    let lower = source(65, &svc, "lower", ("bearer", Some("lower")));

    let mut search = passthrough(70, &svc, "search", &gh, "search_code", Status::Approved);
    search.obj.description = Some("Search code".into());
    search.obj.input_schema = gh.discovered("search_code").unwrap()["input_schema"].clone();
    search.approved_by = Some("carol@example.com".into());
    let mut bare = passthrough(71, &svc, "bare", &gh, "bare", Status::Draft);
    bare.obj.input_schema = json!({});
    let mut undiscovered = passthrough(72, &svc, "undiscovered", &plain, "x", Status::Draft);
    undiscovered.obj.enabled = false;
    let via_oauth = passthrough(73, &svc, "via_oauth", &oauth, "x", Status::Draft);
    let mut no_schema = passthrough(74, &svc, "no_schema", &gh, "search_code", Status::Draft);
    no_schema.obj.description = Some("Search code".into());
    no_schema.obj.input_schema = serde_json::Value::Null;
    let via_twin = passthrough(75, &svc, "via_twin", &twin_a, "x", Status::Draft);

    state.sources = vec![gh, plain, oauth, twin_a, twin_b, lower];
    state
        .tools
        .extend([search, bare, undiscovered, via_oauth, no_schema, via_twin]);
    state.tunnels = vec![
        tunnel(80, "prod", true, Some("prod-token-0123456789")),
        tunnel(81, "PROD", false, Some("other-token-0123456789")),
        tunnel(82, "Wizard: home", false, Some("home-token-0123456789")),
        tunnel(83, "   ", false, Some("blank-token-0123456789")),
        tunnel(84, "tokenless", false, None),
    ];
    state
}

/// The plaintext behind each variable of `sourced()`'s export.
pub(super) fn plaintext(var: &str) -> Option<&'static str> {
    Some(match var {
        // `PROD` sorts before `prod`, so it takes the plain name.
        "MCPBOX_SECRET_TUNNEL_TOKEN_PROD" => "other-token-0123456789",
        "MCPBOX_SECRET_TUNNEL_TOKEN_PROD_2" => "prod-token-0123456789",
        "MCPBOX_SECRET_TUNNEL_TOKEN_WIZARD_HOME" => "home-token-0123456789",
        "MCPBOX_SECRET_SETTING_MCP_RATE_LIMIT_RPM" => "600",
        _ => return None,
    })
}

pub(super) fn text<'a>(e: &'a Export, path: &str) -> &'a str {
    match e.files.get(path) {
        Some(Entry::Bytes(b)) => std::str::from_utf8(b).unwrap(),
        other => panic!("{path}: {other:?}\n{:#?}", e.files.files.keys()),
    }
}

pub(super) fn skip_reason<'a>(e: &'a Export, object: &str) -> &'a str {
    e.skipped
        .iter()
        .find(|s| s.object == object)
        .map(|s| s.reason.as_str())
        .unwrap_or_else(|| panic!("{object} not in {:#?}", e.skipped))
}
