//! Event counts and energies of a tiny 2-tree model on 2x2 arrays, derived by hand below from
//! the model, the policies' definitions and X-TIME's parameters in `stdlib/cam.tess`.
//!
//! Model (4 features, f3 never used; base margin 0.5):
//!   tree 0: f0 < 0.5 (NaN left) ? A=1.0 : (f1 <= 2.0 (NaN right) ? B=-0.5 : C=0.25)
//!   tree 1: f0 < -1.0 (NaN right) ? D=0.75 : (f2 < 1.0 (NaN left) ? E=-1.0 : F=0.5)
//! Rows in pack order A B C D E F (indices 0..5). Care cells: A{f0} B{f0,f1} C{f0,f1} D{f0}
//! E{f0,f2} F{f0,f2}. Bound kinds (lo set? hi set?) per care cell:
//!   A.f0 hi only, B.f0 lo only, B.f1 hi only, C.f0 lo only, C.f1 lo only, D.f0 hi only,
//!   E.f0 lo only, E.f2 hi only, F.f0 lo only, F.f2 lo only; all other cells both wildcard.
//! Encoder tables: f0 {-1.0, 0.5}, f1 {next_up(2.0)}, f2 {1.0}, f3 {} -> binary-search
//! comparisons 2 + 1 + 1 + 0 = 4 per sample; longest search 2 steps.
//!
//! Layouts at 2x2:
//!   raw: row tiles [A,B] [C,D] [E,F] x column tiles [f0,f1] [f2,f3] = 6 arrays.
//!   reorder: features by care count f0(6) f1(2) f2(2) f3(0); rows by care count (ties by index)
//!     B C E F A D -> row tiles [B,C] [E,F] [A,D]; [B,C]x[f2,f3] and [A,D]x[f2,f3] hold no care
//!     cell and are dropped -> 4 arrays: [B,C]:[f0,f1]; [E,F]:[f0,f1],[f2,f3]; [A,D]:[f0,f1].
//!   monosparse: the same arrays (the [E,F] pair ties on care cells, so [f0,f1] stays first).
//!
//! Sample x1 = (-2, 0, 0, 0): codes f0 0, f1 0, f2 0, f3 0. Traversal: tree 0 -> A, tree 1 -> D.
//!   raw: 6 arrays, every row in each: 12 rows enabled, 24 cells.
//!   reorder: 4 arrays, 8 rows enabled, 16 cells.
//!   monosparse: [B,C]:[f0,f1] enables 2, both fail f0 >= 0.5. [E,F]:[f0,f1] enables 2, both fail
//!     f0 >= -1 -> no live row, [f2,f3] skipped (1 early exit). [A,D]:[f0,f1] enables 2, both
//!     match. 3 arrays, 6 rows enabled, 6 liveness updates, 12 cells.
//!   Cells of enabled rows by kind [both set, lo wildcard, hi wildcard, both wildcard]:
//!     monosparse: B(f0 hi-wild, f1 lo-wild) C(hi-wild, hi-wild) E(hi-wild, both) F(hi-wild, both)
//!       A(lo-wild, both) D(lo-wild, both) -> [0, 3, 5, 4];
//!     reorder adds E(f2 lo-wild, f3 both) F(f2 hi-wild, f3 both) -> [0, 4, 6, 6];
//!     raw: every cell once: lo-wild A.f0 B.f1 D.f0 E.f2 = 4, hi-wild B.f0 C.f0 C.f1 E.f0 F.f0
//!       F.f2 = 6, the other 14 both wildcard -> [0, 4, 6, 14].
//!
//! Energies with X-TIME's parameters (all 1 fF, 1 V, 1 ns, 1 uW; Rw 1 Ohm; K1 1e-6; Vth 1 mV;
//! gHRS 1e-8, gMin 1e-6, gMax 3.3e-6, gBit 4; reg static 1e-7 W) at R = C = 2:
//!   R_out = 1e-9/(2*1e-15) - 0.5*1*(2-1) = 499999.5 Ohm
//!   per array: DL 1^2/499999.5*2*1e-9 = 4.000004000004 fJ, DAC 1e-6*2*1e-9 = 2 fJ,
//!     static registers 1e-7*2*1e-9 = 0.2 fJ -> 6.200004000004 fJ.
//!   per enabled row: ML 0.5*(1e-15*2 + 1e-15 + 1e-15)*1^2 = 2 fJ, SA 1 fJ, PC 1 fJ, plus the row
//!     register 1 fJ (X-TIME's dynamic register; in monosparse it is the liveness bit, same figure).
//!   source lines: I_max = 0.5*1e-6*(1 - 0.001)^2 = 4.990005e-7 A. gDelta = 2.3e-6/15,
//!     gLRS = 3.3e-6 + gDelta, representative g = 1e-6 + 7*gDelta = 2.0733e-6: both exceed
//!     I_max/V_sl, so they are capped; gHRS gives 1e-8 A. Per cell (2 sub-cells, V_sl = 1 V):
//!     lo set (kinds 0, 2): 2*(I_max + I_max)*1e-9 = 1.996002 fJ;
//!     lo wildcard (kinds 1, 3): 2*(1e-8 + I_max)*1e-9 = 1.018001 fJ.
//!   periphery: 4 comparisons * 0.1 pJ = 400 fJ; 2 matches * (1 + 1) fJ = 4 fJ.
//!   monosparse: 3*6.200004000004 + 6*(2+1+1) + 5*1.996002 + 7*1.018001 + 6*1 (liveness bits)
//!     = 65.706029000012 fJ array, + 404 fJ periphery = 469.706029000012 fJ.
//!   reorder: 4*6.200004000004 + 8*5 + 6*1.996002 + 10*1.018001 = 86.956038000016 fJ array,
//!     total 490.956038000016 fJ.
//!   raw: 6*6.200004000004 + 12*5 + 6*1.996002 + 18*1.018001 = 127.500054000024 fJ array,
//!     total 531.500054000024 fJ.
//! Latency (cycles): encoder 2 + critical searches * 4 + (1 + ceil(log2 3 row tiles) = 3):
//!   every policy needs 1 search on the critical path for x1 -> 9 cycles = 9 ns.
//! Sample x2 = (1, 0, 0, 0) -> B and E match; in monosparse [E,F] keeps both rows after
//!   [f0,f1] and searches [f2,f3] too: 4 arrays, 8 rows, 2 sequential searches -> 13 cycles.

