//! The bodies MCPBox sends to its sandbox, built from rows exactly as MCPBox builds
//! them (MCPBOX.md §4.5, §6.1, §8.3): the tool objects, `allowed_modules`, the
//! decrypted `secrets` dict and the external sources with their auth headers.
//!
//! Pure: the rows come from `activate::read`, decrypting them and building the
//! auth headers from them lives in `activate::secrets`, sending in `activate::call`.
//! Decrypted values stay in [`Secret`]s until [`Register::body`] builds the JSON
//! that is sent; nothing here logs or formats them.

use std::collections::BTreeMap;

use serde_json::{json, Map, Value};
use uuid::Uuid;

pub use super::rows::{ServerRows, SourceRow, StoredSecret, ToolRow};
use super::secrets::{auth_headers, decrypt_secrets, Error};
use crate::crypto::{Key, Secret};
use crate::rules::sync::DEFAULT_ALLOWED_MODULES;

/// MCPBox's timeout for a tool without `timeout_ms` (§4.5): the server's
/// `default_timeout_ms` is never used.
pub const DEFAULT_TOOL_TIMEOUT_MS: i32 = 30_000;

/// One external source as registered: `{"source_id", "url", "auth_headers",
/// "transport_type"}`. Header values are secrets; `Debug` shows neither them nor
/// the URL (which may carry credentials).
#[derive(Clone)]
pub struct ExternalSource {
    /// `external_mcp_sources.id`.
    pub source_id: Uuid,
    /// `url`.
    pub url: String,
    /// Header name → value (e.g. `Authorization: Bearer …`).
    pub auth_headers: BTreeMap<String, Secret>,
    /// `transport_type`.
    pub transport_type: String,
}

impl std::fmt::Debug for ExternalSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ExternalSource")
            .field("source_id", &self.source_id)
            .field(
                "auth_headers",
                &self.auth_headers.keys().collect::<Vec<_>>(),
            )
            .field("transport_type", &self.transport_type)
            .finish_non_exhaustive()
    }
}

/// The body of `POST /servers/register` (MCPBOX.md §8.3), with its secret values
/// still wrapped. `Debug` shows no value.
#[derive(Debug, Clone)]
pub struct Register {
    /// `server_id`.
    pub server_id: Uuid,
    /// `server_name`.
    pub server_name: String,
    /// `tools`: §4.5 objects.
    pub tools: Vec<Value>,
    /// `allowed_modules`: the stored list or MCPBox's defaults.
    pub allowed_modules: Vec<String>,
    /// `secrets`: key name → decrypted value.
    pub secrets: BTreeMap<String, Secret>,
    /// `external_sources`: the non-disabled sources.
    pub external_sources: Vec<ExternalSource>,
    /// `allowed_hosts`: `servers.allowed_hosts`.
    pub allowed_hosts: Vec<String>,
}

impl Register {
    /// The JSON sent to the sandbox. It holds the decrypted values: build it right
    /// before sending and drop it right after; never log it.
    pub fn body(&self) -> Value {
        let secrets: Map<String, Value> = self
            .secrets
            .iter()
            .map(|(k, v)| (k.clone(), Value::String(v.expose().to_owned())))
            .collect();
        let sources: Vec<Value> = self
            .external_sources
            .iter()
            .map(|s| {
                let headers: Map<String, Value> = s
                    .auth_headers
                    .iter()
                    .map(|(k, v)| (k.clone(), Value::String(v.expose().to_owned())))
                    .collect();
                json!({
                    "source_id": s.source_id.to_string(),
                    "url": s.url,
                    "auth_headers": headers,
                    "transport_type": s.transport_type,
                })
            })
            .collect();
        json!({
            "server_id": self.server_id.to_string(),
            "server_name": self.server_name,
            "tools": self.tools,
            "allowed_modules": self.allowed_modules,
            "secrets": secrets,
            "external_sources": sources,
            "allowed_hosts": self.allowed_hosts,
        })
    }

    /// Every secret value the body carries, to scrub them from error texts.
    pub fn values(&self) -> Vec<&str> {
        self.secrets
            .values()
            .chain(
                self.external_sources
                    .iter()
                    .flat_map(|s| s.auth_headers.values()),
            )
            .map(Secret::expose)
            .filter(|v| !v.is_empty())
            .collect()
    }
}

