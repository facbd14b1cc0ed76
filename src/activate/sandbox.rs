//! Path 2 of MCPBOX.md §8.5, straight to MCPBox's sandbox: register running
//! servers, unregister deleted ones, sync packages — each as MCPBox sends it.
//!
//! The bodies are built in `activate::payload`; the order of the steps and the
//! notifications live in `activate::mod`; the admin-API route in `activate::admin`.

use serde_json::json;
use tracing::{info_span, Instrument};

use super::affected::Gone;
use super::call::{Auth, Client};
use super::config::{join, Config};
use super::outcome::{Call, CallResult, Outcome};
use super::payload::{self, ServerRows};
use crate::crypto::Key;

/// `POST /servers/register` for each server. A server whose registration cannot
/// be built (a secret that does not decrypt) is reported, unsent.
pub(super) async fn register(
    client: &Client<'_>,
    cfg: &Config,
    servers: &[ServerRows],
    allowed_modules: &[String],
    key: Option<&Key>,
    outcome: &mut Outcome,
) {
    let url = join(&cfg.sandbox_url, "servers/register");
    for server in servers {
        let mut result = CallResult::server(Call::Register, server.id, &server.name);
        let reg = match payload::register(server, allowed_modules, key) {
            Ok(reg) => reg,
            Err(e) => {
                outcome.push(result.not_sent(super::chain(&e)));
                continue;
            }
        };
        // The body holds decrypted values: built here, dropped at the end of this
        // iteration, never logged.
        let body = reg.body();
        let answer = client
            .post(&url, Auth::ApiKey, Some(&body), false, &reg.values())
            .instrument(info_span!("register", server = %server.name, server_id = %server.id))
            .await;
        result.tools = Some(reg.tools.len());
        outcome.push(super::finish(result, answer));
    }
}

/// `POST /servers/{id}/unregister` (no body) for each deleted server; MCPBox
/// treats 404 (not registered) as success.
pub(super) async fn unregister(
    client: &Client<'_>,
    cfg: &Config,
    gone: &[Gone],
    outcome: &mut Outcome,
) {
    for g in gone {
        let result = CallResult::server(Call::Unregister, g.id, &g.name);
        if cfg.api_key.expose().is_empty() {
            outcome.push(result.not_sent(
                "not sent: MCPBox's admin API cannot unregister a deleted server and no sandbox API key was given; it stays callable until the sandbox restarts".into(),
            ));
            continue;
        }
        let url = join(&cfg.sandbox_url, &format!("servers/{}/unregister", g.id));
        let answer = client
            .post(&url, Auth::ApiKey, None, true, &[])
            .instrument(info_span!("unregister", server = %g.name, server_id = %g.id))
            .await;
        outcome.push(super::finish(result, answer));
    }
}

/// `POST /packages/sync` with the whole allowed-module list: the sandbox installs
/// what is missing and answers `not_required` for standard-library names (§8.3).
pub(super) async fn sync_packages(
    client: &Client<'_>,
    cfg: &Config,
    modules: &[String],
    outcome: &mut Outcome,
) {
    let body = json!({ "modules": modules });
    let answer = client
        .post(
            &join(&cfg.sandbox_url, "packages/sync"),
            Auth::ApiKey,
            Some(&body),
            false,
            &[],
        )
        .instrument(info_span!("packages_sync"))
        .await;
    outcome.push(super::finish(
        CallResult::global(Call::PackagesSync),
        answer,
    ));
}
