//! What a plan grants, computed once as data: tools that become runnable or go
//! to review, egress hosts, modules, secret placeholders and values, external
//! sources the sandbox will call, tunnels that become active. Every renderer
//! (text, markdown, JSON) words these; none re-derives them from the changes.
//! Computing the changes is `diff`'s job; wording them, `render`'s.

use serde::{Deserialize, Serialize};

use super::{Action, Change, Plan, ToolChange};
use crate::model::{Kind, Object};
use crate::rules::approval::{ApprovalWrite, Status, AUTO_APPROVE_BY};

/// One capability the plan grants.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(tag = "grant", rename_all = "snake_case")]
pub enum Grant {
    /// A tool becomes runnable: approved and enabled after apply, and this
    /// plan writes the approval or the enabled flag.
    Runnable {
        /// `server/tool`.
        tool: String,
        /// Why it is approved (the approval decision's reason).
        reason: String,
        /// Whether this plan writes the approval (not only the enabled flag).
        approves: bool,
        /// The approval outcome in words (`approved (pinned by alice@…)`).
        words: String,
    },
    /// A tool this plan submits for review in MCPBox.
    Review {
        /// `server/tool`.
        tool: String,
        /// The approval outcome in words (`pending review — pin stale`).
        words: String,
    },
    /// An egress host granted to a server (a request created or approved).
    Host {
        /// The server.
        server: String,
        /// The host.
        host: String,
        /// The port; none means any port.
        port: Option<i64>,
        /// The tool that requested it, for tool-originated entries.
        tool: Option<String>,
    },
    /// A Python module allowed for every tool.
    Module {
        /// The module's name.
        name: String,
    },
    /// A new secret placeholder of a server.
    SecretPlaceholder {
        /// `server/NAME`.
        key: String,
        /// The value's label, when this plan writes one too.
        value: Option<String>,
    },
    /// A secret, encrypted setting or tunnel token value this plan writes or
    /// clears (shown by its label only).
    Value {
        /// The object's kind.
        kind: Kind,
        /// Its key.
        key: String,
        /// The label (`(from env X)`, `(cleared)`).
        label: String,
    },
    /// An external MCP server the sandbox will call (new or re-pointed).
    ExternalSource {
        /// `server/source`.
        key: String,
        /// Its URL.
        url: String,
        /// Its auth type.
        auth: String,
        /// The secret whose value is sent to it.
        sends: Option<String>,
    },
    /// A tunnel configuration that becomes the active one.
    Tunnel {
        /// Its name.
        name: String,
        /// Its public URL.
        public_url: Option<String>,
    },
}

/// Whether apply writes or clears the change's value (what the plan decided,
/// not what its label says).
pub fn writes_value(c: &Change) -> bool {
    matches!(
        c.value,
        Some(crate::values::ValueChange::Set { .. } | crate::values::ValueChange::Clear)
    )
}

/// Every grant of `plan`, in the order of its changes.
pub fn grants(plan: &Plan) -> Vec<Grant> {
    let mut out = Vec::new();
    for c in plan.changes.iter().filter(|c| c.action != Action::Delete) {
        // A request row grants its host or module when it is created, or when
        // an existing row's status changes (a pending request adopted as approved).
        let granted = c.action == Action::Create || c.fields.iter().any(|f| f.field == "status");
        let value = |obj: &Object| {
            let label = match obj {
                Object::Secret(s) => s.value.clone(),
                Object::Tunnel(t) => t.token.clone(),
                Object::Setting(s) => s.value.clone(),
                _ => None,
            };
            label.filter(|_| writes_value(c))
        };
        match &c.after {
            Some(Object::Network(n)) if granted => out.push(Grant::Host {
                server: n.server.clone(),
                host: n.host.clone(),
                port: n.port.map(i64::from),
                tool: n.tool.clone(),
            }),
            Some(Object::Module(m)) if granted => out.push(Grant::Module {
                name: m.name.clone(),
            }),
            Some(obj @ Object::Secret(s)) => {
                if c.action == Action::Create {
                    out.push(Grant::SecretPlaceholder {
                        key: c.key.clone(),
                        value: s.value.clone(),
                    });
                }
                if let Some(label) = value(obj) {
                    out.push(Grant::Value {
                        kind: c.kind,
                        key: c.key.clone(),
                        label,
                    });
                }
            }
            Some(obj @ (Object::Setting(_) | Object::Tunnel(_))) => {
                if let Some(label) = value(obj) {
                    out.push(Grant::Value {
                        kind: c.kind,
                        key: c.key.clone(),
                        label,
                    });
                }
                if let Object::Tunnel(t) = obj {
                    let activates =
                        c.action == Action::Create || c.fields.iter().any(|f| f.field == "active");
                    if t.active && activates {
                        out.push(Grant::Tunnel {
                            name: t.name.clone(),
                            public_url: t.public_url.clone(),
                        });
                    }
                }
            }
            Some(Object::Source(src))
                if c.action == Action::Create
                    || c.fields.iter().any(|f| {
                        matches!(
                            f.field.as_str(),
                            "url" | "auth_type" | "auth_secret" | "auth_header"
                        )
                    }) =>
            {
                out.push(Grant::ExternalSource {
                    key: c.key.clone(),
                    url: src.url.clone(),
                    auth: src.auth_type.label().to_string(),
                    sends: src.auth_secret.clone(),
                })
            }
            Some(Object::Tool(t)) => {
                let Some(tc) = &c.tool else { continue };
                let enabled_now = c.fields.iter().any(|f| {
                    f.field == "enabled" && f.after == Some(serde_json::Value::Bool(true))
                });
                let approves = tc.approval.write.is_some();
                if tc.approval.status == Status::Approved && t.enabled && (approves || enabled_now)
                {
                    out.push(Grant::Runnable {
                        tool: c.key.clone(),
                        reason: tc.approval.reason.clone(),
                        approves,
                        words: approval_words(tc),
                    });
                }
                if tc.approval.write == Some(ApprovalWrite::SubmitForReview) {
                    out.push(Grant::Review {
                        tool: c.key.clone(),
                        words: approval_words(tc),
                    });
                }
            }
            _ => {}
        }
    }
    out
}

/// A tool's approval outcome in words, as reviewers read it.
pub fn approval_words(tc: &ToolChange) -> String {
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
