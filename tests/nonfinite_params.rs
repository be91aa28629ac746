//! Non-finite and unrepresentable model parameters are refused where they are read, with a
//! stable code (E0101 not finite, E0102 not representable) naming the file, the tensor or
//! field, the first bad index and the count — and quickly: a NaN patch-embedding weight once
//! made `sim` spin forever in GELU's erf. The mutated models are built here, from the shipped
//! examples, through the frontend's own prost types.

mod robust_support;

use ndarray_npy::{ReadNpyExt, WriteNpyExt};
use robust_support::{read_model, root, run_tessera, set_float, write_model, Run};
use std::time::Duration;
use tessera::diagnostics::Code;
use tessera::frontend::onnx::proto::{attr_type, data_type, AttributeProto, NodeProto};
use tessera::frontend::onnx::{parse_onnx, OnnxError};
use tessera::frontend::{lightgbm, treelite, xgboost, FrontendError};

/// Kill deadline. A refused parameter takes well under a second in release; the slack is for a
/// loaded 2-core CI machine, and a hang (the bug) still fails.
const DEADLINE: Duration = Duration::from_secs(30);

const TRAILER: &str = "a model parameter must be a finite number: retrain or re-export the \
                       model without NaN/inf";

fn sim(args: &[&str]) -> Run {
    let r = run_tessera(args, DEADLINE);
    assert!(!r.timed_out(), "sim {args:?} did not finish in {DEADLINE:?}");
    eprintln!("{args:?}: {:?} in {:?}\n{}", r.code(), r.elapsed, r.stderr);
    r
}

/// The first line of stderr, which carries the error.
fn first_line(r: &Run) -> &str {
    r.stderr.lines().next().unwrap_or("")
}

/// `sim` of the ViT example with one initializer element set to `value`.
fn vit_with(tensor: &str, index: usize, value: f32) -> Run {
    let dir = tempfile::tempdir().unwrap();
    let mut m = read_model(&root().join("examples/vit_digits_had/student.onnx"));
    set_float(&mut m, tensor, index, value);
    let model = write_model(&m, dir.path(), "student.onnx");
    sim(&[
        "sim",
        "examples/vit_digits_had/accel.tess",
        "--model",
        model.to_str().unwrap(),
        "--calib",
        "examples/vit_digits_had/X_calib.npy",
        "--data",
        "examples/vit_digits_had/X_test.npy",
    ])
}

#[test]
fn vit_nan_patch_embedding_is_refused_not_a_hang() {
    let r = vit_with("onnx::MatMul_179", 0, f32::NAN);
    assert_eq!(r.code(), Some(1));
    assert_eq!(
        first_line(&r),
        format!(
            "error[E0101]: student.onnx: graph.initializer[onnx::MatMul_179]: 1 non-finite value \
             (the first, NaN, at index 0 = [0, 0] of [4, 32]); {TRAILER}"
        )
    );
    assert!(r.elapsed < Duration::from_secs(10), "took {:?}", r.elapsed);
}

#[test]
fn vit_nan_after_the_last_gelu_is_refused_not_silent() {
    for tensor in ["head.weight", "onnx::MatMul_197"] {
        let r = vit_with(tensor, 5, f32::NAN);
        assert_eq!(r.code(), Some(1), "{tensor}");
        let line = first_line(&r);
        assert!(
            line.starts_with(&format!(
                "error[E0101]: student.onnx: graph.initializer[{tensor}]: 1 non-finite value (the \
                 first, NaN, at index 5 = "
            )),
            "{line}"
        );
        assert!(r.stdout.is_empty(), "no results are printed: {}", r.stdout);
    }
}

