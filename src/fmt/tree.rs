//! YAML text as a tree `fmt` can write back: scalars, mappings and sequences
//! with the source lines they start on, and each entry's comments and blank
//! lines attached to it, so that reordering keys carries a key's comments
//! along. Built from yaml-rust2's events plus a look at the lines between
//! them (events carry no comments).
//!
//! It refuses what `fmt` will not rewrite rather than guess: anchors, aliases,
//! tags, directives, non-scalar keys and plain scalars that continue on a
//! second line. Emitting lives in `emit`.

use std::collections::BTreeMap;

use yaml_rust2::parser::{Event, Parser};
use yaml_rust2::scanner::{Marker, TScalarStyle};

/// Why a file is not reformatted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    /// 1-based line.
    pub line: usize,
    /// 1-based column.
    pub col: usize,
    /// What is wrong and what to do.
    pub message: String,
}

/// A comment line or a blank line kept before an entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Aside {
    /// A whole-line comment, `#` included, without indentation.
    Comment(String),
    /// One or more blank lines (kept as one).
    Blank,
}

/// A scalar as parsed.
#[derive(Debug, Clone)]
pub struct Scalar {
    /// The value.
    pub value: String,
    /// How it was written.
    pub style: TScalarStyle,
    /// 0-based line it starts on.
    pub line: usize,
    /// 0-based line it ends on.
    pub end_line: usize,
    /// Byte column it starts at (for a block scalar, of its header line's key).
    pub col: usize,
}

impl Scalar {
    /// Whether this plain scalar means something other than a string (a
    /// number, a boolean, null), in which case its text is kept as written.
    pub fn is_plain(&self) -> bool {
        self.style == TScalarStyle::Plain
    }
}

/// A node.
#[derive(Debug, Clone)]
pub enum Node {
    /// A scalar.
    Scalar(Scalar),
    /// A mapping (written block or flow; emitted block).
    Map(Vec<Entry>),
    /// A sequence.
    Seq(Vec<Item>),
}

/// One `key: value` of a mapping.
#[derive(Debug, Clone)]
pub struct Entry {
    /// The key.
    pub key: Scalar,
    /// The value.
    pub value: Node,
    /// Comments and blank lines before it.
    pub before: Vec<Aside>,
    /// A comment at the end of its line.
    pub trailing: Option<String>,
    /// Comments after it, indented as its mapping's keys, when it is the last
    /// entry written there (they close the mapping, not the file).
    pub after: Vec<Aside>,
}

/// One item of a sequence.
#[derive(Debug, Clone)]
pub struct Item {
    /// The value.
    pub value: Node,
    /// 0-based line it starts on.
    pub line: usize,
    /// Comments and blank lines before it.
    pub before: Vec<Aside>,
    /// A comment at the end of its line (scalar items).
    pub trailing: Option<String>,
    /// Comments after it, indented as its list's items, when it is the last.
    pub after: Vec<Aside>,
}

/// One document of a file.
#[derive(Debug, Clone)]
pub struct Document {
    /// Its root.
    pub root: Node,
    /// Comments before the root when the root is not a mapping or sequence
    /// that could carry them.
    pub before: Vec<Aside>,
    /// Comments after the root, before the next document.
    pub after: Vec<Aside>,
}

/// Reads `text` into documents.
pub fn parse(text: &str) -> Result<Vec<Document>, Refusal> {
    parse_with_comments(text).map(|(docs, _)| docs)
}