/// Builds a server's registration as MCPBox's re-registration does.
pub fn register(
    server: &ServerRows,
    allowed_modules: &[String],
    key: Option<&Key>,
) -> Result<Register, Error> {
    let secrets = decrypt_secrets(server, key)?;
    let external_sources = server
        .sources
        .iter()
        .map(|s| {
            Ok(ExternalSource {
                source_id: s.id,
                url: s.url.clone(),
                auth_headers: auth_headers(server, s, &secrets, key)?,
                transport_type: s.transport_type.clone(),
            })
        })
        .collect::<Result<_, Error>>()?;
    Ok(Register {
        server_id: server.id,
        server_name: server.name.clone(),
        tools: server.tools.iter().map(tool).collect(),
        allowed_modules: allowed_modules.to_vec(),
        secrets,
        external_sources,
        allowed_hosts: server.allowed_hosts.clone(),
    })
}

/// One tool as the sandbox receives it (MCPBOX.md §4.5). The two external keys are
/// sent for pass-through tools only; `code_dependencies` never.
///
/// MCPBox builds it with Python's `x or default`, so falsy values take the
/// default too: an empty description is `""`, an empty or null schema `{}`, empty
/// code `null`, a timeout of 0 is 30000.
pub fn tool(t: &ToolRow) -> Value {
    let parameters = t
        .input_schema
        .clone()
        .filter(|v| !v.is_null())
        .unwrap_or_else(|| json!({}));
    let mut obj = json!({
        "name": t.name,
        "description": t.description.clone().unwrap_or_default(),
        "parameters": parameters,
        "python_code": t.python_code.as_deref().filter(|c| !c.is_empty()),
        "timeout_ms": t.timeout_ms.filter(|&ms| ms != 0).unwrap_or(DEFAULT_TOOL_TIMEOUT_MS),
        "tool_type": t.tool_type,
    });
    if t.tool_type == "mcp_passthrough" {
        obj["external_source_id"] = json!(t.external_source_id.map(|id| id.to_string()));
        obj["external_tool_name"] = json!(t.external_tool_name);
    }
    obj
}

