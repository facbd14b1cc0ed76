//! One level-triggered pass: read the source, skip cheaply when neither the
//! revision nor the database moved, build the desired state, diff, classify
//! drift, apply through the CLI's path (guard, lock, audit) when allowed, then
//! activate. Recording the outcome in the shared status is here too; rendering
//! it is `http`'s and `metrics`'s, the loop around passes is `mod.rs`'s.

use std::sync::atomic::Ordering;
use std::time::Instant;

use serde::Serialize;
use sha2::{Digest, Sha256};
use tracing::{info, warn};

use super::drift::{self, Drifted};
use super::status::{LastPass, PendingTool, Problem, Seen, Shared, BUCKETS};
use super::{control, Config};
use crate::plan::{Action, Plan};
use crate::rules::quarantine::Quarantine;

/// Most drifted objects attributed from `activity_logs` per pass.
const MAX_ATTRIBUTED: usize = 200;

/// What one pass did (`--once` prints it as one JSON line).
#[derive(Debug, Clone, Serialize)]
pub struct Outcome {
    /// `applied`, `synced`, `unchanged`, `out_of_sync`, `drift`, `suspended`,
    /// `refused`, `invalid`, `activation_failed` or `failed`.
    pub outcome: &'static str,
    /// How long the pass took.
    pub duration_ms: u64,
    /// The revision read, if it was.
    pub revision: Option<String>,
    /// Changes in the plan (applied ones for `applied`).
    pub changes: usize,
    /// Why it failed, was refused or is invalid.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

impl Outcome {
    /// Whether the loop should back off.
    pub fn failed(&self) -> bool {
        matches!(self.outcome, "failed" | "activation_failed")
    }

    /// Whether `--once` exits 1.
    pub fn is_error(&self) -> bool {
        self.failed() || matches!(self.outcome, "invalid" | "refused")
    }

    fn new(outcome: &'static str, revision: Option<String>) -> Outcome {
        Outcome {
            outcome,
            duration_ms: 0,
            revision,
            changes: 0,
            error: None,
        }
    }

