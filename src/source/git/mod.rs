//! Git sources: one commit of a local repository, or of a remote one kept in a bare
//! mirror cache, read straight from git's object database into a [`FileSet`].
//!
//! Nothing is checked out, so uncommitted edits and untracked files never reach a plan.
//! Reading a plain directory lives in the parent module ([`FileSet::from_dir`]), whose
//! rules (hidden entries, root `target/`, links, size limits) this module mirrors; what
//! the files mean is `manifest`'s business.
//!
//! - here: the entry points (`from_commit`, `from_remote`, `remote_head`,
//!   `from_mirror`), [`GitSource`] and [`Error`];
//! - `commit`: walking one commit's tree into a file set (links, submodules, limits);
//! - `remote`: the bare mirror cache, fetching, resolving a remote revision;
//! - `credentials`: where tokens and keys come from, and the callback libgit2 asks;
//! - `url`: recognising and redacting git URLs.

mod commit;
mod credentials;
mod remote;
mod url;

use std::path::{Path, PathBuf};

use chrono::{DateTime, FixedOffset};
use git2::Repository;
use tracing::{debug, instrument};

use super::FileSet;
use commit::{normalise_subdir, peel_to_commit, read_commit, short, workdir_prefix};
use credentials::Credentials;
pub use credentials::{Auth, DEFAULT_TOKEN_ENV};
use remote::{fetch, open_mirror, resolve_remote_rev};
pub use url::{is_git_url, redact_url};

/// An error reading a git source. Messages never contain a token or a URL's password.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// No repository at or above the path.
    #[error("{path}: not inside a git repository (give a path inside a clone, or a git URL)")]
    NotARepository {
        /// The path as given.
        path: PathBuf,
        /// What libgit2 said.
        #[source]
        source: git2::Error,
    },
    /// The revision does not name anything in a local repository.
    #[error(
        "revision `{rev}` not found in {repo}: check the branch, tag or commit name, or fetch it"
    )]
    RevisionNotFound {
        /// The revision as given.
        rev: String,
        /// The repository's directory.
        repo: String,
        /// What libgit2 said.
        #[source]
        source: git2::Error,
    },
    /// The revision does not name anything after fetching every branch and tag of a remote.
    #[error(
        "revision `{rev}` not found in {url}: check the branch or tag name; a commit must be reachable from a branch or tag of the remote"
    )]
    RemoteRevisionNotFound {
        /// The revision as given.
        rev: String,
        /// The URL, password removed.
        url: String,
    },
    /// The revision names a tree or a blob, not a commit.
    #[error("revision `{rev}` in {repo} is a {kind}, not a commit: give a branch, tag or commit")]
    NotACommit {
        /// The revision as given.
        rev: String,
        /// The repository's directory or URL.
        repo: String,
        /// What it names instead (`tree`, `blob`).
        kind: String,
    },
    /// `--path` is absolute or climbs above the repository root.
    #[error("path `{subdir}` must be relative to the repository root and stay inside it (no leading `/`, no `..` above the root)")]
    InvalidSubdir {
        /// The path as given.
        subdir: String,
    },
    /// `--path` names nothing in the commit.
    #[error("path `{subdir}` does not exist in commit {commit} (`{rev}`): check --path, which is relative to the repository root")]
    SubdirNotFound {
        /// The path, relative to the repository root.
        subdir: String,
        /// The commit (short SHA).
        commit: String,
        /// The revision as given.
        rev: String,
    },
    /// `--path` names a file in the commit.
    #[error("path `{subdir}` in commit {commit} (`{rev}`) is a file, not a directory: give the directory holding the manifests")]
    SubdirNotADirectory {
        /// The path, relative to the repository root.
        subdir: String,
        /// The commit (short SHA).
        commit: String,
        /// The revision as given.
        rev: String,
    },
    /// An object of the commit could not be read (a corrupt or shallow repository).
    #[error("cannot read `{path}` in commit {commit}")]
    Read {
        /// The path inside the repository (empty for the commit itself).
        path: String,
        /// The commit (short SHA).
        commit: String,
        /// What libgit2 said.
        #[source]
        source: git2::Error,
    },
    /// The files of the commit add up to more than [`super::max_total_bytes`].
    #[error(
        "commit {commit}: manifest repository is larger than {limit} bytes; narrow it with --path, or raise the limit with MCPBOX_GITOPS_MAX_SOURCE_BYTES"
    )]
    TooLarge {
        /// The commit (short SHA).
        commit: String,
        /// The limit in bytes.
        limit: u64,
    },
    /// [`from_remote`] was given something that is not a git URL.
    #[error(
        "`{url}` is not a git URL (expected https://…, ssh://…, git@host:org/repo.git or file://…)"
    )]
    NotAUrl {
        /// The string, password removed.
        url: String,
    },
    /// The cache directory could not be created or written.
    #[error("cannot use git cache {path}: check that it is writable")]
    CacheIo {
        /// The cache directory or mirror.
        path: PathBuf,
        /// What the OS said.
        #[source]
        source: std::io::Error,
    },
    /// The mirror in the cache could not be created or opened.
    #[error("cannot use git mirror {path}: delete it to start over")]
    CacheGit {
        /// The mirror.
        path: PathBuf,
        /// What libgit2 said.
        #[source]
        source: git2::Error,
    },
    /// Fetching failed for a reason other than authentication.
    // `detail` is libgit2's message with the token and URL password scrubbed out; the
    // original error is not kept as a source because it could quote them.
    #[error("cannot fetch {url}: {detail} (check the URL and network access)")]
    Fetch {
        /// The URL, password removed.
        url: String,
        /// What libgit2 said, scrubbed.
        detail: String,
    },
    /// The server refused our credentials, or wanted some we do not have.
    #[error("authentication to {url} failed: {reason}")]
    Auth {
        /// The URL, password removed.
        url: String,
        /// What went wrong and how to fix it; never the credential itself.
        reason: String,
    },
}

