//! The `xbar` dialect: an MLP's forms from the ONNX graph to programmed crossbar arrays.
//!
//! - `xbar.dense_chain`: the chain of dense layers the ONNX graph holds, in float with trained
//!   QONNX quantizers applied (see [`Mlp::forward`]).
//! - `xbar.input_quant`: the host's quantizer of the graph input, `[n] f32 -> [n]` codes.
//! - `xbar.dense` (`quantize`): a quantized layer's exact product `y_j = sum_i x_i w[j,i]`
//!   (the bias is a following core `int_add` of a constant).
//! - `xbar.tiles` (`crossbar-tile`): the same product as crossbar arrays compute it with ideally
//!   programmed cells: bit-serial inputs, bit-sliced weights, ADC conversion of every column
//!   sum (lossy when the ADC is), shift-and-add over slices, planes and row tiles.
//! - `xbar.arrays` (`crossbar-program`): as `xbar.tiles`, with the conductance codes the device
//!   was programmed with (variation, stuck cells, finite on/off ratio). Computes exactly what
//!   the RTL computes; read noise is the simulator's, not the IR's.
//! - `xbar.dequant`: the host's conversion of the last accumulators to the ONNX output space.

use super::mlp::Mlp;
use super::ops::{self as xbar, OutputDequant, XbarLayerHw};
use super::quant::{InputQuant, QLayer};
use crate::ir::dialect::DialectOp;
use crate::ir::dialect::{f32_tensor, int_tensor, operand_f32, operand_ints, per_sample};
use crate::ir::{Tensor, TensorType};
use std::sync::Arc;

/// `xbar.dense_chain`.
#[derive(Clone, Debug, PartialEq)]
pub struct DenseChain(pub Arc<Mlp>);

/// `xbar.input_quant`.
#[derive(Clone, Debug, PartialEq)]
pub struct XbarInputQuant(pub Arc<InputQuant>);

/// `xbar.dense`.
#[derive(Clone, Debug, PartialEq)]
pub struct XbarDense(pub Arc<QLayer>);

/// `xbar.tiles` (`programmed = false`) or `xbar.arrays` (`programmed = true`).
#[derive(Clone, Debug, PartialEq)]
pub struct XbarTiles {
    pub hw: Arc<XbarLayerHw>,
    pub programmed: bool,
}

/// `xbar.dequant`.
#[derive(Clone, Debug, PartialEq)]
pub struct XbarDequant(pub Arc<OutputDequant>);

impl DialectOp for DenseChain {
    fn name(&self) -> &'static str {
        "xbar.dense_chain"
    }
    fn verify(&self) -> Result<(), String> {
        xbar::check_chain(&self.0)
    }
    fn infer_type(&self, operands: &[&TensorType]) -> Result<TensorType, String> {
        xbar::dense_chain_type(&self.0, operands[0])
    }
    fn attributes(&self) -> Vec<(&'static str, String)> {
        xbar::chain_attrs(&self.0)
    }
    fn eval(&self, a: &[&Tensor], ty: &TensorType) -> Result<Tensor, String> {
        let n = self.0.layers.first().map_or(0, |l| l.n_in);
        per_sample(a[0], ty, n, |x| Ok(self.0.forward(x)))
    }
    crate::dialect_op_boilerplate!();
}

impl DialectOp for XbarInputQuant {
    fn name(&self) -> &'static str {
        "xbar.input_quant"
    }
    fn verify(&self) -> Result<(), String> {
        let q = &self.0;
        if q.lo > q.hi {
            return Err(format!("empty code range [{}, {}]", q.lo, q.hi));
        }
        match q.scale.iter().position(|s| !(s.is_finite() && *s > 0.0)) {
            Some(i) => Err(format!("scale {} of input {i} is not positive and finite", q.scale[i])),
            None => Ok(()),
        }
    }
    fn infer_type(&self, operands: &[&TensorType]) -> Result<TensorType, String> {
        xbar::input_quant_type(&self.0, operands[0])
    }
    fn attributes(&self) -> Vec<(&'static str, String)> {
        xbar::input_quant_attrs(&self.0)
    }
    fn eval(&self, a: &[&Tensor], ty: &TensorType) -> Result<Tensor, String> {
        let codes = self.0.quantize(operand_f32(a[0])?);
        int_tensor(ty, codes.into_iter().map(i128::from).collect())
    }
    crate::dialect_op_boilerplate!();
}

impl DialectOp for XbarDense {
    fn name(&self) -> &'static str {
        "xbar.dense"
    }
    fn verify(&self) -> Result<(), String> {
        check_layer(&self.0)
    }
    fn infer_type(&self, operands: &[&TensorType]) -> Result<TensorType, String> {
        xbar::dense_type(&self.0, operands[0])
    }
    fn attributes(&self) -> Vec<(&'static str, String)> {
        xbar::dense_attrs(&self.0)
    }
    fn eval(&self, a: &[&Tensor], ty: &TensorType) -> Result<Tensor, String> {
        int_tensor(ty, self.0.matvec(&operand_ints(a[0])?).into_iter().map(i128::from).collect())
    }
    crate::dialect_op_boilerplate!();
}

impl DialectOp for XbarTiles {
    fn name(&self) -> &'static str {
        if self.programmed {
            "xbar.arrays"
        } else {
            "xbar.tiles"
        }
    }
    fn verify(&self) -> Result<(), String> {
        check_layer(&self.hw.layer)?;
        self.hw.check()
    }
    fn infer_type(&self, operands: &[&TensorType]) -> Result<TensorType, String> {
        xbar::arrays_type(&self.hw, operands[0])
    }
    fn attributes(&self) -> Vec<(&'static str, String)> {
        xbar::arrays_attrs(&self.hw, self.programmed)
    }
    fn eval(&self, a: &[&Tensor], ty: &TensorType) -> Result<Tensor, String> {
        int_tensor(ty, self.hw.matvec(&operand_ints(a[0])?).into_iter().map(i128::from).collect())
    }
    crate::dialect_op_boilerplate!();
}

impl DialectOp for XbarDequant {
    fn name(&self) -> &'static str {
        "xbar.dequant"
    }
    fn verify(&self) -> Result<(), String> {
        match self.0.scale.iter().position(|s| !s.is_finite()) {
            Some(i) => Err(format!("scale {} of output {i} is not finite", self.0.scale[i])),
            None => Ok(()),
        }
    }
    fn infer_type(&self, operands: &[&TensorType]) -> Result<TensorType, String> {
        xbar::dequant_type(&self.0, operands[0])
    }
    fn attributes(&self) -> Vec<(&'static str, String)> {
        xbar::dequant_attrs(&self.0)
    }
    fn eval(&self, a: &[&Tensor], ty: &TensorType) -> Result<Tensor, String> {
        Ok(f32_tensor(ty, self.0.apply(&operand_ints(a[0])?)))
    }
    crate::dialect_op_boilerplate!();
}

/// A quantized layer's sizes agree and its weight codes lie in their declared range.
fn check_layer(l: &QLayer) -> Result<(), String> {
    if l.w.len() != l.n_in * l.n_out || l.acc_scale.len() != l.n_out {
        return Err(format!(
            "layer `{}`: {} weights, {} scales for {}x{}",
            l.name,
            l.w.len(),
            l.acc_scale.len(),
            l.n_out,
            l.n_in
        ));
    }
    if let Some(w) = l.w.iter().find(|w| **w < l.w_lo || **w > l.w_hi) {
        return Err(format!(
            "layer `{}`: weight code {w} outside [{}, {}]",
            l.name, l.w_lo, l.w_hi
        ));
    }
    Ok(())
}
