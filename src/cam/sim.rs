//! Bit-exact functional simulation of a tiled aCAM on encoded inputs, with event counts.
//!
//! Per sample: the encoder turns the input into codes and NaN flags; then, per row tile, each
//! scheduled array is searched in order. A row matches an array when every cell matches
//! (`lo <= code < hi`, wildcard bounds always pass, a NaN input passes iff the cell's NaN bit is
//! set) and its final match is the AND over the row tile's arrays. With liveness (monosparse)
//! only rows still live are precharged and sensed, and the row tile stops when none is live;
//! without it every row of every scheduled array is. The leaves of the matching rows are added
//! into a signed integer accumulator per output, initialised to `base_q`; the margin is
//! `(base_q + Σ leaf_q) · 2^-frac` converted to float32 (round to nearest). All arithmetic is
//! integer and order-independent, so the RTL can reproduce it exactly.

use super::error::CamError;
use super::quantize::{Encoded, QuantizedCam};
use super::tile::TiledCam;
use serde::Serialize;
use std::ops::AddAssign;

/// What one or more searches did; the cost model turns these into energy and latency.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct SearchEvents {
    /// Inferences these counts cover.
    pub samples: u64,
    /// Arrays searched (each drives its data lines and DACs once).
    pub arrays_searched: u64,
    /// Rows precharged and sensed (enabled rows), summed over searched arrays.
    pub rows_enabled: u64,
    /// Cells of enabled rows, physical columns included (`rows_enabled * cols`).
    pub cells_searched: u64,
    /// Data lines driven (physical columns of searched arrays); one DAC per data line.
    pub data_lines_driven: u64,
    /// Cells of enabled rows by programmed bounds, for source-line power:
    /// `[both bounds set, low bound wildcard only, high bound wildcard only, both wildcard]`.
    /// Unused physical columns count as both-wildcard cells.
    pub cells_by_bounds: [u64; 4],
    /// Row-liveness register bit updates (monosparse only).
    pub liveness_updates: u64,
    /// Row tiles that stopped before their last array because no row was live.
    pub early_exits: u64,
    /// Matching rows, i.e. leaf reads and accumulator additions.
    pub leaf_adds: u64,
    /// Encoder comparator evaluations (binary search over each feature's table).
    pub encoder_comparisons: u64,
    /// Sequential encoder steps on the critical path (max over features, then summed).
    pub encoder_steps: u64,
    /// Sequential array searches on the critical path: row tiles run in parallel; within a row
    /// tile, arrays run in parallel without liveness and one after another with it.
    pub critical_searches: u64,
}

impl AddAssign for SearchEvents {
    fn add_assign(&mut self, o: SearchEvents) {
        self.samples += o.samples;
        self.arrays_searched += o.arrays_searched;
        self.rows_enabled += o.rows_enabled;
        self.cells_searched += o.cells_searched;
        self.data_lines_driven += o.data_lines_driven;
        for i in 0..4 {
            self.cells_by_bounds[i] += o.cells_by_bounds[i];
        }
        self.liveness_updates += o.liveness_updates;
        self.early_exits += o.early_exits;
        self.leaf_adds += o.leaf_adds;
        self.encoder_comparisons += o.encoder_comparisons;
        self.encoder_steps += o.encoder_steps;
        self.critical_searches += o.critical_searches;
    }
}

/// The outcome of one inference.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct SimResult {
    /// Float32 margins, one per output.
    pub margins: Vec<f32>,
    /// `base_q + Σ leaf_q` per output: the integer the RTL produces.
    pub totals: Vec<i64>,
    /// Indices of matching rows, ascending.
    pub matched_rows: Vec<u32>,
    pub events: SearchEvents,
}

/// Per array: for each row of the row tile, its care cells there and its cell-bound histogram.
struct ArrayPlan {
    care: Vec<Vec<u32>>,
    bounds: Vec<[u64; 4]>,
}

/// A tiled CAM prepared for repeated simulation.
pub struct Simulator<'a> {
    q: &'a QuantizedCam,
    t: &'a TiledCam,
    plans: Vec<Vec<ArrayPlan>>,
    comparisons_per_feature: Vec<u64>,
}

/// `ceil(log2(u + 1))`: comparisons of a binary search over `u` sorted thresholds.
pub(crate) fn search_steps(u: usize) -> u64 {
    (usize::BITS - u.leading_zeros()) as u64
}

