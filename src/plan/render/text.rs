//! The plan in Terraform's visual grammar: capabilities first, deletes loudest,
//! `+`/`~`/`-` per object, unified diffs for code, and the closing tally.
//!
//! Pure string building; the CLI decides where it goes.

use std::fmt::Write;

use serde_json::Value;

use super::super::{Action, Change, Plan};
use crate::model::{Kind, Object};

/// Renders the whole plan.
pub fn render(plan: &Plan) -> String {
    render_under(plan, &planning(plan), false)
}

/// `Planning SOURCE against …`.
fn planning(plan: &Plan) -> String {
    let against = if plan.against_database {
        "the database"
    } else {
        "an empty MCPBox (no database given: set DATABASE_URL or --database-url to plan against a real one)"
    };
    format!(
        "Planning {} against {against}.",
        crate::escape::text(&plan.source)
    )
}

/// [`render`] with new tools' code summarised as `(+N lines, sha256:…)`
/// instead of printed whole (`--compact`); updates keep their changed hunks.
pub fn render_compact(plan: &Plan) -> String {
    render_under(plan, &planning(plan), true)
}

/// Renders a saved plan that `apply --plan` is about to apply: the same body,
/// under a header that names the file instead of planning again.
pub fn render_saved(plan: &Plan, file: &str) -> String {
    let header = format!(
        "Applying the saved plan {} (made from {}).",
        crate::escape::text(file),
        crate::escape::text(&plan.source)
    );
    render_under(plan, &header, false)
}

fn render_under(plan: &Plan, header: &str, compact: bool) -> String {
    let mut out = String::new();
    render_into(&mut out, plan, header, compact);
    out
}

/// Writes [`render`] (or [`render_compact`]) to `out` as it goes: the text of
/// a plan that creates 10,000 tools is tens of megabytes, which a caller
/// printing it need not hold.
pub fn write(out: &mut dyn Write, plan: &Plan, compact: bool) {
    render_into(out, plan, &planning(plan), compact);
}

fn render_into(out: &mut dyn Write, plan: &Plan, header: &str, compact: bool) {
    let _ = writeln!(out, "{header}");
    if !plan.conflicts.is_empty() {
        let _ = writeln!(
            out,
            "\n!! {} object(s) belong to another source; apply refuses them unless --take-ownership:",
            plan.conflicts.len()
        );
        for c in &plan.conflicts {
            let _ = writeln!(out, "  ! {}", crate::escape::text(c));
        }
    }
    quarantine(out, plan);
    if !plan.has_changes() {
        let _ = writeln!(out);
        notes(out, plan);
        let _ = writeln!(out, "No changes. MCPBox matches the manifests.");
        return;
    }
    capabilities(out, plan);
    let deletes: Vec<&Change> = plan
        .changes
        .iter()
        .filter(|c| c.action == Action::Delete)
        .collect();
    if !deletes.is_empty() {
        let _ = writeln!(out, "\n!! {} object(s) will be DESTROYED:", deletes.len());
        for c in &deletes {
            change(out, c, compact);
        }
        if let Some(why) = &plan.guard {
            let _ = writeln!(
                out,
                "!! Without --allow-destroy, apply refuses this plan: {}",
                crate::escape::text(why)
            );
        }
    }
    let others: Vec<&Change> = plan
        .changes
        .iter()
        .filter(|c| c.action != Action::Delete)
        .collect();
    if !others.is_empty() {
        let _ = writeln!(out, "\nmcpbox-gitops will perform the following actions:");
        for c in others {
            change(out, c, compact);
        }
    }
    if !plan.caches.is_empty() {
        let _ = writeln!(out, "\nCaches recomputed by MCPBox's sync helpers:");
        for c in &plan.caches {
            let name = match &c.server {
                Some(s) => format!("servers.allowed_hosts of {s}"),
                None => "global_config.allowed_modules".to_string(),
            };
            let mut parts: Vec<String> = c.added.iter().map(|a| format!("+{a}")).collect();
            parts.extend(c.removed.iter().map(|r| format!("-{r}")));
            if parts.is_empty() {
                parts.push("(row created, same entries)".into());
            }
            let _ = writeln!(out, "  ~ {name}: {}", parts.join(" "));
        }
    }
    let _ = writeln!(out);
    notes(out, plan);
    let _ = writeln!(out, "Plan: {}.", plan.summary.tally());
}

