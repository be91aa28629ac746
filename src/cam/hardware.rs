//! Reading the hardware graph back: after `cam-tile` the graph holds the whole design as
//! `cam.encode` → `cam.array`s → `cam.leaves` → `cam.margin`, and this is the only way the
//! simulator plan, the RTL and the report learn it. [`read`] rebuilds, from those nodes alone,
//! the tables they are written against: the quantized CAM (encoder tables from `cam.encode`,
//! each row's cells from the arrays of its row tile, leaves from `cam.leaves`) and the hardware
//! layout (row tiles from `cam.leaves`, each row tile's arrays in search order from the graph's
//! wiring). [`design`] adds the cell physics and the report's other two layouts.
//!
//! Rows are complete in the graph: every layout places each row in one row tile and searches
//! every care cell of it in some array of that row tile (the `cam_sim_fast` tests check the
//! schedules are complete), so a cell no array holds is a don't-care cell.

use super::design::{encode_all, ByPolicy, CamDesign};
use super::dialect::{CamArray, CamEncode, CamLeaves, TilePos};
use super::energy::CamPhysics;
use super::error::CamError;
use super::quantize::{QCell, QRow, QuantizedCam};
use super::tile::{tile, ColumnOrder, ColumnTile, Policy, RowTile, TiledCam};
use crate::cam::dialect::Schedule;
use crate::ir::{Graph, NodeId};
use ndarray::ArrayView2;

/// The hardware graph as tables.
#[derive(Clone, Debug, PartialEq)]
pub struct HwCam {
    pub quantized: QuantizedCam,
    /// The layout the arrays implement.
    pub tiled: TiledCam,
    pub schedule: Schedule,
}

/// A cell no array holds: it matches everything, NaN included.
const DONT_CARE: QCell = QCell { lo: None, hi: None, nan_match: true };

fn bad(m: impl Into<String>) -> CamError {
    CamError::Internal(format!("hardware graph: {}", m.into()))
}

/// The one node holding a `T`.
fn unique<'g, T: crate::ir::DialectOp>(
    g: &'g Graph,
    what: &str,
) -> Result<(NodeId, &'g T), CamError> {
    let mut found =
        g.topo_order().into_iter().filter_map(|id| g.op(id).dialect::<T>().map(|t| (id, t)));
    let first = found.next().ok_or_else(|| bad(format!("no {what} (run `cam-tile`)")))?;
    if found.next().is_some() {
        return Err(bad(format!("more than one {what}")));
    }
    Ok(first)
}

/// The arrays feeding row tile `k`'s match operands, in search order: a liveness chain is
/// walked back from its last array through `live_in`; without liveness the operands are the
/// arrays themselves.
fn row_tile_arrays<'g>(
    g: &'g Graph,
    k: usize,
    operands: &[NodeId],
    encoder: NodeId,
) -> Result<Vec<&'g CamArray>, CamError> {
    let array = |id: NodeId| {
        g.op(id).dialect::<CamArray>().ok_or_else(|| bad(format!("row tile {k} reads a non-array")))
    };
    let mut out = Vec::new();
    for &last in operands {
        let mut chain = Vec::new();
        let mut id = last;
        loop {
            let a = array(id)?;
            let ops = g.operands(id);
            if ops.first() != Some(&encoder) {
                return Err(bad(format!("an array of row tile {k} does not read the encoder")));
            }
            chain.push(a);
            match (a.live_in, ops.get(1)) {
                (true, Some(prev)) => id = *prev,
                _ => break,
            }
        }
        chain.reverse();
        out.extend(chain);
    }
    for (j, a) in out.iter().enumerate() {
        let want = TilePos { row_tile: k as u32, position: j as u32 };
        if a.pos != want {
            return Err(bad(format!(
                "array {}.{} is searched as {}.{}",
                a.pos.row_tile, a.pos.position, want.row_tile, want.position
            )));
        }
    }
    Ok(out)
}

