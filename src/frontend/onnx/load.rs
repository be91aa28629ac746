//! Reading an `.onnx` file into an [`OnnxModel`]: protobuf decoding, operator validation
//! (every unsupported node reported at once), topological ordering and static shapes.

use super::error::{Ctx, OnnxError, UnsupportedOp};
use super::model::{Node, OnnxModel, Op, Rounding, ValueDecl};
use super::proto::{attr_type, AttributeProto, ModelProto, NodeProto, ValueInfoProto};
use super::shape::infer_node;
use super::tensor::{decode_tensor, StoredType, Tensor, TensorData};
use crate::frontend::param::check_finite;
use prost::Message;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::Path;

/// Operator domains accepted for the QONNX `Quant` op (FINN's older exports used the second).
pub const QONNX_DOMAINS: [&str; 2] = ["qonnx.custom_op.general", "finn.custom_op.general"];

/// Reads and validates an ONNX model file.
pub fn load_onnx(path: &Path) -> Result<OnnxModel, OnnxError> {
    let file = path.file_name().map(|f| f.to_string_lossy().into_owned()).unwrap_or_default();
    let bytes =
        std::fs::read(path).map_err(|source| OnnxError::Io { file: file.clone(), source })?;
    let proto = decode(&bytes, &file)?;
    // The file's bytes are not needed once decoded: a model is then held twice at most (the
    // decoded message while its tensors are converted), not three times.
    drop(bytes);
    from_proto(proto, &file)
}

/// Decodes and validates an ONNX model from bytes; `file` names it in messages.
pub fn parse_onnx(bytes: &[u8], file: &str) -> Result<OnnxModel, OnnxError> {
    from_proto(decode(bytes, file)?, file)
}

fn decode(bytes: &[u8], file: &str) -> Result<ModelProto, OnnxError> {
    ModelProto::decode(bytes)
        .map_err(|e| OnnxError::Decode { file: file.to_string(), detail: e.to_string() })
}

