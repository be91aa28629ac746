//! Simulating a data set under the three policies at once, on all threads.
//!
//! A tiling changes cost, never function: every *complete* schedule (see
//! [`super::fast::layout`]) matches exactly the rows whose care cells all match. So the batch
//! checks once that all three schedules are complete, encodes each sample once, walks only the
//! tilings whose events depend on the input (those with liveness; the first tiling if none
//! has it) with a [`FastSimulator`], and gives the others their input-independent events plus
//! the walked match result. If any schedule is incomplete, all three are walked and their
//! matches compared on every sample, as [`super::sim::simulate_all`] does. Results equal the
//! reference simulator's per policy, bit for bit (the `cam_sim_fast` tests check it).
//!
//! Samples are split into contiguous chunks over the current rayon pool (`RAYON_NUM_THREADS`
//! sets its size). Events are integers and totals are per sample, so the result is identical
//! for any thread count, and of several failing samples the first one's error is reported.

use super::design::{ByPolicy, CamDesign};
use super::error::CamError;
use super::fast::layout::scan;
use super::fast::sim::{add_leaves, for_each_bit};
use super::fast::{FastSimulator, Scratch, SparseCam};
use super::sim::SearchEvents;
use super::tile::{Policy, TiledCam};
use ndarray::{Array2, ArrayView2};
use rayon::prelude::*;
use std::ops::Range;
use std::sync::Arc;

/// What a batch simulation produces: exact integers, from which margins and costs follow.
#[derive(Clone, Debug, PartialEq)]
pub struct BatchRun {
    /// `[samples, outputs]`: `base_q + Σ leaf_q` (identical under every policy).
    pub totals: Array2<i64>,
    /// Events summed over all samples, per policy.
    pub events: ByPolicy<SearchEvents>,
}

/// Simulates every row of `data` (model feature order) under the raw, reorder and monosparse
/// tilings of `d`.
pub fn simulate_batch(d: &CamDesign, data: ArrayView2<f32>) -> Result<BatchRun, CamError> {
    let q = &d.quantized;
    q.check_width("evaluation data", data.ncols())?;
    let sparse = Arc::new(SparseCam::new(q)?);
    let tilings: [&TiledCam; 3] = [&d.tiled.raw, &d.tiled.reorder, &d.tiled.monosparse];
    let scans = tilings.map(|t| scan(&sparse, t));
    let mut complete = true;
    for s in &scans {
        complete &= s.as_ref().map_or(true, |s| s.incomplete.is_none());
    }
    // Only complete schedules are known to match like the others, so an incomplete one makes
    // every tiling walked and compared sample by sample (the first failing sample is named).
    let walk_first = !complete || !tilings.iter().any(|t| t.liveness);
    let mut plans = Vec::with_capacity(3);
    for (k, (t, s)) in tilings.into_iter().zip(scans).enumerate() {
        let s = s?;
        let plan = if !complete || t.liveness || (walk_first && k == 0) {
            Plan::Walk(Box::new(FastSimulator::with_sparse(q, t, sparse.clone())?))
        } else {
            Plan::Fixed(s.fixed)
        };
        plans.push(plan);
    }
    let (walker_policy, walker) = plans
        .iter()
        .enumerate()
        .find_map(|(k, p)| match p {
            Plan::Walk(s) => Some((Policy::ALL[k], &**s)),
            Plan::Fixed(_) => None,
        })
        .ok_or_else(|| CamError::Internal("no tiling to search".into()))?;
    let job = Job {
        q,
        sparse: &sparse,
        plans: &plans,
        walker,
        walker_policy,
        matched_words: walker.matched_words(),
    };
    let n = data.nrows();
    // A few chunks per thread balance the load; the split never changes the result.
    let chunks = n.min(rayon::current_num_threads() * 4).max(1);
    let per_chunk = n.div_ceil(chunks).max(1);
    let parts: Vec<Result<Part, CamError>> = (0..chunks)
        .into_par_iter()
        .map(|c| job.run(data, (c * per_chunk).min(n)..((c + 1) * per_chunk).min(n)))
        .collect();
    let mut totals = Vec::with_capacity(n * q.num_outputs);
    let mut ev = [SearchEvents::default(); 3];
    for part in parts {
        let part = part?;
        totals.extend_from_slice(&part.totals);
        for (acc, e) in ev.iter_mut().zip(part.events) {
            *acc += e;
        }
    }
    let totals = Array2::from_shape_vec((n, q.num_outputs), totals)
        .map_err(|e| CamError::Internal(format!("batch totals: {e}")))?;
    Ok(BatchRun { totals, events: ByPolicy { raw: ev[0], reorder: ev[1], monosparse: ev[2] } })
}

