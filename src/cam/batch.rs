//! Simulating a data set under the three policies at once, on all threads.
//!
//! Each sample is encoded once into [`CodeSpace`] codes and searched by one
//! [`FastSimulator`] per policy; the three must match the same rows (tiling changes cost, never
//! function), which is checked on every sample as [`super::sim::simulate_all`] does. Samples are
//! split into contiguous chunks over the current rayon pool (`RAYON_NUM_THREADS` sets its size).
//! Events are integers and totals are per sample, so the result is identical for any thread
//! count, and of several failing samples the first one's error is reported.

use super::design::{ByPolicy, CamDesign};
use super::error::CamError;
use super::fastmatch::CodeSpace;
use super::fastsim::{for_each_bit, FastSimulator, Scratch};
use super::sim::SearchEvents;
use super::tile::Policy;
use ndarray::{Array2, ArrayView2};
use rayon::prelude::*;
use std::ops::Range;

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
    if data.ncols() != q.num_features {
        return Err(CamError::SampleWidth {
            what: "evaluation data".into(),
            expected: q.num_features,
            got: data.ncols(),
        });
    }
    let space = CodeSpace::new(q);
    let sims = [
        FastSimulator::with_space(q, &d.tiled.raw, space.clone()),
        FastSimulator::with_space(q, &d.tiled.reorder, space.clone()),
        FastSimulator::with_space(q, &d.tiled.monosparse, space),
    ];
    let n = data.nrows();
    // A few chunks per thread balance the load; the split never changes the result.
    let chunks = n.min(rayon::current_num_threads() * 4).max(1);
    let per_chunk = n.div_ceil(chunks).max(1);
    let parts: Vec<Result<Part, CamError>> = (0..chunks)
        .into_par_iter()
        .map(|c| run_chunk(&sims, data, (c * per_chunk).min(n)..((c + 1) * per_chunk).min(n)))
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

/// One chunk's totals (row-major) and events per policy, in `Policy::ALL` order.
struct Part {
    totals: Vec<i64>,
    events: [SearchEvents; 3],
}

fn run_chunk(
    sims: &[FastSimulator<'_>; 3],
    data: ArrayView2<f32>,
    range: Range<usize>,
) -> Result<Part, CamError> {
    let space = sims[0].space();
    let q = sims[0].quantized();
    let outputs = q.num_outputs;
    let mut codes = vec![0u32; space.num_features()];
    let mut scratch = Scratch::default();
    let mut matched: [Vec<u64>; 3] = std::array::from_fn(|_| vec![0; sims[0].matched_words()]);
    let mut copy: Vec<f32> = Vec::new();
    let mut part = Part { totals: vec![0; range.len() * outputs], events: Default::default() };
    for (j, i) in range.enumerate() {
        let x = data.row(i);
        let enc = match x.as_slice() {
            Some(s) => space.encode_f32(q, s, &mut codes)?,
            None => {
                copy.clear();
                copy.extend(x.iter());
                space.encode_f32(q, &copy, &mut codes)?
            }
        };
        for (k, sim) in sims.iter().enumerate() {
            part.events[k] += sim.search(&codes, enc, &mut scratch, &mut matched[k]);
        }
        for k in 1..3 {
            if matched[k] != matched[0] {
                return Err(disagreement(i, Policy::ALL[k], &matched[k], &matched[0]));
            }
        }
        sims[0].totals(&matched[0], &mut part.totals[j * outputs..(j + 1) * outputs]);
    }
    Ok(part)
}

fn disagreement(sample: usize, p: Policy, a: &[u64], b: &[u64]) -> CamError {
    let rows = |m: &[u64]| {
        let mut v = Vec::new();
        for_each_bit(m, |r| v.push(r as u32));
        v
    };
    CamError::Internal(format!(
        "policy {} disagrees with policy {} on sample {sample} (matched rows {:?} vs {:?})",
        p.name(),
        Policy::ALL[0].name(),
        rows(a),
        rows(b)
    ))
}
