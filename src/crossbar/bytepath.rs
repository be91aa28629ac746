//! The batch datapath on conductance codes that span at most 65,536 values, without read noise
//! (varied devices, stuck cells): each row tile's codes, less the layer's smallest code, split
//! into one byte (a span of at most 256 values) or two, each byte less 128 so that it is
//! signed, times every input bit plane of the batch in one byte product a byte
//! ([`super::bytegemm`]); the bytes' sums weighted by 1 and 256 and what was taken off (the
//! smallest code and 128 a byte, per driven row) added back give the exact column sums. Then
//! the ADC transfer, the slice shift and polarity sign, and the shift-add.
//!
//! The tile's logical columns are packed in chunks of `WEIGHTS` (64) weights, column `k` (slice
//! and polarity) of every weight of a chunk side by side: packed output
//! `chunk * cpw * WEIGHTS + k * WEIGHTS + j % WEIGHTS` is logical column `j * cpw + k`. A
//! product register's sixteen lanes then hold one slice and polarity of sixteen weights, and the
//! shift-add is a lane-wise multiply-add per column `k`, with no sum across lanes; that loop is
//! what the compiler vectorizes (gathers for the ADC table) where the machine has AVX-512.

use super::adc::Adc;
use super::bytegemm::{self, Inputs, PackedBytes, ROWS};
use super::device::ProgrammedLayer;
use super::sim::{Events, Exceeding, SumSink};
use super::tile::{ArrayTile, LayerMap};
use std::ops::Range;

/// The inputs of this path's products: bit planes, 0 or 1.
const SMALL: Inputs = Inputs::Small;

/// Weights a chunk holds: a multiple of [`bytegemm::LANES`]; with 8-bit differential weights on
/// 1-bit cells a chunk's sums (`ROWS * 14 * 64` of them) stay in the L1 cache.
const WEIGHTS: usize = 64;

/// How a layer's codes are stored on this path: less `min`, in `bytes` bytes (1 or 2), each
/// less 128.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(super) struct ByteCodes {
    pub(super) min: u32,
    pub(super) bytes: usize,
}

impl ByteCodes {
    /// The storage of codes `lo..=hi` on arrays of `rows` rows, if their span fits two bytes
    /// and a column's sum (and what the bytes take off) fits `i32`.
    pub(super) fn new(lo: u32, hi: u32, rows: usize) -> Option<ByteCodes> {
        let bytes = match hi.checked_sub(lo)? {
            0..=255 => 1,
            256..=65_535 => 2,
            _ => return None,
        };
        let taken = u64::from(hi) + 128 * 257;
        ((rows as u64).saturating_mul(taken) < 1 << 31).then_some(ByteCodes { min: lo, bytes })
    }
    /// Byte `b` of a code, less 128.
    #[inline]
    fn byte(&self, code: u32, b: usize) -> i8 {
        ((((code - self.min) >> (8 * b)) & 0xFF) as u8 ^ 0x80) as i8
    }
    /// What a column's byte sums leave out per driven row: the smallest code and 128 a byte
    /// (times the byte's weight).
    fn taken_per_row(&self) -> u64 {
        u64::from(self.min) + if self.bytes == 1 { 128 } else { 128 * 257 }
    }
}

