//! The plan as a pull-request comment in markdown, in the style of Atlantis'
//! comments: a summary table of what the PR grants first, then what applying it
//! would also do beyond its own diff, then one collapsible block per object — and
//! never more characters than the comment may hold.
//!
//! Pure string building from a [`Plan`]: computing plans lives in `plan::diff`,
//! posting the comment is the CI's job, and nothing here does I/O.

use std::collections::BTreeSet;
use std::fmt::Write;

use serde_json::Value;
use similar::TextDiff;

use super::super::{Action, Cascade, Change, Plan, ToolChange};
use crate::model::{Kind, Object};
use crate::rules::approval::{ApprovalWrite, Status, AUTO_APPROVE_BY};

/// GitHub's limit on the body of an issue or pull-request comment, in characters.
pub const GITHUB_COMMENT_LIMIT: usize = 65_536;

/// What a pull request knows beyond the plan itself.
#[derive(Debug, Clone, Copy)]
pub struct PrContext<'a> {
    /// The plan's source label, e.g. `git:1a2b3c4d5e6f (HEAD)`.
    pub head: &'a str,
    /// The base revision's label, when known.
    pub base: Option<&'a str>,
    /// The plan of the BASE commit against the database. Non-empty: the database
    /// differs from BASE (drift, or another PR merged first), and applying this PR
    /// would also make those changes. None: not computed; the section is left out.
    pub outside: Option<&'a Plan>,
    /// `server/tool` keys whose pin in `approvals.yaml` changed between BASE and
    /// HEAD: their approval is part of what the reviewer approves.
    pub pins_in_range: &'a BTreeSet<String>,
    /// Upper bound on the output's length, in characters (not bytes):
    /// [`GITHUB_COMMENT_LIMIT`] for GitHub.
    pub max_chars: usize,
    /// Where the full JSON plan is (e.g. `plan.json artifact`), named in the
    /// truncation note.
    pub artifact: Option<&'a str>,
}

/// No pins changed: the default of [`PrContext::local`].
static NO_PINS: BTreeSet<String> = BTreeSet::new();

impl<'a> PrContext<'a> {
    /// A context outside any pull request (`plan --format markdown`): no base, no
    /// outside plan, no pins in range, GitHub's comment limit.
    pub fn local(head: &'a str) -> Self {
        PrContext {
            head,
            base: None,
            outside: None,
            pins_in_range: &NO_PINS,
            max_chars: GITHUB_COMMENT_LIMIT,
            artifact: None,
        }
    }
}

/// How long the lists of the fixed part (summary table, outside changes, notes,
/// caches) may be, tried longest first until the fixed part fits.
const LIST_CAPS: [usize; 6] = [usize::MAX, 200, 50, 10, 3, 0];

/// Renders the comment: heading, summary table, changes outside this PR, notes,
/// one block per object, and, if something had to go, the truncation note.
/// The result never has more than `ctx.max_chars` characters.
pub fn render(plan: &Plan, ctx: &PrContext) -> String {
    let blocks = objects(plan, ctx);
    let n = blocks.len();
    let footer = footer(plan);
    let footer_len = chars(&footer);

    // The fixed part is never dropped, only its lists shortened: take the longest
    // lists that still leave room for the footer and the worst-case note.
    let mut fixed = String::new();
    let mut capped = false;
    for cap in LIST_CAPS {
        let mut lists = Lists { cap, capped: false };
        fixed = fixed_part(plan, ctx, &mut lists);
        capped = lists.capped;
        let worst = chars(&note(ctx, n, n, capped || n > 0));
        if chars(&fixed) + footer_len + worst <= ctx.max_chars {
            break;
        }
    }
    let base = chars(&fixed) + footer_len;

    // Prefix sums of the objects' full blocks and of their one-line items.
    let mut full = vec![0usize; n + 1];
    let mut line = vec![0usize; n + 1];
    for (i, b) in blocks.iter().enumerate() {
        full[i + 1] = full[i] + chars(&b.full);
        line[i + 1] = line[i] + chars(&b.item);
    }
    // The first `shown` objects keep their details, the next ones up to `listed`
    // keep their one-line summary: details go from the end first, then lines.
    let cost = |shown: usize, listed: usize| {
        base + full[shown]
            + (line[listed] - line[shown])
            + chars(&note(ctx, n - shown, n - listed, capped))
    };
    let (shown, listed) = (0..=n)
        .rev()
        .map(|shown| (shown, n))
        .chain((0..n).rev().map(|listed| (0, listed)))
        .find(|&(s, l)| cost(s, l) <= ctx.max_chars)
        .unwrap_or((0, 0));

    let mut out = fixed;
    for b in &blocks[..shown] {
        out.push_str(&b.full);
    }
    for b in &blocks[shown..listed] {
        out.push_str(&b.item);
    }
    out.push_str(&note(ctx, n - shown, n - listed, capped));
    out.push_str(&footer);
    clamp(out, ctx.max_chars)
}

