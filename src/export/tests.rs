//! Tests of [`export`](super::export) as a whole: every kind exported and
//! planned as adoptions only, determinism, refusals and notes. Tests of one
//! step live beside that step.

use std::collections::BTreeSet;

use super::check::adoption_only;
use super::fixtures::{plaintext, server, skip_reason, sourced, state, text, KEY, TOKEN};
use super::{export, Counts, EnvValue, Error, Options, MODULES_FILE, SETTINGS_FILE};
use crate::approvals;
use crate::crypto::Key;
use crate::desired;
use crate::manifest::load::APPROVALS_FILE;
use crate::model::Kind;
use crate::model::ToolType;
use crate::plan::diff;
use crate::policy::ApprovalMode;
use crate::source::Entry;
use crate::values::{Resolved, ValueSource};

#[test]
fn exports_every_kind_and_plans_as_adoptions_only() {
    let actual = state();
    let e = export(&actual, &Options::default()).unwrap();
    let desired = desired::build(&e.files).unwrap();
    let plan = diff::diff(&desired, &actual).unwrap();
    assert!(
        plan.changes.iter().all(adoption_only),
        "{:#?}",
        plan.changes
    );
    assert_eq!(
        (plan.summary.add, plan.summary.change, plan.summary.destroy),
        (0, 0, 0)
    );
    // svc, API_TOKEN, ok, draft, rejected, no_timeout, 2 network entries,
    // ipaddress, requests (draft's), 2 settings.
    assert_eq!(
        plan.summary.adopt,
        12,
        "{:#?}",
        plan.changes.iter().map(|c| &c.key).collect::<Vec<_>>()
    );
    assert!(plan.caches.is_empty(), "{:?}", plan.caches);
    assert_eq!(e.adoptions, 12);
    assert_eq!(
        e.counts,
        Counts {
            servers: 1,
            tools: 4,
            pinned: 1,
            secrets: 1,
            network: 2,
            modules: 2,
            settings: 2,
            sources: 0,
            tunnels: 0,
        }
    );

    let server = text(&e, "servers/svc/server.yaml");
    assert!(server.contains("defaultTimeoutMs: 20000"), "{server}");
    assert!(
        server.contains("name: API_TOKEN")
            && !server.contains("valueFrom")
            && !server.contains("null"),
        "{server}"
    );
    assert!(
        server.contains(
            "left to MCPBox: pending network request `svc/llm.example.com:443 via draft`"
        ),
        "{server}"
    );
    // Of identical approved rows, the one the diff adopts gives the justification.
    assert!(
        server.contains("reach api.example.com") && !server.contains("a duplicate"),
        "{server}"
    );
    let ok = text(&e, "servers/svc/tools/ok.yaml");
    for want in [
        "timeoutMs: 5000",
        "enabled: false",
        "codeFile: ok.py",
        "- httpx",
    ] {
        assert!(ok.contains(want), "{want}: {ok}");
    }
    assert!(!ok.contains("inputSchema"), "{ok}");
    let draft = text(&e, "servers/svc/tools/draft.yaml");
    assert!(
        draft.contains("inputSchema") && draft.contains("required: null"),
        "{draft}"
    );
    assert!(draft.contains("approval state in MCPBox: draft"), "{draft}");
    assert_eq!(
        text(&e, "servers/svc/tools/ok.py"),
        actual.tools[0].obj.python_code.as_deref().unwrap()
    );

    let pins = approvals::parse(APPROVALS_FILE, text(&e, APPROVALS_FILE)).unwrap();
    assert_eq!(pins.keys().collect::<Vec<_>>(), ["svc/ok"]);
    assert_eq!(pins["svc/ok"].sha256, actual.tools[0].obj.content_hash());
    assert_eq!(pins["svc/ok"].approved_by, "alice@example.com");
    assert_eq!(desired.policy.approval.mode, ApprovalMode::Pinned);
    assert!(desired.policy.prune);
    let settings = text(&e, SETTINGS_FILE);
    assert!(
        settings.contains("tool_approval_mode: require_approval"),
        "{settings}"
    );
    // The encrypted setting is read from a variable, named in the header.
    assert!(
        settings.contains(
            "mcp_rate_limit_rpm:\n    valueFrom:\n      env: MCPBOX_SECRET_SETTING_MCP_RATE_LIMIT_RPM\n"
        ) && settings.contains("# `mcp_rate_limit_rpm` is stored encrypted"),
        "{settings}"
    );
    assert_eq!(
        e.env,
        [EnvValue {
            var: "MCPBOX_SECRET_SETTING_MCP_RATE_LIMIT_RPM".into(),
            object: "value of encrypted setting `mcp_rate_limit_rpm`".into()
        }]
    );
    assert_eq!(
        desired.value_sources.get("mcp_rate_limit_rpm"),
        Some(&ValueSource::Env(
            "MCPBOX_SECRET_SETTING_MCP_RATE_LIMIT_RPM".into()
        ))
    );
    assert!(text(&e, MODULES_FILE).contains("name: ipaddress"));

    let skipped: Vec<&str> = e.skipped.iter().map(|s| s.object.as_str()).collect();
    for want in [
        "server `My Server`",
        "secret `svc/lower`",
        "tool `svc/proxy`",
        "tool `svc/leaky`",
        "network entry `svc/proxy.example.com:443 via proxy`",
        "setting `log_retention_days`",
    ] {
        assert!(skipped.contains(&want), "{want} not in {skipped:#?}");
    }
    assert_eq!(skipped.len(), 6, "{skipped:#?}");
    // NULL on a server whose default is not 30000: stated as `inherit`.
    assert!(text(&e, "servers/svc/tools/no_timeout.yaml").contains("timeoutMs: inherit"));
    let lost: Vec<&str> = e.lost.iter().map(|s| s.object.as_str()).collect();
    assert_eq!(lost, ["tool `svc/draft`", "tool `svc/rejected`"]);
    // A module approved for a tool is an entry naming the tool (issue 14.1).
    assert!(
        text(&e, MODULES_FILE).contains("tool: svc/draft"),
        "{}",
        text(&e, MODULES_FILE)
    );
    let proxy = e
        .skipped
        .iter()
        .find(|s| s.object.contains("proxy"))
        .unwrap();
    assert!(
        proxy.reason.contains("external_source_id is NULL"),
        "{}",
        proxy.reason
    );
    let leaky = e
        .skipped
        .iter()
        .find(|s| s.object.contains("leaky"))
        .unwrap();
    assert!(leaky.reason.contains("GitHub token"), "{}", leaky.reason);
    for (path, entry) in &e.files.files {
        let Entry::Bytes(b) = entry else { continue };
        let t = String::from_utf8_lossy(b);
        let ciphertext = actual.settings[2].ciphertext.as_deref().unwrap();
        assert!(
            !t.contains(TOKEN) && !t.contains(ciphertext) && !t.contains("(encrypted)"),
            "{path} leaks a value"
        );
    }
    assert!(
        e.notes.iter().any(|n| n.contains("1 secret value(s)")),
        "{:?}",
        e.notes
    );
}

