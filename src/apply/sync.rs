//! MCPBox's sync helpers run inside the apply transaction, on the rows as they are
//! after the writes: `servers.allowed_hosts` and `global_config.allowed_modules`,
//! computed by `rules::sync`, written only when they differ.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::json;
use sqlx::{PgConnection, Row};
use uuid::Uuid;

use super::error::{write_error, Error};
use crate::rules::sync;

/// MCPBox's `sync_allowed_hosts` for each server, on the rows as they are now.
pub(super) async fn sync_hosts(
    tx: &mut PgConnection,
    servers: &BTreeSet<Uuid>,
) -> Result<(), Error> {
    if servers.is_empty() {
        return Ok(());
    }
    let ids: Vec<Uuid> = servers.iter().copied().collect();
    // A row belongs to S through n.server_id = S or through its tool's server.
    let rows = sqlx::query(
        "SELECT n.server_id AS nsid, t.server_id AS tsid, n.host, n.port
           FROM network_access_requests n LEFT JOIN tools t ON t.id = n.tool_id
          WHERE n.status = 'approved' AND (n.server_id = ANY($1) OR t.server_id = ANY($1))",
    )
    .bind(&ids)
    .fetch_all(&mut *tx)
    .await
    .map_err(write_error("reading approved hosts"))?;
    let mut approved: BTreeMap<Uuid, Vec<(String, Option<i32>)>> = BTreeMap::new();
    for r in rows {
        let host: String = r.get("host");
        let port: Option<i32> = r.get("port");
        let mut owners: BTreeSet<Uuid> = BTreeSet::new();
        for col in ["nsid", "tsid"] {
            if let Some(s) = r.get::<Option<Uuid>, _>(col) {
                if servers.contains(&s) {
                    owners.insert(s);
                }
            }
        }
        for s in owners {
            approved.entry(s).or_default().push((host.clone(), port));
        }
    }
    let current =
        sqlx::query("SELECT id, allowed_hosts::text[] AS hosts FROM servers WHERE id = ANY($1)")
            .bind(&ids)
            .fetch_all(&mut *tx)
            .await
            .map_err(write_error("reading allowed_hosts"))?;
    let (mut id, mut hosts) = (vec![], vec![]);
    for r in current {
        let sid: Uuid = r.get("id");
        let before: Vec<String> = r.get("hosts");
        let after = sync::allowed_hosts(
            approved
                .get(&sid)
                .map(|v| v.iter().map(|(h, p)| (h.as_str(), *p)).collect::<Vec<_>>())
                .unwrap_or_default(),
        );
        // UPDATE only if different, as the ORM does (updated_at untouched otherwise).
        if before != after {
            id.push(sid);
            hosts.push(json!(after));
        }
    }
    if !id.is_empty() {
        sqlx::query(
            "UPDATE servers s SET allowed_hosts = ARRAY(SELECT jsonb_array_elements_text(u.hosts))::varchar[], updated_at = now()
               FROM UNNEST($1::uuid[], $2::jsonb[]) AS u(id, hosts) WHERE s.id = u.id",
        )
        .bind(&id)
        .bind(&hosts)
        .execute(&mut *tx)
        .await
        .map_err(write_error("syncing allowed_hosts"))?;
    }
    Ok(())
}

/// MCPBox's `sync_allowed_modules`, on the rows as they are now.
pub(super) async fn sync_modules(tx: &mut PgConnection) -> Result<(), Error> {
    let names: Vec<String> =
        sqlx::query_scalar("SELECT module_name FROM module_requests WHERE status = 'approved'")
            .fetch_all(&mut *tx)
            .await
            .map_err(write_error("reading approved modules"))?;
    let after = sync::allowed_modules(names.iter().map(String::as_str));
    let current: Option<Option<Vec<String>>> = sqlx::query_scalar(
        "SELECT allowed_modules::text[] FROM global_config WHERE config_key = 'main'",
    )
    .fetch_optional(&mut *tx)
    .await
    .map_err(write_error("reading allowed_modules"))?;
    match current {
        None => {
            // MCPBox creates the 'main' row lazily on its first write.
            sqlx::query("INSERT INTO global_config (id, config_key, allowed_modules) VALUES ($1, 'main', $2::varchar[])")
                .bind(Uuid::new_v4())
                .bind(&after)
                .execute(&mut *tx)
                .await
                .map_err(write_error("syncing allowed_modules"))?;
        }
        Some(before) if before.as_ref() != Some(&after) => {
            sqlx::query("UPDATE global_config SET allowed_modules = $1::varchar[], updated_at = now() WHERE config_key = 'main'")
                .bind(&after)
                .execute(&mut *tx)
                .await
                .map_err(write_error("syncing allowed_modules"))?;
        }
        Some(_) => {}
    }
    Ok(())
}
