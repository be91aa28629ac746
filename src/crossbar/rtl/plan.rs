//! The numbers of the crossbar digital twin, computed from the hardware IR before any Verilog
//! is built: per layer the schedule (rows, ADC steps, planes), every register width (each one
//! derived from a bound, so nothing overflows), the ADC's integer transfer function, and the
//! memory images (conductance codes, biases, requantization constants).

use crate::crossbar::adc::Adc;
use crate::crossbar::error::XbarError;
use crate::crossbar::graph::Network;
use crate::crossbar::ops::XbarLayerHw;
use crate::crossbar::quant::{LayerRequant, LayerTail};
use crate::ir::NumFormat;

pub use crate::backend::verilog::build::{sbits, ubits};

/// Index bits of a memory of `depth` words, as simulators expect them (at least 1).
pub fn index_bits(depth: usize) -> u32 {
    ubits(depth.saturating_sub(1) as u128)
}

/// The ADC as integer arithmetic: `code = min((a * P + b) / d, max_code)` with `a`, `b`, `d`
/// the transfer function of [`Adc::code`] divided by their common factor (a power-of-two `d`
/// becomes a shift), and `level(code)` from a table unless it is the identity.
#[derive(Clone, Debug, PartialEq)]
pub struct AdcPlan {
    pub bits: u32,
    pub max_code: u64,
    pub a: u128,
    pub b: u128,
    pub d: u128,
    /// Bits of `a * P + b` for the largest partial sum of any layer.
    pub num_bits: u32,
    /// `level(k)` for `k = 0..=max_code`, or `None` when it equals `k` (lossless steps).
    pub levels: Option<Vec<u64>>,
    pub level_bits: u32,
}

fn gcd(a: u128, b: u128) -> u128 {
    if b == 0 {
        a
    } else {
        gcd(b, a % b)
    }
}

impl AdcPlan {
    /// For `adc` converting partial sums up to `max_sum` fine units.
    pub fn new(adc: &Adc, max_sum: u64) -> AdcPlan {
        let lc = adc.max_code() as u128;
        let fs = (adc.fs_eff() as u128) << adc.frac_bits;
        let (a, b, d) = (2 * lc, fs, 2 * fs);
        let g = gcd(gcd(a, b), d);
        let (a, b, d) = (a / g, b / g, d / g);
        let levels: Vec<u64> = (0..=adc.max_code()).map(|k| adc.level(k) as u64).collect();
        let identity = levels.iter().enumerate().all(|(k, l)| *l == k as u64);
        AdcPlan {
            bits: adc.bits,
            max_code: adc.max_code(),
            a,
            b,
            d,
            num_bits: ubits(a * u128::from(max_sum) + b),
            level_bits: ubits(u128::from(*levels.last().unwrap_or(&0))),
            levels: if identity { None } else { Some(levels) },
        }
    }
    /// `Some(k)` when `d = 2^k`.
    pub fn shift(&self) -> Option<u32> {
        self.d.is_power_of_two().then(|| self.d.trailing_zeros())
    }
    /// The code as the RTL computes it (for tests against [`Adc::code`]).
    pub fn code(&self, p: u64) -> u64 {
        let q = (self.a * u128::from(p) + self.b) / self.d;
        q.min(u128::from(self.max_code)) as u64
    }
}

/// One row tile: the arrays sharing a block of inputs, side by side over the layer's columns.
#[derive(Clone, Debug, PartialEq)]
pub struct RowTile {
    pub row0: usize,
    pub nrows: usize,
    /// The arrays' first logical column and used column count.
    pub arrays: Vec<(usize, usize)>,
}

/// What the requantization of a hidden layer needs.
#[derive(Clone, Debug, PartialEq)]
pub struct RequantPlan {
    pub multipliers: Vec<i32>,
    pub shifts: Vec<u32>,
    pub lo: i64,
    pub hi: i64,
}

/// One layer of the twin.
#[derive(Clone, Debug, PartialEq)]
pub struct LayerPlan {
    pub name: String,
    pub n_in: usize,
    pub n_out: usize,
    pub a_bits: u32,
    pub signed_in: bool,
    /// Row cycles per bit plane (the largest row tile).
    pub rows: usize,
    pub row_tiles: Vec<RowTile>,
    pub ncols: usize,
    pub cols_per_weight: usize,
    pub polarities: usize,
    pub cell_bits: u32,
    /// Bits of one column accumulator lane (its largest partial sum fits).
    pub lane: u32,
    pub adcs_per_array: usize,
    /// ADC steps per plane: the most columns one ADC converts.
    pub steps: usize,
    pub offset: i64,
    /// Signed width of the accumulators (the layer op's result range plus one bit).
    pub acc_bits: u32,
    pub bias: Vec<i64>,
    pub bias_bits: u32,
    /// Signed width of `acc + bias`.
    pub sum_bits: u32,
    /// Hidden layers: requantization to the next layer's input codes.
    pub requant: Option<RequantPlan>,
    /// The last layer: its output elements' format (the graph output).
    pub out_format: NumFormat,
}

/// The whole design's numbers.
#[derive(Clone, Debug, PartialEq)]
pub struct Plan {
    pub layers: Vec<LayerPlan>,
    pub adc: AdcPlan,
    /// Format of the input codes (the accelerator's input elements).
    pub in_format: NumFormat,
}

fn signed_bits_of(f: NumFormat) -> Result<u32, XbarError> {
    let (lo, hi) =
        f.int_range().ok_or_else(|| XbarError::Rtl(format!("{f} is not an integer format")))?;
    Ok(sbits(lo, hi))
}

