//! Writing a parsed tree back in the one canonical layout: two-space
//! indentation, lists indented under their key, keys in declared order,
//! strings plain where YAML reads them back as the same string and
//! double-quoted otherwise, multi-line strings as literal blocks (`|`), one
//! space before a trailing comment, at most one blank line in a row.
//! Reading the tree lives in `tree`.

use super::order::Ctx;
use super::tree::{Aside, Document, Entry, Item, Node, Scalar};

/// Writes `docs` (the documents of one file) in canonical form.
pub fn emit(docs: &[Document], root: impl Fn(&Node) -> Ctx) -> String {
    let mut out = Out::default();
    for (i, doc) in docs.iter().enumerate() {
        if i > 0 {
            out.line(0, "---");
        }
        out.asides(0, &doc.before, i == 0);
        let ctx = root(&doc.root);
        match &doc.root {
            Node::Map(entries) if !entries.is_empty() => out.map(entries, 0, ctx, false),
            Node::Seq(items) if !items.is_empty() => out.seq(items, 0, ctx, false),
            Node::Map(_) => out.line(0, "{}"),
            Node::Seq(_) => out.line(0, "[]"),
            Node::Scalar(s) => {
                let mut text = String::new();
                scalar(&mut text, s, 0);
                out.push_raw(&text);
            }
        }
        out.asides(0, &doc.after, false);
    }
    out.text
}

#[derive(Default)]
struct Out {
    text: String,
}

impl Out {
    fn line(&mut self, indent: usize, s: &str) {
        self.indent(indent);
        self.text.push_str(s);
        self.text.push('\n');
    }

    fn indent(&mut self, n: usize) {
        self.text.extend(std::iter::repeat_n(' ', n));
    }

    /// Appends already-indented text that ends with a newline.
    fn push_raw(&mut self, s: &str) {
        self.text.push_str(s);
        if !s.ends_with('\n') {
            self.text.push('\n');
        }
    }

    fn asides(&mut self, indent: usize, asides: &[Aside], at_start: bool) {
        for (i, a) in asides.iter().enumerate() {
            match a {
                Aside::Blank if at_start && i == 0 => {}
                Aside::Blank => self.text.push('\n'),
                Aside::Comment(c) => self.line(indent, c),
            }
        }
    }

    fn trailing(&mut self, comment: Option<&String>) {
        if let Some(c) = comment {
            // Before the newline the value wrote.
            if self.text.ends_with('\n') {
                self.text.pop();
            }
            self.text.push(' ');
            self.text.push_str(c);
            self.text.push('\n');
        }
    }

    /// A mapping's entries at `indent`; with `inline_first` the first entry
    /// follows a `- ` already written.
    fn map(&mut self, entries: &[Entry], indent: usize, ctx: Ctx, inline_first: bool) {
        let keys: Vec<&str> = entries.iter().map(|e| e.key.value.as_str()).collect();
        let order = super::order::canonical(ctx, &keys);
        for (n, &i) in order.iter().enumerate() {
            let e = &entries[i];
            if !(inline_first && n == 0) {
                self.asides(indent, &e.before, false);
                self.indent(indent);
            }
            key(&mut self.text, &e.key);
            self.text.push(':');
            let child = if ctx.opaque_child(&e.key.value) {
                Ctx::Free
            } else {
                ctx.child(&e.key.value)
            };
            match &e.value {
                Node::Scalar(s) => {
                    if !(s.is_plain() && s.value.is_empty()) {
                        self.text.push(' ');
                    }
                    scalar(&mut self.text, s, indent);
                    self.trailing(e.trailing.as_ref());
                }
                Node::Map(m) if m.is_empty() => {
                    self.text.push_str(" {}\n");
                    self.trailing(e.trailing.as_ref());
                }
                Node::Seq(s) if s.is_empty() => {
                    self.text.push_str(" []\n");
                    self.trailing(e.trailing.as_ref());
                }
                Node::Map(m) => {
                    self.text.push('\n');
                    self.trailing(e.trailing.as_ref());
                    self.map(m, indent + 2, child, false);
                }
                Node::Seq(items) => {
                    self.text.push('\n');
                    self.trailing(e.trailing.as_ref());
                    self.seq(items, indent + 2, child, false);
                }
            }
        }
        // Comments that closed the mapping close it still, whatever key now
        // comes last.
        if let Some(last) = entries.last() {
            self.asides(indent, &last.after, false);
        }
    }

