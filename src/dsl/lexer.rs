//! The `.tess` lexer (logos) and the guards that run before parsing.
//!
//! Lexical errors are reported here and the offending characters dropped, so the parser sees a
//! clean token stream and can still report every syntax error after a stray character. Before
//! the parser runs, the token stream is checked for bracket nesting deeper than
//! [`MAX_NESTING`]: an LR parser would cope, but every later stage walks the tree recursively,
//! and a description never needs more than a handful of levels.

use crate::diagnostics::{Code, Diagnostic, FileId, Span};
use logos::Logos;
use std::fmt;

/// Deepest allowed nesting of `(` and `{`.
pub const MAX_NESTING: usize = 64;
/// Largest accepted source file. A description is a few kilobytes; megabytes mean a wrong file.
pub const MAX_SOURCE_BYTES: usize = 4 * 1024 * 1024;
/// After this many lexical errors in one file the file is not parsed (it is not a `.tess` file).
pub const MAX_LEX_ERRORS: usize = 50;

/// Why the lexer rejected some input.
#[derive(Clone, Debug, PartialEq, Default)]
pub enum LexError {
    /// A character that starts no token.
    #[default]
    Unexpected,
    UnterminatedString,
    /// A string with a raw line break (strings are single-line).
    NewlineInString,
    /// `\q` and other escapes besides `\" \\ \n \t`.
    BadEscape(char),
    UnterminatedComment,
}

/// A token. Identifiers and numbers borrow the source; strings are unescaped.
#[derive(Logos, Clone, Debug, PartialEq)]
#[logos(skip r"[ \t\r\n\f]+")]
#[logos(skip(r"//[^\n]*", allow_greedy = true))]
#[logos(error = LexError)]
pub enum Tok<'s> {
    #[token("use")]
    Use,
    #[token("import")]
    Import,
    #[token("const")]
    Const,
    #[token("component")]
    Component,
    #[token("accelerator")]
    Accelerator,
    #[token("param")]
    Param,
    #[token("let")]
    Let,
    #[token("require")]
    Require,
    #[token("inst")]
    Inst,
    #[token("model")]
    Model,
    #[token("map")]
    Map,
    #[token("using")]
    Using,
    #[token("in")]
    In,
    #[token("true")]
    True,
    #[token("false")]
    False,

    #[regex(r"[A-Za-z_][A-Za-z0-9_]*", |lex| lex.slice())]
    Ident(&'s str),
    #[regex(r"[0-9]+(\.[0-9]+)?([eE][+-]?[0-9]+)?", |lex| lex.slice())]
    Num(&'s str),
    /// A geometry such as `24x48`.
    #[regex(r"[0-9]+(x[0-9]+)+", |lex| lex.slice())]
    Dims(&'s str),
    #[token("\"", lex_string)]
    Str(String),
    /// Filtered out before parsing; a token only so an unterminated one can be reported.
    #[token("/*", block_comment)]
    BlockComment,

    #[token(";")]
    Semi,
    #[token(",")]
    Comma,
    #[token(":")]
    Colon,
    #[token("::")]
    ColonColon,
    #[token("=")]
    Eq,
    #[token("(")]
    LParen,
    #[token(")")]
    RParen,
    #[token("{")]
    LBrace,
    #[token("}")]
    RBrace,
    #[token("->")]
    Arrow,
    #[token(".")]
    Dot,
    #[token("..")]
    DotDot,
    #[token("..=")]
    DotDotEq,
    #[token("+")]
    Plus,
    #[token("-")]
    Minus,
    #[token("*")]
    Star,
    #[token("/")]
    Slash,
    #[token("^")]
    Caret,
    #[token("<")]
    Lt,
    #[token("<=")]
    Le,
    #[token(">")]
    Gt,
    #[token(">=")]
    Ge,
    #[token("==")]
    EqEq,
    #[token("!=")]
    Ne,
    #[token("&&")]
    AndAnd,
    #[token("||")]
    OrOr,
    #[token("!")]
    Bang,
}

/// Scans a string body after the opening quote; the token ends after the closing quote.
fn lex_string<'s>(lex: &mut logos::Lexer<'s, Tok<'s>>) -> Result<String, LexError> {
    let rest = lex.remainder();
    let mut out = String::new();
    // The first bad escape is reported once the whole string is consumed, so the rest of the
    // string is not lexed as code.
    let mut bad: Option<char> = None;
    let mut chars = rest.char_indices();
    while let Some((i, c)) = chars.next() {
        match c {
            '"' => {
                lex.bump(i + 1);
                return match bad {
                    Some(e) => Err(LexError::BadEscape(e)),
                    None => Ok(out),
                };
            }
            '\n' => {
                lex.bump(i);
                return Err(LexError::NewlineInString);
            }
            '\\' => match chars.next() {
                Some((_, '"')) => out.push('"'),
                Some((_, '\\')) => out.push('\\'),
                Some((_, 'n')) => out.push('\n'),
                Some((_, 't')) => out.push('\t'),
                Some((_, '\n')) => {
                    lex.bump(i + 1);
                    return Err(LexError::NewlineInString);
                }
                Some((_, other)) => {
                    bad.get_or_insert(other);
                }
                None => break,
            },
            c => out.push(c),
        }
    }
    lex.bump(rest.len());
    Err(LexError::UnterminatedString)
}

/// Skips a `/* ... */` comment (not nested).
fn block_comment<'s>(lex: &mut logos::Lexer<'s, Tok<'s>>) -> Result<(), LexError> {
    let rest = lex.remainder();
    match rest.find("*/") {
        Some(i) => {
            lex.bump(i + 2);
            Ok(())
        }
        None => {
            lex.bump(rest.len());
            Err(LexError::UnterminatedComment)
        }
    }
}

