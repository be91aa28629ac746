//! Reference interpreter: the meaning of every op, which the simulator and the Verilog
//! lowering must reproduce bit for bit.
//!
//! Float ops compute in `f32` like onnxruntime's reference kernels: MatMul/Gemm accumulate
//! `sum_k a*b` in `f32` in increasing `k`, without fused multiply-add, then Gemm applies
//! `alpha * acc + beta * c`; Sigmoid is `1 / (1 + exp(-x))`; Softmax subtracts the maximum
//! along the axis, exponentiates, sums in index order and divides; Relu is `x < 0 ? 0 : x`
//! (NaN passes through). Optimised runtimes may reorder sums and differ in the last ulp; the
//! tests that compare against them allow for that, the RTL comparisons do not need to because
//! the hardware ops are integer.
//!
//! Integer ops are exact: intermediate results use `i128`, and the type rules guarantee that
//! results fit their formats (the interpreter still checks and reports a violation).

use super::error::OpError;
use super::graph::Graph;
use super::nn;
use super::op::{broadcast, norm_axis, Op};
use super::printer::Numbering;
use super::tensor::{Tensor, TensorData};
use super::types::{NumFormat, TensorType};
use super::NodeId;
use std::borrow::Cow;
use std::collections::HashMap;
use std::ops::ControlFlow;
use thiserror::Error;

/// Why a graph could not be evaluated.
#[derive(Debug, Error, PartialEq)]
pub enum InterpError {
    #[error("the graph has {expected} inputs but {given} values were given")]
    InputCount { expected: usize, given: usize },
    #[error("input {name:?}: expected {expected}, got {got}")]
    InputType { name: String, expected: String, got: String },
    #[error("input {name:?}: {message}")]
    InputValue { name: String, message: OpError },
    #[error("{node} ({op}): {message}")]
    Eval { node: String, op: String, message: OpError },
    #[error("the graph has a cycle; run the verifier")]
    Cycle,
}

/// How the float ops round their sums: the one interpreter serves two references.
///
/// Why two: a model's float reference is whatever its framework computed, and two families
/// calibrate against different ones. onnxruntime's reference kernels sum in `f32` (the
/// attention family measures against them); numpy and the QONNX executor, which crossbar
/// models are trained and calibrated with, sum dot products in `f64`. Each family picks one
/// and every float value it reads — calibration ranges, the lossy measurement's reference —
/// comes from this interpreter in that precision.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Precision {
    /// Everything in `f32`, as described in the module docs.
    #[default]
    F32,
    /// `MatMul`/`Gemm` products and sums in `f64` (every product of two `f32` is exact there;
    /// the fold starts from `-0.0` and runs in increasing `k`), rounded to `f32` once per
    /// output; Sigmoid's exponential and Softmax's exponentials, sum and quotient in `f64`.
    /// Every other op is as in [`Precision::F32`].
    WideSums,
}

/// Evaluates `g` on `inputs` (one tensor per graph input, in declaration order) and returns
/// one tensor per graph output, in declaration order. Integer results are stored as `I64`.
pub fn run(g: &Graph, inputs: &[Tensor]) -> Result<Vec<Tensor>, InterpError> {
    let vals = trace(g, inputs, |_, _| ControlFlow::Continue(()))?;
    Ok(g.outputs().iter().map(|o| vals[o].clone()).collect())
}

/// Evaluates `g` like [`run`], showing `visit` every node's value as it is computed (in
/// topological order), and returns every value computed. `visit` may stop the evaluation
/// early (the values so far are returned): the float checks use it to find the first node
/// that overflows.
pub fn trace(
    g: &Graph,
    inputs: &[Tensor],
    mut visit: impl FnMut(NodeId, &Tensor) -> ControlFlow<()>,
) -> Result<HashMap<NodeId, Tensor>, InterpError> {
    if g.has_cycle() {
        return Err(InterpError::Cycle);
    }
    let num = Numbering::new(g);
    let live = g.live_nodes();
    let mut vals = bind_inputs(g, inputs)?;
    for id in g.topo_order() {
        if !live.contains(&id) || vals.contains_key(&id) {
            continue;
        }
        let args: Vec<&Tensor> = g.operands(id).iter().map(|o| &vals[o]).collect();
        let ty = g.ty(id);
        let v = eval(g.op(id), &args, ty, Precision::F32).map_err(|message| InterpError::Eval {
            node: num.label(id),
            op: g.op(id).mnemonic().to_string(),
            message,
        })?;
        let stop = visit(id, &v).is_break();
        vals.insert(id, v);
        if stop {
            break;
        }
    }
    Ok(vals)
}

