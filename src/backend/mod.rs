//! Code generation backends.
pub mod verilog;
