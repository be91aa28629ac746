//! Parsing one `.tess` source into an [`ast::File`], turning every lexical and syntax error into
//! a diagnostic.
//!
//! The grammar (`grammar/tessera.lalrpop`) recovers at item, member and statement level, so a
//! file with several mistakes yields several diagnostics in one run. Tree depth is bounded in
//! the node constructors of [`ParseSink`]: the LR parser itself keeps its stack on the heap, but
//! the checker, the evaluator and `Drop` recurse over the tree.

use crate::diagnostics::{Code, Diagnostic, FileId, Span};
use crate::dsl::ast::{self, BinOp, Expr, ExprKind, TypeExpr, TypeKind, UnOp, MAX_EXPR_DEPTH};
use crate::dsl::lexer::{self, Tok};
use lalrpop_util::{ErrorRecovery, ParseError};
use std::convert::Infallible;

#[allow(clippy::all, clippy::pedantic, unused_parens, unused_qualifications)]
mod generated {
    include!(concat!(env!("OUT_DIR"), "/tessera.rs"));
}

/// Largest number of syntax errors reported for one file; after that the rest is noise.
pub const MAX_SYNTAX_ERRORS: usize = 50;

/// State the grammar actions write to: the file id for spans, recovered syntax errors, and
/// diagnostics raised while building nodes.
pub struct ParseSink<'s> {
    pub file: FileId,
    pub recovered: Vec<ErrorRecovery<usize, Tok<'s>, Infallible>>,
    pub diagnostics: Vec<Diagnostic>,
}

impl<'s> ParseSink<'s> {
    pub fn span(&self, l: usize, r: usize) -> Span {
        Span::new(self.file, l, r)
    }

    /// The height of a node over `children`, or an `Error` node when a child is already an
    /// error (silently) or the node would exceed [`MAX_EXPR_DEPTH`] (reported once, where the
    /// limit is first crossed, so a 100,000-term chain gives one diagnostic).
    fn depth_of(&mut self, span: Span, children: &[&Expr]) -> Result<u32, Expr> {
        let error = Expr { kind: ExprKind::Error, span, depth: 1 };
        if children.iter().any(|c| c.is_error()) {
            return Err(error);
        }
        let depth = children.iter().map(|c| c.depth).max().unwrap_or(0) + 1;
        if depth > MAX_EXPR_DEPTH {
            self.diagnostics.push(
                Diagnostic::error(
                    Code::E0016,
                    format!("expression nested more than {MAX_EXPR_DEPTH} levels deep"),
                )
                .primary(span, "too deep")
                .help("split it into several `let` or `const` definitions"),
            );
            return Err(error);
        }
        Ok(depth)
    }

    pub fn binary(&mut self, op: BinOp, lhs: Expr, rhs: Expr, l: usize, r: usize) -> Expr {
        let span = self.span(l, r);
        match self.depth_of(span, &[&lhs, &rhs]) {
            Ok(depth) => Expr {
                kind: ExprKind::Binary { op, lhs: Box::new(lhs), rhs: Box::new(rhs) },
                span,
                depth,
            },
            Err(e) => e,
        }
    }

    pub fn unary(&mut self, op: UnOp, operand: Expr, l: usize, r: usize) -> Expr {
        let span = self.span(l, r);
        match self.depth_of(span, &[&operand]) {
            Ok(depth) => {
                Expr { kind: ExprKind::Unary { op, operand: Box::new(operand) }, span, depth }
            }
            Err(e) => e,
        }
    }

    pub fn member(&mut self, base: Expr, field: ast::Ident, l: usize, r: usize) -> Expr {
        let span = self.span(l, r);
        match self.depth_of(span, &[&base]) {
            Ok(depth) => {
                Expr { kind: ExprKind::Member { base: Box::new(base), field }, span, depth }
            }
            Err(e) => e,
        }
    }

    pub fn call(&mut self, callee: ast::Path, args: Vec<ast::Arg>, l: usize, r: usize) -> Expr {
        let span = self.span(l, r);
        let values: Vec<&Expr> = args.iter().map(|a| &a.value).collect();
        match self.depth_of(span, &values) {
            Ok(depth) => Expr { kind: ExprKind::Call { callee, args }, span, depth },
            Err(e) => e,
        }
    }

