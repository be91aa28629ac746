//! The CAM RTL (`cam::rtl`) against the CAM simulator and against hand computation.
//!
//! - a hand-built two-tree, two-output model: `cam::rtl::vectors` reproduces totals and classes
//!   computed by hand from the trees (an oracle independent of the simulator), the RTL matches
//!   them under iverilog for every policy, and its Verilog and memory images are snapshotted;
//! - a variant with two single-leaf trees and an unused feature (a row tile without arrays,
//!   a feature without thresholds);
//! - random ensembles over awkward thresholds (±0.0, ±inf, ±f32::MAX, neighbours) on small and
//!   degenerate array geometries (one row, one column), every policy;
//! - `verilator --lint-only -Wall` prints nothing, yosys synthesizes without a warning;
//! - error paths: a bad top name, vectors of the wrong width.

mod cam_common;
mod cam_rtl_common;

use cam_common::{lower, nasty_pool, probes, random_ensemble, random_input, EnsembleShape, Rng};
use cam_rtl_common::check;
use ndarray::Array2;
use std::process::Command;
use tessera::backend::verilog::harness::{self, Simulator};
use tessera::backend::verilog::print_modules;
use tessera::cam::pack::{next_down_f32, next_up_f32};
use tessera::cam::rtl::{self, OutputLayout};
use tessera::cam::tile::{Geometry, Policy};
use tessera::cam::{CamDesign, CamError};
use tessera::frontend::trees::{Aggregation, Node, SplitOp, Tree, TreeEnsemble};

/// The mapping options of a fixed geometry and policy.
fn options(g: Geometry, order: Policy) -> String {
    format!("tile = {g}, order = {}", order.name())
}

fn split(feature: u32, threshold: f32, op: SplitOp, missing_left: bool, l: u32, r: u32) -> Node {
    Node::Split { feature, threshold, op, left: l, right: r, missing_left }
}

fn leaf(value: f64) -> Node {
    Node::Leaf { value }
}

/// Two trees, two outputs, three features:
/// - tree 0 (output 0, XGBoost `<`): `f0 < 0.5` (NaN left) ? (`f1 < 2` (NaN right) ? 1.0 : 0.25) : -0.5
/// - tree 1 (output 1, LightGBM `<=`): `f2 <= -1` (NaN right) ? 0.75 : (`f0 <= 1.5` (NaN left) ? -0.25 : 0.5)
///
/// with base margins 0.5 and 0.25.
fn two_trees() -> TreeEnsemble {
    TreeEnsemble {
        num_features: 3,
        num_outputs: 2,
        base_margin: vec![0.5, 0.25],
        trees: vec![
            Tree {
                output: 0,
                nodes: vec![
                    split(0, 0.5, SplitOp::Lt, true, 1, 2),
                    split(1, 2.0, SplitOp::Lt, false, 3, 4),
                    leaf(-0.5),
                    leaf(1.0),
                    leaf(0.25),
                ],
            },
            Tree {
                output: 1,
                nodes: vec![
                    split(2, -1.0, SplitOp::Le, false, 1, 2),
                    leaf(0.75),
                    split(0, 1.5, SplitOp::Le, true, 3, 4),
                    leaf(-0.25),
                    leaf(0.5),
                ],
            },
        ],
        aggregation: Aggregation::Sum,
        objective: "multi:softprob".into(),
        source: "hand-built".into(),
    }
}

/// The two-tree model on 4x2 arrays: 6 rows in two row tiles, 3 features in two column tiles.
fn two_tree_design(order: Policy) -> CamDesign {
    lower(&two_trees(), &options(Geometry { rows: 4, cols: 2 }, order), None).unwrap()
}

/// Fixed-point values of the leaves and bases. Leaves and bases are multiples of 2^-2 and the
/// largest leaf magnitude is 1.0, so 16-bit leaves get 14 fractional bits (1.0 -> 16384 fits in
/// 32767, 2.0 -> 32768 would not).
const BASE0: i64 = 8192; // 0.5
const BASE1: i64 = 4096; // 0.25
const ONE: i64 = 16384;
const THREE_QUARTERS: i64 = 12288;
const HALF: i64 = 8192;
const QUARTER: i64 = 4096;

