//! The crossbar family's graphs and how they are read back.
//!
//! Model level (the frontend's): the ONNX importer's core ops, `x: [n_in] f32 -> matmul -> add
//! -> relu -> ... -> output` (QONNX `quant` nodes where the model has them).
//!
//! Hardware level (one line per layer, host parts marked), what `quantize` writes in place of
//! the float chain and the later passes rewrite layer node by layer node:
//!
//! ```text
//! x: [n] f32 -> xbar.input_quant (host) -> codes
//!   -> (xbar.dense | codes -> xbar.array x N -> xbar.readout(codes, arrays)) -> int_add(const bias)
//!   -> requantize | requantize_channels            (hidden layers; ReLU is the clamp at 0)
//!   -> ...                                          (next layer)
//!   -> xbar.dequant (host) -> output
//! ```
//!
//! Every fact is stored once: a layer node carries the product (weights, placement, cells),
//! the bias lives only in its constant, the requantization only in its op. [`read`] gathers
//! them back into a [`Network`], the plan the simulator, the RTL and `crossbar-tile`'s ADC
//! calibration are built from.

use super::dialect::{XbarArray, XbarDense, XbarDequant, XbarInputQuant, XbarReadout};
use super::ops::{OutputDequant, XbarLayerHw};
use super::quant::{InputQuant, LayerRequant, LayerTail, QLayer, QuantizedMlp, Requant};
use super::sim::CrossbarNet;
use crate::crossbar::error::XbarError;
use crate::ir::{Graph, GraphError, NodeId, NumFormat, Op, Tensor, TensorType};
use std::sync::Arc;

fn ge(e: GraphError) -> XbarError {
    XbarError::Ir(e)
}

/// Narrowest format of the integers in `v` (at least one bit).
fn format_of(v: &[i64]) -> Result<NumFormat, XbarError> {
    let lo = v.iter().copied().min().unwrap_or(0).min(0);
    let hi = v.iter().copied().max().unwrap_or(0).max(0);
    NumFormat::int_for_range(lo.into(), hi.into()).map_err(|e| XbarError::Graph(e.to_string()))
}

/// `requantize` when one multiplier serves every channel and the clamp is a whole format,
/// else `requantize_channels`.
fn requant_op(r: &LayerRequant) -> Result<Op, XbarError> {
    let (lo, hi) = (r.lo, r.hi);
    let out = NumFormat::int_for_range(lo.into(), hi.into())
        .map_err(|e| XbarError::Graph(e.to_string()))?;
    let whole = out.int_range() == Some((lo.into(), hi.into()));
    match r.requant.first() {
        Some(r0) if whole && r.requant.iter().all(|x| x == r0) => {
            Ok(Op::Requantize { multiplier: r0.multiplier, shift: r0.shift, out })
        }
        _ => Ok(Op::RequantizeChannels {
            multipliers: r.requant.iter().map(|x| x.multiplier).collect(),
            shifts: r.requant.iter().map(|x| x.shift).collect(),
            lo,
            hi,
        }),
    }
}

/// The requantization an op applies to `n` channels (the inverse of [`requant_op`]).
fn requant_of(op: &Op, n: usize) -> Option<LayerRequant> {
    match op {
        Op::Requantize { multiplier, shift, out } => {
            let (lo, hi) = out.int_range()?;
            let r = Requant { multiplier: *multiplier, shift: *shift };
            Some(LayerRequant { requant: vec![r; n], lo: lo as i64, hi: hi as i64 })
        }
        Op::RequantizeChannels { multipliers, shifts, lo, hi } => Some(LayerRequant {
            requant: multipliers
                .iter()
                .zip(shifts)
                .map(|(m, s)| Requant { multiplier: *m, shift: *s })
                .collect(),
            lo: *lo,
            hi: *hi,
        }),
        _ => None,
    }
}

/// Adds the quantized network `q` to `g` after `x` (the graph input): the host's quantizer,
/// per layer its product, bias and requantization, the host's dequantizer. Returns the
/// dequantizer, whose result is the network's output.
pub fn add_quantized(g: &mut Graph, x: NodeId, q: QuantizedMlp) -> Result<NodeId, XbarError> {
    let mut cur = g.add(Op::dialect_op(XbarInputQuant(Arc::new(q.input))), &[x]).map_err(ge)?;
    for (l, tail) in q.layers.into_iter().zip(q.tails) {
        let name = l.name.clone();
        let mv = g.add_named(Op::dialect_op(XbarDense(l)), &[cur], Some(name.clone()));
        let bias = Tensor::int(vec![tail.bias.len()], format_of(&tail.bias)?, tail.bias)
            .map_err(|e| XbarError::Graph(e.to_string()))?;
        let b = g.add_named(Op::Constant(bias), &[], Some(format!("{name}.bias"))).map_err(ge)?;
        cur = g.add(Op::IntAdd, &[mv.map_err(ge)?, b]).map_err(ge)?;
        if let Some(r) = &tail.requant {
            cur = g.add(requant_op(r)?, &[cur]).map_err(ge)?;
        }
    }
    g.add(Op::dialect_op(XbarDequant(Arc::new(q.output))), &[cur]).map_err(ge)
}

