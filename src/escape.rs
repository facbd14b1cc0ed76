//! Paths and names made safe to print: control characters, Unicode direction
//! overrides and bytes that are not UTF-8 are shown escaped, so a file name
//! cannot forge a line of output (a CI annotation such as `::error file=…`, a
//! fake plan line) or reorder what a reviewer reads.
//!
//! JSON output needs none of this (serde escapes); text and markdown do. What
//! markdown additionally escapes lives in the markdown renderer.

use std::borrow::Cow;
use std::fmt::Write;
use std::path::Path;

/// Whether `c` must not reach a terminal or a CI log as is.
fn is_unsafe(c: char) -> bool {
    c.is_control()
        // Bidirectional overrides and isolates ("Trojan Source").
        || matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}' | '\u{200E}' | '\u{200F}')
        // Line and paragraph separators end a line in some viewers.
        || matches!(c, '\u{2028}' | '\u{2029}')
}

/// `s` with every unsafe character escaped (`\n`, `\t`, `\r`, `\u{…}`); borrowed
/// when nothing needs escaping.
pub fn text(s: &str) -> Cow<'_, str> {
    if !s.chars().any(is_unsafe) {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        match c {
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if is_unsafe(c) => {
                let _ = write!(out, "\\u{{{:x}}}", c as u32);
            }
            c => out.push(c),
        }
    }
    Cow::Owned(out)
}

/// Raw bytes of a name: valid UTF-8 runs escaped as [`text`], every other byte
/// as `\xNN`.
pub fn bytes(raw: &[u8]) -> String {
    let mut out = String::with_capacity(raw.len());
    for chunk in raw.utf8_chunks() {
        out.push_str(&text(chunk.valid()));
        for b in chunk.invalid() {
            let _ = write!(out, "\\x{b:02x}");
        }
    }
    out
}

/// A filesystem path, escaped for printing (its bytes on Unix).
pub fn path(p: &Path) -> String {
    #[cfg(unix)]
    {
        use std::os::unix::ffi::OsStrExt;
        bytes(p.as_os_str().as_bytes())
    }
    #[cfg(not(unix))]
    {
        text(&p.to_string_lossy()).into_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_text_is_borrowed() {
        assert!(matches!(text("servers/github.yaml"), Cow::Borrowed(_)));
        assert_eq!(text("ünïcode/ok.yaml"), "ünïcode/ok.yaml");
    }

    #[test]
    fn controls_and_overrides_are_escaped() {
        assert_eq!(
            text("a\n::error file=x::forged.yaml"),
            "a\\n::error file=x::forged.yaml"
        );
        assert_eq!(text("a\u{1b}[31mred"), "a\\u{1b}[31mred");
        assert_eq!(text("x\u{202E}lmy.py"), "x\\u{202e}lmy.py");
        assert_eq!(text("tab\there\r"), "tab\\there\\r");
    }

    #[test]
    fn invalid_bytes_are_shown_as_hex() {
        assert_eq!(bytes(b"bad\xff\xfename.yaml"), "bad\\xff\\xfename.yaml");
        assert_eq!(bytes(b"ok\nx"), "ok\\nx");
    }
}
