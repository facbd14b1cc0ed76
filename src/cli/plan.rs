//! `mcpbox-gitops plan [PATH]`: read the manifests and the database, print the
//! plan. Never writes. Without a database URL, plans against an empty MCPBox.

use super::connect::DbArgs;
use super::{print, Error, SourceArgs, EXIT_CHANGES, EXIT_OK};
use crate::plan::render::markdown::PrContext;
use crate::plan::render::{self, Format};
use std::collections::BTreeSet;

use crate::plan::saved::{SavedPlan, SAVED_FORMAT};
use crate::state::ActualState;

/// Arguments of `plan`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The repository.
    #[command(flatten)]
    pub source: SourceArgs,
    /// The database.
    #[command(flatten)]
    pub db: DbArgs,
    /// Output format.
    #[arg(long, value_enum, default_value = "text")]
    pub format: Format,
    /// Exit 0 when there are no changes, 2 when there are, 1 on error.
    #[arg(long)]
    pub detailed_exitcode: bool,
    /// Secret values.
    #[command(flatten)]
    pub values: super::ValueArgs,
    /// Also write the plan to this file, for `apply --plan FILE`: it records the
    /// fingerprint of every row read, and apply refuses if any has moved.
    #[arg(long, value_name = "FILE")]
    pub out: Option<std::path::PathBuf>,
    /// Pull-request mode: the base commit (e.g. origin/main) of a git source.
    /// The policy is read from BASE, secret values are never read, and changes in
    /// the database that BASE does not explain are shown separately.
    #[arg(long, value_name = "REF")]
    pub base: Option<String>,
    /// Where CI keeps the full JSON plan, named when a markdown comment is cut to
    /// fit GitHub's 65,536-character limit.
    #[arg(long, value_name = "TEXT")]
    pub artifact: Option<String>,
}

/// Runs `plan`.
pub async fn run(args: Args) -> Result<u8, Error> {
    if args.base.is_some() && !args.source.is_git() {
        return Err(Error::Other(
            "--base compares two commits: give the pull request's commit with --git REF (e.g. --git HEAD), or a repository URL".into(),
        ));
    }
    let (_files, mut desired) = super::load_desired(&args.source)?;
    // PR mode: the policy (approvers, guard, reviewer) comes from BASE, so a pull
    // request cannot loosen its own rules; values are never read.
    let base = match &args.base {
        Some(rev) => {
            let (_, base) = super::load_desired_at(&args.source, Some(rev))?;
            desired.set_policy(base.policy.clone());
            Some(base)
        }
        None => None,
    };
    let note = match &base {
        Some(_) => (!desired.value_sources.is_empty()).then(|| {
            "secret values are never read in pull-request mode; apply reads and compares them"
                .to_string()
        }),
        None => super::read_values(&mut desired, &args.values, false)?,
    };
    let actual = match &args.db.database_url {
        Some(url) => {
            let pool = super::connect::ready_pool(url).await?;
            crate::state::read::snapshot(&pool).await?
        }
        None => ActualState::default(),
    };
    let mut plan = crate::plan::diff::diff(&desired, &actual)?;
    plan.notes.extend(note);
    let outside = match &base {
        Some(b) => Some(crate::plan::diff::diff(b, &actual)?),
        None => None,
    };
    let pins_in_range: BTreeSet<String> = match &base {
        Some(b) => desired
            .all_pins
            .keys()
            .chain(b.all_pins.keys())
            .filter(|k| {
                desired.all_pins.get(*k).map(|p| p.identity())
                    != b.all_pins.get(*k).map(|p| p.identity())
            })
            .cloned()
            .collect(),
        None => BTreeSet::new(),
    };
    let text = match args.format {
        Format::Text => {
            let mut t = render::text::render(&plan);
            if let Some(why) = plan.refusal(
                false,
                desired.policy.deletion_guard.max_delete_percent,
                desired.is_empty(),
            ) {
                t.push_str(&format!("\nWarning: apply will refuse this plan: {why}\n"));
            }
            t
        }
        Format::Json => render::json::render(&plan),
        Format::Markdown => {
            let base_label = base.as_ref().map(|b| b.source.clone());
            let mut ctx = PrContext::local(&plan.source);
            ctx.base = base_label.as_deref();
            ctx.outside = outside.as_ref();
            ctx.pins_in_range = &pins_in_range;
            ctx.artifact = args.artifact.as_deref();
            render::markdown::render(&plan, &ctx)
        }
    };
    if let Some(path) = &args.out {
        if !actual.connected {
            return Err(Error::Other(
                "plan --out needs a database: a saved plan records the rows it read, so that apply --plan can refuse when they moved".into(),
            ));
        }
        let saved = SavedPlan {
            saved_format: SAVED_FORMAT,
            tool_version: env!("CARGO_PKG_VERSION").to_string(),
            plan: plan.clone(),
            reviewer: desired.policy.reviewer.clone(),
            max_delete_percent: desired.policy.deletion_guard.max_delete_percent,
            desired_empty: desired.is_empty(),
            value_sources: desired.value_sources.clone(),
            rows: crate::plan::saved::rows(&actual, &plan),
            known: crate::plan::saved::known(&actual),
        };
        let json = serde_json::to_string_pretty(&saved)
            .map_err(|e| Error::Other(format!("cannot encode the plan: {e}")))?;
        std::fs::write(path, json + "\n")
            .map_err(|e| Error::Other(format!("cannot write {}: {e}", path.display())))?;
    }
    print(&text)?;
    Ok(if args.detailed_exitcode && plan.has_changes() {
        EXIT_CHANGES
    } else {
        EXIT_OK
    })
}
