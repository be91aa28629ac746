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
//! Saturated reads (popcount above the plane's threshold `thr`) are counted without comparing
//! bytes: the carry-save counters start from `127 - thr`, so bit 7 of the count is set exactly
//! for them (one `VPOPCNTQ` per plane), and the table is read rotated by `thr + 1` (its index
//! is the count's low 7 bits). Planes driving all 128 rows of a tile, whose counts need bit 7,
//! start from 0 and compare bytes.
//!
//! Most hidden-layer planes are counted by nibbles instead (every one at h = 1024): when the
//! threshold is at most 15 and every saturated read gives the same level, the low four bits of
//! `127 - thr + popcount` and its bit 7 tell every read apart; so do a popcount's low four
//! bits and a carry out of them when at most 31 rows cannot saturate. Those planes keep four
//! counter bits and a sticky flag (no carries pend, none ripple at the end). When a nibble
//! stands for the flagged reads (nine planes in ten at h = 1024), or no flag is set, they
//! transpose four bit slices into nibble pairs (half the unpacks and affine transforms of
//! bytes) and read a 16-entry table with `VPERMB`; otherwise nibble and flag are transposed to
//! bytes and read by `VPERMI2B` ([`Nibble`]). Planes that do not qualify (full tiles,
//! thresholds above 15, saturated reads of more than one level, more than 31 rows that cannot
//! saturate) are counted and read by bytes. Either way a plane's levels are
//! added to its group's byte sums from a table shifted by the plane's place in the group: one
//! add a register.
//!
//! In wide layers two nibble planes whose counters start from the same value are paired: the
//! rows both drive (a quarter of the pair's, with activation bits near independent) are counted
//! once, and both planes go on from those counters ([`Batch::push_tile`]): 17% fewer row
//! additions in the hidden layer at h = 1024. Planes of one byte group that drive the same
//! rows read the same levels, so only the highest is counted and read, its table multiplied by
//! their weights' sum: inputs with few distinct codes repeat bit patterns (8x8 digits' 17
//! levels scaled to 8 bits leave their low four planes alike). A tile's planes are listed from
//! the top with where each byte group ends, so the kernel's loop over them holds no group
//! arithmetic.
//!
//! The batch's samples take each block's row tiles in turn, eight at a time, so the tiles' rows
//! (8 KB each) are read from memory once for all of them; each sample's 16-bit sums stay in
//! registers over its eight tiles and wait in memory between visits.
//!
//! Why the columns of a block are stored permuted: the transposes leave the levels of 8-column
//! group `m` of the register (bytes `m` of the bit-sliced counters) in level register `r` and
//! qword `w = 2 l + q` (128-bit lane `l`) where `m = 16 l + 4 (r / 2) + 2 q + r % 2`
//! ([`level_group`]: a nibble pair holds groups `m` and `m + 1`). The 16-bit sums take a
//! register's even bytes and its odd bytes apart (a mask and a shift, no shuffle), so level
//! register `r`'s byte `k` holds column `64 r + k / 2` for even `k` and `64 r + 32 + k / 2` for
//! odd `k`: the two 16-bit registers then hold columns `64 r ..` and `64 r + 32 ..` in order.

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
    let (r, j) = (c / 64, c % 64);
    // Level register `r` holds columns `64 r + j` at byte `k`: the first 32 at the even
    // bytes, the others at the odd ones (the 16-bit sums split them so).
    let k = if j < 32 { 2 * j } else { 2 * (j - 32) + 1 };
    8 * level_group(r, k / 8) + k % 8
}

/// The stored group of eight columns (bits `8 m ..` of a row register) whose levels the
/// transposes leave in level register `r`'s qword `w` (`w = 2 l + q`: 128-bit lane `l`,
/// qword `q`): `16 l + 4 (r / 2) + 2 q + r % 2`. The nibble transpose puts groups `m` and
/// `m + 1` (`m` even) in one qword; the byte transpose is unpacked to match.
const fn level_group(r: usize, w: usize) -> usize {
    16 * (w / 2) + 4 * (r / 2) + 2 * (w % 2) + r % 2
}

/// Bits `0..32` of `x` to the even bits, bits `32..64` to the odd ones (the order
/// [`stored_bit`] gives a register's 64 columns).
fn interleave(x: u64) -> u64 {
    let spread = |mut v: u64| {
        v &= 0xFFFF_FFFF;
        v = (v | (v << 16)) & 0x0000_FFFF_0000_FFFF;
        v = (v | (v << 8)) & 0x00FF_00FF_00FF_00FF;
        v = (v | (v << 4)) & 0x0F0F_0F0F_0F0F_0F0F;
        v = (v | (v << 2)) & 0x3333_3333_3333_3333;
        (v | (v << 1)) & 0x5555_5555_5555_5555
    };
    spread(x) | (spread(x >> 32) << 1)
}

