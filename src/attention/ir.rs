//! The attention family's IR ops: their payloads, type rules and float semantics.
//!
//! [`crate::ir::Op`] holds them in its `attention family` block and delegates here, so the
//! shared IR files only gain one dispatch line per method:
//!
//! - `gather`: data movement by a compile-time index map, `y.flat[i] = x.flat[map[i]]`. Chains
//!   of ONNX Reshape/Transpose/Slice/Gather/Squeeze/Unsqueeze/Split compose to one of these.
//! - `concat`: ONNX Concat.
//! - `layer_norm`: over the last axis, `(x - mean) / sqrt(var + eps) * gamma + beta` (population
//!   variance), gamma and beta carried in the op.
//! - `gelu`: `x * Phi(x)` with the exact erf, or the tanh approximation.
//! - `mha`: multi-head self-attention on a token matrix `[S, D]` with its projections, the
//!   Q/K mode (float, or HAD-binarized with scales) and the key selection (all, top-N,
//!   hierarchical). The `binarize` and `sparsify` passes change exactly these two fields.
//!
//! Float semantics: products accumulate in `f64` in increasing index order and round to `f32`
//! once per output, as the ONNX float reference does; softmax subtracts the row maximum and
//! divides in `f64`.

use super::select::{select, Selection};
use crate::ir::dialect::{f32_tensor, operand_f32, DialectOp};
pub use crate::ir::nn::{concat_eval, concat_type, gather_type, gelu, LayerNormOp};
use crate::ir::OpError;
use crate::ir::{Tensor, TensorType};
use serde::Serialize;

/// How queries and keys enter the score.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum QkMode {
    /// Full-precision `q . k`.
    Float,
    /// HAD: `q_b = sigma_q * sign(q)`, `k_b = sigma_k * sign(k)` with `sign(0) = +1`, so the score
    /// is `scale * sigma_q * sigma_k * (d_k - 2 HD(q, k))`. One sigma per layer, or one per head.
    Binary {
        sigma_q: Vec<f32>,
        sigma_k: Vec<f32>,
        /// Where the scales came from.
        origin: SigmaOrigin,
    },
}

/// Provenance of HAD scales.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SigmaOrigin {
    /// Estimated by the `binarize` pass on calibration data (post-training binarization).
    Calibrated,
    /// Read from a HAD-trained graph (Q/K followed by `Sign` and a scale).
    Trained,
}

impl QkMode {
    /// The (sigma_q, sigma_k) of head `h`, when binarized.
    pub fn sigmas(&self, h: usize) -> Option<(f32, f32)> {
        match self {
            QkMode::Float => None,
            QkMode::Binary { sigma_q, sigma_k, .. } => {
                let pick = |v: &[f32]| if v.len() == 1 { v[0] } else { v[h] };
                Some((pick(sigma_q), pick(sigma_k)))
            }
        }
    }
}

/// A dense linear map `y = x W + b` with `W` stored `[inputs, outputs]` row-major (ONNX MatMul's
/// B operand).
#[derive(Clone, Debug, PartialEq)]
pub struct Linear {
    pub inputs: usize,
    pub outputs: usize,
    pub w: Vec<f32>,
    pub b: Vec<f32>,
}

impl Linear {
    /// Checks the payload sizes.
    pub fn validate(&self, what: &str) -> Result<(), OpError> {
        if self.w.len() != self.inputs * self.outputs || self.b.len() != self.outputs {
            return Err(OpError::Attribute(format!(
                "{what}: weights have {} values and bias {} for {}x{}",
                self.w.len(),
                self.b.len(),
                self.inputs,
                self.outputs
            )));
        }
        Ok(())
    }

    /// `y = x W + b` for one row, f64 accumulation, one f32 rounding (then the bias add in f32,
    /// as MatMul followed by Add computes).
    pub fn apply_row(&self, x: &[f32]) -> Vec<f32> {
        (0..self.outputs)
            .map(|j| {
                let mut acc = 0f64;
                for (i, &xi) in x.iter().enumerate() {
                    acc += f64::from(xi) * f64::from(self.w[i * self.outputs + j]);
                }
                acc as f32 + self.b[j]
            })
            .collect()
    }
}

/// Multi-head self-attention: `softmax(select(scale * Q_h K_h^T)) V_h` per head, heads
/// concatenated, then the output projection.
#[derive(Clone, Debug, PartialEq)]
pub struct MhaOp {
    pub heads: usize,
    pub d_k: usize,
    pub d_v: usize,
    pub q: Linear,
    pub k: Linear,
    pub v: Linear,
    pub o: Linear,
    /// The logit multiplier (`1 / sqrt(d_k)` in the usual form).
    pub scale: f32,
    pub qk: QkMode,
    pub select: Selection,
}

impl MhaOp {
    pub fn d_model(&self) -> usize {
        self.q.inputs
    }

