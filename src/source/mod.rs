//! Where manifests come from: a directory tree read into an in-memory [`FileSet`].
//!
//! This is the only module that touches the filesystem for manifests; everything
//! downstream (loading, validation, diffing) works on the `FileSet` and never does I/O.
//!
//! # Layout
//!
//! - this file: [`FileSet`], its limits, and reading a directory ([`FileSet::from_dir`]).
//! - [`git`]: a commit of a local or remote repository → [`git::GitSource`] (a `FileSet` plus commit facts).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

pub mod git;

/// Largest single file read into a file set (bigger files are reported, not read).
pub const MAX_FILE_BYTES: u64 = 1024 * 1024;
/// Largest total size of a file set, unless [`MAX_TOTAL_ENV`] says otherwise.
pub const MAX_TOTAL_BYTES: u64 = 64 * 1024 * 1024;
/// Raises (or lowers) [`MAX_TOTAL_BYTES`], in bytes: a fleet of 100,000 tools
/// is about 250 MB of manifests and code. The limit stays on by default so a
/// pull request cannot make the reconciler read gigabytes.
pub const MAX_TOTAL_ENV: &str = "MCPBOX_GITOPS_MAX_SOURCE_BYTES";

/// The limit in force: [`MAX_TOTAL_ENV`] when it holds a number, else
/// [`MAX_TOTAL_BYTES`].
pub fn max_total_bytes() -> u64 {
    std::env::var(MAX_TOTAL_ENV)
        .ok()
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(MAX_TOTAL_BYTES)
}

/// An error reading a source.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The path given does not exist or is not a directory.
    #[error("{path}: not a directory (give the root of a manifest repository)")]
    NotADirectory {
        /// The path as given.
        path: PathBuf,
    },
    /// Reading a file or directory failed.
    #[error("cannot read {path}")]
    Read {
        /// The file or directory.
        path: PathBuf,
        /// What the OS said.
        #[source]
        source: std::io::Error,
    },
    /// The tree is larger than we are willing to hold in memory.
    #[error(
        "{path}: manifest repository is larger than {limit} bytes; narrow it with a sub-directory, or raise the limit with MCPBOX_GITOPS_MAX_SOURCE_BYTES"
    )]
    TooLarge {
        /// The root.
        path: PathBuf,
        /// The limit in bytes.
        limit: u64,
    },
}

/// Splits a sub-directory of a repository, as given to `--subdir`/`--path`, into
/// its components (`/` or `\\` separated, `.` and empty ones dropped, `..`
/// undoing the one before), or `None` when it is absolute or `..` climbs above
/// the root. The one rule of the directory and the git readers.
pub fn subdir_components(subdir: &str) -> Option<Vec<String>> {
    if subdir.starts_with('/') || subdir.starts_with('\\') {
        return None;
    }
    let mut components: Vec<String> = Vec::new();
    for part in subdir.split(['/', '\\']) {
        match part {
            "" | "." => {}
            ".." => {
                components.pop()?;
            }
            // Anything a path does not take as one plain name (a drive prefix
            // such as `C:` on Windows) could replace the root when joined.
            _ if !is_plain_name(part) => return None,
            _ => components.push(part.to_string()),
        }
    }
    Some(components)
}

/// Whether `part` is, as a path, exactly one ordinary name.
fn is_plain_name(part: &str) -> bool {
    let mut components = Path::new(part).components();
    matches!(
        (components.next(), components.next()),
        (Some(std::path::Component::Normal(_)), None)
    )
}

/// A source's identity for ownership: `location[//subdir]`, where location is
/// a git URL without credentials or the canonical path of a local repository
/// or directory (as given when it cannot be resolved), and subdir is
/// normalised. The revision is not part of it.
pub fn owner_identity(location: &str, subdir: Option<&str>) -> String {
    let place = if git::is_git_url(location) {
        git::redact_url(location)
    } else {
        Path::new(location)
            .canonicalize()
            .map(|p| p.display().to_string())
            .unwrap_or_else(|_| location.to_string())
    };
    match subdir.and_then(subdir_components).filter(|c| !c.is_empty()) {
        Some(parts) => format!("{place}//{}", parts.join("/")),
        None => place,
    }
}

/// A file in the set: its bytes, or why it was not read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Entry {
    /// The file's content.
    Bytes(Vec<u8>),
    /// Larger than [`MAX_FILE_BYTES`]; not read.
    TooLarge(u64),
    /// A symbolic link that leads outside the repository (or nowhere); not
    /// followed. An error that stops the plan: the objects behind it would
    /// otherwise be planned as deletions.
    LinkOutside,
    /// A symbolic link to a directory that contains it (or a directory being
    /// read): following it would never end.
    LinkLoop,
    /// A name that is not valid UTF-8 (shown with its bytes escaped); not read.
    NameNotUtf8,
}