/// `get_allowed_modules()`: the stored `global_config.allowed_modules` when it is
/// non-empty, otherwise a copy of the defaults in their declared order (§3.5).
pub fn allowed_modules(stored: Option<&[String]>) -> Vec<String> {
    match stored {
        Some(list) if !list.is_empty() => list.to_vec(),
        _ => DEFAULT_ALLOWED_MODULES
            .iter()
            .map(|m| m.to_string())
            .collect(),
    }
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;
    use crate::crypto::{self, Aad};

    const KEY: &str = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

    pub(in crate::activate) fn key() -> Key {
        Key::parse(KEY).unwrap()
    }

    pub(in crate::activate) fn server(secrets: &[(&str, &str)]) -> ServerRows {
        let id = Uuid::parse_str("7c9e6679-7425-40de-944b-e07fc1f90ae7").unwrap();
        ServerRows {
            id,
            name: "github".into(),
            allowed_hosts: vec!["api.github.com:443".into()],
            secrets: secrets
                .iter()
                .map(|(k, v)| StoredSecret {
                    key_name: k.to_string(),
                    encrypted: crypto::encrypt(&key(), v, &Aad::server_secret(id, k)).unwrap(),
                })
                .collect(),
            ..ServerRows::default()
        }
    }

    pub(in crate::activate) fn source(
        auth_type: &str,
        secret: Option<&str>,
        header: Option<&str>,
    ) -> SourceRow {
        SourceRow {
            id: Uuid::nil(),
            url: "https://mcp.example.com/mcp".into(),
            auth_type: auth_type.into(),
            auth_secret_name: secret.map(str::to_string),
            auth_header_name: header.map(str::to_string),
            transport_type: "streamable_http".into(),
            oauth_tokens: None,
        }
    }

    pub(in crate::activate) fn exposed(h: &BTreeMap<String, Secret>) -> Vec<(String, String)> {
        h.iter()
            .map(|(k, v)| (k.clone(), v.expose().to_string()))
            .collect()
    }

    #[test]
    fn python_tool_is_sent_with_mcpbox_defaults() {
        let t = ToolRow {
            name: "list_issues".into(),
            tool_type: "python_code".into(),
            python_code: Some("async def main(): pass".into()),
            ..ToolRow::default()
        };
        assert_eq!(
            tool(&t),
            json!({"name": "list_issues", "description": "", "parameters": {},
                   "python_code": "async def main(): pass", "timeout_ms": 30000,
                   "tool_type": "python_code"})
        );
    }

    #[test]
    fn falsy_values_take_mcpboxs_defaults() {
        let t = ToolRow {
            name: "t".into(),
            description: Some(String::new()),
            input_schema: Some(Value::Null),
            python_code: Some(String::new()),
            timeout_ms: Some(0),
            tool_type: "python_code".into(),
            ..ToolRow::default()
        };
        let v = tool(&t);
        assert_eq!(v["description"], "");
        assert_eq!(v["parameters"], json!({}));
        assert_eq!(v["python_code"], Value::Null);
        assert_eq!(v["timeout_ms"], 30000);
    }

    #[test]
    fn tool_keeps_its_own_values() {
        let schema = json!({"type": "object", "properties": {"repo": {"type": "string"}}, "required": ["repo"]});
        let t = ToolRow {
            name: "list_issues".into(),
            description: Some("List issues".into()),
            input_schema: Some(schema.clone()),
            python_code: Some("code".into()),
            timeout_ms: Some(5000),
            tool_type: "python_code".into(),
            ..ToolRow::default()
        };
        let v = tool(&t);
        assert_eq!(v["description"], "List issues");
        assert_eq!(v["parameters"], schema);
        assert_eq!(v["timeout_ms"], 5000);
        assert!(v.get("external_source_id").is_none());
    }

    #[test]
    fn passthrough_tool_carries_its_source() {
        let sid = Uuid::new_v4();
        let t = ToolRow {
            name: "docs__search".into(),
            tool_type: "mcp_passthrough".into(),
            external_source_id: Some(sid),
            external_tool_name: Some("search".into()),
            ..ToolRow::default()
        };
        let v = tool(&t);
        assert_eq!(v["python_code"], Value::Null);
        assert_eq!(v["external_source_id"], sid.to_string());
        assert_eq!(v["external_tool_name"], "search");
        // A source deleted since: the id is sent as null (ON DELETE SET NULL).
        let orphan = ToolRow {
            external_source_id: None,
            ..t
        };
        assert_eq!(tool(&orphan)["external_source_id"], Value::Null);
    }

    #[test]
    fn allowed_modules_are_stored_or_the_defaults() {
        let defaults = allowed_modules(None);
        assert_eq!(defaults.len(), 34);
        assert_eq!(defaults[0], "json");
        assert_eq!(defaults[5], "xml.etree.ElementTree");
        assert_eq!(allowed_modules(Some(&[])), defaults, "empty means defaults");
        let stored = vec!["json".to_string(), "yaml".to_string()];
        assert_eq!(allowed_modules(Some(&stored)), stored);
    }

    #[test]
    fn register_body_is_mcpbox_shaped_and_debug_hides_values() {
        let mut s = server(&[("TOKEN", "s3cr3t-value")]);
        s.tools.push(ToolRow {
            name: "t".into(),
            tool_type: "python_code".into(),
            ..ToolRow::default()
        });
        s.sources.push(source("bearer", Some("TOKEN"), None));
        let modules = allowed_modules(None);
        let reg = register(&s, &modules, Some(&key())).unwrap();
        let body = reg.body();
        let keys: Vec<&str> = body
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        assert_eq!(
            keys,
            vec![
                "allowed_hosts",
                "allowed_modules",
                "external_sources",
                "secrets",
                "server_id",
                "server_name",
                "tools"
            ]
        );
        assert_eq!(body["server_id"], "7c9e6679-7425-40de-944b-e07fc1f90ae7");
        assert_eq!(body["server_name"], "github");
        assert_eq!(body["secrets"], json!({"TOKEN": "s3cr3t-value"}));
        assert_eq!(body["allowed_hosts"], json!(["api.github.com:443"]));
        assert_eq!(body["allowed_modules"].as_array().unwrap().len(), 34);
        assert_eq!(
            body["external_sources"],
            json!([{"source_id": Uuid::nil().to_string(), "url": "https://mcp.example.com/mcp",
                    "auth_headers": {"Authorization": "Bearer s3cr3t-value"},
                    "transport_type": "streamable_http"}])
        );
        assert_eq!(body["tools"].as_array().unwrap().len(), 1);
        let debug = format!("{reg:?}");
        assert!(!debug.contains("s3cr3t"), "{debug}");
        assert_eq!(reg.values(), vec!["s3cr3t-value", "Bearer s3cr3t-value"]);
    }
}
