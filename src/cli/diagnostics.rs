//! Renders manifest diagnostics for people (miette, with source snippets) and
//! machines (JSON). Finding them lives in `manifest`.

use std::fmt;

use miette::{GraphicalReportHandler, GraphicalTheme, LabeledSpan, NamedSource};

use crate::manifest::load::text_of;
use crate::manifest::Diagnostic;
use crate::source::FileSet;

struct Rendered<'a> {
    d: &'a Diagnostic,
    src: Option<NamedSource<String>>,
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
            "{}:{}:{}: {}",
            self.d.file, self.d.location.line, self.d.location.column, self.d.message
        )
    }
}

impl std::error::Error for Rendered<'_> {}

impl miette::Diagnostic for Rendered<'_> {
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
            .map(|h| Box::new(h.clone()) as Box<dyn fmt::Display>)
    }

    fn source_code(&self) -> Option<&dyn miette::SourceCode> {
        self.src.as_ref().map(|s| s as &dyn miette::SourceCode)
    }

    fn labels(&self) -> Option<Box<dyn Iterator<Item = LabeledSpan> + '_>> {
        self.src.as_ref()?;
        let len = self.d.location.len.max(1);
        Some(Box::new(std::iter::once(LabeledSpan::new(
            Some("here".into()),
            self.d.location.offset,
            len,
        ))))
    }
}

/// Renders every diagnostic and a closing tally.
pub fn render(files: &FileSet, diags: &[Diagnostic], color: bool) -> String {
    let theme = if color {
        GraphicalTheme::unicode()
    } else {
        GraphicalTheme::unicode_nocolor()
    };
    let handler = GraphicalReportHandler::new_themed(theme).with_context_lines(1);
    let mut out = String::new();
    for d in diags {
        let src = text_of(files, &d.file)
            .filter(|t| d.location.offset + d.location.len <= t.len())
            .map(|t| NamedSource::new(d.file.clone(), t.to_string()));
        let r = Rendered { d, src };
        if handler.render_report(&mut out, &r).is_err() {
            out.push_str(&format!("error: {d}\n"));
        }
        out.push('\n');
    }
    let mut file_names: Vec<&str> = diags.iter().map(|d| d.file.as_str()).collect();
    file_names.dedup();
    out.push_str(&format!(
        "{} error(s) in {} file(s)\n",
        diags.len(),
        file_names.len()
    ));
    out
}

/// The diagnostics as a JSON document.
pub fn render_json(diags: &[Diagnostic]) -> String {
    let doc = serde_json::json!({ "valid": diags.is_empty(), "diagnostics": diags });
    let mut s = serde_json::to_string_pretty(&doc).unwrap_or_default();
    s.push('\n');
    s
}
