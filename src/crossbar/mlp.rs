//! Recognising a chain of dense layers in the model-level IR graph the ONNX importer builds:
//! what a crossbar accelerator executes.
//!
//! The chain is `[gather (identity)]* ( [quant] matmul [add] [relu|sigmoid|tanh] [quant] )+
//! [softmax]`, with weights and biases constant. The importer already turned a Gemm on one
//! sample into `matmul(x, alpha * B')` and `add(beta * C)`; a QONNX weight `quant` (behind a
//! transposing `gather` under `transB`) keeps its trained scales and bit width, an activation
//! `quant` its trained activation scale.

use crate::crossbar::error::XbarError;
use crate::frontend::onnx::{import, OnnxError, OnnxModel};
use crate::ir::interp::{self, Precision};
use crate::ir::nn::{quant_range, QuantOp, Rounding};
use crate::ir::{Graph, NodeId, Op, Tensor};
use crate::passes::pattern::{dense_after, weight_source};
use std::ops::ControlFlow;

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

/// The float reference of a crossbar model: its model-level graph evaluated by the one
/// interpreter ([`crate::ir::interp`]) with f64 sums ([`Precision::WideSums`]), QONNX
/// quantizers applied in float as the QONNX executor does: the graph output's values
/// ([`values_at`]), one row each. Each row's outputs are the same whatever the batch.
pub fn reference(g: &Graph, xs: &[Vec<f32>]) -> Result<Vec<Vec<f32>>, XbarError> {
    let (_, out) = super::graph::io(g)?;
    let width = g.ty(out).numel().max(1);
    let values = values_at(g, &[out], xs)?.concat();
    Ok(values.chunks(width).map(<[f32]>::to_vec).collect())
}

/// The value of each node `at` for every row of `xs` under [`reference`]'s arithmetic, one
/// row-major `[rows][width]` matrix per node: what activation calibration looks at.
pub fn values_at(g: &Graph, at: &[NodeId], xs: &[Vec<f32>]) -> Result<Vec<Vec<f32>>, XbarError> {
    let rows = input_rows(g, xs).map_err(XbarError::Model)?;
    // The graph input's values are the rows themselves (the interpreter visits computed
    // values only).
    let mut out: Vec<Vec<f32>> =
        at.iter().map(|n| if g.inputs().contains(n) { xs.concat() } else { Vec::new() }).collect();
    let mut not_float = None;
    // Rows are visited in order for each node, so appending keeps them row-major.
    let status = interp::trace_rows_with(g, &rows, Precision::WideSums, |_, id, v| {
        for (k, n) in at.iter().enumerate() {
            if *n == id {
                match v.floats() {
                    Some(d) => out[k].extend_from_slice(d),
                    None => not_float = Some(id),
                }
            }
        }
        ControlFlow::Continue(())
    });
    for s in status {
        s.map_err(|e| XbarError::Model(e.to_string()))?;
    }
    if let Some(id) = not_float {
        return Err(XbarError::Model(format!("`{}` is not a float value", g.op(id).mnemonic())));
    }
    Ok(out)
}

