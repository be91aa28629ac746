//! Verilog AST of the crossbar digital twin from a [`Plan`].
//!
//! One module with the streaming interface. A control block steps through the layers; each
//! layer has one clocked block that, by phase, initialises its accumulators, drives one row of
//! every array per cycle (bit-serial inputs, one bit plane at a time), converts the column sums
//! with the arrays' shared ADCs (one column per ADC per cycle), shifts and adds the converted
//! values into the accumulators, and finally adds the bias and requantizes into the next
//! layer's input register (or the output register).
//!
//! Every register is packed (`x`, `ps`, `lv`, `acc` are vectors of fields) so loops write
//! fields with indexed part-selects, which both simulators support in clocked loops. Column
//! sums of one row tile are accumulated in one vector whose lanes are wide enough for the
//! largest column sum, so lanes never carry into each other: one wide addition per row and row
//! tile is the same arithmetic as one adder per column (and simulates two orders of magnitude
//! faster under iverilog). Memories (conductance codes, biases, multipliers, shifts, the ADC's
//! level table) are ROMs loaded with `$readmemh` from files beside the design.

use super::plan::{index_bits, sbits, ubits, LayerPlan, Plan};
use crate::backend::verilog::ast::{
    BinOp, CaseArm, Decl, Expr, Item, Module, NetKind, Stmt, UnOp, Width,
};
use crate::backend::verilog::build::{
    add, bin, bl as blk, eq, id, if_else, mul, nb, requantize, sconst, uconst, Def, Requantizer,
};
use crate::backend::verilog::interface::{
    stream_ports, CLK, IN_DATA, IN_READY, IN_VALID, OUT_DATA, OUT_VALID, RST,
};
use crate::crossbar::error::XbarError;

type R<T> = Result<T, XbarError>;

const INIT: u128 = 0;
const ROW: u128 = 1;
const CONV: u128 = 2;
const ADD: u128 = 3;
const REQ: u128 = 4;
const PH_BITS: u32 = 3;

fn int(v: usize) -> Expr {
    Expr::Int(v as i64)
}
fn if_(cond: Expr, then: Vec<Stmt>) -> Stmt {
    if_else(cond, then, vec![])
}
/// `for (v = 0; v < n; v = v + 1)`.
fn for_n(v: &str, n: usize, body: Vec<Stmt>) -> Stmt {
    Stmt::For {
        var: v.to_string(),
        init: int(0),
        cond: bin(BinOp::Lt, id(v), int(n)),
        step: add(id(v), int(1)),
        body,
    }
}
/// A `w`-bit zero (`w'h0`).
fn zeros(w: u32) -> Expr {
    Expr::Const { signed: false, bits: crate::backend::verilog::bits::Bits::zero(w) }
}
/// An unsigned expression of `from` bits at `to` bits (zero-extended or truncated).
fn resize(e: Expr, from: u32, to: u32) -> R<Expr> {
    Ok(if from == to {
        e
    } else if from < to {
        Expr::Concat(vec![uconst(0, to - from)?, e])
    } else if to == 1 {
        e.index(Expr::Int(0))
    } else {
        e.slice(to - 1, 0)
    })
}
/// A `from`-bit counter as a 32-bit unsigned value, for index arithmetic with integers.
fn x32(e: Expr, from: u32) -> R<Expr> {
    resize(e, from, 32)
}
/// `$signed` of a two's-complement `from`-bit value sign-extended to `to` bits.
fn sext(e: Expr, from: u32, to: u32) -> Expr {
    if from == to {
        return e.signed();
    }
    let sign = if from == 1 { e.clone() } else { e.clone().index(Expr::Int(i64::from(from - 1))) };
    Expr::Concat(vec![Expr::replicate(to - from, sign), e]).signed()
}
/// `$signed` of an unsigned `from`-bit value zero-extended to `to` bits (`to > from`).
fn uext(e: Expr, from: u32, to: u32) -> R<Expr> {
    Ok(Expr::Concat(vec![uconst(0, to - from)?, e]).signed())
}
fn reg(name: &str, w: u32) -> Item {
    Item::Decl(Decl::reg(name, w, false))
}
fn sreg(name: &str, w: u32) -> Item {
    Item::Decl(Decl::reg(name, w, true))
}
fn integer(name: &str) -> Item {
    Item::Decl(Decl {
        kind: NetKind::Integer,
        signed: true,
        width: Width::Bits(32),
        name: name.into(),
        depth: None,
    })
}
fn rom(name: &str, w: u32, depth: usize, signed: bool, file: &str) -> Vec<Item> {
    let mut d = Decl::memory(name, w, depth as u32);
    d.signed = signed;
    vec![Item::Decl(d), Item::MemInit { file: file.to_string(), mem: name.to_string() }]
}

