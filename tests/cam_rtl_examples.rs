//! The CAM RTL on the example models (XGBoost, LightGBM, scikit-learn via Treelite), under
//! iverilog and verilator: for each, ~200 test rows plus crafted rows (NaN of several
//! payloads, ±0.0, ±inf, every threshold and both its float neighbours) must come out of the
//! RTL exactly as `cam::sim` computes them, in exactly the cycles `cam::rtl::cycles` predicts;
//! a flipped expected bit must be reported. Each run's time and the RTL's cycles per inference
//! against the latency model of `energy.rs` are printed
//! (`cargo test --test cam_rtl_examples -- --nocapture`).

mod cam_common;
mod cam_rtl_common;

use cam_common::{lower, Rng};
use cam_rtl_common::{check, check_in, RtlRun};
use ndarray::{concatenate, s, Array2, Axis};
use std::path::{Path, PathBuf};
use std::process::Command;
use tessera::backend::verilog::harness::{self, Simulator};
use tessera::backend::verilog::print_modules;
use tessera::cam::pack::{next_down_f32, next_up_f32};
use tessera::cam::rtl;
use tessera::cam::sim::{SearchEvents, Simulator as CamSim};
use tessera::cam::tile::Policy;
use tessera::cam::CamDesign;
use tessera::dsl::accel::ModelFormat;
use tessera::frontend::load_tree_model;
use tessera::frontend::npy::read_features;

fn example(dir: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("examples").join(dir)
}

fn features(dir: &str, file: &str) -> Array2<f32> {
    read_features(&example(dir).join(file)).unwrap().data
}

const EXAMPLES: [(&str, ModelFormat, &str); 5] = [
    ("breast_cancer_xgb", ModelFormat::Xgboost, "model.json"),
    ("iris_xgb", ModelFormat::Xgboost, "model.json"),
    ("diabetes_lgbm", ModelFormat::Lightgbm, "model.txt"),
    ("rf_treelite", ModelFormat::Treelite, "model.json"),
    ("wide_xgb", ModelFormat::Xgboost, "model.json"),
];

/// The example's design under `cam_pack(<options>)`, through the pass pipeline.
fn design(dir: &str, options: &str) -> CamDesign {
    let (_, format, file) = EXAMPLES.iter().find(|e| e.0 == dir).unwrap();
    let model = load_tree_model(*format, &example(dir).join(file)).unwrap();
    let train = features(dir, "X_train.npy");
    lower(&model, options, Some(train.view())).unwrap()
}

/// NaNs with different payloads and signs: every one must behave as the simulator's NaN.
fn nans() -> [f32; 3] {
    [f32::NAN, f32::from_bits(0xffc0_0000), f32::from_bits(0x7f80_0001)]
}

/// `n` rows derived from `base`: each feature is, with probability 1/2, replaced by one of its
/// thresholds or a float neighbour of one, a NaN, a signed zero or an infinity. The first five
/// rows are all NaN, all +0.0, all -0.0, all +inf and all -inf.
fn crafted(d: &CamDesign, base: &Array2<f32>, n: usize, seed: u64) -> Array2<f32> {
    let f = base.ncols();
    let mut rng = Rng(seed);
    let specials = [0.0, -0.0, f32::INFINITY, f32::NEG_INFINITY];
    let mut out = Array2::<f32>::zeros((n, f));
    for i in 0..n {
        for j in 0..f {
            let table = &d.quantized.encoders[j].thresholds;
            out[[i, j]] = match i {
                0 => nans()[j % 3],
                1..=4 => specials[i - 1],
                _ if rng.chance(0.5) => base[[i % base.nrows(), j]],
                _ if !table.is_empty() && rng.chance(0.8) => {
                    let t = table[rng.below(table.len())];
                    match rng.below(3) {
                        0 => t,
                        1 => next_up_f32(t),
                        _ => next_down_f32(t),
                    }
                }
                _ if rng.chance(0.5) => nans()[rng.below(3)],
                _ => specials[rng.below(4)],
            };
        }
    }
    out
}

/// Up to `n` test rows, topped up from the training rows, then `extra` crafted rows.
fn inputs(dir: &str, d: &CamDesign, n: usize, extra: usize) -> Array2<f32> {
    let test = features(dir, "X_test.npy");
    let train = features(dir, "X_train.npy");
    let both = concatenate(Axis(0), &[test.view(), train.view()]).unwrap();
    let rows = both.slice(s![..n.min(both.nrows()), ..]).to_owned();
    let craft = crafted(d, &rows, extra, 0x5eed ^ n as u64);
    concatenate(Axis(0), &[rows.view(), craft.view()]).unwrap()
}

/// Mean cycles per inference: the RTL's and the `energy.rs` latency model's.
fn cycle_means(d: &CamDesign, x: &Array2<f32>) -> (f64, f64) {
    let t = d.hardware();
    let sim = CamSim::new(&d.quantized, t);
    let mut ev = SearchEvents::default();
    for row in x.rows() {
        ev += sim.run_f32(&row.to_vec()).unwrap().events;
    }
    let n = x.nrows() as f64;
    (rtl::cycles(d, &ev) as f64 / n, d.physics.cycles(&ev, t.row_tiles.len()) as f64 / n)
}

