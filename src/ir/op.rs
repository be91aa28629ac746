//! Operations: what each node computes, how many operands it takes, and how its result type
//! follows from its operand types.
//!
//! Two levels share one enum. Model-level ops follow the source framework (ONNX semantics for
//! the NN ops, the frontend's exact tree semantics for `TreeEnsemble`) and compute in float32.
//! Hardware-level integer ops compute exactly what the generated RTL computes; their result
//! formats are the narrowest that can hold every possible result, so the datapath never
//! overflows and never wastes bits. Ops of one family only live in that family's dialect
//! (see [`super::dialect`]) and reach the graph as [`Op::Dialect`].

use super::dialect::{DialectHandle, DialectOp};
use super::error::OpError;
use super::nn::{self, LayerNormOp, QuantOp};
use super::tensor::Tensor;
use super::types::{NumFormat, TensorType};
use std::sync::Arc;

/// One IR operation with its attributes.
#[derive(Clone, Debug, PartialEq)]
pub enum Op {
    /// A graph input, in declaration order. Declares its own type.
    Input {
        name: String,
        ty: TensorType,
    },
    /// A graph output: passes its single operand through under a name.
    Output {
        name: String,
    },
    /// A constant tensor (weights, biases).
    Constant(Tensor),
    /// ONNX MatMul (numpy `matmul` rules) for operands of rank 1 or 2, or of rank 2 and more
    /// with broadcast batch dimensions (attention's score and value products).
    MatMul,
    /// ONNX Gemm: `alpha * A' B' + beta * C`, with `C` optional and unidirectionally broadcast.
    Gemm {
        alpha: f32,
        beta: f32,
        trans_a: bool,
        trans_b: bool,
    },
    /// ONNX Add with multidirectional (numpy) broadcasting.
    Add,
    Relu,
    Sigmoid,
    Tanh,
    /// ONNX Softmax (opset 13): normalises along one axis; negative axes count from the end.
    Softmax {
        axis: i64,
    },
    /// ONNX Flatten: `[d0..d(axis-1)] x [d(axis)..]` into a matrix.
    Flatten {
        axis: i64,
    },
    /// ONNX Reshape with a constant target (`allowzero = 0`: 0 copies the input dimension,
    /// one -1 is inferred).
    Reshape {
        shape: Vec<i64>,
    },
    Identity,
    /// `y[m] = sum_k W[m,k] * x[k]` on integers, exact. `weights` is `[M, K]` with an `Int`
    /// format; the operand is `[K]` with an `Int` format.
    IntMatVec {
        weights: Tensor,
    },
    /// Element-wise integer sum of two tensors of equal shape, exact.
    IntAdd,
    /// `max(x, 0)` on integers; the result is unsigned and one bit narrower for signed input.
    IntRelu,
    /// `y = saturate(round_half_even(x * multiplier / 2^shift))` into the `Int` format `out`.
    /// The product is exact (no intermediate truncation); ties round to the even integer;
    /// values outside `out`'s range clamp to its minimum or maximum.
    Requantize {
        multiplier: i32,
        shift: u32,
        out: NumFormat,
    },
    /// Index of the largest element of a rank-1 integer tensor; ties go to the lowest index
    /// (numpy / ONNX `select_last_index = 0`). The result is a scalar of the narrowest unsigned
    /// format holding `len - 1`.
    Argmax,
    /// Per-channel requantization: `y_j = clamp(round_half_even(x_j * multipliers[j] /
    /// 2^shifts[j]), lo, hi)`, the product exact. The result format is the narrowest holding
    /// `[lo, hi]`.
    RequantizeChannels {
        multipliers: Vec<i32>,
        shifts: Vec<u32>,
        lo: i64,
        hi: i64,
    },
    // --- model-level ops transformer exports need (semantics: `super::nn`) ---
    /// Data movement by a compile-time index map, `y.flat[i] = x.flat[map[i]]`, with result
    /// shape `shape`: what ONNX Reshape/Transpose/Slice/Gather/Squeeze chains compose to.
    Gather {
        shape: Vec<usize>,
        map: Arc<[u32]>,
    },
    /// ONNX Concat along `axis` (negative counts from the end).
    Concat {
        axis: i64,
    },
    /// Layer normalisation over the last axis, gamma and beta carried in the op.
    LayerNorm(Arc<LayerNormOp>),
    /// GELU, exact (erf) or with the tanh approximation.
    Gelu {
        tanh: bool,
    },
    /// QONNX `Quant` (fake quantization in float): operands x, scale, zero_point, bit_width.
    Quant(QuantOp),
    // --- element-wise arithmetic of decomposed transformer blocks (semantics: `super::nn`) ---
    /// ONNX Mul, Sub, Div and Pow: element-wise in f32 with numpy broadcasting. They let any
    /// export of LayerNorm, GELU or scaled attention import as-is; the attention family's
    /// `attn-recognize` pass rewrites the subgraphs it knows into `layer_norm`, `gelu` and
    /// `attn.mha`.
    Mul,
    Sub,
    Div,
    Pow,
    /// ONNX Sqrt, Erf and Sign (`sign(0) = 0`), element-wise in f32.
    Sqrt,
    Erf,
    Sign,
    /// ONNX ReduceMean over `axes` (normalised: ascending, distinct, below the rank, at least
    /// one), keeping them as size 1 when `keepdims`.
    ReduceMean {
        axes: Vec<usize>,
        keepdims: bool,
    },
    /// An op of a family's dialect (`cam.tiles`, `xbar.array`, `attn.mha`): the core knows
    /// it only through the [`DialectOp`] interface.
    Dialect(DialectHandle),
}

