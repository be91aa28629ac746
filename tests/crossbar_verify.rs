//! `tessera verify` on every crossbar example, under iverilog and verilator, with the
//! example's own `accel.tess` (NeuroSim defaults: on/off 17 baked into the programmed
//! conductance codes, shared 4-bit ADCs with a calibrated full scale): the RTL digital twin
//! reproduces the simulator's accumulators bit for bit on held-out rows. Then one expected
//! vector is perturbed in the kept bundle and the compiled simulation is rerun: the testbench
//! must report exactly that vector as a mismatch (the comparison can fail).
//!
//! A few rows per example keep the run short; the simulators' compile time dominates
//! (verilator: about a minute per example on 2 cores).

use assert_cmd::Command;
use ndarray::Array2;
use ndarray_npy::WriteNpyExt;
use std::path::{Path, PathBuf};
use tessera::backend::verilog::harness::{self, Simulator};
use tessera::crossbar::dataset::ExampleData;

/// Rows of X_test each verification runs.
const ROWS: usize = 8;
/// The vector whose expected output is perturbed.
const PERTURBED: usize = 3;

fn example(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("examples").join(name)
}

/// Writes the first `ROWS` test rows of `name` as a float32 .npy in `dir`.
fn subset(name: &str, dir: &Path) -> PathBuf {
    let data = ExampleData::load(&example(name)).unwrap();
    let rows = &data.x_test[..ROWS];
    let x = Array2::from_shape_vec((ROWS, rows[0].len()), rows.concat()).unwrap();
    let p = dir.join("x.npy");
    x.write_npy(std::fs::File::create(&p).unwrap()).unwrap();
    p
}

/// Flips the lowest bit of vector `k`'s last hex digit in `expected.hex`.
fn perturb(dir: &Path, k: usize) {
    let p = dir.join("expected.hex");
    let text = std::fs::read_to_string(&p).unwrap();
    let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
    let line = &mut lines[k];
    let last = line.pop().unwrap().to_digit(16).unwrap();
    line.push(std::char::from_digit(last ^ 1, 16).unwrap());
    std::fs::write(&p, lines.join("\n") + "\n").unwrap();
}

