//! `mcpbox-gitops approve SERVER/TOOL… --by EMAIL [--path PATH]`: pin each tool's
//! current content hash in `approvals.yaml`. Offline.

use std::path::PathBuf;

use super::{print, Error, SourceArgs, EXIT_OK};
use crate::approvals::{self, Pin};
use crate::manifest::load::{text_of, APPROVALS_FILE};
use crate::model::{Kind, Object};

/// Arguments of `approve`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Tools to pin, as `server/tool`.
    #[arg(required = true)]
    pub tools: Vec<String>,
    /// Who approves (written as `approved_by`).
    #[arg(long)]
    pub by: String,
    /// Root of the manifest repository.
    #[arg(long, default_value = ".")]
    pub path: PathBuf,
}

/// Runs `approve`.
pub fn run(args: Args) -> Result<u8, Error> {
    if args.by.trim().is_empty() || args.by.chars().count() > 255 {
        return Err(Error::Other(
            "--by must be 1 to 255 characters (it becomes tools.approved_by)".into(),
        ));
    }
    let source = SourceArgs::dir(&args.path);
    let (files, desired) = super::load_desired(&source)?;
    let mut pins = match text_of(&files, APPROVALS_FILE) {
        Some(text) => {
            approvals::parse(APPROVALS_FILE, text).map_err(|d| Error::Other(d.to_string()))?
        }
        None => approvals::Pins::new(),
    };
    let at = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let mut out = String::new();
    for key in &args.tools {
        let Some(Object::Tool(tool)) = desired.objects.get(&(Kind::Tool, key.clone())) else {
            let known: Vec<&str> = desired
                .objects
                .keys()
                .filter(|(k, _)| *k == Kind::Tool)
                .map(|(_, key)| key.as_str())
                .collect();
            return Err(Error::Other(format!(
                "no tool `{key}` in the manifests (tools: {})",
                known.join(", ")
            )));
        };
        let hash = tool.content_hash();
        pins.insert(
            key.clone(),
            Pin {
                tool: key.clone(),
                sha256: hash.clone(),
                approved_by: args.by.clone(),
                approved_at: Some(at.clone()),
            },
        );
        out.push_str(&format!(
            "pinned {key} at sha256 {} by {}\n",
            &hash[..12],
            args.by
        ));
    }
    // Keep an editor's `# yaml-language-server: $schema=…` line on top.
    let path = args.path.join(APPROVALS_FILE);
    let schema_line = std::fs::read_to_string(&path)
        .ok()
        .and_then(|t| t.lines().next().map(str::to_string))
        .filter(|l| l.starts_with("# yaml-language-server:"));
    let mut text = approvals::render(&pins);
    if let Some(line) = schema_line {
        text = format!("{line}\n{text}");
    }
    std::fs::write(path, text)?;
    print(&out)?;
    Ok(EXIT_OK)
}
