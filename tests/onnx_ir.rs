//! ONNX -> model-level IR through the importer users run (`tessera::attention::import`, the
//! attention family's frontend step, which converts every op outside its patterns one to
//! one): the IR graph of a plain MLP, run by the IR interpreter, matches onnxruntime.
//!
//! tessera's own ONNX evaluator is checked against the same references, and on the
//! kitchen-sink fixture (legacy opset-11 Softmax, which the importer refuses), in
//! `onnx_frontend.rs`; the importer on transformer graphs in `attention_import.rs`.

use std::path::PathBuf;
use tessera::attention::import::import;
use tessera::crossbar::dataset::{argmax, ExampleData};
use tessera::frontend::onnx::load_onnx;
use tessera::ir::{interp, verify, Graph, Tensor, TensorData};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn floats(t: &Tensor) -> Vec<f32> {
    match &t.data {
        TensorData::F32(v) => v.clone(),
        other => panic!("float output expected, got {other:?}"),
    }
}

/// The graph's input shape (the importer drops a leading batch dimension of 1).
fn input(g: &Graph, x: &[f32]) -> Tensor {
    Tensor::f32(g.ty(g.inputs()[0]).shape.clone(), x.to_vec()).unwrap()
}

/// Max abs error and argmax agreement of the IR interpreter against the stored reference.
fn ir_vs_reference(name: &str) -> (f64, f64) {
    let dir = root().join("examples").join(name);
    let g = import(&load_onnx(&dir.join("model.onnx")).unwrap()).unwrap();
    assert!(verify(&g).is_ok(), "{:?}", verify(&g));
    let data = ExampleData::load(&dir).unwrap();
    let (mut err, mut agree) = (0f64, 0usize);
    for (x, e) in data.x_test.iter().zip(&data.expected) {
        let y = floats(&interp::run(&g, &[input(&g, x)]).unwrap()[0]);
        assert_eq!(y.len(), e.len());
        for (a, b) in y.iter().zip(e) {
            err = err.max((a - b).abs() as f64);
        }
        agree += usize::from(argmax(&y) == argmax(e));
    }
    eprintln!(
        "{name}: IR interpreter max abs error {err:e}, agreement {agree}/{}",
        data.x_test.len()
    );
    (err, agree as f64 / data.x_test.len() as f64)
}

#[test]
fn digits_ir_matches_onnxruntime() {
    let (err, agree) = ir_vs_reference("digits_mlp");
    assert!(err < 1e-5, "{err}"); // f32 sums in k order vs MLAS
    assert_eq!(agree, 1.0);
}

#[test]
fn breast_cancer_ir_matches_onnxruntime() {
    let (err, agree) = ir_vs_reference("breast_cancer_mlp");
    assert!(err < 1e-4, "{err}"); // raw features ~4000: f32 sums of large terms
    assert_eq!(agree, 1.0);
}
