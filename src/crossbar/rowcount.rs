//! Column popcounts by adding up the driven rows: the batch kernel for 1-bit cells.
//!
//! [`super::kernel`]'s column kernel ANDs each column's words with an input bit plane and
//! counts the ones: one popcount, one ADC table look-up and one multiply-add per column read,
//! whether the plane drives many rows or few. Here the cells are also stored row by row, 512
//! columns to a register, and a plane's column counts are the sum of the rows it drives,
//! added as bit vectors in carry-save form (two three-input logic instructions a row for 512
//! columns, and hidden-layer planes drive a quarter of the rows). The bit-sliced counts are then
//! transposed to bytes (byte unpacks and one GF(2) affine transform per 64 columns), converted
//! by the plane's ADC byte table (one `VPERMI2B` per 64 reads), and the planes' levels summed
//! as `sum_t 2^t * level_t` by Horner's rule in byte lanes while they cannot overflow, then in
//! 16-bit lanes. A signed input's top plane weighs `-2^(a_n - 1)`: its levels are subtracted on
//! their own, the 16-bit sums then read as signed. Every step is an integer operation, so the
//! column values equal the column kernel's bit for bit; the tests compare the two.
//!
//! Why the columns of a block are stored permuted: the transpose leaves the counts of 8-column
//! group `m` of the register (bytes `m` of the eight bit-sliced counters) in output register
//! `R` and lane `(l, q)` where `m = 16 l + 2 R + q`; storing natural group `8 R + 2 l + q` at
//! byte `m` makes output register `R` hold columns `64 R ..` in order.

/// Columns per block: one cell row of one block is one 512-bit register.
pub const BLOCK: usize = 512;

/// The most rows of a row tile (counts must fit the byte tables' 128 entries).
pub const MAX_TILE_ROWS: usize = 128;

/// A layer's 1-bit cells row by row: row `r` of row tile `rt` is `blocks` registers of
/// columns, bit `stored_bit(c % 512)` of register `c / 512` holding column `c`'s cell. Each
/// row tile has one more row, of zeros, which pads a plane's rows to whole groups of eight.
/// Stored block by block (a block's rows of every row tile adjacent), so a run over a few
/// blocks reads memory in order. Columns are stored slice-major: logical column `j * cpw + k`
/// (cell column `k` of output `j`) is stored as column `k * n_out + j`, so the shift-add of
/// an output's slices is a sum of aligned runs of columns, lane by lane.
#[derive(Clone, Debug, PartialEq)]
pub struct RowBits {
    tile_rows: usize,
    row_tiles: usize,
    ncols: usize,
    /// Cell columns per output (`ncols / cpw` outputs).
    cpw: usize,
    blocks: usize,
    /// Row `r` of row tile `rt`'s block `b` at `(b * row_tiles + rt) * (tile_rows + 1) + r`.
    bits: Vec<Line>,
}

/// One register of cells, aligned as the register loads want it: a register that straddles
/// two cache lines costs two reads (and a plain `Vec<u64>` of this size starts 16 bytes past
/// a line).
#[derive(Clone, Copy, Debug, Default, PartialEq)]
#[repr(C, align(64))]
struct Line([u64; 8]);

/// Where column `c` of a block (`c < 512`) is stored in the block's register.
pub fn stored_bit(c: usize) -> usize {
    let (g, i) = (c / 8, c % 8);
    let (r, l, q) = (g / 8, (g % 8) / 2, g % 2);
    8 * (16 * l + 2 * r + q) + i
}

