//! Whether a dense chain's parameters fit the crossbar mapping, checked before any pass runs.
//!
//! The mapping calibrates activation ranges by running the float32 chain on the calibration
//! data and derives every scale and requantization factor from those ranges. A
//! finite weight large enough to make a layer's float32 output overflow (3e38 is, once
//! multiplied by a pixel value) turns a range into infinity, and the quantize pass could then
//! only say "requantization factor inf is not positive and finite", naming neither the model
//! nor the tensor. This check names both, with the limit, and carries code E0102.
//!
//! A weight can also be finite in every float32 value and still out of reach: one huge weight
//! on an input that calibration never sees non-zero sets its channel's scale so far above the
//! next layer's range that no `i32` multiplier holds the requantization factor. Whether that
//! happens depends on the quantize pass's options, so it is decided by that pass; [`explain`]
//! turns its failure into the same E0102, naming the layer's weight tensor.

use super::mlp::{DenseLayer, Mlp};
use super::quant::QuantError;
use crate::family::FlowError;
use crate::frontend::onnx::OnnxModel;
use crate::frontend::param::{not_representable, ParamError};
use crate::ir::{interp, Graph, NodeId, Op, Tensor};
use crate::passes::PassError;
use ndarray::Array2;
use std::collections::HashMap;
use std::ops::ControlFlow;

/// E0102 when, on some calibration sample with finite inputs, a layer's float32 value is not
/// finite under the one float reference ([`crate::ir::interp`] over the imported graph `g`):
/// names the layer's weight tensor, its largest magnitude and the float32 limit.
pub fn check(
    model: &OnnxModel,
    g: &Graph,
    mlp: &Mlp,
    calib: &Array2<f32>,
) -> Result<(), ParamError> {
    let layer_of = chain_layers(g);
    let Some(&input) = g.inputs().first() else { return Ok(()) };
    let shape = g.ty(input).shape.clone();
    // Samples with non-finite inputs are bad data, not a bad parameter; the data reader
    // reports them.
    let (index, rows): (Vec<usize>, Vec<Vec<Tensor>>) = calib
        .rows()
        .into_iter()
        .enumerate()
        .filter(|(_, row)| row.iter().all(|v| v.is_finite()))
        .filter_map(|(s, row)| Tensor::f32(shape.clone(), row.to_vec()).ok().map(|t| (s, vec![t])))
        .unzip();
    // Per row, the first layer value (in evaluation order) that is not finite.
    let mut bad: Vec<Option<(usize, Vec<f32>)>> = vec![None; rows.len()];
    let _ = interp::trace_rows(g, &rows, |r, id, v| match (layer_of.get(&id), v.floats()) {
        (Some(&l), Some(d)) if d.iter().any(|x| !x.is_finite()) => {
            bad[r] = Some((l, d.to_vec()));
            ControlFlow::Break(())
        }
        _ => ControlFlow::Continue(()),
    });
    // The first such sample is reported.
    if let Some((r, (l, out))) = bad.into_iter().enumerate().find_map(|(r, b)| b.map(|b| (r, b))) {
        let s = index[r];
        let count = out.iter().filter(|v| !v.is_finite()).count();
        // `mlp` may be the chain's layout without weights: read them now, on failure only.
        let full;
        let layer = match &mlp.layers[l] {
            d if d.weight.is_empty() && d.n_in * d.n_out > 0 => {
                full = super::mlp::from_graph(g, &model.file).ok();
                full.as_ref().map_or(d, |m| &m.layers[l])
            }
            d => d,
        };
        let first = out.iter().position(|v| !v.is_finite()).unwrap_or(0);
        let tensor = weight_tensor(model, layer);
        let wmax = layer.weight.iter().fold(0f32, |m, v| m.max(v.abs()));
        let bmax = layer.bias.iter().fold(0f32, |m, v| m.max(v.abs()));
        return Err(not_representable(
            &model.file,
            &format!("weight {tensor} of layer `{}`", layer.name),
            first,
            count,
            format!(
                "largest |weight| {wmax:e} (|bias| {bmax:e}) makes {count} output(s) of the \
                 layer overflow float32 on calibration sample {s} (the first, output \
                 {first}, beyond {:e}); the crossbar mapping calibrates and quantizes from \
                 float32 values, so the layer's outputs must stay within that limit",
                f32::MAX
            ),
        ));
    }
    Ok(())
}

/// The dense layer each node of the chain from the graph input belongs to: a layer's
/// `matmul` and everything after it up to the next layer's `matmul`.
fn chain_layers(g: &Graph) -> HashMap<NodeId, usize> {
    let mut out = HashMap::new();
    let Some(&start) = g.inputs().first() else { return out };
    let (mut cur, mut layer) = (start, None::<usize>);
    while let [(n, _)] = g.users(cur).as_slice() {
        if matches!(g.op(*n), Op::MatMul) {
            layer = Some(layer.map_or(0, |l| l + 1));
        }
        if let Some(l) = layer {
            out.insert(*n, l);
        }
        cur = *n;
    }
    out
}

/// `` `onnx::MatMul_3` ``: the weight input of the layer's node (or the layer when not found).
fn weight_tensor(model: &OnnxModel, layer: &DenseLayer) -> String {
    model
        .nodes
        .iter()
        .find(|n| n.name == layer.name)
        .and_then(|n| n.inputs.get(1))
        .map_or_else(|| format!("layer `{}`", layer.name), |w| format!("`{w}`"))
}

/// A `quantize` failure whose cause is a requantization factor no `i32` multiplier holds
/// becomes E0102 naming the layer's weight tensor and its largest element; every other pass
/// error is passed on unchanged.
pub fn explain(model: &OnnxModel, mlp: &Mlp, e: PassError) -> FlowError {
    let requant = match (&e, e.cause::<QuantError>()) {
        (PassError::Failed { pass, .. }, Some(QuantError::Requant { layer, source }))
            if pass == "quantize" =>
        {
            mlp.layers.iter().find(|l| &l.name == layer).map(|l| (l, source.to_string()))
        }
        _ => None,
    };
    let Some((layer, why)) = requant else {
        return e.into();
    };
    let (first, wmax) = layer.weight.iter().enumerate().fold((0, 0f32), |(i, m), (k, v)| {
        if v.abs() > m {
            (k, v.abs())
        } else {
            (i, m)
        }
    });
    not_representable(
        &model.file,
        &format!("weight {} of layer `{}`", weight_tensor(model, layer), layer.name),
        first,
        1,
        format!(
            "largest |weight| {wmax:e} (at index {first}) puts this layer's scale so far above \
             the calibrated range of its output that the {why}; the crossbar mapping needs \
             requantization factors below 2^29 (an i32 multiplier)"
        ),
    )
    .into()
}
