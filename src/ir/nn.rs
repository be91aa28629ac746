//! Model-level float ops beyond the MLP set that ONNX transformer exports need, shared by every
//! family that reads such graphs: index-map data movement (`gather`), `concat`, layer
//! normalisation and GELU. Their type rules and reference semantics live here with the core
//! because no family owns them (an MLP inside a transformer block and a plain MLP read the
//! same ops).

use super::error::OpError;
use super::tensor::{Tensor, TensorData};
use super::types::{NumFormat, TensorType};
use std::sync::Arc;

/// Layer normalisation over the last axis.
#[derive(Clone, Debug, PartialEq)]
pub struct LayerNormOp {
    pub eps: f32,
    pub gamma: Vec<f32>,
    pub beta: Vec<f32>,
}

impl LayerNormOp {
    pub fn infer(&self, x: &TensorType) -> Result<TensorType, OpError> {
        float(x)?;
        let d = self.gamma.len();
        if self.beta.len() != d || x.shape.last() != Some(&d) {
            return Err(OpError::Operand(format!(
                "normalises {d} values (beta {}), input is {x}",
                self.beta.len()
            )));
        }
        if !(self.eps.is_finite() && self.eps >= 0.0) {
            return Err(OpError::Operand(format!("epsilon {} is invalid", self.eps)));
        }
        Ok(x.clone())
    }

    pub fn eval(&self, x: &[f32]) -> Vec<f32> {
        let d = self.gamma.len();
        let mut out = Vec::with_capacity(x.len());
        for row in x.chunks(d.max(1)) {
            let mean = row.iter().map(|&v| f64::from(v)).sum::<f64>() / d as f64;
            let var = row.iter().map(|&v| (f64::from(v) - mean).powi(2)).sum::<f64>() / d as f64;
            let inv = 1.0 / (var + f64::from(self.eps)).sqrt();
            for (i, &v) in row.iter().enumerate() {
                let y = (f64::from(v) - mean) * inv * f64::from(self.gamma[i])
                    + f64::from(self.beta[i]);
                out.push(y as f32);
            }
        }
        out
    }
}

/// QONNX `Quant` rounding modes (`qonnx.custom_op.general.intquant.resolve_rounding_mode`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Rounding {
    /// `ROUND` / `HALF_EVEN`: numpy's `np.round`, half to even.
    HalfEven,
    Ceil,
    Floor,
    /// `UP`: away from zero.
    Up,
    /// `DOWN`: toward zero.
    Down,
    /// `HALF_UP`: half away from zero.
    HalfUp,
    /// `HALF_DOWN`: half toward zero.
    HalfDown,
}

impl Rounding {
    /// Parses the attribute value the way qonnx does (case-insensitive).
    pub fn parse(s: &str) -> Option<Rounding> {
        Some(match s.to_ascii_uppercase().as_str() {
            "ROUND" | "HALF_EVEN" => Rounding::HalfEven,
            "CEIL" => Rounding::Ceil,
            "FLOOR" => Rounding::Floor,
            "UP" => Rounding::Up,
            "DOWN" => Rounding::Down,
            "HALF_UP" => Rounding::HalfUp,
            "HALF_DOWN" => Rounding::HalfDown,
            _ => return None,
        })
    }

    /// The printed name (qonnx's spelling).
    pub fn name(self) -> &'static str {
        match self {
            Rounding::HalfEven => "ROUND",
            Rounding::Ceil => "CEIL",
            Rounding::Floor => "FLOOR",
            Rounding::Up => "UP",
            Rounding::Down => "DOWN",
            Rounding::HalfUp => "HALF_UP",
            Rounding::HalfDown => "HALF_DOWN",
        }
    }

    /// Applies the rounding to one value.
    pub fn apply(self, x: f32) -> f32 {
        match self {
            Rounding::HalfEven => x.round_ties_even(),
            Rounding::Ceil => x.ceil(),
            Rounding::Floor => x.floor(),
            Rounding::Up => x.signum() * x.abs().ceil(),
            Rounding::Down => x.trunc(),
            Rounding::HalfUp => x.signum() * (x.abs() + 0.5).floor(),
            Rounding::HalfDown => x.signum() * (x.abs() - 0.5).ceil(),
        }
    }
}