/// Validates a decoded model. Each initializer's stored numbers are released as soon as
/// they are converted, so the model's weights are not held in both forms at once.
fn from_proto(mut proto: ModelProto, file: &str) -> Result<OnnxModel, OnnxError> {
    let ctx = Ctx { file: file.to_string() };
    let graph = proto.graph.as_mut().ok_or_else(|| {
        ctx.invalid("graph", "the model has no graph (is this an ONNX model file?)")
    })?;
    let opset = proto
        .opset_import
        .iter()
        .find(|o| matches!(o.domain.as_deref(), None | Some("") | Some("ai.onnx")))
        .and_then(|o| o.version)
        .ok_or_else(|| {
            ctx.invalid("opset_import", "no version of the default ONNX domain is imported")
        })?;

    let mut constants = BTreeMap::new();
    for (i, t) in graph.initializer.iter_mut().enumerate() {
        let name = t.name.clone().unwrap_or_default();
        if name.is_empty() {
            return Err(
                ctx.invalid(format!("graph.initializer[{i}].name"), "initializer has no name")
            );
        }
        let tensor = decode_tensor(t, &ctx, &format!("graph.initializer[{name}]"))?;
        t.raw_data = None;
        (t.float_data, t.double_data) = (Vec::new(), Vec::new());
        (t.int32_data, t.int64_data) = (Vec::new(), Vec::new());
        constants.insert(name, tensor);
    }
    let graph = &*graph;

    let mut inputs = Vec::new();
    for (i, vi) in graph.input.iter().enumerate() {
        let name = vi.name.clone().unwrap_or_default();
        if constants.contains_key(&name) {
            continue; // IR < 4 lists initializers among the inputs.
        }
        inputs.push(ValueDecl {
            shape: input_shape(vi, &ctx, &format!("graph.input[{i}] `{name}`"))?,
            name,
        });
    }
    if inputs.is_empty() {
        return Err(ctx.invalid("graph.input", "the graph has no input that is not an initializer"));
    }

    let mut nodes = Vec::new();
    let mut unsupported = Vec::new();
    for (i, n) in graph.node.iter().enumerate() {
        let name = match n.name.as_deref() {
            Some(s) if !s.is_empty() => s.to_string(),
            _ => format!("#{i}"),
        };
        match convert_node(n, &name, opset, &ctx) {
            Ok((op, constant)) => {
                if let Some(t) = constant {
                    let out = n.output.first().cloned().unwrap_or_default();
                    constants.insert(out, t);
                }
                nodes.push(Node { name, op, inputs: n.input.clone(), outputs: n.output.clone() });
            }
            Err(NodeError::Unsupported(reason)) => unsupported.push(UnsupportedOp {
                node: name,
                op_type: n.op_type.clone().unwrap_or_default(),
                domain: n.domain.clone().unwrap_or_default(),
                reason,
            }),
            Err(NodeError::Invalid(e)) => return Err(e),
        }
    }
    if !unsupported.is_empty() {
        return Err(OnnxError::Unsupported { file: file.to_string(), ops: unsupported });
    }

    for d in &inputs {
        check_size(&d.shape, &ctx, &format!("graph.input `{}`", d.name))?;
    }
    let nodes = topo_sort(nodes, &inputs, &constants, &ctx)?;
    let mut shapes: BTreeMap<String, Vec<usize>> = BTreeMap::new();
    for d in &inputs {
        shapes.insert(d.name.clone(), d.shape.clone());
    }
    for (k, t) in &constants {
        shapes.insert(k.clone(), t.shape.clone());
    }
    let mut nodes = nodes;
    for n in nodes.iter_mut() {
        let ins: Vec<Option<&[usize]>> = n
            .inputs
            .iter()
            .map(|x| if x.is_empty() { None } else { shapes.get(x).map(Vec::as_slice) })
            .collect();
        let field = format!("graph.node `{}` ({})", n.name, n.op.op_type());
        let outs = infer_node(n, &ins, &constants).map_err(|m| ctx.invalid(&field, m))?;
        // Shape arithmetic on constants (and Shape itself, shapes being static) becomes
        // constants, so Reshape/Expand targets computed in the graph are known.
        let data_only = matches!(n.op, Op::Reshape { .. } | Op::Flatten { .. } | Op::Identity);
        if data_only && constants.contains_key(&n.inputs[0]) {
            // Reshaping a constant (shape arithmetic in dynamic-batch exports).
            let t = Tensor { shape: outs[0].clone(), ..constants[&n.inputs[0]].clone() };
            constants.insert(n.outputs[0].clone(), t);
            n.op = Op::Constant;
        } else if let (Op::Add, Some(a), Some(b)) = (
            &n.op,
            n.inputs.first().and_then(|x| constants.get(x)),
            n.inputs.get(1).and_then(|x| constants.get(x)),
        ) {
            let t = super::ops_ext::fold_add(a, b, &outs[0]);
            constants.insert(n.outputs[0].clone(), t);
            n.op = Op::Constant;
        } else if let Op::Ext(e) = &n.op {
            let consts: Vec<Option<&Tensor>> = n
                .inputs
                .iter()
                .map(|x| if x.is_empty() { None } else { constants.get(x) })
                .collect();
            let all_const = n.inputs.iter().zip(&consts).all(|(x, c)| x.is_empty() || c.is_some());
            if super::ops_ext::foldable(e, all_const) {
                let folded = super::ops_ext::fold(e, n, &consts, &ins, &outs, &constants)
                    .map_err(|m| ctx.invalid(&field, m))?;
                for (o, t) in n.outputs.iter().zip(folded) {
                    constants.insert(o.clone(), t);
                }
                n.op = Op::Constant;
            }
        }
        for (o, s) in n.outputs.iter().zip(outs) {
            check_size(
                &s,
                &ctx,
                &format!("graph.node `{}` ({}) output `{o}`", n.name, n.op.op_type()),
            )?;
            shapes.insert(o.clone(), s);
        }
    }

    let mut outputs = Vec::new();
    for (i, vi) in graph.output.iter().enumerate() {
        let name = vi.name.clone().unwrap_or_default();
        let field = format!("graph.output[{i}] `{name}`");
        let shape = shapes.get(&name).cloned().ok_or_else(|| {
            ctx.invalid(&field, "is not produced by any node, initializer or input")
        })?;
        check_declared_output(vi, &shape, &ctx, &field)?;
        outputs.push(ValueDecl { name, shape });
    }
    if outputs.is_empty() {
        return Err(ctx.invalid("graph.output", "the graph has no output"));
    }
    Ok(OnnxModel { file: file.to_string(), opset, inputs, outputs, constants, nodes, shapes })
}

