//! One collapsible block per changed object: its summary line (action,
//! approval outcome, cascade) and its body (fields, code diffs, values shown as
//! labels only).

use std::fmt::Write;

use serde_json::Value;

use crate::model::{Kind, Object};
use crate::plan::{Action, Cascade, Change, Plan};

use super::*;
pub(super) use crate::plan::review::approval_words;

/// One object, rendered both ways.
pub(super) struct Block {
    /// `<details>` with the one-line summary and the body.
    pub(super) full: String,
    /// The one-line summary alone, as a list item (details dropped).
    pub(super) item: String,
}

/// One block per change, deletes first (like the text renderer).
pub(super) fn objects(plan: &Plan, ctx: &PrContext) -> Vec<Block> {
    let deletes = plan.changes.iter().filter(|c| c.action == Action::Delete);
    let others = plan.changes.iter().filter(|c| c.action != Action::Delete);
    deletes
        .chain(others)
        .map(|c| {
            let line = summary_line(c, ctx);
            Block {
                full: format!(
                    "<details><summary>{line}</summary>\n\n{}\n\n</details>\n\n",
                    body(c, ctx).trim_end()
                ),
                item: format!("- {line}\n"),
            }
        })
        .collect()
}

pub(super) fn summary_line(c: &Change, ctx: &PrContext) -> String {
    let names = || {
        let names: Vec<&str> = c.fields.iter().map(|f| f.field.as_str()).collect();
        html(&names.join(", "))
    };
    let what = match c.action {
        Action::Create => "create".to_string(),
        Action::Update => format!("update {}", names()),
        Action::Adopt if c.fields.is_empty() => "adopt".to_string(),
        Action::Adopt => format!("adopt, update {}", names()),
        Action::Delete => {
            let with = c
                .cascade
                .as_ref()
                .and_then(cascade_words)
                .map(|w| format!(" with {w}"))
                .unwrap_or_default();
            format!("<b>destroy{with}</b>")
        }
    };
    let warn = if c.action == Action::Delete {
        "⚠️ "
    } else {
        ""
    };
    let mut line = format!(
        "{warn}{} {} {} — {what}",
        symbol(c.action),
        c.kind.as_str(),
        code(&c.key)
    );
    if let Some(tc) = &c.tool {
        let _ = write!(line, " · approval: {}", html(&approval_words(tc)));
    }
    if pin_in_range(c, ctx) {
        line.push_str(" · 🔏 pin changed in this PR");
    }
    let outside = ctx.outside.is_some_and(|o| {
        o.changes
            .iter()
            .any(|oc| oc.kind == c.kind && oc.key == c.key)
    });
    if outside {
        line.push_str(" · ⚠️ also changed outside this PR");
    }
    line
}

pub(super) fn pin_in_range(c: &Change, ctx: &PrContext) -> bool {
    c.kind == Kind::Tool && ctx.pins_in_range.contains(&c.key)
}

pub(super) fn body(c: &Change, ctx: &PrContext) -> String {
    let mut out = String::new();
    if let Some(r) = &c.reason {
        let _ = writeln!(out, "> {}\n", prose(r));
    }
    if let Some(Object::Tool(t)) = c.after.as_ref().or(c.before.as_ref()) {
        if t.tool_type == crate::model::ToolType::McpPassthrough {
            let target = format!(
                "{}/{}",
                t.external_source.as_deref().unwrap_or("(no source)"),
                t.external_tool_name.as_deref().unwrap_or("?")
            );
            let _ = writeln!(out, "**passthrough** → {}\n", code(&target));
        }
    }
    if let Some(tc) = &c.tool {
        let _ = writeln!(out, "**approval:** {}\n", prose(&tc.approval.reason));
        if pin_in_range(c, ctx) {
            let what = if tc.content_changed {
                "code and its approval pin change"
            } else {
                "its approval pin changes"
            };
            let _ = writeln!(
                out,
                "🔏 {what} in this PR — the approval is part of what you review\n"
            );
        }
        for v in &tc.versions {
            let _ = writeln!(out, "- version {}: {}", v.number, html(&v.summary));
        }
        if !tc.versions.is_empty() {
            out.push('\n');
        }
    }
    if let Some(cascade) = c.cascade.as_ref().and_then(cascade_words) {
        let _ = writeln!(out, "⚠️ **deletes with it: {cascade}**\n");
    }
    let mut diff = String::new();
    let mut hidden = 0;
    match c.action {
        Action::Create => {
            if let Some(after) = &c.after {
                all_fields(&mut diff, "+", after);
            }
        }
        Action::Delete => {
            if let Some(before) = &c.before {
                all_fields(&mut diff, "-", before);
            }
        }
        Action::Update | Action::Adopt => {
            let secret = matches!(c.kind, Kind::Secret | Kind::Tunnel);
            let mut code = String::new();
            for f in &c.fields {
                if f.field == crate::plan::CODE_FIELD {
                    let (old, new) = c.code().unwrap_or_default();
                    let _ = writeln!(code, " python_code:");
                    code_diff(&mut code, old, new);
                    continue;
                }
                for (sym, v) in [("-", &f.before), ("+", &f.after)] {
                    if let Some(v) = v {
                        let _ = writeln!(
                            diff,
                            "{sym} {}: {}",
                            f.field,
                            field_value(secret, &f.field, v)
                        );
                    }
                }
            }
            // The code last, so its hunks read as one piece.
            diff.push_str(&code);
            hidden = hidden_fields(c);
        }
    }
    if !diff.is_empty() {
        let fence = fence_for(&diff);
        let _ = writeln!(out, "{fence}diff\n{diff}{fence}\n");
    }
    if hidden > 0 {
        let _ = writeln!(
            out,
            "<sub>{hidden} unchanged field{} hidden</sub>\n",
            plural(hidden)
        );
    }
    out
}

