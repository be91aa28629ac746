//! `cam.leaves` and `cam.margin`: the end of a tiled CAM.
//!
//! `cam.leaves` is the sequencer's accumulator: per row tile, the rows whose match bits are set
//! (the AND of the row tile's operands; every row of a row tile without arrays) add their
//! fixed-point leaf to their output's total, which starts at `base_q`. It also carries the
//! schedule the arrays were laid out by (policy, geometry, layout options, the `tile = auto`
//! scores): the sequencer follows it, and the report rebuilds the other policies' layouts from
//! it. `cam.margin` turns the integer totals into float32 margins, `total · 2^-frac`.

use super::array::expect_match_bits;
use crate::cam::design::AutoCandidate;
use crate::cam::quantize::FixedPoint;
use crate::cam::tile::{Geometry, Policy, TileOptions};
use crate::ir::dialect::{expect_int, f32_tensor, int_tensor, operand_ints, DialectOp};
use crate::ir::OpError;
use crate::ir::{NumFormat, Tensor, TensorType};
use std::sync::Arc;

/// One CAM row as the accumulator sees it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LeafRow {
    /// The CAM row (root-to-leaf path) index, as `cam-pack` numbered it.
    pub row: u32,
    /// Leaf as a signed `leaf_bits` integer.
    pub leaf_q: i64,
    pub output: u32,
    pub tree: u32,
}

/// One row tile: its rows on physical rows `0..rows.len()`.
#[derive(Clone, Debug, PartialEq)]
pub struct LeafTile {
    pub rows: Vec<LeafRow>,
    /// How many operands (in order after the previous row tiles') carry this row tile's match
    /// bits: the last array of a liveness chain, every array without liveness, none when every
    /// cell of the rows is don't-care (they match without a search).
    pub operands: usize,
}

/// How the arrays were laid out and are searched.
#[derive(Clone, Debug, PartialEq)]
pub struct Schedule {
    pub geometry: Geometry,
    /// The policy the arrays implement.
    pub policy: Policy,
    /// The layout options beyond the paper (they shape the monosparse layout, whichever policy
    /// the hardware implements, so the report can rebuild it).
    pub options: TileOptions,
    /// The geometries `tile = auto` scored, when it chose this one.
    pub auto: Option<Vec<AutoCandidate>>,
}

/// The accumulator's tables.
#[derive(Clone, Debug, PartialEq)]
pub struct LeafTable {
    pub tiles: Vec<LeafTile>,
    /// Base margin per output, in the leaves' fixed point.
    pub base_q: Vec<i64>,
    pub fixed: FixedPoint,
    pub num_trees: usize,
    pub trees_per_output: Vec<usize>,
    pub schedule: Schedule,
}

impl LeafTable {
    pub fn num_outputs(&self) -> usize {
        self.base_q.len()
    }
    pub fn num_rows(&self) -> usize {
        self.tiles.iter().map(|t| t.rows.len()).sum()
    }
    /// The result format: signed `acc_bits`, which no partial sum overflows (see
    /// [`crate::cam::quantize::choose_fixed_point`]).
    pub fn total_format(&self) -> NumFormat {
        NumFormat::int(self.fixed.acc_bits)
    }
}

/// `cam.leaves`.
#[derive(Clone, Debug, PartialEq)]
pub struct CamLeaves(pub Arc<LeafTable>);

