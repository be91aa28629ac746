//! The attention family's hardware-level ops: what `attn-quantize` turns the model-level graph
//! into, one node per thing the machine does, in dataflow order.
//!
//! ```text
//! %1 = attn.input_quant(%0)            host: float input -> codes (buffer `input`)
//! %2 = attn.gather(%1)                 token/patch rearrangement
//! %3 = attn.linear(%2)                 int8 weights, bias, requantize | sign | raw accumulators
//! %7 = attn.attention(%4, %5, %6)      one core run per head: scores, selection, softmax, values
//! %9 = attn.add(%8, %2) ...            residual additions, layer norms, activation tables
//! %40 = attn.dequant(%39)              host: output codes -> float
//! ```
//!
//! Every unit node defines one data-memory buffer (its result; range, scale and name are its
//! attributes and the node's name) and carries its step in the sequencer's schedule. The
//! simulator and the RTL generator read the graph back into the sequencer's program
//! ([`program_of`]): buffers are numbered input first, then one per unit in schedule order, and
//! an op's operands are the buffers of the nodes wired to it — the graph's edges are the only
//! record of which buffer an op reads.
//!
//! Inside a unit node the machine op names its buffers by operand position (`BufId(k)` is
//! operand `k`, `BufId(arity)` its own result), as an MLIR op names its block arguments; no
//! graph index is stored.

use super::program::{AddOperand, BufId, Buffer, InputSpec, MachineOp, OutputSpec, Program};
use super::quant::QuantConfig;
use super::sim::{step, SimEvents};
use crate::attention::error::AttnError;
use crate::ir::dialect::{
    expect_f32, expect_int, f32_tensor, int_tensor, operand_f32, operand_ints, DialectOp,
};
use crate::ir::printer::ints_attr;
use crate::ir::OpError;
use crate::ir::{Graph, NodeId, NumFormat, Tensor, TensorType};
use std::collections::HashMap;
use std::sync::Arc;

/// `attn.input_quant`: the host's quantizer, `clamp(round_half_even(x / scale), lo, hi)`; its
/// result is the input buffer.
#[derive(Clone, Debug, PartialEq)]
pub struct AttnInputQuant {
    pub scale: f64,
    pub lo: i64,
    pub hi: i64,
    /// The number formats `attn-quantize` was run with (shown by the printer).
    pub config: QuantConfig,
}

/// One machine operation and the buffer it writes.
#[derive(Clone, Debug, PartialEq)]
pub struct AttnUnit {
    /// Position in the sequencer's schedule (0 first).
    pub step: usize,
    /// The operation, its buffers named by operand position (see the module docs).
    pub op: Arc<MachineOp>,
    /// The buffer the operation writes (its name is also the node's).
    pub out: Buffer,
}

/// `attn.dequant`: the host's dequantizer, `y_i = code_i * scale_i`.
#[derive(Clone, Debug, PartialEq)]
pub struct AttnDequant {
    pub scales: Vec<f64>,
    /// Shape of the float result (the model output's).
    pub shape: Vec<usize>,
}

/// The buffers `op` reads, in operand order.
pub fn sources(op: &MachineOp) -> Vec<BufId> {
    match op {
        MachineOp::Gather { src, .. }
        | MachineOp::LayerNorm { src, .. }
        | MachineOp::Lut { src, .. } => vec![*src],
        MachineOp::Linear(l) => vec![l.src],
        MachineOp::Add(a) => match &a.b {
            AddOperand::Buf(b, _) => vec![a.a, *b],
            AddOperand::Const(_) => vec![a.a],
        },
        MachineOp::Attention(a) => vec![a.q, a.k, a.v],
    }
}

/// `op` reading `srcs` (in the order of [`sources`]) and writing `dst`.
pub fn with_buffers(op: &MachineOp, srcs: &[BufId], dst: BufId) -> Result<MachineOp, AttnError> {
    if srcs.len() != sources(op).len() {
        return Err(AttnError::Program(format!(
            "{} reads {} buffers, {} given",
            op.kind(),
            sources(op).len(),
            srcs.len()
        )));
    }
    let mut op = op.clone();
    match &mut op {
        MachineOp::Gather { src, dst: d, .. }
        | MachineOp::LayerNorm { src, dst: d, .. }
        | MachineOp::Lut { src, dst: d, .. } => {
            *src = srcs[0];
            *d = dst;
        }
        MachineOp::Linear(l) => {
            l.src = srcs[0];
            l.dst = dst;
        }
        MachineOp::Add(a) => {
            a.a = srcs[0];
            a.dst = dst;
            if let AddOperand::Buf(b, _) = &mut a.b {
                *b = srcs[1];
            }
        }
        MachineOp::Attention(a) => {
            a.q = srcs[0];
            a.k = srcs[1];
            a.v = srcs[2];
            a.dst = dst;
        }
    }
    Ok(op)
}

