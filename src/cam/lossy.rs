//! The CAM's lossy steps and the error bound it states.
//!
//! Two steps lose information: threshold merging (a feature with more unique thresholds than
//! the cell has levels: splits move, so a sample can reach other leaves, and no bound holds) and
//! leaf rounding to `leaf_bits` fixed point (bounded). The stated bound on
//! `|margin_hw - margin_framework|` is the fixed-point bound plus float32 rounding:
//!
//! - fixed point: `(n + 1) · 2^-(frac+1)` for an output fed by `n` trees
//!   ([`super::quantize::FixedPoint::error_bound`]);
//! - float32: the framework may sum the `n + 1` terms in float32 (XGBoost does), which moves
//!   its margin by at most `n · u · Σ|term|` (`u = 2^-24`, any summation order), and both sides
//!   round their result to float32 once more (`u · |margin|` each). With
//!   `M = max_k (|base_k| + Σ_trees max |leaf|)` bounding `Σ|term|` and `|margin|`, the term is
//!   `(n + 3) · u · M` (one `u · M` of slack for the double rounding of the accumulator's
//!   conversion). `M` is taken from the quantized leaves plus the fixed-point bound, so it
//!   bounds the float leaves too.
//!
//! Leaf rounding is reported as lossy only when its bound exceeds the float32 term: below that
//! the design is as exact as a float32 framework is to itself (`leaf_bits = 32` usually is).

use super::quantize::QuantizedCam;
use crate::diagnostics::Code;
use crate::frontend::trees::TreeEnsemble;
use crate::report::lossy::{fmt_err, max_abs_diff};
use crate::report::LossyStep;
use ndarray::ArrayView2;

/// Unit roundoff of float32.
const U32: f64 = 1.0 / (1u64 << 24) as f64;

/// Why no bound holds when thresholds were merged.
pub const NO_BOUND_MERGED: &str =
    "thresholds merged: a moved split can change a sample's leaves by whole leaf values";

/// The fixed-point and float32 parts of the bound of `q`.
fn bound_parts(q: &QuantizedCam) -> (f64, f64) {
    let n = q.trees_per_output.iter().copied().max().unwrap_or(0);
    let fixed = q.fixed.error_bound(n);
    let mut per_tree = vec![0i64; q.num_trees];
    let mut output_of = vec![usize::MAX; q.num_trees];
    for r in &q.rows {
        per_tree[r.tree] = per_tree[r.tree].max(r.leaf_q.abs());
        output_of[r.tree] = r.output;
    }
    let mut m: Vec<f64> = q.base_q.iter().map(|b| b.unsigned_abs() as f64).collect();
    for (t, k) in output_of.iter().enumerate() {
        if let Some(s) = m.get_mut(*k) {
            *s += per_tree[t] as f64;
        }
    }
    let m = m.into_iter().fold(0.0, f64::max) * q.fixed.lsb() + fixed;
    (fixed, (n as f64 + 3.0) * U32 * m)
}

/// The bound the design guarantees on `|margin_hw - margin_framework|`, or `None` when merged
/// thresholds make none hold.
pub fn stated_bound(q: &QuantizedCam) -> Option<f64> {
    if !q.report.merged_features.is_empty() {
        return None;
    }
    let (fixed, f32_term) = bound_parts(q);
    Some(fixed + f32_term)
}

/// Largest `|margin_hw - margin_float|` over the samples of `x` (rows), `outputs` the simulated
/// margins of those samples.
pub fn max_margin_error(e: &TreeEnsemble, x: ArrayView2<f32>, outputs: ArrayView2<f32>) -> f64 {
    x.rows()
        .into_iter()
        .zip(outputs.rows())
        .map(|(xs, ys)| {
            let reference = e.predict_margin(&xs.to_vec());
            max_abs_diff(ys.iter().map(|v| *v as f64), reference.into_iter())
        })
        .fold(0.0, f64::max)
}

/// The lossy steps of `q` on data whose largest margin error against the float model is
/// `max_error`.
pub fn steps(q: &QuantizedCam, max_error: f64) -> Vec<LossyStep> {
    let mut out = Vec::new();
    let merged = &q.report.merged_features;
    if let Some(worst) = merged.iter().max_by_key(|m| m.unique_before - m.unique_after) {
        let lost: usize = merged.iter().map(|m| m.unique_before - m.unique_after).sum();
        let before: usize = merged.iter().map(|m| m.unique_before).sum();
        let others = match merged.len() {
            1 => String::new(),
            n => format!(" ({lost} of {before} thresholds over {n} features)"),
        };
        out.push(LossyStep {
            step: "cam-quantize",
            code: Code::E0110,
            message: format!(
                "merged {} of {} thresholds of feature {} onto {} levels{others}; max margin error \
                 on the data {}; no error bound holds",
                worst.unique_before - worst.unique_after,
                worst.unique_before,
                worst.feature,
                q.levels,
                fmt_err(max_error)
            ),
            count: Some(lost as u64),
            of: Some(before as u64),
            max_error: Some(max_error),
        });
    }
    let (fixed, f32_term) = bound_parts(q);
    if fixed > f32_term {
        // With merged thresholds the data's error is mostly the merging's (reported above).
        let effect = match merged.is_empty() {
            true => format!(
                "max margin error on the data {} (bound {})",
                fmt_err(max_error),
                fmt_err(fixed + f32_term)
            ),
            false => format!("rounding alone moves a margin by at most {}", fmt_err(fixed)),
        };
        out.push(LossyStep {
            step: "cam-quantize",
            code: Code::E0111,
            message: format!(
                "rounded leaves to {}-bit fixed point (LSB 2^{}); {effect}",
                q.fixed.leaf_bits, -q.fixed.frac_bits
            ),
            count: None,
            of: None,
            max_error: merged.is_empty().then_some(max_error),
        });
    }
    out
}
