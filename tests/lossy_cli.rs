//! Lossy steps from the outside: each prints one `lossy:` line with its measured effect, is
//! recorded in report.json, and becomes a coded error under `--deny-lossy` or
//! `deny_lossy = true;`. Expected errors are measured against the frameworks' own predictions
//! stored beside the examples (`expected_margin.npy`), never against tessera's output.

use assert_cmd::Command;
use std::path::{Path, PathBuf};

const IRIS: &str = "examples/iris_xgb";
const BC_MLP: &str = "examples/breast_cancer_mlp";

fn tessera() -> Command {
    let mut cmd = Command::cargo_bin("tessera").expect("binary builds");
    cmd.current_dir(env!("CARGO_MANIFEST_DIR"));
    cmd
}

fn example(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(rel)
}

/// The iris description with its `cam_pack` options replaced, in `dir`, binding the shipped
/// model by absolute path; `settings` go at the top of the accelerator.
fn iris_tess(dir: &Path, settings: &str, options: &str) -> PathBuf {
    let src = format!(
        "use cam::acam_6t2m;\naccelerator iris_xgb {{\n    {settings}\n    model m = xgboost(\"{}\");\n    \
         inst cam = acam_6t2m(rows = 24, cols = 48);\n    \
         map m -> cam using cam_pack(tile = 24x48, order = monosparse, {options});\n}}\n",
        example(&format!("{IRIS}/model.json")).display()
    );
    let p = dir.join("iris.tess");
    std::fs::write(&p, src).unwrap();
    p
}

fn sim(tess: &Path, data_dir: &str, extra: &[&str], report: &Path) -> assert_cmd::assert::Assert {
    tessera()
        .arg("sim")
        .arg(tess)
        .args(["--data", &format!("{data_dir}/X_test.npy")])
        .arg("--report")
        .arg(report)
        .args(extra)
        .assert()
}

fn stderr(a: &assert_cmd::assert::Assert) -> String {
    String::from_utf8_lossy(&a.get_output().stderr).into_owned()
}

fn read(p: &Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(p).unwrap()).unwrap()
}

/// The largest |sim output - framework output| for iris, measured from the files.
fn iris_error(out: &Path) -> f64 {
    let ours = tessera::frontend::npy::read_matrix_f64(out).unwrap();
    let reference =
        tessera::frontend::npy::read_matrix_f64(&example(&format!("{IRIS}/expected_margin.npy")))
            .unwrap();
    ours.iter().zip(reference.iter()).map(|(a, b)| (a - b).abs()).fold(0.0, f64::max)
}

#[test]
fn merged_thresholds_are_loud_recorded_and_withdraw_the_bound() {
    let dir = tempfile::tempdir().unwrap();
    let tess = iris_tess(dir.path(), "", "levels = 2");
    let rep = dir.path().join("r.json");
    let out = dir.path().join("o.npy");
    let a = sim(&tess, IRIS, &["--out", out.to_str().unwrap()], &rep).code(0);
    let err = stderr(&a);
    assert!(
        err.contains("lossy: cam-quantize merged 7 of 8 thresholds of feature 2 onto 2 levels"),
        "{err}"
    );
    let r = read(&rep);
    assert_eq!(r["lossy"][0]["code"], "E0110");
    assert_eq!(r["lossy"][0]["count"], 12);
    // The real error is large, and no bound is claimed for it.
    let real = iris_error(&out);
    assert!(real > 1.0, "levels = 2 should move margins by whole leaves, got {real}");
    assert!(r["agreement"].get("bound").is_none(), "{}", r["agreement"]);
    assert!(r["agreement"]["no_bound"].as_str().unwrap().starts_with("thresholds merged"));
    // The recorded error is the data's: at least the framework comparison's, up to f32 rounding.
    let recorded = r["lossy"][0]["max_error"].as_f64().unwrap();
    assert!((recorded - real).abs() < 1e-3, "recorded {recorded}, measured {real}");
}

#[test]
fn deny_lossy_refuses_merging_with_its_code() {
    let dir = tempfile::tempdir().unwrap();
    let tess = iris_tess(dir.path(), "", "levels = 2");
    let rep = dir.path().join("r.json");
    let a = sim(&tess, IRIS, &["--deny-lossy"], &rep).code(1);
    let err = stderr(&a);
    assert!(err.contains("error[E0110]: lossy step refused by --deny-lossy"), "{err}");
    assert!(!rep.exists(), "a refused run writes no report");
    insta::assert_snapshot!("deny_lossy_merged_thresholds", err);
}

