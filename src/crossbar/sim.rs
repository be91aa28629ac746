//! Bit-exact simulation of the tiled, bit-sliced, ADC-quantized crossbar datapath, with event
//! counts for the cost model.
//!
//! Per layer and array, for each input bit plane `t` (`a_bits` planes, LSB first; inputs are
//! `a_bits`-bit two's complement when the layer's inputs are signed, so plane `a_bits - 1`
//! weighs `-2^(a_bits-1)`): rows whose input bit is 1 are driven, every used column's partial
//! sum `P` (sum of the driven cells' conductance codes) is converted by its ADC, and the
//! converted level `L` is shifted and added into its output:
//! `acc_j += sign(p) * plane_weight(t) * 2^(s * cell_bits) * L`. Row tiles add into the same
//! accumulators. Offset encoding finally subtracts `offset * sum_i x_i` (exact, digital).
//! With an ideal device and a lossless ADC this is exactly `sum_i x_i * w[j,i]`.

use super::adc::Adc;
use super::codepath::{BatchNoise, CellPath, Placed, Scratch};
use super::device::{program, DeviceConfig, ProgrammedLayer};
use super::kernel::KernelRun;
use super::quant::QuantizedMlp;
use super::tile::{map_layer, tile_stats, LayerMap, TileStats, XbarConfig};
use crate::crossbar::error::XbarError;
use rand_pcg::Pcg64Mcg;
use serde::Serialize;
use std::ops::AddAssign;
use std::sync::Arc;

/// Events of one inference (or a sum over several).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Events {
    /// Word lines driven: (array, bit plane, row) with input bit 1.
    pub row_activations: u64,
    /// Bit-line reads: (array, bit plane, used column).
    pub column_reads: u64,
    /// ADC conversions (one per column read).
    pub adc_conversions: u64,
    /// Shift-and-add operations: one per converted value, plus the offset encoding's input sum
    /// (`n_in` adds) and correction (`n_out` subtractions).
    pub shift_adds: u64,
    /// Input-buffer reads (one activation word each) and output-buffer writes.
    pub buffer_reads: u64,
    pub buffer_writes: u64,
    /// Clock cycles: per layer `a_bits * max over arrays of ceil(used columns / ADCs per
    /// array)` conversion steps (arrays work in parallel, layers in sequence).
    pub cycles: u64,
    /// Input bit planes applied (`a_bits` per layer): each costs one array read time.
    pub planes: u64,
    /// Multiply-accumulates of the layer's matrix-vector product (for TOPS/W).
    pub macs: u64,
}

impl Events {
    /// Counts `n` column reads: each is a bit-line read, one ADC conversion and one shift-add
    /// (every datapath counts a read the same way).
    pub(super) fn read_columns(&mut self, n: u64) {
        self.column_reads += n;
        self.adc_conversions += n;
        self.shift_adds += n;
    }
}

impl AddAssign for Events {
    fn add_assign(&mut self, o: Events) {
        self.row_activations += o.row_activations;
        self.column_reads += o.column_reads;
        self.adc_conversions += o.adc_conversions;
        self.shift_adds += o.shift_adds;
        self.buffer_reads += o.buffer_reads;
        self.buffer_writes += o.buffer_writes;
        self.cycles += o.cycles;
        self.planes += o.planes;
        self.macs += o.macs;
    }
}

/// Optional extras of a layer simulation.
#[derive(Default)]
pub struct Hooks<'a> {
    /// Cycle-to-cycle read noise.
    pub noise: Option<Noise<'a>>,
    /// Counts every column partial sum before conversion (fine units), e.g. to calibrate
    /// the ADC full scale.
    pub partial_sums: Option<&'a mut dyn SumSink>,
}

