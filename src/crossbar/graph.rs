//! The crossbar family's graphs: the model-level graph a frontend gives the passes, and the
//! layer chain the passes rewrite, with its exact reading back.
//!
//! Hardware-level shape (one line per layer, host parts marked):
//!
//! ```text
//! x: [n] f32 -> xbar_input_quant (host) -> codes
//!   -> (xbar_dense | xbar_tiles | xbar_arrays) -> int_add(const bias)
//!   -> requantize | requantize_channels            (hidden layers; ReLU is the clamp at 0)
//!   -> ...                                          (next layer)
//!   -> xbar_dequant (host) -> output
//! ```
//!
//! Passes read the chain with [`Chain::read`], change its stages and [`Chain::build`] a new
//! graph, so every type is inferred afresh and a wider accumulator propagates to its users.
//! Reading checks that the bias constants and requantization ops agree with the quantized
//! layer each stage carries: the simulator uses the layers, the RTL the ops.

use super::dialect::{DenseChain, XbarDense, XbarDequant, XbarInputQuant, XbarTiles};
use super::mlp::Mlp;
use super::ops::{OutputDequant, XbarLayerHw};
use super::quant::{InputQuant, LayerOutput, QLayer, QuantizedMlp, Requant};
use super::sim::CrossbarNet;
use crate::ir::{Graph, NodeId, NumFormat, Op, Tensor, TensorType};
use std::sync::Arc;

/// How far a layer has been lowered.
#[derive(Clone, Debug, PartialEq)]
pub enum Stage {
    /// Quantized, exact integer product (`xbar_dense`).
    Dense(Arc<QLayer>),
    /// Placed on arrays, ideally programmed (`xbar_tiles`).
    Tiles(Arc<XbarLayerHw>),
    /// Placed and programmed on the device (`xbar_arrays`).
    Arrays(Arc<XbarLayerHw>),
}

impl Stage {
    pub fn layer(&self) -> &QLayer {
        match self {
            Stage::Dense(l) => l,
            Stage::Tiles(h) | Stage::Arrays(h) => &h.layer,
        }
    }
    /// The placed layer, once tiled.
    pub fn hw(&self) -> Option<&Arc<XbarLayerHw>> {
        match self {
            Stage::Dense(_) => None,
            Stage::Tiles(h) | Stage::Arrays(h) => Some(h),
        }
    }
    fn op(&self) -> Op {
        match self {
            Stage::Dense(l) => Op::dialect_op(XbarDense(l.clone())),
            Stage::Tiles(h) => Op::dialect_op(XbarTiles { hw: h.clone(), programmed: false }),
            Stage::Arrays(h) => Op::dialect_op(XbarTiles { hw: h.clone(), programmed: true }),
        }
    }
}

/// A quantized network as a chain of stages between the host's quantizer and dequantizer.
#[derive(Clone, Debug, PartialEq)]
pub struct Chain {
    /// Names of the graph input and output (the ONNX model's).
    pub input_name: String,
    pub output_name: String,
    pub input: Arc<InputQuant>,
    pub stages: Vec<Stage>,
    pub dequant: Arc<OutputDequant>,
}

fn ge(e: crate::ir::GraphError) -> String {
    e.to_string()
}

/// `input: [n_in] f32 -> dense_chain -> output: [n_out] f32`.
pub fn model_graph(mlp: Arc<Mlp>, input: &str, output: &str) -> Result<Graph, String> {
    let n_in = mlp.layers.first().ok_or("the network has no layer")?.n_in;
    let mut g = Graph::new();
    let x = g.add_input(input, TensorType::f32(vec![n_in])).map_err(ge)?;
    let y = g.add(Op::dialect_op(DenseChain(mlp)), &[x]).map_err(ge)?;
    g.add_output(output, y).map_err(ge)?;
    Ok(g)
}

/// The `dense_chain` of a model-level graph with the graph's input and output names.
pub fn read_model(g: &Graph) -> Result<(Arc<Mlp>, String, String), String> {
    let (x, out) = io(g)?;
    let c = single_user(g, x)?;
    let Some(DenseChain(m)) = g.op(c).dialect::<DenseChain>() else {
        return Err(format!("the graph input feeds `{}`, not a dense chain", g.op(c).mnemonic()));
    };
    let next = single_user(g, c)?;
    if next != out {
        return Err("the dense chain must feed the graph output directly".into());
    }
    Ok((m.clone(), io_name(g, x), io_name(g, out)))
}

