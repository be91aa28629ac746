//! Rank-based codes are lossless while thresholds fit the levels; merging reports its loss;
//! fixed-point leaves stay within the stated bound and the accumulator cannot overflow.

mod cam_common;

use cam_common::*;
use ndarray::Array2;
use proptest::prelude::*;
use tessera::cam::pack::pack;
use tessera::cam::quantize::{quantize, samples_to_array, QuantConfig};
use tessera::cam::CamError;
use tessera::frontend::trees::{Aggregation, Node, SplitOp, Tree, TreeEnsemble};

fn lt(feature: u32, threshold: f32, left: u32, right: u32) -> Node {
    Node::Split { feature, threshold, op: SplitOp::Lt, left, right, missing_left: true }
}
fn leaf(value: f64) -> Node {
    Node::Leaf { value }
}
fn model(features: usize, trees: Vec<Tree>, aggregation: Aggregation, base: f64) -> TreeEnsemble {
    TreeEnsemble {
        num_features: features,
        num_outputs: 1,
        base_margin: vec![base],
        trees,
        aggregation,
        objective: "reg:squarederror".into(),
        source: "test".into(),
    }
}

/// f0 < 1 -> 0 | f0 < 2 -> 1 | f0 < 3 -> 2 | f0 < 4 -> 3 | 4: five leaves, thresholds 1..4.
fn chain() -> TreeEnsemble {
    let nodes = vec![
        lt(0, 1.0, 1, 2),
        leaf(0.0),
        lt(0, 2.0, 3, 4),
        leaf(1.0),
        lt(0, 3.0, 5, 6),
        leaf(2.0),
        lt(0, 4.0, 7, 8),
        leaf(3.0),
        leaf(4.0),
    ];
    model(1, vec![Tree { output: 0, nodes }], Aggregation::Sum, 0.0)
}

fn column(values: &[(f32, usize)]) -> Array2<f32> {
    let rows: Vec<Vec<f32>> =
        values.iter().flat_map(|(v, n)| std::iter::repeat_n(vec![*v], *n)).collect();
    samples_to_array(&rows, 1).unwrap()
}

#[test]
fn codes_follow_the_threshold_ranks() {
    let p = pack(&chain()).unwrap();
    let q = quantize(&p, &QuantConfig::default(), None).unwrap();
    assert_eq!(q.encoders[0].thresholds, vec![1.0, 2.0, 3.0, 4.0]);
    // code(x) = #{t_k <= x}: thresholds themselves land in the upper interval.
    let codes: Vec<u16> =
        [0.5f32, 1.0, 1.5, 2.0, 3.99, 4.0, 1e9].iter().map(|x| q.encoders[0].code(*x)).collect();
    assert_eq!(codes, vec![0, 1, 1, 2, 3, 4, 4]);
    // Row 2 (leaf 2) is [2, 3) = thresholds t_1..t_2 -> codes [2, 3).
    assert_eq!((q.rows[2].cells[0].lo, q.rows[2].cells[0].hi), (Some(2), Some(3)));
    assert!(q.report.lossless);
    assert_eq!(q.report.max_codes_needed, 5);
    let e = q.encode(&[f32::NAN]).unwrap();
    assert_eq!((e.codes[0], e.nan[0]), (0, true));
}

