//! The typed ONNX model the frontend produces: validated operators with their attributes
//! resolved to defaults, initializers decoded, nodes in topological order and every value's
//! static shape known. Later stages (the float reference, the crossbar lowering, the IR
//! conversion) read only this, never the protobuf.

use super::tensor::Tensor;
use std::collections::BTreeMap;

/// QONNX rounding modes: the IR's `quant` op owns them (its reference semantics round).
pub use crate::ir::nn::Rounding;

/// The operators tessera understands, with attributes resolved (ONNX defaults filled in).
#[derive(Clone, Debug, PartialEq)]
pub enum Op {
    /// `Y = alpha * A' * B' + beta * C` with `A' = transA ? A^T : A`.
    Gemm {
        alpha: f32,
        beta: f32,
        trans_a: bool,
        trans_b: bool,
    },
    MatMul,
    /// Elementwise addition with numpy broadcasting.
    Add,
    Relu,
    Sigmoid,
    Tanh,
    /// Softmax over one axis (opset >= 13). With `legacy` (opset < 13) the input is coerced to
    /// 2-D at `axis` and the softmax runs over all trailing dimensions together, as those
    /// opsets specify.
    Softmax {
        axis: i64,
        legacy: bool,
    },
    Flatten {
        axis: i64,
    },
    Reshape {
        allowzero: bool,
    },
    Identity,
    /// A constant's value lives in [`OnnxModel::constants`] under the node's output name.
    Constant,
    /// QONNX `Quant` (domain `qonnx.custom_op.general`): inputs x, scale, zero_point, bit_width.
    Quant {
        signed: bool,
        narrow: bool,
        rounding: Rounding,
    },
    /// Transformer operators (Transpose, Mul, LayerNormalization, ...): see [`super::ops_ext`].
    Ext(super::ops_ext::ExtOp),
}

impl Op {
    /// The ONNX op type, for messages and dumps.
    pub fn op_type(&self) -> &'static str {
        match self {
            Op::Gemm { .. } => "Gemm",
            Op::MatMul => "MatMul",
            Op::Add => "Add",
            Op::Relu => "Relu",
            Op::Sigmoid => "Sigmoid",
            Op::Tanh => "Tanh",
            Op::Softmax { .. } => "Softmax",
            Op::Flatten { .. } => "Flatten",
            Op::Reshape { .. } => "Reshape",
            Op::Identity => "Identity",
            Op::Constant => "Constant",
            Op::Quant { .. } => "Quant",
            Op::Ext(e) => e.op_type(),
        }
    }
}

/// One node after validation.
#[derive(Clone, Debug, PartialEq)]
pub struct Node {
    /// The node's name, or `#index` when the file gives none.
    pub name: String,
    pub op: Op,
    /// Input value names; an empty string is an omitted optional input.
    pub inputs: Vec<String>,
    pub outputs: Vec<String>,
}

/// A named graph input or output with its static shape.
#[derive(Clone, Debug, PartialEq)]
pub struct ValueDecl {
    pub name: String,
    pub shape: Vec<usize>,
}

/// A loaded, validated and shape-inferred ONNX model.
#[derive(Clone, Debug, PartialEq)]
pub struct OnnxModel {
    /// The file name (no directories), for messages and reports.
    pub file: String,
    /// The default-domain opset version.
    pub opset: i64,
    /// Graph inputs that are not initializers. A symbolic leading dimension (the batch) is fixed
    /// to 1: tessera compiles one sample at a time.
    pub inputs: Vec<ValueDecl>,
    pub outputs: Vec<ValueDecl>,
    /// Initializers and `Constant` outputs by value name.
    pub constants: BTreeMap<String, Tensor>,
    /// Nodes in a topological order.
    pub nodes: Vec<Node>,
    /// The static shape of every value (inputs, constants, node outputs).
    pub shapes: BTreeMap<String, Vec<usize>>,
}
