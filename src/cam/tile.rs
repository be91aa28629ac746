//! Tiling the CAM onto fixed-size aCAM arrays, with an explicit search schedule.
//!
//! Each feature is one column (an aCAM cell stores a range); rows are grouped into row tiles of
//! `geometry.rows` and features into column tiles of `geometry.cols`. Every (row tile, column
//! tile) pair that is scheduled is one physical array. Three policies, as in MonoSparse-CAM:
//! - `raw`: natural row and feature order; every tile of the grid is searched with every row.
//! - `reorder` (Pedretti et al. 2021): features sorted by care-cell count (most first), rows too,
//!   so care cells concentrate; tiles with no care cell are not built and not searched; every row
//!   of a searched tile is precharged and sensed.
//! - `monosparse`: the reorder layout plus a row-liveness register: within a row tile the column
//!   tiles are searched in sequence and a row that mismatched (its match line discharged, which is
//!   monotone) is not precharged or sensed again; the row tile stops when no row is live.
//!
//! Options beyond the paper apply to `monosparse` only (the baselines stay as published): row
//! clustering with per-row-tile column packing, and column-tile ordering by measured rejection
//! (see [`super::cluster`]). The schedule is literal: the RTL sequencer follows `row_tiles` in
//! order, and within a row tile `column_tiles` in order, each a list of feature columns.

use super::cluster::{cluster_rows, order_by_rejection};
use super::error::CamError;
use super::quantize::{Encoded, QuantizedCam};
use serde::Serialize;
use std::fmt;

/// Array size: rows (match lines) x columns (data lines).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
pub struct Geometry {
    pub rows: usize,
    pub cols: usize,
}

impl Geometry {
    pub fn new(rows: usize, cols: usize) -> Result<Geometry, CamError> {
        if rows == 0 || cols == 0 || rows > 65536 || cols > 65536 {
            return Err(CamError::BadOption {
                option: "tile".into(),
                message: format!("{rows}x{cols}: rows and columns must be in 1..=65536"),
            });
        }
        Ok(Geometry { rows, cols })
    }
}

impl fmt::Display for Geometry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}x{}", self.rows, self.cols)
    }
}

/// How arrays are searched (the `order` option of `cam_pack`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Policy {
    Raw,
    Reorder,
    Monosparse,
}

impl Policy {
    pub const ALL: [Policy; 3] = [Policy::Raw, Policy::Reorder, Policy::Monosparse];
    pub fn name(self) -> &'static str {
        match self {
            Policy::Raw => "raw",
            Policy::Reorder => "reorder",
            Policy::Monosparse => "monosparse",
        }
    }
    pub fn by_name(s: &str) -> Option<Policy> {
        Policy::ALL.into_iter().find(|p| p.name() == s)
    }
}

/// Order of the column tiles within a row tile (matters only with liveness).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ColumnOrder {
    /// Most care cells first: a static proxy for "rejects most rows".
    CareCount,
    /// Greedy on training data: next the tile that kills the most still-live rows.
    Rejection,
}

impl ColumnOrder {
    pub fn by_name(s: &str) -> Option<ColumnOrder> {
        match s {
            "care_count" | "static" => Some(ColumnOrder::CareCount),
            "rejection" => Some(ColumnOrder::Rejection),
            _ => None,
        }
    }
}

/// Monosparse layout options beyond the paper.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct TileOptions {
    /// Group rows that test the same features and give each row tile only the columns it uses.
    pub cluster: bool,
    pub column_order: ColumnOrder,
}

impl Default for TileOptions {
    fn default() -> Self {
        TileOptions { cluster: false, column_order: ColumnOrder::CareCount }
    }
}

/// One array's columns: `features[i]` is driven on physical column `i`; columns past
/// `features.len()` are unused (wildcard cells).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ColumnTile {
    pub features: Vec<u32>,
    /// Care (non-don't-care) cells of the row tile's rows in these columns.
    pub care_cells: usize,
}

/// A group of rows searched together: `rows[i]` sits on physical row `i` of each of its arrays.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct RowTile {
    pub rows: Vec<u32>,
    /// Arrays in search order. Empty when every cell of these rows is don't-care: they match
    /// every input without a search.
    pub column_tiles: Vec<ColumnTile>,
}

/// A tiled CAM and its schedule.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct TiledCam {
    pub geometry: Geometry,
    pub policy: Policy,
    /// Whether the row-liveness register gates precharge and sensing (monosparse).
    pub liveness: bool,
    pub options: TileOptions,
    pub row_tiles: Vec<RowTile>,
    /// Tiles of the natural grid, `ceil(rows/R) * ceil(features/C)`, the same for every policy.
    pub grid_tiles: usize,
}

