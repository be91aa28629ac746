//! One aCAM array search per cycle: the digital twin of a `rows x cols` range-match array.
//!
//! The sequencer's `arr_idx` selects a scheduled array; its word in the column ROM says which
//! feature drives each physical column (each array has its own data-line drivers, so the
//! mapping may differ between arrays), its word in the CAM ROM holds the cells. A cell matches
//! when the column's input is NaN and the cell's NaN bit is set, or the input is a number and
//! `lo <= code < hi` (a disabled bound always passes), the rule of `QCell::matches`. A row
//! matches when every cell does; the sequencer ANDs that into the row-liveness vector.
//!
//! Evaluating every cell of the selected array, care or not, is the same function as the
//! simulator's evaluation of care cells only: don't-care and unused cells match everything.

use super::encoder::FEAT;
use super::shape::Shape;
use super::vl::*;
use crate::backend::verilog::ast::{BinOp, Expr, Item, UnOp};
use crate::cam::error::CamError;

/// The cell ROM, one word per scheduled array.
pub(crate) const CAM_ROM: &str = "cam_rom";
/// The column-map ROM, one word per scheduled array.
pub(crate) const COL_ROM: &str = "col_rom";
/// Index of the array being searched.
pub(crate) const ARR_IDX: &str = "arr_idx";
/// Rows of the selected array whose cells all match.
pub(crate) const ROW_MATCH: &str = "row_match";

pub(crate) fn array(sh: &Shape) -> Result<Vec<Item>, CamError> {
    let cw = sh.code_bits;
    let cb = sh.cell_bits;
    let fb = sh.feature_index_bits;
    let (rows, cols) = (sh.rows as u32, sh.cols as u32);
    let word = sh.array_word_bits();
    let colw = sh.column_word_bits();
    let slot_log = sh.feature_slot_bits().trailing_zeros();
    let feat_bits = sh.feature_slot_bits() * sh.features as u32;
    let mut items = vec![
        Item::Blank,
        Item::comment(format!(
            "Array search: the {rows}x{cols} array {ARR_IDX} of the schedule, one per cycle.\n\
             Cell (i, c) = {CAM_ROM} bits [(i*{cols} + c)*{cb} +: {cb}] = {{nan_match, hi_en, hi, lo_en, lo}},\n\
             i.e. row<i>_cells bits [c*{cb} +: {cb}]."
        )),
    ];
    items.extend(define("colmap", colw, id(COL_ROM).index(id(ARR_IDX))));
    items.extend(define("cells", word, id(CAM_ROM).index(id(ARR_IDX))));
    for c in 0..cols {
        let col = format!("col{c}");
        let feature = part(id("colmap"), colw, c * fb, fb);
        let amount =
            if slot_log > 0 { Expr::Concat(vec![feature, uc(0, slot_log)?]) } else { feature };
        let shifted = format!("col{c}_sh");
        // Only the low bits of the shifted vector are the column's feature.
        items.push(Item::comment("verilator lint_off UNUSEDSIGNAL"));
        items.push(wire(&shifted, feat_bits));
        items.push(Item::comment("verilator lint_on UNUSEDSIGNAL"));
        items.push(Item::assign(id(&shifted), bin(BinOp::Shr, id(FEAT), amount)));
        items.extend(define(&col, cw + 1, part(id(&shifted), feat_bits, 0, cw + 1)));
        items.extend(define(&format!("col{c}_nan"), 1, part(id(&col), cw + 1, cw, 1)));
        items.extend(define(&format!("col{c}_code"), cw, part(id(&col), cw + 1, 0, cw)));
    }
    let mut row_bits = Vec::with_capacity(sh.rows);
    for i in 0..sh.rows {
        let ok = format!("row{i}_ok");
        let row_cells = format!("row{i}_cells");
        let row_width = cols * cb;
        // One row's cells (a narrow net per row keeps event-driven simulators fast).
        items.extend(define(
            &row_cells,
            row_width,
            part(id("cells"), word, sh.cell_lsb(i, 0), row_width),
        ));
        items.push(wire(&ok, cols));
        for c in 0..sh.cols {
            let lsb = sh.cell_lsb(0, c);
            let cell = |off: u32, width: u32| part(id(&row_cells), row_width, lsb + off, width);
            let code = id(&format!("col{c}_code"));
            let lo_ok =
                bin(BinOp::LogicOr, not(cell(cw, 1)), bin(BinOp::Ge, code.clone(), cell(0, cw)));
            let hi_ok = bin(
                BinOp::LogicOr,
                not(cell(2 * cw + 1, 1)),
                bin(BinOp::Lt, code, cell(cw + 1, cw)),
            );
            let m = Expr::ternary(
                id(&format!("col{c}_nan")),
                cell(2 * cw + 2, 1),
                bin(BinOp::LogicAnd, lo_ok, hi_ok),
            );
            items.push(Item::assign(bit(&ok, cols, c as u32), m));
        }
        row_bits.push(Expr::un(UnOp::RedAnd, id(&ok)));
    }
    row_bits.reverse();
    let rm = if row_bits.len() == 1 { row_bits.remove(0) } else { Expr::Concat(row_bits) };
    items.extend(define(ROW_MATCH, rows, rm));
    Ok(items)
}
