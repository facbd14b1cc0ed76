//! Row ids by natural key for one apply: existing rows the plan touches and rows
//! it creates now. Servers and tools that are not changed are found through the
//! ids each change carries, never by name (server names are not unique).

use std::collections::HashMap;

use uuid::Uuid;

use super::error::Error;
use crate::model::{Kind, Object};
use crate::plan::{Action, Change, Plan};

#[derive(Default)]
pub(super) struct Ids {
    pub(super) rows: HashMap<(Kind, String), Uuid>,
}

impl Ids {
    pub(super) fn row(&self, kind: Kind, key: &str) -> Result<Uuid, Error> {
        self.rows
            .get(&(kind, key.to_string()))
            .copied()
            .ok_or_else(|| {
                Error::Inconsistent(format!(
                    "the plan names {} `{key}` but no row id is known for it",
                    kind.as_str()
                ))
            })
    }

    /// The server a secret, source, tool or network change belongs to.
    pub(super) fn server_of(&self, c: &Change, server: &str) -> Result<Uuid, Error> {
        match c.server_id {
            Some(id) => Ok(id),
            None => self.row(Kind::Server, server),
        }
    }

    /// The tool a tool-originated network change belongs to.
    pub(super) fn tool_of(&self, c: &Change, key: &str) -> Result<Uuid, Error> {
        match c.tool_id {
            Some(id) => Ok(id),
            None => self.row(Kind::Tool, key),
        }
    }

    /// The server row any change concerns, if it concerns one.
    pub(super) fn server_of_change(&self, c: &Change) -> Option<Uuid> {
        match c.after.as_ref().or(c.before.as_ref())? {
            Object::Server(_) => self.row(Kind::Server, &c.key).ok(),
            Object::Secret(x) => self.server_of(c, &x.server).ok(),
            Object::Source(x) => self.server_of(c, &x.server).ok(),
            Object::Tool(x) => self.server_of(c, &x.server).ok(),
            Object::Network(x) => self.server_of(c, &x.server).ok(),
            _ => None,
        }
    }
}

impl Ids {
    /// New ids for rows the plan creates, existing ids for the rest.
    pub(super) fn for_plan(plan: &Plan) -> Ids {
        let mut ids = Ids::default();
        for c in &plan.changes {
            let id = match (c.action, c.row_id) {
                (Action::Create, _) => Uuid::new_v4(),
                (_, Some(id)) => id,
                (_, None) => continue,
            };
            ids.rows.insert((c.kind, c.key.clone()), id);
        }
        ids
    }
}
