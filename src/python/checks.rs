//! What Ruff's parser lets through and CPython's `ast.parse` refuses, checked on
//! the tokens and the tree: tokenizer limits, inconsistent tabs and spaces,
//! value-less `yield` as an operand, malformed match patterns; and turning byte
//! offsets into CPython's line and column.

use ruff_python_ast::token::{Token, TokenKind};
use ruff_python_ast::visitor::{self, Visitor};
use ruff_python_ast::{self as ast, Expr, InterpolatedStringElement, InterpolatedStringElements};
use ruff_text_size::Ranged;

/// CPython's tokenizer limit on nested brackets (`MAXLEVEL`).
pub(super) const MAX_BRACKET_DEPTH: usize = 200;
/// CPython's tokenizer limit on indentation levels (`MAXINDENT`).
pub(super) const MAX_INDENT: usize = 100;
/// CPython's tokenizer limit on nested f-/t-strings (`MAXFSTRINGLEVEL`).
pub(super) const MAX_FSTRING_NESTING: usize = 150;
/// CPython's limit on replacement-field nesting inside f-string format specs.
pub(super) const MAX_FSTRING_SPEC_NESTING: usize = 3;

/// CPython's `verify_end_of_number`: a number literal directly followed by an ASCII
/// letter, digit or `_` is an error, unless what follows starts like one of the keywords
/// `and`, `else`, `for`, `if`, `in`, `is`, `not`, `or` (only a warning: `1if x else 2`).
/// Ruff accepts some of these (`raise 4from E`).
pub(super) fn number_runs_into_name(rest: &str) -> bool {
    let Some(c) = rest.chars().next() else {
        return false;
    };
    let keyword_like = ["and", "else", "for", "if", "in", "is", "not", "or"]
        .iter()
        .any(|k| rest.starts_with(k));
    !keyword_like && (c.is_ascii_alphanumeric() || c == '_')
}

/// The first token at or after byte `offset` that is not a comment or a non-logical
/// newline.
pub(super) fn next_significant_token(tokens: &[Token], offset: usize) -> Option<&Token> {
    tokens[tokens.partition_point(|t| t.start().to_usize() < offset)..]
        .iter()
        .find(|t| !matches!(t.kind(), TokenKind::Comment | TokenKind::NonLogicalNewline))
}

/// CPython's tokenizer rules for indentation, which Ruff applies differently: every
/// logical line's indentation is measured twice, with tabs to multiples of 8 and with
/// tabs as one column, and both measures must order the lines the same way
/// (`TabError` otherwise); a dedent must land on an enclosing level; at most 99 levels.
pub(super) fn check_indentation(code: &str, tokens: &[Token]) -> Option<(usize, String)> {
    const TAB_ERROR: &str = "inconsistent use of tabs and spaces in indentation";
    // (columns with 8-column tabs, columns with 1-column tabs) of each open level.
    let mut levels: Vec<(usize, usize)> = vec![(0, 0)];
    let mut at_line_start = true;
    for token in tokens {
        match token.kind() {
            TokenKind::Newline => {
                at_line_start = true;
                continue;
            }
            TokenKind::NonLogicalNewline
            | TokenKind::Comment
            | TokenKind::Indent
            | TokenKind::Dedent => continue,
            TokenKind::EndOfFile => break,
            _ if !at_line_start => continue,
            _ => at_line_start = false,
        }
        let offset = token.start().to_usize();
        let (col, altcol) = indentation_of(code, offset);
        let &(top, alttop) = levels.last()?;
        if col == top {
            if altcol != alttop {
                return Some((offset, TAB_ERROR.to_owned()));
            }
        } else if col > top {
            if levels.len() >= MAX_INDENT {
                return Some((offset, "too many levels of indentation".to_owned()));
            }
            if altcol <= alttop {
                return Some((offset, TAB_ERROR.to_owned()));
            }
            levels.push((col, altcol));
        } else {
            while levels.len() > 1 && levels.last().is_some_and(|&(c, _)| col < c) {
                levels.pop();
            }
            let &(top, alttop) = levels.last()?;
            if col != top {
                return Some((
                    offset,
                    "unindent does not match any outer indentation level".to_owned(),
                ));
            }
            if altcol != alttop {
                return Some((offset, TAB_ERROR.to_owned()));
            }
        }
    }
    None
}

