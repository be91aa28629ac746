//! Patterns over the model-level graph that more than one family reads.
//!
//! A dense layer is what every exporter writes for `y = x W + b`: `matmul(x, W)` with a
//! constant weight, optionally followed by `add` of a constant bias (in either operand order),
//! or a `gemm` (whose `alpha`/`beta` scale the constants). The attention family's
//! `attn-recognize` finds the projections of an attention block with it; the crossbar family
//! reads the layers of an MLP with it. It lives here, below the families, because a family
//! never names another.

use crate::ir::{Graph, NodeId, Op};

/// A dense layer found in the graph.
#[derive(Clone, Debug, PartialEq)]
pub struct Dense {
    /// The activation the layer reads.
    pub input: NodeId,
    /// The `matmul` or `gemm` node.
    pub product: NodeId,
    /// The bias `add` node, when the bias is a separate node.
    pub bias_add: Option<NodeId>,
    /// The node computing the layer's result (`bias_add`, else `product`).
    pub output: NodeId,
    /// The weight operand of `product` (a constant, or whatever computes it).
    pub weight: NodeId,
    /// Inputs and outputs of the layer.
    pub inputs: usize,
    pub outputs: usize,
}

impl Dense {
    /// The nodes the layer consists of, in dataflow order.
    pub fn nodes(&self) -> Vec<NodeId> {
        std::iter::once(self.product).chain(self.bias_add).collect()
    }
}

/// The values and shape of a float constant node.
pub fn constant(g: &Graph, id: NodeId) -> Option<(&[usize], &[f32])> {
    match g.op(id) {
        Op::Constant(t) => Some((t.shape.as_slice(), t.floats()?)),
        _ => None,
    }
}

/// The one value of a one-element float constant.
pub fn scalar(g: &Graph, id: NodeId) -> Option<f32> {
    constant(g, id).and_then(|(_, v)| (v.len() == 1).then(|| v[0]))
}

/// A constant vector of `d` values (leading dimensions of size 1 allowed).
pub fn vector(g: &Graph, id: NodeId, d: usize) -> Option<Vec<f32>> {
    let (shape, v) = constant(g, id)?;
    (v.len() == d && shape.iter().rev().skip(1).all(|&x| x == 1)).then(|| v.to_vec())
}

/// For `mul` or `div` by a one-element constant: the factor applied to the other operand
/// (`1/c` for division) and that operand.
pub fn scalar_factor(g: &Graph, id: NodeId) -> Option<(f64, NodeId)> {
    let ops = g.operands(id);
    match g.op(id) {
        Op::Mul => match (scalar(g, ops[1]), scalar(g, ops[0])) {
            (Some(c), _) => Some((f64::from(c), ops[0])),
            (None, Some(c)) => Some((f64::from(c), ops[1])),
            _ => None,
        },
        Op::Div => scalar(g, ops[1]).map(|c| (1.0 / f64::from(c), ops[0])),
        _ => None,
    }
}

/// The dense layer whose result is node `out`: `add(matmul(x, W), b)` with the matmul used
/// only by the add and `b` a constant with one value per output, `matmul(x, W)`, or
/// `gemm(x, B [, C])` without `transA`. `W`/`B` is any rank-2 value (a constant, a quantizer
/// of one); what a family accepts as a weight is its own check.
pub fn dense_at(g: &Graph, out: NodeId) -> Option<Dense> {
    let ops = g.operands(out);
    match g.op(out) {
        Op::Add => {
            let (mm, b) =
                if constant(g, ops[1]).is_some() { (ops[0], ops[1]) } else { (ops[1], ops[0]) };
            let d = dense_at(g, mm)?;
            if d.bias_add.is_some() || !matches!(g.op(mm), Op::MatMul) || g.users(mm).len() != 1 {
                return None;
            }
            vector(g, b, d.outputs)?;
            Some(Dense { bias_add: Some(out), output: out, ..d })
        }
        Op::MatMul => {
            let [k, o] = g.ty(ops[1]).shape[..] else { return None };
            Some(Dense {
                input: ops[0],
                product: out,
                bias_add: None,
                output: out,
                weight: ops[1],
                inputs: k,
                outputs: o,
            })
        }
        Op::Gemm { trans_a: false, trans_b, .. } => {
            let [r, c] = g.ty(ops[1]).shape[..] else { return None };
            let (k, o) = if *trans_b { (c, r) } else { (r, c) };
            if let Some(&cn) = ops.get(2) {
                vector(g, cn, o)?;
            }
            Some(Dense {
                input: ops[0],
                product: out,
                bias_add: None,
                output: out,
                weight: ops[1],
                inputs: k,
                outputs: o,
            })
        }
        _ => None,
    }
}

/// The layer's weights as a row-major `[inputs, outputs]` float matrix (Gemm's `alpha` and
/// `transB` applied) and its bias (Gemm's `beta` applied; zeros without one), when the weight
/// and bias are plain constants.
pub fn float_params(g: &Graph, d: &Dense) -> Option<(Vec<f32>, Vec<f32>)> {
    let (_, wv) = constant(g, d.weight)?;
    let (k, o) = (d.inputs, d.outputs);
    let ops = g.operands(d.product);
    let (alpha, beta, trans_b) = match g.op(d.product) {
        Op::Gemm { alpha, beta, trans_b, .. } => (*alpha, *beta, *trans_b),
        _ => (1.0, 1.0, false),
    };
    let w: Vec<f32> = if let Op::Gemm { .. } = g.op(d.product) {
        (0..k * o)
            .map(|p| {
                let (i, j) = (p / o, p % o);
                alpha * if trans_b { wv[j * k + i] } else { wv[i * o + j] }
            })
            .collect()
    } else {
        wv.to_vec()
    };
    let bias_node = match d.bias_add {
        Some(a) => g.operands(a).into_iter().find(|&x| x != d.product),
        None => ops.get(2).copied(),
    };
    let b = match bias_node {
        Some(c) => vector(g, c, o)?.iter().map(|x| beta * x).collect(),
        None => vec![0.0; o],
    };
    Some((w, b))
}
