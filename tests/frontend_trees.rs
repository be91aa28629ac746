//! Source equivalence of the tree frontends: every example model, loaded by tessera and run
//! through the reference traversal `TreeEnsemble::predict_margin`, must reproduce the
//! framework's own predictions stored beside it by the example's `train.py`.
//!
//! Oracles (all written by the frameworks themselves, never by tessera):
//! - `expected_margin.npy`: the framework's raw margins on `X_test`;
//! - `expected_leaf.npy`: the leaf each sample reaches in each tree. Matching leaves for every
//!   sample and tree is the sharp test that thresholds, comparison operators and child
//!   pointers were carried over exactly.
//!
//! Run with `--nocapture` to see the measured max |margin error| per example.

mod frontend_support;

use std::path::{Path, PathBuf};

use frontend_support::*;
use ndarray::Array2;
use tessera::dsl::accel::ModelFormat;
use tessera::frontend::trees::Aggregation;

fn example(dir: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("examples").join(dir)
}

fn load_example(dir: &str, format: ModelFormat, model_file: &str) -> Loaded {
    load(&example(dir), format, model_file, "X_test.npy", "expected_margin.npy")
}

fn check_xgboost_example(dir: &str) {
    let l = load_example(dir, ModelFormat::Xgboost, "model.json");
    assert_eq!(l.model.aggregation, Aggregation::Sum);
    let leaf = read_i32(&example(dir).join("expected_leaf.npy"));
    assert_leaves_match(&l, &leaf, |_| 0);
    assert_xgboost_float32_replay(&l);
    let max_err = assert_margins(&l, |x, k| float32_sum_bound(&l.model, x, k));
    eprintln!("{dir}: {} samples, max |margin error| = {max_err:e}", l.x.nrows());
}

#[test]
fn breast_cancer_xgb_matches_xgboost() {
    check_xgboost_example("breast_cancer_xgb");
}

#[test]
fn wide_xgb_matches_xgboost() {
    let l = load_example("wide_xgb", ModelFormat::Xgboost, "model.json");
    assert_eq!((l.model.num_features, l.model.trees.len()), (320, 40));
    check_xgboost_example("wide_xgb");
}

#[test]
fn iris_xgb_multiclass_matches_xgboost() {
    let l = load_example("iris_xgb", ModelFormat::Xgboost, "model.json");
    assert_eq!(l.model.num_outputs, 3);
    // tree_info: round-robin classes 0, 1, 2 (20 rounds).
    let classes: Vec<usize> = l.model.trees.iter().map(|t| t.output).collect();
    assert_eq!(classes, (0..60).map(|i| i % 3).collect::<Vec<_>>());
    check_xgboost_example("iris_xgb");
}

#[test]
fn diabetes_lgbm_matches_lightgbm() {
    let dir = "diabetes_lgbm";
    let l = load_example(dir, ModelFormat::Lightgbm, "model.txt");
    assert_eq!(
        (l.model.num_features, l.model.trees.len(), l.model.aggregation),
        (10, 100, Aggregation::Sum)
    );
    let leaf = read_i32(&example(dir).join("expected_leaf.npy"));
    let firsts: Vec<usize> = l.model.trees.iter().map(|t| first_leaf(&t.nodes)).collect();
    assert_leaves_match(&l, &leaf, |t| firsts[t]);
    // LightGBM sums the float64 leaf values from 0.0 in tree order, exactly as predict_margin
    // does (the base margin is 0; the init score lives in the first tree), so the margins must
    // be bit-identical: tolerance 0.
    let max_err = assert_margins(&l, |_, _| 0.0);
    eprintln!("{dir}: {} samples, max |margin error| = {max_err:e}", l.x.nrows());
}

#[test]
fn rf_treelite_matches_scikit_learn() {
    let dir = "rf_treelite";
    let l = load_example(dir, ModelFormat::Treelite, "model.json");
    assert_eq!(l.model.aggregation, Aggregation::Mean);
    assert_eq!(l.model.num_outputs, 3);
    // 20 trees with class-vector leaves become 60 scalar trees, classes 0, 1, 2 per source tree.
    assert_eq!(l.model.trees.len(), 60);
    // Node ids are kept, so each class copy of source tree t must reach sklearn's apply() node.
    let leaf = read_i32(&example(dir).join("expected_leaf.npy"));
    let per_class: Array2<i32> = {
        let mut a = Array2::zeros((leaf.nrows(), 60));
        for r in 0..leaf.nrows() {
            for t in 0..60 {
                a[[r, t]] = leaf[[r, t / 3]];
            }
        }
        a
    };
    assert_leaves_match(&l, &per_class, |_| 0);
    // scikit-learn's predict_proba adds the trees' float64 class distributions in tree order
    // and divides by the tree count, as predict_margin does; Treelite's JSON carries the same
    // float64 leaf values, and the same additions and division happen in the same order: the
    // probabilities must agree to the last bit, tolerance 0.
    let max_err = assert_margins(&l, |_, _| 0.0);
    eprintln!("{dir}: {} samples, max |margin error| = {max_err:e}", l.x.nrows());
}
