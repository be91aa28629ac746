//! File-driven diagnostics tests: every `tests/lint/*.tess` is linted as the CLI would (path
//! relative to the crate root, model paths checked) and snapshotted with its source and the
//! rendered output. File names say what must happen:
//! `ok_*` lint clean; `eNNNN_*` report error ENNNN; `wNNNN_*` report warning WNNNN and no
//! error; `multi_*` report at least two different codes in one run.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use tessera::diagnostics::{render_human, render_json};
use tessera::dsl;

/// The path of a test file relative to the crate root, as a user would type it.
fn relative(path: &Path) -> PathBuf {
    path.strip_prefix(env!("CARGO_MANIFEST_DIR"))
        .expect("test files live in the crate")
        .to_path_buf()
}

fn codes(loaded: &dsl::Loaded) -> BTreeSet<&'static str> {
    loaded.diagnostics.iter().map(|d| d.code.as_str()).collect()
}

#[test]
fn lint_files() {
    insta::glob!("lint/*.tess", |path| {
        let rel = relative(path);
        let name = rel.file_stem().and_then(|s| s.to_str()).unwrap_or_default().to_string();
        let loaded = tessera::flow::catalog::load(std::slice::from_ref(&rel));
        let human = render_human(&loaded.files, &loaded.diagnostics);
        assert!(!human.contains(env!("CARGO_MANIFEST_DIR")), "absolute path in output of {name}");
        let found = codes(&loaded);
        let prefix = name.split('_').next().unwrap_or_default().to_uppercase();
        if name.starts_with("ok_") {
            assert!(loaded.diagnostics.is_empty(), "{name} should lint clean:\n{human}");
            assert!(!loaded.accelerators.is_empty(), "{name} defines an accelerator");
        } else if prefix.starts_with('E') {
            assert!(found.contains(prefix.as_str()), "{name} should report {prefix}:\n{human}");
            assert!(loaded.has_errors());
        } else if prefix.starts_with('W') {
            assert!(found.contains(prefix.as_str()), "{name} should report {prefix}:\n{human}");
            assert!(!loaded.has_errors(), "{name} should have warnings only:\n{human}");
        } else if name.starts_with("multi_") {
            assert!(found.len() >= 2, "{name} should report several codes:\n{human}");
        } else {
            panic!("test file {name} does not follow the naming scheme");
        }
        let source = std::fs::read_to_string(path).expect("test file is readable");
        insta::assert_snapshot!(format!(
            "{source}\n---- {} ----\n{human}",
            tessera::commands::lint::summary(&loaded, 1)
        ));
    });
}

/// The JSON rendering of a few representative files.
#[test]
fn lint_json() {
    for name in [
        "e0002_syntax",
        "e0006_dimensions",
        "e0009_require",
        "e0010_import_cycle",
        "w0001_unmapped_model",
    ] {
        let rel = PathBuf::from(format!("tests/lint/{name}.tess"));
        let loaded = tessera::flow::catalog::load(std::slice::from_ref(&rel));
        let json = render_json(&loaded.files, &loaded.diagnostics);
        let parsed: serde_json::Value = serde_json::from_str(&json).expect("valid JSON");
        assert_eq!(parsed.as_array().map(Vec::len), Some(loaded.diagnostics.len()));
        insta::assert_snapshot!(format!("json_{name}"), json);
    }
}

/// Every stdlib module lints clean on its own.
#[test]
fn stdlib_modules_lint_clean() {
    for name in tessera::stdlib::names() {
        let src = format!("use {name};\n");
        let loaded = dsl::load_sources(
            &[("stdlib_check.tess", &src)],
            &tessera::flow::catalog::load_options(),
        );
        let human = render_human(&loaded.files, &loaded.diagnostics);
        assert!(loaded.diagnostics.is_empty(), "stdlib module {name}:\n{human}");
    }
}
