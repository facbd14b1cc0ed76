//! The approval state machine, with approval pinned to content (DESIGN.md).
//!
//! Given what git says (content hash, pin), what MCPBox says (status) and what we
//! applied last (ownership), decide what to write. Pure: timestamps are filled in
//! by `apply`; reading rows lives in `state`.

use serde::{Deserialize, Serialize};

use crate::approvals::Pin;
use crate::policy::ApprovalMode;

/// `tools.approval_status`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// Never submitted.
    Draft,
    /// Waiting for an admin.
    PendingReview,
    /// Live when enabled and registered.
    Approved,
    /// Refused by an admin.
    Rejected,
}

impl Status {
    /// The PostgreSQL enum label.
    pub fn label(self) -> &'static str {
        match self {
            Status::Draft => "draft",
            Status::PendingReview => "pending_review",
            Status::Approved => "approved",
            Status::Rejected => "rejected",
        }
    }

    /// Parses a label.
    pub fn parse(s: &str) -> Option<Status> {
        match s {
            "draft" => Some(Status::Draft),
            "pending_review" => Some(Status::PendingReview),
            "approved" => Some(Status::Approved),
            "rejected" => Some(Status::Rejected),
            _ => None,
        }
    }
}

/// `approved_by` MCPBox writes in `auto_approve` mode.
pub const AUTO_APPROVE_BY: &str = "auto_approve";

/// What to write into a tool's approval columns.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(tag = "write", rename_all = "snake_case")]
pub enum ApprovalWrite {
    /// `approved`, `approved_at = now`, `approved_by = by`, `rejection_reason = NULL`
    /// (MCPBox's approve action; `by = auto_approve` in auto mode).
    Approve {
        /// `approved_by`.
        by: String,
    },
    /// `pending_review`. On a new tool also `approval_requested_at = now` and
    /// `publish_notes` (MCPBox's request-publish); on a code change only the status,
    /// keeping stale `approved_at`/`approved_by` as MCPBox's update does.
    SubmitForReview,
}

/// The decision for one tool.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Decision {
    /// What to write; None leaves the approval columns as they are.
    pub write: Option<ApprovalWrite>,
    /// The status the tool has after apply.
    pub status: Status,
    /// Why, for reviewers (display only; nothing branches on it).
    pub reason: String,
    /// `approvals.yaml` pins this tool at other content (policy `pinned`): the
    /// code changed since it was approved.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub stale_pin: bool,
}

/// What the database and the ownership table say about an existing tool.
#[derive(Debug, Clone)]
pub struct Existing<'a> {
    /// Current `approval_status`.
    pub status: Status,
    /// Current `approved_by`.
    pub approved_by: Option<&'a str>,
    /// Whether the content in the database differs from git's.
    pub content_changed: bool,
    /// Whether that difference is in the dependencies alone (code, type and
    /// pass-through target equal).
    pub dependencies_only: bool,
    /// Identity of the pin applied last time, if we own the tool (`Some(None)`:
    /// owned, applied without a pin; `None`: not owned yet).
    pub applied_pin: Option<Option<&'a str>>,
    /// `change_source` and `change_summary` of the tool's newest version row,
    /// when it has one: which MCPBox transition left it where it is.
    pub last_version: Option<(&'a str, Option<&'a str>)>,
}

/// What happened in MCPBox to an approved tool that is `pending_review` again
/// while its content equals git's (MCPBOX.md §2.2): a rollback writes a
/// version row `Rolled back to version <n>` with source `rollback`; a code
/// change keeps the stale `approved_by`; only a revoke clears it.
fn unapproved_by(existing: &Existing<'_>) -> String {
    match existing.last_version {
        Some(("rollback", summary)) => summary
            .and_then(|s| s.strip_prefix("Rolled back to version "))
            .map_or_else(
                || "rolled back".to_string(),
                |n| format!("rolled back to version {n}"),
            ),
        _ if existing.approved_by.is_some() => "code edited".to_string(),
        _ => "revoked".to_string(),
    }
}

/// Why an approved tool whose content is unchanged is approved, in the words of
/// the MCPBox transition that wrote its `approved_by` (MCPBOX.md §2.2): an
/// admin's approve records the admin, auto mode records `auto_approve`, and the
/// admin UI's import of external tools approves with `approved_by` NULL.
fn approved_unchanged(approved_by: Option<&str>) -> String {
    match approved_by {
        Some(AUTO_APPROVE_BY) => {
            "approved (unchanged; approved by MCPBox's auto_approve mode)".to_string()
        }
        Some(by) => format!("approved (unchanged; approved by {by})"),
        None => "approved (unchanged; approved in MCPBox without an approver, as its admin UI's import of external tools does)".to_string(),
    }
}