#[test]
fn export_is_deterministic() {
    let actual = state();
    let a = export(&actual, &Options::default()).unwrap();
    let b = export(&actual, &Options::default()).unwrap();
    assert_eq!(a.files.files, b.files.files);
}

#[test]
fn duplicate_server_names_are_refused() {
    let mut actual = state();
    actual.servers.push(server(3, "svc", 30000));
    let err = export(&actual, &Options::default()).unwrap_err();
    assert!(err.to_string().contains("`svc` (2 servers)"), "{err}");
    let opts = Options {
        reviewer: "a\nb".into(),
    };
    assert!(matches!(
        export(&state(), &opts),
        Err(Error::BadReviewer(_))
    ));
}

#[test]
fn stale_caches_are_reported_not_refused() {
    let mut actual = state();
    actual.servers[0].allowed_hosts = vec!["stale.example.com".into()];
    let e = export(&actual, &Options::default()).unwrap();
    assert_eq!((e.stale_caches, e.adoptions), (1, 12));
    assert!(
        e.notes
            .iter()
            .any(|n| n.contains("servers.allowed_hosts of svc")),
        "{:?}",
        e.notes
    );
}

#[test]
fn exports_sources_passthrough_tools_and_tunnels_as_adoptions_only() {
    let actual = sourced();
    let e = export(&actual, &Options::default()).unwrap();
    let mut desired = desired::build(&e.files).unwrap();
    let plan = diff::diff(&desired, &actual).unwrap();
    assert!(
        plan.changes.iter().all(adoption_only),
        "{:#?}",
        plan.changes
    );
    assert_eq!(
        (plan.summary.add, plan.summary.change, plan.summary.destroy),
        (0, 0, 0)
    );
    let new_kinds: BTreeSet<(Kind, &str)> = plan
        .changes
        .iter()
        .filter(|c| match &c.after {
            Some(crate::model::Object::Tool(t)) => t.tool_type == ToolType::McpPassthrough,
            _ => matches!(c.kind, Kind::Source | Kind::Tunnel),
        })
        .map(|c| (c.kind, c.key.as_str()))
        .collect();
    let want: BTreeSet<(Kind, &str)> = [
        (Kind::Source, "svc/GitHub MCP"),
        (Kind::Source, "svc/plain"),
        (Kind::Tool, "svc/search"),
        (Kind::Tool, "svc/bare"),
        (Kind::Tool, "svc/undiscovered"),
        (Kind::Tunnel, "PROD"),
        (Kind::Tunnel, "prod"),
        (Kind::Tunnel, "Wizard: home"),
    ]
    .into_iter()
    .collect();
    assert_eq!(new_kinds, want);
    assert_eq!((e.counts.sources, e.counts.tunnels), (2, 3));

    for (object, why) in [
        ("external source `svc/oauth`", "OAuth"),
        (
            "external source `svc/twin`",
            "2 external sources of server `svc`",
        ),
        (
            "external source `svc/lower`",
            "`lower` is not an exported secret",
        ),
        (
            "tool `svc/via_oauth`",
            "its external source is not exported",
        ),
        ("tool `svc/via_twin`", "its external source is not exported"),
        ("tool `svc/no_schema`", "input_schema is NULL"),
        ("tunnel configuration `   `", "1 to 255 characters"),
        ("tunnel configuration `tokenless`", "no token"),
    ] {
        let reason = skip_reason(&e, object);
        assert!(reason.contains(why), "{object}: {reason}");
    }
    let twins = e
        .skipped
        .iter()
        .filter(|s| s.object == "external source `svc/twin`")
        .count();
    assert_eq!(twins, 2, "both rows of an ambiguous name are skipped");

    let gh = text(&e, "servers/svc/sources/github_mcp.yaml");
    for want in [
        "name: GitHub MCP",
        "server: svc",
        "transport: sse",
        "type: bearer",
        "secret: API_TOKEN",
        "# status in MCPBox: error",
    ] {
        assert!(gh.contains(want), "{want}: {gh}");
    }
    assert!(!gh.contains("status:") && !gh.contains("null"), "{gh}");
    let plain = text(&e, "servers/svc/sources/plain.yaml");
    assert!(
        plain.contains("status: disabled") && !plain.contains("auth"),
        "{plain}"
    );

    // Discovered values are written (a rebuilt MCPBox has no discovery yet);
    // MCPBox's own defaults are not.
    let search = text(&e, "servers/svc/tools/search.yaml");
    for want in [
        "type: mcp_passthrough",
        "externalSource: GitHub MCP",
        "externalToolName: search_code",
        "description: Search code",
        "inputSchema:",
    ] {
        assert!(search.contains(want), "{want}: {search}");
    }
    assert!(!search.contains("codeFile"), "{search}");
    assert!(!e.files.files.contains_key("servers/svc/tools/search.py"));
    let bare = text(&e, "servers/svc/tools/bare.yaml");
    assert!(
        bare.contains("inputSchema: {}") && !bare.contains("description:"),
        "{bare}"
    );
    let undiscovered = text(&e, "servers/svc/tools/undiscovered.yaml");
    assert!(
        undiscovered.contains("enabled: false")
            && !undiscovered.contains("inputSchema")
            && !undiscovered.contains("description"),
        "{undiscovered}"
    );
    let pins = approvals::parse(APPROVALS_FILE, text(&e, APPROVALS_FILE)).unwrap();
    assert_eq!(pins["svc/search"].approved_by, "carol@example.com");
    assert!(!pins.contains_key("svc/bare"));

    let prod = text(&e, "platform/tunnels/prod_2.yaml");
    for want in [
        "name: prod\n",
        "active: true",
        "publicUrl: https://prod.example.com",
        "token:\n    valueFrom:\n      env: MCPBOX_SECRET_TUNNEL_TOKEN_PROD_2\n",
        "# token: MCPBox stores it encrypted",
        "set MCPBOX_ENCRYPTION_KEY and MCPBOX_SECRET_TUNNEL_TOKEN_PROD_2",
    ] {
        assert!(prod.contains(want), "{want}: {prod}");
    }
    let home = text(&e, "platform/tunnels/wizard_home.yaml");
    assert!(
        home.contains("name: \"Wizard: home\"") && !home.contains("active"),
        "{home}"
    );
    let vars: Vec<&str> = e.env.iter().map(|v| v.var.as_str()).collect();
    assert_eq!(
        vars,
        [
            "MCPBOX_SECRET_SETTING_MCP_RATE_LIMIT_RPM",
            "MCPBOX_SECRET_TUNNEL_TOKEN_PROD",
            "MCPBOX_SECRET_TUNNEL_TOKEN_PROD_2",
            "MCPBOX_SECRET_TUNNEL_TOKEN_WIZARD_HOME"
        ]
    );
    for (path, entry) in &e.files.files {
        let Entry::Bytes(b) = entry else { continue };
        let t = String::from_utf8_lossy(b);
        for row in &actual.tunnels {
            let leaked = row.ciphertext.as_deref().is_some_and(|c| t.contains(c));
            assert!(
                !leaked && !t.contains("-token-0123456789"),
                "{path} leaks a token"
            );
        }
    }

    // With the key and the right values, the stored ones compare equal…
    let env = |var: &str| plaintext(var).map(Into::into);
    desired.values = Resolved::read(
        &desired.value_sources,
        &crate::values::Access::default(),
        Some(Key::parse(KEY)),
        false,
        &env,
    )
    .unwrap();
    let plan = diff::diff(&desired, &actual).unwrap();
    assert!(
        plan.changes.iter().all(adoption_only),
        "{:#?}",
        plan.changes
    );
    // …another value is a change of that token alone…
    let other = |var: &str| match var {
        "MCPBOX_SECRET_TUNNEL_TOKEN_WIZARD_HOME" => Some("another-token-0123456789".into()),
        _ => plaintext(var).map(Into::into),
    };
    desired.values = Resolved::read(
        &desired.value_sources,
        &crate::values::Access::default(),
        Some(Key::parse(KEY)),
        false,
        &other,
    )
    .unwrap();
    let plan = diff::diff(&desired, &actual).unwrap();
    let changed: Vec<(&str, Vec<&str>)> = plan
        .changes
        .iter()
        .filter(|c| !adoption_only(c))
        .map(|c| {
            (
                c.key.as_str(),
                c.fields.iter().map(|f| f.field.as_str()).collect(),
            )
        })
        .collect();
    assert_eq!(changed, [("Wizard: home", vec!["token"])]);
    // …and an unset variable is an error naming it.
    let unset = |var: &str| match var {
        "MCPBOX_SECRET_TUNNEL_TOKEN_PROD_2" => None,
        _ => plaintext(var).map(Into::into),
    };
    let err = Resolved::read(
        &desired.value_sources,
        &crate::values::Access::default(),
        Some(Key::parse(KEY)),
        false,
        &unset,
    )
    .unwrap_err()
    .to_string();
    assert!(
        err.contains("`MCPBOX_SECRET_TUNNEL_TOKEN_PROD_2` is not set")
            && err.contains("tunnel:prod"),
        "{err}"
    );
}

