//! `tessera explain CODE` prints the documented explanation of every code the compiler emits.

use assert_cmd::Command;
use tessera::commands::explain::{codes, explanation};
use tessera::diagnostics::Code;

#[test]
fn explains_a_code_from_the_docs() {
    let out = Command::cargo_bin("tessera").unwrap().args(["explain", "e0008"]).assert().success();
    let text = String::from_utf8_lossy(&out.get_output().stdout).to_string();
    assert!(text.starts_with("E0008 — value out of range\n"), "{text}");
    assert!(text.contains("error[E0008]"), "the example diagnostic is shown: {text}");
    assert!(!text.contains("#### E0009"), "stops at the next section: {text}");
}

#[test]
fn unknown_code_fails_and_lists_the_known_ones() {
    let out = Command::cargo_bin("tessera").unwrap().args(["explain", "E9999"]).assert().code(1);
    let err = String::from_utf8_lossy(&out.get_output().stderr).to_string();
    assert!(err.contains("no explanation for `E9999`") && err.contains("E0001"), "{err}");
}

#[test]
fn every_diagnostic_code_is_explained() {
    let known = codes();
    for c in Code::ALL {
        assert!(known.iter().any(|k| k == c.as_str()), "{c} has no explanation in the docs");
        assert!(explanation(c.as_str()).is_some());
    }
}
