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
use super::device::{normal, program, CellCodes, DeviceConfig, ProgrammedLayer};
use super::kernel::KernelRun;
use super::quant::QuantizedMlp;
use super::tile::{map_layer, tile_stats, ArrayTile, LayerMap, TileStats, XbarConfig};
use crate::crossbar::error::XbarError;
use ndarray::Array2;
use rand_pcg::Pcg64Mcg;
use serde::Serialize;
use std::ops::{AddAssign, Range};
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
    let (s_n, p_n) = (map.slices as usize, map.polarities as usize);
    let cpw = s_n * p_n;
    let bits = input_bits(x, a_bits);
    let mut acc = vec![0i64; map.n_out];
    let mut ev = Events::default();
    let n_adc = cfg.adcs_per_array();
    let mut steps = 0usize;
    if let (Some(kernel), false) = (prog.kernel.as_deref(), noisy) {
        let mut run = KernelRun { map, adc, bits: &bits, a_bits, signed, over: None };
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
    let path = CellPath::new(map, adc, a_bits, signed);
    let mut scratch = Scratch::new(ncols);
    for a in &map.arrays {
        let cols = a.out0 * cpw..(a.out0 + a.nouts) * cpw;
        steps = steps.max(cols.len().div_ceil(n_adc));
        // One read of the stored codes per array; the planes read the block.
        let block = prog.decode_block(map, a.row0..a.row0 + a.nrows, cols.clone());
        let placed = Placed { block: &block, row0: a.row0, cols };
        path.array(a, &placed, &bits, hooks, &mut acc, &mut ev, &mut scratch);
    }
    finish(map, x, a_bits, steps, acc, ev)
}

/// Decoded codes of some rows and logical columns of a layer, row-major.
struct Placed<'a> {
    block: &'a CellCodes,
    row0: usize,
    cols: Range<usize>,
}

/// Per-column sums of one array pass (indexed by logical column).
struct Scratch {
    psum: Vec<i64>,
    psq: Vec<f64>,
}

impl Scratch {
    fn new(ncols: usize) -> Self {
        Scratch { psum: vec![0; ncols], psq: vec![0.0; ncols] }
    }
}

/// The datapath of a layer whose cells are read as codes (no bit-plane kernel: per-cell
/// codes, read noise, or a kernel that does not fit): what every array pass shares.
struct CellPath<'a> {
    map: &'a LayerMap,
    convert: Conversion<'a>,
    /// Where each logical column's converted value goes: its output, the shift of its slice,
    /// and whether its polarity subtracts (no division per conversion).
    col_out: Vec<(u32, u32, bool)>,
    /// Per column of a weight (`k = slice * P + polarity`), its signed shifted level for every
    /// partial sum up to the top ADC threshold (clamped there and at 0): one lookup a
    /// column, when the ADC has a direct table.
    weighted: Option<(Vec<Vec<i64>>, i64)>,
    a_bits: u32,
    signed: bool,
}

impl<'a> CellPath<'a> {
    fn new(map: &'a LayerMap, adc: &'a Adc, a_bits: u32, signed: bool) -> Self {
        let (p_n, cpw) = (map.polarities as usize, map.cols_per_weight());
        let col_out: Vec<(u32, u32, bool)> = (0..map.logical_cols())
            .map(|c| {
                let (j, rem) = (c / cpw, c % cpw);
                (j as u32, (rem / p_n) as u32 * map.cell_bits, rem % p_n == 1)
            })
            .collect();
        let convert = Conversion::new(adc);
        let weighted = convert.clamped().map(|(direct, top)| {
            let tables = col_out[..cpw.min(col_out.len())]
                .iter()
                .map(|&(_, shift, neg)| {
                    direct.iter().map(|l| if neg { -(l << shift) } else { l << shift }).collect()
                })
                .collect();
            (tables, top)
        });
        CellPath { map, convert, col_out, weighted, a_bits, signed }
    }

