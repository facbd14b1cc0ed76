//! Executes a plan: one transaction, serialised across reconcilers by an advisory
//! lock, re-reading the state inside the lock and refusing if it moved.
//!
//! Writes are set-based (`INSERT … SELECT FROM UNNEST`, `UPDATE … FROM UNNEST`,
//! `DELETE … = ANY`): a handful of statements per kind, never one per row. The
//! rows themselves are computed in `apply::rows` and `plan::diff`.

use std::borrow::Cow;
use std::collections::BTreeSet;
use std::time::Duration;

use chrono::{DateTime, Utc};
use sqlx::{Connection, PgConnection, PgPool};
use tracing::{info, instrument};
use uuid::Uuid;

use super::audit::Report;
use super::error::write_error;
pub use super::error::Error;
use super::ids::Ids;
use super::{audit, sources, sync, tunnels, write};
use crate::desired::DesiredState;
use crate::model::Kind;
use crate::plan::saved::SavedPlan;
use crate::plan::{diff, Action, Plan};
use crate::state::{self, ActualState};

/// Key of the advisory lock that serialises every apply ("mcpbgito").
pub const APPLY_LOCK: i64 = 0x6d63_7062_6769_746f;

/// How to apply.
#[derive(Debug, Clone)]
#[must_use]
pub struct Options {
    /// Allow deletes the guard would refuse.
    pub allow_destroy: bool,
    /// How long to wait for another apply's lock.
    pub lock_timeout: Duration,
    /// Take objects another source owns (`--take-ownership`) instead of
    /// refusing the plan.
    pub take_ownership: bool,
    /// Read the change marker inside the transaction, after the writes and
    /// before COMMIT ([`Applied::marker`]): the state this apply left, which a
    /// marker read after COMMIT could already mix with someone else's write.
    pub marker_after: bool,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            allow_destroy: false,
            lock_timeout: Duration::from_secs(300),
            take_ownership: false,
            marker_after: false,
        }
    }
}

/// Whether two changes are the same, cascade counts aside.
fn same_change(a: &crate::plan::Change, b: &crate::plan::Change) -> bool {
    // Exhaustive: a new field of `Change` must be added here.
    let crate::plan::Change {
        action,
        kind,
        key,
        row_id,
        server_id,
        tool_id,
        before,
        after,
        fields,
        tool,
        cascade,
        reason,
        value,
    } = a;
    // These move whenever MCPBox runs a tool or logs a request.
    let counts = |c: &crate::plan::Cascade| crate::plan::Cascade {
        execution_logs: 0,
        activity_logs: 0,
        ..*c
    };
    *action == b.action
        && *kind == b.kind
        && *key == b.key
        && *row_id == b.row_id
        && *server_id == b.server_id
        && *tool_id == b.tool_id
        && *fields == b.fields
        && *tool == b.tool
        && *reason == b.reason
        && *value == b.value
        && cascade.as_ref().map(counts) == b.cascade.as_ref().map(counts)
        && *before == b.before
        && *after == b.after
}

/// Whether two plans make the same changes: every field of every change and
/// every cache, except the display-only, fast-moving cascade counts. Compared
/// field by field (the plan shown and the plan re-computed inside the lock hold
/// all the code: no copies, no JSON).
pub fn same_changes(shown: &Plan, now: &Plan) -> bool {
    shown.caches == now.caches
        && shown.changes.len() == now.changes.len()
        && shown
            .changes
            .iter()
            .zip(&now.changes)
            .all(|(a, b)| same_change(a, b))
}

