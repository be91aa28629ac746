//! `attn-recognize`: the attention family's patterns as a pass over the imported core ops.
//! A decomposed LayerNorm and an erf-form GELU written as core ops (what an opset < 17 export
//! imports as) are rewritten into `layer_norm` and `gelu` (dump snapshot), and the rewritten
//! graph computes what the core ops compute; the shipped HAD student imports without any
//! pattern (Sign, batched score product, erf GELU as core ops) and the pass finds both attention
//! blocks with their trained sigmas, keeping the model's outputs.

use ndarray::Array2;
use ndarray_npy::read_npy;
use std::path::{Path, PathBuf};
use tessera::attention::ir::{MhaOp, QkMode};
use tessera::frontend::onnx::load_onnx;
use tessera::ir::nn::{gelu, LayerNormOp};
use tessera::ir::{interp, Graph, NodeId, Op, Tensor, TensorType};
use tessera::passes::{DumpPoint, PassEnv, PassManager};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).to_path_buf()
}

fn scalar(g: &mut Graph, v: f32) -> NodeId {
    g.add(Op::Constant(Tensor::f32(vec![1], vec![v]).unwrap()), &[]).unwrap()
}

const GAMMA: [f32; 4] = [1.5, -0.5, 2.0, 0.25];
const BETA: [f32; 4] = [0.1, 0.0, -0.3, 1.0];
const EPS: f32 = 1e-5;

/// `gelu(layer_norm(x))` on `[3, 4]`, both written out in core ops the way PyTorch exports them
/// below opset 17; `share_mean` also sends the first mean to a second output, so the LayerNorm
/// is not self-contained.
fn decomposed(share_mean: bool) -> Graph {
    let mut g = Graph::new();
    let x = g.add_input("x", TensorType::f32(vec![3, 4])).unwrap();
    let mean = |g: &mut Graph, v| g.add(Op::ReduceMean { axes: vec![1], keepdims: true }, &[v]);
    let m1 = mean(&mut g, x).unwrap();
    let centred = g.add(Op::Sub, &[x, m1]).unwrap();
    let two = scalar(&mut g, 2.0);
    let sq = g.add(Op::Pow, &[centred, two]).unwrap();
    let var = mean(&mut g, sq).unwrap();
    let eps = scalar(&mut g, EPS);
    let ve = g.add(Op::Add, &[var, eps]).unwrap();
    let sd = g.add(Op::Sqrt, &[ve]).unwrap();
    let normed = g.add(Op::Div, &[centred, sd]).unwrap();
    let gamma = g.add(Op::Constant(Tensor::f32(vec![4], GAMMA.to_vec()).unwrap()), &[]).unwrap();
    let scaled = g.add(Op::Mul, &[normed, gamma]).unwrap();
    let beta = g.add(Op::Constant(Tensor::f32(vec![4], BETA.to_vec()).unwrap()), &[]).unwrap();
    let ln = g.add(Op::Add, &[scaled, beta]).unwrap();
    // GELU: (ln * (erf(ln / sqrt 2) + 1)) * 0.5
    let r2 = scalar(&mut g, std::f32::consts::SQRT_2);
    let d = g.add(Op::Div, &[ln, r2]).unwrap();
    let e = g.add(Op::Erf, &[d]).unwrap();
    let one = scalar(&mut g, 1.0);
    let e1 = g.add(Op::Add, &[e, one]).unwrap();
    let xm = g.add(Op::Mul, &[ln, e1]).unwrap();
    let half = scalar(&mut g, 0.5);
    let y = g.add(Op::Mul, &[xm, half]).unwrap();
    g.add_output("y", y).unwrap();
    if share_mean {
        g.add_output("mean", m1).unwrap();
    }
    g
}

fn recognise(g: &Graph, dumps: Vec<DumpPoint>) -> (Graph, String) {
    let pm = PassManager::parse_pipeline(&tessera::flow::registry(), "attn-recognize")
        .unwrap()
        .with_dumps(dumps);
    let out = pm.run(g, PassEnv::default()).unwrap();
    (out.graph, out.dumps.iter().map(|d| d.render()).collect())
}

fn mnemonics(g: &Graph) -> Vec<&'static str> {
    g.topo_order().into_iter().map(|n| g.op(n).mnemonic()).collect()
}

fn sample(k: usize) -> Vec<f32> {
    (0..12).map(|i| ((i * 7 + k * 5) % 11) as f32 * 0.37 - 1.8).collect()
}

