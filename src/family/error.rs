//! Errors of the compile/simulate/verify flow, each naming the file or field at fault and each
//! with a stable code (`error[E0123]: ...`, explained by `tessera explain E0123`).

use crate::backend::verilog::harness::HarnessError;
use crate::diagnostics::Code;
use ndarray::ArrayView2;
use thiserror::Error;

/// Why a command could not complete. Messages are complete sentences for the terminal.
#[derive(Debug, Error)]
pub enum FlowError {
    /// E0136.
    #[error("the {family} family is not built yet (selected by `{pass}`); see the open issues")]
    NotBuilt { family: &'static str, pass: String },
    /// An accelerator description the flow cannot compile (E0135).
    #[error("{0}")]
    Description(String),
    /// A model or data file refused by its reader (E0120-E0128, E0101, E0102).
    #[error("{0}")]
    Frontend(#[from] crate::frontend::error::FrontendError),
    /// An ONNX model refused by the ONNX frontend (E0120-E0123, E0101, E0102).
    #[error(transparent)]
    Onnx(crate::frontend::onnx::OnnxError),
    /// E0130.
    #[error("pass pipeline: {0}")]
    Pass(#[from] crate::passes::PassError),
    /// A model the mapping cannot take (E0131).
    #[error("{0}")]
    Model(String),
    /// A data file that does not fit; `code` says how (E0126 shape, E0127 empty, E0129
    /// non-finite value, ...).
    #[error("{path}: {message}")]
    Data { path: String, message: String, code: Code },
    /// Input values a family refuses, before the caller names their file (see
    /// [`FlowError::in_file`]).
    #[error("{message}")]
    Input { message: String, code: Code },
    /// A design whose hardware cannot be built (E0131).
    #[error("{0}")]
    Hardware(String),
    /// The Verilog simulator of `verify` (E0132 missing, E0133 failed, E0134 timeout).
    #[error("{0}")]
    Harness(#[from] HarnessError),
    /// A file or folder that cannot be written or created (E0137).
    #[error("{path}: {source}")]
    Io { path: String, source: std::io::Error },
    /// A model parameter refused where it was read (E0101, E0102).
    #[error(transparent)]
    Param(#[from] crate::frontend::param::ParamError),
    /// A lossy step refused by `--deny-lossy` or `deny_lossy = true` (E0110..E0115).
    #[error("{message}")]
    Lossy { code: crate::diagnostics::Code, message: String },
}

impl FlowError {
    /// The stable code of the error; every variant has one.
    pub fn code(&self) -> Code {
        match self {
            FlowError::NotBuilt { .. } => Code::E0136,
            FlowError::Description(_) => Code::E0135,
            FlowError::Lossy { code, .. } => *code,
            FlowError::Frontend(e) => e.code(),
            FlowError::Onnx(e) => e.code(),
            FlowError::Pass(_) => Code::E0130,
            FlowError::Model(_) | FlowError::Hardware(_) => Code::E0131,
            FlowError::Data { code, .. } | FlowError::Input { code, .. } => *code,
            FlowError::Harness(e) => match e {
                HarnessError::ToolMissing { .. } => Code::E0132,
                HarnessError::CompileFailed { .. } | HarnessError::NoResult { .. } => Code::E0133,
                HarnessError::Timeout { .. } => Code::E0134,
                HarnessError::Io { .. } => Code::E0137,
                HarnessError::Hex(_) => Code::E0131,
            },
            FlowError::Io { .. } => Code::E0137,
            FlowError::Param(p) => p.code,
        }
    }

    /// Names the data file an [`FlowError::Input`] error is about (other errors pass through).
    pub fn in_file(self, path: &std::path::Path) -> FlowError {
        match self {
            FlowError::Input { message, code } => {
                FlowError::Data { path: path.display().to_string(), message, code }
            }
            other => other,
        }
    }
}

/// Refuses non-finite input values (E0129) for the families that compute in fixed point, where
/// NaN and ±inf have no representation: quantizing them would give finite outputs where the
/// framework gives NaN. Names the first bad value's row and column (0-based, as numpy indexes).
pub fn finite_inputs(x: ArrayView2<f32>, family: &str) -> Result<(), FlowError> {
    let bad = x.indexed_iter().filter(|(_, v)| !v.is_finite());
    let mut count = 0usize;
    let mut first = None;
    for ((r, c), v) in bad {
        count += 1;
        first.get_or_insert((r, c, *v));
    }
    match first {
        None => Ok(()),
        Some((r, c, v)) => Err(FlowError::Input {
            message: format!(
                "row {r}, column {c}: input value {v} is not finite ({count} non-finite value(s) \
                 in all); the {family} family computes in fixed point and refuses NaN and \
                 infinite inputs: clean or impute the data first"
            ),
            code: Code::E0129,
        }),
    }
}

/// ONNX load errors keep their type (and code).
impl From<crate::frontend::onnx::OnnxError> for FlowError {
    fn from(e: crate::frontend::onnx::OnnxError) -> Self {
        match e {
            crate::frontend::onnx::OnnxError::Param(p) => FlowError::Param(p),
            other => FlowError::Onnx(other),
        }
    }
}