/// Adds a placed layer reading the codes `x`: one `xbar.array` per array of `hw`'s placement
/// (named `layer[r,c]` by its tile), and the `xbar.readout` of them all, which it returns.
pub fn add_placed(
    g: &mut Graph,
    x: NodeId,
    hw: &Arc<XbarLayerHw>,
    programmed: bool,
) -> Result<NodeId, XbarError> {
    let name = &hw.layer.name;
    let mut operands = vec![x];
    for (index, a) in hw.map.arrays.iter().enumerate() {
        let op = Op::dialect_op(XbarArray { hw: hw.clone(), index, programmed });
        let tile = format!("{name}[{},{}]", a.row_tile, a.col_tile);
        operands.push(g.add_named(op, &[x], Some(tile)).map_err(ge)?);
    }
    let op = Op::dialect_op(XbarReadout { hw: hw.clone(), programmed });
    g.add_named(op, &operands, Some(name.clone())).map_err(ge)
}

/// How far a layer node has been lowered.
#[derive(Clone, Debug, PartialEq)]
pub enum Stage {
    /// Quantized, exact integer product (`xbar.dense`).
    Dense(Arc<QLayer>),
    /// Placed on arrays (`xbar.array`s read by an `xbar.readout`): ideally programmed, or
    /// programmed on the device.
    Placed { hw: Arc<XbarLayerHw>, programmed: bool },
}

impl Stage {
    /// The quantized layer the node computes the product of.
    pub fn layer(&self) -> &Arc<QLayer> {
        match self {
            Stage::Dense(l) => l,
            Stage::Placed { hw, .. } => &hw.layer,
        }
    }
    /// The placed layer, once tiled.
    pub fn hw(&self) -> Option<&Arc<XbarLayerHw>> {
        match self {
            Stage::Dense(_) => None,
            Stage::Placed { hw, .. } => Some(hw),
        }
    }
}

/// One layer as the graph holds it: the product node, its bias and requantization, and the
/// types the passes inferred (the RTL sizes its registers from them).
#[derive(Clone, Debug, PartialEq)]
pub struct Layer {
    pub stage: Stage,
    pub tail: LayerTail,
    /// Type of the product node's result.
    pub product: TensorType,
    /// Type of `product + bias`.
    pub sum: TensorType,
}

/// The network a hardware-level graph describes, read from its nodes.
#[derive(Clone, Debug, PartialEq)]
pub struct Network {
    pub input: Arc<InputQuant>,
    /// Type of the input codes (the accelerator's input port).
    pub codes: TensorType,
    pub layers: Vec<Layer>,
    pub dequant: Arc<OutputDequant>,
}

fn single_user(g: &Graph, id: NodeId) -> Result<NodeId, XbarError> {
    match g.users(id).as_slice() {
        [(u, 0)] => Ok(*u),
        us => Err(XbarError::Graph(format!(
            "`{}` must feed exactly one node as its first operand, it feeds {}",
            g.op(id).mnemonic(),
            us.len()
        ))),
    }
}

/// The graph's one input node and one output node.
pub fn io(g: &Graph) -> Result<(NodeId, NodeId), XbarError> {
    match (g.inputs(), g.outputs()) {
        (&[x], &[y]) => Ok((x, y)),
        (i, o) => Err(XbarError::Graph(format!(
            "a crossbar network has one input and one output, the graph has {} and {}",
            i.len(),
            o.len()
        ))),
    }
}

/// The layer an op computes the product of (`xbar.dense` or `xbar.readout`), if it is one.
fn stage_of(op: &Op) -> Option<Stage> {
    if let Some(XbarDense(l)) = op.dialect::<XbarDense>() {
        Some(Stage::Dense(l.clone()))
    } else {
        op.dialect::<XbarReadout>()
            .map(|t| Stage::Placed { hw: t.hw.clone(), programmed: t.programmed })
    }
}

/// The node after `cur` in the layer chain: its one user that is not an `xbar.array` (a
/// placed layer's arrays and read-out all take the layer's input codes).
fn next_node(g: &Graph, cur: NodeId) -> Result<NodeId, XbarError> {
    let users: Vec<(NodeId, u32)> = g
        .users(cur)
        .into_iter()
        .filter(|(u, _)| g.op(*u).dialect::<XbarArray>().is_none())
        .collect();
    match users.as_slice() {
        [(u, 0)] => Ok(*u),
        us => Err(XbarError::Graph(format!(
            "`{}` must feed exactly one layer or read-out as its first operand, it feeds {}",
            g.op(cur).mnemonic(),
            us.len()
        ))),
    }
}

