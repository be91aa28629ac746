//! The float reference: evaluates an [`OnnxModel`] on one sample with the ONNX operator
//! semantics, in `f32` storage with `f64` accumulation for dot products. It is the oracle the
//! quantized and crossbar paths are compared against, and is itself checked against
//! onnxruntime's outputs stored beside every example.

use super::model::{Node, OnnxModel, Op};
use super::shape::{broadcast, norm_axis};
use std::collections::BTreeMap;

/// A dense float tensor during evaluation.
#[derive(Clone, Debug, PartialEq)]
pub struct Value {
    pub shape: Vec<usize>,
    pub data: Vec<f32>,
}

/// Evaluates the model on one sample per graph input (each a flat row-major vector matching
/// the input's static shape) and returns every graph output flattened.
pub fn evaluate(model: &OnnxModel, inputs: &[&[f32]]) -> Result<Vec<Vec<f32>>, String> {
    let vals = evaluate_all(model, inputs)?;
    model
        .outputs
        .iter()
        .map(|o| {
            vals.get(&o.name)
                .map(|v| v.data.clone())
                .ok_or_else(|| format!("output `{}` not computed", o.name))
        })
        .collect()
}

/// Evaluates the model and returns every value by name (used to calibrate activation ranges).
pub fn evaluate_all(
    model: &OnnxModel,
    inputs: &[&[f32]],
) -> Result<BTreeMap<String, Value>, String> {
    if inputs.len() != model.inputs.len() {
        return Err(format!(
            "the model has {} input(s), {} given",
            model.inputs.len(),
            inputs.len()
        ));
    }
    let mut vals: BTreeMap<String, Value> = BTreeMap::new();
    for (d, x) in model.inputs.iter().zip(inputs) {
        let n: usize = d.shape.iter().product();
        if x.len() != n {
            return Err(format!(
                "input `{}` needs {n} values (shape {:?}), got {}",
                d.name,
                d.shape,
                x.len()
            ));
        }
        vals.insert(d.name.clone(), Value { shape: d.shape.clone(), data: x.to_vec() });
    }
    for (k, t) in &model.constants {
        vals.insert(k.clone(), Value { shape: t.shape.clone(), data: t.to_f32() });
    }
    for n in &model.nodes {
        if n.op == Op::Constant {
            continue;
        }
        for (o, v) in n.outputs.iter().zip(eval_node_outputs(model, n, &vals)?) {
            vals.insert(o.clone(), v);
        }
    }
    Ok(vals)
}

/// Evaluates one node given the values computed so far; one value per node output.
pub fn eval_node_outputs(
    model: &OnnxModel,
    n: &Node,
    vals: &BTreeMap<String, Value>,
) -> Result<Vec<Value>, String> {
    if let Op::Ext(e) = &n.op {
        let args: Vec<Option<&Value>> =
            n.inputs.iter().map(|s| if s.is_empty() { None } else { vals.get(s) }).collect();
        let shapes: Vec<Vec<usize>> =
            n.outputs.iter().map(|o| model.shapes.get(o).cloned().unwrap_or_default()).collect();
        return super::ops_ext::eval(e, n, &args, &shapes, &model.constants)
            .map_err(|m| format!("node `{}` ({}): {m}", n.name, e.op_type()));
    }
    Ok(vec![eval_node(n, vals, &model.shapes)?])
}

