//! Path 1 of MCPBOX.md §8.5, through MCPBox's admin API: log in, restart each
//! affected running server, and ask MCPBox to sync packages after a module change.
//!
//! A restart registers every tool of the server, drafts and disabled ones
//! included (§8.2), which is why this route is only an option. Unregistering
//! deleted servers has no admin-API call and stays in `activate::sandbox`.

use serde_json::{json, Value};
use tracing::{info_span, Instrument};

use super::call::{Answer, Auth, Client};
use super::config::{join, AdminApi};
use super::outcome::{Call, CallResult, Outcome};
use super::payload::ServerRows;
use crate::crypto::Secret;

/// Logs in, then `POST /api/sandbox/servers/{id}/restart` for each server and,
/// with `modules_changed`, `POST /api/settings/modules/sync`. Without a token
/// every call is reported unsent.
pub(super) async fn restart(
    client: &Client<'_>,
    admin: &AdminApi,
    servers: &[ServerRows],
    modules_changed: bool,
    outcome: &mut Outcome,
) {
    if servers.is_empty() && !modules_changed {
        return;
    }
    let token = login(client, admin, outcome).await;
    for server in servers {
        let result = CallResult::server(Call::Restart, server.id, &server.name);
        let Some(token) = &token else {
            outcome.push(result.not_sent("not sent: logging in to MCPBox failed".into()));
            continue;
        };
        let path = format!("api/sandbox/servers/{}/restart", server.id);
        let answer = post_as_admin(client, admin, &path, token)
            .instrument(info_span!("restart", server = %server.name, server_id = %server.id))
            .await;
        outcome.push(super::finish(result, answer));
    }
    if modules_changed {
        let result = CallResult::global(Call::PackagesSync);
        let Some(token) = &token else {
            outcome.push(result.not_sent("not sent: logging in to MCPBox failed".into()));
            return;
        };
        let answer = post_as_admin(client, admin, "api/settings/modules/sync", token)
            .instrument(info_span!("modules_sync"))
            .await;
        outcome.push(super::finish(result, answer));
    }
}

/// `POST` to MCPBox's backend as the logged-in admin, the password and the
/// token scrubbed from anything the answer reports.
async fn post_as_admin(
    client: &Client<'_>,
    admin: &AdminApi,
    path: &str,
    token: &Secret,
) -> Answer {
    let url = join(&admin.backend_url, path);
    client
        .post(
            &url,
            Auth::Token(token),
            None,
            false,
            &[admin.password.expose(), token.expose()],
        )
        .await
}

/// `POST /auth/login {"username", "password"}` → the `access_token` (a JWT
/// valid 15 minutes, §6.6). Recorded as a `login` call.
async fn login(client: &Client<'_>, admin: &AdminApi, outcome: &mut Outcome) -> Option<Secret> {
    let body = json!({"username": admin.username, "password": admin.password.expose()});
    let mut answer = client
        .post(
            &join(&admin.backend_url, "auth/login"),
            Auth::None,
            Some(&body),
            false,
            &[admin.password.expose()],
        )
        .instrument(info_span!("login", user = %admin.username))
        .await;
    let token = answer.body.take().and_then(|text| {
        let v: Value = serde_json::from_str(text.expose()).ok()?;
        match v.get("access_token") {
            Some(Value::String(t)) if !t.is_empty() => Some(Secret::new(t.clone())),
            _ => None,
        }
    });
    if answer.error.is_none() && token.is_none() {
        answer.error = Some("MCPBox's login answer has no access_token".into());
    }
    outcome.push(super::finish(CallResult::global(Call::Login), answer));
    token
}
