//! The rows a tool change writes, computed in Rust before any SQL runs: approval
//! columns per MCPBox's state machine, and `tool_versions` snapshots.
//!
//! Pure; `execute` sends these rows to PostgreSQL in batches.

use chrono::{DateTime, Utc};

use crate::model::Tool;
use crate::plan::{ToolChange, VersionWrite};
use crate::rules::approval::{ApprovalWrite, Status};
use crate::state::ToolRow;

/// The approval columns of a tool row after apply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApprovalColumns {
    /// `approval_status`.
    pub status: Status,
    /// `approval_requested_at`.
    pub requested_at: Option<DateTime<Utc>>,
    /// `approved_at`.
    pub approved_at: Option<DateTime<Utc>>,
    /// `approved_by`.
    pub approved_by: Option<String>,
    /// `rejection_reason`.
    pub rejection_reason: Option<String>,
    /// `publish_notes`.
    pub publish_notes: Option<String>,
}

/// Approval columns of a new tool: created, then submitted (or approved) as
/// MCPBox's create + request-publish (+ approve) would leave them.
pub fn approval_for_create(
    change: &ToolChange,
    now: DateTime<Utc>,
    notes: &str,
) -> ApprovalColumns {
    let (status, approved_at, approved_by) = match &change.approval.write {
        Some(ApprovalWrite::Approve { by }) => (Status::Approved, Some(now), Some(by.clone())),
        _ => (Status::PendingReview, None, None),
    };
    ApprovalColumns {
        status,
        requested_at: Some(now),
        approved_at,
        approved_by,
        rejection_reason: None,
        publish_notes: Some(notes.to_string()),
    }
}

/// Approval columns of an existing tool after an update.
pub fn approval_for_update(
    change: &ToolChange,
    row: &ToolRow,
    now: DateTime<Utc>,
    notes: &str,
) -> ApprovalColumns {
    let mut cols = ApprovalColumns {
        status: row.approval_status,
        requested_at: row.approval_requested_at,
        approved_at: row.approved_at,
        approved_by: row.approved_by.clone(),
        rejection_reason: row.rejection_reason.clone(),
        publish_notes: row.publish_notes.clone(),
    };
    match &change.approval.write {
        // MCPBox's approve: status, approved_at/by, and rejection_reason cleared.
        Some(ApprovalWrite::Approve { by }) => {
            cols.status = Status::Approved;
            cols.approved_at = Some(now);
            cols.approved_by = Some(by.clone());
            cols.rejection_reason = None;
        }
        // MCPBox's update with changed code: only the status; stale approved_at
        // and approved_by stay, as MCPBox keeps them.
        Some(ApprovalWrite::SubmitForReview) if change.code_changed => {
            cols.status = Status::PendingReview
        }
        // Content changed without a code change (dependencies): MCPBox's update
        // leaves approval alone, so take the transition MCPBox offers from the
        // current state: revoke an approval, or request publish of a draft or a
        // rejected tool.
        Some(ApprovalWrite::SubmitForReview) => match row.approval_status {
            Status::Approved => {
                cols.status = Status::PendingReview;
                cols.approved_at = None;
                cols.approved_by = None;
            }
            Status::Draft | Status::Rejected => {
                cols.status = Status::PendingReview;
                cols.requested_at = Some(now);
                cols.publish_notes = Some(notes.to_string());
                cols.rejection_reason = None;
            }
            Status::PendingReview => {}
        },
        None => {}
    }
    cols
}

/// A `tool_versions` snapshot row.
#[derive(Debug, Clone, PartialEq)]
pub struct VersionRow {
    /// `version_number`.
    pub number: i32,
    /// `enabled` at that version.
    pub enabled: bool,
    /// `timeout_ms` at that version.
    pub timeout_ms: Option<i32>,
    /// `change_summary`.
    pub summary: String,
}

/// The snapshots of the version rows: the final state, except that version 1 of a
/// newly created tool shows what MCPBox's create writes (enabled, no timeout).
pub fn version_rows(tool: &Tool, versions: &[VersionWrite], created: bool) -> Vec<VersionRow> {
    versions
        .iter()
        .map(|v| {
            let initial = created && v.number == 1 && versions.len() > 1;
            VersionRow {
                number: v.number,
                enabled: if initial { true } else { tool.enabled },
                timeout_ms: if initial { None } else { tool.timeout_ms },
                summary: v.summary.clone(),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::approval::Decision;

    fn change(write: Option<ApprovalWrite>) -> ToolChange {
        ToolChange {
            content_hash: "h".into(),
            content_changed: true,
            code_changed: true,
            approval: Decision {
                write,
                status: Status::PendingReview,
                reason: String::new(),
                stale_pin: false,
            },
            versions: vec![],
            pin: None,
        }
    }

    fn sample_row(status: Status, old: DateTime<Utc>) -> ToolRow {
        ToolRow {
            id: uuid::Uuid::nil(),
            server_id: uuid::Uuid::nil(),
            obj: serde_json::from_value(serde_json::json!({"server":"s","name":"t","description":null,"enabled":true,"timeout_ms":null,"tool_type":"python_code","python_code":"x","dependencies":[],"input_schema":{},"external_source":null,"external_tool_name":null})).unwrap(),
            current_version: 1,
            approval_status: status,
            approval_requested_at: Some(old),
            approved_at: Some(old),
            approved_by: Some("admin".into()),
            rejection_reason: None,
            created_by: None,
            publish_notes: None,
            external_source_id: None,
            updated_at: old,
            cascade: Default::default(),
            last_version: None,
        }
    }

    #[test]
    fn code_change_keeps_stale_approval_fields() {
        let now = Utc::now();
        let old = now - chrono::Duration::days(3);
        let row = sample_row(Status::Approved, old);
        let cols = approval_for_update(
            &change(Some(ApprovalWrite::SubmitForReview)),
            &row,
            now,
            "n",
        );
        assert_eq!(cols.status, Status::PendingReview);
        assert_eq!(cols.approved_at, Some(old));
        assert_eq!(cols.approved_by.as_deref(), Some("admin"));
        let cols = approval_for_update(
            &change(Some(ApprovalWrite::Approve { by: "alice".into() })),
            &row,
            now,
            "n",
        );
        assert_eq!(
            (cols.status, cols.approved_at, cols.approved_by.as_deref()),
            (Status::Approved, Some(now), Some("alice"))
        );
    }

    #[test]
    fn dependency_change_revokes_as_mcpbox_would() {
        let now = Utc::now();
        let old = now - chrono::Duration::days(1);
        let mut c = change(Some(ApprovalWrite::SubmitForReview));
        c.code_changed = false;
        let mut row = sample_row(Status::Approved, old);
        let cols = approval_for_update(&c, &row, now, "n");
        assert_eq!(
            (cols.status, cols.approved_at, cols.approved_by),
            (Status::PendingReview, None, None)
        );
        row.approval_status = Status::Rejected;
        row.rejection_reason = Some("no".into());
        let cols = approval_for_update(&c, &row, now, "n");
        assert_eq!(
            (cols.status, cols.requested_at, cols.rejection_reason),
            (Status::PendingReview, Some(now), None)
        );
    }

    #[test]
    fn create_requests_review_with_notes() {
        let now = Utc::now();
        let cols = approval_for_create(&change(Some(ApprovalWrite::SubmitForReview)), now, "notes");
        assert_eq!(cols.status, Status::PendingReview);
        assert_eq!(cols.requested_at, Some(now));
        assert_eq!(cols.approved_by, None);
        assert_eq!(cols.publish_notes.as_deref(), Some("notes"));
    }
}