/// One commit read into a [`FileSet`], with what audit rows and plans say about it.
#[derive(Debug, Clone)]
pub struct GitSource {
    /// The files of the commit (below the sub-directory, if one was given), read with
    /// the same rules as [`FileSet::from_dir`]. Its label names commit, revision and URL.
    pub file_set: FileSet,
    /// Full SHA-1 of the commit (40 hex digits).
    pub commit: String,
    /// First line of the commit message.
    pub summary: String,
    /// Author `Name <email>`: who changed the manifests, for MCPBox's audit columns.
    pub author: String,
    /// When the change was written.
    pub author_time: DateTime<FixedOffset>,
    /// When the commit was made (differs from `author_time` after a rebase or merge).
    pub committer_time: DateTime<FixedOffset>,
    /// The revision as given (`HEAD`, `main`, a SHA…).
    pub rev: String,
    /// The directory read, relative to the repository root with `/`, after following
    /// links; `None` for the root.
    pub subdir: Option<String>,
    /// Submodule paths (relative to the file set) that were skipped: their content lives
    /// in another repository and is never fetched.
    pub skipped_submodules: Vec<String>,
}

/// Reads commit `rev` of the repository at or above `repo_path`.
///
/// `rev` is anything `git rev-parse` takes (`HEAD`, `HEAD~1`, a branch, a tag, a full or
/// short SHA, `origin/main`). When `repo_path` is a directory *inside* the working tree,
/// only that directory is read, like [`FileSet::from_dir`] would; `subdir` is then
/// relative to it, otherwise to the repository root.
#[instrument(skip_all, fields(repo = %repo_path.display(), rev = %rev))]
pub fn from_commit(repo_path: &Path, rev: &str, subdir: Option<&str>) -> Result<GitSource, Error> {
    let repo = Repository::discover(repo_path).map_err(|source| Error::NotARepository {
        path: repo_path.to_path_buf(),
        source,
    })?;
    let repo_name = repo
        .workdir()
        .unwrap_or_else(|| repo.path())
        .display()
        .to_string();
    let mut prefix = workdir_prefix(&repo, repo_path);
    if let Some(sub) = subdir {
        prefix.extend(normalise_subdir(sub)?);
    }
    let object = repo
        .revparse_single(rev)
        .map_err(|source| Error::RevisionNotFound {
            rev: rev.to_string(),
            repo: repo_name.clone(),
            source,
        })?;
    let commit = peel_to_commit(object, rev, &repo_name)?;
    let mut source = read_commit(&repo, &commit, rev, &prefix, super::max_total_bytes())?;
    source.file_set.label = label(&source, None);
    debug!(commit = %source.commit, files = source.file_set.files.len(), "read git commit");
    Ok(source)
}

