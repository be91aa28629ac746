//! Command implementations behind the CLI; `main.rs` only parses arguments and dispatches here.
