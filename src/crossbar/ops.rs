//! What the crossbar family's IR ops carry, with their type rules, printed attributes and
//! reference semantics (`crate::ir::op` and `crate::ir::interp` delegate here, so the op enum
//! stays a list and the crossbar arithmetic lives in one place).
//!
//! The ops, from model level to hardware level:
//! - `xbar.input_quant` ([`InputQuant`]): the host's float-to-code quantizer of the graph input.
//! - `xbar.dense` ([`QLayer`]): a quantized layer's exact integer product `sum_i x_i w[j,i]`.
//! - `xbar.array` / `xbar.readout` ([`XbarLayerHw`], shared by a layer's arrays and read-out):
//!   the same product as the arrays compute it: bit-serial inputs, bit-sliced cells (levels
//!   when placed; after programming, integer conductance codes with variation, stuck cells and
//!   finite on/off ratio baked in), ADC conversion, shift-and-add.
//! - `xbar.dequant` ([`OutputDequant`]): the host's conversion of the last accumulators to the
//!   ONNX output space.

use super::adc::Adc;
use super::device::{program, Codes, DeviceConfig, ProgrammedLayer};
use super::mlp::{fake_quant, softmax, Activation, TrainedQuant};
use super::quant::{InputQuant, QLayer};
use super::tile::{map_layer, LayerMap, SignedEncoding, XbarConfig};
use crate::crossbar::error::XbarError;
use crate::ir::OpError;
use crate::ir::{NumFormat, TensorType};
use std::sync::Arc;

/// The host's last step: accumulators to the ONNX output space.
#[derive(Clone, Debug, PartialEq)]
pub struct OutputDequant {
    /// The real value of one accumulator LSB per output.
    pub scale: Vec<f64>,
    pub activation: Activation,
    /// A trained output quantizer (QONNX), applied in float.
    pub output_quant: Option<TrainedQuant>,
    pub softmax: bool,
}

impl OutputDequant {
    /// `f32(acc_j * scale_j)` (f64 product), the activation, the output quantizer, softmax.
    pub fn apply(&self, acc: &[i64]) -> Vec<f32> {
        let mut out: Vec<f32> = acc
            .iter()
            .zip(&self.scale)
            .map(|(a, s)| self.activation.apply((*a as f64 * s) as f32))
            .collect();
        if let Some(q) = &self.output_quant {
            out = fake_quant(&out, q, 1);
        }
        if self.softmax {
            softmax(&mut out);
        }
        out
    }
}

/// One layer on crossbar arrays: the quantized layer, its placement, the programmed chip and
/// the ADC. Programming is part of the payload so the IR holds exactly the integers the RTL's
/// weight-slice memories are loaded with. The large parts are shared (`Arc`): a pass that
/// changes one of them allocates only the new one, and the simulator's network and the RTL
/// read the same cells.
#[derive(Clone, Debug, PartialEq)]
pub struct XbarLayerHw {
    pub layer: Arc<QLayer>,
    pub map: Arc<LayerMap>,
    pub cfg: XbarConfig,
    pub dev: DeviceConfig,
    pub prog: Arc<ProgrammedLayer>,
    pub adc: Adc,
}

impl XbarLayerHw {
    /// Places `layer` on arrays of `cfg` with ideally programmed cells (codes = levels).
    pub fn place(layer: &Arc<QLayer>, cfg: &XbarConfig) -> Result<XbarLayerHw, XbarError> {
        let map = map_layer(layer, cfg)?;
        let dev = DeviceConfig::ideal();
        let prog = Arc::new(program(&map, &dev, 0)?);
        let adc = Adc { bits: cfg.adc_bits, full_scale: cfg.full_scale_levels(), frac_bits: 0 };
        Ok(XbarLayerHw { layer: layer.clone(), map: Arc::new(map), cfg: *cfg, dev, prog, adc })
    }

    /// The same placement programmed on a real device; `index` selects the layer's PRNG stream
    /// (so each layer's chip is the same whatever else is programmed).
    pub fn program(&self, dev: &DeviceConfig, index: usize) -> Result<XbarLayerHw, XbarError> {
        let prog = Arc::new(program(&self.map, dev, index)?);
        let adc = Adc { frac_bits: dev.frac_bits, ..self.adc };
        Ok(XbarLayerHw { prog, adc, dev: *dev, ..self.clone() })
    }

    /// Whether the layer's inputs are two's complement (the top bit plane weighs `-2^(a-1)`).
    pub fn signed_input(&self) -> bool {
        self.layer.in_lo < 0
    }

