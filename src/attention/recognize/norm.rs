//! Recognising LayerNorm and GELU in the model-level graph.
//!
//! - The opset < 17 LayerNorm decomposition
//!   `(x - mean(x)) / sqrt(mean((x - mean(x))^2) + eps) * gamma + beta` built from
//!   `reduce_mean`, `sub`, `pow`, `add`, `sqrt`, `div`, `mul` and `add` (anchored on the
//!   final add). A `LayerNormalization` node imports as `layer_norm`
//!   directly.
//! - The erf form of GELU PyTorch exports, `x * (erf(x / sqrt 2) + 1) * 0.5` in either
//!   association of the two `mul`s, with `x / sqrt 2` written as a `div` or a `mul` by
//!   `1/sqrt 2` (anchored on the `erf`), and its tanh approximation
//!   `x * (tanh(sqrt(2/pi) * (x + 0.044715 x^3)) + 1) * 0.5` (anchored on the `tanh`). A
//!   `Gelu` node imports as `gelu` directly.

use super::Found;
use crate::ir::nn::LayerNormOp;
use crate::ir::{Graph, NodeId, Op};
use crate::passes::pattern::{scalar, scalar_factor, vector};

/// `v` when its op is what `want` accepts.
fn producer(g: &Graph, v: NodeId, want: fn(&Op) -> bool) -> Option<NodeId> {
    want(g.op(v)).then_some(v)
}

/// The constant operand of binary node `n` and the other one: `(other, constant)`.
fn split_const(g: &Graph, n: NodeId) -> Option<(NodeId, NodeId)> {
    let ops = g.operands(n);
    let is_const = |x: NodeId| matches!(g.op(x), Op::Constant(_));
    match (is_const(ops[0]), is_const(ops[1])) {
        (_, true) => Some((ops[0], ops[1])),
        (true, false) => Some((ops[1], ops[0])),
        _ => None,
    }
}

/// `reduce_mean(x)` over the last axis with kept dims: returns x.
fn mean_of(g: &Graph, v: NodeId) -> Option<NodeId> {
    let Op::ReduceMean { axes, keepdims: true } = g.op(v) else { return None };
    let x = g.operands(v)[0];
    (axes[..] == [g.ty(x).rank().checked_sub(1)?]).then_some(x)
}

/// The decomposed LayerNorm whose final `add(…, beta)` is node `i`.
pub fn layer_norm_decomposed(g: &Graph, i: NodeId) -> Option<Found> {
    if !matches!(g.op(i), Op::Add) {
        return None;
    }
    let (scaled, beta_v) = split_const(g, i)?;
    let mul = producer(g, scaled, |o| matches!(o, Op::Mul))?;
    let (normed, gamma_v) = split_const(g, mul)?;
    let div = producer(g, normed, |o| matches!(o, Op::Div))?;
    let [centred, std] = g.operands(div)[..] else { return None };
    let sub = producer(g, centred, |o| matches!(o, Op::Sub))?;
    let [x, m1] = g.operands(sub)[..] else { return None };
    if mean_of(g, m1)? != x {
        return None;
    }
    let sqrt = producer(g, std, |o| matches!(o, Op::Sqrt))?;
    let adde = producer(g, g.operands(sqrt)[0], |o| matches!(o, Op::Add))?;
    let (var_v, eps_v) = split_const(g, adde)?;
    let eps = scalar(g, eps_v)?;
    let m2 = var_v; // the variance: the mean of the squared deviations
    let pow = producer(g, mean_of(g, m2)?, |o| matches!(o, Op::Pow))?;
    let [base, two] = g.operands(pow)[..] else { return None };
    if scalar(g, two) != Some(2.0) || base != sub {
        return None;
    }
    let d = *g.ty(x).shape.last()?;
    let gamma = vector(g, gamma_v, d)?;
    let beta = vector(g, beta_v, d)?;
    Some(Found {
        op: Op::LayerNorm(LayerNormOp { eps, gamma, beta }.into()),
        input: x,
        output: i,
        claimed: vec![i, mul, div, sub, m1, sqrt, adde, m2, pow],
    })
}

fn close(a: f32, b: f64) -> bool {
    (f64::from(a) - b).abs() <= 1e-6 * b.abs().max(1.0)
}

/// The single user of `v`, if it has exactly one.
fn only_user(g: &Graph, v: NodeId) -> Option<NodeId> {
    match g.users(v)[..] {
        [(u, _)] => Some(u),
        _ => None,
    }
}

