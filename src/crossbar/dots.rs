//! Dot products of many rows with one weight matrix, in f64: the exact integer reference of
//! the lossy measurement (weight codes times activation codes). The float model is the
//! interpreter's (`crate::ir::interp`, f64 sums); the f32 instance below is kept for the tests
//! that pin the summation order.
//!
//! Evaluating a batch one row at a time reads every weight once per row; at 17 M weights
//! (68 MB of f32) that is a pass over main memory per row. Here a block of [`ROWS`] rows is
//! multiplied in one pass over each weight row, the block's inputs transposed so that the
//! rows sit side by side in the vector registers.
//!
//! Every output keeps the summation order of the per-row code it replaces,
//! `(0..n_in).map(|i| w[j][i] as f64 * x[i] as f64).sum::<f64>()`: an f64 fold from `-0.0`
//! (what `Sum for f64` starts from) in increasing `i`, so results are bit-identical. Where the
//! machine has FMA the product and the add are one fused instruction; that rounds identically
//! because every product of two [`Exact`] values is exact in f64 (the fused form rounds
//! `acc + w * x` once, the separate form rounds the exact `w * x`, a no-op, then the sum).

use super::bytegemm::{self, Inputs, PackedBytes};

/// Rows multiplied per pass over the weights. Sixteen f64 accumulators per output column are
/// two AVX-512 or four AVX2 registers; the block's transposed inputs (`ROWS * n_in` f64, 512 KB
/// at 4,096 inputs) stay in the L2 cache. (32 rows measured twice as slow at 4,096 x 4,096.)
const ROWS: usize = 16;

/// A value whose f64 conversion is exact and whose products with other `Exact` values are
/// exact in f64: f32 (24-bit significands, products of 48 bits), and integers whose products
/// and partial sums stay below 2^53 in magnitude ([`dots_i64`] checks that bound).
pub trait Exact: Copy {
    fn to_f64(self) -> f64;
    /// The values as signed bytes, when they are (8-bit weight codes: [`dots_i64`]'s byte
    /// kernel).
    fn as_bytes(values: &[Self]) -> Option<&[i8]> {
        let _ = values;
        None
    }
}

#[cfg(test)]
impl Exact for f32 {
    #[inline(always)]
    fn to_f64(self) -> f64 {
        self as f64
    }
}

/// Integer weight and activation codes (every width `WeightCodes` stores).
macro_rules! exact_int {
    ($($t:ty),*) => {$(
        impl Exact for $t {
            #[inline(always)]
            fn to_f64(self) -> f64 {
                self as f64
            }
        }
    )*};
}
exact_int!(i16, i32, i64);

impl Exact for i8 {
    #[inline(always)]
    fn to_f64(self) -> f64 {
        self as f64
    }
    fn as_bytes(values: &[i8]) -> Option<&[i8]> {
        Some(values)
    }
}

/// `out[r * n_out + j] = sum_i w[j * n_in + i] * x[r * n_in + i]` for every row `r` of `x`
/// (`rows` rows, row-major, `n_in` wide) and output `j` of `w` (row-major `[n_out][n_in]`),
/// each sum the f64 fold described in the module docs.
pub fn dots<W: Exact, X: Exact>(
    w: &[W],
    x: &[X],
    rows: usize,
    n_in: usize,
    n_out: usize,
) -> Vec<f64> {
    dots_by(w, x, rows, n_in, n_out, block_dots)
}

/// [`dots`] with the given block body (the tests run every variant).
fn dots_by<W: Exact, X: Exact>(
    w: &[W],
    x: &[X],
    rows: usize,
    n_in: usize,
    n_out: usize,
    block_dots: impl Fn(&[W], &[f64], usize, usize, usize, &mut [f64]),
) -> Vec<f64> {
    assert_eq!(w.len(), n_in * n_out, "weights are not [n_out][n_in]");
    assert_eq!(x.len(), rows * n_in, "inputs are not [rows][n_in]");
    let mut out = vec![0f64; rows * n_out];
    let mut xt = vec![0f64; n_in * ROWS];
    for r0 in (0..rows).step_by(ROWS) {
        let block = (rows - r0).min(ROWS);
        // Transpose the block; rows past the end stay zero and their sums are dropped.
        xt.fill(0.0);
        for r in 0..block {
            let row = &x[(r0 + r) * n_in..(r0 + r + 1) * n_in];
            for (i, v) in row.iter().enumerate() {
                xt[i * ROWS + r] = v.to_f64();
            }
        }
        let out = &mut out[r0 * n_out..(r0 + block) * n_out];
        block_dots(w, &xt, n_in, n_out, block, out);
    }
    out
}

