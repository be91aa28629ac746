//! Layout optimisations beyond MonoSparse-CAM (used by the `monosparse` policy when enabled).
//!
//! 1. **Row clustering with per-row-tile column packing.** The paper's layout uses one global
//!    feature order, so a row tile needs every column tile that holds a feature any of its rows
//!    tests. Each array has its own data-line drivers, so the feature a physical column receives
//!    can differ between row tiles; we therefore group rows that test the same features (greedy:
//!    seed with the row testing the most features, then repeatedly add the row that adds the
//!    fewest new features, preferring larger overlap) and give each row tile only the columns of
//!    its own features. Rows of one tree share their upper splits, so clusters tend to be
//!    subtrees and a row tile typically needs one or two arrays instead of several.
//! 2. **Column-tile ordering by rejection.** With liveness, the order of a row tile's arrays
//!    decides how many rows are still precharged later. Measured on training samples, we greedily
//!    put first the array that kills the most still-live rows.

use super::bits::BitSet;
use super::quantize::{Encoded, QuantizedCam};
use super::tile::{column_tiles, Geometry, RowTile};

/// Candidate rows scanned per clustering step; beyond it the greedy looks at the first rows in
/// model order only, keeping clustering `O(N · window)` on very large ensembles.
const CLUSTER_WINDOW: usize = 2048;

/// Training samples used to order column tiles (the first ones of the set).
const REJECTION_SAMPLES: usize = 1024;

/// Greedy row clustering and per-tile column packing (see the module comment).
pub fn cluster_rows(q: &QuantizedCam, geometry: Geometry) -> Vec<RowTile> {
    let f = q.num_features;
    let care: Vec<BitSet> = q
        .rows
        .iter()
        .map(|r| {
            let mut b = BitSet::new(f);
            for i in 0..f {
                if r.cares(i) {
                    b.insert(i);
                }
            }
            b
        })
        .collect();
    let global = super::tile::care_per_feature(q);
    let mut remaining: Vec<u32> = (0..q.rows.len() as u32).collect();
    let mut tiles = Vec::new();
    while !remaining.is_empty() {
        let seed_pos = (0..remaining.len().min(CLUSTER_WINDOW))
            .max_by(|a, b| {
                let (ra, rb) = (remaining[*a] as usize, remaining[*b] as usize);
                care[ra].count().cmp(&care[rb].count()).then(rb.cmp(&ra))
            })
            .unwrap_or(0);
        let seed = remaining.remove(seed_pos);
        let mut members = vec![seed];
        let mut union = care[seed as usize].clone();
        while members.len() < geometry.rows && !remaining.is_empty() {
            let mut best = 0usize;
            let mut best_key = (usize::MAX, 0usize);
            for (pos, r) in remaining.iter().take(CLUSTER_WINDOW).enumerate() {
                let c = &care[*r as usize];
                let key = (c.count_minus(&union), c.count_and(&union));
                if key.0 < best_key.0 || (key.0 == best_key.0 && key.1 > best_key.1) {
                    best = pos;
                    best_key = key;
                }
            }
            let r = remaining.remove(best);
            union.union_with(&care[r as usize]);
            members.push(r);
        }
        // This tile's features, most care cells (within the tile, then globally) first.
        let mut local = vec![0usize; f];
        for r in &members {
            for i in care[*r as usize].iter() {
                local[i] += 1;
            }
        }
        let mut features: Vec<u32> = union.iter().map(|i| i as u32).collect();
        features.sort_by(|a, b| {
            let (a, b) = (*a as usize, *b as usize);
            local[b].cmp(&local[a]).then(global[b].cmp(&global[a])).then(a.cmp(&b))
        });
        let column_tiles = column_tiles(q, &members, &features, geometry.cols, false);
        tiles.push(RowTile { rows: members, column_tiles });
    }
    tiles
}

/// Reorders `tile.column_tiles` so that, on the training samples, each next array kills the most
/// rows still live after the arrays before it (ties: more care cells, then the earlier array).
pub fn order_by_rejection(q: &QuantizedCam, tile: &mut RowTile, train: &[Encoded]) {
    let t_count = tile.column_tiles.len();
    if t_count <= 1 {
        return;
    }
    let n_rows = tile.rows.len();
    let mut tile_of = vec![usize::MAX; q.num_features];
    for (t, ct) in tile.column_tiles.iter().enumerate() {
        for f in &ct.features {
            tile_of[*f as usize] = t;
        }
    }
    let samples: Vec<&Encoded> = train.iter().take(REJECTION_SAMPLES).collect();
    // matches[t][s]: rows of the tile whose cells in array t match sample s.
    let mut matches = vec![vec![BitSet::full(n_rows); samples.len()]; t_count];
    for (s, e) in samples.iter().enumerate() {
        for (i, r) in tile.rows.iter().enumerate() {
            let row = &q.rows[*r as usize];
            for (f, cell) in row.cells.iter().enumerate() {
                let t = tile_of[f];
                if t != usize::MAX && !cell.is_dont_care() && !cell.matches(e.codes[f], e.nan[f]) {
                    matches[t][s].remove(i);
                }
            }
        }
    }
    let mut live = vec![BitSet::full(n_rows); samples.len()];
    let mut left: Vec<usize> = (0..t_count).collect();
    let mut order = Vec::with_capacity(t_count);
    while !left.is_empty() {
        let mut best_pos = 0usize;
        let mut best_key = (0usize, 0usize);
        for (pos, t) in left.iter().enumerate() {
            let kills: usize = live.iter().zip(&matches[*t]).map(|(l, m)| l.count_minus(m)).sum();
            let key = (kills, tile.column_tiles[*t].care_cells);
            if pos == 0 || key > best_key {
                best_pos = pos;
                best_key = key;
            }
        }
        let t = left.remove(best_pos);
        for (l, m) in live.iter_mut().zip(&matches[t]) {
            l.intersect_with(m);
        }
        order.push(t);
    }
    let old = std::mem::take(&mut tile.column_tiles);
    let mut slots: Vec<Option<_>> = old.into_iter().map(Some).collect();
    tile.column_tiles = order.into_iter().filter_map(|t| slots[t].take()).collect();
}
