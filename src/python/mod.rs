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
//!
//! Files:
//! - here: the result types and the entry points ([`validate`], [`validate_many`]);
//! - `checks`: what Ruff lets through and CPython refuses (tokenizer limits,
//!   indentation, stray `yield`, bad patterns), and positions in the code;
//! - `main_fn`: finding `async def main` as MCPBox does (breadth-first) and the
//!   input schema of its parameters;
//! - `unparse`: `ast.unparse`-identical text of an annotation.

mod checks;
mod main_fn;
mod unparse;

use checks::*;
use main_fn::*;

use ruff_python_ast::token::{Token, TokenKind};
use ruff_python_ast::visitor::Visitor;
use ruff_python_ast::{self as ast, PythonVersion};
use ruff_python_parser::{parse_unchecked, Mode, ParseOptions};
use ruff_text_size::Ranged;

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

pub use main_fn::input_schema;
pub use unparse::unparse;

#[cfg(test)]
mod tests;
