//! MCPBox's Python rules, natively: syntax check, the `async def main` search and
//! `input_schema` derivation (MCPBOX.md §4.2, §4.3), with ruff's Python parser.
//!
//! Pure functions of the code text; where the code came from (inline or `codeFile`)
//! and how errors map onto manifest lines lives in `manifest`.

use std::collections::VecDeque;

use ruff_python_ast::{ElifElseClause, ExceptHandler, Expr, MatchCase, Operator, Stmt};
use ruff_text_size::Ranged;
use serde_json::{json, Map, Value};

/// One parameter of `async def main`, as MCPBox's `validate_python_code` reports it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Parameter {
    /// The parameter's name.
    pub name: String,
    /// `ast.unparse(annotation)`, or None without an annotation.
    #[serde(rename = "type")]
    pub annotation: Option<String>,
}

/// Where a syntax error is: 1-based line and column (in characters) in the code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyntaxErrorAt {
    /// 1-based line.
    pub line: usize,
    /// 1-based column, in characters.
    pub column: usize,
    /// The parser's reason.
    pub message: String,
}

/// MCPBox's `validate_python_code` result.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Validation {
    /// The code parses.
    pub valid: bool,
    /// An `async def main` exists somewhere.
    pub has_main: bool,
    /// MCPBox's error text: `Code cannot be empty` or `Syntax error at line N: msg`.
    pub error: Option<String>,
    /// Position of a syntax error, for diagnostics.
    pub syntax_error: Option<SyntaxErrorAt>,
    /// 1-based line of the `async def main` found, for diagnostics.
    pub main_line: Option<usize>,
    /// `main`'s ordinary positional-or-keyword parameters.
    pub parameters: Vec<Parameter>,
}

fn line_col(code: &str, offset: usize) -> (usize, usize) {
    let mut offset = offset.min(code.len());
    while !code.is_char_boundary(offset) {
        offset -= 1;
    }
    let before = &code[..offset];
    let line = before.matches('\n').count() + 1;
    let start = before.rfind('\n').map(|i| i + 1).unwrap_or(0);
    (line, before[start..].chars().count() + 1)
}

/// A node of Python's `ast.walk` that can hold statements. Expressions never
/// hold statements, so leaving them out keeps the breadth-first order of the
/// statements exactly as `ast.walk` visits them.
enum Node<'a> {
    Stmt(&'a Stmt),
    Handler(&'a ExceptHandler),
    Case(&'a MatchCase),
    /// An `elif` chain: CPython nests each `elif` as an `If` in `orelse`.
    Elif(&'a [ElifElseClause]),
}

fn push_orelse<'a>(queue: &mut VecDeque<Node<'a>>, clauses: &'a [ElifElseClause]) {
    match clauses.first() {
        None => {}
        Some(c) if c.test.is_some() => queue.push_back(Node::Elif(clauses)),
        Some(c) => queue.extend(c.body.iter().map(Node::Stmt)),
    }
}

/// Validates code as MCPBox does.
pub fn validate(code: &str) -> Validation {
    let mut v = Validation {
        valid: false,
        has_main: false,
        error: None,
        syntax_error: None,
        main_line: None,
        parameters: Vec::new(),
    };
    if code.trim().is_empty() {
        v.error = Some("Code cannot be empty".into());
        return v;
    }
    // The parser must never take the process down on hostile input.
    let parsed = std::panic::catch_unwind(|| ruff_python_parser::parse_module(code));
    let module = match parsed {
        Ok(Ok(parsed)) => parsed.into_syntax(),
        Ok(Err(e)) => {
            let (line, column) = line_col(code, e.location.start().to_usize());
            let message = e.error.to_string();
            v.error = Some(format!("Syntax error at line {line}: {message}"));
            v.syntax_error = Some(SyntaxErrorAt {
                line,
                column,
                message,
            });
            return v;
        }
        Err(_) => {
            v.error = Some("Syntax error at line 1: the parser failed on this code".into());
            v.syntax_error = Some(SyntaxErrorAt {
                line: 1,
                column: 1,
                message: "the parser failed on this code".into(),
            });
            return v;
        }
    };
    v.valid = true;
    let mut queue: VecDeque<Node<'_>> = module.body.iter().map(Node::Stmt).collect();
    while let Some(node) = queue.pop_front() {
        match node {
            Node::Stmt(stmt) => match stmt {
                Stmt::FunctionDef(f) => {
                    if f.is_async && f.name.as_str() == "main" {
                        v.has_main = true;
                        v.main_line = Some(line_col(code, f.range().start().to_usize()).0);
                        v.parameters = f
                            .parameters
                            .args
                            .iter()
                            .map(|p| Parameter {
                                name: p.parameter.name.as_str().to_string(),
                                annotation: p
                                    .parameter
                                    .annotation
                                    .as_deref()
                                    .map(|a| unparse(code, a)),
                            })
                            .collect();
                        return v;
                    }
                    queue.extend(f.body.iter().map(Node::Stmt));
                }
                Stmt::ClassDef(c) => queue.extend(c.body.iter().map(Node::Stmt)),
                Stmt::If(i) => {
                    queue.extend(i.body.iter().map(Node::Stmt));
                    push_orelse(&mut queue, &i.elif_else_clauses);
                }
                Stmt::For(f) => {
                    queue.extend(f.body.iter().map(Node::Stmt));
                    queue.extend(f.orelse.iter().map(Node::Stmt));
                }
                Stmt::While(w) => {
                    queue.extend(w.body.iter().map(Node::Stmt));
                    queue.extend(w.orelse.iter().map(Node::Stmt));
                }
                Stmt::With(w) => queue.extend(w.body.iter().map(Node::Stmt)),
                Stmt::Try(t) => {
                    queue.extend(t.body.iter().map(Node::Stmt));
                    queue.extend(t.handlers.iter().map(Node::Handler));
                    queue.extend(t.orelse.iter().map(Node::Stmt));
                    queue.extend(t.finalbody.iter().map(Node::Stmt));
                }
                Stmt::Match(m) => queue.extend(m.cases.iter().map(Node::Case)),
                _ => {}
            },
            Node::Handler(ExceptHandler::ExceptHandler(h)) => {
                queue.extend(h.body.iter().map(Node::Stmt))
            }
            Node::Case(c) => queue.extend(c.body.iter().map(Node::Stmt)),
            Node::Elif(clauses) => {
                queue.extend(clauses[0].body.iter().map(Node::Stmt));
                push_orelse(&mut queue, &clauses[1..]);
            }
        }
    }
    v
}

/// Python's `repr` of a string, as `ast.unparse` writes string constants.
fn py_repr(s: &str) -> String {
    let quote = if s.contains('\'') && !s.contains('"') {
        '"'
    } else {
        '\''
    };
    let mut out = String::new();
    out.push(quote);
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c == quote => {
                out.push('\\');
                out.push(c);
            }
            c if (c as u32) < 0x20 || c as u32 == 0x7f => {
                out.push_str(&format!("\\x{:02x}", c as u32))
            }
            c => out.push(c),
        }
    }
    out.push(quote);
    out
}

