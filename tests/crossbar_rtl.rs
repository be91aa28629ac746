//! The final hardware graph's reference semantics: interpreting the graph `tessera compile`
//! lowers (host quantizer, programmed arrays, bias constants, requantization ops, host
//! dequantizer) gives, bit for bit, what the simulator built from the same nodes computes.
//! (The RTL lowered from those nodes is checked against the simulator by
//! `crossbar_verify.rs`.)

use ndarray::Array2;
use std::path::PathBuf;
use tessera::crossbar::dataset::ExampleData;
use tessera::crossbar::family::CROSSBAR_FAMILY;
use tessera::family::driver;
use tessera::flow::{Family, Job};
use tessera::ir::{interp, verify, Tensor, TensorData};

fn example(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("examples").join(name)
}

/// The example's own description, or `variant` read as if it sat beside the model.
fn job(name: &str, variant: Option<&str>) -> Job {
    let loaded = match variant {
        None => tessera::flow::catalog::load(&[example(name).join("accel.tess")]),
        Some(text) => {
            let path = example(name).join("variant.tess");
            let path = path.to_str().unwrap().to_string();
            tessera::dsl::load_sources(&[(&path, text)], &tessera::flow::catalog::load_options())
        }
    };
    assert!(!loaded.has_errors(), "{:?}", loaded.diagnostics);
    Job::new(loaded.accelerators.into_iter().next().unwrap(), None).unwrap()
}

/// Offset-encoded weights on 2-bit cells of a varied chip with stuck cells.
const VARIED_OFFSET: &str =
    "use crossbar;\naccelerator v {\n    model net = onnx(\"model.onnx\");\n    \
    inst xbar = crossbar::rram_1t1r(rows = 32, cols = 64, cell_bits = 2, d2d_sigma = 0.1, \
    p_stuck_on = 0.01, p_stuck_off = 0.01);\n    \
    map net -> xbar using crossbar_tile(signed = offset, adc_percentile = 99.9);\n}\n";

#[test]
fn final_graph_interpreter_equals_the_simulator() {
    let cases =
        [("digits_mlp", None), ("breast_cancer_mlp", None), ("digits_mlp", Some(VARIED_OFFSET))];
    for (name, variant) in cases {
        let job = job(name, variant);
        let lowered = driver::lower(&CROSSBAR_FAMILY, &job).unwrap();
        let g = &lowered.graph;
        assert!(verify(g).is_ok(), "{:?}", verify(g));
        let c = CROSSBAR_FAMILY.compile(&job).unwrap();
        let data = ExampleData::load(&example(name)).unwrap();
        let xs = &data.x_test[..data.x_test.len().min(60)];
        let flat: Vec<f32> = xs.iter().flatten().copied().collect();
        let x = Array2::from_shape_vec((xs.len(), xs[0].len()), flat).unwrap();
        let sim = c.simulate(x.view()).unwrap().outputs;
        for (i, row) in xs.iter().enumerate() {
            let input = Tensor::f32(vec![row.len()], row.clone()).unwrap();
            let out = interp::run(g, &[input]).unwrap();
            let TensorData::F32(got) = &out[0].data else { panic!("{:?}", out[0].data) };
            let want: Vec<f32> = sim.row(i).to_vec();
            assert_eq!(got.as_slice(), want.as_slice(), "{name} sample {i}");
        }
    }
}
