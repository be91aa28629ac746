//! The `cam` dialect: the forms a tree ensemble takes on its way to analog-CAM hardware.
//!
//! - `cam.rows` (`cam-pack`): every root-to-leaf path as a row of half-open float32 ranges
//!   with don't-care cells; computes the ensemble's margins.
//! - `cam.codes` (`cam-quantize`): rows over per-feature rank codes, the encoder tables and
//!   fixed-point leaves; margins are the fixed-point sums converted to float32. The loss
//!   against the float rows is measured here and carried in the quantizer's report.
//! - after `cam-tile` the graph is the hardware, one node per block a designer draws, wired in
//!   search order: `cam.encode` (the input encoder, [`encode`]) → `cam.array` per built array
//!   ([`array`]; under monosparse each takes the previous array of its row tile as `live_in`) →
//!   `cam.leaves` (the accumulator, [`leaves`]) → `cam.margin` (totals to float32). Each
//!   computes exactly what its RTL block computes, so the interpreter runs the hardware graph.

pub mod array;
pub mod encode;
pub mod leaves;

pub use array::{CamArray, TilePos};
pub use encode::CamEncode;
pub use leaves::{CamLeaves, CamMargin, LeafRow, LeafTable, LeafTile, Schedule};

use super::pack::PackedCam;
use super::quantize::QuantizedCam;
use crate::frontend::tree_ops::margins_type;
use crate::ir::dialect::{per_sample, DialectOp};
use crate::ir::OpError;
use crate::ir::{Tensor, TensorType};
use std::sync::Arc;

/// `cam.rows`.
#[derive(Clone, Debug, PartialEq)]
pub struct CamRows(pub Arc<PackedCam>);

/// `cam.codes`.
#[derive(Clone, Debug, PartialEq)]
pub struct CamCodes {
    pub quantized: Arc<QuantizedCam>,
}

impl DialectOp for CamRows {
    fn name(&self) -> &'static str {
        "cam.rows"
    }
    fn verify(&self) -> Result<(), OpError> {
        let c = &self.0;
        if let Some((i, r)) = c.rows.iter().enumerate().find(|(_, r)| r.output >= c.num_outputs) {
            return Err(OpError::Attribute(format!(
                "row {i} feeds output {} of {}",
                r.output, c.num_outputs
            )));
        }
        Ok(())
    }
    fn infer_type(&self, operands: &[&TensorType]) -> Result<TensorType, OpError> {
        margins_type(operands[0], self.0.num_features, self.0.num_outputs)
    }
    fn attributes(&self) -> Vec<(&'static str, String)> {
        let c = &self.0;
        vec![
            ("rows", c.rows.len().to_string()),
            ("features", c.num_features.to_string()),
            ("outputs", c.num_outputs.to_string()),
            ("sparsity", format!("{:.4}", c.sparsity())),
        ]
    }
    fn eval(&self, a: &[&Tensor], ty: &TensorType) -> Result<Tensor, OpError> {
        per_sample(a[0], ty, self.0.num_features, |x| {
            Ok(self.0.predict_margin(x).into_iter().map(|m| m as f32).collect())
        })
    }
    crate::dialect_op_boilerplate!();
}

impl DialectOp for CamCodes {
    fn name(&self) -> &'static str {
        "cam.codes"
    }
    fn verify(&self) -> Result<(), OpError> {
        let q = &self.quantized;
        if q.encoders.len() != q.num_features || q.base_q.len() != q.num_outputs {
            return Err(OpError::Attribute(format!(
                "{} encoder tables and {} base values for {} features and {} outputs",
                q.encoders.len(),
                q.base_q.len(),
                q.num_features,
                q.num_outputs
            )));
        }
        for (i, r) in q.rows.iter().enumerate() {
            if r.cells.len() != q.num_features || r.output >= q.num_outputs {
                return Err(OpError::Attribute(format!(
                    "row {i} has {} cells and feeds output {} ({} features, {} outputs)",
                    r.cells.len(),
                    r.output,
                    q.num_features,
                    q.num_outputs
                )));
            }
        }
        Ok(())
    }
    fn infer_type(&self, operands: &[&TensorType]) -> Result<TensorType, OpError> {
        margins_type(operands[0], self.quantized.num_features, self.quantized.num_outputs)
    }
    fn attributes(&self) -> Vec<(&'static str, String)> {
        let c = &self.quantized;
        vec![
            ("rows", c.rows.len().to_string()),
            ("levels", c.levels.to_string()),
            ("lossless", c.report.lossless.to_string()),
            ("max_codes", c.report.max_codes_needed.to_string()),
            ("leaf", format!("fixed<s{}.{}>", c.fixed.leaf_bits, c.fixed.frac_bits)),
            ("acc_bits", c.fixed.acc_bits.to_string()),
        ]
    }
    fn eval(&self, a: &[&Tensor], ty: &TensorType) -> Result<Tensor, OpError> {
        let c = &self.quantized;
        per_sample(a[0], ty, c.num_features, |x| {
            let totals = c.totals(&c.encode(x).map_err(|e| OpError::Value(e.to_string()))?);
            Ok(totals.into_iter().map(|t| c.fixed.to_margin(t)).collect())
        })
    }
    crate::dialect_op_boilerplate!();
}