/// Reads commit `rev` of the remote repository at `url`, through a bare mirror kept in
/// `cache_dir`.
///
/// The mirror lives in `cache_dir/<hash of url>.git`; it is made on first use and later
/// only fetched into (all branches and tags, deleted ones pruned), so only what changed
/// is transferred. `rev` is resolved against the remote's refs: a branch (`main`), a tag,
/// a SHA reachable from one of them, or `HEAD` for the remote's default branch.
/// `subdir` is relative to the repository root.
#[instrument(skip_all, fields(url = %redact_url(url), rev = %rev))]
pub fn from_remote(
    url: &str,
    rev: &str,
    cache_dir: &Path,
    subdir: Option<&str>,
    auth: &Auth,
) -> Result<GitSource, Error> {
    let (repo, shown) = fetched_mirror(url, cache_dir, auth)?;
    let source = read_mirror(&repo, &shown, rev, subdir)?;
    debug!(commit = %source.commit, files = source.file_set.files.len(), "read remote git commit");
    Ok(source)
}

/// Fetches the remote at `url` into its mirror in `cache_dir` and returns the full
/// SHA `rev` names there, without reading any file: a poll that finds the same
/// commit as last time costs one fetch. [`from_mirror`] then reads it.
#[instrument(skip_all, fields(url = %redact_url(url), rev = %rev))]
pub fn remote_head(url: &str, rev: &str, cache_dir: &Path, auth: &Auth) -> Result<String, Error> {
    let (repo, shown) = fetched_mirror(url, cache_dir, auth)?;
    let commit = resolve_remote_rev(&repo, rev, &shown)?;
    Ok(commit.id().to_string())
}

/// Like [`from_remote`] without fetching: reads `rev` from the mirror a
/// [`remote_head`] (or [`from_remote`]) call already fetched.
#[instrument(skip_all, fields(url = %redact_url(url), rev = %rev))]
pub fn from_mirror(
    url: &str,
    rev: &str,
    cache_dir: &Path,
    subdir: Option<&str>,
) -> Result<GitSource, Error> {
    let shown = checked_url(url)?;
    let repo = open_mirror(cache_dir, url)?;
    read_mirror(&repo, &shown, rev, subdir)
}

/// `url` redacted for messages, once it is known to be a git URL.
fn checked_url(url: &str) -> Result<String, Error> {
    let shown = redact_url(url);
    if is_git_url(url) {
        Ok(shown)
    } else {
        Err(Error::NotAUrl { url: shown })
    }
}

/// The mirror of `url`, fetched; and the URL as messages show it.
fn fetched_mirror(url: &str, cache_dir: &Path, auth: &Auth) -> Result<(Repository, String), Error> {
    let shown = checked_url(url)?;
    let repo = open_mirror(cache_dir, url)?;
    fetch(&repo, url, &shown, Credentials::from_env(auth, &shown))?;
    Ok((repo, shown))
}

/// Reads `rev` (resolved against the mirror's refs) below `subdir`.
fn read_mirror(
    repo: &Repository,
    shown: &str,
    rev: &str,
    subdir: Option<&str>,
) -> Result<GitSource, Error> {
    let prefix = match subdir {
        Some(sub) => normalise_subdir(sub)?,
        None => Vec::new(),
    };
    let commit = resolve_remote_rev(repo, rev, shown)?;
    let mut source = read_commit(repo, &commit, rev, &prefix, super::max_total_bytes())?;
    source.file_set.label = label(&source, Some(shown));
    Ok(source)
}

/// `git:<short sha> (<rev>)`, then where from and which directory.
fn label(source: &GitSource, url: Option<&str>) -> String {
    let mut label = format!("git:{} ({})", short(&source.commit), source.rev);
    if let Some(url) = url {
        label.push_str(&format!(" from {url}"));
    }
    if let Some(subdir) = &source.subdir {
        label.push_str(&format!(", path {subdir}"));
    }
    label
}

#[cfg(test)]
mod tests;