/// QONNX `Quant` (domain `qonnx.custom_op.general`): operands x, scale, zero_point, bit_width,
/// the last three constants in every model tessera reads. Fake quantization in float:
/// `(round(clamp(x / s + z)) - z) * s`, a 1-bit signed quantizer being the sign.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct QuantOp {
    pub signed: bool,
    pub narrow: bool,
    pub rounding: Rounding,
}

impl QuantOp {
    /// The integer code range `[lo, hi]` for `bits` (qonnx's `min_int`/`max_int`).
    pub fn range(&self, bits: f32) -> (f32, f32) {
        quant_range(self.signed, self.narrow, bits)
    }

    pub fn infer(&self, operands: &[&TensorType]) -> Result<TensorType, OpError> {
        float(operands[0])?;
        let x = operands[0];
        for (what, t) in ["scale", "zero_point"].iter().zip(&operands[1..3]) {
            let b = super::op::broadcast(&t.shape, &x.shape)
                .map_err(|e| OpError::Operand(format!("{what} {t}: {e}")))?;
            if b != x.shape {
                return Err(OpError::Operand(format!("{what} {t} does not broadcast to {x}")));
            }
        }
        if operands[3].shape.iter().product::<usize>() != 1 {
            return Err(OpError::Operand(format!(
                "bit_width must be one value, got {}",
                operands[3]
            )));
        }
        Ok(x.clone())
    }

    /// The reference semantics, element by element (scale and zero point broadcast to `x`).
    pub fn eval(&self, x: &[f32], scale: &[f32], zero: &[f32], bits: f32) -> Vec<f32> {
        let (lo, hi) = self.range(bits);
        x.iter()
            .zip(scale.iter().zip(zero))
            .map(|(v, (s, z))| {
                let y = v / s + z;
                let q = if bits == 1.0 && self.signed {
                    if y >= 0.0 {
                        1.0
                    } else {
                        -1.0
                    }
                } else {
                    self.rounding.apply(y.clamp(lo, hi))
                };
                (q - z) * s
            })
            .collect()
    }
}

/// The integer range of a QONNX `Quant` (`min_int`/`max_int` in qonnx's `intquant.py`).
pub fn quant_range(signed: bool, narrow: bool, bits: f32) -> (f32, f32) {
    let b = bits as i32;
    match (signed, narrow) {
        (true, true) => (-(2f32.powi(b - 1)) + 1.0, 2f32.powi(b - 1) - 1.0),
        (true, false) => (-(2f32.powi(b - 1)), 2f32.powi(b - 1) - 1.0),
        (false, true) => (0.0, 2f32.powi(b) - 2.0),
        (false, false) => (0.0, 2f32.powi(b) - 1.0),
    }
}

/// Most terms [`erf64`]'s series may take. Below 4 the stopping test holds after at most 70
/// terms (checked on a 1e-4 grid of [0, 4)); `|x|^(2n+1) / n!` is below 1e-37 at n = 100 for
/// |x| < 4, so the cap is never what stops a finite input. It only guarantees the loop ends.
pub const ERF_MAX_TERMS: u32 = 200;

/// erf(x) in f64 by its Maclaurin series (|x| < 4) and ±1 beyond, accurate to about 1e-16.
/// NaN gives NaN up front: the series' stopping test is never true for it, and a NaN that
/// reached the loop once made `sim` spin forever.
pub fn erf64(x: f64) -> f64 {
    if x.is_nan() {
        return x;
    }
    let a = x.abs();
    if a >= 4.0 {
        return x.signum();
    }
    // erf(x) = 2/sqrt(pi) * sum_n (-1)^n x^(2n+1) / (n! (2n+1))
    let mut term = a; // x^(2n+1) / n! with sign
    let mut sum = a;
    let x2 = a * a;
    for k in 1..=ERF_MAX_TERMS {
        let n = f64::from(k);
        term *= -x2 / n;
        let t = term / (2.0 * n + 1.0);
        sum += t;
        if t.abs() < 1e-17 * sum.abs().max(1e-300) {
            break;
        }
    }
    (2.0 / std::f64::consts::PI.sqrt() * sum).copysign(x)
}