/// Inputs and their totals and classes, computed by hand from the trees.
fn hand_cases() -> Vec<([f32; 3], [i64; 2], usize)> {
    let nan = f32::NAN;
    vec![
        // t0: 0 < .5, 2 < 2 no -> 0.25; t1: -2 <= -1 -> 0.75.
        ([0.0, 2.0, -2.0], [BASE0 + QUARTER, BASE1 + THREE_QUARTERS], 1),
        // t0: NaN left, 1 < 2 -> 1.0; t1: -1 <= -1 -> 0.75.
        ([nan, 1.0, -1.0], [BASE0 + ONE, BASE1 + THREE_QUARTERS], 0),
        // t0: 1.5 >= .5 -> -0.5; t1: NaN right, 1.5 <= 1.5 -> -0.25. A tie (0, 0): class 0.
        ([1.5, nan, nan], [BASE0 - HALF, BASE1 - QUARTER], 0),
        // Signed zeros compare equal to zero: t0 -> 1.0; t1: 0 > -1, -0 <= 1.5 -> -0.25.
        ([-0.0, -0.0, 0.0], [BASE0 + ONE, BASE1 - QUARTER], 0),
        // t0 -> -0.5; t1: 0 > -1, 2 > 1.5 -> 0.5.
        ([2.0, 0.0, 0.0], [BASE0 - HALF, BASE1 + HALF], 1),
        // Exactly on thresholds and their neighbours: 0.5 is not < 0.5 -> -0.5;
        // next_up(-1) > -1, 0.5 <= 1.5 -> -0.25.
        ([0.5, 2.0, next_up_f32(-1.0)], [BASE0 - HALF, BASE1 - QUARTER], 0),
        // next_down(0.5) < 0.5, next_down(2) < 2 -> 1.0; -1 <= -1 -> 0.75.
        ([next_down_f32(0.5), next_down_f32(2.0), -1.0], [BASE0 + ONE, BASE1 + THREE_QUARTERS], 0),
        // next_up(1.5) > 1.5 -> 0.5 in tree 1; tree 0 -> -0.5.
        ([next_up_f32(1.5), 5.0, 7.0], [BASE0 - HALF, BASE1 + HALF], 1),
        // Infinities: t0 -> -0.5; t1: inf > -1, inf > 1.5 -> 0.5.
        ([f32::INFINITY, f32::NEG_INFINITY, f32::INFINITY], [BASE0 - HALF, BASE1 + HALF], 1),
        // -inf < 0.5, -inf < 2 -> 1.0; -inf <= -1 -> 0.75.
        (
            [f32::NEG_INFINITY, f32::NEG_INFINITY, f32::NEG_INFINITY],
            [BASE0 + ONE, BASE1 + THREE_QUARTERS],
            0,
        ),
    ]
}

fn hand_inputs() -> Array2<f32> {
    let cases = hand_cases();
    Array2::from_shape_fn((cases.len(), 3), |(i, j)| cases[i].0[j])
}

#[test]
fn vectors_match_hand_computed_totals() {
    for order in Policy::ALL {
        let d = two_tree_design(order);
        assert_eq!(d.quantized.fixed.frac_bits, 14);
        let layout = OutputLayout::of(&d);
        // M = max_k |base_k| + Σ max |leaf| = 8192 + 16384 = 24576 < 2^15: 16-bit totals.
        assert_eq!(layout, OutputLayout { outputs: 2, acc_bits: 16, class_bits: 1 });
        let (inputs, expected) = rtl::vectors(&d, hand_inputs().view()).unwrap();
        for (i, (x, totals, class)) in hand_cases().into_iter().enumerate() {
            assert_eq!(layout.unpack(&expected[i]), (totals.to_vec(), Some(class)), "case {i}");
            for (f, v) in x.iter().enumerate() {
                let word = inputs[i].field(32 * f as u32, 32).to_int(false).unwrap();
                assert_eq!(word, i128::from(v.to_bits()), "case {i} feature {f}");
            }
        }
        // Hand packing of case 0: class 1 at bit 32, 16384 = 0x4000 above 12288 = 0x3000.
        assert_eq!(expected[0].to_hex(), "140003000");
    }
}

