//! `tessera lint`: check `.tess` files and report every diagnostic.
//!
//! Exit codes: 0 clean (warnings allowed), 1 on any error, 2 when an input file cannot be read
//! (which is also reported as a diagnostic). Human output goes to standard error (coloured on a
//! terminal only); `--format json` prints one JSON array to standard output.
use crate::diagnostics::{emit_human_stderr, render_json, HumanStyle};
use crate::dsl::Loaded;
use std::io::IsTerminal;
use std::path::PathBuf;

/// How diagnostics are printed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Human,
    Json,
}

/// Runs the linter; returns the exit code.
pub fn run(files: &[PathBuf], format: Format) -> u8 {
    let loaded = crate::flow::catalog::load(files);
    match format {
        Format::Human => {
            let style = HumanStyle { colour: std::io::stderr().is_terminal() };
            emit_human_stderr(&loaded.files, &loaded.diagnostics, style);
            eprintln!("{}", summary(&loaded, files.len()));
        }
        Format::Json => println!("{}", render_json(&loaded.files, &loaded.diagnostics)),
    }
    exit_code(&loaded)
}

/// 2 if an input could not be read, else 1 on errors, else 0.
pub fn exit_code(loaded: &Loaded) -> u8 {
    if !loaded.unreadable.is_empty() {
        2
    } else if loaded.has_errors() {
        1
    } else {
        0
    }
}

/// The closing line of human output, e.g. `lint: 2 errors, 1 warning in 3 files`.
pub fn summary(loaded: &Loaded, files: usize) -> String {
    let plural = |n: usize, w: &str| format!("{n} {w}{}", if n == 1 { "" } else { "s" });
    format!(
        "lint: {}, {} in {}",
        plural(loaded.error_count(), "error"),
        plural(loaded.warning_count(), "warning"),
        plural(files, "file")
    )
}
