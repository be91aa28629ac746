//! What a tiling's schedule does with the CAM's care cells, derived once per tiling: per
//! scheduled array the care cells it searches and each row's cell-bound histogram there, the
//! events that do not depend on the input, and whether the schedule is *complete*.
//!
//! A schedule is complete when every CAM row sits in exactly one row tile and every care cell of
//! a row is searched by some array of its row tile. A row then matches under that schedule iff
//! all its care cells match (don't-care cells match everything), i.e. iff it matches in the
//! brute-force sense: the match result is the same for every complete schedule. That is what
//! lets a batch search only the liveness tilings and take the match result of the others from
//! it, while the reference simulator (which makes no such assumption) cross-checks per sample.

use super::codes::{CareCell, SparseCam};
use crate::cam::error::CamError;
use crate::cam::sim::SearchEvents;
use crate::cam::tile::TiledCam;
use std::ops::Range;

/// A care cell as one array searches it: on physical row `row` of the array.
#[derive(Clone, Copy, Debug)]
pub(crate) struct ArrayCell {
    pub feature: u32,
    pub row: u32,
    pub cell: crate::cam::quantize::QCell,
}

/// One scheduled array.
#[derive(Clone, Debug)]
pub(crate) struct ArrayScan {
    /// Care cells searched here, by feature then row.
    pub cells: Vec<ArrayCell>,
    /// Per row of the row tile, cells by programmed bounds (as `SearchEvents::cells_by_bounds`).
    pub row_bounds: Vec<[u64; 4]>,
    /// `row_bounds` summed over the row tile.
    pub bounds_all: [u64; 4],
}

/// A tiling as the fast path sees it.
#[derive(Clone, Debug)]
pub(crate) struct Scan {
    /// Every scheduled array, in schedule order.
    pub arrays: Vec<ArrayScan>,
    /// The arrays of each row tile.
    pub tiles: Vec<Range<usize>>,
    /// The input-independent events of a sample when the tiling has no liveness (all except
    /// `samples`, `leaf_adds` and the encoder fields).
    pub fixed: SearchEvents,
    /// Why the schedule is not complete (first defect found), if it is not.
    pub incomplete: Option<String>,
}

/// Cell-bound class, as the reference simulator indexes `cells_by_bounds`.
fn bound_class(c: &crate::cam::quantize::QCell) -> usize {
    c.lo.is_none() as usize | (c.hi.is_none() as usize) << 1
}

/// Scans `t` over `s`. Fails (as an internal error) only on what the reference simulator
/// cannot run either: a row or feature index out of range, or a row in two row tiles.
pub(crate) fn scan(s: &SparseCam, t: &TiledCam) -> Result<Scan, CamError> {
    let (nf, nr) = (s.num_features(), s.num_rows());
    let cols = t.geometry.cols as u64;
    let bad = |m: String| CamError::Internal(format!("{} tiling: {m}", t.policy.name()));
    // Per feature, the arrays of the current row tile that search it, as a linked list through
    // `links` (a feature may in principle sit in several column tiles of one row tile).
    const NONE: usize = usize::MAX;
    let mut head = vec![NONE; nf];
    let mut links: Vec<(usize, usize)> = Vec::new();
    let mut tile_of_row = vec![NONE; nr];
    let mut defect: Option<String> = None;
    let mut arrays: Vec<ArrayScan> = Vec::new();
    let mut tiles = Vec::with_capacity(t.row_tiles.len());
    let mut fixed = SearchEvents::default();
    for (ti, rt) in t.row_tiles.iter().enumerate() {
        let a0 = arrays.len();
        links.clear();
        for (j, ct) in rt.column_tiles.iter().enumerate() {
            if ct.features.len() as u64 > cols {
                return Err(bad(format!("row tile {ti} has a column tile wider than {cols}")));
            }
            for f in &ct.features {
                let f = *f as usize;
                if f >= nf {
                    return Err(bad(format!("row tile {ti} searches feature {f} of {nf}")));
                }
                links.push((a0 + j, head[f]));
                head[f] = links.len() - 1;
            }
            let n = rt.rows.len();
            arrays.push(ArrayScan {
                cells: Vec::new(),
                row_bounds: vec![[0, 0, 0, cols]; n],
                bounds_all: [0; 4],
            });
        }
        for (i, r) in rt.rows.iter().enumerate() {
            let r = *r as usize;
            if r >= nr {
                return Err(bad(format!("row tile {ti} holds row {r} of {nr}")));
            }
            if tile_of_row[r] != NONE {
                return Err(bad(format!("row {r} is in row tiles {} and {ti}", tile_of_row[r])));
            }
            tile_of_row[r] = ti;
            for &CareCell { feature, cell } in s.care(r) {
                let mut at = head[feature as usize];
                if at == NONE && defect.is_none() {
                    defect = Some(format!("row {r}'s cell in feature {feature} is never searched"));
                }
                while at != NONE {
                    let (a, next) = links[at];
                    let arr = &mut arrays[a];
                    arr.cells.push(ArrayCell { feature, row: i as u32, cell });
                    let k = bound_class(&cell);
                    arr.row_bounds[i][k] += 1;
                    arr.row_bounds[i][3] -= 1;
                    at = next;
                }
            }
        }
        for ct in &rt.column_tiles {
            for f in &ct.features {
                head[*f as usize] = NONE;
            }
        }
        for arr in &mut arrays[a0..] {
            arr.cells.sort_by_key(|c| (c.feature, c.row));
            for h in &arr.row_bounds {
                for (acc, v) in arr.bounds_all.iter_mut().zip(h) {
                    *acc += v;
                }
            }
            let n = rt.rows.len() as u64;
            fixed.arrays_searched += 1;
            fixed.data_lines_driven += cols;
            fixed.rows_enabled += n;
            fixed.cells_searched += cols * n;
            for (acc, v) in fixed.cells_by_bounds.iter_mut().zip(&arr.bounds_all) {
                *acc += v;
            }
        }
        fixed.critical_searches =
            fixed.critical_searches.max((rt.column_tiles.len() as u64).min(1));
        tiles.push(a0..arrays.len());
    }
    if let Some(r) = tile_of_row.iter().position(|t| *t == NONE) {
        defect.get_or_insert(format!("row {r} is in no row tile"));
    }
    Ok(Scan { arrays, tiles, fixed, incomplete: defect })
}