mod cam_common;

use cam_common::*;
use ndarray::{arr2, Array2};
use tessera::cam::report::evaluate;
use tessera::cam::sim::Simulator;
use tessera::frontend::trees::{Aggregation, Node, SplitOp, Tree, TreeEnsemble};

fn split(
    feature: u32,
    threshold: f32,
    op: SplitOp,
    left: u32,
    right: u32,
    missing_left: bool,
) -> Node {
    Node::Split { feature, threshold, op, left, right, missing_left }
}
fn leaf(value: f64) -> Node {
    Node::Leaf { value }
}

fn two_trees() -> TreeEnsemble {
    let t0 = vec![
        split(0, 0.5, SplitOp::Lt, 1, 2, true),
        leaf(1.0),
        split(1, 2.0, SplitOp::Le, 3, 4, false),
        leaf(-0.5),
        leaf(0.25),
    ];
    let t1 = vec![
        split(0, -1.0, SplitOp::Lt, 1, 2, false),
        leaf(0.75),
        split(2, 1.0, SplitOp::Lt, 3, 4, true),
        leaf(-1.0),
        leaf(0.5),
    ];
    TreeEnsemble {
        num_features: 4,
        num_outputs: 1,
        base_margin: vec![0.5],
        trees: vec![Tree { output: 0, nodes: t0 }, Tree { output: 0, nodes: t1 }],
        aggregation: Aggregation::Sum,
        objective: "reg:squarederror".into(),
        source: "test".into(),
    }
}

fn design() -> tessera::cam::CamDesign {
    lower(&two_trees(), "tile = 2x2", None).unwrap()
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() <= 1e-9 * b.abs().max(1e-30)
}

#[test]
fn layouts_match_the_hand_derivation() {
    let d = design();
    let rows = |t: &tessera::cam::tile::TiledCam| {
        t.row_tiles.iter().map(|r| r.rows.clone()).collect::<Vec<_>>()
    };
    assert_eq!(rows(&d.tiled.raw), vec![vec![0, 1], vec![2, 3], vec![4, 5]]);
    assert_eq!(rows(&d.tiled.reorder), vec![vec![1, 2], vec![4, 5], vec![0, 3]]);
    assert_eq!(rows(&d.tiled.monosparse), vec![vec![1, 2], vec![4, 5], vec![0, 3]]);
    let cols = |t: &tessera::cam::tile::TiledCam| {
        t.row_tiles
            .iter()
            .map(|r| r.column_tiles.iter().map(|c| c.features.clone()).collect::<Vec<_>>())
            .collect::<Vec<_>>()
    };
    assert_eq!(
        cols(&d.tiled.reorder),
        vec![vec![vec![0, 1]], vec![vec![0, 1], vec![2, 3]], vec![vec![0, 1]]]
    );
    assert_eq!(cols(&d.tiled.monosparse), cols(&d.tiled.reorder));
    assert_eq!(d.tiled.raw.scheduled_tiles(), 6);
    assert_eq!(d.tiled.raw.grid_tiles, 6);
    assert_eq!(d.tiled.reorder.scheduled_tiles(), 4);
    assert!(d.tiled.monosparse.liveness && !d.tiled.reorder.liveness);
}