/// Largest number of elements of one value tessera accepts (2^28 floats = 1 GiB): far beyond
/// any model a crossbar holds, and it keeps element counts from overflowing.
pub const MAX_ELEMENTS: usize = 1 << 28;

fn check_size(shape: &[usize], ctx: &Ctx, field: &str) -> Result<(), OnnxError> {
    let n = shape.iter().try_fold(1usize, |a, d| a.checked_mul(*d));
    match n {
        Some(n) if n <= MAX_ELEMENTS => Ok(()),
        _ => {
            Err(ctx
                .invalid(field, format!("shape {shape:?} has more than {MAX_ELEMENTS} elements")))
        }
    }
}

/// The static shape of a graph input: elem type FLOAT, every dimension known except a symbolic
/// leading (batch) dimension, which becomes 1.
fn input_shape(vi: &ValueInfoProto, ctx: &Ctx, field: &str) -> Result<Vec<usize>, OnnxError> {
    let tt = vi.r#type.as_ref().and_then(|t| t.tensor_type.as_ref()).ok_or_else(|| {
        ctx.invalid(field, "is not a tensor (sequences and maps are not supported)")
    })?;
    let et = tt.elem_type.unwrap_or(0);
    if et != super::proto::data_type::FLOAT {
        return Err(ctx.invalid(
            format!("{field}.type.tensor_type.elem_type"),
            format!("is {}; tessera's model inputs are FLOAT", super::proto::data_type::name(et)),
        ));
    }
    let shape = tt.shape.as_ref().ok_or_else(|| {
        ctx.invalid(format!("{field}.type.tensor_type.shape"), "is missing (unknown rank)")
    })?;
    let mut out = Vec::new();
    for (d, dim) in shape.dim.iter().enumerate() {
        let f = format!("{field}.type.tensor_type.shape.dim[{d}]");
        match (dim.dim_value, dim.dim_param.as_deref()) {
            (Some(v), _) if v > 0 => {
                if d == 0 && v != 1 && shape.dim.len() > 1 {
                    return Err(ctx.invalid(
                        f,
                        format!(
                            "the batch dimension is fixed to {v}; tessera compiles one sample at a time: \
                             export with a dynamic batch axis or batch 1"
                        ),
                    ));
                }
                out.push(v as usize)
            }
            _ if d == 0 && shape.dim.len() > 1 => out.push(1),
            (_, Some(p)) if !p.is_empty() => {
                return Err(ctx.invalid(
                    f,
                    format!(
                    "dynamic dimension `{p}`: only the leading (batch) dimension may be symbolic"
                ),
                ))
            }
            _ => {
                return Err(ctx.invalid(
                    f,
                    "dimension is unknown: only the leading (batch) dimension may be symbolic",
                ))
            }
        }
    }
    Ok(out)
}

/// A declared output shape, when fully static, must agree with inference.
fn check_declared_output(
    vi: &ValueInfoProto,
    got: &[usize],
    ctx: &Ctx,
    field: &str,
) -> Result<(), OnnxError> {
    let Some(shape) =
        vi.r#type.as_ref().and_then(|t| t.tensor_type.as_ref()).and_then(|t| t.shape.as_ref())
    else {
        return Ok(());
    };
    if shape.dim.len() != got.len() {
        return Err(ctx.invalid(
            field,
            format!("declared rank {} but the graph computes shape {got:?}", shape.dim.len()),
        ));
    }
    for (i, (d, g)) in shape.dim.iter().zip(got).enumerate() {
        if let Some(v) = d.dim_value {
            if v > 0 && v as usize != *g && !(i == 0 && got.len() > 1) {
                return Err(ctx.invalid(
                    field,
                    format!("declared dimension {i} = {v} but the graph computes shape {got:?}"),
                ));
            }
        }
    }
    Ok(())
}

