//! Per-cell conductance codes packed as residuals against their level's nominal code.
//!
//! A varied chip's codes scatter around the code their level would have on an ideal device
//! (`round(2^f * (c + g_off))`): with `d2d_sigma = 0.05` and 6 fraction bits, a level-1 code sits
//! within a few units of 68 and a level-0 code is almost always exactly 4. Storing the code
//! would take a byte a cell (16 bytes a weight for 8-bit differential weights on 1-bit cells);
//! storing the residual in the few bits it needs takes two to three bits a cell. The cell's level
//! is not stored: it is a function of the weight ([`super::tile::LayerMap::level`]), so readers
//! pass the levels in.
//!
//! Layout (patched frame of reference, as integer-compression libraries do it):
//! - cells are packed in blocks of [`BLOCK`]; each block has two widths, one for its level-0 cells
//!   and one for the others (a residual scales with the conductance, so off cells need fewer
//!   bits), chosen to minimise the block's size;
//! - a cell's slot holds `zigzag(code - nominal[level])` in its width's bits, or zero when the
//!   residual does not fit: then the code is an *exception*, kept whole in a sorted side list
//!   (stuck cells and the far tail of the variation);
//! - each block records where its bits and its exceptions start, so a span is decoded from its
//!   block's start, never from the layer's.

use std::ops::Range;

/// Cells per block: the block header (16 bytes) costs half a bit a cell.
pub const BLOCK: usize = 256;

/// Bits of an exception in the side list (index and code, four bytes each).
const EXCEPTION_BITS: u64 = 64;

/// Where a block's cells start.
#[derive(Clone, Copy, Debug, PartialEq)]
struct Block {
    /// Bit offset of the block's first slot in `words`.
    bit: u64,
    /// Index in the exception list of the first exception at or after the block's first cell.
    exc: u32,
    /// Slot widths of level-0 cells and of the others.
    widths: [u8; 2],
}

/// One layer's per-cell codes, packed ([module documentation](self)).
#[derive(Clone, Debug, PartialEq)]
pub struct PackedCodes {
    /// The nominal code of each level (what a residual is relative to).
    nominal: Vec<i64>,
    words: Vec<u64>,
    blocks: Vec<Block>,
    exc_idx: Vec<u32>,
    exc_code: Vec<u32>,
    len: usize,
    /// The smallest and the largest code (`u32::MAX` and 0 before the first).
    min: u32,
    max: u32,
}

/// The layer has more cells than an exception index can name.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct TooManyCells;

impl PackedCodes {
    /// How many cells are stored.
    pub fn len(&self) -> usize {
        self.len
    }
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
    /// The largest code (0 for no cells).
    pub fn max(&self) -> u32 {
        self.max
    }
    /// The smallest code (0 for no cells).
    pub fn min(&self) -> u32 {
        self.min.min(self.max)
    }
    /// Cells that did not fit their block's width and are kept whole.
    pub fn exceptions(&self) -> usize {
        self.exc_idx.len()
    }
    /// Bytes held.
    pub fn heap_bytes(&self) -> usize {
        std::mem::size_of_val(self.words.as_slice())
            + std::mem::size_of_val(self.blocks.as_slice())
            + std::mem::size_of_val(self.exc_idx.as_slice())
            + std::mem::size_of_val(self.exc_code.as_slice())
            + std::mem::size_of_val(self.nominal.as_slice())
    }
    /// The first cell of the block that holds cell `idx`: where the levels a reader passes to
    /// [`PackedCodes::decode`] must start.
    pub fn block_start(idx: usize) -> usize {
        idx / BLOCK * BLOCK
    }
    /// Calls `out` with the code of every cell of `range`, in order. `levels(from, buf)` fills
    /// `buf` with the levels of the cells `from..from + buf.len()` (asked a block at a time,
    /// from [`PackedCodes::block_start`]`(range.start)` on).
    pub fn decode(
        &self,
        range: Range<usize>,
        mut levels: impl FnMut(usize, &mut [u8]),
        mut out: impl FnMut(u32),
    ) {
        let end = range.end.min(self.len);
        let (mut buf, mut width) = ([0u8; BLOCK], [0u8; 256]);
        for start in (Self::block_start(range.start)..end).step_by(BLOCK) {
            let cells = (end - start).min(BLOCK);
            let level = &mut buf[..cells];
            levels(start, level);
            let b = self.blocks[start / BLOCK];
            let (mut bit, mut exc) = (b.bit, b.exc as usize);
            let mut next_exc = self.exc_idx.get(exc).map_or(usize::MAX, |&e| e as usize);
            // Each level's width read from a table: level-0 and other cells alternate as the
            // weights' bits do, and a branch on the class (what the compiler makes of an index
            // by class, a select or a shift here) mispredicts about every other cell.
            width.fill(b.widths[1]);
            width[0] = b.widths[0];
            for (idx, &l) in (start..).zip(level.iter()) {
                let w = width[usize::from(l)];
                let slot = read_bits(&self.words, bit, w);
                bit += u64::from(w);
                let code = if idx == next_exc {
                    exc += 1;
                    next_exc = self.exc_idx.get(exc).map_or(usize::MAX, |&e| e as usize);
                    self.exc_code[exc - 1]
                } else {
                    (self.nominal[usize::from(l)] + unzigzag(slot)) as u32
                };
                if idx >= range.start {
                    out(code);
                }
            }
        }
    }
}