/// Reads `text` into documents, and lists every comment found in it (whole
/// lines and line ends), attached or not, so a caller can check none is lost.
pub fn parse_with_comments(text: &str) -> Result<(Vec<Document>, Vec<String>), Refusal> {
    let lines: Vec<&str> = text.split('\n').collect();
    let events = events(text)?;
    let mut builder = Builder {
        events: &events,
        pos: 0,
        lines: &lines,
        spans: Vec::new(),
    };
    let mut docs = Vec::new();
    let mut starts = Vec::new();
    while let Some((ev, mark)) = builder.peek() {
        match ev {
            Event::StreamStart | Event::DocumentEnd => builder.pos += 1,
            Event::StreamEnd => break,
            Event::DocumentStart => {
                starts.push(mark.line().saturating_sub(1));
                builder.pos += 1;
                let root = builder.node(0)?;
                docs.push(root);
            }
            _ => {
                return Err(refusal(mark, "unexpected YAML event"));
            }
        }
    }
    let kinds = classify(&lines, &builder.spans);
    let comments = kinds
        .iter()
        .filter_map(|k| match k {
            LineKind::Comment(c, _) | LineKind::Code(Some(c)) => Some(c.clone()),
            _ => None,
        })
        .collect();
    let mut asides = Asides { kinds };
    let mut out = Vec::with_capacity(docs.len());
    let mut cursor: Option<usize> = None;
    for (i, mut root) in docs.into_iter().enumerate() {
        let next_start = starts.get(i + 1).copied().unwrap_or(lines.len());
        let before;
        match &mut root {
            Node::Map(_) | Node::Seq(_) => {
                attach(&mut root, &mut asides, &mut cursor);
                // Comments above the first key are the file's header: they
                // stay on top whatever key comes first after reordering.
                before = match &mut root {
                    Node::Map(entries) => entries
                        .first_mut()
                        .map(|e| std::mem::take(&mut e.before))
                        .unwrap_or_default(),
                    Node::Seq(items) => items
                        .first_mut()
                        .map(|i| std::mem::take(&mut i.before))
                        .unwrap_or_default(),
                    Node::Scalar(_) => Vec::new(),
                };
            }
            Node::Scalar(s) => {
                before = asides.take(cursor, s.line, true);
                cursor = Some(s.end_line);
            }
        }
        let mut after = asides.take(cursor, next_start, false);
        while after.last() == Some(&Aside::Blank) {
            after.pop();
        }
        cursor = Some(next_start);
        out.push(Document {
            root,
            before,
            after,
        });
    }
    Ok((out, comments))
}

fn refusal(mark: &Marker, message: &str) -> Refusal {
    Refusal {
        line: mark.line(),
        col: mark.col() + 1,
        message: message.to_string(),
    }
}

fn events(text: &str) -> Result<Vec<(Event, Marker)>, Refusal> {
    let mut parser = Parser::new_from_str(text);
    let mut out = Vec::new();
    loop {
        let (ev, mark) = parser.next_token().map_err(|e| Refusal {
            line: e.marker().line(),
            col: e.marker().col() + 1,
            message: format!("not valid YAML: {}", e.info()),
        })?;
        let end = ev == Event::StreamEnd;
        out.push((ev, mark));
        if end {
            return Ok(out);
        }
        if out.len() > 5_000_000 {
            return Err(Refusal {
                line: 1,
                col: 1,
                message: "too many YAML nodes to format".into(),
            });
        }
    }
}

/// Lines a scalar covers beyond its first, and where on its last line it ends
/// (for quoted scalars, so a `#` inside the quotes is not a comment).
#[derive(Debug, Clone, Copy)]
struct Span {
    first: usize,
    last: usize,
    /// Byte column on `last` after which a comment may start.
    end_col: usize,
    /// Whether `first` itself is content too (quoted scalars: only from `end_col`).
    block: bool,
}

struct Builder<'a> {
    events: &'a [(Event, Marker)],
    pos: usize,
    lines: &'a [&'a str],
    spans: Vec<Span>,
}

/// Deepest nesting `fmt` follows (the loader allows 64).
const MAX_DEPTH: usize = 128;

