//! `tessera sim --labels` scores by the model's metric: a classifier reports accuracy whatever
//! its labels look like ({-1, +1}, 1-based), with the mapping stated on the console; labels
//! that fit none of its classes are an error naming the file and the values; a regressor
//! reports RMSE even on whole-number targets.

use assert_cmd::Command;
use ndarray::Array1;
use ndarray_npy::write_npy;
use std::path::Path;

fn tessera() -> Command {
    let mut cmd = Command::cargo_bin("tessera").expect("binary builds");
    cmd.current_dir(env!("CARGO_MANIFEST_DIR"));
    cmd
}

/// The example's own test labels.
fn labels(ex: &str) -> Array1<f64> {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join(ex).join("y_test.npy");
    tessera::frontend::npy::read_labels(&p).unwrap()
}

/// Writes `y` as int64 labels.
fn write_labels(path: &Path, y: &Array1<f64>) {
    write_npy(path, &y.mapv(|v| v as i64)).unwrap();
}

/// Runs `sim` on the example's X_test with `labels`; returns (exit code, stdout, stderr).
fn sim(ex: &str, labels: &Path) -> (i32, String, String) {
    let out = tessera()
        .args(["sim", &format!("{ex}/accel.tess"), "--data", &format!("{ex}/X_test.npy")])
        .arg("--labels")
        .arg(labels)
        .output()
        .unwrap();
    let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
    (out.status.code().unwrap_or(-1), text(&out.stdout), text(&out.stderr))
}

/// The figure after `key` on a summary line (`  accuracy 0.9667`).
fn figure(stdout: &str, key: &str) -> Option<f64> {
    stdout.lines().find_map(|l| l.trim().strip_prefix(key).and_then(|v| v.trim().parse().ok()))
}

#[test]
fn plus_minus_one_labels_score_a_binary_classifier_by_accuracy() {
    let ex = "examples/breast_cancer_xgb";
    let dir = tempfile::tempdir().unwrap();
    let (code, base, err) = sim(ex, &Path::new(ex).join("y_test.npy"));
    assert_eq!(code, 0, "{err}");
    let want = figure(&base, "accuracy").expect("accuracy with 0/1 labels");
    assert!(want > 0.9, "{base}");
    let pm = dir.path().join("y_pm.npy");
    write_labels(&pm, &labels(ex).mapv(|y| 2.0 * y - 1.0));
    let (code, out, err) = sim(ex, &pm);
    assert_eq!(code, 0, "{err}");
    assert_eq!(figure(&out, "accuracy"), Some(want), "{out}");
    assert!(figure(&out, "rmse").is_none(), "{out}");
    assert!(
        out.contains("y_pm.npy: labels {-1, 1} read as classes {0, 1} of the binary classifier"),
        "{out}"
    );
}

#[test]
fn one_based_labels_score_a_multiclass_model_by_accuracy() {
    let ex = "examples/iris_xgb";
    let dir = tempfile::tempdir().unwrap();
    let (code, base, err) = sim(ex, &Path::new(ex).join("y_test.npy"));
    assert_eq!(code, 0, "{err}");
    let want = figure(&base, "accuracy").expect("accuracy with 0-based labels");
    assert!(want > 0.8, "{base}");
    let one = dir.path().join("y_1based.npy");
    write_labels(&one, &labels(ex).mapv(|y| y + 1.0));
    let (code, out, err) = sim(ex, &one);
    assert_eq!(code, 0, "{err}");
    assert_eq!(figure(&out, "accuracy"), Some(want), "{out}");
    assert!(
        out.contains(
            "y_1based.npy: labels {1, 2, 3} read as 1-based classes of the 3-class classifier"
        ),
        "{out}"
    );
}

#[test]
fn labels_that_fit_no_class_are_refused_naming_file_and_values() {
    let ex = "examples/iris_xgb";
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("y_bad.npy");
    write_labels(&bad, &labels(ex).mapv(|y| if y == 2.0 { 7.0 } else { y }));
    let (code, out, err) = sim(ex, &bad);
    assert_ne!(code, 0, "{out}");
    assert!(err.contains("y_bad.npy"), "{err}");
    assert!(
        err.contains("labels {0, 1, 7} do not fit the model's 3 classes: expected class indices 0..=2 or 1..=3"),
        "{err}"
    );
}

#[test]
fn a_regressor_reports_rmse_on_whole_number_targets() {
    let ex = "examples/diabetes_lgbm";
    let y = labels(ex);
    assert!(y.iter().all(|v| v.fract() == 0.0), "diabetes targets are whole numbers");
    let (code, out, err) = sim(ex, &Path::new(ex).join("y_test.npy"));
    assert_eq!(code, 0, "{err}");
    let rmse = figure(&out, "rmse").expect("rmse");
    assert!(rmse > 10.0 && rmse < 100.0, "{out}");
    assert!(figure(&out, "accuracy").is_none(), "{out}");
}
