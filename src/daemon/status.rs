//! The daemon's state: one [`Status`] behind a lock in [`Shared`], written by the
//! pass loop and the leader task, read as snapshots by the HTTP handlers (and a
//! later HTML page). Rendering is `http`'s and `metrics`'s.

use std::collections::BTreeMap;
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex, MutexGuard};

use serde::Serialize;
use sqlx::PgPool;
use tokio::sync::Notify;

use super::drift::Drifted;

/// Upper bounds of the pass-duration histogram, in seconds.
pub const BUCKETS: [f64; 10] = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0, 30.0];

/// A revision and when it was seen or applied.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Seen {
    /// Commit SHA or `dir:<hash>`.
    pub commit: String,
    /// When.
    pub at: chrono::DateTime<chrono::Utc>,
    /// The commit's subject line, once the commit was read.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub subject: Option<String>,
    /// Its author, once the commit was read.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub author: Option<String>,
}

/// The last pass.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LastPass {
    /// `applied`, `synced`, `unchanged`, `out_of_sync`, `refused`, `invalid`, `failed`.
    pub outcome: String,
    /// How long it took.
    pub duration_ms: u64,
    /// When it ended.
    pub at: chrono::DateTime<chrono::Utc>,
    /// Why it failed or was refused.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// A manifest problem of an invalid revision.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Problem {
    /// Diagnostic code.
    pub code: String,
    /// `file:line:col`.
    pub at: String,
    /// Message.
    pub message: String,
}

/// A tool waiting for review in MCPBox.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PendingTool {
    /// Server name.
    pub server: String,
    /// Tool name.
    pub tool: String,
    /// Its `current_version`.
    pub version: i32,
    /// When review was requested.
    pub requested_at: Option<chrono::DateTime<chrono::Utc>>,
    /// Its content hash in MCPBox now.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub content_hash: Option<String>,
    /// The hash git's approvals.yaml pins for it, when it pins one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pinned_hash: Option<String>,
}

/// Counters and gauges only `/metrics` shows.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Counters {
    /// Passes per result.
    pub reconcile: BTreeMap<String, u64>,
    /// Histogram bucket counts (same order as [`BUCKETS`]), sum and count.
    pub duration_buckets: [u64; 10],
    /// Sum of pass durations in seconds.
    pub duration_sum: f64,
    /// Applied changes per (kind, action).
    pub applied: BTreeMap<(String, String), u64>,
    /// Activation calls per result.
    pub activation_calls: BTreeMap<String, u64>,
    /// Tools per approval status.
    pub tools: BTreeMap<String, u64>,
}

/// Everything `/status` shows.
#[derive(Debug, Clone, Serialize)]
pub struct Status {
    /// `leader` or `standby`.
    pub role: &'static str,
    /// `Synced`, `OutOfSync`, `Degraded` or `Suspended`.
    pub sync: &'static str,
    /// The branch followed (none for a directory).
    pub branch: Option<String>,
    /// The source, with credentials removed.
    pub source: String,
    /// The last revision read.
    pub last_seen: Option<Seen>,
    /// The last revision applied with changes.
    pub last_applied: Option<Seen>,
    /// The last pass.
    pub last_pass: Option<LastPass>,
    /// Passes run by this process (skipped ones included).
    pub passes: u64,
    /// Objects that differ from git, as `kind key`.
    pub out_of_sync: Vec<String>,
    /// Owned objects changed out-of-band.
    pub drifted: Vec<Drifted>,
    /// Tools quarantined because their code changed in MCPBox outside git
    /// (`onCodeDrift: quarantine`), as the last plan saw them.
    pub quarantined: Vec<crate::rules::quarantine::Quarantine>,
    /// Why the last plan was refused by the deletion guard.
    pub refused: Option<String>,
    /// Problems of an invalid revision (empty when the last read one is valid).
    pub diagnostics: Vec<Problem>,
    /// Tools waiting for review in MCPBox.
    pub pending_review: Vec<PendingTool>,
    /// Applying is suspended (`daemon suspend`).
    pub suspended: bool,
    /// Drift is reverted (`--self-heal`) rather than only reported.
    pub self_heal: bool,
    /// The last activation's outcome.
    pub activation: Option<crate::activate::Outcome>,
    /// Counters for `/metrics`.
    #[serde(skip)]
    pub counters: Counters,
    /// What the pass loop remembers between passes.
    #[serde(skip)]
    pub memory: Memory,
    /// Recent passes, oldest first (a day's worth, at most [`HISTORY`]), for
    /// the status page's table and chart.
    #[serde(skip)]
    pub history: std::collections::VecDeque<super::page::PassRecord>,
    /// The pending plan in the text grammar, while out of sync.
    #[serde(skip)]
    pub plan_text: Option<String>,
    /// `server/tool` → (content hash in MCPBox, hash git pins) of the tools
    /// waiting for review, from the last full pass.
    #[serde(skip)]
    pub review_hashes: BTreeMap<String, (String, Option<String>)>,
}

