//! `mcpbox-gitops plan [PATH]`: read the manifests and the database, print the
//! plan. Never writes. Without a database URL, plans against an empty MCPBox.

use super::connect::DbArgs;
use super::{print, Error, SourceArgs, EXIT_CHANGES, EXIT_OK};
use crate::plan::render::markdown::PrContext;
use crate::plan::render::{self, Format};
use std::collections::BTreeSet;

use crate::plan::saved::SavedPlan;
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
    /// Text format: show a new tool's code as `(+N lines, sha256:…)` instead
    /// of in full (updates keep their changed hunks).
    #[arg(long)]
    pub compact: bool,
    /// Plan as `apply --restore-quarantined` would: every quarantine lifted.
    #[arg(long)]
    pub restore_quarantined: bool,
    /// Plan as `apply --restore-removed` would: hosts and modules removed in
    /// MCPBox are granted again.
    #[arg(long)]
    pub restore_removed: bool,
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
        return Err(Error::Usage(
            "--base compares two commits: give the pull request's commit with --git REF (e.g. --git HEAD), or a repository URL".into(),
        ));
    }
    let progress = super::progress::Progress::start("reading manifests");
    // The file set is dropped at once: the desired state holds all it needs.
    let (_, mut desired) = super::load_desired(&args.source)?;
    desired.restore_quarantined = args.restore_quarantined;
    desired.restore_removed = args.restore_removed;
    // PR mode: the policy (approvers, guard, reviewer) and signers come from
    // BASE, so a pull request cannot loosen its own rules; values are never read.
    let mut pr_notes: Vec<String> = Vec::new();
    let base = match &args.base {
        Some(rev) => Some(read_base(&args.source, rev, &mut pr_notes)?),
        None => None,
    };
    let reserved = [args.source.git_token_env.as_str()];
    let note = match &base {
        Some(b) => {
            // Nothing is read, but what apply would refuse is refused now, by
            // BASE's allow-list, spelled as written.
            args.values
                .access(&b.policy.values, &reserved)?
                .check_sources(&desired.value_sources)?;
            (!desired.value_sources.is_empty()).then(|| {
                "secret values are never read in pull-request mode; apply reads and compares them"
                    .to_string()
            })
        }
        None => super::read_values(&mut desired, &args.values, false, &reserved)?,
    };
    progress.step("reading the database");
    let actual = match &args.db.database_url {
        Some(url) => {
            let pool = super::connect::ready_pool(url).await?;
            crate::state::read::snapshot(&pool).await?
        }
        None => ActualState::default(),
    };
    progress.step("planning");
    let review = match &base {
        Some(b) => {
            pr_notes.splice(0..0, note);
            let r = crate::plan::pull_request::review(desired.clone(), b, &actual, pr_notes)?;
            desired.signers = b.signers.clone();
            desired.set_policy(b.policy.clone());
            r
        }
        None => {
            let mut plan = crate::plan::diff::diff(&desired, &actual)?;
            plan.notes.extend(note);
            crate::plan::pull_request::Review {
                plan,
                outside: None,
                policy_change: None,
                pins_in_range: BTreeSet::new(),
            }
        }
    };
    let plan = &review.plan;
    progress.step("rendering");
    // Text is written to stdout as it is rendered, below; the documents are
    // built whole.
    let text = match args.format {
        Format::Text => None,
        Format::Json => Some(render::json::render(plan)),
        Format::Markdown => {
            let base_label = base.as_ref().map(|b| b.label.clone());
            let mut ctx = PrContext::local(&plan.source);
            ctx.base = base_label.as_deref();
            ctx.outside = review.outside.as_ref();
            ctx.pins_in_range = &review.pins_in_range;
            ctx.artifact = args.artifact.as_deref();
            ctx.policy_change = review.policy_change.as_ref();
            let database = args
                .db
                .database_url
                .as_deref()
                .map(super::connect::describe);
            ctx.database = database.as_deref();
            Some(render::markdown::render(plan, &ctx))
        }
    };
    if let Some(path) = &args.out {
        if !actual.connected {
            return Err(Error::Usage(
                "plan --out needs a database: a saved plan records the rows it read, so that apply --plan can refuse when they moved".into(),
            ));
        }
        let mut saved = SavedPlan::new(
            plan.clone(),
            &actual,
            desired.policy.reviewer.clone(),
            desired.policy.deletion_guard.max_delete_percent,
            desired.is_empty(),
            desired.value_sources.clone(),
        );
        saved.values_policy = desired.policy.values.clone();
        let json = serde_json::to_string_pretty(&saved).map_err(|source| Error::Encode {
            what: "the plan",
            source,
        })?;
        std::fs::write(path, json + "\n").map_err(|source| Error::Write {
            path: crate::escape::path(path),
            source,
        })?;
    }
    progress.finish();
    match &text {
        Some(text) => print(text)?,
        None => super::print_with(|out| render::text::write(out, plan, args.compact))?,
    }
    if let Some(path) = &args.out {
        // Terraform's closing words: where the plan went and the exact command
        // that applies it. On stderr when stdout is a JSON or markdown document.
        let shown = crate::escape::path(path);
        let next = format!(
            "\nSaved the plan to: {shown}\n\nTo perform exactly these actions, run:\n    mcpbox-gitops apply --plan {}\n",
            shell_word(&shown)
        );
        match args.format {
            Format::Text => print(&next)?,
            _ => eprint!("{next}"),
        }
    }
    Ok(if args.detailed_exitcode && plan.has_changes() {
        EXIT_CHANGES
    } else {
        EXIT_OK
    })
}

/// A word a POSIX shell reads back as itself: quoted when it holds anything
/// but plain path characters.
fn shell_word(s: &str) -> String {
    if !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "/._-+:@%,".contains(c))
    {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', "'\\''"))
    }
}

/// Reads BASE. Its policy file must parse — it governs this plan — but invalid
/// manifests (which the PR may be fixing) only cost the "outside" section.
fn read_base(
    source: &SourceArgs,
    rev: &str,
    notes: &mut Vec<String>,
) -> Result<crate::plan::pull_request::Base, Error> {
    use crate::manifest::load::{text_of, APPROVALS_FILE, POLICY_FILE};
    let loaded = source.read(Some(rev))?;
    let files = &loaded.files;
    let policy = match text_of(files, POLICY_FILE) {
        Some(text) => crate::policy::parse(POLICY_FILE, text).map_err(|d| {
            Error::Usage(format!(
                "BASE ({rev}) has an invalid policy file, which governs this plan: {d}"
            ))
        })?,
        None => crate::policy::Policy::default(),
    };
    let pins = text_of(files, APPROVALS_FILE)
        .and_then(|t| crate::approvals::parse(APPROVALS_FILE, t).ok())
        .unwrap_or_default();
    let desired = match crate::desired::build(files) {
        Ok(mut d) => {
            d.revision = loaded.revision.clone();
            Some(d)
        }
        Err(diags) => {
            notes.push(format!(
                "BASE ({rev}) has {} manifest problem(s), so changes outside this PR could not be computed (`mcpbox-gitops validate --git {rev}` lists them)",
                diags.len()
            ));
            None
        }
    };
    Ok(crate::plan::pull_request::Base {
        label: files.label.clone(),
        signers: crate::desired::signers_of(files, &policy),
        policy,
        pins,
        desired,
    })
}
