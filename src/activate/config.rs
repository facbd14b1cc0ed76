//! Where MCPBox's sandbox and MCP processes are, the key they accept, and how hard
//! to try: the [`Config`] of an activation.
//!
//! Reading flags and environment variables lives in `cli::apply` and
//! `cli::activate` (and later the daemon); this file only holds the values.

use std::fmt;
use std::time::Duration;

use crate::crypto::Secret;

/// The sandbox's URL as MCPBox hard-codes it in its backend (MCPBOX.md §8.3).
pub const DEFAULT_SANDBOX_URL: &str = "http://sandbox:8001";

/// The environment variable MCPBox reads the sandbox API key from.
pub const DEFAULT_API_KEY_ENV: &str = "SANDBOX_API_KEY";

/// Where MCPBox's backend listens on its host (MCPBOX.md §8.5).
pub const DEFAULT_BACKEND_URL: &str = "http://127.0.0.1:8000";

/// Path 1 of MCPBOX.md §8.5: restart servers through MCPBox's admin API instead of
/// registering them with the sandbox directly.
///
/// A restart registers *every* tool of the server, drafts and disabled ones
/// included (callable by name though hidden from `tools/list`, §8.2); that is why
/// the sandbox route is the default. `Debug` hides the password.
#[derive(Clone)]
pub struct AdminApi {
    /// MCPBox's backend, e.g. `http://127.0.0.1:8000`.
    pub backend_url: String,
    /// The admin's user name (`POST /auth/login`).
    pub username: String,
    /// The admin's password.
    pub password: Secret,
}

impl fmt::Debug for AdminApi {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AdminApi")
            .field("backend_url", &shown(&self.backend_url))
            .field("username", &self.username)
            .field("password", &self.password)
            .finish()
    }
}

/// How to reach MCPBox.
///
/// `Debug` hides the API key and any credentials in the URLs.
#[derive(Clone)]
#[must_use]
pub struct Config {
    /// Base URL of the sandbox (`http://sandbox:8001` inside MCPBox's network).
    pub sandbox_url: String,
    /// Base URL of the MCP gateway (`http://mcp-gateway:8002`), notified after a
    /// change so tunnel clients re-list tools (§8.4). None: not notified.
    pub mcp_gateway_url: Option<String>,
    /// Base URL of MCPBox's backend (`http://127.0.0.1:8000` on the host), notified
    /// for local MCP clients. None: not notified (MCPBox itself notifies only the
    /// gateway).
    pub backend_url: Option<String>,
    /// `SANDBOX_API_KEY`: sent as `X-API-Key` to the sandbox and as a bearer token
    /// to the notify endpoints.
    pub api_key: Secret,
    /// Retries after the first attempt, on connection errors, timeouts and 5xx.
    pub retries: u32,
    /// Timeout of one HTTP request.
    pub timeout: Duration,
    /// Delay before the first retry; doubled for each further one.
    pub backoff: Duration,
    /// Go through MCPBox's admin API (path 1) instead of the sandbox (path 2).
    /// The sandbox URL and API key are then used only to unregister deleted
    /// servers, which the admin API cannot do (leave `api_key` empty to skip).
    pub admin_api: Option<AdminApi>,
}

impl Config {
    /// A configuration with 3 retries, a 10 s timeout and a 500 ms first backoff.
    pub fn new(sandbox_url: impl Into<String>, api_key: impl Into<Secret>) -> Config {
        Config {
            sandbox_url: sandbox_url.into(),
            mcp_gateway_url: None,
            backend_url: None,
            api_key: api_key.into(),
            retries: 3,
            timeout: Duration::from_secs(10),
            backoff: Duration::from_millis(500),
            admin_api: None,
        }
    }

    /// Restarts servers through MCPBox's admin API (path 1) instead.
    pub fn with_admin_api(mut self, admin: AdminApi) -> Config {
        self.admin_api = Some(admin);
        self
    }

    /// Notifies the MCP gateway at this base URL.
    pub fn with_gateway(mut self, url: impl Into<String>) -> Config {
        self.mcp_gateway_url = Some(url.into());
        self
    }

    /// Notifies MCPBox's backend at this base URL.
    pub fn with_backend(mut self, url: impl Into<String>) -> Config {
        self.backend_url = Some(url.into());
        self
    }

    /// Sets the retry count and the first backoff delay.
    pub fn with_retries(mut self, retries: u32, backoff: Duration) -> Config {
        self.retries = retries;
        self.backoff = backoff;
        self
    }

    /// Sets the timeout of one request.
    pub fn with_timeout(mut self, timeout: Duration) -> Config {
        self.timeout = timeout;
        self
    }
}

/// `base` + `path`, with exactly one `/` between them.
pub(super) fn join(base: &str, path: &str) -> String {
    format!(
        "{}/{}",
        base.trim_end_matches('/'),
        path.trim_start_matches('/')
    )
}

/// A URL for `Debug`: user-info (`user:password@`) replaced.
fn shown(url: &str) -> String {
    let (scheme, rest) = url.split_once("://").unwrap_or(("", url));
    let authority_end = rest.find('/').unwrap_or(rest.len());
    match rest[..authority_end].rfind('@') {
        Some(at) => format!("{scheme}://(redacted)@{}", &rest[at + 1..]),
        None => url.to_string(),
    }
}

impl fmt::Debug for Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Config")
            .field("sandbox_url", &shown(&self.sandbox_url))
            .field(
                "mcp_gateway_url",
                &self.mcp_gateway_url.as_deref().map(shown),
            )
            .field("backend_url", &self.backend_url.as_deref().map(shown))
            .field("api_key", &self.api_key)
            .field("retries", &self.retries)
            .field("timeout", &self.timeout)
            .field("backoff", &self.backoff)
            .field("admin_api", &self.admin_api)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_hides_the_key_and_url_credentials() {
        let cfg = Config::new("http://user:pw@sandbox:8001/", "k-123-secret")
            .with_gateway("http://mcp-gateway:8002")
            .with_admin_api(AdminApi {
                backend_url: "http://127.0.0.1:8000".into(),
                username: "admin".into(),
                password: "admin-pass-999".into(),
            });
        let text = format!("{cfg:?}");
        assert!(!text.contains("k-123-secret"), "{text}");
        assert!(!text.contains("admin-pass-999"), "{text}");
        assert!(!text.contains("pw"), "{text}");
        assert!(text.contains("sandbox:8001"), "{text}");
        assert!(text.contains("mcp-gateway:8002"), "{text}");
    }

    #[test]
    fn join_puts_one_slash() {
        assert_eq!(
            join("http://s:8001/", "/servers/register"),
            "http://s:8001/servers/register"
        );
        assert_eq!(
            join("http://s:8001", "servers/register"),
            "http://s:8001/servers/register"
        );
    }
}
