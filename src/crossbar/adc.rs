//! The column ADC: a saturating uniform quantizer of a column's partial sum, defined with
//! integers only so the simulator and the RTL's digital twin agree bit for bit.
//!
//! Units: a column partial sum `P` is measured in *cell levels* (a cell at level `c` on an
//! active row contributes `c`); with device nonidealities it is measured in fine units of
//! `2^-frac_bits` levels (see [`super::device`]). Transfer function, with `Lc = 2^bits - 1`
//! and full scale `FS` (levels; the ideal column maximum `rows * (2^cell_bits - 1)` unless set):
//! - `FS_eff = max(FS, Lc)`: when the ADC has at least as many codes as the column has values
//!   it is lossless (step 1 level, clipping only above `Lc`).
//! - code: `k = clamp(floor((2 * Lc * P + FS_eff * 2^f) / (2 * FS_eff * 2^f)), 0, Lc)`, i.e.
//!   the number of thresholds `T_k = (k - 1/2) * FS_eff / Lc` (levels) that `P` reaches:
//!   mid-point thresholds of a uniform quantizer, saturating at `Lc` (clipping) and at 0.
//! - output (the value the shift-add sees): `level(k) = round_half_even(k * FS_eff / Lc)`
//!   levels, an integer. With `FS_eff = Lc` this is `k`, so an ideal column is exact.

/// One ADC configuration.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Adc {
    pub bits: u32,
    /// Full scale in cell levels.
    pub full_scale: u64,
    /// Fractional bits of the partial sums it converts.
    pub frac_bits: u32,
}

impl Adc {
    /// The largest code, `2^bits - 1`.
    pub fn max_code(&self) -> u64 {
        (1u64 << self.bits) - 1
    }
    /// The effective full scale, `max(FS, 2^bits - 1)`.
    pub fn fs_eff(&self) -> u64 {
        self.full_scale.max(self.max_code())
    }
    /// The output level of every partial sum `0..=max_sum` (fine units): the transfer
    /// function as a table, read by sum instead of computed per conversion.
    pub fn transfer(&self, max_sum: i64) -> Vec<i64> {
        (0..=max_sum).map(|p| self.level(self.code(p))).collect()
    }
    /// True when every partial sum up to `max_sum` levels converts exactly (ideal fine units).
    pub fn is_lossless_up_to(&self, max_sum: u64) -> bool {
        self.full_scale <= self.max_code() && max_sum <= self.max_code()
    }
    /// The code for a partial sum `p` in fine units (negative sums, possible only with read
    /// noise, read as 0).
    pub fn code(&self, p: i64) -> u64 {
        let lc = self.max_code() as i128;
        let fs = (self.fs_eff() as i128) << self.frac_bits;
        let p = p.max(0) as i128;
        let k = (2 * lc * p + fs) / (2 * fs);
        k.min(lc) as u64
    }
    /// The reconstructed value of a code in (integer) levels.
    pub fn level(&self, code: u64) -> i64 {
        let num = code as u128 * self.fs_eff() as u128;
        let den = self.max_code() as u128;
        let (q, r) = (num / den, num % den);
        let up = 2 * r > den || (2 * r == den && q % 2 == 1);
        (q + u128::from(up)) as i64
    }
    /// The thresholds `T_1..T_Lc` in fine units (`code(p)` = how many of them `p` reaches),
    /// for a comparator-based digital twin.
    pub fn thresholds(&self) -> Vec<i64> {
        let lc = self.max_code() as i128;
        let fs = (self.fs_eff() as i128) << self.frac_bits;
        // Smallest integer p with 2*Lc*p >= (2k - 1) * fs.
        (1..=lc).map(|k| (((2 * k - 1) * fs + 2 * lc - 1) / (2 * lc)) as i64).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lossless_when_codes_cover_the_range() {
        let adc = Adc { bits: 4, full_scale: 12, frac_bits: 0 };
        for p in 0..=15 {
            assert_eq!(adc.level(adc.code(p)), p);
        }
        assert_eq!(adc.code(40), 15); // saturates
        let fine = Adc { frac_bits: 3, ..adc };
        assert_eq!(fine.code(5 * 8), 5);
        assert_eq!(fine.code(5 * 8 + 3), 5); // 5.375 levels
        assert_eq!(fine.code(5 * 8 + 4), 6); // 5.5 rounds up at the threshold
    }

    #[test]
    fn lossy_transfer_by_hand() {
        // 2-bit ADC, full scale 9 levels: step 3, thresholds 1.5, 4.5, 7.5; outputs 0, 3, 6, 9.
        let adc = Adc { bits: 2, full_scale: 9, frac_bits: 0 };
        let codes: Vec<u64> = (0..=10).map(|p| adc.code(p)).collect();
        assert_eq!(codes, [0, 0, 1, 1, 1, 2, 2, 2, 3, 3, 3]);
        assert_eq!((0..4).map(|k| adc.level(k)).collect::<Vec<_>>(), [0, 3, 6, 9]);
        assert_eq!(adc.thresholds(), [2, 5, 8]);
        // Full scale 10: step 10/3; outputs round(10k/3) = 0, 3, 7 (6.67), 10.
        let adc = Adc { bits: 2, full_scale: 10, frac_bits: 0 };
        assert_eq!((0..4).map(|k| adc.level(k)).collect::<Vec<_>>(), [0, 3, 7, 10]);
    }

    #[test]
    fn thresholds_agree_with_the_closed_form() {
        for (bits, fs, f) in [(3, 100, 0), (5, 384, 4), (1, 7, 2), (6, 63, 0)] {
            let adc = Adc { bits, full_scale: fs, frac_bits: f };
            let t = adc.thresholds();
            for p in -3..(fs as i64 + 5) << f {
                let counted = t.iter().filter(|th| p >= **th).count() as u64;
                assert_eq!(adc.code(p), counted, "bits {bits} fs {fs} f {f} p {p}");
            }
        }
    }
}
