//! Transformer attention on binarized (HAD) and standard hardware.
pub mod calib;
pub mod core;
pub mod cost;
pub mod design;
pub mod dialect;
pub mod error;
pub mod family;
pub mod import;
pub mod ir;
pub mod lnorm;
pub mod lossy;
pub mod passes;
pub mod program;
pub mod quant;
pub mod recognize;
pub mod representable;
pub mod rtl;
pub mod select;
pub mod sim;

pub use error::AttnError;
