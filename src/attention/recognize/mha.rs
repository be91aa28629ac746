//! Recognising multi-head self-attention in the model-level graph.
//!
//! Anchored on each `softmax` over the last axis, the matcher walks:
//!
//! ```text
//! X ─ Linear_q ─ [sign] [mul/div c] ─ gather* ─┐
//!                                              matmul ─ [mul/div c]* ─ softmax ─ matmul ─ gather* ─ Linear_o ─ Y
//! X ─ Linear_k ─ [sign] [mul/div c] ─ gather* ─┘                                   │
//! X ─ Linear_v ───────────────────── gather* ─────────────────────────────────────┘
//! ```
//!
//! where a Linear is `matmul(x, W) [+ b]` or `gemm` with constant parameters
//! ([`crate::passes::pattern::dense_at`], the dense-layer matcher the crossbar family reads
//! MLPs with too), and the `gather`s are what the importer made of the exporter's Reshape,
//! Transpose, Slice, Gather, Split, Squeeze, Unsqueeze and Identity chains. Rather than
//! insisting on one exporter's op sequence, the matcher composes each chain's index maps and
//! checks the result is a head split (`Q_h[t, c] = P[t, col(h, c)]`), a transposed head split
//! for K, and a head merge after the value product; the columns it finds reorder the
//! projection weights into tessera's canonical layout (head `h` owns columns
//! `h*d .. (h+1)*d`). Fused QKV projections split by Slice/Split/Gather are covered by the
//! same check.
//!
//! Scalar factors (`mul`/`div` by a one-element constant) on the score path multiply into the
//! logit scale. A `sign` on both Q and K marks a HAD-trained model: factors after the sign are
//! its sigma_Q / sigma_K (kept exactly), factors before it must be positive (sign is invariant
//! to them).

use super::Found;
use crate::attention::error::AttnError;
use crate::attention::ir::{Linear, MhaOp, QkMode, SigmaOrigin};
use crate::attention::select::Selection;
use crate::ir::{Graph, NodeId, Op};
use crate::passes::pattern::{dense_at, float_params, scalar_factor};

/// A Linear found in the graph.
struct LinearAt {
    input: NodeId,
    lin: Linear,
    nodes: Vec<NodeId>,
}

/// The linear layer computing `v` with constant weights and bias, if any.
fn linear_at(g: &Graph, v: NodeId) -> Option<LinearAt> {
    let d = dense_at(g, v)?;
    let (w, b) = float_params(g, &d)?;
    Some(LinearAt {
        input: d.input,
        lin: Linear { inputs: d.inputs, outputs: d.outputs, w, b },
        nodes: d.nodes(),
    })
}

/// A value's index map: where each element of the end of a movement chain comes from in the
/// chain's base, with the end's shape.
struct IndexMap {
    shape: Vec<usize>,
    data: Vec<usize>,
}

/// Composes the `gather`s `moves` (in forward order, any element-wise scalar ops between them
/// moving nothing) into the index map from `base` to the end of the chain.
fn index_map(g: &Graph, base: NodeId, moves: &[NodeId]) -> IndexMap {
    let mut cur =
        IndexMap { shape: g.ty(base).shape.clone(), data: (0..g.ty(base).numel()).collect() };
    for &m in moves {
        if let Op::Gather { shape, map } = g.op(m) {
            cur = IndexMap {
                shape: shape.clone(),
                data: map.iter().map(|&i| cur.data[i as usize]).collect(),
            };
        }
    }
    cur
}

/// The path from a projection to the score or value product.
struct Chain {
    base: NodeId,
    /// `gather` nodes in forward order.
    moves: Vec<NodeId>,
    sign: bool,
    /// Product of scalar factors upstream of the sign (or all of them without a sign).
    pre: f64,
    /// Product of scalar factors downstream of the sign.
    post: f64,
    nodes: Vec<NodeId>,
}