impl RowBits {
    /// The row layout of column-major 1-bit planes `planes[(rt * ncols + c) * words + w]`
    /// (bit `i` of word `w` is row `64 w + i` of the tile), `words <= 2`, `cpw` columns per
    /// output. 64 stored columns by 64 rows at a time: a bit-matrix transpose, then each row's
    /// 64 columns are four 16-column pieces at their stored places.
    pub fn from_columns(
        planes: &[u64],
        tile_rows: usize,
        row_tiles: usize,
        (ncols, cpw): (usize, usize),
        words: usize,
    ) -> RowBits {
        assert!(cpw > 0 && ncols % cpw == 0, "whole outputs of {cpw} columns");
        let n_out = ncols / cpw;
        let blocks = ncols.div_ceil(BLOCK);
        let mut bits = vec![Line::default(); row_tiles * (tile_rows + 1) * blocks];
        let mut m = [0u64; 64];
        for rt in 0..row_tiles {
            for c0 in (0..ncols).step_by(64) {
                let (b, reg) = (c0 / BLOCK, (c0 % BLOCK) / 64);
                for w in 0..words.min(tile_rows.div_ceil(64)) {
                    for (i, v) in m.iter_mut().enumerate() {
                        let c = c0 + i;
                        *v = if c < ncols {
                            let logical = (c % n_out) * cpw + c / n_out;
                            planes[(rt * ncols + logical) * words + w]
                        } else {
                            0
                        };
                    }
                    transpose64(&mut m);
                    for (i, row) in m.iter().enumerate() {
                        let r = 64 * w + i;
                        if r >= tile_rows || *row == 0 {
                            continue;
                        }
                        let at = (b * row_tiles + rt) * (tile_rows + 1) + r;
                        // 16-column piece `l` of register `reg` goes to u16 slot `reg + 8 l`.
                        for l in 0..4 {
                            let piece = (row >> (16 * l)) & 0xFFFF;
                            let slot = reg + 8 * l;
                            bits[at].0[slot / 4] |= piece << (16 * (slot % 4));
                        }
                    }
                }
            }
        }
        RowBits { tile_rows, row_tiles, ncols, cpw, blocks, bits }
    }

    /// Bytes held (for memory accounting).
    pub fn heap_bytes(&self) -> usize {
        self.bits.len() * 64
    }

    /// Block `b` of row tile `rt`: its rows (and the zero row), a register each.
    fn tile(&self, rt: usize, b: usize) -> &[Line] {
        let n = self.tile_rows + 1;
        let at = (b * self.row_tiles + rt) * n;
        &self.bits[at..at + n]
    }

    /// Where row `r`'s register starts in its tile's block, in words.
    fn row_offset(&self, r: usize) -> u32 {
        (r * 8) as u32
    }

    /// Whether logical column `c` of row `r` of row tile `rt` holds a set cell (for tests).
    pub fn cell(&self, rt: usize, r: usize, c: usize) -> bool {
        let c = (c % self.cpw) * (self.ncols / self.cpw) + c / self.cpw;
        let bit = stored_bit(c % BLOCK);
        let at = (c / BLOCK * self.row_tiles + rt) * (self.tile_rows + 1) + r;
        (self.bits[at].0[bit / 64] >> (bit % 64)) & 1 == 1
    }
}

/// Transposes a 64x64 bit matrix in place: bit `j` of `m[i]` becomes bit `i` of `m[j]`.
fn transpose64(m: &mut [u64; 64]) {
    let mut j = 32;
    let mut mask: u64 = 0x0000_0000_FFFF_FFFF;
    while j != 0 {
        let mut k = 0;
        while k < 64 {
            // Swap the high `j` bits of m[k]'s blocks with the low `j` bits of m[k + j]'s.
            let t = ((m[k] >> j) ^ m[k + j]) & mask;
            m[k] ^= t << j;
            m[k + j] ^= t;
            k = (k + j + 1) & !j;
        }
        j >>= 1;
        mask ^= mask << j;
    }
}

/// One input bit plane of one sample and row tile, as [`run`] reads it.
#[derive(Clone, Copy, Debug)]
pub struct PlaneRead {
    /// Where its driven rows' offsets start in the batch, and how many there are padded
    /// with the zero row to a multiple of 8.
    start: u32,
    len: u32,
    /// Rows driven.
    driven: u32,
    /// The 128-entry ADC byte table for this driven count (popcount to level).
    table: *const u8,
    /// Popcounts above this are saturated reads (`i64::MAX`: not counted; `< 0`: all are).
    thr: i64,
}

/// A batch's input side: per (sample, row tile) its `a_n` planes, plane `t` at
/// `planes[(s * row_tiles + rt) * a_n + t]`, and the driven rows' offsets in their tile.
#[derive(Default, Debug)]
pub struct Batch {
    planes: Vec<PlaneRead>,
    offs: Vec<u32>,
    /// [`run`]'s column values of a chunk of blocks (kept to reuse its allocation).
    acc: Vec<i32>,
}

impl Batch {
    /// Empties the batch, keeping its allocations.
    pub fn clear(&mut self) {
        self.planes.clear();
        self.offs.clear();
    }

