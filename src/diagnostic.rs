//! Diagnostics: one problem in a manifest repository, with where it is and how to fix it.
//!
//! Diagnostics are plain values gathered into a list and shown at once (Terraform's
//! model). Rendering them with source snippets happens in `cli`; nothing here prints.

use serde::Serialize;

/// A stable, searchable diagnostic code. The numbers never change meaning; the
/// README lists them all.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub enum Code {
    /// E001: the file is not valid YAML (or not UTF-8).
    YamlSyntax,
    /// E002: a field the kind does not define.
    UnknownField,
    /// E003: a field has the wrong type or an invalid value.
    InvalidValue,
    /// E004: a required field is missing.
    MissingField,
    /// E005: `kind` is not one we know.
    UnknownKind,
    /// E006: `apiVersion` is not `mcpbox/v1`.
    BadApiVersion,
    /// E007: a mapping gives the same key twice.
    DuplicateKey,
    /// E008: a manifest file holds no document.
    EmptyFile,
    /// E009: input beyond a safety limit (file size, nesting depth, alias expansion).
    InputLimit,
    /// E010: a name breaks MCPBox's naming rules.
    InvalidName,
    /// E011: two objects with the same name.
    Duplicate,
    /// E012: a reference to something that does not exist.
    DanglingReference,
    /// E013: a value outside MCPBox's limits.
    OutOfRange,
    /// E020: Python code MCPBox would refuse: a syntax error.
    PythonSyntax,
    /// E021: Python code without an `async def main`.
    PythonNoMain,
    /// E030: `codeFile` cannot be read or leaves the repository.
    CodeFile,
    /// E031: both or neither of `code` and `codeFile`.
    CodeSource,
    /// A symbolic link leaves the repository, leads nowhere, or loops.
    Symlink,
    /// A file name that cannot be read as UTF-8.
    FileName,
    /// E040: a setting MCPBox would refuse or fail on.
    InvalidSetting,
    /// E050: `approvals.yaml` or `mcpbox-gitops.yaml` is malformed.
    RepoFile,
    /// E060: something that looks like a literal secret value in a manifest.
    LiteralSecret,
    /// W001 (warning): tool code calls a host or imports a module the manifests do
    /// not allow; it will fail at run time in MCPBox's sandbox (`infer`).
    NeededNotGranted,
    /// W002 (warning): a host or module git grants that no tool appears to use.
    GrantedNotUsed,
}

impl Code {
    /// The stable identifier, e.g. `E002`.
    pub fn id(self) -> &'static str {
        match self {
            Code::YamlSyntax => "E001",
            Code::UnknownField => "E002",
            Code::InvalidValue => "E003",
            Code::MissingField => "E004",
            Code::UnknownKind => "E005",
            Code::BadApiVersion => "E006",
            Code::DuplicateKey => "E007",
            Code::EmptyFile => "E008",
            Code::InputLimit => "E009",
            Code::InvalidName => "E010",
            Code::Duplicate => "E011",
            Code::DanglingReference => "E012",
            Code::OutOfRange => "E013",
            Code::PythonSyntax => "E020",
            Code::PythonNoMain => "E021",
            Code::CodeFile => "E030",
            Code::CodeSource => "E031",
            Code::Symlink => "E032",
            Code::FileName => "E033",
            Code::InvalidSetting => "E040",
            Code::RepoFile => "E050",
            Code::LiteralSecret => "E060",
            Code::NeededNotGranted => "W001",
            Code::GrantedNotUsed => "W002",
        }
    }

    /// The short name, e.g. `unknown-field`.
    pub fn name(self) -> &'static str {
        match self {
            Code::YamlSyntax => "yaml-syntax",
            Code::UnknownField => "unknown-field",
            Code::InvalidValue => "invalid-value",
            Code::MissingField => "missing-field",
            Code::UnknownKind => "unknown-kind",
            Code::BadApiVersion => "bad-api-version",
            Code::DuplicateKey => "duplicate-key",
            Code::EmptyFile => "empty-file",
            Code::InputLimit => "input-limit",
            Code::InvalidName => "invalid-name",
            Code::Duplicate => "duplicate",
            Code::DanglingReference => "dangling-reference",
            Code::OutOfRange => "out-of-range",
            Code::PythonSyntax => "python-syntax",
            Code::PythonNoMain => "python-no-main",
            Code::CodeFile => "code-file",
            Code::CodeSource => "code-source",
            Code::Symlink => "symlink",
            Code::FileName => "file-name",
            Code::InvalidSetting => "invalid-setting",
            Code::RepoFile => "repo-file",
            Code::LiteralSecret => "literal-secret",
            Code::NeededNotGranted => "needed-not-granted",
            Code::GrantedNotUsed => "granted-not-used",
        }
    }

    /// A warning (`W…`): reported, but the repository is still valid (unless
    /// `validate --strict` makes W001 an error).
    pub fn is_warning(self) -> bool {
        matches!(self, Code::NeededNotGranted | Code::GrantedNotUsed)
    }

    /// Every code, in order (for documentation and tests).
    pub const ALL: [Code; 24] = [
        Code::YamlSyntax,
        Code::UnknownField,
        Code::InvalidValue,
        Code::MissingField,
        Code::UnknownKind,
        Code::BadApiVersion,
        Code::DuplicateKey,
        Code::EmptyFile,
        Code::InputLimit,
        Code::InvalidName,
        Code::Duplicate,
        Code::DanglingReference,
        Code::OutOfRange,
        Code::PythonSyntax,
        Code::PythonNoMain,
        Code::CodeFile,
        Code::CodeSource,
        Code::Symlink,
        Code::FileName,
        Code::InvalidSetting,
        Code::RepoFile,
        Code::LiteralSecret,
        Code::NeededNotGranted,
        Code::GrantedNotUsed,
    ];
}

