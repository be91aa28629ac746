//! Inputs that used to abort or pass silently, through the CLI: sizes a model file declares
//! are checked against what the file holds before anything is allocated (E0124, E0125), the
//! fixed-point families refuse non-finite input values naming file, row and column (E0129),
//! trees take ±inf as ordinary values beyond every threshold, and the new codes print like the
//! `.tess` diagnostics. The crafted files are generated here from the shipped examples.

use assert_cmd::Command;
use ndarray::Array2;
use ndarray_npy::{read_npy, write_npy};
use std::path::{Path, PathBuf};

fn tessera() -> Command {
    let mut cmd = Command::cargo_bin("tessera").expect("binary builds");
    cmd.current_dir(env!("CARGO_MANIFEST_DIR"));
    cmd
}

/// Runs the command; returns (exit code, stderr) with `tmp` shown as `[TMP]`.
fn run(cmd: &mut Command, tmp: &Path) -> (i32, String) {
    let o = cmd.output().unwrap();
    let err = String::from_utf8_lossy(&o.stderr).replace(&tmp.display().to_string(), "[TMP]");
    (o.status.code().unwrap_or(-1), err)
}

/// Copies an example's `.tess` into `dir` with its model file replaced by `model` (written
/// there too); returns the `.tess` path.
fn example_with_model(dir: &Path, example: &str, model_name: &str, model: &[u8]) -> PathBuf {
    let ex = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples").join(example);
    std::fs::write(dir.join(model_name), model).unwrap();
    let tess = std::fs::read_to_string(ex.join("accel.tess")).unwrap();
    let p = dir.join("accel.tess");
    std::fs::write(&p, tess).unwrap();
    p
}

fn json(path: &str) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// `tessera sim` on the example's own test data; the run must end with exit 1 (not a panic
/// or an abort), and this returns stderr.
fn sim_fails(tess: &Path, data: &str, tmp: &Path) -> String {
    let (code, err) = run(tessera().arg("sim").arg(tess).args(["--data", data]), tmp);
    assert_eq!(code, 1, "{err}");
    err
}

#[test]
fn xgboost_declared_feature_and_class_counts_are_checked_before_allocation() {
    let dir = tempfile::tempdir().unwrap();
    for (field, value) in [("num_feature", "4000000000"), ("num_feature", "2000000000")] {
        let mut m = json("examples/iris_xgb/model.json");
        m["learner"]["learner_model_param"][field] = value.into();
        let tess = example_with_model(
            dir.path(),
            "iris_xgb",
            "model.json",
            &serde_json::to_vec(&m).unwrap(),
        );
        let err = sim_fails(&tess, "examples/iris_xgb/X_test.npy", dir.path());
        assert_eq!(
            err.trim(),
            format!(
                "error[E0124]: [TMP]/model.json: learner.learner_model_param.num_feature: declares \
                 {value} features, but the trees split only on features below 4; more than \
                 1048576 declared features that no split reads are refused (each sample would \
                 need {value} columns)"
            )
        );
    }
    let mut m = json("examples/iris_xgb/model.json");
    m["learner"]["learner_model_param"]["num_class"] = "4000000000".into();
    let tess =
        example_with_model(dir.path(), "iris_xgb", "model.json", &serde_json::to_vec(&m).unwrap());
    let err = sim_fails(&tess, "examples/iris_xgb/X_test.npy", dir.path());
    insta::assert_snapshot!("e0124_xgboost_num_class", err.trim());
}

#[test]
fn dense_cam_storage_is_bounded_before_packing() {
    // Unused declared features within the E0124 allowance, but leaves x features beyond the
    // dense CAM's 2^28 cells: E0125 instead of tens of GB.
    let dir = tempfile::tempdir().unwrap();
    // wide_xgb: 1322 leaves, splits on features below 320.
    let mut m = json("examples/wide_xgb/model.json");
    m["learner"]["learner_model_param"]["num_feature"] = "1048576".into();
    let tess =
        example_with_model(dir.path(), "wide_xgb", "model.json", &serde_json::to_vec(&m).unwrap());
    let (code, err) = run(
        tessera().arg("sim").arg(&tess).args([
            "--accel",
            "wide_paper",
            "--data",
            "examples/wide_xgb/X_test.npy",
        ]),
        dir.path(),
    );
    assert_eq!(code, 1, "{err}");
    assert!(
        err.starts_with(
            "error[E0125]: [TMP]/model.json: learner.learner_model_param.num_feature: "
        ),
        "{err}"
    );
    assert!(
        err.contains("= 1386217472 CAM cells, more than the dense CAM storage holds (268435456)"),
        "{err}"
    );
}

