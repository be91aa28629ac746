//! The `xbar` dialect: an MLP's forms from the ONNX graph to programmed crossbar arrays.
//!
//! The model-level graph is the ONNX importer's core ops; `quantize` turns its dense-layer chain
//! into the ops below.
//! - `xbar.input_quant`: the host's quantizer of the graph input, `[n] f32 -> [n]` codes.
//! - `xbar.dense` (`quantize`): a quantized layer's exact product `y_j = sum_i x_i w[j,i]`
//!   (the bias is a following core `int_add` of a constant).
//! - `xbar.array` (`crossbar-tile`, one per placed array): the partial sums of one array's
//!   columns for every input bit plane, `[a_bits, cols]`: bit-serial inputs on its rows,
//!   bit-sliced weights in its cells (levels when placed, the device's conductance codes after
//!   `crossbar-program`: variation, stuck cells, finite on/off ratio).
//! - `xbar.readout` (one per layer, fed by the layer's input codes and its arrays): ADC
//!   conversion of every partial sum (lossy when the ADC is), shift-and-add over slices,
//!   polarities, planes and row tiles, the offset encoding's correction: the same product as
//!   the RTL computes; read noise is the simulator's, not the IR's.
//!
//! A layer's arrays and read-out share one [`XbarLayerHw`] (`Arc`): the cells are stored once,
//! each `xbar.array` names its part of them.
//! - `xbar.dequant`: the host's conversion of the last accumulators to the ONNX output space.

use super::ops::{self as xbar, OutputDequant, XbarLayerHw};
use super::quant::{InputQuant, QLayer};
use crate::ir::dialect::DialectOp;
use crate::ir::dialect::{f32_tensor, int_tensor, operand_f32, operand_ints};
use crate::ir::OpError;
use crate::ir::{Tensor, TensorType};
use std::sync::Arc;

/// `xbar.input_quant`.
#[derive(Clone, Debug, PartialEq)]
pub struct XbarInputQuant(pub Arc<InputQuant>);

/// `xbar.dense`.
#[derive(Clone, Debug, PartialEq)]
pub struct XbarDense(pub Arc<QLayer>);

/// `xbar.array`: array `index` of the layer's placement (`hw.map.arrays[index]`).
#[derive(Clone, Debug, PartialEq)]
pub struct XbarArray {
    pub hw: Arc<XbarLayerHw>,
    pub index: usize,
    /// Whether the cells hold the device's programmed codes (after `crossbar-program`).
    pub programmed: bool,
}

/// `xbar.readout`: the layer's ADCs and shift-and-add over its arrays.
#[derive(Clone, Debug, PartialEq)]
pub struct XbarReadout {
    pub hw: Arc<XbarLayerHw>,
    pub programmed: bool,
}

/// `xbar.dequant`.
#[derive(Clone, Debug, PartialEq)]
pub struct XbarDequant(pub Arc<OutputDequant>);

impl DialectOp for XbarInputQuant {
    fn name(&self) -> &'static str {
        "xbar.input_quant"
    }
    fn verify(&self) -> Result<(), OpError> {
        let q = &self.0;
        if q.lo > q.hi {
            return Err(OpError::Attribute(format!("empty code range [{}, {}]", q.lo, q.hi)));
        }
        match q.scale.iter().position(|s| !(s.is_finite() && *s > 0.0)) {
            Some(i) => Err(OpError::Attribute(format!(
                "scale {} of input {i} is not positive and finite",
                q.scale[i]
            ))),
            None => Ok(()),
        }
    }
    fn infer_type(&self, operands: &[&TensorType]) -> Result<TensorType, OpError> {
        xbar::input_quant_type(&self.0, operands[0])
    }
    fn attributes(&self) -> Vec<(&'static str, String)> {
        xbar::input_quant_attrs(&self.0)
    }
    fn eval(&self, a: &[&Tensor], ty: &TensorType) -> Result<Tensor, OpError> {
        let codes = self.0.quantize(operand_f32(a[0])?);
        int_tensor(ty, codes.into_iter().map(i128::from).collect())
    }
    crate::dialect_op_boilerplate!();
}

