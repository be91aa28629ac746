//! The quantized network as a hardware-level IR graph: `IntMatVec` (weights as an integer
//! constant), `IntAdd` of the integer bias, `Requantize` (+ `IntRelu` when a ReLU feeds a
//! signed range) between layers, and the last layer's integer accumulators as the output.
//! This is the function an ideal crossbar computes (proved equal by `tests/crossbar_sim.rs`),
//! so the IR interpreter and the Verilog backend can check it; the float input quantization
//! and output dequantization stay on the host ([`super::quant::InputQuant`],
//! [`super::quant::LayerOutput::Dequant`]).
//!
//! The IR's `Requantize` has one multiplier per op, so every hidden layer must use a single
//! multiplier: quantize with per-tensor weight and activation scales
//! ([`super::quant::ScaleGranularity::PerTensor`]).

use super::quant::{LayerOutput, QuantizedMlp};
use crate::ir::{Graph, NumFormat, Op, Tensor, TensorType};

fn format_of(lo: i64, hi: i64, what: &str) -> Result<NumFormat, String> {
    let f = NumFormat::int_for_range(lo as i128, hi as i128)?;
    if f.int_range() != Some((lo as i128, hi as i128)) {
        return Err(format!("{what} range [{lo}, {hi}] is not a whole integer format (narrow ranges are not supported here)"));
    }
    Ok(f)
}

/// Builds the integer datapath graph with input `x` (codes) and output `acc`.
pub fn quantized_to_ir(q: &QuantizedMlp) -> Result<Graph, String> {
    let ge = |e: crate::ir::GraphError| e.to_string();
    let mut g = Graph::new();
    let first = q.layers.first().ok_or("the network has no layer")?;
    let in_fmt = format_of(first.in_lo, first.in_hi, "input code")?;
    let mut cur = g.add_input("x", TensorType::new(vec![first.n_in], in_fmt)).map_err(ge)?;
    for l in &q.layers {
        let (wmin, wmax) = l.w.iter().fold((0i64, 0i64), |(a, b), v| (a.min(*v), b.max(*v)));
        let wf = NumFormat::int_for_range(wmin.min(l.w_lo) as i128, wmax.max(l.w_hi) as i128)?;
        let weights = Tensor::int(vec![l.n_out, l.n_in], wf, l.w.clone())?;
        let mv =
            g.add_named(Op::IntMatVec { weights }, &[cur], Some(l.name.clone())).map_err(ge)?;
        let (bmin, bmax) = l.bias.iter().fold((0i64, 0i64), |(a, b), v| (a.min(*v), b.max(*v)));
        let bf = NumFormat::int_for_range(bmin as i128, bmax as i128)?;
        let bias = g
            .add_named(
                Op::Constant(Tensor::int(vec![l.n_out], bf, l.bias.clone())?),
                &[],
                Some(format!("{}.bias", l.name)),
            )
            .map_err(ge)?;
        let acc = g.add(Op::IntAdd, &[mv, bias]).map_err(ge)?;
        cur = match &l.output {
            LayerOutput::Requant { requant, lo, hi } => {
                let r0 = requant[0];
                if requant.iter().any(|r| *r != r0) {
                    return Err(format!(
                        "layer `{}` has per-channel requantization multipliers; the IR's Requantize takes one (quantize with per-tensor scales)",
                        l.name
                    ));
                }
                // ReLU is the clamp at `lo = 0`: requantization is monotone and maps 0 to 0.
                let out = format_of(*lo, *hi, "activation code")?;
                g.add(Op::Requantize { multiplier: r0.multiplier, shift: r0.shift, out }, &[acc])
                    .map_err(ge)?
            }
            LayerOutput::Dequant { .. } => acc,
        };
    }
    g.add_output("acc", cur).map_err(ge)?;
    Ok(g)
}
