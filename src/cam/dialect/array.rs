//! `cam.array`: one built aCAM array, searched once per inference in its place of the schedule.
//!
//! An array holds the cells of its row tile's rows (physical rows `0..rows`) in its feature
//! columns (physical column `i` is driven by feature `features[i]`; columns past them are unused
//! wildcards). Its result is one match bit per row: every cell matches the feature's code
//! (`lo <= code < hi`, a missing bound always passes; a NaN input matches iff the cell's NaN bit
//! is set). With the row-liveness register (`live_in`, monosparse) the previous array of the row
//! tile gates precharge and sensing: a row that already mismatched stays dead, so the result is
//! `live_in AND match`, and the last array of a chain holds the row tile's match.

use super::encode::split_word;
use crate::cam::quantize::QCell;
use crate::cam::tile::Geometry;
use crate::ir::dialect::{expect_int, operand_ints, DialectOp};
use crate::ir::OpError;
use crate::ir::{NumFormat, Tensor, TensorData, TensorType};
use std::sync::Arc;

/// Where an array sits in the schedule: its row tile and its place in that row tile's search
/// order (printed `row_tile.position`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct TilePos {
    pub row_tile: u32,
    pub position: u32,
}

/// `cam.array`.
#[derive(Clone, Debug, PartialEq)]
pub struct CamArray {
    pub pos: TilePos,
    /// The physical array size (every array of a design has the same).
    pub geometry: Geometry,
    /// Rows of the row tile, on physical rows `0..rows`.
    pub rows: usize,
    /// The feature on each used physical column.
    pub features: Vec<u32>,
    /// `rows x features.len()` cells, row-major: cell `(i, c)` at `i * features.len() + c`.
    pub cells: Arc<[QCell]>,
    /// Whether the row-liveness register gates this array (a second operand, `live_in`).
    pub live_in: bool,
}

impl CamArray {
    /// Cell of physical row `i`, used column `c`.
    pub fn cell(&self, i: usize, c: usize) -> &QCell {
        &self.cells[i * self.features.len() + c]
    }

    /// Cells that are not don't-care: what the array actually tests.
    pub fn care_cells(&self) -> usize {
        self.cells.iter().filter(|c| !c.is_dont_care()).count()
    }

    /// The match bits for encoder words `words` (`code_bits`-bit codes) and the liveness
    /// input, when the array has one.
    pub fn search(&self, words: &[i64], code_bits: u32, live: Option<&[i64]>) -> Vec<bool> {
        (0..self.rows)
            .map(|i| {
                live.is_none_or(|l| l[i] != 0)
                    && self.features.iter().enumerate().all(|(c, f)| {
                        let (code, nan) = split_word(words[*f as usize], code_bits);
                        self.cell(i, c).matches(code, nan)
                    })
            })
            .collect()
    }
}

/// `tensor<rows x bool>`: one match bit per row of a row tile.
pub fn match_type(rows: usize) -> TensorType {
    TensorType::new(vec![rows], NumFormat::Bool)
}

/// Checks a match-bit operand of a row tile of `rows` rows.
pub fn expect_match_bits(t: &TensorType, rows: usize, what: &str) -> Result<(), OpError> {
    if *t != match_type(rows) {
        return Err(OpError::Operand(format!("{what} must be {}, got {t}", match_type(rows))));
    }
    Ok(())
}

/// Prints a list, eliding the middle of long ones.
pub(crate) fn short_list(v: &[u32]) -> String {
    const SHOWN: usize = 16;
    let text = |s: &[u32]| s.iter().map(|x| x.to_string()).collect::<Vec<_>>().join(", ");
    if v.len() <= SHOWN {
        format!("[{}]", text(v))
    } else {
        format!("[{}, ... {} more]", text(&v[..SHOWN]), v.len() - SHOWN)
    }
}

impl DialectOp for CamArray {
    fn name(&self) -> &'static str {
        "cam.array"
    }
    fn arity(&self) -> (usize, usize) {
        (1, 2)
    }
    fn verify(&self) -> Result<(), OpError> {
        let g = self.geometry;
        if self.rows == 0 || self.rows > g.rows {
            return Err(OpError::Attribute(format!("{} rows on an array of {g}", self.rows)));
        }
        if self.features.is_empty() || self.features.len() > g.cols {
            return Err(OpError::Attribute(format!(
                "{} feature columns on an array of {g}",
                self.features.len()
            )));
        }
        let mut seen = self.features.clone();
        seen.sort_unstable();
        if let Some(w) = seen.windows(2).find(|w| w[0] == w[1]) {
            return Err(OpError::Attribute(format!("feature {} drives two columns", w[0])));
        }
        let want = self.rows * self.features.len();
        if self.cells.len() != want {
            return Err(OpError::Attribute(format!(
                "{} cells for {} rows x {} columns",
                self.cells.len(),
                self.rows,
                self.features.len()
            )));
        }
        Ok(())
    }
    fn infer_type(&self, operands: &[&TensorType]) -> Result<TensorType, OpError> {
        let codes = expect_int(operands[0], "codes")?;
        let n = match codes.shape.as_slice() {
            [n] => *n,
            _ => {
                return Err(OpError::Operand(format!("codes {codes} must be one word per feature")))
            }
        };
        if let Some(f) = self.features.iter().find(|f| **f as usize >= n) {
            return Err(OpError::Operand(format!(
                "column feature {f} is not among the {n} encoded features"
            )));
        }
        // `{nan, code}` words: the code is every bit below the top one.
        let code_bits = codes.format.bits() - 1;
        let max_code = (1u64 << code_bits.min(32)) - 1;
        let too_wide = |b: Option<u16>| b.is_some_and(|b| u64::from(b) > max_code);
        if let Some(k) = self.cells.iter().position(|c| too_wide(c.lo) || too_wide(c.hi)) {
            return Err(OpError::Operand(format!(
                "cell {k} has a bound beyond the {code_bits}-bit codes of {codes}"
            )));
        }
        match (self.live_in, operands.len()) {
            (true, 2) => expect_match_bits(operands[1], self.rows, "live_in")?,
            (false, 1) => {}
            (true, _) => {
                return Err(OpError::Operand("a gated array takes codes and live_in".into()))
            }
            (false, _) => {
                return Err(OpError::Operand("an array without liveness takes only codes".into()))
            }
        }
        Ok(match_type(self.rows))
    }
    fn attributes(&self) -> Vec<(&'static str, String)> {
        let mut a = vec![
            ("tile", format!("{}.{}", self.pos.row_tile, self.pos.position)),
            ("rows", self.rows.to_string()),
            ("cols", short_list(&self.features)),
            ("care", format!("{}/{}", self.care_cells(), self.cells.len())),
        ];
        if self.live_in {
            a.push(("live_in", "true".into()));
        }
        a
    }
    fn eval(&self, a: &[&Tensor], ty: &TensorType) -> Result<Tensor, OpError> {
        let words = operand_ints(a[0])?;
        let code_bits = a[0].format.bits() - 1;
        let live = match a.get(1) {
            Some(l) => Some(operand_ints(l)?),
            None => None,
        };
        let bits = self.search(&words, code_bits, live.as_deref());
        Ok(Tensor {
            shape: ty.shape.clone(),
            format: NumFormat::Bool,
            data: TensorData::I64(bits.into_iter().map(i64::from).collect()),
        })
    }
    crate::dialect_op_boilerplate!();
}
