//! What an activation did: one [`CallResult`] per call to MCPBox's sandbox or
//! MCP processes, and the totals.
//!
//! Plain data for the CLI to print and the daemon to expose; making the calls
//! lives in `activate::call`. Nothing here holds a secret: error texts are
//! scrubbed of every value before they get here.

use serde::Serialize;
use uuid::Uuid;

/// Which call.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Call {
    /// Reading the servers to register from the database, or preparing the HTTP
    /// client (no HTTP call; failed only when one of those failed).
    Read,
    /// `POST /servers/register`.
    Register,
    /// `POST /servers/{id}/unregister`.
    Unregister,
    /// `POST /packages/sync` (sandbox), or `POST /api/settings/modules/sync`
    /// (admin API).
    PackagesSync,
    /// `POST /auth/login` (admin API).
    Login,
    /// `POST /api/sandbox/servers/{id}/restart` (admin API).
    Restart,
    /// `POST {gateway}/mcp/internal/notify-tools-changed`.
    NotifyGateway,
    /// `POST {backend}/mcp/internal/notify-tools-changed`.
    NotifyBackend,
}

impl Call {
    /// The name shown in output and metrics.
    pub fn as_str(self) -> &'static str {
        match self {
            Call::Read => "read",
            Call::Register => "register",
            Call::Unregister => "unregister",
            Call::PackagesSync => "packages_sync",
            Call::Login => "login",
            Call::Restart => "restart",
            Call::NotifyGateway => "notify_gateway",
            Call::NotifyBackend => "notify_backend",
        }
    }
}

/// The result of one call, after its retries.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CallResult {
    /// Server name (register, unregister, restart); None for global calls.
    pub server: Option<String>,
    /// `servers.id` (register, unregister, restart).
    pub server_id: Option<Uuid>,
    /// Which call.
    pub call: Call,
    /// Whether it succeeded.
    pub ok: bool,
    /// HTTP requests sent (0: not sent, e.g. a secret did not decrypt).
    pub attempts: u32,
    /// Tools sent (register only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tools: Option<usize>,
    /// Why it failed; never contains a secret value or the API key.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

impl CallResult {
    /// A global call (no server).
    pub(super) fn global(call: Call) -> CallResult {
        CallResult {
            server: None,
            server_id: None,
            call,
            ok: false,
            attempts: 0,
            tools: None,
            error: None,
        }
    }

    /// A call about one server.
    pub(super) fn server(call: Call, id: Uuid, name: &str) -> CallResult {
        CallResult {
            server: Some(name.to_string()),
            server_id: Some(id),
            ..CallResult::global(call)
        }
    }

    /// The same, failed before sending anything.
    pub(super) fn not_sent(mut self, error: String) -> CallResult {
        self.error = Some(error);
        self
    }
}

/// Every call of one activation, in the order made.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Outcome {
    /// The calls.
    pub calls: Vec<CallResult>,
    /// How many succeeded.
    pub ok: usize,
    /// How many failed.
    pub failed: usize,
}

impl Outcome {
    /// Records a call.
    pub(super) fn push(&mut self, result: CallResult) {
        if result.ok {
            self.ok += 1;
        } else {
            self.failed += 1;
        }
        self.calls.push(result);
    }

    /// Whether every call succeeded (also when there was nothing to do).
    pub fn is_ok(&self) -> bool {
        self.failed == 0
    }

    /// Whether any call succeeded.
    pub fn any_ok(&self) -> bool {
        self.ok > 0
    }
}
