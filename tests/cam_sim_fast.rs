//! The fast simulator (`cam::fast`, `cam::batch`) against the reference `cam::sim::Simulator`:
//! identical margins (bit for bit), totals, matched rows and every event field, per policy, on
//! random ensembles with awkward thresholds, random, NaN and out-of-range inputs, every table
//! storage mode, one- and multi-word row masks, any thread count, and the shipped examples.
//! The reference itself is held to the float traversal by `cam_sim.rs`.

mod cam_common;

use cam_common::*;
use ndarray::{s, Array2, ArrayView2};
use proptest::prelude::*;
use std::path::Path;
use std::sync::Arc;
use tessera::cam::batch::simulate_batch;
use tessera::cam::fast::{FastSimulator, SparseCam, TableMode};
use tessera::cam::quantize::{samples_to_array, Encoded, QuantizedCam};
use tessera::cam::report::evaluate;
use tessera::cam::sim::{SearchEvents, SimResult, Simulator};
use tessera::cam::tile::{tile, ColumnOrder, Geometry, Policy, TileOptions};
use tessera::cam::CamDesign;
use tessera::cam::CamError;
use tessera::dsl::accel::ModelFormat;
use tessera::frontend::load_tree_model;
use tessera::frontend::npy::read_features;
use tessera::frontend::trees::{Aggregation, TreeEnsemble};