/// Tools quarantined under `onCodeDrift: quarantine`, whatever else changes.
fn quarantine(out: &mut dyn Write, plan: &Plan) {
    if plan.quarantine.is_empty() {
        return;
    }
    let held = plan.quarantine.iter().filter(|q| q.holds()).count();
    let _ = writeln!(
        out,
        "\n!! {held} tool(s) quarantined (onCodeDrift: quarantine):"
    );
    for q in &plan.quarantine {
        let mark = if q.holds() { '!' } else { '-' };
        let _ = writeln!(out, "  {mark} {}: {q}", crate::escape::text(q.tool()));
    }
    if held > 0 {
        let _ = writeln!(out, "  {}.", crate::rules::quarantine::HOW_TO_DECIDE);
    }
}

fn notes(out: &mut dyn Write, plan: &Plan) {
    least_privilege(out, plan);
    for k in &plan.kept {
        let _ = writeln!(out, "Note: {k} left git but is kept (prune is off).");
    }
    for n in &plan.notes {
        let _ = writeln!(out, "Note: {n}");
    }
    if !plan.kept.is_empty() || !plan.notes.is_empty() {
        let _ = writeln!(out);
    }
}

/// The least-privilege diff: uses git does not grant (warnings, each naming
/// the line of code), grants nothing uses, and uses only the run can tell.
fn least_privilege(out: &mut dyn Write, plan: &Plan) {
    let lp = &plan.least_privilege;
    let e = |s: &str| crate::escape::text(s).into_owned();
    for m in &lp.needed_not_granted {
        let _ = writeln!(
            out,
            "Warning: {}:{}:{}: tool {}: {}",
            e(&m.place.file),
            m.place.line,
            m.place.column,
            e(&m.tool),
            e(&m.message)
        );
    }
    for u in &lp.granted_not_used {
        let whom = match &u.server {
            Some(s) => format!("no tool of server {}", e(s)),
            None => "no tool".to_string(),
        };
        let _ = writeln!(
            out,
            "Note: {} is granted ({}:{}) but {whom} appears to use it; consider removing it.",
            e(&u.capability.to_string()),
            e(&u.place.file),
            u.place.line
        );
    }
    for d in &lp.dynamic {
        let _ = writeln!(
            out,
            "Note: tool {} uses a {} only the run knows ({}) at {}:{}:{}.",
            e(&d.tool),
            e(&d.what),
            e(&d.why),
            e(&d.place.file),
            d.place.line,
            d.place.column
        );
    }
    let shown = lp.needed_not_granted.len() + lp.granted_not_used.len() + lp.dynamic.len();
    if shown > 0 {
        let _ = writeln!(out);
    }
}

