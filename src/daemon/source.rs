//! Where a pass reads the manifests: a local git repository at a branch's head,
//! a remote (fetched into a mirror), or a plain directory. A repository's
//! revision is resolved without reading any file, so an unchanged head costs
//! one ref lookup (and, for a remote, one fetch). Parsing the files is `desired`'s; skipping is `pass`'s.

use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use crate::source::{git, Entry, FileSet};

/// A manifest source.
#[derive(Debug, Clone)]
pub enum Source {
    /// A local repository followed at `branch`.
    Local {
        /// The repository (or a folder inside its working tree).
        path: PathBuf,
        /// The branch (or any revision).
        branch: String,
        /// Folder inside the repository.
        subdir: Option<String>,
    },
    /// A remote repository, fetched into `cache`.
    Remote {
        /// The URL (may hold credentials: shown only through `redact_url`).
        url: String,
        /// The branch (`HEAD`: the remote's default).
        branch: String,
        /// Folder inside the repository.
        subdir: Option<String>,
        /// Mirror directory.
        cache: PathBuf,
        /// Credentials.
        auth: git::Auth,
    },
    /// A plain directory.
    Dir {
        /// The directory (already joined with `--subdir`).
        path: PathBuf,
    },
}

/// Manifests read for one pass.
pub struct Read {
    /// The files.
    pub files: FileSet,
    /// The commit SHA, or `dir:<sha256 of the files>` for a directory.
    pub revision: String,
    /// Whether the revision is a git commit.
    pub is_commit: bool,
    /// The commit's subject line and author, for people (git sources only).
    pub subject: Option<String>,
    /// `Name <email>` of the commit's author.
    pub author: Option<String>,
}

impl Read {
    /// What a commit read from git says.
    fn of_commit(g: git::GitSource) -> Read {
        Read {
            files: g.file_set,
            revision: g.commit,
            is_commit: true,
            subject: Some(g.summary),
            author: Some(g.author),
        }
    }
}

impl Source {
    /// The identity our ownership records for this source: the same as the
    /// CLI's for the same repository and subdir (see
    /// [`crate::source::owner_identity`]), whatever branch is followed.
    pub fn owner(&self) -> String {
        match self {
            Source::Local { path, subdir, .. } => {
                crate::source::owner_identity(&path.to_string_lossy(), subdir.as_deref())
            }
            Source::Remote { url, subdir, .. } => {
                crate::source::owner_identity(url, subdir.as_deref())
            }
            Source::Dir { path } => crate::source::owner_identity(&path.to_string_lossy(), None),
        }
    }

    /// The branch followed, if any.
    pub fn branch(&self) -> Option<&str> {
        match self {
            Source::Local { branch, .. } | Source::Remote { branch, .. } => Some(branch),
            Source::Dir { .. } => None,
        }
    }

    /// What identifies the source (not its revision), for the remembered pass.
    pub fn identity(&self) -> String {
        match self {
            Source::Local {
                path,
                branch,
                subdir,
            } => format!(
                "local:{}@{branch}/{}",
                path.display(),
                subdir.as_deref().unwrap_or("")
            ),
            Source::Remote {
                url,
                branch,
                subdir,
                ..
            } => format!(
                "remote:{}@{branch}/{}",
                git::redact_url(url),
                subdir.as_deref().unwrap_or("")
            ),
            Source::Dir { path } => format!("dir:{}", path.display()),
        }
    }

    /// The path to watch for changes: a directory itself, a local repository's
    /// `.git`; none for a remote.
    pub fn watch_path(&self) -> Option<PathBuf> {
        match self {
            Source::Dir { path } => Some(path.clone()),
            Source::Local { path, .. } => git2::Repository::discover(path)
                .ok()
                .map(|r| r.path().to_path_buf()),
            Source::Remote { .. } => None,
        }
    }

    /// The commit the branch names now, without reading files (a remote is
    /// fetched first); `None` for a directory, whose revision is its content.
    /// Blocking: call from `spawn_blocking`.
    pub fn head(&self) -> Option<Result<String, String>> {
        match self {
            Source::Local { path, branch, .. } => Some(head(path, branch)),
            Source::Remote {
                url,
                branch,
                cache,
                auth,
                ..
            } => Some(git::remote_head(url, branch, cache, auth).map_err(|e| e.to_string())),
            Source::Dir { .. } => None,
        }
    }

    /// Reads the manifests (blocking: call from `spawn_blocking`).
    pub fn read(&self) -> Result<Read, String> {
        match self {
            Source::Local {
                path,
                branch,
                subdir,
            } => git::from_commit(path, branch, subdir.as_deref())
                .map(Read::of_commit)
                .map_err(|e| e.to_string()),
            Source::Remote {
                url,
                branch,
                subdir,
                cache,
                ..
            } => {
                // Fetched by `head`, which every pass calls first.
                git::from_mirror(url, branch, cache, subdir.as_deref())
                    .map(Read::of_commit)
                    .map_err(|e| e.to_string())
            }
            Source::Dir { path } => {
                let files = FileSet::from_dir(path).map_err(|e| e.to_string())?;
                let revision = format!("dir:{}", content_hash(&files));
                Ok(Read {
                    files,
                    revision,
                    is_commit: false,
                    subject: None,
                    author: None,
                })
            }
        }
    }
}

/// The commit `branch` names in the repository at or above `path`.
fn head(path: &Path, branch: &str) -> Result<String, String> {
    let repo = git2::Repository::discover(path).map_err(|e| {
        format!(
            "{} is not a git repository: {}",
            path.display(),
            e.message()
        )
    })?;
    let commit = repo
        .revparse_single(branch)
        .and_then(|o| o.peel_to_commit())
        .map_err(|e| format!("branch {branch} not found: {}", e.message()))?;
    Ok(commit.id().to_string())
}

/// sha256 over every path and content, in order.
pub fn content_hash(files: &FileSet) -> String {
    let mut h = Sha256::new();
    for (path, entry) in &files.files {
        h.update(path.as_bytes());
        h.update([0]);
        match entry {
            Entry::Bytes(b) => {
                h.update((b.len() as u64).to_le_bytes());
                h.update(b);
            }
            other => h.update(format!("{other:?}").as_bytes()),
        }
        h.update([0]);
    }
    hex::encode(h.finalize())
}
