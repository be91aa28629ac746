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
//!
//! Batches of inputs of up to 8 bits run on [`super::rowcount`]'s row kernel where the CPU has
//! it (the same cells also stored row by row; a plane's column counts summed from the rows it
//! drives); calibration runs (histograms), wider inputs and single rows run on the column
//! kernel here. Both give the same integers.

use super::adc::Adc;
use super::rowcount::{self, RowBits};
use super::sim::SumSink;
use super::tile::{ArrayTile, LayerMap};
use std::sync::{Arc, Mutex};

/// Tables larger than this many entries are not built; conversions then use the thresholds.
const MAX_TABLE: i64 = 1 << 20;

/// Bytes per driven count in [`Tables::bytes`].
const BYTE_TABLE: usize = 256;

/// ADC transfer tables a kernel keeps (calibration's and the chip's, with room to spare).
const TABLES_KEPT: usize = 4;

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
    /// The same cells row by row, for the batch kernel of [`rowcount`] (1-bit cells, tiles
    /// of at most 128 rows whose arrays cover every column once, on a CPU that runs it).
    rows: Option<RowBits>,
    /// `code(level) = base + step * level` in fine units.
    base: i64,
    step: i64,
    /// The ADC transfer tables, built on first use for each ADC: a layer's cells are read
    /// with the lossless calibration ADC and then with the chip's, so the last few are kept
    /// (rebuilding a table per sample and layer was a tenth of a large compile).
    tables: Mutex<Vec<(Adc, Arc<Tables>)>>,
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
            rows: self.rows.clone(),
            base: self.base,
            step: self.step,
            tables: Mutex::default(),
        }
    }
}

impl PartialEq for PlaneKernel {
    /// The cells and codes; the cached ADC table and the row layout (derived from the cells)
    /// are not part of the value.
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
        let fast = Self::planes_simd(map, tile_rows, words, &mut planes);
        // Weight by weight in storage order (`w[j, i]`, `i` fastest): each weight code is read
        // once and its `S * P` cells set bits in adjacent words of the same columns.
        let cpw = map.cols_per_weight();
        for j in (0..map.n_out).filter(|_| !fast) {
            for i in 0..map.n_in {
                let (rt, r) = (i / tile_rows, i % tile_rows);
                let (w, bit) = (r / 64, 1u64 << (r % 64));
                let levels = map.weight_levels(map.weights.w.get(j * map.n_in + i));
                for (c, l) in (j * cpw..).zip(levels).filter(|(_, l)| *l != 0) {
                    let at = (rt * ncols + c) * cb * words + w;
                    for k in 0..cb {
                        if (l >> k) & 1 == 1 {
                            planes[at + k * words] |= bit;
                        }
                    }
                }
            }
        }
        let rows = (map.cell_bits == 1
            && tile_rows <= rowcount::MAX_TILE_ROWS
            && covers_columns(map, ncols)
            && rowcount::available())
        .then(|| RowBits::from_columns(&planes, tile_rows, map.row_tiles, (ncols, cpw), words));
        Some(PlaneKernel {
            tile_rows,
            words,
            row_tiles: map.row_tiles,
            ncols,
            cell_bits: map.cell_bits,
            planes,
            rows,
            base,
            step,
            tables: Mutex::default(),
        })
    }

    /// The code sum of each logical column of array `a` over all its rows (every row driven):
    /// `nrows * base + step * sum_k 2^k popcount(level bit plane k)`.
    pub fn column_code_sums(&self, map: &LayerMap, a: &ArrayTile) -> Vec<i64> {
        let (cpw, cb, words) = (map.cols_per_weight(), self.cell_bits as usize, self.words);
        let span = cb * words;
        let c0 = (a.row_tile * self.ncols + a.out0 * cpw) * span;
        let cols = &self.planes[c0..c0 + a.nouts * cpw * span];
        let rows = a.nrows as i64 * self.base;
        let ones = |ws: &[u64]| i64::from(ones(ws));
        let level_sum = |col: &[u64]| -> i64 {
            col.chunks(words).enumerate().map(|(k, ws)| ones(ws) << k).sum()
        };
        cols.chunks(span).map(|col| rows + self.step * level_sum(col)).collect()
    }

    /// The bit planes of 1-bit cells holding 8-bit weight codes, 64 rows per step: a bit-test
    /// of 64 weight bytes is one plane word (the transpose the scalar loop does a bit at a
    /// time). False, with nothing written, where it does not apply.
    fn planes_simd(map: &LayerMap, tile_rows: usize, words: usize, planes: &mut [u64]) -> bool {
        #[cfg(target_arch = "x86_64")]
        if let super::quant::WeightCodes::I8(w) = &map.weights.w {
            let ok = map.cell_bits == 1
                && map.slices <= 8
                && (1..=2).contains(&map.polarities)
                && u8::try_from(map.offset).is_ok()
                && is_x86_feature_detected!("avx512bw");
            if ok {
                let shape = avx512::PlaneShape {
                    n_in: map.n_in,
                    n_out: map.n_out,
                    row_tiles: map.row_tiles,
                    tile_rows,
                    words,
                    ncols: map.logical_cols(),
                    polarities: map.polarities as usize,
                    slices: map.slices as usize,
                    offset: map.offset as u8,
                };
                // SAFETY: AVX-512BW checked above.
                unsafe { avx512::planes_i8(w, &shape, planes) };
                return true;
            }
        }
        let _ = (map, tile_rows, words, planes);
        false
    }

    /// Whether batches run on the row kernel ([`rowcount`]) where their inputs allow (at most
    /// 8 bits, ADC levels in bytes).
    pub fn row_kernel(&self) -> bool {
        self.rows.is_some()
    }

    /// Bytes held (for memory accounting).
    pub fn heap_bytes(&self) -> usize {
        self.planes.len() * 8 + self.rows.as_ref().map_or(0, RowBits::heap_bytes)
    }

    /// The ADC transfer tables for `adc`, or `None` when they would be too large.
    fn tables(&self, adc: &Adc) -> Option<Arc<Tables>> {
        let max_level = (1i64 << self.cell_bits) - 1;
        let max_sum = self.tile_rows as i64 * (self.base + self.step * max_level);
        if max_sum >= MAX_TABLE {
            return None;
        }
        Some(kept(&self.tables, *adc, || self.build_tables(adc, max_sum)))
    }

    fn build_tables(&self, adc: &Adc, max_sum: i64) -> Tables {
        let levels = adc.transfer(max_sum);
        let bytes = (self.cell_bits == 1 && self.tile_rows <= 128)
            .then(|| byte_tables(&levels, self.tile_rows, self.base, self.step))
            .flatten();
        // Every weighted level `level * 2^t` (t < 24) below 2^52, for the 52-bit multiply-add.
        let small = levels.iter().all(|l| (0..1 << 28).contains(l));
        // A lossless ADC on ideal 1-bit cells reads back the popcount itself (the calibration
        // run): the kernel then skips the table.
        let popcount = self.cell_bits == 1
            && (0..=self.tile_rows as i64).all(|d| {
                (0..=d).all(|s| levels.get((d * self.base + self.step * s) as usize) == Some(&s))
            });
        let max_byte = bytes.as_ref().and_then(|b| b.iter().max().copied()).unwrap_or(0);
        Tables { levels, bytes, max_byte, small, popcount, readings: Mutex::default() }
    }
}

/// The ADC transfer of one kernel and ADC.
#[derive(Debug)]
struct Tables {
    /// `P -> level(code(P))` for `P` in `0..=max_sum` (fine units).
    levels: Vec<i64>,
    /// For 1-bit cells: per driven-row count `d`, 128 bytes `s -> levels[d * base + step * s]`
    /// for the popcount `s` (`s <= d`; `s = 128` reads entry 127, which is only built when
    /// both agree), twice ([`BYTE_TABLE`] bytes: the row kernel reads them rotated). `None`
    /// when a level exceeds a byte or 128 and 127 differ.
    bytes: Option<Vec<u8>>,
    /// The largest level in `bytes`.
    max_byte: u8,
    /// Every level in `0..2^28`.
    small: bool,
    /// For 1-bit cells: the level of every reachable sum is its popcount.
    popcount: bool,
    /// The row kernel's readings of `bytes` by the saturation full scale (fine units; `None`:
    /// not counted) they were built for, on first use: runs of a layer share one, and building
    /// them per batch would check every table again.
    readings: Mutex<Vec<(Option<i64>, Arc<rowcount::Readings>)>>,
}

