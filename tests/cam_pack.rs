//! `cam-pack`: exact split semantics, missing values, don't-cares, error paths, and the invariant
//! "for every tree exactly one row matches: the row of the leaf the traversal reaches".

mod cam_common;

use cam_common::*;
use proptest::prelude::*;
use tessera::cam::pack::{next_down_f32, next_up_f32, pack, Cell};
use tessera::cam::CamError;
use tessera::frontend::trees::{Aggregation, Node, SplitOp, Tree, TreeEnsemble};

fn split(
    feature: u32,
    threshold: f32,
    op: SplitOp,
    left: u32,
    right: u32,
    missing_left: bool,
) -> Node {
    Node::Split { feature, threshold, op, left, right, missing_left }
}
fn leaf(value: f64) -> Node {
    Node::Leaf { value }
}
fn model(features: usize, trees: Vec<Tree>) -> TreeEnsemble {
    TreeEnsemble {
        num_features: features,
        num_outputs: 1,
        base_margin: vec![0.5],
        trees,
        aggregation: Aggregation::Sum,
        objective: "reg:squarederror".into(),
        source: "test".into(),
    }
}
fn one_tree(features: usize, nodes: Vec<Node>) -> TreeEnsemble {
    model(features, vec![Tree { output: 0, nodes }])
}

#[test]
fn strict_less_than_gives_half_open_ranges() {
    // f0 < 1.0, NaN goes left.
    let m = one_tree(2, vec![split(0, 1.0, SplitOp::Lt, 1, 2, true), leaf(-1.0), leaf(2.0)]);
    let p = pack(&m).unwrap();
    assert_eq!(p.rows.len(), 2);
    assert_eq!(p.rows[0].cells[0], Cell { lo: None, hi: Some(1.0), nan_match: true });
    assert_eq!(p.rows[1].cells[0], Cell { lo: Some(1.0), hi: None, nan_match: false });
    // The untested feature is don't-care in both rows: 2 of 4 cells.
    assert_eq!(p.rows[0].cells[1], Cell::DONT_CARE);
    assert_eq!(p.sparsity(), 0.5);
    assert_eq!((p.rows[0].leaf, p.rows[1].leaf), (-1.0, 2.0));
    assert_eq!((p.rows[0].leaf_node, p.rows[1].leaf_node), (1, 2));
    // The threshold itself goes right (1.0 < 1.0 is false); the float below goes left.
    assert_eq!(p.matching_rows(&[1.0, 0.0]), vec![1]);
    assert_eq!(p.matching_rows(&[next_down_f32(1.0), 0.0]), vec![0]);
    assert_eq!(p.matching_rows(&[f32::NAN, 0.0]), vec![0]);
}

#[test]
fn less_or_equal_uses_the_next_float_up() {
    // f0 <= 1.0, NaN goes right.
    let m = one_tree(1, vec![split(0, 1.0, SplitOp::Le, 1, 2, false), leaf(-1.0), leaf(2.0)]);
    let p = pack(&m).unwrap();
    let up = f32::from_bits(1.0f32.to_bits() + 1); // 1.0000001, the next float32 above 1.0
    assert_eq!(p.rows[0].cells[0], Cell { lo: None, hi: Some(up), nan_match: false });
    assert_eq!(p.rows[1].cells[0], Cell { lo: Some(up), hi: None, nan_match: true });
    assert_eq!(p.matching_rows(&[1.0]), vec![0]);
    assert_eq!(p.matching_rows(&[up]), vec![1]);
    assert_eq!(p.matching_rows(&[f32::NAN]), vec![1]);
}

#[test]
fn splits_on_one_feature_intersect_and_nan_needs_every_split() {
    // f0 < 5 (NaN left) -> [f0 < 2 (NaN right) -> a | b] | c.
    // Row b: 2 <= f0 < 5; NaN went left at the root (ok) and right at node 1 (ok) -> matches NaN.
    // Row a: f0 < 2; NaN goes right at node 1 but the path goes left -> no NaN.
    let m = one_tree(
        1,
        vec![
            split(0, 5.0, SplitOp::Lt, 1, 4, true),
            split(0, 2.0, SplitOp::Lt, 2, 3, false),
            leaf(1.0),
            leaf(2.0),
            leaf(3.0),
        ],
    );
    let p = pack(&m).unwrap();
    assert_eq!(p.rows[0].cells[0], Cell { lo: None, hi: Some(2.0), nan_match: false });
    assert_eq!(p.rows[1].cells[0], Cell { lo: Some(2.0), hi: Some(5.0), nan_match: true });
    assert_eq!(p.rows[2].cells[0], Cell { lo: Some(5.0), hi: None, nan_match: false });
    assert_eq!(p.matching_rows(&[f32::NAN]), vec![1]);
}

#[test]
fn infinite_thresholds_are_exact() {
    // f0 <= +inf: every number goes left, nothing but NaN (missing right) goes right.
    let m =
        one_tree(1, vec![split(0, f32::INFINITY, SplitOp::Le, 1, 2, false), leaf(1.0), leaf(2.0)]);
    let p = pack(&m).unwrap();
    assert_eq!(p.rows[0].cells[0], Cell { lo: None, hi: None, nan_match: false });
    for x in [f32::INFINITY, f32::MAX, 0.0, f32::NEG_INFINITY] {
        assert_eq!(p.matching_rows(&[x]), vec![0], "x = {x}");
    }
    assert_eq!(p.matching_rows(&[f32::NAN]), vec![1]);
    // f0 < -inf: nothing goes left; -inf itself goes right.
    let m = one_tree(
        1,
        vec![split(0, f32::NEG_INFINITY, SplitOp::Lt, 1, 2, true), leaf(1.0), leaf(2.0)],
    );
    let p = pack(&m).unwrap();
    assert_eq!(p.matching_rows(&[f32::NEG_INFINITY]), vec![1]);
    assert_eq!(p.matching_rows(&[f32::NAN]), vec![0]);
}