#[test]
fn leaf_bits_32_is_lossless_and_its_bound_covers_float32_rounding() {
    let dir = tempfile::tempdir().unwrap();
    let tess = iris_tess(dir.path(), "", "leaf_bits = 32");
    let rep = dir.path().join("r.json");
    let out = dir.path().join("o.npy");
    let a = sim(&tess, IRIS, &["--deny-lossy", "--out", out.to_str().unwrap()], &rep).code(0);
    assert!(!stderr(&a).contains("lossy:"), "{}", stderr(&a));
    let r = read(&rep);
    assert!(r.get("lossy").is_none());
    let bound = r["agreement"]["bound"].as_f64().unwrap();
    let real = iris_error(&out);
    // The fixed-point part alone (2.4e-9) is below XGBoost's float32 error (4.8e-7).
    assert!(real > 1e-7 && real <= bound, "real {real}, bound {bound}");
}

#[test]
fn two_bit_leaves_are_loud_and_the_description_setting_denies_them() {
    let dir = tempfile::tempdir().unwrap();
    let rep = dir.path().join("r.json");
    let out = dir.path().join("o.npy");
    let tess = iris_tess(dir.path(), "", "leaf_bits = 2");
    let a = sim(&tess, IRIS, &["--out", out.to_str().unwrap()], &rep).code(0);
    let err = stderr(&a);
    assert!(err.contains("lossy: cam-quantize rounded leaves to 2-bit fixed point"), "{err}");
    let r = read(&rep);
    assert_eq!(r["lossy"][0]["code"], "E0111");
    let bound = r["agreement"]["bound"].as_f64().unwrap();
    assert!(iris_error(&out) <= bound);

    let tess = iris_tess(dir.path(), "deny_lossy = true;", "leaf_bits = 2");
    let cdir = dir.path().join("c");
    let a = tessera().arg("compile").arg(&tess).arg("-o").arg(&cdir).assert().code(1);
    let err = stderr(&a);
    assert!(err.contains("error[E0111]") && err.contains("deny_lossy = true"), "{err}");
    assert!(!cdir.exists(), "a refused compile writes no design");
}

#[test]
fn crossbar_clipping_and_adc_saturation_are_counted() {
    let dir = tempfile::tempdir().unwrap();
    let rep = dir.path().join("r.json");
    let tess = example(&format!("{BC_MLP}/accel.tess"));
    let a = sim(&tess, BC_MLP, &[], &rep).code(0);
    let err = stderr(&a);
    assert!(err.contains("lossy: quantize clipped"), "{err}");
    assert!(err.contains("lossy: crossbar-adc saturated"), "{err}");
    let r = read(&rep);
    let codes: Vec<&str> =
        r["lossy"].as_array().unwrap().iter().map(|s| s["code"].as_str().unwrap()).collect();
    assert_eq!(codes, ["E0112", "E0113", "E0114"]);
    // The recorded error vs the float model is what the framework comparison sees (5.5).
    let e = r["lossy"][0]["max_error"].as_f64().unwrap();
    let framework = r["agreement"]["max_abs_error"].as_f64().unwrap();
    assert!(e > 1.0 && (e - framework).abs() < 1e-2, "{e} vs {framework}");
    let clipped = r["lossy"][0]["count"].as_u64().unwrap();
    assert!(clipped > 0 && clipped < r["lossy"][0]["of"].as_u64().unwrap());

    let a = sim(&tess, BC_MLP, &["--deny-lossy"], &rep).code(1);
    assert!(stderr(&a).contains("error[E0112]"), "{}", stderr(&a));
}

#[test]
fn verify_refuses_a_lossy_design_before_running_a_simulator() {
    let dir = tempfile::tempdir().unwrap();
    let tess = iris_tess(dir.path(), "", "levels = 2");
    let a = tessera()
        .arg("verify")
        .arg(&tess)
        .args(["--data", &format!("{IRIS}/X_test.npy"), "--deny-lossy"])
        .assert()
        .code(1);
    assert!(stderr(&a).contains("error[E0110]"), "{}", stderr(&a));
}

#[test]
fn attention_quantization_error_is_measured_against_the_float_model() {
    let dir = tempfile::tempdir().unwrap();
    let rep = dir.path().join("r.json");
    let e = "examples/vit_digits_had";
    let a = sim(&example(&format!("{e}/accel.tess")), e, &["--deny-lossy"], &rep).code(1);
    let err = stderr(&a);
    assert!(err.contains("lossy: attn-quantize changes outputs by up to"), "{err}");
    assert!(err.contains("error[E0115]"), "{err}");
}
