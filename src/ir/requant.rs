//! Fixed-point requantization, the one integer rescaling every family's datapath uses: a
//! product by a 31-bit multiplier, then a right shift rounding half to even. The interpreter
//! of the core `requantize` ops, the crossbar and attention simulators and the RTL generators
//! all compute exactly [`round_shift_half_even`].

use super::error::OpError;
/// `round_half_even(p / 2^shift)`, exactly: `floor = p >> shift` (arithmetic), `rem = p -
/// (floor << shift)` in `[0, 2^shift)`; round up when `rem > 2^(shift-1)`, or when `rem ==
/// 2^(shift-1)` and `floor` is odd. `shift = 0` returns `p`. This is the sequence the RTL
/// performs.
pub fn round_shift_half_even(p: i128, shift: u32) -> i128 {
    if shift == 0 {
        return p;
    }
    let floor = p >> shift;
    let rem = p - (floor << shift);
    let half = 1i128 << (shift - 1);
    if rem > half || (rem == half && floor & 1 == 1) {
        floor + 1
    } else {
        floor
    }
}

/// A fixed-point multiplier: `apply(acc) = round_half_even(acc * multiplier / 2^shift)`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Requant {
    pub multiplier: i32,
    pub shift: u32,
}

impl Requant {
    /// The closest multiplier in `[2^30, 2^31)` and shift for a positive real factor.
    pub fn from_real(m: f64) -> Result<Requant, OpError> {
        if !(m.is_finite() && m > 0.0) {
            return Err(OpError::Value(format!(
                "requantization factor {m} is not positive and finite"
            )));
        }
        let e = m.log2().floor() as i32;
        let mut shift = 30 - e;
        if shift < 1 {
            return Err(OpError::Value(format!(
                "requantization factor {m} is too large (>= 2^29)"
            )));
        }
        if shift > 62 {
            shift = 62; // tiny factor: fewer significant bits, still the nearest value
        }
        let mut mult = (m * 2f64.powi(shift)).round() as i64;
        if mult >= 1 << 31 {
            mult /= 2;
            shift -= 1;
        }
        Ok(Requant { multiplier: mult as i32, shift: shift as u32 })
    }
    /// The exactly rounded (half to even) scaled value, without saturation.
    pub fn apply(&self, acc: i64) -> i64 {
        // The product fits i64 for the accumulators simulators see (|acc| < 2^32): the same
        // rounding in 64-bit arithmetic, several times cheaper than i128 shifts.
        match acc.checked_mul(i64::from(self.multiplier)) {
            Some(p) if (1..63).contains(&self.shift) => {
                let floor = p >> self.shift;
                let rem = p & ((1i64 << self.shift) - 1);
                let half = 1i64 << (self.shift - 1);
                floor + i64::from(rem > half || (rem == half && floor & 1 == 1))
            }
            _ => round_shift_half_even(acc as i128 * self.multiplier as i128, self.shift) as i64,
        }
    }
    pub fn real(&self) -> f64 {
        self.multiplier as f64 / 2f64.powi(self.shift as i32)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The 64-bit fast path of `apply` rounds exactly as the 128-bit definition, including
    /// ties, negative accumulators and products near the i64 limits.
    #[test]
    fn apply_equals_the_128_bit_rounding() {
        let mut r = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = || {
            r ^= r << 13;
            r ^= r >> 7;
            r ^= r << 17;
            r
        };
        let edges = [0i64, 1, -1, 2, -2, 3, -3, i64::MAX, i64::MIN, 1 << 32, -(1 << 32)];
        for _ in 0..20_000 {
            let mut q = Requant { multiplier: (next() >> 33) as i32, shift: (next() % 64) as u32 };
            let acc = match next() % 4 {
                0 => edges[(next() % edges.len() as u64) as usize],
                1 => (next() as i64) >> (next() % 64),
                2 => {
                    // A tie: acc * multiplier = (2k + 1) * 2^(shift - 1), k of either sign.
                    q = Requant { multiplier: 1, shift: 1 + (next() % 40) as u32 };
                    (((next() % 2000) as i64 - 1000) * 2 + 1) << (q.shift - 1)
                }
                _ => (next() as i64) >> 30,
            };
            let exact = round_shift_half_even(acc as i128 * q.multiplier as i128, q.shift) as i64;
            assert_eq!(q.apply(acc), exact, "acc {acc} {q:?}");
        }
        let tie = Requant { multiplier: 1, shift: 2 };
        assert_eq!([tie.apply(2), tie.apply(6), tie.apply(-2), tie.apply(-6)], [0, 2, 0, -2]);
    }
}
