//! git's `allowed_signers` file (ssh-keygen(1), "ALLOWED SIGNERS"): who may
//! sign, with which key. One entry per line — principals, optional options,
//! key type, base64 key — `#` comments and blank lines ignored.
//!
//! Principals are pattern lists (`*`, `?`, `!`-negation). An approval pin is
//! checked for the principal `EMAIL` (may approve every tool) and
//! `EMAIL/SERVER` (may approve that server's tools), so a line's principals
//! say who approves what: `alice@example.com` everything,
//! `bob@example.com/weather*` only servers whose name starts with `weather`.
//! Options honoured: `namespaces` (must allow `mcpbox-gitops`),
//! `valid-after`/`valid-before` (against the pin's `approvedAt`);
//! `cert-authority` lines are reported and skipped (certificates are not
//! supported). Verifying a signature lives in `signing`.

use ssh_key::PublicKey;

/// One usable line.
#[derive(Debug, Clone)]
pub struct Signer {
    /// 1-based line in the file.
    pub line: usize,
    /// The principals pattern list, as written.
    pub principals: String,
    /// `namespaces=` patterns, if given.
    pub namespaces: Option<String>,
    /// `valid-after`, as `YYYYMMDDHHMMSS` (UTC) for comparison.
    pub valid_after: Option<String>,
    /// `valid-before`, likewise.
    pub valid_before: Option<String>,
    /// The key.
    pub key: PublicKey,
}

/// A parsed file: its usable lines and what was skipped.
#[derive(Debug, Clone, Default)]
pub struct AllowedSigners {
    /// Where it was read (a path in the repository).
    pub file: String,
    /// Usable entries.
    pub signers: Vec<Signer>,
    /// Lines skipped, with why (shown as plan notes).
    pub skipped: Vec<String>,
}

impl AllowedSigners {
    /// Parses the file's text. Never fails: a bad line is skipped and listed.
    pub fn parse(file: &str, text: &str) -> AllowedSigners {
        let mut out = AllowedSigners {
            file: file.to_string(),
            ..Default::default()
        };
        for (i, raw) in text.lines().enumerate() {
            let line = raw.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            match parse_line(line) {
                Ok(Some(mut s)) => {
                    s.line = i + 1;
                    out.signers.push(s);
                }
                Ok(None) => out.skipped.push(format!(
                    "{file}:{}: a cert-authority line; certificates are not supported, the line is ignored",
                    i + 1
                )),
                Err(why) => out
                    .skipped
                    .push(format!("{file}:{}: {why}; the line is ignored", i + 1)),
            }
        }
        out
    }

    /// The entries whose key is `key` and that allow `identity` (see the
    /// module doc) in our namespace at time `at` (`YYYYMMDDHHMMSS`).
    pub fn allowing<'a>(
        &'a self,
        key: &'a ssh_key::public::KeyData,
        identities: &'a [String],
        at: &'a str,
    ) -> impl Iterator<Item = &'a Signer> + 'a {
        self.signers.iter().filter(move |s| {
            s.key.key_data() == key
                && identities
                    .iter()
                    .any(|id| pattern_list_matches(&s.principals, id))
                && s.namespaces
                    .as_deref()
                    .is_none_or(|ns| pattern_list_matches(ns, super::NAMESPACE))
                && s.valid_after.as_deref().is_none_or(|t| at >= t)
                && s.valid_before.as_deref().is_none_or(|t| at < t)
        })
    }

    /// Whether any entry lists `key` at all.
    pub fn knows(&self, key: &ssh_key::public::KeyData) -> bool {
        self.signers.iter().any(|s| s.key.key_data() == key)
    }
}

