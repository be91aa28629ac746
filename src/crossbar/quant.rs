//! Quantization of a dense-layer chain to the integer semantics the crossbar and the RTL share.
//!
//! Integer semantics (exact; the simulator and the Verilog reproduce them bit for bit):
//! 1. Activations have a scale per channel (`s_i`, calibrated as `max |x_i| / hi`, or one per
//!    tensor, or a QONNX `Quant`'s trained scale). Graph input: `q_i = clamp(round(x_i / s_i),
//!    lo, hi)` computed in `f32` (half-to-even unless a QONNX `Quant` says otherwise); this
//!    happens on the host, the accelerator receives codes. Signed codes use
//!    `[-2^(a-1), 2^(a-1)-1]` (two's complement), unsigned ones (all calibration values >= 0,
//!    or after ReLU) `[0, 2^a - 1]`.
//! 2. Weights: the input scales are folded in first (`w'_ji = w_ji * s_i`, exact in f64), then
//!    symmetric `w_q = clamp(round_half_even(w' / s_w[j]), -(2^(b-1)-1), 2^(b-1)-1)` with one
//!    scale per output channel (`max_i |w'_ji| / (2^(b-1)-1)`) or per layer. A QONNX weight
//!    `Quant` keeps its trained codes (then the layer input has one scale `s`, and `s_w[j]`
//!    becomes `s * s_w[j]`).
//! 3. Accumulate: `acc_j = sum_i q_i * w_q[j,i] + b_q[j]` in integers (the accumulator width is
//!    [`QLayer::acc_bits`]), `b_q[j] = round_half_even(b_j / s_acc[j])`, where `s_acc[j]` (the
//!    real value of one accumulator LSB) is `s_w[j]`.
//! 4. Hidden layers: `y_j = clamp(round_half_even(acc_j * M_j / 2^n_j), lo, hi)`, the product
//!    exact, `M_j / 2^n_j ~= s_acc[j] / s_next[j]`, `M_j` in `[2^30, 2^31)` (an `i32`); ReLU
//!    raises `lo` to 0. `y` is the next layer's input code. This is the IR's `Requantize`
//!    (`crate::ir::interp::requantize`) with one multiplier per output channel.
//! 5. Last layer: `out_j = f32(acc_j * s_acc[j])` (f64 product), then the final activation and
//!    softmax in float: the ONNX output space.

use super::mlp::{Activation, Mlp};
use super::ops::OutputDequant;
use crate::crossbar::error::XbarError;
use crate::frontend::onnx::Rounding;
use crate::ir::Graph;
use std::sync::Arc;

/// Weight scale granularity.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ScaleGranularity {
    /// One scale for the whole tensor (the layer).
    PerTensor,
    /// One scale per channel (output channel for weights, feature for activations).
    PerChannel,
}

/// How activation ranges are calibrated from sample data.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Calibration {
    /// The largest magnitude seen.
    Max,
    /// The given percentile (0..=100) of magnitudes, clipping outliers.
    Percentile(f64),
}

/// Requested quantization. Trained QONNX quantizers in the model take precedence.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct QuantConfig {
    pub w_bits: u32,
    pub a_bits: u32,
    pub weight_scale: ScaleGranularity,
    /// Scales of the graph input: per feature (quantized on the host and folded into the first
    /// layer's weights, so free in hardware) or one for all.
    pub input_scale: ScaleGranularity,
    /// Scales of hidden activations: per channel (folded into the next weights and the
    /// per-channel requantization multipliers) or one per tensor (one multiplier per layer, as
    /// the IR's `Requantize` needs).
    pub act_scale: ScaleGranularity,
    pub calibration: Calibration,
}

impl Default for QuantConfig {
    fn default() -> Self {
        QuantConfig {
            w_bits: 8,
            a_bits: 8,
            weight_scale: ScaleGranularity::PerChannel,
            input_scale: ScaleGranularity::PerChannel,
            act_scale: ScaleGranularity::PerChannel,
            calibration: Calibration::Max,
        }
    }
}

pub use crate::ir::requant::Requant;

