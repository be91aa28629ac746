//! `tessera sim/compile/verify` from the outside on shipped examples: exit codes, files, and
//! errors that name what is wrong. Expected values come from the frameworks' own predictions
//! stored beside each example (`expected_margin.npy`), never from tessera's output.

use assert_cmd::Command;
use predicates::prelude::*;
use std::path::Path;

fn tessera() -> Command {
    let mut cmd = Command::cargo_bin("tessera").expect("binary builds");
    cmd.current_dir(env!("CARGO_MANIFEST_DIR"));
    cmd
}

const BC: &str = "examples/breast_cancer_xgb";

fn read_report(path: &Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(path).expect("report written"))
        .expect("report is JSON")
}

#[test]
fn sim_writes_outputs_and_a_report_agreeing_with_xgboost() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("margins.npy");
    let rep = dir.path().join("report.json");
    tessera()
        .args(["sim", &format!("{BC}/accel.tess"), "--data", &format!("{BC}/X_test.npy")])
        .args(["--labels", &format!("{BC}/y_test.npy")])
        .arg("--out")
        .arg(&out)
        .arg("--report")
        .arg(&rep)
        .assert()
        .code(0)
        .stdout(predicate::str::contains("agreement with expected_margin.npy"));
    let margins = tessera::frontend::npy::read_matrix_f64(&out).unwrap();
    let reference =
        tessera::frontend::npy::read_matrix_f64(Path::new(&format!("{BC}/expected_margin.npy")))
            .unwrap();
    assert_eq!(margins.dim(), reference.dim());
    let r = read_report(&rep);
    for key in ["energy_pj_per_inference", "latency_ns_per_inference", "area_um2"] {
        assert!(r[key].as_f64().unwrap() > 0.0, "{key} missing or not positive");
    }
    assert!(r["breakdown"].as_object().is_some_and(|b| !b.is_empty()));
    let bound = r["agreement"]["bound"].as_f64().unwrap();
    // Measured against XGBoost's own margins, independently of the report's own figure.
    let max_err =
        margins.iter().zip(reference.iter()).map(|(a, b)| (a - b).abs()).fold(0.0f64, f64::max);
    assert!(max_err <= bound, "max |margin error| {max_err} exceeds the stated bound {bound}");
    assert_eq!(r["agreement"]["argmax"].as_f64(), Some(1.0));
    // MonoSparse never costs more than the reorder baseline, which never costs more than raw.
    let e = &r["cam"]["energy_pj"];
    let (raw, reorder, mono) = (
        e["raw"].as_f64().unwrap(),
        e["reorder"].as_f64().unwrap(),
        e["monosparse"].as_f64().unwrap(),
    );
    assert!(mono <= reorder && reorder <= raw, "{mono} <= {reorder} <= {raw} violated");
    assert!(r["accuracy"].as_f64().unwrap() > 0.9);
}

#[test]
fn dump_ir_prints_the_graph_after_a_pass() {
    tessera()
        .args(["sim", &format!("{BC}/accel.tess"), "--data", &format!("{BC}/X_test.npy")])
        .args(["--dump-ir", "after:cam-pack"])
        .assert()
        .code(0)
        .stdout(predicate::str::contains("IR after cam-pack"))
        .stdout(predicate::str::contains("cam_rows(%0)"));
}

#[test]
fn several_accelerators_need_accel() {
    tessera()
        .args(["sim", "tests/cli/two_accels.tess", "--data", &format!("{BC}/X_test.npy")])
        .assert()
        .code(1)
        .stderr(predicate::str::contains("defines 2 accelerators; choose one with --accel"));
    tessera()
        .args(["sim", "tests/cli/two_accels.tess", "--accel", "second"])
        .args(["--data", &format!("{BC}/X_test.npy")])
        .assert()
        .code(0)
        .stdout(predicate::str::contains("accelerator second"));
    tessera()
        .args(["sim", "tests/cli/two_accels.tess", "--accel", "third"])
        .args(["--data", &format!("{BC}/X_test.npy")])
        .assert()
        .code(1)
        .stderr(predicate::str::contains("no accelerator `third` (found: first, second)"));
}

#[test]
fn corrupt_model_is_named_with_its_field() {
    tessera()
        .args(["sim", &format!("{BC}/accel.tess"), "--data", &format!("{BC}/X_test.npy")])
        .args(["--model", "tests/fixtures/trees/corrupt/xgb_truncated.json"])
        .assert()
        .code(1)
        .stderr(predicate::str::contains("xgb_truncated.json"))
        .stderr(predicate::str::contains("panicked").not());
}

#[test]
fn data_of_the_wrong_width_is_rejected() {
    // iris has 4 features; the breast-cancer model expects 30.
    tessera()
        .args(["sim", &format!("{BC}/accel.tess"), "--data", "examples/iris_xgb/X_test.npy"])
        .assert()
        .code(1)
        .stderr(predicate::str::contains(
            "examples/iris_xgb/X_test.npy: evaluation data: expected 30 features per sample, got 4",
        ))
        .stderr(predicate::str::contains("panicked").not());
}

#[test]
fn missing_data_file_is_named() {
    tessera()
        .args(["sim", &format!("{BC}/accel.tess"), "--data", "no/such/file.npy"])
        .assert()
        .code(1)
        .stderr(predicate::str::contains("no/such/file.npy"));
}

#[test]
fn model_format_must_fit_the_family() {
    tessera()
        .args(["sim", "tests/cli/crossbar_with_trees.tess", "--data", &format!("{BC}/X_test.npy")])
        .assert()
        .code(1)
        .stderr(predicate::str::contains("model.json"))
        .stderr(predicate::str::contains("panicked").not());
}

#[test]
fn families_not_built_say_so() {
    tessera()
        .args(["sim", "tests/lint/ok_snn.tess", "--data", &format!("{BC}/X_test.npy")])
        .args(["--model", &format!("{BC}/model.json")])
        .assert()
        .code(1)
        .stderr(predicate::str::contains("spiking networks family is not built yet"));
}

#[test]
fn lint_errors_stop_the_flow_with_diagnostics() {
    tessera()
        .args(["sim", "tests/lint/e0006_dimensions.tess", "--data", &format!("{BC}/X_test.npy")])
        .assert()
        .code(1)
        .stderr(predicate::str::contains("error[E0006]"));
}

#[test]
fn version_and_help() {
    tessera().arg("--version").assert().code(0).stdout(predicate::str::contains("tessera"));
    for cmd in ["lint", "compile", "sim", "verify", "passes"] {
        tessera().args([cmd, "--help"]).assert().code(0);
    }
}
