//! The verifier reports every problem of a malformed graph, each naming the printed node.

use tessera::ir::{verify, Graph, NumFormat, Op, Tensor, TensorData, TensorType};

fn f32s(shape: &[usize]) -> TensorType {
    TensorType::f32(shape.to_vec())
}

fn messages(g: &Graph) -> Vec<String> {
    verify(g).err().unwrap_or_default().iter().map(|e| e.to_string()).collect()
}

#[test]
fn well_formed_graph_verifies() {
    let mut g = Graph::new();
    let x = g.add_input("x", f32s(&[2])).unwrap();
    let r = g.add(Op::Relu, &[x]).unwrap();
    g.add_output("y", r).unwrap();
    assert_eq!(verify(&g), Ok(()));
}

/// One graph with many independent faults; the verifier must list all of them.
#[test]
fn malformed_graph_reports_every_error() {
    let mut g = Graph::new();
    // %0, %1: two inputs with the same name.
    let x = g.add_raw(Op::Input { name: "x".into(), ty: f32s(&[2]) }, f32s(&[2]), None);
    g.add_raw(Op::Input { name: "x".into(), ty: f32s(&[2]) }, f32s(&[2]), None);
    // A relu whose stored type is wrong (i8 instead of f32).
    let bad_ty = g.add_raw(Op::Relu, TensorType::new(vec![2], NumFormat::int(8)), None);
    g.connect(x, bad_ty, 0);
    // An add with one operand.
    let lonely = g.add_raw(Op::Add, f32s(&[2]), None);
    g.connect(x, lonely, 0);
    // A tanh with its operand at position 1 instead of 0.
    let gap = g.add_raw(Op::Tanh, f32s(&[2]), None);
    g.connect(x, gap, 1);
    // A constant whose data does not fit its format.
    let bad_const = g.add_raw(
        Op::Constant(Tensor {
            shape: vec![1],
            format: NumFormat::int(4),
            data: TensorData::I64(vec![9]),
        }),
        TensorType::new(vec![1], NumFormat::int(4)),
        None,
    );
    // Two sigmoids feeding each other: a cycle.
    let s1 = g.add_raw(Op::Sigmoid, f32s(&[2]), None);
    let s2 = g.add_raw(Op::Sigmoid, f32s(&[2]), None);
    g.connect(s1, s2, 0);
    g.connect(s2, s1, 0);
    // Outputs: one used by another node, and two outputs with the same name.
    let o1 = g.add_raw(Op::Output { name: "y".into() }, f32s(&[2]), None);
    g.connect(bad_ty, o1, 0);
    let after = g.add_raw(Op::Identity, f32s(&[2]), None);
    g.connect(o1, after, 0);
    let o2 = g.add_raw(Op::Output { name: "y".into() }, f32s(&[2]), None);
    g.connect(lonely, o2, 0);
    let o3 = g.add_raw(Op::Output { name: "z".into() }, f32s(&[2]), None);
    g.connect(gap, o3, 0);
    let o4 = g.add_raw(
        Op::Output { name: "c".into() },
        TensorType::new(vec![1], NumFormat::int(4)),
        None,
    );
    g.connect(bad_const, o4, 0);
    let o5 = g.add_raw(Op::Output { name: "s".into() }, f32s(&[2]), None);
    g.connect(s2, o5, 0);

    // Printed numbering: inputs %0 %1; then per output in declaration order a post-order walk:
    // y: relu %2, output %3; y: add %4, output %5; z: tanh %6, output %7; c: const %8,
    // output %9; s: sigmoid s1 %10, sigmoid s2 %11, output %12; then the dead identity %13.
    let want = [
        "%2 (relu): stored type tensor<2xi8> but its operands give tensor<2xf32>",
        "%3 (output): stored type tensor<2xf32> but its operands give tensor<2xi8>",
        "%3 (output): an output must not be used by other nodes",
        "%4 (add): takes 2 operands, has 1",
        "%6 (tanh): operand positions [1] are not 0..1",
        "%8 (const): constant: element 0 = 9 does not fit format i4",
        "%10 (sigmoid): lies on a cycle through %10, %11",
        "%11 (sigmoid): lies on a cycle through %10, %11",
        "%1 (input): input name \"x\" is declared more than once",
        "%5 (output): output name \"y\" is declared more than once",
    ];
    let mut got = messages(&g);
    let mut want: Vec<String> = want.iter().map(|s| s.to_string()).collect();
    got.sort();
    want.sort();
    assert_eq!(got, want);
}

#[test]
fn graph_without_outputs_is_rejected() {
    let mut g = Graph::new();
    g.add_input("x", f32s(&[1])).unwrap();
    assert_eq!(messages(&g), vec!["graph: the graph has no outputs".to_string()]);
}

#[test]
fn builder_rejects_ill_typed_nodes() {
    let mut g = Graph::new();
    let x = g.add_input("x", TensorType::new(vec![3], NumFormat::int(8))).unwrap();
    let e = g.add(Op::Relu, &[x]).unwrap_err();
    assert_eq!(e.to_string(), "relu: operand input must be f32, got tensor<3xi8>");
    let w = Tensor::int(vec![2, 4], NumFormat::int(8), vec![0; 8]).unwrap();
    let e = g.add(Op::IntMatVec { weights: w }, &[x]).unwrap_err();
    assert_eq!(
        e.to_string(),
        "int_matvec: input tensor<3xi8> must be [4] to match weights tensor<2x4xi8>"
    );
    let e = g
        .add(Op::Requantize { multiplier: 1, shift: 0, out: NumFormat::Float32 }, &[x])
        .unwrap_err();
    assert_eq!(e.to_string(), "requantize: requantize output format must be an integer, got f32");
}
