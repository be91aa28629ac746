//! The integer attention core: one head, bit-exact with the RTL
//! (`crate::attention::rtl::core`).
//!
//! For every query `t` (rows of `q`, keys and values rows of `k`, `v`):
//!
//! 1. **Scores.** HAD: `key_j = HD(q_t, k_j) = popcount(q_t XOR k_j)` over `d_k` sign bits
//!    (bit 1 is +1). Standard: `key_j = -(q_t . k_j)` on int8 codes. Smaller keys are better.
//! 2. **Selection** ([`crate::attention::select`]): all keys, top-N or hierarchical top-k,
//!    ties to the lower key index.
//! 3. **Exponent.** `delta_j = key_j - min(kept keys) >= 0`. HAD: `e_j = lut[delta_j]` with
//!    `lut[d] = round(2^E exp(-tau d))`, `tau = 2 scale sigma_Q sigma_K` (the logit step of one
//!    Hamming unit; the paper's single scale folded into the table, so no scaler is needed).
//!    Standard: `i_j = min(L - 1, round_half_even(delta_j * M / 2^sh))` with `M / 2^sh ~= s_q s_k
//!    scale T` (T table steps per logit unit), `e_j = lut[i_j]`, `lut[i] = round(2^E exp(-i / T))`.
//! 4. **Normalisation.** `Z = sum e_j`, `inv = floor(2^(P + E + 8) / Z)` (one division per query),
//!    `p_j = (e_j * inv) >> (E + 8)`, a probability in `[0, 2^P]`.
//! 5. **Values.** `acc_c = sum_j p_j v_jc`, `out_c = clamp(round_half_even(acc_c * M_o / 2^sh_o))`.

use super::select::{select, Selection};
use crate::ir::requant::Requant;
use crate::ir::OpError;
use serde::Serialize;

/// Which score the core computes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CoreMode {
    /// XNOR-popcount Hamming distance on sign bits (HAD).
    Had,
    /// int8 dot product.
    Standard,
}

/// Extra fractional bits of the reciprocal `inv`, so `p_j` loses less than 2^-8 of an LSB.
pub const INV_GUARD: u32 = 8;

/// Everything one head's core needs; shared by the simulator and the RTL generator.
#[derive(Clone, Debug, PartialEq)]
pub struct CoreParams {
    pub mode: CoreMode,
    /// Tokens (queries = keys).
    pub s: usize,
    pub d_k: usize,
    pub d_v: usize,
    pub select: Selection,
    /// Bits of the exponent table entries' fraction (`lut[0] = 2^E` for HAD).
    pub exp_bits: u32,
    /// Bits of probability fraction (`p` in `[0, 2^P]`).
    pub prob_bits: u32,
    /// Exponent table: `d_k + 1` entries (HAD) or `L` entries (standard).
    pub lut: Vec<u64>,
    /// Standard mode: the score-difference-to-table-index scaling.
    pub index: Option<Requant>,
    /// Value accumulator to output code.
    pub out: Requant,
    pub out_lo: i64,
    pub out_hi: i64,
    /// Value code range (for accumulator widths).
    pub v_lo: i64,
    pub v_hi: i64,
    /// Query/key code range in standard mode.
    pub qk_lo: i64,
    pub qk_hi: i64,
}

/// Events one core run counts (for the cost model).
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize)]
pub struct CoreEvents {
    pub queries: u64,
    /// Score evaluations (one query against one key).
    pub scores: u64,
    /// Keys surviving selection, summed over queries (exponent lookups).
    pub kept: u64,
    /// Divisions (one per query).
    pub divides: u64,
    /// Probability x value multiply-accumulates.
    pub value_macs: u64,
}

impl std::ops::AddAssign for CoreEvents {
    fn add_assign(&mut self, o: Self) {
        self.queries += o.queries;
        self.scores += o.scores;
        self.kept += o.kept;
        self.divides += o.divides;
        self.value_macs += o.value_macs;
    }
}

impl CoreParams {
    /// Checks table sizes and code ranges.
    pub fn validate(&self) -> Result<(), OpError> {
        self.select.validate(self.s)?;
        if self.s == 0 || self.d_k == 0 || self.d_v == 0 {
            return Err(OpError::Attribute("the core needs tokens, d_k and d_v".into()));
        }
        match self.mode {
            CoreMode::Had if self.lut.len() != self.d_k + 1 => {
                return Err(OpError::Attribute(format!(
                    "HAD exponent table has {} entries, needs d_k + 1 = {}",
                    self.lut.len(),
                    self.d_k + 1
                )))
            }
            CoreMode::Standard if self.index.is_none() || self.lut.is_empty() => {
                return Err(OpError::Attribute(
                    "standard mode needs an index scaling and a table".into(),
                ))
            }
            _ => {}
        }
        if self.lut.first().copied().unwrap_or(0) == 0 {
            return Err(OpError::Attribute(
                "the exponent table must start with a positive entry".into(),
            ));
        }
        if self.prob_bits + self.exp_bits + INV_GUARD > 60 {
            return Err(OpError::Attribute("probability and exponent precision too large".into()));
        }
        Ok(())
    }