/// The value `cache` keeps for `key`, built (and the oldest of [`TABLES_KEPT`] dropped) when
/// it has none: the transfer tables by ADC and their row-kernel readings by full scale.
fn kept<K: PartialEq, T>(
    cache: &Mutex<Vec<(K, Arc<T>)>>,
    key: K,
    build: impl FnOnce() -> T,
) -> Arc<T> {
    let mut cache = cache.lock().unwrap_or_else(|e| e.into_inner());
    if let Some((_, v)) = cache.iter().find(|(k, _)| *k == key) {
        return v.clone();
    }
    let v = Arc::new(build());
    if cache.len() == TABLES_KEPT {
        cache.remove(0);
    }
    cache.push((key, v.clone()));
    v
}

/// [`Tables::bytes`], or `None` when the transfer does not fit bytes.
fn byte_tables(levels: &[i64], tile_rows: usize, base: i64, step: i64) -> Option<Vec<u8>> {
    let mut out = vec![0u8; (tile_rows + 1) * BYTE_TABLE];
    for (d, table) in out.chunks_exact_mut(BYTE_TABLE).enumerate() {
        let at = |s: usize| levels.get((d as i64 * base + step * s as i64) as usize).copied();
        for s in 0..128 {
            let v = u8::try_from(at(s.min(d))?).ok()?;
            (table[s], table[128 + s]) = (v, v);
        }
        if d >= 128 && at(128)? != at(127)? {
            return None;
        }
    }
    Some(out)
}

/// What one layer's kernel run needs besides the kernel.
#[derive(Clone, Copy)]
pub struct KernelRun<'a> {
    pub map: &'a LayerMap,
    pub adc: &'a Adc,
    /// Input codes: their low `a_bits` bits (two's complement when signed) drive the rows.
    pub codes: &'a [i64],
    pub a_bits: u32,
    pub signed: bool,
    /// Count the column partial sums above this value (fine units): the saturated reads.
    pub over: Option<i64>,
}

/// Receives each (array, plane)'s column partial sums.
pub type SumsHook<'a> = &'a mut dyn SumSink;

/// What a kernel run tallies besides the outputs.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RunCounts {
    /// Driven rows over all (array, bit plane) pairs (the events' row activations).
    pub driven: u64,
    /// Column partial sums above [`KernelRun::over`] (0 when not asked).
    pub over: u64,
}

/// Reused buffers of [`PlaneKernel::run`] (no allocation per row and layer once warm).
#[derive(Default)]
struct Scratch {
    /// The row kernel's batch.
    rows: rowcount::Batch,
    xw: Vec<u64>,
    driven: Vec<i64>,
    col_acc: Vec<i64>,
    sums: Vec<i64>,
    planes: Vec<Plane>,
    /// Calibration counts by (driven rows, popcount), `(tile_rows + 1)^2` of them.
    hist: Vec<u64>,
}

thread_local! {
    static SCRATCH: std::cell::Cell<Scratch> = std::cell::Cell::new(Scratch::default());
}

/// `v` cleared and resized to `n` zeros, keeping its allocation.
fn zeroed<T: Copy + Default>(v: &mut Vec<T>, n: usize) -> &mut [T] {
    v.clear();
    v.resize(n, T::default());
    v
}

impl PlaneKernel {
    /// Adds every column's shift-added converted values into `acc` (as the reference loop does)
    /// and returns the driven rows and saturated reads. `each_sum` sees each (array, plane)'s
    /// column partial sums as one slice (for calibration histograms; one call per slice keeps
    /// a dynamic call out of the per-column loop). Input bit planes that drive no row are not
    /// read: every column's sum is 0 there, converted once.
    pub fn run(
        &self,
        run: KernelRun<'_>,
        acc: &mut [i64],
        each_sum: Option<SumsHook<'_>>,
    ) -> RunCounts {
        let mut scratch = SCRATCH.with(|s| s.take());
        let counts = self.run_with(&run, acc, each_sum, &mut scratch);
        SCRATCH.with(|s| s.set(scratch));
        counts
    }

