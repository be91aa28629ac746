//! The crossbar family's RTL: a synthesizable digital twin of the programmed arrays.
//!
//! Lowered from the final graph's nodes ([`crate::crossbar::graph::read`] gathers each layer's
//! arrays, bias constant and requantization op) by pure functions: [`plan::Plan`] computes
//! the numbers, [`emit`] builds the Verilog AST, and [`lower`] adds the memory images. The
//! design reproduces [`crate::crossbar::sim::simulate_layer`] bit for bit: the weight-slice
//! memories hold the programmed conductance codes (variation, stuck cells and off-state
//! leakage included), inputs are applied one bit plane at a time, every used column's sum is
//! converted by the exact saturating ADC of [`crate::crossbar::adc`] (each ADC converting its
//! columns in turn), and the converted values are shifted and added over slices, polarities,
//! planes and row tiles; then bias, requantization with ReLU clamp, and the next layer.

pub mod emit;
pub mod plan;

use crate::backend::verilog::ast::Module;
use crate::crossbar::error::XbarError;
use crate::crossbar::graph::Network;
use crate::crossbar::ops::XbarLayerHw;
use crate::family::StreamedFile;
use plan::Plan;
use std::io::Write;
use std::ops::Range;
use std::sync::Arc;
use thiserror::Error;

/// Why a chain cannot be lowered.
#[derive(Debug, Error, PartialEq)]
#[error("crossbar RTL: {0}")]
pub struct XbarLowerError(pub String);

/// The lowered design: its module, memory images and timing.
#[derive(Clone, Debug)]
pub struct XbarDesign {
    pub module: Module,
    /// `(file name, contents)` of the small `$readmemh` images, written beside the design.
    pub files: Vec<(String, String)>,
    /// The conductance-code images, written from the programmed layers when the design is.
    pub streamed: Vec<StreamedFile>,
    pub in_width: u32,
    pub out_width: u32,
    /// Cycles from accepting an input to its output.
    pub latency: u32,
    /// Cycles between accepted inputs.
    pub interval: u32,
    pub plan: Plan,
}

impl XbarDesign {
    /// As the flow's hardware description.
    pub fn into_hw_design(self) -> crate::family::HwDesign {
        crate::family::HwDesign {
            top: self.module.name.clone(),
            modules: vec![self.module],
            in_width: self.in_width,
            out_width: self.out_width,
            latency: self.latency,
            interval: self.interval,
            files: self.files,
            streamed: self.streamed,
        }
    }
}

pub(crate) fn g_file(top: &str, layer: usize, row_tile: usize) -> String {
    format!("{top}_g{layer}_{row_tile}.hex")
}
pub(crate) fn bias_file(top: &str, layer: usize) -> String {
    format!("{top}_bias{layer}.hex")
}
pub(crate) fn mul_file(top: &str, layer: usize) -> String {
    format!("{top}_mul{layer}.hex")
}
pub(crate) fn shift_file(top: &str, layer: usize) -> String {
    format!("{top}_sh{layer}.hex")
}
pub(crate) fn level_file(top: &str) -> String {
    format!("{top}_adc_level.hex")
}

/// A `$readmemh` image: one word per line of `width`-bit fields (field 0 least significant).
fn image(
    words: impl IntoIterator<Item = Vec<i128>>,
    field: u32,
    signed: bool,
) -> Result<String, XbarError> {
    let mut s = String::new();
    for (i, w) in words.into_iter().enumerate() {
        let b = crate::backend::verilog::hex::pack(&w, field, signed)
            .map_err(|e| XbarError::Rtl(format!("memory word {i}: {e}")))?;
        s.push_str(&b.to_hex());
        s.push('\n');
    }
    Ok(s)
}

/// The rows `rows` of a layer's cells, each as its `ncols` conductance codes.
fn code_rows(
    hw: &XbarLayerHw,
    rows: Range<usize>,
    ncols: usize,
) -> impl Iterator<Item = Vec<u32>> + '_ {
    rows.map(move |i| hw.prog.span(&hw.map, i * ncols..(i + 1) * ncols))
}

