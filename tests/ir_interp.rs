//! The reference interpreter against hand-computed values (derivations in comments) and, for
//! requantization, an independent floating-point oracle.

use proptest::prelude::*;
use std::sync::Arc;
use tessera::frontend::trees::{Aggregation, Node, SplitOp, Tree, TreeEnsemble};
use tessera::ir::interp::{self, requantize, InterpError};
use tessera::ir::{Graph, NumFormat, Op, Tensor, TensorType};

/// Runs a graph `op(inputs..., consts...)` with one output.
fn eval(op: Op, inputs: Vec<Tensor>, consts: Vec<Tensor>) -> Tensor {
    let mut g = Graph::new();
    let mut args = Vec::new();
    for (i, t) in inputs.iter().enumerate() {
        args.push(g.add_input(&format!("x{i}"), t.ty()).unwrap());
    }
    for c in consts {
        args.push(g.add(Op::Constant(c), &[]).unwrap());
    }
    let y = g.add(op, &args).unwrap();
    g.add_output("y", y).unwrap();
    interp::run(&g, &inputs).unwrap().remove(0)
}

fn f(shape: &[usize], v: &[f32]) -> Tensor {
    Tensor::f32(shape.to_vec(), v.to_vec()).unwrap()
}

fn i8s(v: &[i64]) -> Tensor {
    Tensor::int(vec![v.len()], NumFormat::int(8), v.to_vec()).unwrap()
}

#[test]
fn gemm_matches_hand_values() {
    // A = [[1,2],[3,4]], B = [[5,6],[7,8]]: AB = [[19,22],[43,50]];
    // alpha 2, beta 0.5, C = [1, -2] broadcast on rows: [[38.5, 43], [86.5, 99]].
    let a = f(&[2, 2], &[1., 2., 3., 4.]);
    let b = f(&[2, 2], &[5., 6., 7., 8.]);
    let c = f(&[2], &[1., -2.]);
    let op = Op::Gemm { alpha: 2.0, beta: 0.5, trans_a: false, trans_b: false };
    assert_eq!(eval(op, vec![a.clone()], vec![b, c]).floats().unwrap(), &[38.5, 43., 86.5, 99.]);
    // trans_a and trans_b with the transposed data give the same product: A^T stored is
    // [[1,3],[2,4]], B^T stored is [[5,7],[6,8]]; no C: AB.
    let at = f(&[2, 2], &[1., 3., 2., 4.]);
    let bt = f(&[2, 2], &[5., 7., 6., 8.]);
    let op = Op::Gemm { alpha: 1.0, beta: 1.0, trans_a: true, trans_b: true };
    assert_eq!(eval(op, vec![at], vec![bt]).floats().unwrap(), &[19., 22., 43., 50.]);
    // A non-square trans_b case: x [1,3] = [1,2,3], W [2,3] = [[1,0,-1],[2,2,2]] -> [-2, 12].
    let op = Op::Gemm { alpha: 1.0, beta: 1.0, trans_a: false, trans_b: true };
    let w = f(&[2, 3], &[1., 0., -1., 2., 2., 2.]);
    assert_eq!(eval(op, vec![f(&[1, 3], &[1., 2., 3.])], vec![w]).floats().unwrap(), &[-2., 12.]);
}

#[test]
fn matmul_add_and_activations() {
    // [1,2,3] @ [[1,0],[0,1],[1,1]] = [4, 5].
    let y =
        eval(Op::MatMul, vec![f(&[3], &[1., 2., 3.])], vec![f(&[3, 2], &[1., 0., 0., 1., 1., 1.])]);
    assert_eq!((y.shape.clone(), y.floats().unwrap().to_vec()), (vec![2], vec![4., 5.]));
    // [[1],[2]] + [10, 20, 30] = [[11,21,31],[12,22,32]].
    let y = eval(Op::Add, vec![f(&[2, 1], &[1., 2.])], vec![f(&[3], &[10., 20., 30.])]);
    assert_eq!(y.shape, vec![2, 3]);
    assert_eq!(y.floats().unwrap(), &[11., 21., 31., 12., 22., 32.]);
    let x = f(&[3], &[-1.5, 0.0, 2.0]);
    assert_eq!(eval(Op::Relu, vec![x.clone()], vec![]).floats().unwrap(), &[0., 0., 2.]);
    // sigmoid(0) = 0.5 exactly; sigmoid(2) = 1/(1+e^-2) = 0.880797...; tanh(0) = 0.
    let s = eval(Op::Sigmoid, vec![x.clone()], vec![]);
    assert_eq!(s.floats().unwrap()[1], 0.5);
    assert!((s.floats().unwrap()[2] - 0.880_797_1).abs() < 1e-6);
    assert_eq!(eval(Op::Tanh, vec![x], vec![]).floats().unwrap()[1], 0.0);
}