impl Op {
    /// Wraps a dialect op.
    pub fn dialect_op(op: impl DialectOp) -> Op {
        Op::Dialect(DialectHandle::new(op))
    }

    /// The op as dialect op type `T`, if it is one.
    pub fn dialect<T: DialectOp>(&self) -> Option<&T> {
        match self {
            Op::Dialect(d) => d.downcast::<T>(),
            _ => None,
        }
    }
}

/// Largest right shift `Requantize` accepts: the product of an `i64` and an `i32` has at most
/// 96 significant bits.
pub const MAX_REQUANTIZE_SHIFT: u32 = 96;

impl Op {
    /// Printed op name (`int_matvec`).
    pub fn mnemonic(&self) -> &'static str {
        match self {
            Op::Input { .. } => "input",
            Op::Output { .. } => "output",
            Op::Constant(_) => "const",
            Op::MatMul => "matmul",
            Op::Gemm { .. } => "gemm",
            Op::Add => "add",
            Op::Relu => "relu",
            Op::Sigmoid => "sigmoid",
            Op::Tanh => "tanh",
            Op::Softmax { .. } => "softmax",
            Op::Flatten { .. } => "flatten",
            Op::Reshape { .. } => "reshape",
            Op::Identity => "identity",
            Op::IntMatVec { .. } => "int_matvec",
            Op::IntAdd => "int_add",
            Op::IntRelu => "int_relu",
            Op::Requantize { .. } => "requantize",
            Op::Argmax => "argmax",
            Op::RequantizeChannels { .. } => "requantize_channels",
            Op::Gather { .. } => "gather",
            Op::Concat { .. } => "concat",
            Op::LayerNorm(_) => "layer_norm",
            Op::Gelu { .. } => "gelu",
            Op::Quant(_) => "quant",
            Op::Mul => "mul",
            Op::Sub => "sub",
            Op::Div => "div",
            Op::Pow => "pow",
            Op::Sqrt => "sqrt",
            Op::Erf => "erf",
            Op::Sign => "sign",
            Op::ReduceMean { .. } => "reduce_mean",
            Op::Dialect(d) => d.name(),
        }
    }

    /// Inclusive bounds on the operand count.
    pub fn arity(&self) -> (usize, usize) {
        match self {
            Op::Input { .. } | Op::Constant(_) => (0, 0),
            Op::MatMul | Op::Add | Op::IntAdd => (2, 2),
            Op::Mul | Op::Sub | Op::Div | Op::Pow => (2, 2),
            Op::Gemm { .. } => (2, 3),
            Op::Quant(_) => (4, 4),
            Op::Concat { .. } => (1, usize::MAX),
            Op::Dialect(d) => d.arity(),
            _ => (1, 1),
        }
    }

    /// Op-specific invariants that do not depend on operands (attribute ranges, constant
    /// contents, tree structure).
    pub fn check_invariants(&self) -> Result<(), OpError> {
        match self {
            Op::Input { name, ty } => {
                if name.is_empty() {
                    return Err(OpError::Attribute("input name is empty".into()));
                }
                ty.format.validate()
            }
            Op::Output { name } if name.is_empty() => {
                Err(OpError::Attribute("output name is empty".into()))
            }
            Op::Constant(t) => {
                t.validate().map_err(|e| OpError::Attribute(format!("constant: {e}")))
            }
            Op::Reshape { shape } => {
                if shape.iter().filter(|&&d| d == -1).count() > 1 {
                    return Err(OpError::Attribute("reshape target has more than one -1".into()));
                }
                match shape.iter().find(|&&d| d < -1) {
                    Some(d) => {
                        Err(OpError::Attribute(format!("reshape target has invalid dimension {d}")))
                    }
                    None => Ok(()),
                }
            }
            Op::IntMatVec { weights } => {
                weights.validate().map_err(|e| OpError::Attribute(format!("weights: {e}")))?;
                if weights.shape.len() != 2 || !weights.format.is_int() {
                    return Err(OpError::Attribute(format!(
                        "weights must be a rank-2 integer tensor, got {}",
                        weights.ty()
                    )));
                }
                Ok(())
            }
            Op::Requantize { shift, out, .. } => {
                out.validate()?;
                if !out.is_int() {
                    return Err(OpError::Attribute(format!(
                        "requantize output format must be an integer, got {out}"
                    )));
                }
                if *shift > MAX_REQUANTIZE_SHIFT {
                    return Err(OpError::Attribute(format!(
                        "shift {shift} exceeds {MAX_REQUANTIZE_SHIFT}"
                    )));
                }
                Ok(())
            }
            Op::RequantizeChannels { multipliers, shifts, lo, hi } => {
                if multipliers.len() != shifts.len() {
                    return Err(OpError::Attribute(format!(
                        "{} multipliers but {} shifts",
                        multipliers.len(),
                        shifts.len()
                    )));
                }
                if lo > hi {
                    return Err(OpError::Attribute(format!("empty clamp range [{lo}, {hi}]")));
                }
                match shifts.iter().find(|s| **s > MAX_REQUANTIZE_SHIFT) {
                    Some(s) => {
                        Err(OpError::Attribute(format!("shift {s} exceeds {MAX_REQUANTIZE_SHIFT}")))
                    }
                    None => Ok(()),
                }
            }
            Op::Gather { shape, map } => {
                if map.len() != shape.iter().product::<usize>() {
                    return Err(OpError::Attribute(format!(
                        "index map has {} entries for shape {shape:?}",
                        map.len()
                    )));
                }
                Ok(())
            }
            Op::ReduceMean { axes, .. } => {
                if axes.is_empty() || axes.windows(2).any(|w| w[0] >= w[1]) {
                    return Err(OpError::Attribute(format!(
                        "axes {axes:?} must be ascending, distinct and non-empty"
                    )));
                }
                Ok(())
            }
            Op::Dialect(d) => d.verify(),
            Op::Output { .. }
            | Op::MatMul
            | Op::Gemm { .. }
            | Op::Add
            | Op::Relu
            | Op::Sigmoid
            | Op::Tanh
            | Op::Softmax { .. }
            | Op::Flatten { .. }
            | Op::Identity
            | Op::IntAdd
            | Op::IntRelu
            | Op::Argmax
            | Op::Concat { .. }
            | Op::LayerNorm(_)
            | Op::Gelu { .. }
            | Op::Quant(_)
            | Op::Mul
            | Op::Sub
            | Op::Div
            | Op::Pow
            | Op::Sqrt
            | Op::Erf
            | Op::Sign => Ok(()),
        }
    }

    /// The result type given the operand types, or why the operands are not acceptable.
    /// Also checks [`Op::check_invariants`] and the operand count.
    pub fn infer_type(&self, operands: &[&TensorType]) -> Result<TensorType, OpError> {
        self.check_invariants()?;
        let (lo, hi) = self.arity();
        if operands.len() < lo || operands.len() > hi {
            let want = if lo == hi { format!("{lo}") } else { format!("{lo} to {hi}") };
            return Err(OpError::Operand(format!("takes {want} operands, has {}", operands.len())));
        }
        match self {
            Op::Input { ty, .. } => Ok(ty.clone()),
            Op::Constant(t) => Ok(t.ty()),
            Op::Output { .. } | Op::Identity => Ok(operands[0].clone()),
            Op::MatMul => matmul_type(float(operands[0], "A")?, float(operands[1], "B")?),
            Op::Gemm { trans_a, trans_b, .. } => {
                let (a, b) = (float(operands[0], "A")?, float(operands[1], "B")?);
                if a.rank() != 2 || b.rank() != 2 {
                    return Err(OpError::Operand(format!(
                        "A and B must be matrices, got {a} and {b}"
                    )));
                }
                let (m, ka) =
                    if *trans_a { (a.shape[1], a.shape[0]) } else { (a.shape[0], a.shape[1]) };
                let (kb, n) =
                    if *trans_b { (b.shape[1], b.shape[0]) } else { (b.shape[0], b.shape[1]) };
                if ka != kb {
                    return Err(OpError::Operand(format!(
                        "inner dimensions differ: {ka} vs {kb} ({a}, {b})"
                    )));
                }
                if let Some(c) = operands.get(2) {
                    let c = float(c, "C")?;
                    let out = broadcast(&c.shape, &[m, n])?;
                    if out != [m, n] {
                        return Err(OpError::Operand(format!(
                            "C {c} does not broadcast to [{m}, {n}]"
                        )));
                    }
                }
                Ok(TensorType::f32(vec![m, n]))
            }
            Op::Add => {
                let (a, b) = (float(operands[0], "A")?, float(operands[1], "B")?);
                Ok(TensorType::f32(broadcast(&a.shape, &b.shape)?))
            }
            Op::Relu | Op::Sigmoid | Op::Tanh => Ok(float(operands[0], "input")?.clone()),
            Op::Softmax { axis } => {
                let x = float(operands[0], "input")?;
                norm_axis(*axis, x.rank(), false)?;
                Ok(x.clone())
            }
            Op::Flatten { axis } => {
                let x = operands[0];
                let a = norm_axis(*axis, x.rank(), true)?;
                let outer = x.shape[..a].iter().product();
                let inner = x.shape[a..].iter().product();
                Ok(TensorType::new(vec![outer, inner], x.format))
            }
            Op::Reshape { shape } => {
                Ok(TensorType::new(reshape_target(&operands[0].shape, shape)?, operands[0].format))
            }
            Op::IntMatVec { weights } => {
                let x = int(operands[0], "input")?;
                let (m, k) = (weights.shape[0], weights.shape[1]);
                if x.shape != [k] {
                    return Err(OpError::Operand(format!(
                        "input {x} must be [{k}] to match weights {}",
                        weights.ty()
                    )));
                }
                let (xlo, xhi) = x.format.int_range().unwrap_or((0, 0));
                let w = weights.ints().unwrap_or_default();
                let (mut lo, mut hi) = (0i128, 0i128);
                for row in 0..m {
                    let (mut rlo, mut rhi) = (0i128, 0i128);
                    for &wk in &w[row * k..(row + 1) * k] {
                        let (p, q) = (i128::from(wk) * xlo, i128::from(wk) * xhi);
                        rlo += p.min(q);
                        rhi += p.max(q);
                    }
                    if row == 0 {
                        (lo, hi) = (rlo, rhi);
                    } else {
                        (lo, hi) = (lo.min(rlo), hi.max(rhi));
                    }
                }
                Ok(TensorType::new(vec![m], NumFormat::int_for_range(lo, hi)?))
            }
            Op::IntAdd => {
                let (a, b) = (int(operands[0], "A")?, int(operands[1], "B")?);
                if a.shape != b.shape {
                    return Err(OpError::Operand(format!("operands differ in shape: {a} and {b}")));
                }
                let (alo, ahi) = a.format.int_range().unwrap_or((0, 0));
                let (blo, bhi) = b.format.int_range().unwrap_or((0, 0));
                Ok(TensorType::new(
                    a.shape.clone(),
                    NumFormat::int_for_range(alo + blo, ahi + bhi)?,
                ))
            }
            Op::IntRelu => {
                let x = int(operands[0], "input")?;
                let (lo, hi) = x.format.int_range().unwrap_or((0, 0));
                Ok(TensorType::new(
                    x.shape.clone(),
                    NumFormat::int_for_range(lo.max(0), hi.max(0))?,
                ))
            }
            Op::Requantize { out, .. } => {
                Ok(TensorType::new(int(operands[0], "input")?.shape.clone(), *out))
            }
            Op::RequantizeChannels { multipliers, lo, hi, .. } => {
                let x = int(operands[0], "input")?;
                if x.shape != [multipliers.len()] {
                    return Err(OpError::Operand(format!(
                        "input {x} must be a vector of {} channels",
                        multipliers.len()
                    )));
                }
                Ok(TensorType::new(
                    x.shape.clone(),
                    NumFormat::int_for_range(i128::from(*lo), i128::from(*hi))?,
                ))
            }
            Op::Argmax => {
                let x = int(operands[0], "input")?;
                match x.shape.as_slice() {
                    [n] if *n >= 1 => {
                        Ok(TensorType::new(vec![], NumFormat::int_for_range(0, *n as i128 - 1)?))
                    }
                    _ => {
                        Err(OpError::Operand(format!("input must be a non-empty vector, got {x}")))
                    }
                }
            }
            Op::Gather { shape, map } => nn::gather_type(operands[0], shape, map),
            Op::Concat { axis } => nn::concat_type(operands, *axis),
            Op::LayerNorm(ln) => ln.infer(operands[0]),
            Op::Gelu { .. } => Ok(float(operands[0], "input")?.clone()),
            Op::Quant(q) => q.infer(operands),
            Op::Mul | Op::Sub | Op::Div | Op::Pow => {
                let (a, b) = (float(operands[0], "A")?, float(operands[1], "B")?);
                Ok(TensorType::f32(broadcast(&a.shape, &b.shape)?))
            }
            Op::Sqrt | Op::Erf | Op::Sign => Ok(float(operands[0], "input")?.clone()),
            Op::ReduceMean { axes, keepdims } => {
                nn::reduce_mean_type(float(operands[0], "input")?, axes, *keepdims)
            }
            Op::Dialect(d) => d.infer_type(operands),
        }
    }

    /// Attributes as `(key, value)` text for the printer, excluding large payloads (the printer
    /// abbreviates constants itself).
    pub fn attributes(&self) -> Vec<(&'static str, String)> {
        match self {
            Op::Gemm { alpha, beta, trans_a, trans_b } => vec![
                ("alpha", format!("{alpha:?}")),
                ("beta", format!("{beta:?}")),
                ("trans_a", trans_a.to_string()),
                ("trans_b", trans_b.to_string()),
            ],
            Op::Softmax { axis } | Op::Flatten { axis } => vec![("axis", axis.to_string())],
            Op::Reshape { shape } => vec![("shape", format!("{shape:?}"))],
            Op::Requantize { multiplier, shift, out } => vec![
                ("multiplier", multiplier.to_string()),
                ("shift", shift.to_string()),
                ("out", out.to_string()),
            ],
            Op::RequantizeChannels { multipliers, shifts, lo, hi } => {
                let m: Vec<i64> = multipliers.iter().map(|x| i64::from(*x)).collect();
                let s: Vec<i64> = shifts.iter().map(|x| i64::from(*x)).collect();
                vec![
                    ("multipliers", super::printer::ints_attr(&m)),
                    ("shifts", super::printer::ints_attr(&s)),
                    ("clamp", format!("[{lo}, {hi}]")),
                ]
            }
            Op::Gather { shape, map } => {
                vec![("shape", format!("{shape:?}")), ("map", nn::summarise_map(map))]
            }
            Op::Concat { axis } => vec![("axis", axis.to_string())],
            Op::LayerNorm(ln) => {
                vec![("eps", format!("{:?}", ln.eps)), ("d", ln.gamma.len().to_string())]
            }
            Op::Gelu { tanh } => {
                vec![("approximate", if *tanh { "tanh" } else { "none" }.to_string())]
            }
            Op::Quant(q) => vec![
                ("signed", q.signed.to_string()),
                ("narrow", q.narrow.to_string()),
                ("rounding", q.rounding.name().to_string()),
            ],
            Op::ReduceMean { axes, keepdims } => {
                vec![("axes", format!("{axes:?}")), ("keepdims", keepdims.to_string())]
            }
            Op::Dialect(d) => d.attributes(),
            _ => Vec::new(),
        }
    }
}