/// The exact integer sums `sum_i w[j * n_in + i] * x[r * n_in + i]`, computed in f64 when
/// `n_in * max |w| * max |x|` is below 2^53 (then every product and partial sum is an integer
/// f64 holds exactly), else with `i64` arithmetic one row at a time.
pub fn dots_i64<W: Exact + Into<i64>>(
    w: &[W],
    x: &[i64],
    rows: usize,
    n_in: usize,
    n_out: usize,
) -> Vec<i64> {
    let wmax = w.iter().map(|a| (*a).into().unsigned_abs()).max().unwrap_or(0);
    let xmax = x.iter().map(|a| a.unsigned_abs()).max().unwrap_or(0);
    let bound = (wmax as u128) * (xmax as u128) * (n_in as u128);
    if let Some(out) = W::as_bytes(w).and_then(|wb| byte_dots(wb, x, rows, n_in, n_out, bound)) {
        return out;
    }
    if bound < 1u128 << 53 {
        return dots(w, x, rows, n_in, n_out).into_iter().map(|v| v as i64).collect();
    }
    let mut out = Vec::with_capacity(rows * n_out);
    for r in 0..rows {
        let row = &x[r * n_in..(r + 1) * n_in];
        out.extend((0..n_out).map(|j| {
            let wj = &w[j * n_in..(j + 1) * n_in];
            wj.iter().zip(row).map(|(a, b)| (*a).into() * b).sum::<i64>()
        }));
    }
    out
}

/// [`dots_i64`] for 8-bit weights and inputs in `0..=255` whose sums fit `i32`, on AVX-512
/// VNNI: `VPDPBUSD` multiplies 64 (unsigned input, signed weight) byte pairs per instruction,
/// eight times the f64 path's products per instruction, and the sums are the same exact
/// integers. `None` where it does not apply (other inputs, no VNNI).
fn byte_dots(
    w: &[i8],
    x: &[i64],
    rows: usize,
    n_in: usize,
    n_out: usize,
    bound: u128,
) -> Option<Vec<i64>> {
    let fits = bound < 1u128 << 31 && x.iter().all(|v| (0..=255).contains(v));
    if !fits
        || !bytegemm::available(Inputs::Any)
        || w.len() != n_in * n_out
        || x.len() != rows * n_in
    {
        return None;
    }
    let packed = PackedBytes::from_rows(w, n_out, n_in);
    let (rb, padded) = (packed.row_bytes(), rows.next_multiple_of(bytegemm::ROWS));
    // Each row's inputs, padded to whole quads and the rows to whole passes.
    let mut xp = vec![0u8; padded * rb];
    for (r, xr) in x.chunks_exact(n_in.max(1)).enumerate().take(rows) {
        xp[r * rb..r * rb + n_in].iter_mut().zip(xr).for_each(|(b, v)| *b = *v as u8);
    }
    let stride = packed.groups() * bytegemm::LANES;
    let mut sums = vec![0i32; padded * stride];
    let groups = 0..packed.groups();
    if !bytegemm::product(&packed, &xp, padded, groups, &mut sums, stride, Inputs::Any) {
        return None;
    }
    let rows_out = sums.chunks_exact(stride.max(1)).take(rows);
    Some(rows_out.flat_map(|s| s[..n_out].iter().map(|v| i64::from(*v))).collect())
}

