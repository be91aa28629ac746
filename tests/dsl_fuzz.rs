//! Property tests: random token soup, random bytes and mutated valid files never panic, and
//! input that is invalid by construction always yields at least one diagnostic.

use proptest::prelude::*;
use tessera::diagnostics::{render_human, render_json, Code};
use tessera::dsl::{self, LoadOptions, Loaded};

const VALID: &str = include_str!("lint/ok_breast_cancer.tess");

const VOCAB: &[&str] = &[
    "use",
    "import",
    "const",
    "component",
    "accelerator",
    "param",
    "let",
    "require",
    "inst",
    "model",
    "map",
    "using",
    "in",
    "true",
    "false",
    "x",
    "rows",
    "tech",
    "cam_pack",
    "xgboost",
    "n45",
    "min",
    "pow",
    "1",
    "0",
    "24",
    "0.9",
    "2e-3",
    "1e400",
    "fJ",
    "GHz",
    "um2",
    "V",
    "fj",
    "24x48",
    "0x3",
    "\"s\"",
    "\"model.json\"",
    ";",
    ",",
    ":",
    "::",
    "=",
    "(",
    ")",
    "{",
    "}",
    "->",
    ".",
    "..",
    "..=",
    "+",
    "-",
    "*",
    "/",
    "^",
    "<",
    "<=",
    ">",
    ">=",
    "==",
    "!=",
    "&&",
    "||",
    "!",
    "int",
    "energy",
    "voltage",
    "symbol",
    "dims",
    "// c\n",
    "/* c */",
];

fn soup() -> impl Strategy<Value = String> {
    prop::collection::vec(prop::sample::select(VOCAB), 0..120).prop_map(|t| t.join(" "))
}

fn load(src: &str) -> Loaded {
    let opts = LoadOptions { check_model_paths: false, ..tessera::flow::catalog::load_options() };
    dsl::load_sources(&[("fuzz.tess", src)], &opts)
}

/// Loading and rendering must not panic, and must be deterministic.
fn check_total(src: &str) -> Loaded {
    let a = load(src);
    let b = load(src);
    assert_eq!(a.diagnostics, b.diagnostics);
    let _ = render_human(&a.files, &a.diagnostics);
    let json = render_json(&a.files, &a.diagnostics);
    assert!(serde_json::from_str::<serde_json::Value>(&json).is_ok());
    a
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    #[test]
    fn token_soup_never_panics(src in soup()) {
        check_total(&src);
    }

    #[test]
    fn soup_with_a_stray_character_is_diagnosed(src in soup(), at in 0usize..2000, c in prop::sample::select(&['#', '@', '$', '`', '?', '~'][..])) {
        let mut src = src;
        let at = (0..=at.min(src.len())).rev().find(|i| src.is_char_boundary(*i)).unwrap_or(0);
        // Not inside a string or comment, where any character is allowed: put it on its own line.
        src.insert_str(at, &format!("\n{c}\n"));
        let l = check_total(&src);
        let in_comment = src[..at].rfind("/*").is_some_and(|o| src[o..at].find("*/").is_none());
        if !in_comment {
            prop_assert!(l.diagnostics.iter().any(|d| d.code == Code::E0001), "{src}");
        }
    }

    #[test]
    fn soup_after_a_closing_brace_is_diagnosed(src in soup()) {
        // `}` can never start a file.
        let l = check_total(&format!("}} {src}"));
        prop_assert!(l.has_errors());
    }

    #[test]
    fn random_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..4000)) {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("r.tess");
        std::fs::write(&p, &bytes).unwrap();
        let l = tessera::flow::catalog::load(std::slice::from_ref(&p));
        let _ = render_human(&l.files, &l.diagnostics);
        if std::str::from_utf8(&bytes).is_err() {
            prop_assert_eq!(l.diagnostics.len(), 1);
            prop_assert_eq!(l.diagnostics[0].code, Code::E0001);
        }
    }

    #[test]
    fn mutated_valid_files_never_panic(start in 0usize..VALID.len(), len in 0usize..40, insert in prop::sample::select(VOCAB)) {
        let mut s = VALID.to_string();
        let start = (0..=start).rev().find(|i| s.is_char_boundary(*i)).unwrap_or(0);
        let end = (start + len).min(s.len());
        let end = (end..=s.len()).find(|i| s.is_char_boundary(*i)).unwrap_or(s.len());
        s.replace_range(start..end, insert);
        check_total(&s);
    }
}

#[test]
fn the_unmutated_file_is_clean() {
    // The mutation test starts from a valid file (model paths unchecked here).
    assert!(load(VALID).diagnostics.is_empty());
}
