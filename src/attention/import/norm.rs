//! Recognising LayerNorm and GELU.
//!
//! - `LayerNormalization` over the last axis with constant scale and bias, or its opset < 17
//!   decomposition `(x - mean(x)) / sqrt(mean((x - mean(x))^2) + eps) * gamma + beta` built
//!   from ReduceMean, Sub, Pow, Add, Sqrt, Div, Mul and Add.
//! - `Gelu` (opset 20), or the erf form PyTorch exports,
//!   `x * (erf(x / sqrt 2) + 1) * 0.5` in any association of the two Muls, with `x / sqrt 2`
//!   written as a Div or a Mul by `1/sqrt 2`.

use crate::attention::ir::LayerNormOp;
use crate::frontend::onnx::model::Op;
use crate::frontend::onnx::ops_ext::ExtOp;
use crate::frontend::onnx::view::View;

/// A recognised normalisation or activation: its op, input, output and replaced nodes.
#[derive(Clone, Debug)]
pub struct Unary {
    pub op: crate::ir::Op,
    pub input: String,
    pub output: String,
    pub claimed: Vec<usize>,
}

fn last_axis(axis: i64, rank: usize) -> bool {
    let r = rank as i64;
    (if axis < 0 { axis + r } else { axis }) == r - 1
}

fn vector(view: &View, v: &str, d: usize) -> Option<Vec<f32>> {
    let t = view.constant(v)?;
    (t.len() == d && t.shape.iter().rev().skip(1).all(|&x| x == 1)).then(|| t.to_f32())
}

/// `LayerNormalization` node `i`.
pub fn layer_norm_node(view: &View, i: usize) -> Result<Option<Unary>, String> {
    let n = view.node(i);
    let Op::Ext(ExtOp::LayerNormalization { axis, epsilon }) = n.op else { return Ok(None) };
    let shape = view.shape(&n.inputs[0]);
    if !last_axis(axis, shape.len()) {
        return Err(format!("normalises from axis {axis}; only the last axis is supported"));
    }
    let d = *shape.last().unwrap_or(&0);
    let gamma = vector(view, &n.inputs[1], d).ok_or("the scale must be a constant vector")?;
    let beta = match n.inputs.get(2).filter(|s| !s.is_empty()) {
        Some(b) => vector(view, b, d).ok_or("the bias must be a constant vector")?,
        None => vec![0.0; d],
    };
    Ok(Some(Unary {
        op: crate::ir::Op::LayerNorm(LayerNormOp { eps: epsilon, gamma, beta }.into()),
        input: n.inputs[0].clone(),
        output: n.outputs[0].clone(),
        claimed: vec![i],
    }))
}

/// The node computing `v` if it has op `want` (by op type), with its index.
fn prod<'a>(
    view: &View<'a>,
    v: &str,
    want: &str,
) -> Option<(usize, &'a crate::frontend::onnx::Node)> {
    let i = view.producer(v)?;
    let n = view.node(i);
    (n.op.op_type() == want).then_some((i, n))
}

/// `ReduceMean(x)` over the last axis with kept dims: returns x.
fn mean_of<'a>(view: &View<'a>, v: &str) -> Option<(usize, &'a str)> {
    let (i, n) = prod(view, v, "ReduceMean")?;
    let Op::Ext(ExtOp::ReduceMean { axes, keepdims: true, .. }) = &n.op else { return None };
    let rank = view.shape(&n.inputs[0]).len();
    let axes = match axes {
        Some(a) => a.clone(),
        None => view.constant(n.inputs.get(1)?)?.as_i64()?.to_vec(),
    };
    (axes.len() == 1 && last_axis(axes[0], rank)).then_some((i, n.inputs[0].as_str()))
}