/// The graph inputs' values, checked against their declared types.
fn bind_inputs(g: &Graph, inputs: &[Tensor]) -> Result<HashMap<NodeId, Tensor>, InterpError> {
    if inputs.len() != g.inputs().len() {
        return Err(InterpError::InputCount { expected: g.inputs().len(), given: inputs.len() });
    }
    let mut vals: HashMap<NodeId, Tensor> = HashMap::new();
    for (&id, given) in g.inputs().iter().zip(inputs) {
        let (name, ty) = match g.op(id) {
            Op::Input { name, ty } => (name.clone(), ty.clone()),
            _ => continue,
        };
        if given.shape != ty.shape || given.format != ty.format {
            return Err(InterpError::InputType {
                name,
                expected: ty.to_string(),
                got: given.ty().to_string(),
            });
        }
        given
            .validate()
            .map_err(|message| InterpError::InputValue { name: name.clone(), message })?;
        vals.insert(id, normalise(given.clone()));
    }
    Ok(vals)
}

/// Evaluates `g` on every row of `rows` (each one set of graph inputs) as [`trace`] does on
/// each, returning per row whether its evaluation failed. `visit(row, node, value)` sees each
/// row's values in topological order, the rows interleaved node by node; breaking stops that
/// row only.
///
/// Why not [`trace`] per row: a node that depends on no graph input (a weight, a transpose of
/// one) is evaluated here once for all rows, and a `MatMul` of row values by such a node
/// multiplies all rows in one product ([`matmul`] reads each weight once per block of rows
/// and sums every output in the same order as alone), so a calibration set does not read
/// every weight once per row. Every value equals [`trace`]'s bit for bit.
pub fn trace_rows(
    g: &Graph,
    rows: &[Vec<Tensor>],
    visit: impl FnMut(usize, NodeId, &Tensor) -> ControlFlow<()>,
) -> Vec<Result<(), InterpError>> {
    trace_rows_with(g, rows, Precision::F32, visit)
}

/// [`trace_rows`] in the given float precision. A value is dropped once every node that reads
/// it has been evaluated (`visit` has seen it), so a large batch holds the live values only,
/// not every layer's.
pub fn trace_rows_with(
    g: &Graph,
    rows: &[Vec<Tensor>],
    precision: Precision,
    mut visit: impl FnMut(usize, NodeId, &Tensor) -> ControlFlow<()>,
) -> Vec<Result<(), InterpError>> {
    if g.has_cycle() {
        return rows.iter().map(|_| Err(InterpError::Cycle)).collect();
    }
    let num = Numbering::new(g);
    let live = g.live_nodes();
    let mut status: Vec<Result<(), InterpError>> = Vec::with_capacity(rows.len());
    // Values of the nodes that depend on a graph input, one per row (`None` once stopped).
    let mut per_row: HashMap<NodeId, Vec<Option<Tensor>>> = HashMap::new();
    for (r, inputs) in rows.iter().enumerate() {
        match bind_inputs(g, inputs) {
            Ok(vals) => {
                for (id, v) in vals {
                    per_row.entry(id).or_insert_with(|| vec![None; rows.len()])[r] = Some(v);
                }
                status.push(Ok(()));
            }
            Err(e) => status.push(Err(e)),
        }
    }
    let mut running: Vec<bool> = status.iter().map(Result::is_ok).collect();
    // Values that depend on no graph input: a constant is borrowed from the graph (a copy of
    // every weight would double the model's memory while the batch runs).
    let mut shared: HashMap<NodeId, Cow<'_, Tensor>> = HashMap::new();
    // Reads still to come of each value (one per operand slot).
    let mut reads: HashMap<NodeId, usize> = HashMap::new();
    for &id in &live {
        for o in g.operands(id) {
            *reads.entry(o).or_default() += 1;
        }
    }
    // After `id` is evaluated: drop the values nobody reads any more. A per-row value keeps
    // its (empty) entry, whose presence says "depends on a graph input".
    let release = |id: NodeId,
                   reads: &mut HashMap<NodeId, usize>,
                   per_row: &mut HashMap<NodeId, Vec<Option<Tensor>>>,
                   shared: &mut HashMap<NodeId, Cow<'_, Tensor>>| {
        for o in g.operands(id) {
            let left = reads.entry(o).or_default();
            *left = left.saturating_sub(1);
            if *left == 0 {
                shared.remove(&o);
                if let Some(v) = per_row.get_mut(&o) {
                    v.iter_mut().for_each(|t| *t = None);
                }
            }
        }
    };
    for id in g.topo_order() {
        if !running.contains(&true) {
            break;
        }
        if !live.contains(&id) || per_row.contains_key(&id) {
            continue;
        }
        let ops = g.operands(id);
        let (op, ty) = (g.op(id), g.ty(id));
        let fail = |message: OpError| InterpError::Eval {
            node: num.label(id),
            op: op.mnemonic().to_string(),
            message,
        };
        if !ops.iter().any(|o| per_row.contains_key(o)) {
            let args: Vec<&Tensor> = ops.iter().map(|o| shared[o].as_ref()).collect();
            let value = match op {
                Op::Constant(t) if !matches!(t.data, TensorData::I32(_)) => Ok(Cow::Borrowed(t)),
                _ => eval(op, &args, ty, precision).map(Cow::Owned),
            };
            match value {
                Ok(v) => {
                    for (r, run) in running.iter_mut().enumerate().filter(|(_, run)| **run) {
                        *run = visit(r, id, &v).is_continue();
                    }
                    shared.insert(id, v);
                }
                Err(m) => {
                    for (r, run) in running.iter_mut().enumerate().filter(|(_, run)| **run) {
                        status[r] = Err(fail(m.clone()));
                        *run = false;
                    }
                }
            }
            release(id, &mut reads, &mut per_row, &mut shared);
            continue;
        }
        let arg = |o: &NodeId, r: usize| match shared.get(o) {
            Some(t) => Some(t.as_ref()),
            None => per_row.get(o).and_then(|v| v[r].as_ref()),
        };
        let live_rows: Vec<usize> = (0..rows.len()).filter(|r| running[*r]).collect();
        let batched = match (op, ops.as_slice()) {
            (Op::MatMul, [x, w]) if shared.contains_key(w) => {
                let xs: Option<Vec<&Tensor>> = live_rows.iter().map(|&r| arg(x, r)).collect();
                xs.and_then(|xs| matmul_rows(&xs, &shared[w], ty, precision))
            }
            _ => None,
        };
        let mut vals: Vec<Option<Tensor>> = vec![None; rows.len()];
        let mut results = batched.map(|v| v.into_iter().map(Ok));
        for &r in &live_rows {
            let v = match results.as_mut().and_then(Iterator::next) {
                Some(v) => v,
                None => match ops.iter().map(|o| arg(o, r)).collect::<Option<Vec<_>>>() {
                    Some(args) => eval(op, &args, ty, precision),
                    None => Err(OpError::Operand("an operand has no value".into())),
                },
            };
            match v {
                Ok(v) => {
                    running[r] = visit(r, id, &v).is_continue();
                    vals[r] = Some(v);
                }
                Err(m) => {
                    status[r] = Err(fail(m));
                    running[r] = false;
                }
            }
        }
        per_row.insert(id, vals);
        release(id, &mut reads, &mut per_row, &mut shared);
    }
    status
}