impl Builder<'_> {
    fn peek(&self) -> Option<(&Event, &Marker)> {
        self.events.get(self.pos).map(|(e, m)| (e, m))
    }

    fn next_line(&self) -> usize {
        self.events
            .get(self.pos)
            .map(|(_, m)| m.line().saturating_sub(1))
            .unwrap_or(self.lines.len())
    }

    fn node(&mut self, depth: usize) -> Result<Node, Refusal> {
        let Some((ev, mark)) = self.events.get(self.pos).cloned() else {
            return Err(Refusal {
                line: self.lines.len(),
                col: 1,
                message: "the document ends early".into(),
            });
        };
        if depth > MAX_DEPTH {
            return Err(refusal(&mark, "nested too deeply to format"));
        }
        self.pos += 1;
        match ev {
            Event::Scalar(value, style, anchor, tag) => {
                if anchor != 0 {
                    return Err(refusal(
                        &mark,
                        "uses an anchor; fmt leaves such files as they are",
                    ));
                }
                if tag.is_some() {
                    return Err(refusal(
                        &mark,
                        "uses a tag; fmt leaves such files as they are",
                    ));
                }
                self.scalar(value, style, &mark).map(Node::Scalar)
            }
            Event::MappingStart(anchor, tag) | Event::SequenceStart(anchor, tag)
                if anchor != 0 || tag.is_some() =>
            {
                Err(refusal(
                    &mark,
                    "uses an anchor or a tag; fmt leaves such files as they are",
                ))
            }
            Event::MappingStart(..) => {
                let mut entries = Vec::new();
                loop {
                    let Some((ev, mark)) = self.events.get(self.pos).cloned() else {
                        return Err(refusal(&mark, "the mapping ends early"));
                    };
                    if ev == Event::MappingEnd {
                        self.pos += 1;
                        return Ok(Node::Map(entries));
                    }
                    let key = match self.node(depth + 1)? {
                        Node::Scalar(s) => s,
                        _ => {
                            return Err(refusal(
                                &mark,
                                "has a key that is a mapping or a list; fmt leaves such files as they are",
                            ))
                        }
                    };
                    let value = self.node(depth + 1)?;
                    entries.push(Entry {
                        key,
                        value,
                        before: Vec::new(),
                        trailing: None,
                        after: Vec::new(),
                    });
                }
            }
            Event::SequenceStart(..) => {
                let mut items = Vec::new();
                loop {
                    let Some((ev, mark)) = self.events.get(self.pos).cloned() else {
                        return Err(refusal(&mark, "the list ends early"));
                    };
                    if ev == Event::SequenceEnd {
                        self.pos += 1;
                        return Ok(Node::Seq(items));
                    }
                    let start = mark.line().saturating_sub(1);
                    let value = self.node(depth + 1)?;
                    let line = match first_line(&value) {
                        usize::MAX => start,
                        l => l,
                    };
                    items.push(Item {
                        line,
                        value,
                        before: Vec::new(),
                        trailing: None,
                        after: Vec::new(),
                    });
                }
            }
            Event::Alias(_) => Err(refusal(
                &mark,
                "uses an alias; fmt leaves such files as they are",
            )),
            _ => Err(refusal(&mark, "unexpected YAML event")),
        }
    }

    fn scalar(
        &mut self,
        value: String,
        style: TScalarStyle,
        mark: &Marker,
    ) -> Result<Scalar, Refusal> {
        let line = mark.line().saturating_sub(1);
        let text = self.lines.get(line).copied().unwrap_or("");
        // The marker's column counts characters from 0; we need bytes.
        let col: usize = text.chars().take(mark.col()).map(char::len_utf8).sum();
        let next = self.next_line();
        let end_line = match style {
            TScalarStyle::Plain => {
                let rest = text.get(col..).unwrap_or("");
                if !value.is_empty() && !rest.starts_with(value.as_str()) {
                    return Err(refusal(
                        mark,
                        "has a plain value that continues on the next line; quote it or put it on one line",
                    ));
                }
                line
            }
            TScalarStyle::SingleQuoted | TScalarStyle::DoubleQuoted => {
                let (last, end_col) = quoted_end(self.lines, line, col, style);
                if last > line {
                    self.spans.push(Span {
                        first: line,
                        last,
                        end_col,
                        block: false,
                    });
                } else {
                    self.spans.push(Span {
                        first: line,
                        last: line,
                        end_col,
                        block: false,
                    });
                }
                last
            }
            TScalarStyle::Literal | TScalarStyle::Folded => {
                // The marker is on the first content line; the header (`|`,
                // `>-`, …) is on the last non-blank line before it.
                let at_header = text.get(col..).is_some_and(|t| t.starts_with(['|', '>']));
                let header = if at_header {
                    line
                } else {
                    (0..line)
                        .rev()
                        .find(|&l| self.lines.get(l).is_some_and(|t| !t.trim().is_empty()))
                        .unwrap_or(line)
                };
                let header_text = self.lines.get(header).copied().unwrap_or("");
                let indicator = header_text
                    .rfind(['|', '>'])
                    .and_then(|i| header_text.get(i..))
                    .unwrap_or("");
                let keep = indicator
                    .split('#')
                    .next()
                    .is_some_and(|h| h.trim_end().contains('+'));
                let last = block_end(self.lines, header, next, keep);
                if last > header {
                    self.spans.push(Span {
                        first: header + 1,
                        last,
                        end_col: usize::MAX,
                        block: true,
                    });
                }
                return Ok(Scalar {
                    value,
                    style,
                    line: header,
                    end_line: last,
                    col,
                });
            }
        };
        Ok(Scalar {
            value,
            style,
            line,
            end_line,
            col,
        })
    }
}