#[test]
fn softmax_along_an_axis() {
    // Rows [1,2,3] and [0,0,0] along axis 1. exp(1,2,3)/sum = [0.0900306, 0.2447285, 0.6652410];
    // a constant row gives 1/3 each.
    let y = eval(Op::Softmax { axis: -1 }, vec![f(&[2, 3], &[1., 2., 3., 0., 0., 0.])], vec![]);
    let want = [0.090_030_6, 0.244_728_5, 0.665_241, 1. / 3., 1. / 3., 1. / 3.];
    for (g, w) in y.floats().unwrap().iter().zip(want) {
        assert!((g - w).abs() < 1e-6, "{g} vs {w}");
    }
    // Along axis 0 of the same data: columns [1,0], [2,0], [3,0].
    let y = eval(Op::Softmax { axis: 0 }, vec![f(&[2, 3], &[1., 2., 3., 0., 0., 0.])], vec![]);
    let e = |a: f64| (a.exp() / (a.exp() + 1.0)) as f32;
    let want = [e(1.), e(2.), e(3.), 1. - e(1.), 1. - e(2.), 1. - e(3.)];
    for (g, w) in y.floats().unwrap().iter().zip(want) {
        assert!((g - w).abs() < 1e-6, "{g} vs {w}");
    }
}

#[test]
fn shape_ops_keep_data() {
    let x = f(&[2, 3], &[1., 2., 3., 4., 5., 6.]);
    let y = eval(Op::Reshape { shape: vec![3, -1] }, vec![x.clone()], vec![]);
    assert_eq!((y.shape.clone(), y.floats().unwrap()), (vec![3, 2], x.floats().unwrap()));
    let y = eval(Op::Flatten { axis: 0 }, vec![x.clone()], vec![]);
    assert_eq!(y.shape, vec![1, 6]);
}

#[test]
fn tree_ensemble_uses_frontend_semantics() {
    // One tree: x0 < 0.5 -> 1.0, else 2.0 (NaN goes right); base margin 0.5.
    let e = TreeEnsemble {
        num_features: 1,
        num_outputs: 1,
        base_margin: vec![0.5],
        trees: vec![Tree {
            output: 0,
            nodes: vec![
                Node::Split {
                    feature: 0,
                    threshold: 0.5,
                    op: SplitOp::Lt,
                    left: 1,
                    right: 2,
                    missing_left: false,
                },
                Node::Leaf { value: 1.0 },
                Node::Leaf { value: 2.0 },
            ],
        }],
        aggregation: Aggregation::Sum,
        objective: "reg:squarederror".into(),
        source: "test".into(),
    };
    let y = eval(
        Op::dialect_op(tessera::frontend::tree_ops::Ensemble(Arc::new(e))),
        vec![f(&[4, 1], &[0.2, 0.5, 0.7, f32::NAN])],
        vec![],
    );
    // 0.5 is not < 0.5, so it goes right.
    assert_eq!(y.floats().unwrap(), &[1.5, 2.5, 2.5, 2.5]);
}

#[test]
fn integer_ops_match_hand_values() {
    // W = [[1,2],[3,-4]], x = [5,-6]: [5-12, 15+24] = [-7, 39].
    let w = Tensor::int(vec![2, 2], NumFormat::int(8), vec![1, 2, 3, -4]).unwrap();
    let y = eval(Op::IntMatVec { weights: w }, vec![i8s(&[5, -6])], vec![]);
    assert_eq!(y.ints().unwrap(), vec![-7, 39]);
    let y = eval(Op::IntAdd, vec![i8s(&[-128, 127])], vec![i8s(&[-128, 127])]);
    assert_eq!((y.ints().unwrap(), y.format), (vec![-256, 254], NumFormat::int(9)));
    let y = eval(Op::IntRelu, vec![i8s(&[-3, 0, 7])], vec![]);
    assert_eq!((y.ints().unwrap(), y.format), (vec![0, 0, 7], NumFormat::uint(7)));
    // Ties go to the lowest index: [3, 7, 7, 1] -> 1; [-1, -1] -> 0.
    assert_eq!(eval(Op::Argmax, vec![i8s(&[3, 7, 7, 1])], vec![]).ints().unwrap(), vec![1]);
    assert_eq!(eval(Op::Argmax, vec![i8s(&[-1, -1])], vec![]).ints().unwrap(), vec![0]);
}

#[test]
fn requantize_rounds_half_to_even_and_saturates() {
    let i8f = NumFormat::int(8);
    // (x, multiplier, shift) -> x*m/2^s -> expected after round-half-even.
    let cases = [
        (5, 1, 1, 2),       // 2.5 -> 2
        (7, 1, 1, 4),       // 3.5 -> 4
        (-5, 1, 1, -2),     // -2.5 -> -2
        (-7, 1, 1, -4),     // -3.5 -> -4
        (6, 1, 2, 2),       // 1.5 -> 2
        (10, 1, 2, 2),      // 2.5 -> 2
        (11, 1, 2, 3),      // 2.75 -> 3
        (-9, 1, 2, -2),     // -2.25 -> -2
        (-11, 1, 2, -3),    // -2.75 -> -3
        (3, 3, 0, 9),       // shift 0: exact product
        (100, 3, 1, 127),   // 150 saturates high
        (-100, 3, 1, -128), // -150 saturates low
        (-100, -3, 2, 75),  // 300/4 = 75 with a negative multiplier
    ];
    for (x, m, s, want) in cases {
        assert_eq!(requantize(x, m, s, i8f), want, "x={x} m={m} s={s}");
    }
    // Unsigned output clamps negatives to 0.
    assert_eq!(requantize(-5, 1, 0, NumFormat::uint(4)), 0);
    assert_eq!(requantize(40, 1, 1, NumFormat::uint(4)), 15);
}

