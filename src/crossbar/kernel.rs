//! The fast simulation kernel for layers whose conductance codes are a function of the cell
//! level (no per-cell variation, no stuck cells): an ideal device, or one whose only
//! nonideality is a finite on/off ratio. Then `g(level) = base + step * level` (checked when
//! the kernel is built) and a column's partial sum over the driven rows is
//! `P = driven * base + step * sum_k 2^k * popcount(input bits & level bit plane k)`:
//! 64 cells per AND + POPCNT instead of one add per cell, and no float anywhere, so the sums
//! are the integers [`super::sim::simulate_layer`]'s reference loop computes, bit for bit.
//!
//! Storage: the cell levels as bit planes, one bit per cell and level bit, grouped per row tile
//! and logical column so one column of one array is `cell_bits * words` adjacent words
//! (`words = ceil(tile rows / 64)`). For the shipped 1-bit cells that is 1/8 of a byte per
//! cell. The ADC transfer is a table indexed by `P` (every reachable sum is small: at most
//! `tile rows * g(max level)`), built once per ADC and kept with the kernel.

use super::adc::Adc;
use super::tile::LayerMap;
use std::sync::{Arc, OnceLock};

/// Tables larger than this many entries are not built; conversions then use the thresholds.
const MAX_TABLE: i64 = 1 << 20;

/// A layer's cell levels as bit planes plus the affine level-to-code map.
#[derive(Debug)]
pub struct PlaneKernel {
    /// Rows per row tile (the arrays' row count, or the layer's inputs if fewer).
    tile_rows: usize,
    words: usize,
    row_tiles: usize,
    ncols: usize,
    cell_bits: u32,
    /// Index `((row_tile * ncols + column) * cell_bits + k) * words + w`.
    planes: Vec<u64>,
    /// `code(level) = base + step * level` in fine units.
    base: i64,
    step: i64,
    /// The ADC transfer `P -> level(code(P))` for `P` in `0..=max_sum`, built on first use for
    /// the ADC it was built for (a layer is simulated with one ADC).
    table: OnceLock<(Adc, Arc<Vec<i64>>)>,
}

impl Clone for PlaneKernel {
    /// The cells and codes; the ADC table is rebuilt on first use.
    fn clone(&self) -> Self {
        PlaneKernel {
            tile_rows: self.tile_rows,
            words: self.words,
            row_tiles: self.row_tiles,
            ncols: self.ncols,
            cell_bits: self.cell_bits,
            planes: self.planes.clone(),
            base: self.base,
            step: self.step,
            table: OnceLock::new(),
        }
    }
}

impl PartialEq for PlaneKernel {
    /// The cells and codes; the cached ADC table is not part of the value.
    fn eq(&self, o: &Self) -> bool {
        (self.tile_rows, self.words, self.row_tiles, self.ncols, self.cell_bits)
            == (o.tile_rows, o.words, o.row_tiles, o.ncols, o.cell_bits)
            && (self.base, self.step) == (o.base, o.step)
            && self.planes == o.planes
    }
}

impl PlaneKernel {
    /// The kernel for `map` when every cell's code is `code_of_level[level]` and that table is
    /// affine with non-negative coefficients; `None` otherwise (the reference loop runs then).
    pub fn build(map: &LayerMap, code_of_level: &[u32]) -> Option<PlaneKernel> {
        let base = i64::from(*code_of_level.first()?);
        let step = code_of_level.get(1).map_or(0, |g| i64::from(*g) - base);
        let affine =
            code_of_level.iter().enumerate().all(|(l, g)| i64::from(*g) == base + step * l as i64);
        let tile_rows = map.arrays.iter().map(|a| a.nrows).max()?;
        let aligned = map.arrays.iter().all(|a| a.row0 == a.row_tile * tile_rows);
        if !affine || step < 0 || !aligned || map.cell_bits > 8 {
            return None;
        }
        let words = tile_rows.div_ceil(64);
        let (ncols, cb) = (map.logical_cols(), map.cell_bits as usize);
        let mut planes = vec![0u64; map.row_tiles * ncols * cb * words];
        for i in 0..map.n_in {
            let (rt, r) = (i / tile_rows, i % tile_rows);
            let (w, bit) = (r / 64, 1u64 << (r % 64));
            for (c, l) in map.row_levels(i, 0..ncols).enumerate() {
                let at = (rt * ncols + c) * cb * words + w;
                for k in 0..cb {
                    if (l >> k) & 1 == 1 {
                        planes[at + k * words] |= bit;
                    }
                }
            }
        }
        Some(PlaneKernel {
            tile_rows,
            words,
            row_tiles: map.row_tiles,
            ncols,
            cell_bits: map.cell_bits,
            planes,
            base,
            step,
            table: OnceLock::new(),
        })
    }

