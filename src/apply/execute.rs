//! Executes a plan: one transaction, serialised across reconcilers by an advisory
//! lock, re-reading the state inside the lock and refusing if it moved.
//!
//! Writes are set-based (`INSERT … SELECT FROM UNNEST`, `UPDATE … FROM UNNEST`,
//! `DELETE … = ANY`): a handful of statements per kind, never one per row. The
//! rows themselves are computed in `apply::rows` and `plan::diff`.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde_json::{json, Value};
use sqlx::{Connection, PgConnection, PgPool, Row};
use tracing::{debug, info, instrument};
use uuid::Uuid;

use super::rows;
use crate::desired::DesiredState;
use crate::model::{Kind, Object};
use crate::plan::{diff, Action, Change, Plan, Summary};
use crate::rules::sync;
use crate::rules::versions::CHANGE_SOURCE;
use crate::state::{self, ActualState};

/// Key of the advisory lock that serialises every apply ("mcpbgito").
pub const APPLY_LOCK: i64 = 0x6d63_7062_6769_746f;

/// Why an apply did not happen. Nothing was written in any of these cases.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Another reconciler held the lock for too long.
    #[error("another mcpbox-gitops apply holds the lock; gave up after {0:?}")]
    LockTimeout(Duration),
    /// The database changed between showing the plan and applying it.
    #[error(
        "the database changed since the plan was made ({0}); nothing was applied — run plan again"
    )]
    PlanStale(String),
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
    /// A write failed; the transaction was rolled back.
    #[error("apply failed while {what}; the transaction was rolled back and nothing was applied")]
    Write {
        /// What was being written.
        what: &'static str,
        /// The driver's error.
        #[source]
        source: sqlx::Error,
    },
}

fn w(what: &'static str) -> impl FnOnce(sqlx::Error) -> Error {
    move |source| Error::Write { what, source }
}

/// How to apply.
#[derive(Debug, Clone)]
#[must_use]
pub struct Options {
    /// Allow deletes the guard would refuse.
    pub allow_destroy: bool,
    /// How long to wait for another apply's lock.
    pub lock_timeout: Duration,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            allow_destroy: false,
            lock_timeout: Duration::from_secs(60),
        }
    }
}

/// A server whose sandbox registration is now out of date.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Reregister {
    /// Server name.
    pub server: String,
    /// Why.
    pub reasons: Vec<String>,
}

/// What an apply did.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Report {
    /// The plan that was applied.
    pub summary: Summary,
    /// Whether anything was written to MCPBox's tables.
    pub changed: bool,
    /// Running servers that must be re-registered for the changes to take effect
    /// (MCPBOX.md §8).
    pub reregister: Vec<Reregister>,
    /// New servers, left `imported` as MCPBox leaves them until started.
    pub not_started: Vec<String>,
}

/// The changes with display-only, fast-moving counts removed, for comparing a
/// shown plan with the one re-computed inside the lock.
fn comparable(plan: &Plan) -> Value {
    let mut changes = plan.changes.clone();
    for c in &mut changes {
        if let Some(cascade) = &mut c.cascade {
            // These move whenever MCPBox runs a tool or logs a request.
            cascade.execution_logs = 0;
            cascade.activity_logs = 0;
        }
    }
    json!({"changes": changes, "caches": plan.caches})
}

/// Applies `desired` to the database. When `shown` is given (the plan the user
/// confirmed), the plan recomputed inside the lock must equal it.
#[instrument(skip_all, fields(source = %desired.source))]
pub async fn execute(
    pool: &PgPool,
    desired: &DesiredState,
    shown: Option<&Plan>,
    opts: &Options,
) -> Result<(Plan, Report), Error> {
    let mut conn = pool.acquire().await.map_err(|source| state::Error::Query {
        context: "connect",
        source,
    })?;
    lock(&mut conn, opts.lock_timeout).await?;
    let result = locked(&mut conn, desired, shown, opts).await;
    // Always release the session lock; if that fails, drop the connection so the
    // server releases it.
    if sqlx::query("SELECT pg_advisory_unlock($1)")
        .bind(APPLY_LOCK)
        .execute(&mut *conn)
        .await
        .is_err()
    {
        let _ = conn.detach().close().await;
    }
    result
}

