//! ONNX frontend: reads `.onnx` files (pure Rust, via hand-written prost messages) into a
//! validated, shape-inferred [`OnnxModel`], and evaluates it in float as the reference the
//! quantized and crossbar datapaths are checked against.
//!
//! Supported: Gemm (alpha, beta, transA, transB), MatMul, Add, Relu, Sigmoid, Tanh, Softmax,
//! Flatten, Reshape, Identity, Constant, and QONNX `Quant`; initializers in FLOAT, FLOAT16,
//! DOUBLE, INT8, UINT8, INT32 and INT64. Everything else is reported, all at once, by node.

pub mod error;
pub mod eval;
pub mod import;
pub mod load;
pub mod model;
pub mod ops_ext;
pub mod proto;
pub mod shape;
pub mod tensor;
pub mod view;

pub use error::{OnnxError, UnsupportedOp};
pub use eval::evaluate;
pub use import::{import, import_with, Recognizer, Replacement};
pub use load::{load_onnx, parse_onnx};
pub use model::{Node, OnnxModel, Op, Rounding, ValueDecl};
pub use tensor::{Tensor, TensorData};
