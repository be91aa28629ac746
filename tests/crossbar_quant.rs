//! Quantization of the example networks: 8-bit weights and activations keep >= 99% argmax
//! agreement with the source framework (onnxruntime / the QONNX executor) on every test set.

use std::path::PathBuf;
use tessera::crossbar::dataset::ExampleData;
use tessera::crossbar::mlp::{extract_mlp, import_graph};
use tessera::crossbar::quant::{argmax_agreement, quantize, quantize_graph, QuantConfig};
use tessera::frontend::onnx::load_onnx;

fn example(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("examples").join(name)
}

/// The float reference: the model's import (what the crossbar family reads) evaluated by
/// `ir::interp`; every output flattened.
fn reference(
    m: &tessera::frontend::onnx::OnnxModel,
    xs: &[&[f32]],
) -> Result<Vec<Vec<f32>>, String> {
    let g = tessera::frontend::onnx::import(m).map_err(|e| e.to_string())?;
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

/// (agreement of the integer datapath with the framework, max abs diff of the float chain).
fn agreement(name: &str, cfg: &QuantConfig) -> (f64, f64) {
    let dir = example(name);
    let model = load_onnx(&dir.join("model.onnx")).unwrap();
    let graph = import_graph(&model).unwrap();
    let data = ExampleData::load(&dir).unwrap();
    // The crossbar's float reference (the interpreter with f64 sums) is the same function as
    // the graph in onnxruntime's f32 arithmetic, up to the rounding of the sums.
    let rows: Vec<Vec<f32>> = data.x_test.iter().take(50).cloned().collect();
    let wide = tessera::crossbar::mlp::reference(&graph, &rows).unwrap();
    let mut chain_err = 0f64;
    for (x, a) in rows.iter().zip(&wide) {
        let b = &reference(&model, &[x]).unwrap()[0];
        for (p, q) in a.iter().zip(b) {
            chain_err = chain_err.max((p - q).abs() as f64);
        }
    }
    let (_, q) = quantize_graph(&graph, &data.x_calib, cfg).unwrap();
    let outs: Vec<Vec<f32>> = data.x_test.iter().map(|x| q.forward(x)).collect();
    let agree = argmax_agreement(&outs, &data.expected);
    eprintln!("{name}: 8-bit integer argmax agreement {agree:.4} over {} samples", outs.len());
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

/// One weight scale per layer and one hidden activation scale per layer (what the IR's
/// single-multiplier `Requantize` needs) keep the agreement while the graph input keeps a scale
/// per feature; one input scale for breast_cancer's raw features (0.05 .. 4000) does not.
#[test]
fn per_tensor_scales_keep_agreement_with_per_feature_inputs() {
    use tessera::crossbar::quant::ScaleGranularity::PerTensor;
    let cfg =
        QuantConfig { weight_scale: PerTensor, act_scale: PerTensor, ..QuantConfig::default() };
    for name in ["digits_mlp", "breast_cancer_mlp", "qonnx_mlp"] {
        let (a, _) = agreement(name, &cfg);
        assert!(a >= 0.99, "{name}: {a}");
    }
    let (a, _) = agreement("breast_cancer_mlp", &QuantConfig { input_scale: PerTensor, ..cfg });
    assert!(a < 0.9, "{a}");
}

/// A two-layer network quantized by hand (every number below derived in the comments), built
/// as the model-level graph the ONNX importer makes: `matmul` by an `[in][out]` constant, `add`
/// of the bias, `relu`.
#[test]
fn two_layer_network_by_hand() {
    use tessera::crossbar::quant::ScaleGranularity::PerTensor;
    use tessera::ir::{Graph, Op, Tensor, TensorType};
    let mut g = Graph::new();
    let x = g.add_input("x", TensorType::f32(vec![2])).unwrap();
    let dense = |g: &mut Graph, x, name: &str, w_out_in: &[f32], bias: &[f32], n_in| {
        let n_out = bias.len();
        // The importer's `[in][out]` weight: the transpose of the rows written below.
        let w: Vec<f32> =
            (0..n_in * n_out).map(|k| w_out_in[(k % n_out) * n_in + k / n_out]).collect();
        let w = g.add(Op::Constant(Tensor::f32(vec![n_in, n_out], w).unwrap()), &[]).unwrap();
        let mm = g.add_named(Op::MatMul, &[x, w], Some(name.into())).unwrap();
        let b = g.add(Op::Constant(Tensor::f32(vec![n_out], bias.to_vec()).unwrap()), &[]);
        g.add(Op::Add, &[mm, b.unwrap()]).unwrap()
    };
    let h = dense(&mut g, x, "l0", &[0.5, -1.0, 0.25, 0.125], &[0.1, -0.2], 2);
    let h = g.add(Op::Relu, &[h]).unwrap();
    let y = dense(&mut g, h, "l1", &[1.0, -1.6], &[0.0], 2);
    g.add_output("y", y).unwrap();
    let calib = vec![vec![1.0, 2.0], vec![-1.0, 0.5]];
    let cfg =
        QuantConfig { input_scale: PerTensor, act_scale: PerTensor, ..QuantConfig::default() };
    let (mlp, q) = quantize_graph(&g, &calib, &cfg).unwrap();
    assert_eq!(mlp.layers.iter().map(|l| l.name.as_str()).collect::<Vec<_>>(), ["l0", "l1"]);
    // Inputs: a negative seen -> signed [-128, 127]; s_in = max|x| / 127 = 2/127.
    assert_eq!((q.input.lo, q.input.hi), (-128, 127));
    assert_eq!(q.input.scale, vec![(2.0f64 / 127.0) as f32; 2]);
    // Layer 0: w' = w * s_in; per-row scales s/127 and 0.25 s/127 (s = s_in), so codes are
    // [0.5*127, -127] = [63.5 -> 64 (ties to even), -127] and [127, 63.5 -> 64].
    let l0 = &q.layers[0];
    assert_eq!(l0.w, vec![64, -127, 127, 64]);
    // Bias: 0.1 / (s/127) = 0.1 * 127^2 / 2 = 806.45 -> 806; -0.2 / (0.25 s/127) = -6451.6 -> -6452.
    assert_eq!(q.tails[0].bias, vec![806, -6452]);
    // Hidden: relu(W0 x + b0) on calib = [0, 0.3] and [0, 0] -> unsigned, s_h = 0.3 / 255.
    let Some(r) = &q.tails[0].requant else { panic!() };
    let (lo, hi) = (&r.lo, &r.hi);
    assert_eq!((*lo, *hi), (0, 255));
    // Layer 1: w' = [s_h, -1.6 s_h], scale 1.6 s_h / 127: codes [79.375 -> 79, -127], bias 0.
    assert_eq!(q.layers[1].w, vec![79, -127]);
    assert_eq!(q.tails[1].bias, vec![0]);
    assert!(q.tails[1].requant.is_none());
    // x = [0.5, 2.0] -> codes [31.75 -> 32, 127].
    let codes = q.input.quantize(&[0.5, 2.0]);
    assert_eq!(codes, vec![32, 127]);
    // acc0 = 64*32 - 127*127 + 806 = -13275 -> relu -> 0.
    // acc1 = 127*32 + 64*127 - 6452 = 5740 -> 5740 * (0.5/127^2) / (0.3/255) = 151.25 -> 151.
    // Output acc = 79*0 - 127*151 = -19177, times 1.6 s_h / 127 = -19177 * 0.48 / (255 * 127).
    assert_eq!(q.accumulators(&codes), vec![-19177]);
    let y = q.forward(&[0.5, 2.0]);
    assert!((y[0] as f64 - (-19177.0 * 0.48 / (255.0 * 127.0))).abs() < 1e-5, "{y:?}");
    // The float network gives 1*0 - 1.6*(0.125 + 0.25 - 0.2) = -0.28.
    let float = tessera::crossbar::mlp::reference(&g, &[vec![0.5, 2.0]]).unwrap();
    assert!((float[0][0] + 0.28).abs() < 1e-6, "{float:?}");
}

#[test]
fn non_chain_models_are_rejected_with_the_node() {
    let fx = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/onnx");
    let e = extract_mlp(&load_onnx(&fx.join("kitchen_sink.onnx")).unwrap()).unwrap_err();
    assert_eq!(
        e,
        tessera::crossbar::error::XbarError::Model(
            "kitchen_sink.onnx: crossbar mapping needs one graph input and one output, found 1 \
             and 2"
                .into()
        )
    );
}

#[test]
fn sigmoid_between_layers_is_not_an_integer_datapath() {
    use tessera::crossbar::mlp::Activation;
    let dir = example("digits_mlp");
    let mut mlp = extract_mlp(&load_onnx(&dir.join("model.onnx")).unwrap()).unwrap();
    mlp.layers[0].activation = Activation::Sigmoid;
    let seen = vec![vec![0.0; 64]; mlp.layers.len()];
    let e = quantize(&mlp, &seen, 1, &QuantConfig::default()).unwrap_err();
    assert_eq!(
        e.to_string(),
        "layer `node_linear` uses Sigmoid between layers; the integer crossbar datapath supports Relu or no activation there (Sigmoid and Tanh only after the last layer)"
    );
    // Without calibration data there is no activation range to quantize with.
    mlp.layers[0].activation = Activation::Relu;
    let e =
        quantize(&mlp, &vec![vec![]; mlp.layers.len()], 0, &QuantConfig::default()).unwrap_err();
    assert!(e.to_string().starts_with("activation ranges need calibration data"), "{e}");
}

/// A `.tess` description of `dir`'s model on `rram_1t1r` with the given instance arguments.
fn load(dir: &std::path::Path, model: &str, inst_args: &str) -> tessera::dsl::Loaded {
    let text = format!(
        "use crossbar;\naccelerator q {{\n    model net = onnx(\"{model}\");\n    \
         inst xbar = crossbar::rram_1t1r({inst_args});\n    \
         map net -> xbar using crossbar_tile();\n}}\n"
    );
    let name = dir.join("variant.tess");
    let name = name.to_str().unwrap().to_string();
    tessera::dsl::load_sources(&[(&name, text.as_str())], &tessera::flow::catalog::load_options())
}

fn job(dir: &std::path::Path, model: &str, inst_args: &str) -> tessera::flow::Job {
    let loaded = load(dir, model, inst_args);
    assert!(!loaded.has_errors(), "{:?}", loaded.diagnostics);
    tessera::flow::Job::new(loaded.accelerators.into_iter().next().unwrap(), None).unwrap()
}

#[test]
fn qonnx_model_runs_the_whole_flow() {
    let dir = example("qonnx_mlp");
    let data = ExampleData::load(&dir).unwrap();
    // 2-bit cells, a 9-bit ADC that converts a 128-row column of them without loss, and
    // (practically) no off-state leakage: the chip computes the exact integer network.
    let j = job(&dir, "model.onnx", "cell_bits = 2, adc_bits = 9, on_off = 1e12");
    let c = tessera::flow::compile(&j).unwrap();
    let flat: Vec<f32> = data.x_test.iter().flatten().copied().collect();
    let x =
        ndarray::Array2::from_shape_vec((data.x_test.len(), data.x_test[0].len()), flat).unwrap();
    let run = c.simulate(x.view()).unwrap();
    // Trained 4-bit weights: 3 magnitude bits in 2 slices of 2-bit cells, x2 polarities.
    for l in run.section["layers"].as_array().unwrap() {
        assert_eq!((&l["stored_bits"], &l["cols_per_weight"]), (&3.into(), &4.into()), "{l}");
    }
    let outs: Vec<Vec<f32>> = run.outputs.rows().into_iter().map(|r| r.to_vec()).collect();
    assert_eq!(argmax_agreement(&outs, &data.expected), 1.0);
    // A missing model is the description's error, with the path.
    let loaded = load(&dir, "missing.onnx", "");
    let e = &loaded.diagnostics.first().expect("a diagnostic").message;
    assert!(e.starts_with("cannot read model file") && e.contains("missing.onnx"), "{e}");
}