    /// One sample's pass over array `a`, whose cells `placed` holds: per input bit plane, the
    /// driven rows' codes summed per column, read noise added, converted, shifted and added
    /// into `acc`.
    // The sample's state (bits, hooks, outputs, events) and the scratch are separate borrows.
    #[allow(clippy::too_many_arguments)]
    fn array(
        &self,
        a: &ArrayTile,
        placed: &Placed<'_>,
        bits: &[u64],
        hooks: &mut Hooks<'_>,
        acc: &mut [i64],
        ev: &mut Events,
        scratch: &mut Scratch,
    ) {
        let cpw = self.map.cols_per_weight();
        let (c0, c1) = (a.out0 * cpw, (a.out0 + a.nouts) * cpw);
        let (stride, skip) = (placed.cols.len(), c0 - placed.cols.start);
        let noisy = hooks.noise.is_some();
        let Scratch { psum, psq } = scratch;
        for t in 0..self.a_bits {
            psum[c0..c1].iter_mut().for_each(|v| *v = 0);
            if noisy {
                psq[c0..c1].iter_mut().for_each(|v| *v = 0.0);
            }
            for (i, b) in bits.iter().enumerate().skip(a.row0).take(a.nrows) {
                if (b >> t) & 1 == 0 {
                    continue;
                }
                ev.row_activations += 1;
                let squares = if noisy { Some(&mut psq[c0..c1]) } else { None };
                let at = (i - placed.row0) * stride + skip;
                placed.block.add_span(at..at + (c1 - c0), &mut psum[c0..c1], squares);
            }
            if let Some(n) = hooks.noise.as_mut() {
                for c in c0..c1 {
                    psum[c] +=
                        (n.c2c_sigma * psq[c].sqrt() * normal(n.rng)).round_ties_even() as i64;
                }
            }
            self.read_out(t, c0, &psum[c0..c1], hooks.partial_sums.as_deref_mut(), acc, ev);
        }
    }