    /// Structural checks (sizes, scales) independent of the operand.
    pub fn validate(&self) -> Result<(), OpError> {
        let (h, dk, dv) = (self.heads, self.d_k, self.d_v);
        if h == 0 || dk == 0 || dv == 0 {
            return Err(OpError::Attribute("heads, d_k and d_v must be positive".into()));
        }
        self.q.validate("q projection")?;
        self.k.validate("k projection")?;
        self.v.validate("v projection")?;
        self.o.validate("output projection")?;
        if self.q.outputs != h * dk || self.k.outputs != h * dk || self.v.outputs != h * dv {
            return Err(OpError::Attribute(format!(
                "projections give {}/{}/{} columns, expected {h} heads x ({dk}, {dk}, {dv})",
                self.q.outputs, self.k.outputs, self.v.outputs
            )));
        }
        if self.k.inputs != self.q.inputs || self.v.inputs != self.q.inputs {
            return Err(OpError::Attribute("q, k and v projections read different widths".into()));
        }
        if self.o.inputs != h * dv {
            return Err(OpError::Attribute(format!(
                "output projection reads {} values, heads give {}",
                self.o.inputs,
                h * dv
            )));
        }
        if !self.scale.is_finite() {
            return Err(OpError::Attribute("score scale is not finite".into()));
        }
        if let QkMode::Binary { sigma_q, sigma_k, .. } = &self.qk {
            for (name, v) in [("sigma_q", sigma_q), ("sigma_k", sigma_k)] {
                if v.len() != 1 && v.len() != h {
                    return Err(OpError::Attribute(format!(
                        "{name} has {} values; expected 1 or {h} (one per head)",
                        v.len()
                    )));
                }
                if v.iter().any(|s| !(s.is_finite() && *s > 0.0)) {
                    return Err(OpError::Attribute(format!(
                        "{name} must be positive and finite, got {v:?}"
                    )));
                }
            }
        }
        if let Selection::TopN { n: 0 } = self.select {
            return Err(OpError::Attribute("top-N with N = 0".into()));
        }
        Ok(())
    }

    /// Result type for an operand `[S, D]`.
    pub fn infer(&self, x: &TensorType) -> Result<TensorType, OpError> {
        self.validate()?;
        crate::ir::dialect::expect_f32(x, "input")?;
        match x.shape.as_slice() {
            [s, d] if *d == self.d_model() => {
                self.select.validate(*s)?;
                Ok(TensorType::f32(vec![*s, self.o.outputs]))
            }
            _ => Err(OpError::Operand(format!("input must be [S, {}], got {x}", self.d_model()))),
        }
    }

    /// Float semantics on a row-major `[S, D]` token matrix.
    pub fn eval(&self, x: &[f32], s: usize) -> Vec<f32> {
        self.forward(x, s).y
    }

    /// Float semantics with the intermediate tensors (for calibration).
    #[allow(clippy::needless_range_loop)] // t indexes the query rows q[t] and the output cat[t] alike
    pub fn forward(&self, x: &[f32], s: usize) -> MhaParts {
        let d = self.d_model();
        let rows = |lin: &Linear| -> Vec<Vec<f32>> {
            (0..s).map(|t| lin.apply_row(&x[t * d..(t + 1) * d])).collect()
        };
        let (q, k, v) = (rows(&self.q), rows(&self.k), rows(&self.v));
        let (dk, dv) = (self.d_k, self.d_v);
        let mut cat = vec![vec![0f32; self.heads * dv]; s];
        for h in 0..self.heads {
            let qh = |t: usize| &q[t][h * dk..(h + 1) * dk];
            let kh = |j: usize| &k[j][h * dk..(h + 1) * dk];
            for t in 0..s {
                let scores: Vec<f32> = match self.qk.sigmas(h) {
                    None => (0..s)
                        .map(|j| {
                            let dot: f64 = qh(t)
                                .iter()
                                .zip(kh(j))
                                .map(|(a, b)| f64::from(*a) * f64::from(*b))
                                .sum();
                            dot as f32 * self.scale
                        })
                        .collect(),
                    Some((sq, sk)) => (0..s)
                        .map(|j| {
                            let hd = hamming(qh(t), kh(j));
                            let agree = dk as f64 - 2.0 * hd as f64;
                            (f64::from(self.scale) * f64::from(sq) * f64::from(sk) * agree) as f32
                        })
                        .collect(),
                };
                let kept = select(s, &self.select, |a, b| scores[b].total_cmp(&scores[a]));
                let m = kept.iter().map(|&j| scores[j]).fold(f32::NEG_INFINITY, f32::max);
                let e: Vec<f64> = kept.iter().map(|&j| f64::from(scores[j] - m).exp()).collect();
                let z: f64 = e.iter().sum();
                for c in 0..dv {
                    let mut acc = 0f64;
                    for (w, &j) in e.iter().zip(&kept) {
                        acc += (w / z) * f64::from(v[j][h * dv + c]);
                    }
                    cat[t][h * dv + c] = acc as f32;
                }
            }
        }
        let y = cat.iter().flat_map(|row| self.o.apply_row(row)).collect();
        let flat = |m: Vec<Vec<f32>>| m.into_iter().flatten().collect();
        MhaParts { q: flat(q), k: flat(k), v: flat(v), cat: flat(cat), y }
    }
}

