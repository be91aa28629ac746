//! The sequencer: walks the schedule of the hardware `TiledCam` literally, accumulates leaves
//! and presents the result on the streaming interface.
//!
//! States: `IDLE` (ready) → accept → `ENCODE` (`enc_run` cycles; skipped when 0) → `SEARCH`
//! (one cycle per searched array; one cycle for a row tile without arrays) → `DONE` (one cycle
//! with `out_valid`; ready again, so a new input can be accepted in the same cycle).
//!
//! In `SEARCH`, row tile `rt_idx`'s arrays are searched in schedule order. The row-liveness
//! vector starts as the row tile's `present` rows and is ANDed with each array's row matches;
//! after the row tile's last array its live rows are exactly the rows whose cells all matched.
//! With liveness (monosparse) a row tile stops as soon as no row is live (early exit), as in
//! `cam::sim`; without it (raw, reorder) every scheduled array is searched. On the row tile's
//! last cycle the leaves of its live rows are added into the per-output accumulators
//! (initialised to `base_q` on accept), modulo `2^acc_bits`; the quantizer's `acc_bits` bound
//! makes the final sums exact. For several outputs `out_data` also carries the argmax class
//! (strict `>` chain over the signed totals: ties go to the lowest index).

use super::array::{ARR_IDX, ROW_MATCH};
use super::encoder::{ENC_RUN, ENC_STEP};
use super::shape::Shape;
use super::vl::*;
use crate::backend::verilog::ast::{BinOp, Expr, Item, Stmt};
use crate::backend::verilog::interface::{CLK, IN_READY, IN_VALID, OUT_DATA, OUT_VALID, RST};
use crate::cam::error::CamError;

/// The row-tile ROM, one word per row tile.
pub(crate) const RT_ROM: &str = "rt_rom";

const STATE: &str = "state";
const IDLE: &str = "S_IDLE";
const ENCODE: &str = "S_ENCODE";
const SEARCH: &str = "S_SEARCH";
const DONE: &str = "S_DONE";

fn is(state: &str) -> Expr {
    bin(BinOp::Eq, id(STATE), id(state))
}

/// `acc_bits`-wide sign extension of row `i`'s leaf.
fn leaf_ext(sh: &Shape, i: usize) -> Expr {
    let leaf = format!("rt_leaf{i}");
    let (lw, aw) = (sh.leaf_bits, sh.acc_bits);
    if lw == aw {
        id(&leaf)
    } else {
        Expr::Concat(vec![Expr::replicate(aw - lw, bit(&leaf, lw, lw - 1)), id(&leaf)])
    }
}

/// The sequencer's declarations, datapath and state machine; `on_accept` and `on_step` are
/// the encoder's register updates on an accepted input and on each search step.
pub(crate) fn sequencer(
    sh: &Shape,
    base_q: &[i64],
    on_accept: Vec<Stmt>,
    on_step: Vec<Stmt>,
) -> Result<Vec<Item>, CamError> {
    let mut items = vec![
        Item::Blank,
        Item::comment("Sequencer: the schedule of the hardware tiling, row tile by row tile."),
    ];
    for (i, s) in [IDLE, ENCODE, SEARCH, DONE].into_iter().enumerate() {
        items.push(Item::LocalParam { name: s.into(), value: uc(i as u128, 2)? });
    }
    items.push(reg(STATE, 2));
    items.push(Item::assign(
        id(IN_READY),
        bin(BinOp::LogicAnd, not(id(RST)), bin(BinOp::LogicOr, is(IDLE), is(DONE))),
    ));
    items.extend(define("accept", 1, bin(BinOp::LogicAnd, id(IN_VALID), id(IN_READY))));
    items.extend([
        reg("rt_idx", sh.row_tile_index_bits),
        reg(ARR_IDX, sh.array_index_bits),
        reg("rt_start", 1),
        reg("live", sh.rows as u32),
    ]);
    items.extend(row_tile_fields(sh));
    items.extend(liveness(sh)?);
    items.extend(accumulation(sh)?);
    items.extend(output(sh)?);
    items.push(Item::Blank);
    items.push(Item::AlwaysFF {
        clock: CLK.into(),
        body: state_machine(sh, base_q, on_accept, on_step)?,
    });
    Ok(items)
}

