//! The quantized network's integer datapath (what an ideal crossbar computes) as a hardware IR
//! graph: the IR interpreter agrees with the crossbar integer reference on every test sample.
//! (The crossbar RTL users run is checked by `crossbar_verify.rs`.)

use std::path::PathBuf;
use tessera::crossbar::dataset::ExampleData;
use tessera::crossbar::lower_ir::quantized_to_ir;
use tessera::crossbar::mlp::extract_mlp;
use tessera::crossbar::quant::{quantize, QuantConfig, QuantizedMlp, ScaleGranularity};
use tessera::frontend::onnx::load_onnx;
use tessera::ir::{interp, verify, Tensor, TensorData};

fn per_tensor(name: &str) -> (QuantizedMlp, ExampleData) {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("examples").join(name);
    let mlp = extract_mlp(&load_onnx(&dir.join("model.onnx")).unwrap()).unwrap();
    let data = ExampleData::load(&dir).unwrap();
    let cfg = QuantConfig {
        weight_scale: ScaleGranularity::PerTensor,
        act_scale: ScaleGranularity::PerTensor,
        ..QuantConfig::default()
    };
    (quantize(&mlp, &data.x_calib, &cfg).unwrap(), data)
}

fn code_tensor(g: &tessera::ir::Graph, codes: &[i64]) -> Tensor {
    let ty = g.ty(g.inputs()[0]).clone();
    Tensor::int(ty.shape, ty.format, codes.to_vec()).unwrap()
}

#[test]
fn ir_interpreter_equals_integer_reference() {
    for name in ["digits_mlp", "breast_cancer_mlp"] {
        let (q, data) = per_tensor(name);
        let g = quantized_to_ir(&q).unwrap();
        assert!(verify(&g).is_ok(), "{:?}", verify(&g));
        for x in &data.x_test {
            let codes = q.input.quantize(x);
            let out = interp::run(&g, &[code_tensor(&g, &codes)]).unwrap();
            let got: Vec<i64> = match &out[0].data {
                TensorData::I64(v) => v.clone(),
                TensorData::I32(v) => v.iter().map(|x| *x as i64).collect(),
                d => panic!("{d:?}"),
            };
            assert_eq!(got, q.accumulators(&codes), "{name}");
        }
    }
}

#[test]
fn per_channel_requantization_is_rejected_with_a_reason() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("examples/digits_mlp");
    let mlp = extract_mlp(&load_onnx(&dir.join("model.onnx")).unwrap()).unwrap();
    let data = ExampleData::load(&dir).unwrap();
    let q = quantize(&mlp, &data.x_calib, &QuantConfig::default()).unwrap();
    let e = quantized_to_ir(&q).unwrap_err();
    assert!(e.starts_with("layer `node_linear` has per-channel requantization multipliers"), "{e}");
}