impl RowBits {
    /// The row layout of column-major 1-bit planes `planes[(rt * ncols + c) * words + w]`
    /// (bit `i` of word `w` is row `64 w + i` of the tile), `words <= 2`, `cpw` columns per
    /// output. 64 columns by 64 rows at a time: a bit-matrix transpose, then each row's 64
    /// columns interleaved and put as eight 8-column pieces at their stored places.
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
                        // Byte `w` of register `reg`'s interleaved columns is stored group
                        // `level_group(reg, w)`.
                        let row = interleave(*row);
                        for w in 0..8 {
                            let piece = (row >> (8 * w)) & 0xFF;
                            let m = level_group(reg, w);
                            bits[at].0[m / 8] |= piece << (8 * (m % 8));
                        }
                    }
                }
            }
        }
        RowBits { tile_rows, row_tiles, ncols, cpw, blocks, bits }
    }

    /// Whether [`Batch::push_tile`] should pair planes: a pair saves row additions in every
    /// block of 512 columns and costs its bookkeeping once per sample (16 blocks and more: on
    /// the scale benchmark's h = 1024, 28 blocks, 1.04x faster; at h = 256, 7 blocks, no
    /// faster).
    pub fn pays_to_pair(&self) -> bool {
        self.blocks >= 16
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
    fn row_offset(&self, r: usize) -> u16 {
        (r * 8) as u16
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
    /// Where its rows' offsets start in the batch, and how many there are padded with the
    /// zero row (to a multiple of 4 for nibble readings, else of 8).
    start: u32,
    len: u32,
    /// Rows driven: its tables in the layer's [`Readings`].
    driven: u32,
    /// How its driven count is read (a copy: the kernel reads it every plane).
    how: How,
    /// A pair's rows counted once ([`Batch::push_tile`]): the leader's first `shared` offsets
    /// are rows its follower drives too, whose counters are then kept for plane `fork_to`;
    /// a follower (`forked`) starts from them instead of from `how.off`, its offsets only the
    /// rows the leader does not share.
    shared: u16,
    fork_to: u8,
    forked: bool,
    /// Its place `t` among the sample's planes.
    t: u8,
    /// Its levels' weight in its byte group: `2^(t - lowest)`, or that summed over the planes
    /// it is read for ([`Batch::push_tile`] merges planes driving the same rows): its table
    /// is shifted by `shift`, or multiplied by `weight` when `shift` is `MULTIPLY`.
    weight: u8,
    shift: u8,
    /// The planes it is read for (saturated reads count once for each).
    planes: u8,
    /// The last plane of its byte group: the group's lowest plane `t` (the sums weigh `2^t`)
    /// and whether it is a signed input's negative top plane.
    ends: Option<(u8, bool)>,
}

/// [`PlaneRead::shift`] of a plane whose table is multiplied by its weight.
const MULTIPLY: u8 = u8::MAX;

/// How planes driving a given number of rows are read, fixed by the layer's ADC transfer for
/// that count and its saturation threshold.
#[derive(Clone, Copy, Debug)]
struct How {
    /// What the counters start from: `127 - thr` when some but not all reads can saturate
    /// and fewer than 128 rows are driven (then bit 7 of `off + popcount` marks the saturated
    /// ones, and the byte levels are the table from entry `thr + 1`), else 0.
    off: u8,
    /// Popcounts above this are saturated reads (`i64::MAX`: not counted; `< 0`: all are).
    thr: i64,
    /// Read by [`Nibble`]s instead of bytes (`None`: bytes).
    nibble: Option<Nibble>,
}

/// A layer's readings for every driven count `d` in `0..=tile_rows`: how, and the levels a
/// read takes. A layer's planes share a tile's `rows + 1` of them, so they are built once with
/// its transfer tables (checking a table for nibbles is a pass over it), not per batch.
#[derive(Clone, Debug)]
pub struct Readings {
    how: Vec<How>,
    /// The 128 byte levels a read indexes by `(off + popcount) % 128`; a nibble reading's 16
    /// are entries `at..at + 16`.
    levels: Vec<[u8; 128]>,
    /// A nibble reading's levels by `nibble + 64 * flag` (the [`Nibble`] doc): read, by bytes,
    /// when some column's flag is set and no nibble can stand for the flagged reads.
    flagged: Vec<[u8; 128]>,
    /// A nibble reading's 16 levels shifted left by `k` (`k < MAX_PLANES`), four times over
    /// (the index bits `VPERMB` reads), at `MAX_PLANES * d + k`: one load where a broadcast
    /// and a shift per plane were.
    nibbles: Vec<Line>,
}

impl Readings {
    /// The readings of ADC byte tables `tables` (per driven count `d`, 256 bytes from
    /// `256 d`: the 128 levels by popcount, twice) with saturation thresholds `thr(d)`.
    pub fn new(tables: &[u8], tile_rows: usize, thr: impl Fn(usize) -> i64) -> Readings {
        assert!(tables.len() >= (tile_rows + 1) * 256, "256 table bytes a driven count");
        let mut r = Readings {
            how: Vec::new(),
            levels: Vec::new(),
            flagged: Vec::new(),
            nibbles: Vec::new(),
        };
        for d in 0..=tile_rows {
            let (table, thr) = (&tables[256 * d..256 * (d + 1)], thr(d));
            let (from, off) = match thr {
                0..=126 if d < 128 && thr < d as i64 => {
                    (&table[thr as usize + 1..], (127 - thr) as u8)
                }
                _ => (table, 0),
            };
            let nibble = nibble(table, d, thr, off);
            r.how.push(How { off, thr, nibble });
            r.levels.push(std::array::from_fn(|i| from[i]));
            let at = usize::from(nibble.map_or(0, |n| n.at));
            // Shifts a plane's place in its byte group can take keep every level in its byte;
            // the others are never read (their high bits dropped).
            r.nibbles.extend((0..MAX_PLANES).map(|k| {
                let bytes: [u8; 64] =
                    std::array::from_fn(|i| from[at + i % 16].wrapping_shl(k as u32));
                Line(std::array::from_fn(|w| {
                    u64::from_le_bytes(bytes[8 * w..8 * w + 8].try_into().unwrap())
                }))
            }));
            // Unflagged: the nibble's level. Flagged: the saturated level (`off > 0`), or
            // popcount `16 + nibble` (`off = 0`).
            r.flagged.push(std::array::from_fn(|i| match (i >= 64, off) {
                (false, _) => from[at + i % 16],
                (true, 0) => from[16 + i % 16],
                (true, _) => from[0],
            }));
        }
        r
    }
}

/// How a plane is read from four counter bits and a flag ([`x86::count_nibbles`]): the low four
/// bits of `off + popcount` (the nibble) and whether a carry left them (the flag).
///
/// - With `off = 127 - thr` and `thr <= 15` the unsaturated popcounts `0..=thr` are the
///   nibbles `15 - thr ..= 15`, their levels entries `at..at + 16` of the 128; the flag marks
///   the saturated reads, which must all read one level.
/// - With `off = 0` (at most 31 rows driven, none saturating) the popcount is the nibble plus
///   16 times the flag, the levels entries `0..16` and `16..32`.
///
/// A plane with no flag set is read by its nibbles: a 16-entry table (`VPERMB`). With flags,
/// a saturated read is first set to nibble `force` when one stands for the saturated level:
/// 0 when the unsaturated nibbles leave it free (`thr <= 14`), else 15, which popcount `thr`
/// shares when it reads the saturated level too. Otherwise the nibbles and flags are read
/// by bytes, `nibble + 64 * flag` indexing [`Readings`]' `flagged` levels: five bits hold
/// 17 levels, and up to 31 rows that cannot saturate, where four hold 16.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Nibble {
    at: u8,
    force: Option<u8>,
}

/// The [`Nibble`] reading of a plane driving `driven` rows with threshold `thr`, whose table
/// `table` (the 256 bytes [`Readings::new`] takes) the reads index from `off`, when one is
/// exact.
fn nibble(table: &[u8], driven: usize, thr: i64, off: u8) -> Option<Nibble> {
    if off == 0 {
        return (driven <= 31 && thr >= driven as i64).then_some(Nibble { at: 0, force: None });
    }
    // `off = 127 - thr`: the table is read from `thr + 1`, its entries `112..128` the nibbles'.
    let thr = usize::try_from(thr).ok().filter(|t| *t <= 15 && *t < driven && driven < 128)?;
    let sat = table[thr + 1];
    if !table[thr + 1..=driven].iter().all(|v| *v == sat) {
        return None;
    }
    let force = if thr <= 14 { 0 } else { 15 };
    let force = (table[thr + 1 + 112 + force] == sat).then_some(force as u8);
    Some(Nibble { at: 112, force })
}

/// A batch's input side: per (sample, row tile) the planes to read, from the top, and the
/// driven rows' offsets in their tile.
#[derive(Default, Debug)]
pub struct Batch {
    /// The planes to read, each (sample, row tile)'s from the top, those of `k = s *
    /// row_tiles + rt` at `tiles[k]..tiles[k + 1]`.
    planes: Vec<PlaneRead>,
    tiles: Vec<u32>,
    offs: Vec<u16>,
    /// [`run`]'s column values of a block for every sample, and its outputs while they fit
    /// `i32` (kept to reuse their allocations).
    acc: Vec<i32>,
    out32: Vec<i32>,
    /// Every sample's 16-bit column sums between row tiles (16 registers a sample).
    state: Vec<Line>,
}

impl Batch {
    /// Empties the batch, keeping its allocations.
    pub fn clear(&mut self) {
        self.planes.clear();
        self.tiles.clear();
        self.offs.clear();
    }

    /// Appends one sample's planes of one row tile: plane `t` drives the rows of
    /// `planes[t * words..(t + 1) * words]` (bit `i` of word `w` is row `64 w + i`), read as
    /// `readings` reads its driven count.
    ///
    /// With `pairs`, two nibble planes whose counters start alike (from `off`'s low four bits)
    /// share the rows both drive: those are counted once, into counters both planes go on
    /// from (the higher plane, counted first, keeps them for the lower). With activations'
    /// bits near independent that is a quarter of a pair's rows. From the top, each plane
    /// pairs with the nearest higher one left unpaired whose counters start alike; a pair
    /// shares a multiple of four rows (the nibble counters' groups: none pends a carry, so
    /// either plane can go on from there), and at least eight (fewer save less than the
    /// pair's bookkeeping costs).
    ///
    /// Planes of one byte group (as `sum` sums them) that drive the same rows read the same
    /// levels: the highest is counted and read once, weighed by their weights' sum (input
    /// codes with few values repeat bit patterns: 8x8 digits' 17 levels scaled to 8 bits leave
    /// their low four planes alike).
    #[cfg(target_arch = "x86_64")]
    pub fn push_tile(
        &mut self,
        rows: &RowBits,
        (planes, words): (&[u64], usize),
        readings: &Readings,
        (sum, pairs): (Sum, bool),
    ) {
        // SAFETY: `available` holds wherever a `RowBits` is used.
        unsafe { self.push_tile_x86(rows, (planes, words), readings, (sum, pairs)) }
    }

