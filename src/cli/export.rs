//! `mcpbox-gitops export --out DIR`: write MCPBox's database as a manifest
//! repository that `plan` then shows as adoptions only.
//!
//! This file connects, reads one snapshot, writes the files, and tells the user
//! what was left out and which variables `apply` will need (tunnel tokens and
//! encrypted settings are exported as `valueFrom: {env: …}`); deciding what goes
//! into the files (and what cannot) lives in `crate::export`. The export never
//! reads `MCPBOX_ENCRYPTION_KEY` and never decrypts anything. The files are
//! written into a temporary directory next to DIR first and moved into DIR only
//! once all of them were written, so a failed export leaves DIR as it was.

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
    #[arg(long, required_unless_present = "drift")]
    pub out: Option<PathBuf>,
    /// Instead of the repository: write each quarantined tool's two versions
    /// (`SERVER/TOOL.git.py`, `SERVER/TOOL.mcpbox.py`) into DIR, to compare
    /// before git decides (onCodeDrift: quarantine).
    #[arg(long, value_name = "DIR", conflicts_with = "out")]
    pub drift: Option<PathBuf>,
    /// The database.
    #[command(flatten)]
    pub db: DbArgs,
    /// Write into a non-empty directory, replacing files of the same name (other
    /// files are left and listed). Hidden entries such as `.git` never count.
    #[arg(long)]
    pub force: bool,
    /// Exit 1 (after writing the files) when anything MCPBox holds could not
    /// be exported: an object left out or a state no manifest can state (each
    /// is listed on stderr). What is left to MCPBox by design (secret values,
    /// requests that are not approved, version history) does not count.
    #[arg(long, conflicts_with = "drift")]
    pub strict: bool,
    /// The policy's `reviewer` (requested_by/reviewed_by of request rows a later
    /// apply creates), also named by pins of tools approved without `approved_by`
    /// (default: mcpbox-gitops).
    #[arg(long)]
    pub reviewer: Option<String>,
}

/// Runs `export`.
pub async fn run(args: Args) -> Result<u8, Error> {
    let url = args
        .db
        .database_url
        .as_deref()
        .ok_or_else(|| Error::NoDatabase("export"))?;
    if let Some(dir) = &args.drift {
        return drift(url, dir).await;
    }
    let out = args
        .out
        .clone()
        .ok_or_else(|| Error::Usage("export needs --out DIR (or --drift DIR)".into()))?;
    // Refuse before connecting: nothing is read when nothing can be written.
    check_target(&out, args.force)?;
    let mut opts = Options::default();
    if let Some(r) = args.reviewer {
        opts.reviewer = r;
    }
    // Export only reads: our own bookkeeping need not exist.
    let pool = super::connect::read_pool(url).await?;
    let actual = crate::state::read::snapshot(&pool).await?;
    let export = export::export(&actual, &opts)?;
    write(&out, &export.files, args.force)?;

    for s in &export.skipped {
        eprintln!("warning: not exported: {}: {}", s.object, s.reason);
    }
    for s in &export.lost {
        eprintln!("warning: not expressible: {}: {}", s.object, s.reason);
    }
    for n in &export.notes {
        eprintln!("note: {n}");
    }
    if args.force {
        for stray in strays(&out, &export.files) {
            eprintln!("warning: {stray} was not written by this export but is still part of the repository; delete it if it is stale");
        }
    }
    print(&summary(&out, &export))?;
    let lost = export.skipped.len() + export.lost.len();
    if args.strict && lost > 0 {
        eprintln!("error: --strict: {lost} object(s) or state(s) of MCPBox were not exported (listed above)");
        return Ok(super::EXIT_ERROR);
    }
    Ok(EXIT_OK)
}