/// The integer format of a buffer's codes.
fn buffer_type(b: &Buffer, shape: Vec<usize>) -> Result<TensorType, OpError> {
    Ok(TensorType::new(shape, NumFormat::int_for_range(b.lo.into(), b.hi.into())?))
}

/// The result shape a unit's buffer is printed with: rows x columns where the op has rows.
fn unit_shape(op: &MachineOp, len: usize) -> Vec<usize> {
    let rows = match op {
        MachineOp::Linear(l) => l.rows,
        MachineOp::LayerNorm { rows, .. } => *rows,
        MachineOp::Attention(a) => a.heads.first().map_or(1, |h| h.s),
        _ => 1,
    };
    if rows > 1 && len.is_multiple_of(rows) {
        vec![rows, len / rows]
    } else {
        vec![len]
    }
}

fn range_ok(lo: i64, hi: i64, scale: f64) -> Result<(), OpError> {
    if lo > hi {
        return Err(OpError::Attribute(format!("empty code range [{lo}, {hi}]")));
    }
    if !(scale.is_finite() && scale >= 0.0) {
        return Err(OpError::Attribute(format!("scale {scale} is not finite and non-negative")));
    }
    Ok(())
}

impl DialectOp for AttnInputQuant {
    fn name(&self) -> &'static str {
        "attn.input_quant"
    }
    fn verify(&self) -> Result<(), OpError> {
        range_ok(self.lo, self.hi, self.scale)?;
        if self.scale == 0.0 {
            return Err(OpError::Attribute("the input scale is 0".into()));
        }
        Ok(())
    }
    fn infer_type(&self, operands: &[&TensorType]) -> Result<TensorType, OpError> {
        let x = expect_f32(operands[0], "input")?;
        Ok(TensorType::new(
            x.shape.clone(),
            NumFormat::int_for_range(self.lo.into(), self.hi.into())?,
        ))
    }
    fn attributes(&self) -> Vec<(&'static str, String)> {
        let c = &self.config;
        vec![
            ("scale", format!("{:?}", self.scale)),
            ("range", format!("[{}, {}]", self.lo, self.hi)),
            ("act_bits", c.act_bits.to_string()),
            ("resid_bits", c.resid_bits.to_string()),
            ("prob_bits", c.prob_bits.to_string()),
            ("exp_bits", c.exp_bits.to_string()),
            ("std_lut", format!("{}x{:?}", c.std_lut_len, c.std_lut_steps)),
        ]
    }
    fn eval(&self, a: &[&Tensor], ty: &TensorType) -> Result<Tensor, OpError> {
        let codes = operand_f32(a[0])?
            .iter()
            .enumerate()
            .map(|(i, &v)| {
                if !v.is_finite() {
                    return Err(OpError::Value(format!("input value {i} is {v}")));
                }
                let c = (f64::from(v) / self.scale).round_ties_even() as i64;
                Ok(i128::from(c.clamp(self.lo, self.hi)))
            })
            .collect::<Result<Vec<_>, _>>()?;
        int_tensor(ty, codes)
    }
    crate::dialect_op_boilerplate!();
}

impl AttnUnit {
    fn reads(&self) -> usize {
        sources(&self.op).len()
    }
}

