//! The Prometheus text exposition of a status snapshot (`/metrics`). Counting
//! is `pass`'s; serving is `http`'s.

use std::fmt::Write;

use super::status::{Status, BUCKETS};

/// Escapes a label value.
fn label(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// Renders every metric.
pub fn render(st: &Status, leader: bool) -> String {
    let mut o = String::new();
    let c = &st.counters;
    let head = |o: &mut String, name: &str, kind: &str, help: &str| {
        let _ = writeln!(o, "# HELP {name} {help}\n# TYPE {name} {kind}");
    };
    head(
        &mut o,
        "mcpbox_gitops_reconcile_duration_seconds",
        "histogram",
        "Duration of reconcile passes.",
    );
    let count: u64 = c.reconcile.values().sum();
    for (le, n) in BUCKETS.iter().zip(c.duration_buckets) {
        let _ = writeln!(
            o,
            "mcpbox_gitops_reconcile_duration_seconds_bucket{{le=\"{le}\"}} {n}"
        );
    }
    let _ = writeln!(
        o,
        "mcpbox_gitops_reconcile_duration_seconds_bucket{{le=\"+Inf\"}} {count}\nmcpbox_gitops_reconcile_duration_seconds_sum {}\nmcpbox_gitops_reconcile_duration_seconds_count {count}",
        c.duration_sum
    );
    head(
        &mut o,
        "mcpbox_gitops_reconcile_total",
        "counter",
        "Reconcile passes by result.",
    );
    for (r, n) in &c.reconcile {
        let _ = writeln!(
            o,
            "mcpbox_gitops_reconcile_total{{result=\"{}\"}} {n}",
            label(r)
        );
    }
    head(
        &mut o,
        "mcpbox_gitops_applied_changes_total",
        "counter",
        "Changes applied by kind and action.",
    );
    for ((k, a), n) in &c.applied {
        let _ = writeln!(
            o,
            "mcpbox_gitops_applied_changes_total{{kind=\"{}\",action=\"{}\"}} {n}",
            label(k),
            label(a)
        );
    }
    let gauges = [
        (
            "mcpbox_gitops_drifted_objects",
            "Owned objects changed outside git and not reverted.",
            st.drifted.iter().filter(|d| !d.reverted).count() as u64,
        ),
        (
            "mcpbox_gitops_quarantined_tools",
            "Tools disabled because their code changed in MCPBox outside git.",
            st.quarantined.iter().filter(|q| q.holds()).count() as u64,
        ),
        (
            "mcpbox_gitops_out_of_sync_objects",
            "Objects that differ from git.",
            st.out_of_sync.len() as u64,
        ),
        (
            "mcpbox_gitops_leader",
            "1 when this replica holds the leader lock.",
            u64::from(leader),
        ),
        (
            "mcpbox_gitops_suspended",
            "1 when applying is suspended.",
            u64::from(st.suspended),
        ),
    ];
    for (name, help, v) in gauges {
        head(&mut o, name, "gauge", help);
        let _ = writeln!(o, "{name} {v}");
    }
    head(
        &mut o,
        "mcpbox_gitops_last_applied_info",
        "gauge",
        "The revision last applied with changes.",
    );
    if let Some(a) = &st.last_applied {
        let _ = writeln!(
            o,
            "mcpbox_gitops_last_applied_info{{commit=\"{}\"}} 1",
            label(&a.commit)
        );
    }
    head(
        &mut o,
        "mcpbox_gitops_tools",
        "gauge",
        "MCPBox tools by approval status.",
    );
    for (s, n) in &c.tools {
        let _ = writeln!(
            o,
            "mcpbox_gitops_tools{{approval_status=\"{}\"}} {n}",
            label(s)
        );
    }
    head(
        &mut o,
        "mcpbox_gitops_activation_calls_total",
        "counter",
        "Calls to MCPBox's sandbox by result.",
    );
    for (r, n) in &c.activation_calls {
        let _ = writeln!(
            o,
            "mcpbox_gitops_activation_calls_total{{result=\"{}\"}} {n}",
            label(r)
        );
    }
    o
}