#[test]
fn vit_infinities_are_refused_and_counted() {
    let dir = tempfile::tempdir().unwrap();
    let mut m = read_model(&root().join("examples/vit_digits_had/student.onnx"));
    set_float(&mut m, "onnx::MatMul_179", 33, f32::INFINITY);
    set_float(&mut m, "onnx::MatMul_179", 40, f32::NEG_INFINITY);
    let bytes = prost::Message::encode_to_vec(&m);
    let e = parse_onnx(&bytes, "student.onnx").unwrap_err();
    let OnnxError::Param(p) = &e else { panic!("not a parameter error: {e}") };
    assert_eq!((p.code, p.first, p.count), (Code::E0101, 33, 2));
    assert!(p.message.contains("the first, inf, at index 33 = [1, 1] of [4, 32]"), "{e}");
    drop(dir);
}

/// The digits MLP's first weight tensor and a `sim` of the example with its first element
/// set to `value`.
fn digits_with(value: f32) -> (String, Run) {
    digits_with_at(value, &[0])
}

/// The same with every listed element set.
fn digits_with_at(value: f32, at: &[usize]) -> (String, Run) {
    let src = root().join("examples/digits_mlp/model.onnx");
    let model = tessera::frontend::onnx::load_onnx(&src).unwrap();
    let first = model
        .nodes
        .iter()
        .find(|n| {
            matches!(
                n.op,
                tessera::frontend::onnx::Op::Gemm { .. } | tessera::frontend::onnx::Op::MatMul
            )
        })
        .map(|n| n.inputs[1].clone())
        .expect("a dense layer");
    let dir = tempfile::tempdir().unwrap();
    let mut m = read_model(&src);
    for i in at {
        set_float(&mut m, &first, *i, value);
    }
    let path = write_model(&m, dir.path(), "model.onnx");
    let r = sim(&[
        "sim",
        "examples/digits_mlp/accel.tess",
        "--model",
        path.to_str().unwrap(),
        "--calib",
        "examples/digits_mlp/X_calib.npy",
        "--data",
        "examples/digits_mlp/X_test.npy",
    ]);
    (first, r)
}

#[test]
fn mlp_nan_weight_is_refused_not_silent() {
    let (w, r) = digits_with(f32::NAN);
    assert_eq!(r.code(), Some(1));
    let line = first_line(&r);
    assert!(
        line.starts_with(&format!(
            "error[E0101]: model.onnx: graph.initializer[{w}]: 1 non-finite value (the first, \
             NaN, at index 0 = [0, 0] of "
        )),
        "{line}"
    );
    assert!(!r.stdout.contains("agreement"), "{}", r.stdout);
}

#[test]
fn mlp_infinite_weight_is_e0101_naming_the_tensor() {
    let (w, r) = digits_with(f32::INFINITY);
    assert_eq!(r.code(), Some(1));
    assert!(
        first_line(&r).starts_with(&format!("error[E0101]: model.onnx: graph.initializer[{w}]: "))
    );
}

/// 3e38 on the corner pixel (always 0 in the digits data): finite in float32 everywhere, but
/// no i32 multiplier holds the requantization factor its scale needs.
#[test]
fn mlp_huge_weight_is_e0102_naming_the_tensor_and_limit() {
    let (w, r) = digits_with(3e38);
    assert_eq!(r.code(), Some(1));
    let line = first_line(&r);
    assert!(
        line.starts_with(&format!("error[E0102]: model.onnx: weight `{w}` of layer `")),
        "{line}"
    );
    assert!(line.contains("largest |weight| 3e38 (at index 0)"), "{line}");
    assert!(line.contains("requantization factors below 2^29"), "{line}");
}

/// 3e38 on every weight: the float32 reference itself overflows during calibration; refused
/// before any pass runs.
#[test]
fn mlp_weights_overflowing_float32_are_e0102_before_any_pass() {
    let all: Vec<usize> = (0..64).collect();
    let (w, r) = digits_with_at(3e38, &all);
    assert_eq!(r.code(), Some(1));
    let line = first_line(&r);
    assert!(
        line.starts_with(&format!("error[E0102]: model.onnx: weight `{w}` of layer `")),
        "{line}"
    );
    assert!(line.contains("overflow float32 on calibration sample 0"), "{line}");
    assert!(line.contains("beyond 3.4028235e38"), "{line}");
    assert!(!r.stderr.contains("pass"), "{}", r.stderr);
}