/// Rebuilds the quantized CAM and the hardware layout from the graph's nodes.
pub fn read(g: &Graph) -> Result<HwCam, CamError> {
    let (enc_id, enc) = unique::<CamEncode>(g, "input encoder (cam.encode)")?;
    let (leaves_id, CamLeaves(table)) = unique::<CamLeaves>(g, "accumulator (cam.leaves)")?;
    let s = &table.schedule;
    let nf = enc.encoders.len();
    let mut rows: Vec<Option<QRow>> = vec![None; table.num_rows()];
    let mut row_tiles = Vec::with_capacity(table.tiles.len());
    let operands = g.operands(leaves_id);
    let mut next = 0;
    for (k, lt) in table.tiles.iter().enumerate() {
        let ops = operands.get(next..next + lt.operands).ok_or_else(|| bad("too few operands"))?;
        next += lt.operands;
        let arrays = row_tile_arrays(g, k, ops, enc_id)?;
        if let Some(a) = arrays.iter().find(|a| a.rows != lt.rows.len()) {
            return Err(bad(format!("an array of row tile {k} has {} rows", a.rows)));
        }
        for (i, r) in lt.rows.iter().enumerate() {
            let mut cells = vec![DONT_CARE; nf];
            for a in &arrays {
                for (c, f) in a.features.iter().enumerate() {
                    let cell =
                        cells.get_mut(*f as usize).ok_or_else(|| bad("feature out of range"))?;
                    *cell = *a.cell(i, c);
                }
            }
            let slot = rows.get_mut(r.row as usize).ok_or_else(|| bad("row out of range"))?;
            *slot = Some(QRow {
                cells,
                leaf_q: r.leaf_q,
                output: r.output as usize,
                tree: r.tree as usize,
            });
        }
        row_tiles.push(RowTile {
            rows: lt.rows.iter().map(|r| r.row).collect(),
            column_tiles: arrays
                .iter()
                .map(|a| ColumnTile { features: a.features.clone(), care_cells: a.care_cells() })
                .collect(),
        });
    }
    let rows: Vec<QRow> = rows
        .into_iter()
        .enumerate()
        .map(|(r, row)| row.ok_or_else(|| bad(format!("row {r} is in no row tile"))))
        .collect::<Result<_, _>>()?;
    let n = rows.len();
    let quantized = QuantizedCam {
        num_features: nf,
        num_outputs: table.num_outputs(),
        num_trees: table.num_trees,
        levels: enc.levels,
        encoders: enc.encoders.to_vec(),
        rows,
        base_q: table.base_q.clone(),
        fixed: table.fixed,
        trees_per_output: table.trees_per_output.clone(),
        report: (*enc.report).clone(),
    };
    let g_ = s.geometry;
    let liveness = s.policy == Policy::Monosparse;
    let tiled = TiledCam {
        geometry: g_,
        policy: s.policy,
        liveness,
        options: if liveness { s.options } else { Default::default() },
        row_tiles,
        grid_tiles: n.div_ceil(g_.rows) * nf.div_ceil(g_.cols),
    };
    Ok(HwCam { quantized, tiled, schedule: s.clone() })
}

/// The realized design: the graph read back, with `physics` (the mapped cell's) and the two
/// layouts the hardware does not implement, which the report compares it with. Those are a
/// pure function of the rows the graph holds and the schedule's options: the same
/// [`tile`] the pass ran, so they equal what it would have built. `train` (the calibration
/// data the passes saw) is read only when the monosparse layout orders its arrays by rejection.
pub fn design(
    g: &Graph,
    physics: CamPhysics,
    train: Option<ArrayView2<f32>>,
) -> Result<CamDesign, CamError> {
    let HwCam { quantized: q, tiled: hw, schedule: s } = read(g)?;
    let needs_train =
        s.policy != Policy::Monosparse && s.options.column_order == ColumnOrder::Rejection;
    let encoded = if needs_train { encode_all(&q, train)? } else { Vec::new() };
    let other = |p: Policy| tile(&q, s.geometry, p, &s.options, &encoded);
    let mut hw = Some(hw);
    let mut pick = |p: Policy| match hw.take_if(|_| p == s.policy) {
        Some(t) => Ok(t),
        None => other(p),
    };
    let tiled = ByPolicy {
        raw: pick(Policy::Raw)?,
        reorder: pick(Policy::Reorder)?,
        monosparse: pick(Policy::Monosparse)?,
    };
    Ok(CamDesign {
        physics,
        order: s.policy,
        tile_options: s.options,
        geometry: s.geometry,
        tiled,
        auto: s.auto.clone(),
        quantized: q,
    })
}
