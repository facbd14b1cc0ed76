//! A cheap change marker for everything a plan reads: one query that folds each
//! row's id and `xmin` (the id of the transaction that last wrote it) into a
//! count and an order-free hash per table.
//!
//! Two equal markers mean no row a plan reads was inserted, updated or deleted
//! in between (an UPDATE always writes a new row version with a new `xmin`, even
//! one that sets the same values), so a pass on an unchanged commit can skip
//! reading and diffing thousands of rows. Reading the rows themselves is
//! `state::read`; deciding what to skip is the daemon's.

use sqlx::PgPool;

use super::Error;

/// Every table `state::read` reads.
const TABLES: [&str; 11] = [
    "public.servers",
    "public.tools",
    "public.server_secrets",
    "public.network_access_requests",
    "public.module_requests",
    "public.external_mcp_sources",
    "public.settings",
    "public.global_config",
    "public.tunnel_configurations",
    "mcpbox_gitops.ownership",
    "mcpbox_gitops.applies",
];

/// The marker: per table, `count:hash` of its rows' `(id, xmin)`, joined. Equal
/// markers ⇒ no row changed. It costs one sequential pass over the ids of each
/// table, a few milliseconds for 10,000 tools, and reads no code.
pub async fn marker(pool: &PgPool) -> Result<String, Error> {
    let parts: Vec<String> = TABLES
        .iter()
        .map(|t| {
            // `ownership` has no id column: its key identifies a row.
            let id = if *t == "mcpbox_gitops.ownership" {
                "kind || '/' || key"
            } else {
                "id::text"
            };
            format!(
                "(SELECT count(*)::text || ':' || coalesce(sum(hashtextextended({id} || '@' || xmin::text, 0)), 0)::text FROM {t})"
            )
        })
        .collect();
    let sql = format!("SELECT concat_ws(',', {})", parts.join(", "));
    sqlx::query_scalar(&sql)
        .fetch_one(pool)
        .await
        .map_err(|source| Error::Query {
            context: "change marker",
            source,
        })
}
