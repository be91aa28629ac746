//! Passes through the manager: IR dumps before/after each pass (snapshots), semantics kept
//! (interpreter outputs equal before and after), verification after every pass, checked
//! preconditions, and option and name errors.

use std::collections::BTreeMap;
use tessera::dsl::accel::Value;
use tessera::ir::{interp, Graph, Op, Tensor, TensorType};
use tessera::passes::options::{DefaultValue, OptionKind, PassOption};
use tessera::passes::{
    lookup, DumpPoint, Pass, PassContext, PassEnv, PassError, PassInvocation, PassManager, Unmet,
};
use tessera::units::{Dim, Quantity};

/// x -> identity -> relu -> reshape(no-op) -> flatten(no-op) -> reshape(real) -> output, plus
/// a dead branch (sigmoid of x, and a constant) and an unused input.
fn graph() -> Graph {
    let mut g = Graph::new();
    let x = g.add_input("x", TensorType::f32(vec![2, 3])).unwrap();
    g.add_input("unused", TensorType::f32(vec![1])).unwrap();
    let i1 = g.add(Op::Identity, &[x]).unwrap();
    let r = g.add(Op::Relu, &[i1]).unwrap();
    let same = g.add(Op::Reshape { shape: vec![0, -1] }, &[r]).unwrap();
    let flat = g.add(Op::Flatten { axis: 1 }, &[same]).unwrap();
    let real = g.add(Op::Reshape { shape: vec![3, 2] }, &[flat]).unwrap();
    let i2 = g.add(Op::Identity, &[real]).unwrap();
    g.add_output("y", i2).unwrap();
    let dead = g.add(Op::Sigmoid, &[x]).unwrap();
    g.add(Op::Tanh, &[dead]).unwrap();
    g.add(Op::Constant(Tensor::f32(vec![1], vec![4.0]).unwrap()), &[]).unwrap();
    g
}

fn run(g: &Graph, x: &[f32]) -> Vec<f32> {
    let inputs =
        [Tensor::f32(vec![2, 3], x.to_vec()).unwrap(), Tensor::f32(vec![1], vec![0.0]).unwrap()];
    interp::run(g, &inputs).unwrap()[0].floats().unwrap().to_vec()
}

#[test]
fn dumps_before_and_after_each_pass() {
    let pm = PassManager::parse_pipeline(&tessera::flow::registry(), "fold-identity,dce")
        .unwrap()
        .with_dumps(vec![DumpPoint::All]);
    let out = pm.run(&graph(), PassEnv::default()).unwrap();
    let text: String = out.dumps.iter().map(|d| d.render()).collect();
    insta::assert_snapshot!(text);
}

#[test]
fn passes_keep_semantics() {
    let g = graph();
    let pm = PassManager::parse_pipeline(
        &tessera::flow::registry(),
        "fold_identity,dead_code_elimination",
    )
    .unwrap();
    let out = pm.run(&g, PassEnv::default()).unwrap().graph;
    let x = [-1.0, 2.0, -3.0, 4.0, 0.5, -0.0];
    // relu by hand: [0, 2, 0, 4, 0.5, 0] in shape [3, 2].
    assert_eq!(run(&g, &x), vec![0.0, 2.0, 0.0, 4.0, 0.5, 0.0]);
    assert_eq!(run(&out, &x), run(&g, &x));
    // 12 nodes before; fold-identity removes 2 identities, the no-op reshape and flatten;
    // dce removes sigmoid, tanh and the constant: 2 inputs, relu, reshape and output remain.
    assert_eq!(g.len(), 12);
    assert_eq!(out.len(), 5);
}

#[test]
fn selected_dumps_and_options() {
    let inv =
        PassInvocation::parse(&tessera::flow::registry(), "fold-identity:reshapes=false").unwrap();
    let pm = PassManager::new(&tessera::flow::registry(), &[inv]).unwrap().with_dumps(vec![
        DumpPoint::parse(&tessera::flow::registry(), "before:fold_identity").unwrap(),
        DumpPoint::parse(&tessera::flow::registry(), "after:fold-identity").unwrap(),
    ]);
    let out = pm.run(&graph(), PassEnv::default()).unwrap();
    let labels: Vec<&str> = out.dumps.iter().map(|d| d.label.as_str()).collect();
    assert_eq!(labels, ["before fold-identity (step 1)", "after fold-identity (step 1)"]);
    // With reshapes=false only the two identities go.
    let after = &out.dumps[1].text;
    assert!(!after.contains("identity("), "{after}");
    assert_eq!(after.matches("reshape(").count(), 2, "{after}");
    assert_eq!(after.matches("flatten(").count(), 1, "{after}");
}

