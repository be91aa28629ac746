//! Command implementations behind the CLI; `main.rs` only parses arguments and dispatches here.
//! Each `run` returns the process exit code.

pub mod common;
pub mod explain;
pub mod flowcmd;
pub mod lint;
pub mod passes;
