//! ONNX -> IR: the model-level IR graph, run by the IR interpreter, matches onnxruntime.

use std::path::PathBuf;
use tessera::crossbar::dataset::{argmax, read_rows_f32, ExampleData};
use tessera::frontend::onnx::{load_onnx, onnx_to_ir, OnnxError};
use tessera::ir::{interp, verify, Tensor, TensorData};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn floats(t: &Tensor) -> Vec<f32> {
    match &t.data {
        TensorData::F32(v) => v.clone(),
        other => panic!("float output expected, got {other:?}"),
    }
}

/// Max abs error and argmax agreement of the IR interpreter against the stored reference.
fn ir_vs_reference(name: &str) -> (f64, f64) {
    let dir = root().join("examples").join(name);
    let m = load_onnx(&dir.join("model.onnx")).unwrap();
    let g = onnx_to_ir(&m).unwrap();
    assert!(verify(&g).is_ok(), "{:?}", verify(&g));
    let data = ExampleData::load(&dir).unwrap();
    let (mut err, mut agree) = (0f64, 0usize);
    for (x, e) in data.x_test.iter().zip(&data.expected) {
        let out =
            interp::run(&g, &[Tensor::f32(m.inputs[0].shape.clone(), x.clone()).unwrap()]).unwrap();
        let y = floats(&out[0]);
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

#[test]
fn kitchen_sink_ir_matches_onnxruntime() {
    let f = |n: &str| root().join("tests/fixtures/onnx").join(n);
    let m = load_onnx(&f("kitchen_sink.onnx")).unwrap();
    let g = onnx_to_ir(&m).unwrap();
    let xs = read_rows_f32(&f("kitchen_sink_X.npy")).unwrap();
    let probs = read_rows_f32(&f("kitchen_sink_probs.npy")).unwrap();
    let h2 = read_rows_f32(&f("kitchen_sink_h2.npy")).unwrap();
    for ((x, p), h) in xs.iter().zip(&probs).zip(&h2) {
        let out = interp::run(&g, &[Tensor::f32(vec![1, 2, 3], x.clone()).unwrap()]).unwrap();
        for (a, b) in floats(&out[0]).iter().zip(p).chain(floats(&out[1]).iter().zip(h)) {
            assert!((a - b).abs() < 1e-5, "{a} vs {b}");
        }
    }
}

#[test]
fn qonnx_activation_quantizers_are_reported() {
    let m = load_onnx(&root().join("examples/qonnx_mlp/model.onnx")).unwrap();
    let e = onnx_to_ir(&m).unwrap_err();
    let OnnxError::Unsupported { ops, .. } = &e else { panic!("{e}") };
    // The three activation quantizers; the weight quantizers fold into constants.
    let names: Vec<&str> = ops.iter().map(|o| o.node.as_str()).collect();
    assert_eq!(names, ["Quant_act0", "Quant_act1", "Quant_act2"], "{e}");
}