/// `export --drift DIR`: both versions of every quarantined tool's code.
async fn drift(url: &str, dir: &Path) -> Result<u8, Error> {
    let pool = super::connect::ready_pool(url).await?;
    let held = crate::state::quarantine::drifted_code(&pool).await?;
    if held.is_empty() {
        print("No tool is quarantined; nothing was written.\n")?;
        return Ok(EXIT_OK);
    }
    let mut out = String::new();
    for h in &held {
        let (server, tool) = h.tool.split_once('/').unwrap_or(("", &h.tool));
        // Names come from manifests we validated; a file name is still only
        // ever one plain component.
        let plain = |s: &str| {
            !s.is_empty()
                && !s.starts_with('.')
                && s.chars().all(|c| c.is_alphanumeric() || "_-.".contains(c))
        };
        if !plain(server) || !plain(tool) {
            eprintln!(
                "warning: {} is not a plain server/tool name; not written",
                crate::escape::text(&h.tool)
            );
            continue;
        }
        let folder = dir.join(server);
        std::fs::create_dir_all(&folder)?;
        for (suffix, code) in [("git", &h.git_code), ("mcpbox", &h.mcpbox_code)] {
            let path = folder.join(format!("{tool}.{suffix}.py"));
            std::fs::write(&path, code.as_deref().unwrap_or(""))?;
        }
        out.push_str(&format!(
            "{}: quarantined since {}; git sha256 {}, MCPBox sha256 {}\n  diff {} {}\n",
            h.tool,
            h.since.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            &h.git_hash.get(..12).unwrap_or(&h.git_hash),
            &h.drifted_hash.get(..12).unwrap_or(&h.drifted_hash),
            crate::escape::path(&folder.join(format!("{tool}.git.py"))),
            crate::escape::path(&folder.join(format!("{tool}.mcpbox.py"))),
        ));
    }
    out.push_str(&format!("{}.\n", crate::rules::quarantine::HOW_TO_DECIDE));
    print(&out)?;
    Ok(EXIT_OK)
}

/// Refuses a target that is a file, or a directory holding anything but hidden
/// entries (unless forced).
fn check_target(out: &Path, force: bool) -> Result<(), Error> {
    if !out.exists() {
        return Ok(());
    }
    if !out.is_dir() {
        return Err(Error::Usage(format!(
            "{} exists and is not a directory",
            out.display()
        )));
    }
    let entries = std::fs::read_dir(out).map_err(|source| Error::Read {
        path: crate::escape::path(out),
        source,
    })?;
    let mut visible = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|source| Error::Read {
            path: crate::escape::path(out),
            source,
        })?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if !name.starts_with('.') {
            visible.push(name);
        }
    }
    if !visible.is_empty() && !force {
        visible.sort();
        return Err(Error::Usage(format!(
            "{} is not empty ({}); export into an empty directory, or pass --force to write over it",
            out.display(),
            visible.join(", ")
        )));
    }
    Ok(())
}

/// Writes `files` into `out` so that a failure leaves `out` as it was: every file
/// is first written into a fresh hidden directory next to `out` (on the same file
/// system), and only when all of them were written are they moved into place: the
/// whole directory renamed to `out` when `out` is missing or empty, otherwise (a
/// directory holding hidden entries, or `--force`) file by file, each rename
/// replacing the file of the same name.
fn write(out: &Path, files: &FileSet, force: bool) -> Result<(), Error> {
    let out = absolute(out)?;
    let beside = out.parent().map(|parent| {
        std::fs::create_dir_all(parent)
            .map_err(|source| Error::Write {
                path: crate::escape::path(parent),
                source,
            })
            .and_then(|()| staging_dir(parent))
    });
    let staging = match beside {
        Some(Ok(dir)) => dir,
        // A parent we may not write to (or `/`, which has none): an existing
        // directory can hold the staging directory itself, hidden (nothing reads
        // hidden entries), and its files are then moved one by one.
        Some(Err(_)) | None if out.is_dir() => staging_dir(&out)?,
        Some(Err(e)) => return Err(e),
        None => staging_dir(&out)?,
    };
    let written: Vec<&String> = files
        .files
        .iter()
        .filter(|(_, entry)| matches!(entry, Entry::Bytes(_)))
        .map(|(rel, _)| rel)
        .collect();
    for (rel, entry) in &files.files {
        let Entry::Bytes(bytes) = entry else { continue };
        let staged = staging.join(rel);
        let result = match staged.parent() {
            Some(dir) => std::fs::create_dir_all(dir),
            None => Ok(()),
        }
        .and_then(|()| std::fs::write(&staged, bytes));
        if let Err(source) = result {
            discard(&staging);
            return Err(Error::ExportWrite {
                message: format!(
                    "cannot write {}; nothing was written to {}",
                    out.join(rel).display(),
                    out.display()
                ),
                source,
            });
        }
    }
    // Checked again: the directory may have changed while the database was read.
    if let Err(e) = check_target(&out, force) {
        discard(&staging);
        return Err(e);
    }
    let empty = match std::fs::read_dir(&out) {
        Ok(mut entries) => entries.next().is_none(),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => true,
        Err(source) => {
            discard(&staging);
            return Err(Error::Read {
                path: crate::escape::path(&out),
                source,
            });
        }
    };
    // A rename replaces a missing or empty directory in one step; when it cannot
    // (an empty mount point, a platform that refuses), move file by file.
    if empty && std::fs::rename(&staging, &out).is_ok() {
        return Ok(());
    }
    if let Err(e) = check_in_the_way(&out, &written) {
        discard(&staging);
        return Err(e);
    }
    for (done, rel) in written.iter().enumerate() {
        let target = out.join(rel);
        let result = match target.parent() {
            Some(dir) => std::fs::create_dir_all(dir),
            None => Ok(()),
        }
        .and_then(|()| std::fs::rename(staging.join(rel), &target));
        if let Err(source) = result {
            // Not discarded: it holds the files not moved yet.
            return Err(Error::ExportWrite {
                message: format!(
                    "cannot move {} into place; {done} of {} file(s) were written to {} already, the others are in {}",
                    target.display(),
                    written.len(),
                    out.display(),
                    staging.display()
                ),
                source,
            });
        }
    }
    discard(&staging);
    Ok(())
}

