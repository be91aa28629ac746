//! Converting a validated [`OnnxModel`] into a model-level IR [`Graph`] (float32 ops with ONNX
//! semantics). Initializers become `Constant` nodes; QONNX `Quant` nodes on constants (trained
//! weight quantizers) are constant-folded to the fake-quantized weights, which is exactly what
//! the node computes. Activation `Quant`s have no IR op yet and are reported.

use super::error::{OnnxError, UnsupportedOp};
use super::eval::quant_range;
use super::model::{OnnxModel, Op as OOp};
use super::shape::norm_axis;
use super::tensor::Tensor as OTensor;
use crate::ir::{Graph, NodeId, Op, Tensor, TensorType};
use std::collections::HashMap;

fn ir_const(t: &OTensor, name: &str) -> Result<Tensor, String> {
    Tensor::f32(t.shape.clone(), t.to_f32()).map_err(|e| format!("constant `{name}`: {e}"))
}

/// Builds the IR graph. Names of ONNX nodes are kept as IR node names.
pub fn onnx_to_ir(m: &OnnxModel) -> Result<Graph, OnnxError> {
    let fail = |node: &str, message: String| OnnxError::Invalid {
        file: m.file.clone(),
        field: format!("graph.node `{node}`"),
        message,
    };
    let mut g = Graph::new();
    let mut vals: HashMap<String, NodeId> = HashMap::new();
    for d in &m.inputs {
        let id = g
            .add_input(&d.name, TensorType::f32(d.shape.clone()))
            .map_err(|e| fail(&d.name, e.to_string()))?;
        vals.insert(d.name.clone(), id);
    }
    // Everything the IR cannot express, reported at once before building.
    let unsupported: Vec<UnsupportedOp> = m
        .nodes
        .iter()
        .filter_map(|n| match &n.op {
            OOp::Quant { .. } if n.inputs.iter().any(|i| !m.constants.contains_key(i)) => {
                Some(unsup(
                    n,
                    "QONNX Quant on activations has no IR op yet (the crossbar path handles it)",
                ))
            }
            OOp::Reshape { allowzero: true } => {
                Some(unsup(n, "Reshape with allowzero = 1 has no IR op"))
            }
            OOp::Ext(_) => Some(unsup(
                n,
                "transformer operators reach the IR through the attention importer \
                 (tessera::attention::import), not this converter",
            )),
            _ => None,
        })
        .collect();
    if !unsupported.is_empty() {
        return Err(OnnxError::Unsupported { file: m.file.clone(), ops: unsupported });
    }
    // Constants are materialised on first use so unused initializers do not clutter the graph.
    for n in &m.nodes {
        let ins: Vec<&str> =
            n.inputs.iter().map(String::as_str).filter(|s| !s.is_empty()).collect();
        let mut operand = |g: &mut Graph, name: &str| -> Result<NodeId, OnnxError> {
            if let Some(id) = vals.get(name) {
                return Ok(*id);
            }
            let t = m
                .constants
                .get(name)
                .ok_or_else(|| fail(&n.name, format!("value `{name}` is undefined")))?;
            let c = ir_const(t, name).map_err(|e| fail(&n.name, e))?;
            let id = g
                .add_named(Op::Constant(c), &[], Some(name.to_string()))
                .map_err(|e| fail(&n.name, e.to_string()))?;
            vals.insert(name.to_string(), id);
            Ok(id)
        };
        let (op, operands) = match &n.op {
            OOp::Constant | OOp::Ext(_) => continue,
            OOp::Gemm { alpha, beta, trans_a, trans_b } => (
                Op::Gemm { alpha: *alpha, beta: *beta, trans_a: *trans_a, trans_b: *trans_b },
                ins.clone(),
            ),
            OOp::MatMul => (Op::MatMul, ins.clone()),
            OOp::Add => (Op::Add, ins.clone()),
            OOp::Relu => (Op::Relu, ins.clone()),
            OOp::Sigmoid => (Op::Sigmoid, ins.clone()),
            OOp::Tanh => (Op::Tanh, ins.clone()),
            OOp::Identity => (Op::Identity, ins.clone()),
            OOp::Flatten { axis } => (Op::Flatten { axis: *axis }, ins.clone()),
            OOp::Reshape { .. } => {
                let spec = m.constants.get(ins[1]).and_then(|t| t.as_i64()).unwrap_or(&[]);
                (Op::Reshape { shape: spec.to_vec() }, vec![ins[0]])
            }
            OOp::Softmax { axis, legacy } => {
                let shape = &m.shapes[ins[0]];
                let ax = norm_axis(*axis, shape.len(), false).unwrap_or(0);
                if *legacy && ax + 1 != shape.len() {
                    // Opset < 13: softmax over all dimensions from `axis` on, coerced to 2-D.
                    let x = operand(&mut g, ins[0])?;
                    let f = g
                        .add(Op::Flatten { axis: ax as i64 }, &[x])
                        .map_err(|e| fail(&n.name, e.to_string()))?;
                    let s = g
                        .add(Op::Softmax { axis: 1 }, &[f])
                        .map_err(|e| fail(&n.name, e.to_string()))?;
                    let back: Vec<i64> = shape.iter().map(|d| *d as i64).collect();
                    let r = g
                        .add_named(Op::Reshape { shape: back }, &[s], Some(n.name.clone()))
                        .map_err(|e| fail(&n.name, e.to_string()))?;
                    vals.insert(n.outputs[0].clone(), r);
                    continue;
                }
                (Op::Softmax { axis: *axis }, ins.clone())
            }
            OOp::Quant { signed, narrow, rounding } => {
                let consts: Option<Vec<&OTensor>> =
                    ins.iter().map(|i| m.constants.get(*i)).collect();
                let Some(c) = consts else {
                    return Err(fail(&n.name, "activation Quant reached the builder".into()));
                };
                // Fold: the node's output is a constant (qonnx `int_quant` on constants).
                let (x, s, z, bits) =
                    (c[0].to_f32(), c[1].to_f32(), c[2].to_f32(), c[3].to_f32()[0]);
                let (lo, hi) = quant_range(*signed, *narrow, bits);
                let shape = &c[0].shape;
                let bs = |t: &OTensor, k: usize| -> f32 {
                    broadcast_index(&t.shape, shape, k).map(|i| t.to_f32()[i]).unwrap_or(0.0)
                };
                let folded: Vec<f32> = (0..x.len())
                    .map(|k| {
                        let (sk, zk) = if s.len() == 1 && z.len() == 1 {
                            (s[0], z[0])
                        } else {
                            (bs(c[1], k), bs(c[2], k))
                        };
                        (rounding.apply((x[k] / sk + zk).clamp(lo, hi)) - zk) * sk
                    })
                    .collect();
                let t = Tensor::f32(shape.clone(), folded).map_err(|e| fail(&n.name, e))?;
                let id = g
                    .add_named(Op::Constant(t), &[], Some(n.name.clone()))
                    .map_err(|e| fail(&n.name, e.to_string()))?;
                vals.insert(n.outputs[0].clone(), id);
                continue;
            }
        };
        let mut ids = Vec::with_capacity(operands.len());
        for o in operands {
            ids.push(operand(&mut g, o)?);
        }
        let id = g
            .add_named(op, &ids, Some(n.name.clone()))
            .map_err(|e| fail(&n.name, e.to_string()))?;
        vals.insert(n.outputs[0].clone(), id);
    }
    for o in &m.outputs {
        let v = match vals.get(&o.name) {
            Some(v) => *v,
            None => return Err(fail(&o.name, "graph output is not computed".into())),
        };
        g.add_output(&o.name, v).map_err(|e| fail(&o.name, e.to_string()))?;
    }
    Ok(g)
}

fn unsup(n: &super::model::Node, why: &str) -> UnsupportedOp {
    UnsupportedOp {
        node: n.name.clone(),
        op_type: n.op.op_type().to_string(),
        domain: if matches!(n.op, OOp::Quant { .. }) {
            super::load::QONNX_DOMAINS[0].to_string()
        } else {
            String::new()
        },
        reason: Some(why.to_string()),
    }
}

/// The flat index into a tensor of shape `small` that numpy broadcasting maps element `k` of
/// shape `big` to.
fn broadcast_index(small: &[usize], big: &[usize], k: usize) -> Option<usize> {
    let pad = big.len().checked_sub(small.len())?;
    let mut rem = k;
    let mut idx = vec![0; big.len()];
    for d in (0..big.len()).rev() {
        idx[d] = rem % big[d];
        rem /= big[d];
    }
    let mut flat = 0;
    for (d, s) in small.iter().enumerate() {
        flat = flat * s + if *s == 1 { 0 } else { idx[d + pad] };
    }
    Some(flat)
}