/// `MatMul` of every row's `x` by the shared `w`, as one product over the stacked rows; `None`
/// when an operand is not float data of one shape (then each row is evaluated alone).
fn matmul_rows(
    xs: &[&Tensor],
    w: &Tensor,
    ty: &TensorType,
    precision: Precision,
) -> Option<Vec<Tensor>> {
    let first = xs.first()?;
    if xs.iter().any(|x| x.shape != first.shape) || !matches!(first.shape.len(), 1 | 2) {
        return None;
    }
    let (m, k) =
        if first.shape.len() == 1 { (1, first.shape[0]) } else { (first.shape[0], first.shape[1]) };
    let n = if w.shape.len() == 1 { 1 } else { *w.shape.get(1)? };
    let mut stacked = Vec::with_capacity(xs.len() * m * k);
    for x in xs {
        stacked.extend_from_slice(x.floats().filter(|d| d.len() == m * k)?);
    }
    let wf = w.floats().filter(|d| d.len() == k * n)?;
    let out = matmul(
        &stacked,
        wf,
        MatMulShape { m: xs.len() * m, k, n, ta: false, tb: false },
        precision,
    );
    Some(out.chunks(m * n).map(|c| ftensor(ty, c.to_vec())).collect())
}

/// Integer storage becomes `I64` so every op reads one representation.
fn normalise(t: Tensor) -> Tensor {
    match t.data {
        TensorData::I32(_) => {
            let d = t.ints().unwrap_or_default();
            Tensor { data: TensorData::I64(d), ..t }
        }
        _ => t,
    }
}

fn floats(t: &Tensor) -> Result<&[f32], OpError> {
    t.floats().ok_or_else(|| OpError::Operand("expected float data".to_string()))
}

fn ints(t: &Tensor) -> Result<Vec<i64>, OpError> {
    t.ints().ok_or_else(|| OpError::Operand("expected integer data".to_string()))
}

fn ftensor(ty: &TensorType, data: Vec<f32>) -> Tensor {
    Tensor { shape: ty.shape.clone(), format: ty.format, data: TensorData::F32(data) }
}

/// Builds an integer result, checking every value fits the node's format.
fn itensor(ty: &TensorType, data: Vec<i128>) -> Result<Tensor, OpError> {
    let mut out = Vec::with_capacity(data.len());
    for v in data {
        if !ty.format.holds(v) {
            return Err(OpError::Value(format!(
                "result {v} does not fit {} (type rule violated)",
                ty.format
            )));
        }
        out.push(v as i64);
    }
    Ok(Tensor { shape: ty.shape.clone(), format: ty.format, data: TensorData::I64(out) })
}

