//! `mcpbox-gitops db migrate|check`: MCPBox's schema on an empty database, our
//! bookkeeping everywhere; or a report of whether a database is usable.

use super::connect::DbArgs;
use super::{print, Error, EXIT_ERROR, EXIT_OK};

/// `db` subcommands.
#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// Create MCPBox's schema (revision 0002) on an empty database, and our bookkeeping. Idempotent.
    Migrate(DbArgs),
    /// Report whether the database is usable, and why not.
    Check(DbArgs),
}

fn url(db: &DbArgs) -> Result<&str, Error> {
    db.database_url.as_deref().ok_or(Error::NoDatabase("db"))
}

/// Runs a `db` subcommand.
pub async fn run(cmd: Command) -> Result<u8, Error> {
    match cmd {
        Command::Migrate(db) => {
            let pool = super::connect::pool(url(&db)?).await?;
            let m = crate::state::migrate::migrate(&pool).await?;
            let mut out = String::new();
            if m.created_mcpbox_schema {
                out.push_str("created MCPBox's schema at Alembic revision 0002\n");
            } else {
                out.push_str("MCPBox's schema is present at revision 0002; left untouched\n");
            }
            if m.applied.is_empty() {
                out.push_str("mcpbox-gitops bookkeeping is up to date\n");
            } else {
                out.push_str(&format!(
                    "applied {} mcpbox-gitops migration(s)\n",
                    m.applied.len()
                ));
            }
            print(&out)?;
            Ok(EXIT_OK)
        }
        Command::Check(db) => {
            let pool = super::connect::pool(url(&db)?).await?;
            let status = crate::state::migrate::check(&pool).await?;
            let problems = status.write_problems();
            if problems.is_empty() {
                print("database is ready: MCPBox schema at revision 0002, mcpbox-gitops bookkeeping up to date, and the role may write every table apply writes\n")?;
                Ok(EXIT_OK)
            } else {
                print(&format!(
                    "database is not ready:\n{}\n",
                    problems
                        .iter()
                        .map(|p| format!("  - {p}"))
                        .collect::<Vec<_>>()
                        .join("\n")
                ))?;
                Ok(EXIT_ERROR)
            }
        }
    }
}
