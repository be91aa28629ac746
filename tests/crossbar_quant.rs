//! Quantization of the example networks: 8-bit weights and activations keep >= 99% argmax
//! agreement with the source framework (onnxruntime / the QONNX executor) on every test set.

use std::path::PathBuf;
use tessera::crossbar::dataset::ExampleData;
use tessera::crossbar::mlp::extract_mlp;
use tessera::crossbar::quant::{argmax_agreement, quantize, QuantConfig};
use tessera::frontend::onnx::{evaluate, load_onnx};

fn example(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("examples")
        .join(name)
}

/// (agreement of the integer datapath with the framework, max abs diff of the float chain).
fn agreement(name: &str, cfg: &QuantConfig) -> (f64, f64) {
    let dir = example(name);
    let model = load_onnx(&dir.join("model.onnx")).unwrap();
    let mlp = extract_mlp(&model).unwrap();
    let data = ExampleData::load(&dir).unwrap();
    // The extracted chain is the same function as the ONNX graph.
    let mut chain_err = 0f64;
    for x in data.x_test.iter().take(50) {
        let a = mlp.forward(x);
        let b = &evaluate(&model, &[x]).unwrap()[0];
        for (p, q) in a.iter().zip(b) {
            chain_err = chain_err.max((p - q).abs() as f64);
        }
    }
    let q = quantize(&mlp, &data.x_calib, cfg).unwrap();
    let outs: Vec<Vec<f32>> = data.x_test.iter().map(|x| q.forward(x)).collect();
    let agree = argmax_agreement(&outs, &data.expected);
    eprintln!(
        "{name}: 8-bit integer argmax agreement {agree:.4} over {} samples",
        outs.len()
    );
    (agree, chain_err)
}

#[test]
fn digits_int8_agreement() {
    let (a, e) = agreement("digits_mlp", &QuantConfig::default());
    assert!(e < 1e-5, "{e}");
    assert!(a >= 0.99, "{a}");
}

#[test]
fn breast_cancer_int8_agreement() {
    let (a, e) = agreement("breast_cancer_mlp", &QuantConfig::default());
    assert!(e < 1e-3, "{e}");
    assert!(a >= 0.99, "{a}");
}

#[test]
fn qonnx_trained_scales_agreement() {
    let (a, e) = agreement("qonnx_mlp", &QuantConfig::default());
    assert!(e < 1e-4, "{e}");
    assert!(a >= 0.99, "{a}");
}