    pub fn ty_mul(&mut self, a: TypeExpr, b: TypeExpr, div: bool, l: usize, r: usize) -> TypeExpr {
        let span = self.span(l, r);
        let depth = a.depth.max(b.depth) + 1;
        self.ty_bounded(
            span,
            depth,
            |a, b| {
                if div {
                    TypeKind::Div(a, b)
                } else {
                    TypeKind::Mul(a, b)
                }
            },
            a,
            b,
        )
    }

    fn ty_bounded(
        &mut self,
        span: Span,
        depth: u32,
        make: impl FnOnce(Box<TypeExpr>, Box<TypeExpr>) -> TypeKind,
        a: TypeExpr,
        b: TypeExpr,
    ) -> TypeExpr {
        let err = matches!(a.kind, TypeKind::Error) || matches!(b.kind, TypeKind::Error);
        if err || depth > MAX_EXPR_DEPTH {
            if !err {
                self.diagnostics.push(
                    Diagnostic::error(
                        Code::E0016,
                        format!("type expression nested more than {MAX_EXPR_DEPTH} levels deep"),
                    )
                    .primary(span, "too deep"),
                );
            }
            return TypeExpr { kind: TypeKind::Error, span, depth: 1 };
        }
        TypeExpr { kind: make(Box::new(a), Box::new(b)), span, depth }
    }

    /// `energy ^ 2`: the exponent must be a small whole number.
    pub fn ty_pow(&mut self, a: TypeExpr, neg: bool, n: &str, l: usize, r: usize) -> TypeExpr {
        let span = self.span(l, r);
        match n.parse::<i32>() {
            Ok(v) if v <= 8 && !matches!(a.kind, TypeKind::Error) => {
                let depth = a.depth + 1;
                TypeExpr { kind: TypeKind::Pow(Box::new(a), if neg { -v } else { v }), span, depth }
            }
            Ok(_) if matches!(a.kind, TypeKind::Error) => {
                TypeExpr { kind: TypeKind::Error, span, depth: 1 }
            }
            _ => {
                self.diagnostics.push(
                    Diagnostic::error(Code::E0013, format!("invalid exponent `{n}` in a type"))
                        .primary(span, "exponents must be whole numbers from -8 to 8"),
                );
                TypeExpr { kind: TypeKind::Error, span, depth: 1 }
            }
        }
    }
}

/// Parses one source file. Returns the tree (with `Error` nodes where it recovered) and all
/// lexical and syntax diagnostics, in source order.
pub fn parse(src: &str, file: FileId) -> (ast::File, Vec<Diagnostic>) {
    let lexed = lexer::lex(src, file);
    let mut diagnostics = lexed.diagnostics;
    if !lexed.parseable {
        return (ast::File { items: Vec::new() }, diagnostics);
    }
    let mut sink = ParseSink { file, recovered: Vec::new(), diagnostics: Vec::new() };
    // Where statements start or end, to drop the follow-on errors of one mistake (below).
    let boundaries: Vec<usize> =
        lexed.tokens.iter().filter(|(_, t, _)| is_boundary(t)).map(|(l, _, _)| *l).collect();
    let ctx = ErrCtx { file, src, ends: lexed.tokens.iter().map(|(_, _, r)| *r).collect() };
    let lexical: Vec<usize> =
        diagnostics.iter().filter_map(|d| d.primary_span().map(|s| s.start)).collect();
    let tokens = lexed.tokens.into_iter().map(Ok::<_, Infallible>);
    let result = generated::FileParser::new().parse(&mut sink, tokens);
    let eof = src.len();
    let mut errors: Vec<ParseError<usize, Tok<'_>, Infallible>> =
        sink.recovered.drain(..).map(|r| r.error).collect();
    let ast = match result {
        Ok(f) => f,
        Err(e) => {
            errors.push(e);
            ast::File { items: Vec::new() }
        }
    };
    let mut syntax: Vec<Diagnostic> = Vec::new();
    // After recovering from an error inside a statement the parser resumes mid-statement and
    // usually trips again before the statement ends; a lexical error (a dropped token) has the
    // same effect. Report only the first error of each statement.
    let mut earlier: Vec<usize> = lexical;
    for e in errors {
        let d = from_lalrpop(e, &ctx);
        let at = d.primary_span().map_or(eof, |s| s.start);
        let prev = earlier.iter().copied().filter(|&p| p <= at).max();
        let same_statement = prev.is_some_and(|prev| {
            let lo = boundaries.partition_point(|&b| b < prev);
            boundaries.get(lo).is_none_or(|&b| b >= at)
        });
        if !same_statement {
            syntax.push(d);
        }
        earlier.push(at);
    }
    syntax.append(&mut sink.diagnostics);
    syntax.sort_by_key(|d| d.primary_span().map(|s| s.start));
    if syntax.len() > MAX_SYNTAX_ERRORS {
        syntax.truncate(MAX_SYNTAX_ERRORS);
        syntax.push(
            Diagnostic::error(
                Code::E0016,
                format!("more than {MAX_SYNTAX_ERRORS} syntax errors in this file; stopping"),
            )
            .primary(Span::new(file, eof, eof), "not checked further"),
        );
    }
    diagnostics.extend(syntax);
    (ast, diagnostics)
}

