//! `mcpbox-gitops fmt [PATH] [--check] [--diff]`: rewrites the manifests of a
//! repository (or one file) in canonical layout, so reviews see only real
//! changes. Lists each file it changed; `--check` writes nothing and exits 1
//! when a file would change (for CI), `--diff` shows the changes. A file fmt
//! cannot format safely is named with the reason and left untouched. The
//! formatting itself lives in `crate::fmt`.

use std::path::{Path, PathBuf};

use super::{print, Error, EXIT_ERROR, EXIT_OK};
use crate::fmt::{format, FileKind};
use crate::source::{Entry, FileSet};

/// Arguments of `fmt`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The repository (every `.yaml`/`.yml` file under it), or one file.
    #[arg(default_value = ".")]
    pub path: PathBuf,
    /// Write nothing; exit 1 if any file is not canonical (lists them).
    #[arg(long)]
    pub check: bool,
    /// Show the changes as a unified diff.
    #[arg(long)]
    pub diff: bool,
}

/// One file's outcome.
enum Outcome {
    Unchanged,
    Changed { before: String, after: String },
    Refused(String),
}

/// Runs `fmt`.
pub fn run(args: Args) -> Result<u8, Error> {
    let (root, files) = collect(&args.path)?;
    let mut changed = 0usize;
    let mut refused = 0usize;
    let mut total = 0usize;
    for (rel, entry) in &files {
        if !(rel.ends_with(".yaml") || rel.ends_with(".yml")) {
            continue;
        }
        total += 1;
        let shown = crate::escape::path(&display_path(&root, rel, &args.path));
        match outcome(rel, entry) {
            Outcome::Unchanged => {}
            Outcome::Refused(why) => {
                refused += 1;
                eprintln!("{shown}:{why}");
            }
            Outcome::Changed { before, after } => {
                changed += 1;
                if args.diff {
                    print(&unified(rel, &before, &after))?;
                }
                if args.check {
                    if !args.diff {
                        print(&format!("{shown}\n"))?;
                    }
                    continue;
                }
                match write(&root, rel, &after) {
                    Ok(()) => {
                        if !args.diff {
                            print(&format!("{shown}\n"))?;
                        }
                    }
                    Err(why) => {
                        refused += 1;
                        eprintln!("{shown}: {why}");
                    }
                }
            }
        }
    }
    let summary = match (args.check, changed) {
        (_, 0) => format!("{total} file(s) checked: all formatted."),
        (true, n) => format!(
            "{n} of {total} file(s) are not formatted; run `mcpbox-gitops fmt {}` to fix them.",
            crate::escape::path(&args.path)
        ),
        (false, n) => format!("{n} of {total} file(s) reformatted."),
    };
    eprintln!("{summary}");
    if refused > 0 {
        eprintln!("{refused} file(s) left as they are (see above).");
    }
    Ok(if refused > 0 || (args.check && changed > 0) {
        EXIT_ERROR
    } else {
        EXIT_OK
    })
}

/// The files to format: the repository's (as the loader sees them, links
/// resolved the same way) or the one file named, keyed by path relative to
/// the returned root.
fn collect(path: &Path) -> Result<(PathBuf, Vec<(String, Entry)>), Error> {
    if path.is_file() {
        let bytes = std::fs::read(path).map_err(|source| Error::Read {
            path: crate::escape::path(path),
            source,
        })?;
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let root = path.parent().map(Path::to_path_buf).unwrap_or_default();
        let entry = if bytes.len() as u64 > crate::source::MAX_FILE_BYTES {
            Entry::TooLarge(bytes.len() as u64)
        } else {
            Entry::Bytes(bytes)
        };
        return Ok((root, vec![(name, entry)]));
    }
    let set = FileSet::from_dir(path)?;
    Ok((path.to_path_buf(), set.files.into_iter().collect()))
}

fn display_path(root: &Path, rel: &str, arg: &Path) -> PathBuf {
    if arg.is_file() {
        arg.to_path_buf()
    } else {
        root.join(rel)
    }
}

fn outcome(rel: &str, entry: &Entry) -> Outcome {
    let bytes = match entry {
        Entry::Bytes(b) => b,
        Entry::TooLarge(n) => {
            return Outcome::Refused(format!(" {n} bytes is larger than fmt reads (1 MiB)"))
        }
        Entry::LinkOutside => {
            return Outcome::Refused(" a link leading outside the repository; not followed".into())
        }
        Entry::LinkLoop => return Outcome::Refused(" a link loop; not followed".into()),
        Entry::NameNotUtf8 => return Outcome::Refused(" name is not valid UTF-8".into()),
    };
    let Ok(text) = std::str::from_utf8(bytes) else {
        return Outcome::Refused(" not valid UTF-8; fmt leaves it as it is".into());
    };
    match format(text, FileKind::of(rel)) {
        Ok(after) if after == text => Outcome::Unchanged,
        Ok(after) => Outcome::Changed {
            before: text.to_string(),
            after,
        },
        Err(r) => Outcome::Refused(format!("{}:{}: {}", r.line, r.col, r.message)),
    }
}

/// Writes the formatted text over the file, unless the file is reached
/// through a symbolic link (then its target is formatted under its own name,
/// or not at all when it lies outside): fmt edits only files inside the
/// repository, each once.
fn write(root: &Path, rel: &str, text: &str) -> Result<(), String> {
    let target = root.join(rel);
    let mut at = root.to_path_buf();
    for part in rel.split('/') {
        at.push(part);
        if std::fs::symlink_metadata(&at).is_ok_and(|m| m.file_type().is_symlink()) {
            return Err("reached through a symbolic link; format the file it points to".into());
        }
    }
    // Write beside it and rename, so a crash leaves the old or the new file.
    let tmp = target.with_extension("fmt-tmp");
    std::fs::write(&tmp, text)
        .and_then(|_| {
            if let Ok(meta) = std::fs::metadata(&target) {
                std::fs::set_permissions(&tmp, meta.permissions())?;
            }
            std::fs::rename(&tmp, &target)
        })
        .map_err(|e| {
            let _ = std::fs::remove_file(&tmp);
            format!("cannot write: {e}")
        })
}

fn unified(path: &str, before: &str, after: &str) -> String {
    similar::TextDiff::from_lines(before, after)
        .unified_diff()
        .context_radius(3)
        .header(&format!("a/{path}"), &format!("b/{path}"))
        .to_string()
}
