//! One attention head as a streaming design: the core ([`super::core`]) behind the standard
//! top-level interface, for `tessera verify` of the attention block on its own and for
//! synthesis comparisons.
//!
//! `in_data` packs, element 0 least significant: Q (`s x d_k` elements), K (`s x d_k`), then V
//! (`s x d_v` int8 codes); Q/K elements are 1 bit (HAD sign bits) or int8 (standard).
//! `out_data` packs the `s x d_v` int8 output codes. The wrapper latches an accepted vector,
//! loads the core one element per cycle, starts it, collects its results and presents them
//! for one cycle with `out_valid`.
//!
//! Both buffers are shift registers, so the wrapper adds no wide multiplexers to the core it
//! is synthesized with: loading shifts the latched input down by one element (1 or 8 bits) per
//! cycle and reads the low bits; results arrive in row-major order (query by query, value
//! column by column; `core`'s AV stage) and shift in from the top, so the first lands in bits
//! `[7:0]` after the last.

use super::core::{core_module, ports, run_cycles};
use super::prims::*;
use crate::attention::core::{CoreMode, CoreParams};
use crate::attention::error::AttnError;
use crate::backend::verilog::ast::{BinOp, Expr, Item, Module};
use crate::backend::verilog::interface::stream_ports;

/// Bits per Q/K element on the unit's input.
pub fn qk_bits(p: &CoreParams) -> u32 {
    if p.mode == CoreMode::Had {
        1
    } else {
        8
    }
}

/// Input and output widths of the unit.
pub fn widths(p: &CoreParams) -> (u32, u32) {
    let qk = qk_bits(p) * (2 * p.s * p.d_k) as u32;
    (qk + 8 * (p.s * p.d_v) as u32, 8 * (p.s * p.d_v) as u32)
}

/// Cycles from accepting a vector to `out_valid`.
pub fn latency(p: &CoreParams) -> u64 {
    (p.s * (2 * p.d_k + p.d_v)) as u64 + run_cycles(p) + 4
}

