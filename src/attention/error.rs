//! Errors of the attention family. Every variant says where the problem is: the model file
//! and node, the pass and option, the layer, or the tool that failed.

use crate::frontend::onnx::{OnnxError, UnsupportedOp};
use thiserror::Error;

/// Why a transformer could not be imported, quantized, simulated or lowered.
#[derive(Debug, Error)]
pub enum AttnError {
    #[error(transparent)]
    Onnx(#[from] OnnxError),
    /// A node the importer understands in general but not in this configuration.
    #[error("{file}: node `{node}`: {message}")]
    Import { file: String, node: String, message: String },
    /// Nodes no pattern or generic rule covers, all listed.
    #[error("{file}: {} node(s) cannot be imported:\n{}", ops.len(), list(ops))]
    Unsupported { file: String, ops: Vec<UnsupportedOp> },
    #[error("the IR graph is not a transformer tessera can map: {0}")]
    Structure(String),
    #[error(transparent)]
    Pass(#[from] crate::passes::PassError),
    #[error("calibration: {0}")]
    Calibration(String),
    #[error("quantization of `{layer}`: {message}")]
    Quant { layer: String, message: String },
    #[error("input: {0}")]
    Input(String),
    #[error("cost model: {0}")]
    Cost(String),
    #[error("Verilog lowering: {0}")]
    Verilog(String),
}

fn list(ops: &[UnsupportedOp]) -> String {
    ops.iter().map(|o| format!("  - {o}")).collect::<Vec<_>>().join("\n")
}