/// Names of one layer's signals.
struct Names {
    l: usize,
}

impl Names {
    fn s(&self, what: &str) -> String {
        format!("{what}{}", self.l)
    }
    fn rt(&self, what: &str, r: usize) -> String {
        format!("{what}{}_{r}", self.l)
    }
}

/// Global widths of the control state.
struct Ctl {
    layer_bits: u32,
    plane_bits: u32,
    cnt_bits: u32,
    last: usize,
}

/// Builds the module. `files` receives the ROM images' file names in [`super::rom_files`]'
/// order (the names are given here so both agree).
pub fn module(top: &str, p: &Plan, in_width: u32, out_width: u32) -> R<Module> {
    let n = p.layers.len();
    let ctl = Ctl {
        layer_bits: index_bits(n),
        plane_bits: ubits(p.layers.iter().map(|l| l.a_bits - 1).max().unwrap_or(0).into()),
        cnt_bits: ubits(
            p.layers.iter().map(|l| l.rows.max(l.steps).saturating_sub(1)).max().unwrap_or(0)
                as u128,
        ),
        last: n - 1,
    };
    let mut items = vec![
        Item::comment(format!(
            "Crossbar digital twin generated by tessera: {n} layer(s), bit-serial inputs, \
             shared ADCs, shift-and-add.\nLatency {} cycles per input; the next input is \
             accepted one cycle after each output.",
            p.latency()
        )),
        reg("busy", 1),
        reg("lyr", ctl.layer_bits),
        reg("ph", PH_BITS),
        reg("pl", ctl.plane_bits),
        reg("cnt", ctl.cnt_bits),
        reg("out_valid_r", 1),
        reg("out_data_r", out_width),
        Item::Decl(Decl::wire("accept", 1, false)),
        Item::assign(
            id(IN_READY),
            bin(
                BinOp::LogicAnd,
                Expr::un(UnOp::LogicNot, id(RST)),
                Expr::un(UnOp::LogicNot, id("busy")),
            ),
        ),
        Item::assign(id("accept"), bin(BinOp::LogicAnd, id(IN_VALID), id(IN_READY))),
        Item::assign(id(OUT_VALID), id("out_valid_r")),
        Item::assign(id(OUT_DATA), id("out_data_r")),
        Item::Blank,
    ];
    if let Some(levels) = &p.adc.levels {
        items.push(Item::comment("ADC output level of every code (lossy steps)."));
        items.extend(rom(
            "adc_level",
            p.adc.level_bits,
            levels.len(),
            false,
            &super::level_file(top),
        ));
    }
    for (l, lp) in p.layers.iter().enumerate() {
        items.push(Item::Blank);
        items.extend(layer_decls(top, l, lp, p)?);
    }
    items.push(Item::Blank);
    items.push(control(p, &ctl, in_width)?);
    for (l, lp) in p.layers.iter().enumerate() {
        items.push(Item::Blank);
        items
            .push(Item::comment(format!("Layer {l}: `{}`, {} -> {}.", lp.name, lp.n_in, lp.n_out)));
        let next_a = p.layers.get(l + 1).map(|x| x.a_bits);
        items.push(layer_block(l, lp, p, &ctl, next_a)?);
    }
    Ok(Module {
        name: top.to_string(),
        params: vec![],
        ports: stream_ports(in_width, out_width),
        items,
    })
}