/// Counts characters, the unit of GitHub's limit.
fn chars(s: &str) -> usize {
    s.chars().count()
}

/// Last resort for limits too small for even the shortest fixed part: cut at a
/// character boundary, marking the cut.
fn clamp(s: String, max: usize) -> String {
    if chars(&s) <= max {
        return s;
    }
    let mut cut: String = s.chars().take(max.saturating_sub(2)).collect();
    if max >= 2 {
        cut.push_str("…\n");
    }
    cut
}

/// How many entries a list of the fixed part may show, and whether one was cut.
struct Lists {
    cap: usize,
    capped: bool,
}

impl Lists {
    /// The first `cap` entries, and `… and N more` when there are more.
    fn take<'s>(&mut self, items: &'s [String]) -> (&'s [String], Option<String>) {
        if items.len() <= self.cap {
            return (items, None);
        }
        self.capped = true;
        let more = format!("… and {} more", items.len() - self.cap);
        (&items[..self.cap], Some(more))
    }

    /// A table cell: entries separated by `<br>`.
    fn cell(&mut self, items: &[String]) -> String {
        let (shown, more) = self.take(items);
        let mut parts: Vec<String> = shown.to_vec();
        parts.extend(more);
        parts.join("<br>")
    }

    /// A markdown bullet list, one entry a line.
    fn bullets(&mut self, items: &[String]) -> String {
        let (shown, more) = self.take(items);
        let mut out = String::new();
        for i in shown.iter().chain(more.iter()) {
            let _ = writeln!(out, "- {i}");
        }
        out
    }
}

/// Heading, summary table, changes outside this PR, notes and caches: the part
/// that truncation never drops.
fn fixed_part(plan: &Plan, ctx: &PrContext, lists: &mut Lists) -> String {
    let mut out = String::new();
    heading(&mut out, plan, ctx);
    if plan.has_changes() {
        summary_table(&mut out, plan, ctx, lists);
    }
    outside(&mut out, ctx, lists);
    notes(&mut out, plan, lists);
    if !plan.changes.is_empty() {
        let n = plan.changes.len();
        let _ = writeln!(
            out,
            "#### {n} object{} to change (destroys first)\n",
            plural(n)
        );
    }
    out
}

fn heading(out: &mut String, plan: &Plan, ctx: &PrContext) {
    let s = &plan.summary;
    if plan.has_changes() {
        let warn = if s.destroy > 0 { "⚠️ " } else { "" };
        let adopt = if s.adopt > 0 {
            format!("{} to adopt, ", s.adopt)
        } else {
            String::new()
        };
        let _ = writeln!(
            out,
            "### {warn}mcpbox-gitops plan: {adopt}{} to add, {} to change, {} to destroy\n",
            s.add, s.change, s.destroy
        );
    } else {
        let _ = writeln!(out, "### mcpbox-gitops plan: No changes\n");
        let _ = writeln!(out, "MCPBox matches the manifests.\n");
    }
    let _ = writeln!(out, "- **Head:** {}", code(ctx.head));
    if let Some(base) = ctx.base {
        let _ = writeln!(out, "- **Base:** {}", code(base));
    }
    if plan.source != ctx.head {
        let _ = writeln!(out, "- **Source:** {}", code(&plan.source));
    }
    let db = if plan.against_database {
        "planned against the database"
    } else {
        "planned against an empty MCPBox (no database given)"
    };
    let _ = writeln!(out, "- **Database:** {db}\n");
}

