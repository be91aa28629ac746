//! The crossbar datapath: an ideal crossbar equals the integer matrix-vector product exactly,
//! event counts match a hand derivation, the ADC transfer is as specified, nonidealities are
//! reproducible, and the full networks agree with onnxruntime.

use proptest::prelude::*;
use std::path::PathBuf;
use std::sync::Arc;
use tessera::crossbar::adc::Adc;
use tessera::crossbar::dataset::ExampleData;
use tessera::crossbar::device::{program, Codes, DeviceConfig};
use tessera::crossbar::mlp::import_graph;
use tessera::crossbar::quant::{argmax_agreement, quantize_graph, QLayer, QuantConfig};
use tessera::crossbar::sim::{
    simulate_layer, CrossbarNet, Events, Exceeding, Hooks, LayerHw, LayerInput, SumSink,
};
use tessera::crossbar::tile::{map_layer, tile_stats, FullScale, SignedEncoding, XbarConfig};
use tessera::frontend::onnx::load_onnx;

/// A bare layer for datapath tests (scales irrelevant: only `matvec` is compared).
fn qlayer(
    n_in: usize,
    n_out: usize,
    w: Vec<i64>,
    (w_lo, w_hi): (i64, i64),
    (in_lo, in_hi): (i64, i64),
    a_bits: u32,
) -> QLayer {
    QLayer {
        name: "fc".into(),
        n_in,
        n_out,
        w: w.into(),
        w_lo,
        w_hi,
        acc_scale: vec![1.0; n_out],
        in_scale: vec![1.0; n_in],
        in_lo,
        in_hi,
        a_bits,
    }
}

fn run(layer: &QLayer, cfg: &XbarConfig, dev: &DeviceConfig, x: &[i64]) -> (Vec<i64>, Events) {
    let map = map_layer(&Arc::new(layer.clone()), cfg).unwrap();
    let prog = program(&map, dev, 0).unwrap();
    let adc =
        Adc { bits: cfg.adc_bits, full_scale: cfg.full_scale_levels(), frac_bits: dev.frac_bits };
    let hw = LayerHw { map: &map, prog: &prog, adc: &adc, cfg };
    simulate_layer(
        hw,
        LayerInput { x, a_bits: layer.a_bits, signed: layer.in_lo < 0 },
        &mut Hooks::default(),
    )
}

