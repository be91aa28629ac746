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
        let v = eval(g.op(id), &args, ty).map_err(|message| InterpError::Eval {
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
    let mut shared: HashMap<NodeId, Tensor> = HashMap::new();
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
            let args: Vec<&Tensor> = ops.iter().map(|o| &shared[o]).collect();
            match eval(op, &args, ty) {
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
            continue;
        }
        let arg = |o: &NodeId, r: usize| match shared.get(o) {
            Some(t) => Some(t),
            None => per_row.get(o).and_then(|v| v[r].as_ref()),
        };
        let live_rows: Vec<usize> = (0..rows.len()).filter(|r| running[*r]).collect();
        let batched = match (op, ops.as_slice()) {
            (Op::MatMul, [x, w]) if shared.contains_key(w) => {
                let xs: Option<Vec<&Tensor>> = live_rows.iter().map(|&r| arg(x, r)).collect();
                xs.and_then(|xs| matmul_rows(&xs, &shared[w], ty))
            }
            _ => None,
        };
        let mut vals: Vec<Option<Tensor>> = vec![None; rows.len()];
        let mut results = batched.map(|v| v.into_iter().map(Ok));
        for &r in &live_rows {
            let v = match results.as_mut().and_then(Iterator::next) {
                Some(v) => v,
                None => match ops.iter().map(|o| arg(o, r)).collect::<Option<Vec<_>>>() {
                    Some(args) => eval(op, &args, ty),
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
    }
    status
}

/// `MatMul` of every row's `x` by the shared `w`, as one product over the stacked rows; `None`
/// when an operand is not float data of one shape (then each row is evaluated alone).
fn matmul_rows(xs: &[&Tensor], w: &Tensor, ty: &TensorType) -> Option<Vec<Tensor>> {
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
    let out = matmul(&stacked, wf, xs.len() * m, k, n, false, false);
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

fn eval(op: &Op, a: &[&Tensor], ty: &TensorType) -> Result<Tensor, OpError> {
    Ok(match op {
        Op::Input { .. } => return Err(OpError::Value("input has no value".into())),
        Op::Constant(t) => normalise(t.clone()),
        Op::Output { .. } | Op::Identity | Op::Flatten { .. } | Op::Reshape { .. } => {
            Tensor { shape: ty.shape.clone(), ..a[0].clone() }
        }
        Op::MatMul if a[0].shape.len() > 2 || a[1].shape.len() > 2 => {
            ftensor(ty, nn::batched_matmul_eval(a[0], a[1], ty)?)
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
            ftensor(ty, matmul(x, w, m, k, n, false, false))
        }
        Op::Gemm { alpha, beta, trans_a, trans_b } => {
            let (x, w) = (floats(a[0])?, floats(a[1])?);
            let (m, n) = (ty.shape[0], ty.shape[1]);
            let k = if *trans_a { a[0].shape[0] } else { a[0].shape[1] };
            let acc = matmul(x, w, m, k, n, *trans_a, *trans_b);
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

/// `C[m,n] = sum_k A'[m,k] * B'[k,n]` in f32, `k` increasing from `0.0`, optional
/// transposes. Every output is its own sum in that order whatever `m` is, so a batch of rows
/// stacked into `A` gives each row's product bit for bit ([`trace_rows`]); the variants below
/// only differ in how many rows and columns they sum side by side (no fused multiply-add:
/// Rust never contracts `s + a * b`, and the f32 product must round on its own).
fn matmul(a: &[f32], b: &[f32], m: usize, k: usize, n: usize, ta: bool, tb: bool) -> Vec<f32> {
    let mut out = vec![0f32; m * n];
    let shape = MatMulShape { m, k, n, ta, tb };
    #[cfg(target_arch = "x86_64")]
    {
        if std::arch::is_x86_feature_detected!("avx512f") {
            // SAFETY: the CPU supports AVX-512F (checked above).
            unsafe { matmul_x86::avx512(a, b, shape, &mut out) };
            return out;
        }
        if std::arch::is_x86_feature_detected!("avx2") {
            // SAFETY: the CPU supports AVX2 (checked above).
            unsafe { matmul_x86::avx2(a, b, shape, &mut out) };
            return out;
        }
    }
    matmul_body(a, b, shape, &mut out);
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
    use super::{matmul_body, MatMulShape};

    #[target_feature(enable = "avx512f")]
    pub(super) unsafe fn avx512(a: &[f32], b: &[f32], s: MatMulShape, out: &mut [f32]) {
        matmul_body(a, b, s, out);
    }

    #[target_feature(enable = "avx2")]
    pub(super) unsafe fn avx2(a: &[f32], b: &[f32], s: MatMulShape, out: &mut [f32]) {
        matmul_body(a, b, s, out);
    }
}

/// Rows of `A` multiplied per pass over `B`.
const MM_ROWS: usize = 8;
/// Output columns per strip when `B` is `[k][n]`: the strip's accumulators (`MM_ROWS * MM_COLS`
/// f32, 8 KB) stay in the L1 cache while `B`'s rows stream past.
const MM_COLS: usize = 256;

/// [`matmul`] a block of [`MM_ROWS`] rows of `A` at a time, so that each element of `B` is
/// read once per block. The block is copied column by column (zero-padded past the last row).
/// `B` is walked along its rows: with `[k][n]` storage the sums advance one `p` at a time
/// across a strip of outputs (contiguous, vectorised over `j`); with `[n][k]` (`tb`) each
/// output's sum runs along `p` with the block's rows side by side. Either way every output
/// adds its products in increasing `p` from `0.0`.
#[inline(always)]
fn matmul_body(a: &[f32], b: &[f32], s: MatMulShape, out: &mut [f32]) {
    let MatMulShape { m, k, n, ta, tb } = s;
    let at = |i: usize, p: usize| if ta { a[p * m + i] } else { a[i * k + p] };
    let mut block = vec![0f32; k * MM_ROWS];
    for i0 in (0..m).step_by(MM_ROWS) {
        let rows = (m - i0).min(MM_ROWS);
        for p in 0..k {
            for r in 0..MM_ROWS {
                block[p * MM_ROWS + r] = if r < rows { at(i0 + r, p) } else { 0.0 };
            }
        }
        let out = &mut out[i0 * n..(i0 + rows) * n];
        if tb {
            for j in 0..n {
                let mut acc = [0f32; MM_ROWS];
                for (bv, av) in b[j * k..(j + 1) * k].iter().zip(block.chunks_exact(MM_ROWS)) {
                    for (s, a) in acc.iter_mut().zip(av) {
                        *s += a * bv;
                    }
                }
                for (r, v) in acc[..rows].iter().enumerate() {
                    out[r * n + j] = *v;
                }
            }
            continue;
        }
        for j0 in (0..n).step_by(MM_COLS) {
            let cols = (n - j0).min(MM_COLS);
            let mut acc = [[0f32; MM_COLS]; MM_ROWS];
            for (p, av) in block.chunks_exact(MM_ROWS).enumerate() {
                let brow = &b[p * n + j0..p * n + j0 + cols];
                for (accr, a) in acc[..rows].iter_mut().zip(av) {
                    for (s, bv) in accr.iter_mut().zip(brow) {
                        *s += a * bv;
                    }
                }
            }
            for (r, accr) in acc[..rows].iter().enumerate() {
                out[r * n + j0..r * n + j0 + cols].copy_from_slice(&accr[..cols]);
            }
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
