//! The CAM flow on the example models (written by XGBoost, LightGBM and scikit-learn/Treelite):
//! the simulated hardware reaches exactly the traversal's leaves, its margins stay within the
//! fixed-point bound of the framework's own outputs, and the wide model's energy study is
//! printed (`cargo test --release --test cam_examples -- --nocapture`).

mod cam_common;

use cam_common::*;
use ndarray::Array2;
use std::path::{Path, PathBuf};
use tessera::cam::pack::pack;
use tessera::cam::report::{evaluate, CamReport};
use tessera::dsl::accel::ModelFormat;
use tessera::frontend::load_tree_model;
use tessera::frontend::npy::{read_features, read_matrix_f64};

fn example(dir: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("examples").join(dir)
}

fn features(dir: &str, file: &str) -> Array2<f32> {
    read_features(&example(dir).join(file)).unwrap().data
}

fn summary(name: &str, r: &CamReport) -> String {
    format!(
        "{name:<36} {:>6} arrays raw/reo/mono {:>4}/{:>4}/{:>4} | pJ/inf total {:>8.1} {:>8.1} {:>7.1} raw/mono {:>5.2}x reo/mono {:>4.2}x | array-only {:>8.1} {:>8.1} {:>7.1} raw/mono {:>5.2}x reo/mono {:>4.2}x | {:>4.0} ns",
        r.geometry,
        r.tiles_scheduled.raw,
        r.tiles_scheduled.reorder,
        r.tiles_scheduled.monosparse,
        r.energy_pj.raw,
        r.energy_pj.reorder,
        r.energy_pj.monosparse,
        r.ratios_total.raw_over_monosparse,
        r.ratios_total.reorder_over_monosparse,
        r.energy_pj_array.raw,
        r.energy_pj_array.reorder,
        r.energy_pj_array.monosparse,
        r.ratios_array.raw_over_monosparse,
        r.ratios_array.reorder_over_monosparse,
        r.latency_ns,
    )
}

/// Compiles with `cam_pack(<options>)`, evaluates on `X_test` and checks leaves and margins;
/// returns the report.
fn run(dir: &str, format: ModelFormat, model_file: &str, options: &str) -> CamReport {
    let model = load_tree_model(format, &example(dir).join(model_file)).unwrap();
    let train = features(dir, "X_train.npy");
    let test = features(dir, "X_test.npy");
    let expected = read_matrix_f64(&example(dir).join("expected_margin.npy")).unwrap();
    let d = lower(&model, options, Some(train.view())).unwrap();
    // Rows keep `cam-pack`'s numbering through every pass.
    let packed = pack(&model).unwrap();
    let ev = evaluate(&d, test.view()).unwrap();
    let per = model.trees_per_output();
    let mut worst = 0.0f64;
    for (i, x) in test.rows().into_iter().enumerate() {
        let x = x.to_vec();
        if d.quantized.report.lossless {
            // The rows the hardware matches are exactly the traversal's leaves, tree by tree.
            let e = d.quantized.encode(&x).unwrap();
            let rows = d.quantized.matching_rows(&e);
            assert_eq!(rows.len(), model.trees.len());
            for r in rows {
                let pr = &packed.rows[r];
                assert_eq!(pr.leaf_node, model.trees[pr.tree].leaf_index(&x), "{dir} sample {i}");
            }
        }
        let reference = model.predict_margin(&x);
        for k in 0..model.num_outputs {
            let hw = ev.margins[[i, k]] as f64;
            let bound = d.quantized.fixed.error_bound(per[k]) + hw.abs() * f32::EPSILON as f64;
            assert!((hw - reference[k]).abs() <= bound, "{dir} sample {i} output {k}");
            // Against the framework's own float32 output: the same bound plus its float32
            // summation error, which the frontend tests measure at <= 2e-6 on these models.
            worst = worst.max((hw - expected[[i, k]]).abs());
        }
    }
    let r = ev.report;
    assert!(
        worst <= r.quantization.fixed_point_error_bound + 1e-5,
        "{dir}: max |hw - framework| = {worst}"
    );
    // Equal energies (one array per row tile leaves liveness nothing to skip) may differ in the
    // last float bits: allow that much.
    let tol = 1e-9 * r.energy_pj.raw;
    assert!(
        r.energy_pj.monosparse <= r.energy_pj.reorder + tol
            && r.energy_pj.reorder <= r.energy_pj.raw + tol
    );
    eprintln!(
        "{dir}: rows {} features {} sparsity {:.4} lossless {} frac {} acc_bits {} bound {:.2e} max|hw - framework| {:.2e}",
        r.rows,
        r.features,
        r.sparsity,
        r.quantization.lossless,
        r.quantization.frac_bits,
        r.quantization.acc_bits,
        r.quantization.fixed_point_error_bound,
        worst
    );
    r
}

