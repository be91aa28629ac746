//! Small helpers for building the attention family's Verilog AST: declarations collected in
//! order, literal and operator shorthands, a requantizer, and case-statement ROMs.

use crate::attention::error::AttnError;
use crate::backend::verilog::ast::{CaseArm, Decl, Expr, Item, NetKind, Stmt, Width};
pub use crate::backend::verilog::build::{
    add, and, bin, bl, eq, ge, gt, id, if_else as if_, lt, mul, nb, neg, not, or, sbits,
    sconst as sc, sub, ubits, uconst as uc,
};
use crate::backend::verilog::build::{requantize, Requantizer};

/// Verilator lint waiver placed at the top of every generated module: operands are extended
/// by the Verilog rules (unsigned zero-, signed sign-extension to the context width), which the
/// generators rely on and the iverilog/verilator equivalence tests check; verilator's WIDTH lint
/// would otherwise flag every such extension as fatal.
pub const LINT_WAIVER: &str = "verilator lint_off WIDTH";

/// Items of a module under construction.
#[derive(Default)]
pub struct Rtl {
    pub items: Vec<Item>,
}

/// An unsized decimal (indices, loop-free counters).
pub fn n(v: i64) -> Expr {
    Expr::Int(v)
}

/// Zero-extends an unsigned value into a signed context: `$signed({1'b0, x})`.
pub fn zext(x: Expr) -> Expr {
    Expr::Concat(vec![Expr::bit(false), x]).signed()
}

pub fn case(expr: Expr, arms: Vec<(Vec<Expr>, Vec<Stmt>)>, default: Option<Vec<Stmt>>) -> Stmt {
    Stmt::Case {
        expr,
        arms: arms.into_iter().map(|(labels, body)| CaseArm { labels, body }).collect(),
        default,
    }
}

impl Rtl {
    fn decl(
        &mut self,
        kind: NetKind,
        name: &str,
        w: u32,
        signed: bool,
        depth: Option<u32>,
    ) -> Expr {
        self.items.push(Item::Decl(Decl {
            kind,
            signed,
            width: Width::Bits(w.max(1)),
            name: name.to_string(),
            depth,
        }));
        id(name)
    }
    pub fn wire(&mut self, name: &str, w: u32, signed: bool) -> Expr {
        self.decl(NetKind::Wire, name, w, signed, None)
    }
    pub fn reg(&mut self, name: &str, w: u32, signed: bool) -> Expr {
        self.decl(NetKind::Reg, name, w, signed, None)
    }
    pub fn mem(&mut self, name: &str, w: u32, signed: bool, depth: usize) -> Expr {
        self.decl(NetKind::Reg, name, w, signed, Some(depth.max(1) as u32))
    }
    pub fn assign(&mut self, lhs: Expr, rhs: Expr) {
        self.items.push(Item::assign(lhs, rhs));
    }
    /// `wire name = rhs;` in one step.
    pub fn let_(&mut self, name: &str, w: u32, signed: bool, rhs: Expr) -> Expr {
        let e = self.wire(name, w, signed);
        self.assign(e.clone(), rhs);
        e
    }
    pub fn comment(&mut self, text: impl Into<String>) {
        self.items.push(Item::comment(text));
    }

    /// `clamp(round_half_even(x * m / 2^s), lo, hi)` on a signed `x` of width `xw`, with
    /// multiplier `m` (31-bit positive) and shift `s >= 1` given as expressions (constants or
    /// ROM outputs), as wires: the backend's one requantizer
    /// ([`crate::backend::verilog::build::requantize`]). Returns a signed expression of width
    /// `ow`.
    #[allow(clippy::too_many_arguments)]
    pub fn requant(
        &mut self,
        name: &str,
        x: Expr,
        xw: u32,
        m: Expr,
        s: Expr,
        lo: i64,
        hi: i64,
        ow: u32,
    ) -> Result<Expr, AttnError> {
        let mut out = id(name);
        for d in requantize(requantizer(name, x, xw, m, s, lo, hi, ow))? {
            out = self.let_(&d.name, d.width, d.signed, d.value);
        }
        Ok(out)
    }

    /// A procedural temporary: declares `reg name` and returns the blocking assignment that
    /// computes it (for use inside a clocked block, where only the active branch evaluates).
    pub fn tmp(
        &mut self,
        out: &mut Vec<Stmt>,
        name: &str,
        w: u32,
        signed: bool,
        rhs: Expr,
    ) -> Expr {
        let e = self.reg(name, w, signed);
        out.push(bl(e.clone(), rhs));
        e
    }

    /// [`Rtl::requant`] as procedural temporaries appended to `out`.
    #[allow(clippy::too_many_arguments)]
    pub fn requant_proc(
        &mut self,
        out: &mut Vec<Stmt>,
        name: &str,
        x: Expr,
        xw: u32,
        m: Expr,
        s: Expr,
        lo: i64,
        hi: i64,
        ow: u32,
    ) -> Result<Expr, AttnError> {
        let mut res = id(name);
        for d in requantize(requantizer(name, x, xw, m, s, lo, hi, ow))? {
            res = self.tmp(out, &d.name, d.width, d.signed, d.value);
        }
        Ok(res)
    }

    /// A combinational ROM: `always @* case (addr) k: out = v_k; ... default: out = 0; endcase`.
    pub fn case_rom(
        &mut self,
        out: &str,
        w: u32,
        signed: bool,
        addr: Expr,
        values: &[i128],
    ) -> Result<Expr, AttnError> {
        let o = self.reg(out, w, signed);
        let lit = |v: i128| if signed { sc(v, w) } else { uc(v as u128, w) };
        let arms = values
            .iter()
            .enumerate()
            .map(|(k, &v)| Ok((vec![n(k as i64)], vec![bl(o.clone(), lit(v)?)])))
            .collect::<Result<_, AttnError>>()?;
        let zero = lit(0)?;
        self.items.push(Item::AlwaysComb(vec![case(addr, arms, Some(vec![bl(o.clone(), zero)]))]));
        Ok(o)
    }
}

/// The backend requantizer's operands from the generators' arguments.
#[allow(clippy::too_many_arguments)]
fn requantizer(
    name: &str,
    x: Expr,
    xw: u32,
    m: Expr,
    s: Expr,
    lo: i64,
    hi: i64,
    ow: u32,
) -> Requantizer<'_> {
    Requantizer {
        name,
        x,
        x_width: xw,
        multiplier: m,
        shift: s,
        lo: i128::from(lo),
        hi: i128::from(hi),
        out_width: ow,
    }
}
