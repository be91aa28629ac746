//! The integer lowering: the Verilog of a tiny graph (snapshot, reviewed line by line) and the
//! errors for graphs it cannot lower.

use tessera::backend::verilog::lower_int::{lower_int_graph, LowerConfig, LowerError};
use tessera::backend::verilog::print_module;
use tessera::ir::{Graph, NumFormat, Op, Tensor, TensorType};

fn cfg() -> LowerConfig {
    LowerConfig { top: "tiny".into() }
}

/// x: 2 x i4 -> [[1, -1], [3, 0]] x -> + [2, -8] (i4) -> relu -> requantize(3, >> 1, i4) -> argmax.
fn tiny() -> Graph {
    let mut g = Graph::new();
    let x = g.add_input("x", TensorType::new(vec![2], NumFormat::int(4))).unwrap();
    let w = Tensor::int(vec![2, 2], NumFormat::int(3), vec![1, -1, 3, 0]).unwrap();
    let mv = g.add(Op::IntMatVec { weights: w }, &[x]).unwrap();
    let b = g
        .add(Op::Constant(Tensor::int(vec![2], NumFormat::int(4), vec![2, -8]).unwrap()), &[])
        .unwrap();
    let s = g.add(Op::IntAdd, &[mv, b]).unwrap();
    let r = g.add(Op::IntRelu, &[s]).unwrap();
    let q =
        g.add(Op::Requantize { multiplier: 3, shift: 1, out: NumFormat::int(4) }, &[r]).unwrap();
    let a = g.add(Op::Argmax, &[q]).unwrap();
    g.add_output("class", a).unwrap();
    g
}

#[test]
fn tiny_graph_verilog_snapshot() {
    let d = lower_int_graph(&tiny(), &cfg()).unwrap();
    assert_eq!((d.in_width, d.out_width, d.latency), (8, 1, 1));
    insta::assert_snapshot!(print_module(&d.module));
}

#[test]
fn float_ops_are_rejected_with_the_node_named() {
    let mut g = Graph::new();
    let x = g.add_input("x", TensorType::f32(vec![2])).unwrap();
    let r = g.add(Op::Relu, &[x]).unwrap();
    g.add_output("y", r).unwrap();
    let e = lower_int_graph(&g, &cfg()).unwrap_err();
    assert_eq!(
        e,
        LowerError::Node {
            node: "%0".into(),
            op: "input".into(),
            message: "the Verilog lowering handles integer formats only, got f32".into()
        }
    );
    let mut g = Graph::new();
    let x = g.add_input("x", TensorType::new(vec![2], NumFormat::int(4))).unwrap();
    let y = g.add(Op::Identity, &[x]).unwrap();
    let t = g.add_input("t", TensorType::f32(vec![2])).unwrap();
    let s = g.add(Op::Sigmoid, &[t]).unwrap();
    g.add_output("y", y).unwrap();
    g.add_output("s", s).unwrap();
    assert_eq!(
        lower_int_graph(&g, &cfg()).unwrap_err().to_string(),
        "the integer lowering needs exactly one input and one output, the graph has 2 and 2"
    );
}

#[test]
fn unsupported_ops_and_invalid_graphs() {
    let mut g = Graph::new();
    let x = g.add_input("x", TensorType::f32(vec![1, 2])).unwrap();
    let w = g.add(Op::Constant(Tensor::f32(vec![2, 2], vec![1.0; 4]).unwrap()), &[]).unwrap();
    let m = g.add(Op::MatMul, &[x, w]).unwrap();
    g.add_output("y", m).unwrap();
    // The f32 input is reported first, before the matmul.
    assert!(lower_int_graph(&g, &cfg()).unwrap_err().to_string().starts_with("%0 (input)"));

    let mut g = Graph::new();
    g.add_input("x", TensorType::new(vec![2], NumFormat::int(4))).unwrap();
    assert_eq!(
        lower_int_graph(&g, &cfg()).unwrap_err().to_string(),
        "the graph is invalid:\n  graph: the graph has no outputs"
    );
}
