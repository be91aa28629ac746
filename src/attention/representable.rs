//! Whether a transformer's parameters fit the attention mapping, checked before any pass runs.
//!
//! The attention passes calibrate every scale by running the float32 reference on the
//! calibration rows. A finite parameter large enough to make some node overflow float32 (a
//! LayerNorm gain of -3.4e38, a weight of 3e38) turns a calibrated range into infinity or NaN;
//! before, that hung GELU's series or surfaced passes later as a requantization or datapath
//! width error naming an IR node. Here the first node of the imported model-level graph whose
//! value is not finite is found with the one float reference ([`crate::ir::interp`]), and its
//! parameters are named with E0102.

use crate::frontend::onnx::OnnxModel;
use crate::frontend::param::{not_representable, ParamError};
use crate::ir::{interp, Graph, NodeId, Tensor};
use ndarray::Array2;
use std::ops::ControlFlow;

/// Calibration rows the check evaluates. A parameter large enough to overflow float32 does so
/// on almost any input; a few rows catch it at a fraction of the passes' own calibration cost
/// (all rows). Overflow that only some later row shows still fails in the passes, uncoded.
const ROWS: usize = 4;

/// E0102 for the first node that, on one of the first [`ROWS`] calibration rows with finite
/// values, computes a non-finite value (graph inputs are finite and constants were checked at
/// load, so its inputs were finite). Rows that are not finite, or that the reference cannot
/// evaluate, are left to the passes, which report them.
pub fn check(model: &OnnxModel, g: &Graph, calib: &Array2<f32>) -> Result<(), ParamError> {
    let [input] = g.inputs() else {
        return Ok(());
    };
    let shape = g.ty(*input).shape.clone();
    let n: usize = shape.iter().product();
    let rows = calib.rows().into_iter().enumerate();
    let finite = rows.filter(|(_, r)| r.len() == n && r.iter().all(|v| v.is_finite()));
    for (s, row) in finite.take(ROWS) {
        let Ok(x) = Tensor::f32(shape.clone(), row.to_vec()) else { continue };
        let mut bad = None;
        let _ = interp::trace(g, &[x], |id, v| match v.floats() {
            Some(d) if d.iter().any(|x| !x.is_finite()) => {
                bad = Some((id, d.to_vec()));
                ControlFlow::Break(())
            }
            _ => ControlFlow::Continue(()),
        });
        if let Some((id, out)) = bad {
            return Err(overflow(model, g, id, s, &out));
        }
    }
    Ok(())
}

/// The error for node `id`, which overflowed on sample `s`: names the ONNX node it came from
/// (IR nodes keep their source node's name) and that node's parameters (its constant inputs)
/// with their largest magnitudes.
fn overflow(model: &OnnxModel, g: &Graph, id: NodeId, s: usize, out: &[f32]) -> ParamError {
    let count = out.iter().filter(|v| !v.is_finite()).count();
    let first = out.iter().position(|v| !v.is_finite()).unwrap_or(0);
    let name = g.node(id).name.clone().unwrap_or_default();
    let source = model.nodes.iter().find(|n| n.name == name);
    let op = source.map_or(g.op(id).mnemonic(), |n| n.op.op_type());
    let params: Vec<String> = source
        .iter()
        .flat_map(|n| &n.inputs)
        .filter_map(|x| model.constants.get(x).map(|t| (x, t)))
        .map(|(x, t)| {
            let m = t.to_f32().iter().fold(0f32, |m, v| m.max(v.abs()));
            format!("`{x}` (largest |value| {m:e})")
        })
        .collect();
    let location = match params.len() {
        0 => format!("node `{name}` ({op})"),
        _ => format!("node `{name}` ({op}) with parameter(s) {}", params.join(", ")),
    };
    let file = &model.file;
    not_representable(
        file,
        &location,
        first,
        count,
        format!(
            "its finite inputs give {count} non-finite output value(s) on calibration sample {s} \
             (the first at index {first}): float32 overflows (beyond {:e}); the attention \
             mapping calibrates from float32 values, so the parameters must keep them within \
             that limit",
            f32::MAX
        ),
    )
}