#[test]
fn tiny_layer_events_by_hand() {
    // W = [[1, -2, 3], [0, 1, -1]], x = [1, 2, 3] (2-bit unsigned): W x = [6, -1].
    let layer = qlayer(3, 2, vec![1, -2, 3, 0, 1, -1], (-3, 3), (0, 3), 2);
    let cfg = XbarConfig {
        rows: 2,
        cols: 4,
        cell_bits: 1,
        encoding: SignedEncoding::Differential,
        cols_per_adc: 2,
        adc_bits: 4,
        full_scale: FullScale::ArrayMax,
    };
    let (y, ev) = run(&layer, &cfg, &DeviceConfig::ideal(), &[1, 2, 3]);
    assert_eq!(y, vec![6, -1]);
    // Differential: |w| <= 3 needs 2 bits -> 2 slices x 2 polarities = 4 columns per weight, one
    // output per 4-column array; 3 inputs on 2-row arrays -> 2 row tiles; 2 x 2 = 4 arrays.
    let st = tile_stats(&map_layer(&Arc::new(layer.clone()), &cfg).unwrap(), &cfg);
    assert_eq!(
        (st.arrays, st.row_tiles, st.col_tiles, st.cols_per_weight, st.adcs),
        (4, 2, 2, 4, 8)
    );
    assert_eq!((st.cells_used, st.cells_total), (24, 32));
    // Bit planes: t0 = [1, 0, 1], t1 = [0, 1, 1]. Row tile 0 (rows 0-1) drives 1 row per plane,
    // row tile 1 (row 2) drives 1 row per plane; each tile exists in 2 column tiles:
    // (1 + 1) * 2 + (1 + 1) * 2 = 8 activations.
    // Columns: 4 arrays x 4 used columns x 2 planes = 32 reads = conversions = shift-adds.
    // Cycles: 2 ADCs per array (4 / 2), 4 columns -> 2 steps per plane x 2 planes = 4.
    let want = Events {
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
    assert_eq!(ev, want);

    // Offset encoding: stored w + 3 in [0, 6] -> 3 bits -> 3 columns per weight, still one
    // output per array: 4 arrays x 3 columns x 2 planes = 24 conversions; shift-adds add the
    // input sum (3) and the per-output correction (2): 29.
    let cfg = XbarConfig { encoding: SignedEncoding::Offset, ..cfg };
    let (y, ev) = run(&layer, &cfg, &DeviceConfig::ideal(), &[1, 2, 3]);
    assert_eq!(y, vec![6, -1]);
    assert_eq!((ev.adc_conversions, ev.shift_adds, ev.cycles, ev.row_activations), (24, 29, 4, 8));
}

#[test]
fn adc_rounding_and_clipping_by_hand() {
    // One output, four weights of 1 on a 4-row array, 1-bit cells, 1-bit inputs.
    let layer = qlayer(4, 1, vec![1; 4], (-1, 1), (0, 1), 1);
    let cfg = XbarConfig {
        rows: 4,
        cols: 2,
        cell_bits: 1,
        encoding: SignedEncoding::Differential,
        cols_per_adc: 1,
        adc_bits: 2,
        full_scale: FullScale::ArrayMax,
    };
    let ideal = DeviceConfig::ideal();
    // Full scale 4 levels on 3 codes: step 4/3. P = 2 -> code floor((2*3*2 + 4) / 8) = 2,
    // output round(2 * 4 / 3) = 3: the 2-bit ADC reads 2 as 3.
    assert_eq!(run(&layer, &cfg, &ideal, &[1, 1, 0, 0]).0, vec![3]);
    assert_eq!(run(&layer, &cfg, &ideal, &[1, 1, 1, 1]).0, vec![4]); // full scale is exact
                                                                     // Full scale 3 levels: lossless step 1 but P = 4 clips to code 3.
    let clip = XbarConfig { full_scale: FullScale::Levels(3), ..cfg };
    assert_eq!(run(&layer, &clip, &ideal, &[1, 1, 1, 1]).0, vec![3]);
    assert_eq!(run(&layer, &clip, &ideal, &[1, 1, 0, 0]).0, vec![2]);
}

fn exact_matvec(w: &[i64], x: &[i64], n_in: usize) -> Vec<i64> {
    w.chunks(n_in).map(|row| row.iter().zip(x).map(|(a, b)| a * b).sum()).collect()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, failure_persistence: None, ..ProptestConfig::default() })]
    /// Any layer, any geometry, either encoding, signed or unsigned inputs: an ideal device and a
    /// lossless ADC give exactly the integer matrix-vector product.
    #[test]
    fn ideal_crossbar_equals_integer_matvec(
        n_in in 1usize..20, n_out in 1usize..6, w_bits in 2u32..9, a_bits in 1u32..9,
        rows in 1usize..9, cell_bits in 1u32..4, offset in any::<bool>(), signed in any::<bool>(),
        frac_bits in 0u32..5, seed in any::<u64>(),
    ) {
        let qmax = (1i64 << (w_bits - 1)) - 1;
        let mut r = tessera::crossbar::device::stream(seed, 9, 0);
        let mut next = |lo: i64, hi: i64| lo + (rand_core::Rng::next_u64(&mut r) % (hi - lo + 1) as u64) as i64;
        let w: Vec<i64> = (0..n_in * n_out).map(|_| next(-qmax, qmax)).collect();
        let (in_lo, in_hi) = if signed { (-(1i64 << (a_bits - 1)), (1i64 << (a_bits - 1)) - 1) } else { (0, (1i64 << a_bits) - 1) };
        let x: Vec<i64> = (0..n_in).map(|_| next(in_lo, in_hi)).collect();
        let layer = qlayer(n_in, n_out, w.clone(), (-qmax, qmax), (in_lo, in_hi), a_bits);
        let mut cfg = XbarConfig {
            rows,
            cols: 32,
            cell_bits,
            encoding: if offset { SignedEncoding::Offset } else { SignedEncoding::Differential },
            cols_per_adc: 3,
            adc_bits: 1,
            full_scale: FullScale::ArrayMax,
        };
        cfg.adc_bits = cfg.lossless_adc_bits();
        let dev = DeviceConfig { frac_bits, ..DeviceConfig::ideal() };
        let (y, ev) = run(&layer, &cfg, &dev, &x);
        prop_assert_eq!(y, exact_matvec(&w, &x, n_in));
        prop_assert_eq!(ev.macs, (n_in * n_out) as u64);
    }
}

fn example(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("examples").join(name)
}