    /// Bytes held (for memory accounting).
    pub fn heap_bytes(&self) -> usize {
        self.planes.len() * 8
    }

    /// The ADC transfer table for `adc`, or `None` when it would be too large.
    fn table(&self, adc: &Adc) -> Option<Arc<Vec<i64>>> {
        let max_level = (1i64 << self.cell_bits) - 1;
        let max_sum = self.tile_rows as i64 * (self.base + self.step * max_level);
        if max_sum >= MAX_TABLE {
            return None;
        }
        let (cached, t) = self.table.get_or_init(|| (*adc, Arc::new(transfer(adc, max_sum))));
        Some(if cached == adc { t.clone() } else { Arc::new(transfer(adc, max_sum)) })
    }
}

fn transfer(adc: &Adc, max_sum: i64) -> Vec<i64> {
    (0..=max_sum).map(|p| adc.level(adc.code(p))).collect()
}

/// What one layer's kernel run needs besides the kernel.
pub struct KernelRun<'a> {
    pub map: &'a LayerMap,
    pub adc: &'a Adc,
    /// Input codes, masked to `a_bits` (two's complement bits when signed).
    pub bits: &'a [u64],
    pub a_bits: u32,
    pub signed: bool,
}

/// Receives each (array, plane)'s column partial sums.
pub type SumsHook<'a> = &'a mut dyn FnMut(&[i64]);

/// Per-(array, bit plane) tallies the event counter needs: driven rows.
pub type DrivenRows = u64;

impl PlaneKernel {
    /// Adds every column's shift-added converted values into `acc` (as the reference loop does)
    /// and returns the number of driven rows over all (array, plane) pairs. `each_sum` sees each
    /// (array, plane)'s column partial sums as one slice (for calibration and saturation
    /// histograms; one call per slice keeps a dynamic call out of the per-column loop).
    pub fn run(
        &self,
        run: KernelRun<'_>,
        acc: &mut [i64],
        mut each_sum: Option<SumsHook<'_>>,
    ) -> DrivenRows {
        let KernelRun { map, adc, bits, a_bits, signed } = run;
        let (words, cb) = (self.words, self.cell_bits as usize);
        let a_n = a_bits as usize;
        // Input bit planes per row tile: xw[(rt * a_bits + t) * words + w].
        let mut xw = vec![0u64; self.row_tiles * a_n * words];
        for (i, b) in bits.iter().enumerate().take(map.n_in) {
            let (rt, r) = (i / self.tile_rows, i % self.tile_rows);
            let (w, bit) = (r / 64, r % 64);
            for t in 0..a_n {
                xw[(rt * a_n + t) * words + w] |= ((b >> t) & 1) << bit;
            }
        }
        let driven: Vec<i64> = xw
            .chunks(words)
            .map(|ws| ws.iter().map(|w| i64::from(w.count_ones() as u16)).sum())
            .collect();
        let table = self.table(adc);
        let cpw = map.cols_per_weight();
        let p_n = map.polarities as usize;
        let mut col_acc = vec![0i64; self.ncols];
        let mut sums = vec![0i64; self.ncols];
        let mut total_driven = 0u64;
        for a in &map.arrays {
            let (c0, c1) = (a.out0 * cpw, (a.out0 + a.nouts) * cpw);
            let rt = a.row_tile;
            let span = cb * words;
            let cols = &self.planes[(rt * self.ncols + c0) * span..(rt * self.ncols + c1) * span];
            let sums = &mut sums[..c1 - c0];
            for t in 0..a_n {
                let plane_w: i64 = if signed && t == a_n - 1 { -(1i64 << t) } else { 1i64 << t };
                let at = (rt * a_n + t) * words;
                let nd = driven[rt * a_n + t];
                total_driven += nd as u64;
                let offset = nd * self.base;
                let xs = &xw[at..at + words];
                let col_acc = &mut col_acc[c0..c1];
                if let (Some(t), None) = (table.as_deref(), each_sum.as_deref_mut()) {
                    let pass = Pass { offset, step: self.step, plane_w, table: t };
                    fused(xs, cols, cb, &pass, col_acc);
                    continue;
                }
                column_sums(xs, cols, cb, sums);
                sums.iter_mut().for_each(|s| *s = offset + self.step * *s);
                if let Some(f) = each_sum.as_deref_mut() {
                    f(sums);
                }
                for (ca, p) in col_acc.iter_mut().zip(sums.iter()) {
                    let level = match &table {
                        Some(t) => t[*p as usize],
                        None => adc.level(adc.code(*p)),
                    };
                    *ca += plane_w * level;
                }
            }
        }
        for (c, v) in col_acc.iter().enumerate() {
            let (j, rem) = (c / cpw, c % cpw);
            let shifted = v << ((rem / p_n) as u32 * map.cell_bits);
            acc[j] += if rem % p_n == 1 { -shifted } else { shifted };
        }
        total_driven
    }
}