/// The security reviewer's summary: what the plan grants.
/// What the plan grants (`plan.grants`, computed once by `plan::review`).
fn capabilities(out: &mut dyn Write, plan: &Plan) {
    use crate::plan::review::Grant;
    let mut lines = Vec::new();
    for g in &plan.grants {
        match g {
            Grant::Host {
                server,
                host,
                port,
                tool,
            } => {
                let via = tool
                    .as_ref()
                    .map(|t| format!(" (requested by tool {t})"))
                    .unwrap_or_default();
                let port = port
                    .map(|p| format!(":{p}"))
                    .unwrap_or_else(|| " (any port)".into());
                lines.push(format!("  + egress   {server} → {host}{port}{via}"));
            }
            Grant::Module { name } => lines.push(format!("  + module   {name}")),
            Grant::SecretPlaceholder { key, value } => lines.push(format!(
                "  + secret   {key} {}",
                match value.as_deref() {
                    Some(label) => format!("(value {})", label.trim_matches(['(', ')'])),
                    None => "(placeholder, no value)".to_string(),
                }
            )),
            // A new or re-pointed source: the sandbox will call this URL, and
            // send the named secret's value to it.
            Grant::ExternalSource {
                key,
                url,
                auth,
                sends,
            } => {
                let auth = match sends {
                    Some(secret) => format!(" ({auth} auth, sends secret {secret})"),
                    None => format!(" ({auth} auth)"),
                };
                lines.push(format!(
                    "  + external {} → {}{auth}",
                    crate::escape::text(key),
                    crate::escape::text(url)
                ));
            }
            Grant::Tunnel { name, public_url } => {
                let url = public_url
                    .as_deref()
                    .map(|u| format!(" at {u}"))
                    .unwrap_or_default();
                lines.push(format!(
                    "  + tunnel   {name} becomes the active configuration{url}"
                ));
            }
            Grant::Runnable { tool, reason, .. } => lines.push(format!(
                "  + runnable {} — {reason}",
                crate::escape::text(tool)
            )),
            Grant::Review { .. } | Grant::Value { .. } => {}
        }
    }
    if !lines.is_empty() {
        let _ = writeln!(out, "\nCapabilities granted:");
        for l in lines {
            let _ = writeln!(out, "{l}");
        }
    }
}

fn verb(a: Action) -> &'static str {
    match a {
        Action::Adopt => "adopted (taken under management)",
        Action::Create => "created",
        Action::Update => "updated in-place",
        Action::Delete => "destroyed",
    }
}

fn value(v: &Value) -> String {
    match v {
        Value::String(s) => serde_json::to_string(s).unwrap_or_default(),
        other => other.to_string(),
    }
}

fn change(out: &mut dyn Write, c: &Change, compact: bool) {
    let _ = writeln!(
        out,
        "\n  # {}.{} will be {}",
        c.kind.as_str(),
        crate::escape::text(&c.key),
        verb(c.action)
    );
    if let Some(r) = &c.reason {
        let _ = writeln!(out, "  # ({r})");
    }
    let sym = c.action.symbol();
    let _ = writeln!(
        out,
        "  {sym} {} \"{}\" {{",
        c.kind.as_str(),
        crate::escape::text(&c.key)
    );
    match c.action {
        Action::Create => {
            if let Some(after) = &c.after {
                all_fields(out, "+", after, compact);
            }
        }
        Action::Delete => {
            if let Some(Object::Tunnel(t)) = &c.before {
                if t.active {
                    let _ = writeln!(out, "      # deactivated first: activating another configuration leaves it inactive");
                }
            }
            if let Some(cascade) = &c.cascade {
                let mut parts = Vec::new();
                for (n, what) in [
                    (cascade.tools, "tool"),
                    (cascade.secrets, "secret"),
                    (cascade.versions, "version"),
                    (cascade.requests, "request"),
                    (cascade.execution_logs, "execution log"),
                    (cascade.sources, "external source"),
                    (cascade.activity_logs, "activity log row"),
                ] {
                    if n > 0 {
                        parts.push(format!("{n} {what}{}", if n == 1 { "" } else { "s" }));
                    }
                }
                let _ = writeln!(out, "      # deletes with it: {}", parts.join(", "));
            }
        }
        Action::Update | Action::Adopt => {
            let before = c.before.as_ref().and_then(|b| serde_json::to_value(b).ok());
            if let (Some(Object::Tool(b)), Some(Object::Tool(a))) = (&c.before, &c.after) {
                let moved = c.fields.iter().any(|f| {
                    matches!(
                        f.field.as_str(),
                        "external_source" | "external_tool_name" | "tool_type"
                    )
                });
                if moved && (passthrough(b).is_some() || passthrough(a).is_some()) {
                    let show = |t: &crate::model::Tool| {
                        passthrough(t).unwrap_or_else(|| "(python code)".into())
                    };
                    let _ = writeln!(
                        out,
                        "      ~ passthrough          : {} -> {}",
                        show(b),
                        show(a)
                    );
                }
            }
            for f in &c.fields {
                if c.kind == Kind::Tool
                    && matches!(f.field.as_str(), "external_source" | "external_tool_name")
                {
                    continue; // shown as the passthrough line above
                }
                if f.field == crate::plan::CODE_FIELD {
                    let (old, new) = c.code().unwrap_or_default();
                    let _ = writeln!(out, "      ~ python_code:");
                    code_diff(out, old, new);
                    continue;
                }
                let b = f
                    .before
                    .as_ref()
                    .map(value)
                    .unwrap_or_else(|| "null".into());
                let a = f.after.as_ref().map(value).unwrap_or_else(|| "null".into());
                let _ = writeln!(out, "      ~ {:<20} = {b} -> {a}", f.field);
            }
            if let Some(Value::Object(map)) = before {
                let fields = map
                    .keys()
                    .filter(|k| !crate::plan::diff::KEY_FIELDS.contains(&k.as_str()));
                let total = fields.clone().count();
                // Synthetic fields (approval_status, status, encrypted) are not in `before`.
                let shown = c
                    .fields
                    .iter()
                    .filter(|f| map.contains_key(&f.field))
                    .count();
                let hidden = total.saturating_sub(shown);
                if hidden > 0 {
                    let _ = writeln!(
                        out,
                        "        # ({hidden} unchanged field{} hidden)",
                        if hidden == 1 { "" } else { "s" }
                    );
                }
            }
        }
    }
    if let Some(t) = &c.tool {
        let _ = writeln!(out, "        approval: {}", t.approval.reason);
        for v in &t.versions {
            let _ = writeln!(out, "        version {}: {}", v.number, v.summary);
        }
    }
    let _ = writeln!(out, "    }}");
}