/// A digits MLP with one extra (unused) `Constant` node carrying `attr`.
fn with_constant(attr: AttributeProto) -> Result<(), OnnxError> {
    let mut m = read_model(&root().join("examples/digits_mlp/model.onnx"));
    m.graph.as_mut().unwrap().node.insert(
        0,
        NodeProto {
            input: vec![],
            output: vec!["extra_c".into()],
            name: Some("extra".into()),
            op_type: Some("Constant".into()),
            domain: None,
            attribute: vec![attr],
        },
    );
    parse_onnx(&prost::Message::encode_to_vec(&m), "model.onnx").map(|_| ())
}

fn attr(name: &str, ty: i32) -> AttributeProto {
    AttributeProto { name: Some(name.into()), r#type: Some(ty), ..Default::default() }
}

#[test]
fn constant_nodes_are_checked() {
    let a = AttributeProto {
        floats: vec![1.0, f32::NAN, f32::NAN],
        ..attr("value_floats", attr_type::FLOATS)
    };
    let e = with_constant(a).unwrap_err();
    assert_eq!(e.code(), Code::E0101);
    assert_eq!(
        e.to_string(),
        format!(
            "model.onnx: graph.node `extra` (Constant).attribute[value_floats]: 2 non-finite \
             values (the first, NaN, at index 1); {TRAILER}"
        )
    );
    let a = AttributeProto { f: Some(f32::NEG_INFINITY), ..attr("value_float", attr_type::FLOAT) };
    assert_eq!(with_constant(a).unwrap_err().code(), Code::E0101);
    // A FLOAT16 tensor value holding +inf (0x7c00).
    let t = tessera::frontend::onnx::proto::TensorProto {
        dims: vec![2],
        data_type: Some(data_type::FLOAT16),
        raw_data: Some(vec![0x00, 0x3c, 0x00, 0x7c]),
        ..Default::default()
    };
    let a = AttributeProto { t: Some(t), ..attr("value", attr_type::TENSOR) };
    let e = with_constant(a).unwrap_err();
    assert!(
        e.to_string().contains(
            "(Constant).attribute[value]: 1 non-finite value (the first, inf, at index 1)"
        ),
        "{e}"
    );
    // Finite constants, ±0 and subnormals included, are fine.
    let a = AttributeProto {
        floats: vec![0.0, -0.0, 1e-45, f32::MAX],
        ..attr("value_floats", attr_type::FLOATS)
    };
    with_constant(a).unwrap();
}

#[test]
fn double_initializer_beyond_f32_is_e0102() {
    let mut m = read_model(&root().join("examples/digits_mlp/model.onnx"));
    let g = m.graph.as_mut().unwrap();
    let t = &mut g.initializer[0];
    let n: i64 = t.dims.iter().product();
    t.data_type = Some(data_type::DOUBLE);
    t.raw_data = None;
    t.float_data.clear();
    t.double_data = vec![0.5; n as usize];
    t.double_data[3] = 1e300;
    t.double_data[4] = -1e39;
    let name = t.name.clone().unwrap();
    let e = parse_onnx(&prost::Message::encode_to_vec(&m), "model.onnx").unwrap_err();
    assert_eq!(e.code(), Code::E0102);
    let msg = e.to_string();
    assert!(msg.starts_with(&format!("model.onnx: graph.initializer[{name}]: 2 values beyond the largest f32 (3.4028234663852886e38) (the first, 1e300, at index 3")), "{msg}");
}

#[test]
fn gemm_alpha_must_be_finite() {
    let mut m = read_model(&root().join("examples/digits_mlp/model.onnx"));
    let g = m.graph.as_mut().unwrap();
    let gemm = g.node.iter_mut().find(|n| n.op_type.as_deref() == Some("Gemm"));
    let gemm = gemm.expect("the digits MLP is exported with Gemm nodes");
    gemm.attribute.retain(|a| a.name.as_deref() != Some("alpha"));
    gemm.attribute.push(AttributeProto { f: Some(f32::NAN), ..attr("alpha", attr_type::FLOAT) });
    let e = parse_onnx(&prost::Message::encode_to_vec(&m), "model.onnx").unwrap_err();
    assert_eq!(e.code(), Code::E0101, "{e}");
    assert!(
        e.to_string().contains(
            "(Gemm).attribute[alpha, beta]: 1 non-finite value (the first, NaN, at index 0)"
        ),
        "{e}"
    );
}

fn text(path: &str) -> String {
    std::fs::read_to_string(root().join(path)).unwrap()
}

fn code_of(e: &FrontendError) -> Option<Code> {
    Some(e.code())
}

#[test]
fn xgboost_nan_literal_threshold_is_e0101() {
    let src = text("examples/iris_xgb/model.json");
    let at = src.find("\"split_conditions\":[").unwrap() + "\"split_conditions\":[".len();
    let end = at + src[at..].find(',').unwrap();
    let bad = format!("{}NaN{}", &src[..at], &src[end..]);
    let e = xgboost::parse_str(&bad, "model.json").unwrap_err();
    assert_eq!(code_of(&e), Some(Code::E0101), "{e}");
    assert!(e.to_string().contains("1 NaN/Infinity literal (the first here)"), "{e}");
    // Out of the float32 range: finite in the file, not representable.
    let big = format!("{}1E39{}", &src[..at], &src[end..]);
    let e = xgboost::parse_str(&big, "model.json").unwrap_err();
    assert_eq!(code_of(&e), Some(Code::E0102), "{e}");
    assert!(
        e.to_string().contains(
            ".split_conditions: 1 value outside the float32 range (the first at index 0)"
        ),
        "{e}"
    );
}

#[test]
fn xgboost_base_score_spelled_nan_is_e0101() {
    let src = text("examples/iris_xgb/model.json");
    let at = src.find("\"base_score\":\"").unwrap() + "\"base_score\":\"".len();
    let end = at + src[at..].find('"').unwrap();
    let bad = format!("{}[NaN,5E-1,inf]{}", &src[..at], &src[end..]);
    let e = xgboost::parse_str(&bad, "model.json").unwrap_err();
    assert_eq!(code_of(&e), Some(Code::E0101), "{e}");
    assert!(e.to_string().contains("learner.learner_model_param.base_score: 2 non-finite values (the first, NaN, at index 0)"), "{e}");
}

#[test]
fn lightgbm_non_finite_thresholds_and_leaves_are_e0101() {
    let src = text("examples/diabetes_lgbm/model.txt");
    let line = src.lines().find(|l| l.starts_with("threshold=")).unwrap();
    let mut parts: Vec<String> = line.split(' ').map(String::from).collect();
    parts[2] = "-inf".into();
    parts[4] = "nan".into();
    let bad = src.replacen(line, &parts.join(" "), 1);
    let e = lightgbm::parse_str(&bad, "model.txt").unwrap_err();
    assert_eq!(code_of(&e), Some(Code::E0101), "{e}");
    assert!(e.to_string().starts_with("model.txt: Tree=0 threshold (line 17): 2 non-finite values (the first, -inf, at index 2)"), "{e}");
    let line = src.lines().find(|l| l.starts_with("leaf_value=")).unwrap();
    let first = line["leaf_value=".len()..].split(' ').next().unwrap();
    let bad = src.replacen(line, &line.replacen(first, "NaN", 1), 1);
    let e = lightgbm::parse_str(&bad, "model.txt").unwrap_err();
    assert_eq!(code_of(&e), Some(Code::E0101), "{e}");
    assert!(e.to_string().contains("leaf_value (line"), "{e}");
    assert!(e.to_string().contains("1 non-finite value (the first, NaN, at index 0)"), "{e}");
}

#[test]
fn treelite_nan_leaf_and_huge_threshold() {
    let src = text("examples/rf_treelite/model.json");
    let at = src.find("\"leaf_value\":").unwrap() + "\"leaf_value\":".len();
    let close = at + src[at..].find(']').unwrap();
    let bad = format!("{}[NaN,Infinity,0.0]{}", &src[..at], &src[close + 1..]);
    let e = treelite::parse_str(&bad, "model.json").unwrap_err();
    assert_eq!(code_of(&e), Some(Code::E0101), "{e}");
    assert!(e.to_string().contains("2 NaN/Infinity literals (the first here)"), "{e}");
    let at = src.find("\"threshold\":").unwrap() + "\"threshold\":".len();
    let end = at + src[at..].find(',').unwrap();
    let big = format!("{}1e400{}", &src[..at], &src[end..]);
    let e = treelite::parse_str(&big, "model.json").unwrap_err();
    assert_eq!(code_of(&e), Some(Code::E0102), "{e}");
    assert!(e.to_string().contains(".threshold: 1 value outside the float64 range"), "{e}");
}

#[test]
fn tree_cli_prints_the_code_and_nan_inputs_still_follow_default_left() {
    let dir = tempfile::tempdir().unwrap();
    let src = text("examples/iris_xgb/model.json");
    let at = src.find("\"split_conditions\":[").unwrap() + "\"split_conditions\":[".len();
    let end = at + src[at..].find(',').unwrap();
    let bad = dir.path().join("model.json");
    std::fs::write(&bad, format!("{}NaN{}", &src[..at], &src[end..])).unwrap();
    let r = sim(&[
        "sim",
        "examples/iris_xgb/accel.tess",
        "--model",
        bad.to_str().unwrap(),
        "--data",
        "examples/iris_xgb/X_test.npy",
    ]);
    assert_eq!(r.code(), Some(1));
    assert!(first_line(&r).starts_with("error[E0101]: "), "{}", r.stderr);
    assert!(first_line(&r).contains("model.json: line 1, column "), "{}", r.stderr);

    // NaN *inputs* are XGBoost's missing values, not parameters: still simulated.
    let file = std::fs::File::open(root().join("examples/iris_xgb/X_test.npy")).unwrap();
    let mut x = <ndarray::Array2<f32> as ReadNpyExt>::read_npy(file).unwrap();
    x.column_mut(0).fill(f32::NAN);
    x[[1, 2]] = f32::NAN;
    let data = dir.path().join("x_nan.npy");
    x.write_npy(std::fs::File::create(&data).unwrap()).unwrap();
    let r = sim(&["sim", "examples/iris_xgb/accel.tess", "--data", data.to_str().unwrap()]);
    assert_eq!(r.code(), Some(0), "{}", r.stderr);
}

/// A finite LayerNorm gain of -f32::MAX overflows the float32 reference the attention passes
/// calibrate on (it used to hang GELU, later a datapath width error): E0102 before any pass,
/// naming the node and the tensor.
#[test]
fn vit_overflowing_layernorm_gain_is_e0102_naming_the_tensor() {
    let r = vit_with("blocks.1.ln1.weight", 10, -f32::MAX);
    assert_eq!(r.code(), Some(1));
    let line = first_line(&r);
    assert!(
        line.starts_with(
            "error[E0102]: student.onnx: node `/blocks.1/ln1/LayerNormalization` \
             (LayerNormalization) with parameter(s) `blocks.1.ln1.weight` (largest |value| \
             3.4028235e38)"
        ),
        "{line}"
    );
    assert!(line.contains("float32 overflows (beyond 3.4028235e38)"), "{line}");
}