/// A snapshot of a manifest repository: relative path (with `/`) → content.
#[derive(Debug, Clone, Default)]
pub struct FileSet {
    /// Human-readable name of where this came from (a path or `commit <sha>`);
    /// recorded in audit rows and shown in plans.
    pub label: String,
    /// Relative paths with `/` separators, sorted.
    pub files: BTreeMap<String, Entry>,
}

impl FileSet {
    /// An empty file set with a label (used by tests and by `plan` on nothing).
    pub fn empty(label: impl Into<String>) -> Self {
        FileSet {
            label: label.into(),
            files: BTreeMap::new(),
        }
    }

    /// Adds or replaces a file (tests and git sources build sets this way).
    pub fn insert(&mut self, path: impl Into<String>, bytes: impl Into<Vec<u8>>) {
        self.files.insert(path.into(), Entry::Bytes(bytes.into()));
    }

    /// The bytes of a file, if present and read.
    pub fn get(&self, path: &str) -> Option<&Entry> {
        self.files.get(path)
    }

    /// Reads every regular file below `root`, skipping hidden entries (`.git`,
    /// `.github`, …) and `target/`. Symbolic links are followed only when they
    /// resolve inside `root`; a link to a directory inside is read under the
    /// link's name, once; a link out of `root` (file or directory), or one that
    /// would loop, is recorded as such, an error for the loader. A directory below `root` holding a `.git` file or
    /// directory (a checked-out submodule, or another repository cloned inside)
    /// is skipped with a warning, as the git reader skips submodules: its files
    /// belong to another repository, and `apply .` must read what
    /// `apply --git HEAD` reads.
    pub fn from_dir(root: &Path) -> Result<FileSet, Error> {
        if !root.is_dir() {
            return Err(Error::NotADirectory {
                path: root.to_path_buf(),
            });
        }
        let canonical_root = root.canonicalize().map_err(|source| Error::Read {
            path: root.to_path_buf(),
            source,
        })?;
        let mut set = FileSet::empty(root.display().to_string());
        let mut total = 0u64;
        let limit = max_total_bytes();
        // (path shown, real path, real paths walked to reach it): a link to a
        // directory inside is read once under its own name; one that leads back
        // into a directory being walked is refused, as it would never end.
        let mut stack = vec![(
            PathBuf::new(),
            canonical_root.clone(),
            vec![canonical_root.clone()],
        )];
        while let Some((rel_dir, real_dir, chain)) = stack.pop() {
            let read = std::fs::read_dir(&real_dir).map_err(|source| Error::Read {
                path: root.join(&rel_dir),
                source,
            })?;
            for entry in read {
                let entry = entry.map_err(|source| Error::Read {
                    path: root.join(&rel_dir),
                    source,
                })?;
                let os_name = entry.file_name();
                let raw = os_name.as_encoded_bytes();
                if raw.starts_with(b".") || (rel_dir.as_os_str().is_empty() && raw == b"target") {
                    continue;
                }
                let rel_parts = |last: String| {
                    rel_dir
                        .components()
                        .map(|c| c.as_os_str().to_string_lossy().into_owned())
                        .chain(std::iter::once(last))
                        .collect::<Vec<_>>()
                        .join("/")
                };
                let Some(name) = os_name.to_str() else {
                    set.files
                        .insert(rel_parts(crate::escape::bytes(raw)), Entry::NameNotUtf8);
                    continue;
                };
                let rel = rel_dir.join(name);
                let rel_str = rel_parts(name.to_string());
                let full = real_dir.join(name);
                let file_type = entry.file_type().map_err(|source| Error::Read {
                    path: full.clone(),
                    source,
                })?;
                let real = if file_type.is_symlink() {
                    match full.canonicalize() {
                        Ok(target) if target.starts_with(&canonical_root) => target,
                        _ => {
                            set.files.insert(rel_str, Entry::LinkOutside);
                            continue;
                        }
                    }
                } else {
                    full.clone()
                };
                let meta = std::fs::metadata(&real).map_err(|source| Error::Read {
                    path: full.clone(),
                    source,
                })?;
                if meta.is_dir() {
                    if file_type.is_symlink()
                        && chain.iter().any(|walked| walked.starts_with(&real))
                    {
                        set.files.insert(rel_str, Entry::LinkLoop);
                        continue;
                    }
                    // `symlink_metadata`: a `.git` of any type (a submodule's is a
                    // file, a clone's a directory, even a link) marks a repository.
                    if std::fs::symlink_metadata(real.join(".git")).is_ok() {
                        tracing::warn!(path = %crate::escape::text(&rel_str), "skipping nested repository (a submodule or a clone): its files are in another repository");
                        continue;
                    }
                    let mut chain = chain.clone();
                    chain.push(real.clone());
                    stack.push((rel, real, chain));
                    continue;
                }
                if !meta.is_file() {
                    continue;
                }
                if meta.len() > MAX_FILE_BYTES {
                    set.files.insert(rel_str, Entry::TooLarge(meta.len()));
                    continue;
                }
                total += meta.len();
                if total > limit {
                    return Err(Error::TooLarge {
                        path: root.to_path_buf(),
                        limit,
                    });
                }
                let bytes = std::fs::read(&real).map_err(|source| Error::Read {
                    path: full.clone(),
                    source,
                })?;
                set.files.insert(rel_str, Entry::Bytes(bytes));
            }
        }
        Ok(set)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_tree_skipping_hidden_and_outside_links() {
        let dir = tempfile::tempdir().unwrap();
        let outside = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("a/b")).unwrap();
        std::fs::create_dir_all(dir.path().join(".git")).unwrap();
        std::fs::write(dir.path().join("a/b/x.yaml"), "k: v").unwrap();
        std::fs::write(dir.path().join(".git/config"), "x").unwrap();
        std::fs::write(outside.path().join("secret"), "s").unwrap();
        #[cfg(unix)]
        std::os::unix::fs::symlink(outside.path().join("secret"), dir.path().join("link")).unwrap();
        let set = FileSet::from_dir(dir.path()).unwrap();
        assert_eq!(set.get("a/b/x.yaml"), Some(&Entry::Bytes(b"k: v".to_vec())));
        assert!(set.get(".git/config").is_none());
        #[cfg(unix)]
        assert_eq!(set.get("link"), Some(&Entry::LinkOutside));
    }