/// The codes of rows `rows` (every logical column), stored as `how` says, packed for the byte
/// product in the chunked order of the [module documentation](self): one matrix a byte.
pub(super) fn pack_tile(
    prog: &ProgrammedLayer,
    map: &LayerMap,
    rows: Range<usize>,
    how: ByteCodes,
) -> Vec<PackedBytes> {
    let (cpw, ncols) = (map.cols_per_weight(), map.logical_cols());
    let outs = map.n_out.div_ceil(WEIGHTS) * cpw * WEIGHTS;
    let mut w: Vec<PackedBytes> =
        (0..how.bytes).map(|_| PackedBytes::zeroed(outs, rows.len())).collect();
    // The packed output of each logical column.
    let order: Vec<usize> = (0..ncols)
        .map(|c| {
            let (j, k) = (c / cpw, c % cpw);
            j / WEIGHTS * cpw * WEIGHTS + k * WEIGHTS + j % WEIGHTS
        })
        .collect();
    // A few rows at a time: decoded into bytes by a closure that owns its cursor (one that
    // wrote through captured references kept them in memory, a load and store a cell), then
    // packed.
    const AT_ONCE: usize = 4;
    let mut codes = vec![0u32; AT_ONCE * ncols];
    for r0 in rows.clone().step_by(AT_ONCE) {
        let part = r0..(r0 + AT_ONCE).min(rows.end);
        let (buf, mut at) = (&mut codes[..part.len() * ncols], 0);
        prog.decode_rows(map, part.clone(), move |code| {
            buf[at] = code;
            at += 1;
        });
        for (r, row) in (part.start - rows.start..).zip(codes.chunks_exact(ncols).take(part.len()))
        {
            for (b, w) in w.iter_mut().enumerate() {
                for (&o, &code) in order.iter().zip(row) {
                    w.set(o, r, how.byte(code, b));
                }
            }
        }
    }
    w
}

/// The batch's input bit planes over `rows` as byte rows of `rb` bytes for the byte product:
/// row `s * a_bits + t` holds bit `t` of sample `s`'s input codes (two's complement when
/// signed, as the arrays are driven), 0 or 1; the rows are padded with zeros to whole passes.
/// With how many of each row's bits are 1 (the rows that plane drives).
pub(super) fn plane_bytes(
    codes: &[Vec<i64>],
    rows: Range<usize>,
    a_bits: u32,
    rb: usize,
) -> (Vec<u8>, Vec<u64>) {
    let planes = a_bits as usize;
    let k_n = codes.len() * planes;
    let mut x = vec![0u8; k_n.next_multiple_of(ROWS) * rb];
    let mut driven = vec![0u64; k_n];
    for (s, code) in codes.iter().enumerate() {
        for (r, &v) in code[rows.clone()].iter().enumerate() {
            for t in 0..planes {
                let (k, b) = (s * planes + t, ((v as u64 >> t) & 1) as u8);
                x[k * rb + r] = b;
                driven[k] += u64::from(b);
            }
        }
    }
    (x, driven)
}

/// How a layer's column sums become accumulator updates on this path.
pub(super) struct ByteReadout {
    /// Per column `k` of a weight (`k = slice * P + polarity`), its signed shifted ADC level
    /// of every sum from 0 to the top threshold (`width` entries; sums outside are clamped),
    /// in `i32`: a weight's `cpw` entries sum without overflow ([`ByteReadout::new`] checks).
    tables: Vec<i32>,
    width: usize,
    /// The same tables by ADC code, when the code is `floor(p * scale + 1/2)` in f32 for every
    /// sum `p` in `0..=top` (checked, sum by sum) and there are at most 32 codes.
    by_code: Option<ByCode>,
    /// Per input bit plane, its weight (`-2^t` for a signed input's top bit).
    plane: Vec<i64>,
}

/// The level tables of [`ByteReadout`] indexed by ADC code: a code is computed with one
/// multiply-add and a level read with one permute of a register pair, where a table read by
/// sum is a gather.
struct ByCode {
    scale: f32,
    /// Per column `k`, its 32 entries (codes past the ADC's last repeat it).
    levels: Vec<[i32; 32]>,
}

impl ByCode {
    /// The code of sum `p` (`0..=top`) as the vector code computes it.
    fn code(scale: f32, p: i32) -> usize {
        (p as f32).mul_add(scale, 0.5) as usize
    }

