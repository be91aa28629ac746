//! Every width and size the CAM RTL is built from, derived once from the design.
//!
//! Keeping them in one value means the Verilog generators ([`super::encoder`],
//! [`super::array`], [`super::sequencer`]), the memory images ([`super::roms`]) and the test
//! vectors ([`super::OutputLayout`]) cannot disagree about a field position.

use crate::cam::design::CamDesign;
use crate::cam::dialect::encode::code_bits_of;
use crate::cam::error::CamError;

/// Bits needed to write `n` in binary (`0` for `0`).
pub(crate) fn bit_len(n: u64) -> u32 {
    64 - n.leading_zeros()
}

/// Bits of an index into `n` items (at least 1, so every index is a real vector).
pub(crate) fn index_bits(n: usize) -> u32 {
    bit_len(n.saturating_sub(1) as u64).max(1)
}

/// Largest array word (cells of one array) the lowering accepts: beyond it the memory image
/// and the match logic would not be a sensible digital twin any more.
const MAX_ARRAY_BITS: u64 = 1 << 24;

/// Widths and counts of one lowered design.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Shape {
    /// Model features (32-bit input words).
    pub features: usize,
    pub outputs: usize,
    /// Thresholds per feature, `u_f`.
    pub thresholds: Vec<usize>,
    /// First entry of each feature's table in the threshold ROM.
    pub threshold_base: Vec<usize>,
    /// All thresholds, the threshold ROM's depth.
    pub total_thresholds: usize,
    /// Width of an input code: codes run `0..=u_f`, so `bit_len(max u_f)`, at least 1.
    pub code_bits: u32,
    /// Binary-search steps of feature `f`: `bit_len(u_f) = ceil(log2(u_f + 1))`.
    pub steps: Vec<u32>,
    /// Width of the step counter (holds `0..=code_bits`).
    pub step_bits: u32,
    /// Array geometry.
    pub rows: usize,
    pub cols: usize,
    /// Scheduled arrays in search order (the CAM and column ROMs hold `max(1, arrays)` words).
    pub arrays: usize,
    pub row_tiles: usize,
    /// Bits of one cell: `{nan_match, hi_en, hi, lo_en, lo}`.
    pub cell_bits: u32,
    /// Width of a physical column's feature index.
    pub feature_index_bits: u32,
    pub array_index_bits: u32,
    pub row_tile_index_bits: u32,
    /// Accumulator width (two's complement), from the quantizer.
    pub acc_bits: u32,
    /// Stored leaf width: `min(leaf_bits, acc_bits)`; every leaf fits (see [`Shape::new`]).
    pub leaf_bits: u32,
    /// Bits of a row's output index in the row-tile ROM (0 for single-output models).
    pub row_output_bits: u32,
    /// Bits of the argmax class in `out_data` (0 for single-output models).
    pub class_bits: u32,
    /// Whether the row-liveness register allows early exit (monosparse).
    pub liveness: bool,
}

impl Shape {
    pub fn new(d: &CamDesign) -> Result<Shape, CamError> {
        let q = &d.quantized;
        let t = d.hardware();
        let too_big = |what: String| CamError::BadOption {
            option: "tile".into(),
            message: format!("{what}: too large for the RTL generator"),
        };
        let thresholds: Vec<usize> = q.encoders.iter().map(|e| e.thresholds.len()).collect();
        let mut threshold_base = Vec::with_capacity(thresholds.len());
        let mut total = 0usize;
        for u in &thresholds {
            threshold_base.push(total);
            total += u;
        }
        let code_bits = code_bits_of(&q.encoders);
        let steps: Vec<u32> = thresholds.iter().map(|u| bit_len(*u as u64)).collect();
        let rows = t.geometry.rows;
        let cols = t.geometry.cols;
        let cell_bits = 2 * code_bits + 3;
        let array_bits = rows as u64 * cols as u64 * u64::from(cell_bits);
        if array_bits > MAX_ARRAY_BITS {
            return Err(too_big(format!(
                "an array of {rows}x{cols} cells of {cell_bits} bits ({array_bits} bits per array)"
            )));
        }
        if q.num_features as u64 * 32 > u64::from(u32::MAX / 2) {
            return Err(too_big(format!("{} input features", q.num_features)));
        }
        let arrays = t.scheduled_tiles();
        let fixed = q.fixed;
        let acc_bits = fixed.acc_bits;
        let leaf_bits = fixed.leaf_bits.min(acc_bits);
        let outputs = q.num_outputs;
        let row_output_bits = if outputs > 1 { index_bits(outputs) } else { 0 };
        Ok(Shape {
            features: q.num_features,
            outputs,
            thresholds,
            threshold_base,
            total_thresholds: total,
            code_bits,
            steps,
            step_bits: bit_len(u64::from(code_bits)).max(1),
            rows,
            cols,
            arrays,
            row_tiles: t.row_tiles.len(),
            cell_bits,
            feature_index_bits: index_bits(q.num_features),
            array_index_bits: index_bits(arrays.max(1)),
            row_tile_index_bits: index_bits(t.row_tiles.len()),
            acc_bits,
            leaf_bits,
            row_output_bits,
            class_bits: row_output_bits,
            liveness: t.liveness,
        })
    }

    /// `max_f steps_f`: encoder cycles when no input is NaN.
    pub fn max_steps(&self) -> u32 {
        self.steps.iter().copied().max().unwrap_or(0)
    }

    /// Width of the `next array` field of the row-tile ROM (holds `0..=arrays`).
    pub fn next_bits(&self) -> u32 {
        self.array_index_bits + 1
    }

    /// Bits of one row's entry in the row-tile ROM.
    pub fn row_entry_bits(&self) -> u32 {
        self.leaf_bits + self.row_output_bits
    }

    /// Least significant bit of row `i`'s entry in the row-tile ROM word, after
    /// `{present[R], empty, next}`.
    pub fn row_entry_lsb(&self, i: usize) -> u32 {
        self.rows as u32 + 1 + self.next_bits() + i as u32 * self.row_entry_bits()
    }

    pub fn row_tile_word_bits(&self) -> u32 {
        self.row_entry_lsb(self.rows)
    }

    pub fn array_word_bits(&self) -> u32 {
        (self.rows * self.cols) as u32 * self.cell_bits
    }

    pub fn column_word_bits(&self) -> u32 {
        self.cols as u32 * self.feature_index_bits
    }

    /// Least significant bit of cell `(row, col)` in an array word.
    pub fn cell_lsb(&self, row: usize, col: usize) -> u32 {
        (row * self.cols + col) as u32 * self.cell_bits
    }

    /// Width of the threshold ROM's address (depth `total_thresholds`).
    pub fn threshold_index_bits(&self) -> u32 {
        index_bits(self.total_thresholds)
    }

    /// Bits per feature in the flat feature vector: `{nan, code}` padded to a power of two.
    pub fn feature_slot_bits(&self) -> u32 {
        (self.code_bits + 1).next_power_of_two()
    }

    /// Width of `in_data`.
    pub fn in_bits(&self) -> u32 {
        self.features as u32 * 32
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bit_counts() {
        // bit_len(u) = ceil(log2(u + 1)): the comparisons of a binary search over u entries.
        assert_eq!([0, 1, 2, 3, 4, 7, 8].map(bit_len), [0, 1, 2, 2, 3, 3, 4]);
        // Index widths: 1 item still gets a 1-bit index; 2 -> 1; 3, 4 -> 2; 5 -> 3.
        assert_eq!([1, 2, 3, 4, 5, 256, 257].map(index_bits), [1, 1, 2, 2, 3, 8, 9]);
    }
}