fn acc(k: usize) -> String {
    format!("acc{k}")
}

/// The current row tile's word of the row-tile ROM, split into its fields.
fn row_tile_fields(sh: &Shape) -> Vec<Item> {
    let r = sh.rows as u32;
    let word = sh.row_tile_word_bits();
    let field = |lsb: u32, width: u32| part(id("rt_word"), word, lsb, width);
    let mut items = Vec::new();
    items.extend(define("rt_word", word, id(RT_ROM).index(id("rt_idx"))));
    items.extend(define("rt_present", r, field(0, r)));
    items.extend(define("rt_empty", 1, field(r, 1)));
    items.extend(define("rt_next", sh.next_bits(), field(r + 1, sh.next_bits())));
    for i in 0..sh.rows {
        let lsb = sh.row_entry_lsb(i);
        items.extend(define(&format!("rt_leaf{i}"), sh.leaf_bits, field(lsb, sh.leaf_bits)));
        if sh.row_output_bits > 0 {
            items.extend(define(
                &format!("rt_out{i}"),
                sh.row_output_bits,
                field(lsb + sh.leaf_bits, sh.row_output_bits),
            ));
        }
    }
    items
}

/// `nlive`, the rows still live after this cycle's array, and `rt_done`, the row tile's end.
fn liveness(sh: &Shape) -> Result<Vec<Item>, CamError> {
    let r = sh.rows as u32;
    let mut items = vec![Item::comment(
        "Live rows: the row tile's present rows at its first array, then those still matching.",
    )];
    items.extend(define(
        "hit",
        r,
        Expr::ternary(id("rt_empty"), Expr::replicate(r, Expr::bit(true)), id(ROW_MATCH)),
    ));
    items.extend(define(
        "live_now",
        r,
        Expr::ternary(id("rt_start"), id("rt_present"), id("live")),
    ));
    items.extend(define("nlive", r, bin(BinOp::And, id("live_now"), id("hit"))));
    let last = bin(
        BinOp::Eq,
        bin(BinOp::Add, Expr::Concat(vec![Expr::bit(false), id(ARR_IDX)]), uc(1, sh.next_bits())?),
        id("rt_next"),
    );
    let mut done_terms = vec![id("rt_empty"), last];
    if sh.liveness {
        items.push(Item::comment("Monosparse early exit: no live row left in this row tile."));
        done_terms.push(bin(BinOp::Eq, id("nlive"), uc(0, r)?));
    }
    items.extend(define("rt_done", 1, any(done_terms)));
    Ok(items)
}

/// Per output, the accumulator and `add<k>`, the sum of the live rows' leaves for it.
fn accumulation(sh: &Shape) -> Result<Vec<Item>, CamError> {
    let (r, aw) = (sh.rows as u32, sh.acc_bits);
    let mut items = vec![
        Item::Blank,
        Item::comment(format!(
            "Leaves of the live rows, per output, in {aw}-bit two's complement."
        )),
    ];
    for k in 0..sh.outputs {
        items.push(reg(&acc(k), aw));
        let mut sum: Option<Expr> = None;
        for i in 0..sh.rows {
            let live = bit("nlive", r, i as u32);
            let sel = if sh.row_output_bits > 0 {
                let out = uc(k as u128, sh.row_output_bits)?;
                bin(BinOp::LogicAnd, live, bin(BinOp::Eq, id(&format!("rt_out{i}")), out))
            } else {
                live
            };
            let term = Expr::ternary(sel, leaf_ext(sh, i), uc(0, aw)?);
            sum = Some(match sum {
                Some(s) => bin(BinOp::Add, s, term),
                None => term,
            });
        }
        items.extend(define(&format!("add{k}"), aw, sum.unwrap_or(uc(0, aw)?)));
    }
    Ok(items)
}

