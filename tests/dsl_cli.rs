//! `tessera lint` from the outside: exit codes, formats, relative paths.

use assert_cmd::Command;
use predicates::prelude::*;

fn lint() -> Command {
    let mut cmd = Command::cargo_bin("tessera").expect("binary builds");
    cmd.current_dir(env!("CARGO_MANIFEST_DIR")).arg("lint");
    cmd
}

#[test]
fn clean_files_exit_0() {
    lint()
        .args(["tests/lint/ok_breast_cancer.tess", "tests/lint/ok_snn.tess"])
        .assert()
        .code(0)
        .stderr(predicate::str::contains("lint: 0 errors, 0 warnings in 2 files"));
}

#[test]
fn warnings_alone_exit_0() {
    lint()
        .arg("tests/lint/w0001_unmapped_model.tess")
        .assert()
        .code(0)
        .stderr(predicate::str::contains("warning[W0001]"));
}

#[test]
fn errors_exit_1_and_are_all_reported() {
    lint()
        .args(["tests/lint/e0006_dimensions.tess", "tests/lint/ok_snn.tess"])
        .assert()
        .code(1)
        .stderr(predicate::str::contains("error[E0006]"))
        .stderr(predicate::str::contains("lint: 6 errors, 0 warnings in 2 files"))
        // Paths are printed as given, never absolute, and without colour codes.
        .stderr(predicate::str::contains("tests/lint/e0006_dimensions.tess:2:18"))
        .stderr(predicate::str::contains(env!("CARGO_MANIFEST_DIR")).not())
        .stderr(predicate::str::contains("\u{1b}[").not());
}

#[test]
fn unreadable_input_exits_2_with_a_diagnostic() {
    lint()
        .args(["tests/lint/ok_snn.tess", "tests/lint/no_such_file.tess"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains(
            "error[E0019]: cannot read `tests/lint/no_such_file.tess`: no such file",
        ));
    // A directory is unreadable too; exit 2 wins over ordinary errors.
    lint()
        .args(["tests/lint", "tests/lint/e0003_eof.tess"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("it is a directory"))
        .stderr(predicate::str::contains("error[E0003]"));
}

#[test]
fn json_output_parses_and_uses_relative_paths() {
    let out = lint()
        .args(["--format", "json", "tests/lint/multi_errors.tess", "tests/lint/missing.tess"])
        .output()
        .expect("runs");
    assert_eq!(out.status.code(), Some(2));
    let text = String::from_utf8(out.stdout).expect("UTF-8 JSON");
    let v: serde_json::Value = serde_json::from_str(&text).expect("stdout is one JSON array");
    let items = v.as_array().expect("an array");
    assert!(items.len() >= 9, "{text}");
    for d in items {
        for key in [
            "code",
            "severity",
            "file",
            "line",
            "column",
            "end_line",
            "end_column",
            "message",
            "labels",
            "notes",
            "help",
        ] {
            assert!(d.get(key).is_some(), "missing {key} in {d}");
        }
        let file = d["file"].as_str().expect("every diagnostic names its file");
        assert!(file.starts_with("tests/lint/"), "{file}");
    }
    let missing = items.iter().find(|d| d["code"] == "E0019").expect("E0019");
    assert_eq!(missing["file"], "tests/lint/missing.tess");
    assert!(missing["line"].is_null());
    let first = &items[0];
    assert_eq!(first["code"], "E0006");
    assert_eq!((first["line"].as_u64(), first["column"].as_u64()), (Some(3), Some(23)));
}

#[test]
fn json_is_an_empty_array_when_clean() {
    let out =
        lint().args(["--format", "json", "tests/lint/ok_imports.tess"]).output().expect("runs");
    assert_eq!(out.status.code(), Some(0));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    assert_eq!(v, serde_json::json!([]));
}

#[test]
fn lint_works_from_another_directory() {
    // The stdlib is embedded: `use tech;` resolves wherever the binary runs.
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(
        dir.path().join("a.tess"),
        "use tech;\naccelerator a { inst n = tech::n45(); }\n",
    )
    .expect("write");
    Command::cargo_bin("tessera")
        .expect("binary")
        .current_dir(dir.path())
        .args(["lint", "a.tess"])
        .assert()
        .code(0);
}