fn eval_node(
    n: &Node,
    vals: &BTreeMap<String, Value>,
    shapes: &BTreeMap<String, Vec<usize>>,
) -> Result<Value, String> {
    let arg = |i: usize| -> Result<&Value, String> {
        n.inputs
            .get(i)
            .filter(|s| !s.is_empty())
            .and_then(|s| vals.get(s))
            .ok_or_else(|| format!("node `{}`: input {i} missing", n.name))
    };
    let out_shape = shapes.get(&n.outputs[0]).cloned().unwrap_or_default();
    let x = arg(0)?;
    let map = |f: &dyn Fn(f32) -> f32| Value {
        shape: x.shape.clone(),
        data: x.data.iter().map(|v| f(*v)).collect(),
    };
    Ok(match &n.op {
        Op::Gemm { alpha, beta, trans_a, trans_b } => {
            let b = arg(1)?;
            let (m, k) = if *trans_a { (x.shape[1], x.shape[0]) } else { (x.shape[0], x.shape[1]) };
            let nn = if *trans_b { b.shape[0] } else { b.shape[1] };
            let at = |i: usize, p: usize| {
                if *trans_a {
                    x.data[p * m + i]
                } else {
                    x.data[i * k + p]
                }
            };
            let bt = |p: usize, j: usize| {
                if *trans_b {
                    b.data[j * k + p]
                } else {
                    b.data[p * nn + j]
                }
            };
            let c = match n.inputs.get(2).filter(|s| !s.is_empty()) {
                Some(_) => Some(broadcast_to(arg(2)?, &[m, nn])),
                None => None,
            };
            let mut data = vec![0f32; m * nn];
            for i in 0..m {
                for j in 0..nn {
                    let mut acc = 0f64;
                    for p in 0..k {
                        acc += at(i, p) as f64 * bt(p, j) as f64;
                    }
                    let mut y = *alpha * acc as f32;
                    if let Some(c) = &c {
                        y += *beta * c[i * nn + j];
                    }
                    data[i * nn + j] = y;
                }
            }
            Value { shape: vec![m, nn], data }
        }
        Op::MatMul if x.shape.len() < 2 || arg(1)?.shape.len() != 2 => {
            super::ops_ext::matmul(x, arg(1)?)?
        }
        Op::MatMul => {
            let b = arg(1)?;
            let (k, nn) = (b.shape[0], b.shape[1]);
            let rows = x.data.len() / k;
            let mut data = vec![0f32; rows * nn];
            for r in 0..rows {
                for j in 0..nn {
                    let mut acc = 0f64;
                    for p in 0..k {
                        acc += x.data[r * k + p] as f64 * b.data[p * nn + j] as f64;
                    }
                    data[r * nn + j] = acc as f32;
                }
            }
            Value { shape: out_shape, data }
        }
        Op::Add => {
            let b = arg(1)?;
            let s = broadcast(&x.shape, &b.shape).ok_or("shapes do not broadcast")?;
            let (xa, xb) = (broadcast_to(x, &s), broadcast_to(b, &s));
            Value { shape: s, data: xa.iter().zip(&xb).map(|(p, q)| p + q).collect() }
        }
        Op::Relu => map(&|v| v.max(0.0)),
        Op::Sigmoid => map(&|v| (1.0 / (1.0 + (-(v as f64)).exp())) as f32),
        Op::Tanh => map(&|v| v.tanh()),
        Op::Identity | Op::Flatten { .. } | Op::Reshape { .. } => {
            Value { shape: out_shape, data: x.data.clone() }
        }
        Op::Softmax { axis, legacy } => softmax(x, *axis, *legacy)?,
        Op::Constant => return Err("constant evaluated as a node".into()),
        Op::Ext(_) => return Err("extension ops are evaluated by evaluate_all".into()),
        Op::Quant { signed, narrow, rounding } => {
            let s = broadcast_to(arg(1)?, &x.shape);
            let z = broadcast_to(arg(2)?, &x.shape);
            let bits = arg(3)?.data[0];
            let (lo, hi) = quant_range(*signed, *narrow, bits);
            let data = x
                .data
                .iter()
                .zip(s.iter().zip(&z))
                .map(|(v, (s, z))| {
                    let y = v / s + z;
                    let q = if bits == 1.0 && *signed {
                        if y >= 0.0 {
                            1.0
                        } else {
                            -1.0
                        }
                    } else {
                        rounding.apply(y.clamp(lo, hi))
                    };
                    (q - z) * s
                })
                .collect();
            Value { shape: x.shape.clone(), data }
        }
    })
}

