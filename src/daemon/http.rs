//! The HTTP endpoint: `/` (the status page), `/healthz`, `/readyz`, `/status`
//! (JSON), `POST /hooks/git` (GitHub HMAC or GitLab token, compared in constant
//! time), `/metrics`, and with `--ui-actions` the page's `POST /ui/sync`,
//! `/ui/suspend` and `/ui/resume` (token and CSRF token checked).
//! Handlers only read snapshots of the shared state or wake the loop; the
//! metrics text is `metrics`'s.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use hmac::{Hmac, Mac};
use sha2::Sha256;
use tracing::{info, warn};

use super::status::Shared;

/// The router over the shared state.
pub fn router(shared: Arc<Shared>) -> Router {
    Router::new()
        .route("/", get(page))
        .route("/ui/sync", post(ui_sync))
        .route("/ui/suspend", post(ui_suspend))
        .route("/ui/resume", post(ui_resume))
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/readyz", get(readyz))
        .route("/status", get(status))
        .route("/metrics", get(metrics))
        .route("/hooks/git", post(hook))
        .with_state(shared)
}

/// Serves until the process exits.
pub async fn serve(listener: tokio::net::TcpListener, shared: Arc<Shared>) {
    if let Err(e) = axum::serve(listener, router(shared)).await {
        warn!("the HTTP server stopped: {e}");
    }
}

async fn readyz(State(shared): State<Arc<Shared>>) -> Response {
    let db = tokio::time::timeout(
        Duration::from_secs(2),
        sqlx::query_scalar::<_, i32>("SELECT 1").fetch_one(&shared.pool),
    )
    .await;
    if !matches!(db, Ok(Ok(1))) {
        return (StatusCode::SERVICE_UNAVAILABLE, "database unreachable\n").into_response();
    }
    let failed = shared.leader.load(Ordering::SeqCst)
        && shared
            .lock()
            .last_pass
            .as_ref()
            .is_some_and(|p| p.outcome == "failed" || p.outcome == "activation_failed");
    if failed {
        return (StatusCode::SERVICE_UNAVAILABLE, "last pass failed\n").into_response();
    }
    (StatusCode::OK, "ready\n").into_response()
}

async fn status(State(shared): State<Arc<Shared>>) -> Response {
    Json(shared.snapshot()).into_response()
}

/// `GET /`: the status page, rendered from the same snapshot `/status` serves.
async fn page(State(shared): State<Arc<Shared>>) -> Response {
    let snap = shared.snapshot();
    let doc = serde_json::to_value(&snap).unwrap_or_default();
    let history: Vec<super::page::PassRecord> = snap.history.iter().cloned().collect();
    let html = super::page::render(&super::page::Page {
        status: &doc,
        history: &history,
        plan_text: snap.plan_text.as_deref(),
        actions: shared
            .ui_token
            .as_ref()
            .map(|_| super::page::Actions { csrf: &shared.csrf }),
        now: chrono::Utc::now(),
    });
    (
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            // No script runs on the page, and nothing is loaded from elsewhere.
            (
                header::CONTENT_SECURITY_POLICY,
                "default-src 'none'; style-src 'unsafe-inline'; img-src data:; form-action 'self'; frame-ancestors 'none'",
            ),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        ],
        html,
    )
        .into_response()
}

/// The fields of the page's forms.
#[derive(serde::Deserialize)]
struct UiForm {
    csrf: String,
    token: String,
}

/// Why a form is refused, if it is: it must carry this process's CSRF token
/// and the action token.
fn refusal(shared: &Shared, form: &UiForm) -> Option<Response> {
    let Some(token) = shared.ui_token.as_deref() else {
        return Some((StatusCode::NOT_FOUND, "actions are off (--ui-actions)\n").into_response());
    };
    if !constant_time_eq(form.csrf.as_bytes(), shared.csrf.as_bytes())
        || !constant_time_eq(form.token.as_bytes(), token)
    {
        warn!("refused a status-page action: bad token or CSRF token");
        return Some((StatusCode::FORBIDDEN, "bad token or CSRF token\n").into_response());
    }
    None
}