    /// [`Batch::push_tile`] compiled for the CPU [`x86::row_offsets`] needs (the plain
    /// x86-64 build also counts bits by shifts and masks, not `POPCNT`).
    ///
    /// # Safety
    /// [`available`] holds.
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx512f,avx512bw,avx512vbmi2,popcnt")]
    unsafe fn push_tile_x86(
        &mut self,
        rows: &RowBits,
        (planes, words): (&[u64], usize),
        readings: &Readings,
        (sum, pairs): (Sum, bool),
    ) {
        let a_n = planes.len() / words;
        assert!(words <= 2 && a_n <= MAX_PLANES && planes.len() == a_n * words);
        let mut p = [[0u64; 2]; MAX_PLANES];
        for (t, ws) in planes.chunks_exact(words).enumerate() {
            p[t][..words].copy_from_slice(ws);
        }
        let ones = |w: &[u64; 2]| (w[0].count_ones() + w[1].count_ones()) as usize;
        let driven: [usize; MAX_PLANES] = std::array::from_fn(|t| ones(&p[t]));
        // Each plane's weight in its group and the planes it is read for (0: merged into the
        // nearest higher plane of its group driving the same rows, read by nibbles: one table,
        // no full-tile compares).
        let mut weight = [0u8; MAX_PLANES];
        let mut reads = [1u8; MAX_PLANES];
        for t in (0..a_n).rev() {
            let lowest = sum.lowest(t);
            weight[t] = 1 << (t - lowest);
            let nibble = readings.how[driven[t]].nibble.is_some();
            let same = (t + 1..a_n)
                .take_while(|u| sum.lowest(*u) == lowest)
                .find(|u| nibble && reads[*u] > 0 && p[*u] == p[t]);
            if let Some(u) = same {
                weight[u] += weight[t];
                (reads[u], reads[t]) = (reads[u] + 1, 0);
            }
        }
        // Per plane: the rows its pair shares, the follower it leads, and whether it follows.
        let mut share = [[0u64; 2]; MAX_PLANES];
        let mut leads = [None::<u8>; MAX_PLANES];
        let mut follows = [false; MAX_PLANES];
        // From the top, each nibble plane pairs with the nearest higher one left unpaired whose
        // counters start alike (the leader: `tile` counts planes from the top), else waits.
        let mut waiting = [(0u8, 0usize); MAX_PLANES];
        let mut n = 0;
        for t in (0..a_n).rev().filter(|t| pairs && reads[*t] > 0) {
            let how = readings.how[driven[t]];
            if how.nibble.is_none() {
                continue;
            }
            // Nibble counters keep `off`'s low four bits (0 for both `off = 0` and 112).
            let from = how.off % 16;
            let Some(k) = waiting[..n].iter().position(|(f, _)| *f == from) else {
                waiting[n] = (from, t);
                n += 1;
                continue;
            };
            let a = waiting[k].1;
            let mut both = [p[a][0] & p[t][0], p[a][1] & p[t][1]];
            let all = ones(&both);
            if all < 8 {
                // The lower plane waits instead: it may share more with the next.
                waiting[k].1 = t;
                continue;
            }
            // The last rows past a multiple of four are counted by each plane.
            for _ in 0..all % 4 {
                let w = usize::from(both[1] != 0);
                both[w] &= !(1u64 << (63 - both[w].leading_zeros()));
            }
            (share[a], share[t]) = (both, both);
            (leads[a], follows[t]) = (Some(t as u8), true);
            n -= 1;
            waiting[k] = waiting[n];
        }
        let zero = rows.row_offset(rows.tile_rows);
        self.offs.reserve(a_n * (2 * 64 * words + 16));
        if self.tiles.is_empty() {
            self.tiles.push(0);
        }
        for t in (0..a_n).rev().filter(|t| reads[*t] > 0) {
            let (d, how) = (driven[t], readings.how[driven[t]]);
            let lowest = sum.lowest(t);
            let start = self.offs.len();
            let rest = [p[t][0] & !share[t][0], p[t][1] & !share[t][1]];
            // SAFETY: `available` holds wherever a `RowBits` is used; room reserved for every
            // plane's two lists and the 8 offsets `zero` after each.
            let (shared, own) = unsafe {
                let at = self.offs.as_mut_ptr().add(start);
                let shared = match leads[t] {
                    Some(_) => x86::row_offsets(&share[t][..words], zero, at),
                    None => 0,
                };
                (shared, x86::row_offsets(&rest[..words], zero, at.add(shared)))
            };
            // Nibble counters take a last group of four rows.
            let len = shared
                + match how.nibble {
                    Some(_) => own.next_multiple_of(4),
                    None => own.next_multiple_of(8),
                };
            // SAFETY: `row_offsets` wrote `shared + own` offsets and 8 more (`zero`).
            unsafe { self.offs.set_len(start + len) };
            self.planes.push(PlaneRead {
                start: start as u32,
                len: len as u32,
                driven: d as u32,
                how,
                shared: shared as u16,
                fork_to: leads[t].unwrap_or(0),
                forked: follows[t],
                t: t as u8,
                weight: weight[t],
                shift: match weight[t].is_power_of_two() {
                    true => weight[t].trailing_zeros() as u8,
                    false => MULTIPLY,
                },
                planes: reads[t],
                // The group ends here when no lower plane of it is read.
                ends: (!(0..t).any(|u| reads[u] > 0 && sum.lowest(u) == lowest))
                    .then(|| (lowest as u8, sum.signed && t + 1 == a_n)),
            });
        }
        self.tiles.push(self.planes.len() as u32);
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
            && is_x86_feature_detected!("avx512vbmi2")
            && is_x86_feature_detected!("avx512vpopcntdq")
            && is_x86_feature_detected!("gfni")
            && is_x86_feature_detected!("popcnt")
    }
    #[cfg(not(target_arch = "x86_64"))]
    false
}

/// Every sample's outputs `acc[j] += sum_k sign_k * (col_k << shift_k)` over output `j`'s cell
/// columns `k` (`shift_k = k / polarities`; with two polarities odd `k` are negative), where a
/// column's value is `sum_t 2^t * level_t` summed over row tiles; returns each sample's
/// saturated reads in `overs`. Each (sample, row tile)'s planes in `batch`, summed as `sum`
/// says (a signed input's top plane weighing `-2^(a_n - 1)`). A block's row tiles are taken
/// one at a time, every sample's planes each, so the tile's rows (8 KB) stay in the
/// first-level cache for the batch.
///
/// # Safety
/// [`available`] holds; every plane's table holds levels of at most the `max_level` `sum` was
/// made with; `batch` was built for `rows` with `sum`.
#[cfg(target_arch = "x86_64")]
pub unsafe fn run(
    rows: &RowBits,
    (batch, readings): (&mut Batch, &Readings),
    sum: Sum,
    polarities: usize,
    accs: &mut [Vec<i64>],
    overs: &mut [u64],
) {
    // One list of planes for each (sample, row tile): `tiles` holds where each starts, and 0.
    assert!(batch.tiles.len().saturating_sub(1) == accs.len() * rows.row_tiles);
    let n_out = rows.ncols / rows.cpw;
    let tile_max = sum.tile_max;
    let samples = accs.len();
    let mut acc32 = std::mem::take(&mut batch.acc);
    acc32.resize(samples * BLOCK, 0);
    let mut state = std::mem::take(&mut batch.state);
    state.resize(samples * 16, Line::default());
    // Outputs summed in `i32` (twice the lanes of `i64`) when no sum of shifted columns can
    // overflow it, then added to `accs`.
    let col_max = u64::from(tile_max) * rows.row_tiles as u64;
    let out_max: u64 = (0..rows.cpw).map(|k| col_max << (k / polarities)).sum();
    let narrow = out_max <= i32::MAX as u64;
    let mut out32 = std::mem::take(&mut batch.out32);
    out32.clear();
    out32.resize(if narrow { samples * n_out } else { 0 }, 0);
    for b in 0..rows.blocks {
        // SAFETY: as this function's caller promises; `b < blocks`; room for every sample.
        let inputs = (&*batch, readings);
        unsafe { x86::block(rows, b, inputs, sum, &mut acc32, &mut state, overs) };
        for (s, (out, acc)) in accs.iter_mut().zip(acc32.chunks_exact(BLOCK)).enumerate() {
            // Runs of stored columns of one cell column `k`: outputs `j0..` in order.
            let (mut c, c1) = (b * BLOCK, ((b + 1) * BLOCK).min(rows.ncols));
            while c < c1 {
                let (k, j0) = (c / n_out, c % n_out);
                let n = (n_out - j0).min(c1 - c);
                let vals = &acc[c - b * BLOCK..c - b * BLOCK + n];
                let shift = (k / polarities) as u32;
                let neg = polarities == 2 && k % 2 == 1;
                // SAFETY: `available` holds (AVX-512F).
                unsafe {
                    match narrow {
                        true => x86::shift_add(vals, shift, neg, &mut out32[s * n_out + j0..][..n]),
                        false => x86::shift_add(vals, shift, neg, &mut out[j0..j0 + n]),
                    }
                }
                c += n;
            }
        }
    }
    if narrow {
        for (out, o32) in accs.iter_mut().zip(out32.chunks_exact(n_out.max(1))) {
            out.iter_mut().zip(o32).for_each(|(o, v)| *o += i64::from(*v));
        }
    }
    batch.acc = acc32;
    batch.out32 = out32;
    batch.state = state;
}

/// How the row kernel sums levels: the planes of a byte group (as many as [`byte_group`] allows,
/// from the top; a signed input's negative top plane alone) by Horner's rule in bytes, `tiles`
/// row tiles in 16 bits; `signed`: the 16-bit sums are signed. Made once for a layer's batch,
/// for [`Batch::push_tile`] and [`run`] alike.
#[derive(Clone, Copy, Debug)]
pub struct Sum {
    tiles: usize,
    signed: bool,
    /// A row tile's largest column value.
    tile_max: u32,
    /// The lowest plane of each plane's byte group.
    low: [u8; MAX_PLANES],
}