#[test]
fn events_of_x1_match_the_hand_derivation() {
    let d = design();
    let x1 = [-2.0f32, 0.0, 0.0, 0.0];
    let e = d.quantized.encode(&x1).unwrap();
    let raw = Simulator::new(&d.quantized, &d.tiled.raw).run(&e);
    let reo = Simulator::new(&d.quantized, &d.tiled.reorder).run(&e);
    let mono = Simulator::new(&d.quantized, &d.tiled.monosparse).run(&e);
    for r in [&raw, &reo, &mono] {
        assert_eq!(r.matched_rows, vec![0, 3]);
        assert_eq!(r.margins, vec![2.25]);
        assert_eq!(r.events.encoder_comparisons, 4);
        assert_eq!(r.events.leaf_adds, 2);
    }
    let triple = |r: &tessera::cam::sim::SimResult| {
        (r.events.arrays_searched, r.events.rows_enabled, r.events.cells_searched)
    };
    assert_eq!(triple(&raw), (6, 12, 24));
    assert_eq!(triple(&reo), (4, 8, 16));
    assert_eq!(triple(&mono), (3, 6, 12));
    assert_eq!(raw.events.cells_by_bounds, [0, 4, 6, 14]);
    assert_eq!(reo.events.cells_by_bounds, [0, 4, 6, 6]);
    assert_eq!(mono.events.cells_by_bounds, [0, 3, 5, 4]);
    assert_eq!((mono.events.liveness_updates, mono.events.early_exits), (6, 1));
    assert_eq!((reo.events.liveness_updates, reo.events.early_exits), (0, 0));
    assert_eq!(raw.events.data_lines_driven, 12);
}

#[test]
fn energies_of_x1_match_the_hand_derivation() {
    let d = design();
    let data = arr2(&[[-2.0f32, 0.0, 0.0, 0.0]]);
    let ev = evaluate(&d, data.view()).unwrap();
    let r = &ev.report;
    // pJ
    assert!(
        close(r.energy_pj_array.monosparse, 65.706029000012e-3),
        "{}",
        r.energy_pj_array.monosparse
    );
    assert!(close(r.energy_pj.monosparse, 469.706029000012e-3), "{}", r.energy_pj.monosparse);
    assert!(close(r.energy_pj_array.reorder, 86.956038000016e-3), "{}", r.energy_pj_array.reorder);
    assert!(close(r.energy_pj.reorder, 490.956038000016e-3), "{}", r.energy_pj.reorder);
    assert!(close(r.energy_pj_array.raw, 127.500054000024e-3), "{}", r.energy_pj_array.raw);
    assert!(close(r.energy_pj.raw, 531.500054000024e-3), "{}", r.energy_pj.raw);
    assert!(close(r.breakdown["cam.liveness_register"], 6e-3));
    assert!(close(r.breakdown["cam.encoder"], 0.4));
    assert!(close(r.breakdown_by_policy.raw["cam.registers_dynamic"], 12e-3));
    assert_eq!(r.breakdown["cam.registers_dynamic"], 0.0);
    assert!(close(r.latency_ns, 9.0));
    assert_eq!((r.tiles_total, r.tiles_nonempty), (6, 4));
    assert_eq!((r.rows, r.features), (6, 4));
    // 10 of 24 cells are care cells (A1 B2 C2 D1 E2 F2).
    assert!(close(r.sparsity, 14.0 / 24.0));
    assert_eq!(ev.margins, Array2::from_elem((1, 1), 2.25f32));
    assert_eq!(ev.totals[[0, 0]], 36864); // 2.25 * 2^14
}

#[test]
fn x2_runs_two_sequential_searches_in_monosparse() {
    let d = design();
    let ev = evaluate(&d, arr2(&[[1.0f32, 0.0, 0.0, 0.0]]).view()).unwrap();
    let m = &ev.report.events.monosparse;
    assert_eq!((m.arrays_searched, m.rows_enabled, m.early_exits), (4.0, 8.0, 0.0));
    assert!(close(m.cycles, 13.0));
    assert!(close(ev.report.latency_ns_by_policy.reorder, 9.0));
    assert_eq!(ev.margins[[0, 0]], -1.0);
}

#[test]
fn svg_tile_map_of_the_two_tree_model() {
    let d = design();
    let svg = tessera::cam::svg::render(&[&d.tiled.raw, &d.tiled.reorder, &d.tiled.monosparse]);
    insta::assert_snapshot!("cam_two_trees_tiles_svg", svg);
}

#[test]
fn report_of_the_two_tree_model_on_x1_and_x2() {
    // Reviewed line by line against the derivation above: x1 and x2 averaged, e.g. monosparse
    // arrays searched (3 + 4) / 2 = 3.5, rows enabled (6 + 8) / 2 = 7.
    let d = design();
    let data = arr2(&[[-2.0f32, 0.0, 0.0, 0.0], [1.0, 0.0, 0.0, 0.0]]);
    let ev = evaluate(&d, data.view()).unwrap();
    insta::assert_json_snapshot!("cam_two_trees_report", ev.report);
}