impl fmt::Display for Tok<'_> {
    /// How a token is named in "unexpected ..." messages.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Tok::Ident(s) => write!(f, "identifier `{s}`"),
            Tok::Num(s) => write!(f, "number `{s}`"),
            Tok::Dims(s) => write!(f, "dimensions `{s}`"),
            Tok::Str(_) => f.write_str("string"),
            Tok::BlockComment => f.write_str("comment"),
            other => write!(f, "`{}`", other.text()),
        }
    }
}

impl Tok<'_> {
    /// The fixed spelling of keyword and punctuation tokens.
    pub fn text(&self) -> &'static str {
        match self {
            Tok::Use => "use",
            Tok::Import => "import",
            Tok::Const => "const",
            Tok::Component => "component",
            Tok::Accelerator => "accelerator",
            Tok::Param => "param",
            Tok::Let => "let",
            Tok::Require => "require",
            Tok::Inst => "inst",
            Tok::Model => "model",
            Tok::Map => "map",
            Tok::Using => "using",
            Tok::In => "in",
            Tok::True => "true",
            Tok::False => "false",
            Tok::Semi => ";",
            Tok::Comma => ",",
            Tok::Colon => ":",
            Tok::ColonColon => "::",
            Tok::Eq => "=",
            Tok::LParen => "(",
            Tok::RParen => ")",
            Tok::LBrace => "{",
            Tok::RBrace => "}",
            Tok::Arrow => "->",
            Tok::Dot => ".",
            Tok::DotDot => "..",
            Tok::DotDotEq => "..=",
            Tok::Plus => "+",
            Tok::Minus => "-",
            Tok::Star => "*",
            Tok::Slash => "/",
            Tok::Caret => "^",
            Tok::Lt => "<",
            Tok::Le => "<=",
            Tok::Gt => ">",
            Tok::Ge => ">=",
            Tok::EqEq => "==",
            Tok::Ne => "!=",
            Tok::AndAnd => "&&",
            Tok::OrOr => "||",
            Tok::Bang => "!",
            Tok::Ident(_) | Tok::Num(_) | Tok::Dims(_) | Tok::Str(_) | Tok::BlockComment => "",
        }
    }
}

