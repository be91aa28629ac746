//! ONNX frontend: reads `.onnx` files (pure Rust, via hand-written prost messages) into a
//! validated, shape-inferred [`OnnxModel`] (constant subgraphs folded), and [`import`]s it as
//! the one model-level IR graph every family reads. The float reference of a model is
//! `crate::ir::interp` over that graph; the operator semantics here only fold constants and
//! compute the index maps of data-movement chains at load time.
//!
//! Supported: Gemm (alpha, beta, transA, transB), MatMul, Add, Mul, Sub, Div, Pow, Sqrt, Erf,
//! Sign, ReduceMean, Relu, Sigmoid, Tanh, Softmax, LayerNormalization, Gelu, Concat, data
//! movement (Flatten, Reshape, Transpose, Slice, Gather, Split, Squeeze, Unsqueeze), Identity,
//! Constant, and QONNX `Quant`; initializers in FLOAT, FLOAT16,
//! DOUBLE, INT8, UINT8, INT32 and INT64. Everything else is reported, all at once, by node.

pub mod error;
pub mod import;
pub mod load;
pub mod model;
pub mod ops_ext;
pub mod proto;
pub mod shape;
pub mod tensor;
pub mod view;

pub use error::{OnnxError, UnsupportedOp};
pub use import::import;
pub use load::{load_onnx, parse_onnx};
pub use model::{Node, OnnxModel, Op, Rounding, ValueDecl};
pub use tensor::{Tensor, TensorData};
