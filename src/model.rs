//! The objects the reconciler manages, in one shape shared by the desired state
//! (from git), the actual state (from PostgreSQL) and the plan.
//!
//! Plain data with natural keys and content hashes; no I/O. How rows map onto these
//! lives in `state`; how manifests do, in `desired`.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// `tools.tool_type`.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, PartialOrd, Ord, Hash, JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum ToolType {
    /// Python code run by the sandbox.
    PythonCode,
    /// A tool of an external MCP server, proxied.
    McpPassthrough,
}

impl ToolType {
    /// The PostgreSQL enum label.
    pub fn label(self) -> &'static str {
        match self {
            ToolType::PythonCode => "python_code",
            ToolType::McpPassthrough => "mcp_passthrough",
        }
    }
}

/// `external_mcp_sources.transport_type`.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, PartialOrd, Ord, Hash, JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Transport {
    /// MCP streamable HTTP (MCPBox's default).
    StreamableHttp,
    /// MCP over server-sent events.
    Sse,
}

impl Transport {
    /// The PostgreSQL enum label.
    pub fn label(self) -> &'static str {
        match self {
            Transport::StreamableHttp => "streamable_http",
            Transport::Sse => "sse",
        }
    }
}

/// `external_mcp_sources.auth_type`.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, PartialOrd, Ord, Hash, JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum AuthType {
    /// No authentication.
    None,
    /// `Authorization: Bearer <secret>`.
    Bearer,
    /// `<header>: <secret>`.
    Header,
    /// OAuth tokens from MCPBox's OAuth flow. Read from the database only: a
    /// manifest cannot ask for it (`validate` refuses it with the reason, and
    /// `manifest::schema` leaves it out of the manifest schemas).
    Oauth,
}

impl AuthType {
    /// The PostgreSQL enum label.
    pub fn label(self) -> &'static str {
        match self {
            AuthType::None => "none",
            AuthType::Bearer => "bearer",
            AuthType::Header => "header",
            AuthType::Oauth => "oauth",
        }
    }

    /// Parses a label.
    pub fn parse(s: &str) -> Option<AuthType> {
        [
            AuthType::None,
            AuthType::Bearer,
            AuthType::Header,
            AuthType::Oauth,
        ]
        .into_iter()
        .find(|a| a.label() == s)
    }
}

/// `external_mcp_sources.status` as git sets it.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, PartialOrd, Ord, Hash, JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum SourceStatus {
    /// Registered with the sandbox (MCPBox's `error`, a failed discovery, counts
    /// as this).
    Active,
    /// Left out of sandbox registration.
    Disabled,
}

impl SourceStatus {
    /// The PostgreSQL enum label.
    pub fn label(self) -> &'static str {
        match self {
            SourceStatus::Active => "active",
            SourceStatus::Disabled => "disabled",
        }
    }
}

/// The kinds of managed object, in dependency order (creates top-down).
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Serialize,
    Deserialize,
    schemars::JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    /// A row of `servers`.
    Server,
    /// A row of `server_secrets`.
    Secret,
    /// A row of `external_mcp_sources` (before tools: pass-through tools point at it).
    Source,
    /// A row of `tools` (with its `tool_versions`).
    Tool,
    /// An approved row of `network_access_requests`.
    Network,
    /// An approved row of `module_requests`.
    Module,
    /// A row of `settings`.
    Setting,
    /// A row of `tunnel_configurations`.
    Tunnel,
}

impl Kind {
    /// Name used in plans and the ownership table.
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Server => "server",
            Kind::Secret => "secret",
            Kind::Source => "source",
            Kind::Tool => "tool",
            Kind::Network => "network",
            Kind::Module => "module",
            Kind::Setting => "setting",
            Kind::Tunnel => "tunnel",
        }
    }

    /// Parses [`Kind::as_str`].
    pub fn parse(s: &str) -> Option<Kind> {
        [
            Kind::Server,
            Kind::Secret,
            Kind::Source,
            Kind::Tool,
            Kind::Network,
            Kind::Module,
            Kind::Setting,
            Kind::Tunnel,
        ]
        .into_iter()
        .find(|k| k.as_str() == s)
    }
}

/// A server.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Server {
    /// `servers.name`.
    pub name: String,
    /// `servers.description`.
    pub description: Option<String>,
    /// `servers.default_timeout_ms`.
    pub default_timeout_ms: i32,
}