/// Where a simulation's column partial sums go, a slice at a time.
pub trait SumSink {
    /// Counts `ps`.
    fn add_all(&mut self, ps: &[i64]);
    /// Counts `n` sums equal to `p` (an input bit plane that drives no row: every column of
    /// the array reads the same sum).
    fn add_repeated(&mut self, p: i64, n: usize) {
        (0..n).for_each(|_| self.add_all(&[p]));
    }
    /// The sink as a saturation counter: the kernel then counts inside its fused loop instead
    /// of handing out every sum.
    fn as_exceeding(&mut self) -> Option<&mut Exceeding> {
        None
    }
    /// Sums below this value need only be counted, not kept (see [`SumHistogram::floored`]):
    /// the kernel then records in its histogram only the reads at or above it.
    fn floor(&self) -> Option<i64> {
        None
    }
    /// Counts `n` sums below [`SumSink::floor`] (called only when there is one).
    fn add_below(&mut self, n: u64) {
        let _ = n;
    }
}

/// How many partial sums exceeded `full` (the ADC full scale in fine units), out of all: the
/// lossy measurement's saturation count without a histogram's per-sum bookkeeping.
#[derive(Clone, Debug)]
pub struct Exceeding {
    pub full: i64,
    pub over: u64,
    pub total: u64,
}

impl Exceeding {
    /// Counts a kernel run of a layer that found `over` of its reads saturated.
    fn count_run(&mut self, map: &LayerMap, a_bits: u32, over: u64) {
        let cpw = map.cols_per_weight();
        let used: usize = map.arrays.iter().map(|a| a.nouts * cpw).sum();
        self.over += over;
        self.total += used as u64 * u64::from(a_bits);
    }
}

impl SumSink for Exceeding {
    fn add_all(&mut self, ps: &[i64]) {
        self.total += ps.len() as u64;
        self.over += ps.iter().filter(|p| **p > self.full).count() as u64;
    }
    fn add_repeated(&mut self, p: i64, n: usize) {
        self.total += n as u64;
        self.over += if p > self.full { n as u64 } else { 0 };
    }
    fn as_exceeding(&mut self) -> Option<&mut Exceeding> {
        Some(self)
    }
}

impl SumSink for SumHistogram {
    fn add_all(&mut self, ps: &[i64]) {
        if self.floor.is_some() {
            ps.iter().for_each(|&p| self.add(p));
            return;
        }
        // Sums inside the counted range take one increment; the rest take `add`'s growth.
        for &p in ps {
            match usize::try_from(p).ok().and_then(|i| self.counts.get_mut(i)) {
                Some(c) => {
                    *c += 1;
                    self.total += 1;
                }
                None => self.add(p),
            }
        }
    }
    fn add_repeated(&mut self, p: i64, n: usize) {
        if n > 0 {
            self.add(p);
            self.total += n as u64 - 1;
            if self.floor.is_some_and(|f| p < f) {
                self.below += n as u64 - 1;
                return;
            }
            match usize::try_from(p) {
                Ok(i) => self.counts[i] += n as u64 - 1,
                Err(_) => self.negative.extend(std::iter::repeat_n(p, n - 1)),
            }
        }
    }
    fn floor(&self) -> Option<i64> {
        self.floor
    }
    fn add_below(&mut self, n: u64) {
        self.total += n;
        self.below += n;
    }
}

/// Read noise for one simulation: its relative sigma and PRNG stream.
pub struct Noise<'a> {
    pub c2c_sigma: f64,
    pub rng: &'a mut Pcg64Mcg,
}

/// The hardware of one layer: placement, programmed cells, ADC and geometry.
#[derive(Clone, Copy, Debug)]
pub struct LayerHw<'a> {
    pub map: &'a LayerMap,
    pub prog: &'a ProgrammedLayer,
    pub adc: &'a Adc,
    pub cfg: &'a XbarConfig,
}

/// A layer's input codes: `a_bits` wide, two's complement when `signed`.
#[derive(Clone, Copy, Debug)]
pub struct LayerInput<'a> {
    pub x: &'a [i64],
    pub a_bits: u32,
    pub signed: bool,
}