    /// Whether the chip computes the exact product: every cell holds its level exactly and
    /// the ADC converts every column sum of a full array without loss.
    pub fn is_exact(&self) -> bool {
        let f = self.prog.frac_bits;
        let codes_exact = match &self.prog.codes {
            // A level's code is exact or not for every cell at that level: only the levels
            // that occur matter, found without walking the cells.
            Codes::ByLevel(t) => {
                let used = self.map.levels_used();
                t.iter().enumerate().all(|(l, g)| !used[l] || (l as u32) << f == *g)
            }
            Codes::PerCell(_) => self
                .map
                .levels()
                .zip(self.prog.codes(&self.map))
                .all(|(l, g)| u32::from(l) << f == g),
        };
        let max_sum = self.cfg.rows as u64 * ((1u64 << self.cfg.cell_bits) - 1);
        codes_exact && self.adc.is_lossless_up_to(max_sum)
    }

    /// The largest partial sum (fine units) of every used logical column on its array: all
    /// of the array's rows driven.
    pub fn max_partial_sums(&self) -> Vec<i64> {
        let ncols = self.map.logical_cols();
        let cpw = self.map.cols_per_weight();
        let mut out = vec![0i64; ncols];
        for (k, a) in self.map.arrays.iter().enumerate() {
            let cols = a.out0 * cpw..(a.out0 + a.nouts) * cpw;
            for (o, s) in out[cols].iter_mut().zip(self.prog.column_sums(&self.map, k)) {
                *o = (*o).max(s);
            }
        }
        out
    }

    /// Bounds of every output for inputs in `[xlo, xhi]`: each converted column value lies in
    /// `[0, level(code(max partial sum))]`, each shift-add term between 0 and its signed weight
    /// times that, and the offset encoding subtracts `offset * sum_i x_i`. Every partial
    /// accumulation of these terms stays inside the bounds too (each term's range contains 0).
    pub fn output_bounds(&self, xlo: i128, xhi: i128) -> Vec<(i128, i128)> {
        let m = &self.map;
        let (p_n, cpw) = (m.polarities as usize, m.cols_per_weight());
        let a_bits = self.layer.a_bits;
        let (mut pos, mut neg) = (0i128, 0i128);
        for t in 0..a_bits {
            if self.signed_input() && t + 1 == a_bits {
                neg += 1i128 << t;
            } else {
                pos += 1i128 << t;
            }
        }
        let mut b = vec![(0i128, 0i128); m.n_out];
        for (k, a) in m.arrays.iter().enumerate() {
            let cols = a.out0 * cpw..(a.out0 + a.nouts) * cpw;
            for (c, max_p) in cols.zip(self.prog.column_sums(m, k)) {
                let lmax = i128::from(self.adc.level(self.adc.code(max_p)));
                let (j, rem) = (c / cpw, c % cpw);
                let v = lmax << ((rem / p_n) as u32 * m.cell_bits);
                let (up, down) =
                    if rem % p_n == 0 { (pos * v, neg * v) } else { (neg * v, pos * v) };
                b[j].0 -= down;
                b[j].1 += up;
            }
        }
        if m.offset != 0 {
            let n = m.n_in as i128;
            let off = i128::from(m.offset);
            let (s_lo, s_hi) = (n * xlo, n * xhi);
            for (lo, hi) in b.iter_mut() {
                *lo += (-off * s_lo).min(-off * s_hi);
                *hi += (-off * s_lo).max(-off * s_hi);
            }
        }
        b
    }

    /// Logical columns (`out0 * S * P ..`) of array `k`.
    pub fn array_cols(&self, k: usize) -> std::ops::Range<usize> {
        let (a, cpw) = (&self.map.arrays[k], self.map.cols_per_weight());
        a.out0 * cpw..(a.out0 + a.nouts) * cpw
    }

    /// The largest partial sum (fine units) any column of array `k` carries: all of its rows
    /// driven.
    pub fn array_max_sum(&self, k: usize) -> i64 {
        self.prog.column_sums(&self.map, k).into_iter().max().unwrap_or(0)
    }

