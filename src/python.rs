//! MCPBox's view of a Python tool's code, computed natively (no Python at run time).
//!
//! What lives here:
//! - [`validate`]: MCPBox's `validate_python_code` (MCPBOX.md §4.2) — emptiness check,
//!   syntax check with the 3.14 grammar, breadth-first search for the first `async def main`,
//!   and its ordinary parameters with `ast.unparse`-identical annotation text;
//! - [`input_schema`]: MCPBox's `input_schema` extraction (§4.3) from that result;
//! - the tree is parsed once: [`Validation::needs`] carries what `infer` finds in it
//!   (imports, hosts), so no caller parses the code a second time.
//!
//! What does not: the length limits of §4.1 (100 000 characters and so on), the
//! "must have an async main" refusal of create/update, and everything about storing the
//! tool; callers check those.
//!
//! Parsing uses Ruff's parser (`ruff_python_parser`) with Python 3.14 as the target
//! version, so version-dependent syntax (PEP 695/701/758, t-strings, …) is judged as
//! CPython 3.14's `ast.parse` judges it. Ruff lets a few things through that CPython
//! rejects; they are checked here:
//! - tokenizer limits: more than 200 nested brackets, 100 or more indentation levels,
//!   150 nested f-/t-strings, replacement fields nested three deep in format specs;
//! - indentation mixing tabs and spaces inconsistently (`TabError`, CPython's algorithm);
//! - a leading byte-order mark (U+FEFF) and NUL characters;
//! - a value-less `yield` used as an operand (`yield @ 1`, `x = yield < 1`, `yield ,`) and
//!   an unparenthesised `yield` as a generator's element (`(yield a for a in b)`);
//! - sequence patterns missing a comma (`case [a b]:`) and parenthesised class-pattern
//!   classes (`case (a)(b):`).
//!
//! Like `ast.parse` (and unlike `compile`), nothing of the symbol-table or compiler
//! stage is checked: `return` at module level, `nonlocal` at module level or duplicate
//! parameter names are valid.
//!
//! Known divergences from CPython, all on pathological input only:
//! - syntax-error messages are Ruff's wording (CPython's for an unclosed bracket);
//!   validity, `has_main`, parameters and schema never depend on the wording;
//! - CPython fails with `MemoryError`/`RecursionError` (not a `SyntaxError`) on
//!   expressions nested a few thousand levels deep; here such code is judged by grammar;
//! - code over [`MAX_CODE_BYTES`] is reported invalid without being parsed.

use std::collections::VecDeque;

use ruff_python_ast::token::{Token, TokenKind};
use ruff_python_ast::visitor::{self, Visitor};
use ruff_python_ast::{
    self as ast, BoolOp, CmpOp, ElifElseClause, ExceptHandler, Expr, InterpolatedStringElement,
    InterpolatedStringElements, MatchCase, Number, Operator, Parameters, PythonVersion, Stmt,
    UnaryOp,
};
use ruff_python_parser::{parse_unchecked, Mode, ParseOptions};
use ruff_text_size::{Ranged, TextRange};
use serde_json::{json, Map, Value};

/// One parameter of `async def main`, as MCPBox's validate_python_code reports it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Parameter {
    /// The parameter's name (NFKC-normalised, as CPython stores identifiers).
    pub name: String,
    /// `ast.unparse(annotation)`, or None
    #[serde(rename = "type")]
    pub annotation: Option<String>,
}

/// Where a syntax error is, 1-based line and column in the code string (column in characters).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyntaxErrorAt {
    /// 1-based line; `\n`, `\r\n` and a lone `\r` each end a line, as in CPython.
    pub line: usize,
    /// 1-based column, counted in characters (Unicode scalar values).
    pub column: usize,
    /// What is wrong (Ruff's wording; CPython's for an unclosed bracket).
    pub message: String,
}

/// MCPBox's validate_python_code result.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Validation {
    /// The code is non-empty and parses.
    pub valid: bool,
    /// An `async def main` was found somewhere in the tree.
    pub has_main: bool,
    /// MCPBox's error text: "Code cannot be empty" or "Syntax error at line N: msg"
    pub error: Option<String>,
    /// Structured form of a syntax error (None when the code is valid or empty).
    pub syntax_error: Option<SyntaxErrorAt>,
    /// line (1-based) of the async def main found, for diagnostics
    pub main_line: Option<usize>,
    /// The ordinary (positional-or-keyword) parameters of that `main`, in order.
    pub parameters: Vec<Parameter>,
    /// The modules and hosts the code needs (`infer`), found in the same tree
    /// the syntax check built; empty when the code does not parse.
    pub needs: crate::infer::Needs,
}

/// Code longer than this (in bytes) is reported invalid without being parsed; MCPBox
/// itself refuses code over 100 000 characters, so no real tool comes near it.
pub const MAX_CODE_BYTES: usize = 1024 * 1024;

/// CPython's tokenizer limit on nested brackets (`MAXLEVEL`).
const MAX_BRACKET_DEPTH: usize = 200;
/// CPython's tokenizer limit on indentation levels (`MAXINDENT`).
const MAX_INDENT: usize = 100;
/// CPython's tokenizer limit on nested f-/t-strings (`MAXFSTRINGLEVEL`).
const MAX_FSTRING_NESTING: usize = 150;
/// CPython's limit on replacement-field nesting inside f-string format specs.
const MAX_FSTRING_SPEC_NESTING: usize = 3;

/// Run MCPBox's `validate_python_code` on `code` (MCPBOX.md §4.2).
///
/// Never panics: parsing and analysis run on a helper thread whose stack is sized for
/// the input, so deeply nested code cannot overflow the caller's stack.
pub fn validate(code: &str) -> Validation {
    // Every level of AST nesting needs at least one byte of source (`-` or `~` chains),
    // and Ruff's parser, the checks below, the unparser and the AST's drop glue each
    // recurse once per level: about 1.5 KiB per level in an unoptimised build, so
    // 4 KiB per byte of code. The stack is only reserved; pages are touched as used.
    let stack = 32 * 1024 * 1024 + code.len().min(MAX_CODE_BYTES).saturating_mul(4096);
    std::thread::scope(|scope| {
        let spawned = std::thread::Builder::new()
            .name("python-validate".to_owned())
            .stack_size(stack)
            .spawn_scoped(scope, || validate_here(code));
        match spawned {
            Ok(handle) => handle.join().unwrap_or_else(|_| {
                Validation::internal_failure("the Python parser failed unexpectedly")
            }),
            Err(_) => Validation::internal_failure("could not start the parser thread"),
        }
    })
}

/// [`validate`] for many pieces of code at once, in parallel: one worker thread
/// per core (each with a stack sized for the largest piece it may take), the
/// pieces handed out from a shared counter. The results are in input order.
pub fn validate_many(codes: &[&str]) -> Vec<Validation> {
    let workers = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .min(codes.len());
    if workers <= 1 {
        return codes.iter().map(|c| validate(c)).collect();
    }
    let next = std::sync::atomic::AtomicUsize::new(0);
    let largest = codes
        .iter()
        .map(|c| c.len().min(MAX_CODE_BYTES))
        .max()
        .unwrap_or(0);
    // As in `validate`: 4 KiB of stack per byte of the largest code.
    let stack = 32 * 1024 * 1024 + largest.saturating_mul(4096);
    let mut out: Vec<Option<Validation>> = vec![None; codes.len()];
    let results: Vec<Vec<(usize, Validation)>> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..workers)
            .map(|_| {
                std::thread::Builder::new()
                    .name("python-validate".to_owned())
                    .stack_size(stack)
                    .spawn_scoped(scope, || {
                        let mut mine = Vec::new();
                        loop {
                            let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                            let Some(code) = codes.get(i) else { break };
                            mine.push((i, validate_here(code)));
                        }
                        mine
                    })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| match h {
                Ok(handle) => handle.join().unwrap_or_default(),
                Err(_) => Vec::new(),
            })
            .collect()
    });
    for (i, v) in results.into_iter().flatten() {
        out[i] = Some(v);
    }
    // A piece no worker finished (a worker that could not start or panicked)
    // is validated alone, on its own thread.
    out.into_iter()
        .zip(codes)
        .map(|(v, code)| v.unwrap_or_else(|| validate(code)))
        .collect()
}