/// A secret placeholder (the value is never part of the model).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Secret {
    /// Owning server's name.
    pub server: String,
    /// `server_secrets.key_name`.
    pub name: String,
    /// `server_secrets.description`.
    pub description: Option<String>,
    /// The value's label, never the value: `(set)` when MCPBox holds one, or
    /// what apply will do (`(from env X)`, `(changed, from env X)`, `(cleared)`);
    /// see `crate::values`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
}

/// An external MCP server whose tools a server proxies (an `external_mcp_sources`
/// row). Discovery results and OAuth tokens are MCPBox's and not part of the model.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Source {
    /// Owning server's name.
    pub server: String,
    /// `external_mcp_sources.name`.
    pub name: String,
    /// `external_mcp_sources.url`.
    pub url: String,
    /// `external_mcp_sources.transport_type`.
    pub transport: Transport,
    /// `external_mcp_sources.auth_type`.
    pub auth_type: AuthType,
    /// `external_mcp_sources.auth_secret_name`: a secret of the same server.
    pub auth_secret: Option<String>,
    /// `external_mcp_sources.auth_header_name` (None: `Authorization`).
    pub auth_header: Option<String>,
    /// `external_mcp_sources.status`; MCPBox's runtime `error` reads as `active`,
    /// so a failed discovery is not a difference.
    pub status: SourceStatus,
}

impl Source {
    /// `server/name`.
    pub fn key(&self) -> String {
        format!("{}/{}", self.server, self.name)
    }
}

/// A tunnel configuration (a `tunnel_configurations` row).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Tunnel {
    /// `tunnel_configurations.name`.
    pub name: String,
    /// `tunnel_configurations.description`.
    pub description: Option<String>,
    /// `tunnel_configurations.public_url`, normalised as MCPBox stores it.
    pub public_url: Option<String>,
    /// `tunnel_configurations.is_active`.
    pub active: bool,
    /// The token's label, never the token: `(encrypted)` when MCPBox holds one,
    /// or what apply will do (`(from env X)`, `(changed, from env X)`); see
    /// `crate::values`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token: Option<String>,
}

/// A tool.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Tool {
    /// Owning server's name.
    pub server: String,
    /// `tools.name`.
    pub name: String,
    /// `tools.description`.
    pub description: Option<String>,
    /// `tools.enabled`.
    pub enabled: bool,
    /// `tools.timeout_ms`.
    pub timeout_ms: Option<i32>,
    /// `tools.tool_type`.
    pub tool_type: ToolType,
    /// `tools.python_code`.
    pub python_code: Option<String>,
    /// `tools.code_dependencies`; empty is stored as NULL.
    pub dependencies: Vec<String>,
    /// `tools.input_schema`.
    pub input_schema: serde_json::Value,
    /// Pass-through target: the external source's name.
    pub external_source: Option<String>,
    /// Pass-through target: the tool's name on the external server.
    pub external_tool_name: Option<String>,
}

impl Tool {
    /// `server/tool`.
    pub fn key(&self) -> String {
        format!("{}/{}", self.server, self.name)
    }

    /// The content hash: sha256 over what runs — type, code, dependencies and
    /// pass-through target. Approval pins name this hash.
    pub fn content_hash(&self) -> String {
        /// The canonical document, its keys in the sorted order `serde_json`'s
        /// map gave them when this hash was first defined (pins in
        /// `approvals.yaml` hold these digests: the bytes must never change).
        #[derive(Serialize)]
        struct Content<'a> {
            code: &'a Option<String>,
            dependencies: &'a Vec<String>,
            #[serde(rename = "externalSource")]
            external_source: &'a Option<String>,
            #[serde(rename = "externalToolName")]
            external_tool_name: &'a Option<String>,
            #[serde(rename = "type")]
            tool_type: &'a str,
        }
        sha256_json(&Content {
            code: &self.python_code,
            dependencies: &self.dependencies,
            external_source: &self.external_source,
            external_tool_name: &self.external_tool_name,
            tool_type: self.tool_type.label(),
        })
    }
}

/// An approved egress host of a server (a `network_access_requests` row).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Network {
    /// Server's name.
    pub server: String,
    /// Tool's name for a tool-originated row; None for an admin row.
    pub tool: Option<String>,
    /// Host.
    pub host: String,
    /// Port; None = any port.
    pub port: Option<i32>,
    /// Justification.
    pub justification: String,
}

