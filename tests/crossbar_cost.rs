//! Crossbar cost model: hand-priced events, parameter reading from a `.tess` instance, and the
//! orderings a designer relies on (more ADC bits cost more ADC energy; more column sharing
//! means fewer ADCs and more cycles), plus the co-design sweep.

use std::collections::BTreeMap;
use std::path::PathBuf;
use tessera::crossbar::cost::{price, CrossbarParams};
use tessera::crossbar::dataset::ExampleData;
use tessera::crossbar::device::DeviceConfig;
use tessera::crossbar::mlp::import_graph;
use tessera::crossbar::quant::{quantize_graph, QuantConfig, QuantizedMlp};
use tessera::crossbar::sim::{CrossbarNet, Events};
use tessera::crossbar::sweep::{format_table, sweep, SweepSpec};
use tessera::crossbar::tile::{TileStats, XbarConfig};
use tessera::dsl::accel::{Instance, Value};
use tessera::frontend::onnx::load_onnx;
use tessera::units::{Dim, Quantity};

/// Illustrative figures for tests only (round numbers chosen so hand arithmetic is easy; the
/// real ones come from stdlib/crossbar.tess).
fn instance() -> Instance {
    let q = |v: f64, d: Dim| Value::Number(Quantity::new(v, d));
    let mut params = BTreeMap::new();
    params.insert("row_energy".into(), q(1e-15, Dim::ENERGY)); // 1 fJ
    params.insert("col_energy".into(), q(2e-15, Dim::ENERGY)); // 2 fJ
    params.insert("adc_energy".into(), q(10e-15, Dim::ENERGY)); // 10 fJ at 4 bits
    params.insert("adc_bits".into(), q(4.0, Dim::DIMENSIONLESS));
    params.insert("shift_add_energy".into(), q(0.5e-15, Dim::ENERGY));
    params.insert("buffer_energy".into(), q(4e-15, Dim::ENERGY));
    params.insert("read_time".into(), q(10e-9, Dim::TIME)); // 10 ns
    params.insert("adc_time".into(), q(1e-9, Dim::TIME)); // 1 ns
    params.insert("cell_area".into(), q(0.01e-12, Dim::AREA)); // 0.01 um2
    params.insert("adc_area".into(), q(100e-12, Dim::AREA)); // 100 um2 at 4 bits
    params.insert("shift_add_area".into(), q(10e-12, Dim::AREA));
    params.insert("array_periphery_area".into(), q(50e-12, Dim::AREA));
    params.insert("buffer_area".into(), q(1000e-12, Dim::AREA));
    Instance { name: "xbar".into(), component: "crossbar::rram_1t1r".into(), params }
}

#[test]
fn tiny_layer_priced_by_hand() {
    let p = CrossbarParams::from_instance(&instance()).unwrap();
    // The events of tests/crossbar_sim.rs::tiny_layer_events_by_hand, over 2 identical samples.
    let one = Events {
        row_activations: 8,
        column_reads: 32,
        adc_conversions: 32,
        shift_adds: 32,
        buffer_reads: 3,
        buffer_writes: 2,
        cycles: 4,
        planes: 2,
        macs: 6,
    };
    let mut two = one;
    two += one;
    let st = TileStats {
        arrays: 4,
        row_tiles: 2,
        col_tiles: 2,
        cols_per_weight: 4,
        cells_used: 24,
        cells_total: 32,
        utilization: 0.75,
        adcs: 8,
    };
    let cfg = XbarConfig {
        rows: 2,
        cols: 4,
        cell_bits: 1,
        cols_per_adc: 2,
        adc_bits: 4,
        ..XbarConfig::default()
    };
    let c = price(&["fc".into()], &[two], 2, &[st], &cfg, &p);
    // Energy (fJ): 8*1 + 32*2 + 32*10 + 32*0.5 + 5*4 = 8 + 64 + 320 + 16 + 20 = 428 fJ.
    assert!((c.ledger.energy_pj() - 0.428).abs() < 1e-12, "{}", c.ledger.energy_pj());
    assert!((c.ledger.breakdown()["crossbar.adc"] - 0.320).abs() < 1e-12);
    assert!((c.ledger.breakdown()["crossbar.array"] - 0.072).abs() < 1e-12);
    // Latency: 2 planes * 10 ns + 4 conversion steps * 1 ns (4-bit ADC at its reference) = 24 ns.
    assert!((c.ledger.latency_ns - 24.0).abs() < 1e-9);
    // Area (um2): 4 arrays * (2*4*0.01 + 50) = 200.32; 8 ADCs * (100 + 10) = 880; buffer 1000.
    assert!((c.ledger.area_um2_total() - 2080.32).abs() < 1e-6, "{}", c.ledger.area_um2_total());
    // TOPS/W = 2 * 6 MACs / 0.428 pJ.
    assert!((c.tops_per_w - 12.0 / 0.428).abs() < 1e-9);
    // The ADC figures scale as 2^(b - 4): 6 bits cost 4x.
    assert!((p.adc_energy_at(6) - 40e-15).abs() < 1e-27);
    assert!((p.adc_area_at(3) - 50e-12).abs() < 1e-24);
    // SAR steps: 6 bits take 7 steps where 4 bits take 5.
    assert!((p.adc_time_at(6) - 1.4e-9).abs() < 1e-21);
}

