//! Error and note messages of `tessera sim/compile/verify` that used to mislead: each names
//! the file once, lists what is really accepted, and says what is wrong in the user's terms.
//! Temporary paths are replaced by `[TMP]` so the expected texts are stable.

use assert_cmd::Command;
use ndarray::Array2;
use ndarray_npy::write_npy;
use std::path::Path;

fn tessera() -> Command {
    let mut cmd = Command::cargo_bin("tessera").expect("binary builds");
    cmd.current_dir(env!("CARGO_MANIFEST_DIR"));
    cmd
}

/// Runs the command; returns (exit code, stdout, stderr) with `tmp` shown as `[TMP]`.
fn run(cmd: &mut Command, tmp: &Path) -> (i32, String, String) {
    let o = cmd.output().unwrap();
    let t = |b: &[u8]| String::from_utf8_lossy(b).replace(&tmp.display().to_string(), "[TMP]");
    (o.status.code().unwrap_or(-1), t(&o.stdout), t(&o.stderr))
}

/// A crossbar accelerator for `model` (absolute path) with default settings.
fn crossbar_tess(dir: &Path, model: &Path) -> std::path::PathBuf {
    let p = dir.join("x.tess");
    let text = format!(
        "use crossbar;\naccelerator x {{\n    model net = onnx(\"{}\");\n    \
         inst xbar = crossbar::rram_1t1r();\n    map net -> xbar using crossbar_tile();\n}}\n",
        model.display()
    );
    std::fs::write(&p, text).unwrap();
    p
}

const BC_MLP: &str = "examples/breast_cancer_mlp";

#[test]
fn float16_is_refused_listing_what_each_reader_accepts() {
    let dir = tempfile::tempdir().unwrap();
    let h = dir.path().join("h.npy");
    // numpy's float16 header, written by hand: ndarray-npy has no f16.
    let header = "{'descr': '<f2', 'fortran_order': False, 'shape': (2, 30), }";
    let mut bytes = b"\x93NUMPY\x01\x00".to_vec();
    let pad = 64 - (10 + header.len() + 1) % 64;
    let text = format!("{header}{}\n", " ".repeat(pad % 64));
    bytes.extend_from_slice(&(text.len() as u16).to_le_bytes());
    bytes.extend_from_slice(text.as_bytes());
    bytes.extend_from_slice(&[0u8; 2 * 30 * 2]);
    std::fs::write(&h, bytes).unwrap();
    let (code, _, err) =
        run(tessera().args(["sim", &format!("{BC_MLP}/accel.tess"), "--data"]).arg(&h), dir.path());
    assert_ne!(code, 0);
    assert_eq!(
        err.trim(),
        "error[E0128]: [TMP]/h.npy: dtype: unsupported element type `<f2` (expected little-endian \
         float32 `<f4` or float64 `<f8`)"
    );
    let (code, _, err) = run(
        tessera()
            .args(["sim", &format!("{BC_MLP}/accel.tess"), "--data"])
            .arg(format!("{BC_MLP}/X_test.npy"))
            .arg("--labels")
            .arg(&h),
        dir.path(),
    );
    assert_ne!(code, 0);
    assert!(
        err.contains("`<f2` (expected little-endian float32 `<f4`, float64 `<f8`, int64 `<i8` or int32 `<i4`)"),
        "labels take integers: {err}"
    );
}

#[test]
fn calibration_files_are_named_once() {
    let dir = tempfile::tempdir().unwrap();
    // A float64 calibration file: the conversion note names it once.
    let x: Array2<f64> =
        tessera::frontend::npy::read_matrix_f64(Path::new(&format!("{BC_MLP}/X_calib.npy")))
            .unwrap();
    let c64 = dir.path().join("calib64.npy");
    write_npy(&c64, &x).unwrap();
    let (code, _, err) = run(
        tessera()
            .args(["sim", &format!("{BC_MLP}/accel.tess"), "--data"])
            .arg(format!("{BC_MLP}/X_test.npy"))
            .arg("--calib")
            .arg(&c64),
        dir.path(),
    );
    assert_eq!(code, 0, "{err}");
    let note = err.lines().find(|l| l.contains("calib64.npy")).expect("a conversion note");
    assert!(
        note.starts_with("note: [TMP]/calib64.npy: converted from float64 to float32"),
        "{note}"
    );
    assert_eq!(note.matches("calib64.npy").count(), 1, "{note}");
    // No X_calib.npy beside the model: the error names the missing file once.
    let model = dir.path().join("model.onnx");
    std::fs::copy(format!("{BC_MLP}/model.onnx"), &model).unwrap();
    let (code, _, err) = run(
        tessera()
            .arg("sim")
            .arg(crossbar_tess(dir.path(), &model))
            .arg("--data")
            .arg(format!("{BC_MLP}/X_test.npy")),
        dir.path(),
    );
    assert_ne!(code, 0);
    assert!(err.starts_with("error[E0120]: [TMP]/X_calib.npy: cannot read: "), "{err}");
    assert_eq!(err.matches("X_calib.npy").count(), 1, "{err}");
}

