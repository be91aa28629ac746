//! The crossbar's lossy steps, measured on the data at hand against the float model:
//! activations clipped to the calibrated range, ADC reads saturated at full scale, and the
//! quantized network's output error.
//!
//! Clipping is counted on the exact integer datapath (`QuantizedMlp`), so it is the
//! quantizer's own effect whatever the cells and ADC do: the graph input is clipped when
//! `x / s` rounds beyond the code range, a hidden layer when its requantized accumulator falls
//! outside it. A ReLU's clamp at zero is the activation, not clipping, and a layer input with
//! a trained QONNX quantizer clips exactly as the float model does, so neither is counted.
//! Saturated ADC reads are counted noise-free, from the simulator's partial-sum histogram.

use super::mlp::{layout, reference, Activation, Mlp};
use super::quant::LayerRequant;
use super::sim::CrossbarNet;
use crate::crossbar::error::XbarError;
use crate::diagnostics::Code;
use crate::ir::Graph;
use crate::report::lossy::fmt_err;
use crate::report::{compare_outputs, LossyStep};

/// Outputs within this relative distance of the float model are float32 rounding, not loss.
const TOLERANCE: f64 = 1.0 / (1u64 << 20) as f64;

/// Rows taken through the layers together when measuring: each block reads every weight
/// once, and holds a layer's inputs and products (about 16 bytes a row and unit of the widest
/// layer). The block holds no more than the weight codes themselves (a byte each) or 1 MB,
/// whichever is more, and 16 to 256 rows: at 256 rows of h = 1024 its 4 MB were the compile's
/// peak, while at h = 4096 fewer rows only read the 17 M weights more often.
fn row_block(net: &CrossbarNet) -> usize {
    let weights: usize = net.q.layers.iter().map(|l| l.n_in * l.n_out).sum();
    (weights.max(1 << 20) / (16 * net.q.widest().max(1))).clamp(16, 256)
}

/// Clipped activations per stage (`input`, then each hidden layer's output) and how many
/// activations were examined in all. All rows go through each layer at once
/// ([`super::quant::WeightCodes::dots`]: the exact integer products, one pass over the weights per block of rows).
fn clipped(net: &CrossbarNet, mlp: &Mlp, xs: &[Vec<f32>]) -> (Vec<(String, u64)>, u64) {
    let q = &net.q;
    let trained = |l: usize| mlp.layers.get(l).is_some_and(|d| d.input_quant.is_some());
    let mut counts: Vec<(String, u64)> = vec![("input".into(), 0)];
    counts.extend(q.layers.iter().map(|l| (l.name.clone(), 0)));
    let mut total = 0u64;
    if !trained(0) {
        let (lo, hi) = (q.input.lo as f32 - 0.5, q.input.hi as f32 + 0.5);
        for x in xs {
            for (v, s) in x.iter().zip(&q.input.scale) {
                let c = v / s;
                total += 1;
                counts[0].1 += u64::from(c > hi || c < lo);
            }
        }
    }
    // A block of rows at a time: each row's products are the same whatever the block, and the
    // activations held stay a block's, not the whole data set's (rows x widest layer x 16 B).
    for block in xs.chunks(row_block(net)) {
        let rows = block.len();
        let mut codes: Vec<i64> = block.iter().flat_map(|x| q.input.quantize(x)).collect();
        for (l, (layer, tail)) in q.layers.iter().zip(&q.tails).enumerate() {
            let Some(LayerRequant { requant, lo, hi }) = &tail.requant else { break };
            let acc = layer.w.dots(&codes, rows, layer.n_in, layer.n_out);
            let relu = mlp.layers.get(l).is_some_and(|d| d.activation == Activation::Relu);
            let count = !trained(l + 1);
            let per_row = tail.bias.iter().zip(requant);
            codes = acc
                .iter()
                .zip(per_row.cycle())
                .map(|(a, (b, r))| {
                    let y = r.apply(a + b);
                    if count {
                        total += 1;
                        counts[l + 1].1 += u64::from(y > *hi || (y < *lo && !relu));
                    }
                    y.clamp(*lo, *hi)
                })
                .collect();
        }
    }
    (counts, total)
}

/// Column reads whose partial sum exceeded the ADC full scale, out of all reads (noise-free).
fn saturated(net: &CrossbarNet, xs: &[Vec<f32>]) -> (u64, u64) {
    let mut e = net.exceeding();
    for rows in xs.chunks(net.batch_rows()) {
        net.infer_batch(rows, &mut e);
    }
    (e.over, e.total)
}

/// The lossy steps of `net` on samples `xs` whose simulated outputs are `outputs`; `exact`
/// when the arrays compute exact products (then no read can saturate); `saturated`: the
/// (saturated, all) read counts when the run that produced `outputs` counted them (noise-free),
/// else they are counted here by simulating `xs` again.
pub fn steps(
    net: &CrossbarNet,
    model: &Graph,
    xs: &[Vec<f32>],
    outputs: &[Vec<f32>],
    exact: bool,
    saturated_reads: Option<(u64, u64)>,
) -> Result<Vec<LossyStep>, XbarError> {
    let mut float = Vec::with_capacity(xs.len());
    for block in xs.chunks(row_block(net)) {
        float.extend(reference(model, block)?);
    }
    let reference = float;
    // The chain's activations and quantizers (which clips count), without its weights.
    let mlp = &layout(model, "the model")?;
    let (argmax, max_error) = compare_outputs(outputs, &reference);
    let scale = reference.iter().flatten().fold(1.0f64, |m, v| m.max((*v as f64).abs()));
    let mut out = Vec::new();
    let (counts, total) = clipped(net, mlp, xs);
    let k: u64 = counts.iter().map(|c| c.1).sum();
    if k > 0 {
        let per: Vec<String> =
            counts.iter().filter(|c| c.1 > 0).map(|(n, c)| format!("{n}: {c}")).collect();
        out.push(LossyStep {
            step: "quantize",
            code: Code::E0112,
            message: format!(
                "clipped {k} of {total} activations to the range calibrated on the calibration \
                 set ({}); max output error vs the float model on the data {}",
                per.join(", "),
                fmt_err(max_error)
            ),
            count: Some(k),
            of: Some(total),
            max_error: Some(max_error),
        });
    }
    if !exact {
        let (s, reads) = saturated_reads.unwrap_or_else(|| saturated(net, xs));
        if s > 0 {
            out.push(LossyStep {
                step: "crossbar-adc",
                code: Code::E0113,
                message: format!(
                    "saturated {s} of {reads} column reads at full scale ({} levels, {}-bit ADC)",
                    net.adc.fs_eff(),
                    net.adc.bits
                ),
                count: Some(s),
                of: Some(reads),
                max_error: None,
            });
        }
    }
    if max_error > TOLERANCE * scale {
        let first = net.q.layers.first();
        let a_bits = first.map_or(0, |l| l.a_bits);
        let w_bits = first.map_or(0, |l| 65 - (l.w_hi.max(1) as u64).leading_zeros());
        out.push(LossyStep {
            step: "quantize",
            code: Code::E0114,
            message: format!(
                "to {}-bit weights and {}-bit activations changes outputs by up to {} vs the float \
                 model on the data (predicted class agrees on {:.2}% of {} samples)",
                w_bits,
                a_bits,
                fmt_err(max_error),
                100.0 * argmax,
                xs.len()
            ),
            count: None,
            of: None,
            max_error: Some(max_error),
        });
    }
    Ok(out)
}