    /// Array `k`'s column partial sums for every input bit plane, `[a_bits][cols]` row-major:
    /// per plane `t`, the sum of the conductance codes of the rows whose input bit `t` is 1
    /// (what the bit lines carry to the ADCs; noise-free).
    pub fn array_sums(&self, k: usize, x: &[i64]) -> Vec<i64> {
        let a = &self.map.arrays[k];
        let cols = self.array_cols(k);
        let a_bits = self.layer.a_bits;
        let mut out = vec![0i64; a_bits as usize * cols.len()];
        // The array's codes are read from storage once, then once per plane from the block.
        let block = self.prog.decode_block(&self.map, a.row0..a.row0 + a.nrows, cols.clone());
        let w = cols.len();
        for t in 0..a_bits {
            let plane = &mut out[t as usize * w..(t as usize + 1) * w];
            for (r, xi) in x.iter().skip(a.row0).take(a.nrows).enumerate() {
                if (*xi as u64 >> t) & 1 == 0 {
                    continue;
                }
                block.add_span(r * w..(r + 1) * w, plane, None);
            }
        }
        out
    }

    /// The read-out of the layer's arrays: every partial sum converted by the ADC and shifted
    /// and added into its output (slice shift, polarity sign, plane weight; the top plane of
    /// signed inputs weighs `-2^(a-1)`), then the offset encoding's digital correction
    /// `- offset * sum_i x_i`. `sums[k]` is [`XbarLayerHw::array_sums`] of array `k`. Equal to
    /// the simulator's noise-free product.
    pub fn read_out(&self, x: &[i64], sums: &[Vec<i64>]) -> Vec<i64> {
        let m = &self.map;
        let (p_n, cpw) = (m.polarities as usize, m.cols_per_weight());
        let a_bits = self.layer.a_bits;
        let mut acc = vec![0i64; m.n_out];
        for (k, s) in sums.iter().enumerate() {
            let cols = self.array_cols(k);
            for t in 0..a_bits {
                let signed_top = self.signed_input() && t + 1 == a_bits;
                let plane_w: i64 = if signed_top { -(1i64 << t) } else { 1i64 << t };
                let plane = &s[t as usize * cols.len()..(t as usize + 1) * cols.len()];
                for (c, p) in cols.clone().zip(plane) {
                    let level = self.adc.level(self.adc.code(*p));
                    let (j, rem) = (c / cpw, c % cpw);
                    let v = plane_w * (level << ((rem / p_n) as u32 * m.cell_bits));
                    acc[j] += if rem % p_n == 1 { -v } else { v };
                }
            }
        }
        if m.offset != 0 {
            let sum_x: i64 = x[..m.n_in].iter().sum();
            acc.iter_mut().for_each(|v| *v -= m.offset * sum_x);
        }
        acc
    }

    /// Consistency of the parts (sizes agree), checked by the IR verifier.
    pub fn check(&self) -> Result<(), OpError> {
        let (l, m) = (&self.layer, &self.map);
        if m.n_in != l.n_in || m.n_out != l.n_out || l.w.len() != l.n_in * l.n_out {
            return Err(OpError::Attribute(format!(
                "layer `{}`: placement is {}x{} but the layer is {}x{}",
                l.name, m.n_in, m.n_out, l.n_in, l.n_out
            )));
        }
        if m.weights.w.len() != m.n_in * m.n_out || self.prog.len(m) != m.cells() {
            return Err(OpError::Attribute(format!(
                "layer `{}`: {} placed weights and {} conductance codes for {} rows x {} columns",
                l.name,
                m.weights.w.len(),
                self.prog.len(m),
                m.n_in,
                m.logical_cols()
            )));
        }
        if self.prog.frac_bits != self.adc.frac_bits {
            return Err(OpError::Attribute(format!(
                "layer `{}`: conductance codes must have the ADC's {} fraction bits",
                l.name, self.adc.frac_bits
            )));
        }
        Ok(())
    }
}

/// The code range a layer's `a_bits`-bit inputs may take: two's complement when signed.
pub fn code_range(a_bits: u32, signed: bool) -> (i128, i128) {
    if signed {
        (-(1i128 << (a_bits - 1)), (1i128 << (a_bits - 1)) - 1)
    } else {
        (0, (1i128 << a_bits) - 1)
    }
}

/// Checks that an operand is a vector of `n` integer codes that fit `a_bits` bit planes.
fn codes_operand(
    x: &TensorType,
    n: usize,
    a_bits: u32,
    signed: bool,
) -> Result<(i128, i128), OpError> {
    let (lo, hi) = x
        .format
        .int_range()
        .ok_or_else(|| OpError::Operand(format!("operand must be integer codes, got {x}")))?;
    if x.shape != [n] {
        return Err(OpError::Operand(format!("operand {x} must be [{n}]")));
    }
    let (clo, chi) = code_range(a_bits, signed);
    if lo < clo || hi > chi {
        let kind = if signed { "signed" } else { "unsigned" };
        return Err(OpError::Operand(format!(
            "operand {x} does not fit {a_bits}-bit {kind} input codes"
        )));
    }
    Ok((lo, hi))
}

