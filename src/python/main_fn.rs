//! `async def main` as MCPBox finds it — breadth-first through the module,
//! class bodies and compound statements, the first match wins — and the input
//! schema MCPBox derives from its parameters (MCPBOX.md §4.3).

use std::collections::VecDeque;

use ruff_python_ast::{self as ast, ElifElseClause, ExceptHandler, MatchCase, Stmt};
use serde_json::{json, Map, Value};

use super::*;

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
pub(super) fn schema_type(annotation: &str) -> (&'static str, bool) {
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

/// A node of CPython's AST that can contain statements, for the breadth-first walk.
pub(super) enum Container<'a> {
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
pub(super) fn find_async_main(body: &[Stmt]) -> Option<&ast::StmtFunctionDef> {
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
pub(super) fn push_orelse<'a>(queue: &mut VecDeque<Container<'a>>, clauses: &'a [ElifElseClause]) {
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