/// Tokens that end a statement or start a new one.
fn is_boundary(t: &Tok<'_>) -> bool {
    matches!(
        t,
        Tok::Semi
            | Tok::LBrace
            | Tok::RBrace
            | Tok::Use
            | Tok::Import
            | Tok::Const
            | Tok::Component
            | Tok::Accelerator
            | Tok::Param
            | Tok::Let
            | Tok::Require
            | Tok::Inst
            | Tok::Model
            | Tok::Map
    )
}

/// Maps a lalrpop error to E0002 (unexpected token) or E0003 (unexpected end of file).
fn from_lalrpop(e: ParseError<usize, Tok<'_>, Infallible>, ctx: &ErrCtx<'_>) -> Diagnostic {
    let (file, eof) = (ctx.file, ctx.src.len());
    match e {
        ParseError::UnrecognizedEof { location, expected } => {
            // Point just after the last token: that is where something is missing.
            let at = location.min(eof);
            Diagnostic::error(Code::E0003, "unexpected end of file")
                .primary(Span::new(file, at, at), expected_label(&expected))
        }
        ParseError::UnrecognizedToken { token: (l, tok, r), expected } => {
            // A statement missing its `;` is reported at the end of that statement, not at
            // the start of the next line.
            let prev_end = ctx.ends.iter().copied().filter(|&e| e <= l).max();
            let semi = expected.iter().any(|e| e == "\";\"");
            match prev_end {
                Some(p) if semi && ctx.src.get(p..l).is_some_and(|gap| gap.contains('\n')) => {
                    Diagnostic::error(Code::E0002, "missing `;`")
                        .primary(Span::new(file, p, p), expected_label(&expected))
                        .secondary(Span::new(file, l, r), format!("unexpected {tok}"))
                }
                _ => Diagnostic::error(Code::E0002, format!("unexpected {tok}"))
                    .primary(Span::new(file, l, r), expected_label(&expected)),
            }
        }
        ParseError::ExtraToken { token: (l, tok, r) } => {
            Diagnostic::error(Code::E0002, format!("unexpected {tok}"))
                .primary(Span::new(file, l, r), "expected nothing more here")
        }
        ParseError::InvalidToken { location } => Diagnostic::error(Code::E0001, "invalid token")
            .primary(Span::new(file, location, location), "here"),
        ParseError::User { error } => match error {},
    }
}

/// What error conversion needs to know about the file.
struct ErrCtx<'s> {
    file: FileId,
    src: &'s str,
    /// End offsets of all tokens, in order.
    ends: Vec<usize>,
}

/// Tokens that can start an expression; when all are expected, we say "an expression".
const EXPR_START: &[&str] = &["NUM", "IDENT", "STR", "DIMS", "\"(\"", "\"-\"", "\"!\""];
/// Binary operators; when all are expected, we say "an operator".
const OPERATORS: &[&str] = &[
    "\"+\"", "\"-\"", "\"*\"", "\"/\"", "\"<\"", "\"<=\"", "\">\"", "\">=\"", "\"==\"", "\"!=\"",
    "\"&&\"", "\"||\"",
];
const ITEM_START: &[&str] =
    &["\"use\"", "\"import\"", "\"const\"", "\"component\"", "\"accelerator\""];