/// The line and byte column just after the closing quote of a quoted scalar
/// that opens at `(line, col)`.
fn quoted_end(lines: &[&str], line: usize, col: usize, style: TScalarStyle) -> (usize, usize) {
    let quote = if style == TScalarStyle::SingleQuoted {
        '\''
    } else {
        '"'
    };
    let mut first = true;
    for (l, text) in lines.iter().enumerate().skip(line) {
        let start = if l == line { col } else { 0 };
        let mut chars = text.get(start..).unwrap_or("").char_indices().peekable();
        if first {
            // The opening quote.
            chars.next();
            first = false;
        }
        while let Some((i, c)) = chars.next() {
            if quote == '"' && c == '\\' {
                chars.next();
                continue;
            }
            if c == quote {
                if quote == '\'' && chars.peek().is_some_and(|&(_, n)| n == '\'') {
                    chars.next();
                    continue;
                }
                return (l, start + i + 1);
            }
        }
    }
    (lines.len().saturating_sub(1), usize::MAX)
}

/// The last line of a block scalar whose header is on `header`: lines after it
/// that are blank or indented at least as much as its first content line, up
/// to `limit` (the next event's line). Trailing blank lines belong to it only
/// with keep chomping (`|+`).
fn block_end(lines: &[&str], header: usize, limit: usize, keep: bool) -> usize {
    let indent_of = |s: &str| s.len() - s.trim_start_matches(' ').len();
    let mut content_indent = None;
    let mut last_content = header;
    let mut last_any = header;
    for (l, text) in lines
        .iter()
        .enumerate()
        .take(limit.min(lines.len()))
        .skip(header + 1)
    {
        if text.trim().is_empty() {
            last_any = l;
            continue;
        }
        let indent = indent_of(text);
        let ci = *content_indent.get_or_insert(indent);
        if indent < ci {
            break;
        }
        last_content = l;
        last_any = l;
    }
    if keep {
        last_any
    } else {
        last_content
    }
}

/// What a source line is, for attaching comments.
#[derive(Debug, Clone, PartialEq, Eq)]
enum LineKind {
    /// Part of a multi-line scalar, or `---`: not a comment, not blank.
    Content,
    /// Only whitespace.
    Blank,
    /// Only a comment, and its indentation.
    Comment(String, usize),
    /// Has YAML on it, and maybe a comment at its end.
    Code(Option<String>),
    /// A comment or blank line already attached to an entry.
    Taken,
}

fn classify(lines: &[&str], spans: &[Span]) -> Vec<LineKind> {
    let mut content = vec![false; lines.len()];
    // Byte column from which a trailing comment may start on a line.
    let mut scan_from: BTreeMap<usize, usize> = BTreeMap::new();
    for s in spans {
        let inner_start = if s.block { s.first } else { s.first + 1 };
        for flag in content.iter_mut().take(s.last).skip(inner_start) {
            *flag = true;
        }
        if s.block {
            if let Some(flag) = content.get_mut(s.last) {
                *flag = true;
            }
        } else {
            let e = scan_from.entry(s.last).or_insert(0);
            *e = (*e).max(s.end_col);
        }
    }
    lines
        .iter()
        .enumerate()
        .map(|(l, text)| {
            if content.get(l).copied().unwrap_or(false) {
                return LineKind::Content;
            }
            let trimmed = text.trim();
            if trimmed.is_empty() {
                return LineKind::Blank;
            }
            if trimmed.starts_with('#') {
                return LineKind::Comment(
                    trimmed.to_string(),
                    text.len() - text.trim_start().len(),
                );
            }
            if trimmed == "---" || trimmed == "..." || trimmed.starts_with("--- ") {
                return LineKind::Content;
            }
            let from = scan_from.get(&l).copied().unwrap_or(0);
            LineKind::Code(trailing_comment(text, from))
        })
        .collect()
}

/// The comment at the end of a line of YAML: a `#` after whitespace, at or
/// after byte `from` (past any quoted text).
fn trailing_comment(text: &str, from: usize) -> Option<String> {
    let bytes = text.as_bytes();
    let start = from.min(bytes.len());
    (start..bytes.len())
        .find(|&i| bytes[i] == b'#' && (i == 0 || bytes[i - 1] == b' ' || bytes[i - 1] == b'\t'))
        .and_then(|i| text.get(i..))
        .map(|c| c.trim_end().to_string())
}

/// The first line of a node (for a mapping, its first key's).
pub fn first_line(n: &Node) -> usize {
    match n {
        Node::Scalar(s) => s.line,
        Node::Map(entries) => entries.first().map_or(usize::MAX, |e| e.key.line),
        Node::Seq(items) => items.first().map_or(usize::MAX, |i| i.line),
    }
}

struct Asides {
    kinds: Vec<LineKind>,
}