#[test]
fn lightgbm_and_treelite_declared_feature_counts_are_checked() {
    let dir = tempfile::tempdir().unwrap();
    let text = std::fs::read_to_string("examples/diabetes_lgbm/model.txt").unwrap();
    let crafted: String = text
        .lines()
        .map(|l| if l.starts_with("max_feature_idx=") { "max_feature_idx=3999999999" } else { l })
        .collect::<Vec<_>>()
        .join("\n");
    assert_ne!(crafted, text, "the example declares max_feature_idx");
    let tess = example_with_model(dir.path(), "diabetes_lgbm", "model.txt", crafted.as_bytes());
    let err = sim_fails(&tess, "examples/diabetes_lgbm/X_test.npy", dir.path());
    insta::assert_snapshot!("e0124_lightgbm_max_feature_idx", err.trim());
    // Overflowing the index itself is an invalid value, not an overflow panic.
    let crafted =
        crafted.replace("max_feature_idx=3999999999", "max_feature_idx=9223372036854775807");
    let tess = example_with_model(dir.path(), "diabetes_lgbm", "model.txt", crafted.as_bytes());
    let err = sim_fails(&tess, "examples/diabetes_lgbm/X_test.npy", dir.path());
    assert!(
        err.starts_with(
            "error[E0122]: [TMP]/model.txt: header max_feature_idx (line 6): must be at least -1"
        ),
        "{err}"
    );

    // A tree's num_leaves sizes its lists: found by fuzz_frontends, it used to reserve 32 GB.
    let mut first = true;
    let crafted: String = text
        .lines()
        .map(|l| {
            if first && l.starts_with("num_leaves=") {
                first = false;
                "num_leaves=4000000000"
            } else {
                l
            }
        })
        .collect::<Vec<_>>()
        .join("\n");
    let tess = example_with_model(dir.path(), "diabetes_lgbm", "model.txt", crafted.as_bytes());
    let err = sim_fails(&tess, "examples/diabetes_lgbm/X_test.npy", dir.path());
    assert!(err.starts_with("error[E0122]: [TMP]/model.txt: Tree=0 leaf_value"), "{err}");
    assert!(err.contains("but num_leaves implies 4000000000"), "{err}");

    let mut m = json("examples/rf_treelite/model.json");
    m["num_feature"] = 2_000_000_000u64.into();
    let tess = example_with_model(
        dir.path(),
        "rf_treelite",
        "model.json",
        &serde_json::to_vec(&m).unwrap(),
    );
    let err = sim_fails(&tess, "examples/rf_treelite/X_test.npy", dir.path());
    assert!(
        err.starts_with(
            "error[E0124]: [TMP]/model.json: num_feature: declares 2000000000 features"
        ),
        "{err}"
    );
}

/// The example's test data with some cells replaced, written to `dir/name`.
fn data_with(example: &str, name: &str, dir: &Path, cells: &[(usize, usize, f32)]) -> PathBuf {
    let mut x: Array2<f32> = read_npy(format!("examples/{example}/X_test.npy")).unwrap();
    for &(r, c, v) in cells {
        x[[r, c]] = v;
    }
    let p = dir.join(name);
    write_npy(&p, &x).unwrap();
    p
}

#[test]
fn crossbar_refuses_non_finite_inputs_naming_file_row_and_column() {
    let dir = tempfile::tempdir().unwrap();
    let tess = "examples/breast_cancer_mlp/accel.tess";
    let x = data_with(
        "breast_cancer_mlp",
        "x.npy",
        dir.path(),
        &[(2, 5, f32::NAN), (7, 0, f32::INFINITY)],
    );
    let (code, err) = run(tessera().args(["sim", tess, "--data"]).arg(&x), dir.path());
    assert_eq!(code, 1, "{err}");
    insta::assert_snapshot!("e0129_crossbar_sim", err.trim());
    // verify refuses before any simulator runs (so this needs no iverilog).
    let (code, err) = run(tessera().args(["verify", tess, "--data"]).arg(&x), dir.path());
    assert_eq!(code, 1, "{err}");
    assert!(
        err.starts_with("error[E0129]: [TMP]/x.npy: row 2, column 5: input value NaN"),
        "{err}"
    );
    // Calibration data: the calibration file is named.
    let c = data_with("breast_cancer_mlp", "calib.npy", dir.path(), &[(0, 3, f32::NEG_INFINITY)]);
    let (code, err) = run(
        tessera()
            .args(["sim", tess, "--data", "examples/breast_cancer_mlp/X_test.npy", "--calib"])
            .arg(&c),
        dir.path(),
    );
    assert_eq!(code, 1, "{err}");
    assert!(
        err.starts_with(
            "error[E0129]: [TMP]/calib.npy: row 0, column 3: input value -inf is not finite"
        ),
        "{err}"
    );
}