/// The full network on an ideal crossbar with lossless ADCs reproduces the integer reference
/// bit for bit; returns its argmax agreement with the framework's outputs.
fn network_agreement(name: &str, cfg: &XbarConfig) -> (f64, bool) {
    let dir = example(name);
    let graph = import_graph(&load_onnx(&dir.join("model.onnx")).unwrap()).unwrap();
    let data = ExampleData::load(&dir).unwrap();
    let q = quantize_graph(&graph, &data.x_calib, &QuantConfig::default()).unwrap().1;
    let net = CrossbarNet::build(&q, cfg, &DeviceConfig::ideal()).unwrap();
    let mut identical = true;
    let outs: Vec<Vec<f32>> = data
        .x_test
        .iter()
        .map(|x| {
            let o = net.infer(x, None).output;
            identical &= o == q.forward(x);
            o
        })
        .collect();
    let a = argmax_agreement(&outs, &data.expected);
    eprintln!(
        "{name}: crossbar {}x{} cell {} adc {} -> agreement {a:.4}",
        cfg.rows, cfg.cols, cfg.cell_bits, cfg.adc_bits
    );
    (a, identical)
}

#[test]
fn examples_on_ideal_crossbars_match_integer_reference_and_onnxruntime() {
    let cfg = XbarConfig { adc_bits: 9, ..XbarConfig::default() }; // 128 rows x 3 levels = 384 < 511
    assert_eq!(cfg.lossless_adc_bits(), 9);
    for name in ["digits_mlp", "breast_cancer_mlp", "qonnx_mlp"] {
        let (agree, identical) = network_agreement(name, &cfg);
        assert!(identical, "{name}: ideal crossbar differs from the integer reference");
        assert!(agree >= 0.99, "{name}: {agree}");
    }
}

/// A batch simulated layer by layer (each array's cells read once for all rows) is every row
/// simulated alone: outputs, codes, accumulators, events and saturated reads, on the AVX-512
/// batch kernel (1-bit cells), the per-row fallback (2-bit cells) and the packed per-cell
/// Signed inputs (the digits centred on zero: the first layer's top input bit plane weighs
/// `-2^7`) batch on the row kernel where the machine has it and equal rows simulated alone on
/// the column kernel: outputs, events and saturated reads.
#[test]
fn signed_inputs_batch_as_rows_alone() {
    let dir = example("digits_mlp");
    let graph = import_graph(&load_onnx(&dir.join("model.onnx")).unwrap()).unwrap();
    let data = ExampleData::load(&dir).unwrap();
    let centred = |xs: &[Vec<f32>]| -> Vec<Vec<f32>> {
        xs.iter().map(|x| x.iter().map(|v| v - 8.0).collect()).collect()
    };
    let q = quantize_graph(&graph, &centred(&data.x_calib), &QuantConfig::default()).unwrap().1;
    assert!(q.layers[0].in_lo < 0, "the first layer's inputs are signed");
    let dev = DeviceConfig { on_off_ratio: 17.0, ..DeviceConfig::ideal() };
    for rows in [128, 16] {
        let full_scale = FullScale::Levels(12);
        let cfg =
            XbarConfig { rows, cell_bits: 1, adc_bits: 4, full_scale, ..XbarConfig::default() };
        let net = CrossbarNet::build(&q, &cfg, &dev).unwrap();
        let k = net.programmed[0].kernel.as_deref().expect("ideal cells have the bit-plane kernel");
        assert_eq!(k.row_kernel(), tessera::crossbar::rowcount::available());
        let xs = centred(&data.x_test[..21]);
        let mut alone = net.exceeding();
        let want: Vec<_> = xs.iter().map(|x| net.infer_with(x, None, Some(&mut alone))).collect();
        let mut batch = net.exceeding();
        assert_eq!(net.infer_batch(&xs, &mut batch), want, "{rows} rows");
        assert_eq!((batch.over, batch.total), (alone.over, alone.total));
        assert!(rows < 128 || alone.over > 0, "128-row columns saturate a 4-bit ADC");
    }
}

