//! The crossbar family's error: what its modules return to each other. The family's interface
//! (`family.rs`) turns it into a `FlowError`, choosing the kind (model, description, hardware)
//! from the variant, so no module passes a bare message across.

use crate::backend::verilog::bits::BitsError;
use crate::dsl::accel::ParamError;
use crate::ir::{GraphError, OpError};
use thiserror::Error;

/// Why a crossbar step failed; every message names what it is about.
#[derive(Debug, Error, PartialEq)]
pub enum XbarError {
    /// The model is outside what a crossbar maps: the file and node named.
    #[error("{0}")]
    Model(String),
    /// Array geometry, device or cost figures that do not describe a chip.
    #[error("{0}")]
    Config(String),
    /// A graph that is not of the crossbar dialect's shape at this point of the pipeline.
    #[error("{0}")]
    Graph(String),
    /// The RTL cannot be generated (a width or a constant out of reach).
    #[error("{0}")]
    Rtl(String),
    /// A data file that cannot be read.
    #[error("{0}")]
    Data(String),
    #[error(transparent)]
    Op(#[from] OpError),
    #[error(transparent)]
    Ir(#[from] GraphError),
    #[error(transparent)]
    Bits(#[from] BitsError),
    #[error(transparent)]
    Param(#[from] ParamError),
}
