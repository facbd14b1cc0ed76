//! Literal-secret detection: text that looks like a credential where git must only
//! hold names (`E060 literal-secret`).
//!
//! A manifest repository is read by every reviewer and CI job, so a token pasted
//! into it is leaked the moment it is pushed. This module recognises the shapes of
//! common credentials (GitHub, GitLab, Slack, OpenAI/Anthropic, AWS, Google, Stripe
//! keys, JWTs, PEM private keys, passwords inside URLs) and the field names that
//! would carry one. It only finds them; `load` and `validate` turn findings into
//! diagnostics whose snippets are masked and whose messages never quote the value.

/// One credential-looking stretch of text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    /// Byte offset in the scanned text.
    pub offset: usize,
    /// Length in bytes.
    pub len: usize,
    /// What it looks like, e.g. "a GitHub token" (never the value).
    pub what: &'static str,
}

/// A literal secret found in the repository, kept only to scrub it from every
/// message before anything is printed. Its `Debug` shows nothing.
#[derive(Clone, PartialEq, Eq)]
pub struct Literal(String);

impl Literal {
    /// Wraps found text.
    pub fn new(text: &str) -> Literal {
        Literal(text.to_string())
    }
}

impl std::fmt::Debug for Literal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Literal(***)")
    }
}

/// Replaces every found literal in the messages of `diags` with `(redacted)`, so
/// that no diagnostic quotes a secret even when it names the bad value.
pub fn scrub(diags: &mut [super::Diagnostic], literals: &[Literal]) {
    for d in diags.iter_mut() {
        for Literal(secret) in literals {
            if secret.is_empty() {
                continue;
            }
            if d.message.contains(secret.as_str()) {
                d.message = d.message.replace(secret.as_str(), "(redacted)");
            }
            if let Some(h) = &d.help {
                if h.contains(secret.as_str()) {
                    d.help = Some(h.replace(secret.as_str(), "(redacted)"));
                }
            }
        }
    }
}

/// Token prefixes and the minimum number of token characters that must follow.
const PREFIXES: &[(&str, usize, &str)] = &[
    ("ghp_", 30, "a GitHub token"),
    ("gho_", 30, "a GitHub token"),
    ("ghu_", 30, "a GitHub token"),
    ("ghs_", 30, "a GitHub token"),
    ("ghr_", 30, "a GitHub token"),
    ("github_pat_", 20, "a GitHub token"),
    ("glpat-", 20, "a GitLab token"),
    ("xoxb-", 10, "a Slack token"),
    ("xoxp-", 10, "a Slack token"),
    ("xoxa-", 10, "a Slack token"),
    ("xoxr-", 10, "a Slack token"),
    ("xoxs-", 10, "a Slack token"),
    ("sk-ant-", 20, "an Anthropic API key"),
    ("sk-proj-", 20, "an OpenAI API key"),
    ("sk-", 32, "an API secret key"),
    ("sk_live_", 16, "a Stripe key"),
    ("rk_live_", 16, "a Stripe key"),
    ("sk_test_", 16, "a Stripe key"),
    ("rk_test_", 16, "a Stripe key"),
    ("xoxe-", 10, "a Slack token"),
    ("npm_", 30, "an npm token"),
    ("pypi-", 40, "a PyPI token"),
    ("ya29.", 20, "a Google OAuth token"),
    ("dop_v1_", 40, "a DigitalOcean token"),
    ("AKIA", 16, "an AWS access key"),
    ("ASIA", 16, "an AWS access key"),
    ("AIza", 30, "a Google API key"),
    ("hf_", 30, "a Hugging Face token"),
];

/// Field names that would carry a secret value (compared lower-case, without
/// `_` and `-`).
const SECRET_FIELDS: &[&str] = &[
    "value",
    "secretvalue",
    "password",
    "passwd",
    "token",
    "apikey",
    "accesstoken",
    "secret",
    "privatekey",
    "credentials",
    "bearer",
];

/// Whether a field with this name holds a value, never a reference by name.
pub fn is_value_field(name: &str) -> bool {
    matches!(
        normalize(name).as_str(),
        "value" | "secretvalue" | "password" | "passwd" | "privatekey"
    )
}

fn normalize(name: &str) -> String {
    name.chars()
        .filter(|c| *c != '_' && *c != '-')
        .flat_map(char::to_lowercase)
        .collect()
}