#[test]
fn output_directory_that_is_a_file_is_named_as_such() {
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("build");
    std::fs::write(&f, "").unwrap();
    let (code, _, err) =
        run(tessera().args(["compile", "examples/iris_xgb/accel.tess", "-o"]).arg(&f), dir.path());
    assert_ne!(code, 0);
    assert_eq!(
        err.trim(),
        "error[E0137]: [TMP]/build: the output directory path is an existing file, not a directory"
    );
}

#[test]
fn sigmoid_and_tanh_messages_agree() {
    let dir = tempfile::tempdir().unwrap();
    // breast_cancer_mlp with its hidden Relus turned into Tanh (same length, same protobuf).
    let bytes = std::fs::read(format!("{BC_MLP}/model.onnx")).unwrap();
    let n = bytes.windows(4).filter(|w| w == b"Relu").count();
    assert!(n >= 2, "Relu nodes expected in the model");
    let mut tanh = bytes.clone();
    for i in 0..tanh.len().saturating_sub(3) {
        if &tanh[i..i + 4] == b"Relu" {
            tanh[i..i + 4].copy_from_slice(b"Tanh");
        }
    }
    let model = dir.path().join("model.onnx");
    std::fs::write(&model, tanh).unwrap();
    std::fs::copy(format!("{BC_MLP}/X_calib.npy"), dir.path().join("X_calib.npy")).unwrap();
    let (code, _, err) = run(
        tessera()
            .arg("sim")
            .arg(crossbar_tess(dir.path(), &model))
            .arg("--data")
            .arg(format!("{BC_MLP}/X_test.npy")),
        dir.path(),
    );
    assert_ne!(code, 0);
    assert!(
        err.contains(
            "uses Tanh between layers; the integer crossbar datapath supports Relu or no \
             activation there (Sigmoid and Tanh only after the last layer)"
        ),
        "{err}"
    );
    // Bias adds turned into subtractions (imported as core `sub`): no dense chain, and the
    // message states the same rule.
    let sub = dir.path().join("sub.onnx");
    let mut bytes = bytes;
    for i in 0..bytes.len().saturating_sub(2) {
        if &bytes[i..i + 3] == b"Add" {
            bytes[i..i + 3].copy_from_slice(b"Sub");
        }
    }
    std::fs::write(&sub, bytes).unwrap();
    let (code, _, err) = run(
        tessera()
            .arg("sim")
            .arg(crossbar_tess(dir.path(), &sub))
            .arg("--data")
            .arg(format!("{BC_MLP}/X_test.npy")),
        dir.path(),
    );
    assert_ne!(code, 0);
    assert!(
        err.contains(
            "(sub): not part of a dense-layer chain (crossbar mapping supports Gemm/MatMul(+Add) \
             layers with Relu or no activation between them, and Relu, Sigmoid, Tanh or Softmax \
             after the last one)"
        ),
        "{err}"
    );
}

#[test]
fn verify_on_an_empty_file_names_it() {
    let dir = tempfile::tempdir().unwrap();
    let empty = dir.path().join("empty.npy");
    write_npy(&empty, &Array2::<f32>::zeros((0, 4))).unwrap();
    let (code, _, err) = run(
        tessera().args(["verify", "examples/iris_xgb/accel.tess", "--data"]).arg(&empty),
        dir.path(),
    );
    assert_ne!(code, 0);
    assert_eq!(
        err.trim(),
        "error[E0127]: [TMP]/empty.npy: holds no samples (shape (0, 4)): verify needs at least one test \
         vector"
    );
}

#[test]
fn report_json_has_no_negative_zero() {
    // compile without data: no events, so energy and area are zero (and came out as -0.0).
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy("examples/iris_xgb/model.json", dir.path().join("model.json")).unwrap();
    let tess = dir.path().join("t.tess");
    let text = std::fs::read_to_string("examples/iris_xgb/accel.tess")
        .unwrap()
        .replace("\"model.json\"", &format!("\"{}\"", dir.path().join("model.json").display()));
    std::fs::write(&tess, text).unwrap();
    let out = dir.path().join("out");
    let (code, _, err) = run(tessera().arg("compile").arg(&tess).arg("-o").arg(&out), dir.path());
    assert_eq!(code, 0, "{err}");
    let report = std::fs::read_to_string(out.join("report.json")).unwrap();
    assert!(!report.contains("-0.0"), "{report}");
    assert!(report.contains("\"energy_pj_per_inference\": 0.0"), "{report}");
}
