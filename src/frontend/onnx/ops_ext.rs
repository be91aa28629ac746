//! The operators transformer exports need beyond the MLP set: data movement (Transpose, Split,
//! Slice, Concat, Gather, Unsqueeze, Squeeze), element-wise arithmetic (Mul, Div, Sub, Pow,
//! Sqrt, Erf, Sign), ReduceMean, LayerNormalization and Gelu, with their attributes, static
//! shapes and float semantics (used to fold constants and compute index maps at load time).
//! Batched MatMul's shape rule (rank 3 and 4, numpy broadcasting) lives here too. Everything
//! follows the ONNX operator specification; inputs that fix a shape (axes, split sizes, slice
//! bounds, gather indices) must be constants, since tessera compiles static graphs.
//!
//! Sign follows ONNX (`Sign(0) = 0`) here. Hardware binarization maps 0 to
//! +1 (HAD's convention); the attention importer documents where the two can differ.

use super::model::Node;
use super::shape::{broadcast, norm_axis};
use super::tensor::Tensor;
use std::collections::BTreeMap;

/// A dense float tensor while folding constants or computing index maps at load time.
#[derive(Clone, Debug, PartialEq)]
pub struct Value {
    pub shape: Vec<usize>,
    pub data: Vec<f32>,
}

/// One extension operator with its attributes resolved.
#[derive(Clone, Debug, PartialEq)]
pub enum ExtOp {
    /// `perm` empty means reverse the dimensions (the ONNX default).
    Transpose {
        perm: Vec<i64>,
    },
    Mul,
    Div,
    Sub,
    Pow,
    Sqrt,
    Erf,
    Sign,
    /// `axes` from the attribute (opset < 18) or, when `None`, the optional second input.
    ReduceMean {
        axes: Option<Vec<i64>>,
        keepdims: bool,
        noop_with_empty_axes: bool,
    },
    LayerNormalization {
        axis: i64,
        epsilon: f32,
    },
    /// ONNX Gelu (opset 20): `approximate = "tanh"` or exact (erf).
    Gelu {
        tanh: bool,
    },
    /// `split` from the attribute (opset < 13) or the optional second input; `num_outputs`
    /// (opset 18) otherwise equal parts.
    Split {
        axis: i64,
        split: Option<Vec<i64>>,
    },
    Slice,
    Concat {
        axis: i64,
    },
    Gather {
        axis: i64,
    },
    /// `axes` from the attribute (opset < 13) or the second input.
    Unsqueeze {
        axes: Option<Vec<i64>>,
    },
    Squeeze {
        axes: Option<Vec<i64>>,
    },
    // Shape arithmetic that dynamic-batch exports contain (`cls.expand(x.shape[0], -1, -1)`);
    // tessera's shapes are static, so the loader folds these to constants.
    Shape {
        start: i64,
        end: Option<i64>,
    },
    /// Fill value and whether it is an integer type.
    ConstantOfShape {
        value: f32,
        int: bool,
    },
    Equal,
    Where,
    /// ONNX Mod: `fmod` (C semantics) or the sign of the divisor (Python semantics).
    Mod {
        fmod: bool,
    },
    Expand,
    /// `to` an integer type (true) or a float type.
    Cast {
        to_int: bool,
    },
}

impl ExtOp {
    pub fn op_type(&self) -> &'static str {
        match self {
            ExtOp::Transpose { .. } => "Transpose",
            ExtOp::Mul => "Mul",
            ExtOp::Div => "Div",
            ExtOp::Sub => "Sub",
            ExtOp::Pow => "Pow",
            ExtOp::Sqrt => "Sqrt",
            ExtOp::Erf => "Erf",
            ExtOp::Sign => "Sign",
            ExtOp::ReduceMean { .. } => "ReduceMean",
            ExtOp::LayerNormalization { .. } => "LayerNormalization",
            ExtOp::Gelu { .. } => "Gelu",
            ExtOp::Split { .. } => "Split",
            ExtOp::Slice => "Slice",
            ExtOp::Concat { .. } => "Concat",
            ExtOp::Gather { .. } => "Gather",
            ExtOp::Unsqueeze { .. } => "Unsqueeze",
            ExtOp::Squeeze { .. } => "Squeeze",
            ExtOp::Shape { .. } => "Shape",
            ExtOp::ConstantOfShape { .. } => "ConstantOfShape",
            ExtOp::Equal => "Equal",
            ExtOp::Where => "Where",
            ExtOp::Mod { .. } => "Mod",
            ExtOp::Expand => "Expand",
            ExtOp::Cast { .. } => "Cast",
        }
    }

    /// Inclusive bounds on the input count.
    pub fn arity(&self) -> (usize, usize) {
        match self {
            ExtOp::Mul | ExtOp::Div | ExtOp::Sub | ExtOp::Pow | ExtOp::Gather { .. } => (2, 2),
            ExtOp::Sqrt | ExtOp::Erf | ExtOp::Sign | ExtOp::Transpose { .. } => (1, 1),
            ExtOp::Gelu { .. } => (1, 1),
            ExtOp::ReduceMean { .. } => (1, 2),
            ExtOp::LayerNormalization { .. } => (2, 3),
            ExtOp::Split { .. } => (1, 2),
            ExtOp::Slice => (3, 5),
            ExtOp::Concat { .. } => (1, usize::MAX),
            ExtOp::Unsqueeze { .. } | ExtOp::Squeeze { .. } => (1, 2),
            ExtOp::Shape { .. } | ExtOp::ConstantOfShape { .. } | ExtOp::Cast { .. } => (1, 1),
            ExtOp::Equal | ExtOp::Expand | ExtOp::Mod { .. } => (2, 2),
            ExtOp::Where => (3, 3),
        }
    }

    /// Whether the node may have more than one output (Split; LayerNormalization's optional
    /// Mean and InvStdDev outputs are not supported).
    pub fn multi_output(&self) -> bool {
        matches!(self, ExtOp::Split { .. })
    }
}

