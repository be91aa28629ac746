//! The tiled simulator against the reference traversal, policy equivalence, schedule coverage,
//! and the energy ordering MonoSparse <= reorder <= raw on every input.

mod cam_common;

use cam_common::*;
use ndarray::Array2;
use proptest::prelude::*;
use tessera::cam::pack::pack;
use tessera::cam::quantize::samples_to_array;
use tessera::cam::sim::{simulate_all, Simulator};
use tessera::cam::tile::TiledCam;
use tessera::frontend::trees::{Aggregation, TreeEnsemble};

fn random_model(seed: u64, features: usize, outputs: usize, mean: bool) -> TreeEnsemble {
    let s = EnsembleShape {
        features,
        outputs,
        trees: 9,
        max_depth: 5,
        early_leaf: 0.25,
        aggregation: if mean { Aggregation::Mean } else { Aggregation::Sum },
        pool: nasty_pool(),
    };
    random_ensemble(seed, &s)
}

fn inputs(seed: u64, features: usize, n: usize) -> Array2<f32> {
    let probes = probes(&nasty_pool());
    let mut rng = Rng(seed);
    let rows: Vec<Vec<f32>> = (0..n).map(|_| random_input(&mut rng, features, &probes)).collect();
    samples_to_array(&rows, features).unwrap()
}

