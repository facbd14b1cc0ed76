//! `db migrate` and `db check`: MCPBox's schema on an empty database, and our own
//! bookkeeping (schema `mcpbox_gitops`) everywhere.
//!
//! MCPBox's tables are created only on a database that has none; a database that
//! MCPBox's Alembic migrated is left untouched. Our migrations are embedded SQL
//! files, tracked in `mcpbox_gitops.schema_migrations`.

use sha2::{Digest, Sha256};
use sqlx::{PgPool, Row};
use tracing::{info, instrument};

use super::query_error;
use super::Error;

/// MCPBox's schema at Alembic revision 0002.
const MCPBOX_SCHEMA: &str =
    include_str!("../../migrations/mcpbox/20260302000000_mcpbox_schema_0002.sql");

/// The Alembic revision we write for and require.
pub const ALEMBIC_REVISION: &str = "0002";

/// Our own migrations, in order: (version, description, SQL).
const GITOPS_MIGRATIONS: &[(i64, &str, &str)] = &[
    (
        20261126000000,
        "ownership",
        include_str!("../../migrations/gitops/20261126000000_ownership.sql"),
    ),
    (
        20261205000000,
        "daemon",
        include_str!("../../migrations/gitops/20261205000000_daemon.sql"),
    ),
    (
        20261205000100,
        "ownership owner",
        include_str!("../../migrations/gitops/20261205000100_ownership_owner.sql"),
    ),
    (
        20261205000200,
        "quarantine",
        include_str!("../../migrations/gitops/20261205000200_quarantine.sql"),
    ),
];

/// How many migrations of our own bookkeeping there are.
pub fn our_migrations() -> usize {
    GITOPS_MIGRATIONS.len()
}

/// Key of the advisory lock that serialises migrations.
const MIGRATE_LOCK: i64 = 0x6d63_7062_6d69_6772; // "mcpbmigr"

/// What `migrate` did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Migrated {
    /// MCPBox's schema was created (the database was empty).
    pub created_mcpbox_schema: bool,
    /// Our migrations that ran now.
    pub applied: Vec<i64>,
}

/// What `check` found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Status {
    /// `alembic_version`, if the table exists.
    pub alembic_revision: Option<String>,
    /// Whether `public.servers` exists.
    pub has_mcpbox_tables: bool,
    /// Our migrations not yet applied.
    pub pending: Vec<i64>,
    /// Rights `apply` needs that the connected role lacks, as `PRIVILEGE on
    /// table` (empty when the tables are missing: `problems` says so first).
    pub missing_rights: Vec<String>,
}

/// The tables `apply` writes and the rights it needs on each (reads need
/// SELECT everywhere; deletes of child rows MCPBox cascades need none).
const WRITE_RIGHTS: &[(&str, &str)] = &[
    ("public.servers", "SELECT,INSERT,UPDATE,DELETE"),
    ("public.tools", "SELECT,INSERT,UPDATE,DELETE"),
    ("public.tool_versions", "SELECT,INSERT"),
    ("public.server_secrets", "SELECT,INSERT,UPDATE,DELETE"),
    (
        "public.network_access_requests",
        "SELECT,INSERT,UPDATE,DELETE",
    ),
    ("public.module_requests", "SELECT,INSERT,UPDATE,DELETE"),
    ("public.external_mcp_sources", "SELECT,INSERT,UPDATE,DELETE"),
    ("public.settings", "SELECT,INSERT,UPDATE,DELETE"),
    ("public.global_config", "SELECT,INSERT,UPDATE"),
    ("public.activity_logs", "SELECT,INSERT"),
    (
        "public.tunnel_configurations",
        "SELECT,INSERT,UPDATE,DELETE",
    ),
    ("mcpbox_gitops.ownership", "SELECT,INSERT,UPDATE,DELETE"),
    ("mcpbox_gitops.applies", "SELECT,INSERT"),
    ("mcpbox_gitops.quarantine", "SELECT,INSERT,DELETE"),
];

impl Status {
    /// Problems that make the database unusable for plan/apply, empty if none.
    pub fn problems(&self) -> Vec<String> {
        let mut out = self.mcpbox_problems();
        if !self.pending.is_empty() {
            out.push(format!(
                "{} mcpbox-gitops migration(s) pending; run `mcpbox-gitops db migrate`",
                self.pending.len()
            ));
        }
        out
    }

    /// Problems of MCPBox's own schema (missing, another revision), empty if
    /// none: what a command that only reads MCPBox's tables needs.
    pub fn mcpbox_problems(&self) -> Vec<String> {
        let mut out = Vec::new();
        if !self.has_mcpbox_tables {
            out.push("MCPBox's tables are missing; run `mcpbox-gitops db migrate` (or start MCPBox once)".to_string());
        } else {
            match &self.alembic_revision {
                Some(r) if r == ALEMBIC_REVISION => {}
                Some(r) => out.push(format!("MCPBox's schema is at Alembic revision {r}; this version writes revision {ALEMBIC_REVISION}")),
                None => out.push("MCPBox's tables exist but alembic_version is missing; MCPBox would try to re-create them at start-up".to_string()),
            }
        }
        out
    }

    /// What keeps `apply` from writing: [`Status::problems`] plus the missing
    /// rights, as one sentence naming each.
    pub fn write_problems(&self) -> Vec<String> {
        let mut out = self.problems();
        if !self.missing_rights.is_empty() {
            out.push(format!(
                "the database role lacks rights apply needs: {}; grant them (e.g. `GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public, mcpbox_gitops TO <role>` and `GRANT USAGE ON SCHEMA mcpbox_gitops TO <role>`)",
                self.missing_rights.join(", ")
            ));
        }
        out
    }
}

