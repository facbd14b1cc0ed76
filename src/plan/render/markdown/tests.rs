//! The PR comment on small plans: goldens, escaping, the budget.

use super::*;
use crate::model::{Kind, Object};
use crate::rules::approval::Status;
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};

use uuid::Uuid;

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
                    last_version: None,
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
        out.contains("| <code>list_issues</code><br>maybe <code>list_issues</code> (dynamic) |"),
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
    let base_refs: Vec<(&str, &str)> = base_files.iter().map(|(p, t)| (*p, t.as_str())).collect();
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
    let note =
        "🔏 code and its approval pin change in this PR — the approval is part of what you review";
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
        out.contains(
            "&lt;img src=x onerror=alert(1)&gt; &#96;x&#96; &#124; &#42;y&#42; &amp; &#95;z&#95;"
        ),
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
}

/// Whether a value is written is the plan's typed decision: a label that
/// reads like one decides nothing.
#[test]
fn written_values_follow_the_typed_change_not_the_label() {
    use crate::plan::review::writes_value;
    use crate::values::{ValueChange, ValueSource};
    let change = |label: &str, value: Option<ValueChange>| crate::plan::Change {
        action: crate::plan::Action::Update,
        kind: Kind::Secret,
        key: "s/T".into(),
        row_id: None,
        server_id: None,
        tool_id: None,
        before: None,
        after: Some(Object::Secret(crate::model::Secret {
            server: "s".into(),
            name: "T".into(),
            description: None,
            value: Some(label.into()),
        })),
        fields: Vec::new(),
        tool: None,
        cascade: None,
        value,
        reason: None,
    };
    let set = Some(ValueChange::Set {
        from: ValueSource::Env("X".into()),
    });
    assert!(writes_value(&change("(from env X)", set)));
    assert!(writes_value(&change("(cleared)", Some(ValueChange::Clear))));
    assert!(
        !writes_value(&change("(from env X)", None)),
        "a label alone writes nothing"
    );
    assert!(!writes_value(&change("(set)", Some(ValueChange::Keep))));
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
            out.contains(&format!("| to add | {total} | 1 server, "))
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
