//! `mcpbox-gitops activate`: re-register every running server in MCPBox's sandbox,
//! sync packages and notify MCP clients — the retry path when `apply --activate`
//! could not reach the sandbox, since a re-run of apply finds no changes.
//! Also the flags `apply --activate` shares ([`SandboxArgs`]) and the printing of
//! an activation's [`Outcome`].
//!
//! The calls themselves live in `crate::activate`; this file reads flags and the
//! environment and prints.

use super::connect::DbArgs;
use super::{print, Error, EXIT_OK};
use crate::activate::{self, Affected, Call, Config, Outcome};

/// Where MCPBox's sandbox is and how to authenticate (`apply --activate`,
/// `activate`).
#[derive(Debug, Clone, clap::Args)]
pub struct SandboxArgs {
    /// Base URL of MCPBox's sandbox (MCPBox's own is http://sandbox:8001, reachable
    /// on its `mcpbox-sandbox` network).
    #[arg(long, value_name = "URL", default_value = activate::DEFAULT_SANDBOX_URL)]
    pub sandbox_url: String,
    /// Base URL of MCPBox's MCP gateway (e.g. http://mcp-gateway:8002), told that
    /// tools changed so connected clients re-list them.
    #[arg(long, value_name = "URL")]
    pub mcp_gateway_url: Option<String>,
    /// Base URL of MCPBox's backend (e.g. http://127.0.0.1:8000), told the same for
    /// local MCP clients.
    #[arg(long, value_name = "URL")]
    pub mcpbox_backend_url: Option<String>,
    /// Environment variable holding the sandbox API key (MCPBox's `.env`).
    #[arg(long, value_name = "NAME", default_value = activate::DEFAULT_API_KEY_ENV)]
    pub sandbox_api_key_env: String,
    /// Retries per call on connection errors, timeouts and 5xx answers.
    #[arg(long, value_name = "N", default_value_t = 3)]
    pub activate_retries: u32,
    /// `sandbox`: register servers with the sandbox as MCPBox's re-registration
    /// does (only enabled, approved tools). `admin-api`: restart them through
    /// MCPBox's admin API, which registers every tool of the server, drafts and
    /// disabled ones included (MCPBOX.md §8.2).
    #[arg(long, value_enum, value_name = "ROUTE", default_value = "sandbox")]
    pub activate_via: Route,
    /// MCPBox admin user for `--activate-via admin-api`.
    #[arg(long, value_name = "NAME")]
    pub mcpbox_admin_user: Option<String>,
    /// Environment variable holding that admin's password.
    #[arg(long, value_name = "NAME", default_value = "MCPBOX_ADMIN_PASSWORD")]
    pub mcpbox_admin_password_env: String,
}

impl SandboxArgs {
    /// The variables these flags name: the reconciler's own credentials, which
    /// no `valueFrom` may read.
    pub fn env_names(&self) -> [&str; 2] {
        [
            self.sandbox_api_key_env.as_str(),
            self.mcpbox_admin_password_env.as_str(),
        ]
    }
}

/// How activation reaches MCPBox (MCPBOX.md §8.5).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Route {
    /// Path 2: straight to the sandbox with `SANDBOX_API_KEY`.
    Sandbox,
    /// Path 1: MCPBox's admin API (login, restart), backend at
    /// `--mcpbox-backend-url` (default http://127.0.0.1:8000).
    AdminApi,
}

