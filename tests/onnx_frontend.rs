//! ONNX frontend: the examples and fixtures load, the float reference matches the source
//! framework's outputs (onnxruntime, or qonnx's executor for QONNX graphs), and bad files give
//! clear errors naming the file and field, never a panic.

use std::path::{Path, PathBuf};
use tessera::crossbar::dataset::{argmax, read_rows_f32, ExampleData};
use tessera::frontend::onnx::{load_onnx, parse_onnx, OnnxError, TensorData};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}
fn fixture(name: &str) -> PathBuf {
    root().join("tests/fixtures/onnx").join(name)
}

/// The float reference users get: the model's import (the attention family's patterns
/// included) evaluated by `ir::interp`; every output flattened.
fn reference(
    m: &tessera::frontend::onnx::OnnxModel,
    xs: &[&[f32]],
) -> Result<Vec<Vec<f32>>, String> {
    let g = tessera::attention::import::import(m).map_err(|e| e.to_string())?;
    let inputs = g
        .inputs()
        .iter()
        .zip(xs)
        .map(|(&id, x)| tessera::ir::Tensor::f32(g.ty(id).shape.clone(), x.to_vec()))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| e.to_string())?;
    let outs = tessera::ir::interp::run(&g, &inputs).map_err(|e| e.to_string())?;
    Ok(outs.iter().map(|t| t.floats().unwrap_or_default().to_vec()).collect())
}

/// Runs the float reference over an example's test set; returns (max abs error, argmax agreement).
fn reference_vs_expected(dir: &Path) -> (f64, f64, usize) {
    let model = load_onnx(&dir.join("model.onnx")).unwrap();
    let data = ExampleData::load(dir).unwrap();
    let mut max_err = 0f64;
    let mut agree = 0;
    for (x, e) in data.x_test.iter().zip(&data.expected) {
        let out = reference(&model, &[x]).unwrap();
        assert_eq!(out[0].len(), e.len());
        for (a, b) in out[0].iter().zip(e) {
            max_err = max_err.max((*a as f64 - *b as f64).abs());
        }
        agree += usize::from(argmax(&out[0]) == argmax(e));
    }
    eprintln!(
        "{}: max abs error {max_err:e}, argmax agreement {agree}/{}",
        dir.display(),
        data.x_test.len()
    );
    (max_err, agree as f64 / data.x_test.len() as f64, data.x_test.len())
}

#[test]
fn digits_mlp_matches_onnxruntime() {
    let m = load_onnx(&root().join("examples/digits_mlp/model.onnx")).unwrap();
    assert_eq!(m.opset, 20); // torch.onnx.export (torch.export-based) in torch 2.15
    assert_eq!(m.inputs[0].shape, vec![1, 64]); // symbolic batch fixed to 1
    assert_eq!(m.outputs[0].shape, vec![1, 10]);
    let ops: Vec<&str> = m.nodes.iter().map(|n| n.op.op_type()).collect();
    assert_eq!(ops, ["Gemm", "Relu", "Gemm", "Relu", "Gemm", "Softmax"]);
    let (err, agree, n) = reference_vs_expected(&root().join("examples/digits_mlp"));
    // Probabilities in [0, 1]; f32 sums in index order vs MLAS sgemm differ by ~1e-7.
    assert!(err < 1e-5, "max abs error {err}");
    assert_eq!(agree, 1.0, "argmax agreement over {n} samples");
}

#[test]
fn breast_cancer_mlp_matches_onnxruntime() {
    let (err, agree, _) = reference_vs_expected(&root().join("examples/breast_cancer_mlp"));
    // Raw features reach ~4000 and logits tens: the bound is relative to that range.
    assert!(err < 1e-4, "max abs error {err}");
    assert_eq!(agree, 1.0);
}

#[test]
fn qonnx_mlp_matches_qonnx_executor() {
    let m = load_onnx(&root().join("examples/qonnx_mlp/model.onnx")).unwrap();
    assert_eq!(m.nodes.iter().filter(|n| n.op.op_type() == "Quant").count(), 6);
    let (err, agree, _) = reference_vs_expected(&root().join("examples/qonnx_mlp"));
    // Quantized activations make the logits a function of integer codes: equal up to f32 sums.
    assert!(err < 1e-4, "max abs error {err}");
    assert_eq!(agree, 1.0);
}

#[test]
fn kitchen_sink_matches_onnxruntime() {
    let m = load_onnx(&fixture("kitchen_sink.onnx")).unwrap();
    assert_eq!(
        m.outputs.iter().map(|o| o.shape.clone()).collect::<Vec<_>>(),
        vec![vec![1, 2], vec![1, 3]]
    );
    let xs = read_rows_f32(&fixture("kitchen_sink_X.npy")).unwrap();
    let probs = read_rows_f32(&fixture("kitchen_sink_probs.npy")).unwrap();
    let h2 = read_rows_f32(&fixture("kitchen_sink_h2.npy")).unwrap();
    for ((x, p), h) in xs.iter().zip(&probs).zip(&h2) {
        let out = reference(&m, &[x]).unwrap();
        for (a, b) in out[0].iter().zip(p).chain(out[1].iter().zip(h)) {
            assert!((a - b).abs() < 1e-5, "{a} vs {b}");
        }
    }
}

