//! Helpers for the `cam_rtl*` tests: run a lowered CAM design under a simulator on vectors
//! from `cam::rtl::vectors`, and prove the comparison can fail.
#![allow(dead_code)]

use ndarray::ArrayView2;
use std::path::Path;
use std::time::Instant;
use tessera::backend::verilog::harness::{self, Simulator};
use tessera::backend::verilog::hex::{hex_text, write_hex};
use tessera::backend::verilog::testbench::{self, TestbenchConfig, EXPECTED_HEX, INPUTS_HEX};
use tessera::backend::verilog::{print_modules, Bits};
use tessera::cam::rtl;
use tessera::cam::CamDesign;
use tessera::flow::HwDesign;

/// The constant part of the testbench's `TESSERA-CYCLES`: four reset cycles put the first
/// accept on edge 5; the last output is checked on edge `5 + Σ cycles`; the testbench stops
/// `DRAIN` = 16 edges later and prints its counter's value before that edge, one less:
/// `5 + Σ + 16 - 1 = Σ + 20`.
pub const TB_OVERHEAD_CYCLES: u64 = 20;

/// What one checked simulation measured.
pub struct RtlRun {
    pub vectors: usize,
    /// Cycles the testbench reported.
    pub tb_cycles: u64,
    /// `cam::rtl::cycles` for the same inferences plus the testbench overhead.
    pub predicted_cycles: u64,
    pub seconds: f64,
}

/// Writes `text` to `path` unless the file already holds exactly it, so a cached verilator
/// build in the same directory sees unchanged inputs and is reused.
fn write_if_changed(path: &Path, text: &str) {
    if std::fs::read_to_string(path).ok().as_deref() != Some(text) {
        std::fs::write(path, text).unwrap();
    }
}

/// Writes the design, its memory images, the testbench and the vectors into `dir`.
pub fn write_all(dir: &Path, hw: &HwDesign, inputs: &[Bits], expected: &[Bits]) {
    std::fs::create_dir_all(dir).unwrap();
    let cfg = TestbenchConfig::new(
        &hw.top,
        hw.in_width,
        hw.out_width,
        inputs.len(),
        hw.latency,
        hw.interval,
    );
    write_if_changed(&dir.join(format!("{}.v", hw.top)), &print_modules(&hw.modules));
    write_if_changed(
        &dir.join(format!("{}.sv", testbench::tb_name(&hw.top))),
        &testbench::generate(&cfg).unwrap(),
    );
    write_if_changed(&dir.join(INPUTS_HEX), &hex_text(inputs).unwrap());
    write_if_changed(&dir.join(EXPECTED_HEX), &hex_text(expected).unwrap());
    for (name, text) in &hw.files {
        write_if_changed(&dir.join(name), text);
    }
}

fn tb_cycles(log: &str) -> u64 {
    log.lines()
        .find_map(|l| l.trim().strip_prefix("TESSERA-CYCLES "))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("no TESSERA-CYCLES line in:\n{log}"))
}

/// Lowers `d`, simulates it on `x` under `sim` and requires every output to match the
/// simulator bit for bit and the cycle count to be the one `cam::rtl::cycles` predicts; then
/// flips one bit of one expected vector and requires exactly that mismatch to be reported.
pub fn check(sim: Simulator, d: &CamDesign, x: ArrayView2<f32>, label: &str) -> RtlRun {
    let tmp = tempfile::tempdir().unwrap();
    check_in(sim, d, x, label, tmp.path())
}

/// [`check`] in a given directory: a persistent one (under `CARGO_TARGET_TMPDIR`) keeps a
/// verilator build between runs, rebuilt only when the design or testbench text changes.
pub fn check_in(
    sim: Simulator,
    d: &CamDesign,
    x: ArrayView2<f32>,
    label: &str,
    dir: &Path,
) -> RtlRun {
    let start = Instant::now();
    let hw = rtl::lower(d, "cam_top").unwrap();
    let (inputs, expected) = rtl::vectors(d, x).unwrap();
    write_all(dir, &hw, &inputs, &expected);
    let compiled = harness::compile(sim, dir, &hw.top)
        .unwrap_or_else(|e| panic!("{label}: {} compile: {e}", sim.name()));
    let out = compiled.execute().unwrap();
    assert_eq!(out.vectors, inputs.len(), "{label}");
    assert_eq!(out.mismatches, 0, "{label} under {}:\n{}", sim.name(), out.log);

    // The RTL takes exactly the cycles the schedule implies for these inputs.
    let q = &d.quantized;
    let s = tessera::cam::sim::Simulator::new(q, d.hardware());
    let mut ev = tessera::cam::sim::SearchEvents::default();
    for row in x.rows() {
        ev += s.run_f32(&row.to_vec()).unwrap().events;
    }
    let predicted = rtl::cycles(d, &ev) + TB_OVERHEAD_CYCLES;
    let measured = tb_cycles(&out.log);
    assert_eq!(measured, predicted, "{label}: testbench cycles vs cam::rtl::cycles");

    // A wrong expectation is caught: flip the lowest bit of the middle vector.
    let k = expected.len() / 2;
    let mut wrong = expected.clone();
    let b = !wrong[k].bit(0);
    wrong[k].set(0, b);
    write_hex(&dir.join(EXPECTED_HEX), &wrong).unwrap();
    let bad = compiled.execute().unwrap();
    assert_eq!(bad.mismatches, 1, "{label}: a flipped expected bit must be the one mismatch");
    assert!(bad.log.contains(&format!("MISMATCH vector={k} ")), "{label}:\n{}", bad.log);
    RtlRun {
        vectors: inputs.len(),
        tb_cycles: measured,
        predicted_cycles: predicted,
        seconds: start.elapsed().as_secs_f64(),
    }
}
