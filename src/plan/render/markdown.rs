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

use super::super::{Action, Cascade, Change, Plan, ToolChange};
use crate::infer::compare::{Capability, Usage};
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
    /// [`GITHUB_COMMENT_LIMIT`] for GitHub. Object details go first, then object
    /// lines, then list entries of the summary; only a limit too small for the
    /// shortest summary (about 2,000 characters) cuts the text itself.
    pub max_chars: usize,
    /// Where the full JSON plan is (e.g. `plan.json artifact`), named in the
    /// truncation note.
    pub artifact: Option<&'a str>,
    /// The PR changes `mcpbox-gitops.yaml`: the plan used BASE's policy, and this
    /// says what changes after merge.
    pub policy_change: Option<&'a PolicyChange>,
    /// The database planned against, as `host:port/database` (never a user or
    /// password); `None` when no database was given.
    pub database: Option<&'a str>,
}

/// A policy file changed by the pull request.
#[derive(Debug, Clone, Default)]
pub struct PolicyChange {
    /// Unified diff of the policy as BASE and HEAD read (normalised YAML).
    pub diff: String,
    /// What the plan would say differently under HEAD's policy, one line each
    /// (e.g. a tool approved by a pin this policy now accepts).
    pub after_merge: Vec<String>,
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
            policy_change: None,
            database: None,
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
        let more = match self.cap {
            0 => format!("({} not listed here)", items.len()),
            cap => format!("… and {} more", items.len() - cap),
        };
        (&items[..self.cap], Some(more))
    }

    /// The entries that fit, joined by `sep`.
    fn join(&mut self, items: &[String], sep: &str) -> String {
        let (shown, more) = self.take(items);
        let mut parts: Vec<String> = shown.to_vec();
        parts.extend(more);
        parts.join(sep)
    }

    /// Entries separated by spaces (one line of a list).
    fn inline(&mut self, items: &[String]) -> String {
        self.join(items, " ")
    }

    /// A table cell: entries separated by `<br>`.
    fn cell(&mut self, items: &[String]) -> String {
        self.join(items, "<br>")
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
    needed_not_granted(&mut out, plan, lists);
    quarantine(&mut out, plan, lists);
    policy(&mut out, ctx, lists);
    outside(&mut out, ctx, lists);
    notes(&mut out, plan, lists);
    if !plan.changes.is_empty() {
        let n = plan.changes.len();
        let first = if plan.summary.destroy > 0 {
            ", destroys first"
        } else {
            ""
        };
        let _ = writeln!(out, "#### Changes by object ({n}{first})\n");
    }
    out
}