/// Simulates one layer's matrix-vector product on its arrays: returns `sum_i x_i * w[j,i]` as
/// the hardware computes it, and the events.
pub fn simulate_layer(
    hw: LayerHw<'_>,
    input: LayerInput<'_>,
    hooks: &mut Hooks<'_>,
) -> (Vec<i64>, Events) {
    let LayerHw { map, prog, adc, cfg } = hw;
    let LayerInput { x, a_bits, signed } = input;
    let noisy = hooks.noise.is_some();
    let ncols = map.logical_cols();
    let cpw = map.cols_per_weight();
    let mut acc = vec![0i64; map.n_out];
    let mut ev = Events::default();
    if let (Some(kernel), false) = (prog.kernel.as_deref(), noisy) {
        let mut run = KernelRun { map, adc, codes: x, a_bits, signed, over: None };
        let counts = match hooks.partial_sums.as_deref_mut() {
            Some(rec) => match rec.as_exceeding() {
                Some(e) => {
                    run.over = Some(e.full);
                    let counts = kernel.run(run, &mut acc, None);
                    e.count_run(map, a_bits, counts.over);
                    counts
                }
                None => kernel.run(run, &mut acc, Some(rec)),
            },
            None => kernel.run(run, &mut acc, None),
        };
        let (ev, steps) = kernel_events(map, cfg, a_bits, counts.driven);
        return finish(map, x, a_bits, steps, acc, ev);
    }
    let bits = input_bits(x, a_bits);
    let path = CellPath::new(map, adc, a_bits, signed);
    let mut scratch = Scratch::new(ncols);
    for a in &map.arrays {
        let cols = a.out0 * cpw..(a.out0 + a.nouts) * cpw;
        // One read of the stored codes per array; the planes read the block.
        let block = prog.decode_block(map, a.row0..a.row0 + a.nrows, cols.clone());
        let placed = Placed { block: &block, row0: a.row0, cols };
        path.array(a, &placed, &bits, hooks, &mut acc, &mut ev, &mut scratch);
    }
    finish(map, x, a_bits, adc_steps(map, cfg), acc, ev)
}

/// Input codes as the `a_bits` low bits the arrays are driven with (two's complement bits
/// when signed).
pub(super) fn input_bits(x: &[i64], a_bits: u32) -> Vec<u64> {
    let mask = if a_bits >= 64 { u64::MAX } else { (1u64 << a_bits) - 1 };
    x.iter().map(|v| (*v as u64) & mask).collect()
}

/// The events of one sample's kernel run of a layer (`driven` rows over its arrays and
/// planes), and the ADC steps of its widest array.
fn kernel_events(map: &LayerMap, cfg: &XbarConfig, a_bits: u32, driven: u64) -> (Events, usize) {
    let cpw = map.cols_per_weight();
    let mut ev = Events { row_activations: driven, ..Events::default() };
    for a in &map.arrays {
        let used = (a.nouts * cpw) as u64;
        ev.read_columns(used * u64::from(a_bits));
    }
    (ev, adc_steps(map, cfg))
}

/// Conversion steps a plane takes: its widest array's used columns over the array's ADCs
/// (arrays convert in parallel).
pub(super) fn adc_steps(map: &LayerMap, cfg: &XbarConfig) -> usize {
    let (cpw, n_adc) = (map.cols_per_weight(), cfg.adcs_per_array());
    map.arrays.iter().map(|a| (a.nouts * cpw).div_ceil(n_adc)).max().unwrap_or(0)
}