/// codes of varied devices with stuck cells, 128-row arrays and 16-row ones (four row tiles),
/// a 4-bit ADC that saturates on 128 rows, batches of 1, 5 and 21 rows.
#[test]
fn batches_equal_rows_simulated_alone() {
    let dir = example("digits_mlp");
    let graph = import_graph(&load_onnx(&dir.join("model.onnx")).unwrap()).unwrap();
    let data = ExampleData::load(&dir).unwrap();
    let q = quantize_graph(&graph, &data.x_calib, &QuantConfig::default()).unwrap().1;
    // The last configuration is calibration's: a lossless ADC on ideal cells.
    // Varied devices (per-cell codes, stored packed) take the batch path that decodes each row
    // tile once for all rows.
    let varied = |d2d_sigma, p_stuck_off, frac_bits| DeviceConfig {
        on_off_ratio: 17.0,
        d2d_sigma,
        p_stuck_off,
        frac_bits,
        seed: 5,
        ..DeviceConfig::ideal()
    };
    let exact = |on_off_ratio| DeviceConfig { on_off_ratio, ..DeviceConfig::ideal() };
    let narrow = DeviceConfig { on_off_ratio: 2.0, ..varied(0.05, 0.0, 7) };
    for (rows, cell_bits, encoding, adc_bits, full_scale, dev) in [
        (128, 1, SignedEncoding::Differential, 4, FullScale::Levels(12), exact(17.0)),
        (16, 1, SignedEncoding::Offset, 4, FullScale::Levels(12), exact(17.0)),
        (128, 2, SignedEncoding::Differential, 4, FullScale::Levels(12), exact(17.0)),
        (128, 1, SignedEncoding::Differential, 4, FullScale::Levels(12), varied(0.05, 0.01, 6)),
        (16, 2, SignedEncoding::Offset, 4, FullScale::Levels(12), varied(0.1, 0.02, 6)),
        // Codes past 255 that span fewer than 256 values (off 128, on 256, 5% variation):
        // stored as bytes less a base above 128.
        (128, 1, SignedEncoding::Differential, 4, FullScale::Levels(12), narrow),
        // A 6-bit ADC has more codes than a register pair permutes: levels gathered by sum.
        (128, 1, SignedEncoding::Differential, 6, FullScale::Levels(40), varied(0.05, 0.01, 6)),
        (128, 1, SignedEncoding::Differential, 8, FullScale::ArrayMax, exact(f64::INFINITY)),
    ] {
        let cfg =
            XbarConfig { rows, cell_bits, encoding, adc_bits, full_scale, ..XbarConfig::default() };
        let net = CrossbarNet::build(&q, &cfg, &dev).unwrap();
        // Varied cells take the byte product where the machine has it (batches as long as
        // the narrow layers allow): codes of one byte, codes past 255 that span fewer than 256
        // values, and 2-bit cells at 6 fraction bits whose codes span more (two bytes).
        if dev.d2d_sigma > 0.0 {
            use tessera::crossbar::sim::{BYTE_BATCH_MAX, CELL_BATCH_ROWS};
            let bytes =
                tessera::crossbar::bytegemm::available(tessera::crossbar::bytegemm::Inputs::Small);
            let want = if bytes { BYTE_BATCH_MAX } else { CELL_BATCH_ROWS };
            assert_eq!(net.batch_rows(), want, "{rows} rows, {cell_bits}-bit cells");
            let (lo, hi) = net.programmed[0].code_range(&net.maps[0]);
            match (cell_bits, dev.on_off_ratio == 2.0) {
                (1, true) => assert!(hi > 255 && hi - lo < 256, "codes {lo}..={hi}"),
                (1, false) => assert!(hi < 256, "codes {lo}..={hi}"),
                _ => assert!(hi - lo > 255, "codes {lo}..={hi}"),
            }
        }
        // Ideal 1-bit cells batch on the row kernel where the machine runs it (rows alone take
        // the column kernel, so the two are compared below).
        if let (1, Some(k)) = (cell_bits, net.programmed[0].kernel.as_deref()) {
            assert_eq!(k.row_kernel(), tessera::crossbar::rowcount::available(), "{rows} rows");
        }
        for n in [1, 5, 21] {
            let xs = &data.x_test[..n];
            let mut alone = net.exceeding();
            let want: Vec<_> =
                xs.iter().map(|x| net.infer_with(x, None, Some(&mut alone))).collect();
            let mut batch = net.exceeding();
            let got = net.infer_batch(xs, &mut batch);
            // A 4-bit ADC reads at most 15 levels: 128-row columns saturate.
            assert!(
                rows < 128 || adc_bits > 4 || alone.over > 0,
                "{rows} rows, {cell_bits}-bit: no saturation"
            );
            assert_eq!((batch.over, batch.total), (alone.over, alone.total));
            assert_eq!(got, want, "{rows} rows, {cell_bits}-bit cells, {n} samples");
            // Counting every partial sum (calibration), in full and above a floor.
            let mut sums = tessera::crossbar::sim::SumHistogram::default();
            xs.iter().for_each(|x| drop(net.infer_with(x, None, Some(&mut sums))));
            let all: Vec<i64> = (0..sums.len()).map(|k| sums.nth(k).unwrap()).collect();
            let floor = all[all.len() / 2];
            for mut batch in [
                tessera::crossbar::sim::SumHistogram::default(),
                tessera::crossbar::sim::SumHistogram::floored(floor),
            ] {
                assert_eq!(net.infer_batch_counting(xs, &mut batch), want);
                let below = all.iter().filter(|p| **p < floor).count() as u64;
                let below = if batch.floor().is_some() { below } else { 0 };
                let got: Vec<_> = (0..batch.len()).map(|k| batch.nth(k)).collect();
                let want: Vec<_> = all
                    .iter()
                    .enumerate()
                    .map(|(k, v)| (k as u64 >= below).then_some(*v))
                    .collect();
                assert_eq!(got, want, "{rows} rows, {cell_bits}-bit cells, {n} samples");
            }
        }
    }
}

