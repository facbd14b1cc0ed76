//! The manifest kinds (`apiVersion: mcpbox/v1`) as serde types.
//!
//! These mirror the YAML exactly (camelCase, unknown fields refused); meaning and
//! defaults are given to them later, in `validate` and `desired`. Nothing here
//! reads files or checks references. The types also derive `JsonSchema` (their doc
//! comments become the descriptions editors show); assembling the schema files
//! lives in `manifest::schema`.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::rules::limits;

use crate::model::{AuthType, SourceStatus, ToolType, Transport};

/// The only API version we read.
pub const API_VERSION: &str = "mcpbox/v1";

/// The kinds we know, as written in `kind:`.
pub const KINDS: [&str; 6] = [
    "Server",
    "Tool",
    "ExternalSource",
    "Modules",
    "Settings",
    "TunnelConfiguration",
];

/// The common envelope of every document, read first to learn its kind.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Envelope {
    /// Must be [`API_VERSION`].
    pub api_version: Option<serde_yaml::Value>,
    /// One of [`KINDS`].
    pub kind: Option<serde_yaml::Value>,
}

/// A whole document of one kind: `apiVersion`, `kind`, `metadata`, `spec`.
///
/// In the JSON Schema, `manifest::schema` pins `apiVersion` and `kind` to constants.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Doc<M, S> {
    /// Always `mcpbox/v1`; checked separately (see [`Envelope`]).
    pub api_version: String,
    /// The document's kind; checked separately (see [`Envelope`]).
    pub kind: String,
    /// The object's name (and, for a tool, its server).
    pub metadata: M,
    /// The object's content.
    pub spec: S,
}

/// `metadata` of a global object (Server, Modules, Settings, TunnelConfiguration).
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Metadata {
    /// The object's name.
    pub name: String,
}

/// `metadata` of an object that belongs to a server (Tool).
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ServerScopedMetadata {
    /// The object's name, unique within its server (`^[a-z][a-z0-9_]*$`).
    #[schemars(regex(pattern = r"^[a-z][a-z0-9_]*$"), length(max = limits::NAME))]
    pub name: String,
    /// The server it belongs to (`metadata.name` of a Server document).
    pub server: String,
}

/// `metadata` of an external MCP source: a free-form name (MCPBox allows any
/// 1–255 characters) and the server it belongs to.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SourceMetadata {
    /// The source's name (`external_mcp_sources.name`, 1–255 characters), unique
    /// within its server; pass-through tools name it in `externalSource`.
    #[schemars(length(min = 1, max = limits::NAME))]
    pub name: String,
    /// The server it belongs to (`metadata.name` of a Server document).
    pub server: String,
}

/// `kind: Server`.
#[derive(Debug, Clone, Default, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ServerSpec {
    /// What the server is for (`servers.description`).
    #[schemars(length(max = limits::DESCRIPTION))]
    pub description: Option<String>,
    /// Default timeout of the server's tools in milliseconds
    /// (`servers.default_timeout_ms`, 1000–300000; MCPBox's default 30000).
    #[schemars(range(min = *limits::TIMEOUT.start(), max = *limits::TIMEOUT.end()))]
    pub default_timeout_ms: Option<i64>,
    /// Secret placeholders: names only, values never in git.
    #[serde(default)]
    pub secrets: Vec<SecretEntry>,
    /// Approved network hosts of this server.
    #[serde(default)]
    pub network: Vec<NetworkEntry>,
}

/// One secret placeholder of a server.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct SecretEntry {
    /// The secret's name as tools read it (`server_secrets.key_name`,
    /// `^[A-Z][A-Z0-9_]*$`); its value is set in MCPBox, never in git.
    #[schemars(regex(pattern = r"^[A-Z][A-Z0-9_]*$"), length(max = limits::NAME))]
    pub name: String,
    /// What the secret is (`server_secrets.description`).
    #[schemars(length(max = limits::DESCRIPTION))]
    pub description: Option<String>,
    /// Where apply reads the value from (it is stored encrypted, never in git).
    /// Without it, the value is left to MCPBox.
    pub value_from: Option<ValueFrom>,
}

/// `valueFrom`: exactly one of `env` or `file`, read at apply time.
#[derive(Debug, Clone, Default, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ValueFrom {
    /// An environment variable of the process running apply.
    #[schemars(regex(pattern = r"^[A-Za-z_][A-Za-z0-9_]*$"))]
    pub env: Option<String>,
    /// A file on the machine running apply (e.g. a mounted secret); one trailing
    /// newline is dropped.
    pub file: Option<String>,
}

impl ValueFrom {
    /// The source, when exactly one of `env` and `file` is given.
    pub fn source(&self) -> Option<crate::values::ValueSource> {
        match (&self.env, &self.file) {
            (Some(e), None) => Some(crate::values::ValueSource::Env(e.clone())),
            (None, Some(f)) => Some(crate::values::ValueSource::File(f.clone())),
            _ => None,
        }
    }
}