/// A token with its byte range, as the lalrpop parser consumes it.
pub type Spanned<'s> = (usize, Tok<'s>, usize);

/// The result of lexing one file.
pub struct Lexed<'s> {
    pub tokens: Vec<Spanned<'s>>,
    pub diagnostics: Vec<Diagnostic>,
    /// False when the file must not be parsed (too deep, or too many lexical errors).
    pub parseable: bool,
}

/// Lexes `src`, reporting lexical errors (merged when adjacent) and excessive nesting.
pub fn lex(src: &str, file: FileId) -> Lexed<'_> {
    let mut tokens = Vec::new();
    let mut diagnostics: Vec<Diagnostic> = Vec::new();
    // A run of unexpected characters is reported once.
    let mut pending: Option<(usize, usize)> = None;
    let mut lexer = Tok::lexer(src);
    let mut errors = 0usize;
    while let Some(res) = lexer.next() {
        let range = lexer.span();
        match res {
            Ok(Tok::BlockComment) => {}
            Ok(tok) => {
                flush_unexpected(&mut pending, src, file, &mut diagnostics, &mut errors);
                tokens.push((range.start, tok, range.end));
            }
            Err(LexError::Unexpected) => match &mut pending {
                Some((_, end)) if *end == range.start => *end = range.end,
                _ => {
                    flush_unexpected(&mut pending, src, file, &mut diagnostics, &mut errors);
                    pending = Some((range.start, range.end));
                }
            },
            Err(e) => {
                flush_unexpected(&mut pending, src, file, &mut diagnostics, &mut errors);
                errors += 1;
                diagnostics.push(lex_error(&e, Span::new(file, range.start, range.end)));
                // A broken string still stands where a string was meant, so the parser does
                // not report the missing string as a second error.
                if matches!(
                    e,
                    LexError::BadEscape(_)
                        | LexError::NewlineInString
                        | LexError::UnterminatedString
                ) {
                    tokens.push((range.start, Tok::Str(String::new()), range.end));
                }
            }
        }
        if errors > MAX_LEX_ERRORS {
            break;
        }
    }
    flush_unexpected(&mut pending, src, file, &mut diagnostics, &mut errors);
    let mut parseable = true;
    if errors > MAX_LEX_ERRORS {
        diagnostics.truncate(MAX_LEX_ERRORS);
        diagnostics.push(
            Diagnostic::error(
                Code::E0016,
                format!("more than {MAX_LEX_ERRORS} lexical errors; this does not look like a .tess file"),
            )
            .primary(Span::new(file, 0, 0), "stopped reading this file")
            .note("the file was not parsed"),
        );
        parseable = false;
    }
    if let Some(d) = check_nesting(&tokens, file) {
        diagnostics.push(d);
        parseable = false;
    }
    Lexed { tokens, diagnostics, parseable }
}

fn flush_unexpected(
    pending: &mut Option<(usize, usize)>,
    src: &str,
    file: FileId,
    out: &mut Vec<Diagnostic>,
    errors: &mut usize,
) {
    if let Some((start, end)) = pending.take() {
        *errors += 1;
        let text = src.get(start..end).unwrap_or("");
        let shown: String = text.chars().take(12).flat_map(char::escape_default).collect();
        let msg = if text.contains('\u{FFFD}') {
            "invalid UTF-8 (or U+FFFD) in source".to_string()
        } else if text.chars().count() == 1 {
            format!("unexpected character `{shown}`")
        } else {
            format!("unexpected characters `{shown}`")
        };
        out.push(
            Diagnostic::error(Code::E0001, msg)
                .primary(Span::new(file, start, end), "not part of any token"),
        );
    }
}