/// Attribute access the parser needs, implemented by the loader's attribute reader.
pub(super) trait AttrSource {
    fn int(&mut self, name: &'static str, default: i64) -> Result<i64, String>;
    fn float(&mut self, name: &'static str, default: f32) -> Result<f32, String>;
    fn string(&mut self, name: &'static str, default: &str) -> Result<String, String>;
    fn ints(&mut self, name: &'static str) -> Result<Option<Vec<i64>>, String>;
    /// A one-element TENSOR attribute: its value and whether its type is an integer.
    fn tensor_scalar(&mut self, name: &'static str) -> Result<Option<(f32, bool)>, String>;
}

/// Parses a default-domain operator of this module; `Ok(None)` when `op_type` is not one.
pub(super) fn parse(
    op_type: &str,
    a: &mut dyn AttrSource,
    opset: i64,
) -> Result<Option<ExtOp>, String> {
    Ok(Some(match op_type {
        "Transpose" => ExtOp::Transpose { perm: a.ints("perm")?.unwrap_or_default() },
        "Mul" => ExtOp::Mul,
        "Div" => ExtOp::Div,
        "Sub" => ExtOp::Sub,
        "Pow" => ExtOp::Pow,
        "Sqrt" => ExtOp::Sqrt,
        "Erf" => ExtOp::Erf,
        "Sign" => ExtOp::Sign,
        "ReduceMean" => ExtOp::ReduceMean {
            axes: if opset < 18 { Some(a.ints("axes")?.unwrap_or_default()) } else { None },
            keepdims: a.int("keepdims", 1)? != 0,
            noop_with_empty_axes: if opset >= 18 {
                a.int("noop_with_empty_axes", 0)? != 0
            } else {
                false
            },
        },
        "LayerNormalization" => {
            let stash = a.int("stash_type", 1)?;
            if stash != 1 {
                return Err(format!("stash_type = {stash} (only 1, float32, is supported)"));
            }
            ExtOp::LayerNormalization {
                axis: a.int("axis", -1)?,
                epsilon: a.float("epsilon", 1e-5)?,
            }
        }
        "Gelu" => match a.string("approximate", "none")?.as_str() {
            "none" => ExtOp::Gelu { tanh: false },
            "tanh" => ExtOp::Gelu { tanh: true },
            other => return Err(format!("approximate = `{other}` (expected none or tanh)")),
        },
        "Split" => {
            let split = if opset < 13 { a.ints("split")? } else { None };
            if opset >= 18 {
                // num_outputs only says how many equal parts; the output count gives the same.
                let _ = a.int("num_outputs", 0)?;
            }
            ExtOp::Split { axis: a.int("axis", 0)?, split }
        }
        "Slice" if opset >= 10 => ExtOp::Slice,
        "Concat" => ExtOp::Concat { axis: a.int("axis", 0)? },
        "Gather" => ExtOp::Gather { axis: a.int("axis", 0)? },
        "Unsqueeze" => ExtOp::Unsqueeze { axes: if opset < 13 { a.ints("axes")? } else { None } },
        "Squeeze" => ExtOp::Squeeze { axes: if opset < 13 { a.ints("axes")? } else { None } },
        "Shape" => ExtOp::Shape {
            start: a.int("start", 0)?,
            end: match a.int("end", i64::MAX)? {
                i64::MAX => None,
                e => Some(e),
            },
        },
        "ConstantOfShape" => {
            let (value, int) = a.tensor_scalar("value")?.unwrap_or((0.0, false));
            ExtOp::ConstantOfShape { value, int }
        }
        "Equal" => ExtOp::Equal,
        "Where" => ExtOp::Where,
        "Mod" => ExtOp::Mod { fmod: a.int("fmod", 0)? != 0 },
        "Expand" => ExtOp::Expand,
        "Cast" => {
            // TensorProto.DataType: 1 FLOAT, 10 FLOAT16, 11 DOUBLE, 16 BFLOAT16 are floats;
            // 9 BOOL and the integer types fold to integers.
            let to = a.int("to", 0)?;
            let _ = a.int("saturate", 1)?;
            ExtOp::Cast { to_int: !matches!(to, 1 | 10 | 11 | 16) }
        }
        _ => return Ok(None),
    }))
}

/// A constant integer input (axes, sizes, indices), or `None` when the input is omitted.
fn const_ints(
    n: &Node,
    i: usize,
    constants: &BTreeMap<String, Tensor>,
) -> Result<Option<Vec<i64>>, String> {
    let Some(name) = n.inputs.get(i).filter(|s| !s.is_empty()) else {
        return Ok(None);
    };
    let t = constants.get(name).ok_or_else(|| {
        format!("input {i} `{name}` must be a constant (tessera compiles static shapes)")
    })?;
    t.as_i64()
        .map(|v| Some(v.to_vec()))
        .ok_or_else(|| format!("input {i} `{name}` must be an INT64 tensor"))
}

fn axis_of(axis: i64, rank: usize) -> Result<usize, String> {
    norm_axis(axis, rank, false)
        .ok_or_else(|| format!("axis {axis} is out of range for rank {rank}"))
}

/// The output shape of numpy `matmul` (ranks >= 1, batch dimensions broadcast).
pub(super) fn matmul_shape(a: &[usize], b: &[usize]) -> Result<Vec<usize>, String> {
    if a.is_empty() || b.is_empty() {
        return Err("MatMul operands must have rank >= 1".into());
    }
    let a2: Vec<usize> = if a.len() == 1 { vec![1, a[0]] } else { a.to_vec() };
    let b2: Vec<usize> = if b.len() == 1 { vec![b[0], 1] } else { b.to_vec() };
    let (m, k) = (a2[a2.len() - 2], a2[a2.len() - 1]);
    let (k2, n) = (b2[b2.len() - 2], b2[b2.len() - 1]);
    if k != k2 {
        return Err(format!("MatMul inner dimensions differ: {a:?} x {b:?}"));
    }
    let batch = broadcast(&a2[..a2.len() - 2], &b2[..b2.len() - 2])
        .ok_or_else(|| format!("MatMul batch dimensions of {a:?} and {b:?} do not broadcast"))?;
    let mut out = batch;
    if a.len() > 1 {
        out.push(m);
    }
    if b.len() > 1 {
        out.push(n);
    }
    Ok(out)
}

fn split_sizes(
    op_split: &Option<Vec<i64>>,
    n: &Node,
    dim: usize,
    constants: &BTreeMap<String, Tensor>,
) -> Result<Vec<usize>, String> {
    let given = match op_split {
        Some(s) => Some(s.clone()),
        None => const_ints(n, 1, constants)?,
    };
    let parts = n.outputs.len();
    let sizes: Vec<usize> = match given {
        Some(s) => {
            if s.len() != parts || s.iter().any(|&x| x < 0) {
                return Err(format!("split sizes {s:?} do not match {parts} outputs"));
            }
            s.iter().map(|&x| x as usize).collect()
        }
        None => {
            // Equal parts; the last may be smaller (opset 18 rule).
            let each = dim.div_ceil(parts.max(1));
            (0..parts).map(|i| each.min(dim.saturating_sub(i * each))).collect()
        }
    };
    if sizes.iter().sum::<usize>() != dim {
        return Err(format!("split sizes {sizes:?} do not add up to dimension {dim}"));
    }
    Ok(sizes)
}

/// Resolved `Slice` parameters for one input shape: per axis `(start, step, count)`.
fn slice_plan(
    n: &Node,
    shape: &[usize],
    constants: &BTreeMap<String, Tensor>,
) -> Result<Vec<(i64, i64, usize)>, String> {
    let starts = const_ints(n, 1, constants)?.unwrap_or_default();
    let ends = const_ints(n, 2, constants)?.unwrap_or_default();
    if starts.len() != ends.len() {
        return Err("starts and ends differ in length".into());
    }
    let axes = const_ints(n, 3, constants)?.unwrap_or_else(|| (0..starts.len() as i64).collect());
    let steps = const_ints(n, 4, constants)?.unwrap_or_else(|| vec![1; starts.len()]);
    if axes.len() != starts.len() || steps.len() != starts.len() {
        return Err("starts, ends, axes and steps differ in length".into());
    }
    let mut plan: Vec<(i64, i64, usize)> = shape.iter().map(|&d| (0, 1, d)).collect();
    for k in 0..starts.len() {
        let ax = axis_of(axes[k], shape.len())?;
        let d = shape[ax] as i64;
        let step = steps[k];
        if step == 0 {
            return Err("slice step 0".into());
        }
        let fix = |v: i64| if v < 0 { v + d } else { v };
        let (s, e) = (fix(starts[k]), fix(ends[k]));
        let (s, e, count) = if step > 0 {
            let s = s.clamp(0, d);
            let e = e.clamp(0, d);
            (s, e, if e > s { (e - s + step - 1) / step } else { 0 })
        } else {
            let s = s.clamp(-1, d - 1);
            let e = e.clamp(-1, d - 1);
            (s, e, if s > e { (s - e + (-step) - 1) / (-step) } else { 0 })
        };
        let _ = e;
        plan[ax] = (s, step, count as usize);
    }
    Ok(plan)
}

fn gather_indices(
    n: &Node,
    dim: usize,
    constants: &BTreeMap<String, Tensor>,
) -> Result<(Vec<usize>, Vec<usize>), String> {
    let name = &n.inputs[1];
    let t =
        constants.get(name).ok_or_else(|| format!("Gather indices `{name}` must be a constant"))?;
    let idx = t.as_i64().ok_or_else(|| format!("Gather indices `{name}` must be integers"))?;
    let mut out = Vec::with_capacity(idx.len());
    for &i in idx {
        let j = if i < 0 { i + dim as i64 } else { i };
        if j < 0 || j >= dim as i64 {
            return Err(format!("Gather index {i} is out of range for dimension {dim}"));
        }
        out.push(j as usize);
    }
    Ok((t.shape.clone(), out))
}

fn unsqueeze_axes(
    op_axes: &Option<Vec<i64>>,
    n: &Node,
    constants: &BTreeMap<String, Tensor>,
) -> Result<Vec<i64>, String> {
    match op_axes {
        Some(a) => Ok(a.clone()),
        None => const_ints(n, 1, constants)?.ok_or_else(|| "axes are required".to_string()),
    }
}

/// ReduceMean's axes for input rank `rank`: normalised, ascending, distinct; empty only when
/// `noop_with_empty_axes` makes the node an identity.
pub(super) fn reduce_axes(
    op: &ExtOp,
    n: &Node,
    rank: usize,
    constants: &BTreeMap<String, Tensor>,
) -> Result<Vec<usize>, String> {
    let ExtOp::ReduceMean { axes, noop_with_empty_axes, .. } = op else {
        return Err("not a reduction".into());
    };
    let given = match axes {
        Some(a) => a.clone(),
        None => const_ints(n, 1, constants)?.unwrap_or_default(),
    };
    if given.is_empty() {
        return Ok(if *noop_with_empty_axes { vec![] } else { (0..rank).collect() });
    }
    let mut v = given.iter().map(|&a| axis_of(a, rank)).collect::<Result<Vec<_>, _>>()?;
    v.sort_unstable();
    v.dedup();
    Ok(v)
}

/// Output shapes of an extension node.
pub(super) fn infer(
    op: &ExtOp,
    n: &Node,
    ins: &[Option<&[usize]>],
    constants: &BTreeMap<String, Tensor>,
) -> Result<Vec<Vec<usize>>, String> {
    let get = |i: usize| -> Result<&[usize], String> {
        ins.get(i).copied().flatten().ok_or_else(|| format!("input {i} has no known shape"))
    };
    let x = get(0)?;
    let one = |s: Vec<usize>| Ok(vec![s]);
    match op {
        ExtOp::Mul | ExtOp::Div | ExtOp::Sub | ExtOp::Pow => {
            let b = get(1)?;
            one(broadcast(x, b)
                .ok_or_else(|| format!("shapes {x:?} and {b:?} do not broadcast"))?)
        }
        ExtOp::Sqrt | ExtOp::Erf | ExtOp::Sign | ExtOp::Gelu { .. } => one(x.to_vec()),
        ExtOp::Transpose { perm } => {
            one(transpose_perm(perm, x.len())?.iter().map(|&p| x[p]).collect())
        }
        ExtOp::ReduceMean { keepdims, .. } => {
            let axes = reduce_axes(op, n, x.len(), constants)?;
            let mut out = Vec::new();
            for (d, &s) in x.iter().enumerate() {
                if axes.contains(&d) {
                    if *keepdims {
                        out.push(1);
                    }
                } else {
                    out.push(s);
                }
            }
            one(out)
        }
        ExtOp::LayerNormalization { axis, .. } => {
            let ax = axis_of(*axis, x.len())?;
            let norm = &x[ax..];
            for (i, s) in ins.iter().enumerate().skip(1) {
                if let Some(s) = s {
                    if broadcast(s, norm).as_deref() != Some(norm) {
                        return Err(format!(
                            "input {i} of shape {s:?} does not broadcast to the normalised shape {norm:?}"
                        ));
                    }
                }
            }
            if n.outputs.len() != 1 {
                return Err(
                    "LayerNormalization's Mean and InvStdDev outputs are not supported".into()
                );
            }
            one(x.to_vec())
        }
        ExtOp::Split { axis, split } => {
            let ax = axis_of(*axis, x.len())?;
            let sizes = split_sizes(split, n, x[ax], constants)?;
            Ok(sizes
                .iter()
                .map(|&s| {
                    let mut o = x.to_vec();
                    o[ax] = s;
                    o
                })
                .collect())
        }
        ExtOp::Slice => one(slice_plan(n, x, constants)?.iter().map(|p| p.2).collect()),
        ExtOp::Concat { axis } => {
            let ax = axis_of(*axis, x.len())?;
            let mut out = x.to_vec();
            for i in 1..ins.len() {
                let s = get(i)?;
                if s.len() != x.len() || (0..x.len()).any(|d| d != ax && s[d] != x[d]) {
                    return Err(format!("Concat input {i} of shape {s:?} does not match {x:?}"));
                }
                out[ax] += s[ax];
            }
            one(out)
        }
        ExtOp::Gather { axis } => {
            let ax = axis_of(*axis, x.len())?;
            let (ishape, _) = gather_indices(n, x[ax], constants)?;
            let mut out = x[..ax].to_vec();
            out.extend(&ishape);
            out.extend(&x[ax + 1..]);
            one(out)
        }
        ExtOp::Unsqueeze { axes } => {
            let axes = unsqueeze_axes(axes, n, constants)?;
            let r = x.len() + axes.len();
            let mut ax: Vec<usize> = axes
                .iter()
                .map(|&a| norm_axis(a, r, false).ok_or_else(|| format!("axis {a} out of range")))
                .collect::<Result<_, _>>()?;
            ax.sort_unstable();
            ax.dedup();
            if ax.len() != axes.len() {
                return Err("repeated Unsqueeze axis".into());
            }
            let mut it = x.iter();
            one((0..r)
                .map(|d| if ax.contains(&d) { 1 } else { *it.next().unwrap_or(&1) })
                .collect())
        }
        ExtOp::Squeeze { axes } => {
            let axes = match axes {
                Some(a) => Some(a.clone()),
                None => const_ints(n, 1, constants)?,
            };
            let drop: Vec<usize> = match axes {
                Some(a) => a.iter().map(|&v| axis_of(v, x.len())).collect::<Result<_, _>>()?,
                None => (0..x.len()).filter(|&d| x[d] == 1).collect(),
            };
            if let Some(&d) = drop.iter().find(|&&d| x[d] != 1) {
                return Err(format!("cannot squeeze axis {d} of size {}", x[d]));
            }
            one((0..x.len()).filter(|d| !drop.contains(d)).map(|d| x[d]).collect())
        }
        ExtOp::Shape { start, end } => {
            let (s, e) = shape_range(*start, *end, x.len());
            one(vec![e.saturating_sub(s)])
        }
        ExtOp::ConstantOfShape { .. } => {
            let dims = const_ints(n, 0, constants)?.ok_or("the shape input is missing")?;
            one(dims
                .iter()
                .map(|&d| usize::try_from(d).map_err(|_| format!("negative dimension {d}")))
                .collect::<Result<_, _>>()?)
        }
        ExtOp::Equal | ExtOp::Mod { .. } => {
            let b = get(1)?;
            one(broadcast(x, b)
                .ok_or_else(|| format!("shapes {x:?} and {b:?} do not broadcast"))?)
        }
        ExtOp::Where => {
            let (b, c) = (get(1)?, get(2)?);
            let xb = broadcast(x, b).ok_or("shapes do not broadcast")?;
            one(broadcast(&xb, c).ok_or("shapes do not broadcast")?)
        }
        ExtOp::Expand => {
            let dims = const_ints(n, 1, constants)?.ok_or("the shape input is missing")?;
            let dims: Vec<usize> = dims.iter().map(|&d| d.max(0) as usize).collect();
            one(broadcast(x, &dims).ok_or_else(|| format!("{x:?} does not expand to {dims:?}"))?)
        }
        ExtOp::Cast { .. } => one(x.to_vec()),
    }
}

/// The `[start, end)` dimension range of ONNX Shape (opset 15 clamping rules).
fn shape_range(start: i64, end: Option<i64>, rank: usize) -> (usize, usize) {
    let r = rank as i64;
    let fix = |v: i64| (if v < 0 { v + r } else { v }).clamp(0, r) as usize;
    (fix(start), end.map_or(rank, fix))
}

/// `a + b` of two constants (shape arithmetic), integer when both are.
pub fn fold_add(a: &Tensor, b: &Tensor, out: &[usize]) -> Tensor {
    let va = Value { shape: a.shape.clone(), data: a.to_f32() };
    let vb = Value { shape: b.shape.clone(), data: b.to_f32() };
    let v = binary(&va, &vb, out, |p, q| p + q);
    if a.as_i64().is_some() && b.as_i64().is_some() {
        Tensor {
            shape: v.shape,
            data: super::tensor::TensorData::I64(v.data.iter().map(|x| x.round() as i64).collect()),
            stored: super::tensor::StoredType::I64,
        }
    } else {
        Tensor::f32(v.shape, v.data)
    }
}

/// Whether the loader may replace this node by constants when every input is constant (or,
/// for Shape, always: shapes are static).
pub fn foldable(op: &ExtOp, all_inputs_constant: bool) -> bool {
    matches!(op, ExtOp::Shape { .. }) || all_inputs_constant
}

/// Evaluates a node whose value is known at load time, keeping integer tensors integer (shape
/// arithmetic must stay `INT64` for Reshape and Expand to read it).
pub(super) fn fold(
    op: &ExtOp,
    n: &Node,
    inputs: &[Option<&Tensor>],
    in_shapes: &[Option<&[usize]>],
    out_shapes: &[Vec<usize>],
    constants: &BTreeMap<String, Tensor>,
) -> Result<Vec<Tensor>, String> {
    let int_tensor = |shape: Vec<usize>, v: Vec<f32>| Tensor {
        shape,
        data: super::tensor::TensorData::I64(v.iter().map(|x| x.round() as i64).collect()),
        stored: super::tensor::StoredType::I64,
    };
    match op {
        ExtOp::Shape { start, end } => {
            let shape = in_shapes.first().copied().flatten().ok_or("input shape unknown")?;
            let (s, e) = shape_range(*start, *end, shape.len());
            let dims: Vec<f32> = shape[s..e.max(s)].iter().map(|&d| d as f32).collect();
            return Ok(vec![int_tensor(vec![dims.len()], dims)]);
        }
        ExtOp::ConstantOfShape { value, int } => {
            let shape = out_shapes.first().cloned().unwrap_or_default();
            let total: usize = shape.iter().product();
            let v = vec![*value; total];
            return Ok(vec![if *int { int_tensor(shape, v) } else { Tensor::f32(shape, v) }]);
        }
        _ => {}
    }
    let vals: Vec<Option<Value>> = inputs
        .iter()
        .map(|t| t.map(|t| Value { shape: t.shape.clone(), data: t.to_f32() }))
        .collect();
    let args: Vec<Option<&Value>> = vals.iter().map(Option::as_ref).collect();
    let all_int = inputs.iter().flatten().all(|t| t.as_i64().is_some());
    let outs = eval(op, n, &args, out_shapes, constants)?;
    let as_int = match op {
        ExtOp::Equal => true,
        ExtOp::Cast { to_int } => *to_int,
        // Where's condition is boolean; the result type follows the two branches.
        ExtOp::Where => inputs[1..].iter().flatten().all(|t| t.as_i64().is_some()),
        _ => all_int,
    };
    Ok(outs
        .into_iter()
        .map(|v| if as_int { int_tensor(v.shape, v.data) } else { Tensor::f32(v.shape, v.data) })
        .collect())
}

fn transpose_perm(perm: &[i64], rank: usize) -> Result<Vec<usize>, String> {
    if perm.is_empty() {
        return Ok((0..rank).rev().collect());
    }
    let mut seen = vec![false; rank];
    let mut out = Vec::with_capacity(rank);
    for &p in perm {
        let p = usize::try_from(p)
            .ok()
            .filter(|&p| p < rank && !seen[p])
            .ok_or_else(|| format!("perm {perm:?} is not a permutation of 0..{rank}"))?;
        seen[p] = true;
        out.push(p);
    }
    if out.len() != rank {
        return Err(format!("perm {perm:?} is not a permutation of 0..{rank}"));
    }
    Ok(out)
}

/// Row-major strides of a shape.
pub fn strides(shape: &[usize]) -> Vec<usize> {
    let mut s = vec![1; shape.len()];
    for d in (0..shape.len().saturating_sub(1)).rev() {
        s[d] = s[d + 1] * shape[d + 1];
    }
    s
}

/// Multi-index of flat position `k` in `shape`.
fn unravel(mut k: usize, shape: &[usize]) -> Vec<usize> {
    let mut idx = vec![0; shape.len()];
    for d in (0..shape.len()).rev() {
        if shape[d] > 0 {
            idx[d] = k % shape[d];
            k /= shape[d];
        }
    }
    idx
}

/// Numpy broadcasting read: flat index into `small` for multi-index `idx` of the big shape.
fn bcast_index(small: &[usize], idx: &[usize]) -> usize {
    let pad = idx.len() - small.len();
    let st = strides(small);
    small.iter().enumerate().map(|(d, &s)| if s == 1 { 0 } else { idx[d + pad] * st[d] }).sum()
}

fn binary(x: &Value, b: &Value, out: &[usize], f: impl Fn(f32, f32) -> f32) -> Value {
    let total: usize = out.iter().product();
    let data = (0..total)
        .map(|k| {
            let idx = unravel(k, out);
            f(x.data[bcast_index(&x.shape, &idx)], b.data[bcast_index(&b.shape, &idx)])
        })
        .collect();
    Value { shape: out.to_vec(), data }
}

pub use crate::ir::nn::{erf64, gelu64};

/// Evaluates an extension node; one value per output.
pub(super) fn eval(
    op: &ExtOp,
    n: &Node,
    args: &[Option<&Value>],
    out_shapes: &[Vec<usize>],
    constants: &BTreeMap<String, Tensor>,
) -> Result<Vec<Value>, String> {
    let arg = |i: usize| args.get(i).copied().flatten().ok_or_else(|| format!("input {i} missing"));
    let x = arg(0)?;
    let out0 = out_shapes.first().cloned().unwrap_or_default();
    let map = |f: &dyn Fn(f32) -> f32| Value {
        shape: x.shape.clone(),
        data: x.data.iter().map(|v| f(*v)).collect(),
    };
    let by_index = |src: &dyn Fn(&[usize]) -> usize, shape: &[usize]| {
        let total: usize = shape.iter().product();
        Value {
            shape: shape.to_vec(),
            data: (0..total).map(|k| x.data[src(&unravel(k, shape))]).collect(),
        }
    };
    let xs = strides(&x.shape);
    Ok(vec![match op {
        ExtOp::Mul => binary(x, arg(1)?, &out0, |p, q| p * q),
        ExtOp::Div => binary(x, arg(1)?, &out0, |p, q| p / q),
        ExtOp::Sub => binary(x, arg(1)?, &out0, |p, q| p - q),
        ExtOp::Pow => binary(x, arg(1)?, &out0, |p, q| if q == 2.0 { p * p } else { p.powf(q) }),
        ExtOp::Sqrt => map(&|v| v.sqrt()),
        ExtOp::Erf => map(&|v| erf64(f64::from(v)) as f32),
        ExtOp::Sign => map(&|v| {
            if v > 0.0 {
                1.0
            } else if v < 0.0 {
                -1.0
            } else {
                0.0
            }
        }),
        ExtOp::Gelu { tanh } => map(&|v| gelu64(f64::from(v), *tanh) as f32),
        ExtOp::Transpose { perm } => {
            let p = transpose_perm(perm, x.shape.len())?;
            by_index(&|idx| idx.iter().enumerate().map(|(d, &i)| i * xs[p[d]]).sum(), &out0)
        }
        ExtOp::ReduceMean { .. } => {
            let axes = reduce_axes(op, n, x.shape.len(), constants)?;
            let kept: Vec<usize> = x
                .shape
                .iter()
                .enumerate()
                .map(|(d, &s)| if axes.contains(&d) { 1 } else { s })
                .collect();
            let total: usize = kept.iter().product();
            let mut sums = vec![0f64; total];
            let ks = strides(&kept);
            for (k, v) in x.data.iter().enumerate() {
                let idx = unravel(k, &x.shape);
                let o: usize = idx
                    .iter()
                    .enumerate()
                    .map(|(d, &i)| if axes.contains(&d) { 0 } else { i * ks[d] })
                    .sum();
                sums[o] += f64::from(*v);
            }
            let cnt: usize = axes.iter().map(|&d| x.shape[d]).product();
            Value {
                shape: out0.clone(),
                data: sums.iter().map(|s| (s / cnt as f64) as f32).collect(),
            }
        }
        ExtOp::LayerNormalization { axis, epsilon } => {
            let ax = axis_of(*axis, x.shape.len())?;
            let inner: usize = x.shape[ax..].iter().product();
            let norm = &x.shape[ax..];
            let scale = arg(1)?;
            let bias = args.get(2).copied().flatten();
            let mut data = vec![0f32; x.data.len()];
            for (r, row) in x.data.chunks(inner.max(1)).enumerate() {
                let mean = row.iter().map(|&v| f64::from(v)).sum::<f64>() / inner as f64;
                let var =
                    row.iter().map(|&v| (f64::from(v) - mean).powi(2)).sum::<f64>() / inner as f64;
                let inv = 1.0 / (var + f64::from(*epsilon)).sqrt();
                for (i, &v) in row.iter().enumerate() {
                    let idx = unravel(i, norm);
                    let g = f64::from(scale.data[bcast_index(&scale.shape, &idx)]);
                    let b = bias.map_or(0.0, |b| f64::from(b.data[bcast_index(&b.shape, &idx)]));
                    data[r * inner + i] = ((f64::from(v) - mean) * inv * g + b) as f32;
                }
            }
            Value { shape: x.shape.clone(), data }
        }
        ExtOp::Split { axis, split } => {
            let ax = axis_of(*axis, x.shape.len())?;
            let sizes = split_sizes(split, n, x.shape[ax], constants)?;
            let mut outs = Vec::with_capacity(sizes.len());
            let mut start = 0;
            for (o, s) in out_shapes.iter().zip(&sizes) {
                outs.push(by_index(
                    &|idx| {
                        idx.iter()
                            .enumerate()
                            .map(|(d, &i)| (if d == ax { i + start } else { i }) * xs[d])
                            .sum()
                    },
                    o,
                ));
                start += s;
            }
            return Ok(outs);
        }
        ExtOp::Slice => {
            let plan = slice_plan(n, &x.shape, constants)?;
            by_index(
                &|idx| {
                    idx.iter()
                        .enumerate()
                        .map(|(d, &i)| ((plan[d].0 + plan[d].1 * i as i64) as usize) * xs[d])
                        .sum()
                },
                &out0,
            )
        }
        ExtOp::Concat { axis } => {
            let ax = axis_of(*axis, x.shape.len())?;
            let total: usize = out0.iter().product();
            let mut data = Vec::with_capacity(total);
            for k in 0..total {
                let mut idx = unravel(k, &out0);
                let mut which = 0;
                while let Some(v) = args.get(which).copied().flatten() {
                    if idx[ax] < v.shape[ax] {
                        let st = strides(&v.shape);
                        data.push(v.data[idx.iter().zip(&st).map(|(i, s)| i * s).sum::<usize>()]);
                        break;
                    }
                    idx[ax] -= v.shape[ax];
                    which += 1;
                }
            }
            if data.len() != total {
                return Err("Concat inputs do not cover the output".into());
            }
            Value { shape: out0.clone(), data }
        }
        ExtOp::Gather { axis } => {
            let ax = axis_of(*axis, x.shape.len())?;
            let (ishape, ind) = gather_indices(n, x.shape[ax], constants)?;
            let r = ishape.len();
            by_index(
                &|idx| {
                    let ist = strides(&ishape);
                    let flat: usize = (0..r).map(|q| idx[ax + q] * ist[q]).sum();
                    let mut off = ind[flat] * xs[ax];
                    for d in 0..ax {
                        off += idx[d] * xs[d];
                    }
                    for d in ax + 1..x.shape.len() {
                        off += idx[d + r - 1] * xs[d];
                    }
                    off
                },
                &out0,
            )
        }
        ExtOp::Unsqueeze { .. } | ExtOp::Squeeze { .. } => {
            Value { shape: out0.clone(), data: x.data.clone() }
        }
        ExtOp::Equal => binary(x, arg(1)?, &out0, |p, q| f32::from(u8::from(p == q))),
        ExtOp::Mod { fmod } => {
            binary(x, arg(1)?, &out0, |p, q| if *fmod { p % q } else { p - (p / q).floor() * q })
        }
        ExtOp::Where => {
            let (b, c) = (arg(1)?, arg(2)?);
            let total: usize = out0.iter().product();
            let data = (0..total)
                .map(|k| {
                    let idx = unravel(k, &out0);
                    if x.data[bcast_index(&x.shape, &idx)] != 0.0 {
                        b.data[bcast_index(&b.shape, &idx)]
                    } else {
                        c.data[bcast_index(&c.shape, &idx)]
                    }
                })
                .collect();
            Value { shape: out0.clone(), data }
        }
        ExtOp::Expand => {
            let total: usize = out0.iter().product();
            Value {
                shape: out0.clone(),
                data: (0..total)
                    .map(|k| x.data[bcast_index(&x.shape, &unravel(k, &out0))])
                    .collect(),
            }
        }
        ExtOp::Cast { to_int } => {
            if *to_int {
                map(&|v| v.trunc())
            } else {
                map(&|v| v)
            }
        }
        ExtOp::Shape { .. } | ExtOp::ConstantOfShape { .. } => {
            return Err("shape operators are folded to constants when the model is loaded".into())
        }
    }])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn erf_matches_tabulated_values() {
        // Abramowitz & Stegun table 7.1: erf(0.5) = 0.5204998778, erf(1) = 0.8427007929,
        // erf(2) = 0.9953222650, erf(3) = 0.9999779095.
        for (x, e) in
            [(0.5, 0.5204998778), (1.0, 0.8427007929), (2.0, 0.9953222650), (3.0, 0.9999779095)]
        {
            assert!((erf64(x) - e).abs() < 1e-9, "erf({x}) = {}", erf64(x));
            assert!((erf64(-x) + e).abs() < 1e-9);
        }
        assert_eq!(erf64(0.0), 0.0);
    }

    #[test]
    fn matmul_shapes_broadcast_batches() {
        assert_eq!(matmul_shape(&[2, 1, 2], &[2, 2]).unwrap(), vec![2, 1, 2]);
        assert_eq!(matmul_shape(&[1, 2, 5, 4], &[1, 2, 4, 5]).unwrap(), vec![1, 2, 5, 5]);
        assert!(matmul_shape(&[2, 3], &[4, 2]).is_err());
    }
}
