//! The attention importer on ONNX graphs exported by PyTorch (tests/fixtures/attention,
//! make_fixtures.py): a torch.nn.MultiheadAttention block matches onnxruntime's outputs, and
//! graphs outside the patterns are refused with the offending nodes named.

use ndarray::Array2;
use ndarray_npy::read_npy;
use std::path::{Path, PathBuf};
use tessera::attention::import::import;
use tessera::attention::AttnError;
use tessera::frontend::onnx::load_onnx;
use tessera::ir::{interp, Tensor};

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/attention").join(name)
}

/// The export runs the block on `[S, 1, D]` (batch in the middle): recognised with reshapes
/// around `attn.mha` (see `attention_cli::torch_multihead_attention_export_runs_the_whole_flow`).
#[test]
fn torch_multihead_attention_block_matches_onnxruntime() {
    let model = load_onnx(&fixture("mha_torch.onnx")).unwrap();
    let g = import(&model).unwrap();
    let heads: Vec<usize> = g
        .topo_order()
        .into_iter()
        .filter_map(|n| g.op(n).dialect::<tessera::attention::ir::MhaOp>().map(|m| m.heads))
        .collect();
    assert_eq!(heads, [4], "one attention layer of 4 heads");
    let x: Array2<f32> = read_npy(fixture("mha_torch_X.npy")).unwrap();
    let y: Array2<f32> = read_npy(fixture("mha_torch_Y.npy")).unwrap(); // onnxruntime
    for i in 0..x.nrows() {
        let out = interp::run(&g, &[Tensor::f32(vec![6, 8], x.row(i).to_vec()).unwrap()]).unwrap();
        let got = out[0].floats().unwrap();
        let err = got.iter().zip(y.row(i)).map(|(a, b)| (a - b).abs()).fold(0f32, f32::max);
        assert!(err < 1e-4, "sample {i}: max |error| {err}");
    }
}

#[test]
fn cross_attention_is_refused() {
    let model = load_onnx(&fixture("cross_attention.onnx")).unwrap();
    let e = import(&model).unwrap_err();
    eprintln!("{e}");
    assert!(!matches!(e, AttnError::Onnx(_)), "{e}");
    assert!(e.to_string().starts_with("cross_attention.onnx: node `/Softmax`: "), "{e}");
    assert!(e.to_string().ends_with("(cross-attention is not supported)"), "{e}");
}

#[test]
fn activation_products_are_reported_by_node() {
    let model = load_onnx(&fixture("elementwise_mul.onnx")).unwrap();
    let e = import(&model).unwrap_err();
    let AttnError::Unsupported { ops, .. } = &e else { panic!("{e}") };
    assert!(ops.iter().any(|o| o.op_type == "Mul"), "{e}");
}
