//! Matching desired objects to rows: rows indexed by id and by the natural key
//! they can be adopted under, and a matcher that hands each row out once.
//!
//! Deciding what to change about a matched row lives in `plan::diff`.

use std::collections::{HashMap, HashSet};

use uuid::Uuid;

use super::Error;
use crate::model::Kind;
use crate::state::ActualState;

/// Rows of one kind indexed by id and by the natural key they can be adopted
/// under, so matching costs one lookup per desired object, not a scan.
pub(super) struct Index<'a, T> {
    by_id: HashMap<Uuid, &'a T>,
    by_key: HashMap<String, Vec<&'a T>>,
}

impl<'a, T> Index<'a, T> {
    pub(super) fn new(rows: &'a [T], id: impl Fn(&T) -> Uuid, key: impl Fn(&T) -> String) -> Self {
        let mut by_key: HashMap<String, Vec<&'a T>> = HashMap::new();
        for r in rows {
            by_key.entry(key(r)).or_default().push(r);
        }
        Index {
            by_id: rows.iter().map(|r| (id(r), r)).collect(),
            by_key,
        }
    }

    pub(super) fn get(&self, id: Uuid) -> Option<&'a T> {
        self.by_id.get(&id).copied()
    }
}

/// The adoption key of a server-scoped row: `<server id>/<name>`.
pub(super) fn scoped(server_id: Uuid, name: &str) -> String {
    format!("{server_id}/{name}")
}

/// The adoption key of a network row.
pub(super) fn network_bucket(
    server_id: Uuid,
    tool_id: Option<Uuid>,
    host: &str,
    port: Option<i32>,
) -> String {
    format!("{server_id}|{tool_id:?}|{host}|{port:?}")
}

/// Row ids of what is being matched, so each row is used once.
pub(super) struct Matcher<'a> {
    pub(super) actual: &'a ActualState,
    pub(super) owned_ids: HashSet<Uuid>,
    pub(super) used: HashSet<Uuid>,
    /// Notes for reviewers about what matching decided.
    pub(super) notes: Vec<String>,
}

impl<'a> Matcher<'a> {
    /// The owned row for (kind, key) if it still exists, or the single unowned
    /// candidate in `bucket` to adopt.
    pub(super) fn find<T>(
        &mut self,
        kind: Kind,
        key: &str,
        index: &Index<'a, T>,
        bucket: &str,
        id: impl Fn(&T) -> Uuid,
        is_candidate: impl Fn(&T) -> bool,
    ) -> Result<Option<(&'a T, bool)>, Error> {
        if let Some(o) = self.actual.ownership.get(&(kind, key.to_string())) {
            if let Some(row) = index.get(o.row_id) {
                self.used.insert(o.row_id);
                return Ok(Some((row, false)));
            }
        }
        let candidates: Vec<&'a T> = index
            .by_key
            .get(bucket)
            .map(|rows| {
                rows.iter()
                    .copied()
                    .filter(|r| {
                        !self.owned_ids.contains(&id(r))
                            && !self.used.contains(&id(r))
                            && is_candidate(r)
                    })
                    .collect()
            })
            .unwrap_or_default();
        match candidates.len() {
            0 => Ok(None),
            1 => {
                self.used.insert(id(candidates[0]));
                Ok(Some((candidates[0], true)))
            }
            // Approved request rows may legally repeat (only pending ones are
            // unique): adopt one, deterministically, and leave the rest unmanaged.
            n if matches!(kind, Kind::Network | Kind::Module) => {
                let first = candidates
                    .iter()
                    .copied()
                    .min_by_key(|r| id(r))
                    .unwrap_or(candidates[0]);
                self.used.insert(id(first));
                self.notes.push(format!("{} {key} has {n} identical rows in MCPBox; adopting one, the other {} stay unmanaged", kind.as_str(), n - 1));
                Ok(Some((first, true)))
            }
            n => Err(Error::Ambiguous {
                kind: kind.as_str(),
                key: key.to_string(),
                count: n,
            }),
        }
    }

    /// Like [`Matcher::find`] for request rows: an approved row is preferred, a
    /// pending one (an LLM's request git now grants) adopted otherwise; rejected
    /// rows are never adopted.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn find_request<T>(
        &mut self,
        kind: Kind,
        key: &str,
        index: &Index<'a, T>,
        bucket: &str,
        id: impl Fn(&T) -> Uuid,
        status: impl Fn(&T) -> &str,
        is_candidate: impl Fn(&T) -> bool,
    ) -> Result<Option<(&'a T, bool)>, Error> {
        let approved = self.find(kind, key, index, bucket, &id, |r| {
            is_candidate(r) && status(r) == "approved"
        })?;
        if approved.is_some() {
            return Ok(approved);
        }
        self.find(kind, key, index, bucket, &id, |r| {
            is_candidate(r) && status(r) == "pending"
        })
    }
}
