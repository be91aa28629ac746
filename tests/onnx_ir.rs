//! ONNX -> model-level IR through the importer users run (`tessera::attention::import`, the
//! attention family's frontend step, which converts every op outside its patterns one to
//! one): the IR graph of a plain MLP, run by the IR interpreter, matches onnxruntime.
//!
//! The same float reference on the kitchen-sink fixture and the QONNX example is checked in
//! `onnx_frontend.rs`; the importer on transformer graphs in `attention_import.rs`. Here too:
//! the QONNX MLP imports with its `Quant` nodes as IR `quant` ops, and the crossbar family's
//! dense-chain extraction reads that graph.

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

/// QONNX: activation and weight quantizers become `quant` ops (the transB weights behind a
/// transposing gather), and the crossbar extraction over the imported graph recovers every
/// layer's trained quantizers.
#[test]
fn qonnx_imports_quant_ops_and_the_crossbar_reads_them() {
    let m = load_onnx(&root().join("examples/qonnx_mlp/model.onnx")).unwrap();
    let g = tessera::frontend::onnx::import(&m).unwrap();
    assert!(verify(&g).is_ok(), "{:?}", verify(&g));
    let quants = g.node_ids().into_iter().filter(|&id| g.op(id).mnemonic() == "quant").count();
    assert_eq!(quants, 6);
    let mlp = tessera::crossbar::mlp::from_graph(&g, &m.file).unwrap();
    assert_eq!(mlp.layers.len(), 3);
    for l in &mlp.layers {
        assert!(l.input_quant.is_some() && l.weight_quant.is_some(), "{}", l.name);
        assert_eq!(l.weight.len(), l.n_in * l.n_out);
    }
    // The crossbar's reference (the interpreter with f64 sums) is the graph's f32 function up
    // to the rounding of the sums.
    let data = ExampleData::load(&root().join("examples/qonnx_mlp")).unwrap();
    let rows: Vec<Vec<f32>> = data.x_test.iter().take(20).cloned().collect();
    let wide = tessera::crossbar::mlp::reference(&g, &rows).unwrap();
    for (x, w) in rows.iter().zip(&wide) {
        let y = floats(&interp::run(&g, &[input(&g, x)]).unwrap()[0]);
        for (a, b) in y.iter().zip(w) {
            assert!((a - b).abs() < 1e-4, "{a} vs {b}");
        }
    }
}

/// The importer runs no family pattern: a transformer imports as core ops (its Sign, the
/// erf-form GELU's `div`/`erf`/`mul`, the batched score product), and the crossbar family says
/// where the graph leaves a dense-layer chain.
#[test]
fn transformers_import_as_core_ops() {
    let m = load_onnx(&root().join("examples/vit_digits_had/student.onnx")).unwrap();
    let g = tessera::frontend::onnx::import(&m).unwrap();
    let ops: std::collections::BTreeSet<&str> =
        g.topo_order().into_iter().map(|n| g.op(n).mnemonic()).collect();
    for op in ["layer_norm", "sign", "mul", "div", "erf", "softmax", "matmul", "gather"] {
        assert!(ops.contains(op), "{op} missing from {ops:?}");
    }
    assert!(!ops.contains("attn.mha"), "the importer recognised attention: {ops:?}");
    let batched = g
        .topo_order()
        .into_iter()
        .any(|n| matches!(g.op(n), tessera::ir::Op::MatMul) && g.ty(n).shape == [2, 17, 17]);
    assert!(batched, "the score product is a batched matmul of 2 heads");
    // The patch embedding's reshape is the first node that is no dense-chain link.
    let e = tessera::crossbar::mlp::extract_mlp(&m).unwrap_err().to_string();
    assert!(e.contains("node `/Reshape_1` (gather): moves data into [16, 4]"), "{e}");
}

/// `tanh(x) * sigmoid(x)` imports as core ops (the product is a `mul`), and each family refuses
/// it by name: attention lists the `Mul` outside its patterns, the crossbar says where the
/// graph stops being a chain (by the input's declared name).
#[test]
fn an_activation_product_imports_and_both_families_refuse_it() {
    let m = load_onnx(&root().join("tests/fixtures/attention/elementwise_mul.onnx")).unwrap();
    let g = tessera::frontend::onnx::import(&m).unwrap();
    assert!(g.topo_order().into_iter().any(|n| g.op(n).mnemonic() == "mul"));
    let e = import(&m).unwrap_err().to_string();
    assert!(e.contains("node `/Mul`: Mul (domain ai.onnx): Mul outside a recognised"), "{e}");
    let e = tessera::crossbar::mlp::extract_mlp(&m).unwrap_err().to_string();
    assert!(
        e.ends_with("value `x` feeds 2 nodes; crossbar mapping needs a chain of layers"),
        "{e}"
    );
}