    /// Appends the next plane: rows `words` drives (bit `i` of word `w` is row `64 w + i`),
    /// its ADC byte table `table` (128 levels for its driven count) and saturation threshold.
    #[cfg(target_arch = "x86_64")]
    pub fn push(&mut self, rows: &RowBits, words: &[u64], table: &[u8], thr: i64) {
        let start = self.offs.len();
        let zero = rows.row_offset(rows.tile_rows);
        let room = 64 * words.len() + 8;
        self.offs.reserve(room);
        // SAFETY: `available` holds wherever a `RowBits` is used; `room` offsets reserved.
        let driven = unsafe { x86::row_offsets(words, zero, self.offs.as_mut_ptr().add(start)) };
        let len = driven.next_multiple_of(8);
        // SAFETY: `row_offsets` wrote `driven` offsets and then 8 more (`zero`).
        unsafe { self.offs.set_len(start + len) };
        let (start, driven, len) = (start as u32, driven as u32, len as u32);
        assert!(table.len() >= 128, "an ADC byte table holds 128 levels");
        self.planes.push(PlaneRead { start, len, driven, table: table.as_ptr(), thr });
    }
}

/// The most input bit planes [`run`] sums (so a column's sum of byte levels fits 16 bits).
pub const MAX_PLANES: usize = 8;

/// How many planes' byte levels Horner's rule can sum in a byte: the largest `k` with
/// `max_level * (2^k - 1) <= 255`.
pub fn byte_group(max_level: u8) -> u32 {
    (1..=8u32).take_while(|k| u32::from(max_level) * ((1 << k) - 1) <= 255).last().unwrap_or(1)
}

/// True when the CPU has what [`run`] uses.
pub fn available() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        is_x86_feature_detected!("avx512f")
            && is_x86_feature_detected!("avx512bw")
            && is_x86_feature_detected!("avx512vbmi")
            && is_x86_feature_detected!("gfni")
            && is_x86_feature_detected!("popcnt")
    }
    #[cfg(not(target_arch = "x86_64"))]
    false
}

/// Every sample's outputs `acc[j] += sum_k sign_k * (col_k << shift_k)` over output `j`'s cell
/// columns `k` (`shift_k = k / polarities`; with two polarities odd `k` are negative), where a
/// column's value is `sum_t 2^t * level_t` summed over row tiles; returns each sample's
/// saturated reads in `overs`. `a_n` planes per (sample, row tile) in `batch` (the top one
/// weighing `-2^(a_n - 1)` when `signed`); `max_level` is the tables' largest level. Blocks of
/// columns are taken a few at a time, every sample and row tile each, so their rows stay in the
/// cache for the batch.
///
/// # Safety
/// [`available`] holds; `a_n <= MAX_PLANES`; every plane's table holds levels of at most
/// `max_level`; `batch` was built for `rows`.
#[cfg(target_arch = "x86_64")]
pub unsafe fn run(
    rows: &RowBits,
    batch: &mut Batch,
    (a_n, signed): (usize, bool),
    max_level: u8,
    polarities: usize,
    accs: &mut [Vec<i64>],
    overs: &mut [u64],
) {
    assert!(a_n <= MAX_PLANES && batch.planes.len() == accs.len() * rows.row_tiles * a_n);
    let n_out = rows.ncols / rows.cpw;
    // A row tile's column value is at most `max_level * (2^a_n - 1)`, a 16-bit number (signed:
    // `max_level * 2^(a_n - 1)` in magnitude, a signed 16-bit one); this many tiles' sum still
    // fits.
    let (tile_max, room) = match signed {
        false => (u32::from(max_level) * ((1 << a_n) - 1), 65535),
        true => (u32::from(max_level) << (a_n - 1), 32767),
    };
    let sum =
        Sum { group: byte_group(max_level), tiles: (room / tile_max.max(1)) as usize, signed };
    // Row bits of every row tile for a chunk of blocks: about half a megabyte.
    let per_block = rows.row_tiles * (rows.tile_rows + 1) * 64;
    let chunk = ((512 << 10) / per_block.max(1)).clamp(1, rows.blocks.max(1));
    let mut acc32 = std::mem::take(&mut batch.acc);
    acc32.resize(chunk * BLOCK, 0);
    let per_sample = rows.row_tiles * a_n;
    for b0 in (0..rows.blocks).step_by(chunk) {
        let b1 = (b0 + chunk).min(rows.blocks);
        for (s, (out, over)) in accs.iter_mut().zip(overs.iter_mut()).enumerate() {
            let planes = &batch.planes[s * per_sample..(s + 1) * per_sample];
            // Every block's first widening stores its columns: no zeroing needed.
            let acc = &mut acc32[..(b1 - b0) * BLOCK];
            for (b, out) in (b0..b1).zip(acc.chunks_exact_mut(BLOCK)) {
                // SAFETY: as this function's caller promises; `b < blocks`.
                *over += unsafe { x86::block(rows, b, planes, a_n, &batch.offs, sum, out) };
            }
            // Runs of stored columns of one cell column `k`: outputs `j0..` in order.
            let (mut c, c1) = (b0 * BLOCK, (b1 * BLOCK).min(rows.ncols));
            while c < c1 {
                let (k, j0) = (c / n_out, c % n_out);
                let n = (n_out - j0).min(c1 - c);
                let vals = &acc[c - b0 * BLOCK..c - b0 * BLOCK + n];
                let shift = (k / polarities) as u32;
                let neg = polarities == 2 && k % 2 == 1;
                // SAFETY: `available` holds (AVX-512F).
                unsafe { x86::shift_add(vals, shift, neg, &mut out[j0..j0 + n]) };
                c += n;
            }
        }
    }
    batch.acc = acc32;
}