/// `ast.unparse` of an annotation, for the expressions annotations use; anything
/// more exotic falls back to its source text.
pub fn unparse(code: &str, e: &Expr) -> String {
    let source = || {
        code.get(e.range().start().to_usize()..e.range().end().to_usize())
            .unwrap_or("")
            .to_string()
    };
    match e {
        Expr::Name(n) => n.id.as_str().to_string(),
        Expr::Attribute(a) => format!("{}.{}", unparse(code, &a.value), a.attr.as_str()),
        Expr::Subscript(s) => {
            let inner = match s.slice.as_ref() {
                // A tuple slice prints without parentheses: Dict[str, int].
                Expr::Tuple(t) if !t.elts.is_empty() => t
                    .elts
                    .iter()
                    .map(|x| unparse(code, x))
                    .collect::<Vec<_>>()
                    .join(", "),
                other => unparse(code, other),
            };
            format!("{}[{inner}]", unparse(code, &s.value))
        }
        Expr::BinOp(b) if b.op == Operator::BitOr => {
            let right = unparse(code, &b.right);
            // `|` is left-associative: only a right operand of the same operator needs parentheses.
            let right = match b.right.as_ref() {
                Expr::BinOp(r) if r.op == Operator::BitOr => format!("({right})"),
                _ => right,
            };
            format!("{} | {right}", unparse(code, &b.left))
        }
        Expr::StringLiteral(s) => py_repr(s.value.to_str()),
        Expr::NoneLiteral(_) => "None".into(),
        Expr::BooleanLiteral(b) => if b.value { "True" } else { "False" }.into(),
        Expr::EllipsisLiteral(_) => "...".into(),
        Expr::List(l) => format!(
            "[{}]",
            l.elts
                .iter()
                .map(|x| unparse(code, x))
                .collect::<Vec<_>>()
                .join(", ")
        ),
        Expr::Tuple(t) => match t.elts.len() {
            1 => format!("({},)", unparse(code, &t.elts[0])),
            _ => format!(
                "({})",
                t.elts
                    .iter()
                    .map(|x| unparse(code, x))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        },
        _ => source(),
    }
}

fn json_type(base: &str) -> &'static str {
    match base {
        "str" => "string",
        "int" => "integer",
        "float" => "number",
        "bool" => "boolean",
        "list" | "List" => "array",
        "dict" | "Dict" => "object",
        _ => "string",
    }
}

