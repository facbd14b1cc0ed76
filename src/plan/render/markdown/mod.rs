//! The plan as a pull-request comment in markdown, in the style of Atlantis'
//! comments: a summary table of what the PR grants first, then what applying it
//! would also do beyond its own diff, then one collapsible block per object — and
//! never more characters than the comment may hold.
//!
//! Pure string building from a [`Plan`]: computing plans lives in `plan::diff`,
//! posting the comment is the CI's job, and nothing here does I/O.
//!
//! Files: here the entry point and the comment's frame (heading, fixed part,
//! truncation note, footer); `budget` the character budget and list caps;
//! `summary` the summary table and the sections above the objects;
//! `objects` one collapsible block per object; `escape` markdown/HTML escaping.

mod budget;
mod escape;
mod objects;
mod summary;

use budget::*;
use escape::*;
use objects::*;
use summary::*;

use std::collections::BTreeSet;
use std::fmt::Write;

use crate::plan::Plan;

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
#[derive(
    Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize, schemars::JsonSchema,
)]
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

/// Heading, summary table, changes outside this PR, notes and caches: the part
/// that truncation never drops.
fn fixed_part(plan: &Plan, ctx: &PrContext, lists: &mut Lists) -> String {
    let mut out = String::new();
    heading(&mut out, plan, ctx);
    if plan.has_changes() {
        summary_table(&mut out, plan, ctx, lists);
    }
    guard(&mut out, plan);
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

fn footer(plan: &Plan) -> String {
    format!(
        "<sub>mcpbox-gitops {} · plan format {}</sub>\n",
        html(&plan.tool_version),
        plan.format_version
    )
}

#[cfg(test)]
mod tests;
