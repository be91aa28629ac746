//! Bit-mask match tables: one array search as an AND of per-column table lookups.
//!
//! For one row tile and one feature column, the bounds of the row tile's cells cut the feature's
//! code space into intervals on which every cell's verdict is constant. A table maps a code to
//! the bit mask of the row tile's rows whose cell matches it (rows whose cell is don't-care have
//! their bit set everywhere), so "which rows match this array" is the AND of one mask per care
//! column, and liveness is one more AND. This module builds those tables; [`super::fastsim`]
//! walks the schedule with them and counts events exactly as [`super::sim::Simulator`] does.
//!
//! **Codes.** The fast path works on [`CodeSpace`] codes: feature `f`'s code clamped to
//! `cap_f = max(largest bound any cell of f stores, encoder table size)` and NaN mapped to
//! `cap_f + 1`. Clamping loses nothing: every bound `b` of `f` has `b <= cap_f`, so for a code
//! `c >= cap_f` both `c >= b` and `c < b` have the same truth value as for `cap_f`.
//!
//! **Tables.** A table is either *direct* (one mask per code `0 ..= cap_f + 1`, indexed by the
//! code) or *compact* (the sorted interval boundaries plus one mask per interval, found by binary
//! search). Direct tables are used while they are small next to the compact form or fit a memory
//! budget, so large `levels` never cost memory proportional to `levels` times the number of tiles.

use super::error::CamError;
use super::quantize::{Encoded, QCell, QuantizedCam};
use super::tile::TiledCam;
use std::ops::Range;

/// How match tables are stored. Every mode gives the same results; only speed and memory differ
/// (the modes other than `Auto` exist so tests can hold both table kinds to the reference).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TableMode {
    /// Direct when at most 4x the compact form, else direct while the extra 64-bit words stay
    /// within `budget_words`, else compact.
    Auto { budget_words: usize },
    /// Direct tables only (memory grows with the code count).
    Direct,
    /// Compact tables only (a binary search per lookup).
    Compact,
}

impl Default for TableMode {
    fn default() -> Self {
        // 16 MiB of direct tables per tiling beyond the always-cheap ones.
        TableMode::Auto { budget_words: 1 << 21 }
    }
}

/// Encoder events of one sample (the first two encoder fields of `SearchEvents`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct EncoderEvents {
    /// Comparator evaluations summed over non-NaN features.
    pub comparisons: u64,
    /// The longest binary search over non-NaN features.
    pub steps: u64,
}

/// The fast path's per-feature code space, shared by every tiling of one [`QuantizedCam`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CodeSpace {
    /// `cap_f`: codes are clamped to it; `cap_f + 1` stands for NaN.
    cap: Vec<u32>,
    /// Comparisons of a binary search over feature `f`'s encoder table.
    steps: Vec<u64>,
}

/// `ceil(log2(u + 1))`: comparisons of a binary search over `u` sorted thresholds.
pub(crate) fn search_steps(u: usize) -> u64 {
    (usize::BITS - u.leading_zeros()) as u64
}

impl CodeSpace {
    pub fn new(q: &QuantizedCam) -> CodeSpace {
        // `FeatureEncoder::code` returns a u16, so encoder codes never exceed u16::MAX.
        let mut cap: Vec<u32> =
            q.encoders.iter().map(|e| e.thresholds.len().min(u16::MAX as usize) as u32).collect();
        cap.resize(q.num_features, 0);
        for row in &q.rows {
            for (f, c) in row.cells.iter().enumerate().take(cap.len()) {
                for b in [c.lo, c.hi].into_iter().flatten() {
                    cap[f] = cap[f].max(b as u32);
                }
            }
        }
        let steps = q.encoders.iter().map(|e| search_steps(e.thresholds.len())).collect();
        CodeSpace { cap, steps }
    }

    pub fn num_features(&self) -> usize {
        self.cap.len()
    }

    /// The code that stands for NaN in feature `f`.
    pub fn nan_code(&self, f: usize) -> u32 {
        self.cap[f] + 1
    }

