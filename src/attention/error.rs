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
    /// The machine program read back from the graph, or one of its operations, is malformed.
    #[error("{0}")]
    Program(String),
    /// A machine operation cannot run on its operands (the simulator's refusal).
    #[error("{0}")]
    Sim(String),
    /// A pattern the recognizer matched only in part (what breaks it, named).
    #[error("{0}")]
    Pattern(String),
    /// The float reference of the lossy measurement cannot be evaluated.
    #[error("{0}")]
    Lossy(String),
}

/// A constant or width the Verilog builders cannot express.
impl From<crate::backend::verilog::bits::BitsError> for AttnError {
    fn from(e: crate::backend::verilog::bits::BitsError) -> AttnError {
        AttnError::Verilog(e.to_string())
    }
}

fn list(ops: &[UnsupportedOp]) -> String {
    ops.iter().map(|o| format!("  - {o}")).collect::<Vec<_>>().join("\n")
}

/// A cost figure of an instance that is missing or of the wrong dimension.
impl From<crate::dsl::accel::ParamError> for AttnError {
    fn from(e: crate::dsl::accel::ParamError) -> AttnError {
        AttnError::Cost(e.to_string())
    }
}
