//! ONNX models into the one model-level IR graph every family reads.
//!
//! Every node is converted one to one: data movement (Reshape, Transpose, Slice, Gather,
//! Split, Squeeze, Unsqueeze, Flatten, Identity) becomes `gather` with its index map,
//! consecutive gathers fuse into one; MatMul (batched too), Gemm, Add, Mul, Sub, Div, Pow,
//! Sqrt, Erf, Sign, ReduceMean, Concat, Relu, Sigmoid, Tanh, Softmax, LayerNormalization,
//! Gelu and QONNX `Quant` map to their IR ops. Anything else is reported, every node at once,
//! by node name and op type. Families recognise their patterns afterwards, as passes over this
//! graph (the attention family's `attn-recognize` turns decomposed LayerNorm, GELU and
//! multi-head attention into `layer_norm`, `gelu` and `attn.mha`).
//!
//! The IR works on one sample, so the leading batch dimension of size 1 that exporters keep on
//! every activation is dropped (`[1, 17, 32]` becomes `[17, 32]`); constants combined with a
//! stripped activation lose the same leading 1, and axes are renumbered. A Gemm on such a
//! vector becomes `matmul(x, alpha * B')` and `add(beta * C)`: what a dense layer is for every
//! family.

use super::error::OnnxError;
use super::model::{OnnxModel, Op as OOp};
use super::ops_ext::ExtOp;
use super::view::{strip, to_map, View};
use super::UnsupportedOp;
use crate::ir::nn::{LayerNormOp, QuantOp};
use crate::ir::{Graph, NodeId, Op, Tensor, TensorType};
use std::collections::HashMap;
use std::sync::Arc;

/// A value in the IR: its node and whether its ONNX shape lost the batch dimension.
#[derive(Clone, Copy)]
struct Val {
    id: NodeId,
    stripped: bool,
    /// Computed from constants only (a QONNX `Quant` of a weight): acceptable where a weight
    /// is expected.
    derived: bool,
}

impl Val {
    fn new(id: NodeId, stripped: bool) -> Val {
        Val { id, stripped, derived: false }
    }
}

/// Imports `model`: every node converted one to one.
pub fn import(model: &OnnxModel) -> Result<Graph, OnnxError> {
    let view = View::new(model);
    let file = model.file.clone();
    let node_err = |i: usize, message: String| OnnxError::Node {
        file: file.clone(),
        node: model.nodes[i].name.clone(),
        message,
    };
    let mut g = Graph::new();
    let mut vals: HashMap<String, Val> = HashMap::new();
    for d in &model.inputs {
        let id = g.add_input(&d.name, TensorType::f32(strip(&d.shape))).map_err(|e| {
            OnnxError::Node { file: file.clone(), node: d.name.clone(), message: e.to_string() }
        })?;
        vals.insert(d.name.clone(), Val::new(id, d.shape.len() >= 2 && d.shape[0] == 1));
    }
    let mut consts: HashMap<(String, bool), NodeId> = HashMap::new();
    let mut unsupported = Vec::new();
    for (i, n) in model.nodes.iter().enumerate() {
        if n.op == OOp::Constant || view.is_const_alias(i) {
            continue;
        }
        let ready = n
            .inputs
            .iter()
            .filter(|x| !x.is_empty())
            .all(|x| vals.contains_key(x) || view.constant(x).is_some());
        if !ready {
            continue; // downstream of an unsupported node, which is reported
        }
        match convert(&view, &mut g, &mut vals, &mut consts, i) {
            Ok(()) => {}
            Err(Conv::Unsupported(reason)) => unsupported.push(UnsupportedOp {
                node: n.name.clone(),
                op_type: n.op.op_type().to_string(),
                domain: String::new(),
                reason,
            }),
            Err(Conv::Failed(m)) if unsupported.is_empty() => return Err(node_err(i, m)),
            Err(Conv::Failed(_)) => {} // a consequence of an unsupported node upstream
        }
    }
    if !unsupported.is_empty() {
        return Err(OnnxError::NotImported { file, ops: unsupported });
    }
    for o in &model.outputs {
        let v = vals.get(&o.name).ok_or_else(|| OnnxError::Node {
            file: file.clone(),
            node: o.name.clone(),
            message: "graph output is not computed".into(),
        })?;
        g.add_output(&o.name, v.id).map_err(|e| OnnxError::Node {
            file: file.clone(),
            node: o.name.clone(),
            message: e.to_string(),
        })?;
    }
    fuse_gathers(&mut g);
    Ok(g)
}

enum Conv {
    Unsupported(Option<String>),
    Failed(String),
}