#[test]
fn merging_skips_an_empty_interval_without_training_loss() {
    // levels = 4 allows 3 thresholds. No training sample lies in [2, 3), so removing threshold 2
    // (snapping it to 3) changes no training sample: leaf 2's range [2,3) becomes empty and leaf
    // 1's range [1,2) becomes [1,3).
    let train = column(&[(0.5, 10), (1.5, 10), (3.5, 10), (4.5, 10)]);
    let p = pack(&chain()).unwrap();
    let q = quantize(&p, &QuantConfig { levels: 4, leaf_bits: 16 }, Some(train.view())).unwrap();
    assert_eq!(q.encoders[0].thresholds, vec![1.0, 3.0, 4.0]);
    assert!(!q.report.lossless);
    assert_eq!(q.report.merged_features.len(), 1);
    assert_eq!(
        (q.report.merged_features[0].unique_before, q.report.merged_features[0].unique_after),
        (4, 3)
    );
    assert_eq!(q.report.train_samples, 40);
    assert_eq!(q.report.fraction_leaf_changed, Some(0.0));
    assert_eq!(q.report.max_margin_change, Some(0.0));
    // An input in the merged gap now reaches leaf 1 instead of leaf 2.
    let e = q.encode(&[2.5]).unwrap();
    assert_eq!(q.matching_rows(&e), vec![1]);
}

#[test]
fn merging_reports_the_measured_loss() {
    // Five samples in each interval: every removal costs 5 samples and every gap is 1.0, so the
    // lowest threshold (1.0, which can only snap up to 2.0) goes. The 5 samples at 1.5 then reach
    // leaf 0 instead of leaf 1: 5 of 25 samples change, by |1 - 0| = 1.
    let train = column(&[(0.5, 5), (1.5, 5), (2.5, 5), (3.5, 5), (4.5, 5)]);
    let p = pack(&chain()).unwrap();
    let q = quantize(&p, &QuantConfig { levels: 4, leaf_bits: 16 }, Some(train.view())).unwrap();
    assert_eq!(q.encoders[0].thresholds, vec![2.0, 3.0, 4.0]);
    assert_eq!(q.report.fraction_leaf_changed, Some(0.2));
    assert_eq!(q.report.fraction_margin_changed, Some(0.2));
    assert_eq!(q.report.max_margin_change, Some(1.0));
}

#[test]
fn merging_without_data_is_allowed_but_unmeasured() {
    let p = pack(&chain()).unwrap();
    let q = quantize(&p, &QuantConfig { levels: 3, leaf_bits: 16 }, None).unwrap();
    assert_eq!(q.encoders[0].thresholds.len(), 2);
    assert_eq!(q.report.fraction_leaf_changed, None);
}

#[test]
fn mean_leaves_are_divided_before_fixed_point() {
    // Two trees feeding one output, averaged: leaves {1, -3} and {0.5, 2} become {0.5, -1.5} and
    // {0.25, 1}. With 8-bit leaves (|q| <= 127) the largest, 1.5, allows frac = 6 (1.5*64 = 96;
    // frac 7 would give 192). Leaves: 32, -96, 16, 64; base 0.5 -> 32.
    // Accumulator bound M = 32 + max(32, 96) + max(16, 64) = 192 -> 8 magnitude bits + sign = 9.
    let t0 = Tree { output: 0, nodes: vec![lt(0, 0.0, 1, 2), leaf(1.0), leaf(-3.0)] };
    let t1 = Tree { output: 0, nodes: vec![lt(0, 0.0, 1, 2), leaf(0.5), leaf(2.0)] };
    let m = model(1, vec![t0, t1], Aggregation::Mean, 0.5);
    let q = quantize(&pack(&m).unwrap(), &QuantConfig { levels: 256, leaf_bits: 8 }, None).unwrap();
    assert_eq!(q.fixed.frac_bits, 6);
    assert_eq!(q.rows.iter().map(|r| r.leaf_q).collect::<Vec<_>>(), vec![32, -96, 16, 64]);
    assert_eq!(q.base_q, vec![32]);
    assert_eq!(q.fixed.acc_bits, 9);
    // Bound (2 trees + base) * 2^-7.
    assert_eq!(q.report.fixed_point_error_bound, 3.0 / 128.0);
}

