//! End to end through what users run: shipped examples compiled by `tessera::flow::compile`
//! (the driver behind `tessera compile` and `tessera verify`), their Verilog and the
//! simulator's test vectors put through the testbench generator and the harness under
//! iverilog and verilator. The RTL must match the simulator bit for bit; then one bit of one
//! expected vector is flipped and the same compiled simulation must report exactly that vector
//! as the one mismatch, which proves the comparison can fail.
//!
//! A tree design and an MLP design, six rows each, because the simulators' compile time
//! dominates (about 20 s for all four runs on 2 cores); the attention whole model runs the same
//! way in `attention_flow.rs`. The testbench's counting of missing, extra and stalled outputs is
//! checked against hand-written designs in `verilog_testbench.rs`.

use ndarray::{s, Array2};
use std::path::{Path, PathBuf};
use tessera::backend::verilog::harness::{self, SimBundle, Simulator};
use tessera::backend::verilog::hex::write_hex;
use tessera::backend::verilog::print_modules;
use tessera::backend::verilog::testbench::{self, TestbenchConfig, EXPECTED_HEX};
use tessera::flow::Job;
use tessera::frontend::npy::read_features;

/// Rows of the example's `X_test.npy` each simulation runs.
const ROWS: usize = 6;
/// The vector whose expected output is perturbed.
const PERTURBED: usize = 4;

fn example(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("examples").join(name)
}

fn read(path: &Path) -> Array2<f32> {
    read_features(path).unwrap_or_else(|e| panic!("{e}")).data
}

/// The example's own `accel.tess` as a job, with the calibration data `tessera verify` reads
/// from the model folder.
fn job(name: &str) -> Job {
    let dir = example(name);
    let loaded = tessera::flow::catalog::load(&[dir.join("accel.tess")]);
    assert!(!loaded.has_errors(), "{:?}", loaded.diagnostics);
    let mut job = Job::new(loaded.accelerators.into_iter().next().unwrap(), None).unwrap();
    job.calibration = ["X_train.npy", "X_calib.npy"]
        .iter()
        .map(|f| dir.join(f))
        .find(|p| p.is_file())
        .map(|p| read(&p));
    job
}

/// Compiles `name`, simulates its first [`ROWS`] test rows under `sim` and requires zero
/// mismatches; then flips one bit of expected vector [`PERTURBED`] and requires exactly that
/// one mismatch from a rerun of the same compiled simulation.
fn cosimulate(name: &str, sim: Simulator) {
    if !harness::require(sim) {
        return;
    }
    let compiled = tessera::flow::compile(&job(name)).unwrap_or_else(|e| panic!("{name}: {e}"));
    let hw = compiled.hardware().unwrap_or_else(|e| panic!("{name}: {e}"));
    let x = read(&example(name).join("X_test.npy")).slice(s![..ROWS, ..]).to_owned();
    let (inputs, mut expected) = compiled.vectors(x.view()).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!((inputs.len(), expected.len()), (ROWS, ROWS));
    let distinct: std::collections::BTreeSet<String> =
        expected.iter().map(|b| b.to_hex()).collect();
    assert!(
        distinct.len() > 1,
        "{name}: every expected output is the same, the test would be weak"
    );

    let cfg = TestbenchConfig::new(
        &hw.top,
        hw.in_width,
        hw.out_width,
        inputs.len(),
        hw.latency,
        hw.interval,
    );
    let tb = testbench::generate(&cfg).unwrap();
    let design = print_modules(&hw.modules);
    let tmp = tempfile::tempdir().unwrap();
    hw.write_files(tmp.path()).unwrap();
    let bundle = SimBundle {
        top: &hw.top,
        design: &design,
        testbench: &tb,
        inputs: &inputs,
        expected: &expected,
    };
    harness::write_bundle(tmp.path(), &bundle).unwrap();
    let run = harness::compile(sim, tmp.path(), &hw.top).unwrap_or_else(|e| panic!("{e}"));
    let ok = run.execute().unwrap_or_else(|e| panic!("{e}"));
    assert_eq!((ok.vectors, ok.mismatches), (ROWS, 0), "{name} under {}:\n{}", sim.name(), ok.log);

    let bit = expected[PERTURBED].bit(0);
    expected[PERTURBED].set(0, !bit);
    write_hex(&tmp.path().join(EXPECTED_HEX), &expected).unwrap();
    let bad = run.execute().unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        (bad.vectors, bad.mismatches),
        (ROWS, 1),
        "{name} under {}:\n{}",
        sim.name(),
        bad.log
    );
    assert!(bad.log.contains(&format!("MISMATCH vector={PERTURBED} ")), "{}", bad.log);
}

/// Trees on analog CAM: the MonoSparse sequencer over 24x48 tiles.
#[test]
fn iris_trees_iverilog() {
    cosimulate("iris_xgb", Simulator::Iverilog);
}

#[test]
fn iris_trees_verilator() {
    cosimulate("iris_xgb", Simulator::Verilator);
}

/// An MLP on crossbars: bit-serial rows, shared ADCs, shift-add and requantization.
#[test]
fn breast_cancer_mlp_iverilog() {
    cosimulate("breast_cancer_mlp", Simulator::Iverilog);
}

#[test]
fn breast_cancer_mlp_verilator() {
    cosimulate("breast_cancer_mlp", Simulator::Verilator);
}