/// A setting's value in a manifest: a plain scalar, or `{valueFrom: …}` for a
/// value stored encrypted.
pub fn setting_value_from(v: &serde_yaml::Value) -> Option<Result<ValueFrom, String>> {
    let m = v.as_mapping()?;
    let inner = m.get("valueFrom");
    if m.len() != 1 || inner.is_none() {
        return Some(Err(
            "a setting is a plain value or `{valueFrom: {env: NAME}}`".into(),
        ));
    }
    Some(
        serde_yaml::from_value::<ValueFrom>(inner.cloned().unwrap_or_default())
            .map_err(|e| e.to_string()),
    )
}

/// One approved egress host of a server.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct NetworkEntry {
    /// Host name (lowercase, as the sandbox matches it).
    pub host: String,
    /// Port; absent means any port.
    #[schemars(range(min = 1, max = 65535))]
    pub port: Option<i64>,
    /// Why the host is needed (stored as the request's justification).
    pub justification: String,
    /// Makes the entry tool-originated: the name of a tool of the same server.
    pub tool: Option<String>,
}

/// A tool's `timeoutMs`: milliseconds, or `inherit` (`tools.timeout_ms` NULL).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Timeout {
    /// An explicit timeout in milliseconds.
    Ms(i64),
    /// NULL: what MCPBox's create writes; the sandbox uses its 30000 ms default.
    Inherit,
}

/// The word that stands for [`Timeout::Inherit`].
pub const INHERIT: &str = "inherit";

impl Serialize for Timeout {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Timeout::Ms(ms) => s.serialize_i64(*ms),
            Timeout::Inherit => s.serialize_str(INHERIT),
        }
    }
}

impl<'de> Deserialize<'de> for Timeout {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Visit;
        impl serde::de::Visitor<'_> for Visit {
            type Value = Timeout;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                write!(
                    f,
                    "a timeout in milliseconds (1000 to 300000) or `{INHERIT}`"
                )
            }
            fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<Timeout, E> {
                Ok(Timeout::Ms(v))
            }
            fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<Timeout, E> {
                i64::try_from(v).map(Timeout::Ms).map_err(|_| {
                    E::custom(format!("timeout {v} ms is outside MCPBox's 1000 to 300000"))
                })
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Timeout, E> {
                if v == INHERIT {
                    Ok(Timeout::Inherit)
                } else {
                    Err(E::invalid_value(serde::de::Unexpected::Str(v), &self))
                }
            }
        }
        d.deserialize_any(Visit)
    }
}

impl JsonSchema for Timeout {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Timeout".into()
    }
    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "oneOf": [
                {"type": "integer", "minimum": *limits::TIMEOUT.start(), "maximum": *limits::TIMEOUT.end()},
                {"const": INHERIT, "description": "tools.timeout_ms NULL, as MCPBox creates tools: the sandbox runs the tool with 30000 ms whatever the server's default"}
            ]
        })
    }
}

/// `kind: Tool`.
#[derive(Debug, Clone, Default, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ToolSpec {
    /// `python_code` (default) or `mcp_passthrough`.
    #[serde(rename = "type")]
    pub tool_type: Option<ToolType>,
    /// What the tool does, as the LLM sees it (`tools.description`). For a
    /// pass-through tool, absent means the description the source discovered.
    #[schemars(length(max = limits::DESCRIPTION))]
    pub description: Option<String>,
    /// Timeout in milliseconds (`tools.timeout_ms`, 1000–300000); absent = the
    /// server's default; `inherit` = NULL, as MCPBox's create leaves it (the
    /// sandbox then runs the tool with 30000 ms whatever the server says).
    pub timeout_ms: Option<Timeout>,
    /// `tools.enabled`, default true.
    pub enabled: Option<bool>,
    /// Inline Python code.
    pub code: Option<String>,
    /// Python code in a file, relative to this manifest.
    pub code_file: Option<String>,
    /// Python packages the code imports (`tools.code_dependencies`, at most 20).
    #[schemars(length(max = limits::DEPENDENCIES))]
    pub dependencies: Option<Vec<String>>,
    /// Explicit `input_schema`, instead of deriving it from `main`'s signature (or,
    /// for a pass-through tool, taking the one the source discovered).
    pub input_schema: Option<serde_json::Value>,
    /// Pass-through: the `metadata.name` of an ExternalSource of the same server.
    pub external_source: Option<String>,
    /// Pass-through: the tool's name on the external server (1–255 characters).
    #[schemars(length(min = 1, max = limits::NAME))]
    pub external_tool_name: Option<String>,
}

