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
        .stdout(predicate::str::contains("cam.rows(%0)"));
}

/// After `cam-tile` the graph is the hardware: the encoder, every array with its rows and
/// feature columns in search order (row tile by row tile, each chained to the previous array
/// of its row tile through the liveness register), the accumulator and the float conversion.
/// Reviewed: iris on 24x2 arrays has 220 rows in 10 row tiles; the two most-tested features
/// (2, 3) are searched first and the second array of a row tile is only built when its rows
/// test features 0 or 1 (row tiles 6 and 7 do not).
#[test]
fn dump_ir_after_cam_tile_shows_the_arrays_in_search_order() {
    let out = tessera()
        .args(["sim", "tests/cli/iris_small_arrays.tess"])
        .args(["--data", "examples/iris_xgb/X_test.npy", "--dump-ir", "after:cam-tile"])
        .assert()
        .code(0)
        .get_output()
        .stdout
        .clone();
    let text = String::from_utf8(out).unwrap();
    let dump: String = text.split_inclusive('\n').take_while(|l| !l.starts_with('}')).collect();
    insta::assert_snapshot!(dump + "}");
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

const IRIS: &str = "examples/iris_xgb";

/// `compile` writes a self-checking bundle: the design, its memory images, the testbench and
/// the simulator's vectors. Run as written it reports 0 mismatches; flipping one bit of one
/// expected vector makes the same testbench report a mismatch, so the check can fail.
#[test]
fn compile_writes_a_self_checking_cam_bundle() {
    use tessera::backend::verilog::harness::{self, Simulator};
    if !harness::require(Simulator::Iverilog) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("build");
    tessera()
        .args(["compile", &format!("{IRIS}/accel.tess"), "-o"])
        .arg(&out)
        .assert()
        .code(0)
        .stdout(predicate::str::contains("agreement with expected_margin.npy"));
    for f in [
        "iris_xgb.v",
        "tb_iris_xgb.sv",
        "inputs.hex",
        "expected.hex",
        "iris_xgb_cam.hex",
        "iris_xgb_thresholds.hex",
        "cam_tiles.svg",
        "report.json",
    ] {
        assert!(out.join(f).is_file(), "{f} not written");
    }
    let r = read_report(&out.join("report.json"));
    assert_eq!(r["family"].as_str(), Some("cam"));
    let ok = harness::run(Simulator::Iverilog, &out, "iris_xgb").unwrap();
    let n_test = tessera::frontend::npy::read_matrix_f64(Path::new(&format!("{IRIS}/X_test.npy")))
        .unwrap()
        .nrows();
    assert_eq!((ok.vectors, ok.mismatches), (n_test, 0), "{}", ok.log);

    let exp = out.join("expected.hex");
    let text = std::fs::read_to_string(&exp).unwrap();
    let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
    let last = lines[3].pop().unwrap();
    let flipped = char::from_digit(last.to_digit(16).unwrap() ^ 1, 16).unwrap();
    lines[3].push(flipped);
    std::fs::write(&exp, lines.join("\n") + "\n").unwrap();
    let bad = harness::run(Simulator::Iverilog, &out, "iris_xgb").unwrap();
    assert_eq!(bad.mismatches, 1, "{}", bad.log);
}

/// `verify` on tree examples: exit 0 and 0 mismatches under iverilog, and under verilator when
/// it is installed (the smallest example, to keep CI time in bounds; `tests/cam_rtl_examples.rs`
/// runs the 320-feature model under verilator).
#[test]
fn verify_tree_examples_bit_exact() {
    use tessera::backend::verilog::harness::{self, Simulator};
    let mut runs = vec![(BC, "iverilog"), (IRIS, "iverilog"), ("examples/rf_treelite", "iverilog")];
    if harness::require(Simulator::Verilator) {
        runs.push((IRIS, "verilator"));
    }
    for (ex, sim) in runs {
        if sim == "iverilog" && !harness::require(Simulator::Iverilog) {
            continue;
        }
        tessera()
            .args(["verify", &format!("{ex}/accel.tess"), "--data", &format!("{ex}/X_test.npy")])
            .args(["--simulator", sim])
            .assert()
            .code(0)
            .stdout(predicate::str::contains(" 0 mismatches"));
    }
}