fn eval(op: &Op, a: &[&Tensor], ty: &TensorType, precision: Precision) -> Result<Tensor, OpError> {
    let wide = precision == Precision::WideSums;
    Ok(match op {
        Op::Input { .. } => return Err(OpError::Value("input has no value".into())),
        Op::Constant(t) => normalise(t.clone()),
        Op::Output { .. } | Op::Identity | Op::Flatten { .. } | Op::Reshape { .. } => {
            Tensor { shape: ty.shape.clone(), ..a[0].clone() }
        }
        Op::MatMul if a[0].shape.len() > 2 || a[1].shape.len() > 2 => {
            ftensor(ty, nn::batched_matmul_eval(a[0], a[1], ty, wide)?)
        }
        Op::MatMul => {
            let (x, w) = (floats(a[0])?, floats(a[1])?);
            // Promote rank-1 operands to matrices as numpy does, then drop those dims.
            let (m, k) = if a[0].shape.len() == 1 {
                (1, a[0].shape[0])
            } else {
                (a[0].shape[0], a[0].shape[1])
            };
            let n = if a[1].shape.len() == 1 { 1 } else { a[1].shape[1] };
            ftensor(ty, matmul(x, w, MatMulShape { m, k, n, ta: false, tb: false }, precision))
        }
        Op::Gemm { alpha, beta, trans_a, trans_b } => {
            let (x, w) = (floats(a[0])?, floats(a[1])?);
            let (m, n) = (ty.shape[0], ty.shape[1]);
            let k = if *trans_a { a[0].shape[0] } else { a[0].shape[1] };
            let shape = MatMulShape { m, k, n, ta: *trans_a, tb: *trans_b };
            let acc = matmul(x, w, shape, precision);
            let mut out: Vec<f32> = acc.iter().map(|&v| alpha * v).collect();
            if let Some(c) = a.get(2) {
                let cb = broadcast_to(floats(c)?, &c.shape, &ty.shape);
                for (o, cv) in out.iter_mut().zip(cb) {
                    *o += beta * cv;
                }
            }
            ftensor(ty, out)
        }
        Op::Add => {
            let x = broadcast_to(floats(a[0])?, &a[0].shape, &ty.shape);
            let y = broadcast_to(floats(a[1])?, &a[1].shape, &ty.shape);
            ftensor(ty, x.iter().zip(&y).map(|(p, q)| p + q).collect())
        }
        Op::Relu => {
            ftensor(ty, floats(a[0])?.iter().map(|&x| if x < 0.0 { 0.0 } else { x }).collect())
        }
        Op::Sigmoid if wide => ftensor(
            ty,
            floats(a[0])?.iter().map(|&x| (1.0 / (1.0 + (-f64::from(x)).exp())) as f32).collect(),
        ),
        Op::Sigmoid => {
            ftensor(ty, floats(a[0])?.iter().map(|&x| 1.0 / (1.0 + (-x).exp())).collect())
        }
        Op::Tanh => ftensor(ty, floats(a[0])?.iter().map(|&x| x.tanh()).collect()),
        Op::Softmax { axis } => {
            let ax = norm_axis(*axis, ty.rank(), false)?;
            let x = floats(a[0])?;
            let len = ty.shape[ax];
            let inner: usize = ty.shape[ax + 1..].iter().product();
            let outer: usize = ty.shape[..ax].iter().product();
            let mut out = vec![0f32; x.len()];
            for o in 0..outer {
                for i in 0..inner {
                    let idx = |j: usize| (o * len + j) * inner + i;
                    let max = (0..len).map(|j| x[idx(j)]).fold(f32::NEG_INFINITY, f32::max);
                    if wide {
                        let e = |j: usize| f64::from(x[idx(j)] - max).exp();
                        let sum: f64 = (0..len).map(e).sum();
                        for j in 0..len {
                            out[idx(j)] = (e(j) / sum) as f32;
                        }
                        continue;
                    }
                    let mut sum = 0f32;
                    for j in 0..len {
                        let e = (x[idx(j)] - max).exp();
                        out[idx(j)] = e;
                        sum += e;
                    }
                    for j in 0..len {
                        out[idx(j)] /= sum;
                    }
                }
            }
            ftensor(ty, out)
        }
        Op::IntMatVec { weights } => {
            let (x, w) = (ints(a[0])?, ints(weights)?);
            let (m, k) = (weights.shape[0], weights.shape[1]);
            let y = (0..m)
                .map(|r| (0..k).map(|c| i128::from(w[r * k + c]) * i128::from(x[c])).sum())
                .collect();
            itensor(ty, y)?
        }
        Op::IntAdd => {
            let (x, y) = (ints(a[0])?, ints(a[1])?);
            itensor(ty, x.iter().zip(&y).map(|(&p, &q)| i128::from(p) + i128::from(q)).collect())?
        }
        Op::IntRelu => itensor(ty, ints(a[0])?.iter().map(|&v| i128::from(v.max(0))).collect())?,
        Op::Requantize { multiplier, shift, out } => itensor(
            ty,
            ints(a[0])?.iter().map(|&v| requantize(v, *multiplier, *shift, *out)).collect(),
        )?,
        Op::RequantizeChannels { multipliers, shifts, lo, hi } => {
            let x = ints(a[0])?;
            // Saturating to i64 first changes nothing: [lo, hi] lies inside it.
            let y = x
                .iter()
                .zip(multipliers.iter().zip(shifts))
                .map(|(&v, (&m, &s))| {
                    requantize(v, m, s, NumFormat::int(64)).clamp(i128::from(*lo), i128::from(*hi))
                })
                .collect();
            itensor(ty, y)?
        }
        Op::Argmax => {
            let x = ints(a[0])?;
            let mut best = 0usize;
            for (i, &v) in x.iter().enumerate() {
                if v > x[best] {
                    best = i;
                }
            }
            itensor(ty, vec![best as i128])?
        }
        Op::Gather { map, .. } => nn::gather_eval(a[0], map, ty),
        Op::Concat { axis } => nn::concat_tensors(a, *axis, ty)?,
        Op::LayerNorm(ln) => ftensor(ty, ln.eval(floats(a[0])?)),
        Op::Gelu { tanh } => {
            ftensor(ty, floats(a[0])?.iter().map(|&x| nn::gelu(x, *tanh)).collect())
        }
        Op::Quant(q) => {
            let x = floats(a[0])?;
            let s = broadcast_to(floats(a[1])?, &a[1].shape, &ty.shape);
            let z = broadcast_to(floats(a[2])?, &a[2].shape, &ty.shape);
            let bits = *floats(a[3])?
                .first()
                .ok_or_else(|| OpError::Operand("bit_width is empty".into()))?;
            ftensor(ty, q.eval(x, &s, &z, bits))
        }
        Op::Mul | Op::Sub | Op::Div | Op::Pow => {
            let x = broadcast_to(floats(a[0])?, &a[0].shape, &ty.shape);
            let y = broadcast_to(floats(a[1])?, &a[1].shape, &ty.shape);
            let f: fn(f32, f32) -> f32 = match op {
                Op::Mul => |p, q| p * q,
                Op::Sub => |p, q| p - q,
                Op::Div => |p, q| p / q,
                _ => nn::pow,
            };
            ftensor(ty, x.iter().zip(&y).map(|(&p, &q)| f(p, q)).collect())
        }
        Op::Sqrt => ftensor(ty, floats(a[0])?.iter().map(|&x| x.sqrt()).collect()),
        Op::Erf => {
            ftensor(ty, floats(a[0])?.iter().map(|&x| nn::erf64(f64::from(x)) as f32).collect())
        }
        Op::Sign => ftensor(ty, floats(a[0])?.iter().map(|&x| nn::sign(x)).collect()),
        Op::ReduceMean { axes, .. } => {
            ftensor(ty, nn::reduce_mean_eval(floats(a[0])?, &a[0].shape, axes))
        }
        Op::Dialect(d) => d.eval(a, ty)?,
    })
}

