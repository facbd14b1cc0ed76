//! Git sources: one commit of a local repository, or of a remote one kept in a bare
//! mirror cache, read straight from git's object database into a [`FileSet`].
//!
//! Nothing is checked out, so uncommitted edits and untracked files never reach a plan.
//! Reading a plain directory lives in the parent module ([`FileSet::from_dir`]), whose
//! rules (hidden entries, root `target/`, links, size limits) this module mirrors; what
//! the files mean is `manifest`'s business.

use std::cell::RefCell;
use std::collections::VecDeque;
use std::path::{Path, PathBuf};

use chrono::{DateTime, FixedOffset, Offset, Utc};
use git2::{
    AutotagOption, Commit, Cred, CredentialType, FetchOptions, FetchPrune, Oid, RemoteCallbacks,
    Repository, Tree,
};
use sha2::{Digest, Sha256};
use tracing::{debug, instrument, warn};

use super::{Entry, FileSet, MAX_FILE_BYTES, MAX_TOTAL_BYTES};
use crate::crypto::Secret;

/// Environment variable holding the HTTPS access token unless [`Auth::token_env`] says otherwise.
pub const DEFAULT_TOKEN_ENV: &str = "GIT_TOKEN";

/// Username sent with a token over HTTPS; GitHub and GitLab both accept it for tokens.
const TOKEN_USER: &str = "x-access-token";

/// Links followed in a row before the chain counts as a loop (Linux allows 40; a
/// manifest repository needs few, and a loop should fail fast).
const MAX_LINK_HOPS: usize = 8;

/// Calls of the credentials callback before we give up. libgit2 calls it again every
/// time the server rejects what it was given, forever; each method is also offered once.
const MAX_CREDENTIAL_ATTEMPTS: usize = 4;

/// Git file modes of tree entries (`git ls-tree` shows them).
mod mode {
    pub const TREE: i32 = 0o040000;
    pub const BLOB: i32 = 0o100644;
    pub const BLOB_GROUP_WRITABLE: i32 = 0o100664;
    pub const BLOB_EXECUTABLE: i32 = 0o100755;
    pub const LINK: i32 = 0o120000;
    pub const COMMIT: i32 = 0o160000;
}

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
    /// The files of the commit add up to more than [`MAX_TOTAL_BYTES`].
    #[error(
        "commit {commit}: manifest repository is larger than {limit} bytes; narrow it with --path"
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

/// How to authenticate to a remote. Holds only *where* credentials come from (an
/// environment variable's name, a key file's path), never a credential itself.
#[derive(Clone, PartialEq, Eq)]
pub struct Auth {
    /// Environment variable holding an HTTPS access token, sent as password with the
    /// user `x-access-token` (or the URL's own user). Default [`DEFAULT_TOKEN_ENV`].
    pub token_env: String,
    /// SSH private key file; without it the SSH agent (`SSH_AUTH_SOCK`) is asked.
    pub ssh_key: Option<PathBuf>,
    /// Environment variable holding the passphrase of [`Auth::ssh_key`], if it has one.
    pub ssh_passphrase_env: Option<String>,
}

impl Default for Auth {
    fn default() -> Self {
        Auth {
            token_env: DEFAULT_TOKEN_ENV.to_string(),
            ssh_key: None,
            ssh_passphrase_env: None,
        }
    }
}

// Hand-written, as for every type near credentials: only names and paths are shown,
// and this stays true if a field holding a value is ever added.
impl std::fmt::Debug for Auth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Auth")
            .field("token_env", &self.token_env)
            .field("ssh_key", &self.ssh_key)
            .field("ssh_passphrase_env", &self.ssh_passphrase_env)
            .finish()
    }
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
    let mut source = read_commit(&repo, &commit, rev, &prefix, MAX_TOTAL_BYTES)?;
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
    let shown = redact_url(url);
    if !is_git_url(url) {
        return Err(Error::NotAUrl { url: shown });
    }
    let prefix = match subdir {
        Some(sub) => normalise_subdir(sub)?,
        None => Vec::new(),
    };
    let repo = open_mirror(cache_dir, url)?;
    fetch(&repo, url, &shown, Credentials::from_env(auth, &shown))?;
    let commit = resolve_remote_rev(&repo, rev, &shown)?;
    let mut source = read_commit(&repo, &commit, rev, &prefix, MAX_TOTAL_BYTES)?;
    source.file_set.label = label(&source, Some(&shown));
    debug!(commit = %source.commit, files = source.file_set.files.len(), "read remote git commit");
    Ok(source)
}

/// Fetches the remote at `url` into its mirror in `cache_dir` and returns the full
/// SHA `rev` names there, without reading any file: a poll that finds the same
/// commit as last time costs one fetch. [`from_mirror`] then reads it.
#[instrument(skip_all, fields(url = %redact_url(url), rev = %rev))]
pub fn remote_head(url: &str, rev: &str, cache_dir: &Path, auth: &Auth) -> Result<String, Error> {
    let shown = redact_url(url);
    if !is_git_url(url) {
        return Err(Error::NotAUrl { url: shown });
    }
    let repo = open_mirror(cache_dir, url)?;
    fetch(&repo, url, &shown, Credentials::from_env(auth, &shown))?;
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
    let shown = redact_url(url);
    if !is_git_url(url) {
        return Err(Error::NotAUrl { url: shown });
    }
    let prefix = match subdir {
        Some(sub) => normalise_subdir(sub)?,
        None => Vec::new(),
    };
    let repo = open_mirror(cache_dir, url)?;
    let commit = resolve_remote_rev(&repo, rev, &shown)?;
    let mut source = read_commit(&repo, &commit, rev, &prefix, MAX_TOTAL_BYTES)?;
    source.file_set.label = label(&source, Some(&shown));
    Ok(source)
}

/// Whether `s` is a git URL rather than a local path: `https://`, `http://`, `ssh://`,
/// `git://`, `file://`, or scp-like `[user@]host:path` (git's rule: a colon before any
/// slash; a single letter before it is a Windows drive, not a host).
pub fn is_git_url(s: &str) -> bool {
    const SCHEMES: [&str; 6] = [
        "https://",
        "http://",
        "ssh://",
        "git+ssh://",
        "git://",
        "file://",
    ];
    let lower = s.to_ascii_lowercase();
    if SCHEMES.iter().any(|scheme| lower.starts_with(scheme)) {
        return s.len() > s.find("://").map_or(0, |i| i + 3);
    }
    match (s.find(':'), s.find('/')) {
        (Some(colon), slash) => {
            let host = &s[..colon];
            let host_part = host.rsplit('@').next().unwrap_or(host);
            slash.is_none_or(|slash| colon < slash)
                && host_part.len() > 1
                && !host.contains(char::is_whitespace)
                && colon + 1 < s.len()
        }
        (None, _) => false,
    }
}

