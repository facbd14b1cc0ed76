//! Text made safe for a GitHub comment: our prose with `<code>` spans, code
//! spans, and HTML escaping that also stops markdown from reading emphasis,
//! links or mentions into names.

/// A sentence of ours that marks commands with backticks: the marked spans
/// become `<code>` (so GitHub shows them as code, not as escaped backticks),
/// the rest is escaped as [`html`]. Unbalanced backticks are text.
pub(super) fn prose(s: &str) -> String {
    let parts: Vec<&str> = s.split('`').collect();
    if parts.len().is_multiple_of(2) {
        return html(s);
    }
    parts
        .iter()
        .enumerate()
        .map(|(i, p)| if i % 2 == 1 { code(p) } else { html(p) })
        .collect()
}

/// Inline HTML code: safe in table cells, `<summary>` and running text.
pub(super) fn code(s: &str) -> String {
    format!("<code>{}</code>", html(s))
}

/// Escapes text for inline use in markdown and HTML: HTML's specials, markdown's
/// emphasis, link, code, table and escape characters become entities (which
/// neither language interprets), and line breaks become spaces.
pub(super) fn html(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars().peekable();
    let mut prev = None;
    while let Some(ch) = chars.next() {
        match ch {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            '`' => out.push_str("&#96;"),
            '|' => out.push_str("&#124;"),
            '*' => out.push_str("&#42;"),
            '_' if !intraword(prev, chars.peek().copied()) => out.push_str("&#95;"),
            '[' => out.push_str("&#91;"),
            ']' => out.push_str("&#93;"),
            '\\' => out.push_str("&#92;"),
            '~' => out.push_str("&#126;"),
            // `@name` in a PR comment would notify that user or team.
            '@' => out.push_str("&#64;"),
            '\n' | '\r' => out.push(' '),
            // Other controls and direction overrides, visibly escaped.
            other => out.push_str(&crate::escape::text(other.encode_utf8(&mut [0; 4]))),
        }
        prev = Some(ch);
    }
    out
}

/// An underscore between two alphanumerics never opens or closes emphasis
/// (CommonMark's flanking rules), so `list_issues` stays readable.
pub(super) fn intraword(prev: Option<char>, next: Option<char>) -> bool {
    prev.is_some_and(char::is_alphanumeric) && next.is_some_and(char::is_alphanumeric)
}
