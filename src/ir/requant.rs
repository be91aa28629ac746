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
/// Laid out as C does (multiplier, then shift) so eight of them load as one 512-bit vector.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(C)]
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

/// `values[i] = rq[i].apply(values[i]).clamp(lo, hi)` for every `i` (a layer's outputs, each
/// with its own multiplier). Eight at a time with AVX-512 where every accumulator of the eight
/// is below 2^31 in magnitude and every shift in 1..63 (the product then fits 63 bits and the
/// rounding is `apply`'s 64-bit path); the rest one by one.
pub fn apply_clamped(rq: &[Requant], values: &mut [i64], lo: i64, hi: i64) {
    let n = values.len().min(rq.len());
    let mut done = 0;
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx512f")
        && std::arch::is_x86_feature_detected!("avx512dq")
    {
        // SAFETY: AVX-512F and DQ checked just above.
        done = unsafe { x86::apply_clamped(&rq[..n], &mut values[..n], lo, hi) };
    }
    for (v, r) in values[done..n].iter_mut().zip(&rq[done..n]) {
        *v = r.apply(*v).clamp(lo, hi);
    }
}

#[cfg(target_arch = "x86_64")]
mod x86 {
    use super::Requant;
    use std::arch::x86_64::*;

    /// [`super::apply_clamped`] eight lanes a step while the lanes qualify; returns how many
    /// leading values it did.
    #[target_feature(enable = "avx512f,avx512dq")]
    pub(super) fn apply_clamped(rq: &[Requant], values: &mut [i64], lo: i64, hi: i64) -> usize {
        let (one, lim) = (_mm512_set1_epi64(1), _mm512_set1_epi64(1 << 31));
        let (lo_v, hi_v) = (_mm512_set1_epi64(lo), _mm512_set1_epi64(hi));
        let max_shift = _mm512_set1_epi64(62);
        let mut done = 0;
        for (vs, rs) in values.chunks_exact_mut(8).zip(rq.chunks_exact(8)) {
            // SAFETY: 8 values; 8 `Requant`s are 64 bytes, (multiplier, shift) a lane (`repr(C)`).
            let (a, r) = unsafe {
                (
                    _mm512_loadu_si512(vs.as_ptr() as *const _),
                    _mm512_loadu_si512(rs.as_ptr() as *const _),
                )
            };
            // The multiplier sign-extended from the low half of each lane, the shift the high.
            let m = _mm512_srai_epi64::<32>(_mm512_slli_epi64::<32>(r));
            let s = _mm512_srli_epi64::<32>(r);
            let shifts_ok = _mm512_cmpge_epu64_mask(s, one) & _mm512_cmple_epu64_mask(s, max_shift);
            if shifts_ok != 0xFF || _mm512_cmpge_epu64_mask(_mm512_abs_epi64(a), lim) != 0 {
                break;
            }
            let p = _mm512_mullo_epi64(a, m);
            let floor = _mm512_srav_epi64(p, s);
            let rem = _mm512_sub_epi64(p, _mm512_sllv_epi64(floor, s));
            let half = _mm512_sllv_epi64(one, _mm512_sub_epi64(s, one));
            let odd = _mm512_test_epi64_mask(floor, one);
            let up =
                _mm512_cmpgt_epi64_mask(rem, half) | (_mm512_cmpeq_epi64_mask(rem, half) & odd);
            let r = _mm512_mask_add_epi64(floor, up, floor, one);
            let r = _mm512_min_epi64(_mm512_max_epi64(r, lo_v), hi_v);
            // SAFETY: 8 values.
            unsafe { _mm512_storeu_si512(vs.as_mut_ptr() as *mut _, r) };
            done += 8;
        }
        done
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A xorshift64 stream from `seed`: the tests' reproducible random numbers.
    fn xorshift(mut r: u64) -> impl FnMut() -> u64 {
        move || {
            r ^= r << 13;
            r ^= r >> 7;
            r ^= r << 17;
            r
        }
    }

    /// The 64-bit fast path of `apply` rounds exactly as the 128-bit definition, including
    /// ties, negative accumulators and products near the i64 limits.
    #[test]
    fn apply_equals_the_128_bit_rounding() {
        let mut next = xorshift(0x9e37_79b9_7f4a_7c15);
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

    /// The batch form equals `apply` and the clamp, on lanes that take the vector path and
    /// lanes that fall back (large accumulators, shifts out of range, a partial chunk).
    #[test]
    fn apply_clamped_equals_apply_one_by_one() {
        let mut next = xorshift(0x2545_f491_4f6c_dd1d);
        for case in 0..400 {
            let n = (next() % 40) as usize;
            let rq: Vec<Requant> = (0..n)
                .map(|_| Requant {
                    multiplier: (next() >> 33) as i32,
                    shift: if case % 7 == 0 {
                        (next() % 64) as u32
                    } else {
                        20 + (next() % 30) as u32
                    },
                })
                .collect();
            let vals: Vec<i64> = (0..n)
                .map(|_| match next() % 8 {
                    0 => (next() as i64) >> 20,
                    1 => (1 << 31) - 1,
                    2 => -(1 << 31),
                    _ => ((next() as i64) >> 40) * (1 + (case % 3) as i64),
                })
                .collect();
            let (lo, hi) = (-(1i64 << 40), 1i64 << 40);
            let mut got = vals.clone();
            apply_clamped(&rq, &mut got, lo, hi);
            for i in 0..n {
                assert_eq!(got[i], rq[i].apply(vals[i]).clamp(lo, hi), "case {case} lane {i}");
            }
        }
    }
}