    /// [`PlaneKernel::run`] for several samples of one layer (same map, ADC, input bits and
    /// saturation threshold): on the AVX-512 kernel each array's column words are loaded once
    /// for the whole batch and a sample's planes are built once per row tile. Equal to running
    /// each sample alone (the per-sample planes and accumulators are the same; only the order
    /// in which samples visit the columns changes). `sums`, if given, counts every sample's
    /// column partial sums (calibration; then no saturation is counted).
    pub fn run_batch(
        &self,
        runs: &[KernelRun<'_>],
        accs: &mut [Vec<i64>],
        mut sums: Option<SumsHook<'_>>,
    ) -> Vec<RunCounts> {
        #[cfg(target_arch = "x86_64")]
        if let Some(first) = runs.first() {
            let a_n = first.a_bits as usize;
            let tables = self.tables(first.adc);
            // Inputs of up to 8 bits with byte tables: the row kernel.
            let by_rows = sums.is_none()
                && (1..=rowcount::MAX_PLANES).contains(&a_n)
                && runs.iter().all(|r| r.signed == first.signed && r.over == first.over)
                && tables.as_deref().is_some_and(|t| t.bytes.is_some());
            if let (Some(rows), Some(t), true) = (&self.rows, tables.as_deref(), by_rows) {
                return self.run_batch_rows(runs, accs, t, rows);
            }
            let fits = |t: &&Tables| {
                runs.len() > 1
                    && self.simd_fused(a_n, t)
                    && (sums.is_none() || runs.iter().all(|r| r.over.is_none()))
            };
            if let Some(t) = tables.as_deref().filter(fits) {
                return self.run_batch_simd(runs, accs, t, sums);
            }
        }
        let mut counts = Vec::with_capacity(runs.len());
        for (r, acc) in runs.iter().zip(accs.iter_mut()) {
            let s: Option<&mut dyn SumSink> = match sums {
                Some(ref mut s) => Some(&mut **s),
                None => None,
            };
            counts.push(self.run(*r, acc, s));
        }
        counts
    }

    /// [`PlaneKernel::run_batch`] on the row kernel ([`rowcount`]): each (sample, row tile,
    /// plane)'s driven rows listed once, then every column read of the batch.
    #[cfg(target_arch = "x86_64")]
    fn run_batch_rows(
        &self,
        runs: &[KernelRun<'_>],
        accs: &mut [Vec<i64>],
        tables: &Tables,
        rows: &RowBits,
    ) -> Vec<RunCounts> {
        let map = runs[0].map;
        let (a_n, words, rts) = (runs[0].a_bits as usize, self.words, self.row_tiles);
        let Some(bytes) = tables.bytes.as_deref() else {
            unreachable!("the row kernel is only chosen with byte tables")
        };
        // A plane's driven rows count once per array of its row tile (as `run` counts them).
        let mut arrays = vec![0i64; rts];
        for a in &map.arrays {
            arrays[a.row_tile] += 1;
        }
        // Every run of the batch counts reads above the same full scale (checked by the caller).
        let over = runs[0].over;
        let thr = |d: usize| {
            over.map_or(i64::MAX, |full| threshold(full, d as i64 * self.base, self.step))
        };
        let readings =
            kept(&tables.readings, over, || rowcount::Readings::new(bytes, self.tile_rows, thr));
        let mut scratch = SCRATCH.with(|s| s.take());
        let Scratch { rows: batch, xw, driven, .. } = &mut scratch;
        batch.clear();
        // How the row kernel sums the planes' levels (planes driving the same rows are read
        // once when they share a byte group).
        let sum = rowcount::Sum::new(a_n, runs[0].signed, tables.max_byte);
        let mut counts = vec![RunCounts::default(); runs.len()];
        for (r, count) in runs.iter().zip(counts.iter_mut()) {
            let xw = zeroed(xw, rts * a_n * words);
            let driven = zeroed(driven, rts * a_n);
            self.input_planes(map, r.codes, a_n, xw, driven);
            for (k, d) in driven.iter().enumerate() {
                count.driven += (d * arrays[k / a_n]) as u64;
            }
            for planes in xw.chunks(a_n * words) {
                batch.push_tile(rows, (planes, words), &readings, (sum, rows.pays_to_pair()));
            }
        }
        let mut overs = vec![0u64; runs.len()];
        let p_n = map.polarities as usize;
        // SAFETY: `rows` exists only where `rowcount::available()`; `a_n <= MAX_PLANES`; the
        // byte tables' levels are at most `max_byte`, which `sum` was made for; `batch` was
        // built for `rows` with `sum`.
        let batch = (&mut *batch, &*readings);
        unsafe { rowcount::run(rows, batch, sum, p_n, accs, &mut overs) };
        SCRATCH.with(|s| s.set(scratch));
        for (count, over) in counts.iter_mut().zip(overs) {
            count.over = over;
        }
        counts
    }

    #[cfg(target_arch = "x86_64")]
    fn run_batch_simd(
        &self,
        runs: &[KernelRun<'_>],
        accs: &mut [Vec<i64>],
        tables: &Tables,
        sums: Option<SumsHook<'_>>,
    ) -> Vec<RunCounts> {
        let first = &runs[0];
        // Calibration: the (driven, popcount) histogram and the reads under the sink's floor,
        // handed to the sink at the end (as `run_with` does).
        let side = self.tile_rows + 1;
        let floor = sums.as_deref().and_then(|s| s.floor()).unwrap_or(i64::MIN);
        let mut hist = vec![0u64; if sums.is_some() { side * side } else { 0 }];
        let mut below = 0u64;
        let (map, a_n, words) = (first.map, first.a_bits as usize, self.words);
        // Per sample: input bit planes per row tile and driven counts.
        let inputs: Vec<(Vec<u64>, Vec<i64>)> = runs
            .iter()
            .map(|r| {
                let mut xw = vec![0u64; self.row_tiles * a_n * words];
                let mut driven = vec![0i64; self.row_tiles * a_n];
                self.input_planes(map, r.codes, a_n, &mut xw, &mut driven);
                (xw, driven)
            })
            .collect();
        let cpw = map.cols_per_weight();
        let span = self.cell_bits as usize * words;
        let tile = |s: usize, rt: usize| Tile {
            xs: &inputs[s].0[rt * a_n * words..(rt + 1) * a_n * words],
            driven: &inputs[s].1[rt * a_n..(rt + 1) * a_n],
            signed: runs[s].signed,
            over: runs[s].over,
        };
        // A sample's planes depend on its row tile only, not on the array: built once per
        // (sample, row tile); planes that drive no row are converted per array below.
        let planes: Vec<Vec<Vec<Plane>>> = (0..runs.len())
            .map(|s| {
                (0..self.row_tiles)
                    .map(|rt| {
                        let mut p = Vec::new();
                        // An empty column range: only the planes (and their histogram floor).
                        let mut h = HistOut { counts: &mut [0], floor, below: &mut 0 };
                        let h = sums.is_some().then_some(&mut h);
                        self.simd_planes(&tile(s, rt), tables, &mut [], &mut p, h);
                        p
                    })
                    .collect()
            })
            .collect();
        let mut col_accs: Vec<Vec<i64>> = vec![vec![0i64; self.ncols]; runs.len()];
        let mut counts = vec![RunCounts::default(); runs.len()];
        let mut overs = vec![0u64; runs.len()];
        for a in &map.arrays {
            let (c0, c1) = (a.out0 * cpw, (a.out0 + a.nouts) * cpw);
            let rt = a.row_tile;
            let cols = &self.planes[(rt * self.ncols + c0) * span..(rt * self.ncols + c1) * span];
            for (s, count) in counts.iter_mut().enumerate() {
                let tile = tile(s, rt);
                count.driven += tile.driven.iter().sum::<i64>() as u64;
                for t in (0..a_n).filter(|&t| tile.driven[t] == 0) {
                    // Every column reads 0 (as `simd_planes` counts it).
                    if sums.is_some() {
                        let mut h = HistOut { counts: &mut hist, floor, below: &mut below };
                        h.zero_reads((c1 - c0) as u64);
                    }
                    count.over +=
                        self.zero_plane(&tile, t, &tables.levels, &mut col_accs[s][c0..c1]);
                }
            }
            let ks: Vec<avx512::Kernel<'_>> = planes
                .iter()
                .map(|p| &p[rt])
                .map(|p| avx512::Kernel {
                    planes: p,
                    step: self.step,
                    levels: &tables.levels,
                    popcount: tables.popcount,
                })
                .collect();
            let mut slices: Vec<&mut [i64]> = col_accs.iter_mut().map(|c| &mut c[c0..c1]).collect();
            overs.iter_mut().for_each(|o| *o = 0);
            // SAFETY: as in `fused_tile`: `simd_fused` checked the CPU features and the
            // tables; every sample's slice covers the array's columns.
            unsafe {
                avx512::run_multi(
                    &ks,
                    words,
                    tables.bytes.is_some(),
                    first.over.is_some(),
                    cols,
                    &mut slices,
                    &mut overs,
                    sums.is_some().then_some((&mut hist[..], &mut below)),
                );
            }
            for (c, o) in counts.iter_mut().zip(&overs) {
                c.over += o;
            }
        }
        let p_n = map.polarities as usize;
        for ((col_acc, acc), _) in col_accs.iter().zip(accs.iter_mut()).zip(runs) {
            shift_add(col_acc, cpw, p_n, map.cell_bits, acc);
        }
        if let Some(sink) = sums {
            self.flush_hist(&hist, below, sink);
        }
        counts
    }

    /// A sample's input bit planes per row tile, `xw[(rt * a_n + t) * words + w]` (zeroed on
    /// entry), and how many rows each (row tile, plane) drives.
    fn input_planes(
        &self,
        map: &LayerMap,
        codes: &[i64],
        a_n: usize,
        xw: &mut [u64],
        driven: &mut [i64],
    ) {
        let words = self.words;
        let n_in = map.n_in.min(codes.len());
        for (rt, tile) in codes[..n_in].chunks(self.tile_rows).enumerate() {
            for (w, chunk) in tile.chunks(64).enumerate() {
                let at = rt * a_n * words + w;
                transpose(chunk, a_n, |t, word| xw[at + t * words] = word);
            }
        }
        for (d, ws) in driven.iter_mut().zip(xw.chunks(words)) {
            *d = i64::from(ones(ws));
        }
    }

    /// Hands a calibration run's counts to the sink: the reads under its floor, then each
    /// (driven, popcount) pair's sum `driven * base + step * popcount`.
    fn flush_hist(&self, hist: &[u64], below: u64, sink: &mut dyn SumSink) {
        if below > 0 {
            sink.add_below(below);
        }
        let side = self.tile_rows + 1;
        for (k, n) in hist.iter().enumerate().filter(|(_, n)| **n > 0) {
            let (d, s) = ((k / side) as i64, (k % side) as i64);
            sink.add_repeated(d * self.base + self.step * s, *n as usize);
        }
    }

    fn run_with(
        &self,
        run: &KernelRun<'_>,
        acc: &mut [i64],
        mut each_sum: Option<SumsHook<'_>>,
        scratch: &mut Scratch,
    ) -> RunCounts {
        let KernelRun { map, adc, codes, a_bits, signed, over } = *run;
        let (words, cb) = (self.words, self.cell_bits as usize);
        let a_n = a_bits as usize;
        let xw = zeroed(&mut scratch.xw, self.row_tiles * a_n * words);
        let driven = zeroed(&mut scratch.driven, self.row_tiles * a_n);
        self.input_planes(map, codes, a_n, xw, driven);
        let (xw, driven) = (&*xw, &*driven);
        let tables = self.tables(adc);
        let cpw = map.cols_per_weight();
        let p_n = map.polarities as usize;
        let col_acc = zeroed(&mut scratch.col_acc, self.ncols);
        // A calibration histogram on the SIMD kernel: every sum is `driven * base + step *
        // popcount`, so counting (driven, popcount) pairs in the fused pass and handing them to
        // the sink at the end counts the same multiset of sums without materializing them.
        let hist_kernel = each_sum.is_some()
            && over.is_none()
            && tables.as_deref().is_some_and(|t| self.simd_fused(a_n, t));
        let side = self.tile_rows + 1;
        let hist = zeroed(&mut scratch.hist, if hist_kernel { side * side } else { 0 });
        // A floored sink needs only the reads at or above its floor; the rest are counted.
        let floor = each_sum.as_deref().and_then(|s| s.floor()).unwrap_or(i64::MIN);
        let mut below = 0u64;
        // Per-(array, plane) sums are only materialized off the fused path.
        let unfused = tables.is_none() || (each_sum.is_some() && !hist_kernel);
        let sums = zeroed(&mut scratch.sums, if unfused { self.ncols } else { 0 });
        let mut counts = RunCounts::default();
        let span = cb * words;
        for a in &map.arrays {
            let (c0, c1) = (a.out0 * cpw, (a.out0 + a.nouts) * cpw);
            let rt = a.row_tile;
            let cols = &self.planes[(rt * self.ncols + c0) * span..(rt * self.ncols + c1) * span];
            let xs = &xw[rt * a_n * words..(rt + 1) * a_n * words];
            let nd = &driven[rt * a_n..(rt + 1) * a_n];
            counts.driven += nd.iter().sum::<i64>() as u64;
            let col_acc = &mut col_acc[c0..c1];
            if let (Some(t), true) = (tables.as_deref(), each_sum.is_none() || hist_kernel) {
                let tile = Tile { xs, driven: nd, signed, over };
                let hist =
                    hist_kernel.then_some(HistOut { counts: &mut *hist, floor, below: &mut below });
                counts.over += self.fused_tile(&tile, cols, t, col_acc, &mut scratch.planes, hist);
                continue;
            }
            let sums = &mut sums[..c1 - c0];
            for t in 0..a_n {
                let plane_w = plane_weight(t, a_n, signed);
                let offset = nd[t] * self.base;
                if let (0, Some(levels)) = (nd[t], tables.as_deref().map(|t| &t.levels)) {
                    // No row driven: every column reads `offset`, counted and converted once.
                    if let Some(f) = each_sum.as_deref_mut() {
                        f.add_repeated(offset, sums.len());
                    }
                    let tile = Tile { xs, driven: nd, signed, over };
                    counts.over += self.zero_plane(&tile, t, levels, col_acc);
                    continue;
                }
                column_sums(&xs[t * words..(t + 1) * words], cols, cb, sums);
                sums.iter_mut().for_each(|s| *s = offset + self.step * *s);
                if let Some(f) = each_sum.as_deref_mut() {
                    f.add_all(sums);
                }
                if let Some(full) = over {
                    counts.over += sums.iter().filter(|p| **p > full).count() as u64;
                }
                for (ca, p) in col_acc.iter_mut().zip(sums.iter()) {
                    let level = match &tables {
                        Some(t) => t.levels[*p as usize],
                        None => adc.level(adc.code(*p)),
                    };
                    *ca += plane_w * level;
                }
            }
        }
        if let (true, Some(sink)) = (hist_kernel, each_sum) {
            self.flush_hist(hist, below, sink);
        }
        shift_add(col_acc, cpw, p_n, map.cell_bits, acc);
        counts
    }

    /// Whether [`PlaneKernel::fused_tile`] runs the AVX-512 column kernel for tiles of `a_n`
    /// input bit planes with `tables`.
    fn simd_fused(&self, a_n: usize, tables: &Tables) -> bool {
        #[cfg(target_arch = "x86_64")]
        {
            self.cell_bits == 1
                && self.words <= 2
                && a_n <= 24
                && tables.small
                && avx512::available()
        }
        #[cfg(not(target_arch = "x86_64"))]
        {
            let _ = (a_n, tables);
            false
        }
    }

    /// The AVX-512 kernel's planes of one array and sample: every input bit plane that drives
    /// a row; a plane that drives none reads 0 in every column, converted once into `col_acc`
    /// here (its saturated reads returned).
    #[cfg(target_arch = "x86_64")]
    fn simd_planes(
        &self,
        tile: &Tile<'_>,
        tables: &Tables,
        col_acc: &mut [i64],
        planes: &mut Vec<Plane>,
        mut hist: Option<&mut HistOut<'_>>,
    ) -> u64 {
        let (a_n, words) = (tile.driven.len(), self.words);
        let mut over = 0u64;
        planes.clear();
        for t in 0..a_n {
            let d = tile.driven[t];
            let offset = d * self.base;
            if d == 0 {
                // No row driven: every column reads `offset` (0), one conversion for all.
                if let Some(h) = hist.as_mut() {
                    h.zero_reads(col_acc.len() as u64);
                }
                over += self.zero_plane(tile, t, &tables.levels, col_acc);
                continue;
            }
            let xs = &tile.xs[t * words..(t + 1) * words];
            planes.push(Plane {
                x: [xs[0], xs.get(1).copied().unwrap_or(0)],
                weight: 1i64 << t,
                neg: tile.signed && t == a_n - 1,
                offset,
                hist_row: d as usize * (self.tile_rows + 1),
                clamp: d >= 128,
                bytes: tables
                    .bytes
                    .as_ref()
                    .map_or(std::ptr::null(), |b| b[d as usize * BYTE_TABLE..].as_ptr()),
                thr: tile.over.map_or(i64::MAX, |full| threshold(full, offset, self.step)),
                hist_min: hist.as_ref().map_or(0, |h| floor_popcount(h.floor, offset, self.step)),
            });
        }
        over
    }

    /// One array's columns over every input bit plane of its row tile, with the ADC by table;
    /// returns the saturated reads counted.
    /// With `hist` (only on the AVX-512 kernel, [`PlaneKernel::simd_fused`]), every column
    /// read also counts at `hist[driven * (tile_rows + 1) + popcount]`.
    fn fused_tile(
        &self,
        tile: &Tile<'_>,
        cols: &[u64],
        tables: &Tables,
        col_acc: &mut [i64],
        planes: &mut Vec<Plane>,
        mut hist: Option<HistOut<'_>>,
    ) -> u64 {
        let a_n = tile.driven.len();
        let words = self.words;
        let mut over = 0u64;
        #[cfg(target_arch = "x86_64")]
        if self.simd_fused(a_n, tables) {
            over += self.simd_planes(tile, tables, col_acc, planes, hist.as_mut());
            let k = avx512::Kernel {
                planes,
                step: self.step,
                levels: &tables.levels,
                popcount: tables.popcount,
            };
            // SAFETY: `available` checked the CPU features; byte tables hold 128 entries per
            // plane from `bytes` on (built for every driven count up to `tile_rows`); a popcount
            // is at most `tile_rows`, inside its histogram row.
            over += unsafe {
                match hist {
                    Some(h) => avx512::run_counting(
                        &k,
                        words,
                        tables.bytes.is_some(),
                        cols,
                        col_acc,
                        h.counts,
                        h.below,
                    ),
                    None => avx512::run(
                        &k,
                        words,
                        tables.bytes.is_some(),
                        tile.over.is_some(),
                        cols,
                        col_acc,
                    ),
                }
            };
            return over;
        }
        debug_assert!(hist.is_none(), "a histogram is only counted on the SIMD kernel");
        for t in 0..a_n {
            let d = tile.driven[t];
            let offset = d * self.base;
            if d == 0 {
                over += self.zero_plane(tile, t, &tables.levels, col_acc);
                continue;
            }
            let plane_w = plane_weight(t, a_n, tile.signed);
            let pass =
                Pass { offset, step: self.step, plane_w, table: &tables.levels, over: tile.over };
            over += fused(
                &tile.xs[t * words..(t + 1) * words],
                cols,
                self.cell_bits as usize,
                &pass,
                col_acc,
            );
        }
        over
    }

    /// A plane that drives no row: every column's sum is `0`.
    fn zero_plane(&self, tile: &Tile<'_>, t: usize, levels: &[i64], col_acc: &mut [i64]) -> u64 {
        let v = plane_weight(t, tile.driven.len(), tile.signed) * levels[0];
        if v != 0 {
            col_acc.iter_mut().for_each(|c| *c += v);
        }
        match tile.over {
            Some(full) if 0 > full => col_acc.len() as u64,
            _ => 0,
        }
    }
}

/// Calls `put(t, word)` with bit plane `t` of up to 64 input codes (bit `r` of `word` is bit
/// `t` of `chunk[r]`), for `t` in `0..a_n`.
fn transpose(chunk: &[i64], a_n: usize, mut put: impl FnMut(usize, u64)) {
    #[cfg(target_arch = "x86_64")]
    if a_n <= 8 && chunk.len() <= 64 && std::arch::is_x86_feature_detected!("avx512bw") {
        // SAFETY: the CPU supports AVX-512BW, checked just above; at most 64 values.
        let planes = unsafe { avx512::bit_planes(chunk) };
        planes.into_iter().take(a_n).enumerate().for_each(|(t, w)| put(t, w));
        return;
    }
    transpose_any(chunk, a_n, put)
}

/// [`transpose`] without SIMD.
fn transpose_any(chunk: &[i64], a_n: usize, mut put: impl FnMut(usize, u64)) {
    for t in 0..a_n {
        put(t, chunk.iter().enumerate().fold(0u64, |m, (r, b)| m | (((*b as u64 >> t) & 1) << r)));
    }
}

/// `acc[j] += sum_s (col_acc[pos] - col_acc[neg]) << (s * cell_bits)` over output `j`'s
/// slices: slice `s` of output `j` is column `j * cpw + s * p_n` (+ 1 for the negative
/// polarity when `p_n == 2`).
fn shift_add(col_acc: &[i64], cpw: usize, p_n: usize, cell_bits: u32, acc: &mut [i64]) {
    #[cfg(target_arch = "x86_64")]
    if (1..=64).contains(&cpw) && std::arch::is_x86_feature_detected!("avx512f") {
        let shifts: [i64; 64] = std::array::from_fn(|k| ((k / p_n) as u32 * cell_bits) as i64);
        let neg: [u8; 8] = std::array::from_fn(|b| {
            (0..8).filter(|i| (b * 8 + i) % p_n == 1).fold(0u8, |m, i| m | 1 << i)
        });
        // SAFETY: the CPU supports AVX-512F, checked just above.
        unsafe { avx512::shift_add(col_acc, cpw, &shifts, &neg, acc) };
        return;
    }
    shift_add_any(col_acc, cpw, p_n, cell_bits, acc)
}

/// [`shift_add`] without SIMD.
fn shift_add_any(col_acc: &[i64], cpw: usize, p_n: usize, cell_bits: u32, acc: &mut [i64]) {
    for (a, ws) in acc.iter_mut().zip(col_acc.chunks_exact(cpw)) {
        for (s, pair) in ws.chunks_exact(p_n).enumerate() {
            let v = if p_n == 2 { pair[0] - pair[1] } else { pair[0] };
            *a += v << (s as u32 * cell_bits);
        }
    }
}

/// One input bit plane that drives at least one row.
#[derive(Clone, Copy, Debug)]
struct Plane {
    /// Its row words (the second 0 for one-word tiles).
    x: [u64; 2],
    /// `|plane weight|`, `2^t`.
    weight: i64,
    /// The weight is negative (a signed input's top bit).
    neg: bool,
    /// `driven * base`: the sum's offset in fine units.
    offset: i64,
    /// Row of the (driven, popcount) histogram this plane's sums count in: `driven * (tile_rows
    /// + 1)`.
    hist_row: usize,
    /// More than 127 rows driven: the byte table reads popcount 128 as 127.
    clamp: bool,
    /// This plane's 128-entry byte table (null without byte tables).
    bytes: *const u8,
    /// Popcounts above this are saturated reads.
    thr: i64,
    /// Histogram only popcounts at or above this (a floored sink's floor, as a popcount);
    /// count the others in `below`.
    hist_min: i64,
}

/// Where the SIMD kernel counts a calibration run's reads: the (driven, popcount) histogram,
/// and the number of reads under the sink's `floor` (`i64::MIN`: none), which are only counted.
struct HistOut<'a> {
    counts: &'a mut [u64],
    floor: i64,
    below: &'a mut u64,
}

impl HistOut<'_> {
    /// Counts `n` reads of a plane that drives no row: each is the sum 0, under the floor or
    /// at (driven, popcount) = (0, 0).
    fn zero_reads(&mut self, n: u64) {
        if 0 < self.floor {
            *self.below += n;
        } else {
            self.counts[0] += n;
        }
    }
}

/// The smallest popcount whose sum `offset + step * popcount` reaches `floor` (0 when every
/// sum does, or when the step is not positive and sums do not grow with the popcount).
fn floor_popcount(floor: i64, offset: i64, step: i64) -> i64 {
    let need = floor.saturating_sub(offset);
    if need <= 0 || step <= 0 {
        0
    } else {
        (need - 1) / step + 1
    }
}

/// The input side of one array's run: its row tile's input planes and driven counts.
struct Tile<'a> {
    /// `a_bits * words` words, plane by plane.
    xs: &'a [u64],
    driven: &'a [i64],
    signed: bool,
    over: Option<i64>,
}