/// `passthrough → <source>/<externalToolName>` of a pass-through tool.
fn passthrough(t: &crate::model::Tool) -> Option<String> {
    (t.tool_type == crate::model::ToolType::McpPassthrough).then(|| {
        format!(
            "passthrough → {}/{}",
            t.external_source.as_deref().unwrap_or("(no source)"),
            t.external_tool_name.as_deref().unwrap_or("?")
        )
    })
}

fn all_fields(out: &mut dyn Write, sym: &str, obj: &Object, compact: bool) {
    let Ok(Value::Object(map)) = serde_json::to_value(obj) else {
        return;
    };
    // A pass-through tool has no code: its target stands in for the code diff.
    if let Object::Tool(t) = obj {
        if let Some(line) = passthrough(t) {
            let _ = writeln!(out, "      {sym} {line}");
        }
    }
    let proxied =
        matches!(obj, Object::Tool(t) if t.tool_type == crate::model::ToolType::McpPassthrough);
    for (k, v) in &map {
        if proxied
            && matches!(
                k.as_str(),
                "tool_type" | "external_source" | "external_tool_name"
            )
        {
            continue;
        }
        if matches!(k.as_str(), "kind" | "server" | "name" | "key")
            || v.is_null()
            || v.as_array().is_some_and(|a| a.is_empty())
        {
            continue;
        }
        if obj.kind() == Kind::Tool && k == "python_code" {
            let code = v.as_str().unwrap_or("");
            if compact {
                use sha2::{Digest, Sha256};
                let digest = hex::encode(Sha256::digest(code.as_bytes()));
                let _ = writeln!(
                    out,
                    "      {sym} python_code          = (+{} lines, sha256:{})",
                    code.lines().count(),
                    &digest[..12]
                );
                continue;
            }
            let _ = writeln!(out, "      {sym} python_code:");
            code_diff(out, "", code);
            continue;
        }
        let _ = writeln!(out, "      {sym} {k:<20} = {}", value(v));
    }
}

fn code_diff(out: &mut dyn Write, old: &str, new: &str) {
    super::code_diff(out, old, new, "          ");
}
