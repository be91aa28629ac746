//! `tessera sim/verify` on the vit_digits_had example from the outside: the attention family
//! is wired into the command line, reports an `attention` section, and its RTL verifies.

use assert_cmd::Command;
use ndarray::{s, Array2};
use predicates::prelude::*;
use tessera::backend::verilog::harness::{self, Simulator};

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
    if !harness::require(Simulator::Iverilog) {
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

#[test]
fn had_unit_verifies_under_iverilog() {
    // `emit = unit`: layer 0, head 0 of the student as the streaming unit, fed the Q/K/V codes
    // that head receives in the whole-model simulation.
    if !harness::require(Simulator::Iverilog) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let data = few_rows(dir.path(), 2);
    tessera()
        .args(["verify", &format!("{EX}/had_unit.tess"), "--simulator", "iverilog", "--data"])
        .arg(&data)
        .assert()
        .code(0)
        .stdout(predicate::str::contains("iverilog: 2 vectors, 0 mismatches"));
}

#[test]
fn had_unit_synthesizes() {
    // ~35 s of yosys on this 2-core machine (the int8 unit, std_unit.tess, takes ~70 s and is
    // measured in the README instead).
    if !harness::require_yosys() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let data = few_rows(dir.path(), 1);
    let out = dir.path().join("out");
    tessera()
        .args(["compile", &format!("{EX}/had_unit.tess"), "--synth", "--data"])
        .arg(&data)
        .arg("-o")
        .arg(&out)
        .assert()
        .code(0)
        .stdout(predicate::str::contains("transistors"));
    assert!(out.join("vit_had_unit.v").is_file(), "the unit's Verilog (top `vit_had_unit`)");
    let s: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("synth.json")).unwrap()).unwrap();
    assert!(s["transistors"].as_u64().unwrap() > 0, "{s}");
    // Registers the unit must hold (S = 17, d_k = d_v = 16): the latched input (2 x 17 x 16
    // sign bits of Q and K + 17 x 16 int8 values = 2720 bits), the output buffer (17 x 16 int8
    // = 2176), and the core's binary Q/K store (544) and int8 V store (2176): 7616 flip-flops
    // at least, before the score, softmax and MAC state.
    let dff = s["by_cell"]["$_DFF_P_"].as_u64().unwrap();
    assert!(dff >= 7616, "{dff} flip-flops: {s}");
}

/// torch.nn.MultiheadAttention exported without `batch_first` runs its block on `[S, 1, D]`:
/// `attn-recognize` wraps `attn.mha` in reshapes that drop and restore the batch axis,
/// `attn-quantize` maps a reshape to its operand's buffer, and the whole flow runs — the
/// simulator on the fixture's rows, the RTL bit for bit under iverilog.
#[test]
fn torch_multihead_attention_export_runs_the_whole_flow() {
    if !harness::require(Simulator::Iverilog) {
        return;
    }
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/attention");
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(root.join("mha_torch.onnx"), dir.path().join("mha_torch.onnx")).unwrap();
    let data = dir.path().join("X_calib.npy");
    std::fs::copy(root.join("mha_torch_X.npy"), &data).unwrap();
    let accel = dir.path().join("accel.tess");
    let text = std::fs::read_to_string(format!("{}/{EX}/accel.tess", env!("CARGO_MANIFEST_DIR")))
        .unwrap()
        .replace("student.onnx", "mha_torch.onnx");
    std::fs::write(&accel, text).unwrap();
    let out = tessera()
        .arg("sim")
        .arg(&accel)
        .arg("--data")
        .arg(&data)
        .args(["--dump-ir", "after:attn-recognize"])
        .assert()
        .code(0)
        .stdout(predicate::str::contains("family attention"))
        .get_output()
        .stdout
        .clone();
    let text = String::from_utf8(out).unwrap();
    let ops: Vec<&str> = text
        .lines()
        .filter_map(|l| l.split(" = ").nth(1))
        .filter_map(|r| r.split(['(', ' ']).next())
        .filter(|op| matches!(*op, "reshape" | "attn.mha"))
        .collect();
    assert_eq!(ops, ["reshape", "attn.mha", "reshape"], "{text}");
    tessera()
        .arg("verify")
        .arg(&accel)
        .args(["--simulator", "iverilog", "--data"])
        .arg(&data)
        .assert()
        .code(0)
        .stdout(predicate::str::contains("iverilog: 4 vectors, 0 mismatches"));
}