fn random_model(seed: u64, features: usize, outputs: usize, trees: usize) -> TreeEnsemble {
    let s = EnsembleShape {
        features,
        outputs,
        trees,
        max_depth: 5,
        early_leaf: 0.25,
        aggregation: if seed.is_multiple_of(2) { Aggregation::Mean } else { Aggregation::Sum },
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

/// Equal results, margins compared by their bits (so `-0.0` vs `0.0` would be caught too).
fn assert_same(fast: &SimResult, reference: &SimResult, what: &str) {
    let bits = |r: &SimResult| r.margins.iter().map(|m| m.to_bits()).collect::<Vec<_>>();
    assert_eq!(bits(fast), bits(reference), "{what}: margins");
    assert_eq!(fast.totals, reference.totals, "{what}: totals");
    assert_eq!(fast.matched_rows, reference.matched_rows, "{what}: matched rows");
    assert_eq!(fast.events, reference.events, "{what}: events");
}

const MODES: [TableMode; 4] = [
    TableMode::Auto { budget_words: 1 << 21 },
    TableMode::Auto { budget_words: 0 },
    TableMode::Direct,
    TableMode::Compact,
];

/// Every policy of `q` at `geometry`, fast (every table mode) against the reference.
fn check_tilings(
    q: &QuantizedCam,
    geometry: Geometry,
    opts: &TileOptions,
    train: &[Encoded],
    samples: &[Encoded],
) {
    for policy in Policy::ALL {
        let t = tile(q, geometry, policy, opts, train).unwrap();
        let reference = Simulator::new(q, &t);
        let sparse = Arc::new(SparseCam::new(q).unwrap());
        for mode in MODES {
            let fast = FastSimulator::with_tables(q, &t, sparse.clone(), mode).unwrap();
            for (i, e) in samples.iter().enumerate() {
                let what = format!("{} {geometry} {mode:?} sample {i}", policy.name());
                assert_same(&fast.run(e).unwrap(), &reference.run(e), &what);
            }
        }
    }
}

/// Encoded samples from float inputs plus hand-made codes beyond every table (`u16::MAX`,
/// just past the encoder's range) with random NaN flags.
fn encoded_samples(q: &QuantizedCam, seed: u64, n: usize) -> Vec<Encoded> {
    let mut v: Vec<Encoded> = inputs(seed, q.num_features, n)
        .rows()
        .into_iter()
        .map(|x| q.encode(&x.to_vec()).unwrap())
        .collect();
    let mut rng = Rng(seed ^ 0x5eed);
    for _ in 0..n / 2 {
        let codes = (0..q.num_features)
            .map(|f| {
                let u = q.encoders[f].thresholds.len();
                match rng.below(4) {
                    0 => u16::MAX,
                    1 => (u + 1 + rng.below(3)) as u16,
                    _ => rng.below(u + 1) as u16,
                }
            })
            .collect();
        let nan = (0..q.num_features).map(|_| rng.chance(0.2)).collect();
        v.push(Encoded { codes, nan });
    }
    v
}

/// Reference sums over a data set: totals per sample and events per policy.
fn reference_batch(d: &CamDesign, data: ArrayView2<f32>) -> (Array2<i64>, [SearchEvents; 3]) {
    let sims = [
        Simulator::new(&d.quantized, &d.tiled.raw),
        Simulator::new(&d.quantized, &d.tiled.reorder),
        Simulator::new(&d.quantized, &d.tiled.monosparse),
    ];
    let mut totals = Array2::zeros((data.nrows(), d.quantized.num_outputs));
    let mut ev = [SearchEvents::default(); 3];
    for (i, x) in data.rows().into_iter().enumerate() {
        let e = d.quantized.encode(&x.to_vec()).unwrap();
        let res = tessera::cam::sim::simulate_all(&sims, &e).unwrap();
        for k in 0..3 {
            ev[k] += res[k].events;
        }
        for (o, t) in res[0].totals.iter().enumerate() {
            totals[[i, o]] = *t;
        }
    }
    (totals, ev)
}

/// `simulate_batch` and `evaluate` against the reference, on 1 and 3 threads.
fn check_batch(d: &CamDesign, data: ArrayView2<f32>, what: &str) {
    let (totals, ev) = reference_batch(d, data);
    for threads in [1, 3] {
        let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap();
        let run = pool.install(|| simulate_batch(d, data)).unwrap();
        assert_eq!(run.totals, totals, "{what}: totals on {threads} threads");
        let got = [run.events.raw, run.events.reorder, run.events.monosparse];
        assert_eq!(got, ev, "{what}: events on {threads} threads");
        let evaluation = pool.install(|| evaluate(d, data)).unwrap();
        assert_eq!(evaluation.totals, totals, "{what}: evaluate totals");
        let expect = totals.mapv(|t| d.quantized.fixed.to_margin(t).to_bits());
        assert_eq!(evaluation.margins.mapv(f32::to_bits), expect, "{what}: evaluate margins");
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 40, ..ProptestConfig::default() })]

    #[test]
    fn fast_simulator_equals_reference_per_policy(
        seed in any::<u64>(),
        features in 3usize..12,
        outputs in 1usize..3,
        rows in prop_oneof![1usize..8, 60usize..70, 120usize..200],
        cols in 1usize..7,
        cluster in any::<bool>(),
        rejection in any::<bool>(),
        levels in prop_oneof![Just(None), Just(Some(4u32)), Just(Some(7u32))],
    ) {
        let m = random_model(seed, features, outputs, 12);
        let train = inputs(seed ^ 1, features, 40);
        let options = levels.map(|l| format!("levels = {l}")).unwrap_or_default();
        let d = lower(&m, &options, Some(train.view())).unwrap();
        let q = &d.quantized;
        let train_e: Vec<Encoded> =
            train.rows().into_iter().map(|x| q.encode(&x.to_vec()).unwrap()).collect();
        let column_order = if rejection { ColumnOrder::Rejection } else { ColumnOrder::CareCount };
        let topts = TileOptions { cluster, column_order };
        check_tilings(q, Geometry { rows, cols }, &topts, &train_e, &encoded_samples(q, seed ^ 2, 24));
    }

    #[test]
    fn batch_and_evaluate_equal_reference(
        seed in any::<u64>(),
        features in 3usize..10,
        outputs in 1usize..4,
        rows in 1usize..9,
        cols in 1usize..6,
        cluster in any::<bool>(),
    ) {
        let m = random_model(seed, features, outputs, 9);
        let train = inputs(seed ^ 3, features, 40);
        let options = format!("tile = {rows}x{cols}, cluster = {cluster}, column_order = rejection");
        let d = lower(&m, &options, Some(train.view())).unwrap();
        let data = inputs(seed ^ 4, features, 37);
        check_batch(&d, data.view(), "random");
        // A non-contiguous view (every other column of a wider array) reads the same samples.
        let mut wide = Array2::<f32>::zeros((data.nrows(), 2 * features));
        wide.slice_mut(s![.., ..;2]).assign(&data);
        let (totals, _) = reference_batch(&d, data.view());
        prop_assert_eq!(simulate_batch(&d, wide.slice(s![.., ..;2])).unwrap().totals, totals);
    }
}