/// Everything the rule looks at.
#[derive(Debug, Clone)]
pub struct Facts<'a> {
    /// `approval.mode` of the policy.
    pub mode: ApprovalMode,
    /// MCPBox's `tool_approval_mode` is `auto_approve`.
    pub auto_approve: bool,
    /// git's content hash of the tool.
    pub content_hash: &'a str,
    /// The pin for this tool in `approvals.yaml`, if any.
    pub pin: Option<&'a Pin>,
    /// Policy `approval.onDependencyChange: keep`: a change to the
    /// dependencies alone keeps the approval, as MCPBox's update does.
    pub keep_on_dependencies: bool,
    /// The tool as it is now; None for a new tool.
    pub existing: Option<Existing<'a>>,
}

fn short(hash: &str) -> &str {
    hash.get(..12).unwrap_or(hash)
}

/// Decides the approval write for one tool.
pub fn decide(f: &Facts<'_>) -> Decision {
    let stale_pin =
        f.mode == ApprovalMode::Pinned && f.pin.is_some_and(|p| p.sha256 != f.content_hash);
    let matching_pin = match (f.mode, f.pin) {
        (ApprovalMode::Pinned, Some(p)) if p.sha256 == f.content_hash => Some(p),
        _ => None,
    };
    let approve_by_pin = |p: &Pin| Decision {
        write: Some(ApprovalWrite::Approve {
            by: p.approved_by.clone(),
        }),
        status: Status::Approved,
        stale_pin,
        reason: format!("approved (pinned by {})", p.approved_by),
    };
    let auto = || Decision {
        write: Some(ApprovalWrite::Approve {
            by: AUTO_APPROVE_BY.into(),
        }),
        status: Status::Approved,
        stale_pin,
        reason: "approved (MCPBox tool_approval_mode is auto_approve)".into(),
    };
    let why_not = |what: &str| -> String {
        match (f.mode, f.pin) {
            (ApprovalMode::Admin, _) => format!("pending_review ({what}; approval mode admin: an MCPBox admin approves)"),
            (ApprovalMode::Pinned, Some(p)) => format!(
                "pending_review ({what}; pin is stale: pinned {} but content is {}; run `mcpbox-gitops approve {} --by {}` to re-pin)",
                short(&p.sha256),
                short(f.content_hash),
                p.tool,
                p.approved_by
            ),
            (ApprovalMode::Pinned, None) => format!("pending_review ({what}, no pin)"),
        }
    };
    let existing = match &f.existing {
        // New tool: created and submitted, as MCPBox's create + request-publish.
        None => {
            return match matching_pin {
                Some(p) => approve_by_pin(p),
                None if f.auto_approve => auto(),
                None => Decision {
                    write: Some(ApprovalWrite::SubmitForReview),
                    status: Status::PendingReview,
                    stale_pin,
                    reason: why_not("new tool"),
                },
            };
        }
        Some(e) => e,
    };
    let keeps = f.keep_on_dependencies && existing.dependencies_only;
    if existing.content_changed && !keeps {
        // A content change resets approval exactly as MCPBox's update does
        // (dependencies too, unless the policy keeps MCPBox's leniency),
        // unless git pins the new content.
        return match matching_pin {
            Some(p) => approve_by_pin(p),
            None if f.auto_approve => auto(),
            None => Decision {
                write: Some(ApprovalWrite::SubmitForReview),
                status: Status::PendingReview,
                stale_pin,
                reason: why_not("content changed"),
            },
        };
    }
    // Unchanged content keeps whatever approval it has, unless git changed the pin
    // since we last applied (a new approval to apply). Decisions an admin took in
    // MCPBox between such changes stand.
    let current = existing.status;
    if let Some(p) = matching_pin {
        let pin_is_new = match existing.applied_pin {
            None => true,
            Some(applied) => applied != Some(p.identity().as_str()),
        };
        // An admin's rejection from before we managed the tool is a human
        // decision too: adopting it does not count as a new pin.
        let rejected_before_adoption =
            existing.applied_pin.is_none() && current == Status::Rejected;
        if current != Status::Approved && pin_is_new && !rejected_before_adoption {
            return approve_by_pin(p);
        }
        if current == Status::Approved {
            return Decision {
                write: None,
                status: current,
                stale_pin,
                reason: approved_unchanged(existing.approved_by),
            };
        }
        let what = match current {
            Status::Rejected => "rejected".to_string(),
            // No MCPBox transition leads from approved back to draft; say
            // what the row says rather than guess a transition.
            Status::Draft => "a draft".to_string(),
            _ => unapproved_by(existing),
        };
        return Decision {
            write: None,
            status: current,
            stale_pin,
            reason: format!(
                "{} ({what} in MCPBox; git's pin stands aside — re-pin to re-approve)",
                current.label()
            ),
        };
    }
    Decision {
        write: None,
        status: current,
        stale_pin,
        reason: match current {
            Status::Approved => approved_unchanged(existing.approved_by),
            other => format!("{} (unchanged)", other.label()),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const H: &str = "1111111111111111111111111111111111111111111111111111111111111111";
    const H2: &str = "2222222222222222222222222222222222222222222222222222222222222222";

    fn pin(sha: &str) -> Pin {
        Pin {
            tool: "s/t".into(),
            sha256: sha.into(),
            approved_by: "alice@example.com".into(),
            approved_at: None,
            signature: None,
        }
    }

    fn facts<'a>(pin: Option<&'a Pin>, existing: Option<Existing<'a>>) -> Facts<'a> {
        Facts {
            mode: ApprovalMode::Pinned,
            auto_approve: false,
            content_hash: H,
            pin,
            keep_on_dependencies: false,
            existing,
        }
    }

    fn existing(status: Status, changed: bool, applied_pin: Option<Option<&str>>) -> Existing<'_> {
        Existing {
            status,
            approved_by: Some("bob"),
            content_changed: changed,
            dependencies_only: false,
            applied_pin,
            last_version: None,
        }
    }

    /// Issue 14.5: a change to the dependencies alone resets an approval by
    /// default (they are code that runs); `onDependencyChange: keep` keeps it
    /// as MCPBox does, but never for a code change.
    #[test]
    fn dependencies_alone_reset_approval_unless_the_policy_keeps_it() {
        let decide_with = |keep: bool, dependencies_only: bool| {
            let mut e = existing(Status::Approved, true, Some(None));
            e.dependencies_only = dependencies_only;
            let mut f = facts(None, Some(e));
            f.keep_on_dependencies = keep;
            decide(&f)
        };
        let revoked = decide_with(false, true);
        assert_eq!(revoked.status, Status::PendingReview);
        assert_eq!(revoked.write, Some(ApprovalWrite::SubmitForReview));
        let kept = decide_with(true, true);
        assert_eq!(kept.status, Status::Approved);
        assert_eq!(kept.write, None);
        let code = decide_with(true, false);
        assert_eq!(code.status, Status::PendingReview);
    }

    /// Issue 14.4: a tool pending again while git's pin matches says which
    /// MCPBox transition did it: a rollback (its version row), a code edit
    /// (stale `approved_by` kept), or a revoke (`approved_by` cleared).
    #[test]
    fn a_tool_pending_again_names_the_transition() {
        let p = pin(H);
        let id = p.identity();
        let reason = |approved_by: Option<&'static str>,
                      last: Option<(&'static str, Option<&'static str>)>| {
            let mut e = existing(Status::PendingReview, false, Some(Some(id.as_str())));
            e.approved_by = approved_by;
            e.last_version = last;
            decide(&facts(Some(&p), Some(e))).reason
        };
        let rolled = reason(
            Some("bob"),
            Some(("rollback", Some("Rolled back to version 3"))),
        );
        assert!(
            rolled.contains("(rolled back to version 3 in MCPBox;"),
            "{rolled}"
        );
        let edited = reason(Some("bob"), Some(("manual", Some("Updated python_code"))));
        assert!(edited.contains("(code edited in MCPBox;"), "{edited}");
        let revoked = reason(None, Some(("manual", Some("Initial version"))));
        assert!(revoked.contains("(revoked in MCPBox;"), "{revoked}");
        for r in [rolled, edited, revoked] {
            assert!(r.starts_with("pending_review ("), "{r}");
        }
    }

    #[test]
    fn new_tool_with_matching_pin_is_approved_by_pinner() {
        let p = pin(H);
        let d = decide(&facts(Some(&p), None));
        assert_eq!(
            d.write,
            Some(ApprovalWrite::Approve {
                by: "alice@example.com".into()
            })
        );
        assert_eq!(d.status, Status::Approved);
    }

    #[test]
    fn new_tool_without_pin_goes_to_review() {
        let d = decide(&facts(None, None));
        assert_eq!(d.write, Some(ApprovalWrite::SubmitForReview));
        assert!(d.reason.contains("no pin"));
    }

    #[test]
    fn code_change_with_stale_pin_goes_to_review() {
        let p = pin(H2);
        let d = decide(&facts(
            Some(&p),
            Some(existing(Status::Approved, true, Some(None))),
        ));
        assert_eq!(d.write, Some(ApprovalWrite::SubmitForReview));
        assert!(d.reason.contains("pin is stale"), "{}", d.reason);
        assert!(d.stale_pin);
    }

    #[test]
    fn code_and_pin_changed_together_is_approved() {
        let p = pin(H);
        let d = decide(&facts(
            Some(&p),
            Some(existing(Status::Approved, true, Some(Some("old")))),
        ));
        assert_eq!(d.status, Status::Approved);
        assert!(d.write.is_some());
    }

    #[test]
    fn admin_mode_never_approves() {
        let p = pin(H);
        let mut f = facts(Some(&p), None);
        f.mode = ApprovalMode::Admin;
        assert_eq!(decide(&f).write, Some(ApprovalWrite::SubmitForReview));
    }

    #[test]
    fn auto_approve_mode_approves_like_mcpbox() {
        let mut f = facts(None, Some(existing(Status::Approved, true, Some(None))));
        f.auto_approve = true;
        assert_eq!(
            decide(&f).write,
            Some(ApprovalWrite::Approve {
                by: AUTO_APPROVE_BY.into()
            })
        );
    }

    #[test]
    fn unchanged_content_keeps_admin_ui_approval() {
        let d = decide(&facts(
            None,
            Some(existing(Status::Approved, false, Some(None))),
        ));
        assert_eq!(d.write, None);
        assert_eq!(d.status, Status::Approved);
    }

    #[test]
    fn revocation_in_mcpbox_stands_until_repin() {
        let p = pin(H);
        let id = p.identity();
        let d = decide(&facts(
            Some(&p),
            Some(existing(
                Status::PendingReview,
                false,
                Some(Some(id.as_str())),
            )),
        ));
        assert_eq!(d.write, None);
        assert!(d.reason.contains("re-pin"), "{}", d.reason);
        // A new pin (e.g. re-pinned with a new date) approves again.
        let mut p2 = p.clone();
        p2.approved_at = Some("2026-11-27T00:00:00Z".into());
        let d = decide(&facts(
            Some(&p2),
            Some(existing(
                Status::PendingReview,
                false,
                Some(Some(id.as_str())),
            )),
        ));
        assert_eq!(d.status, Status::Approved);
    }

    #[test]
    fn drift_restored_to_pinned_content_is_approved_again() {
        let p = pin(H);
        let id = p.identity();
        let d = decide(&facts(
            Some(&p),
            Some(existing(
                Status::PendingReview,
                true,
                Some(Some(id.as_str())),
            )),
        ));
        assert_eq!(d.status, Status::Approved);
    }

    #[test]
    fn adopting_a_rejected_tool_keeps_the_rejection_until_repinned() {
        let p = pin(H);
        let d = decide(&facts(
            Some(&p),
            Some(existing(Status::Rejected, false, None)),
        ));
        assert_eq!(d.write, None);
        assert!(d.reason.contains("re-pin"), "{}", d.reason);
        let mut p2 = p.clone();
        p2.approved_at = Some("later".into());
        let id = p.identity();
        let d = decide(&facts(
            Some(&p2),
            Some(existing(Status::Rejected, false, Some(Some(id.as_str())))),
        ));
        assert_eq!(d.status, Status::Approved);
    }

    /// Issue 14.4: an unchanged approval names the MCPBox transition that
    /// wrote its `approved_by`, never an "unknown" approver.
    #[test]
    fn an_unchanged_approval_names_who_approved_it_in_mcpbox() {
        let reason = |by: Option<&'static str>| {
            let mut e = existing(Status::Approved, false, Some(None));
            e.approved_by = by;
            decide(&facts(None, Some(e))).reason
        };
        assert_eq!(reason(Some("bob")), "approved (unchanged; approved by bob)");
        assert!(
            reason(Some(AUTO_APPROVE_BY)).contains("MCPBox's auto_approve mode"),
            "{}",
            reason(Some(AUTO_APPROVE_BY))
        );
        let imported = reason(None);
        assert!(imported.contains("without an approver"), "{imported}");
        assert!(!imported.contains("unknown"), "{imported}");
    }

    #[test]
    fn adopting_with_a_pin_approves_a_pending_tool() {
        let p = pin(H);
        let d = decide(&facts(
            Some(&p),
            Some(existing(Status::PendingReview, false, None)),
        ));
        assert_eq!(d.status, Status::Approved);
    }
}
