//! The daemon's status page (`GET /`): one server-rendered HTML document, no
//! script, no external asset, refreshed by the browser every 10 s. It shows
//! what `/status` says, for a person: sync status, what waits for review, what
//! drifted, what is out of sync (the plan, or the diagnostics of an invalid
//! commit), the recent passes, and a small SVG chart of pass durations and drift.
//!
//! Pure: `render` turns the status document (the same JSON `/status` serves),
//! the pass history and the pending plan's text into a string. Serving it, and
//! the actions' token checks, live in the daemon's HTTP module.
//!
//! Everything printed is escaped: tool descriptions and code are written by
//! LLMs and are treated as hostile HTML. No secret value is ever part of the
//! inputs (the status document and plans never hold one).

use std::fmt::Write;

use chrono::{DateTime, Utc};
use serde_json::Value;

/// One pass, as the chart and the "recent passes" table need it.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct PassRecord {
    /// When it started.
    pub at: DateTime<Utc>,
    /// `synced`, `applied`, `out_of_sync`, `invalid`, `refused`, `failed`, `skipped`…
    pub outcome: String,
    /// Wall time in milliseconds.
    pub duration_ms: u64,
    /// Objects found drifted.
    pub drifted: usize,
    /// Changes applied, as `kind action` → count (e.g. `tool update` → 3).
    pub changes: Vec<(String, usize)>,
    /// Activation calls (ok, failed), when any were made.
    pub activation: Option<(usize, usize)>,
}

/// The "sync now" and "suspend/resume" forms, shown only with `--ui-actions`.
#[derive(Debug, Clone)]
pub struct Actions<'a> {
    /// The CSRF token the forms carry back (one per daemon process).
    pub csrf: &'a str,
}

/// What the page shows.
#[derive(Debug, Clone)]
pub struct Page<'a> {
    /// The `/status` document.
    pub status: &'a Value,
    /// Recent passes, oldest first (the chart uses the last day, the table the
    /// last 20).
    pub history: &'a [PassRecord],
    /// The pending plan in the text renderer's grammar, when out of sync.
    pub plan_text: Option<&'a str>,
    /// The forms, when actions are enabled.
    pub actions: Option<Actions<'a>>,
    /// Now, for ages and the chart's time axis.
    pub now: DateTime<Utc>,
}

/// HTML-escapes text for element content and quoted attributes.
pub fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c if c.is_control() && c != '\n' && c != '\t' => {
                let _ = write!(out, "&#x{:x};", c as u32);
            }
            c => out.push(c),
        }
    }
    out
}

/// A string field of a JSON object, escaped; `—` when missing.
fn field(v: &Value, pointer: &str) -> String {
    match v.pointer(pointer) {
        Some(Value::String(s)) => esc(s),
        Some(Value::Null) | None => "—".to_string(),
        Some(other) => esc(&other.to_string()),
    }
}

/// The first of several pointers that is present.
fn first<'v>(v: &'v Value, pointers: &[&str]) -> Option<&'v Value> {
    pointers
        .iter()
        .find_map(|p| v.pointer(p).filter(|x| !x.is_null()))
}

fn text_of(v: Option<&Value>) -> String {
    match v {
        Some(Value::String(s)) => esc(s),
        Some(Value::Null) | None => "—".to_string(),
        Some(other) => esc(&other.to_string()),
    }
}

/// "3 min ago" for an RFC 3339 time.
fn age(now: DateTime<Utc>, v: Option<&Value>) -> String {
    let Some(t) = v
        .and_then(Value::as_str)
        .and_then(|s| DateTime::parse_from_rfc3339(s).ok())
    else {
        return String::new();
    };
    let secs = (now - t.with_timezone(&Utc)).num_seconds().max(0);
    let ago = match secs {
        0..=59 => format!("{secs} s ago"),
        60..=3599 => format!("{} min ago", secs / 60),
        3600..=86_399 => format!("{} h ago", secs / 3600),
        _ => format!("{} d ago", secs / 86_400),
    };
    format!(" <span class=\"muted\">({ago})</span>")
}