/// CPython's two indentation measures for the logical line whose first token starts at
/// byte `offset`: read from the start of its physical line (or of the earlier physical
/// lines holding nothing but indentation and a backslash continuation), spaces count
/// one, tabs advance to the next multiple of 8 (resp. 1), a form feed resets both, and
/// the column at the first backslash continuation wins.
pub(super) fn indentation_of(code: &str, offset: usize) -> (usize, usize) {
    let bytes = code.as_bytes();
    let line_start = |end: usize| -> usize {
        bytes[..end]
            .iter()
            .rposition(|&b| b == b'\n' || b == b'\r')
            .map_or(0, |i| i + 1)
    };
    let mut start = line_start(offset.min(bytes.len()));
    // Step back over physical lines that are only indentation plus `\`.
    while start > 0 {
        let mut end = start - 1; // the line break ending the previous line
        if bytes[end] == b'\n' && end > 0 && bytes[end - 1] == b'\r' {
            end -= 1;
        }
        let prev = line_start(end);
        let line = &bytes[prev..end];
        let continued = line.last() == Some(&b'\\')
            && line[..line.len() - 1]
                .iter()
                .all(|&b| matches!(b, b' ' | b'\t' | b'\x0c'));
        if !continued {
            break;
        }
        start = prev;
    }
    let (mut col, mut altcol, mut cont_line_col) = (0usize, 0usize, 0usize);
    let mut i = start;
    while i < bytes.len() {
        match bytes[i] {
            b' ' => {
                col += 1;
                altcol += 1;
            }
            b'\t' => {
                col = (col / 8 + 1) * 8;
                altcol += 1;
            }
            b'\x0c' => {
                col = 0;
                altcol = 0;
            }
            b'\\' if matches!(bytes.get(i + 1), Some(b'\n' | b'\r')) => {
                if cont_line_col == 0 {
                    cont_line_col = col;
                }
                i += 1;
                if bytes[i] == b'\r' && bytes.get(i + 1) == Some(&b'\n') {
                    i += 1;
                }
            }
            _ => break,
        }
        i += 1;
    }
    if cont_line_col != 0 {
        (cont_line_col, cont_line_col)
    } else {
        (col, altcol)
    }
}

/// 1-based line and character column of byte `offset` in `code`.
pub(super) fn line_column(code: &str, offset: usize) -> (usize, usize) {
    let mut line = 1;
    let mut column = 1;
    let mut chars = code.char_indices().peekable();
    while let Some((i, c)) = chars.next() {
        if i >= offset {
            break;
        }
        match c {
            '\r' => {
                if chars
                    .peek()
                    .is_some_and(|&(j, next)| next == '\n' && j < offset)
                {
                    chars.next();
                }
                line += 1;
                column = 1;
            }
            '\n' => {
                line += 1;
                column = 1;
            }
            _ => column += 1,
        }
    }
    (line, column)
}

/// Checks over the whole tree for what Ruff's parser lets through but CPython rejects.
#[derive(Default)]
pub(super) struct TreeChecks {
    /// Start of the first f-/t-string replacement field nested
    /// [`MAX_FSTRING_SPEC_NESTING`] deep in format specs (`f'{a:{b:{c:{d}}}}'`).
    pub(super) fstring_too_deep: Option<usize>,
    /// End offsets of `yield` expressions whose next token must close a statement or a
    /// group, with `true` when only a closing parenthesis will do: every value-less
    /// `yield`, and every `yield`/`yield from` that is a generator expression's element.
    pub(super) yield_ends: Vec<(usize, bool)>,
    /// Gaps between consecutive elements of a sequence pattern, which must hold a comma
    /// (Ruff accepts `case [a b]:`).
    pub(super) pattern_gaps: Vec<(usize, usize)>,
    /// Class patterns whose class is parenthesised (Ruff accepts `case (a)(b):`).
    pub(super) parenthesized_classes: Vec<usize>,
}

impl TreeChecks {
    fn elements(&mut self, elements: &InterpolatedStringElements, depth: usize) {
        for element in elements.iter() {
            if let InterpolatedStringElement::Interpolation(field) = element {
                if depth >= MAX_FSTRING_SPEC_NESTING {
                    let at = field.start().to_usize();
                    self.fstring_too_deep = Some(self.fstring_too_deep.map_or(at, |e| e.min(at)));
                }
                self.visit_expr(&field.expression);
                if let Some(spec) = &field.format_spec {
                    self.elements(&spec.elements, depth + 1);
                }
            }
        }
    }
}

impl<'a> Visitor<'a> for TreeChecks {
    fn visit_f_string(&mut self, f_string: &'a ast::FString) {
        self.elements(&f_string.elements, 0);
    }

    fn visit_t_string(&mut self, t_string: &'a ast::TString) {
        self.elements(&t_string.elements, 0);
    }

    fn visit_pattern(&mut self, pattern: &'a ast::Pattern) {
        match pattern {
            ast::Pattern::MatchSequence(sequence) => {
                for pair in sequence.patterns.windows(2) {
                    self.pattern_gaps
                        .push((pair[0].end().to_usize(), pair[1].start().to_usize()));
                }
            }
            ast::Pattern::MatchClass(class) if class.start() != class.cls.start() => {
                self.parenthesized_classes.push(class.start().to_usize());
            }
            _ => {}
        }
        visitor::walk_pattern(self, pattern);
    }

    fn visit_expr(&mut self, expr: &'a Expr) {
        match expr {
            Expr::Yield(ast::ExprYield { value: None, .. }) => {
                self.yield_ends.push((expr.end().to_usize(), false));
            }
            Expr::Generator(g) if matches!(&*g.elt, Expr::Yield(_) | Expr::YieldFrom(_)) => {
                self.yield_ends.push((g.elt.end().to_usize(), true));
            }
            _ => {}
        }
        visitor::walk_expr(self, expr);
    }
}