/// How [`x86::block`] sums levels: `group` planes by Horner's rule in bytes, `tiles` row
/// tiles in 16 bits; `signed`: the top plane is negative and the 16-bit sums signed.
#[derive(Clone, Copy, Debug)]
struct Sum {
    group: u32,
    tiles: usize,
    signed: bool,
}

#[cfg(target_arch = "x86_64")]
mod x86 {
    use super::{PlaneRead, RowBits, Sum, BLOCK};
    use std::arch::x86_64::*;

    /// `outs[j] += (vals[j] << shift)`, negated when `neg`: one run of a cell column's
    /// stored columns into their outputs (compiled for AVX-512, 8 outputs a step).
    #[target_feature(enable = "avx512f")]
    pub(super) fn shift_add(vals: &[i32], shift: u32, neg: bool, outs: &mut [i64]) {
        if neg {
            outs.iter_mut().zip(vals).for_each(|(o, v)| *o -= i64::from(*v) << shift);
        } else {
            outs.iter_mut().zip(vals).for_each(|(o, v)| *o += i64::from(*v) << shift);
        }
    }

    /// The offsets (`8 r`, in words) of the rows `words` drives, written from `dst` in row
    /// order, and eight offsets `zero` after them; returns how many rows. Sixteen rows a
    /// step: a compress of their offsets by the word's bits.
    ///
    /// # Safety
    /// `dst` has room for `64 * words.len() + 8` offsets.
    #[target_feature(enable = "avx512f")]
    pub(super) unsafe fn row_offsets(words: &[u64], zero: u32, dst: *mut u32) -> usize {
        let lanes =
            _mm512_setr_epi32(0, 8, 16, 24, 32, 40, 48, 56, 64, 72, 80, 88, 96, 104, 112, 120);
        let mut n = 0;
        for (w, word) in words.iter().enumerate() {
            for q in 0..4 {
                let m = (word >> (16 * q)) as u16;
                if m == 0 {
                    continue;
                }
                let at = _mm512_set1_epi32((8 * (64 * w + 16 * q)) as i32);
                let v = _mm512_maskz_compress_epi32(m, _mm512_add_epi32(lanes, at));
                // SAFETY: `n + 16 <= 64 * words.len()`, inside the caller's room.
                unsafe { _mm512_storeu_si512(dst.add(n) as *mut _, v) };
                n += m.count_ones() as usize;
            }
        }
        // SAFETY: `n + 8` is inside the caller's room.
        unsafe { _mm256_storeu_si256(dst.add(n) as *mut _, _mm256_set1_epi32(zero as i32)) };
        n
    }

    /// A full adder on 512 bit lanes: (sum, carry) of `a + b + c`.
    #[target_feature(enable = "avx512f")]
    #[inline]
    fn csa(a: __m512i, b: __m512i, c: __m512i) -> (__m512i, __m512i) {
        (_mm512_ternarylogic_epi64::<0x96>(a, b, c), _mm512_ternarylogic_epi64::<0xE8>(a, b, c))
    }