/// A readable "expected ..." label from lalrpop's list of terminal names.
fn expected_label(expected: &[String]) -> String {
    let has = |t: &str| expected.iter().any(|e| e == t);
    let mut parts: Vec<String> = Vec::new();
    let mut skip: Vec<&str> = Vec::new();
    // After a number, a name can only be its unit.
    let unit = has("IDENT") && OPERATORS.iter().all(|t| has(t));
    if unit {
        skip.push("IDENT");
    }
    for (group, name) in [
        (EXPR_START, "an expression"),
        (OPERATORS, "an operator"),
        (ITEM_START, "an item (`use`, `import`, `const`, `component`, `accelerator`)"),
    ] {
        if group.iter().all(|t| has(t)) {
            parts.push(name.to_string());
            skip.extend(group.iter().copied());
        }
    }
    for e in expected {
        if skip.contains(&e.as_str()) || e == "\"true\"" && skip.contains(&"NUM") {
            continue;
        }
        if e == "\"false\"" && skip.contains(&"NUM") {
            continue;
        }
        parts.push(terminal_name(e));
    }
    if unit {
        parts.push("a unit".to_string());
    }
    match parts.len() {
        0 => "unexpected here".to_string(),
        1 => format!("expected {}", parts[0]),
        n if n <= 8 => {
            let (last, rest) = parts.split_last().unwrap_or((&parts[0], &[]));
            format!("expected {} or {last}", rest.join(", "))
        }
        _ => format!("expected one of {}, ...", parts[..8].join(", ")),
    }
}

fn terminal_name(t: &str) -> String {
    match t {
        "IDENT" => "a name".to_string(),
        "NUM" => "a number".to_string(),
        "STR" => "a string".to_string(),
        "DIMS" => "dimensions like `24x48`".to_string(),
        q => format!("`{}`", q.trim_matches('"')),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_ok(src: &str) -> ast::File {
        let (f, d) = parse(src, FileId(0));
        assert!(d.is_empty(), "unexpected diagnostics: {d:#?}");
        f
    }

    #[test]
    fn precedence_and_units() {
        let f = parse_ok("const x = -1 + 2 * 3 uA / 1 V < 4 && !true;");
        let ast::Item::Const(c) = &f.items[0] else { panic!("not a const") };
        // (((-1) + ((2 * 3 uA) / 1 V)) < 4) && (!true)
        let ExprKind::Binary { op, lhs, .. } = &c.value.kind else { panic!() };
        assert_eq!(*op, BinOp::And);
        let ExprKind::Binary { op, lhs, .. } = &lhs.kind else { panic!() };
        assert_eq!(*op, BinOp::Lt);
        let ExprKind::Binary { op, rhs, .. } = &lhs.kind else { panic!() };
        assert_eq!(*op, BinOp::Add);
        let ExprKind::Binary { op, lhs, .. } = &rhs.kind else { panic!() };
        assert_eq!(*op, BinOp::Div);
        let ExprKind::Binary { rhs, .. } = &lhs.kind else { panic!() };
        assert!(
            matches!(&rhs.kind, ExprKind::Num { text, unit: Some(u) } if text == "3" && u.name == "uA")
        );
    }

    #[test]
    fn full_example_parses() {
        let f = parse_ok(
            r#"use tech; use cam::acam_6t2m; import "common.tess";
            const nominal_vdd: voltage = 0.8 V;
            component c { param rows: int in 1..=4096 = 24; param k1: current / voltage ^ 2 = 1 uA / 1 V / 1 V;
              param e: energy; let x = rows * 2; require rows <= 256, "msg"; }
            accelerator a { clock = 1 GHz; model m = xgboost("m.json"); inst n = tech::n65();
              inst c = c(rows = 24, e = 0.9 fJ,); map m -> c using cam_pack(tile = 24x48, order = monosparse);
              map m -> c using binarize; require c.rows * c.cols <= 4096, "too large"; }"#,
        );
        assert_eq!(f.items.len(), 6);
    }

    #[test]
    fn recovers_and_reports_every_error() {
        let (f, d) = parse(
            "component c { param a: int = ; param b = 2 }\naccelerator x { clock = ; inst = y(); }",
            FileId(0),
        );
        let codes: Vec<_> = d.iter().map(|d| d.code).collect();
        assert_eq!(codes, vec![Code::E0002; 4]);
        assert_eq!(f.items.len(), 2);
    }

    #[test]
    fn eof_is_e0003() {
        let (_, d) = parse("component c { param a: int = 1;", FileId(0));
        assert_eq!(d.len(), 1);
        assert_eq!(d[0].code, Code::E0003);
    }

    #[test]
    fn long_operator_chains_are_bounded() {
        let src = format!("const x = 1{};", " + 1".repeat(100_000));
        let (_, d) = parse(&src, FileId(0));
        assert_eq!(d.len(), 1);
        assert_eq!(d[0].code, Code::E0016);
        let src = format!("const x = {}1;", "-".repeat(100_000));
        let (_, d) = parse(&src, FileId(0));
        assert_eq!(d.len(), 1);
        assert_eq!(d[0].code, Code::E0016);
    }
}
