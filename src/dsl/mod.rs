//! The `.tess` accelerator description language: lexer, parser, checker.
//!
//! Entry point: [`load`] reads `.tess` files (following `import` and `use`), checks them, and
//! returns every diagnostic together with the accelerators that elaborated cleanly. The rest
//! of the compiler reads only [`accel::Accelerator`]; the AST stays private to this module
//! tree in spirit (it is public for tests and tools).
//!
//! Stages, one module each: [`lexer`] → [`parser`] (grammar in `grammar/tessera.lalrpop`) →
//! [`program`] (files, imports, stdlib) → [`scope`] (module names) → [`check`], which drives
//! [`eval`] (with [`builtins`] and [`typecheck`]), [`component`], [`require`], [`elaborate`]
//! and [`map_check`] (against the [`mappings`] table).

pub mod accel;
pub mod ast;
pub mod builtins;
pub mod check;
pub mod component;
pub mod elaborate;
pub mod eval;
pub mod lexer;
pub mod map_check;
pub mod mappings;
pub mod parser;
pub mod program;
pub mod require;
pub mod scope;
pub mod typecheck;
pub mod types;
pub mod value;

pub use check::CheckOptions as LoadOptions;

use crate::diagnostics::{Diagnostic, SourceFiles};
use accel::Accelerator;
use std::path::PathBuf;

/// Everything [`load`] found.
pub struct Loaded {
    /// Every file read (roots, imports, used stdlib modules), for rendering diagnostics.
    pub files: SourceFiles,
    /// All diagnostics, sorted by file (in load order) and position.
    pub diagnostics: Vec<Diagnostic>,
    /// The accelerators of the root files that elaborated without error, in source order.
    /// When [`Loaded::has_errors`] is true some may be missing: callers should stop.
    pub accelerators: Vec<Accelerator>,
    /// Root files that could not be read at all.
    pub unreadable: Vec<PathBuf>,
}

impl Loaded {
    pub fn has_errors(&self) -> bool {
        self.diagnostics.iter().any(Diagnostic::is_error)
    }
    pub fn error_count(&self) -> usize {
        self.diagnostics.iter().filter(|d| d.is_error()).count()
    }
    pub fn warning_count(&self) -> usize {
        self.diagnostics.len() - self.error_count()
    }
}

/// Loads and checks `.tess` files with default options.
pub fn load(paths: &[PathBuf]) -> Loaded {
    load_with(paths, &LoadOptions::default())
}

/// Loads and checks `.tess` files.
pub fn load_with(paths: &[PathBuf], opts: &LoadOptions) -> Loaded {
    finish(program::load_program(paths, &[]), opts)
}

/// Checks in-memory sources (`(name, text)`); imports resolve relative to each name's directory.
pub fn load_sources(sources: &[(&str, &str)], opts: &LoadOptions) -> Loaded {
    let memory: Vec<program::MemorySource> = sources
        .iter()
        .map(|(n, t)| program::MemorySource { name: n.to_string(), text: t.to_string() })
        .collect();
    finish(program::load_program(&[], &memory), opts)
}

fn finish(prog: program::Program, opts: &LoadOptions) -> Loaded {
    let (check_diags, accelerators) = check::check_program(&prog, *opts);
    let mut diagnostics = prog.diagnostics;
    diagnostics.extend(check_diags);
    // Stable order: by file in load order, then position; unlocated ones last.
    diagnostics.sort_by_key(|d| match (d.primary_span(), d.file) {
        (Some(s), _) => (s.file.0, s.start),
        (None, Some(f)) => (f.0, 0),
        (None, None) => (usize::MAX, usize::MAX),
    });
    Loaded { files: prog.files, diagnostics, accelerators, unreadable: prog.unreadable }
}