    /// Issue 9.2: a folder linked inside the repository is read once, under
    /// the link's name; a folder linked outside, and a loop, are recorded (the
    /// loader makes them errors), never skipped silently.
    #[cfg(unix)]
    #[test]
    fn folder_links_are_followed_inside_and_recorded_otherwise() {
        use std::os::unix::fs::symlink;
        let dir = tempfile::tempdir().unwrap();
        let outside = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("real/deep")).unwrap();
        std::fs::write(dir.path().join("real/deep/x.yaml"), "k: v").unwrap();
        std::fs::write(outside.path().join("y.yaml"), "k: v").unwrap();
        symlink(dir.path().join("real"), dir.path().join("alias")).unwrap();
        symlink(outside.path(), dir.path().join("away")).unwrap();
        symlink("..", dir.path().join("real/up")).unwrap();
        symlink("../..", dir.path().join("real/deep/top")).unwrap();
        let set = FileSet::from_dir(dir.path()).unwrap();
        assert_eq!(
            set.get("alias/deep/x.yaml"),
            Some(&Entry::Bytes(b"k: v".to_vec()))
        );
        assert_eq!(set.get("real/deep/x.yaml"), set.get("alias/deep/x.yaml"));
        assert_eq!(set.get("away"), Some(&Entry::LinkOutside));
        assert_eq!(set.get("real/up"), Some(&Entry::LinkLoop));
        assert_eq!(set.get("real/deep/top"), Some(&Entry::LinkLoop));
        assert_eq!(set.get("alias/up"), Some(&Entry::LinkLoop));
        assert!(set.files.keys().all(|k| !k.contains("y.yaml")));
    }

    #[test]
    fn nested_repositories_are_not_read() {
        let dir = tempfile::tempdir().unwrap();
        // A submodule's checkout (`.git` is a file) and a nested clone (a folder).
        std::fs::create_dir_all(dir.path().join("sub/deep")).unwrap();
        std::fs::write(dir.path().join("sub/.git"), "gitdir: ../.git/modules/sub\n").unwrap();
        std::fs::write(dir.path().join("sub/x.yaml"), "k: v").unwrap();
        std::fs::write(dir.path().join("sub/deep/y.yaml"), "k: v").unwrap();
        std::fs::create_dir_all(dir.path().join("a/clone/.git")).unwrap();
        std::fs::write(dir.path().join("a/clone/z.yaml"), "k: v").unwrap();
        std::fs::write(dir.path().join("a/kept.yaml"), "k: v").unwrap();
        // The root's own `.git` does not make it a nested repository.
        std::fs::create_dir_all(dir.path().join(".git")).unwrap();
        std::fs::write(dir.path().join("top.yaml"), "k: v").unwrap();
        let set = FileSet::from_dir(dir.path()).unwrap();
        let paths: Vec<&str> = set.files.keys().map(String::as_str).collect();
        assert_eq!(paths, ["a/kept.yaml", "top.yaml"]);
    }

    #[test]
    fn subdirs_stay_inside_the_root() {
        let parts = |s: &str| subdir_components(s);
        assert_eq!(parts("a/b"), Some(vec!["a".into(), "b".into()]));
        assert_eq!(parts("./a//b/"), Some(vec!["a".into(), "b".into()]));
        assert_eq!(parts("a\\..\\b"), Some(vec!["b".into()]));
        assert_eq!(parts("."), Some(vec![]));
        for bad in ["/etc", "\\etc", "..", "../x", "a/../..", "a/../../x"] {
            assert_eq!(parts(bad), None, "{bad}");
        }
    }

    #[test]
    fn missing_dir_is_an_error() {
        let err = FileSet::from_dir(Path::new("/definitely/not/here")).unwrap_err();
        assert!(err.to_string().contains("not a directory"));
    }
}