/// The objects whose change differs between two plans (`kind key`), in plan
/// order, so a refusal names what moved (issue 13.4).
pub fn moved_between(shown: &Plan, now: &Plan) -> Vec<String> {
    let index = |p: &Plan| -> std::collections::BTreeMap<(Kind, String), usize> {
        p.changes
            .iter()
            .enumerate()
            .map(|(i, c)| ((c.kind, c.key.clone()), i))
            .collect()
    };
    let (a, b) = (index(shown), index(now));
    let mut moved: Vec<(usize, String)> = Vec::new();
    for (key, &i) in &a {
        let same = b
            .get(key)
            .is_some_and(|&j| same_change(&shown.changes[i], &now.changes[j]));
        if !same {
            moved.push((i, format!("{} {}", key.0.as_str(), key.1)));
        }
    }
    for (key, &j) in &b {
        if !a.contains_key(key) {
            moved.push((
                shown.changes.len() + j,
                format!("{} {}", key.0.as_str(), key.1),
            ));
        }
    }
    if shown.caches != now.caches {
        moved.push((usize::MAX, "the allow-list caches".to_string()));
    }
    moved.sort();
    moved.into_iter().map(|(_, m)| m).collect()
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
    let work = Work::Desired {
        desired,
        shown,
        planned: None,
        confirmed: false,
    };
    run(pool, work, opts).await.map(|a| (a.plan, a.report))
}

/// A plan made outside the lock from a state read with its change marker
/// ([`state::read::snapshot_marked`]). The plan moves in and, when applied as
/// it is, out again: at 100,000 tools a copy is hundreds of megabytes.
pub struct Planned<'a> {
    /// The state the plan was made from.
    pub actual: &'a ActualState,
    /// The plan.
    pub plan: Plan,
    /// The change marker read in the same snapshot as `actual`.
    pub marker: &'a str,
}

/// What [`execute_planned`] applied.
pub struct Applied {
    /// The plan applied: the one given, or the one made again under the lock.
    pub plan: Plan,
    /// What was written.
    pub report: Report,
    /// The plan made under the lock changes other objects than the one given
    /// (the database moved in between; only without `confirmed`).
    pub moved: bool,
    /// The change marker of the state this apply committed, when
    /// [`Options::marker_after`] asked for it.
    pub marker: Option<String>,
}

/// Like [`execute`], for a caller that has already planned: when the change
/// marker under the lock equals `planned.marker`, no row a plan depends on
/// moved, so re-reading and re-diffing would give `planned.plan` again; it is
/// applied as it is. Otherwise (or when it deletes, whose cascade counts the
/// marker does not cover) the state is read and diffed again under the lock,
/// as [`execute`] does; `confirmed` says the user approved `planned.plan`, which
/// the new plan must then equal.
pub async fn execute_planned(
    pool: &PgPool,
    desired: &DesiredState,
    planned: Planned<'_>,
    confirmed: bool,
    opts: &Options,
) -> Result<Applied, Error> {
    let work = Work::Desired {
        desired,
        shown: None,
        planned: Some(Box::new(planned)),
        confirmed,
    };
    run(pool, work, opts).await
}

/// Applies a saved plan exactly as it was made (`apply --plan`). Refused, with
/// nothing written, when it was made by another version or when any row it read
/// has moved since (named in the error). `values` are read at apply time from
/// the plan's value sources.
#[instrument(skip_all, fields(source = %saved.plan.source))]
pub async fn execute_saved(
    pool: &PgPool,
    saved: &SavedPlan,
    values: &crate::values::Resolved,
    opts: &Options,
) -> Result<(Plan, Report), Error> {
    saved
        .check_version()
        .map_err(|e| Error::PlanStale(e.to_string()))?;
    run(pool, Work::Saved { saved, values }, opts)
        .await
        .map(|a| (a.plan, a.report))
}

/// What to apply.
enum Work<'a> {
    /// The desired state, re-diffed inside the lock; it must give the plan shown.
    Desired {
        desired: &'a DesiredState,
        shown: Option<&'a Plan>,
        /// A plan made outside the lock, applied as it is when nothing moved.
        planned: Option<Box<Planned<'a>>>,
        /// The user approved `planned`: a plan made again must equal it.
        confirmed: bool,
    },
    /// A saved plan, checked row by row against what it read.
    Saved {
        saved: &'a SavedPlan,
        values: &'a crate::values::Resolved,
    },
}

