//! Device nonidealities, seeded and reproducible.
//!
//! Programming turns each cell's ideal level `c` into an integer *conductance code* in fine
//! units of `2^-frac_bits` levels, so a varied chip is just a table of integers the RTL can load
//! and reproduce bit for bit:
//! `g = max(0, round_half_even(2^f * (c + g_off) * (1 + sigma_d2d * z)))`, `z ~ N(0, 1)` per
//! cell, where `g_off = (2^cell_bits - 1) / (on_off - 1)` is the off-state conductance in level
//! units (a finite on/off ratio makes level 0 leak). Stuck cells ignore their level: stuck-off
//! is `round(2^f * g_off)`, stuck-on `round(2^f * (2^cell_bits - 1 + g_off))`.
//! Cycle-to-cycle read noise is simulator-only: a column sum `P` over active cells reads as
//! `P + round_half_even(sigma_c2c * sqrt(sum g^2) * z)` (independent relative noise per cell).

use super::cellpack::{PackedBuilder, PackedCodes};
use super::kernel::PlaneKernel;
use super::tile::{ArrayTile, LayerMap};
use crate::crossbar::error::XbarError;
use rand_core::{Rng, SeedableRng};
use rand_pcg::Pcg64Mcg;
use std::ops::Range;
use std::sync::Arc;

/// Nonideality parameters. [`DeviceConfig::ideal`] has none.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct DeviceConfig {
    /// `G_on / G_off`; `f64::INFINITY` for an ideal off state.
    pub on_off_ratio: f64,
    /// Relative device-to-device conductance variation (standard deviation).
    pub d2d_sigma: f64,
    /// Relative cycle-to-cycle read noise (standard deviation), simulator only.
    pub c2c_sigma: f64,
    pub p_stuck_off: f64,
    pub p_stuck_on: f64,
    /// Fractional bits of conductance codes.
    pub frac_bits: u32,
    pub seed: u64,
}

impl DeviceConfig {
    /// No nonidealities; conductance codes are exact levels (`frac_bits = 0`).
    pub fn ideal() -> Self {
        DeviceConfig {
            on_off_ratio: f64::INFINITY,
            d2d_sigma: 0.0,
            c2c_sigma: 0.0,
            p_stuck_off: 0.0,
            p_stuck_on: 0.0,
            frac_bits: 0,
            seed: 0,
        }
    }
    /// Nonidealities from a crossbar instance (`on_off`, `d2d_sigma`, `c2c_sigma`,
    /// `p_stuck_off`, `p_stuck_on`); the seed and code resolution are simulation choices.
    pub fn from_instance(
        inst: &crate::dsl::accel::Instance,
        seed: u64,
        frac_bits: u32,
    ) -> Result<DeviceConfig, XbarError> {
        use crate::units::Dim;
        let dev = DeviceConfig {
            on_off_ratio: inst.si("on_off", Dim::DIMENSIONLESS)?,
            d2d_sigma: inst.si("d2d_sigma", Dim::DIMENSIONLESS)?,
            c2c_sigma: inst.si("c2c_sigma", Dim::DIMENSIONLESS)?,
            p_stuck_off: inst.si("p_stuck_off", Dim::DIMENSIONLESS)?,
            p_stuck_on: inst.si("p_stuck_on", Dim::DIMENSIONLESS)?,
            frac_bits,
            seed,
        };
        dev.check().map_err(|e| XbarError::Config(format!("instance `{}`: {e}", inst.name)))?;
        Ok(dev)
    }

    /// True when programming is exact (codes equal levels times `2^frac_bits`).
    pub fn programs_exactly(&self) -> bool {
        self.on_off_ratio.is_infinite()
            && self.d2d_sigma == 0.0
            && self.p_stuck_off == 0.0
            && self.p_stuck_on == 0.0
    }
    fn check(&self) -> Result<(), XbarError> {
        let probs_ok = (0.0..=1.0).contains(&self.p_stuck_off)
            && (0.0..=1.0).contains(&self.p_stuck_on)
            && self.p_stuck_off + self.p_stuck_on <= 1.0;
        let ratio_ok = self.on_off_ratio > 1.0; // false for NaN too
        if !ratio_ok
            || self.d2d_sigma < 0.0
            || self.c2c_sigma < 0.0
            || !probs_ok
            || self.frac_bits > 16
        {
            return Err(XbarError::Config(format!("invalid device parameters: {self:?}")));
        }
        Ok(())
    }
}

