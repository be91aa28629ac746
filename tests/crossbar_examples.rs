//! Every crossbar example through the flow with its own `accel.tess` (NeuroSim defaults:
//! on/off 17, 1-bit cells, shared 4-bit ADCs with a calibrated full scale; 8-bit weights and
//! activations, or the QONNX model's trained 4-bit weights): the simulated chip's argmax agrees
//! with the source framework's committed outputs (`expected_output.npy`: onnxruntime 1.32 for
//! the PyTorch-exported models, qonnx's executor for the QONNX one) on at least 99% of the
//! held-out test rows.

use ndarray::Array2;
use std::path::PathBuf;
use tessera::crossbar::dataset::{argmax, ExampleData};
use tessera::crossbar::family::CROSSBAR_FAMILY;
use tessera::flow::{Family, Job};

/// Agreement with the source framework and accuracy on the labels.
fn agreement(name: &str) -> (usize, usize, usize) {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("examples").join(name);
    let loaded = tessera::flow::catalog::load(&[dir.join("accel.tess")]);
    assert!(!loaded.has_errors(), "{:?}", loaded.diagnostics);
    let job = Job::new(loaded.accelerators.into_iter().next().unwrap(), None).unwrap();
    let c = CROSSBAR_FAMILY.compile(&job).unwrap();
    let data = ExampleData::load(&dir).unwrap();
    let n = data.x_test.len();
    let x = Array2::from_shape_vec((n, data.x_test[0].len()), data.x_test.concat()).unwrap();
    let run = c.simulate(x.view()).unwrap();
    let outs: Vec<Vec<f32>> = run.outputs.rows().into_iter().map(|r| r.to_vec()).collect();
    let agree = outs.iter().zip(&data.expected).filter(|(o, e)| argmax(o) == argmax(e)).count();
    let correct = outs.iter().zip(&data.y_test).filter(|(o, y)| argmax(o) as i64 == **y).count();
    eprintln!("{name}: agreement {agree}/{n}, accuracy {correct}/{n}");
    (agree, correct, n)
}

fn at_least_99_percent(name: &str) {
    let (agree, _, n) = agreement(name);
    assert!(agree * 100 >= 99 * n, "{name}: {agree}/{n}");
}

#[test]
fn digits_mlp_agrees_with_onnxruntime() {
    at_least_99_percent("digits_mlp");
}

#[test]
fn breast_cancer_mlp_agrees_with_onnxruntime() {
    at_least_99_percent("breast_cancer_mlp");
}

#[test]
fn qonnx_mlp_agrees_with_the_qonnx_executor() {
    at_least_99_percent("qonnx_mlp");
}
