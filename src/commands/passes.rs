//! `tessera passes`: list the registered passes.

/// Prints the pass listing; returns the exit code.
pub fn run() -> u8 {
    eprintln!("error: the pass registry is not built yet");
    2
}