impl DialectOp for CamLeaves {
    fn name(&self) -> &'static str {
        "cam.leaves"
    }
    fn arity(&self) -> (usize, usize) {
        let n = self.0.tiles.iter().map(|t| t.operands).sum();
        (n, n)
    }
    fn verify(&self) -> Result<(), OpError> {
        let t = &*self.0;
        let outputs = t.num_outputs();
        if outputs == 0 || t.trees_per_output.len() != outputs {
            return Err(OpError::Attribute(format!(
                "{outputs} base values for {} outputs",
                t.trees_per_output.len()
            )));
        }
        let (leaf_bits, acc_bits) = (t.fixed.leaf_bits, t.fixed.acc_bits);
        if !(2..=32).contains(&leaf_bits) || !(1..=64).contains(&acc_bits) {
            return Err(OpError::Attribute(format!(
                "{leaf_bits}-bit leaves into a {acc_bits}-bit accumulator"
            )));
        }
        let acc = t.total_format();
        if let Some(k) = t.base_q.iter().position(|b| !acc.holds(i128::from(*b))) {
            return Err(OpError::Attribute(format!("base of output {k} does not fit {acc}")));
        }
        let leaf_max = (1i64 << (leaf_bits - 1)) - 1;
        let liveness = t.schedule.policy == Policy::Monosparse;
        let mut seen = vec![false; t.num_rows()];
        for (k, tile) in t.tiles.iter().enumerate() {
            if tile.rows.is_empty() || tile.rows.len() > t.schedule.geometry.rows {
                return Err(OpError::Attribute(format!(
                    "row tile {k} has {} rows on arrays of {}",
                    tile.rows.len(),
                    t.schedule.geometry
                )));
            }
            if liveness && tile.operands > 1 {
                return Err(OpError::Attribute(format!(
                    "row tile {k}: a liveness chain ends in one array"
                )));
            }
            for r in &tile.rows {
                let slot = seen.get_mut(r.row as usize).filter(|s| !**s);
                match slot {
                    Some(s) => *s = true,
                    None => {
                        return Err(OpError::Attribute(format!(
                            "row {} is placed twice or out of range",
                            r.row
                        )))
                    }
                }
                if r.output as usize >= outputs || r.tree as usize >= t.num_trees {
                    return Err(OpError::Attribute(format!(
                        "row {} feeds output {} from tree {} ({outputs} outputs, {} trees)",
                        r.row, r.output, r.tree, t.num_trees
                    )));
                }
                if r.leaf_q.abs() > leaf_max {
                    return Err(OpError::Attribute(format!(
                        "leaf of row {} exceeds {leaf_bits} bits",
                        r.row
                    )));
                }
            }
        }
        Ok(())
    }
    fn infer_type(&self, operands: &[&TensorType]) -> Result<TensorType, OpError> {
        let mut next = operands.iter();
        for (k, tile) in self.0.tiles.iter().enumerate() {
            for _ in 0..tile.operands {
                let t = next.next().ok_or_else(|| {
                    OpError::Operand("fewer operands than the row tiles take".into())
                })?;
                expect_match_bits(t, tile.rows.len(), &format!("row tile {k}'s match"))?;
            }
        }
        Ok(TensorType::new(vec![self.0.num_outputs()], self.0.total_format()))
    }
    fn attributes(&self) -> Vec<(&'static str, String)> {
        let t = &*self.0;
        let s = &t.schedule;
        let mut a = vec![
            ("policy", s.policy.name().to_string()),
            ("array", s.geometry.to_string()),
            ("row_tiles", t.tiles.len().to_string()),
            ("rows", t.num_rows().to_string()),
            ("trees", t.num_trees.to_string()),
            ("leaf", format!("i{}", t.fixed.leaf_bits)),
            ("base", format!("{:?}", t.base_q)),
        ];
        if s.options.cluster {
            a.push(("cluster", "true".into()));
        }
        if let Some(c) = &s.auto {
            a.push(("auto", format!("<{} candidates>", c.len())));
        }
        a
    }
    fn eval(&self, a: &[&Tensor], ty: &TensorType) -> Result<Tensor, OpError> {
        let t = &*self.0;
        let mut totals: Vec<i128> = t.base_q.iter().map(|b| i128::from(*b)).collect();
        let mut next = a.iter();
        for tile in &t.tiles {
            let mut live = vec![true; tile.rows.len()];
            for _ in 0..tile.operands {
                let bits = operand_ints(
                    next.next().ok_or_else(|| OpError::Operand("missing operand".into()))?,
                )?;
                for (l, b) in live.iter_mut().zip(bits) {
                    *l &= b != 0;
                }
            }
            for (r, l) in tile.rows.iter().zip(live) {
                if l {
                    totals[r.output as usize] += i128::from(r.leaf_q);
                }
            }
        }
        int_tensor(ty, totals)
    }
    crate::dialect_op_boilerplate!();
}

/// `cam.margin`: `total · 2^-frac` in float32 (round to nearest), the host-side view of the
/// accumulator.
#[derive(Clone, Debug, PartialEq)]
pub struct CamMargin(pub FixedPoint);

impl DialectOp for CamMargin {
    fn name(&self) -> &'static str {
        "cam.margin"
    }
    fn verify(&self) -> Result<(), OpError> {
        if !(-1000..=1000).contains(&self.0.frac_bits) {
            return Err(OpError::Attribute(format!(
                "scale 2^{} is out of range",
                -self.0.frac_bits
            )));
        }
        Ok(())
    }
    fn infer_type(&self, operands: &[&TensorType]) -> Result<TensorType, OpError> {
        let t = expect_int(operands[0], "totals")?;
        Ok(TensorType::f32(t.shape.clone()))
    }
    fn attributes(&self) -> Vec<(&'static str, String)> {
        vec![("scale", format!("2^{}", -self.0.frac_bits))]
    }
    fn eval(&self, a: &[&Tensor], ty: &TensorType) -> Result<Tensor, OpError> {
        let totals = operand_ints(a[0])?;
        Ok(f32_tensor(ty, totals.into_iter().map(|t| self.0.to_margin(t)).collect()))
    }
    crate::dialect_op_boilerplate!();
}
