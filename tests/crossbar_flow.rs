//! The crossbar family in the compile/simulate/verify flow, driven by a real `.tess`
//! description (examples/digits_mlp/accel.tess) and the stdlib `rram_1t1r` macro.

use ndarray::Array2;
use std::path::PathBuf;
use tessera::backend::verilog::harness::{self, SimBundle, Simulator};
use tessera::backend::verilog::print_module;
use tessera::backend::verilog::testbench::{self, TestbenchConfig};
use tessera::crossbar::dataset::{argmax, ExampleData};
use tessera::crossbar::family::CROSSBAR_FAMILY;
use tessera::dsl;
use tessera::flow::{Family, Job};

fn dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("examples/digits_mlp")
}

fn job_from(source: Option<&str>) -> Job {
    let loaded = match source {
        None => tessera::flow::catalog::load(&[dir().join("accel.tess")]),
        Some(text) => {
            let name = dir().join("variant.tess");
            let name = name.to_str().unwrap().to_string();
            dsl::load_sources(&[(&name, text)], &tessera::flow::catalog::load_options())
        }
    };
    assert!(!loaded.has_errors(), "{:?}", loaded.diagnostics);
    Job::new(loaded.accelerators.into_iter().next().unwrap(), None).unwrap()
}

fn matrix(rows: &[Vec<f32>]) -> Array2<f32> {
    Array2::from_shape_vec((rows.len(), rows[0].len()), rows.iter().flatten().copied().collect())
        .unwrap()
}

#[test]
fn digits_compiles_simulates_and_matches_onnxruntime() {
    let job = job_from(None);
    let c = CROSSBAR_FAMILY.compile(&job).unwrap();
    assert_eq!(c.section_name(), "crossbar");
    let data = ExampleData::load(&dir()).unwrap();
    let run = c.simulate(matrix(&data.x_test).view()).unwrap();
    let agree = run
        .outputs
        .rows()
        .into_iter()
        .zip(&data.expected)
        .filter(|(o, e)| argmax(o.as_slice().unwrap()) == argmax(e))
        .count();
    eprintln!("digits on rram_1t1r: argmax agreement {agree}/{}", data.expected.len());
    assert!(agree as f64 >= 0.99 * data.expected.len() as f64);
    // 1-bit cells: 7 magnitude bits -> 7 slices x 2 polarities = 14 columns per weight.
    assert_eq!(run.section["layers"][0]["cols_per_weight"], 14);
    // stdlib/crossbar.tess `rram_1t1r`: `adc_bits = 4` (NeuroSim V1.4 levelOutput = 16).
    assert_eq!(run.section["adc_bits"], 4);
    assert!(run.cost.energy_pj > 0.0 && run.cost.latency_ns > 0.0);
    assert!(run.cost.breakdown.contains_key("crossbar.adc"));
}

#[test]
fn digits_rtl_matches_the_simulator_under_iverilog() {
    if !harness::require(Simulator::Iverilog) {
        return;
    }
    let job = job_from(None);
    let c = CROSSBAR_FAMILY.compile(&job).unwrap();
    let hw = c.hardware().unwrap();
    let data = ExampleData::load(&dir()).unwrap();
    let x = matrix(&data.x_test[..40]);
    let (ins, outs) = c.vectors(x.view()).unwrap();
    let tb = testbench::generate(&TestbenchConfig::new(
        &hw.top,
        hw.in_width,
        hw.out_width,
        ins.len(),
        hw.latency,
        hw.interval,
    ))
    .unwrap();
    let design: String = hw.modules.iter().map(print_module).collect();
    let tmp = tempfile::tempdir().unwrap();
    // The programmed conductance codes, biases and multipliers are `$readmemh` files.
    assert!(!hw.files.is_empty() && !hw.streamed.is_empty());
    hw.write_files(tmp.path()).unwrap();
    let bundle =
        SimBundle { top: &hw.top, design: &design, testbench: &tb, inputs: &ins, expected: &outs };
    let r = harness::simulate(Simulator::Iverilog, tmp.path(), &bundle).unwrap();
    assert_eq!((r.vectors, r.mismatches), (40, 0), "{}", r.log);
}

#[test]
fn read_noise_refuses_vectors_with_a_reason() {
    // Cycle-to-cycle read noise is simulated, not built: the RTL is the noise-free chip.
    let job = job_from(Some(
        "use crossbar;\naccelerator d {\n    model net = onnx(\"model.onnx\");\n    \
         inst xbar = crossbar::rram_1t1r(c2c_sigma = 0.02);\n    \
         map net -> xbar using crossbar_tile(adc_percentile = 99.9);\n}\n",
    ));
    let c = CROSSBAR_FAMILY.compile(&job).unwrap();
    let data = ExampleData::load(&dir()).unwrap();
    let x = matrix(&data.x_test[..4]);
    let e = c.vectors(x.view()).err().unwrap().to_string();
    assert!(e.contains("read noise (c2c_sigma = 0.02) is simulated, not built"), "{e}");
    // Simulation still works and models the noise.
    assert!(c.simulate(x.view()).is_ok());
}

#[test]
fn non_onnx_models_are_rejected() {
    let job = job_from(Some(
        "use crossbar;\naccelerator d {\n    model net = xgboost(\"model.onnx\");\n    \
         inst xbar = crossbar::rram_1t1r();\n    map net -> xbar using crossbar_tile();\n}\n",
    ));
    let e = CROSSBAR_FAMILY.compile(&job).err().unwrap().to_string();
    assert_eq!(e, "`crossbar_tile` maps model `net` (xgboost); crossbar mapping reads ONNX models");
}

/// A model whose declared input is `[1, 4, 4]` (a Flatten feeds the first Gemm; the fixture and
/// onnxruntime's outputs come from tests/fixtures/onnx/make_fixtures.py): the integer network
/// takes the 16 features flat, simulates within the 8-bit quantization error of onnxruntime,
/// and its RTL matches the simulator under iverilog.
#[test]
fn a_flattened_input_maps_simulates_and_verifies() {
    use assert_cmd::Command;
    if !harness::require(Simulator::Iverilog) {
        return;
    }
    let fx = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/onnx");
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    std::fs::copy(fx.join("flatten_mlp.onnx"), d.join("model.onnx")).unwrap();
    std::fs::copy(fx.join("flatten_mlp_X_calib.npy"), d.join("X_calib.npy")).unwrap();
    std::fs::copy(fx.join("flatten_mlp_X.npy"), d.join("X.npy")).unwrap();
    std::fs::copy(dir().join("accel.tess"), d.join("accel.tess")).unwrap();
    let tessera = || Command::cargo_bin("tessera").unwrap();
    tessera()
        .current_dir(d)
        .args(["sim", "accel.tess", "--data", "X.npy", "--out", "out.npy"])
        .assert()
        .code(0);
    let got: Array2<f32> = ndarray_npy::read_npy(d.join("out.npy")).unwrap();
    let want: Array2<f32> = ndarray_npy::read_npy(fx.join("flatten_mlp_Y.npy")).unwrap();
    assert_eq!(got.dim(), (6, 3));
    let err = got.iter().zip(&want).map(|(a, b)| (a - b).abs()).fold(0f32, f32::max);
    assert!(err < 0.05, "max |sim - onnxruntime| = {err}");
    tessera()
        .current_dir(d)
        .args(["verify", "accel.tess", "--simulator", "iverilog", "--data", "X.npy"])
        .assert()
        .code(0)
        .stdout(predicates::str::contains("iverilog: 6 vectors, 0 mismatches"));
}