fn heading(out: &mut String, plan: &Plan, ctx: &PrContext) {
    let s = &plan.summary;
    if plan.has_changes() {
        let warn = if s.destroy > 0 { "⚠️ " } else { "" };
        let _ = writeln!(out, "### {warn}mcpbox-gitops plan: {}\n", s.tally());
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
    let db = match (plan.against_database, ctx.database) {
        (true, Some(name)) => format!("planned against {}", code(name)),
        (true, None) => "planned against the database".to_string(),
        (false, _) => "planned against an empty MCPBox (no database given)".to_string(),
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
    /// "used by" of each entry of `hosts`, in the same order.
    hosts_used: Vec<String>,
    modules: Vec<String>,
    /// "used by" of each entry of `modules`, in the same order.
    modules_used: Vec<String>,
    secrets: Vec<String>,
    values: Vec<String>,
    sources: Vec<String>,
    tunnels: Vec<String>,
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
        let granted = c.action == Action::Create || c.fields.iter().any(|f| f.field == "status");
        match &c.after {
            Some(Object::Network(n)) if granted => {
                let port = n.port.map(|p| format!(":{p}")).unwrap_or_default();
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
                let grant = Capability::Host {
                    host: n.host.clone(),
                    port: n.port.and_then(|p| u16::try_from(p).ok()),
                };
                caps.hosts_used.push(used_by(
                    plan.least_privilege.usage(Some(&n.server), &grant),
                    true,
                ));
            }
            Some(Object::Module(m)) if granted => {
                caps.modules.push(code(&m.name));
                let grant = Capability::Module {
                    name: m.name.clone(),
                };
                caps.modules_used
                    .push(used_by(plan.least_privilege.usage(None, &grant), false));
            }
            Some(obj @ Object::Secret(_)) => {
                if c.action == Action::Create {
                    caps.secrets.push(code(&c.key));
                }
                if let Some(label) = value_label(obj).filter(|l| writes_value(l)) {
                    caps.values
                        .push(format!("{} {}", code(&c.key), html(&label)));
                }
            }
            Some(obj @ (Object::Setting(_) | Object::Tunnel(_))) => {
                if let Some(label) = value_label(obj).filter(|l| writes_value(l)) {
                    let what = format!("{} {}", c.kind.as_str(), c.key);
                    caps.values
                        .push(format!("{} {}", code(&what), html(&label)));
                }
                if let Object::Tunnel(t) = obj {
                    let activates =
                        c.action == Action::Create || c.fields.iter().any(|f| f.field == "active");
                    if t.active && activates {
                        let url = t.public_url.as_deref().map(|u| format!(" at {}", code(u)));
                        caps.tunnels
                            .push(format!("{}{}", code(&t.name), url.unwrap_or_default()));
                    }
                }
            }
            // A new or re-pointed source: the sandbox will call this URL and send
            // the named secret's value to it.
            Some(Object::Source(src))
                if c.action == Action::Create
                    || c.fields.iter().any(|f| {
                        matches!(
                            f.field.as_str(),
                            "url" | "auth_type" | "auth_secret" | "auth_header"
                        )
                    }) =>
            {
                let sends = src
                    .auth_secret
                    .as_deref()
                    .map(|s| format!(", sends secret {}", code(s)))
                    .unwrap_or_default();
                caps.sources.push(format!(
                    "{} → {} ({} auth{sends})",
                    code(&c.key),
                    code(&src.url),
                    html(src.auth_type.label())
                ));
            }
            Some(Object::Tool(t)) => {
                let Some(tc) = &c.tool else { continue };
                let words = html(&approval_words(tc));
                // Runnable after apply: approved and enabled, and either the
                // approval or the enabled flag is what this plan writes.
                let enabled_now = c
                    .fields
                    .iter()
                    .any(|f| f.field == "enabled" && f.after == Some(Value::Bool(true)));
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
    let pins: Vec<String> = ctx.pins_in_range.iter().map(|k| code(k)).collect();
    let _ = writeln!(out, "| | count | what | used by |");
    let _ = writeln!(out, "|---|---:|---|---|");
    if s.destroy > 0 {
        let total = cascade_words(&caps.cascade)
            .map(|w| format!("**also deletes {w}**<br>"))
            .unwrap_or_default();
        let _ = writeln!(
            out,
            "| ⚠️ **to destroy** | **{}** | {total}{} | |",
            s.destroy,
            lists.cell(&caps.destroys)
        );
    } else {
        let _ = writeln!(out, "| to destroy | 0 | | |");
    }
    for (what, n) in [
        ("to add", s.add),
        ("to change", s.change),
        ("to adopt", s.adopt),
    ] {
        let _ = writeln!(out, "| {what} | {n} | | |");
    }
    let none: &[String] = &[];
    let mut rows: Vec<(&str, &[String], &[String])> = vec![
        ("🔓 tools that become runnable", &caps.runnable, none),
        ("🕵️ tools needing review", &caps.review, none),
    ];
    // Only a PR that changes pins has this row.
    if !pins.is_empty() {
        rows.push(("🔏 approval pins changed in this PR", &pins, none));
    }
    rows.extend([
        (
            "🌐 new network hosts",
            caps.hosts.as_slice(),
            caps.hosts_used.as_slice(),
        ),
        ("📦 new modules", &caps.modules, &caps.modules_used),
        ("🔑 new secret placeholders", &caps.secrets, none),
        ("🔐 secret values written", &caps.values, none),
    ]);
    // Only plans that touch external sources or tunnels have these rows.
    if !caps.sources.is_empty() {
        rows.push(("🔌 external MCP servers called", &caps.sources, none));
    }
    if !caps.tunnels.is_empty() {
        rows.push(("🚇 tunnel becoming active", &caps.tunnels, none));
    }
    for (what, items, used) in rows {
        // `used` is parallel to `items`: the same cap keeps the lines aligned.
        let _ = writeln!(
            out,
            "| {what} | {} | {} | {} |",
            items.len(),
            lists.cell(items),
            lists.cell(used)
        );
    }
    out.push('\n');
}

/// The hosts (by server) and modules this plan grants, as the summary table
/// lists them.
fn new_grants(plan: &Plan) -> BTreeSet<(Option<String>, Capability)> {
    plan.changes
        .iter()
        .filter(|c| {
            c.action != Action::Delete
                && (c.action == Action::Create || c.fields.iter().any(|f| f.field == "status"))
        })
        .filter_map(|c| match &c.after {
            Some(Object::Network(n)) => Some((
                Some(n.server.clone()),
                Capability::Host {
                    host: n.host.clone(),
                    port: n.port.and_then(|p| u16::try_from(p).ok()),
                },
            )),
            Some(Object::Module(m)) => Some((
                None,
                Capability::Module {
                    name: m.name.clone(),
                },
            )),
            _ => None,
        })
        .collect()
}

/// Most tools named in one "used by" entry; the rest are counted.
const MAX_USED_BY: usize = 5;

/// The "used by" entry of one granted host or module: the tools whose code uses
/// it (tool names alone for a server's host, `server/tool` for a global module),
/// the tools that may (dynamic uses), or a warning that nothing does.
fn used_by(usage: Option<&Usage>, same_server: bool) -> String {
    let Some(u) = usage else {
        return "—".to_string();
    };
    let name = |k: &String| {
        let shown = if same_server {
            k.split_once('/').map_or(k.as_str(), |(_, t)| t)
        } else {
            k.as_str()
        };
        code(shown)
    };
    let list = |keys: &[String]| {
        let mut parts: Vec<String> = keys.iter().take(MAX_USED_BY).map(name).collect();
        if keys.len() > MAX_USED_BY {
            parts.push(format!("and {} more", keys.len() - MAX_USED_BY));
        }
        parts.join(", ")
    };
    match (u.tools.is_empty(), u.dynamic_tools.is_empty()) {
        (false, true) => list(&u.tools),
        (false, false) => format!(
            "{}; maybe {} (dynamic)",
            list(&u.tools),
            list(&u.dynamic_tools)
        ),
        (true, false) => format!("maybe {} (dynamic)", list(&u.dynamic_tools)),
        (true, true) => "⚠️ none".to_string(),
    }
}

/// Uses of hosts and modules the manifests do not grant: each fails at run time
/// in MCPBox's sandbox. Shown whether or not the plan changes anything.
fn needed_not_granted(out: &mut String, plan: &Plan, lists: &mut Lists) {
    let missing = &plan.least_privilege.needed_not_granted;
    if missing.is_empty() {
        return;
    }
    let items: Vec<String> = missing
        .iter()
        .map(|m| {
            format!(
                "{} {}: {}",
                code(&format!(
                    "{}:{}:{}",
                    m.place.file, m.place.line, m.place.column
                )),
                code(&m.tool),
                prose(&m.message)
            )
        })
        .collect();
    let _ = writeln!(
        out,
        "#### ⚠️ Code needs what the manifests do not grant ({})\n",
        items.len()
    );
    out.push_str(&lists.bullets(&items));
    out.push('\n');
}

/// Tools quarantined because their code changed in MCPBox outside git.
fn quarantine(out: &mut String, plan: &Plan, lists: &mut Lists) {
    if plan.quarantine.is_empty() {
        return;
    }
    let items: Vec<String> = plan
        .quarantine
        .iter()
        .map(|q| format!("{}: {}", code(q.tool()), prose(&q.to_string())))
        .collect();
    let held = plan.quarantine.iter().filter(|q| q.holds()).count();
    let _ = writeln!(out, "#### 🚨 Quarantined tools ({held})\n");
    out.push_str(&lists.bullets(&items));
    if held > 0 {
        let _ = writeln!(
            out,
            "\n{}\n",
            prose(&format!("{}.", crate::rules::quarantine::HOW_TO_DECIDE))
        );
    } else {
        out.push('\n');
    }
}

/// A PR that changes the reconciler's own policy: it did not apply to this plan
/// (BASE's did), so the reviewer must see the change and what it will do.
fn policy(out: &mut String, ctx: &PrContext, lists: &mut Lists) {
    let Some(change) = ctx.policy_change else {
        return;
    };
    let _ = writeln!(out, "#### ⚠️ This PR changes the reconciler's policy\n");
    let _ = writeln!(
        out,
        "This plan was made under BASE's <code>mcpbox-gitops.yaml</code>; the change below takes effect once merged, for the apply of this very merge too.\n"
    );
    let fence = fence_for(&change.diff);
    let _ = writeln!(out, "{fence}diff\n{}{fence}\n", change.diff);
    if !change.after_merge.is_empty() {
        let items: Vec<String> = change.after_merge.iter().map(|l| html(l)).collect();
        let _ = writeln!(
            out,
            "Under the new policy, applying the merge would differ:\n"
        );
        out.push_str(&lists.bullets(&items));
        out.push('\n');
    }
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
    // Deletes first, as everywhere.
    let deletes = outside
        .changes
        .iter()
        .filter(|c| c.action == Action::Delete);
    let others = outside
        .changes
        .iter()
        .filter(|c| c.action != Action::Delete);
    let mut items: Vec<String> = deletes.chain(others).map(outside_line).collect();
    for c in &outside.caches {
        items.push(cache_line(c, lists));
    }
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
        .map(|r| format!(" — {}", prose(r)))
        .unwrap_or_default();
    format!(
        "{} {} {} {}{fields}{reason}",
        symbol(c.action),
        verb(c.action),
        c.kind.as_str(),
        code(&c.key)
    )
}

fn cache_line(c: &crate::plan::CacheChange, lists: &mut Lists) -> String {
    let name = match &c.server {
        Some(s) => format!("{} of {}", code("servers.allowed_hosts"), code(s)),
        None => code("global_config.allowed_modules"),
    };
    let mut parts: Vec<String> = c.added.iter().map(|a| code(&format!("+{a}"))).collect();
    parts.extend(c.removed.iter().map(|r| code(&format!("-{r}"))));
    if parts.is_empty() {
        parts.push("(row created, same entries)".into());
    }
    format!("{name}: {}", lists.inline(&parts))
}

fn notes(out: &mut String, plan: &Plan, lists: &mut Lists) {
    let mut items: Vec<String> = plan
        .kept
        .iter()
        .map(|k| format!("{} left git but is kept (prune is off)", html(k)))
        .collect();
    items.extend(plan.notes.iter().map(|n| prose(n)));
    // Grants nothing uses, and uses only the run can tell: one entry each,
    // their lists shortened like the others.
    let lp = &plan.least_privilege;
    // Grants this plan creates say "⚠️ none" in the table already.
    let in_table = if plan.has_changes() {
        new_grants(plan)
    } else {
        BTreeSet::new()
    };
    let unused: Vec<String> = lp
        .granted_not_used
        .iter()
        .filter(|u| !in_table.contains(&(u.server.clone(), u.capability.clone())))
        .map(|u| {
            let server = u
                .server
                .as_ref()
                .map(|s| format!(" of {}", code(s)))
                .unwrap_or_default();
            format!(
                "{}{server} ({})",
                code(&u.capability.to_string()),
                code(&format!("{}:{}", u.place.file, u.place.line))
            )
        })
        .collect();
    if !unused.is_empty() {
        items.push(format!(
            "Granted, but no tool appears to use it — consider removing: {}",
            lists.join(&unused, ", ")
        ));
    }
    if !lp.dynamic.is_empty() {
        let dynamic: Vec<String> = lp
            .dynamic
            .iter()
            .map(|d| {
                format!(
                    "{} ({} {}, {})",
                    code(&d.tool),
                    html(&d.what),
                    prose(&d.why),
                    code(&format!(
                        "{}:{}:{}",
                        d.place.file, d.place.line, d.place.column
                    ))
                )
            })
            .collect();
        items.push(format!(
            "Hosts or modules only the run knows, not checked: {}",
            lists.join(&dynamic, ", ")
        ));
    }
    if !items.is_empty() {
        let _ = writeln!(out, "#### Notes\n");
        out.push_str(&lists.bullets(&items));
        out.push('\n');
    }
    if !plan.caches.is_empty() {
        let items: Vec<String> = plan.caches.iter().map(|c| cache_line(c, lists)).collect();
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
                    "<details><summary>{line}</summary>\n\n{}\n\n</details>\n\n",
                    body(c, ctx).trim_end()
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

fn pin_in_range(c: &Change, ctx: &PrContext) -> bool {
    c.kind == Kind::Tool && ctx.pins_in_range.contains(&c.key)
}

fn body(c: &Change, ctx: &PrContext) -> String {
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
                if f.field == "python_code" {
                    let old = f.before.as_ref().and_then(Value::as_str).unwrap_or("");
                    let new = f.after.as_ref().and_then(Value::as_str).unwrap_or("");
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
fn field_value(secret: bool, field: &str, v: &Value) -> String {
    match v {
        Value::String(s) if secret && (field == "value" || field == "token") => label_only(s),
        Value::String(s) => serde_json::to_string(s).unwrap_or_default(),
        other => other.to_string(),
    }
}

/// Changed hunks only, with 3 lines of context: never the whole file.
fn code_diff(out: &mut String, old: &str, new: &str) {
    super::code_diff(out, old, new, "");
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
        (Some(ApprovalWrite::SubmitForReview), _) if d.stale_pin => {
            "pending review — pin stale".to_string()
        }
        (Some(ApprovalWrite::SubmitForReview), _) => "pending review".to_string(),
        (None, Status::Approved) => "approved (unchanged)".to_string(),
        (None, Status::PendingReview) => "pending review (unchanged)".to_string(),
        (None, Status::Rejected) => "rejected in MCPBox (unchanged)".to_string(),
        (None, Status::Draft) => "draft (unchanged)".to_string(),
    }
}

/// The label of a secret's value, if it has one. The model holds labels only
/// (`crate::values`); anything else is shown as `(redacted)` all the same.
fn value_label(obj: &Object) -> Option<String> {
    match obj {
        Object::Secret(s) => s.value.as_deref().map(label_only),
        Object::Tunnel(t) => t.token.as_deref().map(label_only),
        // A plain setting's value is not secret; an encrypted one is a label.
        Object::Setting(s) => s
            .value
            .as_deref()
            .filter(|v| v.starts_with('('))
            .map(label_only),
        _ => None,
    }
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

/// Whether a label means apply writes or clears the value.
fn writes_value(label: &str) -> bool {
    crate::values::writes_value(Some(label)) || label == crate::values::CLEARED
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

/// Terraform's symbol as inline code; a fixed string, so nothing to escape.
fn symbol(a: Action) -> String {
    format!("<code>{}</code>", a.symbol())
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
        match hidden - unlisted {
            0 => {}
            listed if unlisted == 0 => {
                let them = if listed == 1 { "It is" } else { "They are" };
                let _ = write!(s, " {them} listed above without details.");
            }
            listed => {
                let _ = write!(
                    s,
                    " The first {listed} of them are listed above without details."
                );
            }
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
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
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

/// A sentence of ours that marks commands with backticks: the marked spans
/// become `<code>` (so GitHub shows them as code, not as escaped backticks),
/// the rest is escaped as [`html`]. Unbalanced backticks are text.
fn prose(s: &str) -> String {
    let parts: Vec<&str> = s.split('`').collect();
    if parts.len().is_multiple_of(2) {
        return html(s);
    }
    parts
        .iter()
        .enumerate()
        .map(|(i, p)| if i % 2 == 1 { code(p) } else { html(p) })
        .collect()
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
    let mut chars = s.chars().peekable();
    let mut prev = None;
    while let Some(ch) = chars.next() {
        match ch {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            '`' => out.push_str("&#96;"),
            '|' => out.push_str("&#124;"),
            '*' => out.push_str("&#42;"),
            '_' if !intraword(prev, chars.peek().copied()) => out.push_str("&#95;"),
            '[' => out.push_str("&#91;"),
            ']' => out.push_str("&#93;"),
            '\\' => out.push_str("&#92;"),
            '~' => out.push_str("&#126;"),
            // `@name` in a PR comment would notify that user or team.
            '@' => out.push_str("&#64;"),
            '\n' | '\r' => out.push(' '),
            // Other controls and direction overrides, visibly escaped.
            other => out.push_str(&crate::escape::text(other.encode_utf8(&mut [0; 4]))),
        }
        prev = Some(ch);
    }
    out
}

/// An underscore between two alphanumerics never opens or closes emphasis
/// (CommonMark's flanking rules), so `list_issues` stays readable.
fn intraword(prev: Option<char>, next: Option<char>) -> bool {
    prev.is_some_and(char::is_alphanumeric) && next.is_some_and(char::is_alphanumeric)
}

#[cfg(test)]
mod tests {
    use std::collections::{BTreeMap, BTreeSet};

    use uuid::Uuid;

    use super::*;
    use crate::desired::{self, DesiredState};
    use crate::source::FileSet;
    use crate::state::{
        ActualState, ModuleRow, NetworkRow, Owned, SecretRow, ServerCascade, ServerRow, SettingRow,
        ToolCascade, ToolRow,
    };

    const HEAD: &str = "git:1a2b3c4d5e6f (HEAD)";
    const BASE: &str = "git:0f0e0d0c0b0a (main)";

    const SERVER: &str = "apiVersion: mcpbox/v1
kind: Server
metadata: {name: github}
spec:
  description: GitHub helpers
  secrets:
    - {name: GITHUB_TOKEN, description: a PAT, valueFrom: {env: GITHUB_TOKEN}}
  network:
    - {host: api.github.com, port: 443, justification: REST API, tool: list_issues}
    - {host: raw.githubusercontent.com, justification: raw files}
";

    const LIST_ISSUES: &str = "apiVersion: mcpbox/v1
kind: Tool
metadata: {name: list_issues, server: github}
spec:
  description: List issues
  codeFile: list_issues.py
";

    const SEARCH: &str = "apiVersion: mcpbox/v1
kind: Tool
metadata: {name: search, server: github}
spec:
  description: Search code
  codeFile: search.py
";

    const MODULES: &str = "apiVersion: mcpbox/v1
kind: Modules
metadata: {name: platform}
spec:
  modules:
    - {name: defusedxml, justification: safe XML parsing}
";

    const CODE: &str = "async def main(repo: str):\n    return await http.get(f\"https://api.github.com/repos/{repo}/issues\")\n";
    const SEARCH_CODE: &str = "async def main(q: str):\n    return q\n";

    fn build(files: &[(&str, &str)]) -> DesiredState {
        let mut set = FileSet::empty("test-repo");
        for (p, t) in files {
            set.insert(*p, t.as_bytes());
        }
        desired::build(&set).unwrap_or_else(|d| panic!("invalid test repo: {d:#?}"))
    }

    /// `files` plus an `approvals.yaml` pinning `pins` (tool key, approver) at
    /// their content in `files`.
    fn with_pins(files: &[(&str, &str)], pins: &[(&str, &str)]) -> DesiredState {
        let unpinned = build(files);
        let mut yaml = String::from("approvals:\n");
        for (key, by) in pins {
            let Some(Object::Tool(t)) = unpinned.objects.get(&(Kind::Tool, key.to_string())) else {
                panic!("no tool {key}")
            };
            yaml.push_str(&format!(
                "  - tool: {key}\n    sha256: {}\n    approvedBy: {}\n",
                t.content_hash(),
                serde_json::to_string(by).unwrap()
            ));
        }
        let mut all = files.to_vec();
        all.push(("approvals.yaml", &yaml));
        build(&all)
    }

    /// MCPBox right after `d` was applied: one owned row per object, approvals as
    /// the pins say, one version per tool, caches in sync.
    fn applied(d: &DesiredState) -> ActualState {
        let mut a = ActualState {
            connected: true,
            ..Default::default()
        };
        let mut next = 0u128;
        let mut id = || {
            next += 1;
            Uuid::from_u128(next)
        };
        let mut servers: BTreeMap<String, Uuid> = BTreeMap::new();
        let mut tools: BTreeMap<String, Uuid> = BTreeMap::new();
        let mut modules = Vec::new();
        // Servers and tools first: the other rows hang off their ids.
        for ((kind, key), obj) in &d.objects {
            let row = id();
            let mut pin = None;
            match obj {
                Object::Server(s) => {
                    servers.insert(s.name.clone(), row);
                    a.servers.push(ServerRow {
                        id: row,
                        obj: s.clone(),
                        status: "running".into(),
                        allowed_hosts: Vec::new(),
                        cascade: ServerCascade::default(),
                    });
                }
                Object::Tool(t) => {
                    tools.insert(t.key(), row);
                    let p = d.pins.get(key).filter(|p| p.sha256 == t.content_hash());
                    pin = p.map(|p| p.identity());
                    a.tools.push(ToolRow {
                        id: row,
                        server_id: Uuid::nil(),
                        obj: t.clone(),
                        current_version: 1,
                        approval_status: if p.is_some() {
                            Status::Approved
                        } else {
                            Status::PendingReview
                        },
                        approval_requested_at: None,
                        approved_at: None,
                        approved_by: p.map(|p| p.approved_by.clone()),
                        rejection_reason: None,
                        created_by: None,
                        publish_notes: None,
                        external_source_id: None,
                        updated_at: chrono::DateTime::UNIX_EPOCH,
                        cascade: ToolCascade {
                            versions: 1,
                            requests: 0,
                            execution_logs: 0,
                        },
                    });
                }
                _ => continue,
            }
            a.ownership.insert(
                (*kind, key.clone()),
                Owned {
                    row_id: row,
                    applied_hash: obj.hash(),
                    pin,
                    owner: None,
                },
            );
        }
        for t in &mut a.tools {
            t.server_id = servers[&t.obj.server];
        }
        for ((kind, key), obj) in &d.objects {
            let row = id();
            match obj {
                Object::Secret(s) => {
                    // A valueFrom secret holds a value once applied.
                    let has_value = d.value_sources.contains_key(key);
                    let mut stored = s.clone();
                    stored.value = has_value.then(|| crate::values::STORED.to_string());
                    a.ownership.insert(
                        (*kind, key.clone()),
                        Owned {
                            row_id: row,
                            applied_hash: Object::Secret(stored.clone()).hash(),
                            pin: None,
                            owner: None,
                        },
                    );
                    a.secrets.push(SecretRow {
                        id: row,
                        server_id: servers[&s.server],
                        obj: stored,
                        has_value,
                        encrypted_value: has_value.then(|| vec![0]),
                    });
                    continue;
                }
                Object::Network(n) => a.network.push(NetworkRow {
                    id: row,
                    server_id: servers[&n.server],
                    tool_id: n.tool.as_ref().map(|t| tools[&format!("{}/{t}", n.server)]),
                    obj: n.clone(),
                    status: "approved".into(),
                }),
                Object::Module(m) => {
                    modules.push(m.name.clone());
                    a.modules.push(ModuleRow {
                        id: row,
                        tool_id: None,
                        obj: m.clone(),
                        status: "approved".into(),
                    })
                }
                Object::Setting(s) => a.settings.push(SettingRow {
                    id: row,
                    obj: s.clone(),
                    encrypted: false,
                    ciphertext: None,
                }),
                // Servers and tools are done; other kinds are not needed here.
                _ => continue,
            }
            a.ownership.insert(
                (*kind, key.clone()),
                Owned {
                    row_id: row,
                    applied_hash: obj.hash(),
                    pin: None,
                    owner: None,
                },
            );
        }
        for s in &mut a.servers {
            let hosts = a
                .network
                .iter()
                .filter(|n| n.obj.server == s.obj.name)
                .map(|n| (n.obj.host.as_str(), n.obj.port));
            s.allowed_hosts = crate::rules::sync::allowed_hosts(hosts);
        }
        a.allowed_modules = Some(Some(crate::rules::sync::allowed_modules(
            modules.iter().map(String::as_str),
        )));
        a
    }

    fn plan(d: &DesiredState, actual: &ActualState) -> Plan {
        let mut p = crate::plan::diff::diff(d, actual).expect("diff");
        // Keep snapshots stable across releases.
        p.tool_version = "0.0.0-test".into();
        p
    }

    fn ctx(pins: &BTreeSet<String>) -> PrContext<'_> {
        PrContext {
            head: HEAD,
            base: Some(BASE),
            outside: None,
            pins_in_range: pins,
            max_chars: GITHUB_COMMENT_LIMIT,
            artifact: Some("plan.json artifact"),
            policy_change: None,
            database: None,
        }
    }

    /// Renders and checks the bound every comment must keep.
    fn render_within(plan: &Plan, ctx: &PrContext) -> String {
        let out = render(plan, ctx);
        assert!(
            chars(&out) <= ctx.max_chars,
            "{} characters, limit {}",
            chars(&out),
            ctx.max_chars
        );
        out
    }

    /// The `<details>` block of the object with this key.
    fn block<'s>(out: &'s str, key: &str) -> &'s str {
        let needle = format!("<code>{}</code>", html(key));
        out.split("<details><summary>")
            .find(|b| b.contains(&needle) && b.contains("</details>"))
            .and_then(|b| b.split("</details>").next())
            .unwrap_or_else(|| panic!("no block for {key} in:\n{out}"))
    }

    fn basic_files() -> Vec<(&'static str, &'static str)> {
        vec![
            ("github.yaml", SERVER),
            ("list_issues.yaml", LIST_ISSUES),
            ("list_issues.py", CODE),
            ("search.yaml", SEARCH),
            ("search.py", SEARCH_CODE),
            ("modules.yaml", MODULES),
        ]
    }

    /// Issue 17: uses the manifests do not grant get their own section, naming
    /// the line of code; each new host and module says which tools use it;
    /// dynamic uses are noted (and keep a grant from looking unused).
    #[test]
    fn least_privilege_findings_and_used_by() {
        let code = "import yaml\n\nasync def main(url: str):\n    await http.get(url)\n    return await http.get(\"https://api.github.com/repos\")\n";
        let d = build(&[
            ("github.yaml", SERVER),
            ("list_issues.yaml", LIST_ISSUES),
            ("list_issues.py", code),
            ("modules.yaml", MODULES),
        ]);
        let p = plan(&d, &ActualState::default());
        let out = render_within(&p, &ctx(&BTreeSet::new()));
        assert!(
            out.contains("#### ⚠️ Code needs what the manifests do not grant (1)"),
            "{out}"
        );
        assert!(
            out.contains("<code>list_issues.py:1:8</code> <code>github/list_issues</code>: module <code>yaml</code> is not allowed"),
            "{out}"
        );
        assert!(out.contains("| used by |"), "{out}");
        // api.github.com is used; raw.githubusercontent.com only maybe (dynamic).
        assert!(
            out.contains(
                "| <code>list_issues</code><br>maybe <code>list_issues</code> (dynamic) |"
            ),
            "{out}"
        );
        assert!(
            out.contains("| <code>defusedxml</code> | ⚠️ none |"),
            "{out}"
        );
        assert!(
            out.contains("Hosts or modules only the run knows, not checked: <code>github/list_issues</code> (host argument <code>url</code>"),
            "{out}"
        );
    }

    #[test]
    fn create_plan_puts_capabilities_first() {
        let d = with_pins(
            &basic_files(),
            &[("github/list_issues", "alice@example.com")],
        );
        let p = plan(&d, &ActualState::default());
        let pins = BTreeSet::new();
        let out = render_within(&p, &ctx(&pins));
        assert!(
            out.starts_with("### mcpbox-gitops plan: 7 to add, 0 to change, 0 to destroy\n"),
            "{out}"
        );
        let table = out.find("| | count | what |").expect("summary table");
        let first_object = out
            .find("<details><summary><code>+</code>")
            .expect("objects");
        assert!(table < first_object, "the summary table comes first");
        for row in [
            "| 🔓 tools that become runnable | 1 | <code>github/list_issues</code> approved (pinned by alice&#64;example.com) |",
            "| 🕵️ tools needing review | 1 | <code>github/search</code> pending review |",
            "| 🌐 new network hosts | 2 | <code>api.github.com:443</code> for <code>github</code> via tool <code>list_issues</code><br><code>raw.githubusercontent.com</code> (any port) for <code>github</code> |",
            "| 📦 new modules | 1 | <code>defusedxml</code> |",
            "| 🔑 new secret placeholders | 1 | <code>github/GITHUB_TOKEN</code> |",
            "| 🔐 secret values written | 1 | <code>github/GITHUB_TOKEN</code> (from env GITHUB_TOKEN) |",
            "| to destroy | 0 | |",
        ] {
            assert!(out.contains(row), "missing row {row} in:\n{out}");
        }
        assert!(
            !out.contains("Changes outside this PR"),
            "no outside plan given"
        );
        assert!(!out.contains("Plan truncated"), "{out}");
        assert_eq!(out, render(&p, &ctx(&pins)), "rendering is deterministic");
        insta::assert_snapshot!("create", out);
    }

    /// A 60-line file with one line changed: the diff shows that hunk with three
    /// lines of context, never the rest of the file.
    #[test]
    fn code_update_shows_only_the_changed_hunk() {
        let code = |changed: &str| {
            let mut s = String::from("async def main():\n");
            for i in 2..=59 {
                if i == 30 {
                    s.push_str(changed);
                } else {
                    s.push_str(&format!("    line_{i:02} = {i}\n"));
                }
            }
            s.push_str("    return 0\n");
            assert_eq!(s.lines().count(), 60);
            s
        };
        let (v1, v2) = (code("    line_30 = 30\n"), code("    line_30 = 300\n"));
        let files = |c: &str| {
            vec![
                ("github.yaml", SERVER.to_string()),
                ("list_issues.yaml", LIST_ISSUES.to_string()),
                ("list_issues.py", c.to_string()),
            ]
        };
        let as_refs = |v: &[(&'static str, String)]| -> Vec<(&'static str, String)> { v.to_vec() };
        let base_files = as_refs(&files(&v1));
        let base_refs: Vec<(&str, &str)> =
            base_files.iter().map(|(p, t)| (*p, t.as_str())).collect();
        let base = with_pins(&base_refs, &[("github/list_issues", "alice@example.com")]);
        // HEAD changes the code but keeps BASE's pin: the pin is stale.
        let pins_yaml = base_pins_yaml(&base);
        let head_files = files(&v2);
        let mut head_refs: Vec<(&str, &str)> =
            head_files.iter().map(|(p, t)| (*p, t.as_str())).collect();
        head_refs.push(("approvals.yaml", &pins_yaml));
        let head = build(&head_refs);
        let p = plan(&head, &applied(&base));
        assert_eq!(p.summary.change, 1, "{p:#?}");
        let pins = BTreeSet::new();
        let out = render_within(&p, &ctx(&pins));
        let b = block(&out, "github/list_issues");
        assert!(b.contains("@@ -27,7 +27,7 @@\n"), "{b}");
        assert!(
            b.contains("\n-    line_30 = 30\n+    line_30 = 300\n"),
            "{b}"
        );
        assert!(
            b.contains("     line_27 = 27\n") && b.contains("     line_33 = 33\n"),
            "{b}"
        );
        for far in [
            "line_02 =",
            "line_26 =",
            "line_34 =",
            "line_59 =",
            "return 0",
        ] {
            assert!(!out.contains(far), "unchanged line `{far}` shown:\n{out}");
        }
        assert!(b.contains("approval: pending review — pin stale"), "{b}");
        assert!(b.contains("- version 2: Updated Python code"), "{b}");
        assert!(
            out.contains("| 🕵️ tools needing review | 1 | <code>github/list_issues</code> pending review — pin stale |"),
            "{out}"
        );
        insta::assert_snapshot!("code_update", out);
    }

    /// The approvals.yaml text of `d`'s pins.
    fn base_pins_yaml(d: &DesiredState) -> String {
        crate::approvals::render(&d.pins)
    }

    #[test]
    fn changes_outside_this_pr_are_listed_before_the_objects() {
        let base = build(&basic_files());
        // Another PR merged first: it added a tool and changed the server.
        let mut merged = basic_files();
        let other_tool = SEARCH.replace("name: search", "name: other");
        let server = SERVER.replace("GitHub helpers", "GitHub helpers, v2");
        merged.push(("other.yaml", &other_tool));
        merged.retain(|(p, _)| *p != "github.yaml");
        merged.push(("github.yaml", &server));
        let database = applied(&build(&merged));
        let outside = plan(&base, &database);
        // This PR changes the search tool's description.
        let mut head_files = basic_files();
        let search = SEARCH.replace("Search code", "Search code in a repository");
        head_files.retain(|(p, _)| *p != "search.yaml");
        head_files.push(("search.yaml", &search));
        let head = plan(&build(&head_files), &database);
        let pins = BTreeSet::new();
        let mut c = ctx(&pins);
        c.outside = Some(&outside);
        let out = render_within(&head, &c);
        let section = out
            .find("#### ⚠️ Changes outside this PR")
            .expect("section");
        assert!(out.contains("The database differs from the base revision <code>git:0f0e0d0c0b0a (main)</code>: drift made in MCPBox, or another PR merged first."), "{out}");
        let destroy = out
            .find("- <code>-</code> destroy tool <code>github/other</code>")
            .expect("the other PR's tool, which this PR would delete");
        assert!(
            out.contains("- <code>~</code> update server <code>github</code>: description"),
            "{out}"
        );
        let objects = out.find("<details><summary>").expect("objects");
        assert!(section < destroy && destroy < objects, "{out}");
        assert!(
            block(&out, "github/other").contains("· ⚠️ also changed outside this PR</summary>"),
            "{out}"
        );
        assert!(
            !block(&out, "github/search").contains("outside this PR"),
            "{out}"
        );
        insta::assert_snapshot!("outside", out);

        // The database is exactly BASE: one line says so.
        let same = plan(&base, &applied(&base));
        assert!(!same.has_changes(), "{same:#?}");
        c.outside = Some(&same);
        let out = render_within(&head, &c);
        assert!(
            out.contains(
                "✅ The database matches the base revision <code>git:0f0e0d0c0b0a (main)</code>"
            ),
            "{out}"
        );
        assert!(!out.contains("Changes outside this PR"), "{out}");
    }

    #[test]
    fn a_pin_changed_in_this_pr_is_part_of_the_review() {
        let base = with_pins(
            &basic_files(),
            &[("github/list_issues", "alice@example.com")],
        );
        let code = CODE
            .replace("return await", "resp = await")
            .replace(")\n", ")\n    return resp.json()\n");
        let search_code = SEARCH_CODE.replace("return q", "return q.strip()");
        let mut files = basic_files();
        files.retain(|(p, _)| !p.ends_with(".py"));
        files.push(("list_issues.py", &code));
        files.push(("search.py", &search_code));
        let head = with_pins(&files, &[("github/list_issues", "bob@example.com")]);
        let p = plan(&head, &applied(&base));
        let pins: BTreeSet<String> = ["github/list_issues".to_string()].into();
        let out = render_within(&p, &ctx(&pins));
        let note = "🔏 code and its approval pin change in this PR — the approval is part of what you review";
        assert!(block(&out, "github/list_issues").contains(note), "{out}");
        assert!(
            block(&out, "github/list_issues").contains(
                "approval: approved (pinned by bob&#64;example.com) · 🔏 pin changed in this PR"
            ),
            "{out}"
        );
        assert!(!block(&out, "github/search").contains("🔏"), "{out}");
        assert!(
            out.contains(
                "| 🔏 approval pins changed in this PR | 1 | <code>github/list_issues</code> |"
            ),
            "{out}"
        );
        assert!(out.contains("| 🔓 tools that become runnable | 1 | <code>github/list_issues</code> approved (pinned by bob&#64;example.com) |"), "{out}");
    }

    #[test]
    fn destroys_come_first_and_loudest() {
        let policy = ("mcpbox-gitops.yaml", "prune: true\n");
        let other_tool = SEARCH.replace("name: search", "name: old");
        let mut base_files = basic_files();
        base_files.push(("old.yaml", &other_tool));
        base_files.push(policy);
        let mut head_files = basic_files();
        head_files.push(policy);
        let search = SEARCH.replace("Search code", "Search");
        head_files.retain(|(p, _)| *p != "search.yaml");
        head_files.push(("search.yaml", &search));
        let p = plan(&build(&head_files), &applied(&build(&base_files)));
        let pins = BTreeSet::new();
        let out = render_within(&p, &ctx(&pins));
        assert!(
            out.starts_with("### ⚠️ mcpbox-gitops plan: 0 to add, 1 to change, 1 to destroy\n"),
            "{out}"
        );
        assert!(
            out.contains("| ⚠️ **to destroy** | **1** | **also deletes 1 version**<br>tool <code>github/old</code> with 1 version |"),
            "{out}"
        );
        let first = out.split("<details><summary>").nth(1).expect("a block");
        assert!(
            first.starts_with(
                "⚠️ <code>-</code> tool <code>github/old</code> — <b>destroy with 1 version</b>"
            ),
            "deletes first: {out}"
        );
        assert!(
            first.contains("⚠️ **deletes with it: 1 version**"),
            "{first}"
        );
    }

    #[test]
    fn no_changes() {
        let d = build(&basic_files());
        let p = plan(&d, &applied(&d));
        let pins = BTreeSet::new();
        let out = render_within(&p, &ctx(&pins));
        assert!(
            out.starts_with("### mcpbox-gitops plan: No changes\n"),
            "{out}"
        );
        assert!(
            !out.contains("<details>") && !out.contains("| count |"),
            "{out}"
        );
    }

    /// Hostile text in names and values can break neither the markdown nor the
    /// HTML, and code holding a fence gets a longer one.
    /// Issue 15.2: commands in our messages show as code on GitHub.
    #[test]
    fn backticked_commands_become_code() {
        assert_eq!(
            prose("run `mcpbox-gitops approve a/b --by x@y` to re-pin"),
            "run <code>mcpbox-gitops approve a/b --by x&#64;y</code> to re-pin"
        );
        assert_eq!(prose("odd ` tick"), html("odd ` tick"));
    }

    #[test]
    fn escapes_markdown_and_html() {
        let code = "async def main():\n    return \"```\" + \"````\"\n";
        let mut files = basic_files();
        files.retain(|(p, _)| *p != "search.py");
        files.push(("search.py", code));
        let by = "<img src=x onerror=alert(1)> `x` | *y* & _z_";
        let d = with_pins(&files, &[("github/search", by)]);
        let p = plan(&d, &ActualState::default());
        let pins = BTreeSet::new();
        let out = render_within(&p, &ctx(&pins));
        assert!(
            !out.contains("<img") && !out.contains("`x`") && !out.contains("*y*"),
            "{out}"
        );
        assert!(
            out.contains("&lt;img src=x onerror=alert(1)&gt; &#96;x&#96; &#124; &#42;y&#42; &amp; &#95;z&#95;"),
            "{out}"
        );
        let b = block(&out, "github/search");
        assert!(
            b.contains("\n`````diff\n") && b.contains("\n`````\n"),
            "five backticks around a run of four: {b}"
        );
        assert_eq!(
            out.matches("<details>").count(),
            out.matches("</details>").count(),
            "{out}"
        );
        assert_eq!(
            html("a<b>&\"'`|*[x](y)\\~ list_issues _x_\nz"),
            "a&lt;b&gt;&amp;&quot;&#39;&#96;&#124;&#42;&#91;x&#93;(y)&#92;&#126; list_issues &#95;x&#95; z"
        );
        assert_eq!(fence_for("no ticks"), "```");
        assert_eq!(fence_for("a ``` b"), "````");
    }

    #[test]
    fn sources_tunnels_and_passthrough_are_capabilities() {
        let server = "apiVersion: mcpbox/v1\nkind: Server\nmetadata: {name: github}\nspec:\n  secrets:\n    - name: GITHUB_TOKEN\n      valueFrom: {env: GH}\n";
        let source = "apiVersion: mcpbox/v1\nkind: ExternalSource\nmetadata: {name: copilot, server: github}\nspec:\n  url: https://api.githubcopilot.com/mcp/\n  auth: {type: bearer, secret: GITHUB_TOKEN}\n";
        let tool = "apiVersion: mcpbox/v1\nkind: Tool\nmetadata: {name: search_code, server: github}\nspec:\n  type: mcp_passthrough\n  externalSource: copilot\n  externalToolName: search_code\n";
        let tunnel = "apiVersion: mcpbox/v1\nkind: TunnelConfiguration\nmetadata: {name: home}\nspec:\n  publicUrl: mcp.example.com\n  active: true\n  token: {valueFrom: {env: TUNNEL_TOKEN}}\n";
        let d = build(&[
            ("s.yaml", server),
            ("src.yaml", source),
            ("t.yaml", tool),
            ("tun.yaml", tunnel),
        ]);
        let p = plan(&d, &ActualState::default());
        let out = render_within(&p, &PrContext::local("test"));
        assert!(
            out.contains("| 🔌 external MCP servers called | 1 | <code>github/copilot</code> → <code>https://api.githubcopilot.com/mcp/</code> (bearer auth, sends secret <code>GITHUB_TOKEN</code>) |"),
            "{out}"
        );
        assert!(out.contains("| 🚇 tunnel becoming active | 1 | <code>home</code> at <code>https://mcp.example.com</code> |"), "{out}");
        assert!(
            out.contains("**passthrough** → <code>copilot/search_code</code>"),
            "{out}"
        );
        assert!(
            out.contains("<code>tunnel home</code> (from env TUNNEL_TOKEN)"),
            "{out}"
        );
        assert!(
            out.contains("<code>github/GITHUB_TOKEN</code> (from env GH)"),
            "{out}"
        );
        assert!(!out.contains("(redacted)"), "{out}");
    }

    #[test]
    fn secret_values_only_ever_as_labels() {
        let v = |s: &str| Value::String(s.into());
        assert_eq!(
            field_value(true, "value", &v("(from env GITHUB_TOKEN)")),
            "(from env GITHUB_TOKEN)"
        );
        assert_eq!(
            field_value(true, "value", &v("ghp_0123456789abcdef")),
            "(redacted)"
        );
        assert_eq!(field_value(true, "value", &v("(ghp_0123\n)")), "(redacted)");
        assert_eq!(field_value(false, "description", &v("a PAT")), "\"a PAT\"");
        assert!(writes_value("(from env X)") && writes_value("(changed, from file /run/x)"));
        assert!(writes_value("(cleared)") && !writes_value("(set)"));
    }

    /// Hundreds of objects: the comment stays within the limit, the summary
    /// table survives, and the note says how many objects are missing and where
    /// the full plan is.
    #[test]
    fn truncation_keeps_the_bound_and_the_summary() {
        let mut network = String::new();
        for i in 0..150 {
            network.push_str(&format!(
                "    - {{host: host{i:03}.example.com, port: 443, justification: feed {i}}}\n"
            ));
        }
        let server = format!("{SERVER}{network}");
        let mut owned: Vec<(String, String)> = vec![("github.yaml".into(), server)];
        for i in 0..250 {
            let mut code = format!("async def main(n: int):\n    \"\"\"Tool {i}.\"\"\"\n");
            for j in 0..25 {
                code.push_str(&format!("    n = n + {j}  # step {j} of tool {i}\n"));
            }
            code.push_str("    return n\n");
            owned.push((
                format!("t{i:03}.yaml"),
                format!(
                    "apiVersion: mcpbox/v1\nkind: Tool\nmetadata: {{name: t{i:03}, server: github}}\nspec:\n  description: tool {i}\n  codeFile: t{i:03}.py\n"
                ),
            ));
            owned.push((format!("t{i:03}.py"), code));
        }
        owned.push(("list_issues.yaml".into(), LIST_ISSUES.into()));
        owned.push(("list_issues.py".into(), CODE.into()));
        let files: Vec<(&str, &str)> = owned
            .iter()
            .map(|(p, t)| (p.as_str(), t.as_str()))
            .collect();
        let p = plan(&build(&files), &ActualState::default());
        let total = p.changes.len();
        assert!(total > 400, "{total}");
        let pins = BTreeSet::new();
        for max in [GITHUB_COMMENT_LIMIT, 3_000] {
            let mut c = ctx(&pins);
            c.max_chars = max;
            let out = render_within(&p, &c);
            let limit = if max == GITHUB_COMMENT_LIMIT {
                "GitHub's 65,536-character comment limit"
            } else {
                "the 3,000-character comment limit"
            };
            let note = format!("> ⚠️ Plan truncated to fit {limit}: ");
            let at = out.find(&note).unwrap_or_else(|| panic!("no note:\n{out}"));
            assert!(
                out.contains("The full plan is in plan.json artifact."),
                "{out}"
            );
            assert!(
                out.contains(&format!("| to add | {total} | |"))
                    && out.contains("| 🌐 new network hosts | 152 |"),
                "the summary table survives: {out}"
            );
            // The count in the note is exactly the objects without details.
            let shown = out.matches("<details><summary>").count()
                - out.matches("<details><summary>Caches").count();
            let missing: usize = out[at + note.len()..]
                .split(' ')
                .next()
                .and_then(|n| n.parse().ok())
                .unwrap_or_else(|| panic!("no count in note:\n{}", &out[at..]));
            assert_eq!(shown + missing, total, "{}", &out[at..]);
            if std::env::var_os("MARKDOWN_DUMP").is_some() {
                eprintln!("{out}");
            }
            if max == 3_000 {
                assert!(
                    out.contains("… and ") && out.contains("Long lists above are shortened."),
                    "{out}"
                );
                insta::assert_snapshot!("truncated", out);
            } else {
                assert!(
                    shown > 0,
                    "details of the first objects fit in 65,536 characters"
                );
                assert!(
                    out.contains("host149.example.com"),
                    "every host is listed when it fits"
                );
            }
        }
        // Tiny limits still hold.
        let mut c = ctx(&pins);
        c.max_chars = 100;
        render_within(&p, &c);
    }

    #[test]
    fn local_context_is_github_sized() {
        let d = build(&basic_files());
        let p = plan(&d, &ActualState::default());
        let out = render_within(&p, &PrContext::local(&p.source));
        assert!(
            out.contains("- **Head:** <code>test-repo</code>\n"),
            "{out}"
        );
        assert!(
            !out.contains("**Base:**") && !out.contains("**Source:**"),
            "{out}"
        );
        assert!(
            out.contains("- **Database:** planned against an empty MCPBox (no database given)"),
            "{out}"
        );
        assert_eq!(thousands(65_536), "65,536");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(1_000_000), "1,000,000");
    }
}
