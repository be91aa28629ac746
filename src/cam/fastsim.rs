//! The fast simulator: [`super::sim::Simulator`]'s schedule walked with bit masks.
//!
//! Same semantics, same events, bit for bit: per row tile a live mask starts full; each scheduled
//! array, in order, is ANDed in through [`MatchTables`]. With liveness the events of an array
//! are counted from the live mask before the AND (popcounts instead of a loop over rows), and an
//! empty mask before an array is an early exit. Without liveness every event except leaf
//! additions and encoder work is a property of the layout alone, so it is computed once; the
//! masks are then only needed for the match result and the AND stops as soon as a row tile has
//! no candidate row left. [`super::sim::Simulator`] stays the reference; the `cam_sim_fast`
//! tests hold this module to it.

use super::fastmatch::{count, push_full, CodeSpace, EncoderEvents, MatchTables, TableMode};
use super::quantize::{Encoded, QuantizedCam};
use super::sim::{SearchEvents, SimResult};
use super::tile::TiledCam;

/// Per scheduled array: its cell-bound histogram over all rows of its row tile, and where the
/// per-row histograms start (liveness only).
#[derive(Clone, Debug)]
struct ArrayCost {
    bounds_all: [u64; 4],
    row_bounds: usize,
}

/// Per row tile: its scheduled arrays (schedule order) and its full mask.
#[derive(Clone, Debug)]
struct TileRun {
    arrays: std::ops::Range<usize>,
    full: usize,
}

/// Reusable per-thread buffers for [`FastSimulator::search`].
#[derive(Clone, Debug, Default)]
pub struct Scratch {
    live: Vec<u64>,
}

/// A tiling prepared for fast, allocation-free simulation.
pub struct FastSimulator<'a> {
    q: &'a QuantizedCam,
    t: &'a TiledCam,
    space: CodeSpace,
    tables: MatchTables,
    tiles: Vec<TileRun>,
    arrays: Vec<ArrayCost>,
    /// Per-row cell-bound histograms of every array, row tile row order (liveness only).
    row_bounds: Vec<[u64; 4]>,
    /// Full masks of the row tiles, `words` each.
    full: Vec<u64>,
    /// Without liveness: every event that does not depend on the input.
    fixed: SearchEvents,
}