/// A read-out's operands after the input codes must be its layer's arrays, in order, each
/// reading the same codes and sharing the read-out's cells.
fn check_arrays(
    g: &Graph,
    readout: NodeId,
    hw: &Arc<XbarLayerHw>,
    programmed: bool,
) -> Result<(), XbarError> {
    let ops = g.operands(readout);
    for (k, &a) in ops.iter().enumerate().skip(1) {
        let ok = g.op(a).dialect::<XbarArray>().is_some_and(|t| {
            Arc::ptr_eq(&t.hw, hw) && t.index == k - 1 && t.programmed == programmed
        }) && g.operands(a).first() == ops.first();
        if !ok {
            return Err(XbarError::Graph(format!(
                "layer `{}`: operand {k} of its read-out is not its array {}",
                hw.layer.name,
                k - 1
            )));
        }
    }
    Ok(())
}

/// Reads a hardware-level graph (as [`add_quantized`] writes it and the passes rewrite it);
/// the error names the first node that does not fit the shape.
pub fn read(g: &Graph) -> Result<Network, XbarError> {
    let (x, out) = io(g)?;
    let iq = single_user(g, x)?;
    let Some(XbarInputQuant(input)) = g.op(iq).dialect::<XbarInputQuant>() else {
        return Err(XbarError::Graph(format!(
            "expected the host's input quantizer, found `{}`",
            g.op(iq).mnemonic()
        )));
    };
    let mut cur = iq;
    let mut layers = Vec::new();
    loop {
        let node = next_node(g, cur)?;
        let op = g.op(node);
        if let Some(XbarDequant(d)) = op.dialect::<XbarDequant>() {
            if single_user(g, node)? != out {
                return Err(XbarError::Graph("`xbar.dequant` must feed the graph output".into()));
            }
            if layers.is_empty() {
                return Err(XbarError::Graph("the network has no layer".into()));
            }
            let codes = g.ty(iq).clone();
            return Ok(Network { input: input.clone(), codes, layers, dequant: d.clone() });
        }
        let stage = stage_of(op).ok_or_else(|| {
            XbarError::Graph(format!("expected a layer, found `{}`", op.mnemonic()))
        })?;
        if let Stage::Placed { hw, programmed } = &stage {
            check_arrays(g, node, hw, *programmed)?;
        }
        let name = &stage.layer().name;
        let add = single_user(g, node)?;
        let bias = match (g.op(add), g.operands(add).as_slice()) {
            (Op::IntAdd, [_, b]) => match g.op(*b) {
                Op::Constant(t) => t.ints(),
                _ => None,
            },
            _ => None,
        };
        let bias = bias.filter(|b| b.len() == stage.layer().n_out).ok_or_else(|| {
            XbarError::Graph(format!("layer `{name}` must be followed by the addition of its bias"))
        })?;
        cur = add;
        let next = single_user(g, add)?;
        let requant = requant_of(g.op(next), stage.layer().n_out);
        if requant.is_some() {
            cur = next;
        }
        let (product, sum) = (g.ty(node).clone(), g.ty(add).clone());
        layers.push(Layer { stage, tail: LayerTail { bias, requant }, product, sum });
    }
}

impl Network {
    /// The quantized network the nodes describe (layers shared with the graph).
    pub fn quantized(&self) -> QuantizedMlp {
        QuantizedMlp {
            input: (*self.input).clone(),
            layers: self.layers.iter().map(|l| l.stage.layer().clone()).collect(),
            tails: self.layers.iter().map(|l| l.tail.clone()).collect(),
            output: (*self.dequant).clone(),
        }
    }

    /// Type of the last layer's accumulators (the accelerator's output port).
    pub fn accumulators(&self) -> Result<&TensorType, XbarError> {
        self.layers
            .last()
            .map(|l| &l.sum)
            .ok_or_else(|| XbarError::Graph("the network has no layer".into()))
    }

    /// The placed and programmed network, for the event-counting simulator. Every layer must
    /// be placed, with one geometry, device and ADC.
    pub fn net(&self) -> Result<CrossbarNet, XbarError> {
        let hws: Vec<&Arc<XbarLayerHw>> = self
            .layers
            .iter()
            .map(|l| {
                l.stage.hw().ok_or_else(|| {
                    XbarError::Graph(format!("layer `{}` is not placed", l.stage.layer().name))
                })
            })
            .collect::<Result<_, _>>()?;
        let first =
            hws.first().ok_or_else(|| XbarError::Graph("the network has no layer".into()))?;
        if let Some(h) = hws.iter().find(|h| h.cfg != first.cfg || h.adc != first.adc) {
            return Err(XbarError::Graph(format!(
                "layer `{}` has other arrays or ADCs than `{}`",
                h.layer.name, first.layer.name
            )));
        }
        Ok(CrossbarNet {
            q: self.quantized(),
            cfg: first.cfg,
            dev: first.dev,
            maps: hws.iter().map(|h| h.map.clone()).collect(),
            programmed: hws.iter().map(|h| h.prog.clone()).collect(),
            adc: first.adc,
        })
    }
}
