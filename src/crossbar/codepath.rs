//! The datapath on conductance codes: what the simulator runs where the bit-plane kernel does
//! not apply (per-cell codes of varied devices and stuck cells, read noise, a kernel that does
//! not fit). A batch decodes each row tile's packed codes once and multiplies every input bit
//! plane by the tile's codes: in bytes where the layer's codes span at most 65,536 values and
//! there is no read noise ([`super::bytepath`]), else in one f32 matrix product an array (0/1
//! inputs times integer codes: exact while a column sum stays below 2^24); then converts and
//! shift-adds as the hardware does. Read noise is drawn per row from one stream, each batch
//! jumping to its rows' place in it.

use super::adc::Adc;
use super::bytegemm::{self, Inputs};
use super::bytepath::{pack_tile, plane_bytes, ByteCodes, ByteReadout, Counted, TileRun};
use super::device::{normal, CellCodes};
use super::sim::{
    adc_steps, finish, input_bits, CrossbarNet, Events, Hooks, Noise, SumSink, Tally,
};
use super::tile::{ArrayTile, LayerMap};
use ndarray::Array2;
use rand_pcg::Pcg64Mcg;
use std::ops::Range;

/// Decoded codes of some rows and logical columns of a layer, row-major.
pub(super) struct Placed<'a> {
    pub(super) block: &'a CellCodes,
    pub(super) row0: usize,
    pub(super) cols: Range<usize>,
}

/// Per-column sums of one array pass (indexed by logical column).
pub(super) struct Scratch {
    psum: Vec<i64>,
    psq: Vec<f64>,
}

impl Scratch {
    pub(super) fn new(ncols: usize) -> Self {
        Scratch { psum: vec![0; ncols], psq: vec![0.0; ncols] }
    }
}

/// The datapath of a layer whose cells are read as codes (no bit-plane kernel: per-cell
/// codes, read noise, or a kernel that does not fit): what every array pass shares.
pub(super) struct CellPath<'a> {
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
    pub(super) fn new(map: &'a LayerMap, adc: &'a Adc, a_bits: u32, signed: bool) -> Self {
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
    pub(super) fn array(
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
                    psum[c] += read_noise(n.c2c_sigma, psq[c], n.rng);
                }
            }
            self.read_out(t, c0, &psum[c0..c1], hooks.partial_sums.as_deref_mut(), acc, ev);
        }
    }

    /// The read-out of [`super::bytepath`], when the ADC has a direct table and a weight's
    /// levels sum within `i32`.
    pub(super) fn byte_readout(&self) -> Option<ByteReadout> {
        let (tables, top) = self.weighted.as_ref()?;
        let (direct, _) = self.convert.clamped()?;
        let plane = (0..self.a_bits).map(|t| self.plane_weight(t)).collect();
        ByteReadout::new(self.convert.adc, direct, tables, *top, plane)
    }

    /// The weight of input bit plane `t`: `2^t`, negative for a signed input's top bit.
    fn plane_weight(&self, t: u32) -> i64 {
        if self.signed && t == self.a_bits - 1 {
            -(1i64 << t)
        } else {
            1i64 << t
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
        let plane_w = self.plane_weight(t);
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
        ev.read_columns(ps.len() as u64);
    }
}

/// The read noise of a column whose driven cells' squared codes sum to `squares`:
/// `round_half_even(sigma * sqrt(squares) * z)` ([`super::device`]), one normal draw.
fn read_noise(sigma: f64, squares: f64, rng: &mut Pcg64Mcg) -> i64 {
    (sigma * squares.sqrt() * normal(rng)).round_ties_even() as i64
}