    /// Runs the input encoder on a float32 sample straight into fast codes (`out`, one per
    /// feature): the same comparisons as [`QuantizedCam::encode`], no allocation.
    pub fn encode_f32(
        &self,
        q: &QuantizedCam,
        x: &[f32],
        out: &mut [u32],
    ) -> Result<EncoderEvents, CamError> {
        if x.len() != self.cap.len() || out.len() != self.cap.len() {
            return Err(CamError::SampleWidth {
                what: if x.len() != self.cap.len() { "input sample" } else { "code buffer" }.into(),
                expected: self.cap.len(),
                got: if x.len() != self.cap.len() { x.len() } else { out.len() },
            });
        }
        let mut ev = EncoderEvents::default();
        for (f, ((v, o), enc)) in x.iter().zip(out.iter_mut()).zip(&q.encoders).enumerate() {
            if v.is_nan() {
                *o = self.cap[f] + 1;
            } else {
                *o = enc.code(*v) as u32;
                ev.comparisons += self.steps[f];
                ev.steps = ev.steps.max(self.steps[f]);
            }
        }
        Ok(ev)
    }

    /// Fast codes of an already encoded sample (codes clamped, NaN flags folded in).
    pub fn from_encoded(&self, e: &Encoded, out: &mut [u32]) -> EncoderEvents {
        let mut ev = EncoderEvents::default();
        for (f, o) in out.iter_mut().enumerate() {
            if e.nan[f] {
                *o = self.cap[f] + 1;
            } else {
                *o = (e.codes[f] as u32).min(self.cap[f]);
                ev.comparisons += self.steps[f];
                ev.steps = ev.steps.max(self.steps[f]);
            }
        }
        ev
    }

    /// A cell's verdict on a fast code of feature `f`.
    fn verdict(&self, f: usize, cell: &QCell, code: u32) -> bool {
        if code > self.cap[f] {
            cell.matches(0, true)
        } else {
            // `code <= cap_f <= u16::MAX` unless a bound exceeded u16, which `QCell` cannot hold.
            cell.matches(code as u16, false)
        }
    }
}

/// A direct table: the mask for code `c` starts at word `(base + c) * words`.
#[derive(Clone, Copy, Debug)]
struct Direct {
    feature: u32,
    base: usize,
}

/// A compact table: `bounds[b]` sorted boundaries; the mask of interval `k` (the number of
/// boundaries `<= code`) starts at word `(base + k) * words`.
#[derive(Clone, Debug)]
struct Compact {
    feature: u32,
    bounds: Range<usize>,
    base: usize,
}

/// The lookups of one scheduled array.
#[derive(Clone, Debug)]
struct ArrayLookups {
    direct: Range<usize>,
    compact: Range<usize>,
}

/// Match tables of every scheduled array of one tiling, in schedule order (row tile by row
/// tile, then its column tiles in search order).
#[derive(Clone, Debug)]
pub struct MatchTables {
    /// Mask width in 64-bit words: `ceil(geometry.rows / 64)`.
    words: usize,
    arrays: Vec<ArrayLookups>,
    direct: Vec<Direct>,
    compact: Vec<Compact>,
    bounds: Vec<u32>,
    masks: Vec<u64>,
}

