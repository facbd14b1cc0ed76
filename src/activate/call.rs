//! One HTTP call to MCPBox with bounded retries: exponential backoff on
//! connection errors, timeouts and 5xx answers; any other answer is final. Once a
//! host stayed unreachable through all retries, later calls to it are tried once,
//! so a sandbox that is down costs one timeout per call instead of several.
//!
//! What to send lives in `activate::payload`, and the order of calls in
//! `activate::mod`. Error texts leave this file scrubbed of every secret value
//! and of the API key; URLs are never part of them.

use std::collections::HashSet;
use std::sync::Mutex;
use std::time::Duration;

use serde_json::Value;
use tracing::{debug, warn};

use super::config::Config;
use crate::crypto::Secret;

/// How a request authenticates.
#[derive(Clone, Copy)]
pub(super) enum Auth<'a> {
    /// `X-API-Key: <api key>` (the sandbox, MCPBOX.md §8.3).
    ApiKey,
    /// `Authorization: Bearer <api key>` (the notify endpoints, §8.4).
    Bearer,
    /// `Authorization: Bearer <token>` (MCPBox's admin API, with a login's JWT).
    Token(&'a Secret),
    /// Nothing (logging in).
    None,
}

/// The result of a call after its retries.
pub(super) struct Answer {
    /// Requests sent.
    pub attempts: u32,
    /// None: success; Some: why not (scrubbed).
    pub error: Option<String>,
    /// The answer's body on success. Wrapped: a login's answer holds a token.
    pub body: Option<Secret>,
}

/// An HTTP client bound to one configuration.
pub(super) struct Client<'a> {
    http: reqwest::Client,
    cfg: &'a Config,
    /// `host:port` of hosts that stayed unreachable through every retry. A Mutex,
    /// not a RefCell, so the activation future stays `Send` for the daemon.
    unreachable: Mutex<HashSet<String>>,
}

impl<'a> Client<'a> {
    /// A client with the configured timeout. Proxies from the environment are
    /// ignored: MCPBox's sandbox is only on its internal network (§8.5).
    pub fn new(cfg: &'a Config) -> Result<Client<'a>, String> {
        let http = reqwest::Client::builder()
            .timeout(cfg.timeout)
            .connect_timeout(cfg.timeout.min(Duration::from_secs(5)))
            .no_proxy()
            .build()
            .map_err(|e| format!("cannot create an http client: {}", describe(&e)))?;
        Ok(Client {
            http,
            cfg,
            unreachable: Mutex::new(HashSet::new()),
        })
    }

    /// POSTs `body` (None: no body, as MCPBox sends none) to `url`; retried as the
    /// module doc says. With `not_found_ok`,
    /// 404 counts as success (unregistering an unknown server, as MCPBox does).
    /// `secrets` are scrubbed from any error text.
    pub async fn post(
        &self,
        url: &str,
        auth: Auth<'_>,
        body: Option<&Value>,
        not_found_ok: bool,
        secrets: &[&str],
    ) -> Answer {
        let host = host_of(url);
        let retries = if self.is_unreachable(&host) {
            0
        } else {
            self.cfg.retries
        };
        let mut attempts = 0;
        loop {
            attempts += 1;
            let result = self.once(url, auth, body, not_found_ok).await;
            let error = match result {
                Ok(text) => {
                    self.set_unreachable(&host, false);
                    return Answer {
                        attempts,
                        error: None,
                        body: Some(text),
                    };
                }
                Err(Failure::Final(e)) => Some(e),
                Err(Failure::Unreachable(e)) if attempts > retries => {
                    self.set_unreachable(&host, true);
                    Some(e)
                }
                Err(Failure::Transient(e)) if attempts > retries => Some(e),
                Err(Failure::Transient(e) | Failure::Unreachable(e)) => {
                    let delay = backoff(self.cfg.backoff, attempts);
                    warn!(attempt = attempts, delay_ms = delay.as_millis() as u64, cause = %scrub(&e, secrets, &self.cfg.api_key), "activation call failed; retrying");
                    tokio::time::sleep(delay).await;
                    None
                }
            };
            if let Some(e) = error {
                return Answer {
                    attempts,
                    error: Some(scrub(&e, secrets, &self.cfg.api_key)),
                    body: None,
                };
            }
        }
    }

    async fn once(
        &self,
        url: &str,
        auth: Auth<'_>,
        body: Option<&Value>,
        not_found_ok: bool,
    ) -> Result<Secret, Failure> {
        let key = self.cfg.api_key.expose();
        let req = self.http.post(url);
        let req = match body {
            Some(body) => req.json(body),
            None => req,
        };
        let req = match auth {
            Auth::ApiKey => req.header("X-API-Key", key),
            Auth::Bearer => req.bearer_auth(key),
            Auth::Token(token) => req.bearer_auth(token.expose()),
            Auth::None => req,
        };
        let resp = req.send().await.map_err(|e| {
            let text = describe(&e);
            if e.is_connect() || e.is_timeout() {
                Failure::Unreachable(text)
            } else if e.is_request() {
                Failure::Transient(text)
            } else {
                Failure::Final(text)
            }
        })?;
        let status = resp.status();
        debug!(status = status.as_u16(), "activation call answered");
        if status.as_u16() == 404 && not_found_ok {
            return Ok(Secret::default());
        }
        let text = resp.text().await.unwrap_or_default();
        if status.is_server_error() {
            return Err(Failure::Transient(format!(
                "http {}{}",
                status.as_u16(),
                detail(&text)
            )));
        }
        if !status.is_success() {
            return Err(Failure::Final(format!(
                "http {}{}",
                status.as_u16(),
                detail(&text)
            )));
        }
        // The sandbox answers `{"success": false, "error": …}` for a registration
        // it refused; that is a failure even with 200.
        if let Ok(v) = serde_json::from_str::<Value>(&text) {
            if v.get("success") == Some(&Value::Bool(false)) {
                return Err(Failure::Final(format!("refused{}", detail(&text))));
            }
        }
        Ok(Secret::new(text))
    }
}

enum Failure {
    /// Worth retrying: no connection, or no answer in time.
    Unreachable(String),
    /// Worth retrying: the request may not have arrived, or the server failed.
    Transient(String),
    /// Retrying would get the same answer.
    Final(String),
}

impl Client<'_> {
    fn is_unreachable(&self, host: &str) -> bool {
        self.unreachable
            .lock()
            .map(|set| set.contains(host))
            .unwrap_or(false)
    }

