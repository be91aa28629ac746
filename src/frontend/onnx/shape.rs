//! Static shape inference for the supported operators, following the ONNX operator
//! specification (numpy broadcasting for `Add`, unidirectional broadcasting of Gemm's `C`).

use super::model::{Node, Op};
use super::tensor::Tensor;
use std::collections::BTreeMap;

/// Numpy (multidirectional) broadcasting of two shapes.
pub fn broadcast(a: &[usize], b: &[usize]) -> Option<Vec<usize>> {
    let r = a.len().max(b.len());
    let mut out = vec![0; r];
    for i in 0..r {
        let da = if i + a.len() >= r { a[i + a.len() - r] } else { 1 };
        let db = if i + b.len() >= r { b[i + b.len() - r] } else { 1 };
        out[i] = match (da, db) {
            (x, y) if x == y => x,
            (1, y) => y,
            (x, 1) => x,
            _ => return None,
        };
    }
    Some(out)
}

/// Normalises a possibly negative axis against a rank; `inclusive` allows `axis == rank`.
pub fn norm_axis(axis: i64, rank: usize, inclusive: bool) -> Option<usize> {
    let r = rank as i64;
    let a = if axis < 0 { axis + r } else { axis };
    let hi = if inclusive { r } else { r - 1 };
    (0..=hi).contains(&a).then_some(a as usize)
}

/// Output shapes of one node from its input shapes (`None` for omitted optional inputs).
pub(super) fn infer_node(
    n: &Node,
    ins: &[Option<&[usize]>],
    constants: &BTreeMap<String, Tensor>,
) -> Result<Vec<Vec<usize>>, String> {
    let get = |i: usize| -> Result<&[usize], String> {
        ins.get(i).copied().flatten().ok_or_else(|| format!("input {i} has no known shape"))
    };
    let out = match &n.op {
        Op::Gemm { trans_a, trans_b, .. } => {
            let (a, b) = (get(0)?, get(1)?);
            if a.len() != 2 || b.len() != 2 {
                return Err(format!("Gemm needs 2-D A and B, got shapes {a:?} and {b:?}"));
            }
            let (m, k) = if *trans_a { (a[1], a[0]) } else { (a[0], a[1]) };
            let (k2, nn) = if *trans_b { (b[1], b[0]) } else { (b[0], b[1]) };
            if k != k2 {
                return Err(format!("inner dimensions differ: A' is {m}x{k}, B' is {k2}x{nn}"));
            }
            if let Some(Some(c)) = ins.get(2) {
                if broadcast(c, &[m, nn]).as_deref() != Some(&[m, nn][..]) {
                    return Err(format!("C of shape {c:?} does not broadcast to [{m}, {nn}]"));
                }
            }
            vec![m, nn]
        }
        Op::MatMul => {
            let (a, b) = (get(0)?, get(1)?);
            super::ops_ext::matmul_shape(a, b)?
        }
        Op::Add => {
            let (a, b) = (get(0)?, get(1)?);
            broadcast(a, b).ok_or_else(|| format!("shapes {a:?} and {b:?} do not broadcast"))?
        }
        Op::Relu | Op::Sigmoid | Op::Tanh | Op::Identity => get(0)?.to_vec(),
        Op::Softmax { axis, .. } => {
            let a = get(0)?;
            norm_axis(*axis, a.len(), false)
                .ok_or_else(|| format!("axis {axis} is out of range for rank {}", a.len()))?;
            a.to_vec()
        }
        Op::Flatten { axis } => {
            let a = get(0)?;
            let ax = norm_axis(*axis, a.len(), true)
                .ok_or_else(|| format!("axis {axis} is out of range for rank {}", a.len()))?;
            vec![a[..ax].iter().product(), a[ax..].iter().product()]
        }
        Op::Reshape { allowzero } => {
            let a = get(0)?;
            let spec = constants.get(&n.inputs[1]).and_then(|t| t.as_i64()).ok_or_else(|| {
                format!(
                    "the target shape `{}` is not a constant INT64 tensor (dynamic shape)",
                    n.inputs[1]
                )
            })?;
            reshape_target(a, spec, *allowzero)?
        }
        Op::Constant => constants
            .get(&n.outputs[0])
            .map(|t| t.shape.clone())
            .ok_or_else(|| "constant value missing".to_string())?,
        Op::Quant { .. } => {
            let x = get(0)?;
            for (i, what) in [(1, "scale"), (2, "zero_point"), (3, "bit_width")] {
                if !constants.contains_key(&n.inputs[i]) {
                    return Err(format!(
                        "{what} `{}` must be an initializer or constant (static quantization)",
                        n.inputs[i]
                    ));
                }
                let s = get(i)?;
                if broadcast(s, x).as_deref() != Some(x) {
                    return Err(format!("{what} of shape {s:?} does not broadcast to {x:?}"));
                }
            }
            let bits = constants[&n.inputs[3]].to_f32();
            if bits.len() != 1 {
                return Err("bit_width must be a scalar".to_string());
            }
            if !(bits[0].fract() == 0.0 && (1.0..=32.0).contains(&bits[0])) {
                return Err(format!("bit_width {} is not a whole number in 1..=32", bits[0]));
            }
            x.to_vec()
        }
        Op::Ext(e) => return super::ops_ext::infer(e, n, ins, constants),
    };
    Ok(vec![out])
}

/// The ONNX `Reshape` rule: `0` copies the input dimension (unless `allowzero`), `-1` is inferred.
pub(super) fn reshape_target(
    input: &[usize],
    spec: &[i64],
    allowzero: bool,
) -> Result<Vec<usize>, String> {
    let total: usize = input.iter().product();
    let mut out = Vec::with_capacity(spec.len());
    let mut infer = None;
    for (i, d) in spec.iter().enumerate() {
        match *d {
            -1 if infer.is_none() => {
                infer = Some(i);
                out.push(1);
            }
            0 if !allowzero => out.push(*input.get(i).ok_or_else(|| {
                format!("shape entry {i} is 0 but the input has rank {}", input.len())
            })?),
            d if d >= 0 => out.push(d as usize),
            d => return Err(format!("invalid shape entry {d} at position {i}")),
        }
    }
    let known = out
        .iter()
        .try_fold(1usize, |a, d| a.checked_mul(*d))
        .ok_or_else(|| format!("target shape {spec:?} is too large"))?;
    if let Some(i) = infer {
        if known == 0 || !total.is_multiple_of(known) {
            return Err(format!("cannot reshape {input:?} to {spec:?}"));
        }
        out[i] = total / known;
    } else if known != total {
        return Err(format!("cannot reshape {input:?} ({total} elements) to {spec:?}"));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn broadcasting_follows_numpy() {
        assert_eq!(broadcast(&[1, 10], &[10]), Some(vec![1, 10]));
        assert_eq!(broadcast(&[4, 1], &[1, 3]), Some(vec![4, 3]));
        assert_eq!(broadcast(&[2, 3], &[4]), None);
    }

    #[test]
    fn reshape_rules() {
        assert_eq!(reshape_target(&[1, 8, 8], &[-1, 64], false), Ok(vec![1, 64]));
        assert_eq!(reshape_target(&[1, 8, 8], &[0, -1], false), Ok(vec![1, 64]));
        assert!(reshape_target(&[1, 8, 8], &[3, -1], false).is_err());
        assert!(reshape_target(&[1, 8], &[-1, -1], false).is_err());
    }
}
