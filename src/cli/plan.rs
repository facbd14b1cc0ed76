//! `mcpbox-gitops plan [PATH]`: read the manifests and the database, print the
//! plan. Never writes. Without a database URL, plans against an empty MCPBox.

use super::connect::DbArgs;
use super::{print, Error, SourceArgs, EXIT_CHANGES, EXIT_OK};
use crate::plan::render::{self, Format};
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
}

/// Runs `plan`.
pub async fn run(args: Args) -> Result<u8, Error> {
    let (_files, mut desired) = super::load_desired(&args.source)?;
    let note = super::read_values(&mut desired, &args.values, false)?;
    let actual = match &args.db.database_url {
        Some(url) => {
            let pool = super::connect::ready_pool(url).await?;
            crate::state::read::snapshot(&pool).await?
        }
        None => ActualState::default(),
    };
    let mut plan = crate::plan::diff::diff(&desired, &actual)?;
    plan.notes.extend(note);
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
    };
    print(&text)?;
    Ok(if args.detailed_exitcode && plan.has_changes() {
        EXIT_CHANGES
    } else {
        EXIT_OK
    })
}
