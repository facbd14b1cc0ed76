//! A stand-in for MCPBox's sandbox and MCP gateway: an HTTP/1.1 server on
//! 127.0.0.1:0 that records every request (method, path, headers, JSON body) and
//! answers as the sandbox does (MCPBOX.md §8.3) — and as MCPBox's backend does to
//! a login (§6.6) — or with 503 the first N times.
//! One request per connection; everything bounded in size and time; the accept
//! loop ends when the fake is dropped.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// The JWT the fake's `/auth/login` hands out.
pub const ACCESS_TOKEN: &str = "jwt-Token-Zz9Kp4";

/// One request as received.
#[derive(Debug, Clone)]
pub struct Recorded {
    /// `POST`, …
    pub method: String,
    /// `/servers/register`, …
    pub path: String,
    /// Header names lowercased.
    pub headers: HashMap<String, String>,
    /// The JSON body, `Null` when there was none.
    pub body: Value,
}

/// The running fake.
pub struct FakeSandbox {
    /// Where it listens.
    pub addr: SocketAddr,
    log: Arc<Mutex<Vec<Recorded>>>,
    failures: Arc<AtomicUsize>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for FakeSandbox {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl FakeSandbox {
    /// Starts a fake that answers 503 to its first `failures` requests.
    pub async fn start(failures: usize) -> FakeSandbox {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let log = Arc::new(Mutex::new(Vec::new()));
        let failures = Arc::new(AtomicUsize::new(failures));
        let (l, f) = (log.clone(), failures.clone());
        let task = tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    return;
                };
                let (l, f) = (l.clone(), f.clone());
                tokio::spawn(async move {
                    // Bounded in time: a client that stops sending is dropped.
                    let _ = tokio::time::timeout(
                        std::time::Duration::from_secs(10),
                        serve(stream, &l, &f),
                    )
                    .await;
                });
            }
        });
        FakeSandbox {
            addr,
            log,
            failures,
            task,
        }
    }

    /// `http://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Every request so far.
    pub fn requests(&self) -> Vec<Recorded> {
        self.log.lock().unwrap().clone()
    }

    /// Requests to `path`.
    pub fn to(&self, path: &str) -> Vec<Recorded> {
        self.requests()
            .into_iter()
            .filter(|r| r.path == path)
            .collect()
    }

    /// Answers 503 to the next `n` requests.
    pub fn fail_next(&self, n: usize) {
        self.failures.store(n, Ordering::SeqCst);
    }
}

async fn serve(
    mut stream: TcpStream,
    log: &Mutex<Vec<Recorded>>,
    failures: &AtomicUsize,
) -> std::io::Result<()> {
    const LIMIT: usize = 4 << 20;
    let mut buf = Vec::new();
    let mut chunk = [0u8; 8192];
    let head_end = loop {
        let n = stream.read(&mut chunk).await?;
        if n == 0 || buf.len() > LIMIT {
            return Ok(());
        }
        buf.extend_from_slice(&chunk[..n]);
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).to_string();
    let mut lines = head.split("\r\n");
    let mut first = lines.next().unwrap_or_default().split(' ');
    let method = first.next().unwrap_or_default().to_string();
    let path = first.next().unwrap_or_default().to_string();
    let headers: HashMap<String, String> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    let len: usize = headers
        .get("content-length")
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
        .min(LIMIT);
    while buf.len() < head_end + len {
        let n = stream.read(&mut chunk).await?;
        if n == 0 {
            break;
        }
        buf.extend_from_slice(&chunk[..n]);
    }
    let body_bytes = &buf[head_end..(head_end + len).min(buf.len())];
    let body = serde_json::from_slice(body_bytes).unwrap_or(Value::Null);
    let fail = failures
        .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
        .is_ok();
    let (status, answer) = if fail {
        ("503 Service Unavailable", json!({"detail": "sandbox busy"}))
    } else if path == "/auth/login" {
        // MCPBox's backend (§6.6), for the admin-API route.
        (
            "200 OK",
            json!({"access_token": ACCESS_TOKEN, "refresh_token": "r", "token_type": "bearer"}),
        )
    } else if path == "/servers/register" {
        let tools = body["tools"].as_array().map_or(0, Vec::len);
        (
            "200 OK",
            json!({"success": true, "server_id": body["server_id"], "tools_registered": tools}),
        )
    } else if path.ends_with("/unregister") {
        // Not registered: MCPBox treats this as success.
        ("404 Not Found", json!({"detail": "Server not found"}))
    } else {
        ("200 OK", json!({"success": true}))
    };
    log.lock().unwrap().push(Recorded {
        method,
        path,
        headers,
        body,
    });
    let text = answer.to_string();
    let reply = format!(
        "HTTP/1.1 {status}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{text}",
        text.len()
    );
    stream.write_all(reply.as_bytes()).await?;
    stream.shutdown().await
}
