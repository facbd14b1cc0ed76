//! Reading commits and mirrors of real repositories made by `git`.

use super::commit::read_commit;
use super::credentials::Credentials;
use super::url::mirror_name;
use super::*;
use crate::crypto::Secret;
use crate::source::{Entry, MAX_FILE_BYTES};
use git2::CredentialType;
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
    let source = from_commit(&dir.path().join("deploy"), "HEAD", Some("manifests/tools")).unwrap();
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

    let two = from_remote(&remote.url, "main", &remote.cache, Some("manifests"), &auth).unwrap();
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
    let err = from_remote("not a url", "main", cache.path(), None, &Auth::default()).unwrap_err();
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