/// The intermediate tensors of one attention evaluation, row-major: projections `[S, H*d]`,
/// concatenated head outputs `[S, H*d_v]` and the result `[S, D_out]`.
#[derive(Clone, Debug, PartialEq)]
pub struct MhaParts {
    pub q: Vec<f32>,
    pub k: Vec<f32>,
    pub v: Vec<f32>,
    pub cat: Vec<f32>,
    pub y: Vec<f32>,
}

/// `sign` with HAD's convention `sign(0) = +1` (also for `-0.0`): true means +1.
pub fn sign_bit(x: f32) -> bool {
    x >= 0.0 || x.is_nan()
}

/// Hamming distance between the sign patterns of two vectors.
pub fn hamming(a: &[f32], b: &[f32]) -> usize {
    a.iter().zip(b).filter(|(x, y)| sign_bit(**x) != sign_bit(**y)).count()
}

impl DialectOp for MhaOp {
    fn name(&self) -> &'static str {
        "attn.mha"
    }
    fn verify(&self) -> Result<(), OpError> {
        self.validate()
    }
    fn infer_type(&self, operands: &[&TensorType]) -> Result<TensorType, OpError> {
        self.infer(operands[0])
    }
    fn attributes(&self) -> Vec<(&'static str, String)> {
        let qk = match &self.qk {
            QkMode::Float => "float".to_string(),
            QkMode::Binary { sigma_q, sigma_k, origin } => {
                format!("binary(sigma_q={sigma_q:?}, sigma_k={sigma_k:?}, {origin:?})")
                    .to_lowercase()
            }
        };
        let sel = match self.select {
            Selection::All => "all".to_string(),
            Selection::TopN { n } => format!("top_n({n})"),
            Selection::Hierarchical { n, tile, per_tile } => {
                format!("hierarchical(n={n}, tile={tile}, per_tile={per_tile})")
            }
        };
        vec![
            ("heads", self.heads.to_string()),
            ("d_k", self.d_k.to_string()),
            ("d_v", self.d_v.to_string()),
            ("scale", format!("{:?}", self.scale)),
            ("qk", qk),
            ("select", sel),
        ]
    }
    fn eval(&self, a: &[&Tensor], ty: &TensorType) -> Result<Tensor, OpError> {
        let s = a[0].shape.first().copied().unwrap_or(0);
        Ok(f32_tensor(ty, self.eval(operand_f32(a[0])?, s)))
    }
    crate::dialect_op_boilerplate!();
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lin(inputs: usize, outputs: usize, w: Vec<f32>) -> Linear {
        Linear { inputs, outputs, w, b: vec![0.0; outputs] }
    }

    #[test]
    fn binarized_scores_follow_the_hamming_identity() {
        // One head, d_k = 4, identity projections, values = keys. Tokens:
        // t0 = [+,+,+,+], t1 = [+,+,-,-], t2 = [-,-,-,-] (as signs). HD(t0, t1) = 2,
        // HD(t0, t2) = 4. With sigma = 1, scale = 1/2: scores = (4 - 2 HD) / 2 = [2, 0, -2].
        let eye: Vec<f32> = (0..16).map(|i| if i % 5 == 0 { 1.0 } else { 0.0 }).collect();
        let x = [0.5, 0.1, 0.0, 2.0, 1.0, 1.0, -1.0, -0.5, -1.0, -2.0, -0.1, -3.0];
        let mut m = MhaOp {
            heads: 1,
            d_k: 4,
            d_v: 4,
            q: lin(4, 4, eye.clone()),
            k: lin(4, 4, eye.clone()),
            v: lin(4, 4, eye.clone()),
            o: lin(4, 4, eye.clone()),
            scale: 0.5,
            qk: QkMode::Binary {
                sigma_q: vec![1.0],
                sigma_k: vec![1.0],
                origin: SigmaOrigin::Calibrated,
            },
            select: Selection::All,
        };
        let y = m.eval(&x, 3);
        // softmax([2, 0, -2]) = [e^4, e^2, 1] / (e^4 + e^2 + 1).
        let z = 4f64.exp() + 2f64.exp() + 1.0;
        let p = [4f64.exp() / z, 2f64.exp() / z, 1.0 / z];
        for c in 0..4 {
            let want =
                p[0] * f64::from(x[c]) + p[1] * f64::from(x[4 + c]) + p[2] * f64::from(x[8 + c]);
            assert!((f64::from(y[c]) - want).abs() < 1e-6, "column {c}");
        }
        // Top-1 keeps only key 0 for query 0: the output row is t0 itself.
        m.select = Selection::TopN { n: 1 };
        let y = m.eval(&x, 3);
        assert_eq!(&y[..4], &x[..4]);
        // sign(0) = +1: x[2] = 0.0 counts as +, so t0 is [+,+,+,+] as assumed above.
        assert!(sign_bit(0.0) && sign_bit(-0.0) && !sign_bit(-1e-30));
    }
}