impl<'a> Simulator<'a> {
    pub fn new(q: &'a QuantizedCam, t: &'a TiledCam) -> Simulator<'a> {
        let cols = t.geometry.cols as u64;
        let plans = t
            .row_tiles
            .iter()
            .map(|rt| {
                rt.column_tiles
                    .iter()
                    .map(|ct| {
                        let mut care = Vec::with_capacity(rt.rows.len());
                        let mut bounds = Vec::with_capacity(rt.rows.len());
                        for r in &rt.rows {
                            let row = &q.rows[*r as usize];
                            let mut h = [0u64; 4];
                            let mut c = Vec::new();
                            for f in &ct.features {
                                let cell = &row.cells[*f as usize];
                                h[cell.lo.is_none() as usize
                                    | (cell.hi.is_none() as usize) << 1] += 1;
                                if !cell.is_dont_care() {
                                    c.push(*f);
                                }
                            }
                            h[3] += cols - ct.features.len() as u64;
                            care.push(c);
                            bounds.push(h);
                        }
                        ArrayPlan { care, bounds }
                    })
                    .collect()
            })
            .collect();
        let comparisons_per_feature =
            q.encoders.iter().map(|e| search_steps(e.thresholds.len())).collect();
        Simulator { q, t, plans, comparisons_per_feature }
    }

    /// Encodes and simulates one float32 sample.
    pub fn run_f32(&self, x: &[f32]) -> Result<SimResult, CamError> {
        let e = self.q.encode(x)?;
        Ok(self.run(&e))
    }

    /// Simulates one encoded sample.
    pub fn run(&self, e: &Encoded) -> SimResult {
        let q = self.q;
        let cols = self.t.geometry.cols as u64;
        let mut ev = SearchEvents { samples: 1, ..Default::default() };
        for (f, steps) in self.comparisons_per_feature.iter().enumerate() {
            if !e.nan[f] {
                ev.encoder_comparisons += steps;
                ev.encoder_steps = ev.encoder_steps.max(*steps);
            }
        }
        let mut totals = q.base_q.clone();
        let mut matched = Vec::new();
        for (rt, plans) in self.t.row_tiles.iter().zip(&self.plans) {
            let mut live = vec![true; rt.rows.len()];
            let mut searches = 0u64;
            for plan in plans {
                if self.t.liveness && !live.iter().any(|l| *l) {
                    // Arrays remain but no row can match any more: stop this row tile.
                    ev.early_exits += 1;
                    break;
                }
                searches += 1;
                ev.arrays_searched += 1;
                ev.data_lines_driven += cols;
                for (i, alive) in live.iter_mut().enumerate() {
                    if self.t.liveness && !*alive {
                        continue;
                    }
                    ev.rows_enabled += 1;
                    ev.cells_searched += cols;
                    for k in 0..4 {
                        ev.cells_by_bounds[k] += plan.bounds[i][k];
                    }
                    if self.t.liveness {
                        ev.liveness_updates += 1;
                    }
                    let row = &q.rows[rt.rows[i] as usize];
                    let ok = plan.care[i].iter().all(|f| {
                        let f = *f as usize;
                        row.cells[f].matches(e.codes[f], e.nan[f])
                    });
                    if !ok {
                        *alive = false;
                    }
                }
            }
            let critical = if self.t.liveness { searches } else { searches.min(1) };
            ev.critical_searches = ev.critical_searches.max(critical);
            for (i, l) in live.iter().enumerate() {
                if *l {
                    let r = rt.rows[i];
                    let row = &q.rows[r as usize];
                    totals[row.output] += row.leaf_q;
                    matched.push(r);
                    ev.leaf_adds += 1;
                }
            }
        }
        matched.sort_unstable();
        let margins = totals.iter().map(|t| q.fixed.to_margin(*t)).collect();
        SimResult { margins, totals, matched_rows: matched, events: ev }
    }
}

/// Simulates one encoded sample under several tilings of the same CAM and checks they agree bit
/// for bit (they must: tiling changes cost, never function).
pub fn simulate_all(sims: &[Simulator<'_>], e: &Encoded) -> Result<Vec<SimResult>, CamError> {
    let results: Vec<SimResult> = sims.iter().map(|s| s.run(e)).collect();
    if let Some(first) = results.first() {
        for (s, r) in sims.iter().zip(&results).skip(1) {
            if r.totals != first.totals || r.matched_rows != first.matched_rows {
                return Err(CamError::Internal(format!(
                    "policy {} disagrees with policy {} on an input (matched rows {:?} vs {:?})",
                    s.t.policy.name(),
                    sims[0].t.policy.name(),
                    r.matched_rows,
                    first.matched_rows
                )));
            }
        }
    }
    Ok(results)
}