/// Exact GELU `x * Phi(x)` (erf form) or the tanh approximation, in f64.
pub fn gelu64(x: f64, tanh: bool) -> f64 {
    if tanh {
        let c = (2.0 / std::f64::consts::PI).sqrt();
        0.5 * x * (1.0 + (c * (x + 0.044715 * x * x * x)).tanh())
    } else {
        0.5 * x * (1.0 + erf64(x / std::f64::consts::SQRT_2))
    }
}

/// GELU on one value (`tanh` selects the approximation).
pub fn gelu(x: f32, tanh: bool) -> f32 {
    gelu64(f64::from(x), tanh) as f32
}

fn float(t: &TensorType) -> Result<(), OpError> {
    if t.format == NumFormat::Float32 {
        Ok(())
    } else {
        Err(OpError::Operand(format!("operand must be f32, got {t}")))
    }
}

/// Type rule of `gather`.
pub fn gather_type(
    x: &TensorType,
    shape: &[usize],
    map: &Arc<[u32]>,
) -> Result<TensorType, OpError> {
    let n: usize = shape.iter().product();
    if map.len() != n {
        return Err(OpError::Operand(format!(
            "index map has {} entries for shape {shape:?}",
            map.len()
        )));
    }
    let numel = x.numel();
    if let Some(bad) = map.iter().find(|&&i| i as usize >= numel) {
        return Err(OpError::Operand(format!(
            "index {bad} is outside the operand's {numel} elements"
        )));
    }
    Ok(TensorType::new(shape.to_vec(), x.format))
}

/// Type rule of `concat`.
pub fn concat_type(xs: &[&TensorType], axis: i64) -> Result<TensorType, OpError> {
    let first = xs.first().ok_or_else(|| OpError::Operand("concat needs an operand".into()))?;
    let r = first.rank() as i64;
    let a = if axis < 0 { axis + r } else { axis };
    if a < 0 || a >= r {
        return Err(OpError::Operand(format!("axis {axis} is out of range for rank {r}")));
    }
    let a = a as usize;
    let mut shape = first.shape.clone();
    for (i, x) in xs.iter().enumerate().skip(1) {
        if x.format != first.format
            || x.rank() != first.rank()
            || (0..first.rank()).any(|d| d != a && x.shape[d] != first.shape[d])
        {
            return Err(OpError::Operand(format!(
                "operand {i} {x} does not match {first} along axis {a}"
            )));
        }
        shape[a] += x.shape[a];
    }
    Ok(TensorType::new(shape, first.format))
}

/// `concat` semantics on flat data.
pub fn concat_eval<T: Copy>(parts: &[(&[T], &[usize])], axis: usize) -> Vec<T> {
    let outer: usize = parts[0].1[..axis].iter().product();
    let mut out = Vec::new();
    for o in 0..outer {
        for (data, shape) in parts {
            let inner: usize = shape[axis..].iter().product();
            out.extend_from_slice(&data[o * inner..(o + 1) * inner]);
        }
    }
    out
}

/// A short, stable description of an index map: identity, or its first entries.
pub fn summarise_map(map: &[u32]) -> String {
    if map.iter().enumerate().all(|(i, &m)| m as usize == i) {
        return "identity".into();
    }
    let head: Vec<String> = map.iter().take(8).map(|m| m.to_string()).collect();
    let more = if map.len() > 8 { ", ..." } else { "" };
    format!("[{}{more}]", head.join(", "))
}

/// `gather` semantics: `y.flat[i] = x.flat[map[i]]`, keeping the operand's storage.
pub fn gather_eval(x: &Tensor, map: &[u32], ty: &TensorType) -> Tensor {
    let data = match &x.data {
        TensorData::F32(v) => TensorData::F32(map.iter().map(|&i| v[i as usize]).collect()),
        _ => {
            let v = x.ints().unwrap_or_default();
            TensorData::I64(map.iter().map(|&i| v[i as usize]).collect())
        }
    };
    Tensor { shape: ty.shape.clone(), format: ty.format, data }
}