fn layer_decls(top: &str, l: usize, lp: &LayerPlan, p: &Plan) -> R<Vec<Item>> {
    let nm = Names { l };
    let mut v = vec![Item::comment(format!(
        "Layer {l} `{}`: {} row tile(s) of {} rows, {} logical columns ({} per weight), \
         {}-bit column lanes, {} ADC step(s) per plane.",
        lp.name,
        lp.row_tiles.len(),
        lp.rows,
        lp.ncols,
        lp.cols_per_weight,
        lp.lane,
        lp.steps
    ))];
    v.push(reg(&nm.s("x"), (lp.n_in as u32) * lp.a_bits));
    for (r, t) in lp.row_tiles.iter().enumerate() {
        let w = lp.ncols as u32 * lp.lane;
        v.push(reg(&nm.rt("ps", r), w));
        v.push(reg(&nm.rt("lv", r), lp.ncols as u32 * p.adc.level_bits));
        v.extend(rom(&nm.rt("g", r), w, t.nrows, false, &super::g_file(top, l, r)));
    }
    v.push(reg(&nm.s("acc"), lp.n_out as u32 * lp.acc_bits));
    v.extend(rom(&nm.s("bias"), lp.bias_bits, lp.n_out, true, &super::bias_file(top, l)));
    if lp.requant.is_some() {
        v.extend(rom(&nm.s("mul"), 32, lp.n_out, false, &super::mul_file(top, l)));
        v.extend(rom(&nm.s("sh"), 7, lp.n_out, false, &super::shift_file(top, l)));
    }
    // Loop variables and per-iteration temporaries of the layer's block.
    for t in ["j", "k", "q"] {
        v.push(integer(&nm.s(t)));
    }
    let w = Widths::of(lp, p);
    v.extend([
        reg(&nm.s("p"), lp.lane),
        reg(&nm.s("num"), w.num),
        reg(&nm.s("quo"), w.num),
        reg(&nm.s("code"), p.adc.bits),
        sreg(&nm.s("term"), lp.acc_bits),
        sreg(&nm.s("sum"), lp.acc_bits),
        sreg(&nm.s("s"), w.sum),
    ]);
    v.push(reg(&nm.s("a"), lp.acc_bits));
    if lp.offset != 0 {
        v.push(sreg(&nm.s("sx"), w.sx));
        v.push(reg(&nm.s("xv"), lp.a_bits));
    }
    for d in requant_defs(&nm, lp, &w)?.unwrap_or_default() {
        v.push(Item::Decl(Decl::reg(&d.name, d.width, d.signed)));
    }
    Ok(v)
}

/// Widths of a layer's temporaries.
struct Widths {
    num: u32,
    sum: u32,
    sx: u32,
    /// Width the requantizer's input is taken at: the sum's, or more when a shift is so large
    /// that `1 << (shift - 1)` needs it (the builder sizes its product from the input).
    req_in: u32,
}

impl Widths {
    fn of(lp: &LayerPlan, p: &Plan) -> Widths {
        // `a * P + b` for the largest lane value; at least as wide as the lane and the code.
        let pmax = (1u128 << lp.lane) - 1;
        let num = ubits(p.adc.a * pmax + p.adc.b).max(lp.lane).max(p.adc.bits);
        let sum = lp.acc_bits.max(lp.bias_bits).max(lp.sum_bits) + 1;
        let (lo, hi) = crate::crossbar::ops::code_range(lp.a_bits, lp.signed_in);
        let n = lp.n_in as i128;
        // The builder's product has `req_in + 33` bits; `1 << (shift - 1)` needs `shift + 1`.
        let max_shift =
            lp.requant.as_ref().and_then(|r| r.shifts.iter().max().copied()).unwrap_or(0);
        let req_in = sum.max((max_shift + 2).saturating_sub(33));
        Widths { num, sum, sx: sbits(n * lo, n * hi), req_in }
    }
}