#[test]
fn two_tree_rtl_matches_under_iverilog_for_every_policy() {
    if !harness::require(Simulator::Iverilog) {
        return;
    }
    for order in Policy::ALL {
        let d = two_tree_design(order);
        let r = check(Simulator::Iverilog, &d, hand_inputs().view(), order.name());
        eprintln!(
            "two trees {}: {} vectors, {} cycles ({} predicted), {:.2} s",
            order.name(),
            r.vectors,
            r.tb_cycles,
            r.predicted_cycles,
            r.seconds
        );
    }
}

#[test]
fn two_tree_verilog_snapshot() {
    let hw = rtl::lower(&two_tree_design(Policy::Monosparse), "cam_top").unwrap();
    let mut text = print_modules(&hw.modules);
    for (name, contents) in &hw.files {
        text.push_str(&format!("\n// ---- {name}\n{contents}"));
    }
    insta::assert_snapshot!("two_tree_monosparse_verilog", text);
}

#[test]
fn bad_inputs_are_errors() {
    let d = two_tree_design(Policy::Monosparse);
    for top in ["", "1cam", "cam-top", "module", "tb_cam", "cam top"] {
        match rtl::lower(&d, top) {
            Err(CamError::BadOption { option, message }) => {
                assert_eq!(option, "top");
                assert!(message.contains(&format!("`{top}`")), "{message}");
            }
            other => panic!("top `{top}`: {other:?}"),
        }
    }
    // 64x65536 arrays (29 Mbit per array word) fit no instance the stdlib component allows
    // (at most 4096 columns): refused when the mapping is checked, before any RTL is attempted.
    let e = lower(&two_trees(), "tile = 64x65536", None).unwrap_err();
    assert!(e.contains("option `tile` is refused on instance `cam`"), "{e}");
    let narrow = Array2::<f32>::zeros((2, 2));
    assert_eq!(
        rtl::vectors(&d, narrow.view()).unwrap_err(),
        CamError::SampleWidth { what: "test vectors".into(), expected: 3, got: 2 }
    );
    let empty = Array2::<f32>::zeros((0, 3));
    assert!(matches!(
        rtl::vectors(&d, empty.view()),
        Err(CamError::BadOption { option, .. }) if option == "data"
    ));
}

/// The two-tree model plus two single-leaf trees and a fourth feature no split uses.
fn with_stumps() -> TreeEnsemble {
    let mut m = two_trees();
    m.num_features = 4;
    m.trees.push(Tree { output: 0, nodes: vec![leaf(0.125)] });
    m.trees.push(Tree { output: 1, nodes: vec![leaf(-0.375)] });
    m
}

fn stump_design(order: Policy) -> CamDesign {
    lower(&with_stumps(), &options(Geometry { rows: 2, cols: 2 }, order), None).unwrap()
}

#[test]
fn row_tiles_without_arrays_and_features_without_thresholds() {
    let x4 = {
        let h = hand_inputs();
        let mut x = Array2::<f32>::zeros((h.nrows() + 2, 4));
        x.slice_mut(ndarray::s![..h.nrows(), ..3]).assign(&h);
        // The unused feature gets every kind of value; it must change nothing.
        for (i, v) in
            [f32::NAN, -0.0, 3.0, f32::INFINITY].iter().cycle().take(x.nrows()).enumerate()
        {
            x[[i, 3]] = *v;
        }
        x
    };
    for order in Policy::ALL {
        let d = stump_design(order);
        assert!(d.quantized.encoders[3].thresholds.is_empty());
        if order != Policy::Raw {
            // Reordering puts the two all-don't-care rows last: their row tile has no array.
            assert!(d.hardware().row_tiles.iter().any(|r| r.column_tiles.is_empty()), "{order:?}");
        }
        // Hand oracle: the stumps add 0.125 (2048) and -0.375 (-6144) to the two-tree totals.
        let (_, expected) = rtl::vectors(&d, x4.view()).unwrap();
        let layout = OutputLayout::of(&d);
        for (i, (_, totals, _)) in hand_cases().into_iter().enumerate() {
            let want = vec![totals[0] + 2048, totals[1] - 6144];
            assert_eq!(layout.unpack(&expected[i]).0, want, "{order:?} case {i}");
        }
        if harness::require(Simulator::Iverilog) {
            check(Simulator::Iverilog, &d, x4.view(), &format!("stumps {}", order.name()));
        }
    }
}