impl SandboxArgs {
    /// The activation configuration, with the API key read from the environment.
    pub fn config(&self) -> Result<Config, Error> {
        let var = &self.sandbox_api_key_env;
        let key = std::env::var(var).ok().filter(|k| !k.is_empty());
        let key = match (key, self.activate_via) {
            (Some(key), _) => key,
            // The admin API needs no sandbox key; without one, deleted servers
            // cannot be unregistered (reported per server).
            (None, Route::AdminApi) => String::new(),
            (None, Route::Sandbox) => {
                return Err(Error::Usage(format!(
                    "activation needs the sandbox API key: {var} is not set (use MCPBox's SANDBOX_API_KEY, or name another variable with --sandbox-api-key-env)"
                )))
            }
        };
        let mut cfg = Config::new(self.sandbox_url.clone(), key);
        cfg.retries = self.activate_retries;
        cfg.mcp_gateway_url = self.mcp_gateway_url.clone();
        cfg.backend_url = self.mcpbox_backend_url.clone();
        if self.activate_via == Route::AdminApi {
            let username = self.mcpbox_admin_user.clone().ok_or_else(|| {
                Error::Usage(
                    "--activate-via admin-api needs the MCPBox admin user: pass --mcpbox-admin-user NAME".into(),
                )
            })?;
            let var = &self.mcpbox_admin_password_env;
            let password = std::env::var(var).ok().filter(|p| !p.is_empty()).ok_or_else(|| {
                Error::Usage(format!(
                    "--activate-via admin-api needs the admin's password: {var} is not set (or name another variable with --mcpbox-admin-password-env)"
                ))
            })?;
            cfg = cfg.with_admin_api(activate::AdminApi {
                backend_url: self
                    .mcpbox_backend_url
                    .clone()
                    .unwrap_or_else(|| activate::DEFAULT_BACKEND_URL.to_string()),
                username,
                password: password.into(),
            });
        }
        Ok(cfg)
    }
}

/// Arguments of `activate`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The database.
    #[command(flatten)]
    pub db: DbArgs,
    /// The sandbox.
    #[command(flatten)]
    pub sandbox: SandboxArgs,
}

/// Runs `activate`.
pub async fn run(args: Args) -> Result<u8, Error> {
    let cfg = args.sandbox.config()?;
    let key = super::encryption_key()?;
    let url = args
        .db
        .database_url
        .as_deref()
        .ok_or_else(|| Error::NoDatabase("activate"))?;
    let pool = super::connect::ready_pool(url).await?;
    let outcome = activate::activate(&pool, key.as_ref(), &Affected::everything(), &cfg).await;
    report(&outcome)?;
    if outcome.calls.is_empty() {
        print("No running server to register.\n")?;
    }
    Ok(EXIT_OK)
}

/// Prints one line per call; fails (exit 1) when any call failed, saying that
/// the database is as applied and how to retry.
pub fn report(outcome: &Outcome) -> Result<(), Error> {
    let mut out = String::new();
    for c in &outcome.calls {
        let what = match (&c.server, c.call) {
            (Some(server), call) => format!("Server {server}: {}", call.as_str()),
            (None, call) => call.as_str().replace('_', " "),
        };
        let tools = match c.tools {
            Some(1) => " (1 tool)".to_string(),
            Some(n) => format!(" ({n} tools)"),
            None => String::new(),
        };
        match &c.error {
            None => out.push_str(&format!("{what}{tools}: ok\n")),
            Some(e) => out.push_str(&format!(
                "{what}: failed after {} attempt(s): {e}\n",
                c.attempts
            )),
        }
    }
    print(&out)?;
    if outcome.is_ok() {
        return Ok(());
    }
    let unregistered: Vec<String> = outcome
        .calls
        .iter()
        .filter(|c| c.call == Call::Unregister && !c.ok)
        .filter_map(|c| c.server_id.map(|id| id.to_string()))
        .collect();
    let mut msg = format!(
        "{} activation call(s) failed; the database changes are committed and stay. Retry with `mcpbox-gitops activate` (re-registers every running server), or restart the servers in MCPBox",
        outcome.failed
    );
    if !unregistered.is_empty() {
        msg.push_str(&format!(
            "; deleted server(s) {} stay callable in the sandbox until it restarts",
            unregistered.join(", ")
        ));
    }
    Err(Error::ActivationFailed(msg))
}
