//! Transformer attention on binarized (HAD) and standard hardware.
pub mod ir;
pub mod select;
