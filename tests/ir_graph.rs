//! Graph editing: operand order, users, replacement and removal keep the graph consistent.

use tessera::ir::{print_graph, verify, Graph, Op, TensorType};

#[test]
fn operands_keep_positions_and_replacement_rewires_users() {
    let mut g = Graph::new();
    let x = g.add_input("x", TensorType::f32(vec![2])).unwrap();
    let y = g.add_input("y", TensorType::f32(vec![2])).unwrap();
    let r = g.add_named(Op::Relu, &[y], Some("act".into())).unwrap();
    // Operand order matters: add(relu(y), x), and x used twice by a second add.
    let a = g.add(Op::Add, &[r, x]).unwrap();
    let twice = g.add(Op::Add, &[a, a]).unwrap();
    g.add_output("out", twice).unwrap();
    assert_eq!(g.operands(a), vec![r, x]);
    assert_eq!(g.users(a), vec![(twice, 0), (twice, 1)]);

    // Replace relu by tanh: the add now reads tanh at position 0; the name is kept.
    let t = g.replace_node(r, Op::Tanh, &[y]).unwrap();
    assert!(!g.contains(r));
    assert_eq!(g.operands(a), vec![t, x]);
    assert_eq!(g.node(t).name.as_deref(), Some("act"));
    // Rewire both uses of `a` at once.
    let s = g.add(Op::Sigmoid, &[x]).unwrap();
    let b = g.add(Op::Add, &[s, s]).unwrap();
    g.replace_all_uses(a, b);
    assert_eq!(g.operands(twice), vec![b, b]);
    assert_eq!(verify(&g), Ok(()));
    insta::assert_snapshot!(print_graph(&g), @r#"
    graph {
      %0 = input "x" : tensor<2xf32>
      %1 = input "y" : tensor<2xf32>
      %2 = sigmoid(%0) : tensor<2xf32>
      %3 = add(%2, %2) : tensor<2xf32>
      %4 = add(%3, %3) : tensor<2xf32>
      %5 = output "out"(%4) : tensor<2xf32>
      %6 = tanh(%1) : tensor<2xf32> loc("act")
      %7 = add(%6, %0) : tensor<2xf32>
    }
    "#);

    // Removing an input drops it from the declaration list.
    g.remove_node(t);
    g.remove_node(a);
    g.remove_node(y);
    assert_eq!(g.inputs(), &[x]);
    assert_eq!(verify(&g), Ok(()));
}
