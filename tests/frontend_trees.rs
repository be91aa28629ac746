//! Source equivalence of the tree frontends: every example model, loaded by tessera and run
//! through the reference traversal `TreeEnsemble::predict_margin`, must reproduce the
//! framework's own predictions stored beside it by the example's `train.py`.
//!
//! Oracles (all written by the frameworks themselves, never by tessera):
//! - `expected_margin.npy`: the framework's raw margins on `X_test`;
//! - `expected_leaf.npy` (where the framework can report it): the leaf each sample reaches in
//!   each tree. Matching leaves for every sample and tree is the sharp test that thresholds,
//!   comparison operators and child pointers were carried over exactly.

use std::path::{Path, PathBuf};

use ndarray::{Array2, ArrayD, Ix2};
use ndarray_npy::ReadNpyExt;
use tessera::dsl::accel::ModelFormat;
use tessera::frontend::load_tree_model;
use tessera::frontend::npy;
use tessera::frontend::trees::{Aggregation, TreeEnsemble};

fn example(dir: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("examples")
        .join(dir)
}

fn read_i32(path: &Path) -> Array2<i32> {
    let f = std::fs::File::open(path).unwrap();
    ArrayD::<i32>::read_npy(f)
        .unwrap()
        .into_dimensionality::<Ix2>()
        .unwrap()
}

struct Loaded {
    model: TreeEnsemble,
    x: Array2<f32>,
    expected: Array2<f64>,
}

fn load(dir: &str, format: ModelFormat, model_file: &str) -> Loaded {
    let d = example(dir);
    let model = load_tree_model(format, &d.join(model_file)).unwrap();
    let x = npy::read_features(&d.join("X_test.npy")).unwrap();
    assert!(x.note.is_none(), "X_test.npy must be float32");
    let expected = npy::read_matrix_f64(&d.join("expected_margin.npy")).unwrap();
    assert_eq!(expected.nrows(), x.data.nrows());
    assert_eq!(expected.ncols(), model.num_outputs);
    assert_eq!(x.data.ncols(), model.num_features);
    Loaded {
        model,
        x: x.data,
        expected,
    }
}

/// Every sample reaches the same leaf (by the framework's node id) in every tree.
fn assert_leaves_match(l: &Loaded, expected_leaf: &Array2<i32>, offset: impl Fn(usize) -> usize) {
    assert_eq!(expected_leaf.ncols(), l.model.trees.len());
    for (r, row) in l.x.rows().into_iter().enumerate() {
        let x = row.as_slice().unwrap();
        for (t, tree) in l.model.trees.iter().enumerate() {
            let ours = tree.leaf_index(x) - offset(t);
            assert_eq!(
                ours as i32,
                expected_leaf[[r, t]],
                "sample {r}, tree {t}: tessera reaches leaf {ours}, the framework {}",
                expected_leaf[[r, t]]
            );
        }
    }
}

/// XGBoost accumulates a row's margin in float32, starting from the base margin and adding
/// the trees in model order. Replaying that arithmetic on tessera's leaves must give XGBoost's
/// margins bit for bit when (and only when) every leaf and the base margin are exact.
fn xgboost_float32_margins(m: &TreeEnsemble, x: &[f32]) -> Vec<f32> {
    let mut acc: Vec<f32> = m.base_margin.iter().map(|b| *b as f32).collect();
    for t in &m.trees {
        acc[t.output] += t.leaf_value(x) as f32;
    }
    acc
}

/// A-priori bound on |float64 sum - float32 sum| for one output: each float32 addition rounds
/// to nearest, an error of at most 2^-24 of the partial sum it produces, so the accumulated
/// error is at most 2^-24 * sum(|partial sums|). (The float64 sum's own error is ~2^-53 of the
/// same quantity, covered by the 1.01 factor.)
fn float32_sum_bound(m: &TreeEnsemble, x: &[f32], k: usize) -> f64 {
    let mut partial = m.base_margin[k];
    let mut total = 0.0;
    for t in m.trees.iter().filter(|t| t.output == k) {
        partial += t.leaf_value(x);
        total += partial.abs();
    }
    1.01 * total * 2f64.powi(-24)
}

fn argmax(v: &[f64]) -> usize {
    let mut best = 0;
    for (i, x) in v.iter().enumerate() {
        if *x > v[best] {
            best = i;
        }
    }
    best
}