/// Every row sits in exactly one row tile, every scheduled array is non-empty unless raw.
fn check_coverage(t: &TiledCam, rows: usize, features: usize) {
    let mut seen = vec![0u32; rows];
    for rt in &t.row_tiles {
        assert!(rt.rows.len() <= t.geometry.rows && !rt.rows.is_empty());
        for r in &rt.rows {
            seen[*r as usize] += 1;
        }
        for ct in &rt.column_tiles {
            assert!(ct.features.len() <= t.geometry.cols && !ct.features.is_empty());
            assert!(ct.features.iter().all(|f| (*f as usize) < features));
        }
    }
    assert!(seen.iter().all(|n| *n == 1), "rows must be covered exactly once: {seen:?}");
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn policies_agree_with_the_traversal_and_energy_is_ordered(
        seed in any::<u64>(),
        features in 3usize..9,
        outputs in 1usize..3,
        mean in any::<bool>(),
        rows in 1usize..7,
        cols in 1usize..6,
        rejection in any::<bool>(),
    ) {
        let m = random_model(seed, features, outputs, mean);
        let train = inputs(seed ^ 1, features, 40);
        let column_order = if rejection { "rejection" } else { "care_count" };
        let options = format!("tile = {rows}x{cols}, column_order = {column_order}");
        let d = lower(&m, &options, Some(train.view())).unwrap();
        let packed = pack(&m).unwrap();
        let n_rows = d.quantized.rows.len();
        for t in [&d.tiled.raw, &d.tiled.reorder, &d.tiled.monosparse] {
            check_coverage(t, n_rows, features);
        }
        prop_assert_eq!(d.tiled.raw.scheduled_tiles(), d.tiled.raw.grid_tiles);
        let sims = [
            Simulator::new(&d.quantized, &d.tiled.raw),
            Simulator::new(&d.quantized, &d.tiled.reorder),
            Simulator::new(&d.quantized, &d.tiled.monosparse),
        ];
        let per = m.trees_per_output();
        let data = inputs(seed ^ 2, features, 48);
        let mut sum = [0.0f64; 3];
        for x in data.rows() {
            let x = x.to_vec();
            let e = d.quantized.encode(&x).unwrap();
            let res = simulate_all(&sims, &e).unwrap();
            // Same rows as the brute-force code-space match and as the float traversal.
            let expect: Vec<u32> = packed.matching_rows(&x).into_iter().map(|r| r as u32).collect();
            prop_assert_eq!(&res[0].matched_rows, &expect);
            for (ti, tree) in m.trees.iter().enumerate() {
                let hit: Vec<u32> = expect.iter().copied().filter(|r| packed.rows[*r as usize].tree == ti).collect();
                prop_assert_eq!(hit.len(), 1);
                prop_assert_eq!(packed.rows[hit[0] as usize].leaf_node, tree.leaf_index(&x));
            }
            let reference = m.predict_margin(&x);
            for k in 0..outputs {
                let hw = res[2].margins[k] as f64;
                let bound = d.quantized.fixed.error_bound(per[k]) + hw.abs() * f32::EPSILON as f64 * 0.5 + 1e-12 * (1.0 + reference[k].abs());
                prop_assert!((hw - reference[k]).abs() <= bound);
            }
            let energy: Vec<(f64, f64)> = (0..3)
                .map(|i| {
                    let b = d.physics.energy(d.geometry, &res[i].events).unwrap();
                    (b.array(), b.total())
                })
                .collect();
            let tol = 1e-12;
            prop_assert!(energy[2].0 <= energy[1].0 + tol && energy[1].0 <= energy[0].0 + tol, "array {:?}", energy);
            prop_assert!(energy[2].1 <= energy[1].1 + tol && energy[1].1 <= energy[0].1 + tol, "total {:?}", energy);
            for i in 0..3 {
                sum[i] += energy[i].1;
            }
            // Liveness never enables more rows than reorder does.
            prop_assert!(res[2].events.rows_enabled <= res[1].events.rows_enabled);
            prop_assert!(res[1].events.rows_enabled <= res[0].events.rows_enabled);
        }
        // Equal per-sample energies may sum with different rounding: allow float noise only.
        let tol = 1e-9 * sum[0];
        prop_assert!(sum[2] <= sum[1] + tol && sum[1] <= sum[0] + tol, "sums {:?}", sum);
    }

    /// Clustering changes the layout, never the function.
    #[test]
    fn clustered_layout_is_functionally_identical(seed in any::<u64>(), rows in 1usize..7, cols in 1usize..6) {
        let features = 6;
        let m = random_model(seed, features, 2, false);
        let train = inputs(seed ^ 3, features, 30);
        let options = format!("tile = {rows}x{cols}, cluster = true, column_order = rejection");
        let d = lower(&m, &options, Some(train.view())).unwrap();
        check_coverage(&d.tiled.monosparse, d.quantized.rows.len(), features);
        // Per-row-tile packing builds only arrays holding care cells.
        prop_assert_eq!(d.tiled.monosparse.nonempty_tiles(), d.tiled.monosparse.scheduled_tiles());
        let sims = [Simulator::new(&d.quantized, &d.tiled.raw), Simulator::new(&d.quantized, &d.tiled.monosparse)];
        for x in inputs(seed ^ 4, features, 40).rows() {
            let e = d.quantized.encode(&x.to_vec()).unwrap();
            simulate_all(&sims, &e).unwrap();
        }
    }
}

#[test]
fn all_dont_care_rows_match_without_any_search() {
    // A single-leaf tree is a row of don't-cares: reorder and monosparse schedule no array for it
    // when it lands in a row tile of its own, and it still contributes its leaf.
    use tessera::frontend::trees::{Node, Tree};
    let m = TreeEnsemble {
        num_features: 2,
        num_outputs: 1,
        base_margin: vec![0.0],
        trees: vec![Tree { output: 0, nodes: vec![Node::Leaf { value: 0.5 }] }],
        aggregation: Aggregation::Sum,
        objective: "reg".into(),
        source: "test".into(),
    };
    let d = lower(&m, "tile = 1x1", None).unwrap();
    assert_eq!(d.tiled.raw.scheduled_tiles(), 2);
    assert_eq!(d.tiled.monosparse.scheduled_tiles(), 0);
    let r = Simulator::new(&d.quantized, &d.tiled.monosparse).run_f32(&[f32::NAN, 1.0]).unwrap();
    assert_eq!((r.margins[0], r.events.arrays_searched, r.events.leaf_adds), (0.5, 0, 1));
}
