//! `mcpbox-gitops approve SERVER/TOOL… --by EMAIL [--repo DIR]`: pin each tool's
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
    /// Root of the manifest repository (where approvals.yaml lives).
    #[arg(long, value_name = "DIR", default_value = ".")]
    pub repo: PathBuf,
    /// Deprecated spelling of `--repo` (elsewhere `--path` means `--subdir`).
    #[arg(long, value_name = "DIR", hide = true)]
    pub path: Option<PathBuf>,
    /// Sign each pin with this SSH key (git's SSH signing format, namespace
    /// `mcpbox-gitops`): an unencrypted private key is used directly; an
    /// encrypted one, or a `.pub` whose key is in ssh-agent, via `ssh-keygen -Y sign`.
    #[arg(long, value_name = "KEY")]
    pub sign_with: Option<PathBuf>,
}

/// Runs `approve`.
pub fn run(mut args: Args) -> Result<u8, Error> {
    if let Some(path) = args.path.take() {
        eprintln!("warning: `approve --path` is deprecated: use `--repo` (in validate, plan and apply `--path` means `--subdir`)");
        args.repo = path;
    }
    if args.by.trim().is_empty() || args.by.chars().count() > 255 {
        return Err(Error::Usage(
            "--by must be 1 to 255 characters (it becomes tools.approved_by)".into(),
        ));
    }
    let source = SourceArgs::dir(&args.repo);
    let (files, desired) = super::load_desired(&source)?;
    // The file is edited in place, one pin at a time: its diff is exactly the
    // pins changed (it is the file CODEOWNERS protects).
    let mut text = text_of(&files, APPROVALS_FILE).unwrap_or("").to_string();
    approvals::parse(APPROVALS_FILE, &text).map_err(|d| Error::RepoFile(Box::new(d)))?;
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
            return Err(Error::Usage(format!(
                "no tool `{key}` in the manifests (tools: {})",
                known.join(", ")
            )));
        };
        let hash = tool.content_hash();
        let pin = Pin {
            tool: key.clone(),
            sha256: hash.clone(),
            approved_by: args.by.clone(),
            approved_at: Some(at.clone()),
            signature: None,
        };
        let pin = match &args.sign_with {
            Some(key) => Pin {
                signature: Some(crate::signing::sign(&pin, key)?),
                ..pin
            },
            None => pin,
        };
        text = approvals::upsert(&text, &pin).ok_or_else(|| {
            Error::Usage(format!(
                "{APPROVALS_FILE} is not a block list this command can edit in place (a flow-style list?); add the pin by hand: tool: {key}, sha256: {hash}, approvedBy: {}",
                args.by
            ))
        })?;
        out.push_str(&format!(
            "pinned {key} at sha256 {} by {}{}\n",
            &hash[..12],
            args.by,
            if pin.signature.is_some() {
                ", signed"
            } else {
                ""
            }
        ));
    }
    std::fs::write(args.repo.join(APPROVALS_FILE), text)?;
    print(&out)?;
    Ok(EXIT_OK)
}