impl DialectOp for AttnUnit {
    fn name(&self) -> &'static str {
        match &*self.op {
            MachineOp::Gather { .. } => "attn.gather",
            MachineOp::Linear(_) => "attn.linear",
            MachineOp::Add(_) => "attn.add",
            MachineOp::LayerNorm { .. } => "attn.layer_norm",
            MachineOp::Lut { .. } => "attn.lut",
            MachineOp::Attention(_) => "attn.attention",
        }
    }
    fn arity(&self) -> (usize, usize) {
        (self.reads(), self.reads())
    }
    fn verify(&self) -> Result<(), OpError> {
        let n = self.reads();
        let srcs = sources(&self.op);
        if srcs.iter().enumerate().any(|(k, b)| b.0 != k) || self.op.dst().0 != n {
            return Err(OpError::Attribute(
                "the op must name its buffers by operand position".into(),
            ));
        }
        range_ok(self.out.lo, self.out.hi, self.out.scale)?;
        let len = self.out.len;
        let bad = |m: String| Err(OpError::Attribute(m));
        match &*self.op {
            MachineOp::Gather { map, .. } if map.len() != len => {
                bad(format!("a map of {} entries for {len} codes", map.len()))
            }
            MachineOp::Linear(l) if l.w.len() != l.n * l.k || l.b.len() != l.n => {
                bad(format!("{} weights and {} biases for {}x{}", l.w.len(), l.b.len(), l.n, l.k))
            }
            MachineOp::Linear(l) if l.rows * l.n != len => {
                bad(format!("{} rows of {} outputs for {len} codes", l.rows, l.n))
            }
            MachineOp::Add(a) if a.len != len => bad(format!("{} sums for {len} codes", a.len)),
            MachineOp::LayerNorm { rows, p, .. } if rows * p.d != len => {
                bad(format!("{rows} rows of {} for {len} codes", p.d))
            }
            MachineOp::Lut { len: l, table, .. } if *l != len || table.is_empty() => {
                bad(format!("{l} look-ups ({} entries) for {len} codes", table.len()))
            }
            MachineOp::Attention(a) => {
                let Some(h) = a.heads.first() else { return bad("no heads".into()) };
                if a.heads.len() * h.s * h.d_v != len {
                    return bad(format!(
                        "{} heads x {} tokens x {} for {len}",
                        a.heads.len(),
                        h.s,
                        h.d_v
                    ));
                }
                a.heads.iter().try_for_each(|h| h.validate())
            }
            _ => Ok(()),
        }
    }
    fn infer_type(&self, operands: &[&TensorType]) -> Result<TensorType, OpError> {
        for (k, t) in operands.iter().enumerate() {
            expect_int(t, &k.to_string())?;
        }
        let need: Vec<usize> = match &*self.op {
            MachineOp::Linear(l) => vec![l.rows * l.k],
            MachineOp::LayerNorm { rows, p, .. } => vec![rows * p.d],
            MachineOp::Add(a) => vec![a.len; self.reads()],
            MachineOp::Attention(a) => {
                let h = &a.heads[0];
                let n = a.heads.len() * h.s;
                vec![n * h.d_k, n * h.d_k, n * h.d_v]
            }
            MachineOp::Gather { map, .. } => {
                let top = map
                    .iter()
                    .filter_map(|m| match m {
                        super::program::GatherSrc::Elem(i) => Some(*i as usize + 1),
                        super::program::GatherSrc::Const(_) => None,
                    })
                    .max()
                    .unwrap_or(0);
                if operands[0].numel() < top {
                    return Err(OpError::Operand(format!(
                        "reads element {} of {}",
                        top - 1,
                        operands[0]
                    )));
                }
                vec![operands[0].numel()]
            }
            MachineOp::Lut { len, .. } => vec![*len],
        };
        for (k, (t, n)) in operands.iter().zip(need).enumerate() {
            if t.numel() != n {
                return Err(OpError::Operand(format!(
                    "operand {k} {t} has {} codes, the op reads {n}",
                    t.numel()
                )));
            }
        }
        buffer_type(&self.out, unit_shape(&self.op, self.out.len))
    }
    fn attributes(&self) -> Vec<(&'static str, String)> {
        let mut a = vec![("step", self.step.to_string())];
        match &*self.op {
            MachineOp::Gather { map, .. } => {
                let m: Vec<i64> = map
                    .iter()
                    .map(|s| match s {
                        super::program::GatherSrc::Elem(i) => i64::from(*i),
                        // Constants as distinct negative entries (c >= 0 -> -1 - 2c, c < 0 -> -2 - 2|c|).
                        super::program::GatherSrc::Const(c) => -1 - 2 * c.abs() - i64::from(*c < 0),
                    })
                    .collect();
                a.push(("map", ints_attr(&m)));
            }
            MachineOp::Linear(l) => {
                a.push(("weights", format!("{}x{} {}", l.n, l.k, ints_attr(&l.w))));
                a.push(("bias", ints_attr(&l.b)));
                a.push((
                    "post",
                    match &l.post {
                        super::program::Post::Requant { lo, hi, .. } => {
                            format!("requant [{lo}, {hi}]")
                        }
                        super::program::Post::Sign => "sign".into(),
                        super::program::Post::Acc => "acc".into(),
                    },
                ));
            }
            MachineOp::Add(x) => {
                let b = match &x.b {
                    AddOperand::Buf(_, r) => format!("{}>>{}", r.multiplier, r.shift),
                    AddOperand::Const(c) => format!("const {}", ints_attr(c)),
                };
                a.push(("a", format!("{}>>{}", x.ra.multiplier, x.ra.shift)));
                a.push(("b", b));
            }
            MachineOp::LayerNorm { p, .. } => {
                a.push(("d", p.d.to_string()));
                a.push(("eps_term", p.eps_term.to_string()));
                a.push(("gain", ints_attr(&p.gain)));
            }
            MachineOp::Lut { in_lo, table, .. } => {
                a.push(("table", format!("[{in_lo}..] {}", ints_attr(table))));
            }
            MachineOp::Attention(x) => {
                let h = &x.heads[0];
                a.push(("mode", format!("{:?}", h.mode).to_lowercase()));
                a.push(("heads", x.heads.len().to_string()));
                a.push(("tokens", h.s.to_string()));
                a.push(("d_k", h.d_k.to_string()));
                a.push(("d_v", h.d_v.to_string()));
                a.push(("kept", h.select.kept(h.s).to_string()));
            }
        }
        a.push(("range", format!("[{}, {}]", self.out.lo, self.out.hi)));
        a.push(("scale", format!("{:?}", self.out.scale)));
        a
    }
    fn eval(&self, a: &[&Tensor], ty: &TensorType) -> Result<Tensor, OpError> {
        let mut mem = a
            .iter()
            .map(|t| t.ints().ok_or_else(|| OpError::Value("expected integer codes".to_string())))
            .collect::<Result<Vec<_>, _>>()?;
        mem.push(vec![0; self.out.len]);
        let out = step(&self.op, &mem, &mut SimEvents::default())
            .map_err(|e| OpError::Value(e.to_string()))?;
        int_tensor(ty, out.into_iter().map(i128::from).collect())
    }
    crate::dialect_op_boilerplate!();
}