/// Endings of field names that hold a secret value (`client_secret`,
/// `aws_secret_access_key`, `auth_token`, `db_password`…).
const SECRET_SUFFIXES: [&str; 8] = [
    "secret",
    "token",
    "password",
    "passwd",
    "apikey",
    "accesskey",
    "privatekey",
    "credentials",
];

/// Whether a field with this name would hold a secret value.
pub fn is_secret_field(name: &str) -> bool {
    let n = normalize(name);
    SECRET_FIELDS.contains(&n.as_str()) || SECRET_SUFFIXES.iter().any(|s| n.ends_with(s))
}

/// `text` with every credential-looking stretch (see [`scan`]) and the value of
/// every secret-named `key: value` line replaced by `*`, byte for byte, so that
/// offsets into it stay valid. For showing source lines around a diagnostic.
pub fn mask(text: &str) -> String {
    let mut spans: Vec<(usize, usize)> = scan(text)
        .iter()
        .map(|f| (f.offset, f.offset + f.len))
        .collect();
    let mut line_start = 0;
    for line in text.split_inclusive('\n') {
        let body = line.trim_end_matches(['\n', '\r']);
        let stripped = body.trim_start().trim_start_matches("- ").trim_start();
        if let Some(colon) = stripped.find(':') {
            let key = stripped[..colon].trim().trim_matches(['"', '\'']);
            // Where the value starts in `body`, after `key:` and blanks.
            let after = body.len() - stripped.len() + colon + 1;
            let value_at = after + (body[after..].len() - body[after..].trim_start().len());
            let value = body[value_at..].trim_end();
            let literal =
                !value.is_empty() && !value.starts_with(['{', '[', '|', '>', '#', '&', '*']);
            let unquoted = value.trim_matches(['"', '\'']);
            if literal
                && is_secret_field(key)
                && (is_value_field(key) || !crate::rules::names::is_secret_name(unquoted))
            {
                spans.push((line_start + value_at, line_start + value_at + value.len()));
            }
        }
        line_start += line.len();
    }
    let mut bytes = text.as_bytes().to_vec();
    for (from, to) in spans {
        for b in bytes.iter_mut().take(to.min(text.len())).skip(from) {
            // Every byte of a masked character becomes `*`: lengths stay equal.
            *b = b'*';
        }
    }
    String::from_utf8(bytes).unwrap_or_else(|_| "*".repeat(text.len()))
}

fn is_token_char(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_' || b == b'-'
}

/// Finds credential-looking text.
pub fn scan(text: &str) -> Vec<Finding> {
    let bytes = text.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        // A token must start at a word boundary.
        let boundary = i == 0 || !is_token_char(bytes[i - 1]);
        if boundary && text.is_char_boundary(i) {
            if let Some(f) = token_at(text, i) {
                i = f.offset + f.len;
                out.push(f);
                continue;
            }
        }
        i += 1;
    }
    out.extend(pem_keys(text));
    out.extend(url_passwords(text));
    out.extend(query_tokens(text));
    out.sort_by_key(|f| f.offset);
    out.dedup_by_key(|f| f.offset);
    out
}

/// Whether some token shape (a prefix of [`PREFIXES`], or a JWT's `ey`) starts
/// with these two bytes: most positions of a file are ruled out by one table
/// look-up instead of thirty string comparisons.
fn may_start_token(a: u8, b: u8) -> bool {
    static TABLE: std::sync::OnceLock<Vec<bool>> = std::sync::OnceLock::new();
    let table = TABLE.get_or_init(|| {
        let mut t = vec![false; 1 << 16];
        let pairs = PREFIXES
            .iter()
            .map(|(p, _, _)| p.as_bytes())
            .chain(std::iter::once("eyJ".as_bytes()));
        for p in pairs {
            // Every prefix has at least two bytes.
            if let [a, b, ..] = p {
                t[(usize::from(*a) << 8) | usize::from(*b)] = true;
            }
        }
        t
    });
    table[(usize::from(a) << 8) | usize::from(b)]
}