fn float<'a>(t: &'a TensorType, what: &str) -> Result<&'a TensorType, OpError> {
    if t.format == NumFormat::Float32 {
        Ok(t)
    } else {
        Err(OpError::Operand(format!("operand {what} must be f32, got {t}")))
    }
}

fn int<'a>(t: &'a TensorType, what: &str) -> Result<&'a TensorType, OpError> {
    if t.format.is_int() {
        Ok(t)
    } else {
        Err(OpError::Operand(format!("operand {what} must have an integer format, got {t}")))
    }
}

/// Normalises an ONNX axis; `inclusive_end` allows `axis == rank` (Flatten).
pub(crate) fn norm_axis(axis: i64, rank: usize, inclusive_end: bool) -> Result<usize, OpError> {
    let r = rank as i64;
    let hi = if inclusive_end { r } else { r - 1 };
    let a = if axis < 0 { axis + r } else { axis };
    if a < 0 || a > hi {
        Err(OpError::Operand(format!("axis {axis} is out of range for rank {rank}")))
    } else {
        Ok(a as usize)
    }
}

/// Numpy multidirectional broadcasting of two shapes.
pub(crate) fn broadcast(a: &[usize], b: &[usize]) -> Result<Vec<usize>, OpError> {
    let n = a.len().max(b.len());
    let mut out = vec![0; n];
    for i in 0..n {
        let da = if i < n - a.len() { 1 } else { a[i - (n - a.len())] };
        let db = if i < n - b.len() { 1 } else { b[i - (n - b.len())] };
        out[i] = match (da, db) {
            (x, y) if x == y => x,
            (1, y) => y,
            (x, 1) => x,
            _ => return Err(OpError::Operand(format!("shapes {a:?} and {b:?} do not broadcast"))),
        };
    }
    Ok(out)
}

