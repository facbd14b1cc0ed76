//! One commit's tree read into a [`FileSet`]: following links inside the
//! repository (and refusing those that leave it or loop), skipping submodules,
//! applying the size limits the directory reader applies.

use std::collections::VecDeque;
use std::path::Path;

use chrono::{DateTime, FixedOffset, Offset, Utc};
use git2::{Commit, Oid, Repository, Tree};
use tracing::warn;

use super::{Error, GitSource};
use crate::source::{Entry, FileSet, MAX_FILE_BYTES};

/// Links followed in a row before the chain counts as a loop (Linux allows 40; a
/// manifest repository needs few, and a loop should fail fast).
pub(super) const MAX_LINK_HOPS: usize = 8;

/// Git file modes of tree entries (`git ls-tree` shows them).
pub(super) mod mode {
    pub const TREE: i32 = 0o040000;
    pub const BLOB: i32 = 0o100644;
    pub const BLOB_GROUP_WRITABLE: i32 = 0o100664;
    pub const BLOB_EXECUTABLE: i32 = 0o100755;
    pub const LINK: i32 = 0o120000;
    pub const COMMIT: i32 = 0o160000;
}

/// The commit an object names (annotated tags are peeled), or [`Error::NotACommit`].
pub(super) fn peel_to_commit<'r>(
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
pub(super) fn workdir_prefix(repo: &Repository, repo_path: &Path) -> Vec<String> {
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
/// (the rule of [`crate::source::subdir_components`], shared with directory mode).
pub(super) fn normalise_subdir(subdir: &str) -> Result<Vec<String>, Error> {
    crate::source::subdir_components(subdir).ok_or_else(|| Error::InvalidSubdir {
        subdir: subdir.to_string(),
    })
}

/// The 12-digit abbreviation used in labels and messages.
pub(super) fn short(sha: &str) -> &str {
    sha.get(..12).unwrap_or(sha)
}

/// A git timestamp with its offset; out-of-range values (a corrupt commit) become the epoch in UTC.
pub(super) fn git_time(time: git2::Time) -> DateTime<FixedOffset> {
    let offset =
        FixedOffset::east_opt(time.offset_minutes().saturating_mul(60)).unwrap_or(Utc.fix());
    DateTime::from_timestamp(time.seconds(), 0)
        .unwrap_or(DateTime::UNIX_EPOCH)
        .with_timezone(&offset)
}

/// Reads `commit` below `prefix` (repository-relative components) into a [`GitSource`]
/// with an empty label; `max_total` is `source::max_total_bytes()` except in tests.
pub(super) fn read_commit(
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
pub(super) struct Walk<'r> {
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
pub(super) enum Resolved {
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
pub(super) struct Reader<'r> {
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
