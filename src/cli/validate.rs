//! `mcpbox-gitops validate [PATH]`: offline; every diagnostic at once. Exit 0
//! valid, 1 invalid. Never connects to a database.
//!
//! A valid repository may still get warnings from the least-privilege diff
//! (`infer`): W001 when tool code calls a host or imports a module the manifests
//! do not allow (an error with `--strict`), W002 when git grants a host or module
//! no tool appears to use.

use super::{diagnostics, print, Error, SourceArgs, EXIT_ERROR, EXIT_OK};
use crate::manifest::{Code, Diagnostic};

/// Arguments of `validate`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The repository.
    #[command(flatten)]
    pub source: SourceArgs,
    /// Output format.
    #[arg(long, value_enum, default_value = "text")]
    pub format: Format,
    /// Treat W001 (code needs a host or module the manifests do not grant) as an
    /// error: exit 1 when any tool would fail at run time in MCPBox's sandbox.
    #[arg(long)]
    pub strict: bool,
}

/// Output formats of `validate`.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum Format {
    /// Source snippets and help, for people.
    Text,
    /// A JSON document, for machines.
    Json,
}

/// Errors under `--strict`: every `E…` code and W001.
fn is_error_strict(d: &Diagnostic) -> bool {
    !d.code.is_warning() || d.code == Code::NeededNotGranted
}

/// Runs `validate`.
pub fn run(args: Args) -> Result<u8, Error> {
    let files = args.source.read(None)?.files;
    let result = crate::desired::build(&files);
    let is_error: fn(&Diagnostic) -> bool = if args.strict {
        is_error_strict
    } else {
        diagnostics::is_error_plain
    };
    let diags = match &result {
        Ok(d) => {
            let mut w = crate::least_privilege::check(&d.inventory).diagnostics();
            crate::diagnostic::sort(&mut w);
            w
        }
        Err(d) => d.clone(),
    };
    let failed = diags.iter().any(is_error);
    match args.format {
        Format::Json => print(&diagnostics::render_json_with(&diags, is_error))?,
        Format::Text => {
            if !diags.is_empty() {
                eprint!(
                    "{}",
                    diagnostics::render_with(&files, &diags, super::color_enabled(), is_error)
                );
            }
            if let (Ok(d), false) = (&result, failed) {
                let warnings = if diags.is_empty() {
                    String::new()
                } else {
                    format!(" with {} warning(s)", diags.len())
                };
                print(&format!(
                    "{} is valid{warnings}: {} object(s), {} approval pin(s).\n",
                    files.label,
                    d.len(),
                    d.pins.len()
                ))?;
            }
        }
    }
    Ok(if failed { EXIT_ERROR } else { EXIT_OK })
}