pub use crate::ir::nn::quant_range;

/// Expands `v` to `shape` by numpy broadcasting (the caller checked compatibility).
fn broadcast_to(v: &Value, shape: &[usize]) -> Vec<f32> {
    if v.shape == shape {
        return v.data.clone();
    }
    let r = shape.len();
    let pad = r - v.shape.len();
    let vs: Vec<usize> = std::iter::repeat_n(1, pad).chain(v.shape.iter().copied()).collect();
    let total: usize = shape.iter().product();
    let mut out = Vec::with_capacity(total);
    for flat in 0..total {
        let mut rem = flat;
        let mut src = 0usize;
        let mut stride = 1usize;
        let mut idx = vec![0usize; r];
        for d in (0..r).rev() {
            idx[d] = rem % shape[d];
            rem /= shape[d];
        }
        for d in (0..r).rev() {
            let i = if vs[d] == 1 { 0 } else { idx[d] };
            src += i * stride;
            stride *= vs[d];
        }
        out.push(v.data[src]);
    }
    out
}

fn softmax(x: &Value, axis: i64, legacy: bool) -> Result<Value, String> {
    let r = x.shape.len();
    let ax = norm_axis(axis, r, false).ok_or("softmax axis out of range")?;
    // Softmax over index groups: `outer` blocks, each with `len` elements `stride` apart.
    let (outer, len, inner) = if legacy {
        (x.shape[..ax].iter().product::<usize>(), x.shape[ax..].iter().product::<usize>(), 1)
    } else {
        (x.shape[..ax].iter().product(), x.shape[ax], x.shape[ax + 1..].iter().product::<usize>())
    };
    let mut data = x.data.clone();
    for o in 0..outer {
        for i in 0..inner {
            let at = |j: usize| o * len * inner + j * inner + i;
            let m = (0..len).map(|j| x.data[at(j)]).fold(f32::NEG_INFINITY, f32::max);
            let sum: f64 = (0..len).map(|j| ((x.data[at(j)] - m) as f64).exp()).sum();
            for j in 0..len {
                data[at(j)] = (((x.data[at(j)] - m) as f64).exp() / sum) as f32;
            }
        }
    }
    Ok(Value { shape: x.shape.clone(), data })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn broadcast_expands_rows_and_columns() {
        let v = Value { shape: vec![3], data: vec![1.0, 2.0, 3.0] };
        assert_eq!(broadcast_to(&v, &[2, 3]), vec![1.0, 2.0, 3.0, 1.0, 2.0, 3.0]);
        let c = Value { shape: vec![2, 1], data: vec![5.0, 7.0] };
        assert_eq!(broadcast_to(&c, &[2, 2]), vec![5.0, 5.0, 7.0, 7.0]);
    }

    #[test]
    fn softmax_by_hand() {
        // softmax([0, ln 3]) = [1/4, 3/4].
        let v = Value { shape: vec![1, 2], data: vec![0.0, 3f32.ln()] };
        let s = softmax(&v, -1, false).unwrap();
        assert!((s.data[0] - 0.25).abs() < 1e-7 && (s.data[1] - 0.75).abs() < 1e-7);
        // Axis 0 of a 2x1 tensor normalises down the column.
        let v = Value { shape: vec![2, 1], data: vec![0.0, 0.0] };
        assert_eq!(softmax(&v, 0, false).unwrap().data, vec![0.5, 0.5]);
    }

    #[test]
    fn quant_ranges_match_qonnx_docstrings() {
        // qonnx intquant.py docstrings: min_int/max_int for 8 bits.
        assert_eq!(quant_range(true, true, 8.0), (-127.0, 127.0));
        assert_eq!(quant_range(true, false, 8.0), (-128.0, 127.0));
        assert_eq!(quant_range(false, true, 8.0), (0.0, 254.0));
        assert_eq!(quant_range(false, false, 8.0), (0.0, 255.0));
    }
}