#[test]
fn small_examples_run_exactly_on_the_cam() {
    for (dir, format, file) in [
        ("breast_cancer_xgb", ModelFormat::Xgboost, "model.json"),
        ("iris_xgb", ModelFormat::Xgboost, "model.json"),
        ("diabetes_lgbm", ModelFormat::Lightgbm, "model.txt"),
        ("rf_treelite", ModelFormat::Treelite, "model.json"),
    ] {
        let r = run(dir, format, file, "");
        eprintln!("{}", summary(dir, &r));
    }
}

#[test]
fn wide_xgb_energy_study() {
    let configs = [
        ("24x48 paper (reorder + liveness)", "tile = 24x48"),
        ("24x48 + column order by rejection", "tile = 24x48, column_order = rejection"),
        ("24x48 + row clustering", "tile = 24x48, cluster = true"),
        (
            "24x48 + clustering + rejection",
            "tile = 24x48, cluster = true, column_order = rejection",
        ),
        ("auto + clustering + rejection", "tile = auto, cluster = true, column_order = rejection"),
    ];
    let mut lines = Vec::new();
    for (name, options) in configs {
        let r = run("wide_xgb", ModelFormat::Xgboost, "model.json", options);
        assert!(r.energy_pj.monosparse < r.energy_pj.reorder);
        lines.push(summary(name, &r));
        if name.contains("paper") {
            lines.push(format!(
                "  tiles_total {} tiles_nonempty {} | rows enabled per inference raw {:.0} reorder {:.0} mono {:.1}; mono arrays searched {:.1} early exits {:.1}\n  mono breakdown pJ {:?}",
                r.tiles_total,
                r.tiles_nonempty,
                r.events.raw.rows_enabled,
                r.events.reorder.rows_enabled,
                r.events.monosparse.rows_enabled,
                r.events.monosparse.arrays_searched,
                r.events.monosparse.early_exits,
                r.breakdown
            ));
        }
        lines.push(format!(
            "  latency ns raw/reorder/mono {:.1}/{:.1}/{:.1} | area um2 raw/reorder/mono {:.0}/{:.0}/{:.0}",
            r.latency_ns_by_policy.raw,
            r.latency_ns_by_policy.reorder,
            r.latency_ns_by_policy.monosparse,
            r.area_um2_by_policy.raw,
            r.area_um2_by_policy.reorder,
            r.area_um2_by_policy.monosparse
        ));
        if let Some(c) = &r.auto_candidates {
            let best: Vec<String> = c
                .iter()
                .filter_map(|a| a.energy_pj.map(|e| (e, &a.geometry)))
                .map(|(e, g)| format!("{g}:{e:.0}"))
                .collect();
            lines.push(format!(
                "  auto candidates (mono pJ on 512 training samples): {}",
                best.join(" ")
            ));
        }
    }
    eprintln!("{}", lines.join("\n"));
}

#[test]
fn lossy_levels_report_the_loss_they_cause() {
    // breast_cancer_xgb with 4-level cells: features with more than 3 thresholds are merged.
    // The reported fraction of training samples whose leaf assignment changed is recounted here
    // with the framework-faithful traversal as the oracle.
    let dir = "breast_cancer_xgb";
    let model = load_tree_model(ModelFormat::Xgboost, &example(dir).join("model.json")).unwrap();
    let train = features(dir, "X_train.npy");
    let d = lower(&model, "levels = 4", Some(train.view())).unwrap();
    let packed = pack(&model).unwrap();
    let q = &d.quantized.report;
    assert!(!q.lossless && !q.merged_features.is_empty());
    assert!(q.merged_features.iter().all(|m| m.unique_after == 3 && m.unique_before > 3));
    let mut changed = 0usize;
    for x in train.rows() {
        let x = x.to_vec();
        let e = d.quantized.encode(&x).unwrap();
        let rows = d.quantized.matching_rows(&e);
        assert_eq!(rows.len(), model.trees.len(), "still exactly one row per tree");
        if rows.iter().any(|r| {
            let pr = &packed.rows[*r];
            pr.leaf_node != model.trees[pr.tree].leaf_index(&x)
        }) {
            changed += 1;
        }
    }
    let frac = changed as f64 / train.nrows() as f64;
    assert_eq!(q.fraction_leaf_changed, Some(frac));
    eprintln!(
        "{dir} at 4 levels: {} features merged, leaf changed on {:.1}% of training samples, margin changed on {:.1}%, max margin change {:.3}",
        q.merged_features.len(),
        100.0 * frac,
        100.0 * q.fraction_margin_changed.unwrap(),
        q.max_margin_change.unwrap()
    );
    // The three policies still agree bit for bit on the lossy CAM.
    let test = features(dir, "X_test.npy");
    evaluate(&d, test.view()).unwrap();
}