fn io(g: &Graph) -> Result<(NodeId, NodeId), String> {
    match (g.inputs(), g.outputs()) {
        (&[x], &[y]) => Ok((x, y)),
        (i, o) => Err(format!(
            "a crossbar network has one input and one output, the graph has {} and {}",
            i.len(),
            o.len()
        )),
    }
}

fn io_name(g: &Graph, id: NodeId) -> String {
    match g.op(id) {
        Op::Input { name, .. } | Op::Output { name } => name.clone(),
        _ => String::new(),
    }
}

fn single_user(g: &Graph, id: NodeId) -> Result<NodeId, String> {
    match g.users(id).as_slice() {
        [(u, 0)] => Ok(*u),
        us => Err(format!(
            "`{}` must feed exactly one node as its first operand, it feeds {}",
            g.op(id).mnemonic(),
            us.len()
        )),
    }
}

/// Narrowest format of the integers in `v` (at least one bit).
fn format_of(v: &[i64]) -> Result<NumFormat, String> {
    let lo = v.iter().copied().min().unwrap_or(0).min(0);
    let hi = v.iter().copied().max().unwrap_or(0).max(0);
    NumFormat::int_for_range(lo.into(), hi.into())
}

impl Chain {
    /// The chain of a freshly quantized network (every stage `xbar_dense`).
    pub fn from_quantized(q: &QuantizedMlp, input: &str, output: &str) -> Result<Chain, String> {
        let dequant = q.output_dequant().ok_or("the last layer must dequantize")?;
        Ok(Chain {
            input_name: input.to_string(),
            output_name: output.to_string(),
            input: Arc::new(q.input.clone()),
            stages: q.layers.iter().map(|l| Stage::Dense(Arc::new(l.clone()))).collect(),
            dequant: Arc::new(dequant),
        })
    }

    /// The quantized network the stages carry.
    pub fn quantized(&self) -> QuantizedMlp {
        QuantizedMlp {
            input: (*self.input).clone(),
            layers: self.stages.iter().map(|s| s.layer().clone()).collect(),
            softmax: self.dequant.softmax,
            output_quant: self.dequant.output_quant.clone(),
        }
    }