/// Packs codes as they are programmed, a block at a time (nothing per cell is kept beyond the
/// block being filled).
pub struct PackedBuilder {
    codes: PackedCodes,
    bit: u64,
    /// The block being filled: each cell's width class, zigzag residual and code.
    pending: Vec<(usize, u64, u32)>,
}

impl PackedBuilder {
    /// A builder whose residuals are relative to `nominal[level]`.
    pub fn new(nominal: Vec<i64>, cells: usize) -> Self {
        let codes = PackedCodes {
            nominal,
            words: Vec::with_capacity(cells.div_ceil(64)),
            blocks: Vec::with_capacity(cells.div_ceil(BLOCK)),
            exc_idx: Vec::new(),
            exc_code: Vec::new(),
            len: 0,
            min: u32::MAX,
            max: 0,
        };
        PackedBuilder { codes, bit: 0, pending: Vec::with_capacity(BLOCK) }
    }
    /// Appends the code of the next cell, whose level is `level`.
    pub fn push(&mut self, level: u8, code: u32) -> Result<(), TooManyCells> {
        if self.codes.len + self.pending.len() >= u32::MAX as usize {
            return Err(TooManyCells);
        }
        let residual = zigzag(i64::from(code) - self.codes.nominal[usize::from(level)]);
        self.pending.push((class(level), residual, code));
        if self.pending.len() == BLOCK {
            self.flush();
        }
        Ok(())
    }
    pub fn finish(mut self) -> PackedCodes {
        self.flush();
        self.codes.words.shrink_to_fit();
        self.codes.exc_idx.shrink_to_fit();
        self.codes.exc_code.shrink_to_fit();
        self.codes
    }
    fn flush(&mut self) {
        if self.pending.is_empty() {
            return;
        }
        // Per class, how many residuals need each bit length.
        let mut hist = [[0u64; 66]; 2];
        for &(k, v, _) in &self.pending {
            hist[k][bit_len(v) as usize] += 1;
        }
        let widths = hist.map(|h| best_width(&h));
        let c = &mut self.codes;
        c.blocks.push(Block { bit: self.bit, exc: c.exc_idx.len() as u32, widths });
        // The words cover every slot of the block, exceptions' (zero) slots included.
        let bits: u64 = self.pending.iter().map(|&(k, _, _)| u64::from(widths[k])).sum();
        c.words.resize((self.bit + bits).div_ceil(64) as usize, 0);
        for (i, &(k, v, code)) in self.pending.iter().enumerate() {
            let w = widths[k];
            if bit_len(v) > u32::from(w) {
                c.exc_idx.push((c.len + i) as u32);
                c.exc_code.push(code);
            } else {
                write_bits(&mut c.words, self.bit, v, w);
            }
            self.bit += u64::from(w);
            (c.min, c.max) = (c.min.min(code), c.max.max(code));
        }
        c.len += self.pending.len();
        self.pending.clear();
    }
}

/// Which of a block's two widths a cell of `level` uses (level 0's, or the others').
fn class(level: u8) -> usize {
    usize::from(level != 0)
}

/// The width that packs a class of residuals in the fewest bits, given how many need each bit
/// length (a residual longer than the width costs its slot and an exception).
fn best_width(hist: &[u64; 66]) -> u8 {
    let n: u64 = hist.iter().sum();
    let mut longer = n; // residuals longer than `w`, updated as `w` grows
    let mut best = (u64::MAX, 0u8);
    for w in 0..hist.len() as u8 - 1 {
        longer -= hist[usize::from(w)];
        let cost = n * u64::from(w) + longer * EXCEPTION_BITS;
        if cost < best.0 {
            best = (cost, w);
        }
    }
    best.1
}

fn zigzag(r: i64) -> u64 {
    ((r << 1) ^ (r >> 63)) as u64
}

fn unzigzag(v: u64) -> i64 {
    (v >> 1) as i64 ^ -((v & 1) as i64)
}

fn bit_len(v: u64) -> u32 {
    64 - v.leading_zeros()
}

