//! Patterns over the model-level graph that more than one family reads.
//!
//! A dense layer is what every exporter writes for `y = x W + b`: `matmul(x, W)`, optionally
//! followed by `add` of a bias (in either operand order), or a `gemm` (whose `alpha`/`beta`
//! scale the constants). Its weight is a constant, a QONNX `quant` of one, or a transposing
//! `gather` of such a `quant` (a Gemm's `transB` on a quantized weight) ([`weight_source`]).
//! The attention family's `attn-recognize` finds the projections of an attention block with
//! [`dense_at`] (backwards from a result); the crossbar family reads the layers of an MLP with
//! [`dense_after`] (forwards from the product) and [`weight_source`]. It lives here, below the
//! families, because a family never names another.

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
    /// The bias operand: of `bias_add`, or a `gemm`'s `C`.
    pub bias: Option<NodeId>,
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
            Some(Dense { bias_add: Some(out), bias: Some(b), output: out, ..d })
        }
        Op::MatMul => {
            let [k, o] = g.ty(ops[1]).shape[..] else { return None };
            Some(Dense {
                input: ops[0],
                product: out,
                bias_add: None,
                bias: None,
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
                bias: ops.get(2).copied(),
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
    let b = match d.bias {
        Some(c) => vector(g, c, o)?.iter().map(|x| beta * x).collect(),
        None => vec![0.0; o],
    };
    Some((w, b))
}

/// The dense layer whose product is `matmul` node `product`, read forwards: with the `add`
/// that is the product's only user as its bias add, whatever that add's other operand is (the
/// caller decides whether a non-constant one is an error or not a bias).
pub fn dense_after(g: &Graph, product: NodeId) -> Option<Dense> {
    if !matches!(g.op(product), Op::MatMul) {
        return None;
    }
    let d = dense_at(g, product)?;
    match g.users(product)[..] {
        [(a, _)] if matches!(g.op(a), Op::Add) => {
            let ops = g.operands(a);
            let b = if ops[0] == product { ops[1] } else { ops[0] };
            Some(Dense { bias_add: Some(a), bias: Some(b), output: a, ..d })
        }
        _ => Some(d),
    }
}

/// Where a dense layer's weight comes from.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct WeightSource {
    /// The constant holding the values.
    pub constant: NodeId,
    /// The QONNX `quant` between the constant and the layer, if any.
    pub quant: Option<NodeId>,
    /// Whether a transposing `gather` reads the constant as `[out, in]` (Gemm `transB`).
    pub transposed: bool,
}

/// Why a dense layer's weight operand is not one the crossbar can program.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum WeightError {
    #[error("the weight is moved by something other than a transpose")]
    Moved,
    /// The weight (its source name, empty if unnamed) is computed at run time.
    #[error("weight `{0}` must be a constant or a QONNX Quant of one")]
    NotConstant(String),
}

/// The source of weight operand `w`: a constant `[in, out]`, a `quant` of one, or a
/// transposing `gather` of a `quant` of an `[out, in]` constant. The error says what else it is.
pub fn weight_source(g: &Graph, mut w: NodeId) -> Result<WeightSource, WeightError> {
    let mut transposed = false;
    if let Op::Gather { shape, map } = g.op(w) {
        let src = g.operands(w)[0];
        let transposes = matches!(shape[..], [k, o] if g.ty(src).shape == [o, k]
            && map.iter().enumerate().all(|(p, &s)| s as usize == (p % o) * k + p / o));
        if !transposes {
            return Err(WeightError::Moved);
        }
        (w, transposed) = (src, true);
    }
    let (quant, c) = match g.op(w) {
        Op::Quant(_) => (Some(w), g.operands(w)[0]),
        _ => (None, w),
    };
    if constant(g, c).is_none() {
        return Err(WeightError::NotConstant(g.node(c).name.clone().unwrap_or_default()));
    }
    Ok(WeightSource { constant: c, quant, transposed })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ir::nn::{QuantOp, Rounding};
    use crate::ir::{Tensor, TensorType};

    fn konst(g: &mut Graph, shape: &[usize], v: Vec<f32>) -> NodeId {
        g.add(Op::Constant(Tensor::f32(shape.to_vec(), v).unwrap()), &[]).unwrap()
    }

    /// `x [3] -> matmul(W [3, 2]) -> add(b [2]) -> add(x2)`: the layer is found backwards from
    /// its bias add and forwards from its product, and the residual add after it is no bias.
    #[test]
    fn dense_layers_backwards_and_forwards() {
        let mut g = Graph::new();
        let x = g.add_input("x", TensorType::f32(vec![3])).unwrap();
        let w = konst(&mut g, &[3, 2], vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.0]);
        let mm = g.add(Op::MatMul, &[x, w]).unwrap();
        let b = konst(&mut g, &[2], vec![0.5, -0.5]);
        let add = g.add(Op::Add, &[b, mm]).unwrap();
        let y = g.add_input("y", TensorType::f32(vec![2])).unwrap();
        let res = g.add(Op::Add, &[add, y]).unwrap();
        g.add_output("out", res).unwrap();
        let d = dense_at(&g, add).unwrap();
        assert_eq!((d.input, d.product, d.bias_add, d.bias), (x, mm, Some(add), Some(b)));
        assert_eq!((d.inputs, d.outputs, d.nodes()), (3, 2, vec![mm, add]));
        assert_eq!(dense_after(&g, mm), Some(d.clone()));
        assert_eq!(
            float_params(&g, &d),
            Some((vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.0], vec![0.5, -0.5]))
        );
        assert_eq!(dense_at(&g, res), None, "a residual add is not a bias");
        assert_eq!(weight_source(&g, w).unwrap().constant, w);
    }

    /// A Gemm `transB` weight behind a quantizer: a transposing gather of a quant of `[out, in]`.
    #[test]
    fn quantized_transposed_weights_are_traced_to_their_constant() {
        let mut g = Graph::new();
        let wc = konst(&mut g, &[2, 3], vec![1.0; 6]);
        let s = konst(&mut g, &[1], vec![0.5]);
        let z = konst(&mut g, &[1], vec![0.0]);
        let bits = konst(&mut g, &[1], vec![4.0]);
        let q = QuantOp { signed: true, narrow: false, rounding: Rounding::HalfEven };
        let wq = g.add(Op::Quant(q), &[wc, s, z, bits]).unwrap();
        let map: std::sync::Arc<[u32]> = (0..6u32).map(|p| (p % 2) * 3 + p / 2).collect();
        let wt = g.add(Op::Gather { shape: vec![3, 2], map }, &[wq]).unwrap();
        let src = weight_source(&g, wt).unwrap();
        assert_eq!(src, WeightSource { constant: wc, quant: Some(wq), transposed: true });
        let moved: std::sync::Arc<[u32]> = (0..6u32).collect();
        let bad = g.add(Op::Gather { shape: vec![3, 2], map: moved }, &[wq]).unwrap();
        assert_eq!(weight_source(&g, bad).unwrap_err(), WeightError::Moved);
    }
}
