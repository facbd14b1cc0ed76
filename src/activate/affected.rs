//! Which servers an activation touches, derived from an apply's
//! [`Report`](crate::apply::Report) or asked for by an operator.
//!
//! Deciding what changed lives in `apply::audit::report`; reading the servers'
//! rows lives in `activate::read`.

use std::collections::BTreeSet;

use serde::Serialize;
use uuid::Uuid;

use crate::apply::Report;

/// A deleted server to unregister.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct Gone {
    /// The deleted row's `servers.id`.
    pub id: Uuid,
    /// Its name, for the outcome.
    pub name: String,
}

/// What to make live after a commit.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Affected {
    /// Servers whose served set changed. Each is re-registered if its status is
    /// `running` when activation reads it (after the commit).
    pub reregister: BTreeSet<Uuid>,
    /// Deleted servers that were running: unregistered (404 counts as done).
    pub unregister: Vec<Gone>,
    /// `global_config.allowed_modules` changed: every running server is
    /// re-registered and the sandbox asked to install packages (MCPBOX.md §8.5).
    pub modules_changed: bool,
}

impl Affected {
    /// Every running server, and packages: what `mcpbox-gitops activate` does to
    /// bring the sandbox back in line whatever changed before.
    pub fn everything() -> Affected {
        Affected {
            modules_changed: true,
            ..Affected::default()
        }
    }

    /// Whether there is nothing to do.
    pub fn is_empty(&self) -> bool {
        self.reregister.is_empty() && self.unregister.is_empty() && !self.modules_changed
    }
}

impl From<&Report> for Affected {
    fn from(report: &Report) -> Affected {
        Affected {
            reregister: report.reregister.iter().map(|r| r.server_id).collect(),
            unregister: report
                .unregister
                .iter()
                .map(|u| Gone {
                    id: u.server_id,
                    name: u.server.clone(),
                })
                .collect(),
            modules_changed: report.modules_changed,
        }
    }
}