impl Asides {
    /// Comments and blank lines strictly after `cursor` and before `until`,
    /// taken so that nothing is attached twice. `first` drops blank lines
    /// that would open a collection.
    fn take(&mut self, cursor: Option<usize>, until: usize, first: bool) -> Vec<Aside> {
        let from = cursor.map_or(0, |c| c + 1);
        let mut out: Vec<Aside> = Vec::new();
        for l in from..until.min(self.kinds.len()) {
            match &self.kinds[l] {
                LineKind::Blank => {
                    if out.last() != Some(&Aside::Blank) && !(first && out.is_empty()) {
                        out.push(Aside::Blank);
                    }
                    self.kinds[l] = LineKind::Taken;
                }
                LineKind::Comment(c, _) => {
                    out.push(Aside::Comment(c.clone()));
                    self.kinds[l] = LineKind::Taken;
                }
                _ => {}
            }
        }
        out
    }

    /// The comment lines right after `cursor` (blank lines between them
    /// allowed) indented at least `indent`: those close a collection whose
    /// entries start at that column. Stops at the first other line.
    fn tail(&mut self, cursor: Option<usize>, indent: usize) -> Vec<Aside> {
        let from = cursor.map_or(0, |c| c + 1);
        let mut last_comment = None;
        for l in from..self.kinds.len() {
            match &self.kinds[l] {
                LineKind::Blank | LineKind::Taken => {}
                LineKind::Comment(_, i) if *i >= indent => last_comment = Some(l),
                _ => break,
            }
        }
        let Some(last) = last_comment else {
            return Vec::new();
        };
        let mut out = self.take(cursor, last + 1, false);
        while out.last() == Some(&Aside::Blank) {
            out.pop();
        }
        out
    }

    /// End-of-line comments on lines `from..=to`, taken, joined.
    fn trailing(&mut self, from: usize, to: usize) -> Option<String> {
        let mut found: Vec<String> = Vec::new();
        for l in from..=to.min(self.kinds.len().saturating_sub(1)) {
            if let Some(LineKind::Code(c)) = self.kinds.get_mut(l) {
                if let Some(c) = c.take() {
                    found.push(c);
                }
            }
        }
        (!found.is_empty()).then(|| found.join(" "))
    }
}

fn end_line(n: &Node) -> usize {
    match n {
        Node::Scalar(s) => s.end_line,
        Node::Map(entries) => entries
            .last()
            .map_or(0, |e| end_line(&e.value).max(e.key.end_line)),
        Node::Seq(items) => items.last().map_or(0, |i| end_line(&i.value).max(i.line)),
    }
}

/// Gives each entry and item the comments and blank lines before it and the
/// comment at the end of its line, walking in source order.
fn attach(node: &mut Node, asides: &mut Asides, cursor: &mut Option<usize>) {
    match node {
        Node::Scalar(_) => {}
        Node::Map(entries) => {
            for (i, e) in entries.iter_mut().enumerate() {
                let line = e.key.line;
                e.before = asides.take(*cursor, line, i == 0);
                *cursor = Some(cursor.map_or(line, |c| c.max(line)));
                match &mut e.value {
                    Node::Scalar(s) => {
                        e.trailing = asides.trailing(line, s.end_line.max(line));
                        *cursor = Some(s.end_line.max(line));
                    }
                    value => {
                        e.trailing = asides.trailing(line, line);
                        attach(value, asides, cursor);
                        *cursor = Some(cursor.map_or(0, |c| c.max(end_line(value))));
                    }
                }
            }
            if let Some(first) = entries.first().map(|e| e.key.col) {
                let tail = asides.tail(*cursor, first);
                if let Some(last) = entries.last_mut() {
                    last.after = tail;
                }
            }
        }
        Node::Seq(items) => {
            for (i, item) in items.iter_mut().enumerate() {
                let line = item.line;
                item.before = asides.take(*cursor, line, i == 0);
                *cursor = Some(cursor.map_or(line, |c| c.max(line)));
                match &mut item.value {
                    Node::Scalar(s) => {
                        item.trailing = asides.trailing(line, s.end_line.max(line));
                        *cursor = Some(s.end_line.max(line));
                    }
                    value => {
                        attach(value, asides, cursor);
                        *cursor = Some(cursor.map_or(0, |c| c.max(end_line(value))));
                    }
                }
            }
            if let Some(first) = items.first().map(|i| item_col(&i.value)) {
                let tail = asides.tail(*cursor, first.saturating_sub(2));
                if let Some(last) = items.last_mut() {
                    last.after = tail;
                }
            }
        }
    }
}

/// The column a node starts at.
fn item_col(n: &Node) -> usize {
    match n {
        Node::Scalar(s) => s.col,
        Node::Map(entries) => entries.first().map_or(0, |e| e.key.col),
        Node::Seq(items) => items.first().map_or(0, |i| item_col(&i.value)),
    }
}
