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
}