/// [`validate`]'s checks without its own thread: for a caller already on a
/// thread with a stack sized for `code`.
fn validate_here(code: &str) -> Validation {
    if code.chars().all(is_python_space) {
        return Validation::invalid("Code cannot be empty".to_owned(), None);
    }
    if code.len() > MAX_CODE_BYTES {
        let message = format!("code is longer than {MAX_CODE_BYTES} bytes; not parsed");
        return Validation::syntax_error(SyntaxErrorAt {
            line: 1,
            column: 1,
            message,
        });
    }
    // A panic in the parser must not take a batch down with it.
    std::panic::catch_unwind(|| analyse(code))
        .unwrap_or_else(|_| Validation::internal_failure("the Python parser failed unexpectedly"))
}

/// MCPBox's input_schema extraction (§4.3) from a validation result.
pub fn input_schema(v: &Validation) -> Value {
    if !v.valid || !v.has_main {
        return json!({"type": "object", "properties": {}});
    }
    let mut properties = Map::new();
    let mut required = Vec::new();
    for p in &v.parameters {
        if matches!(p.name.as_str(), "self" | "cls" | "http") {
            continue;
        }
        let (json_type, optional) = match &p.annotation {
            None => ("string", false),
            Some(text) => schema_type(text),
        };
        properties.insert(
            p.name.clone(),
            json!({"description": format!("Parameter: {}", p.name), "type": json_type}),
        );
        if !optional {
            required.push(Value::String(p.name.clone()));
        }
    }
    let required = if required.is_empty() {
        Value::Null
    } else {
        Value::Array(required)
    };
    json!({"type": "object", "properties": properties, "required": required})
}

/// JSON type and optionality of one annotation text, by §4.3's string rules.
fn schema_type(annotation: &str) -> (&'static str, bool) {
    let (base, optional) = if let Some(rest) = annotation.strip_prefix("Optional[") {
        // MCPBox slices `t[9:-1]`: drop the prefix and the last character.
        let mut inner = rest.chars();
        inner.next_back();
        (inner.as_str().to_owned(), true)
    } else if annotation.contains(" | None") {
        (annotation.replace(" | None", "").trim().to_owned(), true)
    } else {
        (annotation.to_owned(), false)
    };
    let json_type = match base.as_str() {
        "str" => "string",
        "int" => "integer",
        "float" => "number",
        "bool" => "boolean",
        "list" | "List" => "array",
        "dict" | "Dict" => "object",
        _ => "string",
    };
    (json_type, optional)
}

impl Validation {
    fn invalid(error: String, syntax_error: Option<SyntaxErrorAt>) -> Self {
        Validation {
            valid: false,
            has_main: false,
            error: Some(error),
            syntax_error,
            main_line: None,
            parameters: Vec::new(),
            needs: crate::infer::Needs::default(),
        }
    }

    fn syntax_error(at: SyntaxErrorAt) -> Self {
        let error = format!("Syntax error at line {}: {}", at.line, at.message);
        Self::invalid(error, Some(at))
    }

    fn internal_failure(what: &str) -> Self {
        Self::syntax_error(SyntaxErrorAt {
            line: 1,
            column: 1,
            message: format!("internal error, {what}"),
        })
    }
}

/// Python's `str.isspace` (what `str.strip` removes): Unicode White_Space plus the
/// four information separators U+001C..U+001F.
fn is_python_space(c: char) -> bool {
    c.is_whitespace() || ('\u{1c}'..='\u{1f}').contains(&c)
}

/// Parse and analyse; runs on the big-stack thread.
fn analyse(code: &str) -> Validation {
    if code.starts_with('\u{feff}') {
        return Validation::syntax_error(SyntaxErrorAt {
            line: 1,
            column: 1,
            message: "invalid non-printable character U+FEFF".to_owned(),
        });
    }
    let options = ParseOptions::from(Mode::Module).with_target_version(PythonVersion::PY314);
    let parsed = parse_unchecked(code, options);

    // (byte offset, message) of every problem found; the earliest is reported.
    let mut problems: Vec<(usize, String)> = Vec::new();
    for e in parsed.errors() {
        problems.push((e.location.start().to_usize(), e.error.to_string()));
    }
    for e in parsed.unsupported_syntax_errors() {
        problems.push((e.range().start().to_usize(), e.to_string()));
    }

    let mut open_brackets: Vec<(char, usize)> = Vec::new();
    let mut bracket_error = false;
    let mut open_fstrings = 0usize;
    let mut fstring_error = false;
    for token in parsed.tokens().iter() {
        let start = token.start().to_usize();
        match token.kind() {
            TokenKind::FStringStart | TokenKind::TStringStart => {
                if open_fstrings + 1 >= MAX_FSTRING_NESTING && !fstring_error {
                    fstring_error = true;
                    problems.push((start, "too many nested f-strings or t-strings".to_owned()));
                }
                open_fstrings += 1;
            }
            TokenKind::FStringEnd | TokenKind::TStringEnd => {
                open_fstrings = open_fstrings.saturating_sub(1);
            }
            TokenKind::Lpar | TokenKind::Lsqb | TokenKind::Lbrace => {
                if open_brackets.len() >= MAX_BRACKET_DEPTH && !bracket_error {
                    bracket_error = true;
                    problems.push((start, "too many nested parentheses".to_owned()));
                }
                let c = code
                    .get(start..)
                    .and_then(|s| s.chars().next())
                    .unwrap_or('(');
                open_brackets.push((c, start));
            }
            TokenKind::Rpar | TokenKind::Rsqb | TokenKind::Rbrace => {
                open_brackets.pop();
            }
            TokenKind::Int | TokenKind::Float | TokenKind::Complex => {
                let end = token.end().to_usize();
                if number_runs_into_name(code.get(end..).unwrap_or("")) {
                    problems.push((end, "invalid decimal literal".to_owned()));
                }
            }
            _ => {}
        }
    }
    let tokens: &[Token] = parsed.tokens();
    if let Some(problem) = check_indentation(code, tokens) {
        problems.push(problem);
    }

    let module = match parsed.syntax() {
        ast::Mod::Module(m) => Some(m),
        ast::Mod::Expression(_) => None,
    };
    if let Some(module) = module {
        let mut check = TreeChecks::default();
        check.visit_body(&module.body);
        if let Some(offset) = check.fstring_too_deep {
            problems.push((offset, "f-string: expressions nested too deeply".to_owned()));
        }
        // Ruff accepts a value-less `yield` as an operand (`yield @ 1`, `x = yield < 1`,
        // `yield ,`) and a bare `yield` as a generator's element (`(yield a for a in b)`);
        // CPython only allows a `yield` where a statement, group or f-string field ends.
        for (end, only_group) in check.yield_ends {
            let next = next_significant_token(tokens, end);
            let allowed = next.is_none_or(|t| {
                matches!(t.kind(), TokenKind::Rpar)
                    || (!only_group
                        && matches!(
                            t.kind(),
                            TokenKind::Newline
                                | TokenKind::Semi
                                | TokenKind::EndOfFile
                                | TokenKind::Rbrace
                                | TokenKind::Exclamation
                                | TokenKind::Colon
                                | TokenKind::Equal
                        ))
            });
            if let (false, Some(t)) = (allowed, next) {
                problems.push((t.start().to_usize(), "invalid syntax".to_owned()));
            }
        }
        for at in check.parenthesized_classes {
            problems.push((at, "invalid syntax".to_owned()));
        }
        for (from, to) in check.pattern_gaps {
            let first = tokens.partition_point(|t| t.start().to_usize() < from);
            let has_comma = tokens[first..]
                .iter()
                .take_while(|t| t.start().to_usize() < to)
                .any(|t| t.kind() == TokenKind::Comma);
            if !has_comma {
                problems.push((to, "invalid syntax. Perhaps you forgot a comma?".to_owned()));
            }
        }
    }
    if let Some(at) = code.find('\0') {
        problems.push((
            at,
            "source code string cannot contain null bytes".to_owned(),
        ));
    }

    if let Some((offset, message)) = problems.into_iter().min_by_key(|(offset, _)| *offset) {
        // CPython reports a bracket still open at the end of input as "never closed",
        // at the innermost such bracket.
        let at_end = code.get(offset..).is_none_or(|rest| rest.trim().is_empty());
        let (offset, message) = match open_brackets.last() {
            Some(&(c, bracket_at)) if at_end => (bracket_at, format!("'{c}' was never closed")),
            _ => (offset, message),
        };
        let (line, column) = line_column(code, offset);
        return Validation::syntax_error(SyntaxErrorAt {
            line,
            column,
            message,
        });
    }

    let Some(module) = module else {
        return Validation::internal_failure("the parser returned no module");
    };
    let mut result = Validation {
        valid: true,
        has_main: false,
        error: None,
        syntax_error: None,
        main_line: None,
        parameters: Vec::new(),
        needs: crate::infer::needs(&module.body),
    };
    if let Some(main) = find_async_main(&module.body) {
        result.has_main = true;
        result.main_line = Some(line_column(code, main.name.start().to_usize()).0);
        result.parameters = main
            .parameters
            .args
            .iter()
            .map(|p| Parameter {
                name: p.parameter.name.as_str().to_owned(),
                annotation: p.parameter.annotation.as_deref().map(|a| unparse(code, a)),
            })
            .collect();
    }
    result
}