    fn seq(&mut self, items: &[Item], indent: usize, ctx: Ctx, inline_first: bool) {
        for (n, item) in items.iter().enumerate() {
            if !(inline_first && n == 0) {
                self.asides(indent, &item.before, false);
                self.indent(indent);
            }
            self.text.push('-');
            match &item.value {
                Node::Scalar(s) => {
                    if !(s.is_plain() && s.value.is_empty()) {
                        self.text.push(' ');
                    }
                    scalar(&mut self.text, s, indent);
                    self.trailing(item.trailing.as_ref());
                }
                Node::Map(m) if m.is_empty() => self.text.push_str(" {}\n"),
                Node::Seq(s) if s.is_empty() => self.text.push_str(" []\n"),
                Node::Map(m) => {
                    self.text.push(' ');
                    self.map(m, indent + 2, ctx, true);
                }
                Node::Seq(inner) => {
                    self.text.push(' ');
                    self.seq(inner, indent + 2, ctx, true);
                }
            }
            self.asides(indent, &item.after, false);
        }
    }
}

fn key(out: &mut String, k: &Scalar) {
    if k.is_plain() {
        out.push_str(&k.value);
    } else {
        out.push_str(&string(&k.value));
    }
}

/// A scalar value after `key: ` or `- `, ending with a newline. `indent` is
/// the indentation of the line it starts on.
fn scalar(out: &mut String, s: &Scalar, indent: usize) {
    if s.is_plain() && !is_plain_string(&s.value) {
        // A number, boolean or null (or a string that happens to be safe):
        // kept exactly as written.
        out.push_str(&s.value);
        out.push('\n');
        return;
    }
    if s.value.contains('\n') {
        if let Some(block) = literal_block(&s.value, indent + 2) {
            out.push_str(&block);
            return;
        }
    }
    out.push_str(&string(&s.value));
    out.push('\n');
}

/// Whether a plain scalar's text reads back as a string (rather than as a
/// number, boolean or null); such a scalar is a string and may be re-quoted.
fn is_plain_string(text: &str) -> bool {
    !text.is_empty() && !resolves_to_non_string(text)
}

/// A string as a single-line scalar: plain when that reads back as the same
/// string under both YAML 1.1 and 1.2, double-quoted otherwise.
pub fn string(s: &str) -> String {
    if plain_safe(s) {
        return s.to_string();
    }
    let mut q = String::with_capacity(s.len() + 2);
    q.push('"');
    for c in s.chars() {
        match c {
            '"' => q.push_str("\\\""),
            '\\' => q.push_str("\\\\"),
            '\n' => q.push_str("\\n"),
            '\t' => q.push_str("\\t"),
            '\r' => q.push_str("\\r"),
            '\0' => q.push_str("\\0"),
            '\u{1b}' => q.push_str("\\e"),
            c if needs_escape(c) => {
                let n = c as u32;
                if n <= 0xff {
                    q.push_str(&format!("\\x{n:02x}"));
                } else {
                    q.push_str(&format!("\\u{n:04x}"));
                }
            }
            c => q.push(c),
        }
    }
    q.push('"');
    q
}

fn needs_escape(c: char) -> bool {
    c.is_control() || matches!(c, '\u{85}' | '\u{2028}' | '\u{2029}' | '\u{feff}')
}

/// Whether `s` can be written plain in block context and read back as the
/// same string.
fn plain_safe(s: &str) -> bool {
    let Some(first) = s.chars().next() else {
        return false;
    };
    if s.trim() != s || s.chars().any(|c| needs_escape(c) || c == '\t') {
        return false;
    }
    if "-?:,[]{}#&*!|>'\"%@`".contains(first) {
        return false;
    }
    if s.contains(": ") || s.contains(" #") || s.ends_with(':') {
        return false;
    }
    !resolves_to_non_string(s)
}

/// Whether a plain scalar would be read as something other than a string by
/// YAML 1.1 or 1.2 (null, boolean, number, timestamp, merge key).
fn resolves_to_non_string(s: &str) -> bool {
    const WORDS: &[&str] = &[
        "~", "null", "Null", "NULL", "true", "True", "TRUE", "false", "False", "FALSE", "y", "Y",
        "yes", "Yes", "YES", "n", "N", "no", "No", "NO", "on", "On", "ON", "off", "Off", "OFF",
        "=", "<<", ".inf", ".Inf", ".INF", "+.inf", "+.Inf", "+.INF", "-.inf", "-.Inf", "-.INF",
        ".nan", ".NaN", ".NAN",
    ];
    WORDS.contains(&s) || is_number(s) || is_timestamp(s)
}

