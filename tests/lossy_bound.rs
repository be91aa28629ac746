//! The error bound the CAM states holds on random tree models: wherever it is stated, the
//! simulated margins are within it of the float model (leaves rounded to 2..=32 bits, leaves of
//! every magnitude so that float32 rounding dominates at 32 bits); where thresholds merged, no
//! bound is stated and the merging is reported as a lossy step.

mod cam_common;

use cam_common::*;
use proptest::prelude::*;
use tessera::cam::lossy::{max_margin_error, stated_bound, steps};
use tessera::cam::quantize::samples_to_array;
use tessera::diagnostics::Code;
use tessera::frontend::trees::{Aggregation, Node, TreeEnsemble};

/// A random ensemble whose float32 leaves are scaled by `scale` (framework leaves are float32).
fn model(seed: u64, outputs: usize, trees: usize, mean: bool, scale: f64) -> TreeEnsemble {
    let s = EnsembleShape {
        features: 4,
        outputs,
        trees,
        max_depth: 5,
        early_leaf: 0.2,
        aggregation: if mean { Aggregation::Mean } else { Aggregation::Sum },
        pool: (0..40).map(|k| k as f32 * 0.37 - 7.0).chain(nasty_pool()).collect(),
    };
    let mut e = random_ensemble(seed, &s);
    for t in &mut e.trees {
        for n in &mut t.nodes {
            if let Node::Leaf { value } = n {
                *value = (*value * scale) as f32 as f64;
            }
        }
    }
    e.base_margin = e.base_margin.iter().map(|b| (b * scale) as f32 as f64).collect();
    e
}

fn data(seed: u64, n: usize) -> ndarray::Array2<f32> {
    let pool: Vec<f32> = (0..40).map(|k| k as f32 * 0.37 - 7.0).chain(nasty_pool()).collect();
    let probes = probes(&pool);
    let mut rng = Rng(seed ^ 0x9e37_79b9_7f4a_7c15);
    let rows: Vec<Vec<f32>> = (0..n).map(|_| random_input(&mut rng, 4, &probes)).collect();
    samples_to_array(&rows, 4).unwrap()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]
    #[test]
    fn observed_error_never_exceeds_the_stated_bound(
        seed in any::<u64>(),
        outputs in 1usize..4,
        trees in 1usize..40,
        mean in any::<bool>(),
        leaf_bits in 2u32..=32,
        levels in prop_oneof![Just(4u32), Just(256u32)],
        scale_exp in -3i32..7,
    ) {
        let m = model(seed, outputs, trees, mean, 10f64.powi(scale_exp));
        let x = data(seed, 64);
        let options = format!("leaf_bits = {leaf_bits}, levels = {levels}");
        let design = lower(&m, &options, Some(x.view())).unwrap();
        let q = &design.quantized;
        let ev = tessera::cam::evaluate(&design, x.view()).unwrap();
        let err = max_margin_error(&m, x.view(), ev.margins.view());
        let reported = steps(q, err);
        match stated_bound(q) {
            Some(bound) => {
                prop_assert!(q.report.merged_features.is_empty());
                prop_assert!(err <= bound, "error {err} above the stated bound {bound}");
                prop_assert!(reported.iter().all(|s| s.code != Code::E0110));
            }
            None => {
                prop_assert!(!q.report.merged_features.is_empty());
                prop_assert_eq!(reported.first().map(|s| s.code), Some(Code::E0110));
            }
        }
    }
}
