//! Matrix products of unsigned bytes (inputs) with signed bytes (weights), summed exactly in
//! `i32`, on AVX-512 VNNI: one `VPDPBUSD` multiplies 64 byte pairs and adds them, four at a
//! time, into sixteen `i32` lanes. Without VNNI, inputs of at most 127 (bit planes) take AVX2:
//! `VPMADDUBSW` multiplies 32 pairs and adds them two at a time into `i16`, which saturates
//! past 32,767 (two products of 255 and -128 would; of 127 and -128 they stay within), then
//! `VPMADDWD` adds those pairs into `i32`. Two callers: the lossy measurement's exact reference
//! (8-bit weight codes times 8-bit activation codes, [`super::dots`]) and the simulator's
//! datapath on conductance codes (0/1 input bit planes times cell codes, [`super::bytepath`]),
//! whose f32 products took eight times the instructions for the same exact sums.
//!
//! The weights are packed once so that a register holds four consecutive inputs of sixteen
//! outputs (`[i / 4][j / 16][j % 16][i % 4]`): a lane accumulates one output, an instruction adds
//! four products to each of sixteen outputs for one row, whose four input bytes are broadcast.
//! [`ROWS`] rows share each loaded weight register, and no sum is horizontal. Four inputs of
//! every output are contiguous, so a weight matrix stored input by input (a crossbar's codes,
//! row by row) packs in one sequential sweep.

use std::ops::Range;

/// Outputs a packed group holds (the `i32` lanes of a 512-bit register).
pub const LANES: usize = 16;
/// Rows one pass multiplies: one accumulator register each, all kept in registers.
pub const ROWS: usize = 16;

/// Signed byte weights `w[j][i]` (`n_out` outputs of `n_in` inputs) in the layout the kernel
/// reads; entries past the ends are zero.
pub struct PackedBytes {
    n_out: usize,
    quads: usize,
    groups: usize,
    data: Vec<i8>,
}

impl PackedBytes {
    /// All-zero weights of `n_out` outputs and `n_in` inputs.
    pub fn zeroed(n_out: usize, n_in: usize) -> Self {
        let (quads, groups) = (n_in.div_ceil(4), n_out.div_ceil(LANES));
        PackedBytes { n_out, quads, groups, data: vec![0; groups * quads * 4 * LANES] }
    }
    /// Row-major `w` (`[n_out][n_in]`), packed.
    pub fn from_rows(w: &[i8], n_out: usize, n_in: usize) -> Self {
        assert_eq!(w.len(), n_out * n_in, "weights are not [n_out][n_in]");
        let mut p = PackedBytes::zeroed(n_out, n_in);
        for (j, wj) in w.chunks_exact(n_in.max(1)).enumerate().take(n_out) {
            for (i, &v) in wj.iter().enumerate() {
                p.set(j, i, v);
            }
        }
        p
    }
    /// Sets `w[j][i]`.
    #[inline]
    pub fn set(&mut self, j: usize, i: usize, v: i8) {
        debug_assert!(j < self.n_out && i < self.quads * 4);
        self.data[((i / 4 * self.groups + j / LANES) * LANES + j % LANES) * 4 + i % 4] = v;
    }
    /// Groups of [`LANES`] outputs.
    pub fn groups(&self) -> usize {
        self.groups
    }
    /// Bytes of one input row as [`product`] reads it (`n_in` rounded up to whole quads; the
    /// bytes past `n_in` must be zero or meet zero weights).
    pub fn row_bytes(&self) -> usize {
        self.quads * 4
    }
}

/// What the input bytes of a product may be.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Inputs {
    /// Any byte (activation codes).
    Any,
    /// At most 127 (bit planes): what AVX2's saturating byte products take exactly.
    Small,
}

/// Whether this machine runs [`product`] on such inputs (AVX-512BW and VNNI; AVX2 for small
/// inputs); callers without it take their own path.
pub fn available(inputs: Inputs) -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        vnni() || (inputs == Inputs::Small && std::arch::is_x86_feature_detected!("avx2"))
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        let _ = inputs;
        false
    }
}

#[cfg(target_arch = "x86_64")]
fn vnni() -> bool {
    std::arch::is_x86_feature_detected!("avx512bw")
        && std::arch::is_x86_feature_detected!("avx512vnni")
}

