//! What the PR grants and does, above the per-object blocks: the summary
//! table (capabilities, with who uses each grant), needs the code has that git
//! does not grant, quarantined tools, a policy change, changes outside the PR,
//! caches and notes.

use std::collections::BTreeSet;
use std::fmt::Write;

use crate::least_privilege::compare::{Capability, Usage};
use crate::model::Object;
use crate::plan::{Action, Cascade, Change, Plan};

use super::*;

/// What the plan grants and takes away, gathered for the summary table.
#[derive(Default)]
pub(super) struct Capabilities {
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

/// The summary table's rows: destroys from the changes, the rest from what
/// the plan grants (`plan.grants`, computed once by `plan::review`).
pub(super) fn capabilities(plan: &Plan) -> Capabilities {
    use crate::plan::review::Grant;
    let mut caps = Capabilities::default();
    for c in plan.changes.iter().filter(|c| c.action == Action::Delete) {
        let cascade = c.cascade.unwrap_or_default();
        add_cascade(&mut caps.cascade, &cascade);
        let with = cascade_words(&cascade)
            .map(|w| format!(" with {w}"))
            .unwrap_or_default();
        caps.destroys
            .push(format!("{} {}{with}", c.kind.as_str(), code(&c.key)));
    }
    for g in &plan.grants {
        match g {
            Grant::Host {
                server,
                host,
                port,
                tool,
            } => {
                let shown_port = port.map(|p| format!(":{p}")).unwrap_or_default();
                let any = if port.is_none() { " (any port)" } else { "" };
                let via = tool
                    .as_ref()
                    .map(|t| format!(" via tool {}", code(t)))
                    .unwrap_or_default();
                caps.hosts.push(format!(
                    "{}{any} for {}{via}",
                    code(&format!("{host}{shown_port}")),
                    code(server)
                ));
                let grant = Capability::Host {
                    host: host.clone(),
                    port: port.and_then(|p| u16::try_from(p).ok()),
                };
                caps.hosts_used.push(used_by(
                    plan.least_privilege.usage(Some(server), &grant),
                    true,
                ));
            }
            Grant::Module { name } => {
                caps.modules.push(code(name));
                let grant = Capability::Module { name: name.clone() };
                caps.modules_used
                    .push(used_by(plan.least_privilege.usage(None, &grant), false));
            }
            Grant::SecretPlaceholder { key, .. } => caps.secrets.push(code(key)),
            Grant::Value { kind, key, label } => {
                let what = match kind {
                    crate::model::Kind::Secret => key.clone(),
                    other => format!("{} {key}", other.as_str()),
                };
                caps.values
                    .push(format!("{} {}", code(&what), html(&label_only(label))));
            }
            Grant::Tunnel { name, public_url } => {
                let url = public_url.as_deref().map(|u| format!(" at {}", code(u)));
                caps.tunnels
                    .push(format!("{}{}", code(name), url.unwrap_or_default()));
            }
            // A new or re-pointed source: the sandbox will call this URL and
            // send the named secret's value to it.
            Grant::ExternalSource {
                key,
                url,
                auth,
                sends,
            } => {
                let sends = sends
                    .as_deref()
                    .map(|s| format!(", sends secret {}", code(s)))
                    .unwrap_or_default();
                caps.sources.push(format!(
                    "{} → {} ({} auth{sends})",
                    code(key),
                    code(url),
                    html(auth)
                ));
            }
            Grant::Runnable { tool, words, .. } => {
                caps.runnable
                    .push(format!("{} {}", code(tool), html(words)))
            }
            Grant::Review { tool, words } => {
                caps.review.push(format!("{} {}", code(tool), html(words)))
            }
        }
    }
    caps
}

/// What a count row counts: its objects by kind, e.g. `1 server, 3 tools,
/// 2 network hosts`.
pub(super) fn counted(plan: &Plan, action: Action) -> String {
    let mut by_kind: std::collections::BTreeMap<crate::model::Kind, usize> = Default::default();
    for c in plan.changes.iter().filter(|c| c.action == action) {
        *by_kind.entry(c.kind).or_default() += 1;
    }
    by_kind
        .into_iter()
        .map(|(kind, n)| {
            use crate::model::Kind;
            let (one, many) = match kind {
                Kind::Server => ("server", "servers"),
                Kind::Secret => ("secret placeholder", "secret placeholders"),
                Kind::Source => ("external source", "external sources"),
                Kind::Tool => ("tool", "tools"),
                Kind::Network => ("network host", "network hosts"),
                Kind::Module => ("module", "modules"),
                Kind::Setting => ("setting", "settings"),
                Kind::Tunnel => ("tunnel configuration", "tunnel configurations"),
            };
            format!("{n} {}", if n == 1 { one } else { many })
        })
        .collect::<Vec<_>>()
        .join(", ")
}

pub(super) fn summary_table(out: &mut String, plan: &Plan, ctx: &PrContext, lists: &mut Lists) {
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
    for (what, n, action) in [
        ("to add", s.add, Action::Create),
        ("to change", s.change, Action::Update),
        ("to adopt", s.adopt, Action::Adopt),
    ] {
        let counted = counted(plan, action);
        let pad = if counted.is_empty() { "" } else { " " };
        let _ = writeln!(out, "| {what} | {n} |{pad}{counted} | |");
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
pub(super) fn new_grants(plan: &Plan) -> BTreeSet<(Option<String>, Capability)> {
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
pub(super) const MAX_USED_BY: usize = 5;

/// The "used by" entry of one granted host or module: the tools whose code uses
/// it (tool names alone for a server's host, `server/tool` for a global module),
/// the tools that may (dynamic uses), or a warning that nothing does.
pub(super) fn used_by(usage: Option<&Usage>, same_server: bool) -> String {
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
pub(super) fn needed_not_granted(out: &mut String, plan: &Plan, lists: &mut Lists) {
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

/// The deletion guard's verdict: a plan a plain apply refuses says so first.
pub(super) fn guard(out: &mut String, plan: &Plan) {
    if let Some(why) = &plan.guard {
        let _ = writeln!(
            out,
            "#### ⛔ Apply refuses this plan\n\nThe deletion guard: {}.\n",
            prose(why)
        );
    }
}

/// Tools quarantined because their code changed in MCPBox outside git.
pub(super) fn quarantine(out: &mut String, plan: &Plan, lists: &mut Lists) {
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
pub(super) fn policy(out: &mut String, ctx: &PrContext, lists: &mut Lists) {
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

pub(super) fn outside(out: &mut String, ctx: &PrContext, lists: &mut Lists) {
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

pub(super) fn outside_line(c: &Change) -> String {
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

pub(super) fn cache_line(c: &crate::plan::CacheChange, lists: &mut Lists) -> String {
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

pub(super) fn notes(out: &mut String, plan: &Plan, lists: &mut Lists) {
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