fn random_design(seed: u64, g: Geometry, order: Policy, mean: bool) -> (CamDesign, Array2<f32>) {
    let shape = EnsembleShape {
        features: 7,
        outputs: 3,
        trees: 9,
        max_depth: 4,
        early_leaf: 0.25,
        aggregation: if mean { Aggregation::Mean } else { Aggregation::Sum },
        pool: nasty_pool(),
    };
    let model = random_ensemble(seed, &shape);
    let d = lower(&model, &options(g, order), None).unwrap();
    let pool = probes(&nasty_pool());
    let mut rng = Rng(seed ^ 0xabcd);
    let n = 150;
    let mut x = Array2::<f32>::zeros((n, shape.features));
    for i in 0..n {
        for (j, v) in random_input(&mut rng, shape.features, &pool).into_iter().enumerate() {
            x[[i, j]] = v;
        }
    }
    (d, x)
}

#[test]
fn random_ensembles_on_small_and_degenerate_arrays() {
    if !harness::require(Simulator::Iverilog) {
        return;
    }
    let cases = [
        (1, Geometry { rows: 8, cols: 3 }, false),
        (2, Geometry { rows: 5, cols: 5 }, true),
        (3, Geometry { rows: 3, cols: 1 }, false),
        (4, Geometry { rows: 1, cols: 4 }, true),
    ];
    for (seed, g, mean) in cases {
        for order in Policy::ALL {
            let (d, x) = random_design(seed, g, order, mean);
            let label = format!("random seed {seed} {g} {}", order.name());
            let r = check(Simulator::Iverilog, &d, x.view(), &label);
            eprintln!("{label}: {} vectors, {} cycles, {:.2} s", r.vectors, r.tb_cycles, r.seconds);
        }
    }
}

/// Writes a design (with its memory images) into a fresh directory.
fn written(hw: &tessera::flow::HwDesign) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join(format!("{}.v", hw.top)), print_modules(&hw.modules)).unwrap();
    for (name, text) in &hw.files {
        std::fs::write(dir.path().join(name), text).unwrap();
    }
    dir
}

#[test]
fn verilator_lint_is_clean() {
    if !harness::require(Simulator::Verilator) {
        return;
    }
    let mut designs = vec![
        ("two trees monosparse", two_tree_design(Policy::Monosparse)),
        ("two trees raw", two_tree_design(Policy::Raw)),
        ("stumps reorder", stump_design(Policy::Reorder)),
    ];
    for (seed, g) in [(3, Geometry { rows: 3, cols: 1 }), (4, Geometry { rows: 1, cols: 4 })] {
        designs.push(("random", random_design(seed, g, Policy::Monosparse, false).0));
    }
    for (label, d) in designs {
        let hw = rtl::lower(&d, "cam_top").unwrap();
        let dir = written(&hw);
        let o = Command::new("verilator")
            .args(["--lint-only", "-Wall", "cam_top.v"])
            .current_dir(dir.path())
            .output()
            .unwrap();
        let text =
            format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr));
        assert!(o.status.success() && text.trim().is_empty(), "{label}:\n{text}");
    }
}