/// Refuses a code that does not fit its `lane` bits, before any image is written; `max_code`
/// is the layer's largest code ([`crate::crossbar::device::ProgrammedLayer::max_code`]).
fn check_lanes(
    hw: &XbarLayerHw,
    rows: Range<usize>,
    ncols: usize,
    lane: u32,
    max_code: u32,
) -> Result<(), XbarError> {
    // The largest code fits: no cell needs looking at (the walk only finds the first misfit).
    if lane >= 32 || max_code >> lane == 0 {
        return Ok(());
    }
    for (i, row) in code_rows(hw, rows, ncols).enumerate() {
        if let Some((c, g)) = row.iter().enumerate().find(|(_, g)| lane < 32 && **g >> lane != 0) {
            return Err(XbarError::Rtl(format!(
                "memory word {i}: element {c}: {g} does not fit {lane} bits"
            )));
        }
    }
    Ok(())
}

/// Writes the `$readmemh` image of a row tile's conductance codes: one line per row, lane `c`
/// (of `lane` bits, lane 0 least significant) the code of logical column `c`, in the hex digits
/// [`crate::backend::verilog::bits::Bits::to_hex`] writes. Streamed a row at a time from the
/// programmed layer: the image text is never held whole (it is ~3 bytes per cell).
fn write_codes(
    out: &mut dyn Write,
    hw: &XbarLayerHw,
    rows: Range<usize>,
    ncols: usize,
    lane: u32,
) -> std::io::Result<()> {
    let chunks = WeightChunks::new(hw, ncols, lane);
    let width = lane as usize * ncols;
    let mut word: Vec<u64> = Vec::new();
    let mut line: Vec<u8> = Vec::new();
    for i in rows {
        word.clear();
        word.resize(width.div_ceil(64) + 2, 0);
        match &chunks {
            Some(c) => c.pack_row(hw, i, &mut word),
            None => {
                let row = hw.prog.span(&hw.map, i * ncols..(i + 1) * ncols);
                for (c, &g) in row.iter().enumerate() {
                    or_at(&mut word, c * lane as usize, &[u64::from(g)]);
                }
            }
        }
        line.clear();
        hex_digits(&word, width.div_ceil(4), &mut line);
        line.push(b'\n');
        out.write_all(&line)?;
    }
    Ok(())
}

/// The packed lanes of one weight's cells, for every weight code of a layer whose codes
/// depend on the level only: a row of the image is then one chunk per weight, ORed in at
/// `j * cols_per_weight * lane`, instead of a level, a code and a shift per cell.
struct WeightChunks {
    /// Lowest weight code; `chunks[w - lo]` holds code `w`'s cells.
    lo: i64,
    chunks: Vec<Vec<u64>>,
    /// Bits of one weight's cells.
    bits: usize,
}

impl WeightChunks {
    /// `None` when the codes are stored per cell, the lanes do not tile the row, or the weight
    /// codes span too wide a range to tabulate.
    fn new(hw: &XbarLayerHw, ncols: usize, lane: u32) -> Option<WeightChunks> {
        let crate::crossbar::device::Codes::ByLevel(table) = &hw.prog.codes else {
            return None;
        };
        let map = &hw.map;
        let cpw = map.cols_per_weight();
        if ncols != map.logical_cols() || lane == 0 || lane > 32 {
            return None;
        }
        // The layer's declared code range (every weight lies in it): a walk over the weights
        // for their actual extremes would be repeated for every row tile's image.
        let (lo, hi) = (hw.layer.w_lo.min(hw.layer.w_hi), hw.layer.w_hi.max(hw.layer.w_lo));
        if hi.checked_sub(lo).is_none_or(|d| d >= 1 << 16) {
            return None;
        }
        let bits = cpw * lane as usize;
        let chunks = (lo..=hi)
            .map(|code| {
                let mut c = vec![0u64; bits.div_ceil(64) + 1];
                for (k, level) in map.weight_levels(code).enumerate() {
                    or_at(&mut c, k * lane as usize, &[u64::from(table[usize::from(level)])]);
                }
                c.truncate(bits.div_ceil(64));
                c
            })
            .collect();
        Some(WeightChunks { lo, chunks, bits })
    }

    /// Row `i`'s lanes into `word` (zeroed, with two spare words).
    fn pack_row(&self, hw: &XbarLayerHw, i: usize, word: &mut [u64]) {
        let map = &hw.map;
        for j in 0..map.n_out {
            let w = map.weights.w.get(j * map.n_in + i);
            or_at(word, j * self.bits, &self.chunks[(w - self.lo) as usize]);
        }
    }
}

/// ORs the bits of `chunk` (little-endian words) into `word` from bit `at`.
fn or_at(word: &mut [u64], at: usize, chunk: &[u64]) {
    let (k, off) = (at / 64, at % 64);
    for (m, &c) in chunk.iter().enumerate() {
        word[k + m] |= c << off;
        if off != 0 {
            word[k + m + 1] |= c >> (64 - off);
        }
    }
}

