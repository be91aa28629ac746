//! The attention family's patterns over the one model-level graph: multi-head self-attention
//! becomes one `attn.mha` node ([`mha`]), a decomposed LayerNorm one `layer_norm` and GELU's
//! erf and tanh forms one `gelu` ([`norm`]). The importer ([`crate::frontend::onnx::import`]) turns
//! every exporter's ops into core ops one to one; [`recognize`] rewrites the subgraphs it
//! knows, and the `attn-recognize` pass ([`crate::attention::passes::recognize`]) runs it as
//! the first step of every attention pipeline, so `--dump-ir after:attn-recognize` shows it.

pub mod mha;
pub mod norm;

use crate::frontend::onnx::UnsupportedOp;
use crate::ir::{Graph, NodeId, Op};
use std::collections::HashSet;

/// A recognised subgraph: one op reading `input` replaces the `claimed` nodes, the last of
/// which, `output`, computes the subgraph's result.
#[derive(Clone, Debug)]
pub struct Found {
    pub op: Op,
    pub input: NodeId,
    pub output: NodeId,
    pub claimed: Vec<NodeId>,
}

/// Why a subgraph that looks like attention cannot be mapped: the node it was anchored on
/// (its source name) and the reason.
#[derive(Clone, Debug, PartialEq)]
pub struct Refusal {
    pub node: String,
    pub message: String,
}

/// Rewrites every recognised attention block, decomposed LayerNorm and GELU (erf or tanh
/// form) of `g`, in graph order. Subgraphs whose intermediate values are read elsewhere stay
/// as they are.
pub fn recognize(g: &Graph) -> Result<Graph, Refusal> {
    let mut out = g.clone();
    for id in g.topo_order() {
        if !out.contains(id) {
            continue;
        }
        let found = match out.op(id) {
            Op::Softmax { .. } => mha::match_at(&out, id).map_err(|e| Refusal {
                node: out.node(id).name.clone().unwrap_or_default(),
                message: format!("attention block: {e}"),
            })?,
            Op::Add => norm::layer_norm_decomposed(&out, id),
            Op::Erf => norm::gelu_erf(&out, id),
            Op::Tanh => norm::gelu_tanh(&out, id),
            _ => None,
        };
        if let Some(f) = found.filter(|f| self_contained(&out, f)) {
            apply(&mut out, f).map_err(|message| Refusal {
                node: g.node(id).name.clone().unwrap_or_default(),
                message,
            })?;
        }
    }
    Ok(out)
}

/// Whether only the subgraph itself reads its intermediate values.
fn self_contained(g: &Graph, f: &Found) -> bool {
    f.claimed
        .iter()
        .filter(|&&n| n != f.output)
        .all(|&n| g.users(n).iter().all(|(u, _)| f.claimed.contains(u)))
}

/// Replaces the subgraph by its op (named like the node that computed its result) and drops
/// the claimed nodes and the constants only they read.
fn apply(g: &mut Graph, f: Found) -> Result<(), String> {
    let consts: Vec<NodeId> = f
        .claimed
        .iter()
        .flat_map(|&n| g.operands(n))
        .filter(|&c| matches!(g.op(c), Op::Constant(_)))
        .collect();
    let (in_shape, out_shape) = (g.ty(f.input).shape.clone(), g.ty(f.output).shape.clone());
    match in_shape[..] {
        // torch.nn.MultiheadAttention without `batch_first` runs on `[S, 1, D]` (the batch
        // axis in the middle): the op takes `[S, D]`, so a reshape drops that axis before it
        // and restores it after.
        [s, 1, d] => {
            let dims = |v: &[usize]| v.iter().map(|&n| n as i64).collect::<Vec<_>>();
            let name = g.node(f.output).name.clone();
            let e = |e: crate::ir::GraphError| e.to_string();
            let x = g.add(Op::Reshape { shape: dims(&[s, d]) }, &[f.input]).map_err(e)?;
            let m = g.add_named(f.op, &[x], name).map_err(e)?;
            let y = g.add(Op::Reshape { shape: dims(&out_shape) }, &[m]).map_err(e)?;
            g.replace_all_uses(f.output, y);
            g.remove_node(f.output);
        }
        _ => {
            g.replace_node(f.output, f.op, &[f.input]).map_err(|e| e.to_string())?;
        }
    }
    for n in f.claimed.into_iter().filter(|&n| n != f.output) {
        g.remove_node(n);
    }
    for c in consts {
        if g.contains(c) && g.users(c).is_empty() {
            g.remove_node(c);
        }
    }
    Ok(())
}

/// The ONNX op type a core op left over after recognition came from, when the attention
/// family has no mapping for it, with why.
fn unmapped_op(
    g: &Graph,
    id: NodeId,
    computed: &HashSet<NodeId>,
) -> Option<(&'static str, String)> {
    let outside = |t: &'static str| {
        Some((t, format!("{t} outside a recognised attention, LayerNorm or GELU pattern")))
    };
    match g.op(id) {
        Op::Mul => outside("Mul"),
        Op::Sub => outside("Sub"),
        Op::Div => outside("Div"),
        Op::Pow => outside("Pow"),
        Op::Sqrt => outside("Sqrt"),
        Op::Erf => outside("Erf"),
        Op::Sign => outside("Sign"),
        Op::ReduceMean { .. } => outside("ReduceMean"),
        Op::MatMul if computed.contains(&g.operands(id)[1]) => Some((
            "MatMul",
            "only activation x constant-weight MatMuls exist outside attention blocks".into(),
        )),
        _ => None,
    }
}

/// The nodes of a recognised graph the attention family cannot map, each named with its
/// ONNX op type; nodes downstream of one are not listed again (they follow from it).
pub fn unmapped(g: &Graph) -> Vec<UnsupportedOp> {
    let mut computed: HashSet<NodeId> = HashSet::new();
    let mut tainted: HashSet<NodeId> = HashSet::new();
    let mut ops = Vec::new();
    for id in g.topo_order() {
        let operands = g.operands(id);
        if matches!(g.op(id), Op::Input { .. }) || operands.iter().any(|o| computed.contains(o)) {
            computed.insert(id);
        }
        if operands.iter().any(|o| tainted.contains(o)) {
            tainted.insert(id);
            continue;
        }
        if let Some((op_type, reason)) = unmapped_op(g, id, &computed) {
            tainted.insert(id);
            ops.push(UnsupportedOp {
                node: g.node(id).name.clone().unwrap_or_default(),
                op_type: op_type.to_string(),
                domain: String::new(),
                reason: Some(reason),
            });
        }
    }
    ops
}