#[test]
fn small_arrays_force_row_tiling_and_stay_exact() {
    // 16x32 arrays split digits' 64 inputs over 4 row tiles; offset encoding, 1-bit cells.
    let cfg = XbarConfig {
        rows: 16,
        cols: 32,
        cell_bits: 1,
        encoding: SignedEncoding::Offset,
        adc_bits: 5,
        ..XbarConfig::default()
    };
    let (agree, identical) = network_agreement("digits_mlp", &cfg);
    assert!(identical);
    assert!(agree >= 0.99);
}

#[test]
fn device_programming_is_seeded() {
    let layer = qlayer(8, 4, (0..32).map(|k| (k % 7) - 3).collect(), (-3, 3), (0, 15), 4);
    let cfg = XbarConfig::default();
    let map = map_layer(&Arc::new(layer.clone()), &cfg).unwrap();
    let dev = DeviceConfig {
        d2d_sigma: 0.05,
        on_off_ratio: 17.0,
        p_stuck_off: 0.1,
        frac_bits: 6,
        seed: 11,
        ..DeviceConfig::ideal()
    };
    let a = program(&map, &dev, 0).unwrap();
    assert_eq!(a, program(&map, &dev, 0).unwrap());
    assert_ne!(a.codes, program(&map, &DeviceConfig { seed: 12, ..dev }, 0).unwrap().codes);
    assert_ne!(a.codes, program(&map, &dev, 1).unwrap().codes);
    // Level 0 leaks g_off = (2^2 - 1) / (17 - 1) = 0.1875 levels = 12 fine units (2^6 * 0.1875).
    let no_var =
        program(&map, &DeviceConfig { d2d_sigma: 0.0, p_stuck_off: 0.0, ..dev }, 0).unwrap();
    for (g, c) in no_var.codes(&map).zip(map.levels()) {
        assert_eq!(g, u32::from(c) * 64 + 12);
    }
}

/// A varied layer's codes are kept packed, well under a byte a cell (the memory budget is 16
/// bytes a weight; 8-bit differential weights on 1-bit cells are 16 cells), and still spread
/// as programmed: level-1 codes scatter around `2^6 * (1 + g_off)` with the relative sigma
/// asked for, and stuck-off cells read the leaking off state.
#[test]
fn varied_codes_are_packed_and_spread_as_programmed() {
    let (n_in, n_out) = (256, 64);
    let w: Vec<i64> = (0..n_in * n_out).map(|k| ((k * 7919) % 255) as i64 - 127).collect();
    let layer = qlayer(n_in, n_out, w, (-127, 127), (0, 255), 8);
    let cfg = XbarConfig { cell_bits: 1, ..XbarConfig::default() };
    let map = map_layer(&Arc::new(layer), &cfg).unwrap();
    let dev = DeviceConfig {
        d2d_sigma: 0.05,
        on_off_ratio: 17.0,
        p_stuck_off: 0.01,
        frac_bits: 6,
        seed: 3,
        ..DeviceConfig::ideal()
    };
    let p = program(&map, &dev, 0).unwrap();
    let Codes::PerCell(packed) = &p.codes else { panic!("a varied layer keeps codes per cell") };
    let cells = map.cells();
    assert_eq!(packed.len(), cells);
    assert!(packed.heap_bytes() * 2 < cells, "{} bytes for {cells} cells", packed.heap_bytes());
    // g_off = 1 / 16 level: a level-1 cell's nominal code is 64 * 17 / 16 = 68, level 0's 4.
    let (mut n, mut sum, mut sq, mut stuck_low) = (0f64, 0f64, 0f64, 0usize);
    for (g, l) in p.codes(&map).zip(map.levels()) {
        if l == 1 && g == 4 {
            stuck_low += 1;
        } else if l == 1 {
            let r = f64::from(g) / 68.0 - 1.0;
            (n, sum, sq) = (n + 1.0, sum + r, sq + r * r);
        }
    }
    let (mean, sd) = (sum / n, (sq / n - (sum / n).powi(2)).sqrt());
    assert!(mean.abs() < 0.005 && (sd - 0.05).abs() < 0.005, "mean {mean}, sd {sd}");
    // Each stuck-off level-1 cell reads 4; about 1% of the level-1 cells are stuck.
    let frac = stuck_low as f64 / (n + stuck_low as f64);
    assert!((0.005..0.015).contains(&frac), "{frac}");
    assert!(p.stuck.0 >= stuck_low);
}