#[test]
fn geometry_and_device_from_the_instance() {
    use tessera::crossbar::tile::{FullScale, SignedEncoding};
    let q = |v: f64| Value::Number(Quantity::new(v, Dim::DIMENSIONLESS));
    let mut inst = instance();
    for (k, v) in [
        ("rows", 64.0),
        ("cols", 32.0),
        ("cell_bits", 2.0),
        ("cols_per_adc", 4.0),
        ("on_off", 17.0),
        ("d2d_sigma", 0.05),
        ("c2c_sigma", 0.003),
        ("p_stuck_off", 0.01),
        ("p_stuck_on", 0.0),
    ] {
        inst.params.insert(k.into(), q(v));
    }
    let cfg =
        XbarConfig::from_instance(&inst, SignedEncoding::Offset, FullScale::ArrayMax).unwrap();
    assert_eq!(
        (cfg.rows, cfg.cols, cfg.cell_bits, cfg.cols_per_adc, cfg.adc_bits),
        (64, 32, 2, 4, 4)
    );
    assert_eq!(cfg.adcs_per_array(), 8);
    let dev = DeviceConfig::from_instance(&inst, 5, 6).unwrap();
    assert_eq!(
        (dev.on_off_ratio, dev.d2d_sigma, dev.c2c_sigma, dev.p_stuck_off),
        (17.0, 0.05, 0.003, 0.01)
    );
    inst.params.insert("on_off".into(), q(1.0));
    let e = DeviceConfig::from_instance(&inst, 5, 6).unwrap_err().to_string();
    assert!(e.starts_with("instance `xbar`: invalid device parameters"), "{e}");
    inst.params.insert("cell_bits".into(), q(1.5));
    let e =
        XbarConfig::from_instance(&inst, SignedEncoding::Offset, FullScale::ArrayMax).unwrap_err();
    assert_eq!(
        e.to_string(),
        "parameter `cell_bits` of instance `xbar` (crossbar::rram_1t1r) must be a whole number"
    );
}

#[test]
fn missing_or_mistyped_parameters_are_named() {
    let mut inst = instance();
    inst.params.remove("adc_time");
    assert_eq!(
        CrossbarParams::from_instance(&inst).unwrap_err().to_string(),
        "instance `xbar` (crossbar::rram_1t1r) has no parameter `adc_time`, which this model needs"
    );
    let mut inst = instance();
    inst.params.insert("row_energy".into(), Value::Number(Quantity::new(1e-9, Dim::TIME)));
    assert_eq!(
        CrossbarParams::from_instance(&inst).unwrap_err().to_string(),
        "parameter `row_energy` of instance `xbar` (crossbar::rram_1t1r) must be a energy"
    );
}

fn digits() -> (QuantizedMlp, ExampleData) {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("examples/digits_mlp");
    let graph = import_graph(&load_onnx(&dir.join("model.onnx")).unwrap()).unwrap();
    let data = ExampleData::load(&dir).unwrap();
    (quantize_graph(&graph, &data.x_calib, &QuantConfig::default()).unwrap().1, data)
}

#[test]
fn more_adc_sharing_means_fewer_adcs_and_more_cycles() {
    let (q, data) = digits();
    let p = CrossbarParams::from_instance(&instance()).unwrap();
    let xs = &data.x_test[..20];
    let mut prev: Option<(usize, f64)> = None;
    for share in [1, 2, 4, 8, 16] {
        let cfg = XbarConfig { cols_per_adc: share, adc_bits: 9, ..XbarConfig::default() };
        let net = CrossbarNet::build(&q, &cfg, &DeviceConfig::ideal()).unwrap();
        let run = net.run_batch(xs, 0);
        let cost = price(&net.layer_names(), &run.events, run.samples, &net.tile_stats(), &cfg, &p);
        let adcs: usize = cost.layers.iter().map(|l| l.adcs).sum();
        if let Some((a, lat)) = prev {
            assert!(adcs < a, "sharing {share}: {adcs} ADCs vs {a}");
            assert!(
                cost.ledger.latency_ns > lat,
                "sharing {share}: latency {} vs {lat}",
                cost.ledger.latency_ns
            );
        }
        prev = Some((adcs, cost.ledger.latency_ns));
        // Sharing changes the schedule, never the result.
        assert_eq!(run.outputs, xs.iter().map(|x| q.forward(x)).collect::<Vec<_>>());
    }
}