    /// The tables by code, if the code formula agrees with `direct` (the level of every sum
    /// `0..=top`) at every sum.
    fn new(adc: &Adc, direct: &[i64], tables: &[Vec<i64>]) -> Option<ByCode> {
        let fs = (adc.fs_eff() as f64) * f64::from(1u32 << adc.frac_bits.min(31));
        let scale = (adc.max_code() as f64 / fs) as f32;
        // The first sum that reads each code, and the level it reads.
        let mut first: Vec<Option<(usize, i64)>> = vec![None; 32];
        for (p, &level) in direct.iter().enumerate() {
            let code = Self::code(scale, i32::try_from(p).ok()?);
            match first.get_mut(code)? {
                Some((_, l)) if *l != level => return None,
                Some(_) => {}
                slot @ None => *slot = Some((p, level)),
            }
        }
        let levels = tables
            .iter()
            .map(|t| {
                let mut row = [0i32; 32];
                let mut last = 0;
                for (r, f) in row.iter_mut().zip(&first) {
                    last = f.map_or(last, |(p, _)| t[p] as i32);
                    *r = last;
                }
                row
            })
            .collect();
        Some(ByCode { scale, levels })
    }
}

impl ByteReadout {
    /// The read-out from each column's signed shifted level table (all `top + 1` long, the
    /// ADC's `direct` levels shifted and signed) and the planes' weights; `None` when a
    /// weight's levels could overflow `i32`.
    pub(super) fn new(
        adc: &Adc,
        direct: &[i64],
        tables: &[Vec<i64>],
        top: i64,
        plane: Vec<i64>,
    ) -> Option<Self> {
        let width = usize::try_from(top).ok()? + 1;
        let peak = tables.iter().flatten().map(|v| v.unsigned_abs()).max().unwrap_or(0);
        let fits = peak.checked_mul(tables.len() as u64).is_some_and(|m| m < 1 << 31);
        // The read-out indexes the tables with `i32` sums clamped to `0..=top`.
        let top_fits = i32::try_from(top).is_ok();
        if !fits || !top_fits || direct.len() != width || tables.iter().any(|t| t.len() != width) {
            return None;
        }
        let by_code = ByCode::new(adc, direct, tables);
        let tables = tables.iter().flatten().map(|&v| v as i32).collect();
        Some(ByteReadout { tables, width, by_code, plane })
    }
}

/// One input bit plane's products over a chunk (`WEIGHTS` per column `k`), what they left
/// out (`off`, added to each), the plane's weight, and the sum past which a read saturates.
#[derive(Clone, Copy)]
struct PlaneSums<'a> {
    sums: &'a [i32],
    off: i32,
    plane_w: i64,
    full: i32,
}

/// Where a batch's sums are counted.
pub(super) enum Counted<'s> {
    /// Saturated reads only (the simulator's own count).
    Over(&'s mut Exceeding),
    /// Every sum.
    Sums(&'s mut dyn SumSink),
}

/// One row tile of a batch: its arrays, packed codes, and the batch's planes.
pub(super) struct TileRun<'a> {
    pub(super) map: &'a LayerMap,
    pub(super) arrays: &'a [&'a ArrayTile],
    /// The tile's codes, a matrix a byte ([`pack_tile`]).
    pub(super) w: &'a [PackedBytes],
    pub(super) x: &'a [u8],
    pub(super) driven: &'a [u64],
    pub(super) a_bits: u32,
    pub(super) how: ByteCodes,
}