fn is_number(s: &str) -> bool {
    let body = s.strip_prefix(['+', '-']).unwrap_or(s);
    if body.is_empty() {
        return false;
    }
    let digits =
        |t: &str, ok: fn(char) -> bool| !t.is_empty() && t.chars().all(|c| ok(c) || c == '_');
    if let Some(hex) = body.strip_prefix("0x") {
        return digits(hex, |c| c.is_ascii_hexdigit());
    }
    if let Some(oct) = body.strip_prefix("0o") {
        return digits(oct, |c| ('0'..='7').contains(&c));
    }
    if let Some(bin) = body.strip_prefix("0b") {
        return digits(bin, |c| c == '0' || c == '1');
    }
    // Sexagesimal (YAML 1.1): 1:30, 190:20:30.15
    if body.contains(':') {
        return body
            .split(':')
            .all(|p| digits(p.split('.').next().unwrap_or(""), |c| c.is_ascii_digit()));
    }
    // Decimal integer or float, with an optional exponent.
    let (mantissa, exponent) = match body.find(['e', 'E']) {
        Some(i) => (&body[..i], Some(&body[i + 1..])),
        None => (body, None),
    };
    let mantissa_ok = {
        let mut parts = mantissa.splitn(2, '.');
        let int = parts.next().unwrap_or("");
        let frac = parts.next();
        let int_ok = int.is_empty() || digits(int, |c| c.is_ascii_digit());
        let frac_ok = frac.is_none_or(|f| f.is_empty() || digits(f, |c| c.is_ascii_digit()));
        int_ok && frac_ok && (!int.is_empty() || frac.is_some_and(|f| !f.is_empty()))
    };
    let exponent_ok = exponent.is_none_or(|e| {
        let e = e.strip_prefix(['+', '-']).unwrap_or(e);
        !e.is_empty() && e.chars().all(|c| c.is_ascii_digit())
    });
    mantissa_ok && exponent_ok
}

fn is_timestamp(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() >= 8 && b[..4].iter().all(u8::is_ascii_digit) && b[4] == b'-'
}

/// A multi-line string as a literal block (`|`, `|-` or `|+`, with an
/// indentation indicator when its first line starts with a space), its lines
/// at `indent`; `None` when a literal block cannot hold it exactly.
fn literal_block(s: &str, indent: usize) -> Option<String> {
    if s.chars()
        .any(|c| (needs_escape(c) && c != '\n' && c != '\t') || c == '\r')
    {
        return None;
    }
    let body = s.trim_end_matches('\n');
    let newlines = s.len() - body.len();
    let chomp = match newlines {
        0 => "-",
        1 => "",
        _ => "+",
    };
    let first_content = body.lines().find(|l| !l.trim().is_empty()).unwrap_or("");
    if body.is_empty() || body.lines().all(|l| l.trim().is_empty()) {
        return None;
    }
    let indicator = if first_content.starts_with(' ') || body.starts_with(['\n', ' ']) {
        "2"
    } else {
        ""
    };
    // Lines of only spaces before the first content line would change the
    // detected indentation.
    if indicator.is_empty()
        && body
            .lines()
            .take_while(|l| l.trim().is_empty())
            .any(|l| !l.is_empty())
    {
        return None;
    }
    let mut out = format!("|{indicator}{chomp}\n");
    for line in s[..body.len()].split('\n') {
        if !line.is_empty() {
            out.extend(std::iter::repeat_n(' ', indent));
            out.push_str(line);
        }
        out.push('\n');
    }
    for _ in 1..newlines {
        out.push('\n');
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strings_are_quoted_only_when_plain_would_change_them() {
        for plain in [
            "hello",
            "api.github.com",
            "a#b",
            "GitHub REST API v3",
            "0a7eedd4",
            "x: y",
        ]
        .iter()
        .filter(|s| !s.contains(": "))
        {
            assert_eq!(string(plain), *plain, "{plain}");
        }
        for (s, quoted) in [
            ("443", "\"443\""),
            ("yes", "\"yes\""),
            ("", "\"\""),
            ("a: b", "\"a: b\""),
            ("- x", "\"- x\""),
            (" lead", "\" lead\""),
            ("2026-12-05T03:45:34Z", "\"2026-12-05T03:45:34Z\""),
            ("tab\there", "\"tab\\there\""),
            ("\"hi\" there", "\"\\\"hi\\\" there\""),
            ("1e3", "\"1e3\""),
            ("0x1F", "\"0x1F\""),
            ("~", "\"~\""),
            ("bell\u{7}", "\"bell\\x07\""),
        ] {
            assert_eq!(string(s), quoted, "{s:?}");
        }
    }

    #[test]
    fn multi_line_strings_become_literal_blocks_with_the_right_chomping() {
        assert_eq!(literal_block("a\nb\n", 2).as_deref(), Some("|\n  a\n  b\n"));
        assert_eq!(literal_block("a\nb", 2).as_deref(), Some("|-\n  a\n  b\n"));
        assert_eq!(
            literal_block("a\n\nb\n\n", 4).as_deref(),
            Some("|+\n    a\n\n    b\n\n")
        );
        assert_eq!(
            literal_block("  indented\nx\n", 2).as_deref(),
            Some("|2\n    indented\n  x\n")
        );
        assert_eq!(literal_block("cr\r\nlf\n", 2), None);
    }
}