#[test]
fn more_adc_bits_cost_more_adc_energy_and_recover_accuracy() {
    let (q, data) = digits();
    let n = 150;
    let spec = SweepSpec {
        base: XbarConfig::default(),
        device: DeviceConfig { seed: 1, ..DeviceConfig::ideal() },
        params: CrossbarParams::from_instance(&instance()).unwrap(),
        adc_bits: (3..=9).collect(),
        d2d_sigmas: vec![0.0],
        data: &data.x_test[..n],
        labels: &data.y_test[..n],
        reference: &data.expected[..n],
        full_scale_percentile: None,
        calib: &data.x_calib,
    };
    let pts = sweep(&q, &spec).unwrap();
    eprintln!("{}", format_table(&pts));
    for w in pts.windows(2) {
        assert!(w[1].adc_energy_pj > w[0].adc_energy_pj);
        // A SAR conversion takes bits + 1 steps: same schedule, longer steps.
        assert!(w[1].latency_ns > w[0].latency_ns);
    }
    // 9 bits covers 128 rows x 3 levels exactly: the ideal integer datapath.
    assert!(pts.last().unwrap().agreement >= 0.99);
    assert!(pts[0].agreement < pts.last().unwrap().agreement);

    // A full scale calibrated on X_calib clips rare large sums and resolves the common small
    // ones: at 5 and 6 bits it beats the array-maximum full scale.
    let cal = sweep(
        &q,
        &SweepSpec { full_scale_percentile: Some(99.9), adc_bits: vec![5, 6], ..spec.clone() },
    )
    .unwrap();
    eprintln!("{}", format_table(&cal));
    assert!(cal[0].full_scale < 384);
    assert!(cal[0].agreement > pts[2].agreement && cal[1].agreement > pts[3].agreement);
}

#[test]
fn device_variation_sweep_is_reproducible() {
    let (q, data) = digits();
    let n = 60;
    let spec = SweepSpec {
        base: XbarConfig { adc_bits: 9, ..XbarConfig::default() },
        device: DeviceConfig { seed: 3, c2c_sigma: 0.01, ..DeviceConfig::ideal() },
        params: CrossbarParams::from_instance(&instance()).unwrap(),
        adc_bits: vec![9],
        d2d_sigmas: vec![0.0, 0.1],
        data: &data.x_test[..n],
        labels: &data.y_test[..n],
        reference: &data.expected[..n],
        full_scale_percentile: None,
        calib: &data.x_calib,
    };
    let a = sweep(&q, &spec).unwrap();
    assert_eq!(a, sweep(&q, &spec).unwrap());
}

/// The full co-design table on digits (release build recommended):
/// `cargo test --release --test crossbar_cost -- --ignored --nocapture`
#[test]
#[ignore]
fn codesign_table_digits() {
    let (q, data) = digits();
    let spec = SweepSpec {
        base: XbarConfig::default(),
        device: DeviceConfig {
            seed: 2024,
            on_off_ratio: 17.0,
            c2c_sigma: 0.003,
            ..DeviceConfig::ideal()
        },
        params: CrossbarParams::from_instance(&instance()).unwrap(),
        adc_bits: (3..=8).collect(),
        d2d_sigmas: vec![0.0, 0.025, 0.05, 0.075, 0.1],
        data: &data.x_test,
        labels: &data.y_test,
        reference: &data.expected,
        full_scale_percentile: None,
        calib: &data.x_calib,
    };
    println!("ADC full scale = array maximum (128 rows x 3 levels):");
    println!("{}", format_table(&sweep(&q, &spec).unwrap()));
    let spec = SweepSpec { full_scale_percentile: Some(99.9), ..spec };
    println!("ADC full scale calibrated (99.9th percentile of column sums on X_calib):");
    println!("{}", format_table(&sweep(&q, &spec).unwrap()));
}

/// The report section for breast_cancer on the default macro (128x128, 2-bit cells,
/// differential pairs, 8 columns per ADC, 8-bit ADC), reviewed by hand: 8-bit weights store 7
/// magnitude bits = 4 slices x 2 polarities = 8 columns per weight, so layer 0 (30 -> 16) uses
/// 128 columns of one array (utilization 30 * 128 / 16384 = 0.234) with 16 ADCs and
/// 8 planes x 128 / 16 = 64 cycles; layer 1 (16 -> 8) 8 x 4 = 32 cycles; layer 2 (8 -> 2) 8.
#[test]
fn breast_cancer_report_section() {
    use tessera::crossbar::report::summarize;
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("examples/breast_cancer_mlp");
    let graph = import_graph(&load_onnx(&dir.join("model.onnx")).unwrap()).unwrap();
    let data = ExampleData::load(&dir).unwrap();
    let q = quantize_graph(&graph, &data.x_calib, &QuantConfig::default()).unwrap().1;
    let cfg = XbarConfig::default();
    let net = CrossbarNet::build(&q, &cfg, &DeviceConfig::ideal()).unwrap();
    let run = net.run_batch(&data.x_test, 0);
    let p = CrossbarParams::from_instance(&instance()).unwrap();
    let cost = price(&net.layer_names(), &run.events, run.samples, &net.tile_stats(), &cfg, &p);
    let s = summarize(&net, &run, &cost);
    assert_eq!(s.cycles_per_inference, 104.0);
    assert_eq!((s.arrays, s.adcs), (3, 48));
    insta::assert_json_snapshot!(s);
}