/// CPython's `verify_end_of_number`: a number literal directly followed by an ASCII
/// letter, digit or `_` is an error, unless what follows starts like one of the keywords
/// `and`, `else`, `for`, `if`, `in`, `is`, `not`, `or` (only a warning: `1if x else 2`).
/// Ruff accepts some of these (`raise 4from E`).
fn number_runs_into_name(rest: &str) -> bool {
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
fn next_significant_token(tokens: &[Token], offset: usize) -> Option<&Token> {
    tokens[tokens.partition_point(|t| t.start().to_usize() < offset)..]
        .iter()
        .find(|t| !matches!(t.kind(), TokenKind::Comment | TokenKind::NonLogicalNewline))
}

/// CPython's tokenizer rules for indentation, which Ruff applies differently: every
/// logical line's indentation is measured twice, with tabs to multiples of 8 and with
/// tabs as one column, and both measures must order the lines the same way
/// (`TabError` otherwise); a dedent must land on an enclosing level; at most 99 levels.
fn check_indentation(code: &str, tokens: &[Token]) -> Option<(usize, String)> {
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
fn indentation_of(code: &str, offset: usize) -> (usize, usize) {
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
fn line_column(code: &str, offset: usize) -> (usize, usize) {
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
struct TreeChecks {
    /// Start of the first f-/t-string replacement field nested
    /// [`MAX_FSTRING_SPEC_NESTING`] deep in format specs (`f'{a:{b:{c:{d}}}}'`).
    fstring_too_deep: Option<usize>,
    /// End offsets of `yield` expressions whose next token must close a statement or a
    /// group, with `true` when only a closing parenthesis will do: every value-less
    /// `yield`, and every `yield`/`yield from` that is a generator expression's element.
    yield_ends: Vec<(usize, bool)>,
    /// Gaps between consecutive elements of a sequence pattern, which must hold a comma
    /// (Ruff accepts `case [a b]:`).
    pattern_gaps: Vec<(usize, usize)>,
    /// Class patterns whose class is parenthesised (Ruff accepts `case (a)(b):`).
    parenthesized_classes: Vec<usize>,
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

/// A node of CPython's AST that can contain statements, for the breadth-first walk.
enum Container<'a> {
    Stmt(&'a Stmt),
    Handler(&'a ExceptHandler),
    Case(&'a MatchCase),
    /// An `elif` chain: CPython's `If` node nested in the enclosing `orelse`.
    Elif(&'a [ElifElseClause]),
}

/// The first `async def main` in `ast.walk` order (breadth-first, fields in order).
///
/// Expressions never contain statements, so walking only statement containers keeps
/// `ast.walk`'s relative order, provided every intermediate node CPython has
/// (`ExceptHandler`, `match_case`, the `If` of an `elif`) counts as a level.
fn find_async_main(body: &[Stmt]) -> Option<&ast::StmtFunctionDef> {
    let mut queue: VecDeque<Container<'_>> = body.iter().map(Container::Stmt).collect();
    while let Some(node) = queue.pop_front() {
        match node {
            Container::Stmt(stmt) => match stmt {
                Stmt::FunctionDef(f) => {
                    if f.is_async && f.name.as_str() == "main" {
                        return Some(f);
                    }
                    queue.extend(f.body.iter().map(Container::Stmt));
                }
                Stmt::ClassDef(c) => queue.extend(c.body.iter().map(Container::Stmt)),
                Stmt::For(f) => {
                    queue.extend(f.body.iter().map(Container::Stmt));
                    queue.extend(f.orelse.iter().map(Container::Stmt));
                }
                Stmt::While(w) => {
                    queue.extend(w.body.iter().map(Container::Stmt));
                    queue.extend(w.orelse.iter().map(Container::Stmt));
                }
                Stmt::If(i) => {
                    queue.extend(i.body.iter().map(Container::Stmt));
                    push_orelse(&mut queue, &i.elif_else_clauses);
                }
                Stmt::With(w) => queue.extend(w.body.iter().map(Container::Stmt)),
                Stmt::Match(m) => queue.extend(m.cases.iter().map(Container::Case)),
                Stmt::Try(t) => {
                    queue.extend(t.body.iter().map(Container::Stmt));
                    queue.extend(t.handlers.iter().map(Container::Handler));
                    queue.extend(t.orelse.iter().map(Container::Stmt));
                    queue.extend(t.finalbody.iter().map(Container::Stmt));
                }
                _ => {}
            },
            Container::Handler(ExceptHandler::ExceptHandler(h)) => {
                queue.extend(h.body.iter().map(Container::Stmt));
            }
            Container::Case(case) => queue.extend(case.body.iter().map(Container::Stmt)),
            Container::Elif(clauses) => {
                if let Some((first, rest)) = clauses.split_first() {
                    queue.extend(first.body.iter().map(Container::Stmt));
                    push_orelse(&mut queue, rest);
                }
            }
        }
    }
    None
}

/// Queue the children CPython's `If.orelse` would hold for these clauses.
fn push_orelse<'a>(queue: &mut VecDeque<Container<'a>>, clauses: &'a [ElifElseClause]) {
    match clauses.first() {
        None => {}
        Some(clause) if clause.test.is_none() => {
            queue.extend(clause.body.iter().map(Container::Stmt));
        }
        Some(_) => queue.push_back(Container::Elif(clauses)),
    }
}

// ---------------------------------------------------------------------------------------
// `ast.unparse` for expressions
// ---------------------------------------------------------------------------------------

/// CPython's `_Precedence` values (Lib/_ast_unparse.py).
mod prec {
    pub const NAMED_EXPR: u8 = 1;
    pub const TUPLE: u8 = 2;
    pub const YIELD: u8 = 3;
    pub const TEST: u8 = 4;
    pub const OR: u8 = 5;
    pub const AND: u8 = 6;
    pub const NOT: u8 = 7;
    pub const CMP: u8 = 8;
    pub const EXPR: u8 = 9;
    pub const BOR: u8 = EXPR;
    pub const BXOR: u8 = 10;
    pub const BAND: u8 = 11;
    pub const SHIFT: u8 = 12;
    pub const ARITH: u8 = 13;
    pub const TERM: u8 = 14;
    pub const FACTOR: u8 = 15;
    pub const POWER: u8 = 16;
    pub const AWAIT: u8 = 17;
    pub const ATOM: u8 = 18;

    /// `_Precedence.next()`: one tighter, saturating at `ATOM`.
    pub fn next(p: u8) -> u8 {
        (p + 1).min(ATOM)
    }
}

/// `ast.unparse(expr)` as CPython 3.14 writes it.
///
/// Covers every expression kind with CPython's precedence and parenthesisation rules,
/// `repr`-quoted string and bytes constants (implicit concatenation joined, `u` prefix
/// kept) and `repr` numbers (ints in decimal, shortest-repr floats, `1e309` for
/// infinities). Limits: an f-string or t-string is copied verbatim from `code` rather
/// than re-quoted, and which non-ASCII characters a string `repr` escapes follows an
/// approximation of `str.isprintable` (exact for Latin-1 and the common format and
/// separator characters, not for unassigned code points).
pub fn unparse(code: &str, expr: &Expr) -> String {
    let mut u = Unparser {
        out: String::new(),
        code,
    };
    u.expr(expr, prec::TEST);
    u.out
}

struct Unparser<'s> {
    out: String,
    code: &'s str,
}

impl Unparser<'_> {
    fn w(&mut self, s: &str) {
        self.out.push_str(s);
    }

    fn open_if(&mut self, cond: bool) {
        if cond {
            self.w("(");
        }
    }

    fn close_if(&mut self, cond: bool) {
        if cond {
            self.w(")");
        }
    }

    fn comma_separated(&mut self, items: &[Expr], ctx: u8) {
        for (i, item) in items.iter().enumerate() {
            if i > 0 {
                self.w(", ");
            }
            self.expr(item, ctx);
        }
    }

    /// `items_view`: a one-element sequence gets a trailing comma.
    fn items_view(&mut self, items: &[Expr]) {
        if items.len() == 1 {
            self.expr(&items[0], prec::TEST);
            self.w(",");
        } else {
            self.comma_separated(items, prec::TEST);
        }
    }

    fn source_text(&mut self, range: TextRange) {
        let text = self
            .code
            .get(range.start().to_usize()..range.end().to_usize())
            .unwrap_or("");
        self.out.push_str(text);
    }

    /// Write `e` in a context of precedence `ctx` (CPython's `get_precedence(node)`).
    fn expr(&mut self, e: &Expr, ctx: u8) {
        match e {
            Expr::BoolOp(b) => {
                let op_prec = match b.op {
                    BoolOp::And => prec::AND,
                    BoolOp::Or => prec::OR,
                };
                let word = match b.op {
                    BoolOp::And => " and ",
                    BoolOp::Or => " or ",
                };
                let parens = ctx > op_prec;
                self.open_if(parens);
                // CPython raises the precedence for each further operand.
                let mut level = op_prec;
                for (i, value) in b.values.iter().enumerate() {
                    if i > 0 {
                        self.w(word);
                    }
                    level = prec::next(level);
                    self.expr(value, level);
                }
                self.close_if(parens);
            }
            Expr::Named(n) => {
                let parens = ctx > prec::NAMED_EXPR;
                self.open_if(parens);
                self.expr(&n.target, prec::ATOM);
                self.w(" := ");
                self.expr(&n.value, prec::ATOM);
                self.close_if(parens);
            }
            Expr::BinOp(b) => {
                let op_prec = match b.op {
                    Operator::Add | Operator::Sub => prec::ARITH,
                    Operator::Mult
                    | Operator::MatMult
                    | Operator::Div
                    | Operator::Mod
                    | Operator::FloorDiv => prec::TERM,
                    Operator::LShift | Operator::RShift => prec::SHIFT,
                    Operator::BitOr => prec::BOR,
                    Operator::BitXor => prec::BXOR,
                    Operator::BitAnd => prec::BAND,
                    Operator::Pow => prec::POWER,
                };
                let (left, right) = if b.op == Operator::Pow {
                    (prec::next(op_prec), op_prec)
                } else {
                    (op_prec, prec::next(op_prec))
                };
                let parens = ctx > op_prec;
                self.open_if(parens);
                self.expr(&b.left, left);
                self.w(" ");
                self.w(b.op.as_str());
                self.w(" ");
                self.expr(&b.right, right);
                self.close_if(parens);
            }
            Expr::UnaryOp(u) => {
                let op_prec = if u.op == UnaryOp::Not {
                    prec::NOT
                } else {
                    prec::FACTOR
                };
                let parens = ctx > op_prec;
                self.open_if(parens);
                self.w(u.op.as_str());
                if u.op == UnaryOp::Not {
                    self.w(" ");
                }
                self.expr(&u.operand, op_prec);
                self.close_if(parens);
            }
            Expr::Lambda(l) => {
                let parens = ctx > prec::TEST;
                self.open_if(parens);
                self.w("lambda");
                if let Some(params) = &l.parameters {
                    let mut args = Unparser {
                        out: String::new(),
                        code: self.code,
                    };
                    args.parameters(params);
                    if !args.out.is_empty() {
                        self.w(" ");
                        self.out.push_str(&args.out);
                    }
                }
                self.w(": ");
                self.expr(&l.body, prec::TEST);
                self.close_if(parens);
            }
            Expr::If(i) => {
                let parens = ctx > prec::TEST;
                self.open_if(parens);
                self.expr(&i.body, prec::next(prec::TEST));
                self.w(" if ");
                self.expr(&i.test, prec::next(prec::TEST));
                self.w(" else ");
                self.expr(&i.orelse, prec::TEST);
                self.close_if(parens);
            }
            Expr::Dict(d) => {
                self.w("{");
                for (i, item) in d.items.iter().enumerate() {
                    if i > 0 {
                        self.w(", ");
                    }
                    match &item.key {
                        None => {
                            self.w("**");
                            self.expr(&item.value, prec::EXPR);
                        }
                        Some(key) => {
                            self.expr(key, prec::TEST);
                            self.w(": ");
                            self.expr(&item.value, prec::TEST);
                        }
                    }
                }
                self.w("}");
            }
            Expr::Set(s) => {
                if s.elts.is_empty() {
                    self.w("{*()}");
                } else {
                    self.w("{");
                    self.comma_separated(&s.elts, prec::TEST);
                    self.w("}");
                }
            }
            Expr::ListComp(c) => {
                self.w("[");
                self.expr(&c.elt, prec::TEST);
                self.comprehensions(&c.generators);
                self.w("]");
            }
            Expr::SetComp(c) => {
                self.w("{");
                self.expr(&c.elt, prec::TEST);
                self.comprehensions(&c.generators);
                self.w("}");
            }
            Expr::DictComp(c) => {
                self.w("{");
                match &c.key {
                    Some(key) => {
                        self.expr(key, prec::TEST);
                        self.w(": ");
                        self.expr(&c.value, prec::TEST);
                    }
                    None => {
                        self.w("**");
                        self.expr(&c.value, prec::EXPR);
                    }
                }
                self.comprehensions(&c.generators);
                self.w("}");
            }
            Expr::Generator(g) => {
                self.w("(");
                self.expr(&g.elt, prec::TEST);
                self.comprehensions(&g.generators);
                self.w(")");
            }
            Expr::Await(a) => {
                let parens = ctx > prec::AWAIT;
                self.open_if(parens);
                self.w("await ");
                self.expr(&a.value, prec::ATOM);
                self.close_if(parens);
            }
            Expr::Yield(y) => {
                let parens = ctx > prec::YIELD;
                self.open_if(parens);
                self.w("yield");
                if let Some(value) = &y.value {
                    self.w(" ");
                    self.expr(value, prec::ATOM);
                }
                self.close_if(parens);
            }
            Expr::YieldFrom(y) => {
                let parens = ctx > prec::YIELD;
                self.open_if(parens);
                self.w("yield from ");
                self.expr(&y.value, prec::ATOM);
                self.close_if(parens);
            }
            Expr::Compare(c) => {
                let parens = ctx > prec::CMP;
                self.open_if(parens);
                self.expr(&c.left, prec::next(prec::CMP));
                for (op, right) in c.ops.iter().zip(c.comparators.iter()) {
                    self.w(" ");
                    self.w(cmp_op(*op));
                    self.w(" ");
                    self.expr(right, prec::next(prec::CMP));
                }
                self.close_if(parens);
            }
            Expr::Call(c) => {
                self.expr(&c.func, prec::ATOM);
                self.w("(");
                let mut first = true;
                for arg in c.arguments.args.iter() {
                    if !first {
                        self.w(", ");
                    }
                    first = false;
                    self.expr(arg, prec::TEST);
                }
                for keyword in c.arguments.keywords.iter() {
                    if !first {
                        self.w(", ");
                    }
                    first = false;
                    match &keyword.arg {
                        None => self.w("**"),
                        Some(name) => {
                            self.w(name.as_str());
                            self.w("=");
                        }
                    }
                    self.expr(&keyword.value, prec::TEST);
                }
                self.w(")");
            }
            Expr::FString(_) | Expr::TString(_) | Expr::IpyEscapeCommand(_) => {
                self.source_text(e.range());
            }
            Expr::StringLiteral(s) => {
                if s.value.is_unicode() {
                    self.w("u");
                }
                let text = python_str_repr(s.value.to_str());
                self.w(&text);
            }
            Expr::BytesLiteral(b) => {
                let bytes: Vec<u8> = b.value.bytes().collect();
                let text = python_bytes_repr(&bytes);
                self.w(&text);
            }
            Expr::NumberLiteral(n) => {
                let text = number_repr(&n.value);
                self.w(&text);
            }
            Expr::BooleanLiteral(b) => self.w(if b.value { "True" } else { "False" }),
            Expr::NoneLiteral(_) => self.w("None"),
            Expr::EllipsisLiteral(_) => self.w("..."),
            Expr::Attribute(a) => {
                self.expr(&a.value, prec::ATOM);
                // `3.__abs__()` is a syntax error; CPython adds a space after any int
                // constant (bool included, being an int subclass).
                let int_constant = matches!(
                    &*a.value,
                    Expr::NumberLiteral(ast::ExprNumberLiteral {
                        value: Number::Int(_),
                        ..
                    }) | Expr::BooleanLiteral(_)
                );
                if int_constant {
                    self.w(" ");
                }
                self.w(".");
                self.w(a.attr.as_str());
            }
            Expr::Subscript(s) => {
                self.expr(&s.value, prec::ATOM);
                self.w("[");
                match &*s.slice {
                    Expr::Tuple(t) if !t.elts.is_empty() => self.items_view(&t.elts),
                    // CPython's grammar makes `X[*a]` a one-element tuple.
                    Expr::Starred(_) => {
                        self.expr(&s.slice, prec::TEST);
                        self.w(",");
                    }
                    other => self.expr(other, prec::TEST),
                }
                self.w("]");
            }
            Expr::Starred(s) => {
                self.w("*");
                self.expr(&s.value, prec::EXPR);
            }
            Expr::Name(n) => self.w(n.id.as_str()),
            Expr::List(l) => {
                self.w("[");
                self.comma_separated(&l.elts, prec::TEST);
                self.w("]");
            }
            Expr::Tuple(t) => {
                let parens = t.elts.is_empty() || ctx > prec::TUPLE;
                self.open_if(parens);
                self.items_view(&t.elts);
                self.close_if(parens);
            }
            Expr::Slice(s) => {
                if let Some(lower) = &s.lower {
                    self.expr(lower, prec::TEST);
                }
                self.w(":");
                if let Some(upper) = &s.upper {
                    self.expr(upper, prec::TEST);
                }
                if let Some(step) = &s.step {
                    self.w(":");
                    self.expr(step, prec::TEST);
                }
            }
        }
    }

    fn comprehensions(&mut self, generators: &[ast::Comprehension]) {
        for g in generators {
            self.w(if g.is_async { " async for " } else { " for " });
            self.expr(&g.target, prec::TUPLE);
            self.w(" in ");
            self.expr(&g.iter, prec::next(prec::TEST));
            for condition in &g.ifs {
                self.w(" if ");
                self.expr(condition, prec::next(prec::TEST));
            }
        }
    }

    /// CPython's `visit_arguments` (used for lambdas).
    fn parameters(&mut self, p: &Parameters) {
        let mut first = true;
        let positional = p.posonlyargs.iter().chain(p.args.iter());
        for (index, param) in positional.enumerate() {
            if !first {
                self.w(", ");
            }
            first = false;
            self.parameter(&param.parameter);
            if let Some(default) = &param.default {
                self.w("=");
                self.expr(default, prec::TEST);
            }
            if index + 1 == p.posonlyargs.len() {
                self.w(", /");
            }
        }
        if p.vararg.is_some() || !p.kwonlyargs.is_empty() {
            if !first {
                self.w(", ");
            }
            first = false;
            self.w("*");
            if let Some(vararg) = &p.vararg {
                self.parameter(vararg);
            }
        }
        for param in p.kwonlyargs.iter() {
            self.w(", ");
            self.parameter(&param.parameter);
            if let Some(default) = &param.default {
                self.w("=");
                self.expr(default, prec::TEST);
            }
        }
        if let Some(kwarg) = &p.kwarg {
            if !first {
                self.w(", ");
            }
            self.w("**");
            self.parameter(kwarg);
        }
    }

    fn parameter(&mut self, p: &ast::Parameter) {
        self.w(p.name.as_str());
        if let Some(annotation) = &p.annotation {
            self.w(": ");
            self.expr(annotation, prec::TEST);
        }
    }
}

fn cmp_op(op: CmpOp) -> &'static str {
    match op {
        CmpOp::Eq => "==",
        CmpOp::NotEq => "!=",
        CmpOp::Lt => "<",
        CmpOp::LtE => "<=",
        CmpOp::Gt => ">",
        CmpOp::GtE => ">=",
        CmpOp::Is => "is",
        CmpOp::IsNot => "is not",
        CmpOp::In => "in",
        CmpOp::NotIn => "not in",
    }
}

/// `repr()` of a number constant, with CPython's `inf` substitution (`1e309`).
fn number_repr(n: &Number) -> String {
    match n {
        Number::Int(i) => int_repr(i),
        Number::Float(f) => float_repr(*f, true),
        Number::Complex { real, imag } => {
            if *real == 0.0 && real.is_sign_positive() {
                format!("{}j", float_repr(*imag, false))
            } else {
                // Literals always have a zero real part; kept for completeness.
                let sign = if imag.is_sign_negative() { "-" } else { "+" };
                format!(
                    "({}{}{}j)",
                    float_repr(*real, false),
                    sign,
                    float_repr(imag.abs(), false)
                )
            }
        }
    }
}

/// Decimal `repr()` of an int literal; Ruff keeps literals over `u64` as their source
/// text (underscores removed for decimals, kept for hex/octal/binary).
fn int_repr(i: &ast::Int) -> String {
    if let Some(v) = i.as_u64() {
        return v.to_string();
    }
    let text: String = i.to_string().chars().filter(|&c| c != '_').collect();
    let lower = text.to_ascii_lowercase();
    let (digits, radix) = if let Some(d) = lower.strip_prefix("0x") {
        (d, 16)
    } else if let Some(d) = lower.strip_prefix("0o") {
        (d, 8)
    } else if let Some(d) = lower.strip_prefix("0b") {
        (d, 2)
    } else {
        return text;
    };
    // Little-endian limbs in base 10^9.
    const BASE: u64 = 1_000_000_000;
    let mut limbs: Vec<u64> = vec![0];
    for c in digits.chars() {
        let Some(d) = c.to_digit(radix) else {
            return text;
        };
        let mut carry = u64::from(d);
        for limb in limbs.iter_mut() {
            let v = *limb * u64::from(radix) + carry;
            *limb = v % BASE;
            carry = v / BASE;
        }
        while carry > 0 {
            limbs.push(carry % BASE);
            carry /= BASE;
        }
    }
    let mut out = String::new();
    for (i, limb) in limbs.iter().rev().enumerate() {
        if i == 0 {
            out.push_str(&limb.to_string());
        } else {
            out.push_str(&format!("{limb:09}"));
        }
    }
    out
}

/// Python's `repr(float)` (`add_dot_0`), or the imaginary part of `repr(complex)`
/// (`!add_dot_0`): shortest round-trip digits, exponent form when the decimal point
/// position is below -3 or above 16.
fn float_repr(f: f64, add_dot_0: bool) -> String {
    if f.is_nan() {
        return "(1e309-1e309)".to_owned();
    }
    if f.is_infinite() {
        return if f > 0.0 { "1e309" } else { "-1e309" }.to_owned();
    }
    let sign = if f.is_sign_negative() { "-" } else { "" };
    // Rust's `{:e}` gives the shortest round-trip digits: "d[.ddd]e[-]N".
    let sci = format!("{:e}", f.abs());
    let (mantissa, exponent) = sci.split_once('e').unwrap_or((sci.as_str(), "0"));
    let exponent: i64 = exponent.parse().unwrap_or(0);
    let digits: String = mantissa.chars().filter(|c| c.is_ascii_digit()).collect();
    let decpt = exponent + 1; // value = 0.DIGITS * 10^decpt
    let n = digits.len() as i64;
    let body = if decpt <= -4 || decpt > 16 {
        let (head, tail) = digits.split_at(1);
        let mut s = head.to_owned();
        if !tail.is_empty() {
            s.push('.');
            s.push_str(tail);
        }
        let e = decpt - 1;
        s.push_str(&format!("e{}{:02}", if e < 0 { '-' } else { '+' }, e.abs()));
        s
    } else if decpt <= 0 {
        format!("0.{}{}", "0".repeat((-decpt) as usize), digits)
    } else if decpt >= n {
        let mut s = format!("{}{}", digits, "0".repeat((decpt - n) as usize));
        if add_dot_0 {
            s.push_str(".0");
        }
        s
    } else {
        let (int_part, frac) = digits.split_at(decpt as usize);
        format!("{int_part}.{frac}")
    };
    format!("{sign}{body}")
}

/// Python's `repr(str)`.
fn python_str_repr(s: &str) -> String {
    let quote = if s.contains('\'') && !s.contains('"') {
        '"'
    } else {
        '\''
    };
    let mut out = String::with_capacity(s.len() + 2);
    out.push(quote);
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\t' => out.push_str("\\t"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            c if c == quote => {
                out.push('\\');
                out.push(c);
            }
            c if (c as u32) < 0x20 || c as u32 == 0x7f => {
                out.push_str(&format!("\\x{:02x}", c as u32));
            }
            c if (c as u32) < 0x7f || is_printable(c) => out.push(c),
            c if (c as u32) <= 0xff => out.push_str(&format!("\\x{:02x}", c as u32)),
            c if (c as u32) <= 0xffff => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push_str(&format!("\\U{:08x}", c as u32)),
        }
    }
    out.push(quote);
    out
}

/// Python's `repr(bytes)`.
fn python_bytes_repr(b: &[u8]) -> String {
    let quote = if b.contains(&b'\'') && !b.contains(&b'"') {
        b'"'
    } else {
        b'\''
    };
    let mut out = String::with_capacity(b.len() + 3);
    out.push('b');
    out.push(char::from(quote));
    for &byte in b {
        match byte {
            b'\\' => out.push_str("\\\\"),
            b'\t' => out.push_str("\\t"),
            b'\n' => out.push_str("\\n"),
            b'\r' => out.push_str("\\r"),
            q if q == quote => {
                out.push('\\');
                out.push(char::from(q));
            }
            0x20..=0x7e => out.push(char::from(byte)),
            _ => out.push_str(&format!("\\x{byte:02x}")),
        }
    }
    out.push(char::from(quote));
    out
}

/// Approximates Python's `str.isprintable` for one non-ASCII character: false for the
/// C1 controls, the space separators other than U+0020, the line/paragraph separators,
/// the common format characters, surrogates, private-use planes and the noncharacters.
/// Unassigned code points (category Cn, which Python also escapes) are not recognised;
/// they only matter for string-literal annotations containing them.
fn is_printable(c: char) -> bool {
    let u = c as u32;
    let non_printable = matches!(u,
        0x80..=0xa0
        | 0xad
        | 0x600..=0x605
        | 0x61c
        | 0x6dd
        | 0x70f
        | 0x890..=0x891
        | 0x8e2
        | 0x1680
        | 0x180e
        | 0x2000..=0x200f
        | 0x2028..=0x202f
        | 0x205f..=0x2064
        | 0x2066..=0x206f
        | 0x3000
        | 0xd800..=0xf8ff
        | 0xfdd0..=0xfdef
        | 0xfeff
        | 0xfff9..=0xfffb
        | 0x110bd
        | 0x110cd
        | 0x13430..=0x1343f
        | 0x1bca0..=0x1bca3
        | 0x1d173..=0x1d17a
        | 0xe0001
        | 0xe0020..=0xe007f
        | 0xf0000..=0x10ffff
    );
    !non_printable && (u & 0xfffe) != 0xfffe
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vectors() -> Vec<Value> {
        crate::test_vectors("python_code")
            .as_array()
            .expect("python_code is an array")
            .clone()
    }

    /// The parallel batch gives what one call at a time gives, in order, for
    /// every vector and for code that is empty, broken or deeply nested.
    #[test]
    fn validate_many_equals_validate_one_by_one() {
        let mut codes: Vec<String> = vectors()
            .iter()
            .filter_map(|v| v["code"].as_str().map(str::to_owned))
            .collect();
        codes.push(String::new());
        codes.push("async def main(:\n".to_owned());
        codes.push(format!(
            "async def main():\n    return {}1\n",
            "-".repeat(5000)
        ));
        codes.push("x".repeat(MAX_CODE_BYTES + 1));
        let refs: Vec<&str> = codes.iter().map(String::as_str).collect();
        let many = validate_many(&refs);
        assert_eq!(many.len(), codes.len());
        for (code, v) in refs.iter().zip(&many) {
            assert_eq!(v, &validate(code), "{:?}", &code[..code.len().min(60)]);
        }
    }

    #[test]
    fn mcpbox_vectors_match() {
        let vectors = vectors();
        assert_eq!(vectors.len(), 14);
        for vector in vectors {
            let code = vector["code"].as_str().expect("code");
            let expected = &vector["validate"];
            let v = validate(code);
            assert_eq!(Value::Bool(v.valid), expected["valid"], "valid: {code:?}");
            assert_eq!(
                Value::Bool(v.has_main),
                expected["has_main"],
                "has_main: {code:?}"
            );
            assert_eq!(
                serde_json::to_value(&v.parameters).expect("serialise"),
                expected["parameters"],
                "parameters: {code:?}"
            );
            assert_eq!(
                v.error.is_some(),
                !expected["error"].is_null(),
                "error: {code:?}"
            );
            if expected["error"] == "Code cannot be empty" {
                assert_eq!(v.error.as_deref(), Some("Code cannot be empty"));
            }
            assert_eq!(input_schema(&v), vector["input_schema"], "schema: {code:?}");
        }
    }

    #[test]
    fn unclosed_bracket_uses_cpython_wording() {
        let v = validate("x = (");
        assert_eq!(
            v.error.as_deref(),
            Some("Syntax error at line 1: '(' was never closed")
        );
        let at = v.syntax_error.expect("syntax error");
        assert_eq!((at.line, at.column), (1, 5));
    }

    #[test]
    fn error_positions_are_lines_and_characters() {
        let v = validate("x = 1\r\ny = 'é' +\n");
        let at = v.syntax_error.expect("syntax error");
        assert_eq!(at.line, 2);
        assert!(v
            .error
            .expect("error")
            .starts_with("Syntax error at line 2: "));
        let text = "ab\ncé\rx\r\ny";
        assert_eq!(line_column(text, 5), (2, 3));
        assert_eq!(line_column(text, 8), (3, 2));
        assert_eq!(line_column(text, 10), (4, 1));
        assert_eq!(line_column("é=1", 2), (1, 2));
    }

    fn assert_valid(code: &str, valid: bool) {
        let v = validate(code);
        assert_eq!(v.valid, valid, "{code:?} -> {:?}", v.error);
    }

    #[test]
    fn python_314_grammar() {
        for code in [
            "type X = int",
            "type X[T] = list[T]",
            "def f[T](x: T) -> T:\n    return x",
            "class A[T: int, *Ts, **P]:\n    pass",
            "def f[T = int]():\n    pass",
            "f\"{'a' + \"b\"}\"",
            "f'{f'{f'{1}'}'}'",
            "f'{x\n}'",
            "f'{x:{y:{z}}}'",
            "t'{x!r:>10}'",
            "try:\n    pass\nexcept A, B:\n    pass",
            "try:\n    pass\nexcept* A, B:\n    pass",
            "match x:\n    case [a, *rest]:\n        pass",
            "return 1",
            "nonlocal x",
            "def f(a, a):\n    pass",
            "await x",
            "x = [1if y else 2for z in w]\nx = 0b1and 1\nx = 1.e5if 1 else 2\nx = 1 .real",
            "x = yield # c\n(yield) @ 1\nf'{yield!r:>{w}}'\nx = yield + 1\nyield x, y",
            "with (yield):\n    pass\nf'{yield=}'\nf'{yield}'\nx = ((yield a) for a in b)",
            "if x:\n\tif y:\n\t\tpass\n\telse:\n\t  pass\n",
            "if x:\n  \tpass\n  \tpass\n\x0cy = 1",
            "if x:\n    \\\n  pass\n    pass",
            "def f(\n\t  a,\n        b):\n    pass",
            "(".repeat(200).to_owned().as_str(),
        ] {
            if code.starts_with('(') {
                assert_valid(&format!("{code}{}", ")".repeat(200)), true);
            } else {
                assert_valid(code, true);
            }
        }
        for code in [
            "x = (",
            "if x:\npass",
            "try:\n    pass\nexcept A, B as e:\n    pass",
            "lazy import json",
            "[*x for x in y]",
            "f((a)=1)",
            "f'{x:{y:{z:{w}}}}'",
            "\u{feff}x = 1",
            "x = 1\0",
            "x = 1 # \0",
            "yield @ 1",
            "x = yield < 1",
            "yield ,",
            "yield if a else b",
            "raise 4from E",
            "x = 1while",
            "(yield a for a in b)",
            "if x:\n        pass\n\tpass",
            "match x:\n \t   case 1:\n        pass",
            "match x:\n    case [a b]:\n        pass",
            "match x:\n    case (a) (b):\n        pass",
            "if x:\n  \tpass\n \t\tpass",
            "1 = x",
            "print 'hi'",
        ] {
            assert_valid(code, false);
        }
        assert_valid(&format!("{}{}", "(".repeat(201), ")".repeat(201)), false);
        let fstrings = |n: usize| -> String {
            (0..n).fold("1".to_owned(), |inner, _| format!("f\"{{{inner}}}\""))
        };
        assert_valid(&fstrings(149), true);
        assert_valid(&fstrings(150), false);
        let nest = |n: usize| -> String {
            let mut s: String = (0..n)
                .map(|i| format!("{}if x:\n", " ".repeat(i)))
                .collect();
            s.push_str(&" ".repeat(n));
            s.push_str("pass\n");
            s
        };
        assert_valid(&nest(99), true);
        assert_valid(&nest(100), false);
    }

    #[test]
    fn empty_means_python_whitespace() {
        for code in ["", " ", "\n\t\r\x0c\x0b", "\u{1c}\u{1f}", "\u{3000}\u{a0}"] {
            let v = validate(code);
            assert_eq!(v.error.as_deref(), Some("Code cannot be empty"), "{code:?}");
        }
        assert!(validate("# comment").valid);
    }

    fn params(code: &str) -> Vec<(String, Option<String>)> {
        let v = validate(code);
        assert!(v.valid, "{code:?}: {:?}", v.error);
        v.parameters
            .into_iter()
            .map(|p| (p.name, p.annotation))
            .collect()
    }

    #[test]
    fn breadth_first_search_order() {
        // A main inside an except handler is one level deeper than one in the try body.
        let code = "try:\n    pass\nexcept E:\n    async def main(a): pass\nelse:\n    async def main(b): pass";
        assert_eq!(params(code)[0].0, "b");
        // An elif body is nested in CPython's If.orelse, one level deeper per elif.
        let code = "if x:\n    pass\nelif y:\n    async def main(a): pass\nelse:\n    pass\nwhile z:\n    async def main(b): pass";
        assert_eq!(params(code)[0].0, "b");
        let code = "if x:\n    pass\nelse:\n    async def main(a): pass\nwhile z:\n    async def main(b): pass";
        assert_eq!(params(code)[0].0, "a");
        let code = "match x:\n    case 1:\n        async def main(a): pass\nwith y:\n    async def main(b): pass";
        assert_eq!(params(code)[0].0, "b");
        let v = validate("def main(a): pass\nclass K:\n    def main(self): pass");
        assert!(v.valid && !v.has_main);
        let v = validate("x = 1\n\n@dec\nasync def main(q: int): pass");
        assert_eq!(v.main_line, Some(4));
        // Identifiers are NFKC-normalised, as CPython does.
        assert_eq!(params("async def ｍａｉｎ(ﬁle: int): pass")[0].0, "file");
    }

    #[test]
    fn only_ordinary_parameters() {
        let p = params("async def main(a, /, b: int = 1, *c: str, d, e: int = 2, **f): pass");
        assert_eq!(p, vec![("b".to_owned(), Some("int".to_owned()))]);
    }

    /// `ast.unparse` outputs recorded from CPython.
    const UNPARSE: &[(&str, &str)] = &[
        ("int | None", "int | None"),
        ("Dict[str,int]", "Dict[str, int]"),
        ("\"str\"", "'str'"),
        ("typing.Optional[int]", "typing.Optional[int]"),
        ("Optional[List[int]]", "Optional[List[int]]"),
        ("str|int|None", "str | int | None"),
        ("(int)", "int"),
        ("X[*Ts]", "X[*Ts,]"),
        ("X[(a, b)]", "X[a, b]"),
        ("X[()]", "X[()]"),
        ("X[a,]", "X[a,]"),
        ("a or b or not c", "a or b or (not c)"),
        ("True.real", "True .real"),
        ("1 .real", "1 .real"),
        ("f(a=1, *b)", "f(*b, a=1)"),
        ("\"it's\"", "\"it's\""),
        ("u\"x\"", "u'x'"),
        ("b\"a'\"", "b\"a'\""),
        ("1e16", "1e+16"),
        ("1e15", "1000000000000000.0"),
        ("0.0001", "0.0001"),
        ("0.00001", "1e-05"),
        ("1e16j", "1e+16j"),
        ("100.0j", "100j"),
        ("1e400", "1e309"),
        ("1e400j", "1e309j"),
        ("0xffffffffffffffffffff", "1208925819614629174706175"),
        ("1_000", "1000"),
        ("0o17", "15"),
        ("1.5e-7", "1.5e-07"),
        ("2.5e20", "2.5e+20"),
        ("123456789012345678.0", "1.2345678901234568e+17"),
        (
            "lambda a, /, b=1, *c, d, e=2, **f: 0",
            "lambda a, /, b=1, *c, d, e=2, **f: 0",
        ),
        ("lambda: 0", "lambda: 0"),
        ("(x := 1 + 2)", "(x := (1 + 2))"),
        ("{**a, \"b\": 1}", "{**a, 'b': 1}"),
        ("[x async for x in y if z]", "[x async for x in y if z]"),
        ("(yield)", "(yield)"),
        ("-(-1)", "--1"),
        ("(a if b else c) if d else e", "(a if b else c) if d else e"),
        ("not (a < b)", "not a < b"),
        ("(not a) < b", "(not a) < b"),
        ("2 ** -1", "2 ** (-1)"),
        ("(-2) ** 2", "(-2) ** 2"),
        ("a - (b - c)", "a - (b - c)"),
        ("(a - b) - c", "a - b - c"),
        ("(a ** b) ** c", "(a ** b) ** c"),
        ("X[1:2, ::3]", "X[1:2, ::3]"),
        ("Literal[-1, 2.5, \"a\"]", "Literal[-1, 2.5, 'a']"),
        ("\"a\" \"b\"", "'ab'"),
        ("b\"a\" b\"b\"", "b'ab'"),
        (
            "Annotated[str, Field(description=\"City name\", min_length=1)]",
            "Annotated[str, Field(description='City name', min_length=1)]",
        ),
        ("Callable[[int, str], None]", "Callable[[int, str], None]"),
        ("tuple[int, ...]", "tuple[int, ...]"),
        ("\"\\\\\"", "'\\\\'"),
        ("{1, 2}", "{1, 2}"),
        ("{}", "{}"),
        ("(await x).y", "(await x).y"),
        ("f((a, b))", "f((a, b))"),
        ("f(x for x in y)", "f((x for x in y))"),
        ("a < b == c", "a < b == c"),
        ("a is not b", "a is not b"),
        ("a not in b", "a not in b"),
        ("a & b ^ c | d", "a & b ^ c | d"),
        ("(a | b) & c", "(a | b) & c"),
        ("'x'[0]", "'x'[0]"),
        ("(1).real", "1 .real"),
        ("1.5.real", "1.5.real"),
        ("{k: v for k, v in z}", "{k: v for k, v in z}"),
        (
            "\"\\x00\\u200b\\xa0\u{e9}\\U0001f600\\t\\n\"",
            "'\\x00\\u200b\\xa0\u{e9}\u{1f600}\\t\\n'",
        ),
        ("b'\\x00\\xff'", "b'\\x00\\xff'"),
        ("\"'\\\"\"", "'\\'\"'"),
        ("f'{x}'", "f'{x}'"),
    ];

    #[test]
    fn unparse_matches_cpython() {
        for (source, expected) in UNPARSE {
            let code = format!("async def main(p: {source}): pass");
            let p = params(&code);
            assert_eq!(p[0].1.as_deref(), Some(*expected), "unparse of {source}");
        }
    }

    #[test]
    fn schema_rules() {
        assert_eq!(schema_type("Optional[int]"), ("integer", true));
        assert_eq!(schema_type("int | None"), ("integer", true));
        assert_eq!(schema_type("str | int | None"), ("string", true));
        assert_eq!(schema_type("None | int"), ("string", false));
        assert_eq!(schema_type("List"), ("array", false));
        assert_eq!(schema_type("Optional[Dict]"), ("object", true));
        // Duplicate names (valid for ast.parse): last type wins, listed twice as required.
        let v = validate("async def main(a: int, a: str): pass");
        let schema = input_schema(&v);
        assert_eq!(schema["properties"]["a"]["type"], "string");
        assert_eq!(schema["required"], json!(["a", "a"]));
    }

    #[test]
    fn deep_nesting_does_not_overflow() {
        for code in [
            format!("x = {}1", "-".repeat(100_000)),
            format!("x = {}", vec!["a"; 50_000].join("+")),
            format!("x = {}a", "a**".repeat(30_000)),
            format!("x = {}1", "lambda: ".repeat(10_000)),
            format!("x = a{}", ".b".repeat(50_000)),
            format!("async def main(p: {}int): pass", "-".repeat(50_000)),
        ] {
            let _ = validate(&code);
        }
    }

    #[test]
    fn never_panics_on_garbage() {
        // A small deterministic generator (xorshift) over Python-ish fragments.
        let pieces = [
            "(", ")", "[", "]", "{", "}", ":", "\n", "    ", "\t", "'", "\"", "'''", "f'", "{x",
            "}", "\\", "#", "async ", "def ", "main", "lambda", "=", ",", "*", "**", "/", "|",
            "None", "é", "\u{feff}", "\0", "\r", "match ", "case ", "type ", "t'", "0x", "1e", "_",
            "@", ";", "yield", "await", "->", ".", "not ", "if ", "else",
        ];
        let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
        for _ in 0..300 {
            let mut code = String::new();
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            let len = (state % 40) as usize;
            for _ in 0..len {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                code.push_str(pieces[(state % pieces.len() as u64) as usize]);
            }
            let v = validate(&code);
            let _ = input_schema(&v);
            let also = validate(&format!("async def main(a: {code}): pass"));
            let _ = input_schema(&also);
        }
    }
}