/// Takes the session lock, applies, and always releases the lock.
async fn run(pool: &PgPool, work: Work<'_>, opts: &Options) -> Result<Applied, Error> {
    let mut conn = pool.acquire().await.map_err(|source| state::Error::Query {
        context: "connect",
        source,
    })?;
    // Name this apply's source on its connection: an apply waiting for the
    // lock shows it (best effort; a name is not worth failing for).
    let source = match &work {
        Work::Desired { desired, .. } => desired
            .revision
            .as_deref()
            .map(|r| r.chars().take(12).collect::<String>())
            .unwrap_or_else(|| desired.source.clone()),
        Work::Saved { saved, .. } => saved.plan.source.clone(),
    };
    let _ = sqlx::query("SELECT set_config('application_name', $1, false)")
        .bind(state::application_name(Some(&crate::escape::text(&source))))
        .execute(&mut *conn)
        .await;
    lock(&mut conn, opts.lock_timeout).await?;
    let backend: Option<i32> = sqlx::query_scalar("SELECT pg_backend_pid()")
        .fetch_one(&mut *conn)
        .await
        .ok();
    let result = locked(&mut conn, &work, opts).await;
    // Always release the session lock; if that fails, drop the connection so the
    // server releases it.
    // Still held only when the transaction never reached its first statement.
    if sqlx::query(
        "SELECT pg_advisory_unlock($1) FROM pg_locks
          WHERE locktype = 'advisory' AND pid = pg_backend_pid() AND granted
            AND classid = ($1 >> 32)::oid AND objid = ($1 & 4294967295)::oid AND objsubid = 1",
    )
    .bind(APPLY_LOCK)
    .execute(&mut *conn)
    .await
    .is_err()
    {
        let _ = conn.detach().close().await;
    }
    match result {
        Ok(Locked::Done(done)) => applied(work, *done),
        Ok(Locked::CommitLost { id, done, source }) => {
            tracing::warn!(apply = %id, cause = %source, "the connection was lost at COMMIT; checking whether the apply committed");
            match committed(pool, id, backend).await {
                Ok(true) => {
                    tracing::warn!(apply = %id, "the apply is recorded: it committed");
                    applied(work, *done)
                }
                Ok(false) => Err(Error::NotCommitted { id }),
                Err(reason) => Err(Error::OutcomeUnknown { id, reason }),
            }
        }
        Err(e) => Err(e),
    }
}

