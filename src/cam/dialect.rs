//! The `cam` dialect: the forms a tree ensemble takes on its way to analog-CAM hardware.
//!
//! - `cam.rows` (`cam-pack`): every root-to-leaf path as a row of half-open float32 ranges
//!   with don't-care cells; computes the ensemble's margins.
//! - `cam.codes` (`cam-quantize`): rows over per-feature rank codes, the encoder tables and
//!   fixed-point leaves; margins are the fixed-point sums converted to float32. The float rows
//!   stay attached because the report states sparsity and loss against them.
//! - `cam.tiles` (`cam-tile`): the hardware layout (arrays, the search schedule of every
//!   policy) with the cell physics; computes exactly what the RTL computes.

use super::pack::PackedCam;
use super::quantize::QuantizedCam;
use super::CamDesign;
use crate::frontend::tree_ops::margins_type;
use crate::ir::dialect::{per_sample, DialectOp};
use crate::ir::{Tensor, TensorType};
use std::sync::Arc;

/// `cam.rows`.
#[derive(Clone, Debug, PartialEq)]
pub struct CamRows(pub Arc<PackedCam>);

/// `cam.codes`.
#[derive(Clone, Debug, PartialEq)]
pub struct CamCodes {
    pub packed: Arc<PackedCam>,
    pub quantized: Arc<QuantizedCam>,
}

/// `cam.tiles`.
#[derive(Clone, Debug, PartialEq)]
pub struct CamTiles(pub Arc<CamDesign>);

impl DialectOp for CamRows {
    fn name(&self) -> &'static str {
        "cam.rows"
    }
    fn verify(&self) -> Result<(), String> {
        let c = &self.0;
        if let Some((i, r)) = c.rows.iter().enumerate().find(|(_, r)| r.output >= c.num_outputs) {
            return Err(format!("row {i} feeds output {} of {}", r.output, c.num_outputs));
        }
        Ok(())
    }
    fn infer_type(&self, operands: &[&TensorType]) -> Result<TensorType, String> {
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
    fn eval(&self, a: &[&Tensor], ty: &TensorType) -> Result<Tensor, String> {
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
    fn verify(&self) -> Result<(), String> {
        let (p, q) = (&self.packed, &self.quantized);
        if p.rows.len() != q.rows.len()
            || p.num_features != q.num_features
            || p.num_outputs != q.num_outputs
        {
            return Err(format!(
                "{} code rows over {} features for {} packed rows over {} features",
                q.rows.len(),
                q.num_features,
                p.rows.len(),
                p.num_features
            ));
        }
        Ok(())
    }
    fn infer_type(&self, operands: &[&TensorType]) -> Result<TensorType, String> {
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
    fn eval(&self, a: &[&Tensor], ty: &TensorType) -> Result<Tensor, String> {
        let c = &self.quantized;
        per_sample(a[0], ty, c.num_features, |x| {
            let totals = c.totals(&c.encode(x).map_err(|e| e.to_string())?);
            Ok(totals.into_iter().map(|t| c.fixed.to_margin(t)).collect())
        })
    }
    crate::dialect_op_boilerplate!();
}

impl DialectOp for CamTiles {
    fn name(&self) -> &'static str {
        "cam.tiles"
    }
    fn verify(&self) -> Result<(), String> {
        let d = &self.0;
        let rows = d.quantized.rows.len();
        for (policy, t) in [
            ("raw", &d.tiled.raw),
            ("reorder", &d.tiled.reorder),
            ("monosparse", &d.tiled.monosparse),
        ] {
            let placed: usize = t.row_tiles.iter().map(|r| r.rows.len()).sum();
            if placed != rows {
                return Err(format!("{policy} tiling places {placed} rows of {rows}"));
            }
        }
        Ok(())
    }
    fn infer_type(&self, operands: &[&TensorType]) -> Result<TensorType, String> {
        let q = &self.0.quantized;
        margins_type(operands[0], q.num_features, q.num_outputs)
    }
    fn attributes(&self) -> Vec<(&'static str, String)> {
        let d = &self.0;
        let t = d.hardware();
        let arrays: usize = t.row_tiles.iter().map(|r| r.column_tiles.len()).sum();
        vec![
            ("tile", d.geometry.to_string()),
            ("order", d.options.order.name().to_string()),
            ("row_tiles", t.row_tiles.len().to_string()),
            ("arrays", arrays.to_string()),
        ]
    }
    fn eval(&self, a: &[&Tensor], ty: &TensorType) -> Result<Tensor, String> {
        let d = &self.0;
        let sim = super::sim::Simulator::new(&d.quantized, d.hardware());
        per_sample(a[0], ty, d.quantized.num_features, |x| {
            Ok(sim.run_f32(x).map_err(|e| e.to_string())?.margins)
        })
    }
    crate::dialect_op_boilerplate!();
}
