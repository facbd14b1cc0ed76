//! What every write of an apply needs — the plan, the rows it was computed
//! from, the row ids, the request context MCPBox would use — and how writers
//! select their changes from the plan.

use chrono::{DateTime, Utc};

use super::ids::Ids;
use crate::model::Kind;
use crate::plan::{Action, Change, Plan};
use crate::state::ActualState;

/// What every write needs: the plan, the rows it was computed from, the ids, and
/// the values MCPBox would take from its request context.
pub(super) struct Context<'a> {
    /// The plan being applied.
    pub plan: &'a Plan,
    /// The state it was computed from (read in this transaction).
    pub actual: &'a ActualState,
    /// Row ids by natural key.
    pub ids: &'a Ids,
    /// The application's "now" for approved_at, reviewed_at, approval_requested_at.
    pub now: DateTime<Utc>,
    /// The policy's reviewer identity.
    pub reviewer: &'a str,
    /// `publish_notes` of tools submitted for review.
    pub notes: &'a str,
    /// Where the desired state came from.
    pub source: &'a str,
    /// Secret and setting values read for this run.
    pub values: &'a crate::values::Resolved,
}

impl Context<'_> {
    /// Changes of one kind and action.
    pub fn by(&self, kind: Kind, action: Action) -> impl Iterator<Item = &Change> {
        self.plan
            .changes
            .iter()
            .filter(move |c| c.kind == kind && c.action == action)
    }

    /// Updates (and adoptions that change fields) of one kind.
    pub fn updates(&self, kind: Kind) -> impl Iterator<Item = &Change> {
        self.plan.changes.iter().filter(move |c| {
            c.kind == kind
                && matches!(c.action, Action::Update | Action::Adopt)
                && !c.fields.is_empty()
        })
    }
}