impl Network {
    /// `server/host[:port]`, with ` via tool` for tool-originated rows.
    pub fn key(&self) -> String {
        network_key(&self.server, self.tool.as_deref(), &self.host, self.port)
    }
}

/// The natural key of a network row.
pub fn network_key(server: &str, tool: Option<&str>, host: &str, port: Option<i32>) -> String {
    let hp = match port {
        Some(p) => format!("{host}:{p}"),
        None => host.to_string(),
    };
    match tool {
        Some(t) => format!("{server}/{hp} via {t}"),
        None => format!("{server}/{hp}"),
    }
}

/// An approved module (a `module_requests` row): an admin's (global) or a
/// tool's.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Module {
    /// Module name.
    pub name: String,
    /// Justification.
    pub justification: String,
    /// `server/tool` of a tool-originated row (an LLM's request, approved);
    /// None for an admin row. Left out of the JSON when None, so admin rows
    /// hash as they always have.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool: Option<String>,
}

impl Module {
    /// `name`, with ` via server/tool` for a tool-originated row.
    pub fn key(&self) -> String {
        module_key(&self.name, self.tool.as_deref())
    }

    /// The server of a tool-originated row (the part of `tool` before its
    /// last `/`; tool names hold no `/`).
    pub fn server(&self) -> Option<&str> {
        self.tool
            .as_deref()
            .and_then(|t| t.rsplit_once('/'))
            .map(|(s, _)| s)
    }
}

/// The natural key of a module row.
pub fn module_key(name: &str, tool: Option<&str>) -> String {
    match tool {
        Some(t) => format!("{name} via {t}"),
        None => name.to_string(),
    }
}

/// A plain MCPBox setting.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Setting {
    /// `settings.key`.
    pub key: String,
    /// `settings.value`.
    pub value: Option<String>,
}

/// Any managed object.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Object {
    /// See [`Server`].
    Server(Server),
    /// See [`Secret`].
    Secret(Secret),
    /// See [`Source`].
    Source(Source),
    /// See [`Tool`].
    Tool(Tool),
    /// See [`Network`].
    Network(Network),
    /// See [`Module`].
    Module(Module),
    /// See [`Setting`].
    Setting(Setting),
    /// See [`Tunnel`].
    Tunnel(Tunnel),
}

impl Object {
    /// The object's kind.
    pub fn kind(&self) -> Kind {
        match self {
            Object::Server(_) => Kind::Server,
            Object::Secret(_) => Kind::Secret,
            Object::Source(_) => Kind::Source,
            Object::Tool(_) => Kind::Tool,
            Object::Network(_) => Kind::Network,
            Object::Module(_) => Kind::Module,
            Object::Setting(_) => Kind::Setting,
            Object::Tunnel(_) => Kind::Tunnel,
        }
    }

    /// The natural key (unique within the kind).
    pub fn key(&self) -> String {
        match self {
            Object::Server(s) => s.name.clone(),
            Object::Secret(s) => format!("{}/{}", s.server, s.name),
            Object::Source(s) => s.key(),
            Object::Tool(t) => t.key(),
            Object::Network(n) => n.key(),
            Object::Module(m) => m.key(),
            Object::Setting(s) => s.key.clone(),
            Object::Tunnel(t) => t.name.clone(),
        }
    }

    /// Hash of the object's managed content, recorded as `applied_hash` in the
    /// ownership table and used to detect drift.
    pub fn hash(&self) -> String {
        // A value's label says what apply will do, not what is stored: hash one
        // canonical label so applying a value is not mistaken for drift later.
        let canonical = |label: &Option<String>| {
            label.as_ref().map(|l| {
                if l.starts_with('(') && l.ends_with(')') {
                    "(value)".to_string()
                } else {
                    l.clone()
                }
            })
        };
        // Only the small value-carrying kinds are copied; a tool (with its code)
        // is serialised as it is, straight into the hasher.
        let normalised = match self {
            Object::Secret(s) => Object::Secret(Secret {
                value: canonical(&s.value),
                ..s.clone()
            }),
            Object::Setting(s) => Object::Setting(Setting {
                value: canonical(&s.value),
                ..s.clone()
            }),
            Object::Tunnel(t) => Object::Tunnel(Tunnel {
                token: canonical(&t.token),
                ..t.clone()
            }),
            other => return sha256_json(other),
        };
        sha256_json(&normalised)
    }
}