/// Whether apply `id` committed, asked on a new connection once the backend
/// that ran it (`backend`) is gone: while it lives it may still be committing.
/// Bounded: about ten seconds.
async fn committed(pool: &PgPool, id: Uuid, backend: Option<i32>) -> Result<bool, String> {
    let mut last = String::from("no attempt");
    for _ in 0..20 {
        let attempt = async {
            let mut conn = pool.acquire().await.map_err(|e| e.to_string())?;
            if let Some(pid) = backend {
                let alive: bool = sqlx::query_scalar(
                    "SELECT EXISTS (SELECT 1 FROM pg_stat_activity WHERE pid = $1)",
                )
                .bind(pid)
                .fetch_one(&mut *conn)
                .await
                .map_err(|e| e.to_string())?;
                if alive {
                    return Err("the old connection is still open on the server".to_string());
                }
            }
            sqlx::query_scalar::<_, bool>(
                "SELECT EXISTS (SELECT 1 FROM mcpbox_gitops.applies WHERE id = $1)",
            )
            .bind(id)
            .fetch_one(&mut *conn)
            .await
            .map_err(|e| e.to_string())
        };
        match attempt.await {
            Ok(found) => return Ok(found),
            Err(e) => last = e,
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    Err(last)
}

/// What the transaction came to.
enum Locked {
    /// Committed (or nothing to write).
    Done(Box<Done>),
    /// COMMIT was sent and its answer lost with the connection.
    CommitLost {
        id: Uuid,
        done: Box<Done>,
        source: sqlx::Error,
    },
}

/// What a transaction that committed leaves to report.
struct Done {
    /// The plan made under the lock, or None when the work's own plan was
    /// applied as it is.
    made: Option<Plan>,
    report: Report,
    /// See [`Applied::marker`].
    marker: Option<String>,
}

/// What a finished apply reports: the plan made under the lock, or else the
/// one the work brought (moved out, not copied, when it is the caller's).
fn applied(work: Work<'_>, done: Done) -> Result<Applied, Error> {
    let Done {
        made,
        report,
        marker,
    } = done;
    match (made, work) {
        (Some(plan), Work::Desired { planned, .. }) => {
            let moved = planned.is_some_and(|p| !same_changes(&p.plan, &plan));
            Ok(Applied {
                plan,
                report,
                moved,
                marker,
            })
        }
        (Some(plan), Work::Saved { .. }) => Ok(Applied {
            plan,
            report,
            moved: false,
            marker,
        }),
        (None, Work::Saved { saved, .. }) => Ok(Applied {
            plan: saved.plan.clone(),
            report,
            moved: false,
            marker,
        }),
        (None, Work::Desired { planned, .. }) => match planned {
            Some(p) => Ok(Applied {
                plan: p.plan,
                report,
                moved: false,
                marker,
            }),
            None => Err(Error::Inconsistent(
                "an apply without a plan of its own reported none".into(),
            )),
        },
    }
}

/// The plan itself when it was made under the lock; None when it is the
/// work's (see [`Locked::Done`]).
fn made_here(plan: Cow<'_, Plan>) -> Option<Plan> {
    match plan {
        Cow::Owned(p) => Some(p),
        Cow::Borrowed(_) => None,
    }
}

/// Takes the session lock, waiting up to `timeout`. While it waits it says once
/// (a warning on stderr) who holds it.
///
/// Waited for as a session lock, because the apply's REPEATABLE READ snapshot
/// must be taken after the lock is granted, and a transaction's snapshot is
/// fixed by its first statement, which would be the one waiting for a
/// transaction-scoped lock. The first statement of the transaction then turns
/// it into a transaction-scoped lock and drops the session hold (`locked`), so
/// it is released with COMMIT or ROLLBACK. Our connections also ask the server
/// for keepalives (`cli::connect`).
async fn lock(conn: &mut PgConnection, timeout: Duration) -> Result<(), Error> {
    let start = std::time::Instant::now();
    let mut told = false;
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
        if !told {
            tracing::warn!(holder = %holder(conn).await, "waiting for another apply to finish");
            told = true;
        }
        if start.elapsed() >= timeout {
            return Err(Error::LockTimeout {
                waited: start.elapsed(),
                holder: holder(conn).await,
            });
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// A lock holder's backend pid, application name, client address, connection time.
type HolderRow = (i32, Option<String>, Option<String>, Option<DateTime<Utc>>);

/// Who holds the apply lock, from `pg_locks` and `pg_stat_activity`.
pub async fn holder(conn: &mut PgConnection) -> String {
    // A bigint advisory key shows as its high and low 32 bits.
    let row: Result<Option<HolderRow>, _> =
        sqlx::query_as(
            "SELECT a.pid, a.application_name, host(a.client_addr), a.backend_start
               FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
              WHERE l.locktype = 'advisory' AND l.granted
                AND l.classid = ($1 >> 32)::oid AND l.objid = ($1 & 4294967295)::oid AND l.objsubid = 1
              LIMIT 1",
        )
        .bind(APPLY_LOCK)
        .fetch_optional(&mut *conn)
        .await;
    match row {
        Ok(Some((pid, app, addr, since))) => format!(
            "backend pid {pid}, {}, from {}, connected since {}",
            app.filter(|a| !a.is_empty())
                .unwrap_or_else(|| "no application name".into()),
            addr.unwrap_or_else(|| "a local socket".into()),
            since.map_or_else(
                || "unknown".into(),
                |t| t.format("%Y-%m-%d %H:%M:%S UTC").to_string()
            )
        ),
        Ok(None) => "its holder has just released it".into(),
        Err(_) => "its holder could not be read (no right to read pg_stat_activity)".into(),
    }
}

async fn locked(conn: &mut PgConnection, work: &Work<'_>, opts: &Options) -> Result<Locked, Error> {
    let mut tx = conn
        .begin()
        .await
        .map_err(write_error("beginning the transaction"))?;
    sqlx::query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
        .execute(&mut *tx)
        .await
        .map_err(write_error("beginning the transaction"))?;
    // From here the lock is the transaction's: taken again at transaction
    // level (immediately: this session holds it) by the statement that also
    // fixes the snapshot, after the session lock was granted; then the session
    // hold is dropped. COMMIT or ROLLBACK releases it, so it cannot outlive
    // the transaction, even when the client vanishes right after COMMIT.
    sqlx::query("SELECT pg_advisory_xact_lock($1), pg_advisory_unlock($1)")
        .bind(APPLY_LOCK)
        .execute(&mut *tx)
        .await
        .map_err(write_error("taking the transaction's lock"))?;
    let laps = crate::timing::Laps::default();
    let unmoved = match work {
        Work::Desired {
            planned: Some(p), ..
        } if !p.plan.changes.iter().any(|c| c.action == Action::Delete) => {
            let now = state::marker::marker_in(&mut tx).await?;
            (now == p.marker).then_some(p)
        }
        _ => None,
    };
    let read;
    let actual = match unmoved {
        Some(p) => p.actual,
        None => {
            read = state::read::read(&mut tx).await?;
            &read
        }
    };
    laps.lap("apply: state read under the lock");
    let (plan, max_delete_percent, desired_empty, inputs) = match (work, unmoved) {
        (Work::Desired { desired, .. }, Some(p)) => {
            let inputs = Inputs {
                source: &desired.source,
                reviewer: &desired.policy.reviewer,
                values: &desired.values,
            };
            let pct = desired.policy.deletion_guard.max_delete_percent;
            (Cow::Borrowed(&p.plan), pct, desired.is_empty(), inputs)
        }
        (
            Work::Desired {
                desired,
                shown,
                planned,
                confirmed,
            },
            None,
        ) => {
            let plan = diff::diff(desired, actual)?;
            let shown = shown.or(planned.as_ref().filter(|_| *confirmed).map(|p| &p.plan));
            if let Some(shown) = shown {
                if !same_changes(shown, &plan) {
                    return Err(Error::PlanStale(format!(
                        "these objects moved: {}",
                        moved_between(shown, &plan).join(", ")
                    )));
                }
            }
            let inputs = Inputs {
                source: &desired.source,
                reviewer: &desired.policy.reviewer,
                values: &desired.values,
            };
            let pct = desired.policy.deletion_guard.max_delete_percent;
            (Cow::Owned(plan), pct, desired.is_empty(), inputs)
        }
        (Work::Saved { saved, values }, _) => {
            let moved = saved.moved(actual);
            if !moved.is_empty() {
                return Err(Error::Moved(moved));
            }
            let inputs = Inputs {
                source: &saved.plan.source,
                reviewer: &saved.reviewer,
                values,
            };
            let pct = saved.max_delete_percent;
            (Cow::Borrowed(&saved.plan), pct, saved.desired_empty, inputs)
        }
    };
    if let Some(why) = plan.refusal(opts.allow_destroy, max_delete_percent, desired_empty) {
        return Err(Error::Refused(why));
    }
    if !plan.conflicts.is_empty() && !opts.take_ownership {
        return Err(Error::Refused(format!(
            "{} object(s) belong to another source: {}; each source manages its own objects (pass --take-ownership to move them to this one)",
            plan.conflicts.len(),
            plan.conflicts.join(", ")
        )));
    }
    pause_for_tests().await;
    let id = Uuid::new_v4();
    laps.lap("apply: planned again under the lock");
    let report = write_all(&mut tx, &inputs, actual, &plan, Utc::now(), id).await?;
    laps.lap("apply: rows written");
    let marker = match opts.marker_after {
        true => Some(state::marker::marker_in(&mut tx).await?),
        false => None,
    };
    let wrote = plan.has_changes() || !plan.bookkeeping.is_empty();
    if let Err(source) = tx.commit().await {
        // An error at COMMIT may come after the server committed (the answer
        // was lost with the connection): only an apply that wrote its record
        // can be looked up; one that wrote nothing lost nothing.
        if wrote && is_connection_loss(&source) {
            return Ok(Locked::CommitLost {
                id,
                done: Box::new(Done {
                    made: made_here(plan),
                    report,
                    marker,
                }),
                source,
            });
        }
        return Err(Error::Write {
            what: "committing",
            source,
        });
    }
    laps.lap("apply: committed");
    info!(
        add = plan.summary.add,
        change = plan.summary.change,
        destroy = plan.summary.destroy,
        adopt = plan.summary.adopt,
        "applied"
    );
    Ok(Locked::Done(Box::new(Done {
        made: made_here(plan),
        report,
        marker,
    })))
}

/// Whether a driver error means the connection is gone (rather than the
/// server refusing the COMMIT, which it answers).
fn is_connection_loss(e: &sqlx::Error) -> bool {
    matches!(
        e,
        sqlx::Error::Io(_) | sqlx::Error::PoolClosed | sqlx::Error::WorkerCrashed
    ) || matches!(e, sqlx::Error::Protocol(_))
}

/// A deterministic point between reading and writing, for tests that race
/// MCPBox's own writers against an apply: with `MCPBOX_GITOPS_TEST_PAUSE` set to
/// a directory, the apply creates `paused` in it and waits (at most 60 s) for
/// `resume` to appear. Unset, as in any real run, it does nothing.
async fn pause_for_tests() {
    let Some(dir) = std::env::var_os("MCPBOX_GITOPS_TEST_PAUSE") else {
        return;
    };
    let dir = std::path::PathBuf::from(dir);
    if std::fs::write(dir.join("paused"), b"").is_err() {
        return;
    }
    for _ in 0..600 {
        if dir.join("resume").exists() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// What the writer needs besides the plan: from the desired state, or from a
/// saved plan.
struct Inputs<'a> {
    source: &'a str,
    reviewer: &'a str,
    values: &'a crate::values::Resolved,
}

/// Row ids by (kind, natural key): existing rows the plan touches and rows it
/// creates now. Servers and tools that are not changed are found through the
/// ids each change carries, never by name (server names are not unique).
async fn write_all(
    tx: &mut PgConnection,
    inputs: &Inputs<'_>,
    actual: &ActualState,
    plan: &Plan,
    now: DateTime<Utc>,
    apply_id: Uuid,
) -> Result<Report, Error> {
    let notes = format!("Submitted by mcpbox-gitops from {}", inputs.source);
    let ids = Ids::for_plan(plan);
    let cx = super::context::Context {
        plan,
        actual,
        ids: &ids,
        now,
        reviewer: inputs.reviewer,
        notes: &notes,
        source: inputs.source,
        values: inputs.values,
    };
    // Creates and updates top-down (foreign keys), then deletes bottom-up.
    let laps = crate::timing::Laps::default();
    write::servers(tx, &cx).await?;
    write::secrets(tx, &cx).await?;
    sources::sources(tx, &cx).await?;
    laps.lap("write: servers, secrets, sources");
    write::tools(tx, &cx).await?;
    laps.lap("write: tools and versions");
    write::network(tx, &cx).await?;
    write::modules(tx, &cx).await?;
    write::settings(tx, &cx).await?;
    tunnels::tunnels(tx, &cx).await?;
    write::deletes(tx, &cx).await?;
    laps.lap("write: requests, settings, tunnels, deletes");

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
    sync::sync_hosts(tx, &sync_servers).await?;
    if plan.caches.iter().any(|c| c.server.is_none()) {
        sync::sync_modules(tx).await?;
    }
    laps.lap("write: sync helpers");

    write::ownership(tx, &cx).await?;
    crate::state::quarantine::record(tx, &plan.quarantine, |key| {
        actual
            .ownership
            .get(&(Kind::Tool, key.to_string()))
            .map(|o| o.row_id)
    })
    .await?;
    laps.lap("write: ownership and quarantine");
    if plan.has_changes() {
        audit::audit(tx, plan, &ids, now).await?;
    }
    if plan.has_changes() || !plan.bookkeeping.is_empty() {
        audit::record(tx, apply_id, plan).await?;
    }
    laps.lap("write: audit");
    Ok(audit::report(actual, plan, &ids))
}
