//! Renders manifest diagnostics for people (miette, with source snippets) and
//! machines (JSON). Finding them lives in `manifest`.

use std::fmt;

use miette::{GraphicalReportHandler, GraphicalTheme, LabeledSpan};

use crate::diagnostic::Code;
use crate::manifest::load::text_of;
use crate::manifest::Diagnostic;
use crate::source::FileSet;

struct Rendered<'a> {
    d: &'a Diagnostic,
    src: Option<Snippet>,
    /// Shown as an error (every `E…` code; `W…` codes only under `--strict`).
    error: bool,
}

/// Masked source regions by (file, start, end): many diagnostics on one long
/// line mask it once.
type MaskCache = std::collections::HashMap<(String, usize, usize), String>;

/// Diagnostics rendered with a snippet; the rest get one line each.
const MAX_SNIPPETS: usize = 200;

/// Diagnostics shown per code; the rest are counted (JSON keeps them all).
pub const MAX_PER_CODE: usize = 100;

/// Widest stretch of a line a snippet shows, in characters.
const SNIPPET_WIDTH: usize = 120;

/// The few lines around a diagnostic, cut to [`SNIPPET_WIDTH`] around the marked
/// span, with a secret span masked. Handing miette the whole file would print a
/// 1 MiB single-line file in full; the window keeps output small and line
/// numbers right.
struct Snippet {
    name: String,
    text: String,
    /// 0-based line of the file where `text` starts.
    first_line: usize,
    /// The marked span within `text`.
    span: (usize, usize),
    /// Characters cut from the front of the marked line.
    cut_chars: usize,
}

impl Snippet {
    fn new(file: &str, text: &str, d: &Diagnostic, masked: &mut MaskCache) -> Option<Snippet> {
        let loc = d.location;
        if loc.offset > text.len() || !text.is_char_boundary(loc.offset) {
            return None;
        }
        let line_start = text[..loc.offset].rfind('\n').map_or(0, |i| i + 1);
        let line_end = text[loc.offset..]
            .find('\n')
            .map_or(text.len(), |i| loc.offset + i);
        let prev_start = if line_start == 0 {
            0
        } else {
            text[..line_start - 1].rfind('\n').map_or(0, |i| i + 1)
        };
        let next_end = if line_end >= text.len() {
            line_end
        } else {
            text[line_end + 1..]
                .find('\n')
                .map_or(text.len(), |i| line_end + 1 + i)
        };
        let clip = |line: &str, around: usize| -> (String, usize) {
            // Cut `line` to SNIPPET_WIDTH chars starting a little before `around`
            // (a byte index); returns the text and how many bytes were cut in front.
            let chars: Vec<(usize, char)> = line.char_indices().collect();
            if chars.len() <= SNIPPET_WIDTH {
                return (line.to_string(), 0);
            }
            let at = chars.iter().position(|(i, _)| *i >= around).unwrap_or(0);
            let from = at.saturating_sub(20).min(chars.len() - SNIPPET_WIDTH);
            let cut = chars[from].0;
            let to = chars.get(from + SNIPPET_WIDTH).map_or(line.len(), |c| c.0);
            (format!("{}…", &line[cut..to]), cut)
        };
        // Credentials on the lines shown are masked whatever the diagnostic is
        // about (byte for byte, so offsets hold).
        let base = prev_start;
        let region: &str = masked
            .entry((file.to_string(), prev_start, next_end))
            .or_insert_with(|| crate::manifest::secrets::mask(&text[prev_start..next_end]));
        let seg = |a: usize, b: usize| &region[a - base..b - base];
        // Around a possible secret, show no neighbouring lines: they may hold
        // more of it (a second token, the rest of a key).
        let (prev_start, next_end) = if d.redact {
            (line_start, line_end)
        } else {
            (prev_start, next_end)
        };
        let mut out = String::new();
        if prev_start < line_start {
            out.push_str(&clip(seg(prev_start, line_start - 1), 0).0);
            out.push('\n');
        }
        let (this, cut) = clip(seg(line_start, line_end), loc.offset - line_start);
        let start = out.len() + (loc.offset - line_start).saturating_sub(cut);
        let avail = this.len().saturating_sub(start - out.len());
        let len = loc.len.min(avail);
        let mut this = this;
        let rel = start - out.len();
        let len = if d.redact {
            // One `*` per character: the snippet shows where, never what.
            let n = this[rel..rel + len].chars().count();
            this.replace_range(rel..rel + len, &"*".repeat(n));
            n
        } else {
            len
        };
        out.push_str(&this);
        if line_end < next_end {
            out.push('\n');
            out.push_str(&clip(seg(line_end + 1, next_end), 0).0);
        }
        let first_line = text[..prev_start].matches('\n').count();
        Some(Snippet {
            name: crate::escape::text(file).into_owned(),
            text: out,
            first_line,
            span: (start, len),
            cut_chars: seg(line_start, line_start + cut).chars().count(),
        })
    }
}

impl miette::SourceCode for Snippet {
    fn read_span<'a>(
        &'a self,
        span: &miette::SourceSpan,
        before: usize,
        after: usize,
    ) -> Result<Box<dyn miette::SpanContents<'a> + 'a>, miette::MietteError> {
        let inner = self.text.read_span(span, before, after)?;
        Ok(Box::new(miette::MietteSpanContents::new_named(
            self.name.clone(),
            inner.data(),
            *inner.span(),
            inner.line() + self.first_line,
            inner.column() + self.cut_chars,
            inner.line_count(),
        )))
    }
}

