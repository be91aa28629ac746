//! Whether a transformer's parameters fit the attention mapping, checked before any pass runs.
//!
//! The attention passes calibrate every scale by running the float32 reference on the
//! calibration rows. A finite parameter large enough to make some node overflow float32 (a
//! LayerNorm gain of -3.4e38, a weight of 3e38) turns a calibrated range into infinity or NaN;
//! before, that hung GELU's series or surfaced passes later as a requantization or datapath
//! width error naming an IR node. Here the first node whose finite inputs give a non-finite
//! output is found on the ONNX graph itself, and its parameter tensors are named with E0102.

use crate::frontend::onnx::eval::{eval_node_outputs, Value};
use crate::frontend::onnx::{OnnxModel, Op};
use crate::frontend::param::{not_representable, ParamError};
use ndarray::Array2;
use std::collections::BTreeMap;

/// Calibration rows the check evaluates. A parameter large enough to overflow float32 does so
/// on almost any input; a few rows catch it at a fraction of the passes' own calibration cost
/// (all rows). Overflow that only some later row shows still fails in the passes, uncoded.
const ROWS: usize = 4;

/// E0102 for the first node that, on one of the first [`ROWS`] calibration rows with finite
/// values, turns finite inputs into a non-finite output. Rows that are not finite, or that the
/// reference cannot evaluate, are left to the passes, which report them.
pub fn check(model: &OnnxModel, calib: &Array2<f32>) -> Result<(), ParamError> {
    let [input] = model.inputs.as_slice() else {
        return Ok(());
    };
    let n: usize = input.shape.iter().product();
    let rows = calib.rows().into_iter().enumerate();
    let finite = rows.filter(|(_, r)| r.len() == n && r.iter().all(|v| v.is_finite()));
    for (s, row) in finite.take(ROWS) {
        let mut vals: BTreeMap<String, Value> = BTreeMap::new();
        vals.insert(input.name.clone(), Value { shape: input.shape.clone(), data: row.to_vec() });
        for (k, t) in &model.constants {
            vals.insert(k.clone(), Value { shape: t.shape.clone(), data: t.to_f32() });
        }
        for node in model.nodes.iter().filter(|n| n.op != Op::Constant) {
            let Ok(outs) = eval_node_outputs(model, node, &vals) else {
                break;
            };
            let bad: Vec<&f32> =
                outs.iter().flat_map(|v| &v.data).filter(|v| !v.is_finite()).collect();
            if !bad.is_empty() {
                return Err(overflow(model, node, s, outs.iter().flat_map(|v| &v.data), bad.len()));
            }
            for (o, v) in node.outputs.iter().zip(outs) {
                vals.insert(o.clone(), v);
            }
        }
    }
    Ok(())
}

/// The error for `node`, which overflowed on sample `s`: names its constant inputs (the
/// parameters) with their largest magnitudes.
fn overflow<'a>(
    model: &OnnxModel,
    node: &crate::frontend::onnx::Node,
    s: usize,
    out: impl Iterator<Item = &'a f32>,
    count: usize,
) -> ParamError {
    let first = out.into_iter().position(|v| !v.is_finite()).unwrap_or(0);
    let params: Vec<String> = node
        .inputs
        .iter()
        .filter_map(|x| model.constants.get(x).map(|t| (x, t)))
        .map(|(x, t)| {
            let m = t.to_f32().iter().fold(0f32, |m, v| m.max(v.abs()));
            format!("`{x}` (largest |value| {m:e})")
        })
        .collect();
    let location = match params.len() {
        0 => format!("node `{}` ({})", node.name, node.op.op_type()),
        _ => format!(
            "node `{}` ({}) with parameter(s) {}",
            node.name,
            node.op.op_type(),
            params.join(", ")
        ),
    };
    not_representable(
        &model.file,
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
