//! Recognising a chain of dense layers in an ONNX model: what a crossbar accelerator executes.
//!
//! The chain is `[Flatten|Reshape|Identity]* ( [Quant] (Gemm | MatMul [Add]) [Relu|Sigmoid|Tanh]
//! [Quant] )+ [Softmax]`, with weights and biases constant. Gemm's `alpha`/`beta`/`transB` are
//! folded into a `[out, in]` weight matrix; QONNX `Quant` nodes on weights keep their trained
//! scales and bit widths, and on activations their trained activation scales.

use crate::frontend::onnx::eval::quant_range;
use crate::frontend::onnx::{Node, OnnxModel, Op, Rounding};
use std::collections::HashMap;

/// A trained quantizer taken from a QONNX `Quant` node (zero point 0: symmetric).
#[derive(Clone, Debug, PartialEq)]
pub struct TrainedQuant {
    /// The node it came from.
    pub node: String,
    /// One scale for the tensor, or one per output channel (weights only).
    pub scale: Vec<f32>,
    pub bits: u32,
    pub signed: bool,
    pub narrow: bool,
    pub rounding: Rounding,
}

impl TrainedQuant {
    /// The integer code range `[lo, hi]` (qonnx's `min_int`/`max_int`).
    pub fn range(&self) -> (i64, i64) {
        let (lo, hi) = quant_range(self.signed, self.narrow, self.bits as f32);
        (lo as i64, hi as i64)
    }
}

/// Activation function after a dense layer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Activation {
    Identity,
    Relu,
    Sigmoid,
    Tanh,
}

impl Activation {
    pub fn apply(self, v: f32) -> f32 {
        match self {
            Activation::Identity => v,
            Activation::Relu => v.max(0.0),
            Activation::Sigmoid => (1.0 / (1.0 + (-(v as f64)).exp())) as f32,
            Activation::Tanh => v.tanh(),
        }
    }
}

/// One dense layer `y = act(W x + b)`.
#[derive(Clone, Debug, PartialEq)]
pub struct DenseLayer {
    /// The Gemm/MatMul node's name.
    pub name: String,
    pub n_in: usize,
    pub n_out: usize,
    /// Row-major `[n_out][n_in]`, with Gemm's `alpha` folded in.
    pub weight: Vec<f32>,
    /// Length `n_out`, with Gemm's `beta` folded in (zeros when there is none).
    pub bias: Vec<f32>,
    pub activation: Activation,
    /// The trained quantizer of the weights (QONNX), if any; `weight` holds the raw floats.
    pub weight_quant: Option<TrainedQuant>,
    /// The trained quantizer applied to this layer's input (QONNX), if any.
    pub input_quant: Option<TrainedQuant>,
}

/// A model a crossbar can execute: dense layers in sequence, optionally a final softmax.
#[derive(Clone, Debug, PartialEq)]
pub struct Mlp {
    pub layers: Vec<DenseLayer>,
    /// Softmax over the last layer's outputs (applied in float after dequantization).
    pub softmax: bool,
    /// Quantizer applied to the network output (QONNX), if any.
    pub output_quant: Option<TrainedQuant>,
}

impl Mlp {
    /// Float forward pass of one sample, applying trained QONNX quantizers in float exactly as
    /// the QONNX executor does. This equals [`crate::frontend::onnx::evaluate`] on the source
    /// model up to the folding of Gemm's `alpha` into the weights.
    pub fn forward(&self, x: &[f32]) -> Vec<f32> {
        let mut h = x.to_vec();
        for l in &self.layers {
            if let Some(q) = &l.input_quant {
                h = fake_quant(&h, q, 1);
            }
            let w = match &l.weight_quant {
                Some(q) => fake_quant(&l.weight, q, l.n_in),
                None => l.weight.clone(),
            };
            h = (0..l.n_out)
                .map(|j| {
                    let dot: f64 =
                        (0..l.n_in).map(|i| w[j * l.n_in + i] as f64 * h[i] as f64).sum();
                    l.activation.apply(dot as f32 + l.bias[j])
                })
                .collect();
        }
        if let Some(q) = &self.output_quant {
            h = fake_quant(&h, q, 1);
        }
        if self.softmax {
            softmax(&mut h);
        }
        h
    }

