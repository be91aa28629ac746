//! Recognising multi-head self-attention in an ONNX graph.
//!
//! Anchored on each `Softmax` over the last axis, the matcher walks:
//!
//! ```text
//! X ─ Linear_q ─ [Sign] [Mul/Div c] ─ movement* ─┐
//!                                                MatMul ─ [Mul/Div c]* ─ Softmax ─ MatMul ─ movement* ─ Linear_o ─ Y
//! X ─ Linear_k ─ [Sign] [Mul/Div c] ─ movement* ─┘                                   │
//! X ─ Linear_v ─────────────────────  movement* ────────────────────────────────────┘
//! ```
//!
//! where a Linear is `MatMul(x, W) [+ b]` or `Gemm`, and "movement" is any chain of Reshape,
//! Transpose, Slice, Gather, Split, Squeeze, Unsqueeze or Identity. Rather than insisting on
//! one exporter's op sequence, the matcher computes each chain's index map and checks it is a
//! head split (`Q_h[t, c] = P[t, col(h, c)]`), a transposed head split for K, and a head merge
//! after the value product; the columns it finds reorder the projection weights into tessera's
//! canonical layout (head `h` owns columns `h*d .. (h+1)*d`). Fused QKV projections split by
//! Slice/Split/Gather are covered by the same check.
//!
//! Scalar factors on the score path multiply into the logit scale. A `Sign` on both Q and K
//! marks a HAD-trained model: factors after the Sign are its sigma_Q / sigma_K (kept exactly),
//! factors before it must be positive (sign is invariant to them).

use crate::attention::ir::{Linear, MhaOp, QkMode, SigmaOrigin};
use crate::attention::select::Selection;
use crate::frontend::onnx::model::Op;
use crate::frontend::onnx::ops_ext::ExtOp;
use crate::frontend::onnx::view::{strip, View};

/// One recognised attention block.
#[derive(Clone, Debug)]
pub struct MhaMatch {
    pub op: MhaOp,
    /// The token matrix the projections read.
    pub input: String,
    /// The output projection's result.
    pub output: String,
    /// Nodes the block replaces.
    pub claimed: Vec<usize>,
}

/// A Linear found in the graph.
struct LinearAt {
    input: String,
    lin: Linear,
    nodes: Vec<usize>,
}

/// The linear layer computing `v`, if any: `MatMul(x, W) + b`, `MatMul(x, W)`, or `Gemm`.
fn linear_at(view: &View, v: &str) -> Option<LinearAt> {
    let i = view.producer(v)?;
    let n = view.node(i);
    match &n.op {
        Op::Add => {
            let (mm, b) = if let Some(b) = view.constant(&n.inputs[1]) {
                (&n.inputs[0], b)
            } else {
                (&n.inputs[1], view.constant(&n.inputs[0])?)
            };
            let mut l = linear_at(view, mm)?;
            if l.nodes.len() != 1 || view.use_count(mm) != 1 {
                return None;
            }
            if b.shape.iter().rev().skip(1).any(|&d| d != 1) || b.len() != l.lin.outputs {
                return None;
            }
            l.lin.b = b.to_f32();
            l.nodes.push(i);
            Some(l)
        }
        Op::MatMul => {
            let w = view.constant(&n.inputs[1])?;
            let [k, o] = w.shape[..] else { return None };
            Some(LinearAt {
                input: n.inputs[0].clone(),
                lin: Linear { inputs: k, outputs: o, w: w.to_f32(), b: vec![0.0; o] },
                nodes: vec![i],
            })
        }
        Op::Gemm { alpha, beta, trans_a: false, trans_b } => {
            let w = view.constant(&n.inputs[1])?;
            let [r, c] = w.shape[..] else { return None };
            let (k, o) = if *trans_b { (c, r) } else { (r, c) };
            let wv = w.to_f32();
            let mut wt = vec![0f32; k * o];
            for i in 0..k {
                for j in 0..o {
                    let x = if *trans_b { wv[j * k + i] } else { wv[i * o + j] };
                    wt[i * o + j] = alpha * x;
                }
            }
            let b = match n.inputs.get(2).filter(|s| !s.is_empty()) {
                Some(c) => {
                    let t = view.constant(c)?;
                    if t.len() != o {
                        return None;
                    }
                    t.to_f32().iter().map(|x| beta * x).collect()
                }
                None => vec![0.0; o],
            };
            Some(LinearAt {
                input: n.inputs[0].clone(),
                lin: Linear { inputs: k, outputs: o, w: wt, b },
                nodes: vec![i],
            })
        }
        _ => None,
    }
}