/// Why an MLP cannot be quantized for the crossbar. Typed so the family can tell, through the
/// pass manager ([`crate::passes::PassError::Failed`] keeps it as its cause), a layer whose
/// scales need a requantization factor no `i32` multiplier holds — reported as E0102 naming
/// the weight tensor — from every other failure.
#[derive(Debug, PartialEq, thiserror::Error)]
pub enum QuantError {
    #[error("layer `{layer}`: {source}")]
    Requant { layer: String, source: crate::ir::OpError },
    #[error("{0}")]
    Invalid(String),
    /// The graph holds no dense-layer chain, or its float values cannot be computed.
    #[error(transparent)]
    Model(#[from] XbarError),
}

impl From<String> for QuantError {
    fn from(message: String) -> QuantError {
        QuantError::Invalid(message)
    }
}

/// Float-to-integer quantizer of the graph input.
#[derive(Clone, Debug, PartialEq)]
pub struct InputQuant {
    /// One scale per input feature.
    pub scale: Vec<f32>,
    pub lo: i64,
    pub hi: i64,
    pub rounding: Rounding,
}

impl InputQuant {
    pub fn quantize(&self, x: &[f32]) -> Vec<i64> {
        x.iter()
            .zip(&self.scale)
            .map(|(v, s)| self.rounding.apply((v / s).clamp(self.lo as f32, self.hi as f32)) as i64)
            .collect()
    }
}

/// A hidden layer's requantization of its accumulators to the next layer's input codes in
/// `[lo, hi]`, one multiplier per output channel.
#[derive(Clone, Debug, PartialEq)]
pub struct LayerRequant {
    pub requant: Vec<Requant>,
    pub lo: i64,
    pub hi: i64,
}

/// What follows a layer's product in integers: the bias, then (hidden layers) the
/// requantization. Kept apart from [`QLayer`] because the IR stores them apart: the bias is a
/// constant added by a core `int_add`, the requantization a core `requantize` op.
#[derive(Clone, Debug, PartialEq)]
pub struct LayerTail {
    pub bias: Vec<i64>,
    /// `None` for the last layer, whose accumulators the host dequantizes.
    pub requant: Option<LayerRequant>,
}

/// A layer's integer weight codes `[n_out][n_in]`, stored at the narrowest width that holds
/// the code range (one byte a weight for `w_bits <= 8`): built once by [`quantize`] and shared
/// (`Arc<QLayer>`) by placement, programming, the simulator and the RTL, which all derive what
/// they need (cell levels, bit planes, conductance codes) from it.
#[derive(Clone, Debug, PartialEq)]
pub enum WeightCodes {
    I8(Vec<i8>),
    I16(Vec<i16>),
    I32(Vec<i32>),
    I64(Vec<i64>),
}

/// `$body` with `$v` bound to the codes at their stored width: the one place the widths are
/// listed, so every reader (length, one code, products) stays generic over them.
macro_rules! with_codes {
    ($codes:expr, $v:ident => $body:expr) => {
        match $codes {
            WeightCodes::I8($v) => $body,
            WeightCodes::I16($v) => $body,
            WeightCodes::I32($v) => $body,
            WeightCodes::I64($v) => $body,
        }
    };
}

impl WeightCodes {
    /// Codes in `[lo, hi]` (`lo <= 0 <= hi` not required), at the narrowest width holding both.
    pub fn collect(lo: i64, hi: i64, codes: impl Iterator<Item = i64>) -> WeightCodes {
        let fits = |min: i64, max: i64| lo >= min && hi <= max;
        // Each conversion is exact: every code lies in `[lo, hi]`, checked by the caller's
        // clamp; a code outside falls back to the wide form below.
        if fits(i8::MIN.into(), i8::MAX.into()) {
            let v: Vec<i8> = codes.map_while(|c| i8::try_from(c).ok()).collect();
            return WeightCodes::I8(v);
        }
        if fits(i16::MIN.into(), i16::MAX.into()) {
            return WeightCodes::I16(codes.map_while(|c| i16::try_from(c).ok()).collect());
        }
        if fits(i32::MIN.into(), i32::MAX.into()) {
            return WeightCodes::I32(codes.map_while(|c| i32::try_from(c).ok()).collect());
        }
        WeightCodes::I64(codes.collect())
    }
    pub fn len(&self) -> usize {
        with_codes!(self, v => v.len())
    }
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// Code `k` (row-major).
    #[inline]
    // The `I64` arm's `into` is the identity; the other widths need it.
    #[allow(clippy::useless_conversion)]
    pub fn get(&self, k: usize) -> i64 {
        with_codes!(self, v => v[k].into())
    }
    /// Every code, row-major.
    pub fn iter(&self) -> impl Iterator<Item = i64> + '_ {
        (0..self.len()).map(|k| self.get(k))
    }
    /// Every code as `i64`, row-major (a copy: tests and small layers).
    pub fn to_vec(&self) -> Vec<i64> {
        self.iter().collect()
    }
    /// `sum_i x_i * w[j, i]` for each of the `n_out` rows of `n_in` codes, summed in `i`
    /// order.
    pub fn matvec(&self, n_in: usize, n_out: usize, x: &[i64]) -> Vec<i64> {
        fn rows<T: Copy + Into<i64>>(w: &[T], n_in: usize, x: &[i64]) -> Vec<i64> {
            let dot = |r: &[T]| r.iter().zip(x).map(|(w, x)| (*w).into() * x).sum();
            w.chunks_exact(n_in).map(dot).collect()
        }
        if n_in == 0 {
            return vec![0; n_out];
        }
        with_codes!(self, v => rows(v, n_in, x))
    }
    /// The exact integer sums `sum_i w[j, i] * x[r * n_in + i]` for all `rows` rows of `x`
    /// at once ([`super::dots::dots_i64`]: one pass over the codes per block of rows).
    pub fn dots(&self, x: &[i64], rows: usize, n_in: usize, n_out: usize) -> Vec<i64> {
        with_codes!(self, v => super::dots::dots_i64(v, x, rows, n_in, n_out))
    }
    /// `sum_i |w[j, i]|` for each of the rows of `n_in` codes (at the stored width, so the
    /// pass over a large layer vectorizes: the report asks for it on every run).
    pub fn abs_row_sums(&self, n_in: usize) -> Vec<i64> {
        fn rows<T: Copy + Into<i64>>(w: &[T], n_in: usize) -> Vec<i64> {
            w.chunks_exact(n_in).map(|r| r.iter().map(|w| (*w).into().abs()).sum()).collect()
        }
        if n_in == 0 {
            return Vec::new();
        }
        with_codes!(self, v => rows(v, n_in))
    }
    /// Bytes held.
    pub fn heap_bytes(&self) -> usize {
        with_codes!(self, v => std::mem::size_of_val(v.as_slice()))
    }
}

