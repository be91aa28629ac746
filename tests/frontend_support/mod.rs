//! Helpers shared by the frontend test files: reading the frameworks' own outputs and comparing
//! tessera's reference traversal with them.
#![allow(dead_code)]

use std::path::Path;

use ndarray::{Array2, ArrayD, Ix2};
use ndarray_npy::ReadNpyExt;
use tessera::dsl::accel::ModelFormat;
use tessera::frontend::load_tree_model;
use tessera::frontend::npy;
use tessera::frontend::trees::{Node, TreeEnsemble};

/// A model with the probe inputs and the framework's margins on them.
pub struct Loaded {
    pub model: TreeEnsemble,
    pub x: Array2<f32>,
    pub expected: Array2<f64>,
}

pub fn read_i32(path: &Path) -> Array2<i32> {
    let f = std::fs::File::open(path).unwrap();
    ArrayD::<i32>::read_npy(f).unwrap().into_dimensionality::<Ix2>().unwrap()
}

/// Loads `dir/model_file` and the float32 inputs and framework margins beside it.
pub fn load(dir: &Path, format: ModelFormat, model_file: &str, x: &str, margin: &str) -> Loaded {
    let model = load_tree_model(format, &dir.join(model_file)).unwrap();
    let x = npy::read_features(&dir.join(x)).unwrap();
    assert!(x.note.is_none(), "inputs must be float32");
    let expected = npy::read_matrix_f64(&dir.join(margin)).unwrap();
    assert_eq!(expected.nrows(), x.data.nrows());
    assert_eq!(expected.ncols(), model.num_outputs);
    assert_eq!(x.data.ncols(), model.num_features);
    Loaded { model, x: x.data, expected }
}

/// Every sample reaches the framework's leaf in every tree: `offset(t)` is subtracted from
/// tessera's node index to get the framework's id.
pub fn assert_leaves_match(
    l: &Loaded,
    expected_leaf: &Array2<i32>,
    offset: impl Fn(usize) -> usize,
) {
    assert_eq!(expected_leaf.ncols(), l.model.trees.len());
    for (r, row) in l.x.rows().into_iter().enumerate() {
        let x = row.as_slice().unwrap();
        for (t, tree) in l.model.trees.iter().enumerate() {
            let ours = tree.leaf_index(x) - offset(t);
            assert_eq!(
                ours as i32,
                expected_leaf[[r, t]],
                "sample {r} ({x:?}), tree {t}: tessera reaches leaf {ours}, the framework {}",
                expected_leaf[[r, t]]
            );
        }
    }
}

/// XGBoost accumulates a row's margin in float32, starting from the base margin and adding the
/// trees in model order. Replaying that arithmetic on tessera's leaves gives XGBoost's margins
/// bit for bit when every leaf reached and the base margin are exact.
pub fn assert_xgboost_float32_replay(l: &Loaded) {
    for (r, row) in l.x.rows().into_iter().enumerate() {
        let x = row.as_slice().unwrap();
        let mut acc: Vec<f32> = l.model.base_margin.iter().map(|b| *b as f32).collect();
        for t in &l.model.trees {
            acc[t.output] += t.leaf_value(x) as f32;
        }
        for (k, v) in acc.iter().enumerate() {
            assert_eq!(
                v.to_bits(),
                (l.expected[[r, k]] as f32).to_bits(),
                "sample {r} output {k}: float32 replay {v} vs XGBoost {}",
                l.expected[[r, k]]
            );
        }
    }
}

/// Bound on |float64 sum - float32 sum| for output `k`: each float32 addition rounds to
/// nearest, an error of at most 2^-24 of the partial sum it produces, so the accumulated error
/// is at most 2^-24 * sum(|partial sums|); the 1.01 factor covers the float64 sum's own error
/// (~2^-53 of the same quantity).
pub fn float32_sum_bound(m: &TreeEnsemble, x: &[f32], k: usize) -> f64 {
    let mut partial = m.base_margin[k];
    let mut total = partial.abs();
    for t in m.trees.iter().filter(|t| t.output == k) {
        partial += t.leaf_value(x);
        total += partial.abs();
    }
    1.01 * total * 2f64.powi(-24)
}

/// The same bound for a float64 accumulation in another order (e.g. scikit-learn adding the
/// base first): 2^-52 * sum(|partial sums|) for each of the two orders.
pub fn float64_reorder_bound(m: &TreeEnsemble, x: &[f32], k: usize) -> f64 {
    2.0 * float32_sum_bound(m, x, k) * 2f64.powi(-28)
}

pub fn argmax(v: &[f64]) -> usize {
    let mut best = 0;
    for (i, x) in v.iter().enumerate() {
        if *x > v[best] {
            best = i;
        }
    }
    best
}

/// Checks every margin within `bound(x, k)` of the framework's and the same decision (sign
/// for one classifier output, argmax for several); returns the largest |error| seen.
pub fn assert_margins(l: &Loaded, bound: impl Fn(&[f32], usize) -> f64) -> f64 {
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
                "sample {r} ({x:?}) output {k}: tessera {} vs framework {} (error {err:e} > bound {b:e})",
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

/// Index of a tree's first leaf node: the LightGBM frontend lays out LightGBM's splits first,
/// then its leaves, so subtracting this gives LightGBM's leaf id.
pub fn first_leaf(nodes: &[Node]) -> usize {
    nodes.iter().position(|n| matches!(n, Node::Leaf { .. })).unwrap()
}