/// Splits a line into whitespace-separated tokens, keeping double-quoted
/// stretches (with their quotes) inside one token.
fn tokens(line: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut quoted = false;
    for c in line.chars() {
        match c {
            '"' => {
                quoted = !quoted;
                cur.push(c);
            }
            c if c.is_whitespace() && !quoted => {
                if !cur.is_empty() {
                    out.push(std::mem::take(&mut cur));
                }
            }
            c => cur.push(c),
        }
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    out
}

fn is_key_type(t: &str) -> bool {
    t.starts_with("ssh-")
        || t.starts_with("ecdsa-")
        || t.starts_with("sk-ssh-")
        || t.starts_with("sk-ecdsa-")
}

/// One line; `Ok(None)` for a cert-authority line.
fn parse_line(line: &str) -> Result<Option<Signer>, String> {
    let t = tokens(line);
    let principals = t.first().ok_or("empty")?.trim_matches('"').to_string();
    let (options, key_at) = match t.get(1) {
        Some(second) if !is_key_type(second) => (Some(second.as_str()), 2),
        _ => (None, 1),
    };
    let key_type = t.get(key_at).ok_or("no key type")?;
    let key_b64 = t.get(key_at + 1).ok_or("no key")?;
    let key = PublicKey::from_openssh(&format!("{key_type} {key_b64}"))
        .map_err(|e| format!("the key does not parse ({e})"))?;
    let mut signer = Signer {
        line: 0,
        principals,
        namespaces: None,
        valid_after: None,
        valid_before: None,
        key,
    };
    for opt in split_options(options.unwrap_or("")) {
        let (name, value) = match opt.split_once('=') {
            Some((n, v)) => (
                n.to_ascii_lowercase(),
                Some(v.trim_matches('"').to_string()),
            ),
            None => (opt.to_ascii_lowercase(), None),
        };
        match (name.as_str(), value) {
            ("cert-authority", None) => return Ok(None),
            ("namespaces", Some(v)) => signer.namespaces = Some(v),
            ("valid-after", Some(v)) => signer.valid_after = Some(timestamp(&v)?),
            ("valid-before", Some(v)) => signer.valid_before = Some(timestamp(&v)?),
            (other, _) => return Err(format!("unknown option `{other}`")),
        }
    }
    Ok(Some(signer))
}

/// Options are comma-separated; commas inside double quotes belong to a value.
fn split_options(options: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut quoted = false;
    for c in options.chars() {
        match c {
            '"' => {
                quoted = !quoted;
                cur.push(c);
            }
            ',' if !quoted => out.push(std::mem::take(&mut cur)),
            c => cur.push(c),
        }
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    out
}

/// `YYYYMMDD[HHMM[SS]][Z]` as `YYYYMMDDHHMMSS`. Times are taken as UTC (the
/// `Z` is accepted; local times are not, since the reconciler's time zone is
/// nobody's business).
fn timestamp(v: &str) -> Result<String, String> {
    let digits = v.strip_suffix(['Z', 'z']).unwrap_or(v);
    if !digits.chars().all(|c| c.is_ascii_digit()) || ![8, 12, 14].contains(&digits.len()) {
        return Err(format!("`{v}` is not a time (YYYYMMDD[HHMM[SS]][Z])"));
    }
    Ok(format!("{digits:0<14}"))
}

/// OpenSSH's `match_pattern_list`: true when some pattern matches and no
/// negated (`!`) pattern does. Case-insensitive (principals are e-mails).
pub fn pattern_list_matches(list: &str, subject: &str) -> bool {
    let subject = subject.to_lowercase();
    let mut matched = false;
    for pattern in list.split(',') {
        let pattern = pattern.trim().to_lowercase();
        if let Some(negated) = pattern.strip_prefix('!') {
            if glob(negated.as_bytes(), subject.as_bytes()) {
                return false;
            }
        } else if glob(pattern.as_bytes(), subject.as_bytes()) {
            matched = true;
        }
    }
    matched
}

/// `*` and `?` wildcards.
fn glob(p: &[u8], s: &[u8]) -> bool {
    let (mut pi, mut si) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while si < s.len() {
        match p.get(pi) {
            Some(b'*') => {
                star = Some((pi, si));
                pi += 1;
            }
            Some(&c) if c == b'?' || c == s[si] => {
                pi += 1;
                si += 1;
            }
            _ => match star {
                Some((sp, ss)) => {
                    pi = sp + 1;
                    si = ss + 1;
                    star = Some((sp, ss + 1));
                }
                None => return false,
            },
        }
    }
    p[pi..].iter().all(|&c| c == b'*')
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str =
        "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIN4kKOcz9YCpy78H0rooQMlE8xhY0yBJhNfmZyKQ/cgM";

    #[test]
    fn patterns_follow_openssh() {
        assert!(pattern_list_matches(
            "alice@example.com",
            "Alice@Example.com"
        ));
        assert!(pattern_list_matches(
            "*@example.com,!eve@example.com",
            "bob@example.com"
        ));
        assert!(!pattern_list_matches(
            "*@example.com,!eve@example.com",
            "eve@example.com"
        ));
        assert!(pattern_list_matches("bob@x/weather*", "bob@x/weather_eu"));
        assert!(!pattern_list_matches("bob@x/weather*", "bob@x"));
        assert!(!pattern_list_matches("bob@x/weather*", "bob@x/github"));
        assert!(pattern_list_matches("a?c", "abc"));
    }

    #[test]
    fn lines_with_options_and_bad_lines() {
        let text = format!(
            "# team\nalice@example.com {KEY}\n\"bob@x/weather*,bob@x/geo\" namespaces=\"git,mcpbox-gitops\",valid-after=\"20260101\" {KEY} bob's laptop\ncarol@x cert-authority {KEY}\ndave@x {KEY_BAD}\neve@x frobnicate {KEY}\n",
            KEY_BAD = "ssh-ed25519 AAAA"
        );
        let s = AllowedSigners::parse("allowed_signers", &text);
        assert_eq!(s.signers.len(), 2, "{:?}", s.skipped);
        assert_eq!(s.signers[0].line, 2);
        assert_eq!(s.signers[1].principals, "bob@x/weather*,bob@x/geo");
        assert_eq!(
            s.signers[1].namespaces.as_deref(),
            Some("git,mcpbox-gitops")
        );
        assert_eq!(s.signers[1].valid_after.as_deref(), Some("20260101000000"));
        assert_eq!(s.skipped.len(), 3, "{:?}", s.skipped);
        assert!(s.skipped[0].contains("allowed_signers:4: a cert-authority line"));
        assert!(s.skipped[1].contains(":5: the key does not parse"));
        assert!(s.skipped[2].contains(":6: unknown option `frobnicate`"));
    }
}
