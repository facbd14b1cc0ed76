//! `mcpbox-gitops export --out DIR`: write MCPBox's database as a manifest
//! repository that `plan` then shows as adoptions only.
//!
//! This file connects, reads one snapshot, writes the files, and tells the user
//! what was left out and which variables `apply` will need (tunnel tokens and
//! encrypted settings are exported as `valueFrom: {env: …}`); deciding what goes
//! into the files (and what cannot) lives in `crate::export`. The export never
//! reads `MCPBOX_ENCRYPTION_KEY` and never decrypts anything.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use super::connect::DbArgs;
use super::{print, Error, EXIT_OK};
use crate::export::{self, Export, Options};
use crate::source::{Entry, FileSet};

/// Arguments of `export`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Directory to write the repository into (created when missing).
    #[arg(long)]
    pub out: PathBuf,
    /// The database.
    #[command(flatten)]
    pub db: DbArgs,
    /// Write into a non-empty directory, replacing files of the same name (other
    /// files are left and listed). Hidden entries such as `.git` never count.
    #[arg(long)]
    pub force: bool,
    /// The policy's `reviewer` (requested_by/reviewed_by of request rows a later
    /// apply creates), also named by pins of tools approved without `approved_by`
    /// (default: mcpbox-gitops).
    #[arg(long)]
    pub reviewer: Option<String>,
}

/// Runs `export`.
pub async fn run(args: Args) -> Result<u8, Error> {
    let url = args.db.database_url.as_deref().ok_or_else(|| {
        Error::Other("export needs a database: set DATABASE_URL or pass --database-url".into())
    })?;
    // Refuse before connecting: nothing is read when nothing can be written.
    check_target(&args.out, args.force)?;
    let mut opts = Options::default();
    if let Some(r) = args.reviewer {
        opts.reviewer = r;
    }
    let pool = super::connect::ready_pool(url).await?;
    let actual = crate::state::read::snapshot(&pool).await?;
    let export = export::export(&actual, &opts).map_err(|e| Error::Other(e.to_string()))?;
    write(&args.out, &export.files)?;

    for s in &export.skipped {
        eprintln!("warning: not exported: {}: {}", s.object, s.reason);
    }
    for n in &export.notes {
        eprintln!("note: {n}");
    }
    if args.force {
        for stray in strays(&args.out, &export.files) {
            eprintln!("warning: {stray} was not written by this export but is still part of the repository; delete it if it is stale");
        }
    }
    print(&summary(&args.out, &export))?;
    Ok(EXIT_OK)
}

/// Refuses a target that is a file, or a directory holding anything but hidden
/// entries (unless forced).
fn check_target(out: &Path, force: bool) -> Result<(), Error> {
    if !out.exists() {
        return Ok(());
    }
    if !out.is_dir() {
        return Err(Error::Other(format!(
            "{} exists and is not a directory",
            out.display()
        )));
    }
    let entries = std::fs::read_dir(out)
        .map_err(|e| Error::Other(format!("cannot read {}: {e}", out.display())))?;
    let mut visible = Vec::new();
    for entry in entries {
        let entry =
            entry.map_err(|e| Error::Other(format!("cannot read {}: {e}", out.display())))?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if !name.starts_with('.') {
            visible.push(name);
        }
    }
    if !visible.is_empty() && !force {
        visible.sort();
        return Err(Error::Other(format!(
            "{} is not empty ({}); export into an empty directory, or pass --force to write over it",
            out.display(),
            visible.join(", ")
        )));
    }
    Ok(())
}

fn write(out: &Path, files: &FileSet) -> Result<(), Error> {
    for (rel, entry) in &files.files {
        let Entry::Bytes(bytes) = entry else { continue };
        let path = out.join(rel);
        let fail =
            |e: std::io::Error| Error::Other(format!("cannot write {}: {e}", path.display()));
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(fail)?;
        }
        std::fs::write(&path, bytes).map_err(fail)?;
    }
    Ok(())
}

/// Files of the repository at `out` (as `plan` would read it) that the export did
/// not write.
fn strays(out: &Path, written: &FileSet) -> Vec<String> {
    let Ok(now) = FileSet::from_dir(out) else {
        return Vec::new();
    };
    let written: BTreeSet<&String> = written.files.keys().collect();
    now.files
        .keys()
        .filter(|p| !written.contains(p))
        .map(|p| out.join(p).display().to_string())
        .collect()
}

fn summary(out: &Path, e: &Export) -> String {
    let c = &e.counts;
    let mut s = format!(
        "Exported MCPBox to {}: {} server(s), {} tool(s) ({} pinned), {} secret placeholder(s), {} network entr{}, {} module(s), {} setting(s), {} external source(s), {} tunnel configuration(s).\n",
        out.display(),
        c.servers,
        c.tools,
        c.pinned,
        c.secrets,
        c.network,
        if c.network == 1 { "y" } else { "ies" },
        c.modules,
        c.settings,
        c.sources,
        c.tunnels,
    );
    if !e.skipped.is_empty() {
        s.push_str(&format!(
            "{} object(s) were not exported (see the warnings above); they stay unmanaged in MCPBox.\n",
            e.skipped.len()
        ));
    }
    if !e.env.is_empty() {
        s.push_str(&format!(
            "{} value(s) stay encrypted in MCPBox and are read from environment variables: `plan` without MCPBOX_ENCRYPTION_KEY leaves them alone; `apply` (and `plan` with the key) needs MCPBOX_ENCRYPTION_KEY and each of these set to the value MCPBox holds:\n",
            e.env.len()
        ));
        for v in &e.env {
            s.push_str(&format!("  {}  {}\n", v.var, v.object));
        }
    }
    if e.stale_caches > 0 {
        s.push_str(&format!(
            "Planning {} against this database proposes {} adoption(s) and recomputes {} stale cache(s) (see the notes above); apply to take ownership.\n",
            out.display(),
            e.adoptions,
            e.stale_caches
        ));
    } else if e.adoptions > 0 {
        s.push_str(&format!(
            "Planning {} against this database proposes {} adoption(s) and nothing else; apply them to take ownership.\n",
            out.display(),
            e.adoptions
        ));
    } else {
        s.push_str(&format!(
            "Planning {} against this database adopts nothing: everything exported is managed already.\n",
            out.display()
        ));
    }
    s
}