/// Type of `xbar.input_quant`: `[n] f32 -> [n]` codes in `[lo, hi]`.
pub fn input_quant_type(q: &InputQuant, x: &TensorType) -> Result<TensorType, OpError> {
    if x.format != NumFormat::Float32 || x.shape != [q.scale.len()] {
        return Err(OpError::Operand(format!("operand {x} must be [{}] f32", q.scale.len())));
    }
    Ok(TensorType::new(x.shape.clone(), NumFormat::int_for_range(q.lo.into(), q.hi.into())?))
}

/// Type of `xbar.dense`: the exact range of `sum_i x_i w[j,i]` over the operand's range.
pub fn dense_type(l: &QLayer, x: &TensorType) -> Result<TensorType, OpError> {
    let (xlo, xhi) = codes_operand(x, l.n_in, l.a_bits, l.in_lo < 0)?;
    let (mut lo, mut hi) = (0i128, 0i128);
    for j in 0..l.n_out {
        let (mut rlo, mut rhi) = (0i128, 0i128);
        for w in (j * l.n_in..(j + 1) * l.n_in).map(|k| l.w.get(k)) {
            let (p, q) = (i128::from(w) * xlo, i128::from(w) * xhi);
            rlo += p.min(q);
            rhi += p.max(q);
        }
        (lo, hi) = if j == 0 { (rlo, rhi) } else { (lo.min(rlo), hi.max(rhi)) };
    }
    Ok(TensorType::new(vec![l.n_out], NumFormat::int_for_range(lo, hi)?))
}

/// The read-out's result type: the hardware bounds of [`XbarLayerHw::output_bounds`].
pub fn arrays_type(h: &XbarLayerHw, x: &TensorType) -> Result<TensorType, OpError> {
    let (xlo, xhi) = codes_operand(x, h.layer.n_in, h.layer.a_bits, h.signed_input())?;
    let b = h.output_bounds(xlo, xhi);
    let lo = b.iter().map(|p| p.0).min().unwrap_or(0);
    let hi = b.iter().map(|p| p.1).max().unwrap_or(0);
    Ok(TensorType::new(vec![h.layer.n_out], NumFormat::int_for_range(lo, hi)?))
}

/// Type of `xbar.dequant`: `[n]` integers to `[n] f32`.
pub fn dequant_type(d: &OutputDequant, x: &TensorType) -> Result<TensorType, OpError> {
    if !x.format.is_int() || x.shape != [d.scale.len()] {
        return Err(OpError::Operand(format!("operand {x} must be [{}] integers", d.scale.len())));
    }
    Ok(TensorType::f32(x.shape.clone()))
}

pub use crate::ir::printer::{hash_ints, ints_attr, reals_attr};

fn activation_name(a: Activation) -> &'static str {
    match a {
        Activation::Identity => "identity",
        Activation::Relu => "relu",
        Activation::Sigmoid => "sigmoid",
        Activation::Tanh => "tanh",
    }
}

/// Printed attributes of `xbar.input_quant`.
pub fn input_quant_attrs(q: &InputQuant) -> Vec<(&'static str, String)> {
    let s: Vec<f64> = q.scale.iter().map(|x| f64::from(*x)).collect();
    vec![
        ("scales", reals_attr(&s)),
        ("range", format!("[{}, {}]", q.lo, q.hi)),
        ("rounding", format!("{:?}", q.rounding).to_lowercase()),
    ]
}

/// Printed attributes of `xbar.dense`.
pub fn dense_attrs(l: &QLayer) -> Vec<(&'static str, String)> {
    vec![
        ("weights", format!("<{}x{} x {}>", l.n_out, l.n_in, hash_ints(l.w.iter()))),
        ("w_range", format!("[{}, {}]", l.w_lo, l.w_hi)),
        ("a_bits", l.a_bits.to_string()),
        ("input", if l.in_lo < 0 { "signed" } else { "unsigned" }.to_string()),
    ]
}