fn layer_plan(
    h: &XbarLayerHw,
    tail: &LayerTail,
    acc: NumFormat,
    sum: NumFormat,
    out: NumFormat,
) -> Result<LayerPlan, XbarError> {
    let (l, m) = (&h.layer, &h.map);
    let ncols = m.logical_cols();
    let cpw = m.cols_per_weight();
    let lane = ubits(h.max_partial_sums().iter().copied().max().unwrap_or(0).max(0) as u128);
    let adcs = h.cfg.adcs_per_array();
    let mut tiles: Vec<RowTile> = Vec::new();
    for a in &m.arrays {
        let idx = match tiles.iter().position(|t| t.row0 == a.row0) {
            Some(i) => i,
            None => {
                tiles.push(RowTile { row0: a.row0, nrows: a.nrows, arrays: Vec::new() });
                tiles.len() - 1
            }
        };
        tiles[idx].arrays.push((a.out0 * cpw, a.nouts * cpw));
    }
    let steps = m.arrays.iter().map(|a| (a.nouts * cpw).div_ceil(adcs)).max().unwrap_or(0);
    let requant = tail.requant.as_ref().map(|LayerRequant { requant, lo, hi }| RequantPlan {
        multipliers: requant.iter().map(|r| r.multiplier).collect(),
        shifts: requant.iter().map(|r| r.shift).collect(),
        lo: *lo,
        hi: *hi,
    });
    let (blo, bhi) = tail.bias.iter().fold((0i64, 0i64), |(a, b), v| (a.min(*v), b.max(*v)));
    Ok(LayerPlan {
        name: l.name.clone(),
        n_in: l.n_in,
        n_out: l.n_out,
        a_bits: l.a_bits,
        signed_in: h.signed_input(),
        rows: tiles.iter().map(|t| t.nrows).max().unwrap_or(0),
        row_tiles: tiles,
        ncols,
        cols_per_weight: cpw,
        polarities: m.polarities as usize,
        cell_bits: m.cell_bits,
        lane,
        adcs_per_array: adcs,
        steps,
        offset: m.offset,
        acc_bits: signed_bits_of(acc)? + 1,
        bias: tail.bias.clone(),
        bias_bits: sbits(blo.into(), bhi.into()),
        sum_bits: signed_bits_of(sum)?,
        requant,
        out_format: out,
    })
}

impl Plan {
    /// The plan of a network whose every layer is placed (`xbar.array`s and `xbar.readout`),
    /// with the register widths of the types the passes inferred for its nodes.
    pub fn new(net: &Network) -> Result<Plan, XbarError> {
        let out = net.accumulators()?.format;
        let mut layers = Vec::new();
        let mut adc: Option<(Adc, u64)> = None;
        for l in &net.layers {
            let h = l.stage.hw().ok_or_else(|| {
                XbarError::Rtl(format!("layer `{}` is not placed on arrays", l.stage.layer().name))
            })?;
            layers.push(layer_plan(h, &l.tail, l.product.format, l.sum.format, out)?);
            let max_sum = h.max_partial_sums().iter().copied().max().unwrap_or(0).max(0) as u64;
            adc = match adc {
                None => Some((h.adc, max_sum)),
                Some((a, m)) if a == h.adc => Some((a, m.max(max_sum))),
                Some(_) => {
                    return Err(XbarError::Rtl(format!(
                        "layer `{}` uses another ADC than the first",
                        h.layer.name
                    )))
                }
            };
        }
        let (adc, max_sum) =
            adc.ok_or_else(|| XbarError::Rtl("the network has no layer".into()))?;
        Ok(Plan { layers, adc: AdcPlan::new(&adc, max_sum), in_format: net.codes.format })
    }

    /// Cycles from accepting an input to its output: per layer one initialisation cycle,
    /// `a_bits` planes of (rows + ADC steps + one shift-add cycle), one requantization cycle.
    /// The next input is accepted one cycle after the output.
    pub fn latency(&self) -> u64 {
        self.layers
            .iter()
            .map(|l| 2 + u64::from(l.a_bits) * (l.rows as u64 + l.steps as u64 + 1))
            .sum::<u64>()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn adc_arithmetic_equals_the_transfer_function() {
        for (bits, fs, f) in
            [(4, 15, 0), (4, 12, 0), (2, 9, 0), (3, 100, 6), (8, 128, 6), (5, 40, 6)]
        {
            let adc = Adc { bits, full_scale: fs, frac_bits: f };
            let max = (fs + 20) << f;
            let p = AdcPlan::new(&adc, max);
            for s in 0..=max {
                assert_eq!(p.code(s), adc.code(s as i64), "bits {bits} fs {fs} f {f} p {s}");
            }
            let lv: Vec<u64> = (0..=adc.max_code()).map(|k| adc.level(k) as u64).collect();
            match &p.levels {
                Some(t) => assert_eq!(t, &lv),
                None => assert!(lv.iter().enumerate().all(|(k, l)| *l == k as u64)),
            }
        }
        // Lossless 4-bit ADC over 15 levels, whole units: code = P, a shift by 0.
        let p = AdcPlan::new(&Adc { bits: 4, full_scale: 15, frac_bits: 0 }, 15);
        assert_eq!((p.a, p.b, p.d, p.shift()), (2, 1, 2, Some(1)));
        assert!(p.levels.is_none());
    }

    #[test]
    fn widths() {
        assert_eq!(sbits(-128, 127), 8);
        assert_eq!(sbits(0, 128), 9);
        assert_eq!(sbits(-129, 0), 9);
        assert_eq!(ubits(255), 8);
        assert_eq!(index_bits(64), 6);
        assert_eq!(index_bits(30), 5);
        assert_eq!(index_bits(1), 1);
    }
}