impl ByteReadout {
    /// Runs a row tile for every sample of the batch: products, then each sample's
    /// accumulators `accs[s]` and events `evs[s]` updated as the arrays would.
    pub(super) fn run(
        &self,
        tile: &TileRun<'_>,
        sink: &mut Counted<'_>,
        accs: &mut [Vec<i64>],
        evs: &mut [Events],
    ) {
        let TileRun { map, arrays, w, x, driven, a_bits, how } = *tile;
        let (cpw, planes) = (map.cols_per_weight(), a_bits as usize);
        let span = cpw * WEIGHTS;
        let per_pass = ROWS * w[0].row_bytes();
        let mut sums = vec![0i32; ROWS * span];
        let mut high = vec![0i32; if w.len() > 1 { ROWS * span } else { 0 }];
        let mut ps = Vec::new();
        for (chunk, j0) in (0..map.n_out).step_by(WEIGHTS).enumerate() {
            let valid = (map.n_out - j0).min(WEIGHTS);
            let groups = chunk * span / bytegemm::LANES..(chunk + 1) * span / bytegemm::LANES;
            for (pass, xs) in x.chunks_exact(per_pass).enumerate() {
                bytegemm::product(&w[0], xs, ROWS, groups.clone(), &mut sums, span, SMALL);
                if let Some(w1) = w.get(1) {
                    bytegemm::product(w1, xs, ROWS, groups.clone(), &mut high, span, SMALL);
                    sums.iter_mut().zip(&high).for_each(|(s, h)| *s += 256 * h);
                }
                for (r, k_sums) in sums.chunks_exact(span).enumerate() {
                    let k = pass * ROWS + r;
                    let Some(&n) = driven.get(k) else { break };
                    let (s, t) = (k / planes, k % planes);
                    // Each sum plus what the signed bytes left out per driven row (within
                    // i32: `ByteCodes::new` bounds it).
                    let off = (how.taken_per_row() * n) as i32;
                    let acc = &mut accs[s][j0..j0 + valid];
                    let full = match sink {
                        Counted::Over(e) => e.full,
                        Counted::Sums(rec) => {
                            ps.clear();
                            for col in k_sums.chunks_exact(WEIGHTS) {
                                ps.extend(col[..valid].iter().map(|v| i64::from(v + off)));
                            }
                            rec.add_all(&ps);
                            i64::MAX
                        }
                    };
                    // A sum is an i32: a bound past its range reads as that range's end.
                    let full = full.clamp(i64::from(i32::MIN), i64::from(i32::MAX)) as i32;
                    let plane = PlaneSums { sums: k_sums, off, plane_w: self.plane[t], full };
                    let over = self.chunk(plane, acc);
                    if let Counted::Over(e) = sink {
                        e.over += over;
                        e.total += (valid * cpw) as u64;
                    }
                }
            }
        }
        // Every array of the tile drives its rows and reads its used columns once per plane.
        let used: u64 = arrays.iter().map(|a| (a.nouts * cpw) as u64).sum();
        for (k, n) in driven.iter().enumerate() {
            let ev = &mut evs[k / planes];
            ev.row_activations += n * arrays.len() as u64;
            ev.read_columns(used);
        }
    }

    /// One plane's sums of a chunk (`p`: `WEIGHTS` per column `k`, less `off`) converted, shifted,
    /// signed and added, times `plane_w`, into the chunk's accumulators `acc`; returns how
    /// many sums exceed `full`.
    fn chunk(&self, p: PlaneSums<'_>, acc: &mut [i64]) -> u64 {
        #[cfg(target_arch = "x86_64")]
        if std::arch::is_x86_feature_detected!("avx512f")
            && std::arch::is_x86_feature_detected!("avx512bw")
        {
            // SAFETY: the CPU has AVX-512F and BW (checked above).
            return unsafe { self.chunk_avx512(p, acc) };
        }
        #[cfg(target_arch = "x86_64")]
        if std::arch::is_x86_feature_detected!("avx2") {
            // SAFETY: the CPU has AVX2 (checked above).
            return unsafe { self.chunk_avx2(p, acc) };
        }
        self.chunk_body(p, acc)
    }

    /// [`ByteReadout::chunk_body`] compiled for AVX2 (the compiler's gathers and compares).
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2")]
    unsafe fn chunk_avx2(&self, p: PlaneSums<'_>, acc: &mut [i64]) -> u64 {
        self.chunk_body(p, acc)
    }