proptest! {
    /// Against exact rational arithmetic in f64 (all values below 2^53, so the division by a
    /// power of two and `round_ties_even` are exact).
    #[test]
    fn requantize_matches_float_oracle(x in -(1i64 << 20)..(1i64 << 20), m in -(1i32 << 12)..(1i32 << 12), s in 0u32..24) {
        let out = NumFormat::int(16);
        let exact = (x as f64) * (m as f64) / 2f64.powi(s as i32);
        let want = exact.round_ties_even().clamp(-32768.0, 32767.0) as i128;
        prop_assert_eq!(requantize(x, m, s, out), want);
    }
}

#[test]
fn bad_inputs_are_reported() {
    let mut g = Graph::new();
    let x = g.add_input("x", TensorType::new(vec![2], NumFormat::int(4))).unwrap();
    g.add_output("y", x).unwrap();
    assert_eq!(interp::run(&g, &[]), Err(InterpError::InputCount { expected: 1, given: 0 }));
    let wrong = i8s(&[1, 2]);
    assert_eq!(
        interp::run(&g, &[wrong]).unwrap_err().to_string(),
        "input \"x\": expected tensor<2xi4>, got tensor<2xi8>"
    );
    let overflow = Tensor {
        shape: vec![2],
        format: NumFormat::int(4),
        data: tessera::ir::TensorData::I64(vec![1, 8]),
    };
    assert_eq!(
        interp::run(&g, &[overflow]).unwrap_err().to_string(),
        "input \"x\": element 1 = 8 does not fit format i4"
    );
}

#[test]
fn transformer_arithmetic_matches_hand_values() {
    // Batched matmul, the batch of A broadcast over B's 2: A = [[1, 2]] (1x1x2),
    // B0 = [[1], [1]] -> 3, B1 = [[2], [-1]] -> 0.
    let a = f(&[1, 1, 2], &[1., 2.]);
    let b = f(&[2, 2, 1], &[1., 1., 2., -1.]);
    let y = eval(Op::MatMul, vec![a, b], vec![]);
    assert_eq!((y.shape.clone(), y.floats().unwrap().to_vec()), (vec![2, 1, 1], vec![3., 0.]));
    // x = [[1, 2], [3, 5]] against [4, -2]: mul, sub, div, pow (x^2 exactly) broadcast per row.
    let x = || f(&[2, 2], &[1., 2., 3., 5.]);
    let c = || f(&[2], &[4., -2.]);
    let run = |op: Op| eval(op, vec![x()], vec![c()]).floats().unwrap().to_vec();
    assert_eq!(run(Op::Mul), [4., -4., 12., -10.]);
    assert_eq!(run(Op::Sub), [-3., 4., -1., 7.]);
    assert_eq!(run(Op::Div), [0.25, -1., 0.75, -2.5]);
    let sq = eval(Op::Pow, vec![x()], vec![f(&[1], &[2.])]);
    assert_eq!(sq.floats().unwrap(), [1., 4., 9., 25.]);
    // Row means (keepdims false) of x: [1.5, 4]; sqrt, sign (0 stays 0) and erf(0) = 0.
    let m = eval(Op::ReduceMean { axes: vec![1], keepdims: false }, vec![x()], vec![]);
    assert_eq!((m.shape.clone(), m.floats().unwrap().to_vec()), (vec![2], vec![1.5, 4.]));
    let v = || f(&[3], &[4., 0., -0.5]);
    assert_eq!(eval(Op::Sqrt, vec![f(&[2], &[4., 9.])], vec![]).floats().unwrap(), [2., 3.]);
    assert_eq!(eval(Op::Sign, vec![v()], vec![]).floats().unwrap(), [1., 0., -1.]);
    assert_eq!(eval(Op::Erf, vec![f(&[1], &[0.])], vec![]).floats().unwrap(), [0.]);
    // Axes must be ascending and distinct; the inner dimensions of a batched product agree.
    let bad = Op::ReduceMean { axes: vec![1, 0], keepdims: true };
    assert!(bad.infer_type(&[&TensorType::f32(vec![2, 2])]).is_err());
    let (p, q) = (TensorType::f32(vec![2, 3, 4]), TensorType::f32(vec![2, 3, 4]));
    assert!(Op::MatMul.infer_type(&[&p, &q]).is_err());
}