impl DialectOp for XbarDense {
    fn name(&self) -> &'static str {
        "xbar.dense"
    }
    fn verify(&self) -> Result<(), OpError> {
        check_layer(&self.0)
    }
    fn infer_type(&self, operands: &[&TensorType]) -> Result<TensorType, OpError> {
        xbar::dense_type(&self.0, operands[0])
    }
    fn attributes(&self) -> Vec<(&'static str, String)> {
        xbar::dense_attrs(&self.0)
    }
    fn eval(&self, a: &[&Tensor], ty: &TensorType) -> Result<Tensor, OpError> {
        int_tensor(ty, self.0.matvec(&operand_ints(a[0])?).into_iter().map(i128::from).collect())
    }
    crate::dialect_op_boilerplate!();
}

impl DialectOp for XbarArray {
    fn name(&self) -> &'static str {
        "xbar.array"
    }
    /// The shared layer's weight codes are checked once, by the layer's `xbar.readout` (every
    /// array feeds it): checking them per array made verification quadratic in the layer size.
    fn verify(&self) -> Result<(), OpError> {
        self.hw.check()?;
        if self.index >= self.hw.map.arrays.len() {
            return Err(OpError::Attribute(format!(
                "array {} of a layer placed on {}",
                self.index,
                self.hw.map.arrays.len()
            )));
        }
        Ok(())
    }
    fn infer_type(&self, operands: &[&TensorType]) -> Result<TensorType, OpError> {
        xbar::array_type(&self.hw, self.index, operands[0])
    }
    fn attributes(&self) -> Vec<(&'static str, String)> {
        xbar::array_attrs(&self.hw, self.index, self.programmed)
    }
    fn eval(&self, a: &[&Tensor], ty: &TensorType) -> Result<Tensor, OpError> {
        let sums = self.hw.array_sums(self.index, &operand_ints(a[0])?);
        int_tensor(ty, sums.into_iter().map(i128::from).collect())
    }
    crate::dialect_op_boilerplate!();
}

impl DialectOp for XbarReadout {
    fn name(&self) -> &'static str {
        "xbar.readout"
    }
    fn arity(&self) -> (usize, usize) {
        let n = 1 + self.hw.map.arrays.len();
        (n, n)
    }
    fn verify(&self) -> Result<(), OpError> {
        check_layer(&self.hw.layer)?;
        self.hw.check()
    }
    fn infer_type(&self, operands: &[&TensorType]) -> Result<TensorType, OpError> {
        xbar::readout_type(&self.hw, operands)
    }
    fn attributes(&self) -> Vec<(&'static str, String)> {
        xbar::readout_attrs(&self.hw, self.programmed)
    }
    fn eval(&self, a: &[&Tensor], ty: &TensorType) -> Result<Tensor, OpError> {
        let x = operand_ints(a[0])?;
        let sums = a[1..].iter().map(|t| operand_ints(t)).collect::<Result<Vec<_>, _>>()?;
        int_tensor(ty, self.hw.read_out(&x, &sums).into_iter().map(i128::from).collect())
    }
    crate::dialect_op_boilerplate!();
}

impl DialectOp for XbarDequant {
    fn name(&self) -> &'static str {
        "xbar.dequant"
    }
    fn verify(&self) -> Result<(), OpError> {
        match self.0.scale.iter().position(|s| !s.is_finite()) {
            Some(i) => Err(OpError::Attribute(format!(
                "scale {} of output {i} is not finite",
                self.0.scale[i]
            ))),
            None => Ok(()),
        }
    }
    fn infer_type(&self, operands: &[&TensorType]) -> Result<TensorType, OpError> {
        xbar::dequant_type(&self.0, operands[0])
    }
    fn attributes(&self) -> Vec<(&'static str, String)> {
        xbar::dequant_attrs(&self.0)
    }
    fn eval(&self, a: &[&Tensor], ty: &TensorType) -> Result<Tensor, OpError> {
        Ok(f32_tensor(ty, self.0.apply(&operand_ints(a[0])?)))
    }
    crate::dialect_op_boilerplate!();
}

/// A quantized layer's sizes agree and its weight codes lie in their declared range.
fn check_layer(l: &QLayer) -> Result<(), OpError> {
    if l.w.len() != l.n_in * l.n_out || l.acc_scale.len() != l.n_out {
        return Err(OpError::Attribute(format!(
            "layer `{}`: {} weights, {} scales for {}x{}",
            l.name,
            l.w.len(),
            l.acc_scale.len(),
            l.n_out,
            l.n_in
        )));
    }
    if let Some(w) = l.w.iter().find(|w| *w < l.w_lo || *w > l.w_hi) {
        return Err(OpError::Attribute(format!(
            "layer `{}`: weight code {w} outside [{}, {}]",
            l.name, l.w_lo, l.w_hi
        )));
    }
    Ok(())
}
