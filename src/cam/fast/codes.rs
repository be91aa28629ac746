//! What every tiling of one quantized CAM shares on the fast path: the code space the tables are
//! indexed by, the input encoder into it, and each row's care cells (a row has a handful, the
//! CAM has hundreds of columns, so everything downstream walks care cells, never all cells).
//!
//! **Codes.** Feature `f`'s code is clamped to `cap_f = max(largest bound any cell of f stores,
//! encoder table size)` and NaN becomes `cap_f + 1`. Clamping loses nothing: every bound `b` of
//! `f` has `b <= cap_f`, so for a code `c >= cap_f` both `c >= b` and `c < b` have the same truth
//! value as for `cap_f`. Encoder codes never exceed `cap_f`; only hand-made [`Encoded`] codes do.

use crate::cam::error::CamError;
use crate::cam::quantize::{Encoded, QCell, QuantizedCam};
use crate::cam::sim::search_steps;

/// Encoder events of one sample (the encoder fields of `SearchEvents`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct EncoderEvents {
    /// Comparator evaluations summed over non-NaN features.
    pub comparisons: u64,
    /// The longest binary search over non-NaN features.
    pub steps: u64,
}

/// A care (not don't-care) cell of a row.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CareCell {
    pub feature: u32,
    pub cell: QCell,
}

/// The code space and care cells of a [`QuantizedCam`], built once and shared by the fast
/// simulators of all its tilings.
#[derive(Clone, Debug, PartialEq)]
pub struct SparseCam {
    /// `cap_f`: codes are clamped to it; `cap_f + 1` stands for NaN.
    cap: Vec<u32>,
    /// Comparisons of a binary search over feature `f`'s encoder table.
    steps: Vec<u64>,
    /// Row `r`'s care cells are `care[row_start[r]..row_start[r + 1]]`, by ascending feature.
    row_start: Vec<usize>,
    care: Vec<CareCell>,
}

/// Encoder tables up to this size are searched by counting (branch-free) instead of bisection.
const LINEAR_SEARCH_MAX: usize = 24;

impl SparseCam {
    /// Fails if a row does not have one cell per feature or there are fewer encoder tables
    /// than features (a malformed `QuantizedCam`; `quantize` never builds one).
    pub fn new(q: &QuantizedCam) -> Result<SparseCam, CamError> {
        let nf = q.num_features;
        if q.encoders.len() != nf {
            return Err(CamError::Internal(format!(
                "quantized CAM has {} encoder tables for {nf} features",
                q.encoders.len()
            )));
        }
        // `FeatureEncoder::code` returns a u16, so encoder codes never exceed u16::MAX.
        let mut cap: Vec<u32> =
            q.encoders.iter().map(|e| e.thresholds.len().min(u16::MAX as usize) as u32).collect();
        let mut row_start = Vec::with_capacity(q.rows.len() + 1);
        let mut care = Vec::new();
        for (r, row) in q.rows.iter().enumerate() {
            if row.cells.len() != nf {
                return Err(CamError::Internal(format!(
                    "quantized CAM row {r} has {} cells for {nf} features",
                    row.cells.len()
                )));
            }
            row_start.push(care.len());
            for (f, c) in row.cells.iter().enumerate() {
                if !c.is_dont_care() {
                    care.push(CareCell { feature: f as u32, cell: *c });
                    for b in [c.lo, c.hi].into_iter().flatten() {
                        cap[f] = cap[f].max(b as u32);
                    }
                }
            }
        }
        row_start.push(care.len());
        let steps = q.encoders.iter().map(|e| search_steps(e.thresholds.len())).collect();
        Ok(SparseCam { cap, steps, row_start, care })
    }

    pub fn num_features(&self) -> usize {
        self.cap.len()
    }

    pub fn num_rows(&self) -> usize {
        self.row_start.len() - 1
    }

    /// Care cells of row `r`, by ascending feature.
    pub fn care(&self, r: usize) -> &[CareCell] {
        &self.care[self.row_start[r]..self.row_start[r + 1]]
    }

    /// The largest non-NaN code of feature `f`.
    pub fn cap(&self, f: usize) -> u32 {
        self.cap[f]
    }

    /// The code that stands for NaN in feature `f`.
    pub fn nan_code(&self, f: usize) -> u32 {
        self.cap[f] + 1
    }

    /// A cell's verdict on a code of feature `f` (`cap_f + 1` meaning NaN).
    pub fn verdict(&self, f: usize, cell: &QCell, code: u32) -> bool {
        if code > self.cap[f] {
            cell.matches(0, true)
        } else {
            // `code <= cap_f`, and `cap_f` is a u16 bound or an encoder code.
            cell.matches(code as u16, false)
        }
    }

    /// Runs the input encoder on a float32 sample straight into codes (`out`, one per feature),
    /// with no allocation. The code is `FeatureEncoder::code`'s `#{k : t_k <= x}`: small tables
    /// are counted, larger ones bisected, which agree because a sorted table's `t_k <= x` holds
    /// on a prefix.
    pub fn encode_f32(
        &self,
        q: &QuantizedCam,
        x: &[f32],
        out: &mut [u32],
    ) -> Result<EncoderEvents, CamError> {
        let nf = self.cap.len();
        if x.len() != nf || out.len() != nf {
            let (what, got) =
                if x.len() != nf { ("input sample", x.len()) } else { ("code buffer", out.len()) };
            return Err(CamError::SampleWidth { what: what.into(), expected: nf, got });
        }
        let mut ev = EncoderEvents::default();
        for (f, ((v, o), enc)) in x.iter().zip(out.iter_mut()).zip(&q.encoders).enumerate() {
            if v.is_nan() {
                *o = self.cap[f] + 1;
            } else {
                let t = &enc.thresholds;
                let code = if t.len() <= LINEAR_SEARCH_MAX {
                    t.iter().map(|k| (*k <= *v) as usize).sum::<usize>()
                } else {
                    t.partition_point(|k| *k <= *v)
                };
                *o = code as u16 as u32;
                ev.comparisons += self.steps[f];
                ev.steps = ev.steps.max(self.steps[f]);
            }
        }
        Ok(ev)
    }

    /// Codes of an already encoded sample (clamped, NaN flags folded in). `e` must have one
    /// code and one flag per feature.
    pub fn from_encoded(&self, e: &Encoded, out: &mut [u32]) -> Result<EncoderEvents, CamError> {
        let nf = self.cap.len();
        if e.codes.len() != nf || e.nan.len() != nf || out.len() != nf {
            return Err(CamError::SampleWidth {
                what: "encoded sample".into(),
                expected: nf,
                got: if e.codes.len() != nf { e.codes.len() } else { e.nan.len() },
            });
        }
        let mut ev = EncoderEvents::default();
        for (f, o) in out.iter_mut().enumerate() {
            if e.nan[f] {
                *o = self.cap[f] + 1;
            } else {
                *o = (e.codes[f] as u32).min(self.cap[f]);
                ev.comparisons += self.steps[f];
                ev.steps = ev.steps.max(self.steps[f]);
            }
        }
        Ok(ev)
    }
}