/// Converts one generic node.
fn convert(
    view: &View,
    g: &mut Graph,
    vals: &mut HashMap<String, Val>,
    consts: &mut HashMap<(String, bool), NodeId>,
    i: usize,
) -> Result<(), Conv> {
    let n = view.node(i);
    let failed = |e: String| Conv::Failed(e);
    let ge = |e: crate::ir::GraphError| Conv::Failed(e.to_string());
    // Operand: a computed value, or a constant (stripped like `like` when that was stripped).
    let mut operand = |g: &mut Graph,
                       name: &str,
                       like: Option<(usize, bool)>|
     -> Result<Val, Conv> {
        if let Some(v) = vals.get(name) {
            return Ok(*v);
        }
        let t = view
            .constant(name)
            .ok_or_else(|| Conv::Failed(format!("value `{name}` is undefined")))?;
        let strip_it = matches!(like, Some((rank, true)) if t.shape.len() == rank && t.shape.first() == Some(&1));
        let key = (name.to_string(), strip_it);
        if let Some(&id) = consts.get(&key) {
            return Ok(Val::new(id, strip_it));
        }
        let shape = if strip_it { t.shape[1..].to_vec() } else { t.shape.clone() };
        let c = Tensor::f32(shape, t.to_f32())
            .map_err(|e| Conv::Failed(format!("constant `{name}`: {e}")))?;
        let id = g
            .add_named(Op::Constant(c), &[], Some(name.to_string()))
            .map_err(|e| Conv::Failed(e.to_string()))?;
        consts.insert(key, id);
        Ok(Val::new(id, strip_it))
    };
    let onnx_rank = |v: &str| view.shape(v).len();
    let computed = |v: &str| vals.contains_key(v);
    let adjust = |axis: i64, stripped: bool| if stripped && axis > 0 { axis - 1 } else { axis };
    if view.is_movement(i) && computed(&n.inputs[0]) {
        let x = vals[&n.inputs[0]];
        for (pos, out) in n.outputs.iter().enumerate() {
            let idx = view.index_map(&n.inputs[0], &[(i, pos)]).map_err(failed)?;
            let shape = strip(&idx.shape);
            let stripped = shape.len() != idx.shape.len();
            let op = Op::Gather { shape, map: to_map(&idx).into() };
            let id = g.add_named(op, &[x.id], Some(n.name.clone())).map_err(ge)?;
            vals.insert(out.clone(), Val::new(id, stripped));
        }
        return Ok(());
    }
    let out = n.outputs[0].clone();
    let (op, operands): (Op, Vec<Val>) = match &n.op {
        OOp::MatMul => {
            if !computed(&n.inputs[0]) && !computed(&n.inputs[1]) {
                return Err(Conv::Unsupported(Some(
                    "a product of two constants (not folded)".into(),
                )));
            }
            let a = operand(g, &n.inputs[0], None)?;
            let b = operand(g, &n.inputs[1], None)?;
            (Op::MatMul, vec![a, b])
        }
        OOp::Gemm { alpha, beta, trans_a: false, trans_b }
            if vals.get(&n.inputs[0]).is_some_and(|v| v.stripped) =>
        {
            // A [1, K] lost its batch row: y = x (alpha B') + beta C as a vector MatMul + Add.
            let x = vals[&n.inputs[0]];
            let (wid, o) = match vals.get(&n.inputs[1]).filter(|v| v.derived) {
                Some(b) => gemm_weight_value(g, b.id, *alpha, *trans_b, &n.name)?,
                None => {
                    let b = view.constant(&n.inputs[1]).ok_or_else(|| {
                        Conv::Unsupported(Some("Gemm with a non-constant B".into()))
                    })?;
                    let [r, c] = b.shape[..] else {
                        return Err(failed("Gemm B is not a matrix".into()));
                    };
                    let (k, o) = if *trans_b { (c, r) } else { (r, c) };
                    let bv = b.to_f32();
                    let w: Vec<f32> = (0..k * o)
                        .map(|p| {
                            let (i, j) = (p / o, p % o);
                            alpha * if *trans_b { bv[j * k + i] } else { bv[i * o + j] }
                        })
                        .collect();
                    let wc = Tensor::f32(vec![k, o], w).map_err(|e| failed(e.to_string()))?;
                    let name = Some(n.inputs[1].clone());
                    (g.add_named(Op::Constant(wc), &[], name).map_err(ge)?, o)
                }
            };
            let mut id = g.add_named(Op::MatMul, &[x.id, wid], Some(n.name.clone())).map_err(ge)?;
            if let Some(cn) = n.inputs.get(2).filter(|s| !s.is_empty()) {
                let ct = view
                    .constant(cn)
                    .ok_or_else(|| Conv::Unsupported(Some("Gemm with a non-constant C".into())))?;
                let cv: Vec<f32> = ct.to_f32().iter().map(|v| beta * v).collect();
                let cshape = if ct.len() == o { vec![o] } else { strip(&ct.shape) };
                let cc = Tensor::f32(cshape, cv).map_err(|e| failed(e.to_string()))?;
                let cid = g.add_named(Op::Constant(cc), &[], Some(cn.clone())).map_err(ge)?;
                id = g.add_named(Op::Add, &[id, cid], Some(n.name.clone())).map_err(ge)?;
            }
            vals.insert(out, Val::new(id, true));
            return Ok(());
        }
        OOp::Gemm { alpha, beta, trans_a, trans_b } => {
            let mut ops = Vec::new();
            for x in n.inputs.iter().filter(|s| !s.is_empty()) {
                ops.push(operand(g, x, None)?);
            }
            (Op::Gemm { alpha: *alpha, beta: *beta, trans_a: *trans_a, trans_b: *trans_b }, ops)
        }
        OOp::Add
        | OOp::Ext(ExtOp::Concat { .. } | ExtOp::Mul | ExtOp::Sub | ExtOp::Div | ExtOp::Pow) => {
            let anchor = n.inputs.iter().find(|x| computed(x)).ok_or_else(|| {
                Conv::Unsupported(Some("every operand is a constant (not folded)".into()))
            })?;
            let like = Some((onnx_rank(anchor), vals[anchor.as_str()].stripped));
            let mut ops = Vec::new();
            for x in &n.inputs {
                ops.push(operand(g, x, like)?);
            }
            let stripped = vals[anchor.as_str()].stripped;
            let op = match &n.op {
                OOp::Ext(ExtOp::Concat { axis }) => Op::Concat { axis: adjust(*axis, stripped) },
                OOp::Ext(ExtOp::Mul) => Op::Mul,
                OOp::Ext(ExtOp::Sub) => Op::Sub,
                OOp::Ext(ExtOp::Div) => Op::Div,
                OOp::Ext(ExtOp::Pow) => Op::Pow,
                _ => Op::Add,
            };
            (op, ops)
        }
        OOp::Quant { signed, narrow, rounding } => {
            // Scale and zero point follow the data's batch stripping, like an Add's constant.
            let data = vals.get(n.inputs[0].as_str()).copied();
            let like = data.map(|v| (onnx_rank(&n.inputs[0]), v.stripped));
            let mut ops = vec![operand(g, &n.inputs[0], None)?];
            for p in &n.inputs[1..] {
                ops.push(operand(g, p, like)?);
            }
            let q = QuantOp { signed: *signed, narrow: *narrow, rounding: *rounding };
            let ids: Vec<NodeId> = ops.iter().map(|v| v.id).collect();
            let id = g.add_named(Op::Quant(q), &ids, Some(n.name.clone())).map_err(ge)?;
            let derived = data.is_none_or(|v| v.derived);
            vals.insert(out, Val { id, stripped: ops[0].stripped, derived });
            return Ok(());
        }
        // A legacy (opset < 13) softmax over the last axis alone is the modern one.
        OOp::Softmax { axis, legacy: true }
            if computed(&n.inputs[0])
                && super::shape::norm_axis(*axis, onnx_rank(&n.inputs[0]), false)
                    == Some(onnx_rank(&n.inputs[0]).saturating_sub(1)) =>
        {
            let x = operand(g, &n.inputs[0], None)?;
            (Op::Softmax { axis: adjust(*axis, x.stripped) }, vec![x])
        }
        OOp::Relu
        | OOp::Sigmoid
        | OOp::Tanh
        | OOp::Softmax { legacy: false, .. }
        | OOp::Ext(ExtOp::Sqrt | ExtOp::Erf | ExtOp::Sign | ExtOp::Gelu { .. }) => {
            if !computed(&n.inputs[0]) {
                return Err(Conv::Unsupported(Some("constant input (not folded)".into())));
            }
            let x = operand(g, &n.inputs[0], None)?;
            let op = match &n.op {
                OOp::Relu => Op::Relu,
                OOp::Sigmoid => Op::Sigmoid,
                OOp::Tanh => Op::Tanh,
                OOp::Softmax { axis, .. } => Op::Softmax { axis: adjust(*axis, x.stripped) },
                OOp::Ext(ExtOp::Sqrt) => Op::Sqrt,
                OOp::Ext(ExtOp::Erf) => Op::Erf,
                OOp::Ext(ExtOp::Sign) => Op::Sign,
                OOp::Ext(ExtOp::Gelu { tanh }) => Op::Gelu { tanh: *tanh },
                _ => return Err(Conv::Unsupported(None)),
            };
            (op, vec![x])
        }
        OOp::Ext(e @ ExtOp::ReduceMean { keepdims, .. }) if computed(&n.inputs[0]) => {
            let x = operand(g, &n.inputs[0], None)?;
            let axes =
                super::ops_ext::reduce_axes(e, n, onnx_rank(&n.inputs[0]), &view.m.constants)
                    .map_err(failed)?;
            if axes.is_empty() {
                (Op::Identity, vec![x]) // noop_with_empty_axes
            } else if x.stripped && axes.contains(&0) {
                return Err(Conv::Unsupported(Some(
                    "reduces over the batch dimension (the IR holds one sample)".into(),
                )));
            } else {
                let axes = axes.iter().map(|&a| if x.stripped { a - 1 } else { a }).collect();
                (Op::ReduceMean { axes, keepdims: *keepdims }, vec![x])
            }
        }
        OOp::Ext(ExtOp::LayerNormalization { axis, epsilon }) if computed(&n.inputs[0]) => {
            let shape = view.shape(&n.inputs[0]);
            let last = super::shape::norm_axis(*axis, shape.len(), false)
                == Some(shape.len().saturating_sub(1));
            if !last {
                return Err(Conv::Unsupported(Some(format!(
                    "normalises from axis {axis}; only the last axis is supported"
                ))));
            }
            let d = *shape.last().unwrap_or(&0);
            let vector = |v: &str| -> Option<Vec<f32>> {
                let t = view.constant(v)?;
                (t.len() == d && t.shape.iter().rev().skip(1).all(|&x| x == 1)).then(|| t.to_f32())
            };
            let gamma = vector(&n.inputs[1]).ok_or_else(|| {
                Conv::Unsupported(Some("the scale must be a constant vector".into()))
            })?;
            let beta = match n.inputs.get(2).filter(|s| !s.is_empty()) {
                Some(b) => vector(b).ok_or_else(|| {
                    Conv::Unsupported(Some("the bias must be a constant vector".into()))
                })?,
                None => vec![0.0; d],
            };
            let x = operand(g, &n.inputs[0], None)?;
            (Op::LayerNorm(LayerNormOp { eps: *epsilon, gamma, beta }.into()), vec![x])
        }
        OOp::Ext(e) => {
            return Err(Conv::Unsupported(Some(format!(
            "{} of computed values is not supported (only its constant uses are folded at load)",
            e.op_type()
        ))))
        }
        _ => return Err(Conv::Unsupported(None)),
    };
    let stripped = operands.iter().any(|v| v.stripped);
    let ids: Vec<NodeId> = operands.iter().map(|v| v.id).collect();
    let id = g.add_named(op, &ids, Some(n.name.clone())).map_err(ge)?;
    vals.insert(out, Val::new(id, stripped));
    Ok(())
}