/// What the plan grants and takes away, gathered for the summary table.
#[derive(Default)]
struct Capabilities {
    destroys: Vec<String>,
    cascade: Cascade,
    runnable: Vec<String>,
    review: Vec<String>,
    hosts: Vec<String>,
    modules: Vec<String>,
    secrets: Vec<String>,
    values: Vec<String>,
}

fn capabilities(plan: &Plan) -> Capabilities {
    let mut caps = Capabilities::default();
    for c in &plan.changes {
        if c.action == Action::Delete {
            let cascade = c.cascade.unwrap_or_default();
            add_cascade(&mut caps.cascade, &cascade);
            let with = cascade_words(&cascade)
                .map(|w| format!(" with {w}"))
                .unwrap_or_default();
            caps.destroys
                .push(format!("{} {}{with}", c.kind.as_str(), code(&c.key)));
            continue;
        }
        // A request row grants its host or module when it is created, or when an
        // existing row's status changes (a pending request adopted as approved).
        let granted =
            c.action == Action::Create || c.fields.iter().any(|f| f.field == "status");
        match &c.after {
            Some(Object::Network(n)) if granted => {
                let port = n
                    .port
                    .map(|p| format!(":{p}"))
                    .unwrap_or_default();
                let any = if n.port.is_none() { " (any port)" } else { "" };
                let via = n
                    .tool
                    .as_ref()
                    .map(|t| format!(" via tool {}", code(t)))
                    .unwrap_or_default();
                caps.hosts.push(format!(
                    "{}{any} for {}{via}",
                    code(&format!("{}{port}", n.host)),
                    code(&n.server)
                ));
            }
            Some(Object::Module(m)) if granted => caps.modules.push(code(&m.name)),
            Some(obj @ Object::Secret(_)) => {
                if c.action == Action::Create {
                    caps.secrets.push(code(&c.key));
                }
                if let Some(label) = value_label(obj).filter(|l| writes_value(l)) {
                    caps.values.push(format!("{} {}", code(&c.key), html(&label)));
                }
            }
            Some(Object::Tool(t)) => {
                let Some(tc) = &c.tool else { continue };
                let words = html(&approval_words(tc));
                // Runnable after apply: approved and enabled, and either the
                // approval or the enabled flag is what this plan writes.
                let enabled_now = c.fields.iter().any(|f| {
                    f.field == "enabled" && f.after == Some(Value::Bool(true))
                });
                if tc.approval.status == Status::Approved
                    && t.enabled
                    && (tc.approval.write.is_some() || enabled_now)
                {
                    caps.runnable.push(format!("{} {words}", code(&c.key)));
                }
                if tc.approval.write == Some(ApprovalWrite::SubmitForReview) {
                    caps.review.push(format!("{} {words}", code(&c.key)));
                }
            }
            _ => {}
        }
    }
    caps
}

fn summary_table(out: &mut String, plan: &Plan, ctx: &PrContext, lists: &mut Lists) {
    let s = &plan.summary;
    let caps = capabilities(plan);
    let _ = writeln!(out, "| | count | what |");
    let _ = writeln!(out, "|---|---:|---|");
    let mut row = |what: &str, n: usize, items: &[String], lists: &mut Lists| {
        let _ = writeln!(out, "| {what} | {n} | {} |", lists.cell(items));
    };
    if s.destroy > 0 {
        let total = cascade_words(&caps.cascade)
            .map(|w| format!("**also deletes {w}**<br>"))
            .unwrap_or_default();
        let _ = writeln!(
            out,
            "| ⚠️ **to destroy** | **{}** | {total}{} |",
            s.destroy,
            lists.cell(&caps.destroys)
        );
    } else {
        row("to destroy", 0, &[], lists);
    }
    row("to add", s.add, &[], lists);
    row("to change", s.change, &[], lists);
    row("to adopt", s.adopt, &[], lists);
    row(
        "🔓 tools that become runnable",
        caps.runnable.len(),
        &caps.runnable,
        lists,
    );
    row(
        "🕵️ tools needing review",
        caps.review.len(),
        &caps.review,
        lists,
    );
    let pins: Vec<String> = ctx.pins_in_range.iter().map(|k| code(k)).collect();
    if !pins.is_empty() {
        row("🔏 approval pins changed in this PR", pins.len(), &pins, lists);
    }
    row("🌐 new network hosts", caps.hosts.len(), &caps.hosts, lists);
    row("📦 new modules", caps.modules.len(), &caps.modules, lists);
    row(
        "🔑 new secret placeholders",
        caps.secrets.len(),
        &caps.secrets,
        lists,
    );
    row(
        "🔐 secret values written",
        caps.values.len(),
        &caps.values,
        lists,
    );
    out.push('\n');
}

