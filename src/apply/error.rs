//! Why an apply did not happen (every variant: nothing was written), and the
//! helper that turns a failed write into one. Shared by every part of
//! `apply`, so it lives apart from the executor that uses them all.

use std::time::Duration;

use uuid::Uuid;

use crate::plan::diff;
use crate::state;

/// Why an apply did not happen. Nothing was written in any of these cases.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Another reconciler held the lock for too long.
    #[error("another apply holds the lock ({holder}); gave up after {} s (raise --lock-timeout, or find that process: if it is gone, PostgreSQL frees its lock within about 30 s)", .waited.as_secs())]
    LockTimeout {
        /// How long this apply waited.
        waited: Duration,
        /// Who holds it: backend pid, application name (our pid and host),
        /// client address and since when.
        holder: String,
    },
    /// The database changed between showing the plan and applying it.
    #[error(
        "the database changed since the plan was made ({0}); nothing was applied — run plan again"
    )]
    PlanStale(String),
    /// Rows a saved plan read have changed since it was made.
    #[error("the database changed since the plan was made; these objects moved: {}. Nothing was applied: run plan again", .0.join(", "))]
    Moved(Vec<String>),
    /// The deletion guard refused the plan.
    #[error("plan refused: {0}")]
    Refused(String),
    /// No plan could be made.
    #[error(transparent)]
    Plan(#[from] diff::Error),
    /// Reading the state failed.
    #[error(transparent)]
    State(#[from] state::Error),
    /// The plan refers to an object it does not create and the database does not
    /// hold (a bug, never expected); nothing was applied.
    #[error("internal error: {0}; nothing was applied")]
    Inconsistent(String),
    /// A value could not be encrypted; nothing was applied.
    #[error("{0}; nothing was applied")]
    Value(#[from] crate::values::Error),
    /// The connection was lost at COMMIT, and our bookkeeping (checked on a new
    /// connection once the old backend was gone) does not hold this apply.
    #[error("the connection to the database was lost at COMMIT, and apply {id} is not recorded: it did not commit and nothing was applied; run the command again")]
    NotCommitted {
        /// This apply's id in `mcpbox_gitops.applies`.
        id: Uuid,
    },
    /// The connection was lost at COMMIT and no new connection could tell.
    #[error("the connection to the database was lost at COMMIT; whether apply {id} committed is unknown ({reason}). Find out with `SELECT * FROM mcpbox_gitops.applies WHERE id = '{id}'`, or run plan: an empty plan means it did")]
    OutcomeUnknown {
        /// This apply's id in `mcpbox_gitops.applies`.
        id: Uuid,
        /// Why the check failed.
        reason: String,
    },
    /// A write failed; the transaction was rolled back.
    #[error("apply failed while {what}; the transaction was rolled back and nothing was applied: the command can be run again")]
    Write {
        /// What was being written.
        what: &'static str,
        /// The driver's error.
        #[source]
        source: sqlx::Error,
    },
}

/// `map_err` for a failed write: names what was being written.
pub(super) fn write_error(what: &'static str) -> impl FnOnce(sqlx::Error) -> Error {
    move |source| Error::Write { what, source }
}