impl From<Vec<i64>> for WeightCodes {
    fn from(v: Vec<i64>) -> Self {
        let lo = v.iter().copied().min().unwrap_or(0);
        let hi = v.iter().copied().max().unwrap_or(0);
        WeightCodes::collect(lo, hi, v.into_iter())
    }
}

impl PartialEq<Vec<i64>> for WeightCodes {
    fn eq(&self, o: &Vec<i64>) -> bool {
        self.len() == o.len() && self.iter().zip(o).all(|(a, b)| a == *b)
    }
}

/// One quantized dense layer's product: what the crossbar arrays hold.
#[derive(Clone, Debug, PartialEq)]
pub struct QLayer {
    pub name: String,
    pub n_in: usize,
    pub n_out: usize,
    /// `[n_out][n_in]` integer weight codes in `[w_lo, w_hi]`.
    pub w: WeightCodes,
    pub w_lo: i64,
    pub w_hi: i64,
    /// The real value of one accumulator LSB per output channel (`s_acc[j]`).
    pub acc_scale: Vec<f64>,
    /// Input code scale per input channel, range and width (`a_bits`; two's complement when
    /// `in_lo < 0`).
    pub in_scale: Vec<f64>,
    pub in_lo: i64,
    pub in_hi: i64,
    pub a_bits: u32,
}

impl QLayer {
    /// `sum_i x_i * w[j,i]` for every output: the reference the crossbar must reproduce.
    pub fn matvec(&self, x: &[i64]) -> Vec<i64> {
        self.w.matvec(self.n_in, self.n_out, x)
    }
    /// Bits of a two's-complement accumulator that holds every reachable `acc_j` (the layer's
    /// `bias` included).
    pub fn acc_bits(&self, bias: &[i64]) -> u32 {
        let xmax = self.in_lo.abs().max(self.in_hi);
        let sums = self.w.abs_row_sums(self.n_in);
        let worst = (0..self.n_out)
            .map(|j| sums.get(j).copied().unwrap_or(0) * xmax + bias[j].abs())
            .max()
            .unwrap_or(0);
        65 - worst.leading_zeros()
    }
}

