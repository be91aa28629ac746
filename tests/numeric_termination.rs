//! Every numeric routine ends on every input. NaN, ±inf, ±0, subnormals and ±f32::MAX are
//! driven through every arithmetic op of the float reference (the IR interpreter on imported
//! models, attention ops included) and through every quantizer
//! (crossbar, attention calibration and quantization, CAM threshold and leaf quantization).
//! Each call runs on a watchdog thread: a call that does not end within the deadline fails the
//! test instead of hanging it, and a panic fails it too. What a call returns (a value, NaN, or
//! an error) is not judged here, only that it returns.

mod robust_support;

use ndarray::Array2;
use robust_support::root;
use std::sync::mpsc;
use std::time::Duration;
use tessera::frontend::onnx::proto::{
    attr_type, data_type, AttributeProto, Dimension, GraphProto, ModelProto, NodeProto,
    OperatorSetIdProto, TensorProto, TensorShapeProto, TypeProto, TypeProtoTensor, ValueInfoProto,
};
use tessera::frontend::onnx::{load_onnx, parse_onnx, OnnxModel};
use tessera::ir::{interp, Tensor};

/// Generous for a debug build on a loaded machine; every call here takes milliseconds.
const DEADLINE: Duration = Duration::from_secs(20);

/// The values every routine must survive.
fn specials() -> Vec<f32> {
    vec![
        f32::NAN,
        f32::INFINITY,
        f32::NEG_INFINITY,
        0.0,
        -0.0,
        f32::from_bits(1),            // smallest subnormal
        -f32::from_bits(0x0007_ffff), // a negative subnormal
        f32::MIN_POSITIVE,
        f32::MAX,
        -f32::MAX,
        1.0,
        -2.5,
    ]
}

/// Runs `f` on its own thread; fails if it does not return within [`DEADLINE`] or panics.
fn ends<T: Send + 'static>(what: &str, f: impl FnOnce() -> T + Send + 'static) -> T {
    let (tx, rx) = mpsc::channel();
    let worker = std::thread::Builder::new()
        .name(what.to_string())
        .spawn(move || {
            let _ = tx.send(f());
        })
        .expect("spawn a worker thread");
    match rx.recv_timeout(DEADLINE) {
        Ok(v) => {
            let _ = worker.join();
            v
        }
        // The hung thread is left behind; the process ends with the failing test.
        Err(mpsc::RecvTimeoutError::Timeout) => panic!("{what}: did not end within {DEADLINE:?}"),
        Err(mpsc::RecvTimeoutError::Disconnected) => panic!("{what}: panicked"),
    }
}

fn dims(d: &[i64]) -> Option<TypeProto> {
    Some(TypeProto {
        tensor_type: Some(TypeProtoTensor {
            elem_type: Some(data_type::FLOAT),
            shape: Some(TensorShapeProto {
                dim: d.iter().map(|v| Dimension { dim_value: Some(*v), dim_param: None }).collect(),
            }),
        }),
    })
}

