//! The caches MCPBox's sync helpers will recompute after a plan, simulated on the
//! request rows as they will be. Writing them lives in `apply`.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use uuid::Uuid;

use crate::desired::DesiredState;
use crate::model::{Kind, Object};
use crate::plan::{Action, CacheChange, Change};
use crate::rules::sync;
use crate::state::ActualState;

/// A server as the caches see it: an existing row (by id, since names are not
/// unique in MCPBox) or one this plan creates (by its manifest name).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
enum ServerRef {
    Existing(Uuid),
    New(String),
}

/// The caches the sync helpers will change: simulate the approved request rows
/// after apply and run MCPBox's algorithms on them.
#[allow(clippy::too_many_arguments)]
pub(super) fn caches(
    desired: &DesiredState,
    actual: &ActualState,
    changes: &[Change],
    server_ids: &HashMap<&str, Option<Uuid>>,
    deleted_servers: &HashSet<Uuid>,
    deleted_tools: &HashSet<Uuid>,
    deleted_rows: &HashSet<Uuid>,
) -> Vec<CacheChange> {
    let servers: HashMap<Uuid, &crate::state::ServerRow> =
        actual.servers.iter().map(|s| (s.id, s)).collect();
    let tool_servers: HashMap<Uuid, Uuid> =
        actual.tools.iter().map(|t| (t.id, t.server_id)).collect();
    let gone = |id: Uuid, tool: Option<Uuid>, server: Option<Uuid>| {
        deleted_rows.contains(&id)
            || tool.is_some_and(|t| deleted_tools.contains(&t))
            || server.is_some_and(|s| deleted_servers.contains(&s))
    };
    let server_of = |c: &Change, name: &str| match c.server_id {
        Some(id) => ServerRef::Existing(id),
        None => ServerRef::New(name.to_string()),
    };
    // Hosts: server → approved (host, port) after apply.
    let mut hosts: BTreeMap<ServerRef, Vec<(String, Option<i32>)>> = BTreeMap::new();
    let mut touched: BTreeSet<ServerRef> = BTreeSet::new();
    for r in &actual.network {
        let sref = ServerRef::Existing(r.server_id);
        if gone(r.id, r.tool_id, Some(r.server_id)) {
            if r.status == "approved" && !deleted_servers.contains(&r.server_id) {
                touched.insert(sref);
            }
            continue;
        }
        if r.status == "approved" {
            hosts
                .entry(sref)
                .or_default()
                .push((r.obj.host.clone(), r.obj.port));
        }
    }
    let mut module_touched = false;
    let mut modules: Vec<String> = Vec::new();
    for r in &actual.modules {
        let tool_server = r.tool_id.and_then(|t| tool_servers.get(&t).copied());
        if gone(r.id, r.tool_id, tool_server) {
            module_touched |= r.status == "approved";
            continue;
        }
        if r.status == "approved" {
            modules.push(r.obj.name.clone());
        }
    }
    for c in changes {
        let granted = c.action == Action::Create || c.fields.iter().any(|f| f.field == "status");
        match &c.after {
            Some(Object::Network(n)) if granted && c.action != Action::Delete => {
                let sref = server_of(c, &n.server);
                touched.insert(sref.clone());
                hosts
                    .entry(sref)
                    .or_default()
                    .push((n.host.clone(), n.port));
            }
            Some(Object::Module(md)) if granted && c.action != Action::Delete => {
                module_touched = true;
                modules.push(md.name.clone());
            }
            _ => {}
        }
        if c.action == Action::Delete && c.kind == Kind::Network {
            if let Some(Object::Network(n)) = &c.before {
                touched.insert(server_of(c, &n.server));
            }
        }
        if c.action == Action::Delete && c.kind == Kind::Module {
            module_touched = true;
        }
    }
    // Managed servers whose cache is stale are re-synced too. (Servers with
    // network entries are collected once: asking per server walked every
    // object, 5,000 × 250,000 times at 100,000 tools.)
    let with_network: HashSet<&str> = desired
        .objects
        .values()
        .filter_map(|o| match o {
            Object::Network(n) => Some(n.server.as_str()),
            _ => None,
        })
        .collect();
    for (name, id) in server_ids {
        match id {
            Some(id) => {
                touched.insert(ServerRef::Existing(*id));
            }
            None => {
                if with_network.contains(name) {
                    touched.insert(ServerRef::New(name.to_string()));
                }
            }
        }
    }
    let mut out = Vec::new();
    for sref in touched {
        let (name, server_id, before) = match &sref {
            ServerRef::Existing(id) => {
                if deleted_servers.contains(id) {
                    continue;
                }
                let Some(row) = servers.get(id) else { continue };
                (row.obj.name.clone(), Some(*id), row.allowed_hosts.clone())
            }
            ServerRef::New(name) => (name.clone(), None, Vec::new()),
        };
        let after = sync::allowed_hosts(
            hosts
                .get(&sref)
                .map(|v| v.iter().map(|(h, p)| (h.as_str(), *p)).collect::<Vec<_>>())
                .unwrap_or_default(),
        );
        if before != after {
            out.push(cache_change(Some(name), server_id, &before, &after));
        }
    }
    let stale = matches!(&actual.allowed_modules, Some(Some(_)));
    if module_touched || stale {
        let before: Vec<String> = match &actual.allowed_modules {
            Some(Some(list)) if !list.is_empty() => list.clone(),
            _ => sync::DEFAULT_ALLOWED_MODULES
                .iter()
                .map(|s| s.to_string())
                .collect(),
        };
        let after = sync::allowed_modules(modules.iter().map(String::as_str));
        let row_differs = !matches!(&actual.allowed_modules, Some(Some(list)) if *list == after);
        if row_differs && (module_touched || before != after) {
            out.push(cache_change(None, None, &before, &after));
        }
    }
    out
}

/// The entries a cache gains and loses between two values.
fn cache_change(
    server: Option<String>,
    server_id: Option<Uuid>,
    before: &[String],
    after: &[String],
) -> CacheChange {
    CacheChange {
        server,
        server_id,
        added: after
            .iter()
            .filter(|h| !before.contains(h))
            .cloned()
            .collect(),
        removed: before
            .iter()
            .filter(|h| !after.contains(h))
            .cloned()
            .collect(),
    }
}
