//! Shorthands over the Verilog AST shared by every generator (tree CAM, crossbar, attention,
//! `lower_int`), so each reads like the RTL it builds and no family keeps its own copy.
//!
//! Only what means the same everywhere lives here: signal widths, names, operators and
//! statements. Literals stay with their generators, because each reports an unrepresentable
//! constant through its own error type.

use super::ast::{ident, BinOp, Expr, Stmt, UnOp};

/// Bits of an unsigned signal holding `0..=max` (at least 1).
pub fn ubits(max: u128) -> u32 {
    (128 - max.leading_zeros()).max(1)
}

/// Bits of a two's-complement signal holding `lo..=hi` (at least 2, so it has a sign bit and
/// a value bit).
pub fn sbits(lo: i128, hi: i128) -> u32 {
    let need = |v: i128| if v >= 0 { 129 - v.leading_zeros() } else { 129 - (!v).leading_zeros() };
    need(lo).max(need(hi)).max(2)
}

/// `name`: the AST's [`ident`] for the `&str` names the generators compose.
pub fn id(name: &str) -> Expr {
    ident(name)
}

pub fn bin(op: BinOp, a: Expr, b: Expr) -> Expr {
    Expr::bin(op, a, b)
}
pub fn add(a: Expr, b: Expr) -> Expr {
    bin(BinOp::Add, a, b)
}
pub fn sub(a: Expr, b: Expr) -> Expr {
    bin(BinOp::Sub, a, b)
}
pub fn mul(a: Expr, b: Expr) -> Expr {
    bin(BinOp::Mul, a, b)
}
pub fn eq(a: Expr, b: Expr) -> Expr {
    bin(BinOp::Eq, a, b)
}
pub fn lt(a: Expr, b: Expr) -> Expr {
    bin(BinOp::Lt, a, b)
}
pub fn gt(a: Expr, b: Expr) -> Expr {
    bin(BinOp::Gt, a, b)
}
pub fn ge(a: Expr, b: Expr) -> Expr {
    bin(BinOp::Ge, a, b)
}
/// `a && b`
pub fn and(a: Expr, b: Expr) -> Expr {
    bin(BinOp::LogicAnd, a, b)
}
/// `a || b`
pub fn or(a: Expr, b: Expr) -> Expr {
    bin(BinOp::LogicOr, a, b)
}
/// `!a`
pub fn not(a: Expr) -> Expr {
    Expr::un(UnOp::LogicNot, a)
}
/// `-a`
pub fn neg(a: Expr) -> Expr {
    Expr::un(UnOp::Neg, a)
}

/// `lhs <= rhs;`
pub fn nb(lhs: Expr, rhs: Expr) -> Stmt {
    Stmt::NonBlocking { lhs, rhs }
}
/// `lhs = rhs;`
pub fn bl(lhs: Expr, rhs: Expr) -> Stmt {
    Stmt::Blocking { lhs, rhs }
}
/// `if (cond) then else els` (no `else` when `els` is empty).
pub fn if_else(cond: Expr, then: Vec<Stmt>, els: Vec<Stmt>) -> Stmt {
    Stmt::If { cond, then, els }
}