/// `Requantize` on one value: `saturate(round_half_even(x * multiplier / 2^shift))` into `out`.
///
/// Computed exactly on `i128`: `floor = p >> shift` (arithmetic), `rem = p - (floor << shift)`
/// in `[0, 2^shift)`; round up when `rem > 2^(shift-1)`, or when `rem == 2^(shift-1)` and
/// `floor` is odd. This is the same sequence the RTL performs. `out` must be an `Int` format.
pub fn requantize(x: i64, multiplier: i32, shift: u32, out: NumFormat) -> i128 {
    let q = super::requant::round_shift_half_even(i128::from(x) * i128::from(multiplier), shift);
    let (lo, hi) = out.int_range().unwrap_or((0, 0));
    q.clamp(lo, hi)
}

/// `C[m,n] = sum_k A'[m,k] * B'[k,n]`, optional transposes, summed as `precision` says:
/// in f32 from `0.0`, or in f64 from `-0.0` (rounded to f32 at the end), `k` increasing either
/// way. Every output is its own sum in that order whatever `m` is, so a batch of rows stacked
/// into `A` gives each row's product bit for bit ([`trace_rows`]); the variants below only
/// differ in how many rows and columns they sum side by side (no fused multiply-add: Rust
/// never contracts `s + a * b`, and the f32 product must round on its own).
fn matmul(a: &[f32], b: &[f32], shape: MatMulShape, precision: Precision) -> Vec<f32> {
    match precision {
        Precision::F32 => matmul_in::<f32>(a, b, shape),
        Precision::WideSums => matmul_in::<f64>(a, b, shape),
    }
}

