//! The four memory images the RTL reads with `$readmemh` (one word per line, element 0 least
//! significant, as [`crate::backend::verilog::hex`] writes them).
//!
//! - **thresholds** (depth `Σ u_f`, 32 bits): each feature's sorted thresholds as order keys
//!   ([`order_key`]), feature 0 first; feature `f`'s table starts at `threshold_base[f]`.
//! - **columns** (one word per scheduled array): the feature driven on each physical column,
//!   `feature_index_bits` per column; unused columns hold 0 (their cells are wildcards).
//! - **cam** (one word per scheduled array): `rows x cols` cells, cell `(i, c)` at bit
//!   `(i * cols + c) * cell_bits`, each `{nan_match, hi_en, hi, lo_en, lo}` (lsb first: `lo`).
//!   A cell matches `lo <= code < hi` (a disabled bound always passes) or, for a NaN input,
//!   iff `nan_match`. Unused rows and columns hold wildcard cells.
//! - **row tiles** (one word per row tile): `{rows..., next, empty, present}` (lsb first:
//!   `present`), where `present` marks the physical rows holding a CAM row, `empty` says the row
//!   tile has no array (all its cells are don't-care: every row matches without a search),
//!   `next` is the index of the first array after this row tile, and each row's entry is
//!   `{output, leaf}` (lsb first: the leaf, two's complement).
//!
//! Arrays are numbered in schedule order: row tile 0's arrays in their search order, then row
//! tile 1's, and so on, so the sequencer walks them with one counter.

use super::shape::Shape;
use crate::backend::verilog::bits::Bits;
use crate::cam::error::CamError;
use crate::cam::quantize::{QCell, QuantizedCam};
use crate::cam::tile::TiledCam;

/// Maps a non-NaN float32 to an unsigned key whose order is the float order: negative values
/// get all bits flipped, positive ones only the sign bit. `-0.0` is first turned into `+0.0`
/// because the two compare equal as floats (`code(x)` counts `t <= x` with float comparison).
pub fn order_key(x: f32) -> u32 {
    let b = if x == 0.0 { 0 } else { x.to_bits() };
    if b >> 31 == 1 {
        !b
    } else {
        b | 0x8000_0000
    }
}

fn field(value: i128, width: u32, signed: bool, what: &str) -> Result<Bits, CamError> {
    Bits::from_int(value, width, signed).map_err(|e| CamError::Internal(format!("{what}: {e}")))
}

/// One cell as `{nan_match, hi_en, hi, lo_en, lo}`.
fn cell_bits(c: &QCell, sh: &Shape) -> Result<Bits, CamError> {
    let cw = sh.code_bits;
    let mut b = Bits::zero(sh.cell_bits);
    if let Some(lo) = c.lo {
        b.set_field(0, &field(i128::from(lo), cw, false, "cell low bound")?);
        b.set(cw, true);
    }
    if let Some(hi) = c.hi {
        b.set_field(cw + 1, &field(i128::from(hi), cw, false, "cell high bound")?);
        b.set(2 * cw + 1, true);
    }
    b.set(2 * cw + 2, c.nan_match);
    Ok(b)
}

const WILDCARD: QCell = QCell { lo: None, hi: None, nan_match: true };

/// The threshold ROM.
pub(crate) fn thresholds(q: &QuantizedCam) -> Vec<Bits> {
    q.encoders
        .iter()
        .flat_map(|e| &e.thresholds)
        .map(|t| {
            let mut b = Bits::zero(32);
            let k = order_key(*t);
            for i in 0..32 {
                b.set(i, (k >> i) & 1 == 1);
            }
            b
        })
        .collect()
}