/// The erf-form GELU around `erf` node `erf_i`.
pub fn gelu_erf(g: &Graph, erf_i: NodeId) -> Option<Found> {
    if !matches!(g.op(erf_i), Op::Erf) {
        return None;
    }
    // erf input: x / sqrt(2) or x * (1/sqrt(2)).
    let scale_i = g.operands(erf_i)[0];
    let (f, x) = scalar_factor(g, scale_i)?;
    if (f - std::f64::consts::FRAC_1_SQRT_2).abs() > 1e-6 {
        return None;
    }
    let (tail, out_i) = gelu_tail(g, erf_i, x)?;
    Some(found(Op::Gelu { tanh: false }, x, out_i, [scale_i, erf_i].into_iter().chain(tail)))
}

/// The tanh-form GELU around `tanh` node `tanh_i`:
/// `x * (tanh(sqrt(2/pi) * (x + 0.044715 * x^3)) + 1) * 0.5`, the cube written as `pow(x, 3)`
/// or as products of `x`, in the muls' either association (what PyTorch exports for
/// `approximate = "tanh"` below opset 20, and what hand-written "new GELU" modules compute).
pub fn gelu_tanh(g: &Graph, tanh_i: NodeId) -> Option<Found> {
    if !matches!(g.op(tanh_i), Op::Tanh) {
        return None;
    }
    let scale_i = g.operands(tanh_i)[0];
    let (f, inner) = scalar_factor(g, scale_i)?;
    if (f - (2.0 / std::f64::consts::PI).sqrt()).abs() > 1e-6 || !matches!(g.op(inner), Op::Add) {
        return None;
    }
    // inner = x + 0.044715 * cube(x), in either order.
    let [p, q] = g.operands(inner)[..] else { return None };
    let (x, cubic, kappa) = [(p, q), (q, p)].into_iter().find_map(|(x, k)| {
        let (c, cube) = scalar_factor(g, k)?;
        let nodes = cube_of(g, cube, x)?;
        ((c - 0.044715).abs() <= 1e-7).then_some((x, nodes, k))
    })?;
    let (tail, out_i) = gelu_tail(g, tanh_i, x)?;
    let nodes = [scale_i, inner, kappa, tanh_i].into_iter().chain(cubic).chain(tail);
    Some(found(Op::Gelu { tanh: true }, x, out_i, nodes))
}

/// The nodes computing `x^3` at `v`: `pow(x, 3)`, `x * (x * x)` or `(x * x) * x`.
fn cube_of(g: &Graph, v: NodeId, x: NodeId) -> Option<Vec<NodeId>> {
    let ops = g.operands(v);
    match g.op(v) {
        Op::Pow if ops[0] == x && scalar(g, ops[1]) == Some(3.0) => Some(vec![v]),
        Op::Mul => {
            let sq = match (ops[0] == x, ops[1] == x) {
                (true, _) => ops[1],
                (_, true) => ops[0],
                _ => return None,
            };
            let s = g.operands(sq);
            (matches!(g.op(sq), Op::Mul) && s[0] == x && s[1] == x).then(|| vec![v, sq])
        }
        _ => None,
    }
}

/// GELU's common tail after `core` (the erf or the tanh) of `x`: `core + 1`, then two muls
/// combining `x`, `(core + 1)` and 0.5 in either association. Returns its nodes and the
/// result.
fn gelu_tail(g: &Graph, core: NodeId, x: NodeId) -> Option<(Vec<NodeId>, NodeId)> {
    let add_i = only_user(g, core)?;
    if !matches!(g.op(add_i), Op::Add) {
        return None;
    }
    let ops = g.operands(add_i);
    let other = if ops[0] == core { ops[1] } else { ops[0] };
    if !scalar(g, other).is_some_and(|c| close(c, 1.0)) {
        return None;
    }
    let m1_i = only_user(g, add_i)?;
    if !matches!(g.op(m1_i), Op::Mul) {
        return None;
    }
    let ops = g.operands(m1_i);
    let m1_other = if ops[0] == add_i { ops[1] } else { ops[0] };
    if m1_other == x {
        // (x * (core + 1)) * 0.5
        let m2_i = only_user(g, m1_i)?;
        let (f, _) = scalar_factor(g, m2_i)?;
        if !matches!(g.op(m2_i), Op::Mul) || (f - 0.5).abs() > 1e-7 {
            return None;
        }
        Some((vec![add_i, m1_i, m2_i], m2_i))
    } else {
        // (x * 0.5) * (core + 1)
        let (f, hx) = scalar_factor(g, m1_other)?;
        if hx != x || (f - 0.5).abs() > 1e-7 {
            return None;
        }
        Some((vec![add_i, m1_i, m1_other], m1_i))
    }
}

fn found(op: Op, input: NodeId, output: NodeId, nodes: impl Iterator<Item = NodeId>) -> Found {
    let mut claimed: Vec<NodeId> = nodes.collect();
    claimed.sort_unstable();
    claimed.dedup();
    Found { op, input, output, claimed }
}