/// `out_valid` and `out_data = {class, acc<O-1>, ..., acc0}`.
fn output(sh: &Shape) -> Result<Vec<Item>, CamError> {
    let mut items = vec![Item::Blank];
    let mut fields: Vec<Expr> = (0..sh.outputs).rev().map(|k| id(&acc(k))).collect();
    if sh.class_bits > 0 {
        items.push(Item::comment("Argmax over the signed totals; ties keep the lowest index."));
        let cb = sh.class_bits;
        let mut best = id(&acc(0));
        let mut idx = uc(0, cb)?;
        for k in 1..sh.outputs {
            let gt = format!("am_gt{k}");
            items.extend(define(
                &gt,
                1,
                bin(BinOp::Gt, id(&acc(k)).signed(), best.clone().signed()),
            ));
            let iname = format!("am_idx{k}");
            items.extend(define(&iname, cb, Expr::ternary(id(&gt), uc(k as u128, cb)?, idx)));
            idx = id(&iname);
            if k + 1 < sh.outputs {
                let bname = format!("am_best{k}");
                items.extend(define(
                    &bname,
                    sh.acc_bits,
                    Expr::ternary(id(&gt), id(&acc(k)), best),
                ));
                best = id(&bname);
            }
        }
        fields.insert(0, idx);
    }
    let out = if fields.len() == 1 { fields.remove(0) } else { Expr::Concat(fields) };
    items.push(Item::assign(id(OUT_VALID), is(DONE)));
    items.push(Item::assign(id(OUT_DATA), out));
    Ok(items)
}

/// The body of the clocked process.
fn state_machine(
    sh: &Shape,
    base_q: &[i64],
    on_accept: Vec<Stmt>,
    on_step: Vec<Stmt>,
) -> Result<Vec<Stmt>, CamError> {
    let (aiw, rtw, sw) = (sh.array_index_bits, sh.row_tile_index_bits, sh.step_bits);
    let mut accept = on_accept;
    accept.extend([
        nb(id(ENC_STEP), bin(BinOp::Sub, id(ENC_RUN), uc(1, sw)?)),
        nb(
            id(STATE),
            Expr::ternary(bin(BinOp::Eq, id(ENC_RUN), uc(0, sw)?), id(SEARCH), id(ENCODE)),
        ),
        nb(id("rt_idx"), uc(0, rtw)?),
        nb(id(ARR_IDX), uc(0, aiw)?),
        nb(id("rt_start"), Expr::bit(true)),
    ]);
    for (k, b) in base_q.iter().enumerate() {
        let base = Expr::constant(i128::from(*b), sh.acc_bits, true)
            .map_err(|e| CamError::Internal(format!("base of output {k}: {e}")))?;
        accept.push(nb(id(&acc(k)), base));
    }
    let mut step = on_step;
    step.push(nb(id(ENC_STEP), bin(BinOp::Sub, id(ENC_STEP), uc(1, sw)?)));
    step.push(when(
        bin(BinOp::Eq, id(ENC_STEP), uc(0, sw)?),
        vec![nb(id(STATE), id(SEARCH))],
        vec![],
    ));
    let mut finish: Vec<Stmt> = (0..sh.outputs)
        .map(|k| nb(id(&acc(k)), bin(BinOp::Add, id(&acc(k)), id(&format!("add{k}")))))
        .collect();
    finish.extend([
        nb(id("rt_start"), Expr::bit(true)),
        nb(id(ARR_IDX), part(id("rt_next"), sh.next_bits(), 0, aiw)),
        nb(id("rt_idx"), bin(BinOp::Add, id("rt_idx"), uc(1, rtw)?)),
        when(
            bin(BinOp::Eq, id("rt_idx"), uc((sh.row_tiles - 1) as u128, rtw)?),
            vec![nb(id(STATE), id(DONE))],
            vec![],
        ),
    ]);
    let advance = vec![
        nb(id("live"), id("nlive")),
        nb(id("rt_start"), Expr::bit(false)),
        nb(id(ARR_IDX), bin(BinOp::Add, id(ARR_IDX), uc(1, aiw)?)),
    ];
    Ok(vec![when(
        id(RST),
        vec![nb(id(STATE), id(IDLE))],
        vec![when(
            id("accept"),
            accept,
            vec![when(
                is(ENCODE),
                step,
                vec![when(
                    is(SEARCH),
                    vec![when(id("rt_done"), finish, advance)],
                    vec![when(is(DONE), vec![nb(id(STATE), id(IDLE))], vec![])],
                )],
            )],
        )],
    )])
}