/// Whether every row tile's arrays cover each of its `ncols` logical columns exactly once
/// (the row kernel reads a row tile's columns all together).
fn covers_columns(map: &LayerMap, ncols: usize) -> bool {
    let cpw = map.cols_per_weight();
    let mut seen = vec![0u8; map.row_tiles * ncols];
    for a in &map.arrays {
        let at = a.row_tile * ncols;
        for c in a.out0 * cpw..(a.out0 + a.nouts) * cpw {
            match seen.get_mut(at + c) {
                Some(v) => *v = v.saturating_add(1),
                None => return false,
            }
        }
    }
    seen.iter().all(|v| *v == 1)
}

/// The weight of input bit plane `t` of `a_n`: `2^t`, negative for a signed input's top bit.
fn plane_weight(t: usize, a_n: usize, signed: bool) -> i64 {
    if signed && t == a_n - 1 {
        -(1i64 << t)
    } else {
        1i64 << t
    }
}

/// The largest popcount `s` with `offset + step * s <= full` (sums above it are saturated
/// reads); `-1` when even `s = 0` is above, `i64::MAX` when none is.
fn threshold(full: i64, offset: i64, step: i64) -> i64 {
    if step == 0 {
        return if offset > full { -1 } else { i64::MAX };
    }
    (full - offset).div_euclid(step).max(-1)
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

/// The set bits of `ws`, with the POPCNT instruction where the machine has it (without it a
/// count is a dozen instructions a word).
fn ones(ws: &[u64]) -> u32 {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("popcnt") {
        // SAFETY: the CPU has POPCNT (checked above).
        return unsafe { ones_popcnt(ws) };
    }
    ws.iter().map(|w| w.count_ones()).sum()
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "popcnt")]
unsafe fn ones_popcnt(ws: &[u64]) -> u32 {
    ws.iter().map(|w| w.count_ones()).sum()
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
    /// Count the sums above this.
    over: Option<i64>,
}