/// A PRNG stream for one purpose, derived from the user's seed so each layer's chip is the same
/// whatever else is simulated (SplitMix64 finaliser to decorrelate nearby seeds).
pub fn stream(seed: u64, purpose: u64, index: u64) -> Pcg64Mcg {
    let mut z = seed
        ^ purpose.wrapping_mul(0x9E37_79B9_7F4A_7C15)
        ^ index.wrapping_mul(0xD1B5_4A32_D192_ED03);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    Pcg64Mcg::seed_from_u64(z ^ (z >> 31))
}

/// A uniform draw in (0, 1) with 53 random bits.
pub fn uniform(rng: &mut impl Rng) -> f64 {
    ((rng.next_u64() >> 11) as f64 + 0.5) / (1u64 << 53) as f64
}

/// A standard normal draw (Box-Muller; one value per call for simplicity).
pub fn normal(rng: &mut impl Rng) -> f64 {
    let (u1, u2) = (uniform(rng), uniform(rng));
    (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
}

/// A layer's conductance codes, in fine units.
#[derive(Clone, Debug, PartialEq)]
pub enum Codes {
    /// Every cell's code is `table[level]` (no variation, no stuck cells): the placement's
    /// levels are the storage, nothing is kept per cell here.
    ByLevel(Vec<u32>),
    /// One code per cell, row-major like [`LayerMap::levels`], packed as residuals against
    /// the level's nominal code (a few bits a cell; a code is non-negative and below `2^32`,
    /// programming fails otherwise).
    PerCell(PackedCodes),
}

/// Codes of a block of cells decoded for reading, at the narrowest of 1, 2 or 4 bytes a cell
/// that holds every one (with 1-bit cells and 6 fraction bits a varied code stays below 256).
/// Appending a code that does not fit widens what is stored.
#[derive(Clone, Debug, PartialEq)]
pub enum CellCodes {
    U8(Vec<u8>),
    U16(Vec<u16>),
    U32(Vec<u32>),
}

/// Runs `$body` with `$v` bound to the stored vector, whatever its width.
macro_rules! with_cells {
    ($c:expr, $v:ident => $body:expr) => {
        match $c {
            CellCodes::U8($v) => $body,
            CellCodes::U16($v) => $body,
            CellCodes::U32($v) => $body,
        }
    };
}

impl CellCodes {
    /// Room for `n` codes of one byte.
    pub fn with_capacity(n: usize) -> CellCodes {
        CellCodes::U8(Vec::with_capacity(n))
    }
    /// Appends `v`, widening the storage when it does not fit.
    pub fn push(&mut self, v: u32) {
        match self {
            CellCodes::U8(g) => match u8::try_from(v) {
                Ok(b) => g.push(b),
                Err(_) => {
                    let mut w: Vec<u16> = Vec::with_capacity(g.capacity());
                    w.extend(g.iter().map(|&b| u16::from(b)));
                    *self = CellCodes::U16(w);
                    self.push(v);
                }
            },
            CellCodes::U16(g) => match u16::try_from(v) {
                Ok(h) => g.push(h),
                Err(_) => {
                    let mut w: Vec<u32> = Vec::with_capacity(g.capacity());
                    w.extend(g.iter().map(|&h| u32::from(h)));
                    w.push(v);
                    *self = CellCodes::U32(w);
                }
            },
            CellCodes::U32(g) => g.push(v),
        }
    }
    // `u32::from` is the identity on the four-byte arm of `with_cells!`.
    #[allow(clippy::useless_conversion)]
    pub fn get(&self, i: usize) -> u32 {
        with_cells!(self, g => u32::from(g[i]))
    }
    pub fn len(&self) -> usize {
        with_cells!(self, g => g.len())
    }
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
    #[allow(clippy::useless_conversion)]
    pub fn iter(&self) -> Box<dyn Iterator<Item = u32> + '_> {
        with_cells!(self, g => Box::new(g.iter().map(|&c| u32::from(c))))
    }
    /// Adds the codes of `range` to `sums` (and their squares to `squares`), read at their
    /// stored width: the reference loop's row accumulation, without a copy of the row.
    pub fn add_span(&self, range: Range<usize>, sums: &mut [i64], squares: Option<&mut [f64]>) {
        #[cfg(target_arch = "x86_64")]
        if std::arch::is_x86_feature_detected!("avx2") {
            // SAFETY: the CPU supports AVX2 (checked above).
            return unsafe { self.add_span_avx2(range, sums, squares) };
        }
        with_cells!(self, g => add_codes(&g[range], sums, squares))
    }
    /// [`CellCodes::add_span`] with AVX2's widening loads (a byte code to 64 bits is one
    /// instruction there, a chain of unpacks on the baseline target).
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2")]
    unsafe fn add_span_avx2(
        &self,
        range: Range<usize>,
        sums: &mut [i64],
        squares: Option<&mut [f64]>,
    ) {
        with_cells!(self, g => add_codes(&g[range], sums, squares))
    }
    /// Bytes held.
    pub fn heap_bytes(&self) -> usize {
        with_cells!(self, g => std::mem::size_of_val(g.as_slice()))
    }
}