/// `url` with any password removed, for messages and labels. For `http(s)` the whole
/// user part goes, since tokens are often passed as the user name.
pub fn redact_url(url: &str) -> String {
    let Some(scheme_end) = url.find("://").map(|i| i + 3) else {
        return url.to_string();
    };
    let rest = &url[scheme_end..];
    let authority_end = rest.find('/').unwrap_or(rest.len());
    let Some(at) = rest[..authority_end].rfind('@') else {
        return url.to_string();
    };
    let scheme = &url[..scheme_end];
    let userinfo = &rest[..at];
    let shown_user = if scheme.to_ascii_lowercase().starts_with("http") {
        "***".to_string()
    } else {
        match userinfo.split_once(':') {
            Some((user, _)) => format!("{user}:***"),
            None => userinfo.to_string(),
        }
    };
    format!("{scheme}{shown_user}{}", &rest[at..])
}

/// The mirror directory name for `url`: stable across runs and platforms.
fn mirror_name(url: &str) -> String {
    let digest = Sha256::digest(url.trim().as_bytes());
    format!("{}.git", &hex::encode(digest)[..24])
}

/// Opens the bare mirror for `url` in `cache_dir`, creating it on first use.
fn open_mirror(cache_dir: &Path, url: &str) -> Result<Repository, Error> {
    let path = cache_dir.join(mirror_name(url));
    if path.exists() {
        debug!(mirror = %path.display(), "reusing git mirror");
        return Repository::open_bare(&path).map_err(|source| Error::CacheGit { path, source });
    }
    std::fs::create_dir_all(cache_dir).map_err(|source| Error::CacheIo {
        path: cache_dir.to_path_buf(),
        source,
    })?;
    // Initialise under a temporary name and rename, so a concurrent run never sees a
    // half-made mirror; if another run won the race, use theirs.
    let tmp = cache_dir.join(format!(".{}.tmp-{}", mirror_name(url), std::process::id()));
    if tmp.exists() {
        std::fs::remove_dir_all(&tmp).map_err(|source| Error::CacheIo {
            path: tmp.clone(),
            source,
        })?;
    }
    Repository::init_bare(&tmp).map_err(|source| Error::CacheGit {
        path: tmp.clone(),
        source,
    })?;
    if let Err(source) = std::fs::rename(&tmp, &path) {
        // Best effort: a leftover temporary directory is harmless and reused next time.
        let _ = std::fs::remove_dir_all(&tmp);
        if !path.exists() {
            return Err(Error::CacheIo { path, source });
        }
    }
    debug!(mirror = %path.display(), "created git mirror");
    Repository::open_bare(&path).map_err(|source| Error::CacheGit { path, source })
}

/// Fetches every branch and tag of `url` into the mirror, pruning deleted ones, and
/// points `refs/remotes/origin/HEAD` at the remote's default branch.
fn fetch(repo: &Repository, url: &str, shown: &str, credentials: Credentials) -> Result<(), Error> {
    // An anonymous remote keeps the URL (which may carry a token) out of the mirror's config.
    let mut remote = repo.remote_anonymous(url).map_err(|err| Error::Fetch {
        url: shown.to_string(),
        detail: err.message().replace(url, shown),
    })?;
    let state = RefCell::new(credentials);
    let mut callbacks = RemoteCallbacks::new();
    callbacks.credentials(|cb_url, username, allowed| {
        state.borrow_mut().next(cb_url, username, allowed)
    });
    let mut options = FetchOptions::new();
    options
        .remote_callbacks(callbacks)
        .prune(FetchPrune::On)
        .download_tags(AutotagOption::None)
        .update_fetchhead(false);
    let refspecs = [
        "+refs/heads/*:refs/remotes/origin/*",
        "+refs/tags/*:refs/tags/*",
    ];
    let fetched = remote.fetch(&refspecs, Some(&mut options), Some("mcpbox-gitops: fetch"));
    drop(options);
    let state = state.into_inner();
    if let Err(err) = fetched {
        let detail = state.scrub(&err.message().replace(url, shown));
        return Err(match state.failure {
            Some(reason) => Error::Auth {
                url: shown.to_string(),
                reason,
            },
            None if err.class() == git2::ErrorClass::Http && err.message().contains("401") => {
                Error::Auth {
                    url: shown.to_string(),
                    reason: format!(
                        "{detail}: set {} to a token that can read the repository",
                        state.token_env
                    ),
                }
            }
            None => Error::Fetch {
                url: shown.to_string(),
                detail,
            },
        });
    }
    // The advertised refs stay available after fetch disconnects, so this costs no round trip.
    match remote.default_branch() {
        Ok(buf) => {
            let branch = buf
                .as_str()
                .and_then(|name| name.strip_prefix("refs/heads/"));
            if let Some(branch) = branch {
                let target = format!("refs/remotes/origin/{branch}");
                repo.reference_symbolic(
                    "refs/remotes/origin/HEAD",
                    &target,
                    true,
                    "default branch",
                )
                .map_err(|err| Error::Fetch {
                    url: shown.to_string(),
                    detail: format!("cannot record default branch `{branch}`: {}", err.message()),
                })?;
            }
        }
        Err(err) => debug!(cause = %err, "remote advertises no default branch"),
    }
    Ok(())
}

/// Resolves `rev` in a mirror: `HEAD…` against the remote's default branch, otherwise
/// as git would (tags, SHAs, `origin/main`), then as a branch of the remote.
fn resolve_remote_rev<'r>(
    repo: &'r Repository,
    rev: &str,
    shown: &str,
) -> Result<Commit<'r>, Error> {
    let candidates = match rev.strip_prefix("HEAD") {
        Some(rest) if rest.is_empty() || rest.starts_with(['~', '^', '@']) => {
            vec![format!("refs/remotes/origin/HEAD{rest}")]
        }
        _ => vec![rev.to_string(), format!("refs/remotes/origin/{rev}")],
    };
    let object = candidates
        .iter()
        .find_map(|candidate| repo.revparse_single(candidate).ok())
        .ok_or_else(|| Error::RemoteRevisionNotFound {
            rev: rev.to_string(),
            url: shown.to_string(),
        })?;
    peel_to_commit(object, rev, shown)
}

/// The commit an object names (annotated tags are peeled), or [`Error::NotACommit`].
fn peel_to_commit<'r>(
    object: git2::Object<'r>,
    rev: &str,
    repo: &str,
) -> Result<Commit<'r>, Error> {
    let kind = object
        .kind()
        .map_or("object", |kind| kind.str())
        .to_string();
    object.peel_to_commit().map_err(|_| Error::NotACommit {
        rev: rev.to_string(),
        repo: repo.to_string(),
        kind,
    })
}