impl TiledCam {
    /// Arrays this layout builds and searches (at most).
    pub fn scheduled_tiles(&self) -> usize {
        self.row_tiles.iter().map(|r| r.column_tiles.len()).sum()
    }
    /// Scheduled arrays holding at least one care cell.
    pub fn nonempty_tiles(&self) -> usize {
        self.row_tiles.iter().flat_map(|r| &r.column_tiles).filter(|c| c.care_cells > 0).count()
    }
}

/// Care cells per feature over all rows.
pub fn care_per_feature(q: &QuantizedCam) -> Vec<usize> {
    let mut n = vec![0usize; q.num_features];
    for r in &q.rows {
        for (f, c) in r.cells.iter().enumerate() {
            if !c.is_dont_care() {
                n[f] += 1;
            }
        }
    }
    n
}

fn care_per_row(q: &QuantizedCam) -> Vec<usize> {
    q.rows.iter().map(|r| r.cells.iter().filter(|c| !c.is_dont_care()).count()).collect()
}

/// Indices `0..n` sorted by `key` descending, ties by index (a stable, deterministic order).
pub(crate) fn sorted_desc(key: &[usize]) -> Vec<u32> {
    let mut idx: Vec<u32> = (0..key.len() as u32).collect();
    idx.sort_by(|a, b| key[*b as usize].cmp(&key[*a as usize]).then(a.cmp(b)));
    idx
}

/// Splits `feature_order` into column tiles of `cols` for the rows `rows`, dropping tiles with
/// no care cell unless `keep_empty`.
pub(crate) fn column_tiles(
    q: &QuantizedCam,
    rows: &[u32],
    feature_order: &[u32],
    cols: usize,
    keep_empty: bool,
) -> Vec<ColumnTile> {
    feature_order
        .chunks(cols)
        .map(|fs| ColumnTile {
            features: fs.to_vec(),
            care_cells: rows
                .iter()
                .map(|r| fs.iter().filter(|f| q.rows[*r as usize].cares(**f as usize)).count())
                .sum(),
        })
        .filter(|t| keep_empty || t.care_cells > 0)
        .collect()
}

/// Fails when the monosparse layout cannot be built with `opts`: ordering column tiles by
/// rejection needs encoded training samples.
pub fn check_options(opts: &TileOptions, train: &[Encoded]) -> Result<(), CamError> {
    if opts.column_order == ColumnOrder::Rejection && train.is_empty() {
        return Err(CamError::BadOption {
            option: "column_order".into(),
            message: "`rejection` orders column tiles by how often they reject training \
                      samples, so it needs training data"
                .into(),
        });
    }
    Ok(())
}

/// Builds the layout and schedule of one policy. `train` (encoded training samples) is needed
/// only for `ColumnOrder::Rejection`.
pub fn tile(
    q: &QuantizedCam,
    geometry: Geometry,
    policy: Policy,
    opts: &TileOptions,
    train: &[Encoded],
) -> Result<TiledCam, CamError> {
    let n = q.rows.len();
    let grid_tiles = n.div_ceil(geometry.rows) * q.num_features.div_ceil(geometry.cols);
    let natural_rows: Vec<u32> = (0..n as u32).collect();
    let natural_features: Vec<u32> = (0..q.num_features as u32).collect();
    let row_tiles: Vec<RowTile> = match policy {
        Policy::Raw => natural_rows
            .chunks(geometry.rows)
            .map(|rows| RowTile {
                rows: rows.to_vec(),
                column_tiles: column_tiles(q, rows, &natural_features, geometry.cols, true),
            })
            .collect(),
        Policy::Reorder => reorder_layout(q, geometry),
        Policy::Monosparse => {
            let mut tiles =
                if opts.cluster { cluster_rows(q, geometry) } else { reorder_layout(q, geometry) };
            match opts.column_order {
                ColumnOrder::CareCount => {
                    for t in &mut tiles {
                        t.column_tiles.sort_by_key(|c| std::cmp::Reverse(c.care_cells));
                    }
                }
                ColumnOrder::Rejection => {
                    check_options(opts, train)?;
                    for t in &mut tiles {
                        order_by_rejection(q, t, train);
                    }
                }
            }
            tiles
        }
    };
    Ok(TiledCam {
        geometry,
        policy,
        liveness: policy == Policy::Monosparse,
        options: if policy == Policy::Monosparse { *opts } else { TileOptions::default() },
        row_tiles,
        grid_tiles,
    })
}

/// Pedretti et al.'s compression: sort features and rows by care count, skip empty tiles.
fn reorder_layout(q: &QuantizedCam, geometry: Geometry) -> Vec<RowTile> {
    let features = sorted_desc(&care_per_feature(q));
    let rows = sorted_desc(&care_per_row(q));
    rows.chunks(geometry.rows)
        .map(|rs| RowTile {
            rows: rs.to_vec(),
            column_tiles: column_tiles(q, rs, &features, geometry.cols, false),
        })
        .collect()
}