/// Each column's `sum_k 2^k * popcount(xs & plane k)` into `out`; `cols` holds `out.len()`
/// columns of `cell_bits * xs.len()` words. Uses the CPU's POPCNT instruction when it has one
/// (the portable build computes popcounts with shifts and masks, several times slower).
fn column_sums(xs: &[u64], cols: &[u64], cell_bits: usize, out: &mut [i64]) {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("popcnt") {
        // SAFETY: the CPU supports POPCNT, checked just above.
        unsafe { column_sums_popcnt(xs, cols, cell_bits, out) };
        return;
    }
    column_sums_any(xs, cols, cell_bits, out)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "popcnt")]
fn column_sums_popcnt(xs: &[u64], cols: &[u64], cell_bits: usize, out: &mut [i64]) {
    column_sums_any(xs, cols, cell_bits, out)
}

#[inline(always)]
fn column_sums_any(xs: &[u64], cols: &[u64], cell_bits: usize, out: &mut [i64]) {
    match (xs.len(), cell_bits) {
        (1, 1) => fixed::<1, 1>(xs, cols, out),
        (2, 1) => fixed::<2, 1>(xs, cols, out),
        (1, 2) => fixed::<1, 2>(xs, cols, out),
        (2, 2) => fixed::<2, 2>(xs, cols, out),
        (w, _) => {
            for (col, o) in cols.chunks_exact(cell_bits * w).zip(out) {
                *o = popcount_sum(xs, col, w);
            }
        }
    }
}

/// One (array, input bit plane) step without hooks: partial sum, ADC table, weighted add.
struct Pass<'a> {
    offset: i64,
    step: i64,
    plane_w: i64,
    table: &'a [i64],
}

/// `col_acc[c] += plane_w * table[offset + step * column_sum(c)]` for every column.
fn fused(xs: &[u64], cols: &[u64], cell_bits: usize, pass: &Pass<'_>, col_acc: &mut [i64]) {
    #[cfg(target_arch = "x86_64")]
    if xs.len() == 2
        && cell_bits == 1
        && std::arch::is_x86_feature_detected!("avx512f")
        && std::arch::is_x86_feature_detected!("avx512vpopcntdq")
    {
        // SAFETY: the CPU supports AVX-512F and VPOPCNTDQ, checked just above.
        unsafe { avx512::fused_2x1(xs, cols, pass, col_acc) };
        return;
    }
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("popcnt") {
        // SAFETY: the CPU supports POPCNT, checked just above.
        unsafe { fused_popcnt(xs, cols, cell_bits, pass, col_acc) };
        return;
    }
    fused_any(xs, cols, cell_bits, pass, col_acc)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "popcnt")]
fn fused_popcnt(xs: &[u64], cols: &[u64], cell_bits: usize, pass: &Pass<'_>, col_acc: &mut [i64]) {
    fused_any(xs, cols, cell_bits, pass, col_acc)
}

#[inline(always)]
fn fused_any(xs: &[u64], cols: &[u64], cell_bits: usize, pass: &Pass<'_>, col_acc: &mut [i64]) {
    match (xs.len(), cell_bits) {
        (1, 1) => fused_fixed::<1, 1>(xs, cols, pass, col_acc),
        (2, 1) => fused_fixed::<2, 1>(xs, cols, pass, col_acc),
        (1, 2) => fused_fixed::<1, 2>(xs, cols, pass, col_acc),
        (2, 2) => fused_fixed::<2, 2>(xs, cols, pass, col_acc),
        (w, _) => {
            for (col, ca) in cols.chunks_exact(cell_bits * w).zip(col_acc) {
                let p = pass.offset + pass.step * popcount_sum(xs, col, w);
                *ca += pass.plane_w * pass.table[p as usize];
            }
        }
    }
}

#[inline(always)]
fn fused_fixed<const W: usize, const CB: usize>(
    xs: &[u64],
    cols: &[u64],
    pass: &Pass<'_>,
    col_acc: &mut [i64],
) {
    let x: [u64; W] = std::array::from_fn(|w| xs[w]);
    let Pass { offset, step, plane_w, table } = *pass;
    for (col, ca) in cols.chunks_exact(W * CB).zip(col_acc) {
        let s = column_sum_fixed::<W, CB>(&x, col);
        *ca += plane_w * table[(offset + step * s) as usize];
    }
}