fn lex_error(e: &LexError, span: Span) -> Diagnostic {
    match e {
        LexError::Unexpected => Diagnostic::error(Code::E0001, "unexpected character")
            .primary(span, "not part of any token"),
        LexError::UnterminatedString => Diagnostic::error(Code::E0001, "unterminated string")
            .primary(span, "this string has no closing `\"`"),
        LexError::NewlineInString => Diagnostic::error(Code::E0001, "line break inside a string")
            .primary(span, "the string is not closed on this line")
            .help("close the string with `\"`; write `\\n` for a line break inside it"),
        LexError::BadEscape(c) => Diagnostic::error(
            Code::E0001,
            format!("unknown escape `\\{}` in string", c.escape_default()),
        )
        .primary(span, "unknown escape")
        .note("strings accept the escapes \\\" \\\\ \\n \\t"),
        LexError::UnterminatedComment => {
            Diagnostic::error(Code::E0001, "unterminated block comment")
                .primary(span, "this `/*` has no closing `*/`")
        }
    }
}

/// Reports the first bracket that opens beyond [`MAX_NESTING`] levels.
fn check_nesting(tokens: &[Spanned<'_>], file: FileId) -> Option<Diagnostic> {
    let mut depth = 0usize;
    for (start, tok, end) in tokens {
        match tok {
            Tok::LParen | Tok::LBrace => {
                depth += 1;
                if depth > MAX_NESTING {
                    return Some(
                        Diagnostic::error(
                            Code::E0016,
                            format!("brackets nested more than {MAX_NESTING} levels deep"),
                        )
                        .primary(Span::new(file, *start, *end), "too deep here")
                        .note("the file was not parsed"),
                    );
                }
            }
            Tok::RParen | Tok::RBrace => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn toks(src: &str) -> Vec<Tok<'_>> {
        lex(src, FileId(0)).tokens.into_iter().map(|t| t.1).collect()
    }

    #[test]
    fn numbers_units_dims_and_ranges() {
        assert_eq!(
            toks("0.9 fJ 24x48 1..=4096 2e-3 1em"),
            vec![
                Tok::Num("0.9"),
                Tok::Ident("fJ"),
                Tok::Dims("24x48"),
                Tok::Num("1"),
                Tok::DotDotEq,
                Tok::Num("4096"),
                Tok::Num("2e-3"),
                Tok::Num("1"),
                Tok::Ident("em"),
            ]
        );
    }

    #[test]
    fn comments_and_keywords() {
        assert_eq!(
            toks("/// doc\nuse /* x */ user // c\n::"),
            vec![Tok::Use, Tok::Ident("user"), Tok::ColonColon]
        );
    }

    #[test]
    fn strings_unescape_and_errors_are_reported() {
        assert_eq!(toks(r#""a\"b\n""#), vec![Tok::Str("a\"b\n".into())]);
        let l = lex("\"abc", FileId(0));
        assert_eq!(l.diagnostics.len(), 1);
        assert_eq!(l.diagnostics[0].code, Code::E0001);
        // A bad escape consumes the whole string: `;` after it is still a token.
        let l = lex("\"a\\qb\";", FileId(0));
        assert_eq!(l.diagnostics.len(), 1);
        assert_eq!(
            l.tokens.iter().map(|t| t.1.clone()).collect::<Vec<_>>(),
            vec![Tok::Str(String::new()), Tok::Semi]
        );
        let l = lex("a @@@ b # c /* open", FileId(0));
        let msgs: Vec<_> = l.diagnostics.iter().map(|d| d.message.clone()).collect();
        assert_eq!(
            msgs,
            vec![
                "unexpected characters `@@@`",
                "unexpected character `#`",
                "unterminated block comment"
            ]
        );
        assert_eq!(
            l.tokens.iter().map(|t| t.1.clone()).collect::<Vec<_>>(),
            vec![Tok::Ident("a"), Tok::Ident("b"), Tok::Ident("c")]
        );
    }

    #[test]
    fn deep_nesting_is_refused_before_parsing() {
        let src = format!("const x = {}1{};", "(".repeat(65), ")".repeat(65));
        let l = lex(&src, FileId(0));
        assert!(!l.parseable);
        assert_eq!(l.diagnostics[0].code, Code::E0016);
        let src = format!("const x = {}1{};", "(".repeat(64), ")".repeat(64));
        assert!(lex(&src, FileId(0)).parseable);
    }
}