impl DialectOp for AttnDequant {
    fn name(&self) -> &'static str {
        "attn.dequant"
    }
    fn verify(&self) -> Result<(), OpError> {
        if let Some(s) = self.scales.iter().find(|s| !s.is_finite()) {
            return Err(OpError::Attribute(format!("output scale {s} is not finite")));
        }
        if self.shape.iter().product::<usize>() != self.scales.len() {
            return Err(OpError::Attribute(format!(
                "{} scales for a result of shape {:?}",
                self.scales.len(),
                self.shape
            )));
        }
        Ok(())
    }
    fn infer_type(&self, operands: &[&TensorType]) -> Result<TensorType, OpError> {
        let x = expect_int(operands[0], "codes")?;
        if x.numel() != self.scales.len() {
            return Err(OpError::Operand(format!(
                "{x} has {} codes, {} scales",
                x.numel(),
                self.scales.len()
            )));
        }
        Ok(TensorType::f32(self.shape.clone()))
    }
    fn attributes(&self) -> Vec<(&'static str, String)> {
        vec![("scales", crate::ir::printer::reals_attr(&self.scales))]
    }
    fn eval(&self, a: &[&Tensor], ty: &TensorType) -> Result<Tensor, OpError> {
        let codes = operand_ints(a[0])?;
        Ok(f32_tensor(
            ty,
            codes.iter().zip(&self.scales).map(|(&c, &s)| (c as f64 * s) as f32).collect(),
        ))
    }
    crate::dialect_op_boilerplate!();
}