/// Hex sha256 of `value`'s compact JSON, streamed into the hasher (the same
/// digest as hashing `serde_json::to_string(value)`, without the string).
fn sha256_json<T: Serialize + ?Sized>(value: &T) -> String {
    struct Hasher(Sha256);
    impl std::io::Write for Hasher {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.update(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    // serde_json writes a few bytes at a time while it escapes; buffered, the
    // hasher sees whole blocks (five times fewer instructions on tool code).
    let mut w = std::io::BufWriter::with_capacity(16 * 1024, Hasher(Sha256::new()));
    // Serialising plain data into a writer that cannot fail cannot fail; were it
    // to, the digest of what was written so far still identifies the object.
    let _ = serde_json::to_writer(&mut w, value);
    let h = match w.into_inner() {
        Ok(h) => h,
        // Flushing into the hasher cannot fail; keep what was hashed.
        Err(e) => e.into_inner().into_parts().0,
    };
    hex::encode(h.0.finalize())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The digests are stored (ownership rows, pins in approvals.yaml): the
    /// streamed forms must give exactly what the original definitions gave.
    #[test]
    fn hashes_keep_their_original_definitions() {
        let mut t = tool();
        t.python_code = Some("async def main(x: str):\n    return \"é\\n\"\n".into());
        t.dependencies = vec!["httpx".into(), "b\"q".into()];
        t.external_source = Some("src".into());
        let old_content = serde_json::json!({
            "type": t.tool_type.label(),
            "code": t.python_code,
            "dependencies": t.dependencies,
            "externalSource": t.external_source,
            "externalToolName": t.external_tool_name,
        });
        assert_eq!(
            t.content_hash(),
            hex::encode(Sha256::digest(old_content.to_string().as_bytes()))
        );
        let obj = Object::Tool(t);
        let old_hash = hex::encode(Sha256::digest(
            serde_json::to_string(&obj).unwrap().as_bytes(),
        ));
        assert_eq!(obj.hash(), old_hash);
    }

    fn tool() -> Tool {
        Tool {
            server: "s".into(),
            name: "t".into(),
            description: None,
            enabled: true,
            timeout_ms: None,
            tool_type: ToolType::PythonCode,
            python_code: Some("async def main(): pass".into()),
            dependencies: vec![],
            input_schema: serde_json::json!({}),
            external_source: None,
            external_tool_name: None,
        }
    }

    #[test]
    fn content_hash_covers_what_runs_only() {
        let a = tool();
        let mut b = a.clone();
        b.description = Some("other".into());
        b.enabled = false;
        assert_eq!(a.content_hash(), b.content_hash());
        b.python_code = Some("async def main(): return 1".into());
        assert_ne!(a.content_hash(), b.content_hash());
        let mut c = a.clone();
        c.dependencies = vec!["httpx".into()];
        assert_ne!(a.content_hash(), c.content_hash());
        assert_eq!(a.content_hash().len(), 64);
    }

    #[test]
    fn a_tunnel_token_label_is_not_drift() {
        let t = |token: &str, active: bool| {
            Object::Tunnel(Tunnel {
                name: "prod".into(),
                description: None,
                public_url: Some("https://a.io".into()),
                active,
                token: Some(token.into()),
            })
        };
        // Applying a token (label `(from env X)`) and reading it back (`(encrypted)`)
        // hash alike; a real field does not.
        assert_eq!(
            t("(from env T)", true).hash(),
            t("(encrypted)", true).hash()
        );
        assert_ne!(
            t("(encrypted)", true).hash(),
            t("(encrypted)", false).hash()
        );
        assert_eq!(t("(encrypted)", true).key(), "prod");
    }

    #[test]
    fn keys() {
        assert_eq!(network_key("s", None, "a.io", Some(443)), "s/a.io:443");
        assert_eq!(network_key("s", Some("t"), "a.io", None), "s/a.io via t");
        assert_eq!(Object::Tool(tool()).key(), "s/t");
        assert_eq!(Kind::parse("network"), Some(Kind::Network));
        assert_eq!(Kind::parse("source"), Some(Kind::Source));
        assert_eq!(Kind::parse("tunnel"), Some(Kind::Tunnel));
        // Sources are created before the tools that point at them.
        assert!(Kind::Source < Kind::Tool && Kind::Secret < Kind::Source);
    }
}