    /// The inputs of every layer for one sample (after that layer's input quantizer, if any):
    /// what activation calibration looks at.
    pub fn layer_inputs(&self, x: &[f32]) -> Vec<Vec<f32>> {
        let mut out = Vec::with_capacity(self.layers.len());
        let mut h = x.to_vec();
        for l in &self.layers {
            out.push(h.clone());
            let w = match &l.weight_quant {
                Some(q) => fake_quant(&l.weight, q, l.n_in),
                None => l.weight.clone(),
            };
            let hin = match &l.input_quant {
                Some(q) => fake_quant(&h, q, 1),
                None => h,
            };
            h = (0..l.n_out)
                .map(|j| {
                    let dot: f64 =
                        (0..l.n_in).map(|i| w[j * l.n_in + i] as f64 * hin[i] as f64).sum();
                    l.activation.apply(dot as f32 + l.bias[j])
                })
                .collect();
        }
        out
    }
}

/// Numerically stable softmax in place (f64 sums, as the ONNX reference does).
pub fn softmax(h: &mut [f32]) {
    let m = h.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let s: f64 = h.iter().map(|v| ((v - m) as f64).exp()).sum();
    for v in h.iter_mut() {
        *v = (((*v - m) as f64).exp() / s) as f32;
    }
}

/// QONNX `Quant` in float: `(round(clamp(x / s)) ) * s`, scale per row of `per` elements when
/// there is one scale per channel.
pub fn fake_quant(x: &[f32], q: &TrainedQuant, per: usize) -> Vec<f32> {
    let (lo, hi) = q.range();
    x.iter()
        .enumerate()
        .map(|(k, v)| {
            let s = if q.scale.len() == 1 { q.scale[0] } else { q.scale[k / per] };
            q.rounding.apply((v / s).clamp(lo as f32, hi as f32)) * s
        })
        .collect()
}