/// Writes `p` into `g` after `x` (the float input): `attn.input_quant`, one unit per machine op in
/// schedule order, `attn.dequant`; returns the dequantizer's node.
pub fn add_program(
    g: &mut Graph,
    x: NodeId,
    p: &Program,
    config: QuantConfig,
    out_shape: Vec<usize>,
) -> Result<NodeId, AttnError> {
    let ge = |e: crate::ir::GraphError| AttnError::Program(e.to_string());
    let ib = p.buf(p.input.buf);
    let quant = AttnInputQuant { scale: p.input.scale, lo: ib.lo, hi: ib.hi, config };
    if ib.scale != p.input.scale {
        return Err(AttnError::Program(
            "the input buffer's scale is not the input quantizer's".into(),
        ));
    }
    let mut node_of: HashMap<BufId, NodeId> = HashMap::new();
    node_of.insert(
        p.input.buf,
        g.add_named(crate::ir::Op::dialect_op(quant), &[x], Some(ib.name.clone())).map_err(ge)?,
    );
    for (step, op) in p.ops.iter().enumerate() {
        let srcs = sources(op);
        let operands = srcs
            .iter()
            .map(|b| {
                node_of.get(b).copied().ok_or_else(|| {
                    AttnError::Program(format!(
                        "op {step} reads buffer {} before it is written",
                        b.0
                    ))
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        let local: Vec<BufId> = (0..srcs.len()).map(BufId).collect();
        if node_of.contains_key(&op.dst()) {
            return Err(AttnError::Program(format!(
                "op {step} writes buffer {} a second time",
                op.dst().0
            )));
        }
        let out = p.buf(op.dst()).clone();
        let local_op = with_buffers(op, &local, BufId(srcs.len()))?;
        let unit = AttnUnit { step, op: Arc::new(local_op), out: out.clone() };
        let id = g
            .add_named(crate::ir::Op::dialect_op(unit), &operands, Some(out.name.clone()))
            .map_err(ge)?;
        node_of.insert(op.dst(), id);
    }
    let y = node_of
        .get(&p.output.buf)
        .copied()
        .ok_or_else(|| AttnError::Program("the output buffer is never written".into()))?;
    let dq = AttnDequant { scales: p.output.scale.clone(), shape: out_shape };
    g.add(crate::ir::Op::dialect_op(dq), &[y]).map_err(ge)
}

/// The sequencer's program the hardware nodes of `g` describe (see the module docs), with the
/// number formats it was built with.
pub fn program_of(g: &Graph) -> Result<(Program, QuantConfig), AttnError> {
    let nodes = g.topo_order();
    let one = |what: &str, found: Vec<NodeId>| -> Result<NodeId, AttnError> {
        match found[..] {
            [n] => Ok(n),
            [] => Err(AttnError::Program(format!("the graph has no {what} (run `attn-quantize`)"))),
            _ => Err(AttnError::Program(format!("the graph has more than one {what}"))),
        }
    };
    let qn = one(
        "attn.input_quant",
        nodes.iter().copied().filter(|&n| g.op(n).dialect::<AttnInputQuant>().is_some()).collect(),
    )?;
    let dn = one(
        "attn.dequant",
        nodes.iter().copied().filter(|&n| g.op(n).dialect::<AttnDequant>().is_some()).collect(),
    )?;
    let (q, dq) = match (g.op(qn).dialect::<AttnInputQuant>(), g.op(dn).dialect::<AttnDequant>()) {
        (Some(q), Some(d)) => (q, d),
        _ => return Err(AttnError::Program("host quantizer or dequantizer missing".into())),
    };
    let mut units: Vec<(NodeId, &AttnUnit)> =
        nodes.iter().filter_map(|&n| g.op(n).dialect::<AttnUnit>().map(|u| (n, u))).collect();
    units.sort_by_key(|(_, u)| u.step);
    let name = |n: NodeId| g.node(n).name.clone().unwrap_or_default();
    let mut buffers =
        vec![Buffer { name: name(qn), len: g.ty(qn).numel(), lo: q.lo, hi: q.hi, scale: q.scale }];
    let mut buf_of: HashMap<NodeId, BufId> = HashMap::from([(qn, BufId(0))]);
    let mut ops = Vec::with_capacity(units.len());
    for (k, (n, u)) in units.iter().enumerate() {
        if u.step != k {
            return Err(AttnError::Program(format!(
                "schedule step {k} is missing (found step {})",
                u.step
            )));
        }
        let srcs = g
            .operands(*n)
            .iter()
            .map(|o| {
                buf_of.get(o).copied().ok_or_else(|| {
                    AttnError::Program(format!("step {k} reads a value scheduled after it"))
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        let dst = BufId(buffers.len());
        ops.push(with_buffers(&u.op, &srcs, dst)?);
        buffers.push(u.out.clone());
        buf_of.insert(*n, dst);
    }
    let out_node = g
        .operands(dn)
        .first()
        .copied()
        .ok_or_else(|| AttnError::Program("the dequantizer has no operand".into()))?;
    let out = buf_of
        .get(&out_node)
        .copied()
        .ok_or_else(|| AttnError::Program("the dequantizer reads no buffer".into()))?;
    let program = Program {
        buffers,
        input: InputSpec { buf: BufId(0), scale: q.scale },
        ops,
        output: OutputSpec { buf: out, scale: dq.scales.clone() },
    };
    Ok((program, q.config))
}