/// The rows `xs` as tensors of the graph input's type.
fn input_rows(g: &Graph, xs: &[Vec<f32>]) -> Result<Vec<Vec<Tensor>>, String> {
    let [input] = g.inputs() else {
        return Err(format!("the model-level graph has {} inputs, not one", g.inputs().len()));
    };
    let shape = g.ty(*input).shape.clone();
    xs.iter()
        .map(|x| Ok(vec![Tensor::f32(shape.clone(), x.clone()).map_err(|e| e.to_string())?]))
        .collect()
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

/// What the crossbar mapping accepts, said when a node is outside it.
const NOT_IN_CHAIN: &str = "not part of a dense-layer chain (crossbar mapping supports \
     Gemm/MatMul(+Add) layers with Relu or no activation between them, and Relu, Sigmoid, Tanh \
     or Softmax after the last one)";

/// Imports `m` and extracts its dense-layer chain (see [`import_mlp`]).
pub fn extract_mlp(m: &OnnxModel) -> Result<Mlp, XbarError> {
    import_mlp(m).map(|(_, mlp)| mlp)
}

/// Imports `m` (the one ONNX importer, no family patterns) and extracts its dense-layer chain
/// from the model-level graph, returned with it. A node the importer cannot convert is outside
/// any dense chain, and said so.
pub fn import_mlp(m: &OnnxModel) -> Result<(Graph, Mlp), XbarError> {
    let g = import_graph(m)?;
    let mlp = from_graph(&g, &m.file)?;
    Ok((g, mlp))
}

/// The model-level graph of `m` for a crossbar mapping ([`import_mlp`]'s first step, whose
/// errors it words): one input, one output, every node imported.
pub fn import_graph(m: &OnnxModel) -> Result<Graph, XbarError> {
    if m.inputs.len() != 1 || m.outputs.len() != 1 {
        return Err(XbarError::Model(io_count(&m.file, m.inputs.len(), m.outputs.len())));
    }
    import(m).map_err(|e| {
        XbarError::Model(match e {
            OnnxError::NotImported { file, ops } if !ops.is_empty() => {
                format!("{file}: node `{}` ({}): {NOT_IN_CHAIN}", ops[0].node, ops[0].op_type)
            }
            other => other.to_string(),
        })
    })
}

fn io_count(file: &str, inputs: usize, outputs: usize) -> String {
    format!(
        "{file}: crossbar mapping needs one graph input and one output, found {inputs} and \
         {outputs}"
    )
}

/// Extracts the dense-layer chain from a model-level graph; the error names the node that
/// breaks the pattern (`file` is the model's, for messages).
pub fn from_graph(g: &Graph, file: &str) -> Result<Mlp, XbarError> {
    chain(g, file).map(|c| c.mlp)
}

/// A dense-layer chain found in a model-level graph, with the nodes it reads.
pub struct Chain {
    pub mlp: Mlp,
    /// Per layer, the value it takes (before its input quantizer, if any).
    pub inputs: Vec<NodeId>,
}

/// [`from_graph`] with where each layer's input is in `g`.
pub fn chain(g: &Graph, file: &str) -> Result<Chain, XbarError> {
    walk(g, file, true).map_err(XbarError::Model)
}

/// The chain's layers without their weights (each `weight` empty): activations, quantizers
/// and sizes, without a copy of every weight.
pub fn layout(g: &Graph, file: &str) -> Result<Mlp, XbarError> {
    walk(g, file, false).map(|c| c.mlp).map_err(XbarError::Model)
}

/// Walks the chain from the graph input; `weights` says whether to copy the weights.
fn walk(g: &Graph, file: &str, weights: bool) -> Result<Chain, String> {
    // Source names (graph inputs by their declared name); never a raw graph index.
    let name = |id: NodeId| match (g.op(id), &g.node(id).name) {
        (Op::Input { name, .. }, _) => name.clone(),
        (_, Some(n)) => n.clone(),
        (op, None) => op.mnemonic().to_string(),
    };
    let err = |id: NodeId, why: &str| {
        format!("{file}: node `{}` ({}): {why}", name(id), g.op(id).mnemonic())
    };
    let ([input], [_]) = (g.inputs(), g.outputs()) else {
        return Err(io_count(file, g.inputs().len(), g.outputs().len()));
    };
    let mut cur = *input;
    let mut layers: Vec<DenseLayer> = Vec::new();
    let mut pending_quant: Option<TrainedQuant> = None;
    // The value the pending quantizer reads: the next layer's input.
    let mut pending_input: Option<NodeId> = None;
    let mut inputs: Vec<NodeId> = Vec::new();
    let mut softmax = false;
    let mut expect_activation = false;
    loop {
        let n = match g.users(cur).as_slice() {
            [(n, _)] => *n,
            [] => {
                return Err(format!(
                    "{file}: value `{}` is not used and is not the graph output",
                    name(cur)
                ))
            }
            users => {
                return Err(format!(
                    "{file}: value `{}` feeds {} nodes; crossbar mapping needs a chain of layers",
                    name(cur),
                    users.len()
                ))
            }
        };
        if matches!(g.op(n), Op::Output { .. }) {
            break;
        }
        if softmax {
            return Err(err(n, "only the graph output may follow the final Softmax"));
        }
        let vshape = &g.ty(cur).shape;
        match g.op(n) {
            Op::Gather { shape, map } => {
                let identity = map.iter().enumerate().all(|(i, &s)| s as usize == i);
                if shape.len() != 1 || !identity {
                    return Err(err(n, &format!("moves data into {shape:?}; layers between dense layers must stay [1, features]")));
                }
            }
            Op::Quant(q) if g.operands(n)[0] == cur => {
                let q = trained_quant(g, n, q, 1).map_err(|e| err(n, &e))?;
                if pending_quant.is_some() {
                    return Err(err(n, "two activation quantizers in a row"));
                }
                pending_quant = Some(q);
                pending_input = Some(cur);
                expect_activation = false;
            }
            Op::MatMul => {
                if vshape.len() != 1 {
                    return Err(err(
                        n,
                        &format!("input has shape {vshape:?}; dense layers need [1, features]"),
                    ));
                }
                let mut layer = dense_from(g, n, cur, &name(n), weights).map_err(|e| err(n, &e))?;
                layer.input_quant = pending_quant.take();
                inputs.push(pending_input.take().unwrap_or(cur));
                cur = n;
                // The bias is a following add of a constant (a Gemm's C, scaled by beta): the
                // shared dense-layer matcher's bias add, checked here.
                if let Some(a) = dense_after(g, n).and_then(|d| d.bias_add) {
                    if let Some(bias) = bias_of(g, a, n, layer.n_out).map_err(|e| err(a, &e))? {
                        layer.bias = bias;
                        cur = a;
                    }
                }
                layers.push(layer);
                expect_activation = true;
                continue;
            }
            Op::Gemm { .. } => {
                return Err(err(
                    n,
                    &format!("input has shape {vshape:?}; dense layers need [1, features]"),
                ));
            }
            Op::Relu | Op::Sigmoid | Op::Tanh if expect_activation => {
                let l = layers.last_mut().ok_or_else(|| err(n, "activation before any layer"))?;
                l.activation = match g.op(n) {
                    Op::Relu => Activation::Relu,
                    Op::Sigmoid => Activation::Sigmoid,
                    _ => Activation::Tanh,
                };
                expect_activation = false;
            }
            Op::Softmax { axis } => {
                if !(*axis == -1 || *axis == 0) || vshape.len() != 1 {
                    return Err(err(
                        n,
                        "only a softmax over the features of a [1, n] tensor is supported",
                    ));
                }
                softmax = true;
            }
            _ => return Err(err(n, NOT_IN_CHAIN)),
        }
        cur = n;
    }
    if layers.is_empty() {
        return Err(format!("{file}: the model has no dense layer"));
    }
    Ok(Chain { mlp: Mlp { layers, softmax, output_quant: pending_quant }, inputs })
}

/// The values of a constant node.
/// Borrowed: a copy of a weight constant would be 4 bytes a weight more at the import's peak.
fn constant(g: &Graph, id: NodeId) -> Option<(&[usize], &[f32])> {
    match g.op(id) {
        Op::Constant(t) => Some((t.shape.as_slice(), t.floats()?)),
        _ => None,
    }
}

/// The bias `add` node `a` applies to dense layer `mm`'s `n_out` outputs, if it is one.
fn bias_of(g: &Graph, a: NodeId, mm: NodeId, n_out: usize) -> Result<Option<Vec<f32>>, String> {
    if !matches!(g.op(a), Op::Add) {
        return Ok(None);
    }
    let ops = g.operands(a);
    let other = if ops[0] == mm { ops[1] } else { ops[0] };
    let Some((shape, v)) = constant(g, other) else {
        return Err("bias must be a constant".into());
    };
    match v.len() {
        1 => Ok(Some(vec![v[0]; n_out])),
        k if k == n_out && g.ty(a).shape == [n_out] => Ok(Some(v.to_vec())),
        _ => Err(format!("bias of shape {shape:?} is not one value per output")),
    }
}

/// A `quant` node's constant operands as a trained quantizer; weights may have per-channel
/// scales.
fn trained_quant(
    g: &Graph,
    n: NodeId,
    q: &QuantOp,
    channels: usize,
) -> Result<TrainedQuant, String> {
    let ops = g.operands(n);
    let c = |i: usize| {
        constant(g, ops[i])
            .map(|(_, v)| v.to_vec())
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
    let name = g.node(n).name.clone().unwrap_or_default();
    Ok(TrainedQuant {
        node: name,
        scale,
        bits: bits as u32,
        signed: q.signed,
        narrow: q.narrow,
        rounding: q.rounding,
    })
}

/// Builds a layer from `matmul(x, W)` whose weight is a constant `[in, out]`, a QONNX `quant`
/// of one, or a transposing `gather` of a `quant` of an `[out, in]` constant (Gemm `transB`).
/// Without `copy`, the layer's `weight` is left empty.
fn dense_from(
    g: &Graph,
    n: NodeId,
    input: NodeId,
    name: &str,
    copy: bool,
) -> Result<DenseLayer, String> {
    let ops = g.operands(n);
    if ops[0] != input {
        return Err("the activation must be MatMul's first operand".into());
    }
    // Weight: a constant, a quant of one, or a transposed quant of one (the shared matcher).
    let src = weight_source(g, ops[1]).map_err(|e| e.to_string())?;
    let trans_b = src.transposed;
    let wq = src.quant.and_then(|q| match g.op(q) {
        Op::Quant(qo) => Some((q, *qo)),
        _ => None,
    });
    let (wshape, wv) = constant(g, src.constant).ok_or("the weight is not a float constant")?;
    if wshape.len() != 2 {
        return Err(format!("weight has shape {wshape:?}; expected 2-D"));
    }
    let (n_out, n_in) = if trans_b { (wshape[0], wshape[1]) } else { (wshape[1], wshape[0]) };
    // To [out][in]; QONNX per-channel weight scales are laid out along the output axis.
    let mut weight = vec![0f32; if copy { n_out * n_in } else { 0 }];
    for (j, row) in weight.chunks_exact_mut(n_in.max(1)).enumerate() {
        for (i, w) in row.iter_mut().enumerate() {
            *w = if trans_b { wv[j * n_in + i] } else { wv[i * n_out + j] };
        }
    }
    let weight_quant = match wq {
        Some((qn, q)) => {
            let s = &g.ty(g.operands(qn)[1]).shape;
            let per_out_axis = if trans_b { 0 } else { 1 };
            let tq = trained_quant(g, qn, &q, n_out)?;
            if tq.scale.len() > 1 && (s.len() != 2 || s[per_out_axis] != n_out) {
                return Err(format!(
                    "weight Quant `{}` scale of shape {s:?} is not per output channel",
                    tq.node
                ));
            }
            Some(tq)
        }
        None => None,
    };
    Ok(DenseLayer {
        name: name.to_string(),
        n_in,
        n_out,
        weight,
        bias: vec![0.0; n_out],
        activation: Activation::Identity,
        weight_quant,
        input_quant: None,
    })
}
