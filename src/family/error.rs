//! Errors of the compile/simulate/verify flow, each naming the file or field at fault.

use thiserror::Error;

/// Why a command could not complete. Messages are complete sentences for the terminal.
#[derive(Debug, Error)]
pub enum FlowError {
    #[error("the {family} family is not built yet (selected by `{pass}`); see the open issues")]
    NotBuilt { family: &'static str, pass: String },
    #[error("{0}")]
    Description(String),
    #[error("{0}")]
    Frontend(#[from] crate::frontend::error::FrontendError),
    #[error("pass pipeline: {0}")]
    Pass(#[from] crate::passes::PassError),
    #[error("{0}")]
    Model(String),
    #[error("{path}: {message}")]
    Data { path: String, message: String },
    #[error("{0}")]
    Hardware(String),
    #[error("{path}: {source}")]
    Io { path: String, source: std::io::Error },
    /// A model parameter refused where it was read (E0101, E0102); kept typed, not flattened
    /// into [`FlowError::Model`], so the CLI can print its code.
    #[error(transparent)]
    Param(#[from] crate::frontend::param::ParamError),
    /// A lossy step refused by `--deny-lossy` or `deny_lossy = true` (E0110..E0115).
    #[error("{message}")]
    Lossy { code: crate::diagnostics::Code, message: String },
}

impl FlowError {
    /// The stable code of the error, for the errors that have one (model parameters).
    pub fn code(&self) -> Option<crate::diagnostics::Code> {
        match self {
            FlowError::Param(p) => Some(p.code),
            FlowError::Lossy { code, .. } => Some(*code),
            FlowError::Frontend(e) => e.code(),
            _ => None,
        }
    }
}

/// ONNX load errors become [`FlowError::Model`] text, except parameter errors, which keep
/// their code.
impl From<crate::frontend::onnx::OnnxError> for FlowError {
    fn from(e: crate::frontend::onnx::OnnxError) -> Self {
        match e {
            crate::frontend::onnx::OnnxError::Param(p) => FlowError::Param(p),
            other => FlowError::Model(other.to_string()),
        }
    }
}