    /// The placed and programmed network, for the event-counting simulator. Every stage must
    /// be placed, with one geometry, device and ADC.
    pub fn net(&self) -> Result<CrossbarNet, String> {
        let hws: Vec<&Arc<XbarLayerHw>> = self
            .stages
            .iter()
            .map(|s| s.hw().ok_or_else(|| format!("layer `{}` is not placed", s.layer().name)))
            .collect::<Result<_, _>>()?;
        let first = hws.first().ok_or("the network has no layer")?;
        if let Some(h) = hws.iter().find(|h| h.cfg != first.cfg || h.adc != first.adc) {
            return Err(format!(
                "layer `{}` has other arrays or ADCs than `{}`",
                h.layer.name, first.layer.name
            ));
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

    /// The whole graph, host quantizer and dequantizer included.
    pub fn build(&self) -> Result<Graph, String> {
        self.build_with(true)
    }

    /// Only the integer datapath the accelerator implements: input `codes`, output `acc` (the
    /// last layer's accumulators, bias included). What the RTL is lowered from.
    pub fn device_graph(&self) -> Result<Graph, String> {
        self.build_with(false)
    }

    fn build_with(&self, host: bool) -> Result<Graph, String> {
        let mut g = Graph::new();
        let n_in = self.input.scale.len();
        let mut cur = if host {
            let x = g.add_input(&self.input_name, TensorType::f32(vec![n_in])).map_err(ge)?;
            g.add(Op::dialect_op(XbarInputQuant(self.input.clone())), &[x]).map_err(ge)?
        } else {
            let f = NumFormat::int_for_range(self.input.lo.into(), self.input.hi.into())?;
            g.add_input("codes", TensorType::new(vec![n_in], f)).map_err(ge)?
        };
        for s in &self.stages {
            let l = s.layer();
            let mv = g.add_named(s.op(), &[cur], Some(l.name.clone())).map_err(ge)?;
            let bias = Tensor::int(vec![l.n_out], format_of(&l.bias)?, l.bias.clone())?;
            let b = g
                .add_named(Op::Constant(bias), &[], Some(format!("{}.bias", l.name)))
                .map_err(ge)?;
            let acc = g.add(Op::IntAdd, &[mv, b]).map_err(ge)?;
            cur = match &l.output {
                LayerOutput::Requant { requant, lo, hi } => {
                    g.add(requant_op(requant, *lo, *hi)?, &[acc]).map_err(ge)?
                }
                LayerOutput::Dequant { .. } => acc,
            };
        }
        if host {
            let y = g.add(Op::dialect_op(XbarDequant(self.dequant.clone())), &[cur]).map_err(ge)?;
            g.add_output(&self.output_name, y).map_err(ge)?;
        } else {
            g.add_output("acc", cur).map_err(ge)?;
        }
        Ok(g)
    }

    /// Reads a hardware-level graph back (as [`Chain::build`] writes it); the error names the
    /// first node that does not fit the shape or disagrees with its layer.
    pub fn read(g: &Graph) -> Result<Chain, String> {
        let (x, out) = io(g)?;
        let iq = single_user(g, x)?;
        let Some(XbarInputQuant(input)) = g.op(iq).dialect::<XbarInputQuant>() else {
            return Err(format!(
                "expected the host's input quantizer, found `{}`",
                g.op(iq).mnemonic()
            ));
        };
        let mut cur = iq;
        let mut stages = Vec::new();
        loop {
            let node = single_user(g, cur)?;
            let op = g.op(node);
            let stage = if let Some(XbarDense(l)) = op.dialect::<XbarDense>() {
                Stage::Dense(l.clone())
            } else if let Some(t) = op.dialect::<XbarTiles>() {
                if t.programmed {
                    Stage::Arrays(t.hw.clone())
                } else {
                    Stage::Tiles(t.hw.clone())
                }
            } else if let Some(XbarDequant(d)) = op.dialect::<XbarDequant>() {
                {
                    if single_user(g, node)? != out {
                        return Err("`xbar.dequant` must feed the graph output".into());
                    }
                    if stages.is_empty() {
                        return Err("the chain has no layer".into());
                    }
                    return Ok(Chain {
                        input_name: io_name(g, x),
                        output_name: io_name(g, out),
                        input: input.clone(),
                        stages,
                        dequant: d.clone(),
                    });
                }
            } else {
                return Err(format!("expected a layer, found `{}`", op.mnemonic()));
            };
            let l = stage.layer();
            let add = single_user(g, node)?;
            let bias = match (g.op(add), g.operands(add).as_slice()) {
                (Op::IntAdd, [_, b]) => match g.op(*b) {
                    Op::Constant(t) => t.ints(),
                    _ => None,
                },
                _ => None,
            };
            if bias.as_deref() != Some(l.bias.as_slice()) {
                return Err(format!(
                    "layer `{}` must be followed by the addition of its bias",
                    l.name
                ));
            }
            cur = add;
            if let LayerOutput::Requant { requant, lo, hi } = &l.output {
                let rq = single_user(g, add)?;
                if *g.op(rq) != requant_op(requant, *lo, *hi)? {
                    return Err(format!(
                        "layer `{}`: `{}` does not apply the layer's requantization",
                        l.name,
                        g.op(rq).mnemonic()
                    ));
                }
                cur = rq;
            }
            stages.push(stage);
        }
    }
}

/// `requantize` when one multiplier serves every channel and the clamp is a whole format,
/// else `requantize_channels`.
fn requant_op(r: &[Requant], lo: i64, hi: i64) -> Result<Op, String> {
    let out = NumFormat::int_for_range(lo.into(), hi.into())?;
    let whole = out.int_range() == Some((lo.into(), hi.into()));
    match r.first() {
        Some(r0) if whole && r.iter().all(|x| x == r0) => {
            Ok(Op::Requantize { multiplier: r0.multiplier, shift: r0.shift, out })
        }
        _ => Ok(Op::RequantizeChannels {
            multipliers: r.iter().map(|x| x.multiplier).collect(),
            shifts: r.iter().map(|x| x.shift).collect(),
            lo,
            hi,
        }),
    }
}