fn outside(out: &mut String, ctx: &PrContext, lists: &mut Lists) {
    let Some(outside) = ctx.outside else { return };
    let base = ctx.base.map(code).unwrap_or_else(|| "BASE".to_string());
    if !outside.has_changes() {
        let _ = writeln!(
            out,
            "✅ The database matches the base revision {base}: applying this PR makes only the changes below.\n"
        );
        return;
    }
    let mut items: Vec<String> = outside.changes.iter().map(outside_line).collect();
    items.extend(outside.caches.iter().map(cache_line));
    let _ = writeln!(out, "#### ⚠️ Changes outside this PR\n");
    let _ = writeln!(
        out,
        "The database differs from the base revision {base}: drift made in MCPBox, or another PR merged first. \
         Applying this PR would **also** do the following, which is not in this PR's diff — make sure none of it \
         reverts someone else's work (rebase onto the latest base branch and re-plan if in doubt):\n"
    );
    out.push_str(&lists.bullets(&items));
    out.push('\n');
}

fn outside_line(c: &Change) -> String {
    let fields = if c.fields.is_empty() {
        String::new()
    } else {
        let names: Vec<&str> = c.fields.iter().map(|f| f.field.as_str()).collect();
        format!(": {}", html(&names.join(", ")))
    };
    let reason = c
        .reason
        .as_ref()
        .map(|r| format!(" — {}", html(r)))
        .unwrap_or_default();
    format!(
        "{} {} {} {}{fields}{reason}",
        code(c.action.symbol()),
        verb(c.action),
        c.kind.as_str(),
        code(&c.key)
    )
}

fn cache_line(c: &crate::plan::CacheChange) -> String {
    let name = match &c.server {
        Some(s) => format!("{} of {}", code("servers.allowed_hosts"), code(s)),
        None => code("global_config.allowed_modules"),
    };
    let mut parts: Vec<String> = c.added.iter().map(|a| code(&format!("+{a}"))).collect();
    parts.extend(c.removed.iter().map(|r| code(&format!("-{r}"))));
    if parts.is_empty() {
        parts.push("(row created, same entries)".into());
    }
    format!("{name}: {}", parts.join(" "))
}

fn notes(out: &mut String, plan: &Plan, lists: &mut Lists) {
    let mut items: Vec<String> = plan
        .kept
        .iter()
        .map(|k| format!("{} left git but is kept (prune is off)", html(k)))
        .collect();
    items.extend(plan.notes.iter().map(|n| html(n)));
    if !items.is_empty() {
        let _ = writeln!(out, "#### Notes\n");
        out.push_str(&lists.bullets(&items));
        out.push('\n');
    }
    if !plan.caches.is_empty() {
        let items: Vec<String> = plan.caches.iter().map(cache_line).collect();
        let _ = writeln!(
            out,
            "<details><summary>Caches MCPBox's sync helpers recompute ({})</summary>\n",
            items.len()
        );
        out.push_str(&lists.bullets(&items));
        let _ = writeln!(out, "\n</details>\n");
    }
}

/// One object, rendered both ways.
struct Block {
    /// `<details>` with the one-line summary and the body.
    full: String,
    /// The one-line summary alone, as a list item (details dropped).
    item: String,
}

/// One block per change, deletes first (like the text renderer).
fn objects(plan: &Plan, ctx: &PrContext) -> Vec<Block> {
    let deletes = plan.changes.iter().filter(|c| c.action == Action::Delete);
    let others = plan.changes.iter().filter(|c| c.action != Action::Delete);
    deletes
        .chain(others)
        .map(|c| {
            let line = summary_line(c, ctx);
            Block {
                full: format!(
                    "<details><summary>{line}</summary>\n\n{}\n</details>\n\n",
                    body(c, ctx)
                ),
                item: format!("- {line}\n"),
            }
        })
        .collect()
}