    /// [`ByteReadout::chunk_body`] on AVX-512: sixteen lanes at a time, each table read one
    /// gather with 32-bit indices (the compiler's own vectorization gathers eight lanes with
    /// 64-bit indices and inserts).
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx512f,avx512bw,avx512vl")]
    unsafe fn chunk_avx512(&self, p: PlaneSums<'_>, acc: &mut [i64]) -> u64 {
        use std::arch::x86_64::*;
        let PlaneSums { sums, off, plane_w, full } = p;
        const V: usize = WEIGHTS / 16;
        let (width, n) = (self.width, acc.len());
        let top = (width - 1) as i32;
        let cpw = self.tables.len() / width;
        assert!(top >= 0 && top as usize + 1 == width && sums.len() >= cpw * WEIGHTS);
        assert!(n <= WEIGHTS);
        let (offv, fullv) = (_mm512_set1_epi32(off), _mm512_set1_epi32(full));
        let (zero, topv) = (_mm512_setzero_si512(), _mm512_set1_epi32(top));
        // The lanes of each register that hold one of the chunk's `n` weights.
        let lanes = |g: usize| -> __mmask16 {
            let k = n.saturating_sub(16 * g).min(16);
            ((1u32 << k) - 1) as __mmask16
        };
        let mut total = [zero; V];
        let mut over = 0u32;
        let cols = self.tables.chunks_exact(width).zip(sums.chunks_exact(WEIGHTS));
        for (k, (table, col)) in cols.enumerate() {
            // By code: the two registers of column `k`'s levels, and the code's scale.
            let by_code = self.by_code.as_ref().map(|b| {
                let l = b.levels[k].as_ptr();
                let pair =
                    (_mm512_loadu_si512(l as *const _), _mm512_loadu_si512(l.add(16) as *const _));
                (pair, _mm512_set1_ps(b.scale))
            });
            for (g, t) in total.iter_mut().enumerate().take(n.div_ceil(16)) {
                let m = lanes(g);
                let p = _mm512_loadu_si512(col.as_ptr().add(16 * g) as *const _);
                let p = _mm512_add_epi32(p, offv);
                over += _mm512_mask_cmpgt_epi32_mask(m, p, fullv).count_ones();
                // Clamped to `0..=top`: every index is inside `table` (asserted above).
                let idx = _mm512_min_epi32(_mm512_max_epi32(p, zero), topv);
                let v = match by_code {
                    Some(((lo, hi), scale)) => {
                        let q =
                            _mm512_fmadd_ps(_mm512_cvtepi32_ps(idx), scale, _mm512_set1_ps(0.5));
                        _mm512_permutex2var_epi32(lo, _mm512_cvttps_epi32(q), hi)
                    }
                    None => _mm512_mask_i32gather_epi32::<4>(zero, m, idx, table.as_ptr()),
                };
                *t = _mm512_add_epi32(*t, v);
            }
        }
        let mut lanes_out = [0i32; WEIGHTS];
        for (g, t) in total.iter().enumerate() {
            _mm512_storeu_si512(lanes_out.as_mut_ptr().add(16 * g) as *mut _, *t);
        }
        for (a, t) in acc.iter_mut().zip(lanes_out) {
            *a += plane_w * i64::from(t);
        }
        u64::from(over)
    }