/// The unchanged fields of an update, counted as the text renderer counts them.
pub(super) fn hidden_fields(c: &Change) -> usize {
    let Some(Ok(Value::Object(map))) = c.before.as_ref().map(serde_json::to_value) else {
        return 0;
    };
    let total = map
        .keys()
        .filter(|k| !crate::plan::diff::KEY_FIELDS.contains(&k.as_str()))
        .count();
    // Synthetic fields (approval_status, status, encrypted) are not in `before`.
    let shown = c
        .fields
        .iter()
        .filter(|f| map.contains_key(&f.field))
        .count();
    total.saturating_sub(shown)
}

/// Every field of a created or destroyed object, one `sym field: value` line
/// each; a created tool's code as a diff from nothing, a destroyed one's as its
/// line count (never a whole file twice).
pub(super) fn all_fields(out: &mut String, sym: &str, obj: &Object) {
    let Ok(Value::Object(map)) = serde_json::to_value(obj) else {
        return;
    };
    let secret = matches!(obj.kind(), Kind::Secret | Kind::Tunnel);
    let mut code_lines = String::new();
    for (k, v) in &map {
        if matches!(k.as_str(), "kind" | "server" | "name" | "key")
            || v.is_null()
            || v.as_array().is_some_and(|a| a.is_empty())
        {
            continue;
        }
        if obj.kind() == Kind::Tool && k == "python_code" {
            let code = v.as_str().unwrap_or("");
            if sym == "+" {
                let _ = writeln!(code_lines, " python_code:");
                code_diff(&mut code_lines, "", code);
            } else {
                let n = code.lines().count();
                let _ = writeln!(out, "{sym} python_code: ({n} line{})", plural(n));
            }
            continue;
        }
        let _ = writeln!(out, "{sym} {k}: {}", field_value(secret, k, v));
    }
    // The code last, so its hunk reads as one piece.
    out.push_str(&code_lines);
}

/// A field's value on one line; a secret's `value` only ever as its label.
pub(super) fn field_value(secret: bool, field: &str, v: &Value) -> String {
    match v {
        Value::String(s) if secret && (field == "value" || field == "token") => label_only(s),
        Value::String(s) => serde_json::to_string(s).unwrap_or_default(),
        other => other.to_string(),
    }
}

/// Changed hunks only, with 3 lines of context: never the whole file.
pub(super) fn code_diff(out: &mut String, old: &str, new: &str) {
    crate::plan::render::code_diff(out, old, new, "");
}

/// A code fence longer than any run of backticks in the content.
pub(super) fn fence_for(content: &str) -> String {
    let mut longest = 0;
    let mut run = 0;
    for ch in content.chars() {
        if ch == '`' {
            run += 1;
            longest = longest.max(run);
        } else {
            run = 0;
        }
    }
    "`".repeat((longest + 1).max(3))
}

/// A label such as `(from env X)` as it is; anything else as `(redacted)`.
pub(super) fn label_only(s: &str) -> String {
    let label = s.starts_with('(') && s.ends_with(')') && !s.contains('\n') && s.len() <= 200;
    if label {
        s.to_string()
    } else {
        "(redacted)".to_string()
    }
}

pub(super) fn add_cascade(total: &mut Cascade, c: &Cascade) {
    total.tools += c.tools;
    total.secrets += c.secrets;
    total.versions += c.versions;
    total.requests += c.requests;
    total.execution_logs += c.execution_logs;
    total.sources += c.sources;
    total.activity_logs += c.activity_logs;
}

/// `2 tools, 1 secret, …`, or None when nothing cascades.
pub(super) fn cascade_words(c: &Cascade) -> Option<String> {
    let parts: Vec<String> = [
        (c.tools, "tool"),
        (c.secrets, "secret"),
        (c.versions, "version"),
        (c.requests, "request"),
        (c.execution_logs, "execution log"),
        (c.sources, "external source"),
        (c.activity_logs, "activity log row"),
    ]
    .into_iter()
    .filter(|(n, _)| *n > 0)
    .map(|(n, what)| format!("{n} {what}{}", if n == 1 { "" } else { "s" }))
    .collect();
    (!parts.is_empty()).then(|| parts.join(", "))
}

/// Terraform's symbol as inline code; a fixed string, so nothing to escape.
pub(super) fn symbol(a: Action) -> String {
    format!("<code>{}</code>", a.symbol())
}

pub(super) fn verb(a: Action) -> &'static str {
    match a {
        Action::Adopt => "adopt",
        Action::Create => "create",
        Action::Update => "update",
        Action::Delete => "destroy",
    }
}

pub(super) fn plural(n: usize) -> &'static str {
    if n == 1 {
        ""
    } else {
        "s"
    }
}