/// Writes the `w` low bits of `v` at bit `at` (the bits there are zero and `words` covers them).
fn write_bits(words: &mut [u64], at: u64, v: u64, w: u8) {
    if w == 0 {
        return;
    }
    let (i, o) = ((at / 64) as usize, (at % 64) as u32);
    words[i] |= v << o;
    if o + u32::from(w) > 64 {
        words[i + 1] |= v >> (64 - o);
    }
}

/// The `w` bits at bit `at`.
#[inline]
fn read_bits(words: &[u64], at: u64, w: u8) -> u64 {
    // Without branches on the width or the offset: a block's level-0 and other cells alternate
    // as the weights' bits do, so a branch on the width (often 0 for level 0) mispredicts.
    let (i, o) = ((at / 64) as usize, (at % 64) as u32);
    let lo = words.get(i).copied().unwrap_or(0) >> o;
    // `next << (64 - o)`, and 0 when `o` is 0, in two shifts each below 64.
    let hi = (words.get(i + 1).copied().unwrap_or(0) << 1) << (63 - o);
    (lo | hi) & ((1u128 << w) - 1) as u64
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn pack(nominal: &[i64], cells: &[(u8, u32)]) -> PackedCodes {
        let mut b = PackedBuilder::new(nominal.to_vec(), cells.len());
        for &(l, c) in cells {
            b.push(l, c).unwrap();
        }
        b.finish()
    }

    fn read(p: &PackedCodes, cells: &[(u8, u32)], range: Range<usize>) -> Vec<u32> {
        let start = PackedCodes::block_start(range.start);
        let mut got = Vec::new();
        let levels = |from: usize, buf: &mut [u8]| {
            // Asked a block at a time, from the block of the range's start.
            assert!(from >= start && from.is_multiple_of(BLOCK) && buf.len() <= BLOCK);
            buf.iter_mut().zip(&cells[from..]).for_each(|(l, c)| *l = c.0);
        };
        p.decode(range, levels, |c| got.push(c));
        got
    }

    proptest! {
        /// Every span reads back the codes pushed, whatever their spread: residuals of any
        /// size, codes far from nominal (exceptions), the largest codes.
        #[test]
        fn spans_read_back(
            cells in prop::collection::vec(
                (0u8..4, prop_oneof![0u32..8, 60u32..80, any::<u32>()]), 0..1500),
            a in 0usize..1500,
            b in 0usize..1500,
        ) {
            let nominal = [4i64, 68, 132, 196];
            let p = pack(&nominal, &cells);
            prop_assert_eq!(p.len(), cells.len());
            prop_assert_eq!(p.max(), cells.iter().map(|c| c.1).max().unwrap_or(0));
            prop_assert_eq!(p.min(), cells.iter().map(|c| c.1).min().unwrap_or(0));
            let all: Vec<u32> = cells.iter().map(|c| c.1).collect();
            prop_assert_eq!(read(&p, &cells, 0..cells.len()), all.clone());
            let (lo, hi) = (a.min(b).min(cells.len()), a.max(b).min(cells.len()));
            prop_assert_eq!(read(&p, &cells, lo..hi), all[lo..hi].to_vec());
        }
    }

    /// Codes near their nominal value take a few bits a cell, not a byte: level-0 cells at
    /// their nominal code take none, and a stuck cell is an exception, not a wider block.
    #[test]
    fn near_nominal_codes_pack_in_few_bits() {
        let nominal = [4i64, 68];
        let mut cells: Vec<(u8, u32)> =
            (0..4096u32).map(|i| if i % 4 == 0 { (1, 68 + i % 7 - 3) } else { (0, 4) }).collect();
        cells[12 * 4] = (1, 4); // stuck off
        let p = pack(&nominal, &cells);
        assert_eq!(p.exceptions(), 1);
        // 1024 level-1 cells at 3 bits (residuals -3..=3) and 3072 level-0 cells at 0 bits.
        assert_eq!(p.words.len(), (1024 * 3usize).div_ceil(64));
        assert!(p.heap_bytes() * 8 < cells.len() * 2, "{} bytes", p.heap_bytes());
        assert_eq!(read(&p, &cells, 0..cells.len()), cells.iter().map(|c| c.1).collect::<Vec<_>>());
    }

    #[test]
    fn width_choice_weighs_exceptions_against_slots() {
        let mut h = [0u64; 66];
        h[0] = 100;
        assert_eq!(best_width(&h), 0);
        h[3] = 1; // one long residual: an exception beats 3 bits for 101 cells
        assert_eq!(best_width(&h), 0);
        h[3] = 50; // many: widen
        assert_eq!(best_width(&h), 3);
        assert_eq!(zigzag(-1), 1);
        assert_eq!(unzigzag(zigzag(i64::from(u32::MAX))), i64::from(u32::MAX));
        assert_eq!(unzigzag(zigzag(-i64::from(u32::MAX))), -i64::from(u32::MAX));
    }
}