/// One column's `sum_k 2^k * sum_w popcount(x[w] & col[k * W + w])` with the shape known at
/// compile time (unrolled); shared by [`fixed`] and [`fused_fixed`].
#[inline(always)]
fn column_sum_fixed<const W: usize, const CB: usize>(x: &[u64; W], col: &[u64]) -> i64 {
    let mut s = 0i64;
    for k in 0..CB {
        let mut n = 0u32;
        for w in 0..W {
            n += (x[w] & col[k * W + w]).count_ones();
        }
        s += i64::from(n) << k;
    }
    s
}

/// [`column_sums_any`] with the column shape known at compile time (unrolled).
#[inline(always)]
fn fixed<const W: usize, const CB: usize>(xs: &[u64], cols: &[u64], out: &mut [i64]) {
    let x: [u64; W] = std::array::from_fn(|w| xs[w]);
    for (col, o) in cols.chunks_exact(W * CB).zip(out) {
        *o = column_sum_fixed::<W, CB>(&x, col);
    }
}

/// `sum_k 2^k * sum_w popcount(xs[w] & col[k * words + w])`.
#[inline(always)]
fn popcount_sum(xs: &[u64], col: &[u64], words: usize) -> i64 {
    let mut s = 0i64;
    for (k, plane) in col.chunks_exact(words).enumerate() {
        let n: u32 = xs.iter().zip(plane).map(|(x, g)| (x & g).count_ones()).sum();
        s += i64::from(n) << k;
    }
    s
}

/// Eight columns at a time for the common shape (128-row arrays, 1-bit cells): AND + VPOPCNTQ
/// on both words of eight columns, pairwise sums, then the ADC table by a gather. Integer
/// arithmetic throughout, so the result equals [`fused_fixed`]'s.
#[cfg(target_arch = "x86_64")]
mod avx512 {
    use super::{fused_fixed, Pass};
    use std::arch::x86_64::*;

    #[target_feature(enable = "avx512f,avx512vpopcntdq")]
    pub(super) unsafe fn fused_2x1(xs: &[u64], cols: &[u64], pass: &Pass<'_>, col_acc: &mut [i64]) {
        let n = col_acc.len().min(cols.len() / 2);
        let full = n / 8 * 8;
        let x = _mm512_setr_epi64(
            xs[0] as i64,
            xs[1] as i64,
            xs[0] as i64,
            xs[1] as i64,
            xs[0] as i64,
            xs[1] as i64,
            xs[0] as i64,
            xs[1] as i64,
        );
        let even = _mm512_setr_epi64(0, 2, 4, 6, 8, 10, 12, 14);
        let odd = _mm512_setr_epi64(1, 3, 5, 7, 9, 11, 13, 15);
        let offset = _mm512_set1_epi64(pass.offset);
        let step = _mm512_set1_epi64(pass.step);
        let plane_w = _mm512_set1_epi64(pass.plane_w);
        // Indices stay inside the table even for an inconsistent kernel (memory safety).
        let last = _mm512_set1_epi64(pass.table.len() as i64 - 1);
        let zero = _mm512_setzero_si512();
        let table = pass.table.as_ptr();
        let mut c = 0;
        while c < full {
            // SAFETY (loads/stores): c + 8 <= n, so words 2c .. 2c + 16 of `cols` and entries
            // c .. c + 8 of `col_acc` exist.
            let a = _mm512_loadu_epi64(cols.as_ptr().add(2 * c) as *const _);
            let b = _mm512_loadu_epi64(cols.as_ptr().add(2 * c + 8) as *const _);
            let pa = _mm512_popcnt_epi64(_mm512_and_si512(a, x));
            let pb = _mm512_popcnt_epi64(_mm512_and_si512(b, x));
            let s = _mm512_add_epi64(
                _mm512_permutex2var_epi64(pa, even, pb),
                _mm512_permutex2var_epi64(pa, odd, pb),
            );
            let p = _mm512_add_epi64(offset, _mm512_mullox_epi64(s, step));
            let p = _mm512_max_epi64(_mm512_min_epi64(p, last), zero);
            let level = _mm512_i64gather_epi64::<8>(p, table as *const _);
            let at = col_acc.as_mut_ptr().add(c);
            let acc = _mm512_loadu_epi64(at as *const _);
            let acc = _mm512_add_epi64(acc, _mm512_mullox_epi64(level, plane_w));
            _mm512_storeu_epi64(at as *mut _, acc);
            c += 8;
        }
        fused_fixed::<2, 1>(xs, &cols[2 * full..], pass, &mut col_acc[full..]);
    }
}