#[test]
fn attention_refuses_non_finite_inputs() {
    let dir = tempfile::tempdir().unwrap();
    let x = data_with("vit_digits_had", "x.npy", dir.path(), &[(1, 4, f32::INFINITY)]);
    let (code, err) = run(
        tessera().args(["sim", "examples/vit_digits_had/accel.tess", "--data"]).arg(&x),
        dir.path(),
    );
    assert_eq!(code, 1, "{err}");
    assert!(
        err.starts_with(
            "error[E0129]: [TMP]/x.npy: row 1, column 4: input value inf is not finite"
        ),
        "{err}"
    );
    assert!(err.contains("the attention family"), "{err}");
}

/// Trees compare ±inf like any number, as XGBoost does: +inf fails every `x < t` and -inf
/// passes it, so a sample with ±inf simulates exactly like one with ±f32::MAX (beyond every
/// threshold of the model), in the simulator and in the reference traversal.
#[test]
fn trees_take_infinities_as_values_beyond_every_threshold() {
    let dir = tempfile::tempdir().unwrap();
    let cells_inf = [(0, 0, f32::INFINITY), (1, 2, f32::NEG_INFINITY), (3, 3, f32::INFINITY)];
    let cells_max = [(0, 0, f32::MAX), (1, 2, -f32::MAX), (3, 3, f32::MAX)];
    let xi = data_with("iris_xgb", "inf.npy", dir.path(), &cells_inf);
    let xm = data_with("iris_xgb", "max.npy", dir.path(), &cells_max);
    let mut outs = Vec::new();
    for (x, o) in [(&xi, "inf_out.npy"), (&xm, "max_out.npy")] {
        let out = dir.path().join(o);
        let (code, err) = run(
            tessera()
                .args(["sim", "examples/iris_xgb/accel.tess", "--data"])
                .arg(x)
                .arg("--out")
                .arg(&out),
            dir.path(),
        );
        assert_eq!(code, 0, "{err}");
        let y: Array2<f32> = read_npy(&out).unwrap();
        outs.push(y);
    }
    assert_eq!(outs[0], outs[1]);
    let m = tessera::frontend::xgboost::load(Path::new("examples/iris_xgb/model.json")).unwrap();
    let xi: Array2<f32> = read_npy(&xi).unwrap();
    let xm: Array2<f32> = read_npy(&xm).unwrap();
    for r in [0, 1, 3] {
        let a = m.predict_margin(&xi.row(r).to_vec());
        assert_eq!(a, m.predict_margin(&xm.row(r).to_vec()), "row {r}");
    }
    // And an infinity changed a path somewhere: the test is not vacuous.
    let clean: Array2<f32> = read_npy("examples/iris_xgb/X_test.npy").unwrap();
    let moved = [0, 1, 3].iter().any(|&r| {
        m.predict_margin(&xi.row(r).to_vec()) != m.predict_margin(&clean.row(r).to_vec())
    });
    assert!(moved, "no infinity changed a margin; pick other cells");
}

#[test]
fn data_shape_errors_carry_their_code() {
    let dir = tempfile::tempdir().unwrap();
    let x = Array2::<f32>::zeros((4, 3));
    let p = dir.path().join("narrow.npy");
    write_npy(&p, &x).unwrap();
    let (code, err) = run(
        tessera().args(["sim", "examples/breast_cancer_mlp/accel.tess", "--data"]).arg(&p),
        dir.path(),
    );
    assert_eq!(code, 1, "{err}");
    insta::assert_snapshot!("e0126_crossbar_width", err.trim());
}