/// The digital tail of a layer shared by both datapaths: the offset encoding's correction and
/// the per-layer events.
pub(super) fn finish(
    map: &LayerMap,
    x: &[i64],
    a_bits: u32,
    steps: usize,
    mut acc: Vec<i64>,
    mut ev: Events,
) -> (Vec<i64>, Events) {
    if map.offset != 0 {
        let sum_x: i64 = x[..map.n_in].iter().sum();
        acc.iter_mut().for_each(|v| *v -= map.offset * sum_x);
        ev.shift_adds += (map.n_in + map.n_out) as u64;
    }
    ev.buffer_reads += map.n_in as u64;
    ev.buffer_writes += map.n_out as u64;
    ev.cycles += a_bits as u64 * steps as u64;
    ev.planes += a_bits as u64;
    ev.macs += (map.n_in * map.n_out) as u64;
    (acc, ev)
}

/// A quantized network placed and programmed on crossbars.
#[derive(Clone, Debug)]
pub struct CrossbarNet {
    pub q: QuantizedMlp,
    pub cfg: XbarConfig,
    pub dev: DeviceConfig,
    /// Shared with the IR's layers (`crate::crossbar::ops::XbarLayerHw`): one copy of the cells.
    pub maps: Vec<Arc<LayerMap>>,
    pub programmed: Vec<Arc<ProgrammedLayer>>,
    pub adc: Adc,
}

/// What a batch run counts besides its outputs: the saturated reads, or every partial sum.
pub(super) enum Tally<'a> {
    Saturated(&'a mut Exceeding),
    Sums(&'a mut dyn SumSink),
}

impl Tally<'_> {
    /// The tally as the sink the per-row simulator feeds.
    pub(super) fn sink(&mut self) -> &mut dyn SumSink {
        match self {
            Tally::Saturated(e) => &mut **e,
            Tally::Sums(s) => &mut **s,
        }
    }
}

/// Everything one inference produced.
#[derive(Clone, Debug, PartialEq)]
pub struct Inference {
    /// The output in the ONNX graph's output space.
    pub output: Vec<f32>,
    /// The input codes the host produced.
    pub codes: Vec<i64>,
    /// The last layer's integer accumulators (what the RTL outputs).
    pub accumulators: Vec<i64>,
    /// Events per layer.
    pub events: Vec<Events>,
}

impl CrossbarNet {
    /// Places and programs every layer.
    pub fn build(
        q: &QuantizedMlp,
        cfg: &XbarConfig,
        dev: &DeviceConfig,
    ) -> Result<CrossbarNet, XbarError> {
        let maps = q
            .layers
            .iter()
            .map(|l| map_layer(l, cfg).map(Arc::new))
            .collect::<Result<Vec<_>, _>>()?;
        let programmed = maps
            .iter()
            .enumerate()
            .map(|(i, m)| program(m, dev, i).map(Arc::new))
            .collect::<Result<Vec<_>, _>>()?;
        let adc = Adc {
            bits: cfg.adc_bits,
            full_scale: cfg.full_scale_levels(),
            frac_bits: dev.frac_bits,
        };
        Ok(CrossbarNet { q: q.clone(), cfg: *cfg, dev: *dev, maps, programmed, adc })
    }

    /// A counter of the column reads above this network's ADC full scale (noise-free).
    pub fn exceeding(&self) -> Exceeding {
        let full = (self.adc.fs_eff() as i64) << self.adc.frac_bits;
        Exceeding { full, over: 0, total: 0 }
    }

    /// Runs one sample. Read noise is drawn from `noise_rng` when the device has any.
    pub fn infer(&self, x: &[f32], noise_rng: Option<&mut Pcg64Mcg>) -> Inference {
        self.infer_with(x, noise_rng, None)
    }

