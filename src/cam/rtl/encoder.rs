//! The input encoder: float32 features to codes `#{t_k <= x}`, by binary search over each
//! feature's sorted threshold table, one comparison per feature per cycle, all features in
//! parallel (the structure `energy.rs` costs: `ceil(log2(u + 1))` comparisons per feature).
//!
//! **Comparison.** A float32 `x` becomes an unsigned order key ([`super::roms::order_key`]):
//! negative values have all bits flipped, non-negative ones only the sign bit, and `-0.0` is
//! first replaced by `+0.0`, so unsigned `key(t) <= key(x)` is exactly float `t <= x` for every
//! non-NaN pair. NaN (exponent all ones, mantissa non-zero) sets the feature's NaN flag; its
//! code stays 0 and it takes no search step, as in `QuantizedCam::encode`.
//!
//! **Search.** The code is built from its most significant bit down: at step `b` the candidate
//! is `code | 2^b`, accepted when it is at most `u_f` and table entry `candidate - 1` is `<= x`.
//! Because the table is ascending, this binary lifting finds the largest `c` with
//! `t_{c-1} <= x`, i.e. `#{t_k <= x}`, in `s_f = bit_len(u_f)` steps. The encoder runs
//! `max_f s_f` cycles over the features that are not NaN (the simulator's `encoder_steps`);
//! a feature's comparator is enabled only in the last `s_f` of them.
//!
//! **State.** Per feature the register `f<f>_st = {nan, code}` is what the array's column
//! multiplexers read (through [`FEAT`]); `f<f>_k` holds the key of the accepted input.

use super::shape::Shape;
use super::vl::*;
use crate::backend::verilog::ast::{BinOp, Expr, Item, Stmt, UnOp};
use crate::backend::verilog::interface::IN_DATA;
use crate::cam::error::CamError;
use crate::cam::quantize::QuantizedCam;

/// All features' `{nan, code}` registers side by side, feature `f` at `[f * slot +: slot]`
/// with `slot = Shape::feature_slot_bits()` (zero padded to a power of two, so a column
/// multiplexer selects a feature with a shift by `{index, zeros}`).
pub(crate) const FEAT: &str = "feat";
/// The threshold ROM.
pub(crate) const THR_ROM: &str = "enc_thr";
/// Bit `b` of the current search step, one-hot.
const ENC_BIT: &str = "enc_bit";
/// The search step counter (counts down to 0).
pub(crate) const ENC_STEP: &str = "enc_step";
/// Steps this input needs: `max s_f` over its non-NaN features.
pub(crate) const ENC_RUN: &str = "enc_run";

/// The encoder's declarations and logic, and what it does on an accepted input and on each
/// search step.
pub(crate) struct EncoderRtl {
    pub items: Vec<Item>,
    pub on_accept: Vec<Stmt>,
    pub on_step: Vec<Stmt>,
}

/// Bits `lsb .. lsb + width` of feature `f`'s float32 in `in_data`.
fn in_word(sh: &Shape, f: usize, lsb: u32, width: u32) -> Expr {
    part(id(IN_DATA), sh.in_bits(), f as u32 * 32 + lsb, width)
}

pub(crate) fn encoder(q: &QuantizedCam, sh: &Shape) -> Result<EncoderRtl, CamError> {
    let mut out = EncoderRtl {
        items: vec![
            Item::comment(format!(
                "Input encoder: per feature, the code #{{t_k <= x}} by binary search over its sorted\n\
                 thresholds (order keys in {THR_ROM}), one comparison per feature per cycle."
            )),
            reg(ENC_STEP, sh.step_bits),
        ],
        on_accept: Vec::new(),
        on_step: Vec::new(),
    };
    if sh.total_thresholds > 0 {
        let cw = sh.code_bits;
        out.items.extend(define(ENC_BIT, cw, bin(BinOp::Shl, uc(1, cw)?, id(ENC_STEP))));
    }
    let mut unused_signs = Vec::new();
    for f in 0..q.num_features {
        let (u, s) = (sh.thresholds[f], sh.steps[f]);
        let table = match q.encoders[f].thresholds.as_slice() {
            [] => "thresholds".to_string(),
            [t] => format!("threshold {t:?}"),
            ts => format!("thresholds {:?} .. {:?}", ts[0], ts[ts.len() - 1]),
        };
        out.items.push(Item::Blank);
        out.items.push(Item::comment(format!(
            "Feature {f}: {u} {table} (ROM {}..), {s} search step{}.",
            sh.threshold_base[f],
            if s == 1 { "" } else { "s" }
        )));
        feature_input(sh, f, &mut out)?;
        if u == 0 {
            // Its sign bit would only feed the key: the NaN flag is all that matters.
            unused_signs.push(in_word(sh, f, 31, 1));
        } else {
            let first = sh.thresholds[..f].iter().all(|u| *u == 0);
            feature_search(sh, f, first, &mut out)?;
        }
    }
    if !unused_signs.is_empty() {
        out.items.push(Item::Blank);
        out.items.push(Item::comment(
            "Sign bits of features without thresholds: only their NaN flag matters.",
        ));
        let mut parts = vec![Expr::bit(false)];
        parts.extend(unused_signs);
        out.items.extend(define("unused_signs", 1, Expr::un(UnOp::RedAnd, Expr::Concat(parts))));
    }
    out.items.extend(feature_vector(sh)?);
    out.items.extend(steps_needed(sh)?);
    Ok(out)
}