/// The components of `repo_path` below the working tree's root; empty when it is the
/// root itself, outside the working tree, or the repository is bare.
fn workdir_prefix(repo: &Repository, repo_path: &Path) -> Vec<String> {
    let (Some(workdir), Ok(path)) = (repo.workdir(), repo_path.canonicalize()) else {
        return Vec::new();
    };
    let Ok(workdir) = workdir.canonicalize() else {
        return Vec::new();
    };
    let Ok(rel) = path.strip_prefix(&workdir) else {
        return Vec::new();
    };
    let components: Vec<String> = rel
        .components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect();
    // Inside `.git` itself means "this repository", not a directory of manifests.
    if components.first().is_some_and(|c| c == ".git") {
        return Vec::new();
    }
    components
}

/// Splits `--path` into components, rejecting absolute paths and `..` above the root
/// (the rule of [`super::subdir_components`], shared with directory mode).
fn normalise_subdir(subdir: &str) -> Result<Vec<String>, Error> {
    super::subdir_components(subdir).ok_or_else(|| Error::InvalidSubdir {
        subdir: subdir.to_string(),
    })
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

/// The 12-digit abbreviation used in labels and messages.
fn short(sha: &str) -> &str {
    sha.get(..12).unwrap_or(sha)
}

/// A git timestamp with its offset; out-of-range values (a corrupt commit) become the epoch in UTC.
fn git_time(time: git2::Time) -> DateTime<FixedOffset> {
    let offset =
        FixedOffset::east_opt(time.offset_minutes().saturating_mul(60)).unwrap_or(Utc.fix());
    DateTime::from_timestamp(time.seconds(), 0)
        .unwrap_or(DateTime::UNIX_EPOCH)
        .with_timezone(&offset)
}

/// Reads `commit` below `prefix` (repository-relative components) into a [`GitSource`]
/// with an empty label; `max_total` is [`MAX_TOTAL_BYTES`] except in tests.
fn read_commit(
    repo: &Repository,
    commit: &Commit<'_>,
    rev: &str,
    prefix: &[String],
    max_total: u64,
) -> Result<GitSource, Error> {
    let sha = commit.id().to_string();
    let short_sha = short(&sha).to_string();
    let read_err = |path: &str| {
        let commit = short_sha.clone();
        let path = path.to_string();
        move |source: git2::Error| Error::Read {
            path,
            commit,
            source,
        }
    };
    let root = commit.tree().map_err(read_err(""))?;
    let odb = repo.odb().map_err(read_err(""))?;
    let reader = Reader {
        repo,
        root,
        commit: short_sha.clone(),
    };

    // The sub-directory may itself be (or pass through) a link; follow it like a shell would.
    let subdir = prefix.join("/");
    let base = match reader.resolve(prefix.iter().cloned().collect())? {
        Resolved::Tree(path) => path,
        Resolved::Blob(..) => {
            return Err(Error::SubdirNotADirectory {
                subdir,
                commit: short_sha,
                rev: rev.to_string(),
            })
        }
        Resolved::Submodule | Resolved::Dangling => {
            return Err(Error::SubdirNotFound {
                subdir,
                commit: short_sha,
                rev: rev.to_string(),
            })
        }
    };
    let base_tree = reader.tree_at(&base)?;

    let mut set = FileSet::empty("");
    let mut submodules = Vec::new();
    let mut total = 0u64;
    // Each directory to read: its path as shown (under the link that led to
    // it, if any), its real path in the commit, its tree, and the real paths of
    // the directories walked to reach it (to refuse a link back into them).
    let mut stack: Vec<Walk<'_>> = vec![Walk {
        shown: Vec::new(),
        real: base.clone(),
        tree: base_tree,
        chain: vec![base.clone()],
    }];
    while let Some(Walk {
        shown: rel_dir,
        real: real_dir,
        tree,
        chain,
    }) = stack.pop()
    {
        for entry in tree.iter() {
            let raw_name = entry.name_bytes();
            // Same rules as FileSet::from_dir: hidden entries anywhere, `target` at the root.
            if raw_name.starts_with(b".") || (rel_dir.is_empty() && raw_name == b"target") {
                continue;
            }
            let name = match std::str::from_utf8(raw_name) {
                Ok(name) => name.to_string(),
                Err(_) => {
                    let mut rel = rel_dir.clone();
                    rel.push(crate::escape::bytes(raw_name));
                    set.files.insert(rel.join("/"), Entry::NameNotUtf8);
                    continue;
                }
            };
            let mut rel = rel_dir.clone();
            rel.push(name.clone());
            let rel_str = rel.join("/");
            let blob = match entry.filemode() {
                mode::TREE => {
                    let subtree = repo.find_tree(entry.id()).map_err(read_err(&rel_str))?;
                    let mut real = real_dir.clone();
                    real.push(name);
                    let mut chain = chain.clone();
                    chain.push(real.clone());
                    stack.push(Walk {
                        shown: rel,
                        real,
                        tree: subtree,
                        chain,
                    });
                    continue;
                }
                mode::COMMIT => {
                    warn!(path = %rel_str, commit = %short_sha, "skipping submodule: its files are in another repository");
                    submodules.push(rel_str);
                    continue;
                }
                mode::LINK => {
                    match reader.follow_link(real_dir.clone(), entry.id(), &rel_str)? {
                        // Only links that end inside the directory read are followed,
                        // as from_dir does for its root.
                        Resolved::Blob(path, oid) if path.starts_with(&base) => oid,
                        // A link to a directory inside is read once, under the
                        // link's name; one that leads back into a directory
                        // being walked would never end.
                        Resolved::Tree(path) if path.starts_with(&base) => {
                            if chain.iter().any(|walked| walked.starts_with(&path)) {
                                set.files.insert(rel_str, Entry::LinkLoop);
                                continue;
                            }
                            let subtree = reader.tree_at(&path)?;
                            let mut chain = chain.clone();
                            chain.push(path.clone());
                            stack.push(Walk {
                                shown: rel,
                                real: path,
                                tree: subtree,
                                chain,
                            });
                            continue;
                        }
                        Resolved::Submodule => continue,
                        _ => {
                            set.files.insert(rel_str, Entry::LinkOutside);
                            continue;
                        }
                    }
                }
                mode::BLOB | mode::BLOB_EXECUTABLE | mode::BLOB_GROUP_WRITABLE => entry.id(),
                _ => continue,
            };
            // The header gives the size without inflating a blob we will not keep.
            let (size, _) = odb.read_header(blob).map_err(read_err(&rel_str))?;
            let size = size as u64;
            if size > MAX_FILE_BYTES {
                set.files.insert(rel_str, Entry::TooLarge(size));
                continue;
            }
            total += size;
            if total > max_total {
                return Err(Error::TooLarge {
                    commit: short_sha,
                    limit: max_total,
                });
            }
            let content = repo.find_blob(blob).map_err(read_err(&rel_str))?;
            set.files
                .insert(rel_str, Entry::Bytes(content.content().to_vec()));
        }
    }

    let author = commit.author();
    Ok(GitSource {
        file_set: set,
        summary: String::from_utf8_lossy(commit.summary_bytes().unwrap_or_default()).into_owned(),
        author: format!(
            "{} <{}>",
            String::from_utf8_lossy(author.name_bytes()),
            String::from_utf8_lossy(author.email_bytes())
        ),
        author_time: git_time(author.when()),
        committer_time: git_time(commit.committer().when()),
        commit: sha,
        rev: rev.to_string(),
        subdir: (!base.is_empty()).then(|| base.join("/")),
        skipped_submodules: submodules,
    })
}