/// `col_acc[c] += plane_w * table[offset + step * column_sum(c)]` for every column; returns
/// how many sums were above `pass.over`.
fn fused(xs: &[u64], cols: &[u64], cell_bits: usize, pass: &Pass<'_>, col_acc: &mut [i64]) -> u64 {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("popcnt") {
        // SAFETY: the CPU supports POPCNT, checked just above.
        return unsafe { fused_popcnt(xs, cols, cell_bits, pass, col_acc) };
    }
    fused_any(xs, cols, cell_bits, pass, col_acc)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "popcnt")]
fn fused_popcnt(
    xs: &[u64],
    cols: &[u64],
    cell_bits: usize,
    pass: &Pass<'_>,
    col_acc: &mut [i64],
) -> u64 {
    fused_any(xs, cols, cell_bits, pass, col_acc)
}

#[inline(always)]
fn fused_any(
    xs: &[u64],
    cols: &[u64],
    cell_bits: usize,
    pass: &Pass<'_>,
    col_acc: &mut [i64],
) -> u64 {
    match (xs.len(), cell_bits) {
        (1, 1) => fused_fixed::<1, 1>(xs, cols, pass, col_acc),
        (2, 1) => fused_fixed::<2, 1>(xs, cols, pass, col_acc),
        (1, 2) => fused_fixed::<1, 2>(xs, cols, pass, col_acc),
        (2, 2) => fused_fixed::<2, 2>(xs, cols, pass, col_acc),
        (w, _) => {
            let full = pass.over.unwrap_or(i64::MAX);
            let mut over = 0u64;
            for (col, ca) in cols.chunks_exact(cell_bits * w).zip(col_acc) {
                let p = pass.offset + pass.step * popcount_sum(xs, col, w);
                over += u64::from(p > full);
                *ca += pass.plane_w * pass.table[p as usize];
            }
            over
        }
    }
}