/// The wrapper `top` and the core `top`_core.
pub fn unit_modules(top: &str, p: &CoreParams) -> Result<Vec<Module>, AttnError> {
    let core_name = format!("{top}_core");
    let core = core_module(&core_name, p)?;
    let (in_w, out_w) = widths(p);
    let cp = ports(p);
    let (rw, cw) = (cp.row_w, cp.col_w);
    let qkb = qk_bits(p);
    let mut r = Rtl::default();
    r.comment(LINT_WAIVER);
    // States: 0 idle, 1 load, 2 start, 3 run, 4 output.
    let state = r.reg("ustate", 3, false);
    let inbuf = r.reg("inbuf", in_w, false);
    let obuf = r.reg("obuf", out_w, false);
    let sel = r.reg("lsel", 2, false);
    let row = r.reg("lrow", rw, false);
    let col = r.reg("lcol", cw, false);
    let ovalid = r.reg("ovalid", 1, false);
    let shifted = inbuf.clone();
    let qk_el = if qkb == 1 {
        Expr::Concat(vec![uc(0, 7)?, shifted.clone().index(n(0))])
    } else {
        shifted.clone().slice(7, 0)
    };
    let ld_data = r.let_(
        "ld_data",
        8,
        true,
        Expr::ternary(eq(sel.clone(), uc(2, 2)?), shifted.slice(7, 0), qk_el).signed(),
    );
    let ld_en = r.let_("ld_en", 1, false, eq(state.clone(), uc(1, 3)?));
    let start = r.let_("start", 1, false, eq(state.clone(), uc(2, 3)?));
    for (nm, w, signed) in [
        ("done", 1, false),
        ("res_valid", 1, false),
        ("res_row", rw, false),
        ("res_col", cw, false),
        ("res_data", 8, true),
    ] {
        r.wire(nm, w, signed);
    }
    r.items.push(Item::Instance {
        module: core_name,
        name: "core".into(),
        params: vec![],
        conns: [
            ("clk", id("clk")),
            ("rst", id("rst")),
            ("ld_en", ld_en),
            ("ld_sel", sel.clone()),
            ("ld_row", row.clone()),
            ("ld_col", col.clone()),
            ("ld_data", ld_data),
            ("start", start),
            ("done", id("done")),
            ("res_valid", id("res_valid")),
            ("res_row", id("res_row")),
            ("res_col", id("res_col")),
            ("res_data", id("res_data")),
        ]
        .into_iter()
        .map(|(a, b)| (a.to_string(), b))
        .collect(),
    });
    r.assign(id("in_ready"), eq(state.clone(), uc(0, 3)?));
    r.assign(id("out_valid"), ovalid.clone());
    r.assign(id("out_data"), obuf.clone());
    // Load sequencing: Q rows, K rows (d_k columns), then V rows (d_v columns).
    let (s, dk, dv) = (p.s as i64, p.d_k as i64, p.d_v as i64);
    let last_col = Expr::ternary(eq(sel.clone(), uc(2, 2)?), n(dv - 1), n(dk - 1));
    let width = Expr::ternary(eq(sel.clone(), uc(2, 2)?), n(8), n(i64::from(qkb)));
    let advance = vec![
        nb(inbuf.clone(), bin(BinOp::Shr, inbuf.clone(), width)),
        if_(
            eq(col.clone(), last_col),
            vec![
                nb(col.clone(), uc(0, cw)?),
                if_(
                    eq(row.clone(), n(s - 1)),
                    vec![
                        nb(row.clone(), uc(0, rw)?),
                        if_(
                            eq(sel.clone(), uc(2, 2)?),
                            vec![nb(state.clone(), uc(2, 3)?)],
                            vec![nb(sel.clone(), add(sel.clone(), n(1)))],
                        ),
                    ],
                    vec![nb(row.clone(), add(row.clone(), n(1)))],
                ),
            ],
            vec![nb(col.clone(), add(col.clone(), n(1)))],
        ),
    ];
    // Result collection: results arrive in row-major order; each shifts in from the top.
    let shifted_in = if out_w > 8 {
        Expr::Concat(vec![id("res_data"), obuf.clone().slice(out_w - 1, 8)])
    } else {
        id("res_data")
    };
    let fsm = case(
        state.clone(),
        vec![
            (
                vec![uc(0, 3)?],
                vec![if_(
                    id("in_valid"),
                    vec![
                        nb(inbuf.clone(), id("in_data")),
                        nb(state.clone(), uc(1, 3)?),
                        nb(sel.clone(), uc(0, 2)?),
                        nb(row.clone(), uc(0, rw)?),
                        nb(col.clone(), uc(0, cw)?),
                    ],
                    vec![],
                )],
            ),
            (vec![uc(1, 3)?], advance),
            (vec![uc(2, 3)?], vec![nb(state.clone(), uc(3, 3)?)]),
            (
                vec![uc(3, 3)?],
                vec![
                    if_(id("res_valid"), vec![nb(obuf.clone(), shifted_in)], vec![]),
                    if_(id("done"), vec![nb(state.clone(), uc(4, 3)?)], vec![]),
                ],
            ),
            (
                vec![uc(4, 3)?],
                vec![nb(ovalid.clone(), Expr::bit(true)), nb(state.clone(), uc(0, 3)?)],
            ),
        ],
        Some(vec![nb(state.clone(), uc(0, 3)?)]),
    );
    r.items.push(Item::AlwaysFF {
        clock: "clk".into(),
        body: vec![
            nb(ovalid, Expr::bit(false)),
            if_(id("rst"), vec![nb(state, uc(0, 3)?)], vec![fsm]),
        ],
    });
    let wrapper = Module {
        name: top.to_string(),
        params: vec![],
        ports: stream_ports(in_w, out_w),
        items: r.items,
    };
    Ok(vec![wrapper, core])
}