/// The decomposed LayerNorm whose final `Add(…, beta)` is node `i`.
pub fn layer_norm_decomposed(view: &View, i: usize) -> Option<Unary> {
    let add_b = view.node(i);
    if add_b.op != Op::Add {
        return None;
    }
    let pick = |n: &crate::frontend::onnx::Node| -> Option<(String, String)> {
        if view.constant(&n.inputs[1]).is_some() {
            Some((n.inputs[0].clone(), n.inputs[1].clone()))
        } else if view.constant(&n.inputs[0]).is_some() {
            Some((n.inputs[1].clone(), n.inputs[0].clone()))
        } else {
            None
        }
    };
    let (scaled, beta_v) = pick(add_b)?;
    let (mul_i, mul) = prod(view, &scaled, "Mul")?;
    let (normed, gamma_v) = pick(mul)?;
    let (div_i, div) = prod(view, &normed, "Div")?;
    let (sub_i, sub) = prod(view, &div.inputs[0], "Sub")?;
    let (m1_i, x) = mean_of(view, &sub.inputs[1])?;
    if sub.inputs[0] != x {
        return None;
    }
    let (sqrt_i, sqrt) = prod(view, &div.inputs[1], "Sqrt")?;
    let (adde_i, adde) = prod(view, &sqrt.inputs[0], "Add")?;
    let (var_v, eps_v) = pick(adde)?;
    let eps = view.scalar(&eps_v)?;
    let (m2_i, sq) = mean_of(view, &var_v)?;
    let (pow_i, pow) = prod(view, sq, "Pow")?;
    if view.scalar(&pow.inputs[1]) != Some(2.0) || pow.inputs[0] != sub.outputs[0] {
        return None;
    }
    let d = *view.shape(x).last()?;
    let gamma = vector(view, &gamma_v, d)?;
    let beta = vector(view, &beta_v, d)?;
    let claimed = vec![i, mul_i, div_i, sub_i, m1_i, sqrt_i, adde_i, m2_i, pow_i];
    Some(Unary {
        op: crate::ir::Op::LayerNorm(LayerNormOp { eps, gamma, beta }.into()),
        input: x.to_string(),
        output: add_b.outputs[0].clone(),
        claimed,
    })
}

/// `Gelu` node `i`.
pub fn gelu_node(view: &View, i: usize) -> Option<Unary> {
    let n = view.node(i);
    let Op::Ext(ExtOp::Gelu { tanh }) = n.op else { return None };
    Some(Unary {
        op: crate::ir::Op::Gelu { tanh },
        input: n.inputs[0].clone(),
        output: n.outputs[0].clone(),
        claimed: vec![i],
    })
}

fn close(a: f32, b: f64) -> bool {
    (f64::from(a) - b).abs() <= 1e-6 * b.abs().max(1.0)
}

/// The erf-form GELU around `Erf` node `erf_i`.
pub fn gelu_erf(view: &View, erf_i: usize) -> Option<Unary> {
    let erf = view.node(erf_i);
    if !matches!(erf.op, Op::Ext(ExtOp::Erf)) {
        return None;
    }
    // erf input: x / sqrt(2) or x * (1/sqrt(2)).
    let (scale_i, x) = {
        let i = view.producer(&erf.inputs[0])?;
        let (f, x) = view.scalar_factor(i)?;
        if (f - std::f64::consts::FRAC_1_SQRT_2).abs() > 1e-6 {
            return None;
        }
        (i, x.to_string())
    };
    // erf + 1
    let [add_i] = view.users(&erf.outputs[0]) else { return None };
    let add = view.node(*add_i);
    if add.op != Op::Add {
        return None;
    }
    let other = if add.inputs[0] == erf.outputs[0] { &add.inputs[1] } else { &add.inputs[0] };
    if !view.scalar(other).is_some_and(|c| close(c, 1.0)) {
        return None;
    }
    // Two Muls combine x, (erf + 1) and 0.5, in either association.
    let [m1_i] = view.users(&add.outputs[0]) else { return None };
    let m1 = view.node(*m1_i);
    if !matches!(m1.op, Op::Ext(ExtOp::Mul)) {
        return None;
    }
    let m1_other = if m1.inputs[0] == add.outputs[0] { &m1.inputs[1] } else { &m1.inputs[0] };
    let (half_x_i, out_i) = if *m1_other == x {
        // (x * (erf + 1)) * 0.5
        let [m2_i] = view.users(&m1.outputs[0]) else { return None };
        let m2 = view.node(*m2_i);
        let (f, _) = view.scalar_factor(*m2_i)?;
        if !matches!(m2.op, Op::Ext(ExtOp::Mul)) || (f - 0.5).abs() > 1e-7 {
            return None;
        }
        (None, *m2_i)
    } else {
        // (x * 0.5) * (erf + 1)
        let hi = view.producer(m1_other)?;
        let (f, hx) = view.scalar_factor(hi)?;
        if hx != x || (f - 0.5).abs() > 1e-7 {
            return None;
        }
        (Some(hi), *m1_i)
    };
    let mut claimed = vec![scale_i, erf_i, *add_i, *m1_i, out_i];
    claimed.extend(half_x_i);
    claimed.sort_unstable();
    claimed.dedup();
    Some(Unary {
        op: crate::ir::Op::Gelu { tanh: false },
        input: x,
        output: view.node(out_i).outputs[0].clone(),
        claimed,
    })
}