#[test]
fn fused_encoder_equals_encode() {
    let m = random_model(11, 7, 2, 12);
    for levels in [None, Some(4)] {
        let train = inputs(12, 7, 40);
        let options = levels.map(|l| format!("levels = {l}")).unwrap_or_default();
        let d = lower(&m, &options, Some(train.view())).unwrap();
        let q = &d.quantized;
        let space = SparseCam::new(q).unwrap();
        for x in inputs(13, 7, 200).rows() {
            let x = x.to_vec();
            let (mut a, mut b) = (vec![0u32; 7], vec![0u32; 7]);
            let ea = space.encode_f32(q, &x, &mut a).unwrap();
            let eb = space.from_encoded(&q.encode(&x).unwrap(), &mut b).unwrap();
            assert_eq!((a, ea), (b, eb), "{x:?}");
        }
    }
}

#[test]
fn bad_widths_are_errors_naming_the_mismatch() {
    let m = random_model(5, 4, 1, 3);
    let d = lower(&m, "", None).unwrap();
    let q = &d.quantized;
    let space = SparseCam::new(q).unwrap();
    let mut codes = vec![0u32; 4];
    let err = space.encode_f32(q, &[1.0, 2.0, 3.0], &mut codes).unwrap_err();
    assert_eq!(err, CamError::SampleWidth { what: "input sample".into(), expected: 4, got: 3 });
    let err = space.encode_f32(q, &[1.0; 4], &mut codes[..2]).unwrap_err();
    assert_eq!(err, CamError::SampleWidth { what: "code buffer".into(), expected: 4, got: 2 });
    let wrong = Array2::<f32>::zeros((3, 5));
    assert_eq!(
        simulate_batch(&d, wrong.view()).unwrap_err().to_string(),
        "evaluation data: expected 4 features per sample, got 5"
    );
    // No samples: an empty, well-formed run.
    let none = Array2::<f32>::zeros((0, 4));
    let run = simulate_batch(&d, none.view()).unwrap();
    assert_eq!((run.totals.dim(), run.events.raw), ((0, 1), SearchEvents::default()));
}

#[test]
fn a_tiling_that_loses_a_care_column_is_caught_at_the_first_bad_sample() {
    // Drop reorder's column tiles: its rows then match whatever the dropped columns said.
    let m = random_model(21, 6, 1, 9);
    let mut d = lower(&m, "tile = 4x2", None).unwrap();
    for rt in &mut d.tiled.reorder.row_tiles {
        rt.column_tiles.truncate(1);
    }
    let data = inputs(22, 6, 64);
    // The reference names the same first failing sample.
    let sims = [
        Simulator::new(&d.quantized, &d.tiled.raw),
        Simulator::new(&d.quantized, &d.tiled.reorder),
    ];
    let first = data
        .rows()
        .into_iter()
        .position(|x| {
            let e = d.quantized.encode(&x.to_vec()).unwrap();
            tessera::cam::sim::simulate_all(&sims, &e).is_err()
        })
        .expect("truncating reorder's schedule must change some sample's match");
    for threads in [1, 2] {
        let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap();
        let err = pool.install(|| simulate_batch(&d, data.view())).unwrap_err().to_string();
        assert!(
            err.starts_with(&format!(
                "internal error (please report): policy reorder disagrees with policy raw on \
                 sample {first} (matched rows ["
            )),
            "{err}"
        );
    }
}

fn example_design(
    dir: &str,
    format: ModelFormat,
    file: &str,
    options: &str,
) -> (CamDesign, Array2<f32>) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples").join(dir);
    let model = load_tree_model(format, &root.join(file)).unwrap();
    let train = read_features(&root.join("X_train.npy")).unwrap().data;
    let test = read_features(&root.join("X_test.npy")).unwrap().data;
    (lower(&model, options, Some(train.view())).unwrap(), test)
}

#[test]
fn examples_equal_reference() {
    let paper = "tile = 24x48";
    let cluster = "tile = 24x48, cluster = true, column_order = rejection";
    for (dir, format, file, opts, take) in [
        ("breast_cancer_xgb", ModelFormat::Xgboost, "model.json", paper, usize::MAX),
        ("iris_xgb", ModelFormat::Xgboost, "model.json", paper, usize::MAX),
        ("diabetes_lgbm", ModelFormat::Lightgbm, "model.txt", paper, usize::MAX),
        ("rf_treelite", ModelFormat::Treelite, "model.json", paper, usize::MAX),
        ("wide_xgb", ModelFormat::Xgboost, "model.json", paper, 400),
        ("wide_xgb", ModelFormat::Xgboost, "model.json", cluster, 400),
    ] {
        let (d, test) = example_design(dir, format, file, opts);
        let n = test.nrows().min(take);
        check_batch(&d, test.slice(s![..n, ..]), dir);
    }
}