/// Extracts the dense-layer chain; the error names the node that breaks the pattern.
pub fn extract_mlp(m: &OnnxModel) -> Result<Mlp, String> {
    let err =
        |n: &Node, why: &str| format!("{}: node `{}` ({}): {why}", m.file, n.name, n.op.op_type());
    if m.inputs.len() != 1 || m.outputs.len() != 1 {
        return Err(format!(
            "{}: crossbar mapping needs one graph input and one output, found {} and {}",
            m.file,
            m.inputs.len(),
            m.outputs.len()
        ));
    }
    let consumers: HashMap<&str, Vec<&Node>> = m.nodes.iter().fold(HashMap::new(), |mut acc, n| {
        for i in &n.inputs {
            acc.entry(i.as_str()).or_default().push(n);
        }
        acc
    });
    let mut cur = m.inputs[0].name.clone();
    let mut layers: Vec<DenseLayer> = Vec::new();
    let mut pending_quant: Option<TrainedQuant> = None;
    let mut softmax = false;
    let mut output_quant = None;
    let mut expect_activation = false;
    loop {
        if cur == m.outputs[0].name {
            break;
        }
        let users = consumers.get(cur.as_str()).map(Vec::as_slice).unwrap_or(&[]);
        let n = match users {
            [n] => *n,
            [] => {
                return Err(format!(
                    "{}: value `{cur}` is not used and is not the graph output",
                    m.file
                ))
            }
            _ => {
                return Err(format!(
                    "{}: value `{cur}` feeds {} nodes; crossbar mapping needs a chain of layers",
                    m.file,
                    users.len()
                ))
            }
        };
        if softmax {
            return Err(err(n, "only the graph output may follow the final Softmax"));
        }
        let vshape = &m.shapes[&cur];
        match &n.op {
            Op::Identity | Op::Flatten { .. } | Op::Reshape { .. } => {
                let out = &m.shapes[&n.outputs[0]];
                if out.len() != 2 || out[0] != 1 {
                    return Err(err(n, &format!("reshapes to {out:?}; layers between dense layers must stay [1, features]")));
                }
            }
            Op::Quant { signed, narrow, rounding } => {
                let q = trained_quant(m, n, *signed, *narrow, *rounding, 1).map_err(|e| err(n, &e))?;
                if pending_quant.is_some() {
                    return Err(err(n, "two activation quantizers in a row"));
                }
                pending_quant = Some(q);
                expect_activation = false;
            }
            Op::Gemm { .. } | Op::MatMul => {
                if vshape.len() != 2 || vshape[0] != 1 {
                    return Err(err(n, &format!("input has shape {vshape:?}; dense layers need [1, features]")));
                }
                let mut layer = dense_from(m, n, &cur).map_err(|e| err(n, &e))?;
                layer.input_quant = pending_quant.take();
                let mut out = n.outputs[0].clone();
                // A MatMul's bias comes as a following Add of a constant.
                if n.op == Op::MatMul {
                    if let Some([a]) = consumers.get(out.as_str()).map(Vec::as_slice) {
                        if a.op == Op::Add {
                            let other = if a.inputs[0] == out { &a.inputs[1] } else { &a.inputs[0] };
                            let b = m.constants.get(other).ok_or_else(|| err(a, "bias must be a constant"))?;
                            let bv = b.to_f32();
                            if bv.len() != layer.n_out || m.shapes[&a.outputs[0]] != vec![1, layer.n_out] {
                                return Err(err(a, &format!("bias of shape {:?} is not one value per output", b.shape)));
                            }
                            layer.bias = bv;
                            out = a.outputs[0].clone();
                        }
                    }
                }
                layers.push(layer);
                cur = out;
                expect_activation = true;
                continue;
            }
            Op::Relu | Op::Sigmoid | Op::Tanh if expect_activation => {
                let l = layers.last_mut().ok_or_else(|| err(n, "activation before any layer"))?;
                l.activation = match n.op {
                    Op::Relu => Activation::Relu,
                    Op::Sigmoid => Activation::Sigmoid,
                    _ => Activation::Tanh,
                };
                expect_activation = false;
            }
            Op::Softmax { axis, .. } => {
                if !(*axis == -1 || *axis == 1) || vshape.len() != 2 {
                    return Err(err(n, "only a softmax over the features of a [1, n] tensor is supported"));
                }
                softmax = true;
            }
            _ => return Err(err(n, "not part of a dense-layer chain (crossbar mapping supports Gemm/MatMul(+Add) layers with Relu or no activation between them, and Relu, Sigmoid, Tanh or Softmax after the last one)")),
        }
        cur = n.outputs[0].clone();
    }
    if layers.is_empty() {
        return Err(format!("{}: the model has no dense layer", m.file));
    }
    if let Some(q) = pending_quant {
        output_quant = Some(q);
    }
    Ok(Mlp { layers, softmax, output_quant })
}

/// A `Quant` node's constants as a trained quantizer; weights may have per-channel scales.
fn trained_quant(
    m: &OnnxModel,
    n: &Node,
    signed: bool,
    narrow: bool,
    rounding: Rounding,
    channels: usize,
) -> Result<TrainedQuant, String> {
    let c = |i: usize| {
        m.constants
            .get(&n.inputs[i])
            .map(|t| t.to_f32())
            .ok_or_else(|| format!("input {i} must be constant"))
    };
    let scale = c(1)?;
    let zero = c(2)?;
    let bits = c(3)?[0];
    if zero.iter().any(|z| *z != 0.0) {
        return Err("zero_point must be 0 (crossbars use symmetric quantization)".into());
    }
    if bits.fract() != 0.0 || !(2.0..=16.0).contains(&bits) {
        return Err(format!("bit_width {bits} is not a whole number in 2..=16"));
    }
    if scale.iter().any(|s| !(s.is_finite() && *s > 0.0)) {
        return Err("scales must be positive and finite".into());
    }
    let distinct = scale.iter().any(|s| *s != scale[0]);
    let scale = if distinct { scale } else { vec![scale[0]] };
    if scale.len() != 1 && scale.len() != channels {
        return Err(format!(
            "{} scales for {channels} channel(s): use one per tensor or one per output channel",
            scale.len()
        ));
    }
    Ok(TrainedQuant { node: n.name.clone(), scale, bits: bits as u32, signed, narrow, rounding })
}

