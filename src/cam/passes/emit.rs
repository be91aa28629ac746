//! The hardware subgraph `cam-tile` writes for one layout: the input encoder, one array per
//! scheduled array in search order, the accumulator and the float conversion.

use crate::cam::dialect::{
    CamArray, CamEncode, CamLeaves, CamMargin, LeafRow, LeafTable, LeafTile, Schedule, TilePos,
};
use crate::cam::quantize::{QCell, QuantizedCam};
use crate::cam::tile::TiledCam;
use crate::ir::graph::GraphError;
use crate::ir::{Graph, NodeId, Op};
use std::sync::Arc;

/// Adds the hardware of layout `t` of `q` to `g`, reading the float input `x`; returns the
/// node of the float32 margins. Under liveness the arrays of a row tile form a chain (each
/// takes the previous one's match bits as `live_in`) and the accumulator reads its last;
/// without it the accumulator reads every array of the row tile.
pub fn emit(
    g: &mut Graph,
    x: NodeId,
    q: &QuantizedCam,
    t: &TiledCam,
    schedule: Schedule,
) -> Result<NodeId, GraphError> {
    let encoder = CamEncode {
        levels: q.levels,
        encoders: q.encoders.clone().into(),
        report: Arc::new(q.report.clone()),
    };
    let codes = g.add(Op::dialect_op(encoder), &[x])?;
    let mut matches = Vec::new();
    let mut tiles = Vec::with_capacity(t.row_tiles.len());
    for (k, rt) in t.row_tiles.iter().enumerate() {
        let mut prev: Option<NodeId> = None;
        let mut tile_ops = Vec::new();
        for (j, ct) in rt.column_tiles.iter().enumerate() {
            let cells: Vec<QCell> = rt
                .rows
                .iter()
                .flat_map(|r| ct.features.iter().map(|f| q.rows[*r as usize].cells[*f as usize]))
                .collect();
            let live_in = t.liveness && prev.is_some();
            let array = CamArray {
                pos: TilePos { row_tile: k as u32, position: j as u32 },
                geometry: t.geometry,
                rows: rt.rows.len(),
                features: ct.features.clone(),
                cells: cells.into(),
                live_in,
            };
            let operands: Vec<NodeId> =
                std::iter::once(codes).chain(prev.filter(|_| live_in)).collect();
            let id = g.add(Op::dialect_op(array), &operands)?;
            if !t.liveness {
                tile_ops.push(id);
            }
            prev = Some(id);
        }
        if t.liveness {
            tile_ops.extend(prev);
        }
        tiles.push(LeafTile {
            rows: rt
                .rows
                .iter()
                .map(|r| {
                    let row = &q.rows[*r as usize];
                    LeafRow {
                        row: *r,
                        leaf_q: row.leaf_q,
                        output: row.output as u32,
                        tree: row.tree as u32,
                    }
                })
                .collect(),
            operands: tile_ops.len(),
        });
        matches.extend(tile_ops);
    }
    let table = LeafTable {
        tiles,
        base_q: q.base_q.clone(),
        fixed: q.fixed,
        num_trees: q.num_trees,
        trees_per_output: q.trees_per_output.clone(),
        schedule,
    };
    let totals = g.add(Op::dialect_op(CamLeaves(Arc::new(table))), &matches)?;
    g.add(Op::dialect_op(CamMargin(q.fixed)), &[totals])
}
