//! Mapping a quantized layer onto crossbar arrays: bit-sliced signed weights, row and column
//! tiles, ADC sharing.
//!
//! Layout. Inputs drive rows (input `i` is row `i` of the layer's logical matrix); every output
//! `j` owns `S * P` adjacent logical columns, column `(j * S + s) * P + p` holding slice `s`
//! (bits `s*cell_bits ..` of the stored magnitude, least significant first) of polarity `p`.
//! - Differential pairs (`P = 2`): `p = 0` stores `max(w, 0)`, `p = 1` stores `max(-w, 0)`;
//!   `S = ceil(m / cell_bits)` with `m` the bits of `max |w|` (`w_bits - 1` for a symmetric
//!   range). The digital side subtracts the negative column's converted value.
//! - Offset (`P = 1`): stores `w - w_lo` (`w_lo` the smallest code, e.g. `-127`), which needs
//!   `ceil(log2(w_hi - w_lo + 1))` bits; the digital side subtracts `-w_lo * sum_i x_i`.
//!
//! An output's columns never straddle two arrays: an array of `cols` columns holds
//! `floor(cols / (S * P))` outputs. Row tiles split the inputs; their partial sums are added
//! digitally. Each array has `ceil(cols / cols_per_adc)` ADCs; used column `c` of an array is
//! converted by ADC `c mod n_adc` in step `c div n_adc`.

use super::quant::QLayer;
use crate::crossbar::error::XbarError;
use std::sync::Arc;

/// How signed weights are stored in unsigned conductances.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SignedEncoding {
    Differential,
    Offset,
}

/// The ADC full scale.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FullScale {
    /// `rows * (2^cell_bits - 1)`: the largest ideal column sum of a full array (no clipping).
    ArrayMax,
    /// A fixed full scale in cell levels (clips larger sums; finer steps below).
    Levels(u64),
}

/// Crossbar geometry and periphery choices.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct XbarConfig {
    pub rows: usize,
    pub cols: usize,
    pub cell_bits: u32,
    pub encoding: SignedEncoding,
    pub cols_per_adc: usize,
    pub adc_bits: u32,
    pub full_scale: FullScale,
}

impl Default for XbarConfig {
    /// 128x128 arrays, 2-bit cells, differential pairs, 8 columns per ADC, 8-bit ADCs.
    fn default() -> Self {
        XbarConfig {
            rows: 128,
            cols: 128,
            cell_bits: 2,
            encoding: SignedEncoding::Differential,
            cols_per_adc: 8,
            adc_bits: 8,
            full_scale: FullScale::ArrayMax,
        }
    }
}

impl XbarConfig {
    /// Geometry and read-out from a crossbar instance (`stdlib/crossbar.tess`: `rows`, `cols`,
    /// `cell_bits`, `cols_per_adc`, `adc_bits`); signed encoding and full scale are mapping
    /// choices, given here.
    pub fn from_instance(
        inst: &crate::dsl::accel::Instance,
        encoding: SignedEncoding,
        full_scale: FullScale,
    ) -> Result<XbarConfig, XbarError> {
        let cfg = XbarConfig {
            rows: inst.count("rows")? as usize,
            cols: inst.count("cols")? as usize,
            cell_bits: inst.count("cell_bits")? as u32,
            encoding,
            cols_per_adc: inst.count("cols_per_adc")? as usize,
            adc_bits: inst.count("adc_bits")? as u32,
            full_scale,
        };
        cfg.check().map_err(|e| XbarError::Config(format!("instance `{}`: {e}", inst.name)))?;
        Ok(cfg)
    }

    /// The ADC full scale in levels.
    pub fn full_scale_levels(&self) -> u64 {
        match self.full_scale {
            FullScale::ArrayMax => self.rows as u64 * ((1u64 << self.cell_bits) - 1),
            FullScale::Levels(v) => v,
        }
    }
    /// ADCs per array.
    pub fn adcs_per_array(&self) -> usize {
        self.cols.div_ceil(self.cols_per_adc)
    }
    /// The ADC resolution that converts every partial sum of a full array exactly.
    pub fn lossless_adc_bits(&self) -> u32 {
        let max = self.rows as u64 * ((1u64 << self.cell_bits) - 1);
        64 - max.leading_zeros()
    }
    fn check(&self) -> Result<(), XbarError> {
        if self.rows == 0 || self.cols == 0 || self.cols_per_adc == 0 {
            return Err(XbarError::Config(
                "crossbar rows, cols and cols_per_adc must be positive".into(),
            ));
        }
        if !(1..=8).contains(&self.cell_bits) || !(1..=16).contains(&self.adc_bits) {
            return Err(XbarError::Config(format!(
                "cell_bits {} must be 1..=8 and adc_bits {} 1..=16",
                self.cell_bits, self.adc_bits
            )));
        }
        Ok(())
    }
}