/// Gemm's B computed from constants (a quantized weight `[K, O]`, or `[O, K]` under
/// `transB`) as the `[K, O]` matrix a vector MatMul reads: a transposing `gather` when needed.
/// Returns the weight node and `O`.
fn gemm_weight_value(
    g: &mut Graph,
    b: NodeId,
    alpha: f32,
    trans_b: bool,
    name: &str,
) -> Result<(NodeId, usize), Conv> {
    if alpha != 1.0 {
        return Err(Conv::Unsupported(Some(format!(
            "alpha = {alpha} with a computed (quantized) B; only alpha = 1 is supported"
        ))));
    }
    let [r, c] = g.ty(b).shape[..] else {
        return Err(Conv::Failed("Gemm B is not a matrix".into()));
    };
    if !trans_b {
        return Ok((b, c));
    }
    let (k, o) = (c, r);
    let map: Arc<[u32]> = (0..k * o).map(|p| ((p % o) * k + p / o) as u32).collect();
    let op = Op::Gather { shape: vec![k, o], map };
    let id =
        g.add_named(op, &[b], Some(name.to_string())).map_err(|e| Conv::Failed(e.to_string()))?;
    Ok((id, o))
}

/// Composes `gather(gather(x))` into one gather when the inner one has no other user.
pub fn fuse_gathers(g: &mut Graph) {
    for id in g.topo_order() {
        if !g.contains(id) {
            continue;
        }
        // Borrowed, then the gathers' fields copied: cloning every op would copy each constant
        // (a whole weight matrix) on the way.
        let Op::Gather { shape, map } = g.op(id) else { continue };
        let (shape, map) = (shape.clone(), map.clone());
        let [src] = g.operands(id)[..] else { continue };
        let Op::Gather { map: inner, .. } = g.op(src) else { continue };
        let inner = inner.clone();
        if g.users(src).len() != 1 {
            continue;
        }
        let [x] = g.operands(src)[..] else { continue };
        let composed: Arc<[u32]> = map.iter().map(|&i| inner[i as usize]).collect();
        if g.replace_node(id, Op::Gather { shape, map: composed }, &[x]).is_ok() {
            g.remove_node(src);
        }
    }
}