#[test]
fn decomposed_layer_norm_and_gelu_become_one_op_each() {
    let (g, text) = recognise(&decomposed(false), vec![DumpPoint::All]);
    insta::assert_snapshot!(text);
    assert_eq!(mnemonics(&g), ["input", "layer_norm", "gelu", "output"]);
    let Op::LayerNorm(ln) = g.op(g.topo_order()[1]) else { panic!("{:?}", mnemonics(&g)) };
    assert_eq!(**ln, LayerNormOp { eps: EPS, gamma: GAMMA.to_vec(), beta: BETA.to_vec() });
}

/// The core ops (f32 arithmetic, ONNX order) and the recognised ops (the family's reference,
/// f64 inside) agree to float32 rounding on the same inputs; the recognised graph is exactly
/// the reference's `layer_norm` then `gelu`.
#[test]
fn core_ops_and_the_recognised_ops_compute_the_same() {
    let core = decomposed(false);
    let (rec, _) = recognise(&core, vec![]);
    let ln = LayerNormOp { eps: EPS, gamma: GAMMA.to_vec(), beta: BETA.to_vec() };
    for k in 0..8 {
        let x = sample(k);
        let t = Tensor::f32(vec![3, 4], x.clone()).unwrap();
        let a = interp::run(&core, std::slice::from_ref(&t)).unwrap()[0].floats().unwrap().to_vec();
        let b = interp::run(&rec, &[t]).unwrap()[0].floats().unwrap().to_vec();
        let want: Vec<f32> = ln.eval(&x).iter().map(|&v| gelu(v, false)).collect();
        assert_eq!(b, want, "sample {k}");
        for (p, q) in a.iter().zip(&b) {
            assert!((p - q).abs() <= 1e-5 * q.abs().max(1.0), "sample {k}: {p} vs {q}");
        }
    }
}

/// GELU's tanh approximation written out, `0.5 * (x * (1 + tanh(sqrt(2/pi) * (x + 0.044715 *
/// x^3))))` with the cube as `x * (x * x)` (PyTorch's export below opset 20) or `pow(x, 3)`:
/// one `gelu {approximate = tanh}`, computing what the core ops compute.
#[test]
fn tanh_gelu_becomes_one_op() {
    for pow in [false, true] {
        let mut g = Graph::new();
        let x = g.add_input("x", TensorType::f32(vec![12])).unwrap();
        let cube = if pow {
            let three = scalar(&mut g, 3.0);
            g.add(Op::Pow, &[x, three]).unwrap()
        } else {
            let sq = g.add(Op::Mul, &[x, x]).unwrap();
            g.add(Op::Mul, &[x, sq]).unwrap()
        };
        let kappa = scalar(&mut g, 0.044715);
        let k = g.add(Op::Mul, &[kappa, cube]).unwrap();
        let inner = g.add(Op::Add, &[x, k]).unwrap();
        let beta = scalar(&mut g, (2.0 / std::f32::consts::PI).sqrt());
        let scaled = g.add(Op::Mul, &[beta, inner]).unwrap();
        let t = g.add(Op::Tanh, &[scaled]).unwrap();
        let one = scalar(&mut g, 1.0);
        let t1 = g.add(Op::Add, &[one, t]).unwrap();
        let xt = g.add(Op::Mul, &[x, t1]).unwrap();
        let half = scalar(&mut g, 0.5);
        let y = g.add(Op::Mul, &[half, xt]).unwrap();
        g.add_output("y", y).unwrap();
        let (rec, _) = recognise(&g, vec![]);
        assert_eq!(mnemonics(&rec), ["input", "gelu", "output"], "pow = {pow}");
        assert_eq!(rec.op(rec.topo_order()[1]), &Op::Gelu { tanh: true });
        let v = sample(1);
        let t = Tensor::f32(vec![12], v.clone()).unwrap();
        let a = interp::run(&g, std::slice::from_ref(&t)).unwrap()[0].floats().unwrap().to_vec();
        let b = interp::run(&rec, &[t]).unwrap()[0].floats().unwrap().to_vec();
        let want: Vec<f32> = v.iter().map(|&x| gelu(x, true)).collect();
        assert_eq!(b, want);
        for (p, q) in a.iter().zip(&b) {
            assert!((p - q).abs() <= 1e-5 * q.abs().max(1.0), "{p} vs {q}");
        }
    }
}

