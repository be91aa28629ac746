//! The fast simulator: [`crate::cam::sim::Simulator`]'s schedule walked with bit masks.
//!
//! Same semantics, same events, bit for bit: per row tile a live mask starts full; each scheduled
//! array, in order, is ANDed in through [`MatchTables`]. With liveness the events of an array
//! are counted from the live mask before the AND (popcounts instead of a loop over rows), and an
//! empty mask before an array is an early exit. Without liveness every event except leaf
//! additions and encoder work is a property of the layout alone, so it is computed once; the
//! masks are then only needed for the match result and the AND stops as soon as a row tile has
//! no candidate row left. [`crate::cam::sim::Simulator`] stays the reference; the `cam_sim_fast`
//! tests hold this module to it.

use super::codes::{EncoderEvents, SparseCam};
use super::layout::{scan, Scan};
use super::tables::{count, push_full, MatchTables, TableMode};
use crate::cam::error::CamError;
use crate::cam::quantize::{Encoded, QuantizedCam};
use crate::cam::sim::{SearchEvents, SimResult};
use crate::cam::tile::TiledCam;
use std::sync::Arc;

/// Reusable per-thread buffers for [`FastSimulator::search`].
#[derive(Clone, Debug, Default)]
pub struct Scratch {
    live: Vec<u64>,
}

/// A tiling prepared for fast, allocation-free simulation.
pub struct FastSimulator<'a> {
    q: &'a QuantizedCam,
    t: &'a TiledCam,
    sparse: Arc<SparseCam>,
    scan: Scan,
    tables: MatchTables,
    /// Per row tile, its full mask (`words` each).
    full: Vec<u64>,
}

impl<'a> FastSimulator<'a> {
    /// Fails (internal error) on a tiling the reference cannot run either: a row or feature out
    /// of range, a row in two row tiles, a column tile wider than the array.
    pub fn new(q: &'a QuantizedCam, t: &'a TiledCam) -> Result<FastSimulator<'a>, CamError> {
        FastSimulator::with_sparse(q, t, Arc::new(SparseCam::new(q)?))
    }

    /// Like [`FastSimulator::new`] with the CAM's [`SparseCam`] built once and shared between
    /// its tilings (a sample is then encoded once for all of them). `sparse` must be `q`'s.
    pub fn with_sparse(
        q: &'a QuantizedCam,
        t: &'a TiledCam,
        sparse: Arc<SparseCam>,
    ) -> Result<Self, CamError> {
        FastSimulator::with_tables(q, t, sparse, TableMode::default())
    }

    /// Like [`FastSimulator::with_sparse`] with a chosen table storage.
    pub fn with_tables(
        q: &'a QuantizedCam,
        t: &'a TiledCam,
        sparse: Arc<SparseCam>,
        mode: TableMode,
    ) -> Result<Self, CamError> {
        let scan = scan(&sparse, t)?;
        let words = t.geometry.rows.div_ceil(64).max(1);
        let tables = MatchTables::new(&sparse, &scan, words, mode);
        let mut full = Vec::with_capacity(t.row_tiles.len() * words);
        for rt in &t.row_tiles {
            if rt.rows.len() > words * 64 {
                return Err(CamError::Internal(format!(
                    "{} tiling: a row tile holds {} rows, more than the {} of an array",
                    t.policy.name(),
                    rt.rows.len(),
                    t.geometry.rows
                )));
            }
            push_full(&mut full, rt.rows.len(), words);
        }
        Ok(FastSimulator { q, t, sparse, scan, tables, full })
    }

    /// The CAM this simulator searches.
    pub fn quantized(&self) -> &'a QuantizedCam {
        self.q
    }

    /// The shared code space and care cells (encode samples with it).
    pub fn sparse(&self) -> &SparseCam {
        &self.sparse
    }

    /// Why this tiling's schedule is not complete (see [`super::layout`]), if it is not: some
    /// care cell is never searched or some row is in no row tile. The reference simulator runs
    /// such schedules too (and so does this one, identically), but their match result can
    /// differ from the other tilings'.
    pub fn incomplete(&self) -> Option<&str> {
        self.scan.incomplete.as_deref()
    }

    /// Words of a matched-row set: `ceil(rows / 64)` over the CAM's rows.
    pub fn matched_words(&self) -> usize {
        self.q.rows.len().div_ceil(64)
    }

    /// Searches codes (from [`SparseCam::encode_f32`] or [`SparseCam::from_encoded`] of this
    /// simulator's `sparse()`): sets the bit of every matching CAM row in `matched`
    /// (`matched_words()` long, cleared first) and returns the events of the sample, encoder
    /// events `enc` included.
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
        let mut ev = if liveness { SearchEvents::default() } else { self.scan.fixed };
        for (ti, (arrays, rt)) in self.scan.tiles.iter().zip(&self.t.row_tiles).enumerate() {
            live.copy_from_slice(&self.full[ti * w..(ti + 1) * w]);
            if liveness {
                let n_rows = rt.rows.len() as u64;
                let mut searches = 0u64;
                for a in arrays.clone() {
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
                    let arr = &self.scan.arrays[a];
                    if n == n_rows {
                        add4(&mut ev.cells_by_bounds, &arr.bounds_all);
                    } else {
                        for_each_bit(live, |i| add4(&mut ev.cells_by_bounds, &arr.row_bounds[i]));
                    }
                    self.tables.and_matches(a, codes, live);
                }
                ev.critical_searches = ev.critical_searches.max(searches);
            } else {
                for a in arrays.clone() {
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
        add_leaves(self.q, matched, totals);
    }

    /// Simulates one encoded sample: the same [`SimResult`] as
    /// [`crate::cam::sim::Simulator::run`] on the same tiling, events included.
    pub fn run(&self, e: &Encoded) -> Result<SimResult, CamError> {
        let mut codes = vec![0u32; self.sparse.num_features()];
        let enc = self.sparse.from_encoded(e, &mut codes)?;
        let mut matched = vec![0u64; self.matched_words()];
        let events = self.search(&codes, enc, &mut Scratch::default(), &mut matched);
        let mut totals = vec![0i64; self.q.base_q.len()];
        self.totals(&matched, &mut totals);
        let margins = totals.iter().map(|t| self.q.fixed.to_margin(*t)).collect();
        let mut matched_rows = Vec::new();
        for_each_bit(&matched, |r| matched_rows.push(r as u32));
        Ok(SimResult { margins, totals, matched_rows, events })
    }
}

/// `totals = base_q + Σ leaf_q` over the rows set in `matched`, per output.
pub(crate) fn add_leaves(q: &QuantizedCam, matched: &[u64], totals: &mut [i64]) {
    totals.copy_from_slice(&q.base_q);
    for_each_bit(matched, |r| {
        let row = &q.rows[r];
        totals[row.output] += row.leaf_q;
    });
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