async fn inspect(conn: &mut sqlx::PgConnection) -> Result<Status, Error> {
    let row = sqlx::query(
        "SELECT to_regclass('public.servers') IS NOT NULL AS servers,
                to_regclass('public.alembic_version') IS NOT NULL AS alembic,
                to_regclass('mcpbox_gitops.schema_migrations') IS NOT NULL AS ours",
    )
    .fetch_one(&mut *conn)
    .await
    .map_err(query_error("catalog"))?;
    let has_servers: bool = row.get("servers");
    let has_alembic: bool = row.get("alembic");
    let has_ours: bool = row.get("ours");
    let alembic_revision = if has_alembic {
        sqlx::query_scalar::<_, String>("SELECT version_num FROM public.alembic_version LIMIT 1")
            .fetch_optional(&mut *conn)
            .await
            .map_err(query_error("alembic_version"))?
    } else {
        None
    };
    let applied: Vec<i64> = if has_ours {
        sqlx::query_scalar("SELECT version FROM mcpbox_gitops.schema_migrations")
            .fetch_all(&mut *conn)
            .await
            .map_err(query_error("schema_migrations"))?
    } else {
        Vec::new()
    };
    let pending = GITOPS_MIGRATIONS
        .iter()
        .map(|m| m.0)
        .filter(|v| !applied.contains(v))
        .collect();
    let missing_rights = missing_rights(conn).await?;
    Ok(Status {
        alembic_revision,
        has_mcpbox_tables: has_servers,
        pending,
        missing_rights,
    })
}

/// The rights of [`WRITE_RIGHTS`] the current role lacks, on the tables that
/// exist (one query). Without USAGE on our schema, every right on its tables
/// is missing.
async fn missing_rights(conn: &mut sqlx::PgConnection) -> Result<Vec<String>, Error> {
    let (tables, rights): (Vec<&str>, Vec<&str>) = WRITE_RIGHTS.iter().copied().unzip();
    sqlx::query_scalar(
        "SELECT p || ' on ' || t
           FROM UNNEST($1::text[], $2::text[]) WITH ORDINALITY AS w(t, ps, n)
           CROSS JOIN LATERAL UNNEST(string_to_array(ps, ',')) WITH ORDINALITY AS r(p, m)
          WHERE to_regclass(t) IS NOT NULL
            AND (NOT has_schema_privilege(split_part(t, '.', 1), 'USAGE')
                 OR NOT has_table_privilege(t, p))
          ORDER BY n, m",
    )
    .bind(&tables)
    .bind(&rights)
    .fetch_all(&mut *conn)
    .await
    .map_err(query_error("privileges"))
}

/// Reports whether the database is usable and why not.
pub async fn check(pool: &PgPool) -> Result<Status, Error> {
    let mut conn = pool.acquire().await.map_err(query_error("connect"))?;
    inspect(&mut conn).await
}

/// Creates what is missing, in one transaction. Running it twice is a no-op.
#[instrument(skip_all)]
pub async fn migrate(pool: &PgPool) -> Result<Migrated, Error> {
    let mut tx = pool.begin().await.map_err(query_error("begin"))?;
    sqlx::query("SELECT pg_advisory_xact_lock($1)")
        .bind(MIGRATE_LOCK)
        .execute(&mut *tx)
        .await
        .map_err(query_error("lock"))?;
    let status = inspect(&mut tx).await?;
    let mut created = false;
    match (&status.alembic_revision, status.has_mcpbox_tables) {
        (None, false) => {
            sqlx::raw_sql(MCPBOX_SCHEMA).execute(&mut *tx).await.map_err(query_error("create MCPBox schema"))?;
            created = true;
            info!(revision = ALEMBIC_REVISION, "created MCPBox schema");
        }
        (Some(r), true) if r == ALEMBIC_REVISION => {}
        (Some(r), _) => {
            return Err(Error::NotReady(format!(
                "MCPBox's schema is at Alembic revision {r}, not {ALEMBIC_REVISION}; upgrade MCPBox (or this tool) first"
            )))
        }
        (None, true) => {
            return Err(Error::NotReady(
                "the database has MCPBox tables but no alembic_version; refusing to guess their revision".into(),
            ))
        }
    }
    sqlx::raw_sql(
        "CREATE SCHEMA IF NOT EXISTS mcpbox_gitops;
         CREATE TABLE IF NOT EXISTS mcpbox_gitops.schema_migrations (
             version bigint PRIMARY KEY,
             description text NOT NULL,
             checksum bytea NOT NULL,
             applied_at timestamptz NOT NULL DEFAULT now())",
    )
    .execute(&mut *tx)
    .await
    .map_err(query_error("create schema_migrations"))?;
    let mut applied = Vec::new();
    for (version, description, sql) in GITOPS_MIGRATIONS {
        if !status.pending.contains(version) {
            continue;
        }
        sqlx::raw_sql(sql)
            .execute(&mut *tx)
            .await
            .map_err(query_error("apply mcpbox-gitops migration"))?;
        sqlx::query("INSERT INTO mcpbox_gitops.schema_migrations (version, description, checksum) VALUES ($1, $2, $3)")
            .bind(version)
            .bind(description)
            .bind(Sha256::digest(sql.as_bytes()).to_vec())
            .execute(&mut *tx)
            .await
            .map_err(query_error("record migration"))?;
        applied.push(*version);
    }
    tx.commit().await.map_err(query_error("commit"))?;
    Ok(Migrated {
        created_mcpbox_schema: created,
        applied,
    })
}