    /// `2^(P + E + guard)`, the dividend of the reciprocal.
    pub fn inv_numerator(&self) -> u64 {
        1u64 << (self.prob_bits + self.exp_bits + INV_GUARD)
    }

    /// Exponent for a score difference.
    pub fn exp_of(&self, delta: u64) -> u64 {
        match (self.mode, self.index) {
            (CoreMode::Standard, Some(rq)) => {
                let i = rq.apply(delta as i64).clamp(0, self.lut.len() as i64 - 1) as usize;
                self.lut[i]
            }
            _ => self.lut[(delta as usize).min(self.lut.len() - 1)],
        }
    }
}

/// Runs one head: `q`, `k` are `[s, d_k]` (HAD: 0/1 sign bits; standard: codes), `v` is
/// `[s, d_v]`; returns the `[s, d_v]` output codes.
pub fn attend(p: &CoreParams, q: &[i64], k: &[i64], v: &[i64]) -> (Vec<i64>, CoreEvents) {
    let (s, dk, dv) = (p.s, p.d_k, p.d_v);
    let mut out = Vec::with_capacity(s * dv);
    let mut ev = CoreEvents::default();
    for t in 0..s {
        let qt = &q[t * dk..(t + 1) * dk];
        let keys: Vec<i64> = (0..s)
            .map(|j| {
                let kj = &k[j * dk..(j + 1) * dk];
                match p.mode {
                    CoreMode::Had => qt.iter().zip(kj).filter(|(a, b)| a != b).count() as i64,
                    CoreMode::Standard => -qt.iter().zip(kj).map(|(a, b)| a * b).sum::<i64>(),
                }
            })
            .collect();
        let kept = select(s, &p.select, |a, b| keys[a].cmp(&keys[b]));
        let m = kept.iter().map(|&j| keys[j]).min().unwrap_or(0);
        let e: Vec<u64> = kept.iter().map(|&j| p.exp_of((keys[j] - m) as u64)).collect();
        let z: u64 = e.iter().sum();
        let inv = p.inv_numerator() / z.max(1);
        let probs: Vec<i64> = e
            .iter()
            .map(|&ej| ((u128::from(ej) * u128::from(inv)) >> (p.exp_bits + INV_GUARD)) as i64)
            .collect();
        for c in 0..dv {
            let acc: i64 = probs.iter().zip(&kept).map(|(pj, &j)| pj * v[j * dv + c]).sum();
            out.push(p.out.apply(acc).clamp(p.out_lo, p.out_hi));
        }
        ev.queries += 1;
        ev.scores += s as u64;
        ev.kept += kept.len() as u64;
        ev.divides += 1;
        ev.value_macs += (kept.len() * dv) as u64;
    }
    (out, ev)
}

/// `round(2^bits * exp(-x))` for a table entry.
pub fn exp_entry(x: f64, bits: u32) -> u64 {
    (2f64.powi(bits as i32) * (-x).exp()).round() as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    fn had(select: Selection) -> CoreParams {
        // d_k = 2, tau = ln 2: lut = [2^4, 2^3, 2^2] with E = 4.
        CoreParams {
            mode: CoreMode::Had,
            s: 3,
            d_k: 2,
            d_v: 1,
            select,
            exp_bits: 4,
            prob_bits: 4,
            lut: vec![16, 8, 4],
            index: None,
            out: Requant { multiplier: 1 << 30, shift: 30 },
            out_lo: -1000,
            out_hi: 1000,
            v_lo: -128,
            v_hi: 127,
            qk_lo: 0,
            qk_hi: 1,
        }
    }

    #[test]
    fn one_query_by_hand() {
        // q0 = [1, 1]; keys [1,1], [1,0], [0,0] -> HD 0, 1, 2 -> e = 16, 8, 4, Z = 28.
        // inv = floor(2^(4+4+8) / 28) = floor(65536 / 28) = 2340.
        // p = (16*2340) >> 12 = 9, (8*2340) >> 12 = 4, (4*2340) >> 12 = 2.
        // v = [10, 20, 30]: acc = 90 + 80 + 60 = 230, requant by 1.0 -> 230.
        let p = had(Selection::All);
        let q = [1, 1, 1, 0, 0, 0];
        let k = [1, 1, 1, 0, 0, 0];
        let v = [10, 20, 30];
        let (out, ev) = attend(&p, &q, &k, &v);
        assert_eq!(out[0], 230);
        assert_eq!(ev.scores, 9);
        // Top-1: only key 0 survives, p = (16 * floor(65536/16)) >> 12 = 16 -> 160.
        let (out, _) = attend(&had(Selection::TopN { n: 1 }), &q, &k, &v);
        assert_eq!(out[0], 160);
        // Query 1 = [1, 0]: HD to keys = 1, 0, 1. Top-2 keeps key 1 (HD 0) and key 0 (HD 1,
        // lower index than key 2): e = 16, 8 -> inv = floor(65536/24) = 2730, p = 10, 5:
        // acc = 10*20 + 5*10 = 250.
        let (out, _) = attend(&had(Selection::TopN { n: 2 }), &q, &k, &v);
        assert_eq!(out[1], 250);
    }
}