/// Reruns the already compiled simulation in `dir` and returns its output.
fn rerun(sim: Simulator, dir: &Path) -> String {
    let tb = std::fs::read_dir(dir)
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .find(|n| n.starts_with("tb_") && n.ends_with(".sv"))
        .unwrap();
    let tb = tb.trim_end_matches(".sv");
    let out = match sim {
        Simulator::Iverilog => {
            std::process::Command::new("vvp").args(["-n", "sim.vvp"]).current_dir(dir).output()
        }
        Simulator::Verilator => {
            std::process::Command::new(dir.join("obj_dir").join(format!("V{tb}")))
                .current_dir(dir)
                .output()
        }
    }
    .unwrap();
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn verify(name: &str, sim: Simulator) {
    if !harness::require(sim) {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let x = subset(name, tmp.path());
    let keep = tmp.path().join("keep");
    let out = Command::cargo_bin("tessera")
        .unwrap()
        .arg("verify")
        .arg(example(name).join("accel.tess"))
        .arg("--data")
        .arg(&x)
        .args(["--simulator", sim.name(), "--keep"])
        .arg(&keep)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{name} {}: {stdout}\n{}",
        sim.name(),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains(&format!(
            "{}: {ROWS} vectors, 0 mismatches — RTL matches the simulator bit for bit",
            sim.name()
        )),
        "{stdout}"
    );

    perturb(&keep, PERTURBED);
    let log = rerun(sim, &keep);
    assert!(log.contains(&format!("MISMATCH vector={PERTURBED} ")), "{log}");
    assert!(log.contains(&format!("TESSERA-RESULT vectors={ROWS} mismatches=1")), "{log}");
}

#[test]
fn digits_mlp_under_iverilog() {
    verify("digits_mlp", Simulator::Iverilog);
}

#[test]
fn digits_mlp_under_verilator() {
    verify("digits_mlp", Simulator::Verilator);
}

#[test]
fn breast_cancer_mlp_under_iverilog() {
    verify("breast_cancer_mlp", Simulator::Iverilog);
}

#[test]
fn breast_cancer_mlp_under_verilator() {
    verify("breast_cancer_mlp", Simulator::Verilator);
}

#[test]
fn qonnx_mlp_under_iverilog() {
    verify("qonnx_mlp", Simulator::Iverilog);
}

#[test]
fn qonnx_mlp_under_verilator() {
    verify("qonnx_mlp", Simulator::Verilator);
}

/// Writes a description of `model` (an example's model.onnx, by absolute path) with the given
/// instance arguments and mapping options into `dir`.
fn variant(dir: &Path, model: &str, inst: &str, mapping: &str) -> PathBuf {
    let onnx = example(model).join("model.onnx");
    let text = format!(
        "use crossbar;\naccelerator v {{\n    model net = onnx(\"{}\");\n    \
         inst xbar = crossbar::rram_1t1r({inst});\n    \
         map net -> xbar using crossbar_tile({mapping});\n}}\n",
        onnx.display()
    );
    let p = dir.join("v.tess");
    std::fs::write(&p, text).unwrap();
    p
}

fn verify_variant(model: &str, inst: &str, mapping: &str) {
    if !harness::require(Simulator::Iverilog) {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let x = subset(model, tmp.path());
    let tess = variant(tmp.path(), model, inst, mapping);
    let out = Command::cargo_bin("tessera")
        .unwrap()
        .arg("verify")
        .arg(&tess)
        .arg("--data")
        .arg(&x)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    assert!(stdout.contains(&format!("iverilog: {ROWS} vectors, 0 mismatches")), "{stdout}");
}

/// Row and column tiling (32x64 arrays), 2-bit cells, a 5-bit ADC, 10% device-to-device
/// variation and 0.5% stuck-on/stuck-off cells, all baked into the programmed codes the RTL
/// memories hold (the chip still agrees with onnxruntime on 77% of X_test: a degraded but not
/// degenerate datapath).
#[test]
fn varied_tiled_chip_with_stuck_cells_under_iverilog() {
    verify_variant(
        "digits_mlp",
        "rows = 32, cols = 64, cell_bits = 2, adc_bits = 5, d2d_sigma = 0.1, p_stuck_on = 0.005, \
         p_stuck_off = 0.005",
        "adc_percentile = 99.9, seed = 7",
    );
}

/// Offset encoding with its digital correction, on/off 50, 5% variation, 6-bit ADC, row tiles.
/// (With on/off 17 offset encoding leaves the digits chip at chance: the leakage of the many
/// off cells does not cancel as in differential pairs.)
#[test]
fn offset_encoded_chip_under_iverilog() {
    verify_variant(
        "digits_mlp",
        "rows = 32, cols = 64, on_off = 50, adc_bits = 6, d2d_sigma = 0.05",
        "signed = offset, adc_percentile = 99.9, seed = 3",
    );
}

/// Per-tensor weight and activation scales (one requantization multiplier per layer), 4-bit
/// cells, a fixed ADC full scale of 40 levels at 3 bits (lossy steps), 16 columns per ADC,
/// on/off 5, 6-bit weights and activations, two row tiles for the 30 inputs.
#[test]
fn lossy_adc_per_tensor_chip_under_iverilog() {
    verify_variant(
        "breast_cancer_mlp",
        "rows = 16, cols = 32, cell_bits = 4, adc_bits = 3, cols_per_adc = 16, on_off = 5, \
         d2d_sigma = 0.05",
        "w_bits = 6, a_bits = 6, input_scale = per_channel, weight_scale = per_tensor, \
         act_scale = per_tensor, adc_full_scale = 40",
    );
}

/// Read noise is simulator-only: `verify` says it cannot compare instead of reporting
/// mismatches.
#[test]
fn read_noise_cannot_be_verified() {
    let tmp = tempfile::tempdir().unwrap();
    let x = subset("digits_mlp", tmp.path());
    let tess = variant(tmp.path(), "digits_mlp", "c2c_sigma = 0.01", "");
    let out = Command::cargo_bin("tessera")
        .unwrap()
        .arg("verify")
        .arg(&tess)
        .arg("--data")
        .arg(&x)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(
            "read noise (c2c_sigma = 0.01) is simulated, not built: the RTL is the noise-free \
             chip, so its outputs cannot be compared with the noisy simulation"
        ),
        "{stderr}"
    );
}
