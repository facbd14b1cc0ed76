//! `ast.unparse` of an expression, character for character: operator
//! precedence and parentheses, number and string reprs as CPython prints
//! them. MCPBox reports annotations as this text.

use ruff_python_ast::{self as ast, BoolOp, CmpOp, Expr, Number, Operator, Parameters, UnaryOp};
use ruff_text_size::{Ranged, TextRange};

/// CPython's `_Precedence` values (Lib/_ast_unparse.py).
pub(super) mod prec {
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

pub(super) struct Unparser<'s> {
    out: String,
    code: &'s str,
}

impl Unparser<'_> {
    fn push(&mut self, s: &str) {
        self.out.push_str(s);
    }

    fn open_if(&mut self, cond: bool) {
        if cond {
            self.push("(");
        }
    }

    fn close_if(&mut self, cond: bool) {
        if cond {
            self.push(")");
        }
    }

    fn comma_separated(&mut self, items: &[Expr], ctx: u8) {
        for (i, item) in items.iter().enumerate() {
            if i > 0 {
                self.push(", ");
            }
            self.expr(item, ctx);
        }
    }

    /// `items_view`: a one-element sequence gets a trailing comma.
    fn items_view(&mut self, items: &[Expr]) {
        if items.len() == 1 {
            self.expr(&items[0], prec::TEST);
            self.push(",");
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
                        self.push(word);
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
                self.push(" := ");
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
                self.push(" ");
                self.push(b.op.as_str());
                self.push(" ");
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
                self.push(u.op.as_str());
                if u.op == UnaryOp::Not {
                    self.push(" ");
                }
                self.expr(&u.operand, op_prec);
                self.close_if(parens);
            }
            Expr::Lambda(l) => {
                let parens = ctx > prec::TEST;
                self.open_if(parens);
                self.push("lambda");
                if let Some(params) = &l.parameters {
                    let mut args = Unparser {
                        out: String::new(),
                        code: self.code,
                    };
                    args.parameters(params);
                    if !args.out.is_empty() {
                        self.push(" ");
                        self.out.push_str(&args.out);
                    }
                }
                self.push(": ");
                self.expr(&l.body, prec::TEST);
                self.close_if(parens);
            }
            Expr::If(i) => {
                let parens = ctx > prec::TEST;
                self.open_if(parens);
                self.expr(&i.body, prec::next(prec::TEST));
                self.push(" if ");
                self.expr(&i.test, prec::next(prec::TEST));
                self.push(" else ");
                self.expr(&i.orelse, prec::TEST);
                self.close_if(parens);
            }
            Expr::Dict(d) => {
                self.push("{");
                for (i, item) in d.items.iter().enumerate() {
                    if i > 0 {
                        self.push(", ");
                    }
                    match &item.key {
                        None => {
                            self.push("**");
                            self.expr(&item.value, prec::EXPR);
                        }
                        Some(key) => {
                            self.expr(key, prec::TEST);
                            self.push(": ");
                            self.expr(&item.value, prec::TEST);
                        }
                    }
                }
                self.push("}");
            }
            Expr::Set(s) => {
                if s.elts.is_empty() {
                    self.push("{*()}");
                } else {
                    self.push("{");
                    self.comma_separated(&s.elts, prec::TEST);
                    self.push("}");
                }
            }
            Expr::ListComp(c) => {
                self.push("[");
                self.expr(&c.elt, prec::TEST);
                self.comprehensions(&c.generators);
                self.push("]");
            }
            Expr::SetComp(c) => {
                self.push("{");
                self.expr(&c.elt, prec::TEST);
                self.comprehensions(&c.generators);
                self.push("}");
            }
            Expr::DictComp(c) => {
                self.push("{");
                match &c.key {
                    Some(key) => {
                        self.expr(key, prec::TEST);
                        self.push(": ");
                        self.expr(&c.value, prec::TEST);
                    }
                    None => {
                        self.push("**");
                        self.expr(&c.value, prec::EXPR);
                    }
                }
                self.comprehensions(&c.generators);
                self.push("}");
            }
            Expr::Generator(g) => {
                self.push("(");
                self.expr(&g.elt, prec::TEST);
                self.comprehensions(&g.generators);
                self.push(")");
            }
            Expr::Await(a) => {
                let parens = ctx > prec::AWAIT;
                self.open_if(parens);
                self.push("await ");
                self.expr(&a.value, prec::ATOM);
                self.close_if(parens);
            }
            Expr::Yield(y) => {
                let parens = ctx > prec::YIELD;
                self.open_if(parens);
                self.push("yield");
                if let Some(value) = &y.value {
                    self.push(" ");
                    self.expr(value, prec::ATOM);
                }
                self.close_if(parens);
            }
            Expr::YieldFrom(y) => {
                let parens = ctx > prec::YIELD;
                self.open_if(parens);
                self.push("yield from ");
                self.expr(&y.value, prec::ATOM);
                self.close_if(parens);
            }
            Expr::Compare(c) => {
                let parens = ctx > prec::CMP;
                self.open_if(parens);
                self.expr(&c.left, prec::next(prec::CMP));
                for (op, right) in c.ops.iter().zip(c.comparators.iter()) {
                    self.push(" ");
                    self.push(cmp_op(*op));
                    self.push(" ");
                    self.expr(right, prec::next(prec::CMP));
                }
                self.close_if(parens);
            }
            Expr::Call(c) => {
                self.expr(&c.func, prec::ATOM);
                self.push("(");
                let mut first = true;
                for arg in c.arguments.args.iter() {
                    if !first {
                        self.push(", ");
                    }
                    first = false;
                    self.expr(arg, prec::TEST);
                }
                for keyword in c.arguments.keywords.iter() {
                    if !first {
                        self.push(", ");
                    }
                    first = false;
                    match &keyword.arg {
                        None => self.push("**"),
                        Some(name) => {
                            self.push(name.as_str());
                            self.push("=");
                        }
                    }
                    self.expr(&keyword.value, prec::TEST);
                }
                self.push(")");
            }
            Expr::FString(_) | Expr::TString(_) | Expr::IpyEscapeCommand(_) => {
                self.source_text(e.range());
            }
            Expr::StringLiteral(s) => {
                if s.value.is_unicode() {
                    self.push("u");
                }
                let text = python_str_repr(s.value.to_str());
                self.push(&text);
            }
            Expr::BytesLiteral(b) => {
                let bytes: Vec<u8> = b.value.bytes().collect();
                let text = python_bytes_repr(&bytes);
                self.push(&text);
            }
            Expr::NumberLiteral(n) => {
                let text = number_repr(&n.value);
                self.push(&text);
            }
            Expr::BooleanLiteral(b) => self.push(if b.value { "True" } else { "False" }),
            Expr::NoneLiteral(_) => self.push("None"),
            Expr::EllipsisLiteral(_) => self.push("..."),
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
                    self.push(" ");
                }
                self.push(".");
                self.push(a.attr.as_str());
            }
            Expr::Subscript(s) => {
                self.expr(&s.value, prec::ATOM);
                self.push("[");
                match &*s.slice {
                    Expr::Tuple(t) if !t.elts.is_empty() => self.items_view(&t.elts),
                    // CPython's grammar makes `X[*a]` a one-element tuple.
                    Expr::Starred(_) => {
                        self.expr(&s.slice, prec::TEST);
                        self.push(",");
                    }
                    other => self.expr(other, prec::TEST),
                }
                self.push("]");
            }
            Expr::Starred(s) => {
                self.push("*");
                self.expr(&s.value, prec::EXPR);
            }
            Expr::Name(n) => self.push(n.id.as_str()),
            Expr::List(l) => {
                self.push("[");
                self.comma_separated(&l.elts, prec::TEST);
                self.push("]");
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
                self.push(":");
                if let Some(upper) = &s.upper {
                    self.expr(upper, prec::TEST);
                }
                if let Some(step) = &s.step {
                    self.push(":");
                    self.expr(step, prec::TEST);
                }
            }
        }
    }

    fn comprehensions(&mut self, generators: &[ast::Comprehension]) {
        for g in generators {
            self.push(if g.is_async { " async for " } else { " for " });
            self.expr(&g.target, prec::TUPLE);
            self.push(" in ");
            self.expr(&g.iter, prec::next(prec::TEST));
            for condition in &g.ifs {
                self.push(" if ");
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
                self.push(", ");
            }
            first = false;
            self.parameter(&param.parameter);
            if let Some(default) = &param.default {
                self.push("=");
                self.expr(default, prec::TEST);
            }
            if index + 1 == p.posonlyargs.len() {
                self.push(", /");
            }
        }
        if p.vararg.is_some() || !p.kwonlyargs.is_empty() {
            if !first {
                self.push(", ");
            }
            first = false;
            self.push("*");
            if let Some(vararg) = &p.vararg {
                self.parameter(vararg);
            }
        }
        for param in p.kwonlyargs.iter() {
            self.push(", ");
            self.parameter(&param.parameter);
            if let Some(default) = &param.default {
                self.push("=");
                self.expr(default, prec::TEST);
            }
        }
        if let Some(kwarg) = &p.kwarg {
            if !first {
                self.push(", ");
            }
            self.push("**");
            self.parameter(kwarg);
        }
    }

    fn parameter(&mut self, p: &ast::Parameter) {
        self.push(p.name.as_str());
        if let Some(annotation) = &p.annotation {
            self.push(": ");
            self.expr(annotation, prec::TEST);
        }
    }
}

pub(super) fn cmp_op(op: CmpOp) -> &'static str {
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
pub(super) fn number_repr(n: &Number) -> String {
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
pub(super) fn int_repr(i: &ast::Int) -> String {
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
pub(super) fn float_repr(f: f64, add_dot_0: bool) -> String {
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
pub(super) fn python_str_repr(s: &str) -> String {
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
pub(super) fn python_bytes_repr(b: &[u8]) -> String {
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
pub(super) fn is_printable(c: char) -> bool {
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
