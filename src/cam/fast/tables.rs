//! Bit-mask match tables: one array search as an AND of per-column table lookups.
//!
//! For one array and one feature column, the bounds of the cells the array's rows store there
//! cut the feature's code space into intervals on which every cell's verdict is constant. A table
//! maps a code (see [`super::codes`]) to the bit mask of the array's rows whose cell matches it
//! (rows whose cell there is don't-care have their bit set everywhere), so "which rows match
//! this array" is the AND of one mask per care column, and liveness is one more AND.
//!
//! A table is either *direct* (one mask per code `0 ..= cap_f + 1`, indexed by the code) or
//! *compact* (the sorted interval boundaries plus one mask per interval, found by binary
//! search). Direct tables are used while they are small next to the compact form or fit a memory
//! budget, so large `levels` never cost memory proportional to `levels` times the arrays.

use super::codes::SparseCam;
use super::layout::{ArrayCell, Scan};
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
    /// Tables for every array of `scan`; `words` is the mask width of the tiling's row tiles.
    pub(crate) fn new(s: &SparseCam, scan: &Scan, words: usize, mode: TableMode) -> MatchTables {
        let mut m = MatchTables {
            words,
            arrays: Vec::with_capacity(scan.arrays.len()),
            direct: Vec::new(),
            compact: Vec::new(),
            bounds: Vec::new(),
            masks: Vec::new(),
        };
        let mut budget = match mode {
            TableMode::Auto { budget_words } => budget_words,
            TableMode::Direct | TableMode::Compact => 0,
        };
        let mut groups: Vec<&[ArrayCell]> = Vec::new();
        let mut cuts: Vec<u32> = Vec::new();
        let mut interval_masks: Vec<u64> = Vec::new();
        for (a, arr) in scan.arrays.iter().enumerate() {
            let n_rows = arr.row_bounds.len();
            // One lookup per feature with care cells; the features more rows care about first,
            // as they are likelier to empty the mask early (any order gives the same AND).
            groups.clear();
            groups.extend(arr.cells.chunk_by(|x, y| x.feature == y.feature));
            groups.sort_by_key(|g| (std::cmp::Reverse(g.len()), g[0].feature));
            let (d0, c0) = (m.direct.len(), m.compact.len());
            for g in &groups {
                let f = g[0].feature as usize;
                // Boundaries: every stored bound (clamped like the codes) and the NaN code.
                let nan = s.nan_code(f);
                cuts.clear();
                for c in g.iter() {
                    for b in [c.cell.lo, c.cell.hi].into_iter().flatten() {
                        cuts.push((b as u32).min(s.cap(f)));
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
                    push_full(&mut interval_masks, n_rows, words);
                    for c in g.iter() {
                        if !s.verdict(f, &c.cell, rep) {
                            let i = c.row as usize;
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
                let base = m.masks.len() / words;
                if direct {
                    if !cheap {
                        budget = budget.saturating_sub(size * words);
                    }
                    let mut k = 0;
                    for code in 0..size as u32 {
                        while k < cuts.len() && cuts[k] <= code {
                            k += 1;
                        }
                        m.masks.extend_from_slice(&interval_masks[k * words..(k + 1) * words]);
                    }
                    m.direct.push(Direct { feature: f as u32, base });
                } else {
                    m.masks.extend_from_slice(&interval_masks);
                    let b0 = m.bounds.len();
                    m.bounds.extend_from_slice(&cuts);
                    m.compact.push(Compact { feature: f as u32, bounds: b0..m.bounds.len(), base });
                }
            }
            debug_assert_eq!(a, m.arrays.len());
            m.arrays
                .push(ArrayLookups { direct: d0..m.direct.len(), compact: c0..m.compact.len() });
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