/// A running sum of products of f32 values.
trait Accumulator: Copy {
    /// What an empty sum starts from.
    const START: Self;
    /// How `A`'s values are held while their block is multiplied (converted once per block).
    type Value: Copy + Default;
    fn value(a: f32) -> Self::Value;
    fn add_product(self, a: Self::Value, b: f32) -> Self;
    fn to_f32(self) -> f32;
    /// Adds the products of `p` in `at.p0..at.p1` to a full [`TILE_ROWS`] x [`TILE_COLS`]
    /// tile of sums ([`tile`]), on AVX-512 where the machine has it.
    fn full_tile(block: &[Self::Value], b: &[f32], at: TileAt, acc: &mut Tile<Self>);
}

/// The sums of one tile of outputs.
type Tile<A> = [[A; TILE_COLS]; TILE_ROWS];

/// Where a tile's rows start in the block, its columns in `B`, the run of `p` it adds, and
/// `B`'s row length.
#[derive(Clone, Copy)]
struct TileAt {
    r0: usize,
    j0: usize,
    p0: usize,
    p1: usize,
    n: usize,
}

impl Accumulator for f32 {
    const START: f32 = 0.0;
    type Value = f32;
    #[inline(always)]
    fn value(a: f32) -> f32 {
        a
    }
    #[inline(always)]
    fn add_product(self, a: f32, b: f32) -> f32 {
        self + a * b
    }
    #[inline(always)]
    fn to_f32(self) -> f32 {
        self
    }
    #[inline(always)]
    fn full_tile(block: &[f32], b: &[f32], at: TileAt, acc: &mut Tile<f32>) {
        #[cfg(target_arch = "x86_64")]
        if std::arch::is_x86_feature_detected!("avx512f") {
            // SAFETY: the CPU supports AVX-512F (checked above).
            return unsafe { tile_x86::f32_tile(block, b, at, acc) };
        }
        tile::<f32>(block, b, at, TILE_COLS, acc)
    }
}

/// The f64 product of two f32 values is exact (48 significant bits), so only the sum rounds.
impl Accumulator for f64 {
    const START: f64 = -0.0;
    type Value = f64;
    #[inline(always)]
    fn value(a: f32) -> f64 {
        f64::from(a)
    }
    #[inline(always)]
    fn add_product(self, a: f64, b: f32) -> f64 {
        self + a * f64::from(b)
    }
    #[inline(always)]
    fn to_f32(self) -> f32 {
        self as f32
    }
    #[inline(always)]
    fn full_tile(block: &[f64], b: &[f32], at: TileAt, acc: &mut Tile<f64>) {
        #[cfg(target_arch = "x86_64")]
        if std::arch::is_x86_feature_detected!("avx512f") {
            // SAFETY: the CPU supports AVX-512F (checked above).
            return unsafe { tile_x86::f64_tile(block, b, at, acc) };
        }
        tile::<f64>(block, b, at, TILE_COLS, acc)
    }
}

/// [`matmul`] with sums of type `A`, on the widest vector unit the machine has.
fn matmul_in<A: Accumulator>(a: &[f32], b: &[f32], shape: MatMulShape) -> Vec<f32> {
    let mut out = vec![0f32; shape.m * shape.n];
    #[cfg(target_arch = "x86_64")]
    {
        if std::arch::is_x86_feature_detected!("avx512f") {
            // SAFETY: the CPU supports AVX-512F (checked above).
            unsafe { matmul_x86::avx512::<A>(a, b, shape, &mut out) };
            return out;
        }
        if std::arch::is_x86_feature_detected!("avx2") {
            // SAFETY: the CPU supports AVX2 (checked above).
            unsafe { matmul_x86::avx2::<A>(a, b, shape, &mut out) };
            return out;
        }
    }
    matmul_body::<A>(a, b, shape, &mut out);
    out
}

/// The operands' sizes and transposes of [`matmul`].
#[derive(Clone, Copy)]
struct MatMulShape {
    m: usize,
    k: usize,
    n: usize,
    ta: bool,
    tb: bool,
}

#[cfg(target_arch = "x86_64")]
mod matmul_x86 {
    use super::{matmul_body, Accumulator, MatMulShape};

    #[target_feature(enable = "avx512f")]
    pub(super) unsafe fn avx512<A: Accumulator>(
        a: &[f32],
        b: &[f32],
        s: MatMulShape,
        out: &mut [f32],
    ) {
        matmul_body::<A>(a, b, s, out);
    }

    #[target_feature(enable = "avx2")]
    pub(super) unsafe fn avx2<A: Accumulator>(
        a: &[f32],
        b: &[f32],
        s: MatMulShape,
        out: &mut [f32],
    ) {
        matmul_body::<A>(a, b, s, out);
    }
}

