//! The integer program a transformer compiles to: buffers of integer codes and a list of
//! machine operations. The simulator ([`super::sim`]) executes it bit-exactly; the Verilog
//! generator (`crate::attention::rtl`) turns the same program into a sequencer
//! with one datapath per operation kind. The program is the hardware-level form of the model.

use super::core::CoreParams;
use super::lnorm::LnParams;
use crate::attention::error::AttnError;
use crate::ir::requant::Requant;
use serde::Serialize;

/// Index of a buffer in [`Program::buffers`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub struct BufId(pub usize);

/// A tensor of integer codes in data memory.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Buffer {
    /// The IR value or role it holds (for reports and generated comments).
    pub name: String,
    pub len: usize,
    /// Code range.
    pub lo: i64,
    pub hi: i64,
    /// Real value of one code (0 for sign bits and raw accumulators with per-channel scales).
    pub scale: f64,
}

/// Where a gathered element comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum GatherSrc {
    /// Element `i` of the source buffer.
    Elem(u32),
    /// A constant code (a concatenated constant such as a class token).
    Const(i64),
}

/// What a linear layer does with its accumulators.
#[derive(Clone, Debug, PartialEq)]
pub enum Post {
    /// `clamp(requant_j(acc), lo, hi)` with one multiplier per output column.
    Requant { rq: Vec<Requant>, lo: i64, hi: i64 },
    /// HAD binarization: 1 when `acc >= 0` (`sign(0) = +1`), else 0.
    Sign,
    /// The raw accumulators (the model output; dequantized on the host).
    Acc,
}

/// `y[r, j] = post_j(b[j] + sum_i x[r, i] w[j, i])`.
#[derive(Clone, Debug, PartialEq)]
pub struct LinearOp {
    pub src: BufId,
    pub dst: BufId,
    pub rows: usize,
    /// Inputs per row.
    pub k: usize,
    /// Outputs per row.
    pub n: usize,
    /// Weights `[n, k]` row-major (output-major), int8.
    pub w: Vec<i64>,
    pub b: Vec<i64>,
    pub post: Post,
}

/// Second operand of an addition.
#[derive(Clone, Debug, PartialEq)]
pub enum AddOperand {
    /// Another buffer, rescaled to the output scale.
    Buf(BufId, Requant),
    /// Constant codes already in the output scale.
    Const(Vec<i64>),
}

/// `y = clamp(requant_a(a) + b', lo, hi)` element-wise.
#[derive(Clone, Debug, PartialEq)]
pub struct AddOp {
    pub a: BufId,
    pub ra: Requant,
    pub b: AddOperand,
    pub dst: BufId,
    pub len: usize,
    pub lo: i64,
    pub hi: i64,
}

/// One attention layer's core invocations: head `h` reads columns `h*d_k..` of `q`/`k` and
/// `h*d_v..` of `v`, and writes columns `h*d_v..` of `dst`.
#[derive(Clone, Debug, PartialEq)]
pub struct AttentionOp {
    pub q: BufId,
    pub k: BufId,
    pub v: BufId,
    pub dst: BufId,
    pub heads: Vec<CoreParams>,
}

/// The machine operations.
#[derive(Clone, Debug, PartialEq)]
pub enum MachineOp {
    Gather {
        src: BufId,
        dst: BufId,
        map: Vec<GatherSrc>,
    },
    Linear(LinearOp),
    Add(AddOp),
    LayerNorm {
        src: BufId,
        dst: BufId,
        rows: usize,
        p: LnParams,
    },
    /// `y = table[x - in_lo]` element-wise (GELU and other activations).
    Lut {
        src: BufId,
        dst: BufId,
        len: usize,
        in_lo: i64,
        table: Vec<i64>,
    },
    Attention(AttentionOp),
}

impl MachineOp {
    pub fn kind(&self) -> &'static str {
        match self {
            MachineOp::Gather { .. } => "gather",
            MachineOp::Linear(_) => "linear",
            MachineOp::Add(_) => "add",
            MachineOp::LayerNorm { .. } => "layer_norm",
            MachineOp::Lut { .. } => "lut",
            MachineOp::Attention(_) => "attention",
        }
    }
    pub fn dst(&self) -> BufId {
        match self {
            MachineOp::Gather { dst, .. }
            | MachineOp::LayerNorm { dst, .. }
            | MachineOp::Lut { dst, .. } => *dst,
            MachineOp::Linear(l) => l.dst,
            MachineOp::Add(a) => a.dst,
            MachineOp::Attention(a) => a.dst,
        }
    }
}

/// Host-side quantization of the float input: `clamp(round_half_even(x / scale), lo, hi)`.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct InputSpec {
    pub buf: BufId,
    pub scale: f64,
}

/// Host-side dequantization of the output buffer: `y_i = code_i * scale_i` (f64, then f32).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct OutputSpec {
    pub buf: BufId,
    pub scale: Vec<f64>,
}

/// A compiled transformer.
#[derive(Clone, Debug, PartialEq)]
pub struct Program {
    pub buffers: Vec<Buffer>,
    pub input: InputSpec,
    pub ops: Vec<MachineOp>,
    pub output: OutputSpec,
}

impl Program {
    pub fn buf(&self, b: BufId) -> &Buffer {
        &self.buffers[b.0]
    }

    /// Input codes of one float sample.
    pub fn quantize_input(&self, x: &[f32]) -> Result<Vec<i64>, AttnError> {
        let b = self.buf(self.input.buf);
        if x.len() != b.len {
            return Err(AttnError::Sim(format!(
                "a sample has {} values, the model input needs {}",
                x.len(),
                b.len
            )));
        }
        x.iter()
            .enumerate()
            .map(|(i, &v)| {
                if !v.is_finite() {
                    return Err(AttnError::Sim(format!("input value {i} is {v}")));
                }
                Ok(((f64::from(v) / self.input.scale).round_ties_even() as i64).clamp(b.lo, b.hi))
            })
            .collect()
    }

    /// Float outputs from output codes.
    pub fn dequantize(&self, codes: &[i64]) -> Vec<f32> {
        codes.iter().zip(&self.output.scale).map(|(&c, &s)| (c as f64 * s) as f32).collect()
    }
}