#[test]
fn name_and_option_errors_are_clear() {
    let msg = |e: PassError| e.to_string();
    let e =
        PassManager::parse_pipeline(&tessera::flow::registry(), "dce,fold-identiy").err().unwrap();
    assert_eq!(msg(e), "unknown pass `fold-identiy` (did you mean `fold-identity`?)");
    let inv =
        PassInvocation::parse(&tessera::flow::registry(), "fold-identity:reshape=true").unwrap();
    assert_eq!(
        msg(PassManager::new(&tessera::flow::registry(), &[inv]).err().unwrap()),
        "pass `fold-identity` has no option `reshape` (did you mean `reshapes`?); its options are: reshapes"
    );
    assert_eq!(
        msg(PassInvocation::parse(&tessera::flow::registry(), "fold-identity:reshapes=maybe")
            .err()
            .unwrap()),
        "pass `fold-identity`, option `reshapes`: `maybe` is not `true` or `false`"
    );
    assert_eq!(
        msg(PassInvocation::parse(&tessera::flow::registry(), "fold-identity:reshapes")
            .err()
            .unwrap()),
        "invalid pass specification `fold-identity:reshapes`: `reshapes` is not key=value"
    );
    let inv =
        PassInvocation::new("fold-identity").with("reshapes", Value::Number(Quantity::scalar(1.0)));
    assert_eq!(
        msg(PassManager::new(&tessera::flow::registry(), &[inv]).err().unwrap()),
        "pass `fold-identity`, option `reshapes`: expected bool, got the number 1"
    );
    assert_eq!(
        msg(DumpPoint::parse(&tessera::flow::registry(), "during:dce").err().unwrap()),
        "invalid pass specification `during:dce`: expected `all`, `before:PASS` or `after:PASS`"
    );
    assert!(matches!(
        DumpPoint::parse(&tessera::flow::registry(), "after:nope"),
        Err(PassError::UnknownPass { .. })
    ));
    assert_eq!(lookup("dead_code_elimination").map(|p| p.name()), Some("dce"));
    assert_eq!(lookup("Fold_Identity").map(|p| p.name()), None);
}

/// A pass with one option of every kind, for option validation.
struct Configurable;
static CONFIGURABLE: Configurable = Configurable;
const OPTS: &[PassOption] = &[
    PassOption {
        name: "rows",
        kind: OptionKind::Int { min: 1, max: 64 },
        default: DefaultValue::Int(24),
        help: "rows",
    },
    PassOption {
        name: "order",
        kind: OptionKind::Symbol(&["raw", "monosparse"]),
        default: DefaultValue::Symbol("raw"),
        help: "order",
    },
    PassOption {
        name: "tile",
        kind: OptionKind::Dims,
        default: DefaultValue::Dims(&[24, 48]),
        help: "tile",
    },
    PassOption {
        name: "scale",
        kind: OptionKind::Real,
        default: DefaultValue::Real(0.5),
        help: "scale",
    },
    PassOption {
        name: "seed",
        kind: OptionKind::Int { min: 0, max: 1000 },
        default: DefaultValue::None,
        help: "required",
    },
];
impl Pass for Configurable {
    fn name(&self) -> &'static str {
        "configurable"
    }
    fn description(&self) -> &'static str {
        "test pass"
    }
    fn options(&self) -> &'static [PassOption] {
        OPTS
    }
    fn run(&self, g: &Graph, _cx: &PassContext) -> Result<Graph, PassError> {
        Ok(g.clone())
    }
}

#[test]
fn options_are_validated_and_defaulted() {
    let mut given = BTreeMap::new();
    given.insert("seed".to_string(), Value::Number(Quantity::scalar(7.0)));
    given.insert("order".to_string(), Value::Symbol("monosparse".into()));
    let cx = PassContext::new(&CONFIGURABLE, &given, PassEnv::default()).unwrap();
    assert_eq!(cx.int("rows").unwrap(), 24);
    assert_eq!(cx.int("seed").unwrap(), 7);
    assert_eq!(cx.symbol("order").unwrap(), "monosparse");
    assert_eq!(cx.dims("tile").unwrap(), &[24, 48]);
    assert_eq!(cx.real("scale").unwrap(), 0.5);
    assert!(cx.bool("rows").is_err());

    let err = |k: &str, v: Value| {
        let mut m = given.clone();
        m.insert(k.to_string(), v);
        PassContext::new(&CONFIGURABLE, &m, PassEnv::default()).err().unwrap().to_string()
    };
    assert_eq!(
        err("rows", Value::Number(Quantity::scalar(65.0))),
        "pass `configurable`, option `rows`: 65 is outside 1..=64"
    );
    assert_eq!(
        err("rows", Value::Number(Quantity::scalar(2.5))),
        "pass `configurable`, option `rows`: expected int 1..=64, got the number 2.5"
    );
    assert_eq!(
        err("order", Value::Symbol("sorted".into())),
        "pass `configurable`, option `order`: `sorted` is not one of raw, monosparse"
    );
    assert_eq!(
        err("scale", Value::Number(Quantity::new(1e-15, Dim::ENERGY))),
        "pass `configurable`, option `scale`: expected real, got a quantity of dimension energy"
    );
    assert_eq!(
        err("tile", Value::Dims(vec![24, 0])),
        "pass `configurable`, option `tile`: expected dims (e.g. 24x48), got the geometry 24x0"
    );
    let missing =
        PassContext::new(&CONFIGURABLE, &BTreeMap::new(), PassEnv::default()).err().unwrap();
    assert_eq!(
        missing.to_string(),
        "pass `configurable` needs option `seed`, which has no default"
    );
}

