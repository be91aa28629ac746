//! Fixed-point requantization, the one integer rescaling every family's datapath uses: a
//! product by a 31-bit multiplier, then a right shift rounding half to even. The interpreter
//! of the core `requantize` ops, the crossbar and attention simulators and the RTL generators
//! all compute exactly [`round_shift_half_even`].

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
    pub fn from_real(m: f64) -> Result<Requant, String> {
        if !(m.is_finite() && m > 0.0) {
            return Err(format!("requantization factor {m} is not positive and finite"));
        }
        let e = m.log2().floor() as i32;
        let mut shift = 30 - e;
        if shift < 1 {
            return Err(format!("requantization factor {m} is too large (>= 2^29)"));
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
        round_shift_half_even(acc as i128 * self.multiplier as i128, self.shift) as i64
    }
    pub fn real(&self) -> f64 {
        self.multiplier as f64 / 2f64.powi(self.shift as i32)
    }
}