    /// [`CrossbarNet::infer`], also counting every column partial sum into `partial_sums`.
    pub fn infer_with<'a>(
        &self,
        x: &[f32],
        noise_rng: Option<&'a mut Pcg64Mcg>,
        partial_sums: Option<&'a mut (dyn SumSink + 'a)>,
    ) -> Inference {
        let mut events = Vec::with_capacity(self.maps.len());
        let noise = match noise_rng {
            Some(rng) if self.dev.c2c_sigma > 0.0 => {
                Some(Noise { c2c_sigma: self.dev.c2c_sigma, rng })
            }
            _ => None,
        };
        let mut hooks = Hooks { noise, partial_sums };
        let codes = self.q.input.quantize(x);
        let accumulators = self.q.run_codes_with(&codes, |l, codes| {
            let layer = &self.q.layers[l];
            let hw = LayerHw {
                map: &self.maps[l],
                prog: &self.programmed[l],
                adc: &self.adc,
                cfg: &self.cfg,
            };
            let input = LayerInput { x: codes, a_bits: layer.a_bits, signed: layer.in_lo < 0 };
            let (mv, ev) = simulate_layer(hw, input, &mut hooks);
            events.push(ev);
            mv
        });
        Inference { output: self.q.dequantize(&accumulators), codes, accumulators, events }
    }

    /// [`CrossbarNet::infer_with`] on every row of `xs`, without read noise, counting the
    /// saturated reads into `exceeding`: layer by layer for the whole batch, so the kernel
    /// reads each array's cells once for all rows ([`super::kernel::PlaneKernel::run_batch`])
    /// instead of once per row. Row by row equal to `infer_with`.
    pub fn infer_batch(&self, xs: &[Vec<f32>], exceeding: &mut Exceeding) -> Vec<Inference> {
        self.infer_batch_with(xs, &mut Tally::Saturated(exceeding), None)
    }

    /// [`CrossbarNet::infer_with`] on every row of `xs`, without read noise, counting every
    /// column partial sum into `sums` (calibration), batched as [`CrossbarNet::infer_batch`].
    pub fn infer_batch_counting(&self, xs: &[Vec<f32>], sums: &mut dyn SumSink) -> Vec<Inference> {
        self.infer_batch_with(xs, &mut Tally::Sums(sums), None)
    }

    /// The batch layer by layer; with `noise`, every layer takes the code path with read noise
    /// drawn as the rows would draw it one after another.
    fn infer_batch_with(
        &self,
        xs: &[Vec<f32>],
        tally: &mut Tally<'_>,
        noise: Option<&BatchNoise>,
    ) -> Vec<Inference> {
        let inputs: Vec<Vec<i64>> = xs.iter().map(|x| self.q.input.quantize(x)).collect();
        let mut events: Vec<Vec<Events>> = vec![Vec::with_capacity(self.maps.len()); xs.len()];
        let mut codes = inputs.clone();
        let mut step = 0u128; // the noise stream's steps a row takes in the layers before `l`
        for l in 0..self.q.tails.len() {
            let mvs = match noise {
                Some(n) => self.layer_batch_cells(l, &codes, &mut events, tally, Some((n, step))),
                None => self.layer_batch(l, &codes, &mut events, tally),
            };
            step += self.noise_steps(l, 0..self.maps[l].row_tiles);
            codes.clear(); // the layer's inputs are spent: one batch of activations at a time
            let tails: Vec<_> = mvs.into_iter().map(|mv| self.q.layer_tail(l, mv)).collect();
            let last = tails.iter().any(|t| t.is_err());
            codes = tails.into_iter().map(|t| t.unwrap_or_else(|acc| acc)).collect();
            if last {
                break;
            }
        }
        inputs
            .into_iter()
            .zip(codes)
            .zip(events)
            .map(|((codes, accumulators), events)| Inference {
                output: self.q.dequantize(&accumulators),
                codes,
                accumulators,
                events,
            })
            .collect()
    }

    /// Layer `l`'s products for every row's input `codes`, with their events.
    fn layer_batch(
        &self,
        l: usize,
        codes: &[Vec<i64>],
        events: &mut [Vec<Events>],
        tally: &mut Tally<'_>,
    ) -> Vec<Vec<i64>> {
        let layer = &self.q.layers[l];
        let (map, prog) = (&self.maps[l], &self.programmed[l]);
        let (a_bits, signed) = (layer.a_bits, layer.in_lo < 0);
        let Some(kernel) = prog.kernel.as_deref() else {
            return self.layer_batch_cells(l, codes, events, tally, None);
        };
        let runs: Vec<KernelRun<'_>> = codes
            .iter()
            .map(|x| KernelRun {
                map,
                adc: &self.adc,
                codes: x,
                a_bits,
                signed,
                over: match tally {
                    Tally::Saturated(e) => Some(e.full),
                    Tally::Sums(_) => None,
                },
            })
            .collect();
        let mut accs = vec![vec![0i64; map.n_out]; codes.len()];
        let sums: Option<&mut dyn SumSink> = match tally {
            Tally::Saturated(_) => None,
            Tally::Sums(s) => Some(&mut **s),
        };
        let counts = kernel.run_batch(&runs, &mut accs, sums);
        // Every row reads the same columns; only the rows it drives differ.
        let (per_row, steps) = kernel_events(map, &self.cfg, a_bits, 0);
        accs.into_iter()
            .zip(counts)
            .zip(codes.iter().zip(events.iter_mut()))
            .map(|((acc, c), (x, ev))| {
                if let Tally::Saturated(e) = tally {
                    e.count_run(map, a_bits, c.over);
                }
                let e = Events { row_activations: c.driven, ..per_row };
                let (mv, e) = finish(map, x, a_bits, steps, acc, e);
                ev.push(e);
                mv
            })
            .collect()
    }

    /// How many rows [`CrossbarNet::infer_batch`] is best given at a time.
    pub fn batch_rows(&self) -> usize {
        if self.programmed.iter().all(|p| p.kernel.is_some()) {
            BATCH_ROWS
        } else if (0..self.maps.len())
            .all(|l| self.programmed[l].kernel.is_some() || self.byte_readout(l).is_some())
        {
            (BYTE_BATCH_BYTES / (24 * self.q.widest().max(1)))
                .clamp(CELL_BATCH_ROWS, BYTE_BATCH_MAX)
        } else {
            CELL_BATCH_ROWS
        }
    }

    /// Mapping figures per layer.
    pub fn tile_stats(&self) -> Vec<TileStats> {
        self.maps.iter().map(|m| tile_stats(m, &self.cfg)).collect()
    }
}