/// MCPBox's `input_schema` extraction from a validation result (§4.3).
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
        let (ty, optional) = match &p.annotation {
            None => ("string", false),
            Some(t) => {
                if let Some(inner) = t
                    .strip_prefix("Optional[")
                    .and_then(|r| r.strip_suffix(']'))
                {
                    (json_type(inner), true)
                } else if t.starts_with("Optional[") {
                    ("string", true)
                } else if t.contains(" | None") {
                    (json_type(t.replace(" | None", "").trim()), true)
                } else {
                    (json_type(t), false)
                }
            }
        };
        properties.insert(
            p.name.clone(),
            json!({"description": format!("Parameter: {}", p.name), "type": ty}),
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_mcpbox_vector_matches() {
        let text = std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../shared/reference/mcpbox-vectors.json"
        ))
        .unwrap();
        let vectors: Value = serde_json::from_str(&text).unwrap();
        let cases = vectors["python_code"].as_array().unwrap();
        assert_eq!(cases.len(), 14);
        for case in cases {
            let code = case["code"].as_str().unwrap();
            let want = &case["validate"];
            let v = validate(code);
            assert_eq!(v.valid, want["valid"].as_bool().unwrap(), "valid: {code:?}");
            assert_eq!(
                v.has_main,
                want["has_main"].as_bool().unwrap(),
                "has_main: {code:?}"
            );
            assert_eq!(
                v.error.is_some(),
                !want["error"].is_null(),
                "error: {code:?} {:?}",
                v.error
            );
            if want["error"] == "Code cannot be empty" {
                assert_eq!(v.error.as_deref(), Some("Code cannot be empty"));
            }
            if let Some(e) = want["error"].as_str() {
                assert!(
                    e.starts_with("Syntax error at line")
                        == v.error
                            .as_deref()
                            .unwrap()
                            .starts_with("Syntax error at line 1"),
                    "{e} vs {:?}",
                    v.error
                );
            }
            assert_eq!(
                serde_json::to_value(&v.parameters).unwrap(),
                want["parameters"],
                "parameters: {code:?}"
            );
            assert_eq!(
                input_schema(&v),
                case["input_schema"],
                "input_schema: {code:?}"
            );
        }
    }

    #[test]
    fn newer_grammar_is_accepted() {
        for code in [
            "type Alias = int\nasync def main(x: str):\n    pass\n",
            "def f[T](x: T) -> T:\n    return x\nasync def main():\n    pass\n",
            "async def main(x: str):\n    match x:\n        case 'a':\n            return 1\n",
            "async def main():\n    return f\"{'a' + f\"{1}\"}\"\n",
        ] {
            let v = validate(code);
            assert!(v.valid && v.has_main, "{code:?}: {:?}", v.error);
        }
    }

    #[test]
    fn breadth_first_search_follows_ast_walk() {
        // An elif body sits deeper than a top-level statement.
        let v = validate("if a:\n    pass\nelif b:\n    async def main(deep: int):\n        pass\nasync def main(top: str):\n    pass\n");
        assert_eq!(v.parameters[0].name, "top");
        let v = validate("try:\n    pass\nexcept E:\n    async def main(h: int):\n        pass\n");
        assert_eq!(v.parameters[0].name, "h");
        assert_eq!(v.main_line, Some(4));
    }

    #[test]
    fn syntax_errors_have_a_position() {
        let v = validate("async def main():\n    return (\n");
        assert!(!v.valid);
        let e = v.syntax_error.unwrap();
        assert!(e.line >= 2, "{e:?}");
        assert!(v.error.unwrap().starts_with("Syntax error at line"));
    }

    #[test]
    fn unparse_canonical_forms() {
        let v = validate("async def main(a: dict[str,int], b: 'x\\'y', c: typing.Optional[ int ], d: int|None|str, e: tuple[()]):\n    pass\n");
        let types: Vec<_> = v
            .parameters
            .iter()
            .map(|p| p.annotation.clone().unwrap())
            .collect();
        assert_eq!(
            types,
            vec![
                "dict[str, int]",
                "\"x'y\"",
                "typing.Optional[int]",
                "int | None | str",
                "tuple[()]"
            ]
        );
    }

    #[test]
    fn garbage_never_panics() {
        let mut seed = 0x2545_f491_4f6c_dd1du64;
        let alphabet: Vec<char> = "async def main():\n\t ()[]{}:'\"#\\@=+-*|,.;é\u{0}xyz0123"
            .chars()
            .collect();
        for _ in 0..2000 {
            let mut s = String::new();
            for _ in 0..(seed % 60) {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                s.push(alphabet[(seed % alphabet.len() as u64) as usize]);
            }
            let v = validate(&s);
            let _ = input_schema(&v);
        }
    }
}
