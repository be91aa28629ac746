//! The transformer's lossy step: the quantized design (integer codes, binarized or int8
//! scores, top-N keys) against the float ONNX model on the data at hand.

use crate::attention::error::AttnError;
use crate::diagnostics::Code;
use crate::frontend::onnx::OnnxModel;
use crate::ir::{interp, Tensor};
use crate::report::lossy::fmt_err;
use crate::report::{compare_outputs, LossyStep};
use ndarray::ArrayView2;

/// Outputs within this relative distance of the float model are float32 rounding, not loss.
const TOLERANCE: f64 = 1.0 / (1u64 << 20) as f64;

/// The quantization step, when the design's `outputs` on `x` differ from the float model's.
pub fn steps(
    model: &OnnxModel,
    x: ArrayView2<f32>,
    outputs: ArrayView2<f32>,
) -> Result<Vec<LossyStep>, AttnError> {
    let rows = |a: ArrayView2<f32>| a.rows().into_iter().map(|r| r.to_vec()).collect::<Vec<_>>();
    let ours = rows(outputs);
    // The float reference is the one interpreter over the imported model-level graph.
    let graph = super::import::import(model).map_err(|e| AttnError::Lossy(e.to_string()))?;
    let shape = graph.ty(graph.inputs()[0]).shape.clone();
    let reference = rows(x)
        .into_iter()
        .map(|r| {
            let input =
                Tensor::f32(shape.clone(), r).map_err(|e| AttnError::Lossy(e.to_string()))?;
            let out = interp::run(&graph, &[input]).map_err(|e| AttnError::Lossy(e.to_string()))?;
            out.first()
                .and_then(|t| t.floats().map(<[f32]>::to_vec))
                .ok_or_else(|| AttnError::Lossy("the model has no float output".to_string()))
        })
        .collect::<Result<Vec<_>, AttnError>>()?;
    let (argmax, max_error) = compare_outputs(&ours, &reference);
    let scale = reference.iter().flatten().fold(1.0f64, |m, v| m.max((*v as f64).abs()));
    if max_error <= TOLERANCE * scale {
        return Ok(Vec::new());
    }
    Ok(vec![LossyStep {
        step: "attn-quantize",
        code: Code::E0115,
        message: format!(
            "changes outputs by up to {} vs the float model on the data (integer codes, \
             quantized scores, selected keys; predicted class agrees on {:.2}% of {} samples)",
            fmt_err(max_error),
            100.0 * argmax,
            ours.len()
        ),
        count: None,
        of: None,
        max_error: Some(max_error),
    }])
}