#[inline(always)]
fn fused_fixed<const W: usize, const CB: usize>(
    xs: &[u64],
    cols: &[u64],
    pass: &Pass<'_>,
    col_acc: &mut [i64],
) -> u64 {
    let x: [u64; W] = std::array::from_fn(|w| xs[w]);
    let Pass { offset, step, plane_w, table, over } = *pass;
    let full = over.unwrap_or(i64::MAX);
    let mut n = 0u64;
    for (col, ca) in cols.chunks_exact(W * CB).zip(col_acc) {
        let p = offset + step * column_sum_fixed::<W, CB>(&x, col);
        n += u64::from(p > full);
        *ca += plane_w * table[p as usize];
    }
    n
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

/// Eight columns at a time for 1-bit cells in arrays of up to 128 rows, every input bit plane
/// of the row tile per load of the columns: AND + VPOPCNTQ per row word, the ADC transfer by a
/// byte permute (VPERMI2B, 128 entries per driven count) or a gather from the level table, the
/// weighted add in a register, and the saturated reads by a compare and a mask popcount.
/// Integer arithmetic throughout, so the result equals [`fused_fixed`]'s.
#[cfg(target_arch = "x86_64")]
mod avx512 {
    use super::Plane;
    use std::arch::x86_64::*;

    /// Bit `t` of the low byte of each of up to 64 values, as word `t` (bit `i` from value
    /// `i`).
    #[target_feature(enable = "avx512f,avx512bw")]
    pub(super) fn bit_planes(values: &[i64]) -> [u64; 8] {
        let mut v = _mm512_setzero_si512();
        for (i, part) in values.chunks(8).take(8).enumerate() {
            let m = (0xFFu16 >> (8 - part.len())) as __mmask8;
            // SAFETY: the mask reads `part.len()` values of `part`.
            let q = unsafe { _mm512_maskz_loadu_epi64(m, part.as_ptr() as *const _) };
            // Their low bytes into bytes `8 i ..`.
            let bytes = _mm512_castsi128_si512(_mm512_cvtepi64_epi8(q));
            let at = _mm512_maskz_broadcastq_epi64(1 << i, _mm512_castsi512_si128(bytes));
            v = _mm512_or_si512(v, at);
        }
        std::array::from_fn(|t| _mm512_test_epi8_mask(v, _mm512_set1_epi8((1u8 << t) as i8)))
    }

    /// The layout [`planes_i8`] fills.
    pub(super) struct PlaneShape {
        pub n_in: usize,
        pub n_out: usize,
        pub row_tiles: usize,
        pub tile_rows: usize,
        pub words: usize,
        pub ncols: usize,
        pub polarities: usize,
        pub slices: usize,
        /// Offset encoding's added value (0 for differential pairs), as a byte.
        pub offset: u8,
    }

    /// [`super::PlaneKernel`]'s planes for 1-bit cells from `w[j, i]` bytes: for each output,
    /// row tile and 64-row word, the stored magnitudes of 64 weights (offset-encoded, or the
    /// positive and negative parts) in one register, then one bit-test per cell column gives
    /// that column's plane word (bit `r` = row `64 * word + r` of the tile).
    #[target_feature(enable = "avx512f,avx512bw")]
    pub(super) fn planes_i8(w: &[i8], sh: &PlaneShape, planes: &mut [u64]) {
        let zero = _mm512_setzero_si512();
        let cpw = sh.polarities * sh.slices;
        let p_shift = sh.polarities - 1;
        for j in 0..sh.n_out {
            let row = &w[j * sh.n_in..(j + 1) * sh.n_in];
            for rt in 0..sh.row_tiles {
                for wd in 0..sh.words {
                    let start = rt * sh.tile_rows + wd * 64;
                    if start >= sh.n_in || wd * 64 >= sh.tile_rows {
                        continue;
                    }
                    let n = (sh.n_in - start).min(64).min(sh.tile_rows - wd * 64);
                    let m: __mmask64 = if n == 64 { !0 } else { (1u64 << n) - 1 };
                    // SAFETY: masked to the `n` bytes `row[start..start + n]`, which exist.
                    let v = unsafe { _mm512_maskz_loadu_epi8(m, row.as_ptr().add(start)) };
                    let stored = if sh.polarities == 1 {
                        [_mm512_add_epi8(v, _mm512_set1_epi8(sh.offset as i8)), zero]
                    } else {
                        // Negative parts as bytes: -(-128) is 128, read unsigned.
                        let neg = _mm512_movepi8_mask(v);
                        [_mm512_maskz_mov_epi8(!neg, v), _mm512_maskz_sub_epi8(neg, zero, v)]
                    };
                    for k in 0..cpw {
                        let (p, s) = (k & p_shift, k >> p_shift);
                        let bit = _mm512_set1_epi8((1u8 << s) as i8);
                        let c = j * cpw + k;
                        planes[(rt * sh.ncols + c) * sh.words + wd] =
                            _mm512_mask_test_epi8_mask(m, stored[p], bit);
                    }
                }
            }
        }
    }

    /// True when the CPU has what [`run`] uses.
    pub(super) fn available() -> bool {
        is_x86_feature_detected!("avx512f")
            && is_x86_feature_detected!("avx512bw")
            && is_x86_feature_detected!("avx512vbmi")
            && is_x86_feature_detected!("avx512vpopcntdq")
            && is_x86_feature_detected!("avx512ifma")
            && is_x86_feature_detected!("popcnt")
    }

    /// `acc[j] += sum_k sign_k * (col_acc[j * cpw + k] << shift_k)` for every output `j`, eight
    /// columns at a time; `shifts` (`cpw` of them, padded to a multiple of 8) and `neg` (one
    /// mask per eight columns) describe one output's `cpw` columns.
    #[target_feature(enable = "avx512f")]
    pub(super) fn shift_add(
        col_acc: &[i64],
        cpw: usize,
        shifts: &[i64],
        neg: &[u8],
        acc: &mut [i64],
    ) {
        let chunks = cpw.div_ceil(8);
        let tail = cpw - 8 * (chunks - 1);
        let last: __mmask8 = if tail == 8 { 0xFF } else { (1u8 << tail) - 1 };
        for (j, a) in acc.iter_mut().enumerate().take(col_acc.len() / cpw) {
            let mut tot = _mm512_setzero_si512();
            for (k, n) in neg.iter().enumerate().take(chunks) {
                let m = if k + 1 == chunks { last } else { 0xFF };
                // SAFETY: masked to the columns j * cpw + 8k .. (j + 1) * cpw of `col_acc` and
                // the padded shifts.
                let (v, sh) = unsafe {
                    let v = _mm512_maskz_loadu_epi64(m, col_acc.as_ptr().add(j * cpw + 8 * k));
                    (v, _mm512_loadu_epi64(shifts.as_ptr().add(8 * k)))
                };
                let x = _mm512_sllv_epi64(v, sh);
                tot = _mm512_mask_sub_epi64(_mm512_add_epi64(tot, x), *n, tot, x);
            }
            *a += _mm512_reduce_add_epi64(tot);
        }
    }

    pub(super) struct Kernel<'a> {
        pub planes: &'a [Plane],
        pub step: i64,
        pub levels: &'a [i64],
        /// The table maps every reachable sum to its popcount ([`super::Tables::popcount`]).
        pub popcount: bool,
    }

    /// Dispatches on the row words, the table kind and counting; returns the saturated reads.
    ///
    /// # Safety
    /// The CPU has the features [`available`] checks; with `bytes`, every plane's `bytes`
    /// points at 128 readable bytes.
    pub(super) unsafe fn run(
        k: &Kernel<'_>,
        words: usize,
        bytes: bool,
        count: bool,
        cols: &[u64],
        col_acc: &mut [i64],
    ) -> u64 {
        let mut over = [0u64];
        run_multi(
            std::slice::from_ref(k),
            words,
            bytes,
            count,
            cols,
            &mut [col_acc],
            &mut over,
            None,
        );
        over[0]
    }

    /// [`run`], also counting each read at `hist[plane.hist_row + popcount]` (calibration),
    /// or in `below` when its popcount is under the plane's `hist_min`.
    ///
    /// # Safety
    /// As [`run`]; `hist` has a row for every plane's driven count and `words * 64 + 1`
    /// entries per row at least.
    pub(super) unsafe fn run_counting(
        k: &Kernel<'_>,
        words: usize,
        bytes: bool,
        cols: &[u64],
        col_acc: &mut [i64],
        hist: &mut [u64],
        below: &mut u64,
    ) -> u64 {
        let (ks, h) = (std::slice::from_ref(k), Some((hist, below)));
        let mut over = [0u64];
        run_multi(ks, words, bytes, false, cols, &mut [col_acc], &mut over, h);
        over[0]
    }

    /// [`run`] for several samples of one array at once (`ks[s]` the planes of sample `s`,
    /// `col_accs[s]` its columns): each column's words are read from memory once for all of
    /// them. Returns each sample's saturated reads in `overs`.
    ///
    /// # Safety
    /// As [`run`], for every sample.
    #[allow(clippy::too_many_arguments)]
    pub(super) unsafe fn run_multi(
        ks: &[Kernel<'_>],
        words: usize,
        bytes: bool,
        count: bool,
        cols: &[u64],
        col_accs: &mut [&mut [i64]],
        overs: &mut [u64],
        hist: Option<(&mut [u64], &mut u64)>,
    ) {
        let (a, o) = (cols, overs);
        match (hist, words, bytes, count) {
            (None, w, b, c) => {
                let (h, n) = (&mut [][..], &mut 0);
                match (w, b, c) {
                    (1, true, false) => {
                        columns_multi::<1, true, false, false>(ks, a, col_accs, o, h, n)
                    }
                    (1, true, true) => {
                        columns_multi::<1, true, true, false>(ks, a, col_accs, o, h, n)
                    }
                    (1, false, false) => {
                        columns_multi::<1, false, false, false>(ks, a, col_accs, o, h, n)
                    }
                    (1, false, true) => {
                        columns_multi::<1, false, true, false>(ks, a, col_accs, o, h, n)
                    }
                    (_, true, false) => {
                        columns_multi::<2, true, false, false>(ks, a, col_accs, o, h, n)
                    }
                    (_, true, true) => {
                        columns_multi::<2, true, true, false>(ks, a, col_accs, o, h, n)
                    }
                    (_, false, false) => {
                        columns_multi::<2, false, false, false>(ks, a, col_accs, o, h, n)
                    }
                    (_, false, true) => {
                        columns_multi::<2, false, true, false>(ks, a, col_accs, o, h, n)
                    }
                }
            }
            // Calibration counts reads; it never counts saturation.
            (Some((h, n)), 1, true, _) => {
                columns_multi::<1, true, false, true>(ks, a, col_accs, o, h, n)
            }
            (Some((h, n)), 1, false, _) => {
                columns_multi::<1, false, false, true>(ks, a, col_accs, o, h, n)
            }
            (Some((h, n)), _, true, _) => {
                columns_multi::<2, true, false, true>(ks, a, col_accs, o, h, n)
            }
            (Some((h, n)), _, false, _) => {
                columns_multi::<2, false, false, true>(ks, a, col_accs, o, h, n)
            }
        }
    }

    #[target_feature(enable = "avx512f,avx512bw,avx512vbmi,avx512vpopcntdq,avx512ifma,popcnt")]
    unsafe fn columns_multi<
        const W: usize,
        const BYTES: bool,
        const COUNT: bool,
        const HIST: bool,
    >(
        ks: &[Kernel<'_>],
        cols: &[u64],
        col_accs: &mut [&mut [i64]],
        overs: &mut [u64],
        hist: &mut [u64],
        below: &mut u64,
    ) {
        let n = col_accs.iter().map(|a| a.len()).min().unwrap_or(0).min(cols.len() / W);
        let mut c = 0;
        while n - c >= 16 {
            let m = [0xFF; 2];
            blocks_multi::<W, BYTES, COUNT, HIST, 2>(ks, cols, col_accs, overs, hist, below, c, m);
            c += 16;
        }
        while c < n {
            let m = (n - c).min(8);
            let k8: __mmask8 = if m == 8 { 0xFF } else { (1u8 << m) - 1 };
            let m = [k8];
            blocks_multi::<W, BYTES, COUNT, HIST, 1>(ks, cols, col_accs, overs, hist, below, c, m);
            c += 8;
        }
    }

    /// `B` blocks of eight columns from column `c` (lanes as `masks`, low lanes set) for every
    /// sample: the blocks' column words are loaded once and read by every sample's planes
    /// (`ks[s]`, into `col_accs[s]`, saturated reads added to `overs[s]`). Two blocks per pass
    /// over a sample's planes: each plane's words, table and weight are read once for sixteen
    /// columns.
    ///
    /// # Safety
    /// As [`run`], for every sample; the masked lanes' columns exist in `cols` and `col_accs`.
    #[target_feature(enable = "avx512f,avx512bw,avx512vbmi,avx512vpopcntdq,avx512ifma,popcnt")]
    #[inline]
    #[allow(clippy::too_many_arguments)]
    unsafe fn blocks_multi<
        const W: usize,
        const BYTES: bool,
        const COUNT: bool,
        const HIST: bool,
        const B: usize,
    >(
        ks: &[Kernel<'_>],
        cols: &[u64],
        col_accs: &mut [&mut [i64]],
        overs: &mut [u64],
        hist: &mut [u64],
        below: &mut u64,
        c: usize,
        masks: [__mmask8; B],
    ) {
        let (a0, a1) = load_columns::<W, B>(cols, c, masks);
        for ((k, col_acc), over) in ks.iter().zip(col_accs.iter_mut()).zip(overs.iter_mut()) {
            let (acc, o) = accumulate::<W, BYTES, COUNT, HIST, B>(k, &a0, &a1, hist, below, masks);
            store_columns(col_acc, c, masks, &acc);
            *over += o;
        }
    }

    /// The words of `B` blocks of columns from `c`: each column's first word, and its second
    /// (zero for one-word columns).
    ///
    /// # Safety
    /// As [`blocks_multi`].
    #[target_feature(enable = "avx512f,avx512bw,avx512vbmi,avx512vpopcntdq,avx512ifma,popcnt")]
    #[inline]
    unsafe fn load_columns<const W: usize, const B: usize>(
        cols: &[u64],
        c: usize,
        masks: [__mmask8; B],
    ) -> ([__m512i; B], [__m512i; B]) {
        let even = _mm512_setr_epi64(0, 2, 4, 6, 8, 10, 12, 14);
        let odd = _mm512_setr_epi64(1, 3, 5, 7, 9, 11, 13, 15);
        let zero = _mm512_setzero_si512();
        let mut a0 = [zero; B];
        let mut a1 = [zero; B];
        for b in 0..B {
            let (k8, at) = (masks[b], c + 8 * b);
            // SAFETY (loads): masked to the words of the block's columns, which exist.
            if W == 1 {
                a0[b] = _mm512_maskz_loadu_epi64(k8, cols.as_ptr().add(at) as *const _);
            } else {
                let q = 2 * k8.count_ones();
                let lo: __mmask8 = if q >= 8 { 0xFF } else { (1u8 << q) - 1 };
                let hi: __mmask8 = if q >= 16 {
                    0xFF
                } else if q > 8 {
                    (1u8 << (q - 8)) - 1
                } else {
                    0
                };
                let x = _mm512_maskz_loadu_epi64(lo, cols.as_ptr().add(2 * at) as *const _);
                let y = _mm512_maskz_loadu_epi64(hi, cols.as_ptr().add(2 * at + 8) as *const _);
                a0[b] = _mm512_permutex2var_epi64(x, even, y);
                a1[b] = _mm512_permutex2var_epi64(x, odd, y);
            }
        }
        (a0, a1)
    }

    /// Every plane of `k` read by the blocks' column words: the shift-added converted values
    /// per column, and the saturated reads.
    ///
    /// # Safety
    /// As [`blocks_multi`].
    #[target_feature(enable = "avx512f,avx512bw,avx512vbmi,avx512vpopcntdq,avx512ifma,popcnt")]
    #[inline]
    unsafe fn accumulate<
        const W: usize,
        const BYTES: bool,
        const COUNT: bool,
        const HIST: bool,
        const B: usize,
    >(
        k: &Kernel<'_>,
        a0: &[__m512i; B],
        a1: &[__m512i; B],
        hist: &mut [u64],
        below: &mut u64,
        masks: [__mmask8; B],
    ) -> ([__m512i; B], u64) {
        let step = _mm512_set1_epi64(k.step);
        // Indices stay inside the table even for an inconsistent kernel (memory safety).
        let last = _mm512_set1_epi64(k.levels.len() as i64 - 1);
        let zero = _mm512_setzero_si512();
        let c127 = _mm512_set1_epi64(127);
        let low_bytes: __mmask64 = 0x0101_0101_0101_0101;
        let mut over = 0u64;
        let mut acc = [zero; B];
        for p in k.planes {
            let x0 = _mm512_set1_epi64(p.x[0] as i64);
            let x1 = _mm512_set1_epi64(p.x[1] as i64);
            let weight = _mm512_set1_epi64(p.weight);
            let (t0, t1) = if BYTES {
                (
                    _mm512_loadu_si512(p.bytes as *const _),
                    _mm512_loadu_si512(p.bytes.add(64) as *const _),
                )
            } else {
                (zero, zero)
            };
            for b in 0..B {
                let mut s = _mm512_popcnt_epi64(_mm512_and_si512(a0[b], x0));
                if W == 2 {
                    s = _mm512_add_epi64(s, _mm512_popcnt_epi64(_mm512_and_si512(a1[b], x1)));
                }
                if COUNT {
                    let m = _mm512_mask_cmpgt_epi64_mask(masks[b], s, _mm512_set1_epi64(p.thr));
                    over += u64::from(m.count_ones());
                }
                if HIST {
                    // Reads under the floor are only counted; the rest go to the histogram
                    // (every read when `hist_min` is 0).
                    let min = _mm512_set1_epi64(p.hist_min);
                    let kept = _mm512_mask_cmpge_epi64_mask(masks[b], s, min);
                    *below += u64::from((masks[b] & !kept).count_ones());
                    if kept != 0 {
                        let mut lanes = [0u64; 8];
                        _mm512_storeu_si512(lanes.as_mut_ptr() as *mut _, s);
                        let row = &mut hist[p.hist_row..];
                        let mut m = kept;
                        while m != 0 {
                            row[lanes[m.trailing_zeros() as usize] as usize] += 1;
                            m &= m - 1;
                        }
                    }
                }
                let level = if BYTES {
                    let idx = if p.clamp { _mm512_min_epu64(s, c127) } else { s };
                    _mm512_maskz_permutex2var_epi8(low_bytes, t0, idx, t1)
                } else if k.popcount {
                    s
                } else {
                    let sum =
                        _mm512_add_epi64(_mm512_set1_epi64(p.offset), _mm512_mullox_epi64(s, step));
                    let sum = _mm512_max_epi64(_mm512_min_epi64(sum, last), zero);
                    _mm512_i64gather_epi64::<8>(sum, k.levels.as_ptr())
                };
                acc[b] = if p.neg {
                    _mm512_sub_epi64(acc[b], _mm512_mullox_epi64(level, weight))
                } else {
                    // level * 2^t < 2^52: the 52-bit multiply-add is exact.
                    _mm512_madd52lo_epu64(acc[b], level, weight)
                };
            }
        }
        (acc, over)
    }

    /// Adds the blocks' values into `col_acc` from column `c`.
    ///
    /// # Safety
    /// As [`blocks_multi`].
    #[target_feature(enable = "avx512f,avx512bw,avx512vbmi,avx512vpopcntdq,avx512ifma,popcnt")]
    #[inline]
    unsafe fn store_columns<const B: usize>(
        col_acc: &mut [i64],
        c: usize,
        masks: [__mmask8; B],
        acc: &[__m512i; B],
    ) {
        for b in 0..B {
            // SAFETY (load/store): masked to the block's columns, which exist in `col_acc`.
            let at = col_acc.as_mut_ptr().add(c + 8 * b);
            let old = _mm512_maskz_loadu_epi64(masks[b], at as *const _);
            _mm512_mask_storeu_epi64(at as *mut _, masks[b], _mm512_add_epi64(old, acc[b]));
        }
    }
}

/// The SIMD helpers outside the column kernel equal their portable versions (the kernel itself
/// is compared with the reference loop in tests/crossbar_sim.rs).
#[cfg(test)]
mod tests {
    use super::*;

    fn words(seed: &mut u64, n: usize) -> Vec<u64> {
        (0..n)
            .map(|_| {
                *seed ^= *seed << 13;
                *seed ^= *seed >> 7;
                *seed ^= *seed << 17;
                *seed
            })
            .collect()
    }

    #[test]
    fn transpose_equals_the_portable_loop() {
        let mut seed = 0x2545_f491_4f6c_dd1du64;
        for (len, a_n) in [(64, 8), (1, 1), (37, 5), (64, 3), (10, 16), (8, 8), (57, 7)] {
            let chunk: Vec<i64> = words(&mut seed, len).iter().map(|w| *w as i64 >> 48).collect();
            let (mut fast, mut slow) = (vec![0u64; a_n], vec![0u64; a_n]);
            transpose(&chunk, a_n, |t, w| fast[t] = w);
            transpose_any(&chunk, a_n, |t, w| slow[t] = w);
            assert_eq!(fast, slow, "len {len} a_n {a_n}");
        }
    }

    #[test]
    fn shift_add_equals_the_portable_loop() {
        let mut seed = 0x9e37_79b9_7f4a_7c15u64;
        for cpw in 1..=64usize {
            for p_n in [1usize, 2] {
                if cpw % p_n != 0 {
                    continue;
                }
                let n_out = 3;
                let col_acc: Vec<i64> =
                    words(&mut seed, n_out * cpw).iter().map(|w| (*w as i64) >> 50).collect();
                // Shifts stay below 64 (as a layer's weight bits do): at most 63 slices of 1 bit.
                let cell_bits = if cpw / p_n > 16 { 1 } else { 1 + (cpw % 3) as u32 };
                let init =
                    words(&mut seed, n_out).iter().map(|w| (*w as i64) >> 20).collect::<Vec<_>>();
                let (mut fast, mut slow) = (init.clone(), init);
                shift_add(&col_acc, cpw, p_n, cell_bits, &mut fast);
                shift_add_any(&col_acc, cpw, p_n, cell_bits, &mut slow);
                assert_eq!(fast, slow, "cpw {cpw} p_n {p_n}");
            }
        }
    }
}
