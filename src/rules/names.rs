//! MCPBox's name rules: tool and server names, secret keys, module names,
//! hosts the sandbox can match, HTTP header names. Pure predicates shared by
//! validation, the loader's secret scan and export.

use super::limits;

/// `^[a-z][a-z0-9_]*$`, MCPBox's tool (and LLM server) name rule.
pub fn is_snake_name(s: &str) -> bool {
    let mut chars = s.chars();
    matches!(chars.next(), Some('a'..='z'))
        && chars.all(|c| matches!(c, 'a'..='z' | '0'..='9' | '_'))
}

/// `^[A-Z][A-Z0-9_]*$`, MCPBox's secret key rule.
pub fn is_secret_name(s: &str) -> bool {
    let mut chars = s.chars();
    matches!(chars.next(), Some('A'..='Z'))
        && chars.all(|c| matches!(c, 'A'..='Z' | '0'..='9' | '_'))
}

/// `^[a-zA-Z_][a-zA-Z0-9_]*(\.[a-zA-Z_][a-zA-Z0-9_]*)*$`, MCPBox's admin module rule.
pub fn is_module_name(s: &str) -> bool {
    s.split('.').all(|part| {
        let mut chars = part.chars();
        matches!(chars.next(), Some('a'..='z' | 'A'..='Z' | '_'))
            && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
    })
}

/// Why a host is not something the sandbox can match, if it is not.
pub fn host_problem(host: &str) -> Option<String> {
    if host.is_empty() {
        return Some("host is empty".into());
    }
    if host.chars().count() > limits::NAME {
        return Some("host is longer than 255 characters".into());
    }
    if host.contains("://") || host.contains('/') {
        return Some(format!("`{host}` is a URL, not a host name"));
    }
    if host.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Some(format!("`{host}` contains white space"));
    }
    if host.chars().any(|c| c.is_uppercase()) {
        return Some(format!(
            "`{host}` has upper-case letters; the sandbox matches lower-case hosts only"
        ));
    }
    if host.ends_with('.') {
        return Some(format!(
            "`{host}` ends with a dot; the sandbox never matches it"
        ));
    }
    if host.contains(':') && !host.starts_with('[') {
        return Some(format!("`{host}` contains a port; give it as `port:`"));
    }
    // A non-ASCII host can look exactly like another in a review (a Cyrillic
    // `і` in `gіthub.com`) or hide an invisible character the sandbox will never
    // match: internationalised names are written as punycode.
    if !host.is_ascii() {
        return Some(format!(
            "`{}` has non-ASCII characters; write internationalised names in punycode (xn--…)",
            escape_non_ascii(host)
        ));
    }
    None
}

/// Non-ASCII characters shown as `\u{…}`, so a lookalike or an invisible
/// character is visible in the message.
fn escape_non_ascii(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c.is_ascii() {
                c.to_string()
            } else {
                format!("\\u{{{:x}}}", c as u32)
            }
        })
        .collect()
}

/// Whether `name` is an HTTP header field name (RFC 9110 `token`) of at most
/// 255 characters, as an ExternalSource's `auth.header` must be. `export` checks
/// MCPBox's header names with it too.
pub fn is_header_name(name: &str) -> bool {
    !name.is_empty()
        && name.chars().count() <= limits::NAME
        && name
            .chars()
            .all(|ch| ch.is_ascii_alphanumeric() || "!#$%&'*+-.^_`|~".contains(ch))
}