fn trace_back(g: &Graph, mut v: NodeId) -> Chain {
    let mut c =
        Chain { base: v, moves: Vec::new(), sign: false, pre: 1.0, post: 1.0, nodes: Vec::new() };
    let mut factors_after_sign = 1.0;
    let mut factors = 1.0;
    loop {
        match g.op(v) {
            Op::Gather { .. } => {
                c.moves.push(v);
                c.nodes.push(v);
                v = g.operands(v)[0];
            }
            Op::Sign if !c.sign => {
                c.sign = true;
                factors_after_sign = factors;
                factors = 1.0;
                c.nodes.push(v);
                v = g.operands(v)[0];
            }
            _ => match scalar_factor(g, v) {
                Some((f, x)) => {
                    factors *= f;
                    c.nodes.push(v);
                    v = x;
                }
                None => break,
            },
        }
    }
    if c.sign {
        c.post = factors_after_sign;
        c.pre = factors;
    } else {
        c.pre = factors;
    }
    c.moves.reverse();
    c.base = v;
    c
}

/// Drops all leading dimensions of size 1.
fn squeeze_front(s: &[usize]) -> Vec<usize> {
    let k = s.iter().take_while(|&&d| d == 1).count().min(s.len().saturating_sub(2));
    s[k..].to_vec()
}

/// For a head-split index map of shape `[H, A, B]` over a base `[S, C]`: the column of every
/// `(h, c)`, where `row_axis` says which of A/B runs over tokens (1: `[H, S, d]`, 2: `[H, d, S]`).
fn head_columns(
    idx: &[usize],
    shape: &[usize],
    c_base: usize,
    row_axis: usize,
) -> Result<(usize, usize, Vec<usize>), AttnError> {
    let (h, a, b) = match shape {
        [h, a, b] => (*h, *a, *b),
        [a, b] => (1, *a, *b),
        _ => {
            return Err(AttnError::Pattern(format!(
                "head tensor has shape {shape:?}, expected [heads, tokens, d]"
            )))
        }
    };
    let (s, d) = if row_axis == 1 { (a, b) } else { (b, a) };
    let mut cols = vec![0usize; h * d];
    for hh in 0..h {
        for c in 0..d {
            for t in 0..s {
                let pos = if row_axis == 1 { (hh * a + t) * b + c } else { (hh * a + c) * b + t };
                let src = idx[pos];
                let (row, col) = (src / c_base, src % c_base);
                if t == 0 {
                    cols[hh * d + c] = col;
                }
                if row != t || col != cols[hh * d + c] {
                    return Err(AttnError::Pattern(format!(
                        "element (head {hh}, token {t}, {c}) comes from token {row}, column {col}: not a head split"
                    )));
                }
            }
        }
    }
    Ok((h, d, cols))
}

/// Selects and reorders the output columns of a linear layer.
fn pick_columns(l: &Linear, cols: &[usize]) -> Linear {
    let mut w = Vec::with_capacity(l.inputs * cols.len());
    for i in 0..l.inputs {
        for &c in cols {
            w.push(l.w[i * l.outputs + c]);
        }
    }
    Linear { inputs: l.inputs, outputs: cols.len(), w, b: cols.iter().map(|&c| l.b[c]).collect() }
}