/// A hidden layer's requantizer of its biased sum `s` (channel `j`'s multiplier and shift from
/// the ROMs): the shared builder's signals, named `rq{l}_*`, the last `rq{l}` holding the next
/// layer's code. `None` for the last layer.
fn requant_defs(nm: &Names, lp: &LayerPlan, w: &Widths) -> R<Option<Vec<Def>>> {
    let Some(rq) = &lp.requant else { return Ok(None) };
    let (lo, hi) = (i128::from(rq.lo), i128::from(rq.hi));
    let j = id(&nm.s("j"));
    let defs = requantize(Requantizer {
        name: &nm.s("rq"),
        x: id(&nm.s("s")),
        x_width: w.req_in,
        multiplier: id(&nm.s("mul")).index(j.clone()),
        shift: id(&nm.s("sh")).index(j),
        lo,
        hi,
        out_width: sbits(lo, hi),
    })?;
    Ok(Some(defs))
}

/// `(lyr == 0) ? v0 : (lyr == 1) ? v1 : ... vN` for per-layer constants.
fn per_layer(ctl: &Ctl, vals: &[usize], w: u32) -> R<Expr> {
    let mut e = uconst(vals[vals.len() - 1] as u128, w)?;
    for (l, v) in vals.iter().enumerate().rev().skip(1) {
        e = Expr::ternary(
            eq(id("lyr"), uconst(l as u128, ctl.layer_bits)?),
            uconst(*v as u128, w)?,
            e,
        );
    }
    Ok(e)
}