/// `concat` on tensors (float or integer) along `axis` (negative counts from the end).
pub fn concat_tensors(a: &[&Tensor], axis: i64, ty: &TensorType) -> Result<Tensor, OpError> {
    let r = ty.rank() as i64;
    let ax = if axis < 0 { axis + r } else { axis } as usize;
    let data = if a.iter().all(|t| matches!(t.data, TensorData::F32(_))) {
        let data: Vec<&[f32]> = a
            .iter()
            .map(|t| t.floats().ok_or_else(|| OpError::Operand("expected float data".to_string())))
            .collect::<Result<_, _>>()?;
        let parts: Vec<(&[f32], &[usize])> =
            data.iter().zip(a).map(|(d, t)| (*d, t.shape.as_slice())).collect();
        TensorData::F32(concat_eval(&parts, ax))
    } else {
        let data: Vec<Vec<i64>> = a.iter().map(|t| t.ints().unwrap_or_default()).collect();
        let parts: Vec<(&[i64], &[usize])> =
            data.iter().zip(a).map(|(d, t)| (d.as_slice(), t.shape.as_slice())).collect();
        TensorData::I64(concat_eval(&parts, ax))
    };
    Ok(Tensor { shape: ty.shape.clone(), format: ty.format, data })
}

/// Type rule of `reduce_mean` (axes already normalised by the op's invariants).
pub fn reduce_mean_type(
    x: &TensorType,
    axes: &[usize],
    keepdims: bool,
) -> Result<TensorType, OpError> {
    if let Some(a) = axes.iter().find(|&&a| a >= x.rank()) {
        return Err(OpError::Operand(format!("axis {a} is out of range for {x}")));
    }
    let shape: Vec<usize> = (0..x.rank())
        .filter_map(|d| match (axes.contains(&d), keepdims) {
            (false, _) => Some(x.shape[d]),
            (true, true) => Some(1),
            (true, false) => None,
        })
        .collect();
    Ok(TensorType::f32(shape))
}

/// `reduce_mean` semantics: each mean summed in f64 in row-major order, divided by the count
/// and rounded once to f32 (as tessera's ONNX constant folding computes it).
pub fn reduce_mean_eval(x: &[f32], shape: &[usize], axes: &[usize]) -> Vec<f32> {
    let kept: Vec<usize> =
        shape.iter().enumerate().map(|(d, &s)| if axes.contains(&d) { 1 } else { s }).collect();
    let mut ks = vec![1usize; kept.len()];
    for d in (0..kept.len().saturating_sub(1)).rev() {
        ks[d] = ks[d + 1] * kept[d + 1];
    }
    let total: usize = kept.iter().product();
    let mut sums = vec![0f64; total];
    let mut idx = vec![0usize; shape.len()];
    for v in x {
        let o: usize =
            (0..shape.len()).map(|d| if axes.contains(&d) { 0 } else { idx[d] * ks[d] }).sum();
        sums[o] += f64::from(*v);
        for d in (0..shape.len()).rev() {
            idx[d] += 1;
            if idx[d] < shape[d] {
                break;
            }
            idx[d] = 0;
        }
    }
    let cnt: usize = axes.iter().map(|&d| shape[d]).product();
    sums.iter().map(|s| (s / cnt as f64) as f32).collect()
}

/// ONNX Sign on one value: -1, 0 or 1 (NaN passes through).
pub fn sign(v: f32) -> f32 {
    if v > 0.0 {
        1.0
    } else if v < 0.0 {
        -1.0
    } else {
        v
    }
}

/// ONNX Pow on one pair; a square is the product (what exporters' `x ** 2` means, exact).
pub fn pow(p: f32, q: f32) -> f32 {
    if q == 2.0 {
        p * p
    } else {
        p.powf(q)
    }
}

/// Type rule of a batched `matmul`: both operands of rank 2 or more, the leading (batch)
/// dimensions broadcast numpy-style, the last two multiply as matrices.
pub fn batched_matmul_type(a: &TensorType, b: &TensorType) -> Result<TensorType, OpError> {
    let (ra, rb) = (a.rank(), b.rank());
    let (m, ka) = (a.shape[ra - 2], a.shape[ra - 1]);
    let (kb, n) = (b.shape[rb - 2], b.shape[rb - 1]);
    if ka != kb {
        return Err(OpError::Operand(format!("inner dimensions of {a} and {b} differ")));
    }
    let mut shape = super::op::broadcast(&a.shape[..ra - 2], &b.shape[..rb - 2])?;
    shape.extend([m, n]);
    Ok(TensorType::f32(shape))
}