/// The column-map and cell ROMs, one word per scheduled array (one wildcard word when no array
/// is scheduled, so the memories are never empty).
pub(crate) fn arrays(
    q: &QuantizedCam,
    t: &TiledCam,
    sh: &Shape,
) -> Result<(Vec<Bits>, Vec<Bits>), CamError> {
    let mut columns = Vec::new();
    let mut cells = Vec::new();
    for rt in &t.row_tiles {
        for ct in &rt.column_tiles {
            if ct.features.len() > sh.cols || rt.rows.len() > sh.rows {
                return Err(CamError::Internal(format!(
                    "an array of {} rows x {} columns exceeds the {}x{} geometry",
                    rt.rows.len(),
                    ct.features.len(),
                    sh.rows,
                    sh.cols
                )));
            }
            let mut col = Bits::zero(sh.column_word_bits());
            for (c, f) in ct.features.iter().enumerate() {
                let fb = sh.feature_index_bits;
                col.set_field(c as u32 * fb, &field(i128::from(*f), fb, false, "column feature")?);
            }
            columns.push(col);
            let mut word = Bits::zero(sh.array_word_bits());
            for i in 0..sh.rows {
                for c in 0..sh.cols {
                    let cell = match (rt.rows.get(i), ct.features.get(c)) {
                        (Some(r), Some(f)) => q.rows[*r as usize].cells[*f as usize],
                        _ => WILDCARD,
                    };
                    word.set_field(sh.cell_lsb(i, c), &cell_bits(&cell, sh)?);
                }
            }
            cells.push(word);
        }
    }
    if cells.is_empty() {
        columns.push(Bits::zero(sh.column_word_bits()));
        let mut word = Bits::zero(sh.array_word_bits());
        for i in 0..sh.rows {
            for c in 0..sh.cols {
                word.set_field(sh.cell_lsb(i, c), &cell_bits(&WILDCARD, sh)?);
            }
        }
        cells.push(word);
    }
    Ok((columns, cells))
}

/// The row-tile ROM.
pub(crate) fn row_tiles(q: &QuantizedCam, t: &TiledCam, sh: &Shape) -> Result<Vec<Bits>, CamError> {
    let mut out = Vec::with_capacity(t.row_tiles.len());
    let mut next = 0usize;
    for rt in &t.row_tiles {
        next += rt.column_tiles.len();
        let mut w = Bits::zero(sh.row_tile_word_bits());
        for i in 0..rt.rows.len() {
            w.set(i as u32, true);
        }
        w.set(sh.rows as u32, rt.column_tiles.is_empty());
        w.set_field(sh.rows as u32 + 1, &field(next as i128, sh.next_bits(), false, "next array")?);
        for (i, r) in rt.rows.iter().enumerate() {
            let row = &q.rows[*r as usize];
            let lsb = sh.row_entry_lsb(i);
            let leaf = field(i128::from(row.leaf_q), sh.leaf_bits, true, "leaf")?;
            w.set_field(lsb, &leaf);
            if sh.row_output_bits > 0 {
                let o = field(row.output as i128, sh.row_output_bits, false, "row output")?;
                w.set_field(lsb + sh.leaf_bits, &o);
            }
        }
        out.push(w);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::order_key;

    #[test]
    fn order_keys_follow_float_order() {
        // Hand values: +0.0 -> 0x8000_0000; 1.0 = 0x3f80_0000 -> 0xbf80_0000;
        // -1.0 = 0xbf80_0000 -> !0xbf80_0000 = 0x407f_ffff; -0.0 is +0.0.
        assert_eq!(order_key(0.0), 0x8000_0000);
        assert_eq!(order_key(-0.0), 0x8000_0000);
        assert_eq!(order_key(1.0), 0xbf80_0000);
        assert_eq!(order_key(-1.0), 0x407f_ffff);
        assert_eq!(order_key(f32::INFINITY), 0xff80_0000);
        assert_eq!(order_key(f32::NEG_INFINITY), 0x007f_ffff);
        // Unsigned key order equals float order on a sorted ladder of awkward values.
        let ladder = [
            f32::NEG_INFINITY,
            -f32::MAX,
            -1.0,
            -f32::MIN_POSITIVE,
            -1e-45,
            0.0,
            1e-45,
            f32::MIN_POSITIVE,
            1.0,
            f32::MAX,
            f32::INFINITY,
        ];
        for w in ladder.windows(2) {
            assert!(order_key(w[0]) < order_key(w[1]), "{} < {}", w[0], w[1]);
        }
    }
}
