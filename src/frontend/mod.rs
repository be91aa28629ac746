//! Model-file frontends, one module per format.
pub mod onnx;
pub mod trees;
