//! The quantized network's integer datapath (what an ideal crossbar computes) as a hardware IR
//! graph: the IR interpreter agrees with the crossbar integer reference on every test sample,
//! and the Verilog the backend emits for it matches under iverilog, bit for bit.

use std::path::PathBuf;
use tessera::backend::verilog::harness::{self, SimBundle, Simulator};
use tessera::backend::verilog::hex::pack_tensor;
use tessera::backend::verilog::lower_int::{lower_int_graph, LowerConfig};
use tessera::backend::verilog::print_module;
use tessera::backend::verilog::testbench::{self, TestbenchConfig};
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

#[test]
fn digits_datapath_rtl_matches_under_iverilog() {
    if !harness::require(Simulator::Iverilog) {
        return;
    }
    let (q, data) = per_tensor("digits_mlp");
    let g = quantized_to_ir(&q).unwrap();
    let d = lower_int_graph(&g, &LowerConfig { top: "digits_mlp".into() }).unwrap();
    let xs = &data.x_test[..60];
    let mut ins = Vec::new();
    let mut outs = Vec::new();
    for x in xs {
        let codes = q.input.quantize(x);
        let t = code_tensor(&g, &codes);
        let y = interp::run(&g, std::slice::from_ref(&t)).unwrap();
        ins.push(pack_tensor(&t).unwrap());
        outs.push(pack_tensor(&y[0]).unwrap());
    }
    let tb = testbench::generate(&TestbenchConfig::new(
        &d.module.name,
        d.in_width,
        d.out_width,
        ins.len(),
        d.latency,
        1,
    ))
    .unwrap();
    let design = print_module(&d.module);
    let dir = tempfile::tempdir().unwrap();
    let bundle = SimBundle {
        top: &d.module.name,
        design: &design,
        testbench: &tb,
        inputs: &ins,
        expected: &outs,
    };
    let r = harness::simulate(Simulator::Iverilog, dir.path(), &bundle)
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!((r.vectors, r.mismatches), (xs.len(), 0), "{}", r.log);
}