    #[inline(always)]
    fn chunk_body(&self, p: PlaneSums<'_>, acc: &mut [i64]) -> u64 {
        let PlaneSums { sums, off, plane_w, full } = p;
        let (width, top) = (self.width, (self.width - 1) as i32);
        let cpw = self.tables.len() / width;
        assert!(top >= 0 && top as usize + 1 == width && sums.len() >= cpw * WEIGHTS);
        let mut total = [0i32; WEIGHTS];
        let total = &mut total[..acc.len()];
        let mut over = 0u32;
        // Lanes past the chunk's last weight (padding) are neither counted nor added.
        for (table, col) in self.tables.chunks_exact(width).zip(sums.chunks_exact(WEIGHTS)) {
            for (t, &p) in total.iter_mut().zip(col) {
                let p = p + off;
                over += u32::from(p > full);
                // SAFETY: the index is clamped to `0..=top`, and `table` is `top + 1` long
                // (asserted above).
                *t += unsafe { *table.get_unchecked(p.clamp(0, top) as usize) };
            }
        }
        for (a, t) in acc.iter_mut().zip(total) {
            *a += plane_w * i64::from(*t);
        }
        u64::from(over)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The ADC tables of `adc`: its direct levels up to the top threshold, and two columns
    /// (a slice shifted by 3 and a negative polarity).
    fn tables(adc: &Adc) -> (Vec<i64>, Vec<Vec<i64>>, i64) {
        let top = *adc.thresholds().last().unwrap();
        let direct = adc.transfer(top);
        let tables =
            vec![direct.iter().map(|l| l << 3).collect(), direct.iter().map(|l| -l).collect()];
        (direct, tables, top)
    }

    /// One byte for a span of 256 values, two up to 65,536, none past that or when a column's
    /// sum could pass `i32`; the bytes, 128 and the smallest code added back, are the code.
    #[test]
    fn codes_split_into_signed_bytes() {
        assert_eq!(ByteCodes::new(4, 259, 128), Some(ByteCodes { min: 4, bytes: 1 }));
        assert_eq!(ByteCodes::new(4, 260, 128), Some(ByteCodes { min: 4, bytes: 2 }));
        assert_eq!(ByteCodes::new(0, 65_535, 128), Some(ByteCodes { min: 0, bytes: 2 }));
        assert_eq!(ByteCodes::new(0, 65_536, 128), None);
        assert_eq!(ByteCodes::new(0, 65_535, 1 << 15), None);
        for (lo, hi) in [(4, 259), (4, 260), (300, 40_000), (0, 65_535)] {
            let how = ByteCodes::new(lo, hi, 128).unwrap();
            for code in [lo, lo + 1, (lo + hi) / 2, hi - 1, hi] {
                let back: i64 = (0..how.bytes)
                    .map(|b| (i64::from(how.byte(code, b)) + 128) << (8 * b))
                    .sum::<i64>()
                    + i64::from(lo);
                assert_eq!(back, i64::from(code), "{lo}..={hi}");
            }
        }
    }

    /// ADCs of up to 5 bits take the permute path (the code by one multiply-add agrees with
    /// the transfer function at every sum); wider ones and tables past `i32` do not.
    #[test]
    fn codes_by_multiply_add_cover_the_usual_adcs() {
        for bits in 1..=5 {
            for full_scale in [1, 7, 12, 31, 100, 128, 1000] {
                for frac_bits in [0, 4, 6, 8] {
                    let adc = Adc { bits, full_scale, frac_bits };
                    let (direct, tables, top) = tables(&adc);
                    let r = ByteReadout::new(&adc, &direct, &tables, top, vec![1]).unwrap();
                    let b = r.by_code.as_ref().unwrap_or_else(|| panic!("{adc:?}"));
                    for (p, want) in tables[0].iter().enumerate() {
                        let code = ByCode::code(b.scale, p as i32);
                        assert_eq!(i64::from(b.levels[0][code]), *want, "{adc:?} sum {p}");
                    }
                }
            }
        }
        let adc = Adc { bits: 6, full_scale: 100, frac_bits: 6 };
        let (direct, tables, top) = tables(&adc);
        assert!(ByteReadout::new(&adc, &direct, &tables, top, vec![1]).unwrap().by_code.is_none());
        let wide = vec![vec![1i64 << 30; direct.len()]; 2];
        assert!(ByteReadout::new(&adc, &direct, &wide, top, vec![1]).is_none());
    }
}