/// A quantized network. The layers are shared (`Arc`) with the IR nodes that carry them.
#[derive(Clone, Debug, PartialEq)]
pub struct QuantizedMlp {
    pub input: InputQuant,
    pub layers: Vec<Arc<QLayer>>,
    /// Per layer, its bias and requantization.
    pub tails: Vec<LayerTail>,
    /// The host's conversion of the last layer's accumulators.
    pub output: OutputDequant,
}

impl QuantizedMlp {
    /// The widest layer's inputs or outputs: what a row's activations take at most.
    pub fn widest(&self) -> usize {
        self.layers.iter().map(|l| l.n_in.max(l.n_out)).max().unwrap_or(1)
    }

    /// Runs one sample with a pluggable matrix-vector product (`layer index, input codes ->
    /// sum_i x_i w[j,i]`): the exact integer reference, or the crossbar simulator.
    pub fn run_with(&self, x: &[f32], matvec: impl FnMut(usize, &[i64]) -> Vec<i64>) -> Vec<f32> {
        let acc = self.run_codes_with(&self.input.quantize(x), matvec);
        self.dequantize(&acc)
    }

    /// The integer part: input codes to the last layer's accumulators (bias included).
    pub fn run_codes_with(
        &self,
        codes: &[i64],
        mut matvec: impl FnMut(usize, &[i64]) -> Vec<i64>,
    ) -> Vec<i64> {
        let mut codes = codes.to_vec();
        for l in 0..self.tails.len() {
            match self.layer_tail(l, matvec(l, &codes)) {
                Ok(next) => codes = next,
                Err(acc) => return acc,
            }
        }
        codes
    }

    /// Layer `l`'s integer tail on its product `acc` (taken, the bias added in place): the
    /// bias, then the requantization to the next layer's codes (`Ok`); `Err` holds the
    /// accumulators of a layer without one (the last). [`QuantizedMlp::run_codes_with`] is
    /// these steps in order.
    pub fn layer_tail(&self, l: usize, mut acc: Vec<i64>) -> Result<Vec<i64>, Vec<i64>> {
        let tail = &self.tails[l];
        acc.truncate(tail.bias.len());
        acc.iter_mut().zip(&tail.bias).for_each(|(a, b)| *a += b);
        match &tail.requant {
            Some(LayerRequant { requant, lo, hi }) => {
                crate::ir::requant::apply_clamped(requant, &mut acc, *lo, *hi);
                Ok(acc)
            }
            None => Err(acc),
        }
    }

    /// The host's float part after the last layer: dequantize, final activation, output
    /// quantizer, softmax.
    pub fn dequantize(&self, acc: &[i64]) -> Vec<f32> {
        self.output.apply(acc)
    }

    /// The last layer's integer accumulators (bias included) for input codes: the exact
    /// integer datapath without the host's float conversions.
    pub fn accumulators(&self, codes: &[i64]) -> Vec<i64> {
        self.run_codes_with(codes, |l, c| self.layers[l].matvec(c))
    }

    /// The exact integer reference.
    pub fn forward(&self, x: &[f32]) -> Vec<f32> {
        self.run_with(x, |l, codes| self.layers[l].matvec(codes))
    }
}

/// Magnitude at the requested calibration point.
fn calibrate(values: &mut [f32], how: Calibration) -> f32 {
    let mut mags: Vec<f32> = values.iter().map(|v| v.abs()).collect();
    if mags.is_empty() {
        return 0.0;
    }
    match how {
        Calibration::Max => mags.iter().copied().fold(0.0, f32::max),
        Calibration::Percentile(p) => {
            mags.sort_by(|a, b| a.total_cmp(b));
            let k = ((p.clamp(0.0, 100.0) / 100.0) * (mags.len() - 1) as f64).round() as usize;
            mags[k]
        }
    }
}