/// One physical array holding a block of a layer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ArrayTile {
    pub row_tile: usize,
    pub col_tile: usize,
    /// First input (row) and count.
    pub row0: usize,
    pub nrows: usize,
    /// First output and count; logical columns `out0 * S * P ..` follow.
    pub out0: usize,
    pub nouts: usize,
}

/// A layer's placement on arrays.
#[derive(Clone, Debug, PartialEq)]
pub struct LayerMap {
    pub name: String,
    pub n_in: usize,
    pub n_out: usize,
    pub slices: u32,
    pub polarities: u32,
    /// Offset encoding: the value subtracted (`-w_lo`); 0 for differential pairs.
    pub offset: i64,
    /// Stored magnitude bits per weight.
    pub stored_bits: u32,
    pub cell_bits: u32,
    /// The weight codes the cells are a function of: a cell's level is derived from its
    /// weight on demand ([`LayerMap::level`]), never stored (one byte a cell would be
    /// `S * P` bytes a weight, 16 for 8-bit differential weights on 1-bit cells).
    pub weights: Arc<QLayer>,
    pub arrays: Vec<ArrayTile>,
    pub row_tiles: usize,
    pub col_tiles: usize,
}

impl LayerMap {
    pub fn cols_per_weight(&self) -> usize {
        (self.slices * self.polarities) as usize
    }
    pub fn logical_cols(&self) -> usize {
        self.n_out * self.cols_per_weight()
    }
    /// How many cells the logical matrix has (`n_in` rows of [`LayerMap::logical_cols`]).
    pub fn cells(&self) -> usize {
        self.n_in * self.logical_cols()
    }
    /// The level of the cell on row `i`, logical column `c`: slice `s` of polarity `p` of
    /// weight `w[j, i]` (the layout in the module documentation).
    pub fn level(&self, i: usize, c: usize) -> u8 {
        let cpw = self.cols_per_weight();
        self.weight_level(self.weights.w.get((c / cpw) * self.n_in + i), c % cpw)
    }
    /// Level `k` (`k = slice * P + polarity`) of a cell holding weight code `w`.
    #[inline]
    fn weight_level(&self, w: i64, k: usize) -> u8 {
        // `polarities` is 1 or 2, so the polarity and slice of column `k` are a mask and a
        // shift instead of a division per cell.
        let p_shift = self.polarities - 1;
        let (p, s) = (k & p_shift as usize, (k >> p_shift) as u32);
        let stored = if p_shift == 0 {
            w + self.offset
        } else if p == 0 {
            w.max(0)
        } else {
            (-w).max(0)
        };
        let mask = (1i64 << self.cell_bits) - 1;
        ((stored >> (s * self.cell_bits)) & mask) as u8
    }
    /// The levels of the `S * P` cells (logical columns `j * S * P ..`) that hold weight code
    /// `w`, in column order.
    pub fn weight_levels(&self, w: i64) -> impl Iterator<Item = u8> + '_ {
        (0..self.cols_per_weight()).map(move |k| self.weight_level(w, k))
    }
    /// The level of cell `idx` in row-major order.
    pub fn level_at(&self, idx: usize) -> u8 {
        let ncols = self.logical_cols();
        self.level(idx / ncols, idx % ncols)
    }
    /// The levels of row `i`'s logical columns `cols`: weight by weight (one weight code read
    /// and one division per `S * P` cells, where a per-cell [`LayerMap::level`] would take one
    /// each per cell).
    pub fn row_levels(
        &self,
        i: usize,
        cols: std::ops::Range<usize>,
    ) -> impl Iterator<Item = u8> + '_ {
        let cpw = self.cols_per_weight().max(1);
        let (j0, j1) = (cols.start / cpw, cols.end.div_ceil(cpw));
        let (skip, n) = (cols.start - j0 * cpw, cols.len());
        (j0..j1)
            .flat_map(move |j| self.weight_levels(self.weights.w.get(j * self.n_in + i)))
            .skip(skip)
            .take(n)
    }
    /// Which levels occur in the layer's cells (indexed by level; `2^cell_bits` entries),
    /// found from the distinct weight codes: one read per weight, not per cell.
    pub fn levels_used(&self) -> Vec<bool> {
        let mut used = vec![false; 1 << self.cell_bits];
        let lo = self.weights.w.iter().min().unwrap_or(0);
        let hi = self.weights.w.iter().max().unwrap_or(0);
        if hi.checked_sub(lo).is_some_and(|d| d < 1 << 20) {
            let mut seen = vec![false; (hi - lo + 1) as usize];
            for w in self.weights.w.iter() {
                seen[(w - lo) as usize] = true;
            }
            for (k, _) in seen.iter().enumerate().filter(|(_, s)| **s) {
                self.weight_levels(lo + k as i64).for_each(|l| used[usize::from(l)] = true);
            }
        } else {
            for w in self.weights.w.iter() {
                self.weight_levels(w).for_each(|l| used[usize::from(l)] = true);
            }
        }
        used
    }
    /// Every cell's level, row-major `[n_in][n_out * S * P]`.
    pub fn levels(&self) -> impl Iterator<Item = u8> + '_ {
        self.levels_from(0)
    }
    /// The levels of the cells `from..from + out.len()` (row-major) into `out`: what a reader
    /// of packed codes needs a block at a time, one weight code read per `S * P` cells.
    pub fn fill_levels(&self, from: usize, out: &mut [u8]) {
        let (cpw, ncols) = (self.cols_per_weight(), self.logical_cols());
        if out.is_empty() || cpw == 0 || ncols == 0 {
            return;
        }
        let (mut i, c) = (from / ncols, from % ncols);
        let (mut j, mut k) = (c / cpw, c % cpw);
        let mut w = self.weights.w.get(j * self.n_in + i);
        for l in out {
            *l = self.weight_level(w, k);
            k += 1;
            if k == cpw {
                (k, j) = (0, j + 1);
                if j == self.n_out {
                    (j, i) = (0, i + 1);
                }
                if i < self.n_in {
                    w = self.weights.w.get(j * self.n_in + i);
                }
            }
        }
    }
    /// The levels of the cells from `idx` (row-major) to the last.
    pub fn levels_from(&self, idx: usize) -> impl Iterator<Item = u8> + '_ {
        let ncols = self.logical_cols();
        let (i0, c0) = (idx / ncols.max(1), idx % ncols.max(1));
        let rows = if ncols == 0 { 0..0 } else { i0..self.n_in };
        rows.flat_map(move |i| self.row_levels(i, if i == i0 { c0 } else { 0 }..ncols))
    }
}