#[test]
fn structural_errors_name_the_tree_and_node() {
    let bad_feature =
        one_tree(2, vec![split(7, 1.0, SplitOp::Lt, 1, 2, true), leaf(0.0), leaf(1.0)]);
    let e = pack(&bad_feature).unwrap_err();
    assert_eq!(e, CamError::FeatureOutOfRange { tree: 0, node: 0, feature: 7, num_features: 2 });
    assert_eq!(
        e.to_string(),
        "tree 0 node 0: split feature 7 is out of range (model has 2 features)"
    );

    let bad_child = one_tree(1, vec![split(0, 1.0, SplitOp::Lt, 1, 9, true), leaf(0.0)]);
    assert_eq!(
        pack(&bad_child).unwrap_err().to_string(),
        "tree 0: node 0: right child 9 is out of range (2 nodes)"
    );

    let shared = one_tree(1, vec![split(0, 1.0, SplitOp::Lt, 1, 1, true), leaf(0.0)]);
    assert_eq!(
        pack(&shared).unwrap_err().to_string(),
        "tree 0: node 1 is reachable twice, so this is not a tree"
    );

    let cycle = one_tree(1, vec![split(0, 1.0, SplitOp::Lt, 0, 1, true), leaf(0.0)]);
    assert!(matches!(pack(&cycle), Err(CamError::BadTree { tree: 0, .. })));

    let nan = one_tree(1, vec![split(0, f32::NAN, SplitOp::Lt, 1, 2, true), leaf(0.0), leaf(1.0)]);
    assert_eq!(pack(&nan).unwrap_err(), CamError::NanThreshold { tree: 0, node: 0 });

    let inf_leaf = one_tree(1, vec![leaf(f64::INFINITY)]);
    assert_eq!(
        pack(&inf_leaf).unwrap_err().to_string(),
        "leaf value of tree 0 node 0 is not finite (inf)"
    );

    let mut no_trees = one_tree(1, vec![leaf(0.0)]);
    no_trees.trees.clear();
    assert!(matches!(pack(&no_trees), Err(CamError::EmptyModel(_))));

    let mut bad_base = one_tree(1, vec![leaf(0.0)]);
    bad_base.base_margin = vec![0.0, 1.0];
    assert_eq!(pack(&bad_base).unwrap_err(), CamError::BaseMarginCount { outputs: 1, base: 2 });

    let mut bad_output = one_tree(1, vec![leaf(0.0)]);
    bad_output.trees[0].output = 3;
    assert_eq!(
        pack(&bad_output).unwrap_err(),
        CamError::OutputOutOfRange { tree: 0, output: 3, num_outputs: 1 }
    );

    let empty_tree = one_tree(1, vec![]);
    assert_eq!(pack(&empty_tree).unwrap_err().to_string(), "tree 0: has no nodes");
}

#[test]
fn a_single_leaf_tree_is_one_all_dont_care_row() {
    let p = pack(&one_tree(3, vec![leaf(0.25)])).unwrap();
    assert_eq!(p.rows.len(), 1);
    assert!(p.rows[0].cells.iter().all(|c| c.is_dont_care()));
    assert_eq!(p.sparsity(), 1.0);
    assert_eq!(p.predict_margin(&[f32::NAN, 1.0, 2.0]), vec![0.75]);
}

#[test]
fn next_up_and_down_step_one_float() {
    assert_eq!(next_up_f32(0.0), f32::from_bits(1));
    assert_eq!(next_up_f32(-0.0), f32::from_bits(1));
    assert_eq!(next_up_f32(f32::MAX), f32::INFINITY);
    assert_eq!(next_up_f32(f32::INFINITY), f32::INFINITY);
    assert_eq!(next_up_f32(-f32::from_bits(1)), -0.0);
    assert_eq!(next_down_f32(1.0).to_bits(), 1.0f32.to_bits() - 1);
    assert_eq!(next_up_f32(f32::NEG_INFINITY), -f32::MAX);
}

fn shape(outputs: usize, aggregation: Aggregation) -> EnsembleShape {
    EnsembleShape {
        features: 4,
        outputs,
        trees: 6,
        max_depth: 5,
        early_leaf: 0.2,
        aggregation,
        pool: nasty_pool(),
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 96, ..ProptestConfig::default() })]

    /// For every tree exactly one row matches, the one whose leaf the traversal reaches; so the
    /// margins agree exactly.
    #[test]
    fn exactly_one_row_per_tree_and_it_is_the_traversal_leaf(
        seed in any::<u64>(), outputs in 1usize..4, mean in any::<bool>()
    ) {
        let agg = if mean { Aggregation::Mean } else { Aggregation::Sum };
        let m = random_ensemble(seed, &shape(outputs, agg));
        let p = pack(&m).unwrap();
        let probes = probes(&nasty_pool());
        let mut rng = Rng(seed ^ 0xA5A5);
        for _ in 0..64 {
            let x = random_input(&mut rng, m.num_features, &probes);
            let rows = p.matching_rows(&x);
            for (ti, tree) in m.trees.iter().enumerate() {
                let of_tree: Vec<usize> = rows.iter().copied().filter(|r| p.rows[*r].tree == ti).collect();
                prop_assert_eq!(of_tree.len(), 1, "tree {} x {:?}", ti, x);
                prop_assert_eq!(p.rows[of_tree[0]].leaf_node, tree.leaf_index(&x));
            }
            prop_assert_eq!(p.predict_margin(&x), m.predict_margin(&x));
        }
    }
}