/// Tries to match the attention block around `softmax` node `sm`: `Ok(None)` when the graph
/// around it is not attention, an error when it is attention tessera cannot map.
pub fn match_at(g: &Graph, sm: NodeId) -> Result<Option<Found>, AttnError> {
    let Op::Softmax { axis } = g.op(sm) else { return Ok(None) };
    let rank = g.ty(sm).rank() as i64;
    if (if *axis < 0 { axis + rank } else { *axis }) != rank - 1 {
        return Ok(None);
    }
    let mut claimed = vec![sm];
    // Logit scaling between the score product and the softmax.
    let mut scale = 1.0f64;
    let mut v = g.operands(sm)[0];
    let mm1 = loop {
        if let Some((f, x)) = scalar_factor(g, v) {
            scale *= f;
            claimed.push(v);
            v = x;
        } else if matches!(g.op(v), Op::MatMul) {
            break v;
        } else {
            return Ok(None);
        }
    };
    claimed.push(mm1);
    let [q_end, k_end] = g.operands(mm1)[..] else { return Ok(None) };
    let qc = trace_back(g, q_end);
    let kc = trace_back(g, k_end);
    let (Some(lq), Some(lk)) = (linear_at(g, qc.base), linear_at(g, kc.base)) else {
        return Ok(None);
    };
    // The value product: softmax output times V.
    let [(mm2, 0)] = g.users(sm)[..] else { return Ok(None) };
    if !matches!(g.op(mm2), Op::MatMul) {
        return Ok(None);
    }
    claimed.push(mm2);
    let vc = trace_back(g, g.operands(mm2)[1]);
    let Some(lv) = linear_at(g, vc.base) else { return Ok(None) };
    if vc.sign || vc.pre != 1.0 {
        return Err(AttnError::Pattern(
            "the value path has a Sign or a scale; only Q and K may be binarized".into(),
        ));
    }
    if lq.input != lk.input || lq.input != lv.input {
        return Err(AttnError::Pattern(
            "Q, K and V are projected from different tensors (cross-attention is not supported)"
                .into(),
        ));
    }
    // Head split checks and canonical column orders.
    let base_cols = |b: NodeId| g.ty(b).shape.last().copied().unwrap_or(0);
    let qi = index_map(g, qc.base, &qc.moves);
    let (hq, dk, cq) = head_columns(&qi.data, &squeeze_front(&qi.shape), base_cols(qc.base), 1)
        .map_err(|e| AttnError::Pattern(format!("query path: {e}")))?;
    let ki = index_map(g, kc.base, &kc.moves);
    let (hk, dk2, ck) = head_columns(&ki.data, &squeeze_front(&ki.shape), base_cols(kc.base), 2)
        .map_err(|e| AttnError::Pattern(format!("key path: {e}")))?;
    let vi = index_map(g, vc.base, &vc.moves);
    let (hv, dv, cv) = head_columns(&vi.data, &squeeze_front(&vi.shape), base_cols(vc.base), 1)
        .map_err(|e| AttnError::Pattern(format!("value path: {e}")))?;
    if hq != hk || hq != hv || dk != dk2 {
        return Err(AttnError::Pattern(format!(
            "heads disagree: Q {hq}x{dk}, K {hk}x{dk2}, V {hv}x{dv}"
        )));
    }
    let heads = hq;
    let s = g.ty(lq.input).shape.first().copied().unwrap_or(0);
    // Head merge after the value product, then the output projection.
    let mut moves = Vec::new();
    let mut cur = mm2;
    while let [(u, 0)] = g.users(cur)[..] {
        if !matches!(g.op(u), Op::Gather { .. }) {
            break;
        }
        moves.push(u);
        claimed.push(u);
        cur = u;
    }
    let oi = index_map(g, mm2, &moves);
    let merged = squeeze_front(&oi.shape);
    let [s2, m] = merged[..] else {
        return Err(AttnError::Pattern(format!(
            "the merged heads have shape {:?}, expected [tokens, heads*d_v]",
            oi.shape
        )));
    };
    if s2 != s || m != heads * dv {
        return Err(AttnError::Pattern(format!(
            "the merged heads have shape {merged:?}, expected [{s}, {}]",
            heads * dv
        )));
    }
    // Om[t, col] = O[h, t, c]: find (h, c) of each column.
    let mut hc_of_col = vec![(0usize, 0usize); m];
    for t in 0..s {
        for (col, slot) in hc_of_col.iter_mut().enumerate() {
            let src = oi.data[t * m + col];
            let (h, rest) = (src / (s * dv), src % (s * dv));
            let (tt, c) = (rest / dv, rest % dv);
            if tt != t {
                return Err(AttnError::Pattern(format!(
                    "merged column {col} of token {t} reads token {tt}: not a head merge"
                )));
            }
            if t == 0 {
                *slot = (h, c);
            } else if *slot != (h, c) {
                return Err(AttnError::Pattern(
                    "the head merge is not the same for every token".into(),
                ));
            }
        }
    }
    let [(proj, 0)] = g.users(cur)[..] else {
        return Err(AttnError::Pattern(
            "the merged heads feed more than one node (expected the output projection)".into(),
        ));
    };
    // The projection is the Linear whose result is `y`: matmul [+ add] or gemm.
    let y = match g.users(proj)[..] {
        [(a, _)] if matches!(g.op(a), Op::Add) && matches!(g.op(proj), Op::MatMul) => {
            let ops = g.operands(a);
            let other = if ops[0] == proj { ops[1] } else { ops[0] };
            if matches!(g.op(other), Op::Constant(_)) {
                a
            } else {
                proj
            }
        }
        _ => proj,
    };
    let out_lin = linear_at(g, y).ok_or_else(|| {
        AttnError::Pattern("the merged heads do not feed a linear output projection".into())
    })?;
    if out_lin.lin.inputs != m {
        return Err(AttnError::Pattern(format!(
            "output projection reads {} values, heads give {m}",
            out_lin.lin.inputs
        )));
    }
    // Canonical row order of W_o: row h*dv + c is the merged column holding (h, c).
    let mut col_of_hc = vec![0usize; m];
    for (col, &(h, c)) in hc_of_col.iter().enumerate() {
        col_of_hc[h * dv + c] = col;
    }
    let ol = &out_lin.lin;
    let mut wo = Vec::with_capacity(m * ol.outputs);
    for &col in &col_of_hc {
        wo.extend_from_slice(&ol.w[col * ol.outputs..(col + 1) * ol.outputs]);
    }
    let o = Linear { inputs: m, outputs: ol.outputs, w: wo, b: ol.b.clone() };
    // Q/K mode and the logit scale.
    let qk = match (qc.sign, kc.sign) {
        (true, true) => {
            if qc.pre <= 0.0 || kc.pre <= 0.0 {
                return Err(AttnError::Pattern(
                    "a non-positive factor before Sign flips the binarization".into(),
                ));
            }
            if qc.post <= 0.0 || kc.post <= 0.0 {
                return Err(AttnError::Pattern(
                    "the scale after Sign must be positive (it is HAD's sigma)".into(),
                ));
            }
            QkMode::Binary {
                sigma_q: vec![qc.post as f32],
                sigma_k: vec![kc.post as f32],
                origin: SigmaOrigin::Trained,
            }
        }
        (false, false) => {
            scale *= qc.pre * kc.pre;
            QkMode::Float
        }
        _ => {
            return Err(AttnError::Pattern(
                "only one of Q and K passes through Sign; HAD binarizes both".into(),
            ))
        }
    };
    for l in [&lq, &lk, &lv, &out_lin] {
        claimed.extend(&l.nodes);
    }
    for c in [&qc, &kc, &vc] {
        claimed.extend(&c.nodes);
    }
    claimed.sort_unstable();
    claimed.dedup();
    // Every value the block computes internally must stay inside it.
    for &i in &claimed {
        if i == y {
            continue;
        }
        if g.users(i).iter().any(|(u, _)| !claimed.contains(u)) {
            let name = g.node(i).name.clone().unwrap_or_else(|| g.op(i).mnemonic().to_string());
            return Err(AttnError::Pattern(format!(
                "intermediate value `{name}` is also used outside the attention block"
            )));
        }
    }
    let op = MhaOp {
        heads,
        d_k: dk,
        d_v: dv,
        q: pick_columns(&lq.lin, &cq),
        k: pick_columns(&lk.lin, &ck),
        v: pick_columns(&lv.lin, &cv),
        o,
        scale: scale as f32,
        qk,
        select: Selection::All,
    };
    op.validate().map_err(|e| AttnError::Pattern(e.to_string()))?;
    Ok(Some(Found { op: Op::dialect_op(op), input: lq.input, output: y, claimed }))
}