/// How one policy's events are produced.
enum Plan<'a> {
    /// Searched sample by sample (its events depend on the input).
    Walk(Box<FastSimulator<'a>>),
    /// Input-independent events (no liveness): add leaf additions and encoder work.
    Fixed(SearchEvents),
}

/// One chunk's totals (row-major) and events per policy, in `Policy::ALL` order.
struct Part {
    totals: Vec<i64>,
    events: [SearchEvents; 3],
}

/// What every chunk shares.
struct Job<'j, 'a> {
    q: &'a crate::cam::quantize::QuantizedCam,
    sparse: &'j SparseCam,
    plans: &'j [Plan<'a>],
    walker: &'j FastSimulator<'a>,
    walker_policy: Policy,
    matched_words: usize,
}

impl Job<'_, '_> {
    fn run(&self, data: ArrayView2<f32>, range: Range<usize>) -> Result<Part, CamError> {
        let outputs = self.q.num_outputs;
        let mut codes = vec![0u32; self.sparse.num_features()];
        let mut scratch = Scratch::default();
        let mut matched = vec![0u64; self.matched_words];
        let mut other = vec![0u64; self.matched_words];
        let mut copy: Vec<f32> = Vec::new();
        let mut part = Part { totals: vec![0; range.len() * outputs], events: Default::default() };
        for (j, i) in range.enumerate() {
            let x = data.row(i);
            let enc = match x.as_slice() {
                Some(s) => self.sparse.encode_f32(self.q, s, &mut codes)?,
                None => {
                    copy.clear();
                    copy.extend(x.iter());
                    self.sparse.encode_f32(self.q, &copy, &mut codes)?
                }
            };
            for (k, plan) in self.plans.iter().enumerate() {
                match plan {
                    Plan::Walk(sim) if std::ptr::eq(&**sim, self.walker) => {
                        part.events[k] += sim.search(&codes, enc, &mut scratch, &mut matched);
                    }
                    Plan::Walk(sim) => {
                        part.events[k] += sim.search(&codes, enc, &mut scratch, &mut other);
                        if other != matched {
                            return Err(disagreement(
                                i,
                                Policy::ALL[k],
                                self.walker_policy,
                                &other,
                                &matched,
                            ));
                        }
                    }
                    Plan::Fixed(_) => {}
                }
            }
            let leaf_adds = matched.iter().map(|w| w.count_ones() as u64).sum();
            for (k, plan) in self.plans.iter().enumerate() {
                if let Plan::Fixed(f) = plan {
                    let mut e = *f;
                    e.samples = 1;
                    e.leaf_adds = leaf_adds;
                    e.encoder_comparisons = enc.comparisons;
                    e.encoder_steps = enc.steps;
                    part.events[k] += e;
                }
            }
            add_leaves(self.q, &matched, &mut part.totals[j * outputs..(j + 1) * outputs]);
        }
        Ok(part)
    }
}

fn disagreement(sample: usize, p: Policy, walker: Policy, a: &[u64], b: &[u64]) -> CamError {
    let rows = |m: &[u64]| {
        let mut v = Vec::new();
        for_each_bit(m, |r| v.push(r as u32));
        v
    };
    CamError::Internal(format!(
        "policy {} disagrees with policy {} on sample {sample} (matched rows {:?} vs {:?})",
        p.name(),
        walker.name(),
        rows(a),
        rows(b)
    ))
}
