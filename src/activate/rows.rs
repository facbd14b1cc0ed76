//! The rows a sandbox registration is built from, as `activate::read` reads
//! them: a running server with its approved tools, stored secrets and active
//! external sources. Plain data; `Debug` never shows ciphertexts or URLs (which
//! may carry credentials). Building the bodies from them is `payload`'s job,
//! decrypting them `secrets`'.

use serde_json::Value;
use uuid::Uuid;

/// A running server and the rows its registration is built from.
#[derive(Debug, Clone, Default)]
pub struct ServerRows {
    /// `servers.id`, the sandbox's registration key.
    pub id: Uuid,
    /// `servers.name`, the MCP prefix of its tools.
    pub name: String,
    /// `servers.allowed_hosts`, sent as stored (`[]` = no network).
    pub allowed_hosts: Vec<String>,
    /// Enabled and approved tools among the first 50 by `created_at`, in that order.
    pub tools: Vec<ToolRow>,
    /// Secrets with a value (`encrypted_value IS NOT NULL`), still encrypted.
    pub secrets: Vec<StoredSecret>,
    /// Sources whose status is not `disabled`.
    pub sources: Vec<SourceRow>,
}

/// The tool columns the sandbox receives.
#[derive(Debug, Clone, Default)]
pub struct ToolRow {
    /// `tools.name`.
    pub name: String,
    /// `tools.description`.
    pub description: Option<String>,
    /// `tools.input_schema`.
    pub input_schema: Option<Value>,
    /// `tools.python_code`.
    pub python_code: Option<String>,
    /// `tools.timeout_ms`.
    pub timeout_ms: Option<i32>,
    /// `tools.tool_type` label (`python_code` or `mcp_passthrough`).
    pub tool_type: String,
    /// `tools.external_source_id` (pass-through tools).
    pub external_source_id: Option<Uuid>,
    /// `tools.external_tool_name` (pass-through tools).
    pub external_tool_name: Option<String>,
}

/// One `server_secrets` row with a value, as stored (raw `IV ‖ ciphertext ‖ tag`).
#[derive(Clone, Default)]
pub struct StoredSecret {
    /// `key_name`, part of the AAD.
    pub key_name: String,
    /// `encrypted_value`.
    pub encrypted: Vec<u8>,
}

impl std::fmt::Debug for StoredSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StoredSecret")
            .field("key_name", &self.key_name)
            .field(
                "encrypted",
                &format_args!("<{} bytes>", self.encrypted.len()),
            )
            .finish()
    }
}

/// The `external_mcp_sources` columns registration needs.
#[derive(Clone, Default)]
pub struct SourceRow {
    /// `id`, sent as `source_id`.
    pub id: Uuid,
    /// `url`.
    pub url: String,
    /// `auth_type` label: `none`, `bearer`, `header` or `oauth`.
    pub auth_type: String,
    /// `auth_secret_name`: a `server_secrets.key_name` of the same server.
    pub auth_secret_name: Option<String>,
    /// `auth_header_name` for `header` auth.
    pub auth_header_name: Option<String>,
    /// `transport_type` label.
    pub transport_type: String,
    /// `oauth_tokens_encrypted`: base64 AES-GCM, AAD `oauth_tokens`.
    pub oauth_tokens: Option<String>,
}

impl std::fmt::Debug for SourceRow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The URL may carry credentials in its user-info or query: not printed.
        f.debug_struct("SourceRow")
            .field("id", &self.id)
            .field("auth_type", &self.auth_type)
            .field("transport_type", &self.transport_type)
            .finish_non_exhaustive()
    }
}
