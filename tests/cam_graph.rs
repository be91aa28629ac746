//! The hardware graph `cam-tile` writes (`cam.encode` → `cam.array`s → `cam.leaves` →
//! `cam.margin`): the IR interpreter, running only the nodes' own semantics, reproduces the
//! simulator's margins bit for bit on every policy (so the nodes hold the whole design), and
//! the verifier rejects hardware nodes that are inconsistent.

mod cam_common;

use cam_common::*;
use ndarray::{Array2, ArrayView2};
use std::path::Path;
use std::sync::Arc;
use tessera::cam::dialect::{CamArray, CamLeaves, LeafTable};
use tessera::cam::report::evaluate;
use tessera::cam::tile::Policy;
use tessera::dsl::accel::ModelFormat;
use tessera::frontend::load_tree_model;
use tessera::frontend::npy::read_features;
use tessera::frontend::trees::TreeEnsemble;
use tessera::ir::{interp, verify, Graph, NodeId, Op, Tensor};

/// Margins of the interpreter on `g`, one sample at a time.
fn interpreted(g: &Graph, x: ArrayView2<f32>) -> Array2<f32> {
    let mut out = Vec::new();
    for row in x.rows() {
        let t = Tensor::f32(vec![row.len()], row.to_vec()).unwrap();
        let r = interp::run(g, &[t]).unwrap_or_else(|e| panic!("{e}"));
        out.extend_from_slice(r[0].floats().unwrap());
    }
    Array2::from_shape_vec((x.nrows(), out.len() / x.nrows().max(1)), out).unwrap()
}

/// Lowers `model` with `options` under every policy and compares the interpreter on the final
/// graph with the simulator (`evaluate`, what `tessera sim` reports), bit for bit.
fn check(model: &TreeEnsemble, options: &str, train: ArrayView2<f32>, x: ArrayView2<f32>) {
    for order in Policy::ALL {
        let options = format!("{options}, order = {}", order.name());
        let (job, lowered) = lower_graph(model, &options, Some(train)).unwrap();
        let design = tessera::cam::family::realized_design(&job, &lowered).unwrap();
        let sim = evaluate(&design, x).unwrap().margins;
        let ir = interpreted(&lowered.graph, x);
        assert_eq!(ir.mapv(f32::to_bits), sim.mapv(f32::to_bits), "{options}");
    }
}

#[test]
fn interpreter_equals_simulator_on_iris() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/iris_xgb");
    let model = load_tree_model(ModelFormat::Xgboost, &root.join("model.json")).unwrap();
    let train = read_features(&root.join("X_train.npy")).unwrap().data;
    let mut test = read_features(&root.join("X_test.npy")).unwrap().data;
    // Missing values and infinities take the NaN and clamped paths of the encoder.
    test[[0, 2]] = f32::NAN;
    test[[1, 3]] = f32::INFINITY;
    test[[2, 0]] = f32::NEG_INFINITY;
    for options in ["tile = 24x48", "tile = 24x2", "tile = 8x1, cluster = true"] {
        check(&model, options, train.view(), test.view());
    }
}

#[test]
fn interpreter_equals_simulator_on_random_ensembles() {
    for seed in 0..6u64 {
        let shape = EnsembleShape {
            features: 6,
            outputs: 1 + (seed as usize % 3),
            trees: 8,
            max_depth: 4,
            early_leaf: 0.25,
            aggregation: tessera::frontend::trees::Aggregation::Sum,
            pool: nasty_pool(),
        };
        let model = random_ensemble(seed, &shape);
        let pool = probes(&nasty_pool());
        let mut rng = Rng(seed ^ 0x5eed);
        let sample = |rng: &mut Rng, n: usize| {
            let mut x = Array2::<f32>::zeros((n, 6));
            for i in 0..n {
                for (j, v) in random_input(rng, 6, &pool).into_iter().enumerate() {
                    x[[i, j]] = v;
                }
            }
            x
        };
        let train = sample(&mut rng, 30);
        let x = sample(&mut rng, 40);
        let options = ["tile = 3x2", "tile = 5x4, cluster = true, column_order = rejection"];
        check(&model, options[seed as usize % 2], train.view(), x.view());
    }
}

/// The iris hardware graph and its node ids, first array first.
fn iris_graph() -> (Graph, Vec<NodeId>, NodeId) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/iris_xgb");
    let model = load_tree_model(ModelFormat::Xgboost, &root.join("model.json")).unwrap();
    let (_, lowered) = lower_graph(&model, "tile = 24x2", None).unwrap();
    let g = lowered.graph;
    assert_eq!(verify(&g), Ok(()));
    let order = g.topo_order();
    let arrays = order.iter().copied().filter(|id| g.op(*id).dialect::<CamArray>().is_some());
    let leaves = order.iter().copied().find(|id| g.op(*id).dialect::<CamLeaves>().is_some());
    (g.clone(), arrays.collect(), leaves.unwrap())
}

fn errors(g: &Graph) -> String {
    verify(g).err().unwrap_or_default().iter().map(|e| e.to_string()).collect::<Vec<_>>().join("\n")
}

#[test]
fn verifier_rejects_inconsistent_arrays() {
    let (g, arrays, _) = iris_graph();
    let a = g.op(arrays[0]).dialect::<CamArray>().unwrap().clone();
    let cases = [
        (CamArray { cells: a.cells[1..].into(), ..a.clone() }, "47 cells for 24 rows x 2 columns"),
        (CamArray { features: vec![2, 2], ..a.clone() }, "feature 2 drives two columns"),
        (CamArray { rows: 25, ..a.clone() }, "25 rows on an array of 24x2"),
        (CamArray { features: vec![2, 9], ..a.clone() }, "column feature 9 is not among the 4"),
        (CamArray { live_in: true, ..a.clone() }, "a gated array takes codes and live_in"),
    ];
    for (bad, want) in cases {
        let mut broken = g.clone();
        broken.node_mut(arrays[0]).op = Op::dialect_op(bad);
        let e = errors(&broken);
        assert!(e.contains("cam.array") && e.contains(want), "{want}: {e}");
    }
}

#[test]
fn verifier_rejects_inconsistent_leaves() {
    let (g, _, leaves) = iris_graph();
    let CamLeaves(t) = g.op(leaves).dialect::<CamLeaves>().unwrap().clone();
    let edit = |f: &dyn Fn(&mut LeafTable)| {
        let mut t2 = (*t).clone();
        f(&mut t2);
        let mut broken = g.clone();
        broken.node_mut(leaves).op = Op::dialect_op(CamLeaves(Arc::new(t2)));
        errors(&broken)
    };
    let e = edit(&|t| t.tiles[1].rows[0].row = t.tiles[0].rows[0].row);
    assert!(e.contains("is placed twice"), "{e}");
    let e = edit(&|t| t.tiles[0].rows[0].output = 3);
    assert!(e.contains("feeds output 3"), "{e}");
    let e = edit(&|t| t.tiles[0].rows[0].leaf_q = 1 << 15);
    assert!(e.contains("exceeds 16 bits"), "{e}");
    let e = edit(&|t| t.tiles[0].operands = 2);
    assert!(e.contains("liveness chain ends in one array"), "{e}");
}