#[test]
fn long_names_make_short_unique_file_names_and_plan_as_adoptions_only() {
    use super::fixtures::{source, tool, tunnel};
    use crate::rules::approval::Status;

    let mut actual = state();
    let long = server(90, &"s".repeat(200), 30000);
    let code = "async def main(city: str):\n    return city\n";
    let twins = [
        tool(91, &long, &"a".repeat(252), code, Status::Draft),
        tool(
            92,
            &long,
            &format!("{}b", "a".repeat(251)),
            code,
            Status::Draft,
        ),
    ];
    actual.servers.push(long.clone());
    actual.tools.extend(twins.iter().cloned());
    actual.sources.push(source(
        93,
        &long,
        &format!("Source {}", "x".repeat(248)),
        ("none", None),
    ));
    actual.tunnels.push(tunnel(
        94,
        &format!("Tunnel {}", "y".repeat(248)),
        false,
        Some("long-token-0123456789"),
    ));
    let e = export(&actual, &Options::default()).unwrap();
    assert!(
        e.skipped.iter().all(|s| !s.object.contains("aaaa")
            && !s.object.contains("xxxx")
            && !s.object.contains("yyyy")
            && !s.object.contains("ssss")),
        "{:#?}",
        e.skipped
    );
    for path in e.files.files.keys() {
        for part in path.split('/') {
            assert!(
                part.len() <= 100,
                "{path}: `{part}` is {} bytes",
                part.len()
            );
        }
    }
    // Each tool's codeFile names the `.py` beside its manifest, and the manifest
    // keeps the full name.
    let mut tool_files = BTreeSet::new();
    for t in &twins {
        let (yaml, body) = e
            .files
            .files
            .iter()
            .filter(|(p, _)| p.ends_with(".yaml") && p.contains("/tools/"))
            .find_map(|(p, entry)| match entry {
                Entry::Bytes(b) => {
                    let body = String::from_utf8_lossy(b).into_owned();
                    body.contains(&format!("name: {}\n", t.obj.name))
                        .then(|| (p.clone(), body))
                }
                _ => None,
            })
            .unwrap_or_else(|| panic!("no manifest for {}", t.obj.name));
        let dir = yaml.rsplit_once('/').unwrap().0;
        let code_file = body
            .lines()
            .find_map(|l| l.trim().strip_prefix("codeFile: "))
            .unwrap_or_else(|| panic!("{body}"));
        assert_eq!(text(&e, &format!("{dir}/{code_file}")), code);
        assert!(tool_files.insert(yaml), "two tools share a file");
    }
    let desired = desired::build(&e.files).unwrap();
    let plan = diff::diff(&desired, &actual).unwrap();
    assert!(
        plan.changes.iter().all(adoption_only),
        "{:#?}",
        plan.changes
    );
    let keys: Vec<&str> = plan.changes.iter().map(|c| c.key.as_str()).collect();
    for t in &twins {
        let key = format!("{}/{}", long.obj.name, t.obj.name);
        assert!(keys.contains(&key.as_str()), "{key} not in {keys:#?}");
    }
    assert!(
        keys.iter().any(|k| k.starts_with("Tunnel yyy")),
        "{keys:#?}"
    );
    assert!(keys.iter().any(|k| k.contains("/Source xxx")), "{keys:#?}");
}