/// `kind: ExternalSource` — an external MCP server whose tools a server proxies
/// (`external_mcp_sources`). Discovery results (`discovered_tools_cache`,
/// `tool_count`, `last_discovered_at`) and OAuth tokens stay MCPBox's.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct SourceSpec {
    /// The external server's MCP endpoint (`external_mcp_sources.url`, 1–2000
    /// characters).
    #[schemars(length(min = 1, max = limits::URL))]
    pub url: String,
    /// `streamable_http` (default) or `sse`.
    pub transport: Option<Transport>,
    /// How the sandbox authenticates to the external server; default no auth.
    pub auth: Option<SourceAuth>,
    /// `active` (default) or `disabled` (left out of sandbox registration). MCPBox
    /// sets `error` itself when discovery fails; that counts as `active`.
    pub status: Option<SourceStatus>,
}

/// `auth` of an external source.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct SourceAuth {
    /// `none`, `bearer` (`Authorization: Bearer <secret>`) or `header`
    /// (`<header>: <secret>`).
    #[serde(rename = "type")]
    pub auth_type: AuthType,
    /// For `bearer` and `header`: the name of a secret of the same server whose
    /// value is sent (`external_mcp_sources.auth_secret_name`).
    #[schemars(regex(pattern = r"^[A-Z][A-Z0-9_]*$"), length(max = limits::NAME))]
    pub secret: Option<String>,
    /// For `header`: the header's name; absent means `Authorization`.
    #[schemars(length(min = 1, max = limits::NAME))]
    pub header: Option<String>,
}

/// `kind: TunnelConfiguration` — a Cloudflare tunnel configuration
/// (`tunnel_configurations`); at most one is active.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct TunnelSpec {
    /// What the configuration is for (at most 2000 characters).
    #[schemars(length(max = limits::DESCRIPTION))]
    pub description: Option<String>,
    /// The public URL MCP clients use (at most 1024 characters). Stored as MCPBox
    /// stores it: trimmed, `https://` added when there is no scheme, trailing `/`
    /// removed.
    #[schemars(length(max = limits::PUBLIC_URL))]
    pub public_url: Option<String>,
    /// The cloudflared tunnel token, read at apply time and stored encrypted
    /// (at least 10 characters; never in git).
    pub token: TunnelToken,
    /// Whether this is the active configuration (default false). At most one
    /// configuration is active; activating one deactivates the others, as
    /// MCPBox's activate does.
    pub active: Option<bool>,
}

/// `token` of a tunnel configuration: only `valueFrom`.
#[derive(Debug, Clone, Default, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct TunnelToken {
    /// Where apply reads the token from.
    pub value_from: ValueFrom,
}

/// `kind: Modules` — global approved Python modules.
#[derive(Debug, Clone, Default, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ModulesSpec {
    /// The modules.
    #[serde(default)]
    pub modules: Vec<ModuleEntry>,
}

/// One approved module.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
// MCPBox's admin rule for names applies to entries without `tool` only.
#[schemars(extend(
    "if" = {"not": {"required": ["tool"]}},
    "then" = {"properties": {"name": {
        "pattern": r"^[a-zA-Z_][a-zA-Z0-9_]*(\.[a-zA-Z_][a-zA-Z0-9_]*)*$",
        "maxLength": limits::MODULE_NAME
    }}}
))]
pub struct ModuleEntry {
    /// Module name, e.g. `xml.etree.ElementTree`: a dotted Python identifier of
    /// at most 128 characters for an admin entry (MCPBox's admin rule); any
    /// non-empty name for an entry with `tool` (MCPBox's LLM path checks no
    /// syntax, so `python-dateutil` is one).
    #[schemars(length(min = 1, max = limits::NAME))]
    pub name: String,
    /// Why it is needed.
    pub justification: String,
    /// Makes the entry tool-originated, in the shape of an LLM's module request
    /// an admin approved (`tool_id` and the tool's server set): `SERVER/TOOL`,
    /// a Tool in git. Absent: an admin entry (`server_id` NULL).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = r"^[^/]+/[^/]+$"))]
    pub tool: Option<String>,
}

/// `kind: Settings` — MCPBox settings as key → plain value.
pub type SettingsSpec = BTreeMap<String, serde_yaml::Value>;

/// A parsed document of a known kind.
#[derive(Debug, Clone)]
pub enum Document {
    /// `kind: Server`.
    Server(Doc<Metadata, ServerSpec>),
    /// `kind: Tool`.
    Tool(Doc<ServerScopedMetadata, ToolSpec>),
    /// `kind: ExternalSource`.
    Source(Doc<SourceMetadata, SourceSpec>),
    /// `kind: Modules`.
    Modules(Doc<Metadata, ModulesSpec>),
    /// `kind: Settings`.
    Settings(Doc<Metadata, SettingsSpec>),
    /// `kind: TunnelConfiguration`.
    Tunnel(Doc<Metadata, TunnelSpec>),
}

impl Document {
    /// The kind as written.
    pub fn kind(&self) -> &'static str {
        match self {
            Document::Server(_) => "Server",
            Document::Tool(_) => "Tool",
            Document::Source(_) => "ExternalSource",
            Document::Modules(_) => "Modules",
            Document::Settings(_) => "Settings",
            Document::Tunnel(_) => "TunnelConfiguration",
        }
    }
}
