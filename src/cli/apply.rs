//! `mcpbox-gitops apply [PATH]`: show the plan, ask, and execute it in one
//! transaction. The plan is recomputed inside the lock and must equal the one shown.
//! With `--activate`, the change is then made live in MCPBox's sandbox
//! (`crate::activate`); without it, the running servers to re-register are listed.

use std::io::{BufRead, IsTerminal};

use super::connect::DbArgs;
use super::{print, Error, SourceArgs, EXIT_OK};
use crate::plan::render;
use crate::plan::saved::SavedPlan;

/// Arguments of `apply`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The repository.
    #[command(flatten)]
    pub source: SourceArgs,
    /// The database.
    #[command(flatten)]
    pub db: DbArgs,
    /// Apply without asking for confirmation.
    #[arg(long)]
    pub auto_approve: bool,
    /// Show a new tool's code as `(+N lines, sha256:…)` instead of in full.
    #[arg(long)]
    pub compact: bool,
    /// Take objects that another source (repository + subdir) owns, instead of
    /// refusing the plan.
    #[arg(long)]
    pub take_ownership: bool,
    /// Lift every quarantine (onCodeDrift: quarantine): git's version of each
    /// quarantined tool is written back and the tool enabled as git says.
    #[arg(long)]
    pub restore_quarantined: bool,
    /// Grant again the hosts and modules an admin removed in MCPBox (by
    /// default such a removal stands, like a revocation, until git changes
    /// the entry).
    #[arg(long)]
    pub restore_removed: bool,
    /// How long to wait for another apply to finish (e.g. 30s, 5m).
    #[arg(long, value_name = "DURATION", default_value = "5m", value_parser = super::parse_duration)]
    pub lock_timeout: std::time::Duration,
    /// Allow deleting servers, secrets, or more than the policy's share of owned objects.
    #[arg(long)]
    pub allow_destroy: bool,
    /// Secret values.
    #[command(flatten)]
    pub values: super::ValueArgs,
    /// Apply exactly this saved plan (from `plan --out FILE`) instead of reading
    /// manifests. Refused, naming the objects, if a row it read moved since.
    #[arg(long = "plan", value_name = "FILE")]
    pub saved: Option<std::path::PathBuf>,
    /// After the commit, re-register the affected running servers in MCPBox's
    /// sandbox, unregister deleted ones, install packages and notify MCP clients.
    /// Needs the sandbox API key; a failure there leaves the commit in place.
    #[arg(long)]
    pub activate: bool,
    /// The sandbox, for `--activate`.
    #[command(flatten)]
    pub sandbox: super::activate::SandboxArgs,
}

/// What `--activate` needs, resolved before anything is written so a missing
/// API key or a bad encryption key refuses the apply instead of half-doing it.
struct Activation {
    cfg: crate::activate::Config,
    key: Option<crate::crypto::Key>,
}

impl Args {
    fn activation(&self) -> Result<Option<Activation>, Error> {
        if !self.activate {
            return Ok(None);
        }
        Ok(Some(Activation {
            cfg: self.sandbox.config()?,
            key: super::encryption_key()?,
        }))
    }
}

/// Runs `apply`.
pub async fn run(args: Args) -> Result<u8, Error> {
    if let Some(path) = &args.saved {
        return run_saved(&args, path).await;
    }
    let activation = args.activation()?;
    let progress = super::progress::Progress::start("reading manifests");
    // The file set is dropped at once: the desired state holds all it needs.
    let (_, mut desired) = super::load_desired(&args.source)?;
    desired.restore_quarantined = args.restore_quarantined;
    desired.restore_removed = args.restore_removed;
    super::read_values(&mut desired, &args.values, true, &reserved(&args))?;
    let url = args
        .db
        .database_url
        .as_deref()
        .ok_or_else(|| Error::NoDatabase("apply"))?;
    progress.step("reading the database");
    let pool = super::connect::write_pool(url).await?;
    let (actual, marker) = crate::state::read::snapshot_marked(&pool).await?;
    progress.step("planning");
    let plan = crate::plan::diff::diff(&desired, &actual)?;
    progress.finish();
    super::print_with(|out| render::text::write(out, &plan, args.compact))?;
    if let Some(why) = plan.refusal(
        args.allow_destroy,
        desired.policy.deletion_guard.max_delete_percent,
        desired.is_empty(),
    ) {
        return Err(crate::apply::Error::Refused(why).into());
    }
    if !plan.has_changes() && plan.bookkeeping.is_empty() {
        return nothing_to_activate(&activation);
    }
    if plan.has_changes() && !args.auto_approve && !confirm()? {
        print("\nApply cancelled.\n")?;
        return Ok(super::EXIT_ERROR);
    }
    let opts = crate::apply::Options {
        allow_destroy: args.allow_destroy,
        lock_timeout: args.lock_timeout,
        take_ownership: args.take_ownership,
        marker_after: false,
    };
    // With --auto-approve nobody approved the plan shown, so the plan computed
    // inside the lock is the one to apply: an apply that waited for another
    // (three CI jobs of three merges) applies what is left, usually nothing,
    // instead of failing as stale. A plan a human confirmed must match exactly.
    // When nothing moved since the plan was read (the change marker under the
    // lock says so), the plan shown is applied without reading and diffing
    // everything again.
    let planned = crate::apply::execute::Planned {
        actual: &actual,
        plan,
        marker: &marker,
    };
    let applying =
        super::progress::Progress::start("applying (waiting for the lock, then writing)");
    let applied =
        crate::apply::execute::execute_planned(&pool, &desired, planned, !args.auto_approve, &opts)
            .await?;
    applying.finish();
    if applied.moved {
        print(&format!(
            "\nThe database changed while this apply waited for the lock; the plan re-computed inside it was applied instead:\n{}",
            render::text::render(&applied.plan)
        ))?;
    }
    finish(&pool, &applied.plan, &applied.report, activation.as_ref()).await
}