/// The batch's input bit planes over `rows` ([`plane_bytes`]: row `s * a_bits + t` holds bit
/// `t` of sample `s`'s input codes, rows padded with zeros to whole passes) as the left operand
/// of an f32 matrix product, with how many of each row's bits are 1.
fn input_planes(codes: &[Vec<i64>], rows: Range<usize>, a_bits: u32) -> (Array2<f32>, Vec<u64>) {
    let rb = rows.len();
    let (x, driven) = plane_bytes(codes, rows, a_bits, rb);
    let planes =
        Array2::from_shape_fn((x.len() / rb.max(1), rb), |(k, r)| f32::from(x[k * rb + r]));
    (planes, driven)
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
        let top = table.as_ref().and_then(|(t, _)| t.last().copied());
        let direct = match top {
            Some(top) if top <= DIRECT_SUMS => adc.transfer(top),
            _ => Vec::new(),
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
pub(super) struct BatchNoise {
    pub(super) sigma: f64,
    /// The stream at the first row of the run.
    pub(super) stream: Pcg64Mcg,
    /// The batch's first row in the run.
    pub(super) first: u128,
    /// Steps a row takes.
    pub(super) per_row: u128,
}

impl BatchNoise {
    /// The stream at step `step` of the batch's row `row`.
    fn at(&self, row: usize, step: u128) -> Pcg64Mcg {
        let mut rng = self.stream.clone();
        rng.advance((self.first + row as u128) * self.per_row + step);
        rng
    }
}

impl CrossbarNet {
    /// [`CrossbarNet::layer_batch`] of a layer without a bit-plane kernel: each row tile's
    /// codes are decoded once for the whole batch (per-cell codes are stored packed; decoding
    /// them per row and plane would dominate), then every row runs on them. Row by row equal to
    /// [`simulate_layer`], with `noise` drawn from each row's place in the stream (partial
    /// sums reach the sink in another order; every sink counts, none depends on the order).
    pub(super) fn layer_batch_cells(
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
        let path = CellPath::new(map, &self.adc, a_bits, signed);
        let mut accs = vec![vec![0i64; map.n_out]; codes.len()];
        let mut evs = vec![Events::default(); codes.len()];
        let mut scratch = Scratch::new(ncols);
        // Column sums (and, with noise, sums of squared codes) are exact in f32 below 2^24.
        let max = u64::from(prog.max_code(map));
        let top = if noise.is_some() { max * max } else { max };
        let exact_in_f32 = (self.cfg.rows as u64).saturating_mul(top) < 1 << 24;
        let how = self.byte_codes(l).filter(|_| noise.is_none());
        let bytes = how.and_then(|how| Some((how, path.byte_readout()?)));
        for rt in 0..map.row_tiles {
            let arrays: Vec<&ArrayTile> = map.arrays.iter().filter(|a| a.row_tile == rt).collect();
            let Some(first) = arrays.first() else { continue };
            let rows = first.row0..first.row0 + first.nrows;
            // Each row's noise stream where this row tile's draws start.
            let mut rngs: Vec<Pcg64Mcg> = match noise {
                Some((n, step)) => {
                    let step = step + self.noise_steps(l, 0..rt);
                    (0..codes.len()).map(|s| n.at(s, step)).collect()
                }
                None => Vec::new(),
            };
            if let Some((how, readout)) = &bytes {
                let w = pack_tile(prog, map, rows.clone(), *how);
                let (x, driven) = plane_bytes(codes, rows.clone(), a_bits, w[0].row_bytes());
                let (x, driven) = (&x, &driven);
                let tile = TileRun { map, arrays: &arrays, w: &w, x, driven, a_bits, how: *how };
                let mut sink = match &mut *tally {
                    Tally::Saturated(e) => Counted::Over(e),
                    Tally::Sums(rec) => Counted::Sums(&mut **rec),
                };
                readout.run(&tile, &mut sink, &mut accs, &mut evs);
                continue;
            }
            let block = prog.decode_block(map, rows.clone(), 0..ncols);
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
                    // Padding rows (past the batch's planes) are skipped.
                    for (k, row) in sums.rows().into_iter().enumerate().take(driven.len()) {
                        let (s, t) = (k / a_bits as usize, (k % a_bits as usize) as u32);
                        ps.iter_mut().zip(row).for_each(|(p, v)| *p = *v as i64);
                        if let (Some(sq), Some(rng), Some((n, _))) =
                            (&squares, rngs.get_mut(s), noise)
                        {
                            for (p, q) in ps.iter_mut().zip(sq.row(k)) {
                                *p += read_noise(n.sigma, f64::from(*q), rng);
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
                let noise = noise
                    .zip(rngs.get_mut(s))
                    .map(|((n, _), rng)| Noise { c2c_sigma: n.sigma, rng });
                let hooks = &mut Hooks { noise, partial_sums: Some(tally.sink()) };
                let b = input_bits(x, a_bits);
                for a in &arrays {
                    path.array(a, &placed, &b, hooks, acc, ev, &mut scratch);
                }
            }
        }
        let steps = adc_steps(map, &self.cfg);
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

    /// The read-out of layer `l`'s batches without read noise when they take the byte path
    /// ([`super::bytepath`]): codes that span at most 65,536 values ([`ByteCodes`]),
    /// an ADC with a direct table, levels that sum within `i32`, and a machine with the byte
    /// product.
    pub(super) fn byte_readout(&self, l: usize) -> Option<ByteReadout> {
        self.byte_codes(l)?;
        let (map, layer) = (&self.maps[l], &self.q.layers[l]);
        CellPath::new(map, &self.adc, layer.a_bits, layer.in_lo < 0).byte_readout()
    }

    /// How layer `l`'s codes are stored on the byte path, when the machine has the byte
    /// product and the codes fit ([`ByteCodes::new`]).
    fn byte_codes(&self, l: usize) -> Option<ByteCodes> {
        let (lo, hi) = self.programmed[l].code_range(&self.maps[l]);
        ByteCodes::new(lo, hi, self.cfg.rows).filter(|_| bytegemm::available(Inputs::Small))
    }

    /// Steps of the read-noise stream one row takes in layer `l`'s row tiles `tiles`: a
    /// normal draw (two steps) per array, input bit plane and used column.
    pub(super) fn noise_steps(&self, l: usize, tiles: Range<usize>) -> u128 {
        let map = &self.maps[l];
        let (a_bits, cpw) = (u128::from(self.q.layers[l].a_bits), map.cols_per_weight());
        let arrays = map.arrays.iter().filter(|a| tiles.contains(&a.row_tile));
        arrays.map(|a| 2 * a_bits * (a.nouts * cpw) as u128).sum()
    }
}