fn input(name: &str, d: &[i64]) -> ValueInfoProto {
    ValueInfoProto { name: Some(name.into()), r#type: dims(d) }
}

fn init(name: &str, d: &[i64], v: Vec<f32>) -> TensorProto {
    TensorProto {
        dims: d.to_vec(),
        data_type: Some(data_type::FLOAT),
        float_data: v,
        name: Some(name.into()),
        ..Default::default()
    }
}

fn node(op: &str, inputs: &[&str], attrs: Vec<AttributeProto>) -> NodeProto {
    NodeProto {
        input: inputs.iter().map(|s| s.to_string()).collect(),
        output: vec!["y".into()],
        name: Some(format!("{op}_0")),
        op_type: Some(op.into()),
        domain: None,
        attribute: attrs,
    }
}

fn str_attr(name: &str, v: &str) -> AttributeProto {
    AttributeProto {
        name: Some(name.into()),
        r#type: Some(attr_type::STRING),
        s: Some(v.as_bytes().to_vec()),
        ..Default::default()
    }
}

/// A one-node model over inputs `a` and `b` (each `[1, 12]`) and finite initializers.
fn one_node(n: NodeProto, inits: Vec<TensorProto>) -> Vec<u8> {
    let m = ModelProto {
        ir_version: Some(9),
        opset_import: vec![OperatorSetIdProto { domain: None, version: Some(20) }],
        producer_name: None,
        producer_version: None,
        graph: Some(GraphProto {
            node: vec![n],
            name: Some("g".into()),
            initializer: inits,
            input: vec![input("a", &[1, 12]), input("b", &[1, 12])],
            output: vec![ValueInfoProto { name: Some("y".into()), r#type: None }],
            value_info: vec![],
        }),
    };
    prost::Message::encode_to_vec(&m)
}

/// The float reference of a model: its import (attention patterns included) under
/// `ir::interp`.
fn evaluate(m: &OnnxModel, xs: &[&[f32]]) -> Result<Vec<Tensor>, String> {
    let g = tessera::attention::import::import(m).map_err(|e| e.to_string())?;
    let inputs = g
        .inputs()
        .iter()
        .zip(xs)
        .map(|(&id, x)| Tensor::f32(g.ty(id).shape.clone(), x.to_vec()))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| e.to_string())?;
    interp::run(&g, &inputs).map_err(|e| e.to_string())
}

/// Every arithmetic op a one-node ONNX model imports to, on the special values in both
/// operand orders. (Mul, Div, Sub, Pow, Mod, Sqrt, Erf, Sign and ReduceMean only exist inside
/// recognised patterns or as load-time folds of finite constants.)
#[test]
fn onnx_reference_ops_end_on_special_values() {
    let n = 12usize;
    let w: Vec<f32> = (0..n * n).map(|k| ((k % 7) as f32 - 3.0) * 0.25).collect();
    let ones = vec![1.0f32; n];
    let zeros = vec![0.0f32; n];
    let cases: Vec<(String, Vec<u8>)> = vec![
        ("Gemm", node("Gemm", &["a", "w"], vec![]), vec![init("w", &[12, 12], w.clone())]),
        ("MatMul", node("MatMul", &["a", "w"], vec![]), vec![init("w", &[12, 12], w.clone())]),
        ("Add", node("Add", &["a", "b"], vec![]), vec![]),
        ("Relu", node("Relu", &["a"], vec![]), vec![]),
        ("Sigmoid", node("Sigmoid", &["a"], vec![]), vec![]),
        ("Tanh", node("Tanh", &["a"], vec![]), vec![]),
        ("Softmax", node("Softmax", &["a"], vec![]), vec![]),
        ("Gelu", node("Gelu", &["a"], vec![]), vec![]),
        ("Gelu tanh", node("Gelu", &["a"], vec![str_attr("approximate", "tanh")]), vec![]),
        (
            "LayerNormalization",
            node("LayerNormalization", &["a", "g", "z"], vec![]),
            vec![init("g", &[12], ones.clone()), init("z", &[12], zeros.clone())],
        ),
    ]
    .into_iter()
    .map(|(name, n, inits)| (name.to_string(), one_node(n, inits)))
    .collect();
    let x = specials();
    let mut y = x.clone();
    y.reverse();
    for (name, bytes) in cases {
        let model = parse_onnx(&bytes, &format!("{name}.onnx"))
            .unwrap_or_else(|e| panic!("{name}: the test model does not load: {e}"));
        for (a, b) in [(x.clone(), y.clone()), (y.clone(), x.clone()), (x.clone(), x.clone())] {
            let m = model.clone();
            let what = format!("ONNX {name}");
            let out = ends(&what, move || evaluate(&m, &[&a, &b]));
            let out = out.unwrap_or_else(|e| panic!("{name}: {e}"));
            assert!(!out.is_empty(), "{name}: no output");
        }
    }
}

/// The scalar routines behind Erf and GELU, on the specials and on values near their
/// branch points.
#[test]
fn erf_and_gelu_end_and_are_defined() {
    use tessera::frontend::onnx::ops_ext::{erf64, gelu64};
    let mut xs: Vec<f64> = specials().into_iter().map(f64::from).collect();
    xs.extend([4.0, -4.0, 3.999_999_999, f64::MAX, f64::MIN_POSITIVE, 5e-324, 1e-300]);
    for x in xs {
        let (e, g, t) = ends("erf/gelu", move || (erf64(x), gelu64(x, false), gelu64(x, true)));
        if x.is_nan() {
            assert!(e.is_nan() && g.is_nan() && t.is_nan(), "NaN in, NaN out");
        } else {
            assert!((-1.0..=1.0).contains(&e), "erf({x}) = {e}");
            if x.is_infinite() {
                assert_eq!(e, x.signum(), "erf({x})");
            }
        }
    }
}

/// Whole shipped models on rows made of special values: the ONNX evaluator (every op of the
/// ViT and the MLPs in sequence) and the IR interpreter on their imports.
#[test]
fn whole_models_end_on_special_inputs() {
    for (path, width) in
        [("examples/vit_digits_had/student.onnx", 64), ("examples/digits_mlp/model.onnx", 64)]
    {
        let model = load_onnx(&root().join(path)).unwrap();
        let sp = specials();
        let rows: Vec<Vec<f32>> = (0..sp.len())
            .map(|k| (0..width).map(|i| sp[(i + k) % sp.len()]).collect())
            .chain(sp.iter().map(|v| vec![*v; width]))
            .collect();
        for row in rows {
            let m = model.clone();
            let r = row.clone();
            let _ = ends(&format!("evaluate {path}"), move || evaluate(&m, &[&r]));
        }
    }
}

fn special_rows(width: usize) -> Array2<f32> {
    let sp = specials();
    let mut rows = Vec::new();
    for k in 0..sp.len() {
        rows.extend((0..width).map(|i| sp[(i + k) % sp.len()]));
    }
    for v in &sp {
        rows.extend(std::iter::repeat_n(*v, width));
    }
    Array2::from_shape_vec((rows.len() / width, width), rows).unwrap()
}

/// IR interpreter (MatMul/Gemm, Add, activations, Softmax, LayerNorm, Gelu, multi-head
/// attention) and the attention calibration and quantizer on special calibration rows.
#[test]
fn ir_interpreter_and_attention_quantizer_end() {
    use tessera::attention::{import::import, quant};
    let model = load_onnx(&root().join("examples/vit_digits_had/student.onnx")).unwrap();
    let g = import(&model).unwrap();
    let ty = g.ty(g.inputs()[0]).clone();
    let calib = special_rows(ty.numel());
    for row in calib.rows() {
        let (g2, x) = (g.clone(), Tensor::f32(ty.shape.clone(), row.to_vec()).unwrap());
        let _ = ends("IR interp (ViT)", move || interp::run(&g2, &[x]));
    }
    let (g2, c) = (g.clone(), calib.clone());
    let _ = ends("attention quant::build", move || {
        quant::build(&g2, &c, &quant::QuantConfig::default()).map(|_| ())
    });
    // A mixed calibration set: mostly real rows, one special row.
    let real =
        tessera::frontend::npy::read_features(&root().join("examples/vit_digits_had/X_calib.npy"))
            .unwrap()
            .data;
    for v in specials() {
        let mut c = real.slice(ndarray::s![..8, ..]).to_owned();
        c.row_mut(3).fill(v);
        let g2 = g.clone();
        let _ = ends("attention quant::build (one special row)", move || {
            quant::build(&g2, &c, &quant::QuantConfig::default()).map(|_| ())
        });
    }
    let xs = specials();
    let _ = ends("pop_std", move || tessera::attention::calib::pop_std(xs.into_iter()));

    let mlp = load_onnx(&root().join("examples/digits_mlp/model.onnx")).unwrap();
    let g = tessera::attention::import::import(&mlp).unwrap();
    let ty = g.ty(g.inputs()[0]).clone();
    for row in special_rows(ty.numel()).rows() {
        let (g2, x) = (g.clone(), Tensor::f32(ty.shape.clone(), row.to_vec()).unwrap());
        let _ = ends("IR interp (MLP)", move || interp::run(&g2, &[x]));
    }
}

/// Crossbar quantization: scale calibration on special rows, the requantization multiplier
/// search on special factors, the host input quantizer.
#[test]
fn crossbar_quantizer_ends() {
    use tessera::crossbar::mlp::import_graph;
    use tessera::crossbar::quant::{
        quantize_graph, Calibration, QuantConfig, Requant, ScaleGranularity,
    };
    let model = load_onnx(&root().join("examples/digits_mlp/model.onnx")).unwrap();
    let graph = import_graph(&model).unwrap();
    let rows: Vec<Vec<f32>> = special_rows(64).rows().into_iter().map(|r| r.to_vec()).collect();
    for cfg in [
        QuantConfig::default(),
        QuantConfig {
            calibration: Calibration::Percentile(99.0),
            weight_scale: ScaleGranularity::PerTensor,
            act_scale: ScaleGranularity::PerTensor,
            input_scale: ScaleGranularity::PerTensor,
            ..QuantConfig::default()
        },
    ] {
        for subset in [rows.clone(), rows[..1].to_vec(), vec![vec![f32::NAN; 64]]] {
            let g = graph.clone();
            let q = ends("crossbar quantize", move || quantize_graph(&g, &subset, &cfg));
            if let Ok((_, q)) = q {
                for x in special_rows(64).rows() {
                    let (q2, x) = (q.clone(), x.to_vec());
                    let _ = ends("quantized forward", move || q2.forward(&x));
                }
            }
        }
    }
    let mut factors: Vec<f64> = specials().into_iter().map(f64::from).collect();
    factors.extend([f64::MAX, f64::MIN_POSITIVE, 5e-324, 1e-30, 1e30, 5.368_709_12e8]);
    for m in factors {
        let _ = ends("Requant::from_real", move || Requant::from_real(m));
    }
}

/// CAM: threshold quantization with special thresholds and training rows, leaf fixed-point
/// choice with special leaves, encoding special inputs.
#[test]
fn cam_quantizer_ends() {
    use tessera::cam::{
        pack::pack,
        quantize::{choose_fixed_point, quantize, QuantConfig},
    };
    use tessera::frontend::trees::{Aggregation, Node, SplitOp, Tree, TreeEnsemble};
    let split = move |feature: u32, threshold: f32| Node::Split {
        feature,
        threshold,
        op: SplitOp::Lt,
        left: 1,
        right: 2,
        missing_left: true,
    };
    let ensemble = move |th: Vec<f32>, lv: Vec<f32>| TreeEnsemble {
        num_features: 3,
        num_outputs: 1,
        base_margin: vec![0.0],
        trees: th
            .iter()
            .enumerate()
            .map(|(k, t)| Tree {
                output: 0,
                nodes: vec![
                    split((k % 3) as u32, *t),
                    Node::Leaf { value: f64::from(lv[(k + 1) % lv.len()]) },
                    Node::Leaf { value: f64::from(lv[(k + 5) % lv.len()]) },
                ],
            })
            .collect(),
        aggregation: Aggregation::Sum,
        objective: "reg:squarederror".into(),
        source: "test".into(),
    };
    // Every special as a threshold (the frontends refuse NaN/inf, the packer must still end)...
    let all = ensemble(specials(), specials());
    let _ = ends("cam pack (all specials)", move || pack(&all).map(|_| ()));
    // ...and the finite ones, which must pack, so quantization is reached.
    let fin: Vec<f32> = specials().into_iter().filter(|t| t.is_finite()).collect();
    let finite = ensemble(fin.clone(), fin);
    let packed = ends("cam pack", move || pack(&finite)).expect("finite thresholds pack");
    let train = special_rows(3);
    for cfg in [QuantConfig::default(), QuantConfig { levels: 2, leaf_bits: 2 }] {
        let (p, t) = (packed.clone(), train.clone());
        let q = ends("cam quantize", move || quantize(&p, &cfg, Some(t.view())));
        if let Ok(q) = q {
            for row in special_rows(3).rows() {
                let (q2, x) = (q.clone(), row.to_vec());
                let _ = ends("cam encode", move || q2.encode(&x).map(|e| q2.totals(&e)));
            }
        }
        let (p, t) = (packed.clone(), train.clone());
        let _ = ends("cam quantize without training rows", move || {
            let _ = t;
            quantize(&p, &cfg, None)
        });
    }
    let sp = specials();
    let leaves: Vec<f64> = (0..packed.rows.len()).map(|k| f64::from(sp[k % sp.len()])).collect();
    for bits in [2, 16, 32] {
        let (p, l) = (packed.clone(), leaves.clone());
        let _ = ends("choose_fixed_point", move || choose_fixed_point(&l, &p, bits));
    }
}
