//! Threshold merging for features with more unique thresholds than an aCAM cell has levels.
//!
//! Removing threshold `t_k` merges the code intervals on either side of it, and every cell bound
//! at `t_k` must snap to a neighbouring kept threshold: to `t_prev` (then the samples in
//! `[t_prev, t_k)` change side of that bound) or to `t_next` (the samples in `[t_k, t_next)` do).
//! The cost of a removal is the smaller of those two training-sample counts; we greedily remove
//! the cheapest threshold until the feature fits. Ties (and the no-data case) fall back to the
//! smaller value gap, then the lower index, so the result is deterministic. This is a heuristic;
//! the exact loss is measured afterwards on the training set and reported (`QuantReport`).

use std::cmp::{Ordering, Reverse};
use std::collections::BinaryHeap;

/// Which original threshold each one became after merging.
#[derive(Clone, Debug, PartialEq)]
pub struct Reduction {
    /// The thresholds kept, ascending.
    pub kept: Vec<f32>,
    /// For each original threshold index, the index into `kept` it snapped to (itself if kept).
    pub map: Vec<usize>,
}

/// A priority-queue key ordered by (sample cost, value gap, index).
#[derive(Clone, Copy, Debug, PartialEq)]
struct Key {
    cost: u64,
    gap: f64,
    index: usize,
    version: u32,
}

impl Eq for Key {}
impl PartialOrd for Key {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Key {
    fn cmp(&self, o: &Self) -> Ordering {
        self.cost
            .cmp(&o.cost)
            .then(self.gap.total_cmp(&o.gap))
            .then(self.index.cmp(&o.index))
            .then(self.version.cmp(&o.version))
    }
}

/// Reduces ascending unique `thresholds` to at most `max_keep` (which must be >= 1), using the
/// non-NaN training values of the feature (`values`, any order) to measure the cost of each merge.
pub fn reduce_thresholds(thresholds: &[f32], max_keep: usize, values: Option<&[f32]>) -> Reduction {
    let u = thresholds.len();
    if u <= max_keep {
        return Reduction { kept: thresholds.to_vec(), map: (0..u).collect() };
    }
    // Samples per interval: right[j] counts [t_j, t_{j+1}) (t_u = +inf).
    // The interval below t_0 is never charged (t_0 cannot snap left), so it is not counted.
    let mut right = vec![0u64; u];
    if let Some(vals) = values {
        for v in vals.iter().filter(|v| !v.is_nan()) {
            let code = thresholds.partition_point(|t| t <= v);
            if code > 0 {
                right[code - 1] += 1;
            }
        }
    }
    let mut prev: Vec<Option<usize>> = (0..u).map(|k| k.checked_sub(1)).collect();
    let mut next: Vec<Option<usize>> = (0..u).map(|k| (k + 1 < u).then_some(k + 1)).collect();
    let mut alive = vec![true; u];
    let mut version = vec![0u32; u];
    let mut snap: Vec<usize> = (0..u).collect();

    // Cost of removing k and where it would snap: (samples moved, value gap, target).
    let evaluate = |k: usize, prev: &[Option<usize>], next: &[Option<usize>], right: &[u64]| {
        let to_prev = prev[k].map(|p| (right[p], thresholds[k] as f64 - thresholds[p] as f64, p));
        let to_next = next[k].map(|n| (right[k], thresholds[n] as f64 - thresholds[k] as f64, n));
        match (to_prev, to_next) {
            (Some(a), Some(b)) => {
                let b_better = b.0 < a.0 || (b.0 == a.0 && b.1.total_cmp(&a.1) == Ordering::Less);
                Some(if b_better { b } else { a })
            }
            (a, b) => a.or(b),
        }
    };

    let mut heap = BinaryHeap::new();
    for k in 0..u {
        if let Some((cost, gap, _)) = evaluate(k, &prev, &next, &right) {
            heap.push(Reverse(Key { cost, gap, index: k, version: 0 }));
        }
    }
    let mut remaining = u;
    while remaining > max_keep {
        let Some(Reverse(key)) = heap.pop() else {
            break;
        };
        let k = key.index;
        if !alive[k] || key.version != version[k] {
            continue;
        }
        let Some((_, _, target)) = evaluate(k, &prev, &next, &right) else {
            continue;
        };
        // Merge the intervals either side of k into the one left of k.
        if let Some(p) = prev[k] {
            right[p] += right[k];
        }
        alive[k] = false;
        snap[k] = target;
        if let Some(p) = prev[k] {
            next[p] = next[k];
        }
        if let Some(n) = next[k] {
            prev[n] = prev[k];
        }
        remaining -= 1;
        for nb in [prev[k], next[k]].into_iter().flatten() {
            version[nb] += 1;
            if let Some((cost, gap, _)) = evaluate(nb, &prev, &next, &right) {
                heap.push(Reverse(Key { cost, gap, index: nb, version: version[nb] }));
            }
        }
    }
    let mut kept = Vec::with_capacity(remaining);
    let mut kept_index = vec![usize::MAX; u];
    for k in 0..u {
        if alive[k] {
            kept_index[k] = kept.len();
            kept.push(thresholds[k]);
        }
    }
    let map = (0..u)
        .map(|k| {
            let mut r = k;
            // Snap chains end at a kept threshold: a removed one always snapped to one alive then.
            while !alive[r] {
                r = snap[r];
            }
            kept_index[r]
        })
        .collect();
    Reduction { kept, map }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_merge_when_it_fits() {
        let r = reduce_thresholds(&[1.0, 2.0], 2, None);
        assert_eq!(r.kept, vec![1.0, 2.0]);
        assert_eq!(r.map, vec![0, 1]);
    }

    #[test]
    fn removes_the_threshold_with_fewest_samples_beside_it() {
        // Thresholds 1,2,3,4. Samples: many in [1,2) and [3,4), none in [2,3), many elsewhere.
        // Removing 2 (snap right to 3 moves the 0 samples of [2,3)) or 3 (snap left to 2 moves
        // the 0 samples of [2,3)) costs 0; the gaps tie (1.0), so the lower index goes: threshold 2.0 snaps to 3.0.
        let vals: Vec<f32> = [0.5f32; 10]
            .iter()
            .chain([1.5f32; 10].iter())
            .chain([3.5f32; 10].iter())
            .chain([4.5f32; 10].iter())
            .copied()
            .collect();
        let r = reduce_thresholds(&[1.0, 2.0, 3.0, 4.0], 3, Some(&vals));
        assert_eq!(r.kept, vec![1.0, 3.0, 4.0]);
        assert_eq!(r.map, vec![0, 1, 1, 2]);
    }

    #[test]
    fn without_data_the_closest_pair_merges() {
        let r = reduce_thresholds(&[0.0, 10.0, 10.5, 20.0], 3, None);
        // 10.5 snapping left to 10 (gap 0.5) ties with 10 snapping right (gap 0.5): index 1 first.
        assert_eq!(r.kept, vec![0.0, 10.5, 20.0]);
        assert_eq!(r.map, vec![0, 1, 1, 2]);
    }

    #[test]
    fn reduces_to_one_level_boundary() {
        let t: Vec<f32> = (0..100).map(|i| i as f32).collect();
        let r = reduce_thresholds(&t, 1, None);
        assert_eq!(r.kept.len(), 1);
        assert!(r.map.iter().all(|&m| m == 0));
    }
}
