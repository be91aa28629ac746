//! Small constructors over the Verilog AST, so the generators read like the RTL they build.

use crate::backend::verilog::ast::{BinOp, Decl, Expr, Item};
use crate::backend::verilog::build::uconst;
pub(crate) use crate::backend::verilog::build::{bin, id, if_else as when, nb, not};
use crate::cam::error::CamError;

/// An unsigned sized literal, through the one constant builder every generator uses
/// (`backend::verilog::build::uconst`: a value that does not fit is an error, never a zero
/// literal). Every width here is computed to hold its value, so a failure is a bug in the
/// generator, reported as such.
pub(crate) fn uc(value: u128, width: u32) -> Result<Expr, CamError> {
    uconst(value, width).map_err(|e| CamError::Internal(format!("constant: {e}")))
}

/// Bits `lsb .. lsb + width` of `e`, a vector of `total` bits: the whole of it, one bit, or a
/// part select (a scalar is never indexed).
pub(crate) fn part(e: Expr, total: u32, lsb: u32, width: u32) -> Expr {
    if width == total && lsb == 0 {
        e
    } else if width == 1 {
        e.index(Expr::Int(i64::from(lsb)))
    } else {
        e.slice(lsb + width - 1, lsb)
    }
}

/// Bit `i` of the `total`-bit signal `name`.
pub(crate) fn bit(name: &str, total: u32, i: u32) -> Expr {
    part(id(name), total, i, 1)
}

/// `a && b && ...` (`1'b1` when empty).
pub(crate) fn all(terms: Vec<Expr>) -> Expr {
    terms.into_iter().reduce(|a, b| bin(BinOp::LogicAnd, a, b)).unwrap_or_else(|| Expr::bit(true))
}

/// `a || b || ...` (`1'b0` when empty).
pub(crate) fn any(terms: Vec<Expr>) -> Expr {
    terms.into_iter().reduce(|a, b| bin(BinOp::LogicOr, a, b)).unwrap_or_else(|| Expr::bit(false))
}

pub(crate) fn wire(name: &str, width: u32) -> Item {
    Item::Decl(Decl::wire(name, width, false))
}

pub(crate) fn reg(name: &str, width: u32) -> Item {
    Item::Decl(Decl::reg(name, width, false))
}

/// `wire [width-1:0] name; assign name = rhs;`
pub(crate) fn define(name: &str, width: u32, rhs: Expr) -> [Item; 2] {
    [wire(name, width), Item::assign(id(name), rhs)]
}