/// Checks margins within the float32-accumulation bound and identical decisions; returns the
/// measured max |error| for the report.
fn assert_margins(l: &Loaded, bound: impl Fn(&[f32], usize) -> f64) -> f64 {
    let mut max_err = 0.0f64;
    for (r, row) in l.x.rows().into_iter().enumerate() {
        let x = row.as_slice().unwrap();
        let ours = l.model.predict_margin(x);
        let theirs: Vec<f64> = l.expected.row(r).to_vec();
        for k in 0..l.model.num_outputs {
            let err = (ours[k] - theirs[k]).abs();
            let b = bound(x, k);
            assert!(
                err <= b,
                "sample {r} output {k}: tessera {} vs framework {} (error {err:e} > bound {b:e})",
                ours[k],
                theirs[k]
            );
            max_err = max_err.max(err);
        }
        if l.model.num_outputs == 1 {
            if l.model.is_classifier() {
                assert_eq!(ours[0] > 0.0, theirs[0] > 0.0, "sample {r}: sign differs");
            }
        } else {
            assert_eq!(argmax(&ours), argmax(&theirs), "sample {r}: argmax differs");
        }
    }
    max_err
}

fn check_xgboost_example(dir: &str) {
    let l = load(dir, ModelFormat::Xgboost, "model.json");
    assert_eq!(l.model.aggregation, Aggregation::Sum);
    let leaf = read_i32(&example(dir).join("expected_leaf.npy"));
    assert_leaves_match(&l, &leaf, |_| 0);
    for (r, row) in l.x.rows().into_iter().enumerate() {
        let x = row.as_slice().unwrap();
        let replay = xgboost_float32_margins(&l.model, x);
        for (k, v) in replay.iter().enumerate() {
            assert_eq!(
                v.to_bits(),
                (l.expected[[r, k]] as f32).to_bits(),
                "sample {r} output {k}: float32 replay {v} vs XGBoost {}",
                l.expected[[r, k]]
            );
        }
    }
    let max_err = assert_margins(&l, |x, k| float32_sum_bound(&l.model, x, k));
    eprintln!(
        "{dir}: {} samples, max |margin error| = {max_err:e}",
        l.x.nrows()
    );
}

#[test]
fn breast_cancer_xgb_matches_xgboost() {
    check_xgboost_example("breast_cancer_xgb");
}

#[test]
fn wide_xgb_matches_xgboost() {
    let l = load("wide_xgb", ModelFormat::Xgboost, "model.json");
    assert_eq!((l.model.num_features, l.model.trees.len()), (320, 40));
    check_xgboost_example("wide_xgb");
}

#[test]
fn iris_xgb_multiclass_matches_xgboost() {
    let l = load("iris_xgb", ModelFormat::Xgboost, "model.json");
    assert_eq!(l.model.num_outputs, 3);
    // tree_info: round-robin classes 0, 1, 2 (20 rounds).
    let classes: Vec<usize> = l.model.trees.iter().map(|t| t.output).collect();
    assert_eq!(classes, (0..60).map(|i| i % 3).collect::<Vec<_>>());
    check_xgboost_example("iris_xgb");
}

/// Number of split nodes of each tree: the LightGBM frontend puts the splits first, so a leaf
/// node index minus this is LightGBM's own leaf index.
fn split_counts(m: &TreeEnsemble) -> Vec<usize> {
    m.trees
        .iter()
        .map(|t| {
            t.nodes
                .iter()
                .filter(|n| matches!(n, tessera::frontend::trees::Node::Split { .. }))
                .count()
        })
        .collect()
}

#[test]
fn diabetes_lgbm_matches_lightgbm() {
    let dir = "diabetes_lgbm";
    let l = load(dir, ModelFormat::Lightgbm, "model.txt");
    assert_eq!(
        (
            l.model.num_features,
            l.model.trees.len(),
            l.model.aggregation
        ),
        (10, 100, Aggregation::Sum)
    );
    let leaf = read_i32(&example(dir).join("expected_leaf.npy"));
    let splits = split_counts(&l.model);
    assert_leaves_match(&l, &leaf, |t| splits[t]);
    // LightGBM sums the float64 leaf values from 0.0 in tree order, exactly as predict_margin
    // does (the base margin is 0; the init score lives in the first tree), so the margins must
    // be bit-identical: tolerance 0.
    let max_err = assert_margins(&l, |_, _| 0.0);
    eprintln!(
        "{dir}: {} samples, max |margin error| = {max_err:e}",
        l.x.nrows()
    );
}

#[test]
fn rf_treelite_matches_scikit_learn() {
    let dir = "rf_treelite";
    let l = load(dir, ModelFormat::Treelite, "model.json");
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
    eprintln!(
        "{dir}: {} samples, max |margin error| = {max_err:e}",
        l.x.nrows()
    );
}