async fn lock(conn: &mut PgConnection, timeout: Duration) -> Result<(), Error> {
    let start = std::time::Instant::now();
    loop {
        let got: bool = sqlx::query_scalar("SELECT pg_try_advisory_lock($1)")
            .bind(APPLY_LOCK)
            .fetch_one(&mut *conn)
            .await
            .map_err(|source| state::Error::Query {
                context: "advisory lock",
                source,
            })?;
        if got {
            return Ok(());
        }
        if start.elapsed() >= timeout {
            return Err(Error::LockTimeout(timeout));
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

async fn locked(
    conn: &mut PgConnection,
    desired: &DesiredState,
    shown: Option<&Plan>,
    opts: &Options,
) -> Result<(Plan, Report), Error> {
    let mut tx = conn.begin().await.map_err(w("beginning the transaction"))?;
    sqlx::query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
        .execute(&mut *tx)
        .await
        .map_err(w("beginning the transaction"))?;
    let actual = state::read::read(&mut tx).await?;
    let plan = diff::diff(desired, &actual)?;
    if let Some(shown) = shown {
        if comparable(shown) != comparable(&plan) {
            return Err(Error::PlanStale(
                "the plan computed now differs from the one shown".into(),
            ));
        }
    }
    if let Some(why) = plan.refusal(
        opts.allow_destroy,
        desired.policy.deletion_guard.max_delete_percent,
        desired.is_empty(),
    ) {
        return Err(Error::Refused(why));
    }
    let now = Utc::now();
    let report = write(&mut tx, desired, &actual, &plan, now).await?;
    tx.commit().await.map_err(w("committing"))?;
    info!(
        add = plan.summary.add,
        change = plan.summary.change,
        destroy = plan.summary.destroy,
        adopt = plan.summary.adopt,
        "applied"
    );
    Ok((plan, report))
}

/// Row ids by (kind, natural key): existing rows the plan touches and rows it
/// creates now. Servers and tools that are not changed are found through the
/// ids each change carries, never by name (server names are not unique).
#[derive(Default)]
struct Ids {
    rows: HashMap<(Kind, String), Uuid>,
}

impl Ids {
    fn row(&self, kind: Kind, key: &str) -> Result<Uuid, Error> {
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

    /// The server a secret, tool or network change belongs to.
    fn server_of(&self, c: &Change, server: &str) -> Result<Uuid, Error> {
        match c.server_id {
            Some(id) => Ok(id),
            None => self.row(Kind::Server, server),
        }
    }

    /// The tool a tool-originated network change belongs to.
    fn tool_of(&self, c: &Change, key: &str) -> Result<Uuid, Error> {
        match c.tool_id {
            Some(id) => Ok(id),
            None => self.row(Kind::Tool, key),
        }
    }

    /// The server row any change concerns, if it concerns one.
    fn server_of_change(&self, c: &Change) -> Option<Uuid> {
        match c.after.as_ref().or(c.before.as_ref())? {
            Object::Server(_) => self.row(Kind::Server, &c.key).ok(),
            Object::Secret(x) => self.server_of(c, &x.server).ok(),
            Object::Tool(x) => self.server_of(c, &x.server).ok(),
            Object::Network(x) => self.server_of(c, &x.server).ok(),
            _ => None,
        }
    }
}

async fn write(
    tx: &mut PgConnection,
    desired: &DesiredState,
    actual: &ActualState,
    plan: &Plan,
    now: DateTime<Utc>,
) -> Result<Report, Error> {
    let reviewer = desired.policy.reviewer.as_str();
    let notes = format!("Submitted by mcpbox-gitops from {}", desired.source);
    let mut ids = Ids::default();
    for c in &plan.changes {
        let id = match (c.action, c.row_id) {
            (Action::Create, _) => Uuid::new_v4(),
            (_, Some(id)) => id,
            (_, None) => continue,
        };
        ids.rows.insert((c.kind, c.key.clone()), id);
    }
    let by = |kind: Kind, action: Action| {
        plan.changes
            .iter()
            .filter(move |c| c.kind == kind && c.action == action)
    };
    let updates = |kind: Kind| {
        plan.changes.iter().filter(move |c| {
            c.kind == kind
                && matches!(c.action, Action::Update | Action::Adopt)
                && !c.fields.is_empty()
        })
    };

    // ── servers ────────────────────────────────────────────────────────────
    {
        let (mut id, mut name, mut descr, mut timeout) = (vec![], vec![], vec![], vec![]);
        for c in by(Kind::Server, Action::Create) {
            let Some(Object::Server(s)) = &c.after else {
                continue;
            };
            id.push(ids.row(Kind::Server, &c.key)?);
            name.push(s.name.clone());
            descr.push(s.description.clone());
            timeout.push(s.default_timeout_ms);
        }
        if !id.is_empty() {
            // status 'imported' as MCPBox's server service sets it; allowed_hosts
            // keeps its database default until the sync helper runs below.
            sqlx::query(
                "INSERT INTO servers (id, name, description, status, default_timeout_ms)
                 SELECT u.id, u.name, u.description, 'imported'::server_status, u.t
                   FROM UNNEST($1::uuid[], $2::text[], $3::text[], $4::int[]) AS u(id, name, description, t)",
            )
            .bind(&id).bind(&name).bind(&descr).bind(&timeout)
            .execute(&mut *tx).await.map_err(w("creating servers"))?;
        }
        let (mut id, mut name, mut descr, mut timeout) = (vec![], vec![], vec![], vec![]);
        for c in updates(Kind::Server) {
            let Some(Object::Server(s)) = &c.after else {
                continue;
            };
            id.push(ids.row(Kind::Server, &c.key)?);
            name.push(s.name.clone());
            descr.push(s.description.clone());
            timeout.push(s.default_timeout_ms);
        }
        if !id.is_empty() {
            sqlx::query(
                "UPDATE servers s SET name = u.name, description = u.description, default_timeout_ms = u.t, updated_at = now()
                   FROM UNNEST($1::uuid[], $2::text[], $3::text[], $4::int[]) AS u(id, name, description, t) WHERE s.id = u.id",
            )
            .bind(&id).bind(&name).bind(&descr).bind(&timeout)
            .execute(&mut *tx).await.map_err(w("updating servers"))?;
        }
    }

    // ── secrets (placeholders: encrypted_value NULL) ───────────────────────
    {
        let (mut id, mut sid, mut key, mut descr) = (vec![], vec![], vec![], vec![]);
        for c in by(Kind::Secret, Action::Create) {
            let Some(Object::Secret(s)) = &c.after else {
                continue;
            };
            id.push(ids.row(Kind::Secret, &c.key)?);
            sid.push(ids.server_of(c, &s.server)?);
            key.push(s.name.clone());
            descr.push(s.description.clone());
        }
        if !id.is_empty() {
            sqlx::query(
                "INSERT INTO server_secrets (id, server_id, key_name, encrypted_value, description)
                 SELECT u.id, u.sid, u.key, NULL, u.descr FROM UNNEST($1::uuid[], $2::uuid[], $3::text[], $4::text[]) AS u(id, sid, key, descr)",
            )
            .bind(&id).bind(&sid).bind(&key).bind(&descr)
            .execute(&mut *tx).await.map_err(w("creating secrets"))?;
        }
        let (mut id, mut key, mut descr) = (vec![], vec![], vec![]);
        for c in updates(Kind::Secret) {
            let Some(Object::Secret(s)) = &c.after else {
                continue;
            };
            id.push(ids.row(Kind::Secret, &c.key)?);
            key.push(s.name.clone());
            descr.push(s.description.clone());
        }
        if !id.is_empty() {
            sqlx::query("UPDATE server_secrets s SET key_name = u.key, description = u.descr, updated_at = now() FROM UNNEST($1::uuid[], $2::text[], $3::text[]) AS u(id, key, descr) WHERE s.id = u.id")
                .bind(&id).bind(&key).bind(&descr)
                .execute(&mut *tx).await.map_err(w("updating secrets"))?;
        }
    }

    // ── tools and their versions ───────────────────────────────────────────
    {
        let mut t = ToolBatch::default();
        let mut versions = VersionBatch::default();
        for c in by(Kind::Tool, Action::Create) {
            let (Some(Object::Tool(tool)), Some(tc)) = (&c.after, &c.tool) else {
                continue;
            };
            let id = ids.row(Kind::Tool, &c.key)?;
            let cols = rows::approval_for_create(tc, now, &notes);
            t.push(
                id,
                Some(ids.server_of(c, &tool.server)?),
                tool,
                tc.versions.len() as i32,
                &cols,
                Some(reviewer),
            );
            versions.push(id, tool, &rows::version_rows(tool, &tc.versions, true));
        }
        if !t.id.is_empty() {
            sqlx::query(
                "INSERT INTO tools (id, server_id, name, description, input_schema, enabled, timeout_ms, tool_type, python_code,
                                    external_source_id, external_tool_name, code_dependencies, current_version, approval_status,
                                    approval_requested_at, approved_at, approved_by, rejection_reason, created_by, publish_notes)
                 SELECT u.id, u.sid, u.name, u.descr, u.schema, u.enabled, u.timeout, u.ttype::tool_type, u.code,
                        NULL, NULL, CASE WHEN u.deps IS NULL THEN NULL ELSE ARRAY(SELECT jsonb_array_elements_text(u.deps))::varchar[] END,
                        u.version, u.status::approval_status, u.requested_at, u.approved_at, u.approved_by, u.rr, u.created_by, u.notes
                   FROM UNNEST($1::uuid[], $2::uuid[], $3::text[], $4::text[], $5::jsonb[], $6::bool[], $7::int[], $8::text[], $9::text[],
                               $10::jsonb[], $11::int[], $12::text[], $13::timestamptz[], $14::timestamptz[], $15::text[], $16::text[],
                               $17::text[], $18::text[])
                     AS u(id, sid, name, descr, schema, enabled, timeout, ttype, code, deps, version, status, requested_at, approved_at,
                          approved_by, rr, created_by, notes)",
            )
            .bind(&t.id).bind(&t.server_id).bind(&t.name).bind(&t.description).bind(&t.schema).bind(&t.enabled).bind(&t.timeout)
            .bind(&t.tool_type).bind(&t.code).bind(&t.deps).bind(&t.version).bind(&t.status).bind(&t.requested_at)
            .bind(&t.approved_at).bind(&t.approved_by).bind(&t.rejection_reason).bind(&t.created_by).bind(&t.notes)
            .execute(&mut *tx).await.map_err(w("creating tools"))?;
        }
        let mut t = ToolBatch::default();
        let rows_by_id: HashMap<Uuid, &state::ToolRow> =
            actual.tools.iter().map(|r| (r.id, r)).collect();
        for c in plan.changes.iter().filter(|c| {
            c.kind == Kind::Tool
                && matches!(c.action, Action::Update | Action::Adopt)
                && !c.fields.is_empty()
        }) {
            let (Some(Object::Tool(tool)), Some(tc), Some(row_id)) = (&c.after, &c.tool, c.row_id)
            else {
                continue;
            };
            let Some(row) = rows_by_id.get(&row_id) else {
                continue;
            };
            let cols = rows::approval_for_update(tc, row, now, &notes);
            let version = tc
                .versions
                .last()
                .map(|v| v.number)
                .unwrap_or(row.current_version);
            t.push(row_id, None, tool, version, &cols, None);
            versions.push(row_id, tool, &rows::version_rows(tool, &tc.versions, false));
        }
        if !t.id.is_empty() {
            sqlx::query(
                "UPDATE tools t SET name = u.name, description = u.descr, input_schema = u.schema, enabled = u.enabled, timeout_ms = u.timeout,
                        python_code = u.code,
                        code_dependencies = CASE WHEN u.deps IS NULL THEN NULL ELSE ARRAY(SELECT jsonb_array_elements_text(u.deps))::varchar[] END,
                        current_version = u.version, approval_status = u.status::approval_status,
                        approval_requested_at = u.requested_at, approved_at = u.approved_at, approved_by = u.approved_by,
                        rejection_reason = u.rr, publish_notes = u.notes, updated_at = now()
                   FROM UNNEST($1::uuid[], $2::text[], $3::jsonb[], $4::bool[], $5::int[], $6::text[], $7::jsonb[], $8::int[],
                               $9::text[], $10::timestamptz[], $11::timestamptz[], $12::text[], $13::text[], $14::text[], $15::text[])
                     AS u(id, descr, schema, enabled, timeout, code, deps, version, status, requested_at, approved_at, approved_by, rr, notes, name)
                  WHERE t.id = u.id",
            )
            .bind(&t.id).bind(&t.description).bind(&t.schema).bind(&t.enabled).bind(&t.timeout).bind(&t.code).bind(&t.deps)
            .bind(&t.version).bind(&t.status).bind(&t.requested_at).bind(&t.approved_at).bind(&t.approved_by)
            .bind(&t.rejection_reason).bind(&t.notes).bind(&t.name)
            .execute(&mut *tx).await.map_err(w("updating tools"))?;
        }
        if !versions.tool_id.is_empty() {
            let ids: Vec<Uuid> = versions.tool_id.iter().map(|_| Uuid::new_v4()).collect();
            sqlx::query(
                "INSERT INTO tool_versions (id, tool_id, version_number, name, description, enabled, timeout_ms, python_code, input_schema, change_summary, change_source)
                 SELECT u.id, u.tid, u.n, u.name, u.descr, u.enabled, u.timeout, u.code, u.schema, u.summary, $11
                   FROM UNNEST($1::uuid[], $2::uuid[], $3::int[], $4::text[], $5::text[], $6::bool[], $7::int[], $8::text[], $9::jsonb[], $10::text[])
                     AS u(id, tid, n, name, descr, enabled, timeout, code, schema, summary)",
            )
            .bind(&ids).bind(&versions.tool_id).bind(&versions.number).bind(&versions.name).bind(&versions.description)
            .bind(&versions.enabled).bind(&versions.timeout).bind(&versions.code).bind(&versions.schema).bind(&versions.summary)
            .bind(CHANGE_SOURCE)
            .execute(&mut *tx).await.map_err(w("writing tool versions"))?;
        }
    }

    // ── network requests: approved rows, admin- or tool-originated ─────────
    {
        let (mut id, mut tid, mut sid, mut host, mut port, mut just, mut requested_by) =
            (vec![], vec![], vec![], vec![], vec![], vec![], vec![]);
        for c in by(Kind::Network, Action::Create) {
            let Some(Object::Network(n)) = &c.after else {
                continue;
            };
            id.push(ids.row(Kind::Network, &c.key)?);
            let tool_id = match &n.tool {
                Some(t) => Some(ids.tool_of(c, &format!("{}/{t}", n.server))?),
                None => None,
            };
            tid.push(tool_id);
            sid.push(ids.server_of(c, &n.server)?);
            host.push(n.host.clone());
            port.push(n.port);
            just.push(n.justification.clone());
            // Tool-originated rows look like an LLM's request (requested_by NULL)
            // approved by the reviewer; admin rows name the reviewer as requester.
            requested_by.push(if tool_id.is_some() {
                None
            } else {
                Some(reviewer.to_string())
            });
        }
        if !id.is_empty() {
            sqlx::query(
                "INSERT INTO network_access_requests (id, tool_id, server_id, host, port, justification, requested_by, status, reviewed_at, reviewed_by, rejection_reason)
                 SELECT u.id, u.tid, u.sid, u.host, u.port, u.just, u.rb, 'approved'::request_status, $8, $9, NULL
                   FROM UNNEST($1::uuid[], $2::uuid[], $3::uuid[], $4::text[], $5::int[], $6::text[], $7::text[]) AS u(id, tid, sid, host, port, just, rb)",
            )
            .bind(&id).bind(&tid).bind(&sid).bind(&host).bind(&port).bind(&just).bind(&requested_by).bind(now).bind(reviewer)
            .execute(&mut *tx).await.map_err(w("creating network requests"))?;
        }
        let (mut id, mut just) = (vec![], vec![]);
        for c in updates(Kind::Network) {
            let Some(Object::Network(n)) = &c.after else {
                continue;
            };
            id.push(ids.row(Kind::Network, &c.key)?);
            just.push(n.justification.clone());
        }
        if !id.is_empty() {
            sqlx::query(
                "UPDATE network_access_requests n SET justification = u.just, status = 'approved',
                        reviewed_at = CASE WHEN n.status = 'approved' THEN n.reviewed_at ELSE $3 END,
                        reviewed_by = CASE WHEN n.status = 'approved' THEN n.reviewed_by ELSE $4 END,
                        rejection_reason = CASE WHEN n.status = 'approved' THEN n.rejection_reason ELSE NULL END,
                        updated_at = now()
                   FROM UNNEST($1::uuid[], $2::text[]) AS u(id, just) WHERE n.id = u.id",
            )
            .bind(&id).bind(&just).bind(now).bind(reviewer)
            .execute(&mut *tx).await.map_err(w("updating network requests"))?;
        }
    }

    // ── module requests: approved admin rows (server_id NULL) ──────────────
    {
        let (mut id, mut name, mut just) = (vec![], vec![], vec![]);
        for c in by(Kind::Module, Action::Create) {
            let Some(Object::Module(m)) = &c.after else {
                continue;
            };
            id.push(ids.row(Kind::Module, &c.key)?);
            name.push(m.name.clone());
            just.push(m.justification.clone());
        }
        if !id.is_empty() {
            sqlx::query(
                "INSERT INTO module_requests (id, tool_id, server_id, module_name, justification, requested_by, status, reviewed_at, reviewed_by, rejection_reason)
                 SELECT u.id, NULL, NULL, u.name, u.just, $5, 'approved'::request_status, $4, $5, NULL
                   FROM UNNEST($1::uuid[], $2::text[], $3::text[]) AS u(id, name, just)",
            )
            .bind(&id).bind(&name).bind(&just).bind(now).bind(reviewer)
            .execute(&mut *tx).await.map_err(w("creating module requests"))?;
        }
        let (mut id, mut just) = (vec![], vec![]);
        for c in updates(Kind::Module) {
            let Some(Object::Module(m)) = &c.after else {
                continue;
            };
            id.push(ids.row(Kind::Module, &c.key)?);
            just.push(m.justification.clone());
        }
        if !id.is_empty() {
            sqlx::query(
                "UPDATE module_requests m SET justification = u.just, status = 'approved',
                        reviewed_at = CASE WHEN m.status = 'approved' THEN m.reviewed_at ELSE $3 END,
                        reviewed_by = CASE WHEN m.status = 'approved' THEN m.reviewed_by ELSE $4 END,
                        rejection_reason = CASE WHEN m.status = 'approved' THEN m.rejection_reason ELSE NULL END,
                        updated_at = now()
                   FROM UNNEST($1::uuid[], $2::text[]) AS u(id, just) WHERE m.id = u.id",
            )
            .bind(&id).bind(&just).bind(now).bind(reviewer)
            .execute(&mut *tx).await.map_err(w("updating module requests"))?;
        }
    }

    // ── settings (plain text, encrypted = false) ───────────────────────────
    {
        let (mut id, mut key, mut value, mut descr) = (vec![], vec![], vec![], vec![]);
        for c in by(Kind::Setting, Action::Create) {
            let Some(Object::Setting(s)) = &c.after else {
                continue;
            };
            id.push(ids.row(Kind::Setting, &c.key)?);
            key.push(s.key.clone());
            value.push(s.value.clone());
            // MCPBox writes its own description when it creates the row.
            descr.push(crate::settings::known(&s.key).map(|k| k.description.to_string()));
        }
        if !id.is_empty() {
            sqlx::query(
                "INSERT INTO settings (id, key, value, encrypted, description)
                 SELECT u.id, u.key, u.value, false, u.descr FROM UNNEST($1::uuid[], $2::text[], $3::text[], $4::text[]) AS u(id, key, value, descr)",
            )
            .bind(&id).bind(&key).bind(&value).bind(&descr)
            .execute(&mut *tx).await.map_err(w("creating settings"))?;
        }
        let (mut id, mut value) = (vec![], vec![]);
        for c in updates(Kind::Setting) {
            let Some(Object::Setting(s)) = &c.after else {
                continue;
            };
            id.push(ids.row(Kind::Setting, &c.key)?);
            value.push(s.value.clone());
        }
        if !id.is_empty() {
            // MCPBox keeps the old description on later writes but overwrites `encrypted`.
            sqlx::query("UPDATE settings s SET value = u.value, encrypted = false, updated_at = now() FROM UNNEST($1::uuid[], $2::text[]) AS u(id, value) WHERE s.id = u.id")
                .bind(&id).bind(&value)
                .execute(&mut *tx).await.map_err(w("updating settings"))?;
        }
    }

    // ── deletes, bottom-up ─────────────────────────────────────────────────
    for (kind, table) in [
        (Kind::Setting, "settings"),
        (Kind::Module, "module_requests"),
        (Kind::Network, "network_access_requests"),
        (Kind::Tool, "tools"),
        (Kind::Secret, "server_secrets"),
        (Kind::Server, "servers"),
    ] {
        let id: Vec<Uuid> = by(kind, Action::Delete).filter_map(|c| c.row_id).collect();
        if id.is_empty() {
            continue;
        }
        debug!(table, rows = id.len(), "deleting");
        let sql = format!("DELETE FROM {table} WHERE id = ANY($1)");
        sqlx::query(&sql)
            .bind(&id)
            .execute(&mut *tx)
            .await
            .map_err(w("deleting rows"))?;
    }

    // ── sync helpers, on the rows as they are now in this transaction ──────
    // Exactly the caches the plan showed (the plan was computed inside this
    // transaction's snapshot, so its simulation and these rows agree).
    let mut sync_servers: BTreeSet<Uuid> = BTreeSet::new();
    for c in &plan.caches {
        if let Some(name) = &c.server {
            sync_servers.insert(match c.server_id {
                Some(id) => id,
                None => ids.row(Kind::Server, name)?,
            });
        }
    }
    sync_hosts(tx, &sync_servers).await?;
    if plan.caches.iter().any(|c| c.server.is_none()) {
        sync_modules(tx).await?;
    }

    // ── ownership ──────────────────────────────────────────────────────────
    {
        let (mut kind, mut key, mut row, mut hash, mut pin) =
            (vec![], vec![], vec![], vec![], vec![]);
        let mut forget_kind = vec![];
        let mut forget_key = vec![];
        for c in &plan.changes {
            if c.action == Action::Delete {
                forget_kind.push(c.kind.as_str().to_string());
                forget_key.push(c.key.clone());
                continue;
            }
            let Some(after) = &c.after else { continue };
            kind.push(c.kind.as_str().to_string());
            key.push(c.key.clone());
            row.push(ids.row(c.kind, &c.key)?);
            hash.push(after.hash());
            pin.push(c.tool.as_ref().and_then(|t| t.pin.clone()));
        }
        for b in &plan.bookkeeping {
            if b.forget {
                forget_kind.push(b.kind.as_str().to_string());
                forget_key.push(b.key.clone());
            } else {
                kind.push(b.kind.as_str().to_string());
                key.push(b.key.clone());
                row.push(b.row_id);
                hash.push(b.applied_hash.clone());
                pin.push(b.pin.clone());
            }
        }
        if !kind.is_empty() {
            sqlx::query(
                "INSERT INTO mcpbox_gitops.ownership (kind, key, row_id, applied_hash, pin, source, applied_at)
                 SELECT u.kind, u.key, u.row_id, u.hash, u.pin, $6, now() FROM UNNEST($1::text[], $2::text[], $3::uuid[], $4::text[], $5::text[]) AS u(kind, key, row_id, hash, pin)
                 ON CONFLICT (kind, key) DO UPDATE SET row_id = EXCLUDED.row_id, applied_hash = EXCLUDED.applied_hash, pin = EXCLUDED.pin,
                        source = EXCLUDED.source, applied_at = EXCLUDED.applied_at",
            )
            .bind(&kind).bind(&key).bind(&row).bind(&hash).bind(&pin).bind(&desired.source)
            .execute(&mut *tx).await.map_err(w("recording ownership"))?;
        }
        if !forget_kind.is_empty() {
            sqlx::query("DELETE FROM mcpbox_gitops.ownership o USING UNNEST($1::text[], $2::text[]) AS u(kind, key) WHERE o.kind = u.kind AND o.key = u.key")
                .bind(&forget_kind).bind(&forget_key)
                .execute(&mut *tx).await.map_err(w("recording ownership"))?;
        }
    }

    let changed = plan.has_changes();
    if changed {
        audit(tx, desired, plan, &ids, now).await?;
    }
    Ok(report(actual, plan, &ids))
}

#[derive(Default)]
struct ToolBatch {
    id: Vec<Uuid>,
    server_id: Vec<Uuid>,
    name: Vec<String>,
    description: Vec<Option<String>>,
    schema: Vec<Value>,
    enabled: Vec<bool>,
    timeout: Vec<Option<i32>>,
    tool_type: Vec<String>,
    code: Vec<Option<String>>,
    deps: Vec<Option<Value>>,
    version: Vec<i32>,
    status: Vec<String>,
    requested_at: Vec<Option<DateTime<Utc>>>,
    approved_at: Vec<Option<DateTime<Utc>>>,
    approved_by: Vec<Option<String>>,
    rejection_reason: Vec<Option<String>>,
    created_by: Vec<Option<String>>,
    notes: Vec<Option<String>>,
}

impl ToolBatch {
    #[allow(clippy::too_many_arguments)]
    fn push(
        &mut self,
        id: Uuid,
        server_id: Option<Uuid>,
        t: &crate::model::Tool,
        version: i32,
        cols: &rows::ApprovalColumns,
        created_by: Option<&str>,
    ) {
        self.id.push(id);
        if let Some(s) = server_id {
            self.server_id.push(s);
        }
        self.name.push(t.name.clone());
        self.description.push(t.description.clone());
        self.schema.push(t.input_schema.clone());
        self.enabled.push(t.enabled);
        self.timeout.push(t.timeout_ms);
        self.tool_type.push(t.tool_type.label().to_string());
        self.code.push(t.python_code.clone());
        self.deps.push(if t.dependencies.is_empty() {
            None
        } else {
            Some(json!(t.dependencies))
        });
        self.version.push(version);
        self.status.push(cols.status.label().to_string());
        self.requested_at.push(cols.requested_at);
        self.approved_at.push(cols.approved_at);
        self.approved_by.push(cols.approved_by.clone());
        self.rejection_reason.push(cols.rejection_reason.clone());
        self.created_by.push(created_by.map(str::to_string));
        self.notes.push(cols.publish_notes.clone());
    }
}

#[derive(Default)]
struct VersionBatch {
    tool_id: Vec<Uuid>,
    number: Vec<i32>,
    name: Vec<String>,
    description: Vec<Option<String>>,
    enabled: Vec<bool>,
    timeout: Vec<Option<i32>>,
    code: Vec<Option<String>>,
    schema: Vec<Value>,
    summary: Vec<String>,
}

impl VersionBatch {
    fn push(&mut self, tool_id: Uuid, t: &crate::model::Tool, rows: &[rows::VersionRow]) {
        for r in rows {
            self.tool_id.push(tool_id);
            self.number.push(r.number);
            self.name.push(t.name.clone());
            self.description.push(t.description.clone());
            self.enabled.push(r.enabled);
            self.timeout.push(r.timeout_ms);
            self.code.push(t.python_code.clone());
            self.schema.push(t.input_schema.clone());
            self.summary.push(r.summary.clone());
        }
    }
}

/// MCPBox's `sync_allowed_hosts` for each server, on the rows as they are now.
async fn sync_hosts(tx: &mut PgConnection, servers: &BTreeSet<Uuid>) -> Result<(), Error> {
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
    .map_err(w("reading approved hosts"))?;
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
            .map_err(w("reading allowed_hosts"))?;
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
        .map_err(w("syncing allowed_hosts"))?;
    }
    Ok(())
}

/// MCPBox's `sync_allowed_modules`, on the rows as they are now.
async fn sync_modules(tx: &mut PgConnection) -> Result<(), Error> {
    let names: Vec<String> =
        sqlx::query_scalar("SELECT module_name FROM module_requests WHERE status = 'approved'")
            .fetch_all(&mut *tx)
            .await
            .map_err(w("reading approved modules"))?;
    let after = sync::allowed_modules(names.iter().map(String::as_str));
    let current: Option<Option<Vec<String>>> = sqlx::query_scalar(
        "SELECT allowed_modules::text[] FROM global_config WHERE config_key = 'main'",
    )
    .fetch_optional(&mut *tx)
    .await
    .map_err(w("reading allowed_modules"))?;
    match current {
        None => {
            // MCPBox creates the 'main' row lazily on its first write.
            sqlx::query("INSERT INTO global_config (id, config_key, allowed_modules) VALUES ($1, 'main', $2::varchar[])")
                .bind(Uuid::new_v4())
                .bind(&after)
                .execute(&mut *tx)
                .await
                .map_err(w("syncing allowed_modules"))?;
        }
        Some(before) if before.as_ref() != Some(&after) => {
            sqlx::query("UPDATE global_config SET allowed_modules = $1::varchar[], updated_at = now() WHERE config_key = 'main'")
                .bind(&after)
                .execute(&mut *tx)
                .await
                .map_err(w("syncing allowed_modules"))?;
        }
        Some(_) => {}
    }
    Ok(())
}

/// MCPBox-shaped audit rows: one global row for the apply, and one per server
/// that still exists and was touched, so the server's activity view shows it.
async fn audit(
    tx: &mut PgConnection,
    desired: &DesiredState,
    plan: &Plan,
    ids: &Ids,
    now: DateTime<Utc>,
) -> Result<(), Error> {
    let timestamp = now.to_rfc3339_opts(chrono::SecondsFormat::Micros, false);
    let list = |action: Action, c: &[&Change]| -> Vec<String> {
        c.iter()
            .filter(|c| c.action == action)
            .map(|c| format!("{} {}", c.kind.as_str(), c.key))
            .collect()
    };
    let changes_json = |c: &[&Change]| {
        json!({
            "source": desired.source,
            "created": list(Action::Create, c),
            "updated": list(Action::Update, c),
            "adopted": list(Action::Adopt, c),
            "deleted": list(Action::Delete, c),
        })
    };
    let all: Vec<&Change> = plan.changes.iter().collect();
    let (mut id, mut sid, mut message, mut details) = (vec![], vec![], vec![], vec![]);
    id.push(Uuid::new_v4());
    sid.push(None::<Uuid>);
    message.push(format!("gitops.apply: gitops ({})", desired.source));
    details.push(json!({
        "action": "gitops.apply",
        "resource_type": "gitops",
        "resource_id": desired.source,
        "timestamp": timestamp,
        "changes": changes_json(&all),
    }));
    let deleted: BTreeSet<Uuid> = plan
        .changes
        .iter()
        .filter(|c| c.kind == Kind::Server && c.action == Action::Delete)
        .filter_map(|c| c.row_id)
        .collect();
    let mut per_server: BTreeMap<Uuid, Vec<&Change>> = BTreeMap::new();
    for c in &plan.changes {
        if let Some(server_id) = ids.server_of_change(c) {
            per_server.entry(server_id).or_default().push(c);
        }
    }
    for (server_id, changes) in per_server {
        // A deleted server's activity rows go with it (ON DELETE CASCADE).
        if deleted.contains(&server_id) {
            continue;
        }
        id.push(Uuid::new_v4());
        sid.push(Some(server_id));
        message.push(format!("gitops.apply: server ({server_id})"));
        details.push(json!({
            "action": "gitops.apply",
            "resource_type": "server",
            "resource_id": server_id.to_string(),
            "timestamp": timestamp,
            "changes": changes_json(&changes),
        }));
    }
    sqlx::query(
        "INSERT INTO activity_logs (id, server_id, log_type, level, message, details)
         SELECT u.id, u.sid, 'audit'::log_type, 'info'::log_level, u.message, u.details
           FROM UNNEST($1::uuid[], $2::uuid[], $3::text[], $4::jsonb[]) AS u(id, sid, message, details)",
    )
    .bind(&id)
    .bind(&sid)
    .bind(&message)
    .bind(&details)
    .execute(&mut *tx)
    .await
    .map_err(w("writing audit rows"))?;
    sqlx::query("INSERT INTO mcpbox_gitops.applies (id, source, summary) VALUES ($1, $2, $3)")
        .bind(Uuid::new_v4())
        .bind(&desired.source)
        .bind(json!(plan.summary))
        .execute(&mut *tx)
        .await
        .map_err(w("recording the apply"))?;
    Ok(())
}

/// Which running servers need re-registration, and why (MCPBOX.md §8).
fn report(actual: &ActualState, plan: &Plan, ids: &Ids) -> Report {
    let mut reasons: BTreeMap<Uuid, BTreeSet<String>> = BTreeMap::new();
    for c in &plan.changes {
        let why = match c.after.as_ref().or(c.before.as_ref()) {
            Some(Object::Tool(t)) => format!("tool {} {}", t.name, verb(c.action)),
            Some(Object::Network(_)) => "allowed hosts changed".to_string(),
            Some(Object::Secret(s)) => format!("secret {} {}", s.name, verb(c.action)),
            _ => continue,
        };
        if let Some(id) = ids.server_of_change(c) {
            reasons.entry(id).or_default().insert(why);
        }
    }
    for cache in &plan.caches {
        match cache.server_id {
            Some(id) => {
                reasons
                    .entry(id)
                    .or_default()
                    .insert("allowed hosts changed".into());
            }
            None if cache.server.is_none() => {
                // Module changes are global: every running server.
                for s in &actual.servers {
                    reasons
                        .entry(s.id)
                        .or_default()
                        .insert("allowed modules changed".into());
                }
            }
            None => {}
        }
    }
    let reregister = actual
        .servers
        .iter()
        .filter(|s| s.status == "running")
        .filter_map(|s| {
            reasons.remove(&s.id).map(|r| Reregister {
                server: s.obj.name.clone(),
                reasons: r.into_iter().collect(),
            })
        })
        .collect();
    let not_started = plan
        .changes
        .iter()
        .filter(|c| c.kind == Kind::Server && c.action == Action::Create)
        .map(|c| c.key.clone())
        .collect();
    Report {
        summary: plan.summary,
        changed: plan.has_changes(),
        reregister,
        not_started,
    }
}

fn verb(a: Action) -> &'static str {
    match a {
        Action::Adopt => "adopted",
        Action::Create => "created",
        Action::Update => "updated",
        Action::Delete => "deleted",
    }
}