/// `out[r * stride + (j - LANES * groups.start)] = sum_i x[r * row_bytes + i] * w[j][i]` for
/// rows `0..rows` (a multiple of [`ROWS`]) and the outputs of `groups`, where the machine runs
/// it on `inputs` ([`available`]); returns false, writing nothing, where it does not. The
/// caller keeps every sum within `i32` (`n_in * 255 * 128` always is for `n_in` below 65,793)
/// and, for [`Inputs::Small`], every byte of `x` at most 127.
pub fn product(
    w: &PackedBytes,
    x: &[u8],
    rows: usize,
    groups: Range<usize>,
    out: &mut [i32],
    stride: usize,
    inputs: Inputs,
) -> bool {
    let rb = w.row_bytes();
    assert!(rows.is_multiple_of(ROWS) && x.len() >= rows * rb, "inputs do not cover the rows");
    assert!(groups.end <= w.groups() && stride >= groups.len() * LANES, "groups do not fit");
    assert!(rows == 0 || out.len() >= (rows - 1) * stride + groups.len() * LANES);
    #[cfg(target_arch = "x86_64")]
    if vnni() {
        // SAFETY: the CPU has AVX-512BW and VNNI (checked); the asserts above bound every
        // read of `x` and `w.data` and every write of `out`.
        unsafe { x86::vnni(w, x, rows, groups, out, stride) };
        return true;
    } else if available(inputs) {
        // SAFETY: the CPU has AVX2 (what `available` checks for small inputs without VNNI);
        // the asserts bound the accesses as above.
        unsafe { x86::avx2(w, x, rows, groups, out, stride) };
        return true;
    }
    let _ = (w, x, rows, groups, out, stride, inputs);
    false
}

#[cfg(target_arch = "x86_64")]
mod x86 {
    use super::{PackedBytes, LANES, ROWS};
    use std::ops::Range;

    /// # Safety
    /// The CPU has AVX-512BW and AVX-512 VNNI; the arguments meet [`super::product`]'s asserts.
    #[target_feature(enable = "avx512f,avx512bw,avx512vnni")]
    pub(super) unsafe fn vnni(
        w: &PackedBytes,
        x: &[u8],
        rows: usize,
        groups: Range<usize>,
        out: &mut [i32],
        stride: usize,
    ) {
        use std::arch::x86_64::*;
        let (quads, rb, step) = (w.quads, w.row_bytes(), w.groups * 4 * LANES);
        for r0 in (0..rows).step_by(ROWS) {
            let xr = x.as_ptr().add(r0 * rb);
            for (n, g) in groups.clone().enumerate() {
                let mut acc = [_mm512_setzero_si512(); ROWS];
                let wg = w.data.as_ptr().add(g * 4 * LANES);
                for q in 0..quads {
                    let wv = _mm512_loadu_si512(wg.add(q * step) as *const _);
                    for (r, a) in acc.iter_mut().enumerate() {
                        let four = (xr.add(r * rb + q * 4) as *const i32).read_unaligned();
                        *a = _mm512_dpbusd_epi32(*a, _mm512_set1_epi32(four), wv);
                    }
                }
                for (r, a) in acc.iter().enumerate() {
                    let at = out.as_mut_ptr().add((r0 + r) * stride + n * LANES);
                    _mm512_storeu_si512(at as *mut _, *a);
                }
            }
        }
    }