    /// Bit `k` (`out[k]`) of each column's count of set cells over the rows at `offs` (a
    /// multiple of 8 of them; row registers at `base + off`). Eight rows at a time go through
    /// a carry-save tree into the ones, twos and fours (seven full adders); its eights pend
    /// one per level above and two pending carries meet a level's bits in another full adder
    /// (a binary counter of the groups decides which): about two logic instructions a row.
    ///
    /// # Safety
    /// Every `base + offs[i]` points at 64 readable bytes.
    #[target_feature(enable = "avx512f")]
    #[inline]
    unsafe fn count_rows(base: *const u64, offs: &[u32]) -> [__m512i; 8] {
        let z = _mm512_setzero_si512();
        // SAFETY: as the caller promises.
        let load = |o: u32| unsafe { _mm512_loadu_si512(base.add(o as usize) as *const _) };
        let (mut l0, mut l1, mut l2, mut l3, mut l4, mut l5, mut l6, mut l7) =
            (z, z, z, z, z, z, z, z);
        let (mut p3, mut p4, mut p5, mut p6, mut p7) = (z, z, z, z, z);
        let groups = offs.len() / 8;
        for (i, r) in offs.chunks_exact(8).enumerate() {
            let (s, c0) = csa(l0, load(r[0]), load(r[1]));
            let (s, c1) = csa(s, load(r[2]), load(r[3]));
            let (t, c2) = csa(l1, c0, c1);
            let (s, c3) = csa(s, load(r[4]), load(r[5]));
            let (s, c4) = csa(s, load(r[6]), load(r[7]));
            let (t, c5) = csa(t, c3, c4);
            let (f, mut c) = csa(l2, c2, c5);
            (l0, l1, l2) = (s, t, f);
            // Pending eights sit at levels k where bit k - 3 of `i` is set.
            let ones = i.trailing_ones();
            if ones == 0 {
                p3 = c;
                continue;
            }
            (l3, c) = csa(l3, p3, c);
            if ones == 1 {
                p4 = c;
                continue;
            }
            (l4, c) = csa(l4, p4, c);
            if ones == 2 {
                p5 = c;
                continue;
            }
            (l5, c) = csa(l5, p5, c);
            if ones == 3 {
                p6 = c;
                continue;
            }
            (l6, c) = csa(l6, p6, c);
            p7 = c;
        }
        // The carries still pending (bit k - 3 of `groups`), rippled up.
        let pend = |k: u32, p: __m512i| if (groups >> (k - 3)) & 1 == 1 { p } else { z };
        let c;
        (l3, c) = (_mm512_xor_si512(l3, pend(3, p3)), _mm512_and_si512(l3, pend(3, p3)));
        let (s4, c) = csa(l4, pend(4, p4), c);
        let (s5, c) = csa(l5, pend(5, p5), c);
        let (s6, c) = csa(l6, pend(6, p6), c);
        // At most 128 rows: the count's top bit is bit 7, and nothing carries out of it.
        l7 = _mm512_ternarylogic_epi64::<0x96>(l7, pend(7, p7), c);
        [l0, l1, l2, l3, s4, s5, s6, l7]
    }

    /// Bit-sliced counts (`l[k]` bit `8 m + i`: bit `k` of the count of stored group `m`,
    /// column `i`) as bytes: output register `R` byte `8 (2 l + q) + i` is the count of stored
    /// group `16 l + 2 R + q`, column `i` (see the module doc).
    #[target_feature(enable = "avx512f,avx512bw,gfni")]
    #[inline]
    pub(super) fn to_bytes(l: [__m512i; 8]) -> [__m512i; 8] {
        // Byte j of each output qword is bit plane 7 - j, so the affine transform's row
        // 7 - i (its output bit i) is plane i.
        let a = [l[7], l[6], l[5], l[4], l[3], l[2], l[1], l[0]];
        let s1 = [
            [_mm512_unpacklo_epi8(a[0], a[1]), _mm512_unpacklo_epi8(a[2], a[3])],
            [_mm512_unpacklo_epi8(a[4], a[5]), _mm512_unpacklo_epi8(a[6], a[7])],
            [_mm512_unpackhi_epi8(a[0], a[1]), _mm512_unpackhi_epi8(a[2], a[3])],
            [_mm512_unpackhi_epi8(a[4], a[5]), _mm512_unpackhi_epi8(a[6], a[7])],
        ];
        // s1[2x + h][p]: stage-1 half x (lo, hi), pair 2h + p.
        let bitsel = _mm512_set1_epi64(0x8040_2010_0804_0201u64 as i64);
        let mut out = [_mm512_setzero_si512(); 8];
        for x in 0..2 {
            let (lo, hi) = (&s1[2 * x], &s1[2 * x + 1]);
            let s2 = [
                [_mm512_unpacklo_epi16(lo[0], lo[1]), _mm512_unpacklo_epi16(hi[0], hi[1])],
                [_mm512_unpackhi_epi16(lo[0], lo[1]), _mm512_unpackhi_epi16(hi[0], hi[1])],
            ];
            for (y, pair) in s2.iter().enumerate() {
                let q = [
                    _mm512_unpacklo_epi32(pair[0], pair[1]),
                    _mm512_unpackhi_epi32(pair[0], pair[1]),
                ];
                for (z, v) in q.into_iter().enumerate() {
                    out[4 * x + 2 * y + z] = _mm512_gf2p8affine_epi64_epi8::<0>(bitsel, v);
                }
            }
        }
        out
    }

