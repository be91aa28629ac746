//! Transformer attention on binarized (HAD) and standard hardware.
pub mod calib;
pub mod error;
pub mod import;
pub mod ir;
pub mod select;

pub use error::AttnError;
