//! The bare mirror cache of remote repositories: opening it, fetching into it
//! (with the credentials callback), and resolving a revision against its refs.

use std::cell::RefCell;
use std::path::Path;

use git2::{AutotagOption, Commit, FetchOptions, FetchPrune, RemoteCallbacks, Repository};
use tracing::debug;

use super::commit::peel_to_commit;
use super::credentials::Credentials;
use super::url::mirror_name;
use super::Error;

/// Opens the bare mirror for `url` in `cache_dir`, creating it on first use.
pub(super) fn open_mirror(cache_dir: &Path, url: &str) -> Result<Repository, Error> {
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
pub(super) fn fetch(
    repo: &Repository,
    url: &str,
    shown: &str,
    credentials: Credentials,
) -> Result<(), Error> {
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
pub(super) fn resolve_remote_rev<'r>(
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