/// Outputs and summed events of a batch.
#[derive(Clone, Debug, PartialEq)]
pub struct BatchRun {
    pub outputs: Vec<Vec<f32>>,
    /// Events per layer, summed over the batch.
    pub events: Vec<Events>,
    pub samples: u64,
}

impl CrossbarNet {
    /// Runs every sample; read noise (if any) comes from a stream of `seed`, so a batch run is
    /// reproducible.
    ///
    /// Row by row equal to [`CrossbarNet::infer`] with one stream passed from row to row, but
    /// simulated a batch at a time: every row's draws start at a known place in the stream
    /// (each row takes the same number, [`CrossbarNet::noise_steps`]), so a batch jumps there
    /// ([`Pcg64Mcg::advance`]) instead of waiting for the rows before it.
    pub fn run_batch(&self, xs: &[Vec<f32>], seed: u64) -> BatchRun {
        let stream = super::device::stream(seed, 2, 0);
        let per_row = if self.dev.c2c_sigma > 0.0 {
            // The layers a row runs: up to the first without a requantization (the last).
            let last = self.q.tails.iter().position(|t| t.requant.is_none());
            let layers = last.map_or(self.q.tails.len(), |l| l + 1);
            Some((0..layers).map(|l| self.noise_steps(l, 0..self.maps[l].row_tiles)).sum())
        } else {
            None
        };
        let mut events = vec![Events::default(); self.maps.len()];
        let mut outputs = Vec::with_capacity(xs.len());
        let batch = if per_row.is_some() { CELL_BATCH_ROWS } else { self.batch_rows() };
        let mut ignored = self.exceeding();
        for (i, rows) in xs.chunks(batch).enumerate() {
            let noise = per_row.map(|per_row| BatchNoise {
                sigma: self.dev.c2c_sigma,
                stream: stream.clone(),
                first: (i * batch) as u128,
                per_row,
            });
            let tally = &mut Tally::Saturated(&mut ignored);
            for inf in self.infer_batch_with(rows, tally, noise.as_ref()) {
                for (t, e) in events.iter_mut().zip(inf.events) {
                    *t += e;
                }
                outputs.push(inf.output);
            }
        }
        BatchRun { outputs, events, samples: xs.len() as u64 }
    }

