//! Everyday helpers around the main commands: `completions` (shell completion
//! scripts, clap_complete), `man` (man pages, clap_mangen) and `show` (a saved
//! plan rendered in any format). None of them touches a database or a
//! repository; the commands they describe live in their own files.

use std::path::PathBuf;

use clap::CommandFactory;

use super::{print, Error, EXIT_OK};
use crate::plan::render::{self, Format};
use crate::plan::saved::SavedPlan;

/// Arguments of `completions`.
#[derive(Debug, clap::Args)]
pub struct CompletionsArgs {
    /// The shell.
    #[arg(value_enum)]
    pub shell: clap_complete::Shell,
}

/// Arguments of `man`.
#[derive(Debug, clap::Args)]
pub struct ManArgs {
    /// Write one page per command into this directory (`mcpbox-gitops.1`,
    /// `mcpbox-gitops-plan.1`, …) instead of printing the main page.
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
}

/// Arguments of `show`.
#[derive(Debug, clap::Args)]
pub struct ShowArgs {
    /// A saved plan (from `plan --out FILE`).
    pub file: PathBuf,
    /// Output format.
    #[arg(long, value_enum, default_value = "text")]
    pub format: Format,
}

/// `completions SHELL`: the completion script on stdout.
pub fn completions(args: CompletionsArgs) -> Result<u8, Error> {
    let mut cmd = super::Cli::command();
    let mut out = Vec::new();
    clap_complete::generate(args.shell, &mut cmd, "mcpbox-gitops", &mut out);
    print(&String::from_utf8_lossy(&out))?;
    Ok(EXIT_OK)
}

/// `man [--out DIR]`: the man page(s).
pub fn man(args: ManArgs) -> Result<u8, Error> {
    let cmd = super::Cli::command();
    match args.out {
        None => {
            let mut out = Vec::new();
            clap_mangen::Man::new(cmd).render(&mut out)?;
            print(&String::from_utf8_lossy(&out))?;
        }
        Some(dir) => {
            std::fs::create_dir_all(&dir)?;
            clap_mangen::generate_to(cmd, &dir)?;
            print(&format!(
                "wrote man pages to {}\n",
                crate::escape::path(&dir)
            ))?;
        }
    }
    Ok(EXIT_OK)
}

/// `show FILE`: a saved plan in text, JSON or markdown, as `plan` printed it.
pub fn show(args: ShowArgs) -> Result<u8, Error> {
    let text = std::fs::read_to_string(&args.file).map_err(|e| Error::Read {
        path: crate::escape::path(&args.file),
        source: e,
    })?;
    let saved: SavedPlan = serde_json::from_str(&text).map_err(|e| Error::NotASavedPlan {
        path: crate::escape::path(&args.file),
        source: e,
    })?;
    let out = match args.format {
        Format::Text => render::text::render(&saved.plan),
        Format::Json => render::json::render(&saved.plan),
        Format::Markdown => render::markdown::render(
            &saved.plan,
            &render::markdown::PrContext::local(&saved.plan.source),
        ),
    };
    print(&out)?;
    Ok(EXIT_OK)
}