fn control(p: &Plan, ctl: &Ctl, _in_width: u32) -> R<Item> {
    let rows: Vec<usize> = p.layers.iter().map(|l| l.rows - 1).collect();
    let steps: Vec<usize> = p.layers.iter().map(|l| l.steps - 1).collect();
    let planes: Vec<usize> = p.layers.iter().map(|l| (l.a_bits - 1) as usize).collect();
    let cb = ctl.cnt_bits;
    let ph = |v: u128| uconst(v, PH_BITS);
    let goto = |v: u128| -> R<Stmt> { Ok(nb(id("ph"), ph(v)?)) };
    let zero_cnt = nb(id("cnt"), uconst(0, cb)?);
    let inc_cnt = nb(id("cnt"), add(id("cnt"), uconst(1, cb)?));
    // Input codes into layer 0's register, each widened to the layer's a_bits.
    let l0 = &p.layers[0];
    let ib = p.in_format.bits();
    let mut load = Vec::new();
    if ib == l0.a_bits {
        load.push(nb(id("x0"), id(IN_DATA)));
    }
    for i in (0..l0.n_in as u32).filter(|_| ib != l0.a_bits) {
        let src = id(IN_DATA).slice(i * ib + ib - 1, i * ib);
        let e = if p.in_format.is_signed() {
            let sign = id(IN_DATA).index(Expr::Int(i64::from(i * ib + ib - 1)));
            Expr::Concat(vec![Expr::replicate(l0.a_bits - ib, sign), src])
        } else {
            Expr::Concat(vec![uconst(0, l0.a_bits - ib)?, src])
        };
        load.push(nb(id("x0").slice(i * l0.a_bits + l0.a_bits - 1, i * l0.a_bits), e));
    }
    let arms = vec![
        CaseArm {
            labels: vec![ph(INIT)?],
            body: vec![goto(ROW)?, zero_cnt.clone(), nb(id("pl"), uconst(0, ctl.plane_bits)?)],
        },
        CaseArm {
            labels: vec![ph(ROW)?],
            body: vec![if_else(
                eq(id("cnt"), per_layer(ctl, &rows, cb)?),
                vec![goto(CONV)?, zero_cnt.clone()],
                vec![inc_cnt.clone()],
            )],
        },
        CaseArm {
            labels: vec![ph(CONV)?],
            body: vec![if_else(
                eq(id("cnt"), per_layer(ctl, &steps, cb)?),
                vec![goto(ADD)?, zero_cnt.clone()],
                vec![inc_cnt],
            )],
        },
        CaseArm {
            labels: vec![ph(ADD)?],
            body: vec![if_else(
                eq(id("pl"), per_layer(ctl, &planes, ctl.plane_bits)?),
                vec![goto(REQ)?],
                vec![
                    nb(id("pl"), add(id("pl"), uconst(1, ctl.plane_bits)?)),
                    goto(ROW)?,
                    zero_cnt.clone(),
                ],
            )],
        },
        CaseArm {
            labels: vec![ph(REQ)?],
            body: vec![if_else(
                eq(id("lyr"), uconst(ctl.last as u128, ctl.layer_bits)?),
                vec![nb(id("busy"), Expr::bit(false))],
                vec![nb(id("lyr"), add(id("lyr"), uconst(1, ctl.layer_bits)?)), goto(INIT)?],
            )],
        },
    ];
    let done = bin(
        BinOp::LogicAnd,
        id("busy"),
        bin(
            BinOp::LogicAnd,
            eq(id("lyr"), uconst(ctl.last as u128, ctl.layer_bits)?),
            eq(id("ph"), ph(REQ)?),
        ),
    );
    let mut start = load;
    start.extend([
        nb(id("busy"), Expr::bit(true)),
        nb(id("lyr"), uconst(0, ctl.layer_bits)?),
        goto(INIT)?,
        nb(id("pl"), uconst(0, ctl.plane_bits)?),
        zero_cnt,
    ]);
    let run = vec![
        nb(id("out_valid_r"), done),
        if_else(
            id("accept"),
            start,
            vec![if_(id("busy"), vec![Stmt::Case { expr: id("ph"), arms, default: Some(vec![]) }])],
        ),
    ];
    let reset = vec![
        nb(id("busy"), Expr::bit(false)),
        nb(id("out_valid_r"), Expr::bit(false)),
        nb(id("lyr"), uconst(0, ctl.layer_bits)?),
        nb(id("ph"), ph(INIT)?),
        nb(id("pl"), uconst(0, ctl.plane_bits)?),
        nb(id("cnt"), uconst(0, cb)?),
    ];
    Ok(Item::AlwaysFF { clock: CLK.into(), body: vec![if_else(id(RST), reset, run)] })
}