/// The path from a projection to the score or value MatMul.
struct Chain {
    base: String,
    /// Movement nodes in forward order with the output position followed.
    moves: Vec<(usize, usize)>,
    sign: bool,
    /// Product of scalar factors upstream of the Sign (or all of them without a Sign).
    pre: f64,
    /// Product of scalar factors downstream of the Sign.
    post: f64,
    nodes: Vec<usize>,
}

fn trace_back(view: &View, mut v: String) -> Chain {
    let mut c = Chain {
        base: String::new(),
        moves: Vec::new(),
        sign: false,
        pre: 1.0,
        post: 1.0,
        nodes: Vec::new(),
    };
    let mut factors_after_sign = 1.0;
    let mut factors = 1.0;
    while let Some(i) = view.producer(&v) {
        let n = view.node(i);
        if view.is_movement(i) {
            let pos = n.outputs.iter().position(|o| *o == v).unwrap_or(0);
            c.moves.push((i, pos));
            v = n.inputs[0].clone();
        } else if let Some((f, x)) = view.scalar_factor(i) {
            factors *= f;
            v = x.to_string();
        } else if matches!(n.op, Op::Ext(ExtOp::Sign)) && !c.sign {
            c.sign = true;
            factors_after_sign = factors;
            factors = 1.0;
            v = n.inputs[0].clone();
        } else {
            break;
        }
        c.nodes.push(i);
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
    idx: &[f32],
    shape: &[usize],
    c_base: usize,
    row_axis: usize,
) -> Result<(usize, usize, Vec<usize>), String> {
    let (h, a, b) = match shape {
        [h, a, b] => (*h, *a, *b),
        [a, b] => (1, *a, *b),
        _ => return Err(format!("head tensor has shape {shape:?}, expected [heads, tokens, d]")),
    };
    let (s, d) = if row_axis == 1 { (a, b) } else { (b, a) };
    let mut cols = vec![0usize; h * d];
    for hh in 0..h {
        for c in 0..d {
            for t in 0..s {
                let pos = if row_axis == 1 { (hh * a + t) * b + c } else { (hh * a + c) * b + t };
                let src = idx[pos] as usize;
                let (row, col) = (src / c_base, src % c_base);
                if t == 0 {
                    cols[hh * d + c] = col;
                }
                if row != t || col != cols[hh * d + c] {
                    return Err(format!(
                        "element (head {hh}, token {t}, {c}) comes from token {row}, column {col}: not a head split"
                    ));
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

/// Tries to match the attention block around Softmax node `sm`.
pub fn match_at(view: &View, sm: usize) -> Result<Option<MhaMatch>, String> {
    let n = view.node(sm);
    let Op::Softmax { axis, .. } = n.op else { return Ok(None) };
    let rank = view.shape(&n.inputs[0]).len() as i64;
    if (if axis < 0 { axis + rank } else { axis }) != rank - 1 {
        return Ok(None);
    }
    let mut claimed = vec![sm];
    // Logit scaling between the score MatMul and the softmax.
    let mut scale = 1.0f64;
    let mut v = n.inputs[0].clone();
    let mm1 = loop {
        let Some(i) = view.producer(&v) else { return Ok(None) };
        if let Some((f, x)) = view.scalar_factor(i) {
            scale *= f;
            claimed.push(i);
            v = x.to_string();
        } else if matches!(view.node(i).op, Op::MatMul) {
            break i;
        } else {
            return Ok(None);
        }
    };
    claimed.push(mm1);
    let qc = trace_back(view, view.node(mm1).inputs[0].clone());
    let kc = trace_back(view, view.node(mm1).inputs[1].clone());
    let (Some(lq), Some(lk)) = (linear_at(view, &qc.base), linear_at(view, &kc.base)) else {
        return Ok(None);
    };
    // The value product: softmax output times V.
    let sm_out = &n.outputs[0];
    let [mm2] = view.users(sm_out) else { return Ok(None) };
    let mm2 = *mm2;
    if !matches!(view.node(mm2).op, Op::MatMul) || view.node(mm2).inputs[0] != *sm_out {
        return Ok(None);
    }
    claimed.push(mm2);
    let vc = trace_back(view, view.node(mm2).inputs[1].clone());
    let Some(lv) = linear_at(view, &vc.base) else { return Ok(None) };
    if vc.sign || vc.pre != 1.0 {
        return Err("the value path has a Sign or a scale; only Q and K may be binarized".into());
    }
    if lq.input != lk.input || lq.input != lv.input {
        return Err(
            "Q, K and V are projected from different tensors (cross-attention is not supported)"
                .into(),
        );
    }
    // Head split checks and canonical column orders.
    let base_cols = |b: &str| strip(view.shape(b)).last().copied().unwrap_or(0);
    let qi = view.index_map(&qc.base, &qc.moves)?;
    let (hq, dk, cq) = head_columns(&qi.data, &squeeze_front(&qi.shape), base_cols(&qc.base), 1)
        .map_err(|e| format!("query path: {e}"))?;
    let ki = view.index_map(&kc.base, &kc.moves)?;
    let (hk, dk2, ck) = head_columns(&ki.data, &squeeze_front(&ki.shape), base_cols(&kc.base), 2)
        .map_err(|e| format!("key path: {e}"))?;
    let vi = view.index_map(&vc.base, &vc.moves)?;
    let (hv, dv, cv) = head_columns(&vi.data, &squeeze_front(&vi.shape), base_cols(&vc.base), 1)
        .map_err(|e| format!("value path: {e}"))?;
    if hq != hk || hq != hv || dk != dk2 {
        return Err(format!("heads disagree: Q {hq}x{dk}, K {hk}x{dk2}, V {hv}x{dv}"));
    }
    let heads = hq;
    let s = strip(view.shape(&lq.input)).first().copied().unwrap_or(0);
    // Head merge after the value product, then the output projection.
    let o_val = view.node(mm2).outputs[0].clone();
    let mut moves = Vec::new();
    let mut cur = o_val.clone();
    loop {
        let us = view.users(&cur);
        match us {
            [u] if view.is_movement(*u) && view.node(*u).inputs[0] == cur => {
                let node = view.node(*u);
                let pos = 0;
                moves.push((*u, pos));
                claimed.push(*u);
                cur = node.outputs[pos].clone();
            }
            _ => break,
        }
    }
    let oi = view.index_map(&o_val, &moves)?;
    let merged = squeeze_front(&oi.shape);
    let [s2, m] = merged[..] else {
        return Err(format!(
            "the merged heads have shape {:?}, expected [tokens, heads*d_v]",
            oi.shape
        ));
    };
    if s2 != s || m != heads * dv {
        return Err(format!(
            "the merged heads have shape {merged:?}, expected [{s}, {}]",
            heads * dv
        ));
    }
    // Om[t, col] = O[h, t, c]: find (h, c) of each column.
    let mut hc_of_col = vec![(0usize, 0usize); m];
    for t in 0..s {
        for (col, slot) in hc_of_col.iter_mut().enumerate() {
            let src = oi.data[t * m + col] as usize;
            let (h, rest) = (src / (s * dv), src % (s * dv));
            let (tt, c) = (rest / dv, rest % dv);
            if tt != t {
                return Err(format!(
                    "merged column {col} of token {t} reads token {tt}: not a head merge"
                ));
            }
            if t == 0 {
                *slot = (h, c);
            } else if *slot != (h, c) {
                return Err("the head merge is not the same for every token".into());
            }
        }
    }
    let [proj] = view.users(&cur) else {
        return Err(
            "the merged heads feed more than one node (expected the output projection)".into()
        );
    };
    let (out_lin, y) = {
        let pn = view.node(*proj);
        let mm_out = &pn.outputs[0];
        // The projection is the Linear whose result is `y`: MatMul [+ Add] or Gemm.
        let add = match view.users(mm_out) {
            [a] if matches!(view.node(*a).op, Op::Add) && matches!(pn.op, Op::MatMul) => {
                let an = view.node(*a);
                let other = if an.inputs[0] == *mm_out { &an.inputs[1] } else { &an.inputs[0] };
                view.constant(other).is_some().then_some(*a)
            }
            _ => None,
        };
        let y = match add {
            Some(a) => view.node(a).outputs[0].clone(),
            None => mm_out.clone(),
        };
        let l =
            linear_at(view, &y).ok_or("the merged heads do not feed a linear output projection")?;
        (l, y)
    };
    if out_lin.lin.inputs != m {
        return Err(format!(
            "output projection reads {} values, heads give {m}",
            out_lin.lin.inputs
        ));
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
                return Err("a non-positive factor before Sign flips the binarization".into());
            }
            if qc.post <= 0.0 || kc.post <= 0.0 {
                return Err("the scale after Sign must be positive (it is HAD's sigma)".into());
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
        _ => return Err("only one of Q and K passes through Sign; HAD binarizes both".into()),
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
        for o in &view.node(i).outputs {
            if *o == y {
                continue;
            }
            let outside = view.users(o).iter().any(|u| !claimed.contains(u))
                || view.m.outputs.iter().any(|g| g.name == *o);
            if outside {
                return Err(format!(
                    "intermediate value `{o}` is also used outside the attention block"
                ));
            }
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
    op.validate()?;
    Ok(Some(MhaMatch { op, input: lq.input, output: y, claimed }))
}