    /// One block of 512 columns of one sample over its row tiles and planes (`a_n` per row
    /// tile): each column's `sum_t 2^t * level_t` added to `out`; returns the saturated reads
    /// among the block's columns.
    ///
    /// # Safety
    /// As [`super::run`]; `b < rows.blocks`; `planes` holds the sample's planes.
    #[target_feature(enable = "avx512f,avx512bw,avx512vbmi,gfni,popcnt")]
    pub(super) unsafe fn block(
        rows: &RowBits,
        b: usize,
        planes: &[PlaneRead],
        a_n: usize,
        offs: &[u32],
        sum: Sum,
        out: &mut [i32],
    ) -> u64 {
        let z = _mm512_setzero_si512();
        let c127 = _mm512_set1_epi8(127);
        let valid = (rows.ncols - b * BLOCK).min(BLOCK);
        let lanes: [__mmask64; 8] = std::array::from_fn(|r| {
            let n = valid.saturating_sub(64 * r).min(64);
            if n == 64 {
                !0
            } else {
                (1u64 << n) - 1
            }
        });
        // Saturated reads: whole planes counted in `over`, others a byte lane each (up to 8 a
        // plane) in `ov`, summed into `ov_sum` before a lane can overflow.
        let mut over = 0u64;
        let (mut ov, mut ov_sum, mut ov_planes) = (z, z, 0u32);
        let mut acc16 = [z; 16];
        for (rt, tile_planes) in planes.chunks_exact(a_n).enumerate() {
            let base = rows.tile(rt, b).as_ptr() as *const u64;
            let mut g8 = [z; 8];
            let mut in_group = 0u32;
            for (t, p) in tile_planes.iter().enumerate().rev() {
                let offs = &offs[p.start as usize..(p.start + p.len) as usize];
                let counts = to_bytes(count_rows(base, offs));
                // SAFETY: 128 table bytes (`Batch::push` checked).
                let (t0, t1) = unsafe {
                    (
                        _mm512_loadu_si512(p.table as *const _),
                        _mm512_loadu_si512(p.table.add(64) as *const _),
                    )
                };
                let clamp = p.driven >= 128;
                // Reads can saturate only when the threshold is below the driven rows.
                if p.thr < 0 {
                    over += valid as u64;
                } else if p.thr < i64::from(p.driven) {
                    let thr = _mm512_set1_epi8(p.thr as i8);
                    for (n, m) in counts.iter().zip(lanes) {
                        let above = _mm512_mask_cmpgt_epu8_mask(m, *n, thr);
                        ov = _mm512_mask_sub_epi8(ov, above, ov, _mm512_set1_epi8(-1));
                    }
                    ov_planes += 1;
                    if ov_planes == 31 {
                        ov_sum = _mm512_add_epi64(ov_sum, _mm512_sad_epu8(ov, z));
                        (ov, ov_planes) = (z, 0);
                    }
                }
                for (g, n) in g8.iter_mut().zip(counts) {
                    let n = if clamp { _mm512_min_epu8(n, c127) } else { n };
                    let level = _mm512_permutex2var_epi8(t0, n, t1);
                    *g = _mm512_add_epi8(_mm512_add_epi8(*g, *g), level);
                }
                in_group += 1;
                // A signed input's top plane is a group of its own, subtracted.
                let neg = sum.signed && t + 1 == a_n;
                if in_group == sum.group || t == 0 || neg {
                    // The group's lowest plane is `t`: its sum weighs 2^t.
                    let sh = _mm_cvtsi32_si128(t as i32);
                    for (r, g) in g8.iter_mut().enumerate() {
                        let mut lo = _mm512_cvtepu8_epi16(_mm512_castsi512_si256(*g));
                        let mut hi = _mm512_cvtepu8_epi16(_mm512_extracti64x4_epi64::<1>(*g));
                        if t > 0 {
                            (lo, hi) = (_mm512_sll_epi16(lo, sh), _mm512_sll_epi16(hi, sh));
                        }
                        if neg {
                            acc16[2 * r] = _mm512_sub_epi16(acc16[2 * r], lo);
                            acc16[2 * r + 1] = _mm512_sub_epi16(acc16[2 * r + 1], hi);
                        } else {
                            acc16[2 * r] = _mm512_add_epi16(acc16[2 * r], lo);
                            acc16[2 * r + 1] = _mm512_add_epi16(acc16[2 * r + 1], hi);
                        }
                        *g = z;
                    }
                    in_group = 0;
                }
            }
            if (rt + 1) % sum.tiles == 0 || rt + 1 == rows.row_tiles {
                widen(&mut acc16, out, rt < sum.tiles, sum.signed);
            }
        }
        ov_sum = _mm512_add_epi64(ov_sum, _mm512_sad_epu8(ov, z));
        over + _mm512_reduce_add_epi64(ov_sum) as u64
    }

