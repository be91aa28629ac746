//! XGBoost coverage: early stopping (`best_iteration`) honoured as the scikit-learn wrapper's
//! predict does, `binary:logitraw`, `binary:hinge`, `reg:absoluteerror` and multi-quantile
//! `reg:quantileerror`. Fixtures and the framework's own margins come from
//! `tests/fixtures/trees/gen_xgb_objectives.py`; tessera must reproduce them, in its reference
//! traversal (float32 replay, bit for bit) and through `tessera sim --out` on the CAM.

mod frontend_support;

use assert_cmd::Command;
use frontend_support::*;
use std::path::{Path, PathBuf};
use tessera::dsl::accel::ModelFormat;
use tessera::frontend::{load_tree_model_noted, npy, xgboost};

const FIXTURES: [&str; 5] =
    ["xgb_early_stop", "xgb_logitraw", "xgb_hinge", "xgb_absoluteerror", "xgb_quantiles"];

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/trees").join(name)
}

fn model_text(name: &str) -> String {
    std::fs::read_to_string(fixture(name).join("model.json")).unwrap()
}

#[test]
fn reference_traversal_reproduces_the_framework_bit_for_bit() {
    for name in FIXTURES {
        let l = load(
            &fixture(name),
            ModelFormat::Xgboost,
            "model.json",
            "X_test.npy",
            "expected_margin.npy",
        );
        assert_xgboost_float32_replay(&l);
    }
    let q = load(
        &fixture("xgb_quantiles"),
        ModelFormat::Xgboost,
        "model.json",
        "X_test.npy",
        "expected_margin.npy",
    );
    assert_eq!(q.model.num_outputs, 3, "one output per quantile_alpha");
}

#[test]
fn early_stopping_uses_the_best_rounds_and_says_so() {
    let path = fixture("xgb_early_stop").join("model.json");
    let (model, notes) = load_tree_model_noted(ModelFormat::Xgboost, &path).unwrap();
    // best_iteration 9 of 13 rounds, 3 classes: 30 of 39 trees.
    assert_eq!(model.trees.len(), 30);
    assert_eq!(notes.len(), 1, "{notes:?}");
    assert!(
        notes[0].ends_with(
            "model.json: early stopping chose round 9 (learner.attributes.best_iteration): using \
             the first 30 of 39 trees (10 of 13 rounds), as the scikit-learn wrapper's predict does"
        ),
        "{}",
        notes[0]
    );
    // All 39 trees (the attribute removed) give other margins: the truncation matters.
    let all = xgboost::parse_str(
        &model_text("xgb_early_stop").replace("best_iteration", "other"),
        "m.json",
    )
    .unwrap();
    assert_eq!(all.trees.len(), 39);
    let x = npy::read_features(&fixture("xgb_early_stop").join("X_test.npy")).unwrap().data;
    let differs = x.rows().into_iter().any(|r| {
        let r = r.to_vec();
        all.predict_margin(&r) != model.predict_margin(&r)
    });
    assert!(differs);
}

#[test]
fn unsupported_variants_are_refused_with_the_reason() {
    let text = model_text("xgb_quantiles").replace("reg:quantileerror", "reg:squarederror");
    let e = xgboost::parse_str(&text, "m.json").unwrap_err().to_string();
    assert!(
        e.contains("multi-target models (3 targets) are not supported (only reg:quantileerror"),
        "{e}"
    );
    let text = model_text("xgb_early_stop").replace("\"iteration_indptr\"", "\"old_indptr\"");
    let e = xgboost::parse_str(&text, "m.json").unwrap_err().to_string();
    assert!(e.contains("learner.attributes.best_iteration"), "{e}");
    assert!(e.contains("no `iteration_indptr` (XGBoost < 2)"), "{e}");
}

/// A CAM accelerator for the fixture's model (named by absolute path).
fn tess(dir: &Path, name: &str) -> PathBuf {
    let text = format!(
        "use cam::acam_6t2m;\naccelerator t {{\n    model m = xgboost(\"{}\");\n    \
         inst cam = acam_6t2m(rows = 24, cols = 48);\n    \
         map m -> cam using cam_pack(tile = 24x48, order = monosparse, leaf_bits = 16);\n}}\n",
        fixture(name).join("model.json").display()
    );
    let p = dir.join(format!("{name}.tess"));
    std::fs::write(&p, text).unwrap();
    p
}

/// `tessera sim --out` margins agree with the framework's within the bound the compiler states
/// (leaf quantization), and predict the same class / sign.
#[test]
fn sim_margins_match_the_framework() {
    let dir = tempfile::tempdir().unwrap();
    for name in FIXTURES {
        let out = dir.path().join(format!("{name}.npy"));
        let rep = dir.path().join(format!("{name}.json"));
        let o = Command::cargo_bin("tessera")
            .unwrap()
            .arg("sim")
            .arg(tess(dir.path(), name))
            .arg("--data")
            .arg(fixture(name).join("X_test.npy"))
            .arg("--out")
            .arg(&out)
            .arg("--report")
            .arg(&rep)
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&o.stderr);
        assert!(o.status.success(), "{name}: {stderr}");
        assert_eq!(
            stderr.contains("early stopping chose round 9"),
            name == "xgb_early_stop",
            "{name}: {stderr}"
        );
        let r: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&rep).unwrap()).unwrap();
        let bound = r["agreement"]["bound"].as_f64().expect("a stated bound");
        assert!(bound > 0.0 && bound < 1e-3, "{name}: bound {bound}");
        let ours = npy::read_matrix_f64(&out).unwrap();
        let theirs = npy::read_matrix_f64(&fixture(name).join("expected_margin.npy")).unwrap();
        assert_eq!(ours.dim(), theirs.dim(), "{name}");
        let err = ours.iter().zip(&theirs).map(|(a, b)| (a - b).abs()).fold(0.0, f64::max);
        // Outputs are float32: allow their rounding on top of the stated bound.
        let scale = theirs.iter().fold(1.0f64, |m, v| m.max(v.abs()));
        assert!(err <= bound + scale * 2f64.powi(-23), "{name}: max |error| {err} > bound {bound}");
        eprintln!(
            "{name}: {} x {} margins, max |error| {err:.3e} (bound {bound:.3e})",
            ours.nrows(),
            ours.ncols()
        );
    }
}