/// Printed attributes of `xbar.readout`: the layer's geometry, ADC and (programmed) device.
pub fn readout_attrs(h: &XbarLayerHw, programmed: bool) -> Vec<(&'static str, String)> {
    let (m, c) = (&h.map, &h.cfg);
    let mut v = vec![
        ("array", format!("{}x{}", c.rows, c.cols)),
        ("cell_bits", c.cell_bits.to_string()),
        (
            "encoding",
            match c.encoding {
                SignedEncoding::Differential => "differential".to_string(),
                SignedEncoding::Offset => format!("offset({})", m.offset),
            },
        ),
        ("slices", m.slices.to_string()),
        ("cols_per_weight", m.cols_per_weight().to_string()),
        ("tiles", format!("{}x{}", m.row_tiles, m.col_tiles)),
        ("a_bits", h.layer.a_bits.to_string()),
        ("adc", format!("{}b/{}cols", h.adc.bits, c.cols_per_adc)),
        ("full_scale", h.adc.full_scale.to_string()),
    ];
    if programmed {
        let d = &h.dev;
        v.extend([
            ("frac_bits", h.prog.frac_bits.to_string()),
            ("on_off", format!("{:?}", d.on_off_ratio)),
            ("d2d", format!("{:?}", d.d2d_sigma)),
            ("c2c", format!("{:?}", d.c2c_sigma)),
            ("stuck", format!("{}/{}", h.prog.stuck.0, h.prog.stuck.1)),
            ("seed", d.seed.to_string()),
            ("thresholds", ints_attr(&h.adc.thresholds())),
        ]);
    }
    v
}

/// Printed attributes of `xbar.array` `k`: its place in the layer's tiling, the inputs (rows)
/// and logical columns it holds, and its cells (levels when ideally programmed, conductance
/// codes when programmed), summarised.
pub fn array_attrs(h: &XbarLayerHw, k: usize, programmed: bool) -> Vec<(&'static str, String)> {
    let a = &h.map.arrays[k];
    let cols = h.array_cols(k);
    let ncols = h.map.logical_cols();
    let cells = (a.row0..a.row0 + a.nrows).flat_map(|i| cols.clone().map(move |c| i * ncols + c));
    let (what, hash) = if programmed {
        let block = h.prog.decode_block(&h.map, a.row0..a.row0 + a.nrows, cols.clone());
        ("codes", hash_ints(block.iter().map(i64::from)))
    } else {
        ("levels", hash_ints(cells.map(|i| i64::from(h.map.level_at(i)))))
    };
    vec![
        ("tile", format!("[{}, {}]", a.row_tile, a.col_tile)),
        ("rows", format!("{}..{}", a.row0, a.row0 + a.nrows)),
        ("cols", format!("{}..{}", cols.start, cols.end)),
        ("cells", format!("<{}x{} {what} {hash}>", a.nrows, cols.len())),
    ]
}

/// Type of `xbar.array` `k`: per input bit plane, its columns' partial sums, `[a_bits, cols]`
/// in `[0, largest sum]`.
pub fn array_type(h: &XbarLayerHw, k: usize, x: &TensorType) -> Result<TensorType, OpError> {
    codes_operand(x, h.layer.n_in, h.layer.a_bits, h.signed_input())?;
    let shape = vec![h.layer.a_bits as usize, h.array_cols(k).len()];
    Ok(TensorType::new(shape, NumFormat::int_for_range(0, h.array_max_sum(k).max(0).into())?))
}

/// Type of `xbar.readout`: operand 0 the layer's input codes, then every array's partial sums
/// in the layer's array order; the result is [`arrays_type`].
pub fn readout_type(h: &XbarLayerHw, operands: &[&TensorType]) -> Result<TensorType, OpError> {
    let n = h.map.arrays.len();
    if operands.len() != n + 1 {
        return Err(OpError::Operand(format!(
            "takes the input codes and {n} arrays, has {} operands",
            operands.len()
        )));
    }
    for (k, t) in operands[1..].iter().enumerate() {
        let want = [h.layer.a_bits as usize, h.array_cols(k).len()];
        if t.shape != want || !t.format.is_int() {
            return Err(OpError::Operand(format!(
                "operand {} is {t}, array {k} gives {want:?} integers",
                k + 1
            )));
        }
    }
    arrays_type(h, operands[0])
}

/// Printed attributes of `xbar.dequant`.
pub fn dequant_attrs(d: &OutputDequant) -> Vec<(&'static str, String)> {
    vec![
        ("scales", reals_attr(&d.scale)),
        ("activation", activation_name(d.activation).to_string()),
        ("output_quant", d.output_quant.as_ref().map_or("none".into(), |q| q.node.clone())),
        ("softmax", d.softmax.to_string()),
    ]
}
