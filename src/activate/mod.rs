//! Activation: after an apply's commit, make the change live in MCPBox's sandbox by
//! replicating what MCPBox itself does (MCPBOX.md §8.5, path 2) — re-register the
//! running servers whose served set changed, unregister deleted ones, install
//! packages after module changes, then notify MCP clients. Path 1 (restart through
//! MCPBox's admin API) is an option ([`AdminApi`]).
//!
//! Nothing here writes the database or undoes a commit: a failed call is retried,
//! then reported in the [`Outcome`], and the remaining calls still run. Deciding
//! which servers changed lives in `apply::audit::report`; printing lives in `cli`.
//!
//! # Layout
//! - `config`: where MCPBox is, the API key, retries and timeouts ([`Config`]).
//! - `affected`: which servers to touch, from an apply [`Report`](crate::apply::Report).
//! - `read`: the rows of the running servers, one query per table.
//! - `payload`: MCPBox's request bodies, built from those rows (pure).
//! - `secrets`: the servers' secrets decrypted in memory, and source auth headers.
//! - `sandbox`: path 2, the sandbox's register, unregister and package calls.
//! - `admin`: path 1, login and restart through MCPBox's admin API.
//! - `call`: one HTTP call with bounded retries and backoff.
//! - `outcome`: the result of every call ([`Outcome`]).

mod admin;
mod affected;
mod call;
mod config;
mod outcome;
pub mod payload;
mod read;
mod rows;
mod sandbox;
pub mod secrets;

pub use affected::{Affected, Gone};
pub use config::{AdminApi, Config, DEFAULT_API_KEY_ENV, DEFAULT_BACKEND_URL, DEFAULT_SANDBOX_URL};
pub use outcome::{Call, CallResult, Outcome};
pub use read::REREGISTER_TOOL_LIMIT;

use sqlx::PgPool;
use tracing::{info, info_span, instrument, Instrument};

use crate::crypto::Key;
use call::{Auth, Client};
use config::join;

/// Makes `affected` live in MCPBox, in MCPBox's order (§8.5): register the running
/// servers (or restart them through the admin API), unregister deleted ones, sync
/// packages after a module change, then notify the MCP gateway and backend when
/// configured and anything succeeded.
///
/// `key` decrypts the servers' secrets in memory; without it, a server with stored
/// secrets or OAuth tokens fails (and is reported), the others are registered.
/// Never fails as a whole: every problem is a failed call in the [`Outcome`].
///
/// After an apply (the daemon's seam):
///
/// ```no_run
/// # async fn pass(pool: sqlx::PgPool, report: mcpbox_gitops::apply::Report) {
/// use mcpbox_gitops::activate::{activate, Affected, Config};
/// use mcpbox_gitops::crypto::{self, Key};
///
/// let api_key = std::env::var("SANDBOX_API_KEY").unwrap_or_default();
/// let cfg = Config::new("http://sandbox:8001", api_key).with_gateway("http://mcp-gateway:8002");
/// let key = Key::parse_env(std::env::var(crypto::ENV_VAR).ok().as_deref()).ok();
/// let outcome = activate(&pool, key.as_ref(), &Affected::from(&report), &cfg).await;
/// if !outcome.is_ok() {
///     // Reported; the commit stands. `Affected::everything()` retries it all.
/// }
/// # }
/// ```
#[instrument(skip_all, fields(reregister = affected.reregister.len(), unregister = affected.unregister.len(), modules_changed = affected.modules_changed))]
pub async fn activate(
    pool: &PgPool,
    key: Option<&Key>,
    affected: &Affected,
    cfg: &Config,
) -> Outcome {
    let mut outcome = Outcome::default();
    if affected.is_empty() {
        return outcome;
    }
    let client = match Client::new(cfg) {
        Ok(c) => c,
        Err(e) => {
            outcome.push(CallResult::global(Call::Read).not_sent(e));
            return outcome;
        }
    };

    // Status is read now, after the commit: only servers running now are
    // re-registered (MCPBox re-registers nothing else, §8.2).
    let snapshot = match read::read(pool, &affected.reregister, affected.modules_changed).await {
        Ok(snap) => Some(snap),
        Err(e) => {
            outcome.push(CallResult::global(Call::Read).not_sent(chain(&e)));
            None
        }
    };
    let modules = snapshot
        .as_ref()
        .map(|snap| payload::allowed_modules(snap.allowed_modules.as_deref()));
    if let (Some(snap), Some(modules)) = (&snapshot, &modules) {
        match &cfg.admin_api {
            None => {
                sandbox::register(&client, cfg, &snap.servers, modules, key, &mut outcome).await
            }
            Some(admin) => {
                admin::restart(
                    &client,
                    admin,
                    &snap.servers,
                    affected.modules_changed,
                    &mut outcome,
                )
                .await
            }
        }
    }
    sandbox::unregister(&client, cfg, &affected.unregister, &mut outcome).await;
    if let (true, None, Some(modules)) = (affected.modules_changed, &cfg.admin_api, &modules) {
        sandbox::sync_packages(&client, cfg, modules, &mut outcome).await;
    }

    // Clients re-list tools only if something changed in the sandbox (§8.4).
    let changed = outcome
        .calls
        .iter()
        .any(|c| c.ok && !matches!(c.call, Call::Read | Call::Login));
    if changed {
        for (call, base) in [
            (Call::NotifyGateway, &cfg.mcp_gateway_url),
            (Call::NotifyBackend, &cfg.backend_url),
        ] {
            if let Some(base) = base {
                let answer = client
                    .post(
                        &join(base, "mcp/internal/notify-tools-changed"),
                        Auth::Bearer,
                        None,
                        false,
                        &[],
                    )
                    .instrument(info_span!("notify", call = call.as_str()))
                    .await;
                outcome.push(finish(CallResult::global(call), answer));
            }
        }
    }
    info!(ok = outcome.ok, failed = outcome.failed, "activation done");
    outcome
}

fn finish(mut result: CallResult, answer: call::Answer) -> CallResult {
    result.attempts = answer.attempts;
    result.ok = answer.error.is_none();
    result.error = answer.error;
    result
}

/// An error and its causes on one line.
fn chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}