#[test]
fn initializer_encodings_decode_to_numpys_values() {
    let m = load_onnx(&fixture("tensors.onnx")).unwrap();
    let text = std::fs::read_to_string(fixture("tensors.json")).unwrap();
    let want: serde_json::Map<String, serde_json::Value> = serde_json::from_str(&text).unwrap();
    assert_eq!(want.len(), 9);
    for (name, vals) in &want {
        let t = &m.constants[name];
        let vals = vals.as_array().unwrap();
        match &t.data {
            TensorData::F32(v) => {
                let w: Vec<f32> = vals.iter().map(|x| x.as_f64().unwrap() as f32).collect();
                assert_eq!(v, &w, "{name}");
            }
            TensorData::I64(v) => {
                let w: Vec<i64> = vals.iter().map(|x| x.as_i64().unwrap()).collect();
                assert_eq!(v, &w, "{name}");
            }
        }
    }
}

#[test]
fn truncated_files_error_without_panicking() {
    let bytes = std::fs::read(root().join("examples/breast_cancer_mlp/model.onnx")).unwrap();
    for len in 0..bytes.len() {
        let r = parse_onnx(&bytes[..len], "model.onnx");
        let e = r.expect_err(&format!("a file truncated to {len} bytes must not load"));
        assert!(e.to_string().starts_with("model.onnx: "), "{e}");
    }
    let e = parse_onnx(&bytes[..bytes.len() / 2], "model.onnx").unwrap_err().to_string();
    assert!(e.contains("not a valid ONNX protobuf"), "{e}");
}

#[test]
fn not_an_onnx_file() {
    let e = parse_onnx(b"{\"learner\": {}}\n", "model.json").unwrap_err().to_string();
    assert!(e.starts_with("model.json: "), "{e}");
    let e = load_onnx(&fixture("does_not_exist.onnx")).unwrap_err().to_string();
    assert!(e.starts_with("does_not_exist.onnx: cannot read the file"), "{e}");
}

#[test]
fn missing_initializer_names_node_and_value() {
    let e = load_onnx(&fixture("missing_initializer.onnx")).unwrap_err().to_string();
    assert_eq!(
        e,
        "missing_initializer.onnx: graph.node `fc` (Gemm): input `W` is not a graph input, an \
         initializer, or any node's output (missing initializer?)"
    );
}

#[test]
fn dynamic_feature_dimension_is_rejected() {
    let e = load_onnx(&fixture("dynamic_shape.onnx")).unwrap_err().to_string();
    assert_eq!(
        e,
        "dynamic_shape.onnx: graph.input[0] `x`.type.tensor_type.shape.dim[1]: dynamic dimension \
         `features`: only the leading (batch) dimension may be symbolic"
    );
}

#[test]
fn every_unsupported_op_is_reported_at_once() {
    let e = load_onnx(&fixture("unsupported_ops.onnx")).unwrap_err();
    let OnnxError::Unsupported { ops, .. } = &e else { panic!("{e}") };
    assert_eq!(ops.len(), 5);
    assert_eq!(
        e.to_string(),
        "unsupported_ops.onnx: 5 unsupported operator(s):\n\
         \x20 - node `conv1`: Conv (domain ai.onnx)\n\
         \x20 - node `pool1`: MaxPool (domain ai.onnx)\n\
         \x20 - node `leaky`: LeakyRelu (domain ai.onnx)\n\
         \x20 - node `custom`: MyOp (domain com.example)\n\
         \x20 - node `sm`: Softmax (domain ai.onnx): attribute(s) not supported: extra"
    );
}

#[test]
fn skl2onnx_label_postprocessing_is_reported_by_name() {
    let e = load_onnx(&fixture("skl2onnx_mlp.onnx")).unwrap_err();
    let OnnxError::Unsupported { ops, .. } = &e else { panic!("{e}") };
    let got: Vec<(&str, &str, &str)> =
        ops.iter().map(|o| (o.node.as_str(), o.op_type.as_str(), o.domain.as_str())).collect();
    // The node list printed by make_fixtures.py: the MatMul/Add/Relu/Softmax/Reshape nodes and
    // (with the attention family's operators) Cast are supported; the label post-processing
    // is not.
    assert_eq!(
        got,
        [
            ("ArgMax", "ArgMax", ""),
            ("ZipMap", "ZipMap", "ai.onnx.ml"),
            ("ArrayFeatureExtractor", "ArrayFeatureExtractor", "ai.onnx.ml"),
        ]
    );
}

mod corrupted {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig { cases: 400, failure_persistence: None, ..ProptestConfig::default() })]
        /// Random byte corruptions of a valid model either load (and then evaluate) or give an
        /// error naming the file; nothing panics.
        #[test]
        fn corrupted_bytes_never_panic(
            which in 0usize..4,
            flips in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..6),
        ) {
            let path = [
                root().join("examples/breast_cancer_mlp/model.onnx"),
                root().join("examples/qonnx_mlp/model.onnx"),
                fixture("kitchen_sink.onnx"),
                fixture("tensors.onnx"),
            ];
            let mut bytes = std::fs::read(&path[which]).unwrap();
            for (i, b) in &flips {
                let k = i.index(bytes.len());
                bytes[k] ^= b | 1;
            }
            match parse_onnx(&bytes, "model.onnx") {
                Ok(m) => {
                    let n: usize = m.inputs[0].shape.iter().product();
                    let _ = reference(&m, &[&vec![1.0; n]]);
                    let _ = tessera::attention::import::import(&m);
                    if let Ok(g) = tessera::crossbar::mlp::import_graph(&m) {
                        let cfg = tessera::crossbar::quant::QuantConfig::default();
                        let calib = [vec![1.0; n]];
                        if let Ok((_, q)) = tessera::crossbar::quant::quantize_graph(&g, &calib, &cfg) {
                            let _ = q.forward(&vec![0.5; n]);
                        }
                    }
                }
                Err(e) => prop_assert!(e.to_string().starts_with("model.onnx: "), "{}", e),
            }
        }
    }
}