/// A layer as programmed: its conductance codes (stored once: per level when the device
/// allows, per cell otherwise) and, when they depend on the level only, the simulator's
/// bit-plane kernel.
#[derive(Clone, Debug, PartialEq)]
pub struct ProgrammedLayer {
    pub codes: Codes,
    pub frac_bits: u32,
    /// Cells that are stuck (off, on).
    pub stuck: (usize, usize),
    /// The cells as bit planes when every code is a function of the cell's level (no
    /// variation, no stuck cells): what the simulator's fast kernel reads.
    pub kernel: Option<Arc<PlaneKernel>>,
}

impl ProgrammedLayer {
    fn by_level(map: &LayerMap, table: Vec<u32>, frac_bits: u32) -> Self {
        let kernel = PlaneKernel::build(map, &table).map(Arc::new);
        ProgrammedLayer { codes: Codes::ByLevel(table), frac_bits, stuck: (0, 0), kernel }
    }
    /// The largest code of any cell (0 for no cells); per level, only the levels that occur.
    pub fn max_code(&self, map: &LayerMap) -> u32 {
        self.code_range(map).1
    }
    /// The smallest and the largest code of any cell (`(0, 0)` for no cells); per level, only
    /// the levels that occur.
    pub fn code_range(&self, map: &LayerMap) -> (u32, u32) {
        match &self.codes {
            Codes::ByLevel(t) => {
                let used = map.levels_used();
                let codes = t.iter().zip(used).filter(|(_, u)| *u).map(|(g, _)| *g);
                codes
                    .fold(None, |r, g| match r {
                        None => Some((g, g)),
                        Some((lo, hi)) => Some((g.min(lo), g.max(hi))),
                    })
                    .unwrap_or((0, 0))
            }
            Codes::PerCell(g) => (g.min(), g.max()),
        }
    }
    /// The sum of each logical column's codes of array `k` over all its rows: the column's
    /// partial sum with every row driven (the type rules, output bounds and RTL widths need
    /// it). From the bit planes when there are (a few popcounts a column, nothing stored);
    /// else weight by weight or row by row.
    pub fn column_sums(&self, map: &LayerMap, k: usize) -> Vec<i64> {
        let a = &map.arrays[k];
        match (&self.codes, &self.kernel) {
            (Codes::ByLevel(_), Some(kernel)) => kernel.column_code_sums(map, a),
            (Codes::ByLevel(table), None) => column_sums_by_level(map, table, a),
            (Codes::PerCell(_), _) => column_sums_per_cell(self, map, a),
        }
    }
    /// Calls `out` with the code of every cell of `range` (row-major), in order.
    fn decode(&self, map: &LayerMap, range: Range<usize>, mut out: impl FnMut(u32)) {
        match &self.codes {
            Codes::ByLevel(t) => {
                map.levels_from(range.start).take(range.len()).for_each(|l| out(t[usize::from(l)]))
            }
            Codes::PerCell(g) => g.decode(range, |from, buf| map.fill_levels(from, buf), out),
        }
    }
    /// The codes of rows `rows`, logical columns `cols`, row-major: one read of the stored
    /// codes for a block the simulator then reads many times.
    pub fn decode_block(
        &self,
        map: &LayerMap,
        rows: Range<usize>,
        cols: Range<usize>,
    ) -> CellCodes {
        let mut block = CellCodes::with_capacity(rows.len() * cols.len());
        for i in rows {
            self.decode_row(map, i, cols.clone(), |c| block.push(c));
        }
        block
    }
    /// Calls `out` with the code of every logical column of rows `rows`, row-major.
    pub fn decode_rows(&self, map: &LayerMap, rows: Range<usize>, out: impl FnMut(u32)) {
        let ncols = map.logical_cols();
        self.decode(map, rows.start * ncols..rows.end * ncols, out);
    }
    /// Calls `out` with the code of row `i`'s logical columns `cols`, in order.
    pub fn decode_row(&self, map: &LayerMap, i: usize, cols: Range<usize>, out: impl FnMut(u32)) {
        let ncols = map.logical_cols();
        self.decode(map, i * ncols + cols.start..i * ncols + cols.end, out);
    }
    /// The codes of the cells `range` (row-major).
    pub fn span(&self, map: &LayerMap, range: Range<usize>) -> Vec<u32> {
        let mut span = Vec::with_capacity(range.len());
        self.decode(map, range, |c| span.push(c));
        span
    }
    /// Every cell's code, row-major.
    pub fn codes<'a>(&'a self, map: &'a LayerMap) -> Box<dyn Iterator<Item = u32> + 'a> {
        match &self.codes {
            Codes::ByLevel(t) => Box::new(map.levels().map(|l| t[usize::from(l)])),
            Codes::PerCell(_) => {
                let ncols = map.logical_cols();
                let row = move |i: usize| self.span(map, i * ncols..(i + 1) * ncols);
                Box::new((0..map.n_in).flat_map(row))
            }
        }
    }
    /// How many cells the codes describe.
    pub fn len(&self, map: &LayerMap) -> usize {
        match &self.codes {
            Codes::ByLevel(_) => map.cells(),
            Codes::PerCell(g) => g.len(),
        }
    }
}