/// Appends the `nibbles` low hex digits of the little-endian words `word`, most significant
/// first: whole words a byte (two digits) at a time, the partial top word digit by digit. The
/// code images are hundreds of megabytes of digits at 17 M weights.
fn hex_digits(word: &[u64], nibbles: usize, line: &mut Vec<u8>) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let full = nibbles / 16;
    for d in (full * 16..nibbles).rev() {
        line.push(HEX[((word[d / 16] >> (d % 16 * 4)) & 0xf) as usize]);
    }
    for w in word[..full].iter().rev() {
        for b in w.to_be_bytes() {
            line.extend_from_slice(&[HEX[usize::from(b >> 4)], HEX[usize::from(b & 0xf)]]);
        }
    }
}

fn column(values: impl IntoIterator<Item = i128>) -> impl Iterator<Item = Vec<i128>> {
    values.into_iter().map(|v| vec![v])
}

/// Lowers a placed network to a module named `top` with its memory images.
pub fn lower(net: &Network, top: &str) -> Result<XbarDesign, XbarLowerError> {
    let err = |e: XbarError| XbarLowerError(e.to_string());
    let plan = Plan::new(net).map_err(err)?;
    let in_ty = net.codes.clone();
    let out_ty = net.accumulators().map_err(err)?.clone();
    let width = |t: &crate::ir::TensorType| {
        u32::try_from(t.total_bits())
            .map_err(|_| XbarLowerError(format!("port of type {t} is too wide")))
    };
    let (in_width, out_width) = (width(&in_ty)?, width(&out_ty)?);
    let module = emit::module(top, &plan, in_width, out_width).map_err(err)?;
    let mut files = Vec::new();
    let mut streamed = Vec::new();
    if let Some(levels) = &plan.adc.levels {
        let img = image(column(levels.iter().map(|v| *v as i128)), plan.adc.level_bits, false);
        files.push((level_file(top), img.map_err(err)?));
    }
    for (l, lp) in plan.layers.iter().enumerate() {
        let hw = net.layers[l]
            .stage
            .hw()
            .ok_or_else(|| XbarLowerError(format!("layer {l} is not placed")))?;
        // One walk over the weights for the layer, not one per row tile.
        let max_code = hw.prog.max_code(&hw.map);
        for (r, t) in lp.row_tiles.iter().enumerate() {
            let (rows, ncols, lane) = (t.row0..t.row0 + t.nrows, lp.ncols, lp.lane);
            check_lanes(hw, rows.clone(), ncols, lane, max_code).map_err(err)?;
            let hw = hw.clone();
            streamed.push(StreamedFile {
                name: g_file(top, l, r),
                write: Arc::new(move |out| write_codes(out, &hw, rows.clone(), ncols, lane)),
            });
        }
        let bias = image(column(lp.bias.iter().map(|b| i128::from(*b))), lp.bias_bits, true);
        files.push((bias_file(top, l), bias.map_err(err)?));
        if let Some(rq) = &lp.requant {
            let m = image(column(rq.multipliers.iter().map(|m| i128::from(*m))), 32, false);
            files.push((mul_file(top, l), m.map_err(err)?));
            let s = image(column(rq.shifts.iter().map(|s| i128::from(*s))), 7, false);
            files.push((shift_file(top, l), s.map_err(err)?));
        }
    }
    let latency =
        u32::try_from(plan.latency()).map_err(|_| XbarLowerError("latency overflows".into()))?;
    Ok(XbarDesign {
        module,
        files,
        streamed,
        in_width,
        out_width,
        latency,
        interval: latency + 1,
        plan,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The word-at-a-time digits equal the digit-by-digit loop they replace, for partial and
    /// whole top words.
    #[test]
    fn hex_digits_equal_the_digit_loop() {
        let word = [0x0123_4567_89ab_cdefu64, 0xfedc_ba98_7654_3210, 0x5a];
        for nibbles in [0, 1, 15, 16, 17, 31, 32, 33, 34, 35] {
            let mut fast = Vec::new();
            hex_digits(&word, nibbles, &mut fast);
            let slow: Vec<u8> = (0..nibbles)
                .rev()
                .map(|d| b"0123456789abcdef"[((word[d / 16] >> (d % 16 * 4)) & 0xf) as usize])
                .collect();
            assert_eq!(fast, slow, "{nibbles} digits");
        }
    }
}