fn layer_block(l: usize, lp: &LayerPlan, p: &Plan, ctl: &Ctl, next_a: Option<u32>) -> R<Item> {
    let nm = Names { l };
    let v = |what: &str| id(&nm.s(what));
    let w = Widths::of(lp, p);
    let (a, aw, lw) = (lp.a_bits, lp.acc_bits, p.adc.level_bits);
    let field =
        |name: &str, index: Expr, width: u32| id(name).part(mul(index, int(width as usize)), width);
    let acc_j = field(&nm.s("acc"), v("j"), aw);

    // INIT: accumulators start at 0, or at -offset * sum(x) for the offset encoding.
    let mut init = Vec::new();
    let start = if lp.offset != 0 {
        init.push(blk(v("sx"), sconst(0, w.sx)?));
        let xe = id(&nm.s("x")).part(mul(v("j"), int(a as usize)), a);
        let xs = if lp.signed_in { sext(v("xv"), a, w.sx) } else { uext(v("xv"), a, w.sx)? };
        init.push(for_n(
            &nm.s("j"),
            lp.n_in,
            vec![blk(v("xv"), xe), blk(v("sx"), add(v("sx"), xs))],
        ));
        mul(sext(v("sx"), w.sx, aw), sconst(-i128::from(lp.offset), aw)?)
    } else {
        sconst(0, aw)?
    };
    init.push(for_n(&nm.s("j"), lp.n_out, vec![nb(acc_j.clone(), start)]));
    for r in 0..lp.row_tiles.len() {
        init.push(nb(id(&nm.rt("ps", r)), zeros(lp.ncols as u32 * lp.lane)));
    }

    // ROW: drive row `cnt` of every row tile where this plane's input bit is 1.
    let cb = ctl.cnt_bits;
    let mut row = Vec::new();
    for (r, t) in lp.row_tiles.iter().enumerate() {
        let bit_index = add(
            mul(add(int(t.row0), x32(id("cnt"), cb)?), int(a as usize)),
            x32(id("pl"), ctl.plane_bits)?,
        );
        let mut cond = id(&nm.s("x")).index(bit_index);
        if t.nrows < lp.rows {
            cond =
                bin(BinOp::LogicAnd, bin(BinOp::Lt, id("cnt"), uconst(t.nrows as u128, cb)?), cond);
        }
        let ib = index_bits(t.nrows);
        let addr = resize(id("cnt"), cb, ib)?;
        let ps = id(&nm.rt("ps", r));
        row.push(if_(cond, vec![nb(ps.clone(), add(ps, id(&nm.rt("g", r)).index(addr)))]));
    }

    // CONV: in step `cnt`, ADC `k` of each array converts its column `cnt * adcs + k`.
    let mut conv = Vec::new();
    let nb_ = w.num;
    let adc = &p.adc;
    for (r, t) in lp.row_tiles.iter().enumerate() {
        for &(col0, used) in &t.arrays {
            let col = add(int(col0), v("q"));
            let mut body = vec![blk(
                v("p"),
                id(&nm.rt("ps", r)).part(mul(col.clone(), int(lp.lane as usize)), lp.lane),
            )];
            body.push(blk(
                v("num"),
                add(mul(resize(v("p"), lp.lane, nb_)?, uconst(adc.a, nb_)?), uconst(adc.b, nb_)?),
            ));
            body.push(blk(
                v("quo"),
                match adc.shift() {
                    Some(0) => v("num"),
                    Some(s) => bin(BinOp::Shr, v("num"), Expr::Int(i64::from(s))),
                    None => bin(BinOp::Div, v("num"), uconst(adc.d, nb_)?),
                },
            ));
            let max = u128::from(adc.max_code);
            let code_of_quo = resize(v("quo"), nb_, adc.bits)?;
            body.push(blk(
                v("code"),
                if ubits(max) <= nb_ && max < (1u128 << nb_) - 1 {
                    Expr::ternary(
                        bin(BinOp::Gt, v("quo"), uconst(max, nb_)?),
                        uconst(max, adc.bits)?,
                        code_of_quo,
                    )
                } else {
                    code_of_quo
                },
            ));
            let level = match &adc.levels {
                Some(_) => id("adc_level").index(v("code")),
                None => resize(v("code"), adc.bits, lw)?,
            };
            body.push(nb(id(&nm.rt("lv", r)).part(mul(col, int(lw as usize)), lw), level));
            let q = add(mul(x32(id("cnt"), cb)?, int(lp.adcs_per_array)), v("k"));
            conv.push(for_n(
                &nm.s("k"),
                lp.adcs_per_array,
                vec![blk(v("q"), q), if_(bin(BinOp::Lt, v("q"), int(used)), body)],
            ));
        }
    }

    // ADD: acc[j] +-= (sum over slices, polarities and row tiles of +-level << slice) << plane.
    let cpw = lp.cols_per_weight;
    let mut inner = Vec::new();
    for r in 0..lp.row_tiles.len() {
        let c = add(mul(v("j"), int(cpw)), v("q"));
        let lv = id(&nm.rt("lv", r)).part(mul(c, int(lw as usize)), lw);
        let shift = mul(bin(BinOp::Div, v("q"), int(lp.polarities)), int(lp.cell_bits as usize));
        inner.push(blk(v("term"), bin(BinOp::Shl, uext(lv, lw, aw)?, shift)));
        let plus = add(v("sum"), v("term"));
        inner.push(if lp.polarities == 2 {
            let neg = eq(bin(BinOp::Mod, v("q"), int(2)), int(1));
            blk(v("sum"), Expr::ternary(neg, bin(BinOp::Sub, v("sum"), v("term")), plus))
        } else {
            blk(v("sum"), plus)
        });
    }
    let plane_term = bin(BinOp::Shl, v("sum"), id("pl"));
    let update = if lp.signed_in {
        let sign_plane = eq(id("pl"), uconst(u128::from(a - 1), ctl.plane_bits)?);
        Expr::ternary(
            sign_plane,
            bin(BinOp::Sub, acc_j.clone().signed(), plane_term.clone()),
            add(acc_j.clone().signed(), plane_term),
        )
    } else {
        add(acc_j.clone().signed(), plane_term)
    };
    let mut addp = vec![for_n(
        &nm.s("j"),
        lp.n_out,
        vec![
            blk(v("sum"), sconst(0, aw)?),
            for_n(&nm.s("q"), cpw, inner),
            nb(acc_j.clone(), update),
        ],
    )];
    for r in 0..lp.row_tiles.len() {
        addp.push(nb(id(&nm.rt("ps", r)), zeros(lp.ncols as u32 * lp.lane)));
    }

    // REQ: bias, then requantize into the next layer's codes, or write the output.
    let bias_j = id(&nm.s("bias")).index(v("j"));
    let mut req = vec![
        blk(v("a"), acc_j),
        blk(v("s"), add(sext(v("a"), aw, w.sum), sext(bias_j, lp.bias_bits, w.sum))),
    ];
    match (&lp.requant, next_a) {
        (Some(_), Some(na)) => {
            // The shared requantizer (`backend::verilog::build::requantize`) as procedural
            // temporaries: round half to even, then the clamp (ReLU is the clamp at 0).
            let defs = requant_defs(&nm, lp, &w)?.unwrap_or_default();
            let mut out = (v("s"), w.sum);
            for d in defs {
                out = (id(&d.name), d.width);
                req.push(blk(id(&d.name), d.value));
            }
            let next = id(&format!("x{}", l + 1)).part(mul(v("j"), int(na as usize)), na);
            req.push(nb(next, resize(out.0, out.1, na)?));
        }
        (None, None) => {
            let ob = lp.out_format.bits();
            req.push(nb(
                id("out_data_r").part(mul(v("j"), int(ob as usize)), ob),
                resize(v("s"), w.sum, ob)?,
            ));
        }
        _ => {
            return Err(XbarError::Rtl(format!(
                "layer `{}`: hidden layers requantize, the last one does not",
                lp.name
            )))
        }
    }
    let req = vec![for_n(&nm.s("j"), lp.n_out, req)];

    let ph = |v: u128| uconst(v, PH_BITS);
    let arms = vec![
        CaseArm { labels: vec![ph(INIT)?], body: init },
        CaseArm { labels: vec![ph(ROW)?], body: row },
        CaseArm { labels: vec![ph(CONV)?], body: conv },
        CaseArm { labels: vec![ph(ADD)?], body: addp },
        CaseArm { labels: vec![ph(REQ)?], body: req },
    ];
    let mine = bin(BinOp::LogicAnd, id("busy"), eq(id("lyr"), uconst(l as u128, ctl.layer_bits)?));
    Ok(Item::AlwaysFF {
        clock: CLK.into(),
        body: vec![if_(mine, vec![Stmt::Case { expr: id("ph"), arms, default: Some(vec![]) }])],
    })
}