impl Sum {
    /// How `a_n` planes (the top one negative when `signed`) whose levels are at most
    /// `max_level` are summed.
    pub fn new(a_n: usize, signed: bool, max_level: u8) -> Sum {
        // A row tile's column value is at most `max_level * (2^a_n - 1)`, a 16-bit number
        // (signed: `max_level * 2^(a_n - 1)` in magnitude, a signed 16-bit one); this many
        // tiles' sum still fits.
        let (tile_max, room) = match signed {
            false => (u32::from(max_level) * ((1 << a_n) - 1), 65535),
            true => (u32::from(max_level) << (a_n - 1), 32767),
        };
        let (tiles, group) = ((room / tile_max.max(1)) as usize, byte_group(max_level));
        // From the top: a signed input's top plane alone, then `group` planes at a time.
        let top = a_n.saturating_sub(1 + usize::from(signed));
        let g = group as usize;
        let low = std::array::from_fn(|t| match t <= top {
            true => (top - (top - t) / g * g).saturating_sub(g - 1) as u8,
            false => t as u8,
        });
        Sum { tiles, signed, tile_max, low }
    }

    /// The lowest plane of plane `t`'s byte group.
    fn lowest(&self, t: usize) -> usize {
        usize::from(self.low[t])
    }
}

#[cfg(target_arch = "x86_64")]
mod x86 {
    use super::{Batch, Line, PlaneRead, Readings, RowBits, Sum};
    use std::arch::x86_64::*;
    use std::mem::MaybeUninit;

    /// `SHIFTS[k]`: the 128-bit shift count `k` that `VPSLLW` reads (planes are at most 8).
    static SHIFTS: [[u64; 2]; 8] = [[0, 0], [1, 0], [2, 0], [3, 0], [4, 0], [5, 0], [6, 0], [7, 0]];

    /// `OFF_BITS[v][k]`: bit `k` of `v` as a lane mask (0 or all ones).
    static OFF_BITS: [[i64; 8]; 128] = {
        let mut t = [[0i64; 8]; 128];
        let mut v = 0;
        while v < 128 {
            let mut k = 0;
            while k < 8 {
                t[v][k] = -(((v >> k) & 1) as i64);
                k += 1;
            }
            v += 1;
        }
        t
    };

    /// `outs[j] += (vals[j] << shift)`, negated when `neg`: one run of a cell column's
    /// stored columns into their outputs (compiled for AVX-512: 16 outputs a step in `i32`,
    /// 8 in `i64`).
    #[target_feature(enable = "avx512f")]
    pub(super) fn shift_add<T>(vals: &[i32], shift: u32, neg: bool, outs: &mut [T])
    where
        T: Copy + From<i32> + std::ops::Shl<u32, Output = T> + std::ops::AddAssign,
        T: std::ops::SubAssign,
    {
        if neg {
            outs.iter_mut().zip(vals).for_each(|(o, v)| *o -= T::from(*v) << shift);
        } else {
            outs.iter_mut().zip(vals).for_each(|(o, v)| *o += T::from(*v) << shift);
        }
    }

    /// The offsets (`8 r`, in words) of the rows `words` drives, written from `dst` in row
    /// order, and eight offsets `zero` after them; returns how many rows. Thirty-two rows a
    /// step: a compress of their offsets by the word's bits.
    ///
    /// # Safety
    /// `dst` has room for `64 * words.len() + 8` offsets.
    #[target_feature(enable = "avx512f,avx512bw,avx512vbmi2,popcnt")]
    #[inline]
    pub(super) unsafe fn row_offsets(words: &[u64], zero: u16, dst: *mut u16) -> usize {
        let lanes = _mm512_set_epi16(
            248, 240, 232, 224, 216, 208, 200, 192, 184, 176, 168, 160, 152, 144, 136, 128, 120,
            112, 104, 96, 88, 80, 72, 64, 56, 48, 40, 32, 24, 16, 8, 0,
        );
        let mut n = 0;
        for (w, word) in words.iter().enumerate() {
            for q in 0..2 {
                let m = (word >> (32 * q)) as u32;
                if m == 0 {
                    continue;
                }
                let at = _mm512_set1_epi16((8 * (64 * w + 32 * q)) as i16);
                let v = _mm512_maskz_compress_epi16(m, _mm512_add_epi16(lanes, at));
                // SAFETY: `n + 32 <= 64 * words.len()`, inside the caller's room.
                unsafe { _mm512_storeu_si512(dst.add(n) as *mut _, v) };
                n += m.count_ones() as usize;
            }
        }
        // SAFETY: `n + 8` is inside the caller's room.
        unsafe { _mm_storeu_si128(dst.add(n) as *mut _, _mm_set1_epi16(zero as i16)) };
        n
    }

    /// A full adder on 512 bit lanes: (sum, carry) of `a + b + c`.
    #[target_feature(enable = "avx512f")]
    #[inline]
    fn csa(a: __m512i, b: __m512i, c: __m512i) -> (__m512i, __m512i) {
        (_mm512_ternarylogic_epi64::<0x96>(a, b, c), _mm512_ternarylogic_epi64::<0xE8>(a, b, c))
    }

    /// Four rows (registers at `base + r[i]`) added to the ones and twos `l` by three full
    /// adders: the new ones and twos and the fours' carry. Each offset is its own scalar load
    /// (volatile, or the compiler reads the four as one word and takes it apart by shifts: more
    /// instructions in a loop bound by issuing them, about 1.02x slower at h = 1024).
    ///
    /// # Safety
    /// Every `base + offset` points at 64 readable bytes.
    #[target_feature(enable = "avx512f")]
    #[inline]
    unsafe fn add_four(base: *const u64, r: &[u16; 4], [l0, l1]: [__m512i; 2]) -> [__m512i; 3] {
        // SAFETY: as the caller promises.
        let at = |k: usize| unsafe {
            _mm512_loadu_si512(base.add(usize::from(std::ptr::read_volatile(&r[k]))) as *const _)
        };
        let (s, c0) = csa(l0, at(0), at(1));
        let (s, c1) = csa(s, at(2), at(3));
        let (t, c) = csa(l1, c0, c1);
        [s, t, c]
    }

    /// Eight rows (registers at `base + r[i]`) added to the ones, twos and fours `l` by seven
    /// full adders (two [`add_four`]s, their fours' carries added to the fours): the new ones,
    /// twos and fours and the eights' carry.
    ///
    /// # Safety
    /// Every `base + r[i]` points at 64 readable bytes.
    #[target_feature(enable = "avx512f")]
    #[inline]
    unsafe fn add_eight(
        base: *const u64,
        r: &[u16; 8],
        [l0, l1, l2]: [__m512i; 3],
    ) -> (__m512i, __m512i, __m512i, __m512i) {
        let (a, b) = r.split_at(4);
        // SAFETY: as the caller promises.
        let [s, t, c2] = unsafe { add_four(base, a.try_into().unwrap(), [l0, l1]) };
        // SAFETY: as the caller promises.
        let [s, t, c5] = unsafe { add_four(base, b.try_into().unwrap(), [s, t]) };
        let (f, c) = csa(l2, c2, c5);
        (s, t, f, c)
    }