    /// Layer names, for cost reports.
    pub fn layer_names(&self) -> Vec<String> {
        self.maps.iter().map(|m| m.name.clone()).collect()
    }
}

/// Calibrates the ADC full scale: the `percentile` (0..=100) of the column partial sums the
/// ideal chip produces on `calib` data, in cell levels (at least 1). Partial sums of real inputs
/// sit far below the array maximum (input bits are sparse), so a clipping full scale buys
/// resolution where the data are.
///
/// `cells`: each of `q`'s layers placed on `cfg`'s arrays and ideally programmed (placement
/// does not depend on the ADC, so the layers' own placement serves).
pub fn calibrate_full_scale(
    q: &QuantizedMlp,
    cfg: &XbarConfig,
    cells: &[(Arc<LayerMap>, Arc<ProgrammedLayer>)],
    calib: &[Vec<f32>],
    percentile: f64,
) -> Result<u64, XbarError> {
    let lossless = XbarConfig {
        adc_bits: cfg.lossless_adc_bits(),
        full_scale: super::tile::FullScale::ArrayMax,
        ..*cfg
    };
    let dev = DeviceConfig::ideal();
    let adc = Adc {
        bits: lossless.adc_bits,
        full_scale: lossless.full_scale_levels(),
        frac_bits: dev.frac_bits,
    };
    let (maps, programmed) = cells.iter().cloned().unzip();
    let net = CrossbarNet { q: q.clone(), cfg: lossless, dev, maps, programmed, adc };
    let pct = percentile.clamp(0.0, 100.0);
    let nth = |sums: &mut SumHistogram, pct: f64| {
        let k = ((pct / 100.0) * (sums.len().max(1) - 1) as f64).round();
        sums.nth(k as u64)
    };
    let count = |rows: &[Vec<f32>], mut sums: SumHistogram| {
        for batch in rows.chunks(BATCH_ROWS) {
            net.infer_batch_counting(batch, &mut sums);
        }
        sums
    };
    // Recording every read is most of a calibration's time; the percentile needs only the
    // reads above it. A sample of the rows proposes a floor with four times the tail mass
    // under it; the whole set then records only the reads at or above the floor and counts
    // the rest. When the percentile lands at or above the floor the answer is the one the
    // full histogram gives (the same order statistic); otherwise every read is recorded.
    if calib.len() > CALIBRATION_SAMPLE {
        let mut sample = count(&calib[..CALIBRATION_SAMPLE], SumHistogram::default());
        if let Some(floor) = nth(&mut sample, (100.0 - 4.0 * (100.0 - pct)).max(0.0)) {
            if let Some(v) = nth(&mut count(calib, SumHistogram::floored(floor)), pct) {
                return Ok(v.max(1) as u64);
            }
        }
    }
    let v = nth(&mut count(calib, SumHistogram::default()), pct).ok_or_else(|| {
        XbarError::Config("full-scale calibration needs calibration samples".into())
    })?;
    Ok(v.max(1) as u64)
}

/// Rows simulated together ([`CrossbarNet::infer_batch`]): each layer's cells are read once
/// for this many rows, while every row's column accumulators stay in the cache. On the row
/// kernel 32 rows ran 1.02-1.05x faster than 8 on the 64-h-h-10 scale benchmark at h = 64 ...
/// 1024 and 1.26x at h = 4096 (a block's rows, read from the outer caches, serve four times
/// as many rows); 64 rows were 2% slower at h = 1024 than 32.
pub const BATCH_ROWS: usize = 32;