/// `out` made absolute, so that its parent is where a sibling can be made
/// (`.` or `repo/..` have none of their own).
fn absolute(out: &Path) -> Result<PathBuf, Error> {
    let fail = |source: std::io::Error| Error::Read {
        path: crate::escape::path(out),
        source,
    };
    if out.exists() {
        out.canonicalize().map_err(fail)
    } else {
        std::path::absolute(out).map_err(fail)
    }
}

/// A new, empty, hidden directory in `parent` to write the export into first.
fn staging_dir(parent: &Path) -> Result<PathBuf, Error> {
    let mut last = None;
    for _ in 0..16 {
        let dir = parent.join(format!(
            ".mcpbox-gitops-export-{}-{:016x}",
            std::process::id(),
            rand::random::<u64>()
        ));
        match std::fs::create_dir(&dir) {
            Ok(()) => return Ok(dir),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => last = Some(e),
            Err(source) => {
                return Err(Error::ExportWrite {
                    message: format!(
                        "cannot create a temporary directory in {}",
                        parent.display()
                    ),
                    source,
                })
            }
        }
    }
    Err(Error::ExportWrite {
        message: format!(
            "cannot create a temporary directory in {}",
            parent.display()
        ),
        source: last.unwrap_or_else(|| std::io::Error::other("no name was free")),
    })
}

/// Refuses, before anything is moved, a target that a rename cannot replace: a
/// directory where a file goes, or a file where a directory goes.
fn check_in_the_way(out: &Path, written: &[&String]) -> Result<(), Error> {
    for rel in written {
        let target = out.join(rel);
        let mut at = target.as_path();
        let mut is_file = true;
        while at != out {
            if let Ok(meta) = std::fs::metadata(at) {
                if meta.is_dir() == is_file {
                    let what = if is_file { "a directory" } else { "a file" };
                    return Err(Error::Usage(format!(
                        "cannot write {}: {} is {what}; nothing was written to {}",
                        target.display(),
                        at.display(),
                        out.display()
                    )));
                }
            }
            let Some(up) = at.parent() else { break };
            at = up;
            is_file = false;
        }
    }
    Ok(())
}