fn act_range(signed: bool, bits: u32) -> (i64, i64) {
    if signed {
        (-(1 << (bits - 1)), (1 << (bits - 1)) - 1)
    } else {
        (0, (1 << bits) - 1)
    }
}

/// Input quantizer of one layer: per-channel scales, code range, width, rounding.
struct LayerInput {
    scale: Vec<f64>,
    lo: i64,
    hi: i64,
    bits: u32,
    rounding: Rounding,
}

/// Finds the dense-layer chain in the model-level graph `g` and quantizes it with activation
/// ranges calibrated on `calib` (one flattened sample per row): the layer inputs come from the
/// one float interpreter ([`super::mlp::values_at`], f64 sums). What the `quantize` pass runs.
pub fn quantize_graph(
    g: &Graph,
    calib: &[Vec<f32>],
    cfg: &QuantConfig,
) -> Result<(Mlp, QuantizedMlp), QuantError> {
    let chain = super::mlp::chain(g, "the model")?;
    let seen = super::mlp::values_at(g, &chain.inputs, calib)?;
    let q = quantize(&chain.mlp, &seen, calib.len(), cfg)?;
    Ok((chain.mlp, q))
}

/// Quantizes `mlp` with activation ranges calibrated on `seen`: per layer, its float inputs
/// on the `rows` calibration samples (row-major `[rows][n_in]`, before the layer's input
/// quantizer; a layer with a trained quantizer reads none of its own).
pub fn quantize(
    mlp: &Mlp,
    seen: &[Vec<f32>],
    rows: usize,
    cfg: &QuantConfig,
) -> Result<QuantizedMlp, QuantError> {
    if !(2..=16).contains(&cfg.w_bits) || !(1..=16).contains(&cfg.a_bits) {
        return Err(QuantError::Invalid(format!(
            "w_bits {} / a_bits {} out of range (2..=16 / 1..=16)",
            cfg.w_bits, cfg.a_bits
        )));
    }
    let n = mlp.layers.len();
    for l in &mlp.layers[..n - 1] {
        if !matches!(l.activation, Activation::Relu | Activation::Identity) {
            return Err(QuantError::Invalid(format!(
                "layer `{}` uses {:?} between layers; the integer crossbar datapath supports Relu or no activation there (Sigmoid and Tanh only after the last layer)",
                l.name, l.activation
            )));
        }
    }
    let needs_calib = mlp.layers.iter().any(|l| l.input_quant.is_none());
    if needs_calib && rows == 0 {
        return Err(QuantError::Invalid("activation ranges need calibration data (X_calib.npy) for layers without a trained quantizer".into()));
    }
    if seen.len() != n {
        return Err(QuantError::Invalid(format!(
            "calibration values for {} layers, the network has {n}",
            seen.len()
        )));
    }
    // Per-layer, per-channel input samples.
    let mut seen: Vec<Vec<Vec<f32>>> = mlp
        .layers
        .iter()
        .zip(seen)
        .map(|(l, h)| {
            (0..l.n_in).map(|i| h.iter().skip(i).step_by(l.n_in).copied().collect()).collect()
        })
        .collect();
    let mut inputs = Vec::with_capacity(n);
    for (l, layer) in mlp.layers.iter().enumerate() {
        inputs.push(match &layer.input_quant {
            Some(q) => {
                if q.scale.len() != 1 {
                    return Err(QuantError::Invalid(format!(
                        "activation Quant `{}` must have one scale",
                        q.node
                    )));
                }
                let (lo, hi) = q.range();
                LayerInput {
                    scale: vec![q.scale[0] as f64; layer.n_in],
                    lo,
                    hi,
                    bits: q.bits,
                    rounding: q.rounding,
                }
            }
            None => {
                let signed = seen[l].iter().flatten().any(|v| *v < 0.0);
                let (lo, hi) = act_range(signed, cfg.a_bits);
                let granularity = if l == 0 { cfg.input_scale } else { cfg.act_scale };
                let per_tensor =
                    granularity == ScaleGranularity::PerTensor || layer.weight_quant.is_some();
                let mut all: Vec<f32> = seen[l].iter().flatten().copied().collect();
                let tensor_mag = calibrate(&mut all, cfg.calibration);
                // A channel never seen non-zero gets the tensor's range: a scale of its own
                // would be arbitrary and, folded into the weights, could dominate the
                // per-output weight scale.
                let mags: Vec<f32> = if per_tensor {
                    vec![tensor_mag; layer.n_in]
                } else {
                    seen[l]
                        .iter_mut()
                        .map(|v| calibrate(v, cfg.calibration))
                        .map(|m| if m > 0.0 { m } else { tensor_mag })
                        .collect()
                };
                // Scales are stored as f32 (the host quantizes in f32) and used exactly.
                let scale = mags
                    .iter()
                    .map(|m| if *m > 0.0 { (*m as f64 / hi as f64) as f32 as f64 } else { 1.0 })
                    .collect();
                LayerInput { scale, lo, hi, bits: cfg.a_bits, rounding: Rounding::HalfEven }
            }
        });
    }
    let mut layers = Vec::with_capacity(n);
    let mut tails = Vec::with_capacity(n);
    let mut output = None;
    for (l, layer) in mlp.layers.iter().enumerate() {
        let inp = &inputs[l];
        let (w, acc_scale, w_lo, w_hi) = quantize_weights(layer, &inp.scale, cfg)?;
        let mut bias = Vec::with_capacity(layer.n_out);
        for (bf, sa) in layer.bias.iter().zip(&acc_scale) {
            let b = (*bf as f64 / sa).round_ties_even();
            if b.abs() > i32::MAX as f64 {
                return Err(QuantError::Invalid(format!(
                    "layer `{}`: bias {bf} overflows int32 at scale {sa}",
                    layer.name
                )));
            }
            bias.push(b as i64);
        }
        let requant = if l + 1 < n {
            let next = &inputs[l + 1];
            let lo = if layer.activation == Activation::Relu { next.lo.max(0) } else { next.lo };
            let requant = acc_scale
                .iter()
                .zip(&next.scale)
                .map(|(sa, sn)| {
                    Requant::from_real(sa / sn)
                        .map_err(|source| QuantError::Requant { layer: layer.name.clone(), source })
                })
                .collect::<Result<_, _>>()?;
            Some(LayerRequant { requant, lo, hi: next.hi })
        } else {
            output = Some(OutputDequant {
                scale: acc_scale.clone(),
                activation: layer.activation,
                output_quant: mlp.output_quant.clone(),
                softmax: mlp.softmax,
            });
            None
        };
        tails.push(LayerTail { bias, requant });
        layers.push(Arc::new(QLayer {
            name: layer.name.clone(),
            n_in: layer.n_in,
            n_out: layer.n_out,
            w,
            w_lo,
            w_hi,
            acc_scale,
            in_scale: inp.scale.clone(),
            in_lo: inp.lo,
            in_hi: inp.hi,
            a_bits: inp.bits,
        }));
    }
    let i0 = &inputs[0];
    Ok(QuantizedMlp {
        input: InputQuant {
            scale: i0.scale.iter().map(|s| *s as f32).collect(),
            lo: i0.lo,
            hi: i0.hi,
            rounding: i0.rounding,
        },
        layers,
        tails,
        output: output.ok_or_else(|| QuantError::Invalid("the network has no layer".into()))?,
    })
}