fn summary_line(c: &Change, ctx: &PrContext) -> String {
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
        code(c.action.symbol()),
        c.kind.as_str(),
        code(&c.key)
    );
    if let Some(tc) = &c.tool {
        let _ = write!(line, " · approval: {}", html(&approval_words(tc)));
    }
    if pin_in_range(c, ctx) {
        line.push_str(" · 🔏 pin changed in this PR");
    }
    line
}

fn pin_in_range(c: &Change, ctx: &PrContext) -> bool {
    c.kind == Kind::Tool && ctx.pins_in_range.contains(&c.key)
}

fn body(c: &Change, ctx: &PrContext) -> String {
    let mut out = String::new();
    if let Some(r) = &c.reason {
        let _ = writeln!(out, "> {}\n", html(r));
    }
    if let Some(tc) = &c.tool {
        let _ = writeln!(out, "**approval:** {}\n", html(&tc.approval.reason));
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
            let secret = c.kind == Kind::Secret;
            for f in &c.fields {
                if f.field == "python_code" {
                    let old = f.before.as_ref().and_then(Value::as_str).unwrap_or("");
                    let new = f.after.as_ref().and_then(Value::as_str).unwrap_or("");
                    let _ = writeln!(diff, " python_code:");
                    code_diff(&mut diff, old, new);
                    continue;
                }
                for (sym, v) in [("-", &f.before), ("+", &f.after)] {
                    if let Some(v) = v {
                        let _ = writeln!(diff, "{sym} {}: {}", f.field, field_value(secret, &f.field, v));
                    }
                }
            }
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
fn hidden_fields(c: &Change) -> usize {
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
fn all_fields(out: &mut String, sym: &str, obj: &Object) {
    let Ok(Value::Object(map)) = serde_json::to_value(obj) else {
        return;
    };
    let secret = obj.kind() == Kind::Secret;
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
                let _ = writeln!(out, " python_code:");
                code_diff(out, "", code);
            } else {
                let n = code.lines().count();
                let _ = writeln!(out, "{sym} python_code: ({n} line{})", plural(n));
            }
            continue;
        }
        let _ = writeln!(out, "{sym} {k}: {}", field_value(secret, k, v));
    }
}

/// A field's value on one line; a secret's `value` only ever as its label.
fn field_value(secret: bool, field: &str, v: &Value) -> String {
    match v {
        Value::String(s) if secret && field == "value" => label_only(s),
        Value::String(s) => serde_json::to_string(s).unwrap_or_default(),
        other => other.to_string(),
    }
}

/// Changed hunks only, with 3 lines of context: never the whole file.
fn code_diff(out: &mut String, old: &str, new: &str) {
    let diff = TextDiff::from_lines(old, new);
    let unified = diff.unified_diff().context_radius(3).to_string();
    for line in unified.lines() {
        let _ = writeln!(out, "{line}");
    }
}