/// Static mapping figures of one layer.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct TileStats {
    pub arrays: usize,
    pub row_tiles: usize,
    pub col_tiles: usize,
    pub cols_per_weight: usize,
    pub cells_used: usize,
    pub cells_total: usize,
    /// `cells_used / cells_total`.
    pub utilization: f64,
    pub adcs: usize,
}

fn bits_for(v: u64) -> u32 {
    (64 - v.leading_zeros()).max(1)
}

/// Places a quantized layer on arrays.
pub fn map_layer(layer: &Arc<QLayer>, cfg: &XbarConfig) -> Result<LayerMap, XbarError> {
    cfg.check()?;
    let (polarities, offset, stored_bits) = match cfg.encoding {
        SignedEncoding::Differential => {
            (2u32, 0i64, bits_for(layer.w_lo.unsigned_abs().max(layer.w_hi.unsigned_abs())))
        }
        SignedEncoding::Offset => (1u32, -layer.w_lo, bits_for((layer.w_hi - layer.w_lo) as u64)),
    };
    let slices = stored_bits.div_ceil(cfg.cell_bits);
    let cpw = (slices * polarities) as usize;
    if cpw > cfg.cols {
        return Err(XbarError::Config(format!(
            "layer `{}`: one weight needs {cpw} columns ({slices} slices x {polarities}) but arrays have {}",
            layer.name, cfg.cols
        )));
    }
    let (n_in, n_out) = (layer.n_in, layer.n_out);
    let outs_per_array = cfg.cols / cpw;
    let row_tiles = n_in.div_ceil(cfg.rows);
    let col_tiles = n_out.div_ceil(outs_per_array);
    let mut arrays = Vec::with_capacity(row_tiles * col_tiles);
    for rt in 0..row_tiles {
        for ct in 0..col_tiles {
            let row0 = rt * cfg.rows;
            let out0 = ct * outs_per_array;
            arrays.push(ArrayTile {
                row_tile: rt,
                col_tile: ct,
                row0,
                nrows: cfg.rows.min(n_in - row0),
                out0,
                nouts: outs_per_array.min(n_out - out0),
            });
        }
    }
    Ok(LayerMap {
        name: layer.name.clone(),
        n_in,
        n_out,
        slices,
        polarities,
        offset,
        stored_bits,
        cell_bits: cfg.cell_bits,
        weights: layer.clone(),
        arrays,
        row_tiles,
        col_tiles,
    })
}

/// Arrays, utilization and ADC count of a placed layer.
pub fn tile_stats(map: &LayerMap, cfg: &XbarConfig) -> TileStats {
    let cells_used = map.cells();
    let arrays = map.arrays.len();
    let cells_total = arrays * cfg.rows * cfg.cols;
    TileStats {
        arrays,
        row_tiles: map.row_tiles,
        col_tiles: map.col_tiles,
        cols_per_weight: map.cols_per_weight(),
        cells_used,
        cells_total,
        utilization: cells_used as f64 / cells_total as f64,
        adcs: arrays * cfg.adcs_per_array(),
    }
}