/// Integer weight codes, the accumulator scale per output and the code range. Calibrated
/// channels get a scale floor so that their bias stays representable (a channel whose weights
/// are all ~0, as L2-regularised dead units are, would otherwise get a vanishing scale).
fn quantize_weights(
    layer: &super::mlp::DenseLayer,
    in_scale: &[f64],
    cfg: &QuantConfig,
) -> Result<(WeightCodes, Vec<f64>, i64, i64), String> {
    let (n_out, n_in) = (layer.n_out, layer.n_in);
    if let Some(q) = &layer.weight_quant {
        if !q.signed {
            return Err(format!("weight Quant `{}` must be signed", q.node));
        }
        let (lo, hi) = q.range();
        let scales: Vec<f32> =
            (0..n_out).map(|j| if q.scale.len() == 1 { q.scale[0] } else { q.scale[j] }).collect();
        let w = WeightCodes::collect(
            lo,
            hi,
            (0..n_out * n_in).map(|k| {
                q.rounding.apply((layer.weight[k] / scales[k / n_in]).clamp(lo as f32, hi as f32))
                    as i64
            }),
        );
        // The layer input has one scale here (see `quantize`).
        return Ok((w, scales.iter().map(|s| *s as f64 * in_scale[0]).collect(), lo, hi));
    }
    let qmax = (1i64 << (cfg.w_bits - 1)) - 1;
    // The input scales folded in, computed where used (a folded copy would be 8 bytes a
    // weight).
    let folded = |k: usize| layer.weight[k] as f64 * in_scale[k % n_in];
    let maxabs = |r: std::ops::Range<usize>| r.fold(0f64, |m, k| m.max(folded(k).abs()));
    let layer_max = maxabs(0..n_out * n_in);
    let scales: Vec<f64> = (0..n_out)
        .map(|j| {
            let m = match cfg.weight_scale {
                ScaleGranularity::PerChannel => maxabs(j * n_in..(j + 1) * n_in),
                ScaleGranularity::PerTensor => layer_max,
            };
            let floor = (layer.bias[j] as f64).abs() / (1u64 << 30) as f64;
            let s = m / qmax as f64;
            if s > floor {
                s
            } else if floor > 0.0 {
                floor
            } else {
                1.0
            }
        })
        .collect();
    let w = WeightCodes::collect(
        -qmax,
        qmax,
        (0..n_out * n_in)
            .map(|k| ((folded(k) / scales[k / n_in]).round_ties_even() as i64).clamp(-qmax, qmax)),
    );
    Ok((w, scales, -qmax, qmax))
}