    fn failed_with(revision: Option<String>, error: impl ToString) -> Outcome {
        Outcome {
            error: Some(error.to_string()),
            ..Outcome::new("failed", revision)
        }
    }
}

/// Runs one pass and records it.
pub async fn run(cfg: &Config, shared: &Shared) -> Outcome {
    let start = Instant::now();
    let applied_before = shared.lock().counters.applied.clone();
    let mut outcome = inner(cfg, shared).await;
    let elapsed = start.elapsed();
    outcome.duration_ms = elapsed.as_millis() as u64;
    let now = chrono::Utc::now();
    {
        let mut st = shared.lock();
        st.passes += 1;
        st.last_pass = Some(LastPass {
            outcome: outcome.outcome.to_string(),
            duration_ms: outcome.duration_ms,
            at: now,
            error: outcome.error.clone(),
        });
        let c = &mut st.counters;
        *c.reconcile.entry(outcome.outcome.to_string()).or_default() += 1;
        let secs = elapsed.as_secs_f64();
        c.duration_sum += secs;
        for (i, le) in BUCKETS.iter().enumerate() {
            if secs <= *le {
                c.duration_buckets[i] += 1;
            }
        }
        if outcome.failed() {
            st.sync = "Degraded";
        }
        // The page's history: what this pass applied, by kind and action.
        let changes = st
            .counters
            .applied
            .iter()
            .filter_map(|(k, n)| {
                let was = applied_before.get(k).copied().unwrap_or(0);
                (*n > was).then(|| (format!("{} {}", k.0, k.1), (n - was) as usize))
            })
            .collect();
        let record = super::page::PassRecord {
            at: now,
            outcome: outcome.outcome.to_string(),
            duration_ms: outcome.duration_ms,
            drifted: st.drifted.len(),
            changes,
            activation: st
                .activation
                .as_ref()
                .filter(|_| outcome.outcome == "applied")
                .map(|a| (a.ok, a.failed)),
        };
        st.history.push_back(record);
        while st.history.len() > super::status::HISTORY
            || st
                .history
                .front()
                .is_some_and(|p| (now - p.at).num_hours() >= 24)
        {
            st.history.pop_front();
        }
    }
    match &outcome.error {
        Some(e) if outcome.failed() || outcome.outcome == "invalid" => warn!(
            outcome = outcome.outcome,
            duration_ms = outcome.duration_ms,
            revision = outcome.revision.as_deref().unwrap_or(""),
            "pass: {e}"
        ),
        _ => info!(
            outcome = outcome.outcome,
            duration_ms = outcome.duration_ms,
            revision = outcome.revision.as_deref().unwrap_or(""),
            changes = outcome.changes,
            "pass"
        ),
    }
    outcome
}

/// The key of a revision read with these options and role: equal keys and
/// equal markers mean a pass would do exactly what the last one did.
fn source_key(cfg: &Config, revision: &str, leader: bool, suspended: bool) -> String {
    let mut h = Sha256::new();
    h.update(format!(
        "{}\n{revision}\nauto_sync={} self_heal={} allow_destroy={} leader={leader} suspended={suspended}",
        cfg.source.identity(),
        cfg.auto_sync,
        cfg.self_heal,
        cfg.allow_destroy
    ));
    hex::encode(h.finalize())
}

async fn read_source(cfg: &Config) -> Result<super::source::Read, String> {
    let source = cfg.source.clone();
    tokio::task::spawn_blocking(move || source.read())
        .await
        .map_err(|e| format!("reading the source stopped: {e}"))?
}

async fn inner(cfg: &Config, shared: &Shared) -> Outcome {
    let pool = &shared.pool;
    let leader = shared.leader.load(Ordering::SeqCst);
    let ctl = match control::read(pool).await {
        Ok(c) => c,
        Err(e) => return Outcome::failed_with(None, e),
    };
    let suspended = ctl.suspended;
    {
        let mut st = shared.lock();
        st.suspended = suspended;
        // After a restart, what the last process applied.
        if st.last_applied.is_none() {
            if let (Some(commit), Some(at)) = (&ctl.last_applied_commit, ctl.last_applied_at) {
                st.last_applied = Some(Seen {
                    commit: commit.clone(),
                    at,
                    subject: None,
                    author: None,
                });
            }
        }
    }

    // The revision: a branch head without reading files; a directory is read.
    let src = cfg.source.clone();
    let head = tokio::task::spawn_blocking(move || src.head())
        .await
        .unwrap_or_else(|e| Some(Err(format!("reading the source stopped: {e}"))));
    let (mut read, revision) = match head {
        Some(Ok(rev)) => (None, rev),
        Some(Err(e)) => return Outcome::failed_with(None, e),
        None => match read_source(cfg).await {
            Ok(r) => {
                let rev = r.revision.clone();
                (Some(r), rev)
            }
            Err(e) => return Outcome::failed_with(None, e),
        },
    };
    let rev = Some(revision.clone());
    let marker = match crate::state::marker::marker(pool).await {
        Ok(m) => m,
        Err(e) => return Outcome::failed_with(rev, e),
    };
    let key = source_key(cfg, &revision, leader, suspended);
    {
        let mut st = shared.lock();
        if st.last_seen.as_ref().map(|s| &s.commit) != Some(&revision) {
            st.last_seen = Some(Seen {
                commit: revision.clone(),
                at: chrono::Utc::now(),
                subject: None,
                author: None,
            });
        }
        let m = &st.memory;
        let same = |k: &Option<String>, mk: &Option<String>| {
            k.as_deref() == Some(key.as_str()) && mk.as_deref() == Some(marker.as_str())
        };
        let remembered = match &m.last_good {
            Some((k, mk)) => k == &key && mk == &marker,
            None => same(&ctl.last_source_key, &ctl.last_marker),
        };
        if remembered && m.pending_activation.is_none() {
            if st.memory.last_applied.is_none() {
                st.memory.last_applied = ctl.last_applied_commit.clone();
            }
            return Outcome::new("unchanged", rev);
        }
        if m.invalid.as_deref() == Some(revision.as_str()) {
            return Outcome {
                error: Some("the revision is invalid (see diagnostics)".into()),
                ..Outcome::new("invalid", rev)
            };
        }
    }

    let read = match read.take() {
        Some(r) => r,
        None => match read_source(cfg).await {
            Ok(r) => r,
            Err(e) => return Outcome::failed_with(rev, e),
        },
    };
    {
        // The commit's subject and author, for the status page.
        let mut st = shared.lock();
        if let Some(seen) = st.last_seen.as_mut().filter(|s| s.commit == read.revision) {
            seen.subject.clone_from(&read.subject);
            seen.author.clone_from(&read.author);
        }
    }
    let mut desired = match crate::desired::build(&read.files) {
        Ok(d) => d,
        Err(diags) => {
            let problems: Vec<Problem> = diags
                .iter()
                .map(|d| Problem {
                    code: d.code.id().to_string(),
                    at: format!("{}:{}:{}", d.file, d.location.line, d.location.column),
                    message: if d.redact {
                        "(message hidden: it may quote a secret)".into()
                    } else {
                        d.message.clone()
                    },
                })
                .collect();
            let summary: Vec<String> = problems
                .iter()
                .map(|p| format!("{} at {}", p.code, p.at))
                .collect();
            let mut st = shared.lock();
            st.diagnostics = problems;
            st.sync = "Degraded";
            st.memory.invalid = Some(revision.clone());
            return Outcome {
                error: Some(format!(
                    "{} problem(s); the last good state stays applied: {}",
                    diags.len(),
                    summary.join(", ")
                )),
                ..Outcome::new("invalid", rev)
            };
        }
    };
    shared.lock().diagnostics.clear();
    if read.is_commit {
        desired.revision = Some(revision.clone());
    }
    desired.owner = Some(cfg.source.owner());
    if let Err(e) = (cfg.values)(&mut desired) {
        return Outcome::failed_with(rev, e);
    }
    // With the marker of the same snapshot: an apply below that finds it
    // unmoved under the lock applies this plan without planning again.
    let (actual, planned_marker) = match crate::state::read::snapshot_marked(pool).await {
        Ok(a) => a,
        Err(e) => return Outcome::failed_with(rev, e),
    };
    let plan = match crate::plan::diff::diff(&desired, &actual) {
        Ok(p) => p,
        Err(e) => return Outcome::failed_with(rev, e),
    };
    // Pinned-versus-current content of the tools that may wait for review:
    // those pending in MCPBox (their content there) and those git is about to
    // create (git's content); hashed only for them, not for every tool.
    let existing: std::collections::BTreeSet<String> =
        actual.tools.iter().map(|t| t.obj.key()).collect();
    let mut review_hashes: std::collections::BTreeMap<String, (String, Option<String>)> = actual
        .tools
        .iter()
        .filter(|t| t.approval_status.label() == "pending_review")
        .map(|t| (t.obj.key(), (t.obj.content_hash(), None)))
        .collect();
    for o in desired.objects.values() {
        if let crate::model::Object::Tool(t) = o {
            if !existing.contains(&t.key()) {
                review_hashes.insert(t.key(), (t.content_hash(), None));
            }
        }
    }
    for (key, v) in review_hashes.iter_mut() {
        v.1 = desired.all_pins.get(key).map(|p| p.sha256.clone());
    }
    shared.lock().review_hashes = review_hashes;
    refresh_tools(shared).await;

    let last_applied = {
        let mut st = shared.lock();
        if st.memory.last_applied.is_none() {
            st.memory.last_applied = ctl.last_applied_commit.clone();
        }
        st.memory.last_applied.clone()
    };
    let mut same_commit = last_applied.as_deref() == Some(revision.as_str());
    if !same_commit && !revision.starts_with("dir:") {
        // A commit `apply` (the CLI, or another daemon) already applied is not
        // new: what differs from it now is drift, which only --self-heal
        // reverts. Applies record their source as `git:<first 12 of the SHA> …`.
        let prefix: String = revision.chars().take(12).collect();
        let applied: Result<bool, _> = sqlx::query_scalar(
            "SELECT EXISTS (SELECT 1 FROM mcpbox_gitops.applies WHERE source LIKE 'git:' || $1 || '%')",
        )
        .bind(&prefix)
        .fetch_one(pool)
        .await;
        if applied.unwrap_or(false) {
            same_commit = true;
            shared.lock().memory.last_applied = Some(revision.clone());
        }
    }
    let out_of_sync: Vec<String> = plan
        .changes
        .iter()
        .map(|c| format!("{} {}", c.kind.as_str(), c.key))
        .collect();
    let drifted = if same_commit {
        attribute(pool, &plan).await
    } else {
        vec![]
    };
    for d in &drifted {
        warn!(
            kind = d.kind,
            key = d.key,
            fields = d.fields.join(","),
            who = d.who.as_deref().unwrap_or("unknown"),
            when = d.when.map(|w| w.to_rfc3339()).unwrap_or_default(),
            "drift: {} {} changed outside git",
            d.kind,
            d.key
        );
    }
    let changes = plan.changes.len();
    let nothing = !plan.has_changes() && plan.bookkeeping.is_empty();
    shared.lock().quarantined = plan.quarantine.clone();
    for q in plan.quarantine.iter().filter(|q| q.holds()) {
        warn!(tool = q.tool(), "{q}");
    }

    // Decide.
    let blocked = if nothing {
        None
    } else if suspended {
        Some("suspended")
    } else if !cfg.auto_sync || !leader {
        Some("out_of_sync")
    } else if same_commit && plan.has_changes() && !cfg.self_heal && !quarantine_only(&plan) {
        // Bookkeeping alone (a new pin on an approved tool) is not drift. A
        // quarantine is applied without --self-heal: the policy asks for it,
        // and it only disables.
        Some("drift")
    } else {
        None
    };
    let refusal = plan.refusal(
        cfg.allow_destroy,
        desired.policy.deletion_guard.max_delete_percent,
        desired.is_empty(),
    );
    let sync_word = |synced: bool| match (suspended, synced) {
        (true, _) => "Suspended",
        (false, true) => "Synced",
        (false, false) => "OutOfSync",
    };
    if nothing || blocked.is_some() || refusal.is_some() {
        let outcome = match (nothing, blocked, &refusal) {
            (true, _, _) => "synced",
            (_, Some(b), _) => b,
            _ => "refused",
        };
        {
            let mut st = shared.lock();
            st.out_of_sync = out_of_sync;
            st.plan_text = (!nothing).then(|| crate::plan::render::text::render(&plan));
            st.drifted = drifted;
            st.refused = if blocked.is_none() {
                refusal.clone()
            } else {
                None
            };
            st.sync = sync_word(nothing);
            if nothing {
                st.memory.last_applied = Some(revision.clone());
            }
        }
        let mut out = Outcome::new(outcome, rev);
        out.changes = changes;
        if outcome == "refused" {
            out.error = refusal;
        }
        let retry = retry_activation(cfg, shared).await;
        if retry == Some(false) {
            out.outcome = "activation_failed";
            return out;
        }
        remember(shared, &key, &marker, nothing.then_some(revision.as_str())).await;
        return out;
    }

    // Apply: the leader re-checks its lock right before writing.
    if !shared.leader.load(Ordering::SeqCst) {
        return Outcome::new("out_of_sync", rev);
    }
    let opts = crate::apply::Options {
        allow_destroy: cfg.allow_destroy,
        // Remembered below: the state this apply committed, not one read
        // later that may already hold someone's next edit (which the next
        // pass would then never see).
        marker_after: true,
        ..Default::default()
    };
    let planned = crate::apply::execute::Planned {
        actual: &actual,
        plan,
        marker: &planned_marker,
    };
    let applied = crate::apply::execute::execute_planned(pool, &desired, planned, false, &opts);
    let (applied, report, committed_marker) = match applied.await {
        Ok(a) => (a.plan, a.report, a.marker),
        Err(e) => return Outcome::failed_with(rev, e),
    };
    let now = chrono::Utc::now();
    {
        let mut st = shared.lock();
        // What this apply recorded: a quarantine that started is now held,
        // one lifted is gone.
        st.quarantined = applied
            .quarantine
            .iter()
            .filter_map(|q| match q {
                Quarantine::Start {
                    tool,
                    git_hash,
                    drifted_hash,
                    ..
                } => Some(Quarantine::Hold {
                    tool: tool.clone(),
                    git_hash: git_hash.clone(),
                    drifted_hash: drifted_hash.clone(),
                    since: now.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
                }),
                Quarantine::Hold { .. } => Some(q.clone()),
                Quarantine::Lift { .. } => None,
            })
            .collect();
        for c in &applied.changes {
            *st.counters
                .applied
                .entry((
                    c.kind.as_str().to_string(),
                    action_word(c.action).to_string(),
                ))
                .or_default() += 1;
        }
        st.out_of_sync.clear();
        st.plan_text = None;
        st.refused = None;
        st.drifted = drifted
            .into_iter()
            .map(|d| Drifted {
                reverted: true,
                ..d
            })
            .collect();
        for d in &st.drifted {
            info!(
                kind = d.kind,
                key = d.key,
                "self-heal: reverted {} {} to git",
                d.kind,
                d.key
            );
        }
        st.sync = sync_word(true);
        st.memory.last_applied = Some(revision.clone());
        if report.changed {
            let (subject, author) = st
                .last_seen
                .as_ref()
                .filter(|s| s.commit == revision)
                .map(|s| (s.subject.clone(), s.author.clone()))
                .unwrap_or_default();
            st.last_applied = Some(Seen {
                subject,
                author,
                commit: revision.clone(),
                at: now,
            });
        }
        if report.changed && cfg.activation.is_some() {
            let affected = crate::activate::Affected::from(&report);
            if !affected.is_empty() {
                st.memory.pending_activation = Some(affected);
            }
        }
    }
    let mut out = Outcome::new("applied", rev);
    out.changes = applied.changes.len();
    if retry_activation(cfg, shared).await == Some(false) {
        out.outcome = "activation_failed";
        out.error = Some("activation in MCPBox's sandbox failed; retried on later passes".into());
    }
    refresh_tools(shared).await;
    match committed_marker {
        Some(m) => remember(shared, &key, &m, Some(&revision)).await,
        None => warn!("the apply returned no change marker; the next pass plans again"),
    }
    out
}

/// `create`, `update`, …
/// Whether every change of `plan` is a quarantine's (the tools it starts or
/// lifts), with at least one quarantine to record.
fn quarantine_only(plan: &Plan) -> bool {
    plan.quarantine_changes()
        && plan.caches.is_empty()
        && plan.changes.iter().all(|c| {
            c.kind == crate::model::Kind::Tool
                && plan.quarantine.iter().any(|q| {
                    q.tool() == c.key
                        && !matches!(q, crate::rules::quarantine::Quarantine::Hold { .. })
                })
        })
}

fn action_word(a: Action) -> &'static str {
    match a {
        Action::Create => "create",
        Action::Update => "update",
        Action::Delete => "delete",
        Action::Adopt => "adopt",
    }
}