#[test]
fn huge_leaves_get_negative_fraction_bits() {
    // 1e6 * 2^-13 = 122.07 rounds to 122 <= 127; at 2^-12 it would be 244.
    let m = model(1, vec![Tree { output: 0, nodes: vec![leaf(1e6)] }], Aggregation::Sum, 0.0);
    let q = quantize(&pack(&m).unwrap(), &QuantConfig { levels: 256, leaf_bits: 8 }, None).unwrap();
    assert_eq!(q.fixed.frac_bits, -13);
    assert_eq!(q.rows[0].leaf_q, 122);
}

#[test]
fn bad_options_and_shapes_are_errors() {
    let p = pack(&chain()).unwrap();
    let e = quantize(&p, &QuantConfig { levels: 1, leaf_bits: 16 }, None).unwrap_err();
    assert_eq!(e.to_string(), "invalid option `levels`: 1 is outside 2..=65536");
    let e = quantize(&p, &QuantConfig { levels: 256, leaf_bits: 40 }, None).unwrap_err();
    assert_eq!(e.to_string(), "invalid option `leaf_bits`: 40 is outside 2..=32");
    let wide = Array2::<f32>::zeros((3, 2));
    let e = quantize(&p, &QuantConfig::default(), Some(wide.view())).unwrap_err();
    assert_eq!(e.to_string(), "training set: expected 1 features per sample, got 2");
    let q = quantize(&p, &QuantConfig::default(), None).unwrap();
    assert_eq!(
        q.encode(&[1.0, 2.0]).unwrap_err(),
        CamError::SampleWidth { what: "input sample".into(), expected: 1, got: 2 }
    );
    assert!(matches!(samples_to_array(&[vec![1.0], vec![]], 1), Err(CamError::SampleWidth { .. })));
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    /// Lossless codes: the quantized rows match exactly the float rows; the fixed-point margin is
    /// within the stated bound; partial sums fit the accumulator.
    #[test]
    fn quantized_cam_equals_float_cam(seed in any::<u64>(), outputs in 1usize..4, mean in any::<bool>(), leaf_bits in 4u32..20) {
        let agg = if mean { Aggregation::Mean } else { Aggregation::Sum };
        let s = EnsembleShape { features: 4, outputs, trees: 7, max_depth: 5, early_leaf: 0.2, aggregation: agg, pool: nasty_pool() };
        let m = random_ensemble(seed, &s);
        let p = pack(&m).unwrap();
        let q = quantize(&p, &QuantConfig { levels: 256, leaf_bits }, None).unwrap();
        prop_assert!(q.report.lossless);
        let limit = (1i64 << (leaf_bits - 1)) - 1;
        prop_assert!(q.rows.iter().all(|r| r.leaf_q.abs() <= limit));
        let acc_max = (1i64 << (q.fixed.acc_bits - 1)) - 1;
        let per = m.trees_per_output();
        let probes = probes(&nasty_pool());
        let mut rng = Rng(seed.rotate_left(17));
        for _ in 0..64 {
            let x = random_input(&mut rng, m.num_features, &probes);
            let e = q.encode(&x).unwrap();
            let rows = q.matching_rows(&e);
            prop_assert_eq!(&rows, &p.matching_rows(&x));
            let mut totals = q.base_q.clone();
            for t in &totals {
                prop_assert!(t.abs() <= acc_max);
            }
            for r in &rows {
                let row = &q.rows[*r];
                totals[row.output] += row.leaf_q;
                prop_assert!(totals[row.output].abs() <= acc_max, "partial sum overflows");
            }
            let reference = m.predict_margin(&x);
            for k in 0..outputs {
                let hw = q.fixed.to_margin(totals[k]) as f64;
                // Stated bound plus half a float32 ulp of the result and float64 noise of the reference.
                let bound = q.fixed.error_bound(per[k]) + hw.abs() * f32::EPSILON as f64 * 0.5 + 1e-12 * (1.0 + reference[k].abs());
                prop_assert!((hw - reference[k]).abs() <= bound, "output {}: hw {} ref {} bound {}", k, hw, reference[k], bound);
            }
        }
    }
}