/// A position in a file: 1-based line and column (in characters), and the byte
/// range it covers (for snippets).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Default)]
pub struct Location {
    /// 1-based line.
    pub line: usize,
    /// 1-based column, counted in characters.
    pub column: usize,
    /// Byte offset of the start in the file.
    pub offset: usize,
    /// Length in bytes of the marked span (at least 1 where the file has text there).
    pub len: usize,
}

/// One problem found in a manifest repository.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Diagnostic {
    /// The stable code.
    #[serde(serialize_with = "serialize_code")]
    pub code: Code,
    /// Path of the file, relative to the repository root.
    pub file: String,
    /// Where in the file.
    pub location: Location,
    /// What is wrong (lowercase, quotes the bad value).
    pub message: String,
    /// How to fix it.
    pub help: Option<String>,
    /// The marked span may hold a secret: snippets show it masked.
    #[serde(skip)]
    pub redact: bool,
}

fn serialize_code<S: serde::Serializer>(code: &Code, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&format!("{} {}", code.id(), code.name()))
}

impl Diagnostic {
    /// A diagnostic at a location.
    pub fn new(code: Code, file: &str, location: Location, message: impl Into<String>) -> Self {
        Diagnostic {
            code,
            file: file.to_string(),
            location,
            message: message.into(),
            help: None,
            redact: false,
        }
    }

    /// Adds the "how to fix it" text.
    #[must_use]
    pub fn help(mut self, help: impl Into<String>) -> Self {
        self.help = Some(help.into());
        self
    }

    /// Marks the span as possibly secret, so that no snippet shows it.
    #[must_use]
    pub fn redacted(mut self) -> Self {
        self.redact = true;
        self
    }

    /// Sort key: file, then position.
    pub fn sort_key(&self) -> (&str, usize, usize, &str) {
        (
            &self.file,
            self.location.line,
            self.location.column,
            &self.message,
        )
    }
}

impl Diagnostic {
    /// `file:line:col`, or the file alone for a problem with the file itself
    /// (line 0: a link, a name), escaped for printing.
    pub fn place(&self) -> String {
        let file = crate::escape::text(&self.file);
        if self.location.line == 0 {
            file.into_owned()
        } else {
            format!("{file}:{}:{}", self.location.line, self.location.column)
        }
    }
}

impl std::fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}: {} {}: {}",
            self.place(),
            self.code.id(),
            self.code.name(),
            crate::escape::text(&self.message)
        )?;
        if let Some(help) = &self.help {
            write!(f, " (help: {})", crate::escape::text(help))?;
        }
        Ok(())
    }
}

/// Where a serde_yaml error is, and its message without serde_yaml's own
/// " at line N column M" suffix (the location says that already).
pub fn yaml_error_parts(text: &str, e: &serde_yaml::Error) -> (Location, String) {
    let loc = match e.location() {
        Some(l) => {
            let off = offset_of(text, l.line(), l.column());
            location_at(text, off, token_len(text, off))
        }
        None => location_at(text, 0, 0),
    };
    let msg = e.to_string();
    let msg = match msg.find(" at line ") {
        Some(i) => msg[..i].to_string(),
        None => msg,
    };
    (loc, msg)
}

/// Sorts diagnostics by file and position and removes exact duplicates.
pub fn sort(diags: &mut Vec<Diagnostic>) {
    diags.sort_by(|a, b| a.sort_key().cmp(&b.sort_key()));
    diags.dedup();
}