    /// Plane `t`'s column partial sums `ps` (logical columns from `c0`) counted into `sink`,
    /// converted by the ADC, and shifted and added into their outputs.
    fn read_out(
        &self,
        t: u32,
        c0: usize,
        ps: &[i64],
        sink: Option<&mut (dyn SumSink + '_)>,
        acc: &mut [i64],
        ev: &mut Events,
    ) {
        let plane_w: i64 =
            if self.signed && t == self.a_bits - 1 { -(1i64 << t) } else { 1i64 << t };
        if let Some(rec) = sink {
            rec.add_all(ps);
        }
        let cpw = self.map.cols_per_weight();
        match &self.weighted {
            // Arrays hold whole weights: `c0` and the span are multiples of `cpw`.
            Some((tables, top)) if c0.is_multiple_of(cpw) && ps.len().is_multiple_of(cpw) => {
                for (j, cols) in (c0 / cpw..).zip(ps.chunks_exact(cpw)) {
                    let sum: i64 =
                        cols.iter().zip(tables).map(|(&p, t)| t[p.clamp(0, *top) as usize]).sum();
                    acc[j] += plane_w * sum;
                }
            }
            _ => {
                for (&p, &(j, shift, neg)) in ps.iter().zip(&self.col_out[c0..]) {
                    let v = plane_w * (self.convert.level(p) << shift);
                    acc[j as usize] += if neg { -v } else { v };
                }
            }
        }
        let used = ps.len() as u64;
        ev.column_reads += used;
        ev.adc_conversions += used;
        ev.shift_adds += used;
    }
}

/// The batch's input bit planes over `rows`, as the left operand of a matrix product: row
/// `t * n + s` holds bit `t` (of the `a_bits` the arrays are driven with, as [`input_bits`])
/// of sample `s`'s input codes (1.0 or 0.0), with how many of them are 1 (the rows that plane
/// drives).
fn input_planes(codes: &[Vec<i64>], rows: Range<usize>, a_bits: u32) -> (Array2<f32>, Vec<u64>) {
    let n = codes.len();
    let x = Array2::from_shape_fn((a_bits as usize * n, rows.len()), |(k, r)| {
        ((codes[k % n][rows.start + r] as u64 >> (k / n)) & 1) as f32
    });
    let driven = x.rows().into_iter().map(|r| r.iter().filter(|v| **v != 0.0).count() as u64);
    let driven = driven.collect();
    (x, driven)
}

/// The digital tail of a layer shared by both datapaths: the offset encoding's correction and
/// the per-layer events.
/// Input codes as the `a_bits` low bits the arrays are driven with (two's complement bits
/// when signed).
fn input_bits(x: &[i64], a_bits: u32) -> Vec<u64> {
    let mask = if a_bits >= 64 { u64::MAX } else { (1u64 << a_bits) - 1 };
    x.iter().map(|v| (*v as u64) & mask).collect()
}

/// The events of one sample's kernel run of a layer (`driven` rows over its arrays and
/// planes), and the ADC steps of its widest array.
fn kernel_events(map: &LayerMap, cfg: &XbarConfig, a_bits: u32, driven: u64) -> (Events, usize) {
    let cpw = map.cols_per_weight();
    let n_adc = cfg.adcs_per_array();
    let mut ev = Events { row_activations: driven, ..Events::default() };
    let mut steps = 0usize;
    for a in &map.arrays {
        let used = (a.nouts * cpw) as u64;
        steps = steps.max((a.nouts * cpw).div_ceil(n_adc));
        ev.column_reads += used * u64::from(a_bits);
        ev.adc_conversions += used * u64::from(a_bits);
        ev.shift_adds += used * u64::from(a_bits);
    }
    (ev, steps)
}

fn finish(
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

/// The ADC transfer `p -> adc.level(adc.code(p))` without a wide division per conversion:
/// for ADCs of up to 8 bits, the code is the number of thresholds `p` reaches
/// ([`Adc::thresholds`], the comparator ladder the RTL builds) and the level a table entry,
/// and below the top threshold (a few hundred fine units) one table gives the level of every
/// sum directly; wider ADCs use the formulas.
struct Conversion<'a> {
    adc: &'a Adc,
    /// `(thresholds, levels)` when the ADC has at most 8 bits.
    table: Option<(Vec<i64>, Vec<i64>)>,
    /// The level of every sum from 0 to the top threshold (sums above it saturate).
    direct: Vec<i64>,
}

/// Longest [`Conversion::direct`] table kept.
const DIRECT_SUMS: i64 = 1 << 16;

impl<'a> Conversion<'a> {
    fn new(adc: &'a Adc) -> Self {
        let table = (adc.bits <= 8).then(|| {
            let levels: Vec<i64> = (0..=adc.max_code()).map(|k| adc.level(k)).collect();
            (adc.thresholds(), levels)
        });
        let direct = match &table {
            Some((t, l)) => match t.last() {
                Some(&top) if top <= DIRECT_SUMS => {
                    (0..=top).map(|p| l[t.partition_point(|&th| th <= p)]).collect()
                }
                _ => Vec::new(),
            },
            None => Vec::new(),
        };
        Conversion { adc, table, direct }
    }
    /// The direct table and its last index, when every sum's level is the table's at the sum
    /// clamped to it (the first threshold is above 0, so a negative sum reads level 0's entry).
    fn clamped(&self) -> Option<(&[i64], i64)> {
        let (t, _) = self.table.as_ref()?;
        let top = *t.last()?;
        (t[0] > 0 && !self.direct.is_empty()).then_some((&self.direct, top))
    }
    #[inline]
    fn level(&self, p: i64) -> i64 {
        if let Some(&l) = usize::try_from(p).ok().and_then(|i| self.direct.get(i)) {
            return l;
        }
        match &self.table {
            Some((t, l)) => {
                let code = t.partition_point(|&th| th <= p);
                debug_assert_eq!(code as u64, self.adc.code(p));
                l[code]
            }
            None => self.adc.level(self.adc.code(p)),
        }
    }
}

/// Read noise for a batch of rows as one stream passed from row to row would draw it.
struct BatchNoise {
    sigma: f64,
    /// The stream at the first row of the run.
    stream: Pcg64Mcg,
    /// The batch's first row in the run.
    first: u128,
    /// Steps a row takes.
    per_row: u128,
}

impl BatchNoise {
    /// The stream at step `step` of the batch's row `row`.
    fn at(&self, row: usize, step: u128) -> Pcg64Mcg {
        let mut rng = self.stream.clone();
        rng.advance((self.first + row as u128) * self.per_row + step);
        rng
    }
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
enum Tally<'a> {
    Saturated(&'a mut Exceeding),
    Sums(&'a mut dyn SumSink),
}

impl Tally<'_> {
    /// The tally as the sink the per-row simulator feeds.
    fn sink(&mut self) -> &mut dyn SumSink {
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
            let tails: Vec<_> = mvs.into_iter().map(|mv| self.q.layer_tail(l, &mv)).collect();
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
        let bits: Vec<Vec<u64>> = codes.iter().map(|x| input_bits(x, a_bits)).collect();
        let runs: Vec<KernelRun<'_>> = bits
            .iter()
            .map(|b| KernelRun {
                map,
                adc: &self.adc,
                bits: b,
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
        accs.into_iter()
            .zip(counts)
            .zip(codes.iter().zip(events.iter_mut()))
            .map(|((acc, c), (x, ev))| {
                if let Tally::Saturated(e) = tally {
                    e.count_run(map, a_bits, c.over);
                }
                let (e, steps) = kernel_events(map, &self.cfg, a_bits, c.driven);
                let (mv, e) = finish(map, x, a_bits, steps, acc, e);
                ev.push(e);
                mv
            })
            .collect()
    }

    /// [`CrossbarNet::layer_batch`] of a layer without a bit-plane kernel: each row tile's
    /// codes are decoded once for the whole batch (per-cell codes are stored packed; decoding
    /// them per row and plane would dominate), then every row runs on them. Row by row equal to
    /// [`simulate_layer`] without noise (partial sums reach the sink in another order; every
    /// sink counts, none depends on the order).
    fn layer_batch_cells(
        &self,
        l: usize,
        codes: &[Vec<i64>],
        events: &mut [Vec<Events>],
        tally: &mut Tally<'_>,
        noise: Option<(&BatchNoise, u128)>,
    ) -> Vec<Vec<i64>> {
        let layer = &self.q.layers[l];
        let (map, prog) = (&self.maps[l], &self.programmed[l]);
        let (a_bits, signed) = (layer.a_bits, layer.in_lo < 0);
        let (ncols, cpw) = (map.logical_cols(), map.cols_per_weight());
        let n_adc = self.cfg.adcs_per_array();
        let path = CellPath::new(map, &self.adc, a_bits, signed);
        let mut accs = vec![vec![0i64; map.n_out]; codes.len()];
        let mut evs = vec![Events::default(); codes.len()];
        let mut scratch = Scratch::new(ncols);
        // Column sums (and, with noise, sums of squared codes) are exact in f32 below 2^24.
        let max = u64::from(prog.max_code(map));
        let top = if noise.is_some() { max * max } else { max };
        let exact_in_f32 = (self.cfg.rows as u64).saturating_mul(top) < 1 << 24;
        for rt in 0..map.row_tiles {
            let arrays: Vec<&ArrayTile> = map.arrays.iter().filter(|a| a.row_tile == rt).collect();
            let Some(first) = arrays.first() else { continue };
            let rows = first.row0..first.row0 + first.nrows;
            let block = prog.decode_block(map, rows.clone(), 0..ncols);
            // Each row's noise stream where this row tile's draws start.
            let mut rngs: Vec<(f64, Pcg64Mcg)> = match noise {
                Some((n, step)) => {
                    let step = step + self.noise_steps(l, 0..rt);
                    (0..codes.len()).map(|s| (n.sigma, n.at(s, step))).collect()
                }
                None => Vec::new(),
            };
            if exact_in_f32 {
                // Every bit plane of every row of the batch times each array's codes: one
                // matrix product an array (0/1 inputs and integer codes: exact in f32 while a
                // column sum stays below 2^24).
                let (planes, driven) = input_planes(codes, rows.clone(), a_bits);
                for a in &arrays {
                    let cols = a.out0 * cpw..(a.out0 + a.nouts) * cpw;
                    let at = |r: usize, c: usize| block.get(r * ncols + cols.start + c) as f32;
                    let g = Array2::from_shape_fn((rows.len(), cols.len()), |(r, c)| at(r, c));
                    let sums = planes.dot(&g);
                    let squares = (!rngs.is_empty()).then(|| planes.dot(&g.mapv(|v| v * v)));
                    let mut ps = vec![0i64; cols.len()];
                    for (k, row) in sums.rows().into_iter().enumerate() {
                        let (t, s) = ((k / codes.len()) as u32, k % codes.len());
                        ps.iter_mut().zip(row).for_each(|(p, v)| *p = *v as i64);
                        if let (Some(sq), Some((sigma, rng))) = (&squares, rngs.get_mut(s)) {
                            for (p, q) in ps.iter_mut().zip(sq.row(k)) {
                                let q = f64::from(*q);
                                *p += (*sigma * q.sqrt() * normal(rng)).round_ties_even() as i64;
                            }
                        }
                        evs[s].row_activations += driven[k];
                        path.read_out(
                            t,
                            cols.start,
                            &ps,
                            Some(tally.sink()),
                            &mut accs[s],
                            &mut evs[s],
                        );
                    }
                }
                continue;
            }
            let placed = Placed { block: &block, row0: rows.start, cols: 0..ncols };
            for (s, ((x, acc), ev)) in codes.iter().zip(&mut accs).zip(&mut evs).enumerate() {
                let noise =
                    rngs.get_mut(s).map(|(c2c_sigma, rng)| Noise { c2c_sigma: *c2c_sigma, rng });
                let hooks = &mut Hooks { noise, partial_sums: Some(tally.sink()) };
                let b = input_bits(x, a_bits);
                for a in &arrays {
                    path.array(a, &placed, &b, hooks, acc, ev, &mut scratch);
                }
            }
        }
        let steps = map.arrays.iter().map(|a| (a.nouts * cpw).div_ceil(n_adc)).max().unwrap_or(0);
        accs.into_iter()
            .zip(evs)
            .zip(codes.iter().zip(events.iter_mut()))
            .map(|((acc, e), (x, ev))| {
                let (mv, e) = finish(map, x, a_bits, steps, acc, e);
                ev.push(e);
                mv
            })
            .collect()
    }

    /// Steps of the read-noise stream one row takes in layer `l`'s row tiles `tiles`: a
    /// normal draw (two steps) per array, input bit plane and used column.
    fn noise_steps(&self, l: usize, tiles: Range<usize>) -> u128 {
        let map = &self.maps[l];
        let (a_bits, cpw) = (u128::from(self.q.layers[l].a_bits), map.cols_per_weight());
        let arrays = map.arrays.iter().filter(|a| tiles.contains(&a.row_tile));
        arrays.map(|a| 2 * a_bits * (a.nouts * cpw) as u128).sum()
    }

    /// How many rows [`CrossbarNet::infer_batch`] is best given at a time.
    pub fn batch_rows(&self) -> usize {
        if self.programmed.iter().all(|p| p.kernel.is_some()) {
            BATCH_ROWS
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
/// for this many rows, while every row's column accumulators stay in the cache.
pub const BATCH_ROWS: usize = 8;

/// Rows simulated together when a layer has no bit-plane kernel: its codes are decoded from
/// their packed form once per batch, a cost per cell that a larger batch spreads thinner.
pub const CELL_BATCH_ROWS: usize = 256;

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