fn token_at(text: &str, i: usize) -> Option<Finding> {
    let bytes = text.as_bytes();
    match bytes.get(i..i + 2) {
        Some([a, b]) if may_start_token(*a, *b) => {}
        _ => return None,
    }
    let rest = &text[i..];
    for (prefix, min, what) in PREFIXES {
        if !rest.starts_with(prefix) {
            continue;
        }
        let body = bytes[i + prefix.len()..]
            .iter()
            .take_while(|b| is_token_char(**b))
            .count();
        let body_text = &rest[prefix.len()..prefix.len() + body];
        // Real tokens mix letters and digits; `sk-my-project-name` does not.
        let has_digit = body_text.bytes().any(|b| b.is_ascii_digit());
        let has_alpha = body_text.bytes().any(|b| b.is_ascii_alphabetic());
        if body >= *min && has_digit && has_alpha {
            return Some(Finding {
                offset: i,
                len: prefix.len() + body,
                what,
            });
        }
    }
    jwt_at(text, i)
}

/// A JSON Web Token: three base64url parts, the first two starting `eyJ`.
fn jwt_at(text: &str, i: usize) -> Option<Finding> {
    let rest = &text[i..];
    if !rest.starts_with("eyJ") {
        return None;
    }
    let b64 = |s: &str| {
        s.bytes()
            .take_while(|b| b.is_ascii_alphanumeric() || *b == b'_' || *b == b'-')
            .count()
    };
    let a = b64(rest);
    let second = rest.get(a + 1..)?;
    if rest.as_bytes().get(a) != Some(&b'.') || !second.starts_with("eyJ") || a < 10 {
        return None;
    }
    let b = b64(second);
    let third = second.get(b + 1..)?;
    if second.as_bytes().get(b) != Some(&b'.') || b < 10 {
        return None;
    }
    let c = b64(third);
    (c >= 10).then(|| Finding {
        offset: i,
        len: a + 1 + b + 1 + c,
        what: "a JSON Web Token",
    })
}

fn pem_keys(text: &str) -> Vec<Finding> {
    let mut out = Vec::new();
    let mut from = 0;
    while let Some(pos) = text[from..].find("-----BEGIN ") {
        let at = from + pos;
        let line_end = text[at..].find('\n').map_or(text.len(), |e| at + e);
        if text[at..line_end].contains("PRIVATE KEY-----") {
            // The whole block, up to the end of its END line.
            let end = text[line_end..]
                .find("-----END ")
                .map(|e| line_end + e)
                .and_then(|e| text[e..].find('\n').map(|n| e + n).or(Some(text.len())))
                .unwrap_or(line_end);
            out.push(Finding {
                offset: at,
                len: end - at,
                what: "a private key",
            });
            from = end.max(at + 1);
            continue;
        }
        from = line_end.max(at + 1);
    }
    out
}

/// `?access_token=…`, `&api_key=…`: a credential in a query string.
fn query_tokens(text: &str) -> Vec<Finding> {
    let mut out = Vec::new();
    for name in ["access_token=", "api_key=", "apikey=", "token=", "key="] {
        let mut from = 0;
        while let Some(pos) = text[from..].find(name) {
            let at = from + pos;
            let before = text[..at].chars().next_back();
            let start = at + name.len();
            if matches!(before, Some('?') | Some('&')) {
                let len = text[start..]
                    .bytes()
                    .take_while(|b| is_token_char(*b) || *b == b'.' || *b == b'~')
                    .count();
                if len >= 16 {
                    out.push(Finding {
                        offset: start,
                        len,
                        what: "a credential in a URL query",
                    });
                }
            }
            from = start;
        }
    }
    out
}

/// `scheme://user:password@host`: a password inside a URL.
fn url_passwords(text: &str) -> Vec<Finding> {
    let mut out = Vec::new();
    let mut from = 0;
    while let Some(pos) = text[from..].find("://") {
        let start = from + pos + 3;
        let authority_end = text[start..]
            .find(|c: char| {
                c == '/' || c == '?' || c == '#' || c.is_whitespace() || c == '"' || c == '\''
            })
            .map_or(text.len(), |e| start + e);
        let authority = &text[start..authority_end];
        if let Some(at) = authority.rfind('@') {
            if let Some(colon) = authority[..at].find(':') {
                let password = &authority[colon + 1..at];
                // `${VAR}`-style references are not literal values.
                if !password.is_empty() && !password.starts_with('$') {
                    out.push(Finding {
                        offset: start + colon + 1,
                        len: password.len(),
                        what: "a password inside a URL",
                    });
                }
            }
        }
        from = start;
    }
    out
}