/// `sums[c] += row[c]` (and `squares[c] += row[c]^2`) for every code of `row`.
#[inline(always)]
fn add_codes<T: Copy + Into<u32>>(row: &[T], sums: &mut [i64], squares: Option<&mut [f64]>) {
    for (p, g) in sums.iter_mut().zip(row) {
        *p += i64::from((*g).into());
    }
    if let Some(q) = squares {
        for (q, g) in q.iter_mut().zip(row) {
            let g = f64::from((*g).into());
            *q += g * g;
        }
    }
}

/// Programs a layer's cells. `layer_index` selects the PRNG stream.
pub fn program(
    map: &LayerMap,
    dev: &DeviceConfig,
    layer_index: usize,
) -> Result<ProgrammedLayer, XbarError> {
    dev.check()?;
    let scale = (1i64 << dev.frac_bits) as f64;
    let max_level = ((1u32 << map.cell_bits) - 1) as f64;
    let g_off =
        if dev.on_off_ratio.is_infinite() { 0.0 } else { max_level / (dev.on_off_ratio - 1.0) };
    let n_levels = 1u32 << map.cell_bits;
    // Each level's code without variation or stuck cells: the whole table when codes depend on
    // the level only, else what the per-cell codes are stored relative to.
    let nominal: Vec<i64> = (0..n_levels)
        .map(|c| ((scale * (c as f64 + g_off)).round_ties_even() as i64).max(0))
        .collect();
    if dev.programs_exactly() {
        let table = (0..n_levels).map(|l| l << dev.frac_bits).collect();
        return Ok(ProgrammedLayer::by_level(map, table, dev.frac_bits));
    }
    // Without variation or stuck cells a code depends on the level only (the per-cell formula
    // below with `z` multiplied by 0 and no stuck draw).
    let by_level = dev.d2d_sigma == 0.0 && dev.p_stuck_off == 0.0 && dev.p_stuck_on == 0.0;
    if by_level {
        let table = nominal;
        // A code that does not fit is an error only where a cell uses it (first in row-major
        // order, as when codes were computed per cell).
        // Only when a level whose code does not fit occurs at all is the cell walk needed.
        let used = map.levels_used();
        let unfit = |l: usize| used[l] && u32::try_from(table[l]).is_err();
        let first = || map.levels().find(|l| unfit(usize::from(*l)));
        if let Some(l) = (0..table.len()).any(unfit).then(first).flatten() {
            let v = table[usize::from(l)];
            return Err(XbarError::Config(format!(
                "layer `{}`: conductance code {v} does not fit 32 bits",
                map.name
            )));
        }
        let table = table.iter().map(|v| u32::try_from(*v).unwrap_or(u32::MAX)).collect();
        return Ok(ProgrammedLayer::by_level(map, table, dev.frac_bits));
    }
    let mut rng = stream(dev.seed, 1, layer_index as u64);
    let mut stuck = (0, 0);
    let mut g = PackedBuilder::new(nominal, map.cells());
    for c in map.levels() {
        let u = uniform(&mut rng);
        let z = normal(&mut rng);
        let v = if u < dev.p_stuck_off {
            stuck.0 += 1;
            (scale * g_off).round_ties_even() as i64
        } else if u < dev.p_stuck_off + dev.p_stuck_on {
            stuck.1 += 1;
            (scale * (max_level + g_off)).round_ties_even() as i64
        } else {
            ((scale * (c as f64 + g_off) * (1.0 + dev.d2d_sigma * z)).round_ties_even() as i64)
                .max(0)
        };
        let code = u32::try_from(v).map_err(|_| {
            XbarError::Config(format!(
                "layer `{}`: conductance code {v} does not fit 32 bits",
                map.name
            ))
        })?;
        g.push(c, code).map_err(|_| {
            XbarError::Config(format!(
                "layer `{}`: {} cells with per-cell codes; at most 2^32 - 1 can be stored",
                map.name,
                map.cells()
            ))
        })?;
    }
    let codes = Codes::PerCell(g.finish());
    Ok(ProgrammedLayer { codes, frac_bits: dev.frac_bits, stuck, kernel: None })
}