fn back_to_page() -> Response {
    (StatusCode::SEE_OTHER, [(header::LOCATION, "/")]).into_response()
}

async fn ui_sync(
    State(shared): State<Arc<Shared>>,
    axum::Form(form): axum::Form<UiForm>,
) -> Response {
    if let Some(r) = refusal(&shared, &form) {
        return r;
    }
    info!("status page: sync now");
    shared.wake.notify_one();
    back_to_page()
}

async fn ui_suspend(
    State(shared): State<Arc<Shared>>,
    axum::Form(form): axum::Form<UiForm>,
) -> Response {
    ui_set_suspended(shared, form, true).await
}

async fn ui_resume(
    State(shared): State<Arc<Shared>>,
    axum::Form(form): axum::Form<UiForm>,
) -> Response {
    ui_set_suspended(shared, form, false).await
}

async fn ui_set_suspended(shared: Arc<Shared>, form: UiForm, suspend: bool) -> Response {
    if let Some(r) = refusal(&shared, &form) {
        return r;
    }
    if let Err(e) = super::control::set_suspended(&shared.pool, suspend, "status page").await {
        warn!("status page: {e}");
        return (StatusCode::SERVICE_UNAVAILABLE, format!("{e}\n")).into_response();
    }
    info!(suspend, "status page: suspend/resume");
    shared.wake.notify_one();
    back_to_page()
}

async fn metrics(State(shared): State<Arc<Shared>>) -> Response {
    let snap = shared.snapshot();
    let leader = shared.leader.load(Ordering::SeqCst);
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        super::metrics::render(&snap, leader),
    )
        .into_response()
}

/// Whether a webhook request is signed with `secret`.
pub fn verify(secret: &[u8], headers: &HeaderMap, body: &[u8]) -> bool {
    if let Some(sig) = headers
        .get("x-hub-signature-256")
        .and_then(|v| v.to_str().ok())
    {
        let Some(hex_sig) = sig.strip_prefix("sha256=") else {
            return false;
        };
        let Ok(given) = hex::decode(hex_sig.trim()) else {
            return false;
        };
        let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(secret) else {
            return false;
        };
        mac.update(body);
        // `verify_slice` compares in constant time.
        return mac.verify_slice(&given).is_ok();
    }
    if let Some(token) = headers.get("x-gitlab-token") {
        return constant_time_eq(token.as_bytes(), secret);
    }
    false
}

/// Compares without returning early on the first differing byte.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

async fn hook(State(shared): State<Arc<Shared>>, headers: HeaderMap, body: Bytes) -> Response {
    let Some(secret) = shared.webhook_secret.as_deref() else {
        return (
            StatusCode::NOT_FOUND,
            "webhooks are off: no secret configured\n",
        )
            .into_response();
    };
    if !verify(secret, &headers, &body) {
        warn!("rejected an unsigned or wrongly signed webhook");
        return (StatusCode::UNAUTHORIZED, "bad or missing signature\n").into_response();
    }
    info!("webhook accepted: fetching now");
    shared.wake.notify_one();
    (StatusCode::ACCEPTED, "accepted\n").into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn github_and_gitlab_signatures() {
        let body = br#"{"ref":"refs/heads/main"}"#;
        let mut mac = Hmac::<Sha256>::new_from_slice(b"s3cret").unwrap();
        mac.update(body);
        let good = format!("sha256={}", hex::encode(mac.finalize().into_bytes()));
        let mut h = HeaderMap::new();
        h.insert("x-hub-signature-256", good.parse().unwrap());
        assert!(verify(b"s3cret", &h, body));
        assert!(!verify(b"other", &h, body));
        assert!(!verify(b"s3cret", &h, b"tampered"));
        let mut h = HeaderMap::new();
        h.insert("x-gitlab-token", "s3cret".parse().unwrap());
        assert!(verify(b"s3cret", &h, body));
        h.insert("x-gitlab-token", "s3creT".parse().unwrap());
        assert!(!verify(b"s3cret", &h, body));
        assert!(!verify(b"s3cret", &HeaderMap::new(), body));
    }
}
