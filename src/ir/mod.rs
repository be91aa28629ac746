//! The IR: a typed dataflow graph of ops with tensor shapes and number formats.
//!
//! - [`Graph`] holds nodes ([`NodeData`]: an [`Op`], its result [`TensorType`], an optional
//!   source name) behind typed [`NodeId`]s.
//! - [`printer`] gives the stable text form used by `--dump-ir` and snapshots.
//! - [`verify()`] checks a graph and returns every problem it finds.
//! - [`interp`] is the reference semantics every backend must match bit for bit.

pub mod dialect;
pub mod error;
pub mod graph;
pub mod ids;
pub mod interp;
pub mod nn;
pub mod op;
pub mod printer;
pub mod requant;
pub mod tensor;
pub mod types;
pub mod verify;

pub use dialect::{DialectHandle, DialectOp};
pub use error::OpError;
pub use graph::{EdgeData, Graph, GraphError, NodeData};
pub use ids::NodeId;
pub use op::Op;
pub use printer::print_graph;
pub use tensor::{Tensor, TensorData};
pub use types::{signed_width, unsigned_width, NumFormat, TensorType};
pub use verify::{verify, VerifyError};
