//! Model-file frontends, one module per format.
pub mod trees;