    fn set_unreachable(&self, host: &str, down: bool) {
        if let Ok(mut set) = self.unreachable.lock() {
            if down {
                set.insert(host.to_string());
            } else {
                set.remove(host);
            }
        }
    }
}

/// `host:port` of a URL, the unit of reachability.
fn host_of(url: &str) -> String {
    reqwest::Url::parse(url)
        .ok()
        .and_then(|u| {
            let host = u.host_str()?.to_string();
            Some(format!("{host}:{}", u.port_or_known_default().unwrap_or(0)))
        })
        .unwrap_or_default()
}

/// The delay before retry number `attempt` (1-based): `base · 2^(attempt-1)`,
/// capped at 30 s.
pub(super) fn backoff(base: Duration, attempt: u32) -> Duration {
    let factor = 1u32 << attempt.saturating_sub(1).min(16);
    base.saturating_mul(factor).min(Duration::from_secs(30))
}

/// A reqwest error without its URL, with its causes (`connection refused`, …).
fn describe(e: &reqwest::Error) -> String {
    let mut text = if e.is_timeout() {
        "timed out".to_string()
    } else if e.is_connect() {
        "cannot connect".to_string()
    } else {
        "request failed".to_string()
    };
    let mut source = std::error::Error::source(e);
    while let Some(cause) = source {
        let s = cause.to_string();
        if !s.is_empty() && !text.contains(&s) {
            text.push_str(": ");
            text.push_str(&s);
        }
        source = cause.source();
    }
    text
}

/// A short excerpt of an error answer: its `detail`, `error` or `message` field
/// when it is JSON, else the first 200 characters.
fn detail(body: &str) -> String {
    let v: Option<Value> = serde_json::from_str(body).ok();
    let field = v.as_ref().and_then(|v| {
        ["detail", "error", "message"]
            .iter()
            .find_map(|k| v.get(*k))
            .map(|d| match d {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            })
    });
    let text = field.unwrap_or_else(|| body.trim().to_string());
    if text.is_empty() {
        return String::new();
    }
    let short: String = text.chars().take(200).collect();
    format!(": {short}")
}

/// `text` with every secret value and the API key replaced by `(redacted)`.
pub(super) fn scrub(text: &str, secrets: &[&str], api_key: &Secret) -> String {
    let mut out = text.to_string();
    for value in secrets
        .iter()
        .copied()
        .chain([api_key.expose()])
        .filter(|v| !v.is_empty())
    {
        out = out.replace(value, "(redacted)");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_and_is_capped() {
        let base = Duration::from_millis(100);
        assert_eq!(backoff(base, 1), Duration::from_millis(100));
        assert_eq!(backoff(base, 2), Duration::from_millis(200));
        assert_eq!(backoff(base, 3), Duration::from_millis(400));
        assert_eq!(backoff(base, 40), Duration::from_secs(30));
    }

    #[test]
    fn errors_lose_secret_values() {
        let key = Secret::from("the-api-key");
        let text = scrub(
            "sandbox said: bad token hunter2 with the-api-key",
            &["hunter2"],
            &key,
        );
        assert_eq!(text, "sandbox said: bad token (redacted) with (redacted)");
    }

    #[test]
    fn detail_prefers_the_json_field() {
        assert_eq!(
            detail(r#"{"detail": "Invalid API key"}"#),
            ": Invalid API key"
        );
        assert_eq!(detail(""), "");
        assert_eq!(detail(&"x".repeat(500)).len(), 202);
    }
}