    /// Bit `k` (`out[k]`) of `off` plus each column's count of set cells over the rows at
    /// `offs` (a multiple of 8 of them; row registers at `base + offs[i]`). Eight rows at a
    /// time go through a carry-save tree into the ones, twos and fours (seven full adders);
    /// its eights pend one per level above and two pending carries meet a level's bits in
    /// another full adder (a binary counter of the groups decides which): about two logic
    /// instructions a row.
    ///
    /// # Safety
    /// Every `base + offs[i]` points at 64 readable bytes.
    #[target_feature(enable = "avx512f")]
    #[inline]
    unsafe fn count_rows(base: *const u64, offs: &[u16], off: u8) -> [__m512i; 8] {
        let z = _mm512_setzero_si512();
        // Bit `k` of `off` in every lane (broadcasts from memory: loads, not vector work).
        let init = |k: usize| _mm512_set1_epi64(OFF_BITS[usize::from(off)][k]);
        let (mut l0, mut l1, mut l2, mut l3, mut l4, mut l5, mut l6, mut l7) =
            (init(0), init(1), init(2), init(3), init(4), init(5), init(6), init(7));
        let (mut p3, mut p4, mut p5, mut p6, mut p7) = (z, z, z, z, z);
        let groups = offs.len() / 8;
        for (i, r) in offs.as_chunks::<8>().0.iter().enumerate() {
            // SAFETY: as the caller promises.
            let mut c;
            (l0, l1, l2, c) = unsafe { add_eight(base, r, [l0, l1, l2]) };
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
        // At most 128 rows from 0, or at most 127 from at most 127: the count's top bit is
        // bit 7, and nothing carries out of it.
        l7 = _mm512_ternarylogic_epi64::<0x96>(l7, pend(7, p7), c);
        [l0, l1, l2, l3, s4, s5, s6, l7]
    }

    /// Nibble counters ([`count_nibbles`]) holding `off`'s low four bits, no flag set.
    #[target_feature(enable = "avx512f")]
    #[inline]
    pub(super) fn nibbles_from(off: u8) -> [__m512i; 5] {
        let init = |k: usize| _mm512_set1_epi64(OFF_BITS[usize::from(off)][k]);
        [init(0), init(1), init(2), init(3), _mm512_setzero_si512()]
    }

    /// Nibble counters `from` (four count bits and a flag) plus each column's count over the
    /// rows at `offs` (a multiple of 4 of them; row registers as in [`count_rows`]): the
    /// count's low four bits and, as a fifth register, whether the sum reached 16 more than
    /// they allow: a sticky OR of the carries out of bit 3. Started from `off`'s low four
    /// bits ([`nibbles_from`]) with `off`'s bits 4..7 `0111` (`off = 127 - thr`, `thr <= 15`)
    /// that is bit 7 of `off + count`, the saturation flag; with `off = 0` and at most 31
    /// rows it is bit 4 of the count. Eight rows at a time go through the full adders of
    /// [`count_rows`] into the ones, twos and fours, and their eights into bit 3 by a half
    /// adder: no carries pend, so nothing ripples at the end and another run of rows can go
    /// on from the result. A last four rows take three full adders and two half adders
    /// (padding them to eight would add four rows of the zero row).
    ///
    /// # Safety
    /// As [`count_rows`].
    #[target_feature(enable = "avx512f")]
    #[inline]
    pub(super) unsafe fn count_nibbles(
        base: *const u64,
        offs: &[u16],
        from: [__m512i; 5],
    ) -> [__m512i; 5] {
        let [mut l0, mut l1, mut l2, mut l3, mut over] = from;
        let (eights, rest) = offs.as_chunks::<8>();
        for r in eights {
            // SAFETY: as the caller promises.
            let (s, t, f, c) = unsafe { add_eight(base, r, [l0, l1, l2]) };
            // over |= l3 & c; l3 ^= c.
            over = _mm512_ternarylogic_epi64::<0xF8>(over, l3, c);
            (l0, l1, l2, l3) = (s, t, f, _mm512_xor_si512(l3, c));
        }
        if let Ok(r) = <&[u16; 4]>::try_from(rest) {
            // SAFETY: as the caller promises.
            let [s, t, c2] = unsafe { add_four(base, r, [l0, l1]) };
            // The fours' carry into the fours by a half adder, its carry into bit 3.
            let c = _mm512_and_si512(l2, c2);
            over = _mm512_ternarylogic_epi64::<0xF8>(over, l3, c);
            (l0, l1, l2, l3) = (s, t, _mm512_xor_si512(l2, c2), _mm512_xor_si512(l3, c));
        }
        [l0, l1, l2, l3, over]
    }

    /// Bit-sliced counts (`l[k]` bit `8 m + i`: bit `k` of the count of stored group `m`,
    /// column `i`) as bytes: register `r` byte `8 w + i` is the count of stored group
    /// `level_group(r, w)`, column `i`.
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
        // `g[R]` qword `q` of lane `l`: group `16 l + 2 R + q`.
        let mut g = [_mm512_setzero_si512(); 8];
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
                    g[4 * x + 2 * y + z] = _mm512_gf2p8affine_epi64_epi8::<0>(bitsel, v);
                }
            }
        }
        // Groups `4 n + 2 q` (even `r = 2 n`) and `4 n + 2 q + 1` (odd), as the nibbles leave
        // them.
        std::array::from_fn(|r| {
            let (a, b) = (g[2 * (r / 2)], g[2 * (r / 2) + 1]);
            match r % 2 {
                0 => _mm512_unpacklo_epi64(a, b),
                _ => _mm512_unpackhi_epi64(a, b),
            }
        })
    }

    /// The low four bits of bit-sliced counts (`l[k]` as in [`to_bytes`]) as nibble pairs:
    /// register `n` byte `8 w + i` holds in its low nibble the count of stored group
    /// `level_group(2 n + 1, w)`, column `i`, and in its high nibble that of group
    /// `level_group(2 n, w)`. Half the unpacks of [`to_bytes`] and half the affine transforms.
    #[target_feature(enable = "avx512f,avx512bw,gfni")]
    #[inline]
    pub(super) fn to_nibbles(l: [__m512i; 4]) -> [__m512i; 4] {
        // A qword's bytes 0..4 are bits 3..0 of group `m`, bytes 4..8 those of group `m + 1`:
        // the transform's output bit `i` is byte `7 - i`.
        let x = [_mm512_unpacklo_epi8(l[3], l[2]), _mm512_unpackhi_epi8(l[3], l[2])];
        let y = [_mm512_unpacklo_epi8(l[1], l[0]), _mm512_unpackhi_epi8(l[1], l[0])];
        let bitsel = _mm512_set1_epi64(0x8040_2010_0804_0201u64 as i64);
        std::array::from_fn(|n| {
            let (a, b) = (x[n / 2], y[n / 2]);
            let v = match n % 2 {
                0 => _mm512_unpacklo_epi16(a, b),
                _ => _mm512_unpackhi_epi16(a, b),
            };
            _mm512_gf2p8affine_epi64_epi8::<0>(bitsel, v)
        })
    }

    /// One block of 512 columns of every sample over its row tiles and planes (`a_n` per
    /// sample and row tile): each column's `sum_t 2^t * level_t` summed over the row tiles into
    /// `out` (`BLOCK` values a sample); adds each sample's saturated reads to `overs`. Every
    /// sample in turn takes [`TILES_A_VISIT`] row tiles, its 16-bit sums kept in `state`
    /// between visits.
    ///
    /// # Safety
    /// As [`super::run`]; `b < rows.blocks`; `out` holds `BLOCK` values and `state` 16
    /// registers for each of the `overs.len()` samples whose planes `batch` holds.
    #[target_feature(enable = "avx512f,avx512bw,avx512vbmi,avx512vpopcntdq,gfni,popcnt")]
    pub(super) unsafe fn block(
        rows: &RowBits,
        b: usize,
        (batch, readings): (&Batch, &Readings),
        sum: Sum,
        out: &mut [i32],
        state: &mut [Line],
        overs: &mut [u64],
    ) {
        let z = _mm512_setzero_si512();
        let valid = (rows.ncols - b * super::BLOCK).min(super::BLOCK);
        let widen_at = |rt: usize| (rt + 1).is_multiple_of(sum.tiles) || rt + 1 == rows.row_tiles;
        for r0 in (0..rows.row_tiles).step_by(TILES_A_VISIT) {
            let r1 = (r0 + TILES_A_VISIT).min(rows.row_tiles);
            for (s, over) in overs.iter_mut().enumerate() {
                let st = state[16 * s..16 * s + 16].as_mut_ptr() as *mut __m512i;
                // The tile's first in a widening starts from zero sums.
                let mut acc16 = [z; 16];
                if !r0.is_multiple_of(sum.tiles) {
                    // SAFETY: 16 registers of this sample's state.
                    acc16 = std::array::from_fn(|r| unsafe {
                        _mm512_load_si512(st.add(r) as *const _)
                    });
                }
                for rt in r0..r1 {
                    let base = rows.tile(rt, b).as_ptr() as *const u64;
                    let k = s * rows.row_tiles + rt;
                    let (from, to) = (batch.tiles[k] as usize, batch.tiles[k + 1] as usize);
                    let planes = &batch.planes[from..to];
                    *over += tile(base, (planes, &batch.offs, readings), valid, &mut acc16);
                    if widen_at(rt) {
                        let out = &mut out[s * super::BLOCK..(s + 1) * super::BLOCK];
                        widen(&mut acc16, out, rt < sum.tiles, sum.signed);
                    }
                }
                if !widen_at(r1 - 1) {
                    for (r, a) in acc16.iter().enumerate() {
                        // SAFETY: as above.
                        unsafe { _mm512_store_si512(st.add(r) as *mut _, *a) };
                    }
                }
            }
        }
    }

    /// Row tiles a sample takes in turn before the next sample's: its 16-bit sums stay in
    /// registers over them, and the tiles' rows (8 KB each) are read once for the batch's
    /// samples while they fit the second-level cache. With 32 rows a batch, four ran 1.04x
    /// faster than one at h = 1024 and 1.06x at h = 4096; eight ran as fast as four at
    /// h = 1024 and 1.05x faster at h = 4096.
    const TILES_A_VISIT: usize = 8;

    /// One row tile of one block for one sample: its `planes`' levels added to the 16-bit
    /// sums `acc16` (register `2 r` columns `64 r ..`, `2 r + 1` columns `64 r + 32 ..`);
    /// returns the saturated reads among the block's `valid` columns. The planes come as
    /// [`Batch::push_tile`] lists them: from the top, each with its weight in its byte group,
    /// the last of a group with the group's (so nothing here depends on the plane count).
    #[target_feature(enable = "avx512f,avx512bw,avx512vbmi,avx512vpopcntdq,gfni,popcnt")]
    #[inline]
    unsafe fn tile(
        base: *const u64,
        (planes, offs, readings): (&[PlaneRead], &[u16], &Readings),
        valid: usize,
        acc16: &mut [__m512i; 16],
    ) -> u64 {
        let z = _mm512_setzero_si512();
        let c127 = _mm512_set1_epi8(127);
        let ff = _mm512_set1_epi16(0xFF);
        // Saturated reads: whole planes counted in `over`, counts started from `127 - thr` by
        // their bit 7 in `flags` (64-bit lanes), full tiles' a byte lane each (up to 8 a plane)
        // in `ov`. Columns past `valid` hold no cells: their counts, `off` or 0, are never
        // saturated.
        let mut over = 0u64;
        let (mut flags, mut ov, mut counted) = (z, z, false);
        let mut g8 = [z; 8];
        // The counters a pair's leader keeps for its follower, at the follower's index.
        let mut forks = [MaybeUninit::<[__m512i; 5]>::uninit(); super::MAX_PLANES];
        for p in planes {
            let offs = &offs[p.start as usize..(p.start + p.len) as usize];
            let (r, d, t) = (p.how, p.driven as usize, usize::from(p.t));
            // SAFETY: the plane's rows are the tile's (`Batch::push_tile`); a follower's
            // leader, a higher plane, kept its counters.
            let bits = unsafe {
                match r.nibble {
                    Some(_) => {
                        let mut from = match p.forked {
                            true => forks[t].assume_init(),
                            false => nibbles_from(r.off),
                        };
                        let (shared, offs) = offs.split_at(usize::from(p.shared));
                        if !shared.is_empty() {
                            from = count_nibbles(base, shared, from);
                            forks[usize::from(p.fork_to)] = MaybeUninit::new(from);
                        }
                        let [l0, l1, l2, l3, over] = count_nibbles(base, offs, from);
                        [l0, l1, l2, l3, z, z, z, over]
                    }
                    None => count_rows(base, offs, r.off),
                }
            };
            // Levels weigh `p.weight` in the group's byte sums: the tables are shifted, or
            // multiplied (every level times it fits a byte, as `byte_group` chose; in 16-bit
            // lanes no byte's product reaches the next).
            let scale = |table: __m512i| match p.shift {
                super::MULTIPLY => _mm512_mullo_epi16(table, _mm512_set1_epi16(p.weight.into())),
                k => {
                    // SAFETY: 16 bytes (a shift count from memory: no move from a scalar
                    // register).
                    let sh =
                        unsafe { _mm_loadu_si128(SHIFTS[usize::from(k)].as_ptr() as *const _) };
                    _mm512_sll_epi16(table, sh)
                }
            };
            if r.off > 0 {
                let n = _mm512_popcnt_epi64(bits[7]);
                flags = _mm512_add_epi64(flags, n);
                // A merged plane's saturated reads count for each plane it is read for.
                for _ in 1..p.planes {
                    flags = _mm512_add_epi64(flags, n);
                }
                counted = true;
            }
            // Read by nibbles when no flag is set or a nibble stands for the flagged reads, else
            // by bytes: the counts, or the nibbles and flags.
            let mut by_bytes = None;
            match r.nibble {
                Some(nib) => {
                    let [l0, l1, l2, l3, .., flag] = bits;
                    let low4 = match nib.force {
                        Some(force) => {
                            // Saturated reads (the flag) become nibble `force`.
                            let force = _mm512_set1_epi8(-i8::from(force != 0));
                            Some(std::array::from_fn(|k| {
                                _mm512_ternarylogic_epi64::<0xB8>(bits[k], flag, force)
                            }))
                        }
                        None if _mm512_test_epi64_mask(flag, flag) == 0 => Some([l0, l1, l2, l3]),
                        None => {
                            // `nibble + 64 * flag` in bytes.
                            let counts = to_bytes([l0, l1, l2, l3, z, z, flag, z]);
                            by_bytes = Some((counts, &readings.flagged[d]));
                            None
                        }
                    };
                    if let Some(low4) = low4 {
                        // The 16 levels, shifted by the plane's place in its group, four
                        // times over: VPERMB reads index bits 0..5.
                        let at = |k: usize| {
                            let table = &readings.nibbles[super::MAX_PLANES * d + k];
                            // SAFETY: 64 bytes.
                            unsafe { _mm512_load_si512(table as *const Line as *const _) }
                        };
                        let table = match p.shift {
                            super::MULTIPLY => scale(at(0)),
                            k => at(usize::from(k)),
                        };
                        for (n, v) in to_nibbles(low4).into_iter().enumerate() {
                            let hi = _mm512_permutexvar_epi8(_mm512_srli_epi16::<4>(v), table);
                            g8[2 * n] = _mm512_add_epi8(g8[2 * n], hi);
                            let lo = _mm512_permutexvar_epi8(v, table);
                            g8[2 * n + 1] = _mm512_add_epi8(g8[2 * n + 1], lo);
                        }
                    }
                }
                None => {
                    let counts = to_bytes(bits);
                    // A full tile's counts reach 128: read as 127 (the table agrees), compared
                    // in bytes (at most 8 planes: no byte lane overflows).
                    if r.thr < 0 {
                        over += valid as u64;
                    } else if p.driven >= 128 && r.thr < i64::from(p.driven) {
                        let thr = _mm512_set1_epi8(r.thr as i8);
                        for n in &counts {
                            let above = _mm512_cmpgt_epu8_mask(*n, thr);
                            ov = _mm512_mask_sub_epi8(ov, above, ov, _mm512_set1_epi8(-1));
                        }
                        counted = true;
                    }
                    by_bytes = Some((counts, &readings.levels[d]));
                }
            }
            if let Some((counts, table)) = by_bytes {
                // SAFETY: a reading holds 128 levels.
                let (t0, t1) = unsafe {
                    (
                        _mm512_loadu_si512(table.as_ptr() as *const _),
                        _mm512_loadu_si512(table.as_ptr().add(64) as *const _),
                    )
                };
                let (t0, t1) = (scale(t0), scale(t1));
                let full = p.driven >= 128;
                for (g, n) in g8.iter_mut().zip(counts) {
                    let n = if full { _mm512_min_epu8(n, c127) } else { n };
                    // VPERMI2B reads index bits 0..6: the saturation flag is not an index bit.
                    let level = _mm512_permutex2var_epi8(t0, n, t1);
                    *g = _mm512_add_epi8(*g, level);
                }
            }
            if let Some((t, neg)) = p.ends {
                let t = usize::from(t);
                // The group's sum weighs 2^t. Register `r`'s even bytes are columns `64 r ..`,
                // its odd bytes columns `64 r + 32 ..`.
                // Byte times a signed byte weight, pairs summed (VPMADDUBSW): `±2^t` fits a
                // signed byte up to 2^6 (and -2^7), the products 16 bits.
                let weight = if neg { -(1i32 << t) } else { 1 << t };
                if t > 0 && (-128..=64).contains(&weight) {
                    let w = (weight as u8) as i16;
                    let (even, odd) = (_mm512_set1_epi16(w), _mm512_set1_epi16(w << 8));
                    for (r, g) in g8.iter_mut().enumerate() {
                        acc16[2 * r] =
                            _mm512_add_epi16(acc16[2 * r], _mm512_maddubs_epi16(*g, even));
                        acc16[2 * r + 1] =
                            _mm512_add_epi16(acc16[2 * r + 1], _mm512_maddubs_epi16(*g, odd));
                        *g = z;
                    }
                } else {
                    // SAFETY: as above.
                    let sh = unsafe { _mm_loadu_si128(SHIFTS[t].as_ptr() as *const _) };
                    for (r, g) in g8.iter_mut().enumerate() {
                        let mut lo = _mm512_and_si512(*g, ff);
                        let mut hi = _mm512_srli_epi16::<8>(*g);
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
                }
            }
        }
        if counted {
            let bytes = _mm512_sad_epu8(ov, z);
            over += _mm512_reduce_add_epi64(_mm512_add_epi64(flags, bytes)) as u64;
        }
        over
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

    /// The next state of a xorshift64 generator (the tests' pseudo-random cells and cases).
    fn xorshift(s: &mut u64) -> u64 {
        *s ^= *s << 13;
        *s ^= *s >> 7;
        *s ^= *s << 17;
        *s
    }

    /// Whether this CPU runs the row kernel (a test that needs it passes vacuously, saying so).
    fn kernel_here() -> bool {
        let here = available();
        if !here {
            eprintln!("no AVX-512 VBMI and GFNI here: the row kernel is not run");
        }
        here
    }

    #[test]
    fn transpose64_swaps_rows_and_columns() {
        let mut m = [0u64; 64];
        let mut s = 0x9E37_79B9_7F4A_7C15u64;
        m.iter_mut().for_each(|v| *v = xorshift(&mut s));
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

    #[test]
    fn nibble_readings_are_exact_or_refused() {
        let doubled = |f: &dyn Fn(usize) -> u8| (0..256).map(|i| f(i % 128)).collect::<Vec<u8>>();
        // Forcing 0, forcing 15, saturating without a force, at most 15 rows, 16 to 31 rows.
        let mut seen = [0usize; 5];
        let mut rng = 0x2545_F491_4F6C_DD1Du64;
        for case in 0..4000 {
            xorshift(&mut rng);
            let d = (rng % 129) as usize;
            // Every fifth at threshold 15, where 17 levels leave no nibble to force.
            let thr = if case % 5 == 0 { 15 } else { (rng >> 8) as i64 % 40 - 2 };
            let cap = (rng >> 16) as usize % 24;
            // Tables as built (`T[min(s, d)]`, monotone), and every eighth one bumped.
            let mut table = doubled(&|s| s.min(d).min(cap) as u8);
            if case % 8 == 0 {
                let at = (rng >> 24) as usize % 128;
                table[at] ^= 1;
                table[128 + at] ^= 1;
            }
            // The reading of `d` rows as `Readings` builds it (every count reads this table).
            let r = Readings::new(&table.repeat(d + 1), d, |_| thr);
            let (how, levels, flagged) = (r.how[d], &r.levels[d], &r.flagged[d]);
            // Four bits and a flag hold every read when the saturated ones read one level, or
            // none saturates and the popcount has five bits.
            let fits = match thr {
                0..=15 if (thr as usize) < d && d < 128 => {
                    let sat = thr as usize + 1;
                    (sat..=d).all(|s| table[s] == table[sat])
                }
                _ => d <= 31 && thr >= d as i64,
            };
            assert_eq!(how.nibble.is_some(), fits, "d {d} thr {thr} cap {cap} case {case}");
            let Some(nib) = how.nibble else { continue };
            let kind = match (how.off, nib.force) {
                (0, _) => 3 + usize::from(d >= 16),
                (_, Some(f)) => usize::from(f == 15),
                (_, None) => 2,
            };
            seen[kind] += 1;
            for (s, want) in table.iter().copied().enumerate().take(d + 1) {
                // The counters' nibble and flag, by definition.
                let v = usize::from(how.off) + s;
                let (nibble, flag) = match how.off {
                    0 => (s % 16, s >= 16),
                    _ => (v % 16, v >= 128),
                };
                let at = format!("d {d} thr {thr} cap {cap} case {case} s {s}");
                assert_eq!(flagged[nibble + 64 * usize::from(flag)], want, "by bytes: {at}");
                match (flag, nib.force) {
                    (false, _) => assert_eq!(levels[usize::from(nib.at) + nibble], want, "{at}"),
                    (true, Some(f)) => {
                        assert_eq!(levels[usize::from(nib.at + f)], want, "forced: {at}")
                    }
                    (true, None) => {}
                }
            }
            // A force is missed only where its nibble reads another level.
            if let (None, 1..) = (nib.force, how.off) {
                let f = if thr <= 14 { 0 } else { 15 };
                assert_ne!(levels[usize::from(nib.at) + f], table[thr as usize + 1], "case {case}");
            }
        }
        assert!(seen.iter().all(|n| *n > 10), "{seen:?}");
        // 32 rows that cannot saturate need six bits.
        let table = doubled(&|s| s.min(32) as u8);
        assert_eq!(nibble(&table, 32, 40, 0), None);
        assert_eq!(nibble(&table, 31, 40, 0), Some(Nibble { at: 0, force: None }));
    }

    #[cfg(target_arch = "x86_64")]
    #[test]
    fn nibble_counters_count_each_column() {
        if !kernel_here() {
            return;
        }
        use std::arch::x86_64::{__m512i, _mm512_storeu_si512};
        // One 128-row tile of 512 columns, cells set with probability about 1/2.
        let (tile_rows, ncols) = (128, BLOCK);
        let mut rng = 0x9E37_79B9_7F4A_7C15u64;
        let mut next = move || xorshift(&mut rng);
        let planes: Vec<u64> = (0..ncols * 2).map(|_| next()).collect();
        let rows = RowBits::from_columns(&planes, tile_rows, 1, (ncols, 1), 2);
        let base = rows.tile(0, 0).as_ptr() as *const u64;
        let zero = rows.row_offset(tile_rows);
        for case in 0..300 {
            // 0..=40 rows (lengths that end in four rows and in eight), from 0 or 112..=127.
            let n: usize = case % 41;
            let off = if case % 3 == 0 { 0 } else { 112 + (next() % 16) as u8 };
            let driven: Vec<usize> = (0..n).map(|_| (next() % 128) as usize).collect();
            let mut offs: Vec<u16> = driven.iter().map(|r| rows.row_offset(*r)).collect();
            offs.resize(n.next_multiple_of(4), zero);
            // Every other case counts a first run of rows (a multiple of four), then goes on
            // from its counters, as a plane pair's follower does.
            let split = if case % 2 == 0 { 0 } else { (next() as usize % (n / 4 + 1)) * 4 };
            // SAFETY: checked `available`; every offset is a row of the tile.
            let got = unsafe {
                let first = x86::count_nibbles(base, &offs[..split], x86::nibbles_from(off));
                x86::count_nibbles(base, &offs[split..], first)
            };
            let mut regs = [[0u64; 8]; 5];
            for (r, g) in regs.iter_mut().zip(got) {
                // SAFETY: 64 bytes.
                unsafe { _mm512_storeu_si512(r.as_mut_ptr() as *mut __m512i, g) };
            }
            for c in 0..ncols {
                let count = driven.iter().filter(|r| rows.cell(0, **r, c)).count();
                let bit = stored_bit(c);
                let read = |k: usize| (regs[k][bit / 64] >> (bit % 64)) & 1;
                let low4: u64 = (0..4).map(|k| read(k) << k).sum();
                let v = usize::from(off) + count;
                assert_eq!(low4 as usize, v % 16, "case {case} column {c}: {n} rows from {off}");
                let flag = usize::from(off) % 16 + count >= 16;
                assert_eq!(read(4) == 1, flag, "case {case} column {c}: {n} rows from {off}");
            }
        }
    }

    #[cfg(target_arch = "x86_64")]
    #[test]
    fn blocks_count_the_driven_rows_of_each_column() {
        if !kernel_here() {
            return;
        }
        // 128-row tiles, 600 columns (a partial second block), six or forty cell columns an output.
        // Levels capped at 15 sum four planes in a byte and every tile in 16 bits; capped at
        // 127, one plane a byte and two tiles in 16 bits, so the third tile widens again. Five
        // tiles of planes driving every row at threshold 0 saturate in every read: 320 reads
        // a byte lane counts.
        let (tile_rows, ncols, words) = (128, 600, 2);
        let cell = |rt: usize, r: usize, c: usize| (r * 31 + c * 7 + r * c + rt).is_multiple_of(3);
        // Planes drive 0, 1, 2, 3, 127 and 128 rows and pseudo-random sets of 28 and 25 rows
        // (the nibble counters' last group of four after eights; at threshold 40, 16 to 31
        // rows that cannot saturate) with 19 in common: paired, 16 are counted once and 3 by
        // each plane, and their reads saturate only in part. Columns `c = 2 (mod 3)` of tile 1
        // hold a cell in every row.
        let sets: Vec<Vec<u8>> = vec![
            vec![],
            vec![5],
            vec![0, 127],
            vec![1, 64, 100],
            (0..128).filter(|r| (r * 37) % 32 < 4 || r % 13 == 7).collect(),
            (0..127).collect(),
            (0..128).collect(),
            (0..128).filter(|r| (r * 37) % 32 < 7).collect(),
        ];
        let a_n = sets.len();
        // Signed inputs: the top plane drives every row and the others few, so sums are negative;
        // levels capped at 127 fit two tiles in 16 bits, capped at 40 six, and 13 tiles would
        // pass -32768 without widening in between.
        // Thresholds 1 and -1: reads saturate past one set cell (counts start from 126) or
        // always.
        // Levels capped at `thr + 1` read every saturated read alike, so the planes whose reads
        // can saturate are read by nibbles, the saturated ones as nibble 0 (threshold 9) or,
        // sharing it with popcount 15, as nibble 15 (threshold 15, cap 15); cap 16 at threshold
        // 15 leaves 17 levels, read by nibbles where no read saturates, else by nibble and
        // flag in bytes. Threshold 40 reads 16 to 31 rows by nibble and flag.
        let configs = [
            (3, 10, 9, false),
            (3, 10, 9, true),
            (3, 15, 15, false),
            (3, 16, 15, false),
            (1, 15u8, 9, false),
            (3, 15, 1, false),
            (2, 127, -1, false),
            (3, 15, 9, false),
            (3, 127, 9, false),
            (5, 15, 0, false),
            (3, 15, 9, true),
            (3, 127, 9, true),
            (13, 40, 9, true),
            (3, 40, 40, false),
        ];
        // Planes that shared rows with another, and that were read for more than one.
        let (mut paired, mut merged) = (0, 0);
        // Six cell columns an output sum in `i32`; forty (shifts up to 39) need `i64`.
        for (cpw, (row_tiles, cap, thr, signed)) in
            [6, 40].into_iter().flat_map(|cpw| configs.into_iter().map(move |c| (cpw, c)))
        {
            let mut planes = vec![0u64; row_tiles * ncols * words];
            for (rt, c, r) in (0..row_tiles).flat_map(|rt| {
                (0..ncols).flat_map(move |c| (0..tile_rows).map(move |r| (rt, c, r)))
            }) {
                if cell(rt, r, c) {
                    planes[(rt * ncols + c) * words + r / 64] |= 1 << (r % 64);
                }
            }
            let rows = RowBits::from_columns(&planes, tile_rows, row_tiles, (ncols, cpw), words);
            let table: Vec<u8> = (0..=255u8).map(|n| (n % 128).min(cap)).collect();
            // Every driven count reads the same table, at threshold `thr`.
            let readings = Readings::new(&table.repeat(tile_rows + 1), tile_rows, |_| thr);
            // Three samples; plane `t` of sample `s` and tile `rt` drives set `(t + s + rt) % 8`,
            // in the third sample set `(t / 2 + rt) % 8`: planes driving the same rows two by
            // two, merged where they share a byte group.
            let set = |s: usize, rt: usize, t: usize| {
                let k = if s == 2 { t / 2 + rt } else { t + s + rt };
                match (thr, signed) {
                    (0, _) => &sets[6],
                    (_, true) if t == a_n - 1 => &sets[6],
                    (_, true) => &sets[k % 4],
                    _ => &sets[k % a_n],
                }
            };
            let sum = Sum::new(a_n, signed, cap);
            // Planes paired (their common rows counted once) and not.
            let (mut batch, mut alone) = (Batch::default(), Batch::default());
            for (s, rt) in (0..3).flat_map(|s| (0..row_tiles).map(move |rt| (s, rt))) {
                let mut words = vec![0u64; 2 * a_n];
                for t in 0..a_n {
                    for r in set(s, rt, t) {
                        words[2 * t + *r as usize / 64] |= 1 << (r % 64);
                    }
                }
                batch.push_tile(&rows, (&words, 2), &readings, (sum, true));
                alone.push_tile(&rows, (&words, 2), &readings, (sum, false));
            }
            let pairs = batch.planes.iter().filter(|p| p.shared > 0).count();
            let forked = batch.planes.iter().filter(|p| p.forked).count();
            assert_eq!(pairs, forked);
            assert!(alone.planes.iter().all(|p| p.shared == 0 && !p.forked));
            paired += pairs;
            // Planes read for more than one (the planes merged into them are not listed).
            let read_for: usize = batch.planes.iter().map(|p| usize::from(p.planes)).sum();
            assert_eq!(read_for, 3 * row_tiles * a_n);
            merged += batch.planes.iter().filter(|p| p.planes > 1).count();
            // Which reading each plane took: nibbles forcing 0 or 15, saturating nibbles with
            // no force, nibbles of at most 31 rows, bytes.
            let ways =
                |f: &dyn Fn(&PlaneRead) -> bool| batch.planes.iter().filter(|p| f(p)).count();
            let forced = |f| move |p: &PlaneRead| p.how.nibble.is_some_and(|n| n.force == Some(f));
            let (forced0, forced15) = (ways(&forced(0)), ways(&forced(15)));
            let unforced =
                |p: &PlaneRead| p.how.off > 0 && p.how.nibble.is_some_and(|n| n.force.is_none());
            let few = ways(&|p| p.how.off == 0 && p.how.nibble.is_some());
            let bytes = ways(&|p| p.how.nibble.is_none());
            // Planes without a force whose flags are set (read by bytes) and clear (by nibbles),
            // as the cells say: (sample, row tile, plane) in push order.
            let flags = |(s, rt, t): (usize, usize, usize)| {
                let k = s * row_tiles + rt;
                let listed = &batch.planes[batch.tiles[k] as usize..batch.tiles[k + 1] as usize];
                let Some(p) = listed.iter().find(|p| usize::from(p.t) == t) else {
                    return (false, false);
                };
                let counts = (0..ncols)
                    .map(|c| set(s, rt, t).iter().filter(|r| cell(rt, **r as usize, c)).count());
                let flagged =
                    counts
                        .into_iter()
                        .any(|n| if p.how.off > 0 { n as i64 > thr } else { n >= 16 });
                let nibbles = p.how.nibble.is_some_and(|n| n.force.is_none());
                (nibbles && flagged, nibbles && !flagged && (unforced(p) || p.driven >= 16))
            };
            let all = (0..3)
                .flat_map(|s| (0..row_tiles).flat_map(move |rt| (0..a_n).map(move |t| (s, rt, t))));
            let (set_flags, clear) = all
                .map(flags)
                .fold((0, 0), |(a, b), (x, y)| (a + usize::from(x), b + usize::from(y)));
            // (Signed, the planes below the top drive at most three rows.)
            match (thr, cap) {
                (9, 10) => {
                    assert!((forced0 > 0 || signed) && forced15 == 0 && few > 0 && bytes > 0);
                    assert!(signed || pairs > 0, "no pair shares rows");
                }
                (15, 15) => assert!(forced15 > 0 && forced0 == 0),
                (15, 16) => {
                    assert!(forced0 + forced15 == 0 && ways(&unforced) > 0 && bytes > 0);
                    assert!(set_flags > 0 && clear > 0, "{set_flags} {clear}");
                }
                (40, 40) => assert!(few > 0 && set_flags > 0 && clear > 0, "{set_flags} {clear}"),
                _ => assert!(forced0 + forced15 == 0),
            }
            let mut over = [0u64; 3];
            let mut cols = vec![vec![0i64; ncols]; 3];
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
            for (polarities, paired) in [1, 2].into_iter().flat_map(|p| [(p, true), (p, false)]) {
                let batch = match paired {
                    true => &mut batch,
                    false => &mut alone,
                };
                let mut accs = vec![vec![0i64; ncols / cpw]; 3];
                let mut overs = vec![0u64; 3];
                // SAFETY: checked `available`; levels up to `cap`, as `sum` was made; built for
                // `rows` with `sum`.
                let batch = (batch, &readings);
                unsafe { run(&rows, batch, sum, polarities, &mut accs, &mut overs) };
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
                        let at = format!(
                            "{cpw} columns, {row_tiles} tiles, cap {cap}, signed {signed}, output {j}"
                        );
                        assert_eq!(*got, want, "{at}, {polarities} polarities, paired {paired}");
                    }
                }
                assert_eq!(overs, over, "{row_tiles} tiles, cap {cap}");
            }
        }
        assert!(paired > 20, "{paired} planes paired");
        assert!(merged > 20, "{merged} planes read for more than one");
    }
}