fn matmul_type(a: &TensorType, b: &TensorType) -> Result<TensorType, OpError> {
    let shape = match (a.shape.as_slice(), b.shape.as_slice()) {
        ([k1], [k2]) if k1 == k2 => vec![],
        ([k1], [k2, n]) if k1 == k2 => vec![*n],
        ([m, k1], [k2]) if k1 == k2 => vec![*m],
        ([m, k1], [k2, n]) if k1 == k2 => vec![*m, *n],
        (x, y) if x.len() <= 2 && y.len() <= 2 && !x.is_empty() && !y.is_empty() => {
            return Err(OpError::Operand(format!("inner dimensions of {a} and {b} differ")))
        }
        (x, y) if x.len() >= 2 && y.len() >= 2 => return nn::batched_matmul_type(a, b),
        _ => {
            return Err(OpError::Operand(format!(
                "matmul supports operands of rank 1 or 2, or batched ones of rank 2 and more, \
                 got {a} and {b}"
            )))
        }
    };
    Ok(TensorType::f32(shape))
}

/// ONNX Reshape target resolution (`allowzero = 0`).
pub(crate) fn reshape_target(input: &[usize], target: &[i64]) -> Result<Vec<usize>, OpError> {
    let numel: usize = input.iter().product();
    let mut out = Vec::with_capacity(target.len());
    let mut infer = None;
    for (i, &d) in target.iter().enumerate() {
        match d {
            -1 => {
                infer = Some(i);
                out.push(1);
            }
            0 => out.push(*input.get(i).ok_or_else(|| {
                OpError::Operand(format!("0 at position {i} has no input dimension to copy"))
            })?),
            d => out.push(d as usize),
        }
    }
    let known: usize = out.iter().product();
    if let Some(i) = infer {
        if known == 0 || !numel.is_multiple_of(known) {
            return Err(OpError::Operand(format!(
                "cannot infer -1: {numel} elements into {target:?}"
            )));
        }
        out[i] = numel / known;
    } else if known != numel {
        return Err(OpError::Operand(format!(
            "cannot reshape {input:?} ({numel} elements) into {target:?}"
        )));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(shape: &[usize], f: NumFormat) -> TensorType {
        TensorType::new(shape.to_vec(), f)
    }

    #[test]
    fn int_matvec_accumulator_is_exact_width() {
        // W = [[127, -128], [1, 1]], x in i8 = [-128, 127].
        // Row 0: 127*x0 in [-16256, 16129]; -128*x1 in [-16256, 16384] -> [-32512, 32513].
        // Row 1: [-256, 254]. The union [-32512, 32513] lies inside i16's [-32768, 32767].
        let w = Tensor::int(vec![2, 2], NumFormat::int(8), vec![127, -128, 1, 1]).unwrap();
        let ty = Op::IntMatVec { weights: w }.infer_type(&[&t(&[2], NumFormat::int(8))]).unwrap();
        assert_eq!(ty, t(&[2], NumFormat::int(16)));
        // Same weights on u8 inputs [0, 255]: row 0 in [-32640, 32385] -> i16.
        let w = Tensor::int(vec![1, 2], NumFormat::int(8), vec![-128, -128]).unwrap();
        let ty = Op::IntMatVec { weights: w }.infer_type(&[&t(&[2], NumFormat::uint(8))]).unwrap();
        // -128*255*2 = -65280 -> needs i17 ([-65536, 65535]).
        assert_eq!(ty, t(&[1], NumFormat::int(17)));
    }

    #[test]
    fn relu_and_argmax_formats() {
        assert_eq!(
            Op::IntRelu.infer_type(&[&t(&[3], NumFormat::int(8))]).unwrap(),
            t(&[3], NumFormat::uint(7))
        );
        assert_eq!(
            Op::Argmax.infer_type(&[&t(&[4], NumFormat::int(8))]).unwrap(),
            t(&[], NumFormat::uint(2))
        );
        assert_eq!(
            Op::Argmax.infer_type(&[&t(&[5], NumFormat::int(8))]).unwrap(),
            t(&[], NumFormat::uint(3))
        );
        assert_eq!(
            Op::Argmax.infer_type(&[&t(&[1], NumFormat::int(8))]).unwrap(),
            t(&[], NumFormat::uint(1))
        );
    }

    #[test]
    fn onnx_shape_rules() {
        let f = NumFormat::Float32;
        assert_eq!(
            Op::Add.infer_type(&[&t(&[2, 1, 3], f), &t(&[4, 1], f)]).unwrap(),
            t(&[2, 4, 3], f)
        );
        assert!(Op::Add.infer_type(&[&t(&[2], f), &t(&[3], f)]).is_err());
        let g = Op::Gemm { alpha: 1.0, beta: 1.0, trans_a: false, trans_b: true };
        assert_eq!(
            g.infer_type(&[&t(&[5, 3], f), &t(&[4, 3], f), &t(&[4], f)]).unwrap(),
            t(&[5, 4], f)
        );
        assert!(g.infer_type(&[&t(&[5, 3], f), &t(&[3, 4], f)]).is_err());
        assert_eq!(
            Op::Flatten { axis: 1 }.infer_type(&[&t(&[2, 3, 4], f)]).unwrap(),
            t(&[2, 12], f)
        );
        assert_eq!(Op::Flatten { axis: 0 }.infer_type(&[&t(&[2, 3], f)]).unwrap(), t(&[1, 6], f));
        assert_eq!(
            Op::Reshape { shape: vec![0, -1] }.infer_type(&[&t(&[2, 3, 4], f)]).unwrap(),
            t(&[2, 12], f)
        );
        assert!(Op::Reshape { shape: vec![5, -1] }.infer_type(&[&t(&[2, 3], f)]).is_err());
        assert_eq!(Op::MatMul.infer_type(&[&t(&[3], f), &t(&[3, 2], f)]).unwrap(), t(&[2], f));
        assert!(Op::Softmax { axis: 2 }.infer_type(&[&t(&[2, 3], f)]).is_err());
        assert!(Op::Relu.infer_type(&[&t(&[2], NumFormat::int(8))]).is_err());
    }
}