#[test]
fn yosys_synthesizes_without_warnings() {
    if !harness::require_yosys() {
        return;
    }
    for (label, d) in [
        ("two trees monosparse", two_tree_design(Policy::Monosparse)),
        ("stumps reorder", stump_design(Policy::Reorder)),
    ] {
        let hw = rtl::lower(&d, "cam_top").unwrap();
        let dir = written(&hw);
        let o = Command::new("yosys")
            .args([
                "-q",
                "-p",
                "read_verilog -sv cam_top.v; synth -top cam_top; tee -o stat.txt stat",
            ])
            .current_dir(dir.path())
            .output()
            .unwrap();
        let text =
            format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr));
        assert!(o.status.success(), "{label}: yosys failed:\n{text}");
        assert!(!text.to_lowercase().contains("warning"), "{label}: yosys warnings:\n{text}");
        let stat = std::fs::read_to_string(dir.path().join("stat.txt")).unwrap();
        // The ROMs become logic and the state is in flip-flops: a real netlist, not an empty one.
        assert!(stat.contains("DFF"), "{label}: no flip-flops in\n{stat}");
        eprintln!(
            "{label}: {}",
            stat.lines().find(|l| l.contains("Number of cells")).unwrap_or("").trim()
        );
    }
}

/// Models at the edges of the generator: only single-leaf trees (no thresholds, no array at
/// all: every row tile is empty) and a single feature.
#[test]
fn degenerate_models() {
    let stumps = TreeEnsemble {
        num_features: 2,
        num_outputs: 1,
        base_margin: vec![-1.0],
        trees: vec![
            Tree { output: 0, nodes: vec![leaf(0.5)] },
            Tree { output: 0, nodes: vec![leaf(-0.25)] },
        ],
        aggregation: Aggregation::Sum,
        objective: "reg:squarederror".into(),
        source: "hand-built".into(),
    };
    let one_feature = TreeEnsemble {
        num_features: 1,
        num_outputs: 1,
        base_margin: vec![0.0],
        trees: vec![Tree {
            output: 0,
            nodes: vec![
                split(0, 1.0, SplitOp::Lt, true, 1, 2),
                leaf(-1.0),
                split(0, 3.0, SplitOp::Le, false, 3, 4),
                leaf(0.5),
                leaf(1.0),
            ],
        }],
        aggregation: Aggregation::Sum,
        objective: "reg:squarederror".into(),
        source: "hand-built".into(),
    };
    let xs = [f32::NAN, -0.0, 0.0, 1.0, next_down_f32(1.0), 3.0, next_up_f32(3.0), f32::INFINITY];
    // Hand totals. Stumps: the largest leaf is 0.5, so 15 fractional bits (0.5 -> 16384);
    // -1 + 0.5 - 0.25 = -0.75 -> -24576 for every input. One feature: the largest leaf is 1.0,
    // so 14 bits; NaN -> left -> -1.0; x < 1 -> -1.0; 1 <= x <= 3 -> 0.5; x > 3 -> 1.0.
    let one_feature_totals = [-16384, -16384, -16384, 8192, -16384, 8192, 16384, 16384];
    for order in Policy::ALL {
        let g = Geometry { rows: 2, cols: 1 };
        let opts = options(g, order);
        for (label, model, want) in
            [("stumps", &stumps, [-24576; 8]), ("one feature", &one_feature, one_feature_totals)]
        {
            let d = lower(model, &opts, None).unwrap();
            let f = model.num_features;
            let x = Array2::from_shape_fn((xs.len(), f), |(i, _)| xs[i]);
            let (_, expected) = rtl::vectors(&d, x.view()).unwrap();
            let layout = OutputLayout::of(&d);
            for (i, e) in expected.iter().enumerate() {
                assert_eq!(layout.unpack(e), (vec![want[i]], None), "{label} {order:?} input {i}");
            }
            let label = format!("{label} {}", order.name());
            if harness::require(Simulator::Verilator) {
                let hw = rtl::lower(&d, "cam_top").unwrap();
                let dir = written(&hw);
                let o = Command::new("verilator")
                    .args(["--lint-only", "-Wall", "cam_top.v"])
                    .current_dir(dir.path())
                    .output()
                    .unwrap();
                let text = format!(
                    "{}{}",
                    String::from_utf8_lossy(&o.stdout),
                    String::from_utf8_lossy(&o.stderr)
                );
                assert!(o.status.success() && text.trim().is_empty(), "{label}:\n{text}");
            }
            if harness::require(Simulator::Iverilog) {
                check(Simulator::Iverilog, &d, x.view(), &label);
            }
        }
    }
}