/// `apply --plan FILE`.
async fn run_saved(args: &Args, path: &std::path::Path) -> Result<u8, Error> {
    let activation = args.activation()?;
    let text = std::fs::read_to_string(path).map_err(|source| Error::Read {
        path: crate::escape::path(path),
        source,
    })?;
    let saved: SavedPlan = serde_json::from_str(&text).map_err(|source| Error::NotASavedPlan {
        path: crate::escape::path(path),
        source,
    })?;
    saved.check_version()?;
    let access = args.values.access(&saved.values_policy, &reserved(args))?;
    let values = super::read_value_sources(&saved.value_sources, &args.values, &access, true)?
        .unwrap_or_default();
    let url = args
        .db
        .database_url
        .as_deref()
        .ok_or_else(|| Error::NoDatabase("apply"))?;
    let pool = super::connect::write_pool(url).await?;
    print(&render::text::render_saved(
        &saved.plan,
        &crate::escape::path(path),
    ))?;
    if !saved.plan.has_changes() && saved.plan.bookkeeping.is_empty() {
        return nothing_to_activate(&activation);
    }
    if saved.plan.has_changes() && !args.auto_approve && !confirm()? {
        print("\nApply cancelled.\n")?;
        return Ok(super::EXIT_ERROR);
    }
    let opts = crate::apply::Options {
        allow_destroy: args.allow_destroy,
        lock_timeout: args.lock_timeout,
        take_ownership: args.take_ownership,
        marker_after: false,
    };
    let (applied, report) = crate::apply::execute_saved(&pool, &saved, &values, &opts).await?;
    finish(&pool, &applied, &report, activation.as_ref()).await
}

/// With `--activate` and no changes: nothing was applied, so nothing is known to
/// be stale; say how to re-register anyway.
fn nothing_to_activate(activation: &Option<Activation>) -> Result<u8, Error> {
    if activation.is_some() {
        print("Nothing to activate: no changes were applied. `mcpbox-gitops activate` re-registers every running server.\n")?;
    }
    Ok(EXIT_OK)
}

async fn finish(
    pool: &sqlx::PgPool,
    applied: &crate::plan::Plan,
    report: &crate::apply::Report,
    activation: Option<&Activation>,
) -> Result<u8, Error> {
    let s = &applied.summary;
    let mut out = format!(
        "\nApply complete! Objects: {} adopted, {} added, {} changed, {} destroyed.\n",
        s.adopt, s.add, s.change, s.destroy
    );
    if activation.is_none() {
        for r in &report.reregister {
            out.push_str(&format!("Server {} is running and must be re-registered to serve these changes ({}): restart it in MCPBox.\n", r.server, r.reasons.join("; ")));
        }
        for r in &report.unregister {
            out.push_str(&format!("Server {} was deleted while running and stays callable in MCPBox's sandbox until unregistered (`apply --activate` does it) or the sandbox restarts.\n", r.server));
        }
    }
    for s in &report.not_started {
        out.push_str(&format!("Server {s} was created as `imported`; start it in MCPBox to serve its approved tools.\n"));
    }
    print(&out)?;
    if let Some(a) = activation {
        let affected = crate::activate::Affected::from(report);
        if affected.is_empty() {
            print("Nothing to activate: no running server serves anything that changed.\n")?;
        } else {
            print("\nActivating in MCPBox's sandbox:\n")?;
            let outcome = crate::activate::activate(pool, a.key.as_ref(), &affected, &a.cfg).await;
            if outcome.calls.is_empty() {
                print("No affected server is running any more; nothing was sent.\n")?;
            }
            super::activate::report(&outcome)?;
        }
    }
    Ok(EXIT_OK)
}

/// Terraform's prompt: only `yes` proceeds.
fn confirm() -> Result<bool, Error> {
    if !std::io::stdin().is_terminal() {
        return Err(Error::Usage(
            "refusing to apply without confirmation: stdin is not a terminal; pass --auto-approve"
                .into(),
        ));
    }
    print("\nDo you want to perform these actions?\n  Only 'yes' will be accepted to approve.\n\n  Enter a value: ")?;
    let mut line = String::new();
    std::io::stdin().lock().read_line(&mut line)?;
    Ok(line.trim() == "yes")
}

/// The variables this run reads for itself: never readable by `valueFrom`.
fn reserved(args: &Args) -> Vec<&str> {
    let mut names = vec![args.source.git_token_env.as_str()];
    names.extend(args.sandbox.env_names());
    names
}