/// Whether a secret *name* is in fact a value: a token, or a long random-looking
/// string (names are short upper-case words like `GITHUB_TOKEN`).
pub fn name_looks_like_value(name: &str) -> bool {
    if !scan(name).is_empty() {
        return true;
    }
    let len = name.chars().count();
    let lower = name.bytes().any(|b| b.is_ascii_lowercase());
    let upper = name.bytes().any(|b| b.is_ascii_uppercase());
    let digits = name.bytes().filter(|b| b.is_ascii_digit()).count();
    len >= 20 && lower && upper && digits >= 2 && !name.contains(' ')
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The two-byte filter in front of `token_at` needs every prefix to have two
    /// bytes; and it must pass each prefix's start.
    #[test]
    fn every_prefix_passes_the_two_byte_filter() {
        for (p, _, _) in PREFIXES {
            let b = p.as_bytes();
            assert!(b.len() >= 2, "{p}");
            assert!(may_start_token(b[0], b[1]), "{p}");
        }
        assert!(!may_start_token(b'q', b'q'));
    }

    #[test]
    fn finds_common_tokens_at_their_offset() {
        let gh = format!("ghp_{}", "aB3dE5gH7jK9mN1pQ3sT5vW7yZ9bC1dE3fG5");
        let text = format!("description: use {gh} here");
        let f = scan(&text);
        assert_eq!(f.len(), 1);
        assert_eq!(&text[f[0].offset..f[0].offset + f[0].len], gh);
        assert_eq!(f[0].what, "a GitHub token");
        assert_eq!(scan("AKIAIOSFODNN7EXAMPLE")[0].what, "an AWS access key");
        let jwt = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U";
        assert_eq!(scan(jwt)[0].len, jwt.len());
        assert_eq!(
            scan("-----BEGIN OPENSSH PRIVATE KEY-----\nabc")[0].what,
            "a private key"
        );
        let url = "https://bot:hunter2@example.com/mcp";
        let f = scan(url);
        assert_eq!(&url[f[0].offset..f[0].offset + f[0].len], "hunter2");
    }

    #[test]
    fn ordinary_text_is_not_a_token() {
        for s in [
            "sk-my-project-name-that-is-long-enough-to-count",
            "task_ghp_notes",
            "https://example.com/path:with@at",
            "https://user:${TOKEN}@example.com",
            "AKIA",
            "GITHUB_TOKEN",
            "api.github.com",
        ] {
            assert!(scan(s).is_empty(), "{s}");
        }
    }

    #[test]
    fn more_shapes_comments_and_masking() {
        for s in [
            "sk_test_51HaQ9e2eZvKYlo2C0aB3dE5g",
            "xoxe-1-My0xMjM0NTY3ODkw",
            "npm_aB3dE5gH7jK9mN1pQ3sT5vW7yZ9bC1dE3fG5",
            "ya29.a0AfH6SMBx3v9Q2kLmN8pQ",
            "https://api.example.com/v1?access_token=aB3dE5gH7jK9mN1pQ3sT",
        ] {
            assert_eq!(scan(s).len(), 1, "{s}");
        }
        assert!(is_secret_field("client_secret") && is_secret_field("aws_secret_access_key"));
        assert!(is_secret_field("auth_token") && !is_secret_field("description"));
        let pem = "key: |\n  -----BEGIN RSA PRIVATE KEY-----\n  MIIEow\n  -----END RSA PRIVATE KEY-----\nnext: 1\n";
        let f = scan(pem);
        assert!(pem[f[0].offset..f[0].offset + f[0].len].contains("MIIEow"));
        let text = "a: 1\n  password: hunter2\n# ghp_aB3dE5gH7jK9mN1pQ3sT5vW7yZ9bC1dE3fG5\ntoken: GITHUB_TOKEN\nname: é\n";
        let m = mask(text);
        assert_eq!(m.len(), text.len());
        assert!(!m.contains("hunter2") && !m.contains("ghp_aB3d"), "{m}");
        assert!(
            m.contains("token: GITHUB_TOKEN") && m.contains("name: é"),
            "{m}"
        );
    }

    #[test]
    fn secret_names_and_fields() {
        assert!(name_looks_like_value("aB3dE5gH7jK9mN1pQ3sT5"));
        assert!(!name_looks_like_value("HOME_ASSISTANT_TOKEN"));
        assert!(is_secret_field("api_key"));
        assert!(is_secret_field("Value"));
        assert!(!is_secret_field("description"));
    }
}
