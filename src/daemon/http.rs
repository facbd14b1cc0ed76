//! The HTTP endpoint: `/healthz`, `/readyz`, `/status` (JSON), `POST /hooks/git`
//! (GitHub HMAC or GitLab token, compared in constant time) and `/metrics`.
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