enum NodeError {
    Unsupported(Option<String>),
    Invalid(OnnxError),
}

/// Attributes of one node by name, with type-checked getters.
struct Attrs<'a> {
    map: HashMap<&'a str, &'a AttributeProto>,
    used: BTreeSet<&'a str>,
}

impl<'a> Attrs<'a> {
    fn new(n: &'a NodeProto) -> Self {
        let map = n.attribute.iter().map(|a| (a.name.as_deref().unwrap_or(""), a)).collect();
        Attrs { map, used: BTreeSet::new() }
    }
    fn get(&mut self, name: &'a str, ty: i32) -> Result<Option<&'a AttributeProto>, NodeError> {
        let Some(a) = self.map.get(name).copied() else {
            return Ok(None);
        };
        self.used.insert(name);
        // Writers may omit `type`; fall back to which field is set.
        let t = a.r#type.unwrap_or(ty);
        if t != ty {
            return Err(NodeError::Unsupported(Some(format!(
                "attribute `{name}` has type {t}, expected {ty}"
            ))));
        }
        Ok(Some(a))
    }
    fn int(&mut self, name: &'a str, default: i64) -> Result<i64, NodeError> {
        Ok(self.get(name, attr_type::INT)?.and_then(|a| a.i).unwrap_or(default))
    }
    fn float(&mut self, name: &'a str, default: f32) -> Result<f32, NodeError> {
        Ok(self.get(name, attr_type::FLOAT)?.and_then(|a| a.f).unwrap_or(default))
    }
    fn string(&mut self, name: &'a str, default: &str) -> Result<String, NodeError> {
        Ok(self
            .get(name, attr_type::STRING)?
            .and_then(|a| a.s.as_ref())
            .map(|s| String::from_utf8_lossy(s).into_owned())
            .unwrap_or_else(|| default.to_string()))
    }
    fn ints(&mut self, name: &'a str) -> Result<Option<Vec<i64>>, NodeError> {
        Ok(self.get(name, attr_type::INTS)?.map(|a| a.ints.clone()))
    }
    fn bool01(&mut self, name: &'a str, default: i64) -> Result<bool, NodeError> {
        match self.int(name, default)? {
            0 => Ok(false),
            1 => Ok(true),
            v => Err(NodeError::Unsupported(Some(format!(
                "attribute `{name}` = {v}, expected 0 or 1"
            )))),
        }
    }
    /// Rejects attributes this frontend does not understand, since ignoring one could change
    /// the operator's meaning silently.
    fn finish(&self) -> Result<(), NodeError> {
        let mut unknown: Vec<&str> =
            self.map.keys().filter(|k| !self.used.contains(*k)).copied().collect();
        unknown.sort_unstable();
        match unknown.is_empty() {
            true => Ok(()),
            false => Err(NodeError::Unsupported(Some(format!(
                "attribute(s) not supported: {}",
                unknown.join(", ")
            )))),
        }
    }
}

fn convert_node(
    n: &NodeProto,
    name: &str,
    opset: i64,
    ctx: &Ctx,
) -> Result<(Op, Option<Tensor>), NodeError> {
    let op_type = n.op_type.as_deref().unwrap_or("");
    let domain = n.domain.as_deref().unwrap_or("");
    let mut a = Attrs::new(n);
    let mut constant = None;
    let op = match (domain, op_type) {
        (d, "Quant") if QONNX_DOMAINS.contains(&d) => {
            let signed = a.bool01("signed", 1)?;
            let narrow = a.bool01("narrow", 0)?;
            let rm = a.string("rounding_mode", "ROUND")?;
            let rounding = Rounding::parse(&rm).ok_or_else(|| {
                NodeError::Unsupported(Some(format!("unknown rounding_mode `{rm}`")))
            })?;
            Op::Quant { signed, narrow, rounding }
        }
        ("" | "ai.onnx", t) => match t {
            "Gemm" => Op::Gemm {
                alpha: a.float("alpha", 1.0)?,
                beta: a.float("beta", 1.0)?,
                trans_a: a.bool01("transA", 0)?,
                trans_b: a.bool01("transB", 0)?,
            },
            "MatMul" => Op::MatMul,
            "Add" => Op::Add,
            "Relu" => Op::Relu,
            "Sigmoid" => Op::Sigmoid,
            "Tanh" => Op::Tanh,
            "Softmax" => Op::Softmax {
                axis: a.int("axis", if opset >= 13 { -1 } else { 1 })?,
                legacy: opset < 13,
            },
            "Flatten" => Op::Flatten { axis: a.int("axis", 1)? },
            "Reshape" => Op::Reshape { allowzero: a.bool01("allowzero", 0)? },
            "Identity" => Op::Identity,
            "Constant" => {
                constant = Some(constant_value(&mut a, name, ctx)?);
                Op::Constant
            }
            t => match super::ops_ext::parse(t, &mut a, opset) {
                Ok(Some(e)) => Op::Ext(e),
                Ok(None) => return Err(NodeError::Unsupported(None)),
                Err(reason) => return Err(NodeError::Unsupported(Some(reason))),
            },
        },
        _ => return Err(NodeError::Unsupported(None)),
    };
    a.finish()?;
    if let Op::Gemm { alpha, beta, .. } = &op {
        finite_attr(
            ctx,
            &format!("graph.node `{name}` (Gemm).attribute[alpha, beta]"),
            &[*alpha, *beta],
        )?;
    }
    let arity = match &op {
        Op::Gemm { .. } => (2, 3),
        Op::MatMul | Op::Add => (2, 2),
        Op::Reshape { .. } => (2, 2),
        Op::Quant { .. } => (4, 4),
        Op::Constant => (0, 0),
        Op::Ext(e) => e.arity(),
        _ => (1, 1),
    };
    let k = n.input.len();
    let multi = matches!(&op, Op::Ext(e) if e.multi_output());
    let outputs_ok = if multi { !n.output.is_empty() } else { n.output.len() == 1 };
    if k < arity.0 || k > arity.1 || !outputs_ok {
        let max = if arity.1 == usize::MAX { "".to_string() } else { arity.1.to_string() };
        return Err(NodeError::Invalid(ctx.invalid(
            format!("graph.node `{name}` ({op_type})"),
            format!(
                "has {k} input(s) and {} output(s); expected {}..={max} inputs and {} output",
                n.output.len(),
                arity.0,
                if multi { "at least 1" } else { "1" }
            ),
        )));
    }
    Ok((op, constant))
}

fn constant_value(a: &mut Attrs<'_>, name: &str, ctx: &Ctx) -> Result<Tensor, NodeError> {
    let field = format!("graph.node `{name}` (Constant).attribute");
    if let Some(t) = a.get("value", attr_type::TENSOR)?.and_then(|x| x.t.as_ref()) {
        return decode_tensor(t, ctx, &format!("{field}[value]")).map_err(NodeError::Invalid);
    }
    if let Some(x) = a.get("value_float", attr_type::FLOAT)? {
        let v = x.f.unwrap_or(0.0);
        finite_attr(ctx, &format!("{field}[value_float]"), &[v])?;
        return Ok(Tensor::f32(vec![], vec![v]));
    }
    if let Some(x) = a.get("value_floats", attr_type::FLOATS)? {
        finite_attr(ctx, &format!("{field}[value_floats]"), &x.floats)?;
        return Ok(Tensor::f32(vec![x.floats.len()], x.floats.clone()));
    }
    if let Some(x) = a.get("value_int", attr_type::INT)? {
        return Ok(Tensor {
            shape: vec![],
            data: TensorData::I64(vec![x.i.unwrap_or(0)]),
            stored: StoredType::I64,
        });
    }
    if let Some(x) = a.get("value_ints", attr_type::INTS)? {
        let n = x.ints.len();
        return Ok(Tensor {
            shape: vec![n],
            data: TensorData::I64(x.ints.clone()),
            stored: StoredType::I64,
        });
    }
    Err(NodeError::Unsupported(Some(
        "Constant needs one of value, value_float(s), value_int(s)".to_string(),
    )))
}

/// E0101 for a float attribute that is a model parameter (a `Constant`'s value, Gemm's
/// `alpha`/`beta`) and is NaN or infinite.
fn finite_attr(ctx: &Ctx, field: &str, v: &[f32]) -> Result<(), NodeError> {
    check_finite(&ctx.file, field, None, v.iter().map(|x| *x as f64))
        .map_err(|e| NodeError::Invalid(e.into()))
}

/// Orders nodes so every input is defined before use (ONNX requires it; some writers break it).
fn topo_sort(
    nodes: Vec<Node>,
    inputs: &[ValueDecl],
    constants: &BTreeMap<String, Tensor>,
    ctx: &Ctx,
) -> Result<Vec<Node>, OnnxError> {
    let mut defined: BTreeSet<String> = inputs.iter().map(|d| d.name.clone()).collect();
    defined.extend(constants.keys().cloned());
    let mut producer: HashMap<&str, usize> = HashMap::new();
    for (i, n) in nodes.iter().enumerate() {
        for o in &n.outputs {
            if producer.insert(o.as_str(), i).is_some()
                || (defined.contains(o) && n.op != Op::Constant)
            {
                return Err(ctx.invalid(
                    format!("graph.node `{}`", n.name),
                    format!("value `{o}` is defined twice"),
                ));
            }
        }
    }
    for n in &nodes {
        for x in n.inputs.iter().filter(|x| !x.is_empty()) {
            if !defined.contains(x) && !producer.contains_key(x.as_str()) {
                return Err(ctx.invalid(
                    format!("graph.node `{}` ({})", n.name, n.op.op_type()),
                    format!("input `{x}` is not a graph input, an initializer, or any node's output (missing initializer?)"),
                ));
            }
        }
    }
    let mut done = vec![false; nodes.len()];
    let mut order = Vec::with_capacity(nodes.len());
    while order.len() < nodes.len() {
        let before = order.len();
        for (i, n) in nodes.iter().enumerate() {
            if !done[i] && n.inputs.iter().all(|x| x.is_empty() || defined.contains(x)) {
                done[i] = true;
                defined.extend(n.outputs.iter().cloned());
                order.push(i);
            }
        }
        if order.len() == before {
            let stuck =
                nodes.iter().enumerate().find(|(i, _)| !done[*i]).map(|(_, n)| n.name.clone());
            return Err(ctx.invalid(
                format!("graph.node `{}`", stuck.unwrap_or_default()),
                "the graph has a cycle",
            ));
        }
    }
    let mut slots: Vec<Option<Node>> = nodes.into_iter().map(Some).collect();
    Ok(order.into_iter().filter_map(|i| slots[i].take()).collect())
}

impl super::ops_ext::AttrSource for Attrs<'_> {
    fn int(&mut self, name: &'static str, default: i64) -> Result<i64, String> {
        Attrs::int(self, name, default).map_err(node_error_text)
    }
    fn float(&mut self, name: &'static str, default: f32) -> Result<f32, String> {
        Attrs::float(self, name, default).map_err(node_error_text)
    }
    fn string(&mut self, name: &'static str, default: &str) -> Result<String, String> {
        Attrs::string(self, name, default).map_err(node_error_text)
    }
    fn ints(&mut self, name: &'static str) -> Result<Option<Vec<i64>>, String> {
        Attrs::ints(self, name).map_err(node_error_text)
    }
    fn tensor_scalar(&mut self, name: &'static str) -> Result<Option<(f32, bool)>, String> {
        let Some(t) =
            self.get(name, attr_type::TENSOR).map_err(node_error_text)?.and_then(|a| a.t.as_ref())
        else {
            return Ok(None);
        };
        let ctx = Ctx { file: String::new() };
        let v = decode_tensor(t, &ctx, name).map_err(|e| e.to_string())?;
        if v.len() != 1 {
            return Err(format!("attribute `{name}` must hold one value, has {}", v.len()));
        }
        Ok(Some((v.to_f32()[0], v.as_i64().is_some())))
    }
}

fn node_error_text(e: NodeError) -> String {
    match e {
        NodeError::Unsupported(r) => r.unwrap_or_else(|| "unsupported".into()),
        NodeError::Invalid(e) => e.to_string(),
    }
}