    /// `out[c] += acc[c]` (`out[c] = acc[c]` when `first`) for the block's 512 columns (16
    /// bits each in `acc`, signed when `signed`); `acc` zeroed.
    #[target_feature(enable = "avx512f,avx512bw")]
    #[inline]
    fn widen(acc: &mut [__m512i; 16], out: &mut [i32], first: bool, signed: bool) {
        for (a, o) in acc.iter_mut().zip(out.chunks_exact_mut(32)) {
            let (a_lo, a_hi) = (_mm512_castsi512_si256(*a), _mm512_extracti64x4_epi64::<1>(*a));
            let (mut lo, mut hi) = match signed {
                false => (_mm512_cvtepu16_epi32(a_lo), _mm512_cvtepu16_epi32(a_hi)),
                true => (_mm512_cvtepi16_epi32(a_lo), _mm512_cvtepi16_epi32(a_hi)),
            };
            let p = o.as_mut_ptr();
            // SAFETY: `o` holds 32 i32.
            unsafe {
                if !first {
                    lo = _mm512_add_epi32(lo, _mm512_loadu_si512(p as *const _));
                    hi = _mm512_add_epi32(hi, _mm512_loadu_si512(p.add(16) as *const _));
                }
                _mm512_storeu_si512(p as *mut _, lo);
                _mm512_storeu_si512(p.add(16) as *mut _, hi);
            }
            *a = _mm512_setzero_si512();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transpose64_swaps_rows_and_columns() {
        let mut m = [0u64; 64];
        let mut s = 0x9E37_79B9_7F4A_7C15u64;
        for v in m.iter_mut() {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            *v = s;
        }
        let orig = m;
        transpose64(&mut m);
        for (i, row) in orig.iter().enumerate() {
            for (j, col) in m.iter().enumerate() {
                assert_eq!((col >> i) & 1, (row >> j) & 1, "bit {j} of row {i}");
            }
        }
    }

    #[test]
    fn stored_bits_are_a_permutation() {
        let mut seen = [false; BLOCK];
        for c in 0..BLOCK {
            let b = stored_bit(c);
            assert!(!seen[b], "column {c} shares bit {b}");
            seen[b] = true;
        }
    }

    #[test]
    fn rows_hold_the_columns_cells() {
        // 2 row tiles of 100 rows (two words), 700 columns (a partial second block).
        let (tile_rows, row_tiles, ncols, words) = (100, 2, 700, 2);
        let mut planes = vec![0u64; row_tiles * ncols * words];
        let cell = |rt: usize, r: usize, c: usize| (rt * 7919 + r * 131 + c * 17).is_multiple_of(5);
        for rt in 0..row_tiles {
            for c in 0..ncols {
                for r in 0..tile_rows {
                    if cell(rt, r, c) {
                        planes[(rt * ncols + c) * words + r / 64] |= 1 << (r % 64);
                    }
                }
            }
        }
        let rows = RowBits::from_columns(&planes, tile_rows, row_tiles, (ncols, 7), words);
        for rt in 0..row_tiles {
            for r in 0..tile_rows {
                for c in 0..ncols {
                    assert_eq!(rows.cell(rt, r, c), cell(rt, r, c), "tile {rt} row {r} col {c}");
                }
            }
        }
    }

    #[test]
    fn byte_groups_never_overflow_a_byte() {
        assert_eq!(byte_group(15), 4);
        assert_eq!(byte_group(17), 4);
        assert_eq!(byte_group(18), 3);
        assert_eq!(byte_group(1), 8);
        assert_eq!(byte_group(0), 8);
        assert_eq!(byte_group(255), 1);
        for l in 0..=255u8 {
            let k = byte_group(l);
            assert!(u32::from(l) * ((1 << k) - 1) <= 255, "level {l}, {k} planes");
        }
    }

    #[cfg(target_arch = "x86_64")]
    #[test]
    fn blocks_count_the_driven_rows_of_each_column() {
        if !available() {
            eprintln!("no AVX-512 VBMI and GFNI here: the row kernel is not run");
            return;
        }
        // 128-row tiles, 600 columns (a partial second block), six cell columns an output.
        // Levels capped at 15 sum four planes in a byte and every tile in 16 bits; capped at
        // 127, one plane a byte and two tiles in 16 bits, so the third tile widens again. Five
        // tiles of planes driving every row at threshold 0 saturate in every read: 320 reads
        // a byte lane counts.
        let (tile_rows, ncols, words, cpw) = (128, 600, 2, 6);
        let cell = |rt: usize, r: usize, c: usize| (r * 31 + c * 7 + r * c + rt).is_multiple_of(3);
        // Planes drive 0, 1, 2, 3, 64, 127 and 128 rows and a pseudo-random set.
        let sets: Vec<Vec<u8>> = vec![
            vec![],
            vec![5],
            vec![0, 127],
            vec![1, 64, 100],
            (0..64).map(|r| 2 * r).collect(),
            (0..127).collect(),
            (0..128).collect(),
            (0..128).filter(|r| (r * 37) % 11 < 4).collect(),
        ];
        let a_n = sets.len();
        // Signed inputs: the top plane drives every row and the others few, so sums are negative;
        // levels capped at 127 fit two tiles in 16 bits, capped at 40 six, and 13 tiles would
        // pass -32768 without widening in between.
        let configs = [
            (1, 15u8, 9, false),
            (3, 15, 9, false),
            (3, 127, 9, false),
            (5, 15, 0, false),
            (3, 15, 9, true),
            (3, 127, 9, true),
            (13, 40, 9, true),
        ];
        for (row_tiles, cap, thr, signed) in configs {
            let mut planes = vec![0u64; row_tiles * ncols * words];
            for (rt, c, r) in (0..row_tiles).flat_map(|rt| {
                (0..ncols).flat_map(move |c| (0..tile_rows).map(move |r| (rt, c, r)))
            }) {
                if cell(rt, r, c) {
                    planes[(rt * ncols + c) * words + r / 64] |= 1 << (r % 64);
                }
            }
            let rows = RowBits::from_columns(&planes, tile_rows, row_tiles, (ncols, cpw), words);
            let table: Vec<u8> = (0..128u8).map(|n| n.min(cap)).collect();
            // Two samples; plane `t` of sample `s` and tile `rt` drives set `(t + s + rt) % 8`.
            let set = |s: usize, rt: usize, t: usize| match (thr, signed) {
                (0, _) => &sets[6],
                (_, true) if t == a_n - 1 => &sets[6],
                (_, true) => &sets[(t + s + rt) % 4],
                _ => &sets[(t + s + rt) % a_n],
            };
            let mut batch = Batch::default();
            for (s, rt, t) in (0..2)
                .flat_map(|s| (0..row_tiles).flat_map(move |rt| (0..a_n).map(move |t| (s, rt, t))))
            {
                let mut words = [0u64; 2];
                for r in set(s, rt, t) {
                    words[*r as usize / 64] |= 1 << (r % 64);
                }
                batch.push(&rows, &words, &table, thr);
            }
            let mut over = [0u64; 2];
            let mut cols = vec![vec![0i64; ncols]; 2];
            for (s, (col, over)) in cols.iter_mut().zip(over.iter_mut()).enumerate() {
                for (c, v) in col.iter_mut().enumerate() {
                    for (rt, t) in (0..row_tiles).flat_map(|rt| (0..a_n).map(move |t| (rt, t))) {
                        let n = set(s, rt, t).iter().filter(|r| cell(rt, **r as usize, c)).count();
                        *over += u64::from(n as i64 > thr);
                        let level = i64::from(n.min(127).min(cap as usize) as u8) << t;
                        *v += if signed && t == a_n - 1 { -level } else { level };
                    }
                }
            }
            for polarities in [1, 2] {
                let mut accs = vec![vec![0i64; ncols / cpw]; 2];
                let mut overs = vec![0u64; 2];
                // SAFETY: checked `available`; 8 planes; levels up to `cap`; built for `rows`.
                let inputs = (a_n, signed);
                unsafe { run(&rows, &mut batch, inputs, cap, polarities, &mut accs, &mut overs) };
                for (s, acc) in accs.iter().enumerate() {
                    for (j, got) in acc.iter().enumerate() {
                        let want: i64 = (0..cpw)
                            .map(|k| {
                                let v = cols[s][j * cpw + k] << (k / polarities);
                                if polarities == 2 && k % 2 == 1 {
                                    -v
                                } else {
                                    v
                                }
                            })
                            .sum();
                        let at =
                            format!("{row_tiles} tiles, cap {cap}, signed {signed}, output {j}");
                        assert_eq!(*got, want, "{at}, {polarities} polarities");
                    }
                }
                assert_eq!(overs, over, "{row_tiles} tiles, cap {cap}");
            }
        }
    }
}