/// A directory waiting to be read by [`from_commit`]'s walk.
struct Walk<'r> {
    /// Its path in the file set (through the links that led to it).
    shown: Vec<String>,
    /// Its real, link-free path in the commit.
    real: Vec<String>,
    /// Its tree.
    tree: Tree<'r>,
    /// Real paths of the directories walked to reach it, itself included.
    chain: Vec<Vec<String>>,
}

/// Where a path of the commit leads once links are followed.
enum Resolved {
    /// A file: its repository-relative path and blob.
    Blob(Vec<String>, Oid),
    /// A directory: its repository-relative path.
    Tree(Vec<String>),
    /// A submodule (its content is not in this repository).
    Submodule,
    /// Nothing: missing, above the root, absolute, or a loop of links.
    Dangling,
}

/// Looks paths up in one commit's tree.
struct Reader<'r> {
    /// The repository the commit is in.
    repo: &'r Repository,
    /// The commit's root tree; every lookup starts here.
    root: Tree<'r>,
    /// Short SHA, for errors.
    commit: String,
}

impl<'r> Reader<'r> {
    /// The tree at a link-free repository-relative path that [`Reader::resolve`] returned.
    fn tree_at(&self, path: &[String]) -> Result<Tree<'r>, Error> {
        let mut tree = self.root.clone();
        for name in path {
            let id = tree.get_name_bytes(name.as_bytes()).map(|entry| entry.id());
            let found = id.and_then(|id| self.repo.find_tree(id).ok());
            tree = found.ok_or_else(|| Error::Read {
                path: path.join("/"),
                commit: self.commit.clone(),
                source: git2::Error::from_str("directory vanished from the tree"),
            })?;
        }
        Ok(tree)
    }

    /// Follows the link blob `link` found in directory `dir` (repository-relative).
    fn follow_link(&self, dir: Vec<String>, link: Oid, path: &str) -> Result<Resolved, Error> {
        let mut pending: VecDeque<String> = dir.into();
        match self.link_target(link, path)? {
            Some(target) => pending.extend(target),
            None => return Ok(Resolved::Dangling),
        }
        self.resolve(pending)
    }

    /// The components of a link's target, or `None` for an absolute target.
    fn link_target(&self, link: Oid, path: &str) -> Result<Option<Vec<String>>, Error> {
        let blob = self.repo.find_blob(link).map_err(|source| Error::Read {
            path: path.to_string(),
            commit: self.commit.clone(),
            source,
        })?;
        let target = String::from_utf8_lossy(blob.content()).into_owned();
        if target.starts_with('/') {
            return Ok(None);
        }
        Ok(Some(target.split('/').map(str::to_string).collect()))
    }

    /// Walks `pending` (components from the root) the way the OS walks a path: `..`
    /// climbs (never above the root), and a link met on the way is replaced by its
    /// target, relative to the directory holding it.
    fn resolve(&self, mut pending: VecDeque<String>) -> Result<Resolved, Error> {
        let mut resolved: Vec<String> = Vec::new();
        // trees[i] is the tree at resolved[..i]; never empty.
        let mut trees: Vec<Tree<'r>> = vec![self.root.clone()];
        let mut hops = 0;
        while let Some(name) = pending.pop_front() {
            match name.as_str() {
                "" | "." => continue,
                ".." => {
                    if resolved.pop().is_none() {
                        return Ok(Resolved::Dangling);
                    }
                    trees.pop();
                    continue;
                }
                _ => {}
            }
            let Some(tree) = trees.last() else {
                return Ok(Resolved::Dangling);
            };
            let Some((id, filemode)) = tree
                .get_name_bytes(name.as_bytes())
                .map(|entry| (entry.id(), entry.filemode()))
            else {
                return Ok(Resolved::Dangling);
            };
            let rest_is_empty = pending.iter().all(|c| c.is_empty() || c == ".");
            match filemode {
                mode::TREE => {
                    let subtree = self.repo.find_tree(id).map_err(|source| Error::Read {
                        path: resolved.join("/"),
                        commit: self.commit.clone(),
                        source,
                    })?;
                    trees.push(subtree);
                    resolved.push(name);
                }
                mode::LINK => {
                    hops += 1;
                    if hops > MAX_LINK_HOPS {
                        return Ok(Resolved::Dangling);
                    }
                    let mut path = resolved.clone();
                    path.push(name);
                    match self.link_target(id, &path.join("/"))? {
                        Some(target) => {
                            for component in target.into_iter().rev() {
                                pending.push_front(component);
                            }
                        }
                        None => return Ok(Resolved::Dangling),
                    }
                }
                mode::COMMIT if rest_is_empty => return Ok(Resolved::Submodule),
                mode::BLOB | mode::BLOB_EXECUTABLE | mode::BLOB_GROUP_WRITABLE if rest_is_empty => {
                    resolved.push(name);
                    return Ok(Resolved::Blob(resolved, id));
                }
                // A file or submodule used as a directory, or an unknown mode.
                _ => return Ok(Resolved::Dangling),
            }
        }
        Ok(Resolved::Tree(resolved))
    }
}

/// The credentials callback's state: what we can offer, what was already offered, and
/// why we gave up. No `Debug`: it holds the token.
struct Credentials {
    /// URL for messages, password removed.
    url: String,
    /// Name of the token's variable, for messages.
    token_env: String,
    /// The HTTPS token, if the variable is set.
    token: Option<Secret>,
    /// SSH key file, if configured (else the agent).
    ssh_key: Option<PathBuf>,
    /// Name of the passphrase's variable, for messages.
    passphrase_env: Option<String>,
    /// The key's passphrase, if configured and set.
    passphrase: Option<Secret>,
    /// Calls so far; libgit2 retries without end, so this is capped.
    attempts: usize,
    /// Whether the token was offered (a second request means it was rejected).
    token_offered: bool,
    /// Whether an SSH key was offered.
    ssh_offered: bool,
    /// Why we stopped offering credentials; becomes [`Error::Auth`].
    failure: Option<String>,
}

impl Credentials {
    /// Reads the token and passphrase from the environment variables `auth` names.
    fn from_env(auth: &Auth, url: &str) -> Credentials {
        let read = |name: &str| {
            std::env::var(name)
                .ok()
                .map(|value| value.trim().to_string())
                .filter(|value| !value.is_empty())
                .map(Secret::new)
        };
        Credentials::new(
            auth,
            url,
            read(&auth.token_env),
            auth.ssh_passphrase_env.as_deref().and_then(read),
        )
    }