/// Computes a [`Location`] from a byte offset into `text`.
pub fn location_at(text: &str, offset: usize, len: usize) -> Location {
    let offset = offset.min(text.len());
    let offset = floor_char_boundary(text, offset);
    let cached = LINES.with(|cache| {
        let mut cache = cache.borrow_mut();
        let lines = cache.get(text);
        // The index of the line holding `offset`: the last start ≤ offset.
        let i = lines
            .starts
            .partition_point(|&s| s <= offset)
            .saturating_sub(1);
        (
            i + 1,
            lines.starts.get(i).copied().unwrap_or(0),
            lines.ascii,
        )
    });
    // The cache is keyed by address and length; check the entry really belongs
    // to this text (a line start follows a newline), else count directly.
    let bytes = text.as_bytes();
    let (line, line_start, ascii) = match cached {
        (line, start, ascii)
            if start <= offset
                && (start == 0 || bytes.get(start - 1) == Some(&b'\n'))
                && !text[start..offset].contains('\n') =>
        {
            (line, start, ascii)
        }
        _ => {
            let before = &text[..offset];
            let start = before.rfind('\n').map_or(0, |i| i + 1);
            (before.matches('\n').count() + 1, start, false)
        }
    };
    let column = if ascii {
        offset - line_start + 1
    } else {
        text[line_start..offset].chars().count() + 1
    };
    let len = len.min(text.len() - offset);
    Location {
        line,
        column,
        offset,
        len,
    }
}

/// Line starts of the last texts located in, so that a file with thousands of
/// diagnostics is scanned once, not once per diagnostic.
struct LineCache {
    /// (address, length) of the text and its line table, most recent first.
    entries: Vec<((usize, usize), std::rc::Rc<Lines>)>,
}

struct Lines {
    starts: Vec<usize>,
    ascii: bool,
}

impl LineCache {
    fn get(&mut self, text: &str) -> std::rc::Rc<Lines> {
        let id = (text.as_ptr() as usize, text.len());
        if let Some(pos) = self.entries.iter().position(|(k, _)| *k == id) {
            let hit = self.entries.remove(pos);
            let lines = hit.1.clone();
            self.entries.insert(0, hit);
            return lines;
        }
        let mut starts = vec![0];
        starts.extend(text.match_indices('\n').map(|(i, _)| i + 1));
        let lines = std::rc::Rc::new(Lines {
            starts,
            ascii: text.is_ascii(),
        });
        self.entries.insert(0, (id, lines.clone()));
        // A few files at a time are located in; keep the cache small.
        self.entries.truncate(8);
        lines
    }
}

thread_local! {
    static LINES: std::cell::RefCell<LineCache> =
        const { std::cell::RefCell::new(LineCache { entries: Vec::new() }) };
}

/// Byte offset of a 1-based (line, column-in-chars) position in `text`.
pub fn offset_of(text: &str, line: usize, column: usize) -> usize {
    let mut offset = 0;
    for (i, l) in text.split_inclusive('\n').enumerate() {
        if i + 1 == line {
            let col_bytes: usize = l
                .chars()
                .take(column.saturating_sub(1))
                .map(char::len_utf8)
                .sum();
            return offset + col_bytes;
        }
        offset += l.len();
    }
    text.len()
}

fn floor_char_boundary(text: &str, mut i: usize) -> usize {
    while i > 0 && !text.is_char_boundary(i) {
        i -= 1;
    }
    i
}

/// The longest span [`token_len`] marks.
const MAX_TOKEN: usize = 120;

/// Length of the token starting at `offset` (up to the end of the line, at most
/// a word-ish run), so snippets mark something visible.
pub fn token_len(text: &str, offset: usize) -> usize {
    let rest = text.get(offset..).unwrap_or("");
    // Look no further than a token can be: a 1 MiB line costs nothing.
    let rest = &rest[..floor_char_boundary(rest, rest.len().min(MAX_TOKEN + 4))];
    let end = rest
        .find(['\n', '\r'])
        .unwrap_or(rest.len())
        .min(rest.find(": ").unwrap_or(usize::MAX))
        .min(MAX_TOKEN);
    floor_char_boundary(rest, end).max(usize::from(!rest.is_empty()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn location_counts_lines_and_chars() {
        let text = "a: 1\nbé: x\n";
        let off = text.find('x').unwrap();
        let loc = location_at(text, off, 1);
        assert_eq!((loc.line, loc.column), (2, 5));
        assert_eq!(offset_of(text, 2, 5), off);
    }

    #[test]
    fn codes_are_unique() {
        let mut ids: Vec<_> = Code::ALL.iter().map(|c| c.id()).collect();
        ids.sort();
        ids.dedup();
        assert_eq!(ids.len(), Code::ALL.len());
    }

    #[test]
    fn display_has_file_line_col_code_and_help() {
        let d = Diagnostic::new(
            Code::UnknownField,
            "a.yaml",
            Location {
                line: 3,
                column: 5,
                offset: 0,
                len: 1,
            },
            "unknown field `foo`",
        )
        .help("remove it");
        assert_eq!(
            d.to_string(),
            "a.yaml:3:5: E002 unknown-field: unknown field `foo` (help: remove it)"
        );
    }
}
