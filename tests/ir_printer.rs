//! IR printer: stable, renumbered dumps, independent of construction order.

use std::sync::Arc;
use tessera::frontend::trees::{Aggregation, Node, SplitOp, Tree, TreeEnsemble};
use tessera::ir::{print_graph, Graph, NumFormat, Op, Tensor, TensorType};

fn small_ensemble() -> TreeEnsemble {
    TreeEnsemble {
        num_features: 4,
        num_outputs: 1,
        base_margin: vec![0.5],
        trees: vec![Tree {
            output: 0,
            nodes: vec![
                Node::Split {
                    feature: 2,
                    threshold: 0.25,
                    op: SplitOp::Lt,
                    left: 1,
                    right: 2,
                    missing_left: true,
                },
                Node::Leaf { value: -1.0 },
                Node::Leaf { value: 1.0 },
            ],
        }],
        aggregation: Aggregation::Sum,
        objective: "binary:logistic".into(),
        source: "xgboost".into(),
    }
}

/// A model-level graph exercising attributes, inline and hashed constants, names, a dead node
/// and an unused input. `constants_first` changes only the construction order.
fn model(constants_first: bool) -> Graph {
    let mut g = Graph::new();
    let w_data: Vec<f32> = (0..12).map(|i| i as f32 * 0.25 - 1.0).collect();
    let big: Vec<f32> = (0..20).map(|i| i as f32).collect();
    let consts = |g: &mut Graph| {
        let w = g.add(Op::Constant(Tensor::f32(vec![3, 4], w_data.clone()).unwrap()), &[]).unwrap();
        let b =
            g.add(Op::Constant(Tensor::f32(vec![3], vec![0.1, -0.2, 0.3]).unwrap()), &[]).unwrap();
        (w, b)
    };
    let pre = if constants_first { Some(consts(&mut g)) } else { None };
    let x = g.add_input("x", TensorType::f32(vec![1, 4])).unwrap();
    g.add_input("unused", TensorType::new(vec![2], NumFormat::int(8))).unwrap();
    let (w, b) = pre.unwrap_or_else(|| consts(&mut g));
    let gemm = g
        .add_named(
            Op::Gemm { alpha: 1.0, beta: 1.0, trans_a: false, trans_b: true },
            &[x, w, b],
            Some("fc1".into()),
        )
        .unwrap();
    let relu = g.add(Op::Relu, &[gemm]).unwrap();
    let id = g.add(Op::Identity, &[relu]).unwrap();
    let sm = g.add(Op::Softmax { axis: -1 }, &[id]).unwrap();
    g.add_output("probs", sm).unwrap();
    let trees = g
        .add(
            Op::dialect_op(tessera::frontend::tree_ops::Ensemble(Arc::new(small_ensemble()))),
            &[x],
        )
        .unwrap();
    g.add_output("margin", trees).unwrap();
    // Dead: a large constant feeding nothing that reaches an output.
    let big = g.add(Op::Constant(Tensor::f32(vec![20], big).unwrap()), &[]).unwrap();
    g.add(Op::Reshape { shape: vec![4, -1] }, &[big]).unwrap();
    g
}

#[test]
fn model_graph_snapshot() {
    insta::assert_snapshot!(print_graph(&model(false)));
}

#[test]
fn printing_ignores_construction_order() {
    assert_eq!(print_graph(&model(false)), print_graph(&model(true)));
}

#[test]
fn hardware_graph_snapshot() {
    let mut g = Graph::new();
    let x = g.add_input("x", TensorType::new(vec![3], NumFormat::int(8))).unwrap();
    let w = Tensor::int(vec![2, 3], NumFormat::int(4), vec![1, -2, 3, -8, 7, 0]).unwrap();
    let mv = g.add(Op::IntMatVec { weights: w }, &[x]).unwrap();
    let b = g
        .add(Op::Constant(Tensor::int(vec![2], NumFormat::int(6), vec![-32, 31]).unwrap()), &[])
        .unwrap();
    let s = g.add(Op::IntAdd, &[mv, b]).unwrap();
    let r = g.add(Op::IntRelu, &[s]).unwrap();
    let q =
        g.add(Op::Requantize { multiplier: 5, shift: 3, out: NumFormat::uint(4) }, &[r]).unwrap();
    let a = g.add(Op::Argmax, &[q]).unwrap();
    g.add_output("class", a).unwrap();
    insta::assert_snapshot!(print_graph(&g));
}