/// Remembers a good pass (in memory and in `daemon_state` for other processes),
/// unless an activation is pending.
async fn remember(shared: &Shared, key: &str, marker: &str, applied: Option<&str>) {
    {
        let mut st = shared.lock();
        if st.memory.pending_activation.is_some() {
            return;
        }
        st.memory.last_good = Some((key.to_string(), marker.to_string()));
    }
    if shared.leader.load(Ordering::SeqCst) {
        if let Err(e) = control::remember(&shared.pool, key, marker, applied).await {
            warn!("{e}");
        }
    }
}

/// Runs a pending activation: `None` when there was none, else whether it
/// succeeded (a failure stays pending; the loop backs off).
async fn retry_activation(cfg: &Config, shared: &Shared) -> Option<bool> {
    let act = cfg.activation.as_ref()?;
    let affected = shared.lock().memory.pending_activation.clone()?;
    if !shared.leader.load(Ordering::SeqCst) {
        return None;
    }
    let outcome = crate::activate::activate(&shared.pool, cfg.key.as_ref(), &affected, act).await;
    let ok = outcome.is_ok();
    let mut st = shared.lock();
    *st.counters.activation_calls.entry("ok".into()).or_default() += outcome.ok as u64;
    *st.counters
        .activation_calls
        .entry("failed".into())
        .or_default() += outcome.failed as u64;
    if ok {
        st.memory.pending_activation = None;
    } else {
        warn!(
            failed = outcome.failed,
            "activation in MCPBox's sandbox failed; the commit stands, retried on a later pass"
        );
    }
    st.activation = Some(outcome);
    Some(ok)
}

