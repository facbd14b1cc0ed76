//! `mcpbox-gitops validate [PATH]`: offline; every diagnostic at once. Exit 0
//! valid, 1 invalid. Never connects to a database.

use super::{diagnostics, print, Error, SourceArgs, EXIT_ERROR, EXIT_OK};

/// Arguments of `validate`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The repository.
    #[command(flatten)]
    pub source: SourceArgs,
    /// Output format.
    #[arg(long, value_enum, default_value = "text")]
    pub format: Format,
}

/// Output formats of `validate`.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum Format {
    /// Source snippets and help, for people.
    Text,
    /// A JSON document, for machines.
    Json,
}

/// Runs `validate`.
pub fn run(args: Args) -> Result<u8, Error> {
    let files = args.source.read(None)?.files;
    let result = crate::desired::build(&files);
    let diags = match &result {
        Ok(_) => Vec::new(),
        Err(d) => d.clone(),
    };
    match args.format {
        Format::Json => print(&diagnostics::render_json(&diags))?,
        Format::Text => match &result {
            Ok(d) => print(&format!(
                "{} is valid: {} object(s), {} approval pin(s).\n",
                files.label,
                d.len(),
                d.pins.len()
            ))?,
            Err(diags) => eprint!(
                "{}",
                diagnostics::render(&files, diags, super::color_enabled())
            ),
        },
    }
    Ok(if diags.is_empty() {
        EXIT_OK
    } else {
        EXIT_ERROR
    })
}
