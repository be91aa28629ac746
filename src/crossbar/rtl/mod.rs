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
use crate::crossbar::graph::Network;
use plan::Plan;
use thiserror::Error;

/// Why a chain cannot be lowered.
#[derive(Debug, Error, PartialEq)]
#[error("crossbar RTL: {0}")]
pub struct XbarLowerError(pub String);

/// The lowered design: its module, memory images and timing.
#[derive(Clone, Debug, PartialEq)]
pub struct XbarDesign {
    pub module: Module,
    /// `(file name, contents)` of every `$readmemh` image, written beside the design.
    pub files: Vec<(String, String)>,
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
) -> Result<String, String> {
    let mut s = String::new();
    for (i, w) in words.into_iter().enumerate() {
        let b = crate::backend::verilog::hex::pack(&w, field, signed)
            .map_err(|e| format!("memory word {i}: {e}"))?;
        s.push_str(&b.to_hex());
        s.push('\n');
    }
    Ok(s)
}

/// The `$readmemh` image of a row tile's conductance codes: one line per row, lane `c` (of
/// `lane` bits, lane 0 least significant) the code of logical column `c`, in the hex digits
/// [`crate::backend::verilog::bits::Bits::to_hex`] writes. Written straight from the packed
/// codes, a machine word at a time: no per-cell word or bit vector.
fn codes_image<R: AsRef<[u32]>>(
    rows: impl Iterator<Item = R>,
    lane: u32,
) -> Result<String, String> {
    let mut s = String::new();
    let mut word: Vec<u64> = Vec::new();
    for (i, row) in rows.enumerate() {
        let width = lane as usize * row.as_ref().len();
        word.clear();
        word.resize(width.div_ceil(64) + 1, 0);
        for (c, &g) in row.as_ref().iter().enumerate() {
            let g = u64::from(g);
            if lane < 64 && g >> lane != 0 {
                return Err(format!("memory word {i}: element {c}: {g} does not fit {lane} bits"));
            }
            let at = c * lane as usize;
            let (k, off) = (at / 64, at % 64);
            word[k] |= g << off;
            if off != 0 && off + lane as usize > 64 {
                word[k + 1] |= g >> (64 - off);
            }
        }
        for d in (0..width.div_ceil(4)).rev() {
            let nib = (word[d * 4 / 64] >> (d * 4 % 64)) & 0xf;
            s.push(char::from_digit(nib as u32, 16).unwrap_or('0'));
        }
        s.push('\n');
    }
    Ok(s)
}

fn column(values: impl IntoIterator<Item = i128>) -> impl Iterator<Item = Vec<i128>> {
    values.into_iter().map(|v| vec![v])
}

/// Lowers a placed network to a module named `top` with its memory images.
pub fn lower(net: &Network, top: &str) -> Result<XbarDesign, XbarLowerError> {
    let err = XbarLowerError;
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
    if let Some(levels) = &plan.adc.levels {
        let img = image(column(levels.iter().map(|v| *v as i128)), plan.adc.level_bits, false);
        files.push((level_file(top), img.map_err(err)?));
    }
    for (l, lp) in plan.layers.iter().enumerate() {
        let hw = net.layers[l].stage.hw().ok_or_else(|| err(format!("layer {l} is not placed")))?;
        for (r, t) in lp.row_tiles.iter().enumerate() {
            let rows = (t.row0..t.row0 + t.nrows)
                .map(|i| hw.prog.span(&hw.map, i * lp.ncols..(i + 1) * lp.ncols));
            files.push((g_file(top, l, r), codes_image(rows, lp.lane).map_err(err)?));
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
    let latency = u32::try_from(plan.latency()).map_err(|_| err("latency overflows".into()))?;
    Ok(XbarDesign { module, files, in_width, out_width, latency, interval: latency + 1, plan })
}
