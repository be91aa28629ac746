//! Shorthands over the Verilog AST shared by every generator (tree CAM, crossbar, attention),
//! so each reads like the RTL it builds and no family keeps its own copy.
//!
//! Only what means the same everywhere lives here: signal widths, names, operators,
//! statements, sized literals (an unrepresentable constant is an error, which each generator
//! wraps in its own error type) and the requantizer.

use super::ast::{ident, BinOp, Expr, Stmt, UnOp};
use super::bits::BitsError;
use crate::ir::{signed_width, unsigned_width};

/// Bits of an unsigned signal holding `0..=max` (at least 1): the IR's one width rule,
/// [`crate::ir::unsigned_width`], so a wire is exactly as wide as the IR value it carries.
pub fn ubits(max: u128) -> u32 {
    unsigned_width(max)
}

/// Bits of a two's-complement signal holding `lo..=hi`: [`crate::ir::signed_width`], but at
/// least 2, so the signal has a sign bit and a value bit (a 1-bit signed Verilog signal holds
/// only 0 and -1, which surprises readers and lint).
pub fn sbits(lo: i128, hi: i128) -> u32 {
    signed_width(lo, hi).max(2)
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

/// A sized unsigned literal; a value that does not fit in `w` bits is an error (never a
/// truncated or zero literal, which would compile and compute something else).
pub fn uconst(v: u128, w: u32) -> Result<Expr, BitsError> {
    let v = i128::try_from(v).map_err(|_| BitsError::TooLarge { value: v, width: w })?;
    Expr::constant(v, w, false)
}

/// A sized signed (two's-complement) literal; a value that does not fit in `w` bits is an
/// error.
pub fn sconst(v: i128, w: u32) -> Result<Expr, BitsError> {
    Expr::constant(v, w, true)
}

/// One signal a multi-step builder defines: its name, width, signedness and value (which may
/// name the signals defined before it). The generator declares each as a wire with a
/// continuous assignment or as a procedural temporary, whichever its datapath needs.
#[derive(Clone, Debug, PartialEq)]
pub struct Def {
    pub name: String,
    pub width: u32,
    pub signed: bool,
    pub value: Expr,
}

/// The operands of a requantizer: `clamp(round_half_even(x * multiplier / 2^shift), lo, hi)`.
#[derive(Clone, Debug)]
pub struct Requantizer<'a> {
    /// Name of the result; the intermediate signals are `{name}_p`, `_f`, `_r`, `_h`, `_q`.
    pub name: &'a str,
    /// The signed input.
    pub x: Expr,
    /// Width of `x`.
    pub x_width: u32,
    /// The unsigned multiplier (at most 32 bits: a constant or a ROM output).
    pub multiplier: Expr,
    /// The right shift, at least 1 (a constant or a ROM output).
    pub shift: Expr,
    /// The clamp bounds.
    pub lo: i128,
    pub hi: i128,
    /// Width of the signed result.
    pub out_width: u32,
}

/// The one requantizer of the Verilog generators, bit-exact with `ir::requant::Requant::apply`
/// followed by saturation: the full product `p = x * m` (`x_width + 33` bits, so it cannot
/// overflow), its floor `f = p >>> s`, the remainder `r = p - (f << s)` compared with one half
/// `h = 1 << (s - 1)` to round half to even, then the two-sided clamp. Returns the signals in
/// definition order; the last one is `name`, `out_width` bits, signed.
pub fn requantize(q: Requantizer) -> Result<Vec<Def>, BitsError> {
    let pw = q.x_width + 33;
    let name = |suffix: &str| format!("{}_{suffix}", q.name);
    let def = |name: String, width: u32, value: Expr| Def { name, width, signed: true, value };
    let (p, f, r, h, rounded) = (name("p"), name("f"), name("r"), name("h"), name("q"));
    // $signed({1'b0, m}): the multiplier is unsigned, the product signed.
    let m = Expr::Concat(vec![Expr::bit(false), q.multiplier]).signed();
    let up = or(gt(id(&r), id(&h)), and(eq(id(&r), id(&h)), id(&f).index(Expr::Int(0))));
    let clamped = Expr::ternary(
        lt(id(&rounded), sconst(q.lo, pw)?),
        sconst(q.lo, q.out_width)?,
        Expr::ternary(
            gt(id(&rounded), sconst(q.hi, pw)?),
            sconst(q.hi, q.out_width)?,
            id(&rounded).slice(q.out_width - 1, 0).signed(),
        ),
    );
    Ok(vec![
        def(p.clone(), pw, mul(q.x, m)),
        def(f.clone(), pw, bin(BinOp::AShr, id(&p), q.shift.clone())),
        def(r.clone(), pw, sub(id(&p), bin(BinOp::Shl, id(&f), q.shift.clone()))),
        def(h, pw, bin(BinOp::Shl, sconst(1, pw)?, sub(q.shift, Expr::Int(1)))),
        def(rounded.clone(), pw, add(id(&f), Expr::Concat(vec![uconst(0, pw - 1)?, up]).signed())),
        def(q.name.to_string(), q.out_width, clamped),
    ])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ir::NumFormat;

    #[test]
    fn widths_follow_the_ir_rule() {
        // Hand-derived: 8 signed bits hold [-128, 127], 8 unsigned bits [0, 255].
        assert_eq!((sbits(-128, 127), sbits(0, 128), sbits(-129, 0)), (8, 9, 9));
        assert_eq!((ubits(0), ubits(255), ubits(256)), (1, 8, 9));
        // The IR's narrowest format and the wire agree, except that a signed wire keeps a
        // value bit: i1 holds only -1 and 0.
        assert_eq!(NumFormat::int_for_range(-5, -3), Ok(NumFormat::int(sbits(-5, -3))));
        assert_eq!(NumFormat::int_for_range(-1, -1), Ok(NumFormat::int(1)));
        assert_eq!(sbits(-1, -1), 2);
    }

    #[test]
    fn constants_that_do_not_fit_are_errors() {
        assert!(sconst(127, 8).is_ok() && sconst(-128, 8).is_ok());
        assert!(sconst(128, 8).is_err() && sconst(-129, 8).is_err());
        assert!(uconst(255, 8).is_ok() && uconst(256, 8).is_err());
        assert!(uconst(u128::MAX, 128).is_err());
    }
}