impl<'a> FastSimulator<'a> {
    pub fn new(q: &'a QuantizedCam, t: &'a TiledCam) -> FastSimulator<'a> {
        FastSimulator::with_space(q, t, CodeSpace::new(q))
    }

    /// Like [`FastSimulator::new`] with a precomputed code space (share one between the
    /// tilings of a design so a sample is encoded once for all of them).
    pub fn with_space(q: &'a QuantizedCam, t: &'a TiledCam, space: CodeSpace) -> Self {
        FastSimulator::with_tables(q, t, space, TableMode::default())
    }

    /// Like [`FastSimulator::with_space`] with a chosen table storage.
    pub fn with_tables(
        q: &'a QuantizedCam,
        t: &'a TiledCam,
        space: CodeSpace,
        mode: TableMode,
    ) -> Self {
        let tables = MatchTables::new(q, &space, t, mode);
        let words = tables.words();
        let cols = t.geometry.cols as u64;
        let mut tiles = Vec::with_capacity(t.row_tiles.len());
        let mut arrays = Vec::with_capacity(tables.num_arrays());
        let mut row_bounds = Vec::new();
        let mut full = Vec::new();
        let mut fixed = SearchEvents::default();
        for rt in &t.row_tiles {
            let a0 = arrays.len();
            for ct in &rt.column_tiles {
                let start = row_bounds.len();
                let mut all = [0u64; 4];
                for r in &rt.rows {
                    let row = &q.rows[*r as usize];
                    let mut h = [0u64; 4];
                    for f in &ct.features {
                        let cell = &row.cells[*f as usize];
                        h[cell.lo.is_none() as usize | (cell.hi.is_none() as usize) << 1] += 1;
                    }
                    h[3] += cols - ct.features.len() as u64;
                    for k in 0..4 {
                        all[k] += h[k];
                    }
                    if t.liveness {
                        row_bounds.push(h);
                    }
                }
                arrays.push(ArrayCost { bounds_all: all, row_bounds: start });
                if !t.liveness {
                    let n = rt.rows.len() as u64;
                    fixed.arrays_searched += 1;
                    fixed.data_lines_driven += cols;
                    fixed.rows_enabled += n;
                    fixed.cells_searched += cols * n;
                    for k in 0..4 {
                        fixed.cells_by_bounds[k] += all[k];
                    }
                }
            }
            if !t.liveness {
                let critical = (rt.column_tiles.len() as u64).min(1);
                fixed.critical_searches = fixed.critical_searches.max(critical);
            }
            let full_at = full.len();
            push_full(&mut full, rt.rows.len(), words);
            tiles.push(TileRun { arrays: a0..arrays.len(), full: full_at });
        }
        FastSimulator { q, t, space, tables, tiles, arrays, row_bounds, full, fixed }
    }

    /// The CAM this simulator searches.
    pub fn quantized(&self) -> &'a QuantizedCam {
        self.q
    }

    /// The code space this simulator reads (encode samples with it).
    pub fn space(&self) -> &CodeSpace {
        &self.space
    }

    /// Words of a matched-row set: `ceil(rows / 64)` over the CAM's rows.
    pub fn matched_words(&self) -> usize {
        self.q.rows.len().div_ceil(64)
    }

    /// Searches fast codes (from [`CodeSpace::encode_f32`] or [`CodeSpace::from_encoded`] of
    /// this simulator's space): sets the bit of every matching CAM row in `matched`
    /// (`matched_words()` long, cleared first) and returns the search events, encoder events
    /// included, for one sample.
    pub fn search(
        &self,
        codes: &[u32],
        enc: EncoderEvents,
        scratch: &mut Scratch,
        matched: &mut [u64],
    ) -> SearchEvents {
        matched.fill(0);
        let w = self.tables.words();
        scratch.live.resize(w, 0);
        // Specialised copies for the common mask widths (rows <= 64, <= 128).
        let mut ev = match w {
            1 => self.search_w(1, codes, &mut scratch.live, matched),
            2 => self.search_w(2, codes, &mut scratch.live, matched),
            _ => self.search_w(w, codes, &mut scratch.live, matched),
        };
        ev.samples = 1;
        ev.encoder_comparisons = enc.comparisons;
        ev.encoder_steps = enc.steps;
        ev
    }

    #[inline(always)]
    fn search_w(
        &self,
        w: usize,
        codes: &[u32],
        live: &mut [u64],
        matched: &mut [u64],
    ) -> SearchEvents {
        let live = &mut live[..w];
        let cols = self.t.geometry.cols as u64;
        let liveness = self.t.liveness;
        let mut ev = if liveness { SearchEvents::default() } else { self.fixed };
        for (tile, rt) in self.tiles.iter().zip(&self.t.row_tiles) {
            live.copy_from_slice(&self.full[tile.full..tile.full + w]);
            if liveness {
                let n_rows = rt.rows.len() as u64;
                let mut searches = 0u64;
                for a in tile.arrays.clone() {
                    let n = count(live);
                    if n == 0 {
                        // Arrays remain but no row can match any more: stop this row tile.
                        ev.early_exits += 1;
                        break;
                    }
                    searches += 1;
                    ev.arrays_searched += 1;
                    ev.data_lines_driven += cols;
                    ev.rows_enabled += n;
                    ev.cells_searched += cols * n;
                    ev.liveness_updates += n;
                    let cost = &self.arrays[a];
                    if n == n_rows {
                        add4(&mut ev.cells_by_bounds, &cost.bounds_all);
                    } else {
                        for_each_bit(live, |i| {
                            add4(&mut ev.cells_by_bounds, &self.row_bounds[cost.row_bounds + i])
                        });
                    }
                    self.tables.and_matches(a, codes, live);
                }
                ev.critical_searches = ev.critical_searches.max(searches);
            } else {
                for a in tile.arrays.clone() {
                    if !self.tables.and_matches(a, codes, live) {
                        break; // the match result is settled; the events are fixed
                    }
                }
            }
            for_each_bit(live, |i| {
                let r = rt.rows[i] as usize;
                matched[r / 64] |= 1u64 << (r % 64);
                ev.leaf_adds += 1;
            });
        }
        ev
    }

    /// Adds the leaves of the rows in `matched` to `base_q`, per output, into `totals`.
    pub fn totals(&self, matched: &[u64], totals: &mut [i64]) {
        totals.copy_from_slice(&self.q.base_q);
        for_each_bit(matched, |r| {
            let row = &self.q.rows[r];
            totals[row.output] += row.leaf_q;
        });
    }

    /// Simulates one encoded sample: the same [`SimResult`] as
    /// [`super::sim::Simulator::run`] on the same tiling, events included.
    pub fn run(&self, e: &Encoded) -> SimResult {
        let mut codes = vec![0u32; self.space.num_features()];
        let enc = self.space.from_encoded(e, &mut codes);
        let mut matched = vec![0u64; self.matched_words()];
        let events = self.search(&codes, enc, &mut Scratch::default(), &mut matched);
        let mut totals = vec![0i64; self.q.base_q.len()];
        self.totals(&matched, &mut totals);
        let margins = totals.iter().map(|t| self.q.fixed.to_margin(*t)).collect();
        let mut matched_rows = Vec::new();
        for_each_bit(&matched, |r| matched_rows.push(r as u32));
        SimResult { margins, totals, matched_rows, events }
    }
}

#[inline(always)]
fn add4(acc: &mut [u64; 4], v: &[u64; 4]) {
    for k in 0..4 {
        acc[k] += v[k];
    }
}

/// Calls `f` with the index of every set bit, ascending.
#[inline(always)]
pub(crate) fn for_each_bit(words: &[u64], mut f: impl FnMut(usize)) {
    for (wi, w) in words.iter().enumerate() {
        let mut w = *w;
        while w != 0 {
            f(wi * 64 + w.trailing_zeros() as usize);
            w &= w - 1;
        }
    }
}