fn report(label: &str, sim: Simulator, d: &CamDesign, x: &Array2<f32>, r: &RtlRun) {
    let (rtl_cycles, model_cycles) = cycle_means(d, x);
    eprintln!(
        "{label:<44} {:<9} {:>4} vectors | cycles/inference RTL {:>7.2} (worst {:>4}) model {:>6.2} | {:>6.1} s",
        sim.name(),
        r.vectors,
        rtl_cycles,
        rtl::worst_case_cycles(d),
        model_cycles,
        r.seconds
    );
}

fn run(sim: Simulator, label: &str, d: &CamDesign, x: &Array2<f32>) {
    let r = check(sim, d, x.view(), label);
    report(label, sim, d, x, &r);
}

/// Monosparse (the default hardware policy) on 200 rows plus 60 crafted ones; the baselines,
/// whose RTL differs only in ROM contents and in having no early exit, on 40 plus 20.
#[test]
fn small_examples_match_the_simulator_under_iverilog() {
    if !harness::require(Simulator::Iverilog) {
        return;
    }
    for (dir, _, _) in &EXAMPLES[..4] {
        for order in Policy::ALL {
            let d = design(dir, &format!("order = {}", order.name()));
            let x = match order {
                Policy::Monosparse => inputs(dir, &d, 200, 60),
                _ => inputs(dir, &d, 40, 20),
            };
            run(Simulator::Iverilog, &format!("{dir} {}", order.name()), &d, &x);
        }
    }
}

/// Small arrays give many row tiles and column tiles, so liveness, early exits and (with
/// clustering) per-array column maps are exercised on real models.
#[test]
fn small_arrays_and_beyond_paper_layouts_under_iverilog() {
    if !harness::require(Simulator::Iverilog) {
        return;
    }
    let cases = [
        ("breast_cancer_xgb", "tile = 8x8, cluster = false, column_order = care_count"),
        ("breast_cancer_xgb", "tile = 8x8, cluster = true, column_order = rejection"),
        ("diabetes_lgbm", "tile = 32x3, cluster = true, column_order = care_count"),
        ("rf_treelite", "tile = 16x4, cluster = false, column_order = rejection"),
    ];
    for (dir, layout) in cases {
        for order in [Policy::Reorder, Policy::Monosparse] {
            let d = design(dir, &format!("{layout}, order = {}", order.name()));
            let x = inputs(dir, &d, 100, 40);
            let label = format!("{dir} {layout} {}", order.name());
            run(Simulator::Iverilog, &label, &d, &x);
        }
    }
}

/// The 320-feature model: monosparse with 200 test rows plus 60 crafted ones under verilator
/// (built in `CARGO_TARGET_TMPDIR` and reused while the design is unchanged; iverilog on fewer
/// rows when verilator is missing), raw and reorder on a few rows under iverilog.
#[test]
fn wide_example_matches_the_simulator() {
    let dir = "wide_xgb";
    let mono = design(dir, "");
    if harness::require(Simulator::Verilator) {
        let x = inputs(dir, &mono, 200, 60);
        let cache = Path::new(env!("CARGO_TARGET_TMPDIR")).join("cam_rtl_wide_monosparse");
        let r = check_in(Simulator::Verilator, &mono, x.view(), "wide_xgb monosparse", &cache);
        report("wide_xgb monosparse", Simulator::Verilator, &mono, &x, &r);
    } else if harness::require(Simulator::Iverilog) {
        let x = inputs(dir, &mono, 40, 20);
        run(Simulator::Iverilog, "wide_xgb monosparse", &mono, &x);
    }
    if !harness::require(Simulator::Iverilog) {
        return;
    }
    for order in [Policy::Raw, Policy::Reorder] {
        let d = design(dir, &format!("order = {}", order.name()));
        let x = inputs(dir, &d, 8, 4);
        run(Simulator::Iverilog, &format!("wide_xgb {}", order.name()), &d, &x);
    }
}

/// `verilator --lint-only -Wall` prints nothing for every example's design (the 24x48 arrays
/// with their 1152 cell comparators, 320 parallel encoders for the wide model).
#[test]
fn example_designs_are_lint_clean() {
    if !harness::require(Simulator::Verilator) {
        return;
    }
    for (dir, _, _) in &EXAMPLES {
        let d = design(dir, "");
        let hw = rtl::lower(&d, "cam_top").unwrap();
        let tmp = tempfile::tempdir().unwrap();
        std::fs::write(tmp.path().join("cam_top.v"), print_modules(&hw.modules)).unwrap();
        let o = Command::new("verilator")
            .args(["--lint-only", "-Wall", "cam_top.v"])
            .current_dir(tmp.path())
            .output()
            .unwrap();
        let text =
            format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr));
        assert!(o.status.success() && text.trim().is_empty(), "{dir}:\n{text}");
    }
}