/// Rows simulated together when a layer has no bit-plane kernel: its codes are decoded from
/// their packed form once per batch, a cost per cell that a larger batch spreads thinner, while
/// the batch's activations and bit planes grow with it (at h = 1024, 256 rows cost about 2 MB
/// more peak memory than 128 and saved 5% of the time).
pub const CELL_BATCH_ROWS: usize = 128;

/// The batch state (activation codes, accumulators, outputs: about 24 bytes a row and unit of
/// the widest layer) a batch on the byte path ([`super::bytepath`]) may hold: its rows are
/// as many as fit, from [`CELL_BATCH_ROWS`] to [`BYTE_BATCH_MAX`]. Its per-tile state is the
/// tile's packed codes (a byte or two a cell) and a byte per row and plane, so decoding the
/// packed codes (a few ns a cell, once a batch) is spread over more rows where the layers are
/// narrow, at a bounded cost in memory (at h = 1024, 256 rows took 2 MB more than 128).
pub const BYTE_BATCH_BYTES: usize = 3 << 20;

/// The most rows of a batch on the byte path.
pub const BYTE_BATCH_MAX: usize = 1024;

/// Rows of the calibration set that propose the floor of [`calibrate_full_scale`]'s histogram.
const CALIBRATION_SAMPLE: usize = 16;

/// A count per column partial-sum value: the sorted list of every sum a calibration run
/// produces, in memory bounded by the largest sum instead of by rows x planes x columns
/// (an ideal array's sums lie in `0..=rows * (2^cell_bits - 1)`). Negative sums (read noise
/// only) are counted apart.
#[derive(Clone, Debug, Default)]
pub struct SumHistogram {
    counts: Vec<u64>,
    negative: Vec<i64>,
    total: u64,
    /// Sums below `floor` are only counted, in `below`.
    floor: Option<i64>,
    below: u64,
}

impl SumHistogram {
    /// A histogram that keeps only the sums at or above `floor` and counts the rest: enough
    /// for [`SumHistogram::nth`] of any `k` at or above the number of sums below `floor`
    /// (the high percentiles an ADC is calibrated on), and much cheaper to fill, because the
    /// kernel then compares each read with a threshold instead of recording it.
    pub fn floored(floor: i64) -> SumHistogram {
        SumHistogram { floor: Some(floor), ..SumHistogram::default() }
    }
    /// Counts one sum.
    #[inline]
    pub fn add(&mut self, p: i64) {
        self.total += 1;
        if self.floor.is_some_and(|f| p < f) {
            self.below += 1;
            return;
        }
        match usize::try_from(p) {
            Ok(i) => {
                if i >= self.counts.len() {
                    self.counts.resize(i + 1, 0);
                }
                self.counts[i] += 1;
            }
            Err(_) => self.negative.push(p),
        }
    }
    /// How many sums were counted.
    pub fn len(&self) -> u64 {
        self.total
    }
    /// Whether no sum was counted.
    pub fn is_empty(&self) -> bool {
        self.total == 0
    }
    /// The `k`-th smallest sum (0-based), as `sorted[k]` of the list of all sums would be;
    /// `None` past the end, and for a `k` that falls among the sums below a floor.
    pub fn nth(&mut self, k: u64) -> Option<i64> {
        if k >= self.total || k < self.below {
            return None;
        }
        let k = k - self.below;
        self.negative.sort_unstable();
        if let Some(v) = self.negative.get(k as usize) {
            return Some(*v);
        }
        let mut rest = k - self.negative.len() as u64;
        for (v, c) in self.counts.iter().enumerate() {
            if rest < *c {
                return Some(v as i64);
            }
            rest -= c;
        }
        None
    }
}