/// Drifted objects of a plan on the applied revision, with who and when.
async fn attribute(pool: &sqlx::PgPool, plan: &Plan) -> Vec<Drifted> {
    let mut out = Vec::new();
    for (i, c) in plan.changes.iter().enumerate() {
        let name = c.key.rsplit('/').next().unwrap_or(&c.key);
        let (who, when) = if i < MAX_ATTRIBUTED {
            drift::attribution(pool, c.row_id, name).await
        } else {
            (None, None)
        };
        out.push(Drifted {
            kind: c.kind.as_str().to_string(),
            key: c.key.clone(),
            fields: c.fields.iter().map(|f| f.field.clone()).collect(),
            who,
            when,
            reverted: false,
        });
    }
    out
}

/// Tools waiting for review and counts per approval status.
async fn refresh_tools(shared: &Shared) {
    type Row = (String, String, i32, Option<chrono::DateTime<chrono::Utc>>);
    let pending: Result<Vec<Row>, _> = sqlx::query_as(
        "SELECT s.name::text, t.name::text, t.current_version, t.approval_requested_at
           FROM tools t JOIN servers s ON s.id = t.server_id
         WHERE t.approval_status = 'pending_review' ORDER BY 1, 2 LIMIT 1000",
    )
    .fetch_all(&shared.pool)
    .await;
    let counts: Result<Vec<(String, i64)>, _> =
        sqlx::query_as("SELECT approval_status::text, count(*) FROM tools GROUP BY 1")
            .fetch_all(&shared.pool)
            .await;
    let mut st = shared.lock();
    if let Ok(p) = pending {
        st.pending_review = p
            .into_iter()
            .map(|(server, tool, version, requested_at)| {
                let known = st.review_hashes.get(&format!("{server}/{tool}"));
                PendingTool {
                    content_hash: known.map(|k| k.0.clone()),
                    pinned_hash: known.and_then(|k| k.1.clone()),
                    server,
                    tool,
                    version,
                    requested_at,
                }
            })
            .collect();
    }
    if let Ok(c) = counts {
        st.counters.tools = c.into_iter().map(|(k, v)| (k, v.max(0) as u64)).collect();
    }
}
