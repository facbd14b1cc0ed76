//! A cheap change marker for everything a plan reads: one query that folds each
//! row's id and `xmin` (the id of the transaction that last wrote it) into a
//! count and an order-free hash per table.
//!
//! Two equal markers mean no row a plan reads was inserted, updated or deleted
//! in between (an UPDATE always writes a new row version with a new `xmin`, even
//! one that sets the same values), so a pass on an unchanged commit can skip
//! reading and diffing thousands of rows. Reading the rows themselves is
//! `state::read`; deciding what to skip is the daemon's.

use sqlx::{PgConnection, PgPool};

use super::Error;

/// Every table `state::read` reads that a plan's changes depend on, with the
/// expression that identifies a row of it. Counts that only size a delete's
/// cascade (versions, execution and activity logs) are not covered: a caller
/// that reuses a plan with deletes must read again (see `apply::execute`).
const TABLES: [(&str, &str); 12] = [
    ("public.servers", "id::text"),
    ("public.tools", "id::text"),
    ("public.server_secrets", "id::text"),
    ("public.network_access_requests", "id::text"),
    ("public.module_requests", "id::text"),
    ("public.external_mcp_sources", "id::text"),
    ("public.settings", "id::text"),
    ("public.global_config", "id::text"),
    ("public.tunnel_configurations", "id::text"),
    ("mcpbox_gitops.ownership", "kind || '/' || key"),
    ("mcpbox_gitops.applies", "id::text"),
    ("mcpbox_gitops.quarantine", "tool_key"),
];

/// The marker: per table, `count:hash` of its rows' `(id, xmin)`, joined. Equal
/// markers ⇒ no row changed. It costs one sequential pass over the ids of each
/// table, a few milliseconds for 10,000 tools, and reads no code.
pub async fn marker(pool: &PgPool) -> Result<String, Error> {
    let mut conn = pool.acquire().await.map_err(|source| Error::Query {
        context: "change marker",
        source,
    })?;
    marker_in(&mut conn).await
}

/// [`marker`] on a connection, inside its transaction's snapshot when it has
/// one: so that a marker and the rows read beside it describe the same state.
pub async fn marker_in(conn: &mut PgConnection) -> Result<String, Error> {
    let parts: Vec<String> = TABLES
        .iter()
        .map(|(t, id)| {
            format!(
                "(SELECT count(*)::text || ':' || coalesce(sum(hashtextextended({id} || '@' || xmin::text, 0)), 0)::text FROM {t})"
            )
        })
        .collect();
    let sql = format!("SELECT concat_ws(',', {})", parts.join(", "));
    sqlx::query_scalar(&sql)
        .fetch_one(conn)
        .await
        .map_err(|source| Error::Query {
            context: "change marker",
            source,
        })
}