/// The feature's input word, its NaN flag and its `{nan, code}` register, cleared on accept.
fn feature_input(sh: &Shape, f: usize, out: &mut EncoderRtl) -> Result<(), CamError> {
    let (x, nan, state) = (format!("f{f}_x"), format!("f{f}_nan"), format!("f{f}_st"));
    let xw = if sh.thresholds[f] > 0 { 32 } else { 31 };
    out.items.extend(define(&x, xw, in_word(sh, f, 0, xw)));
    out.items.extend(define(
        &nan,
        1,
        bin(
            BinOp::LogicAnd,
            bin(BinOp::Eq, id(&x).slice(30, 23), uc(0xff, 8)?),
            bin(BinOp::Ne, id(&x).slice(22, 0), uc(0, 23)?),
        ),
    ));
    out.items.push(reg(&state, sh.code_bits + 1));
    out.on_accept.push(nb(id(&state), Expr::Concat(vec![id(&nan), uc(0, sh.code_bits)?])));
    Ok(())
}

/// The feature's order key, registered on accept, and one binary-search step per cycle.
fn feature_search(
    sh: &Shape,
    f: usize,
    explain: bool,
    out: &mut EncoderRtl,
) -> Result<(), CamError> {
    let (cw, sw, tw) = (sh.code_bits, sh.step_bits, sh.threshold_index_bits());
    let (u, s) = (sh.thresholds[f], sh.steps[f]);
    let name = |suffix: &str| format!("f{f}_{suffix}");
    let (x, state, key, kreg, cand, addr, take) =
        (name("x"), name("st"), name("key"), name("k"), name("cand"), name("addr"), name("take"));
    if explain {
        out.items.push(Item::comment(
            "Order key: negative -> all bits flipped, else sign bit set; -0.0 keyed as +0.0\n\
             (32'h80000000), so unsigned key order is float order.",
        ));
    }
    let magnitude = id(&x).slice(30, 0);
    out.items.extend(define(
        &key,
        32,
        Expr::ternary(
            id(&x).index(Expr::Int(31)),
            Expr::ternary(
                bin(BinOp::Eq, magnitude.clone(), uc(0, 31)?),
                uc(0x8000_0000, 32)?,
                Expr::un(UnOp::Not, id(&x)),
            ),
            Expr::Concat(vec![Expr::bit(true), magnitude]),
        ),
    ));
    out.items.push(reg(&kreg, 32));
    out.on_accept.push(nb(id(&kreg), id(&key)));
    let code = part(id(&state), cw + 1, 0, cw);
    out.items.extend(define(&cand, cw, bin(BinOp::Or, code, id(ENC_BIT))));
    let cand_tw = if tw > cw {
        Expr::Concat(vec![uc(0, tw - cw)?, id(&cand)])
    } else {
        part(id(&cand), cw, 0, tw)
    };
    let base = sh.threshold_base[f] as u128;
    out.items.extend(define(
        &addr,
        tw,
        bin(BinOp::Sub, bin(BinOp::Add, uc(base, tw)?, cand_tw), uc(1, tw)?),
    ));
    let mut terms = vec![not(part(id(&state), cw + 1, cw, 1))];
    if s < sh.max_steps() {
        // Comparator enabled only in this feature's own s_f steps.
        terms.push(bin(BinOp::Lt, id(ENC_STEP), uc(u128::from(s), sw)?));
    }
    if (u as u128) < (1u128 << cw) - 1 {
        // (A table of 2^cw - 1 entries admits every candidate.)
        terms.push(bin(BinOp::Le, id(&cand), uc(u as u128, cw)?));
    }
    terms.push(bin(BinOp::Le, id(THR_ROM).index(id(&addr)), id(&kreg)));
    out.items.extend(define(&take, 1, all(terms)));
    out.on_step.push(when(
        id(&take),
        vec![nb(id(&state), Expr::Concat(vec![Expr::bit(false), id(&cand)]))],
        vec![],
    ));
    Ok(())
}

/// [`FEAT`]: every feature's `{nan, code}` in its power-of-two slot.
fn feature_vector(sh: &Shape) -> Result<Vec<Item>, CamError> {
    let (cw, slot) = (sh.code_bits, sh.feature_slot_bits());
    let mut items = vec![
        Item::Blank,
        Item::comment(format!(
            "{{nan, code}} of every feature, feature f at [{slot}*f +: {}].",
            cw + 1
        )),
    ];
    let pad = slot - (cw + 1);
    let mut fields = Vec::new();
    for f in (0..sh.features).rev() {
        if pad > 0 {
            fields.push(uc(0, pad)?);
        }
        fields.push(id(&format!("f{f}_st")));
    }
    let all_features = if fields.len() == 1 { fields.remove(0) } else { Expr::Concat(fields) };
    items.extend(define(FEAT, slot * sh.features as u32, all_features));
    Ok(items)
}

/// [`ENC_RUN`]: the largest `s_f` over the input's non-NaN features (the simulator's
/// `encoder_steps`), as a priority chain over the distinct step counts.
fn steps_needed(sh: &Shape) -> Result<Vec<Item>, CamError> {
    let sw = sh.step_bits;
    let mut items = vec![
        Item::Blank,
        Item::comment("Search steps this input needs: the most of any feature that is not NaN."),
    ];
    let mut by_steps: Vec<u32> = sh.steps.iter().copied().filter(|s| *s > 0).collect();
    by_steps.sort_unstable();
    by_steps.dedup();
    let mut run = uc(0, sw)?;
    for s in by_steps {
        let need = format!("enc_need{s}");
        let terms = (0..sh.features)
            .filter(|f| sh.steps[*f] == s)
            .map(|f| not(id(&format!("f{f}_nan"))))
            .collect();
        items.extend(define(&need, 1, any(terms)));
        run = Expr::ternary(id(&need), uc(u128::from(s), sw)?, run);
    }
    items.extend(define(ENC_RUN, sw, run));
    Ok(items)
}