/// Removes the staging directory, warning when it cannot.
fn discard(staging: &Path) {
    if let Err(e) = std::fs::remove_dir_all(staging) {
        tracing::warn!(path = %staging.display(), error = %e, "cannot remove the temporary directory of the export");
    }
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
    if !e.lost.is_empty() {
        s.push_str(&format!(
            "{} state(s) of exported objects cannot be stated in a manifest (see the warnings above); a database rebuilt from the export differs there.\n",
            e.lost.len()
        ));
    }
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

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::write;
    use crate::source::FileSet;

    /// Every entry below `dir`, relative, with file contents.
    fn tree(dir: &Path) -> Vec<(String, String)> {
        let mut out = Vec::new();
        let mut stack = vec![dir.to_path_buf()];
        while let Some(d) = stack.pop() {
            for entry in std::fs::read_dir(&d).unwrap() {
                let path = entry.unwrap().path();
                let rel = path.strip_prefix(dir).unwrap().display().to_string();
                if path.is_dir() {
                    stack.push(path);
                    out.push((rel, "/".into()));
                } else {
                    out.push((rel, std::fs::read_to_string(&path).unwrap()));
                }
            }
        }
        out.sort();
        out
    }

    /// Files whose last one cannot be written (its name is too long).
    fn failing() -> FileSet {
        let mut files = FileSet::empty("test");
        files.insert("a.yaml", "new a");
        files.insert("b/kept.yaml", "new b");
        files.insert(format!("z/{}.yaml", "n".repeat(300)), "never");
        files
    }

    #[test]
    fn a_failed_write_leaves_a_new_directory_missing() {
        let parent = tempfile::tempdir().unwrap();
        let out = parent.path().join("repo");
        let err = write(&out, &failing(), false).unwrap_err().to_string();
        assert!(err.contains("cannot write"), "{err}");
        assert_eq!(tree(parent.path()), [], "nothing is left behind");
    }

    #[test]
    fn a_failed_write_leaves_an_existing_directory_as_it_was() {
        let parent = tempfile::tempdir().unwrap();
        let out = parent.path().join("repo");
        std::fs::create_dir_all(out.join(".git")).unwrap();
        std::fs::write(out.join(".git/HEAD"), "ref").unwrap();
        std::fs::write(out.join("a.yaml"), "old a").unwrap();
        let before = tree(parent.path());
        assert!(write(&out, &failing(), true).is_err());
        assert_eq!(tree(parent.path()), before);
        // Written, but in the way of a rename: refused before anything moves.
        std::fs::create_dir_all(out.join("b/kept.yaml")).unwrap();
        let mut files = FileSet::empty("test");
        files.insert("a.yaml", "new a");
        files.insert("b/kept.yaml", "new b");
        let before = tree(parent.path());
        let err = write(&out, &files, true).unwrap_err().to_string();
        assert!(err.contains("is a directory"), "{err}");
        assert_eq!(tree(parent.path()), before);
    }

    #[test]
    fn writes_into_a_new_an_empty_or_a_used_directory() {
        let mut files = FileSet::empty("test");
        files.insert("a.yaml", "new a");
        files.insert("b/c/d.yaml", "new d");
        let written = [
            ("a.yaml".to_string(), "new a".to_string()),
            ("b".into(), "/".into()),
            ("b/c".into(), "/".into()),
            ("b/c/d.yaml".into(), "new d".into()),
        ];
        let parent = tempfile::tempdir().unwrap();
        // New, and nested below directories that do not exist yet.
        let new = parent.path().join("x/new");
        write(&new, &files, false).unwrap();
        assert_eq!(tree(&new), written);
        // Empty.
        let empty = parent.path().join("empty");
        std::fs::create_dir(&empty).unwrap();
        write(&empty, &files, false).unwrap();
        assert_eq!(tree(&empty), written);
        // Used (`--force`): same names replaced, other entries kept.
        let used = parent.path().join("used");
        std::fs::create_dir_all(used.join(".git")).unwrap();
        std::fs::create_dir_all(used.join("b")).unwrap();
        std::fs::write(used.join("a.yaml"), "old a").unwrap();
        std::fs::write(used.join("b/mine.yaml"), "mine").unwrap();
        write(&used, &files, true).unwrap();
        let mut want = written.to_vec();
        want.push((".git".into(), "/".into()));
        want.push(("b/mine.yaml".into(), "mine".into()));
        want.sort();
        assert_eq!(tree(&used), want);
        // No temporary directory is left beside them.
        let mut names: Vec<String> = std::fs::read_dir(parent.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        assert_eq!(names, ["empty", "used", "x"]);
    }
}
