//! `tessera sim/verify` on the vit_digits_had example from the outside: the attention family
//! is wired into the command line, reports an `attention` section, and its RTL verifies.

use assert_cmd::Command;
use ndarray::{s, Array2};
use predicates::prelude::*;

const EX: &str = "examples/vit_digits_had";

fn tessera() -> Command {
    let mut cmd = Command::cargo_bin("tessera").expect("binary builds");
    cmd.current_dir(env!("CARGO_MANIFEST_DIR"));
    cmd
}

/// The first `n` test images in a temporary .npy.
fn few_rows(dir: &std::path::Path, n: usize) -> std::path::PathBuf {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let x: Array2<f32> = ndarray_npy::read_npy(root.join(EX).join("X_test.npy")).unwrap();
    let p = dir.join("x.npy");
    ndarray_npy::write_npy(&p, &x.slice(s![..n, ..]).to_owned()).unwrap();
    p
}

#[test]
fn sim_reports_the_attention_section() {
    let dir = tempfile::tempdir().unwrap();
    let data = few_rows(dir.path(), 4);
    let rep = dir.path().join("report.json");
    tessera()
        .args(["sim", &format!("{EX}/accel.tess"), "--data"])
        .arg(&data)
        .arg("--report")
        .arg(&rep)
        .assert()
        .code(0)
        .stdout(predicate::str::contains("family attention"));
    let r: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&rep).unwrap()).unwrap();
    let layers = r["attention"]["layers"].as_array().expect("attention section");
    assert_eq!(layers.len(), 2);
    assert_eq!(layers[0]["select"]["kind"], "top_n", "{}", layers[0]);
    assert_eq!(layers[0]["select"]["n"], 6, "{}", layers[0]);
}

#[test]
fn verify_passes_under_iverilog() {
    if !tessera::backend::verilog::harness::available(
        tessera::backend::verilog::harness::Simulator::Iverilog,
    ) {
        eprintln!("skipping: iverilog is not installed");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let data = few_rows(dir.path(), 1);
    tessera()
        .args(["verify", &format!("{EX}/accel.tess"), "--simulator", "iverilog", "--data"])
        .arg(&data)
        .assert()
        .code(0)
        .stdout(predicate::str::contains("iverilog: 1 vectors, 0 mismatches"));
}