/// One block of `block` rows (transposed in `xt`) against every output: the machine's widest
/// variant.
fn block_dots<W: Exact>(
    w: &[W],
    xt: &[f64],
    n_in: usize,
    n_out: usize,
    block: usize,
    out: &mut [f64],
) {
    #[cfg(target_arch = "x86_64")]
    {
        if std::arch::is_x86_feature_detected!("avx512f") {
            // SAFETY: the CPU supports AVX-512F (checked above).
            unsafe { x86::avx512(w, xt, n_in, n_out, block, out) };
            return;
        }
        if std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma")
        {
            // SAFETY: the CPU supports AVX2 and FMA (checked above).
            unsafe { x86::avx2_fma(w, xt, n_in, n_out, block, out) };
            return;
        }
    }
    block_body::<W, false, 2>(w, xt, n_in, n_out, block, out);
}

#[cfg(target_arch = "x86_64")]
mod x86 {
    use super::{block_body, Exact};

    /// Four columns: 8 of the 32 registers hold accumulators, enough independent chains to
    /// cover the FMA latency (1.3-1.6x faster than two at 4,096 x 4,096).
    #[target_feature(enable = "avx512f,fma")]
    pub(super) unsafe fn avx512<W: Exact>(
        w: &[W],
        xt: &[f64],
        n_in: usize,
        n_out: usize,
        block: usize,
        out: &mut [f64],
    ) {
        block_body::<W, true, 4>(w, xt, n_in, n_out, block, out);
    }

    /// Two columns: 8 of the 16 registers hold accumulators.
    #[target_feature(enable = "avx2,fma")]
    pub(super) unsafe fn avx2_fma<W: Exact>(
        w: &[W],
        xt: &[f64],
        n_in: usize,
        n_out: usize,
        block: usize,
        out: &mut [f64],
    ) {
        block_body::<W, true, 2>(w, xt, n_in, n_out, block, out);
    }
}

/// `acc + w * x`, fused when `FMA` (the same value: `w * x` is exact, see the module docs).
#[inline(always)]
fn mac<const FMA: bool>(acc: f64, w: f64, x: f64) -> f64 {
    if FMA {
        w.mul_add(x, acc)
    } else {
        acc + w * x
    }
}

/// The block's sums, `COLS` outputs at a time (independent add chains), the last
/// `n_out % COLS` one at a time; inlined into each target-feature variant.
#[inline(always)]
fn block_body<W: Exact, const FMA: bool, const COLS: usize>(
    w: &[W],
    xt: &[f64],
    n_in: usize,
    n_out: usize,
    block: usize,
    out: &mut [f64],
) {
    let mut j = 0;
    while j + COLS <= n_out {
        columns::<W, FMA, COLS>(w, xt, n_in, n_out, block, j, out);
        j += COLS;
    }
    for j in j..n_out {
        columns::<W, FMA, 1>(w, xt, n_in, n_out, block, j, out);
    }
}