impl fmt::Debug for Rendered<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.d)
    }
}

impl fmt::Display for Rendered<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}: {}",
            self.d.place(),
            crate::escape::text(&self.d.message)
        )
    }
}

impl std::error::Error for Rendered<'_> {}

impl miette::Diagnostic for Rendered<'_> {
    fn severity(&self) -> Option<miette::Severity> {
        Some(if self.error {
            miette::Severity::Error
        } else {
            miette::Severity::Warning
        })
    }

    fn code<'a>(&'a self) -> Option<Box<dyn fmt::Display + 'a>> {
        Some(Box::new(format!(
            "{} {}",
            self.d.code.id(),
            self.d.code.name()
        )))
    }

    fn help<'a>(&'a self) -> Option<Box<dyn fmt::Display + 'a>> {
        self.d
            .help
            .as_ref()
            .map(|h| Box::new(crate::escape::text(h).into_owned()) as Box<dyn fmt::Display>)
    }

    fn source_code(&self) -> Option<&dyn miette::SourceCode> {
        self.src.as_ref().map(|s| s as &dyn miette::SourceCode)
    }

    fn labels(&self) -> Option<Box<dyn Iterator<Item = LabeledSpan> + '_>> {
        self.src.as_ref()?;
        let (offset, len) = self.src.as_ref()?.span;
        Some(Box::new(std::iter::once(LabeledSpan::new(
            Some("here".into()),
            offset,
            len.max(1),
        ))))
    }
}

/// Renders every diagnostic and a closing tally.
pub fn render(files: &FileSet, diags: &[Diagnostic], color: bool) -> String {
    render_with(files, diags, color, is_error_plain)
}

/// Whether a diagnostic is an error without `--strict`: every `E…` code.
pub fn is_error_plain(d: &Diagnostic) -> bool {
    !d.code.is_warning()
}

/// [`render`], with `is_error` saying which diagnostics are errors (the rest are
/// warnings): `validate --strict` makes W001 an error.
pub fn render_with(
    files: &FileSet,
    diags: &[Diagnostic],
    color: bool,
    is_error: fn(&Diagnostic) -> bool,
) -> String {
    let theme = if color {
        GraphicalTheme::unicode()
    } else {
        GraphicalTheme::unicode_nocolor()
    };
    let handler = GraphicalReportHandler::new_themed(theme).with_context_lines(1);
    let mut out = String::new();
    let mut masked = MaskCache::new();
    let mut per_code: std::collections::BTreeMap<Code, usize> = Default::default();
    let mut shown = 0usize;
    for d in diags {
        let seen = per_code.entry(d.code).or_default();
        *seen += 1;
        if *seen > MAX_PER_CODE {
            // Counted below: 50,000 empty files are one problem, not 13 MB.
            continue;
        }
        shown += 1;
        if shown > MAX_SNIPPETS {
            // Past a few hundred problems a snippet each helps nobody and costs
            // seconds: one line each.
            if shown == MAX_SNIPPETS + 1 {
                out.push_str(
                    "… the rest one line each (`--format json` has them all with positions):\n",
                );
            }
            out.push_str(&format!("{d}\n"));
            continue;
        }
        let src = text_of(files, &d.file).and_then(|t| Snippet::new(&d.file, t, d, &mut masked));
        let r = Rendered {
            d,
            src,
            error: is_error(d),
        };
        if handler.render_report(&mut out, &r).is_err() {
            out.push_str(&format!("error: {d}\n"));
        }
        out.push('\n');
    }
    for (code, n) in &per_code {
        if *n > MAX_PER_CODE {
            out.push_str(&format!(
                "… and {} more {} {} not shown (`--format json` lists them all)\n",
                n - MAX_PER_CODE,
                code.id(),
                code.name()
            ));
        }
    }
    let mut file_names: Vec<&str> = diags.iter().map(|d| d.file.as_str()).collect();
    file_names.dedup();
    let errors = diags.iter().filter(|d| is_error(d)).count();
    let warnings = diags.len() - errors;
    let what = if warnings == 0 {
        format!("{errors} error(s)")
    } else {
        format!("{errors} error(s) and {warnings} warning(s)")
    };
    out.push_str(&format!("{what} in {} file(s)\n", file_names.len()));
    out
}

/// The diagnostics as a JSON document.
pub fn render_json(diags: &[Diagnostic]) -> String {
    render_json_with(diags, is_error_plain)
}

/// [`render_json`] with the errors chosen by `is_error`; each diagnostic gains
/// its `severity` (`error` or `warning`), and `valid` means no errors.
pub fn render_json_with(diags: &[Diagnostic], is_error: fn(&Diagnostic) -> bool) -> String {
    let list: Vec<serde_json::Value> = diags
        .iter()
        .map(|d| {
            let mut v = serde_json::to_value(d).unwrap_or_default();
            if let Some(o) = v.as_object_mut() {
                let severity = if is_error(d) { "error" } else { "warning" };
                o.insert("severity".into(), severity.into());
            }
            v
        })
        .collect();
    let valid = !diags.iter().any(is_error);
    let doc = serde_json::json!({ "valid": valid, "diagnostics": list });
    let mut s = serde_json::to_string_pretty(&doc).unwrap_or_default();
    s.push('\n');
    s
}