/// A LayerNorm whose mean another output reads is left as core ops (rewriting it would drop a
/// value still in use); the GELU after it is still recognised.
#[test]
fn shared_intermediates_keep_the_core_ops() {
    let (g, _) = recognise(&decomposed(true), vec![]);
    let ops = mnemonics(&g);
    assert!(ops.contains(&"reduce_mean") && !ops.contains(&"layer_norm"), "{ops:?}");
    assert!(ops.contains(&"gelu") && !ops.contains(&"erf"), "{ops:?}");
}

/// The shipped HAD student imports as core ops and `attn-recognize` finds its two attention
/// blocks (binary Q/K with the trained sigmas) and GELUs; outputs stay those of the core graph
/// up to float32 rounding (the recognised block binarizes sign(0) to +1, never hit here).
#[test]
fn the_student_is_recognised_from_core_ops() {
    let dir = root().join("examples/vit_digits_had");
    let m = load_onnx(&dir.join("student.onnx")).unwrap();
    let core = tessera::frontend::onnx::import(&m).unwrap();
    assert!(mnemonics(&core).contains(&"sign"));
    let (rec, _) = recognise(&core, vec![]);
    let blocks: Vec<&MhaOp> =
        rec.topo_order().into_iter().filter_map(|n| rec.op(n).dialect::<MhaOp>()).collect();
    assert_eq!(blocks.len(), 2);
    assert!(blocks.iter().all(|b| b.heads == 2 && matches!(b.qk, QkMode::Binary { .. })));
    let ops = mnemonics(&rec);
    for gone in ["sign", "erf", "mul", "div", "softmax"] {
        assert!(!ops.contains(&gone), "{gone} left after recognition: {ops:?}");
    }
    assert_eq!(ops.iter().filter(|o| **o == "gelu").count(), 2);
    // The family's own import gives the same graph.
    let fam = tessera::attention::import::import(&m).unwrap();
    assert_eq!(mnemonics(&fam), ops);
    let x: Array2<f32> = read_npy(dir.join("X_test.npy")).unwrap();
    let mut worst = 0f32;
    for row in x.rows().into_iter().take(20) {
        let t = Tensor::f32(vec![64], row.to_vec()).unwrap();
        let a = interp::run(&core, std::slice::from_ref(&t)).unwrap()[0].floats().unwrap().to_vec();
        let b = interp::run(&rec, &[t]).unwrap()[0].floats().unwrap().to_vec();
        for (p, q) in a.iter().zip(&b) {
            worst = worst.max((p - q).abs() / q.abs().max(1.0));
        }
    }
    assert!(worst < 1e-4, "core vs recognised: max relative difference {worst}");
}

/// Through the CLI: the dump before `attn-recognize` holds the core ops, the dump after it the
/// `attn.mha` nodes.
#[test]
fn dump_ir_shows_the_rewrite() {
    let dir = root().join("examples/vit_digits_had");
    let out = assert_cmd::Command::cargo_bin("tessera")
        .unwrap()
        .args(["sim", "accel.tess", "--data", "X_test.npy"])
        .args(["--dump-ir", "before:attn-recognize", "--dump-ir", "after:attn-recognize"])
        .current_dir(&dir)
        .assert()
        .success();
    let text = String::from_utf8_lossy(&out.get_output().stdout).to_string();
    let after = text.find("IR after attn-recognize").expect("no dump after attn-recognize");
    let (before, after) = text.split_at(after);
    assert!(before.contains("IR before attn-recognize"), "{before}");
    assert!(before.contains(" = sign(") && !before.contains("attn.mha("), "{before}");
    assert_eq!(after.matches("attn.mha(").count(), 2, "{after}");
    assert!(!after.contains(" = sign("), "{after}");
}

/// Cross-attention (queries and keys/values from different tensors) imports as core ops; the
/// pass refuses it, naming the softmax it was anchored on and why.
#[test]
fn cross_attention_is_refused_by_the_pass() {
    let m = load_onnx(&root().join("tests/fixtures/attention/cross_attention.onnx")).unwrap();
    let core = tessera::frontend::onnx::import(&m).unwrap();
    let pm = PassManager::parse_pipeline(&tessera::flow::registry(), "attn-recognize").unwrap();
    let e = pm.run(&core, PassEnv::default()).unwrap_err().to_string();
    assert!(e.contains("attn-recognize"), "{e}");
    assert!(e.contains("node `/Softmax`: attention block: Q, K and V are projected"), "{e}");
    assert!(e.ends_with("(cross-attention is not supported)"), "{e}");
}
