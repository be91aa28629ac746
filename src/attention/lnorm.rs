//! Integer LayerNorm, bit-exact with the RTL.
//!
//! For a row of `D` integer codes `x` (scale `s_x`), with `S1 = sum x` and `c_i = D x_i - S1`
//! (exact), the float LayerNorm is `(x_i - mean) / sqrt(var + eps) = c_i sqrt(D) / sqrt(SS + E)`
//! where `SS = sum c_i^2` and `E = eps D^3 / s_x^2`. The hardware computes:
//!
//! 1. `r = max(1, isqrt(SS + E))` (floor square root),
//! 2. `inv = floor(2^R / r)` (one division per row),
//! 3. `y_i = clamp((c_i * inv * G_i + B_i + 2^(R+F-1)) >> (R+F))` (arithmetic shift: round half
//!    up), with `G_i = round(gamma_i sqrt(D) / s_y * 2^F)` and `B_i = round(beta_i / s_y * 2^(R+F))`.
//!
//! `R` = [`RECIP_BITS`] keeps `inv` at 2^16 or more for any row whose `r` is below 2^24; `F` =
//! [`GAIN_BITS`] is the gain's fraction.

use serde::Serialize;

/// Fraction bits of the reciprocal `2^R / r`.
pub const RECIP_BITS: u32 = 40;
/// Fraction bits of the per-column gain.
pub const GAIN_BITS: u32 = 16;

/// One LayerNorm's integer parameters.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct LnParams {
    pub d: usize,
    /// `round(eps D^3 / s_x^2)`.
    pub eps_term: u64,
    pub gain: Vec<i64>,
    pub bias: Vec<i128>,
    pub out_lo: i64,
    pub out_hi: i64,
}

/// Intermediate values of one row (for tests and the RTL generator's widths).
#[derive(Clone, Debug, PartialEq)]
pub struct LnRow {
    pub sum: i64,
    pub sumsq: u64,
    pub root: u64,
    pub inv: u64,
    pub y: Vec<i64>,
}

/// Normalises one row of codes.
pub fn layer_norm_row(p: &LnParams, x: &[i64]) -> LnRow {
    let d = p.d as i64;
    let sum: i64 = x.iter().sum();
    let c: Vec<i64> = x.iter().map(|&xi| d * xi - sum).collect();
    let sumsq: u64 = c.iter().map(|&ci| (ci as i128 * ci as i128) as u64).sum();
    let root = (sumsq + p.eps_term).isqrt().max(1);
    let inv = (1u64 << RECIP_BITS) / root;
    let sh = RECIP_BITS + GAIN_BITS;
    let y = c
        .iter()
        .zip(p.gain.iter().zip(&p.bias))
        .map(|(&ci, (&g, &b))| {
            let v = i128::from(ci) * i128::from(inv) * i128::from(g) + b + (1i128 << (sh - 1));
            ((v >> sh) as i64).clamp(p.out_lo, p.out_hi)
        })
        .collect();
    LnRow { sum, sumsq, root, inv, y }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn row_by_hand() {
        // x = [1, 3], D = 2: S1 = 4, c = [-2, 2], SS = 8, E = 1 -> r = isqrt(9) = 3,
        // inv = floor(2^40 / 3). gamma sqrt(D) / s_y = 1 with F bits -> G = 2^16; beta 0.
        // y = round(c * (2^40/3) / 2^40) = round(-2/3), round(2/3) = -1, 1.
        let p = LnParams {
            d: 2,
            eps_term: 1,
            gain: vec![1 << 16; 2],
            bias: vec![0; 2],
            out_lo: -128,
            out_hi: 127,
        };
        let r = layer_norm_row(&p, &[1, 3]);
        assert_eq!((r.sum, r.sumsq, r.root), (4, 8, 3));
        assert_eq!(r.inv, (1u64 << 40) / 3);
        assert_eq!(r.y, vec![-1, 1]);
        // A constant row: c = 0, r = max(1, isqrt(E)) and the output is the bias alone.
        let p = LnParams {
            d: 2,
            eps_term: 0,
            gain: vec![1 << 16; 2],
            bias: vec![5 << 56; 2],
            out_lo: -128,
            out_hi: 127,
        };
        assert_eq!(layer_norm_row(&p, &[7, 7]).y, vec![5, 5]);
    }
}