    /// Credentials with values already read (tests pass them directly).
    fn new(
        auth: &Auth,
        url: &str,
        token: Option<Secret>,
        passphrase: Option<Secret>,
    ) -> Credentials {
        Credentials {
            url: url.to_string(),
            token_env: auth.token_env.clone(),
            token,
            ssh_key: auth.ssh_key.clone(),
            passphrase_env: auth.ssh_passphrase_env.clone(),
            passphrase,
            attempts: 0,
            token_offered: false,
            ssh_offered: false,
            failure: None,
        }
    }

    /// Answers one call of libgit2's credentials callback.
    fn next(
        &mut self,
        url: &str,
        username: Option<&str>,
        allowed: CredentialType,
    ) -> Result<Cred, git2::Error> {
        self.attempts += 1;
        if self.attempts > MAX_CREDENTIAL_ATTEMPTS {
            return self.give_up(format!(
                "credentials were rejected {MAX_CREDENTIAL_ATTEMPTS} times; check that they grant read access to the repository"
            ));
        }
        if allowed.contains(CredentialType::USERNAME) {
            // SSH asks for the user name first when the URL has none.
            return Cred::username(username.unwrap_or("git"));
        }
        if allowed.contains(CredentialType::SSH_KEY) {
            return self.ssh_key(username.unwrap_or("git"));
        }
        if allowed.contains(CredentialType::USER_PASS_PLAINTEXT) {
            return self.token(url, username);
        }
        self.give_up(format!(
            "the server asks for an authentication method we do not support ({allowed:?}); use an https token or an ssh key"
        ))
    }

    /// Offers the SSH key file or the agent, once.
    fn ssh_key(&mut self, user: &str) -> Result<Cred, git2::Error> {
        if self.ssh_offered {
            let reason = match &self.ssh_key {
                Some(key) => format!(
                    "the server rejected the ssh key {} for user `{user}`; check that it is a deploy key of the repository",
                    key.display()
                ),
                None => format!(
                    "no key from the ssh agent was accepted for user `{user}`; check SSH_AUTH_SOCK and `ssh-add -l`, or give a key file"
                ),
            };
            return self.give_up(reason);
        }
        self.ssh_offered = true;
        match &self.ssh_key {
            Some(key) => {
                if let (Some(env), None) = (&self.passphrase_env, &self.passphrase) {
                    let reason = format!("the ssh key passphrase variable {env} is not set");
                    return self.give_up(reason);
                }
                let passphrase = self.passphrase.as_ref().map(Secret::expose);
                Cred::ssh_key(user, None, key, passphrase)
            }
            None => Cred::ssh_key_from_agent(user),
        }
    }

    /// Offers the token as password, once, and only over https.
    fn token(&mut self, url: &str, username: Option<&str>) -> Result<Cred, git2::Error> {
        if self.token_offered {
            let reason = format!(
                "the server rejected the token from {}; check that it is valid and can read the repository",
                self.token_env
            );
            return self.give_up(reason);
        }
        if !url.to_ascii_lowercase().starts_with("https://") {
            let reason = format!(
                "refusing to send the token from {} over an unencrypted connection; use an https:// URL",
                self.token_env
            );
            return self.give_up(reason);
        }
        let Some(token) = &self.token else {
            let reason = format!(
                "the server asks for credentials: set {} to an access token that can read the repository",
                self.token_env
            );
            return self.give_up(reason);
        };
        self.token_offered = true;
        Cred::userpass_plaintext(username.unwrap_or(TOKEN_USER), token.expose())
    }

    /// Records why we stop, and returns the error that makes libgit2 stop too.
    fn give_up(&mut self, reason: String) -> Result<Cred, git2::Error> {
        let err =
            git2::Error::from_str(&format!("authentication to {} failed: {reason}", self.url));
        self.failure = Some(reason);
        Err(err)
    }