/// The sums of outputs `j..j + C` for the block's rows, each a fold in increasing input order.
#[inline(always)]
fn columns<W: Exact, const FMA: bool, const C: usize>(
    w: &[W],
    xt: &[f64],
    n_in: usize,
    n_out: usize,
    block: usize,
    j: usize,
    out: &mut [f64],
) {
    let mut acc = [[-0.0f64; ROWS]; C];
    let ws: [&[W]; C] = std::array::from_fn(|c| &w[(j + c) * n_in..(j + c + 1) * n_in]);
    for (i, xs) in xt.chunks_exact(ROWS).enumerate() {
        for (a, wr) in acc.iter_mut().zip(&ws) {
            let wv = wr[i].to_f64();
            for (s, xv) in a.iter_mut().zip(xs) {
                *s = mac::<FMA>(*s, wv, *xv);
            }
        }
    }
    for (c, a) in acc.iter().enumerate() {
        for (r, s) in a[..block].iter().enumerate() {
            out[r * n_out + j + c] = *s;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The row-by-row sums the batched path replaces.
    fn reference(w: &[f32], x: &[f32], n_in: usize, n_out: usize) -> Vec<f64> {
        x.chunks(n_in)
            .flat_map(|row| {
                (0..n_out).map(move |j| {
                    (0..n_in).map(|i| w[j * n_in + i] as f64 * row[i] as f64).sum::<f64>()
                })
            })
            .collect()
    }

    /// Values of mixed magnitudes and signs (sums that cancel and round), zeros and negative
    /// zeros included, from a fixed linear congruential stream.
    fn values(n: usize, seed: u64) -> Vec<f32> {
        let mut s = seed;
        (0..n)
            .map(|k| {
                s = s.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                let m =
                    ((s >> 40) as f32 / (1u64 << 24) as f32 - 0.5) * 2f32.powi((k % 17) as i32 - 8);
                match k % 23 {
                    0 => 0.0,
                    1 => -0.0,
                    _ => m,
                }
            })
            .collect()
    }

    #[test]
    fn bit_identical_to_row_by_row_sums() {
        for (rows, n_in, n_out) in [(1, 1, 1), (3, 5, 7), (16, 9, 2), (17, 33, 3), (40, 64, 11)] {
            let w = values(n_in * n_out, 1 + rows as u64);
            let x = values(rows * n_in, 99 + n_in as u64);
            let want = reference(&w, &x, n_in, n_out);
            // The machine's variant, and both bodies whatever the machine.
            for got in [
                dots(&w, &x, rows, n_in, n_out),
                dots_by(&w, &x, rows, n_in, n_out, block_body::<f32, false, 2>),
                dots_by(&w, &x, rows, n_in, n_out, block_body::<f32, true, 4>),
            ] {
                assert_eq!(got.len(), want.len());
                for (k, (a, b)) in got.iter().zip(&want).enumerate() {
                    assert_eq!(a.to_bits(), b.to_bits(), "{rows}x{n_in}x{n_out} output {k}");
                }
            }
        }
    }

    #[test]
    fn all_negative_zero_products_sum_to_negative_zero() {
        let got = dots(&[-0.0f32, 0.0], &[1.0f32, -1.0], 1, 2, 1);
        assert!(got[0] == 0.0 && got[0].is_sign_negative());
    }

    /// 8-bit weights with inputs in 0..=255 take the VNNI byte kernel where the CPU has it:
    /// the same exact sums for row counts and widths around its 16-row blocks and 64-byte
    /// chunks.
    #[test]
    fn byte_weights_sum_exactly() {
        let mut s = 0x2545_f491_4f6c_dd1du64;
        let mut next = move || {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            s
        };
        for (rows, n_in, n_out) in
            [(1, 1, 1), (15, 63, 3), (16, 64, 2), (17, 65, 5), (33, 300, 7), (5, 70, 37)]
        {
            let w: Vec<i8> = (0..n_in * n_out).map(|_| next() as i8).collect();
            let x: Vec<i64> = (0..rows * n_in).map(|_| (next() % 256) as i64).collect();
            let want: Vec<i64> = x
                .chunks(n_in)
                .flat_map(|r| {
                    let w = &w;
                    (0..n_out).map(move |j| {
                        (0..n_in).map(|i| i64::from(w[j * n_in + i]) * r[i]).sum::<i64>()
                    })
                })
                .collect();
            assert_eq!(dots_i64(&w, &x, rows, n_in, n_out), want, "{rows}x{n_in}x{n_out}");
        }
    }

    #[test]
    fn integer_sums_are_exact_on_both_paths() {
        let (n_in, n_out) = (37, 5);
        let w: Vec<i64> = (0..n_in * n_out).map(|k| (k as i64 * 7919 % 255) - 127).collect();
        let x: Vec<i64> = (0..3 * n_in).map(|k| k as i64 * 31 % 256).collect();
        let want: Vec<i64> = x
            .chunks(n_in)
            .flat_map(|r| {
                let w = &w;
                (0..n_out).map(move |j| (0..n_in).map(|i| w[j * n_in + i] * r[i]).sum::<i64>())
            })
            .collect();
        assert_eq!(dots_i64(&w, &x, 3, n_in, n_out), want);
        // Sums that could pass 2^53 take the i64 path (and stay exact).
        let big: Vec<i64> = x.iter().map(|v| (v << 40) + 1).collect();
        let want_big: Vec<i64> = x
            .chunks(n_in)
            .flat_map(|r| {
                let w = &w;
                (0..n_out)
                    .map(move |j| (0..n_in).map(|i| w[j * n_in + i] * ((r[i] << 40) + 1)).sum())
            })
            .collect();
        assert_eq!(dots_i64(&w, &big, 3, n_in, n_out), want_big);
    }
}