/// Rows of `A` multiplied per pass over `B`.
const MM_ROWS: usize = 32;
/// With `B` stored `[k][n]`, the sums of a tile of [`TILE_ROWS`] rows by [`TILE_COLS`]
/// columns are held in registers (16 AVX-512 registers of f64, 8 of f32) while `p` runs:
/// each element of `B` loaded feeds `TILE_ROWS` sums, each row value `TILE_COLS`.
const TILE_ROWS: usize = 8;
const TILE_COLS: usize = 16;
/// `p` runs [`K_CHUNK`] at a time over every tile of the block before moving on, so the
/// `K_CHUNK` x `TILE_COLS` piece of `B` a strip reads (16 KB) stays in the L1 cache for all of
/// the block's row tiles, and walking down `B`'s columns touches few pages at a time.
const K_CHUNK: usize = 128;

/// [`matmul`] a block of [`MM_ROWS`] rows of `A` at a time, so that each element of `B` is
/// read from memory once per block. The block is copied column by column (zero-padded past
/// the last row). With `[k][n]` storage the block's sums are tiles that advance [`K_CHUNK`]
/// values of `p` at a time (vectorised over `j`); with `[n][k]` (`tb`) each output's sum runs
/// along `p` with the block's rows side by side. Either way every output adds its products in
/// increasing `p` from [`Accumulator::START`].
#[inline(always)]
fn matmul_body<A: Accumulator>(a: &[f32], b: &[f32], s: MatMulShape, out: &mut [f32]) {
    let MatMulShape { m, k, n, ta, tb } = s;
    let at = |i: usize, p: usize| if ta { a[p * m + i] } else { a[i * k + p] };
    let mut block = vec![A::Value::default(); k * MM_ROWS];
    let strips = n.div_ceil(TILE_COLS);
    let mut sums: Vec<Tile<A>> = Vec::new();
    for i0 in (0..m).step_by(MM_ROWS) {
        let rows = (m - i0).min(MM_ROWS);
        for p in 0..k {
            for r in 0..MM_ROWS {
                block[p * MM_ROWS + r] = A::value(if r < rows { at(i0 + r, p) } else { 0.0 });
            }
        }
        let out = &mut out[i0 * n..(i0 + rows) * n];
        if tb {
            for j in 0..n {
                let mut acc = [A::START; MM_ROWS];
                for (bv, av) in b[j * k..(j + 1) * k].iter().zip(block.chunks_exact(MM_ROWS)) {
                    for (s, a) in acc.iter_mut().zip(av) {
                        *s = s.add_product(*a, *bv);
                    }
                }
                for (r, v) in acc[..rows].iter().enumerate() {
                    out[r * n + j] = v.to_f32();
                }
            }
            continue;
        }
        // One tile of sums per (row tile, strip), row tile major.
        let row_tiles = rows.div_ceil(TILE_ROWS);
        sums.clear();
        sums.resize(row_tiles * strips, [[A::START; TILE_COLS]; TILE_ROWS]);
        for p0 in (0..k).step_by(K_CHUNK) {
            let p1 = (p0 + K_CHUNK).min(k);
            for (strip, j0) in (0..n).step_by(TILE_COLS).enumerate() {
                let cols = (n - j0).min(TILE_COLS);
                for t in 0..row_tiles {
                    let at = TileAt { r0: t * TILE_ROWS, j0, p0, p1, n };
                    let acc = &mut sums[t * strips + strip];
                    if cols == TILE_COLS {
                        A::full_tile(&block, b, at, acc);
                    } else {
                        tile::<A>(&block, b, at, cols, acc);
                    }
                }
            }
        }
        for (t, tiles) in sums.chunks(strips).enumerate() {
            for (strip, acc) in tiles.iter().enumerate() {
                let j0 = strip * TILE_COLS;
                let cols = (n - j0).min(TILE_COLS);
                for (r, accr) in acc.iter().enumerate().take(rows - (t * TILE_ROWS).min(rows)) {
                    let row = t * TILE_ROWS + r;
                    let o = &mut out[row * n + j0..row * n + j0 + cols];
                    for (o, v) in o.iter_mut().zip(accr) {
                        *o = v.to_f32();
                    }
                }
            }
        }
    }
}

/// Adds the products of `p` in `p0..p1` to the sums of rows `r0..r0 + TILE_ROWS` of the block
/// by columns `j0..j0 + cols` of `B`.
#[inline(always)]
fn tile<A: Accumulator>(block: &[A::Value], b: &[f32], at: TileAt, cols: usize, acc: &mut Tile<A>) {
    let TileAt { r0, j0, p0, p1, n } = at;
    for p in p0..p1 {
        let brow = &b[p * n + j0..p * n + j0 + cols];
        for (r, accr) in acc.iter_mut().enumerate() {
            let a = block[p * MM_ROWS + r0 + r];
            for (s, bv) in accr.iter_mut().zip(brow) {
                *s = s.add_product(a, *bv);
            }
        }
    }
}