#[test]
fn stuck_cells_follow_their_probability() {
    let n_in = 100;
    let layer = qlayer(n_in, 20, (0..2000).map(|k| (k % 15) - 7).collect(), (-7, 7), (0, 15), 4);
    let map = map_layer(&Arc::new(layer.clone()), &XbarConfig::default()).unwrap();
    let cells = map.cells() as f64; // 100 rows x 20 outputs x (2 slices x 2 polarities)
    assert_eq!(cells, 8000.0);
    let dev = DeviceConfig {
        p_stuck_off: 0.1,
        p_stuck_on: 0.02,
        frac_bits: 4,
        seed: 5,
        ..DeviceConfig::ideal()
    };
    let p = program(&map, &dev, 0).unwrap();
    // Binomial counts: mean 800 and 160, standard deviations ~26.8 and ~12.5; allow 5 sigma.
    assert!((p.stuck.0 as f64 - 800.0).abs() < 5.0 * 26.8, "{:?}", p.stuck);
    assert!((p.stuck.1 as f64 - 160.0).abs() < 5.0 * 12.5, "{:?}", p.stuck);
    // A stuck-on cell reads the top level (3 for 2-bit cells) in fine units: 3 * 16 = 48.
    assert!(p.codes(&map).filter(|g| *g == 48).count() >= p.stuck.1);
}

#[test]
fn read_noise_is_seeded_and_perturbs_the_result() {
    let layer =
        qlayer(64, 8, (0..512).map(|k| ((k * 37) % 255) - 127).collect(), (-127, 127), (0, 255), 8);
    let x: Vec<i64> = (0..64).map(|i| (i * 53) % 256).collect();
    let cfg = XbarConfig { adc_bits: 9, ..XbarConfig::default() };
    let dev = DeviceConfig { c2c_sigma: 0.05, frac_bits: 6, ..DeviceConfig::ideal() };
    let map = map_layer(&Arc::new(layer.clone()), &cfg).unwrap();
    let prog = program(&map, &dev, 0).unwrap();
    let adc =
        Adc { bits: cfg.adc_bits, full_scale: cfg.full_scale_levels(), frac_bits: dev.frac_bits };
    let hw = LayerHw { map: &map, prog: &prog, adc: &adc, cfg: &cfg };
    let run = |seed: u64| {
        let mut rng = tessera::crossbar::device::stream(seed, 2, 0);
        let mut hooks = Hooks {
            noise: Some(tessera::crossbar::sim::Noise { c2c_sigma: 0.05, rng: &mut rng }),
            partial_sums: None,
        };
        simulate_layer(hw, LayerInput { x: &x, a_bits: 8, signed: false }, &mut hooks).0
    };
    let exact = exact_matvec(&layer.w.to_vec(), &x, 64);
    assert_eq!(run(1), run(1));
    assert_ne!(run(1), run(2));
    assert_ne!(run(1), exact);
    // 5% per-cell noise on sums of ~tens of cells stays a small relative error.
    let rel: f64 = run(1).iter().zip(&exact).map(|(a, b)| (a - b).abs() as f64).sum::<f64>()
        / exact.iter().map(|b| b.abs() as f64).sum::<f64>();
    assert!(rel < 0.1, "{rel}");
}

/// A batch run with read noise draws every row's noise where a row-by-row run passing one
/// stream from row to row would: outputs and events equal, across batch boundaries (the digits
/// test set is longer than a batch), for exact and varied cells, one row tile and four.
#[test]
fn batched_noisy_runs_equal_rows_run_in_turn() {
    let dir = example("digits_mlp");
    let graph = import_graph(&load_onnx(&dir.join("model.onnx")).unwrap()).unwrap();
    let data = ExampleData::load(&dir).unwrap();
    let q = quantize_graph(&graph, &data.x_calib, &QuantConfig::default()).unwrap().1;
    let xs = &data.x_test;
    assert!(xs.len() > tessera::crossbar::sim::CELL_BATCH_ROWS, "{} rows", xs.len());
    // 16 fraction bits: sums of squared codes pass 2^24, so the rows run on the decoded
    // blocks without the f32 product.
    for (rows, cell_bits, d2d_sigma, frac_bits) in
        [(128, 1, 0.0, 6), (16, 2, 0.05, 6), (16, 2, 0.05, 16)]
    {
        let cfg = XbarConfig { rows, cell_bits, ..XbarConfig::default() };
        let dev = DeviceConfig {
            on_off_ratio: 17.0,
            c2c_sigma: 0.02,
            d2d_sigma,
            frac_bits,
            seed: 9,
            ..DeviceConfig::ideal()
        };
        let net = CrossbarNet::build(&q, &cfg, &dev).unwrap();
        let mut rng = tessera::crossbar::device::stream(4, 2, 0);
        let mut events = vec![Events::default(); net.maps.len()];
        let mut outputs = Vec::new();
        for x in xs {
            let inf = net.infer(x, Some(&mut rng));
            events.iter_mut().zip(inf.events).for_each(|(t, e)| *t += e);
            outputs.push(inf.output);
        }
        let batch = net.run_batch(xs, 4);
        assert_eq!(batch.outputs, outputs, "{rows} rows, {cell_bits}-bit cells, f {frac_bits}");
        assert_eq!(batch.events, events);
        // The noise is there: another seed moves some output.
        assert_ne!(net.run_batch(xs, 5).outputs, outputs);
    }
}