    /// [`vnni`] on AVX2 for inputs of at most 127: eight rows and eight outputs (one register
    /// each) at a time, within AVX2's sixteen registers.
    ///
    /// # Safety
    /// The CPU has AVX2; the arguments meet [`super::product`]'s asserts; every byte of `x` is
    /// at most 127.
    #[target_feature(enable = "avx2")]
    pub(super) unsafe fn avx2(
        w: &PackedBytes,
        x: &[u8],
        rows: usize,
        groups: Range<usize>,
        out: &mut [i32],
        stride: usize,
    ) {
        use std::arch::x86_64::*;
        const R: usize = 8;
        let (quads, rb, step) = (w.quads, w.row_bytes(), w.groups * 4 * LANES);
        let ones = _mm256_set1_epi16(1);
        for r0 in (0..rows).step_by(R) {
            let xr = x.as_ptr().add(r0 * rb);
            for (n, g) in groups.clone().enumerate() {
                for half in 0..2 {
                    let mut acc = [_mm256_setzero_si256(); R];
                    let wg = w.data.as_ptr().add(g * 4 * LANES + half * 2 * LANES);
                    for q in 0..quads {
                        let wv = _mm256_loadu_si256(wg.add(q * step) as *const _);
                        for (r, a) in acc.iter_mut().enumerate() {
                            let four = (xr.add(r * rb + q * 4) as *const i32).read_unaligned();
                            let pairs = _mm256_maddubs_epi16(_mm256_set1_epi32(four), wv);
                            *a = _mm256_add_epi32(*a, _mm256_madd_epi16(pairs, ones));
                        }
                    }
                    for (r, a) in acc.iter().enumerate() {
                        let at = out.as_mut_ptr().add((r0 + r) * stride + n * LANES + half * 8);
                        _mm256_storeu_si256(at as *mut _, *a);
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The sums by definition.
    fn naive(w: &[i8], x: &[u8], rows: usize, n_in: usize, n_out: usize) -> Vec<i32> {
        (0..rows * n_out)
            .map(|k| {
                let (r, j) = (k / n_out, k % n_out);
                (0..n_in).map(|i| i32::from(x[r * n_in + i]) * i32::from(w[j * n_in + i])).sum()
            })
            .collect()
    }

    /// Every variant the machine has, on any inputs (VNNI) and on inputs of at most 127
    /// (AVX2 as well), and the dispatching entry.
    #[test]
    fn products_equal_the_sums_by_definition() {
        #[cfg(target_arch = "x86_64")]
        {
            if vnni() {
                // SAFETY: the CPU has VNNI (checked); `check` passes shapes `product` accepts.
                check(255, |p, x, rows, g, out, stride| unsafe {
                    x86::vnni(p, x, rows, g, out, stride)
                });
            } else {
                eprintln!("no AVX-512 VNNI here: its byte product is not run");
            }
            if std::arch::is_x86_feature_detected!("avx2") {
                // SAFETY: the CPU has AVX2 (checked); inputs of at most 127, shapes as above.
                check(127, |p, x, rows, g, out, stride| unsafe {
                    x86::avx2(p, x, rows, g, out, stride)
                });
            }
        }
        if available(Inputs::Small) {
            check(127, |p, x, rows, g, out, stride| {
                assert!(product(p, x, rows, g, out, stride, Inputs::Small));
            });
        }
    }

    type Kernel = fn(&PackedBytes, &[u8], usize, Range<usize>, &mut [i32], usize);

    /// `kernel`'s products on random inputs up to `x_max` against the sums by definition.
    fn check(x_max: u8, kernel: Kernel) {
        // Widths that leave partial quads and partial groups; the extremes of both operands.
        for (n_in, n_out, rows) in [(1, 1, 16), (7, 17, 32), (128, 45, 16), (130, 16, 48)] {
            let mut s = 0x9e37_79b9_u32.wrapping_mul(n_in as u32 + 1);
            let mut next = || {
                s ^= s << 13;
                s ^= s >> 17;
                s ^= s << 5;
                s
            };
            let w: Vec<i8> = (0..n_in * n_out)
                .map(|k| if k % 11 == 0 { -128 } else { next() as u8 as i8 })
                .collect();
            let x: Vec<u8> = (0..rows * n_in)
                .map(|k| if k % 7 == 0 { x_max } else { next() as u8 % x_max })
                .collect();
            let p = PackedBytes::from_rows(&w, n_out, n_in);
            let rb = p.row_bytes();
            let mut xp = vec![0u8; rows * rb];
            for r in 0..rows {
                xp[r * rb..r * rb + n_in].copy_from_slice(&x[r * n_in..(r + 1) * n_in]);
            }
            let want = naive(&w, &x, rows, n_in, n_out);
            // All groups, and the groups from the second on (a column chunk).
            for g0 in [0, 1.min(p.groups() - 1)] {
                let groups = g0..p.groups();
                let stride = groups.len() * LANES + 3;
                let mut out = vec![0i32; rows * stride];
                kernel(&p, &xp, rows, groups, &mut out, stride);
                for r in 0..rows {
                    for j in LANES * g0..n_out {
                        let got = out[r * stride + j - LANES * g0];
                        assert_eq!(got, want[r * n_out + j], "n_in {n_in} row {r} output {j}");
                    }
                }
            }
        }
    }
}