/// Breaks the graph: retypes the first relu's result to i8 without changing anything else.
struct Breaker;
static BREAKER: Breaker = Breaker;
impl Pass for Breaker {
    fn name(&self) -> &'static str {
        "breaker"
    }
    fn description(&self) -> &'static str {
        "test pass that corrupts types"
    }
    fn run(&self, g: &Graph, _cx: &PassContext) -> Result<Graph, PassError> {
        let mut g = g.clone();
        let relu = g.node_ids().into_iter().find(|&n| matches!(g.op(n), Op::Relu)).unwrap();
        g.node_mut(relu).ty = TensorType::new(vec![2, 3], tessera::ir::NumFormat::int(8));
        Ok(g)
    }
}

/// Requires a graph without identity nodes (as a lowering pass might).
struct NeedsFolded;
static NEEDS_FOLDED: NeedsFolded = NeedsFolded;
impl Pass for NeedsFolded {
    fn name(&self) -> &'static str {
        "needs-folded"
    }
    fn description(&self) -> &'static str {
        "test pass with a precondition"
    }
    fn preconditions(&self, g: &Graph) -> Result<(), Unmet> {
        match g.node_ids().iter().filter(|&&n| matches!(g.op(n), Op::Identity)).count() {
            0 => Ok(()),
            n => Err(Unmet {
                problem: format!("{n} identity nodes remain"),
                provider: "fold-identity".into(),
            }),
        }
    }
    fn run(&self, g: &Graph, _cx: &PassContext) -> Result<Graph, PassError> {
        Ok(g.clone())
    }
}

#[test]
fn manager_verifies_after_each_pass_and_checks_preconditions() {
    let dce = lookup("dce").unwrap();
    let pm = PassManager::from_passes(vec![(dce, BTreeMap::new()), (&BREAKER, BTreeMap::new())])
        .unwrap();
    match pm.run(&graph(), PassEnv::default()) {
        Err(e @ PassError::Verify { .. }) => {
            let text = e.to_string();
            assert!(
                text.starts_with("the graph after pass `breaker` (step 2) is invalid:\n"),
                "{text}"
            );
            assert!(
                text.contains(
                    "(relu): stored type tensor<2x3xi8> but its operands give tensor<2x3xf32>"
                ),
                "{text}"
            );
            // The error propagates one step: the no-op reshape now infers i8 from the relu.
            assert!(
                text.contains(
                    "(reshape): stored type tensor<2x3xf32> but its operands give tensor<2x3xi8>"
                ),
                "{text}"
            );
        }
        other => panic!("expected a verification failure, got {:?}", other.map(|r| r.graph.len())),
    }

    let pm = PassManager::from_passes(vec![(&NEEDS_FOLDED, BTreeMap::new())]).unwrap();
    match pm.run(&graph(), PassEnv::default()) {
        Err(e @ PassError::Precondition { .. }) => {
            let PassError::Precondition { pass, unmet } = &e else { unreachable!() };
            assert_eq!((pass.as_str(), unmet.provider.as_str()), ("needs-folded", "fold-identity"));
            assert_eq!(
                e.to_string(),
                "pass `needs-folded` cannot run: 2 identity nodes remain (run `fold-identity` first)"
            );
        }
        other => panic!("expected an unmet precondition, got {:?}", other.map(|r| r.graph.len())),
    }
    let fold = lookup("fold-identity").unwrap();
    let pm =
        PassManager::from_passes(vec![(fold, BTreeMap::new()), (&NEEDS_FOLDED, BTreeMap::new())])
            .unwrap();
    assert!(pm.run(&graph(), PassEnv::default()).is_ok());

    // An invalid input graph is rejected before any pass runs.
    let mut bad = Graph::new();
    bad.add_input("x", TensorType::f32(vec![1])).unwrap();
    let e = PassManager::parse_pipeline(&tessera::flow::registry(), "dce")
        .unwrap()
        .run(&bad, PassEnv::default())
        .err()
        .unwrap();
    assert_eq!(e.to_string(), "the input graph is invalid:\n  graph: the graph has no outputs");
}