fn array<'v>(v: &'v Value, pointers: &[&str]) -> &'v [Value] {
    first(v, pointers)
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or(&[])
}

const STYLE: &str = "
:root{color-scheme:light dark;--bg:#fff;--fg:#1b1f24;--muted:#59636e;--line:#d1d9e0;--ok:#1a7f37;--warn:#9a6700;--bad:#cf222e;--card:#f6f8fa}
@media (prefers-color-scheme:dark){:root{--bg:#0d1117;--fg:#e6edf3;--muted:#9198a1;--line:#3d444d;--ok:#3fb950;--warn:#d29922;--bad:#f85149;--card:#151b23}}
body{margin:0;font:15px/1.45 system-ui,sans-serif;background:var(--bg);color:var(--fg)}
main{max-width:72rem;margin:0 auto;padding:1rem}
h1{font-size:1.3rem;margin:.2rem 0}h2{font-size:1.05rem;margin:1.4rem 0 .4rem;border-bottom:1px solid var(--line)}
.badge{display:inline-block;padding:.1rem .6rem;border-radius:1rem;font-weight:600;color:#fff}
.Synced{background:var(--ok)}.OutOfSync{background:var(--warn)}.Degraded{background:var(--bad)}.Suspended{background:var(--muted)}
.muted{color:var(--muted)}dl{display:grid;grid-template-columns:max-content 1fr;gap:.2rem 1rem;margin:.5rem 0}dt{color:var(--muted)}dd{margin:0;overflow-wrap:anywhere}
table{border-collapse:collapse;width:100%;display:block;overflow-x:auto}th,td{text-align:left;padding:.25rem .5rem;border-bottom:1px solid var(--line);vertical-align:top}
pre{background:var(--card);padding:.6rem;overflow-x:auto;font-size:13px}code{overflow-wrap:anywhere}
.empty{color:var(--muted);font-style:italic}form{display:inline-block;margin-right:.5rem}svg{max-width:100%;height:auto}
";

/// Renders the page.
pub fn render(page: &Page<'_>) -> String {
    let s = page.status;
    let sync = first(s, &["/sync", "/sync_status", "/status"])
        .and_then(Value::as_str)
        .unwrap_or("Unknown");
    let sync_class = match sync {
        "Synced" | "OutOfSync" | "Degraded" | "Suspended" => sync,
        _ => "Degraded",
    };
    let mut out = String::with_capacity(16 * 1024);
    let _ = write!(
        out,
        "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\">\
<meta name=\"viewport\" content=\"width=device-width,initial-scale=1\">\
<meta http-equiv=\"refresh\" content=\"10\">\
<title>mcpbox-gitops: {sync}</title><style>{STYLE}</style></head><body><main>",
        sync = esc(sync)
    );
    header(&mut out, page, sync, sync_class);
    actions(&mut out, page, sync);
    review(&mut out, s);
    quarantine(&mut out, s);
    drift(&mut out, s);
    out_of_sync(&mut out, page);
    passes(&mut out, page);
    chart(&mut out, page);
    out.push_str("</main></body></html>\n");
    out
}

fn header(out: &mut String, page: &Page<'_>, sync: &str, class: &str) {
    let s = page.status;
    let _ = write!(
        out,
        "<header><h1>mcpbox-gitops <span class=\"badge {class}\" id=\"sync\">{}</span></h1><dl>",
        esc(sync)
    );
    // `bases`: where the status document keeps this commit (`last_seen`,
    // with `commit` and `at`; older spellings too).
    let commit = |name: &str, bases: &[&str]| {
        let ptrs =
            |leaf: &str| -> Vec<String> { bases.iter().map(|b| format!("{b}/{leaf}")).collect() };
        let get = |leaf: &str| {
            let p = ptrs(leaf);
            let refs: Vec<&str> = p.iter().map(String::as_str).collect();
            first(s, &refs).cloned()
        };
        let sha = get("commit")
            .or_else(|| get("sha"))
            .and_then(|v| v.as_str().map(|c| c.chars().take(12).collect::<String>()));
        let at = get("at");
        format!(
            "<dt>{name}</dt><dd><code>{}</code> {} <span class=\"muted\">{}</span>{}</dd>",
            esc(sha.as_deref().unwrap_or("—")),
            get("subject")
                .map(|v| text_of(Some(&v)))
                .unwrap_or_default(),
            get("author").map(|v| text_of(Some(&v))).unwrap_or_default(),
            age(page.now, at.as_ref())
        )
    };
    let _ = write!(
        out,
        "<dt>Branch</dt><dd>{}</dd><dt>Role</dt><dd id=\"role\">{}</dd>{}{}",
        field(s, "/branch"),
        field(s, "/role"),
        commit("Last commit seen", &["/last_seen", "/last_commit_seen"]),
        commit(
            "Last commit applied",
            &["/last_applied", "/last_commit_applied"]
        ),
    );
    let last = first(s, &["/last_pass"]);
    let _ = write!(
        out,
        "<dt>Last pass</dt><dd id=\"last-pass\">{} in {} ms{}</dd></dl></header>",
        text_of(last.and_then(|l| l.get("outcome"))),
        text_of(last.and_then(|l| l.get("duration_ms"))),
        age(page.now, last.and_then(|l| l.get("at")))
    );
}

fn actions(out: &mut String, page: &Page<'_>, sync: &str) {
    let Some(a) = &page.actions else {
        return;
    };
    let csrf = esc(a.csrf);
    let (path, label) = if sync == "Suspended" {
        ("/ui/resume", "Resume")
    } else {
        ("/ui/suspend", "Suspend")
    };
    let form = |path: &str, label: &str| {
        format!(
            "<form method=\"post\" action=\"{path}\"><input type=\"hidden\" name=\"csrf\" value=\"{csrf}\">\
<label>Token <input type=\"password\" name=\"token\" autocomplete=\"off\" required></label> \
<button type=\"submit\">{label}</button></form>"
        )
    };
    let _ = write!(
        out,
        "<section id=\"actions\"><h2>Actions</h2>{}{}</section>",
        form("/ui/sync", "Sync now"),
        form(path, label)
    );
}

fn review(out: &mut String, s: &Value) {
    let tools = array(
        s,
        &[
            "/pending_review",
            "/tools_pending_review",
            "/awaiting_review",
        ],
    );
    out.push_str("<section id=\"review\"><h2>Waiting for review</h2>");
    if tools.is_empty() {
        out.push_str("<p class=\"empty\">No tool waits for review in MCPBox.</p></section>");
        return;
    }
    out.push_str("<table><thead><tr><th>Server</th><th>Tool</th><th>Version</th><th>Requested</th><th>Pinned / current content</th></tr></thead><tbody>");
    for t in tools {
        let pinned = first(t, &["/pinned_hash", "/pin"]).and_then(Value::as_str);
        let current = first(t, &["/content_hash", "/current_hash"]).and_then(Value::as_str);
        let hashes = match (pinned, current) {
            (Some(p), Some(c)) => format!(
                "<code>{}</code> / <code>{}</code>",
                esc(&p[..p.len().min(12)]),
                esc(&c[..c.len().min(12)])
            ),
            (None, Some(c)) => format!("not pinned / <code>{}</code>", esc(&c[..c.len().min(12)])),
            _ => "—".into(),
        };
        let _ = write!(
            out,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{hashes}</td></tr>",
            text_of(first(t, &["/server"])),
            text_of(first(t, &["/tool", "/name"])),
            text_of(first(t, &["/version", "/current_version"])),
            text_of(first(t, &["/requested_at", "/approval_requested_at"])),
        );
    }
    out.push_str("</tbody></table></section>");
}

/// Tools disabled because their code changed in MCPBox outside git
/// (`onCodeDrift: quarantine`); shown only when there are some.
fn quarantine(out: &mut String, s: &Value) {
    let items: Vec<&Value> = array(s, &["/quarantined"])
        .iter()
        .filter(|q| first(q, &["/action"]).and_then(Value::as_str) != Some("lift"))
        .collect();
    if items.is_empty() {
        return;
    }
    out.push_str("<section id=\"quarantine\"><h2>Quarantined tools</h2><p>Their code was changed in MCPBox outside git; they stay disabled until git changes them or <code>apply --restore-quarantined</code> runs. <code>mcpbox-gitops export --drift DIR</code> writes both versions.</p>");
    out.push_str("<table><thead><tr><th>Tool</th><th>Since</th><th>git sha256</th><th>MCPBox sha256</th></tr></thead><tbody>");
    for q in items {
        let short = |v: Option<&Value>| text_of(v).chars().take(12).collect::<String>();
        let since = match first(q, &["/since"]) {
            Some(v) => text_of(Some(v)),
            None => "this pass".to_string(),
        };
        let _ = write!(
            out,
            "<tr><td>{}</td><td>{}</td><td><code>{}</code></td><td><code>{}</code></td></tr>",
            text_of(first(q, &["/tool"])),
            since,
            short(first(q, &["/git_hash"])),
            short(first(q, &["/drifted_hash"])),
        );
    }
    out.push_str("</tbody></table></section>");
}

fn drift(out: &mut String, s: &Value) {
    let items = array(s, &["/drifted", "/drifted_objects", "/drift"]);
    let heal = first(s, &["/self_heal"]).and_then(Value::as_bool);
    out.push_str("<section id=\"drift\"><h2>Drift</h2>");
    if items.is_empty() {
        out.push_str(
            "<p class=\"empty\">Nothing drifted: MCPBox holds what was applied.</p></section>",
        );
        return;
    }
    out.push_str("<table><thead><tr><th>Object</th><th>Fields</th><th>Who</th><th>When</th><th>Self-heal</th></tr></thead><tbody>");
    for d in items {
        let object = match (first(d, &["/kind"]), first(d, &["/key"])) {
            (Some(k), Some(key)) => format!("{} {}", text_of(Some(k)), text_of(Some(key))),
            _ => text_of(first(d, &["/object"])),
        };
        let fields = first(d, &["/fields"])
            .and_then(Value::as_array)
            .map(|f| {
                f.iter()
                    .map(|x| text_of(x.get("field").or(Some(x))))
                    .collect::<Vec<_>>()
                    .join(", ")
            })
            .unwrap_or_default();
        let reverted = first(d, &["/reverted"]).and_then(Value::as_bool);
        let heal_text = match (reverted, heal) {
            (Some(true), _) => "reverted",
            (_, Some(true)) => "will revert",
            _ => "reported only",
        };
        let _ = write!(
            out,
            "<tr><td>{object}</td><td>{fields}</td><td>{}</td><td>{}</td><td>{heal_text}</td></tr>",
            text_of(first(d, &["/who", "/by"])),
            text_of(first(d, &["/when", "/at"])),
        );
    }
    out.push_str("</tbody></table></section>");
}

fn out_of_sync(out: &mut String, page: &Page<'_>) {
    let s = page.status;
    let diags = array(s, &["/diagnostics", "/last_pass/diagnostics"]);
    out.push_str("<section id=\"out-of-sync\"><h2>Out of sync</h2>");
    if !diags.is_empty() {
        out.push_str(
            "<p>The newest commit does not validate; the last good state stays applied.</p><ul>",
        );
        for d in diags {
            let place = match d {
                Value::String(s) => esc(s),
                _ => {
                    let line = first(d, &["/location/line", "/line"]).and_then(Value::as_u64);
                    let col = first(d, &["/location/column", "/column"]).and_then(Value::as_u64);
                    let file = text_of(first(d, &["/file"]));
                    let place = match (first(d, &["/at"]), line, col) {
                        (Some(at), _, _) => text_of(Some(at)),
                        (None, Some(l), Some(c)) if l > 0 => format!("{file}:{l}:{c}"),
                        _ => file,
                    };
                    format!(
                        "<code>{place}</code> <strong>{}</strong> {}",
                        text_of(first(d, &["/code"])),
                        text_of(first(d, &["/message"]))
                    )
                }
            };
            let _ = write!(out, "<li>{place}</li>");
        }
        out.push_str("</ul>");
    }
    if let Some(why) = first(s, &["/refused"]) {
        let _ = write!(
            out,
            "<p><strong>Not applied:</strong> {} (a commit, or <code>allowDestroy</code> in the daemon's configuration, decides).</p>",
            text_of(Some(why))
        );
    }
    let listed = array(s, &["/out_of_sync"]);
    match page.plan_text {
        Some(plan) if !plan.trim().is_empty() => plan_blocks(out, plan),
        _ if !listed.is_empty() => {
            out.push_str("<ul>");
            for o in listed {
                let _ = write!(out, "<li>{}</li>", text_of(Some(o)));
            }
            out.push_str("</ul>");
        }
        _ if diags.is_empty() => {
            out.push_str("<p class=\"empty\">Nothing to apply: MCPBox equals the branch.</p>")
        }
        _ => {}
    }
    out.push_str("</section>");
}

/// The pending plan, one collapsed `<details>` per object (its `# kind.key
/// will be …` line as the summary, its fields and code diff inside), with the
/// capabilities above and the tally below as they are.
fn plan_blocks(out: &mut String, plan: &str) {
    let mut head = String::new();
    let mut blocks: Vec<(String, String)> = Vec::new();
    let mut tail = String::new();
    for line in plan.lines() {
        let t = line.trim_start();
        if line.starts_with("  # ") {
            blocks.push((t.trim_start_matches("# ").to_string(), String::new()));
        } else if line.starts_with("Plan:")
            || line.starts_with("Caches recomputed")
            || !tail.is_empty()
        {
            tail.push_str(line);
            tail.push('\n');
        } else if let Some((_, body)) = blocks.last_mut() {
            body.push_str(line);
            body.push('\n');
        } else {
            head.push_str(line);
            head.push('\n');
        }
    }
    if !head.trim().is_empty() {
        let _ = write!(out, "<pre>{}</pre>", esc(head.trim_end()));
    }
    for (summary, body) in &blocks {
        let _ = write!(
            out,
            "<details><summary><code>{}</code></summary><pre>{}</pre></details>",
            esc(summary),
            esc(body.trim_end())
        );
    }
    if !tail.trim().is_empty() {
        let _ = write!(out, "<pre>{}</pre>", esc(tail.trim_end()));
    }
}

fn passes(out: &mut String, page: &Page<'_>) {
    out.push_str("<section id=\"passes\"><h2>Recent passes</h2>");
    if page.history.is_empty() {
        out.push_str("<p class=\"empty\">No pass yet.</p></section>");
        return;
    }
    out.push_str("<table><thead><tr><th>When</th><th>Outcome</th><th>Changes</th><th>Duration</th><th>Activation</th></tr></thead><tbody>");
    for p in page.history.iter().rev().take(20) {
        let changes = if p.changes.is_empty() {
            "—".to_string()
        } else {
            p.changes
                .iter()
                .map(|(k, n)| format!("{n} {}", esc(k)))
                .collect::<Vec<_>>()
                .join(", ")
        };
        let activation = match p.activation {
            Some((ok, 0)) => format!("{ok} ok"),
            Some((ok, failed)) => format!("{ok} ok, {failed} failed"),
            None => "—".into(),
        };
        let _ = write!(
            out,
            "<tr><td>{}</td><td>{}</td><td>{changes}</td><td>{} ms</td><td>{activation}</td></tr>",
            p.at.format("%H:%M:%S"),
            esc(&p.outcome),
            p.duration_ms
        );
    }
    out.push_str("</tbody></table></section>");
}

/// Pass durations (line) and drifted objects (bars) over the last 24 hours,
/// drawn on the server as SVG.
fn chart(out: &mut String, page: &Page<'_>) {
    const W: f64 = 720.0;
    const H: f64 = 160.0;
    const DAY: f64 = 86_400.0;
    let recent: Vec<&PassRecord> = page
        .history
        .iter()
        .filter(|p| (page.now - p.at).num_seconds() <= DAY as i64)
        .collect();
    out.push_str("<section id=\"chart\"><h2>Last 24 hours</h2>");
    if recent.is_empty() {
        out.push_str("<p class=\"empty\">No pass in the last day.</p></section>");
        return;
    }
    let max_ms = recent
        .iter()
        .map(|p| p.duration_ms)
        .max()
        .unwrap_or(1)
        .max(1) as f64;
    let max_drift = recent.iter().map(|p| p.drifted).max().unwrap_or(0).max(1) as f64;
    let x = |p: &PassRecord| {
        let age = (page.now - p.at).num_seconds().clamp(0, DAY as i64) as f64;
        W * (1.0 - age / DAY)
    };
    let _ = write!(
        out,
        "<svg role=\"img\" aria-labelledby=\"chart-title\" viewBox=\"0 0 {W} {}\" width=\"{W}\" height=\"{}\">\
<title id=\"chart-title\">Pass durations (line, up to {max_ms:.0} ms) and drifted objects (bars, up to {max_drift:.0}) over the last 24 hours</title>\
<rect x=\"0\" y=\"0\" width=\"{W}\" height=\"{H}\" fill=\"none\" stroke=\"currentColor\" stroke-opacity=\".2\"/>",
        H + 20.0,
        H + 20.0
    );
    for p in recent.iter().filter(|p| p.drifted > 0) {
        let h = H * p.drifted as f64 / max_drift;
        let _ = write!(
            out,
            "<rect class=\"drift\" x=\"{:.1}\" y=\"{:.1}\" width=\"3\" height=\"{h:.1}\" fill=\"#d29922\" fill-opacity=\".6\"/>",
            x(p) - 1.5,
            H - h
        );
    }
    let points: Vec<String> = recent
        .iter()
        .map(|p| format!("{:.1},{:.1}", x(p), H - H * p.duration_ms as f64 / max_ms))
        .collect();
    let _ = write!(
        out,
        "<polyline class=\"durations\" points=\"{}\" fill=\"none\" stroke=\"#0969da\" stroke-width=\"1.5\"/>\
<text x=\"0\" y=\"{}\" font-size=\"12\" fill=\"currentColor\">24 h ago</text>\
<text x=\"{}\" y=\"{}\" font-size=\"12\" fill=\"currentColor\" text-anchor=\"end\">now · max {max_ms:.0} ms</text></svg></section>",
        points.join(" "),
        H + 16.0,
        W,
        H + 16.0
    );
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn now() -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("2026-12-05T12:00:00Z")
            .unwrap()
            .with_timezone(&Utc)
    }

    #[test]
    fn hostile_text_is_shown_as_text() {
        let status = json!({
            "sync": "OutOfSync",
            "branch": "main<script>",
            "pending_review": [{"server": "s", "tool": "<img src=x onerror=alert(1)>", "version": 2}],
            "drifted": [{"kind": "tool", "key": "s/<b>x</b>", "fields": ["description"], "who": "llm\"'", "when": "now"}],
        });
        let plan = "  + description = \"<script>alert(1)</script>\"";
        let html = render(&Page {
            status: &status,
            history: &[],
            plan_text: Some(plan),
            actions: None,
            now: now(),
        });
        assert!(!html.contains("<script>"), "{html}");
        assert!(!html.contains("<img"), "{html}");
        assert!(!html.contains("<b>x"), "{html}");
        assert!(html.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
        assert!(html.contains("&lt;img src=x onerror=alert(1)&gt;"));
        assert!(html.contains("llm&quot;&#39;"));
        // No script and no external asset, ever.
        assert!(
            !html.contains("<script") && !html.contains("http://") && !html.contains("https://")
        );
    }

    #[test]
    fn quarantined_tools_are_listed_and_lifted_ones_are_not() {
        let status = json!({
            "sync": "Synced",
            "quarantined": [
                {"action": "hold", "tool": "s/<rug>", "git_hash": "a".repeat(64), "drifted_hash": "b".repeat(64), "since": "2026-12-05T11:00:00Z"},
                {"action": "lift", "tool": "s/restored", "why": "restored"},
            ],
        });
        let page = |status: &Value| {
            render(&Page {
                status,
                history: &[],
                plan_text: None,
                actions: None,
                now: now(),
            })
        };
        let html = page(&status);
        assert!(html.contains("<h2>Quarantined tools</h2>"), "{html}");
        assert!(html.contains("s/&lt;rug&gt;"), "{html}");
        assert!(html.contains(&"a".repeat(12)) && !html.contains(&"a".repeat(13)));
        assert!(!html.contains("s/restored"), "{html}");
        assert!(!page(&json!({"sync": "Synced"})).contains("Quarantined tools"));
    }

    #[test]
    fn sections_show_their_objects_and_the_chart_its_passes() {
        let status = json!({
            "sync": "Synced", "role": "leader", "branch": "main",
            "last_applied": {"commit": "0123456789abcdef", "subject": "add tool", "author": "a@b", "at": "2026-12-05T11:58:00Z"},
            "last_pass": {"outcome": "synced", "duration_ms": 12, "at": "2026-12-05T11:59:50Z"},
            "diagnostics": [{"code": "E002 unknown-field", "at": "s.yaml:3:5", "message": "unknown field"}],
        });
        let history: Vec<PassRecord> = (0..30)
            .map(|i| PassRecord {
                at: now() - chrono::Duration::minutes(30 - i),
                outcome: if i % 7 == 0 {
                    "applied".into()
                } else {
                    "synced".into()
                },
                duration_ms: 10 + i as u64,
                drifted: (i % 5) as usize,
                changes: if i % 7 == 0 {
                    vec![("tool update".into(), 2)]
                } else {
                    vec![]
                },
                activation: None,
            })
            .collect();
        let html = render(&Page {
            status: &status,
            history: &history,
            plan_text: None,
            actions: Some(Actions { csrf: "tok\"en" }),
            now: now(),
        });
        assert!(html.contains("<span class=\"badge Synced\" id=\"sync\">Synced</span>"));
        assert!(html.contains("<code>0123456789ab</code> add tool"));
        assert!(html.contains("(2 min ago)"));
        assert!(html.contains("<code>s.yaml:3:5</code> <strong>E002 unknown-field</strong>"));
        // The table shows the last 20 passes; the chart all 30 of the last day.
        assert_eq!(html.matches(" ms</td>").count(), 20);
        let points = html
            .split("points=\"")
            .nth(1)
            .and_then(|p| p.split('"').next())
            .unwrap();
        assert_eq!(points.split(' ').count(), 30);
        assert_eq!(html.matches("class=\"drift\"").count(), 24);
        // Forms carry the CSRF token, escaped; suspend when not suspended.
        assert!(html.contains("value=\"tok&quot;en\""));
        assert!(html.contains("action=\"/ui/suspend\"") && html.contains("action=\"/ui/sync\""));
    }
}