/// [`ProgrammedLayer::column_sums`] of array `a` when a cell's code is `table[level]`: walked
/// weight by weight in storage order (each weight code read once for its `S * P` columns).
fn column_sums_by_level(map: &LayerMap, table: &[u32], a: &ArrayTile) -> Vec<i64> {
    let cpw = map.cols_per_weight();
    let mut sums = vec![0i64; a.nouts * cpw];
    for (jj, col) in sums.chunks_mut(cpw.max(1)).enumerate() {
        let row = (a.out0 + jj) * map.n_in;
        for i in a.row0..a.row0 + a.nrows {
            for (s, l) in col.iter_mut().zip(map.weight_levels(map.weights.w.get(row + i))) {
                *s += i64::from(table[usize::from(l)]);
            }
        }
    }
    sums
}

/// [`ProgrammedLayer::column_sums`] of array `a` from one code per cell (row-major).
fn column_sums_per_cell(prog: &ProgrammedLayer, map: &LayerMap, a: &ArrayTile) -> Vec<i64> {
    let (cpw, ncols) = (map.cols_per_weight(), map.logical_cols());
    let cols = a.out0 * cpw..(a.out0 + a.nouts) * cpw;
    let mut sums = vec![0i64; cols.len()];
    for i in a.row0..a.row0 + a.nrows {
        let mut s = sums.iter_mut();
        prog.decode(map, i * ncols + cols.start..i * ncols + cols.end, |c| {
            if let Some(s) = s.next() {
                *s += i64::from(c);
            }
        });
    }
    sums
}

#[cfg(test)]
mod tests {
    use super::CellCodes;

    /// Codes kept a byte a cell until one does not fit, then widened in place: every code
    /// reads back the same, and spans equal the codes they cover.
    #[test]
    fn cell_codes_widen_and_read_back() {
        let values = [0u32, 7, 255, 3, 256, 65_535, 9, 65_536, u32::MAX, 1];
        let mut c = CellCodes::with_capacity(values.len());
        let mut widths = Vec::new();
        for &v in &values {
            c.push(v);
            widths.push(c.heap_bytes() / c.len());
        }
        assert_eq!(widths, [1, 1, 1, 1, 2, 2, 2, 4, 4, 4]);
        assert_eq!(c.len(), values.len());
        assert!((0..values.len()).all(|i| c.get(i) == values[i]));
        assert_eq!(c.iter().collect::<Vec<_>>(), values);
        let mut small = CellCodes::with_capacity(2);
        small.push(200);
        small.push(12);
        assert!(matches!(small, CellCodes::U8(_)));
        assert_eq!(small.iter().collect::<Vec<_>>(), [200, 12]);
    }
}