/// How many passes the history keeps.
pub const HISTORY: usize = 2000;

/// What passes remember (not shown).
#[derive(Debug, Clone, Default)]
pub struct Memory {
    /// (source key, marker) of the last good pass that left nothing pending.
    pub last_good: Option<(String, String)>,
    /// A revision known to be invalid: not parsed again.
    pub invalid: Option<String>,
    /// The revision whose state was last applied (or found equal).
    pub last_applied: Option<String>,
    /// An activation that failed, retried on later passes.
    pub pending_activation: Option<crate::activate::Affected>,
}

/// State shared by the loop, the leader task and the HTTP handlers.
pub struct Shared {
    status: Mutex<Status>,
    /// Whether this process holds the leader lock.
    pub leader: AtomicBool,
    /// Wakes the loop for an immediate pass (webhook, watcher, new leader).
    pub wake: Arc<Notify>,
    /// The database.
    pub pool: PgPool,
    /// The webhook secret, if configured.
    pub webhook_secret: Option<Vec<u8>>,
    /// The token the status page's actions require (`--ui-actions`); None:
    /// the page is read-only.
    pub ui_token: Option<Vec<u8>>,
    /// This process's CSRF token, carried by the page's forms.
    pub csrf: String,
}

impl Shared {
    /// Fresh state for `cfg`.
    pub fn new(cfg: &super::Config, pool: PgPool) -> Shared {
        Shared {
            status: Mutex::new(Status {
                role: "standby",
                sync: "OutOfSync",
                branch: cfg.source.branch().map(str::to_string),
                source: cfg.source.identity(),
                last_seen: None,
                last_applied: None,
                last_pass: None,
                passes: 0,
                out_of_sync: vec![],
                drifted: vec![],
                quarantined: vec![],
                refused: None,
                diagnostics: vec![],
                pending_review: vec![],
                suspended: false,
                self_heal: cfg.self_heal,
                activation: None,
                counters: Counters::default(),
                memory: Memory::default(),
                history: Default::default(),
                plan_text: None,
                review_hashes: BTreeMap::new(),
            }),
            leader: AtomicBool::new(false),
            wake: Arc::new(Notify::new()),
            pool,
            webhook_secret: cfg.webhook_secret.clone(),
            ui_token: cfg.ui_token.clone(),
            csrf: uuid::Uuid::new_v4().simple().to_string(),
        }
    }

    /// The state, for writing (never held across an await).
    pub fn lock(&self) -> MutexGuard<'_, Status> {
        // A panic while holding the lock leaves consistent-enough data to report.
        self.status.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A copy of the state.
    pub fn snapshot(&self) -> Status {
        self.lock().clone()
    }

    /// Records the role.
    pub fn set_role(&self, leader: bool) {
        self.lock().role = if leader { "leader" } else { "standby" };
    }
}
