//! Git URLs: telling one from a local path, and writing one without its password.

use sha2::{Digest, Sha256};

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
pub(super) fn mirror_name(url: &str) -> String {
    let digest = Sha256::digest(url.trim().as_bytes());
    format!("{}.git", &hex::encode(digest)[..24])
}