/// Fraction of rows whose argmax agrees (ties to the lowest index, as numpy).
pub fn argmax_agreement(a: &[Vec<f32>], b: &[Vec<f32>]) -> f64 {
    if a.is_empty() {
        return 0.0;
    }
    let same = a
        .iter()
        .zip(b)
        .filter(|(x, y)| super::dataset::argmax(x) == super::dataset::argmax(y))
        .count();
    same as f64 / a.len() as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Codes are stored at the narrowest width holding their range and read back exactly.
    #[test]
    fn weight_codes_take_the_narrowest_width() {
        let w8 = WeightCodes::collect(-127, 127, [-127i64, 0, 127].into_iter());
        assert!(matches!(w8, WeightCodes::I8(_)));
        assert_eq!((w8.heap_bytes(), w8.to_vec()), (3, vec![-127, 0, 127]));
        let w16: WeightCodes = vec![-200i64, 5, 32767].into();
        assert!(matches!(w16, WeightCodes::I16(_)));
        assert_eq!(w16, vec![-200, 5, 32767]);
        assert_eq!(w16.matvec(3, 1, &[1, 2, 1]), vec![-200 + 10 + 32767]);
        let w64: WeightCodes = vec![i64::MIN, 1].into();
        assert!(matches!(w64, WeightCodes::I64(_)));
        assert_eq!(w64.get(0), i64::MIN);
    }

    /// The crossbar family recognises a requantization overflow by this prefix (E0102).
    #[test]
    fn requant_errors_start_with_the_marker() {
        for m in [0.0, -1.0, f64::NAN, f64::INFINITY, 1e30] {
            let e = Requant::from_real(m).unwrap_err();
            assert!(matches!(e, crate::ir::OpError::Value(_)), "{m}: {e:?}");
            assert!(e.message().starts_with("requantization factor"), "{m}");
        }
    }

    #[test]
    fn requant_multiplier_by_hand() {
        // 0.75 = 0b0.11: e = -1, shift 31, M = 0.75 * 2^31 = 1610612736.
        let r = Requant::from_real(0.75).unwrap();
        assert_eq!(r, Requant { multiplier: 1_610_612_736, shift: 31 });
        // 10 * 0.75 = 7.5 and -7.5 round to the even 8 and -8; 6 * 0.75 = 4.5 to 4.
        assert_eq!(r.apply(10), 8);
        assert_eq!(r.apply(-10), -8);
        assert_eq!(r.apply(6), 4);
        assert_eq!(r.apply(9), 7); // 6.75 -> 7
        let r = Requant::from_real(1.0 / 3.0).unwrap();
        assert!((r.real() - 1.0 / 3.0).abs() < 1e-9);
        assert_eq!(r.apply(3), 1);
        assert!(Requant::from_real(0.0).is_err());
    }
}