/// A code fence longer than any run of backticks in the content.
fn fence_for(content: &str) -> String {
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

/// The approval outcome in the reviewer's words.
fn approval_words(tc: &ToolChange) -> String {
    let d = &tc.approval;
    match (&d.write, d.status) {
        (Some(ApprovalWrite::Approve { by }), _) if by == AUTO_APPROVE_BY => {
            "approved (MCPBox auto_approve mode)".to_string()
        }
        (Some(ApprovalWrite::Approve { by }), _) => format!("approved (pinned by {by})"),
        // The decision carries no structured "stale pin" flag; its reason is
        // worded by `rules::approval::decide`, which says "pin is stale" exactly
        // when approvals.yaml pins another content hash.
        (Some(ApprovalWrite::SubmitForReview), _) if d.reason.contains("pin is stale") => {
            "pending review — pin stale".to_string()
        }
        (Some(ApprovalWrite::SubmitForReview), _) => "pending review".to_string(),
        (None, Status::Approved) => "approved (unchanged)".to_string(),
        (None, Status::PendingReview) => "pending review (unchanged)".to_string(),
        (None, Status::Rejected) => "rejected in MCPBox (unchanged)".to_string(),
        (None, Status::Draft) => "draft (unchanged)".to_string(),
    }
}

/// The label a secret's `value` field carries, if any (never a value: the model
/// holds labels only, and anything else is shown as `(redacted)`).
fn value_label(obj: &Object) -> Option<String> {
    let v = serde_json::to_value(obj).ok()?;
    v.get("value").and_then(Value::as_str).map(label_only)
}

/// A label such as `(from env X)` as it is; anything else as `(redacted)`.
fn label_only(s: &str) -> String {
    let label = s.starts_with('(') && s.ends_with(')') && !s.contains('\n') && s.len() <= 200;
    if label {
        s.to_string()
    } else {
        "(redacted)".to_string()
    }
}

/// Whether a label means apply writes or clears the value (`crate::values`).
fn writes_value(label: &str) -> bool {
    label.starts_with("(from ") || label.starts_with("(changed, from ") || label == "(cleared)"
}

fn add_cascade(total: &mut Cascade, c: &Cascade) {
    total.tools += c.tools;
    total.secrets += c.secrets;
    total.versions += c.versions;
    total.requests += c.requests;
    total.execution_logs += c.execution_logs;
    total.sources += c.sources;
    total.activity_logs += c.activity_logs;
}

/// `2 tools, 1 secret, …`, or None when nothing cascades.
fn cascade_words(c: &Cascade) -> Option<String> {
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

fn verb(a: Action) -> &'static str {
    match a {
        Action::Adopt => "adopt",
        Action::Create => "create",
        Action::Update => "update",
        Action::Delete => "destroy",
    }
}

fn plural(n: usize) -> &'static str {
    if n == 1 {
        ""
    } else {
        "s"
    }
}

/// The truncation note, or nothing when everything is shown.
fn note(ctx: &PrContext, hidden: usize, unlisted: usize, capped: bool) -> String {
    if hidden == 0 && !capped {
        return String::new();
    }
    let limit = if ctx.max_chars == GITHUB_COMMENT_LIMIT {
        "GitHub's 65,536-character comment limit".to_string()
    } else {
        format!("the {}-character comment limit", thousands(ctx.max_chars))
    };
    let mut s = format!("\n> ⚠️ Plan truncated to fit {limit}: ");
    if hidden > 0 {
        let _ = write!(s, "{hidden} object{} not shown.", plural(hidden));
        if unlisted < hidden {
            let _ = write!(
                s,
                " The first {} of them are listed above without their details.",
                hidden - unlisted
            );
        }
    }
    if capped {
        s.push_str(" Long lists above are shortened.");
    }
    match ctx.artifact {
        Some(a) => {
            let _ = write!(s, " The full plan is in {}.", html(a));
        }
        None => s.push_str(" Run `mcpbox-gitops plan --format json` for the full plan."),
    }
    s.push_str("\n\n");
    s
}

fn thousands(n: usize) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, ch) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(ch);
    }
    out
}

fn footer(plan: &Plan) -> String {
    format!(
        "<sub>mcpbox-gitops {} · plan format {}</sub>\n",
        html(&plan.tool_version),
        plan.format_version
    )
}

/// Inline HTML code: safe in table cells, `<summary>` and running text.
fn code(s: &str) -> String {
    format!("<code>{}</code>", html(s))
}

/// Escapes text for inline use in markdown and HTML: HTML's specials, markdown's
/// emphasis, link, code, table and escape characters become entities (which
/// neither language interprets), and line breaks become spaces.
fn html(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for ch in s.chars() {
        match ch {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            '`' => out.push_str("&#96;"),
            '|' => out.push_str("&#124;"),
            '*' => out.push_str("&#42;"),
            '_' => out.push_str("&#95;"),
            '[' => out.push_str("&#91;"),
            ']' => out.push_str("&#93;"),
            '\\' => out.push_str("&#92;"),
            '~' => out.push_str("&#126;"),
            '\n' | '\r' => out.push(' '),
            other => out.push(other),
        }
    }
    out
}