    /// `message` with the token and passphrase replaced, should libgit2 ever quote them.
    fn scrub(&self, message: &str) -> String {
        let mut out = message.to_string();
        for secret in [&self.token, &self.passphrase].into_iter().flatten() {
            if !secret.expose().is_empty() {
                out = out.replace(secret.expose(), "(redacted)");
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::process::Command;

    /// Runs git in `dir` with a clean configuration, returning trimmed stdout.
    fn git(dir: &Path, args: &[&str]) -> String {
        let out = Command::new("git")
            .current_dir(dir)
            .args(args)
            .env("GIT_CONFIG_GLOBAL", "/dev/null")
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "git {args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap().trim().to_string()
    }

    /// A new repository on branch `main` with a committer identity.
    fn init(dir: &Path) {
        git(dir, &["init", "-q", "-b", "main"]);
        git(dir, &["config", "user.name", "Test Author"]);
        git(dir, &["config", "user.email", "author@example.com"]);
    }

    fn write(dir: &Path, path: &str, content: &str) {
        let full = dir.join(path);
        std::fs::create_dir_all(full.parent().unwrap()).unwrap();
        std::fs::write(full, content).unwrap();
    }

    fn commit_all(dir: &Path, message: &str) -> String {
        git(dir, &["add", "-A"]);
        git(dir, &["commit", "-q", "-m", message]);
        git(dir, &["rev-parse", "HEAD"])
    }

    fn bytes(source: &GitSource, path: &str) -> Option<String> {
        match source.file_set.get(path) {
            Some(Entry::Bytes(b)) => Some(String::from_utf8(b.clone()).unwrap()),
            _ => None,
        }
    }

    fn paths(source: &GitSource) -> Vec<&str> {
        source.file_set.files.keys().map(String::as_str).collect()
    }

    #[test]
    fn head_and_parent_give_their_own_content() {
        let dir = tempfile::tempdir().unwrap();
        init(dir.path());
        write(dir.path(), "a.yaml", "v: 1");
        let first = commit_all(dir.path(), "first");
        write(dir.path(), "a.yaml", "v: 2");
        write(dir.path(), "b.yaml", "b: 1");
        let second = commit_all(dir.path(), "second: add b\n\nbody");

        let head = from_commit(dir.path(), "HEAD", None).unwrap();
        assert_eq!(bytes(&head, "a.yaml").as_deref(), Some("v: 2"));
        assert_eq!(bytes(&head, "b.yaml").as_deref(), Some("b: 1"));
        assert_eq!(head.commit, second);
        assert_eq!(head.summary, "second: add b");
        assert_eq!(head.author, "Test Author <author@example.com>");
        assert_eq!(head.rev, "HEAD");
        assert_eq!(head.file_set.label, format!("git:{} (HEAD)", &second[..12]));

        let parent = from_commit(dir.path(), "HEAD~1", None).unwrap();
        assert_eq!(parent.commit, first);
        assert_eq!(bytes(&parent, "a.yaml").as_deref(), Some("v: 1"));
        assert!(parent.file_set.get("b.yaml").is_none());
        assert!(parent.committer_time <= head.committer_time);

        let by_short_sha = from_commit(dir.path(), &first[..7], None).unwrap();
        assert_eq!(by_short_sha.commit, first);
    }

    #[test]
    fn branches_and_tags_resolve() {
        let dir = tempfile::tempdir().unwrap();
        init(dir.path());
        write(dir.path(), "a.yaml", "main");
        let main = commit_all(dir.path(), "main");
        git(dir.path(), &["tag", "-a", "v1", "-m", "release"]);
        git(dir.path(), &["checkout", "-q", "-b", "feature"]);
        write(dir.path(), "a.yaml", "feature");
        let feature = commit_all(dir.path(), "feature");

        assert_eq!(from_commit(dir.path(), "main", None).unwrap().commit, main);
        // An annotated tag is peeled to its commit.
        assert_eq!(from_commit(dir.path(), "v1", None).unwrap().commit, main);
        let source = from_commit(dir.path(), "feature", None).unwrap();
        assert_eq!(source.commit, feature);
        assert_eq!(bytes(&source, "a.yaml").as_deref(), Some("feature"));
    }

    #[test]
    fn working_tree_changes_are_not_seen() {
        let dir = tempfile::tempdir().unwrap();
        init(dir.path());
        write(dir.path(), "a.yaml", "committed");
        commit_all(dir.path(), "first");
        write(dir.path(), "a.yaml", "edited, not committed");
        write(dir.path(), "untracked.yaml", "x");
        write(dir.path(), "staged.yaml", "y");
        git(dir.path(), &["add", "staged.yaml"]);

        let source = from_commit(dir.path(), "HEAD", None).unwrap();
        assert_eq!(bytes(&source, "a.yaml").as_deref(), Some("committed"));
        assert_eq!(paths(&source), vec!["a.yaml"]);
    }

    #[test]
    fn subdir_restricts_and_reroots() {
        let dir = tempfile::tempdir().unwrap();
        init(dir.path());
        write(dir.path(), "deploy/manifests/server.yaml", "s");
        write(dir.path(), "deploy/manifests/tools/t.py", "t");
        write(dir.path(), "other.yaml", "o");
        let sha = commit_all(dir.path(), "first");

        for subdir in [
            "deploy/manifests",
            "./deploy/manifests/",
            "deploy/x/../manifests",
        ] {
            let source = from_commit(dir.path(), "HEAD", Some(subdir)).unwrap();
            assert_eq!(
                paths(&source),
                vec!["server.yaml", "tools/t.py"],
                "{subdir}"
            );
            assert_eq!(source.subdir.as_deref(), Some("deploy/manifests"));
            assert!(source.file_set.label.ends_with(", path deploy/manifests"));
        }

        // A path inside the working tree implies the sub-directory, and --path nests in it.
        let source =
            from_commit(&dir.path().join("deploy"), "HEAD", Some("manifests/tools")).unwrap();
        assert_eq!(paths(&source), vec!["t.py"]);

        let err = from_commit(dir.path(), "HEAD", Some("nope")).unwrap_err();
        assert!(matches!(err, Error::SubdirNotFound { .. }), "{err:?}");
        let message = err.to_string();
        assert!(
            message.contains("`nope`") && message.contains(&sha[..12]),
            "{message}"
        );

        let err = from_commit(dir.path(), "HEAD", Some("other.yaml")).unwrap_err();
        assert!(matches!(err, Error::SubdirNotADirectory { .. }), "{err:?}");
        let err = from_commit(dir.path(), "HEAD", Some("../elsewhere")).unwrap_err();
        assert!(matches!(err, Error::InvalidSubdir { .. }), "{err:?}");
        let err = from_commit(dir.path(), "HEAD", Some("/abs")).unwrap_err();
        assert!(matches!(err, Error::InvalidSubdir { .. }), "{err:?}");
    }

    #[test]
    fn hidden_entries_and_root_target_are_skipped() {
        let dir = tempfile::tempdir().unwrap();
        init(dir.path());
        write(dir.path(), ".github/workflows/ci.yaml", "ci");
        write(dir.path(), ".hidden.yaml", "h");
        write(dir.path(), "target/out.yaml", "t");
        write(dir.path(), "a/.dot/x.yaml", "x");
        write(dir.path(), "a/target/kept.yaml", "k");
        write(dir.path(), "a/b.yaml", "b");
        commit_all(dir.path(), "first");

        let source = from_commit(dir.path(), "HEAD", None).unwrap();
        assert_eq!(paths(&source), vec!["a/b.yaml", "a/target/kept.yaml"]);
    }

    #[cfg(unix)]
    #[test]
    fn links_inside_are_followed_and_others_are_link_outside() {
        use std::os::unix::fs::symlink;
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        init(root);
        write(root, "real/x.yaml", "real content");
        write(root, "m/own.yaml", "own");
        symlink("../real/x.yaml", root.join("link_in")).unwrap();
        std::fs::create_dir_all(root.join("nested")).unwrap();
        symlink("../real/x.yaml", root.join("nested/up.yaml")).unwrap();
        symlink("nested/up.yaml", root.join("chain.yaml")).unwrap();
        symlink("real", root.join("dirlink")).unwrap();
        symlink("dirlink/x.yaml", root.join("through_dir.yaml")).unwrap();
        symlink("../../etc/passwd", root.join("escape.yaml")).unwrap();
        symlink("/etc/passwd", root.join("absolute.yaml")).unwrap();
        symlink("loop_b", root.join("loop_a")).unwrap();
        symlink("loop_a", root.join("loop_b")).unwrap();
        symlink("missing.yaml", root.join("dangling.yaml")).unwrap();
        symlink("../real/x.yaml", root.join("m/out_of_subdir.yaml")).unwrap();
        symlink("own.yaml", root.join("m/in_subdir.yaml")).unwrap();
        commit_all(root, "links");

        let source = from_commit(root, "HEAD", None).unwrap();
        // `link_in` was created at the root, pointing at ../real/x.yaml: outside.
        assert_eq!(source.file_set.get("link_in"), Some(&Entry::LinkOutside));
        assert_eq!(
            bytes(&source, "nested/up.yaml").as_deref(),
            Some("real content")
        );
        assert_eq!(
            bytes(&source, "chain.yaml").as_deref(),
            Some("real content")
        );
        assert_eq!(
            bytes(&source, "through_dir.yaml").as_deref(),
            Some("real content")
        );
        for outside in [
            "escape.yaml",
            "absolute.yaml",
            "loop_a",
            "loop_b",
            "dangling.yaml",
        ] {
            assert_eq!(
                source.file_set.get(outside),
                Some(&Entry::LinkOutside),
                "{outside}"
            );
        }
        // A link to a directory inside is read under its own name, as in from_dir.
        assert_eq!(
            bytes(&source, "dirlink/x.yaml").as_deref(),
            Some("real content")
        );
        assert_eq!(
            bytes(&source, "m/out_of_subdir.yaml").as_deref(),
            Some("real content")
        );

        // With --path, a link leaving the sub-directory is outside even if inside the repository.
        let sub = from_commit(root, "HEAD", Some("m")).unwrap();
        assert_eq!(
            sub.file_set.get("out_of_subdir.yaml"),
            Some(&Entry::LinkOutside)
        );
        assert_eq!(bytes(&sub, "in_subdir.yaml").as_deref(), Some("own"));

        // --path through a directory link reads the real directory.
        let via_link = from_commit(root, "HEAD", Some("dirlink")).unwrap();
        assert_eq!(via_link.subdir.as_deref(), Some("real"));
        assert_eq!(paths(&via_link), vec!["x.yaml"]);
    }

    #[test]
    fn large_blobs_are_too_large_and_total_is_capped() {
        let dir = tempfile::tempdir().unwrap();
        init(dir.path());
        let big = "x".repeat(MAX_FILE_BYTES as usize + 1);
        write(dir.path(), "big.yaml", &big);
        write(dir.path(), "small.yaml", "0123456789");
        write(dir.path(), "small2.yaml", "0123456789");
        commit_all(dir.path(), "big");

        let source = from_commit(dir.path(), "HEAD", None).unwrap();
        assert_eq!(
            source.file_set.get("big.yaml"),
            Some(&Entry::TooLarge(MAX_FILE_BYTES + 1))
        );
        assert_eq!(bytes(&source, "small.yaml").as_deref(), Some("0123456789"));

        let repo = Repository::open(dir.path()).unwrap();
        let commit = repo.head().unwrap().peel_to_commit().unwrap();
        assert!(read_commit(&repo, &commit, "HEAD", &[], 20).is_ok());
        let err = read_commit(&repo, &commit, "HEAD", &[], 19).unwrap_err();
        assert!(matches!(err, Error::TooLarge { limit: 19, .. }), "{err:?}");
        assert!(err.to_string().contains("--path"));
    }

    #[test]
    fn unknown_rev_and_non_commits_are_clear_errors() {
        let dir = tempfile::tempdir().unwrap();
        init(dir.path());
        write(dir.path(), "a.yaml", "a");
        commit_all(dir.path(), "first");

        let err = from_commit(dir.path(), "no-such-branch", None).unwrap_err();
        assert!(matches!(err, Error::RevisionNotFound { .. }), "{err:?}");
        let message = err.to_string();
        assert!(message.contains("`no-such-branch`"), "{message}");
        assert!(message.contains("check the branch"), "{message}");
        let repo_dir = dir.path().canonicalize().unwrap();
        let repo_name = repo_dir.file_name().unwrap().to_str().unwrap();
        assert!(message.contains(repo_name), "{message}");

        let err = from_commit(dir.path(), "HEAD^{tree}", None).unwrap_err();
        assert!(
            matches!(err, Error::NotACommit { ref kind, .. } if kind == "tree"),
            "{err:?}"
        );

        let plain = tempfile::tempdir().unwrap();
        let err = from_commit(plain.path(), "HEAD", None).unwrap_err();
        assert!(matches!(err, Error::NotARepository { .. }), "{err:?}");
    }

    #[test]
    fn submodules_are_skipped_and_noted() {
        let dir = tempfile::tempdir().unwrap();
        init(dir.path());
        write(dir.path(), "a.yaml", "a");
        let sha = commit_all(dir.path(), "first");
        // A gitlink entry, as `git submodule add` would record it.
        let cacheinfo = format!("160000,{sha},vendor/lib");
        git(
            dir.path(),
            &["update-index", "--add", "--cacheinfo", &cacheinfo],
        );
        git(dir.path(), &["commit", "-q", "-m", "submodule"]);

        let source = from_commit(dir.path(), "HEAD", None).unwrap();
        assert_eq!(paths(&source), vec!["a.yaml"]);
        assert_eq!(source.skipped_submodules, vec!["vendor/lib"]);
    }

    /// A bare origin plus a working clone that pushes to it.
    struct Remote {
        _dirs: Vec<tempfile::TempDir>,
        url: String,
        work: PathBuf,
        cache: PathBuf,
    }

    fn remote_with_main() -> Remote {
        let origin = tempfile::tempdir().unwrap();
        let work = tempfile::tempdir().unwrap();
        let cache = tempfile::tempdir().unwrap();
        git(origin.path(), &["init", "-q", "--bare", "-b", "main"]);
        init(work.path());
        let url = format!("file://{}", origin.path().display());
        git(work.path(), &["remote", "add", "origin", &url]);
        Remote {
            url,
            work: work.path().to_path_buf(),
            cache: cache.path().join("git-cache"),
            _dirs: vec![origin, work, cache],
        }
    }

    fn mirrors(cache: &Path) -> Vec<PathBuf> {
        let mut dirs: Vec<PathBuf> = std::fs::read_dir(cache)
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|e| e == "git"))
            .collect();
        dirs.sort();
        dirs
    }

    #[test]
    fn remote_is_mirrored_then_fetched_incrementally() {
        let remote = remote_with_main();
        write(&remote.work, "manifests/a.yaml", "v: 1");
        let first = commit_all(&remote.work, "first");
        git(&remote.work, &["push", "-q", "origin", "main"]);

        let auth = Auth::default();
        assert!(!remote.cache.exists());
        let one = from_remote(&remote.url, "main", &remote.cache, None, &auth).unwrap();
        assert_eq!(one.commit, first);
        assert_eq!(bytes(&one, "manifests/a.yaml").as_deref(), Some("v: 1"));
        assert!(
            one.file_set.label.contains(&remote.url),
            "{}",
            one.file_set.label
        );
        let created = mirrors(&remote.cache);
        assert_eq!(created.len(), 1);
        // A marker proves the second run reuses this directory instead of recreating it.
        std::fs::write(created[0].join("marker"), "kept").unwrap();

        write(&remote.work, "manifests/a.yaml", "v: 2");
        let second = commit_all(&remote.work, "second");
        git(&remote.work, &["push", "-q", "origin", "main"]);

        let two =
            from_remote(&remote.url, "main", &remote.cache, Some("manifests"), &auth).unwrap();
        assert_eq!(mirrors(&remote.cache), created);
        assert_eq!(
            std::fs::read_to_string(created[0].join("marker")).unwrap(),
            "kept"
        );
        assert_eq!(two.commit, second);
        assert_eq!(bytes(&two, "a.yaml").as_deref(), Some("v: 2"));

        // The remote's default branch, an older SHA (full and short), and HEAD~1.
        assert_eq!(
            from_remote(&remote.url, "HEAD", &remote.cache, None, &auth)
                .unwrap()
                .commit,
            second
        );
        let old = from_remote(&remote.url, &first, &remote.cache, None, &auth).unwrap();
        assert_eq!(bytes(&old, "manifests/a.yaml").as_deref(), Some("v: 1"));
        assert_eq!(
            from_remote(&remote.url, &first[..8], &remote.cache, None, &auth)
                .unwrap()
                .commit,
            first
        );
        assert_eq!(
            from_remote(&remote.url, "HEAD~1", &remote.cache, None, &auth)
                .unwrap()
                .commit,
            first
        );
        assert_eq!(
            from_remote(&remote.url, "origin/main", &remote.cache, None, &auth)
                .unwrap()
                .commit,
            second
        );
    }

    #[test]
    fn remote_branches_and_tags_resolve_and_deleted_ones_vanish() {
        let remote = remote_with_main();
        write(&remote.work, "a.yaml", "main");
        let main = commit_all(&remote.work, "main");
        git(&remote.work, &["tag", "v1"]);
        git(&remote.work, &["checkout", "-q", "-b", "feature"]);
        write(&remote.work, "a.yaml", "feature");
        let feature = commit_all(&remote.work, "feature");
        git(
            &remote.work,
            &["push", "-q", "origin", "main", "feature", "v1"],
        );
        let auth = Auth::default();

        let source = from_remote(&remote.url, "feature", &remote.cache, None, &auth).unwrap();
        assert_eq!(source.commit, feature);
        assert_eq!(bytes(&source, "a.yaml").as_deref(), Some("feature"));
        assert_eq!(
            from_remote(&remote.url, "v1", &remote.cache, None, &auth)
                .unwrap()
                .commit,
            main
        );
        // HEAD is the remote's default branch, not whatever was fetched last.
        assert_eq!(
            from_remote(&remote.url, "HEAD", &remote.cache, None, &auth)
                .unwrap()
                .commit,
            main
        );

        let err = from_remote(&remote.url, "nope", &remote.cache, None, &auth).unwrap_err();
        assert!(
            matches!(err, Error::RemoteRevisionNotFound { .. }),
            "{err:?}"
        );
        assert!(err.to_string().contains("`nope`"));

        git(
            &remote.work,
            &["push", "-q", "origin", "--delete", "feature"],
        );
        let err = from_remote(&remote.url, "feature", &remote.cache, None, &auth).unwrap_err();
        assert!(
            matches!(err, Error::RemoteRevisionNotFound { .. }),
            "{err:?}"
        );
    }

    #[test]
    fn bad_remote_urls_are_errors() {
        let cache = tempfile::tempdir().unwrap();
        let err =
            from_remote("not a url", "main", cache.path(), None, &Auth::default()).unwrap_err();
        assert!(matches!(err, Error::NotAUrl { .. }), "{err:?}");
        let missing = format!("file://{}/missing", cache.path().display());
        let err = from_remote(&missing, "main", cache.path(), None, &Auth::default()).unwrap_err();
        assert!(matches!(err, Error::Fetch { .. }), "{err:?}");
    }

    #[test]
    fn git_urls_are_told_from_paths() {
        for url in [
            "https://github.com/org/repo.git",
            "HTTPS://github.com/org/repo",
            "ssh://git@github.com/org/repo.git",
            "git@github.com:org/repo.git",
            "host:repo",
            "file:///srv/git/repo.git",
        ] {
            assert!(is_git_url(url), "{url}");
        }
        for path in [
            "examples/homelab",
            ".",
            "/srv/repo",
            "./a:b",
            "C:\\repos\\x",
            "C:/repos/x",
            "https://",
            "a b:c",
        ] {
            assert!(!is_git_url(path), "{path}");
        }
    }

    #[test]
    fn urls_are_shown_without_passwords() {
        assert_eq!(
            redact_url("https://ghp_secret@github.com/org/repo.git"),
            "https://***@github.com/org/repo.git"
        );
        assert_eq!(redact_url("https://u:p@host/x"), "https://***@host/x");
        assert_eq!(redact_url("ssh://git@host/x"), "ssh://git@host/x");
        assert_eq!(redact_url("ssh://git:pw@host/x"), "ssh://git:***@host/x");
        assert_eq!(redact_url("git@host:org/x.git"), "git@host:org/x.git");
        assert_eq!(redact_url("https://host/a@b"), "https://host/a@b");
        assert_eq!(mirror_name("https://host/x"), mirror_name("https://host/x"));
        assert_ne!(mirror_name("https://host/x"), mirror_name("https://host/y"));
    }

    const TOKEN: &str = "tok-3f9a-very-secret";

    fn https_credentials(token: Option<&str>) -> Credentials {
        Credentials::new(
            &Auth::default(),
            "https://host/x",
            token.map(|t| Secret::new(t.to_string())),
            None,
        )
    }

    #[test]
    fn token_is_offered_once_then_rejected_clearly() {
        let mut creds = https_credentials(Some(TOKEN));
        let pass = CredentialType::USER_PASS_PLAINTEXT;
        assert!(creds.next("https://host/x", None, pass).is_ok());
        let err = creds.next("https://host/x", None, pass).err().unwrap();
        let reason = creds.failure.clone().unwrap();
        assert!(
            reason.contains("rejected the token from GIT_TOKEN"),
            "{reason}"
        );
        assert!(!err.message().contains(TOKEN) && !reason.contains(TOKEN));
        assert_eq!(
            creds.scrub(&format!("server said {TOKEN}")),
            "server said (redacted)"
        );
    }

    #[test]
    fn missing_token_and_plain_http_are_refused() {
        let mut creds = https_credentials(None);
        assert!(creds
            .next("https://host/x", None, CredentialType::USER_PASS_PLAINTEXT)
            .is_err());
        assert!(creds.failure.unwrap().contains("set GIT_TOKEN"));

        let mut creds = https_credentials(Some(TOKEN));
        assert!(creds
            .next("http://host/x", None, CredentialType::USER_PASS_PLAINTEXT)
            .is_err());
        assert!(creds.failure.unwrap().contains("unencrypted"));
    }

    #[test]
    fn credential_retries_are_capped() {
        let mut creds = https_credentials(None);
        // libgit2 asks for a user name again and again when nothing else is accepted.
        let results: Vec<bool> = (0..6)
            .map(|_| {
                creds
                    .next("ssh://host/x", None, CredentialType::USERNAME)
                    .is_ok()
            })
            .collect();
        assert_eq!(results, vec![true, true, true, true, false, false]);
        assert!(creds.failure.unwrap().contains("rejected 4 times"));

        let mut creds = https_credentials(None);
        let auth_key = CredentialType::SSH_KEY;
        assert!(creds.next("ssh://host/x", Some("git"), auth_key).is_ok());
        assert!(creds.next("ssh://host/x", Some("git"), auth_key).is_err());
        assert!(creds.failure.unwrap().contains("ssh agent"));
    }

    #[test]
    fn auth_debug_shows_names_only() {
        let auth = Auth {
            ssh_key: Some(PathBuf::from("/keys/deploy")),
            ..Auth::default()
        };
        let shown = format!("{auth:?}");
        assert!(
            shown.contains("GIT_TOKEN") && shown.contains("/keys/deploy"),
            "{shown}"
        );
    }
}