impl MatchTables {
    pub fn new(q: &QuantizedCam, space: &CodeSpace, t: &TiledCam, mode: TableMode) -> MatchTables {
        let words = t.geometry.rows.div_ceil(64).max(1);
        let mut m = MatchTables {
            words,
            arrays: Vec::new(),
            direct: Vec::new(),
            compact: Vec::new(),
            bounds: Vec::new(),
            masks: Vec::new(),
        };
        let mut budget = match mode {
            TableMode::Auto { budget_words } => budget_words,
            TableMode::Direct | TableMode::Compact => 0,
        };
        let mut caring: Vec<(usize, QCell)> = Vec::new();
        let mut cuts: Vec<u32> = Vec::new();
        let mut interval_masks: Vec<u64> = Vec::new();
        for rt in &t.row_tiles {
            for ct in &rt.column_tiles {
                let (d0, c0) = (m.direct.len(), m.compact.len());
                for f in &ct.features {
                    let fi = *f as usize;
                    caring.clear();
                    for (i, r) in rt.rows.iter().enumerate() {
                        let cell = q.rows[*r as usize].cells[fi];
                        if !cell.is_dont_care() {
                            caring.push((i, cell));
                        }
                    }
                    if caring.is_empty() {
                        continue; // every row matches: no lookup needed
                    }
                    // Boundaries: every stored bound (clamped like the codes) and the NaN code.
                    let nan = space.nan_code(fi);
                    cuts.clear();
                    for (_, c) in &caring {
                        for b in [c.lo, c.hi].into_iter().flatten() {
                            cuts.push((b as u32).min(space.cap[fi]));
                        }
                    }
                    cuts.push(nan);
                    cuts.sort_unstable();
                    cuts.dedup();
                    // One mask per interval: interval k starts at cuts[k-1] (0 for k = 0).
                    interval_masks.clear();
                    for k in 0..=cuts.len() {
                        let rep = if k == 0 { 0 } else { cuts[k - 1] };
                        let start = interval_masks.len();
                        push_full(&mut interval_masks, rt.rows.len(), words);
                        for (i, c) in &caring {
                            if !space.verdict(fi, c, rep) {
                                interval_masks[start + i / 64] &= !(1u64 << (i % 64));
                            }
                        }
                    }
                    let size = nan as usize + 1; // codes 0 ..= cap + 1
                    let cheap = size <= 4 * (cuts.len() + 1);
                    let direct = match mode {
                        TableMode::Direct => true,
                        TableMode::Compact => false,
                        TableMode::Auto { .. } => cheap || size * words <= budget,
                    };
                    if direct {
                        if !cheap {
                            budget = budget.saturating_sub(size * words);
                        }
                        let base = m.masks.len() / words;
                        let mut k = 0;
                        for code in 0..size as u32 {
                            while k < cuts.len() && cuts[k] <= code {
                                k += 1;
                            }
                            m.masks.extend_from_slice(&interval_masks[k * words..(k + 1) * words]);
                        }
                        m.direct.push(Direct { feature: *f, base });
                    } else {
                        let base = m.masks.len() / words;
                        m.masks.extend_from_slice(&interval_masks);
                        let b0 = m.bounds.len();
                        m.bounds.extend_from_slice(&cuts);
                        m.compact.push(Compact { feature: *f, bounds: b0..m.bounds.len(), base });
                    }
                }
                m.arrays.push(ArrayLookups {
                    direct: d0..m.direct.len(),
                    compact: c0..m.compact.len(),
                });
            }
        }
        m
    }

    /// Mask width in 64-bit words.
    pub fn words(&self) -> usize {
        self.words
    }

    /// Scheduled arrays, in schedule order.
    pub fn num_arrays(&self) -> usize {
        self.arrays.len()
    }

    /// ANDs into `live` (`words()` long) the rows of array `a` (schedule order) that match the
    /// fast codes `codes`; returns whether any bit of `live` is left. Stops looking up as soon
    /// as `live` is empty, since an AND cannot bring a row back.
    #[inline(always)]
    pub fn and_matches(&self, a: usize, codes: &[u32], live: &mut [u64]) -> bool {
        let w = self.words;
        let arr = &self.arrays[a];
        for d in &self.direct[arr.direct.clone()] {
            let at = (d.base + codes[d.feature as usize] as usize) * w;
            if !and_into(live, &self.masks[at..at + w]) {
                return false;
            }
        }
        for c in &self.compact[arr.compact.clone()] {
            let code = codes[c.feature as usize];
            let k = self.bounds[c.bounds.clone()].partition_point(|b| *b <= code);
            let at = (c.base + k) * w;
            if !and_into(live, &self.masks[at..at + w]) {
                return false;
            }
        }
        any(live)
    }
}

/// Appends a mask with bits `0..n` set.
pub(crate) fn push_full(masks: &mut Vec<u64>, n: usize, words: usize) {
    for w in 0..words {
        let lo = w * 64;
        let bits = n.saturating_sub(lo).min(64);
        masks.push(if bits == 64 { !0 } else { (1u64 << bits) - 1 });
    }
}

/// `live &= mask`; whether any bit is left.
#[inline(always)]
fn and_into(live: &mut [u64], mask: &[u64]) -> bool {
    let mut left = 0;
    for (l, m) in live.iter_mut().zip(mask) {
        *l &= m;
        left |= *l;
    }
    left != 0
}

#[inline(always)]
pub(crate) fn any(live: &[u64]) -> bool {
    live.iter().any(|w| *w != 0)
}

#[inline(always)]
pub(crate) fn count(live: &[u64]) -> u64 {
    live.iter().map(|w| w.count_ones() as u64).sum()
}