/// Batched `matmul` semantics: for every batch index (operands broadcast), `C = A B` summed
/// over increasing `k` without fused multiply-add, like the 2-D product: in f32 from `0.0`, or
/// with `wide` in f64 from `-0.0` (exact products, rounded once: `crate::ir::interp::Precision`).
pub fn batched_matmul_eval(
    a: &Tensor,
    b: &Tensor,
    ty: &TensorType,
    wide: bool,
) -> Result<Vec<f32>, OpError> {
    let (x, y) = (super::dialect::operand_f32(a)?, super::dialect::operand_f32(b)?);
    let (ra, rb, r) = (a.shape.len(), b.shape.len(), ty.rank());
    let (m, k, n) = (a.shape[ra - 2], a.shape[ra - 1], b.shape[rb - 1]);
    let batch = &ty.shape[..r - 2];
    // Offset of batch index `bi` in an operand whose batch dims are `dims` (right-aligned).
    let offset = |dims: &[usize], bi: &[usize], mat: usize| -> usize {
        let off = batch.len() - dims.len();
        let mut o = 0usize;
        for (d, &s) in dims.iter().enumerate() {
            o = o * s + if s == 1 { 0 } else { bi[off + d] };
        }
        o * mat
    };
    let nb: usize = batch.iter().product();
    let mut out = Vec::with_capacity(nb * m * n);
    let mut bi = vec![0usize; batch.len()];
    for _ in 0..nb {
        let oa = offset(&a.shape[..ra - 2], &bi, m * k);
        let ob = offset(&b.shape[..rb - 2], &bi, k * n);
        for i in 0..m {
            for j in 0..n {
                if wide {
                    let mut acc = -0f64;
                    for p in 0..k {
                        acc += f64::from(x[oa + i * k + p]) * f64::from(y[ob + p * n + j]);
                    }
                    out.push(acc as f32);
                    continue;
                }
                let mut acc = 0f32;
                for p in 0..k {
                    acc += x[oa + i * k + p] * y[ob + p * n + j];
                }
                out.push(acc);
            }
        }
        for d in (0..batch.len()).rev() {
            bi[d] += 1;
            if bi[d] < batch[d] {
                break;
            }
            bi[d] = 0;
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layer_norm_by_hand() {
        // [1, 3]: mean 2, var 1 -> [-1, 1] / sqrt(1 + eps); gamma [2, 1], beta [0, 5].
        let ln = LayerNormOp { eps: 0.0, gamma: vec![2.0, 1.0], beta: vec![0.0, 5.0] };
        assert_eq!(ln.eval(&[1.0, 3.0]), vec![-2.0, 6.0]);
    }

    #[test]
    fn quant_ranges_match_qonnx_docstrings() {
        // qonnx intquant.py docstrings: min_int/max_int for 8 bits.
        assert_eq!(quant_range(true, true, 8.0), (-127.0, 127.0));
        assert_eq!(quant_range(true, false, 8.0), (-128.0, 127.0));
        assert_eq!(quant_range(false, true, 8.0), (0.0, 254.0));
        assert_eq!(quant_range(false, false, 8.0), (0.0, 255.0));
    }

    #[test]
    fn quant_by_hand() {
        // 4-bit unsigned, scale 0.5: 1.3 -> round(2.6) = 3 -> 1.5; 9 clamps to 15 -> 7.5.
        let q = QuantOp { signed: false, narrow: false, rounding: Rounding::HalfEven };
        assert_eq!(q.eval(&[1.3, 9.0, -1.0], &[0.5; 3], &[0.0; 3], 4.0), vec![1.5, 7.5, 0.0]);
        // 1-bit signed is the sign, 0 counting as positive.
        let s = QuantOp { signed: true, ..q };
        assert_eq!(s.eval(&[0.0, -0.2], &[1.0; 2], &[0.0; 2], 1.0), vec![1.0, -1.0]);
    }

    #[test]
    fn concat_by_hand() {
        let a = [1, 2, 3, 4];
        let b = [9, 8];
        // [2,2] ++ [2,1] along axis 1 -> [[1,2,9],[3,4,8]].
        assert_eq!(concat_eval(&[(&a, &[2, 2]), (&b, &[2, 1])], 1), vec![1, 2, 9, 3, 4, 8]);
        // [1,2] ++ [2,2] along axis 0.
        assert_eq!(concat_eval(&[(&b, &[1, 2]), (&a, &[2, 2])], 0), vec![9, 8, 1, 2, 3, 4]);
    }
}