#[test]
fn differential_pairs_cancel_off_state_leakage() {
    // On/off ratio 10: every cell leaks 0.33 levels (2-bit cells). With offset encoding the
    // leakage adds to every column uncorrected; with differential pairs it appears in both
    // columns of a pair and cancels up to ADC rounding.
    let layer = qlayer(32, 8, (0..256).map(|k| ((k * 29) % 15) - 7).collect(), (-7, 7), (0, 15), 4);
    let x: Vec<i64> = (0..32).map(|i| (i * 7) % 16).collect();
    let exact = exact_matvec(&layer.w.to_vec(), &x, 32);
    let dev = DeviceConfig { on_off_ratio: 10.0, frac_bits: 6, ..DeviceConfig::ideal() };
    let err = |encoding| {
        let cfg = XbarConfig { encoding, adc_bits: 9, ..XbarConfig::default() };
        let y = run(&layer, &cfg, &dev, &x).0;
        y.iter().zip(&exact).map(|(a, b)| (a - b).abs()).sum::<i64>()
    };
    let (diff, off) = (err(SignedEncoding::Differential), err(SignedEncoding::Offset));
    assert!(off > 0 && diff * 10 < off, "differential {diff} vs offset {off}");
}

/// How a kernel test draws its inputs: any code, small codes (the high bit planes drive no
/// row), all zero, or all at the maximum (every row driven on the planes of its set bits).
#[derive(Clone, Copy, Debug)]
enum Inputs {
    Any,
    Small,
    Zero,
    Max,
}

/// A layer simulation's outputs and events, every partial sum it converted (sorted), and the
/// saturated reads counted by an [`Exceeding`] sink (over, total).
type Outcome = ((Vec<i64>, Events), Vec<i64>, (u64, u64));

/// Runs a layer twice: through the bit-plane kernel the programmed layer carries, and through
/// the reference loop (the same layer with the kernel removed); returns both results, the
/// partial sums each counted, and the reads each counted above `full` (fine units) with the
/// ADC at `full_scale` levels.
fn kernel_and_reference(
    layer: &QLayer,
    cfg: &XbarConfig,
    dev: &DeviceConfig,
    x: &[i64],
    (full_scale, full): (u64, i64),
) -> [Outcome; 2] {
    let map = map_layer(&Arc::new(layer.clone()), cfg).unwrap();
    let fast = program(&map, dev, 0).unwrap();
    assert!(fast.kernel.is_some(), "codes depend on the level only, so the kernel applies");
    let slow = tessera::crossbar::device::ProgrammedLayer { kernel: None, ..fast.clone() };
    let adc = Adc { bits: cfg.adc_bits, full_scale, frac_bits: dev.frac_bits };
    [fast, slow].map(|prog| {
        let hw = LayerHw { map: &map, prog: &prog, adc: &adc, cfg };
        let mut sums = tessera::crossbar::sim::SumHistogram::default();
        let input = LayerInput { x, a_bits: layer.a_bits, signed: layer.in_lo < 0 };
        let hooks = &mut Hooks { noise: None, partial_sums: Some(&mut sums) };
        let with_hook = simulate_layer(hw, input, hooks);
        let mut e = Exceeding { full, over: 0, total: 0 };
        let counted =
            simulate_layer(hw, input, &mut Hooks { noise: None, partial_sums: Some(&mut e) });
        let plain = simulate_layer(hw, input, &mut Hooks::default());
        assert_eq!(with_hook, plain);
        assert_eq!(counted, plain);
        let all: Vec<i64> = (0..sums.len()).map(|k| sums.nth(k).unwrap()).collect();
        assert_eq!(e.total, all.len() as u64);
        assert_eq!(e.over, all.iter().filter(|p| **p > full).count() as u64);
        // A floored histogram (calibration's fast path) counts the sums under its floor and
        // keeps the rest: every order statistic at or above them is the full list's.
        let mut floored = tessera::crossbar::sim::SumHistogram::floored(full);
        let hooks = &mut Hooks { noise: None, partial_sums: Some(&mut floored) };
        assert_eq!(simulate_layer(hw, input, hooks), plain);
        let below = all.iter().filter(|p| **p < full).count() as u64;
        assert_eq!(floored.len(), all.len() as u64);
        for (k, v) in all.iter().enumerate() {
            let k = k as u64;
            assert_eq!(floored.nth(k), (k >= below).then_some(*v), "k {k}, {below} below");
        }
        (plain, all, (e.over, e.total))
    })
}