/// Builds a layer from a Gemm or MatMul whose other operand is a constant (possibly through a
/// QONNX weight `Quant`).
fn dense_from(m: &OnnxModel, n: &Node, input: &str) -> Result<DenseLayer, String> {
    let (trans_b, alpha, beta) = match &n.op {
        Op::Gemm { alpha, beta, trans_a, trans_b } => {
            if *trans_a || n.inputs[0] != input {
                return Err("the activation must be Gemm's A operand, untransposed".into());
            }
            (*trans_b, *alpha, *beta)
        }
        _ => {
            if n.inputs[0] != input {
                return Err("the activation must be MatMul's first operand".into());
            }
            (false, 1.0, 1.0)
        }
    };
    let wname = &n.inputs[1];
    // Weight: a constant, or the output of a Quant on a constant.
    let (wt, wq) = match m.constants.get(wname) {
        Some(t) => (t.clone(), None),
        None => {
            let q = m
                .nodes
                .iter()
                .find(|q| q.outputs[0] == *wname)
                .filter(|q| matches!(q.op, Op::Quant { .. }))
                .ok_or_else(|| {
                    format!("weight `{wname}` must be a constant or a QONNX Quant of one")
                })?;
            let t = m
                .constants
                .get(&q.inputs[0])
                .ok_or_else(|| format!("weight `{}` must be a constant", q.inputs[0]))?;
            (t.clone(), Some(q))
        }
    };
    if wt.shape.len() != 2 {
        return Err(format!("weight has shape {:?}; expected 2-D", wt.shape));
    }
    let w = wt.to_f32();
    let (n_out, n_in) =
        if trans_b { (wt.shape[0], wt.shape[1]) } else { (wt.shape[1], wt.shape[0]) };
    // To [out][in]; QONNX per-channel weight scales are laid out along the output axis.
    let mut weight = vec![0f32; n_out * n_in];
    for j in 0..n_out {
        for i in 0..n_in {
            let v = if trans_b { w[j * n_in + i] } else { w[i * n_out + j] };
            weight[j * n_in + i] = v;
        }
    }
    let weight_quant = match wq {
        Some(q) => {
            let Op::Quant { signed, narrow, rounding } = q.op else {
                unreachable!("filtered above")
            };
            let s = &m.shapes[&q.inputs[1]];
            let per_out_axis = if trans_b { 0 } else { 1 };
            let tq = trained_quant(m, q, signed, narrow, rounding, n_out)?;
            if tq.scale.len() > 1 && (s.len() != 2 || s[per_out_axis] != n_out) {
                return Err(format!(
                    "weight Quant `{}` scale of shape {s:?} is not per output channel",
                    q.name
                ));
            }
            if alpha != 1.0 {
                return Err("alpha != 1 with a quantized weight is not supported".into());
            }
            Some(tq)
        }
        None => {
            weight.iter_mut().for_each(|v| *v *= alpha);
            None
        }
    };
    let bias = match n.inputs.get(2).filter(|s| !s.is_empty()) {
        Some(c) => {
            let t = m.constants.get(c).ok_or_else(|| format!("bias `{c}` must be a constant"))?;
            let v = t.to_f32();
            match v.len() {
                1 => vec![beta * v[0]; n_out],
                k if k == n_out => v.iter().map(|b| beta * b).collect(),
                _ => {
                    return Err(format!("bias of shape {:?} is not one value per output", t.shape))
                }
            }
        }
        None => vec![0.0; n_out],
    };
    Ok(DenseLayer {
        name: n.name.clone(),
        n_in,
        n_out,
        weight,
        bias,
        activation: Activation::Identity,
        weight_quant,
        input_quant: None,
    })
}
