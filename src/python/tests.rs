//! MCPBox's validate_python_code vectors and CPython's edge cases.

use super::*;
use serde_json::{json, Value};

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
        "(", ")", "[", "]", "{", "}", ":", "\n", "    ", "\t", "'", "\"", "'''", "f'", "{x", "}",
        "\\", "#", "async ", "def ", "main", "lambda", "=", ",", "*", "**", "/", "|", "None", "é",
        "\u{feff}", "\0", "\r", "match ", "case ", "type ", "t'", "0x", "1e", "_", "@", ";",
        "yield", "await", "->", ".", "not ", "if ", "else",
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