/// Calibration's ADC (lossless on ideal 1-bit cells, 128-row arrays: every level is the
/// popcount, which the AVX-512 kernel reads without a table) is the reference loop too, with
/// full and floored histograms.
#[test]
fn lossless_popcount_reads_equal_reference_loop() {
    let mut r = tessera::crossbar::device::stream(7, 9, 0);
    let mut draw = |m: u64| (rand_core::Rng::next_u64(&mut r) % m) as i64;
    for (signed, offset) in [(false, false), (true, false), (true, true)] {
        let (n_in, n_out) = (300, 20);
        let w: Vec<i64> = (0..n_in * n_out).map(|_| draw(255) - 127).collect();
        let (in_lo, in_hi) = if signed { (-128, 127) } else { (0, 255) };
        let x: Vec<i64> = (0..n_in).map(|_| in_lo + draw((in_hi - in_lo + 1) as u64)).collect();
        let layer = qlayer(n_in, n_out, w, (-127, 127), (in_lo, in_hi), 8);
        let cfg = XbarConfig {
            rows: 128,
            cols: 64,
            cell_bits: 1,
            encoding: if offset { SignedEncoding::Offset } else { SignedEncoding::Differential },
            cols_per_adc: 8,
            adc_bits: 8,
            full_scale: FullScale::ArrayMax,
        };
        let dev = DeviceConfig { frac_bits: 4, ..DeviceConfig::ideal() };
        let [fast, slow] = kernel_and_reference(&layer, &cfg, &dev, &x, (255, 40 * 16));
        assert_eq!(fast, slow, "signed {signed} offset {offset}");
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]
    /// The kernel (popcounts over bit planes, the ADC as a byte or word table, AVX-512 where
    /// the CPU has it, planes that drive no row skipped) is the reference loop bit for bit:
    /// outputs, events, every partial sum and the saturated reads it counts inside its loop,
    /// for signed and unsigned inputs (random, small, zero, all rows driven), both encodings,
    /// 1- to 3-bit cells, arrays of 1 to 130 rows, ideal devices and a finite on/off ratio,
    /// ADC transfers that fit a byte table and ones that do not, and the lossless one whose
    /// levels are the popcounts (calibration's).
    #[test]
    fn kernel_equals_reference_loop(
        n_in in 1usize..300,
        n_out in 1usize..24,
        rows in prop::sample::select(vec![1usize, 5, 64, 100, 128, 130]),
        cell_bits in 1u32..4,
        offset in any::<bool>(),
        signed in any::<bool>(),
        on_off in prop::sample::select(vec![f64::INFINITY, 17.0, 5.0]),
        (adc_bits, full_scale) in prop::sample::select(vec![(5u32, 97u64), (8, 3000), (4, 9), (8, 255)]),
        inputs in prop::sample::select(vec![Inputs::Any, Inputs::Small, Inputs::Zero, Inputs::Max]),
        full in 0i64..3000,
        seed in any::<u64>(),
    ) {
        let mut r = tessera::crossbar::device::stream(seed, 9, 0);
        let mut draw = |m: u64| (rand_core::Rng::next_u64(&mut r) % m) as i64;
        let w: Vec<i64> = (0..n_in * n_out).map(|_| draw(255) - 127).collect();
        let (in_lo, in_hi) = if signed { (-128, 127) } else { (0, 255) };
        let x: Vec<i64> = (0..n_in)
            .map(|_| match inputs {
                Inputs::Any => in_lo + draw((in_hi - in_lo + 1) as u64),
                Inputs::Small => draw(4) - if signed { 2 } else { 0 },
                Inputs::Zero => 0,
                Inputs::Max => in_hi,
            })
            .collect();
        let layer = qlayer(n_in, n_out, w, (-127, 127), (in_lo, in_hi), 8);
        let cfg = XbarConfig {
            rows,
            cols: 64,
            cell_bits,
            encoding: if offset { SignedEncoding::Offset } else { SignedEncoding::Differential },
            cols_per_adc: 8,
            adc_bits,
            full_scale: FullScale::ArrayMax,
        };
        let dev = DeviceConfig { on_off_ratio: on_off, frac_bits: 4, ..DeviceConfig::ideal() };
        let [fast, slow] = kernel_and_reference(&layer, &cfg, &dev, &x, (full_scale, full));
        prop_assert_eq!(fast, slow);
    }
}
