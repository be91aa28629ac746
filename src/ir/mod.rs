//! The IR: a typed dataflow graph of ops with tensor shapes and number formats.