/// [`tile`] in AVX-512 registers: the tile's sums stay in 8 (f32) or 16 (f64) registers while
/// `p` runs. The f32 tile multiplies and adds separately (the product rounds on its own,
/// as in [`tile`]); the f64 tile fuses them, which rounds the same because the f64 product of two
/// f32 values is exact.
#[cfg(target_arch = "x86_64")]
mod tile_x86 {
    use super::{Tile, TileAt, MM_ROWS, TILE_COLS, TILE_ROWS};
    use std::arch::x86_64::*;

    /// The checks that keep every load in bounds.
    fn in_bounds(block: usize, b: &[f32], at: TileAt) {
        let TileAt { r0, j0, p1, n, .. } = at;
        assert!(p1 == 0 || (p1 - 1) * MM_ROWS + r0 + TILE_ROWS <= block, "tile rows");
        assert!(p1 == 0 || (p1 - 1) * n + j0 + TILE_COLS <= b.len(), "tile columns");
    }

    #[target_feature(enable = "avx512f")]
    pub(super) unsafe fn f32_tile(block: &[f32], b: &[f32], at: TileAt, sums: &mut Tile<f32>) {
        in_bounds(block.len(), b, at);
        let TileAt { r0, j0, p0, p1, n } = at;
        let mut acc = [_mm512_setzero_ps(); TILE_ROWS];
        for (v, s) in acc.iter_mut().zip(sums.iter()) {
            *v = _mm512_loadu_ps(s.as_ptr());
        }
        for p in p0..p1 {
            // SAFETY: `in_bounds` checked the last `p`'s reads.
            let bv = _mm512_loadu_ps(b.as_ptr().add(p * n + j0));
            let ap = block.as_ptr().add(p * MM_ROWS + r0);
            for (r, s) in acc.iter_mut().enumerate() {
                *s = _mm512_add_ps(*s, _mm512_mul_ps(_mm512_set1_ps(*ap.add(r)), bv));
            }
        }
        for (o, v) in sums.iter_mut().zip(acc) {
            _mm512_storeu_ps(o.as_mut_ptr(), v);
        }
    }

    #[target_feature(enable = "avx512f")]
    pub(super) unsafe fn f64_tile(block: &[f64], b: &[f32], at: TileAt, sums: &mut Tile<f64>) {
        in_bounds(block.len(), b, at);
        let TileAt { r0, j0, p0, p1, n } = at;
        let mut acc = [[_mm512_setzero_pd(); 2]; TILE_ROWS];
        for (v, s) in acc.iter_mut().zip(sums.iter()) {
            v[0] = _mm512_loadu_pd(s.as_ptr());
            v[1] = _mm512_loadu_pd(s.as_ptr().add(8));
        }
        for p in p0..p1 {
            // SAFETY: `in_bounds` checked the last `p`'s reads.
            let bp = b.as_ptr().add(p * n + j0);
            let bv =
                [_mm512_cvtps_pd(_mm256_loadu_ps(bp)), _mm512_cvtps_pd(_mm256_loadu_ps(bp.add(8)))];
            let ap = block.as_ptr().add(p * MM_ROWS + r0);
            for (r, s) in acc.iter_mut().enumerate() {
                let a = _mm512_set1_pd(*ap.add(r));
                s[0] = _mm512_fmadd_pd(a, bv[0], s[0]);
                s[1] = _mm512_fmadd_pd(a, bv[1], s[1]);
            }
        }
        for (o, v) in sums.iter_mut().zip(acc) {
            _mm512_storeu_pd(o.as_mut_ptr(), v[0]);
            _mm512_storeu_pd(o.as_mut_ptr().add(8), v[1]);
        }
    }
}

/// Expands `x` of `shape` to `target` under numpy broadcasting (the shapes were checked by the
/// type rule), returning the row-major elements of the target.
fn broadcast_to(x: &[f32], shape: &[usize], target: &[usize]) -> Vec<f32> {
    debug_assert_eq!(broadcast(shape, target).ok().as_deref(), Some(target));
    let r = target.len();
    let off = r - shape.len();
    // Strides of `x` in target coordinates; broadcast dimensions get stride 0.
    let mut strides = vec![0usize; r];
    let mut s = 1usize;
    for i in (0..shape.len()).rev() {
        strides[off + i] = if shape[i] == 1 { 0 } else { s };
        s *= shape[i];
    }
    let total: usize = target.iter().product();
    let mut out = Vec::with_capacity(total);
    let mut idx = vec![0usize; r];
    for _ in 0..total {
        out.push(x[idx.iter().zip(&strides).map(|(i, s)| i * s).sum::<usize>()]);
        for d in (0..r).rev() {
            idx[d] += 1;
            if idx[d] < target[d] {
                break;
            }
            idx[d] = 0;
        }
    }
    out
}
