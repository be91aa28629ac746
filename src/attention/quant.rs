//! From the model-level IR (after `binarize` / `sparsify`) to an integer [`Program`].
//!
//! Scales come from running the float graph on the calibration data: every activation gets
//! `scale = max|x| / (2^(b-1) - 1)` (unsigned `max / (2^b - 1)` for the non-negative input).
//! Values on the residual path (read by an Add, a LayerNorm or a Concat) use `resid_bits`,
//! everything else `act_bits`. Weights are int8 with one scale per output column
//! (`max |w| / 127`), biases are integers in accumulator units, and requantization uses the
//! fixed-point multipliers of `crate::ir::requant::Requant` (round half to even).
//!
//! Per op: MatMul [+ constant Add] becomes a linear layer; Add a rescaling addition; LayerNorm
//! the integer LayerNorm of [`super::lnorm`]; GELU/ReLU/Tanh/Sigmoid a table on the input codes;
//! `gather`/`concat` (with constants) a gather; `mha` the Q/K/V projections (Q/K through a sign
//! for HAD), one attention core per head ([`super::core`]) and the output projection. The
//! graph output is left as raw accumulators when a linear layer computes it and dequantized
//! per column on the host.

use super::calib::probe;
use super::core::{exp_entry, CoreMode, CoreParams};
use super::error::AttnError;
use super::ir::{gelu, Linear, QkMode};
use super::lnorm::{LnParams, GAIN_BITS, RECIP_BITS};
use super::program::*;
use crate::ir::requant::Requant;
use crate::ir::{Graph, NodeId, Op};
use ndarray::Array2;
use serde::Serialize;
use std::collections::HashMap;

/// Number formats of the integer program.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct QuantConfig {
    /// Activation codes read by linear layers and tables.
    pub act_bits: u32,
    /// Residual-path codes.
    pub resid_bits: u32,
    /// Probability fraction bits in the attention core.
    pub prob_bits: u32,
    /// Exponent table fraction bits.
    pub exp_bits: u32,
    /// Standard attention: exponent table length and steps per logit unit.
    pub std_lut_len: usize,
    pub std_lut_steps: f64,
}

impl Default for QuantConfig {
    fn default() -> Self {
        QuantConfig {
            act_bits: 8,
            resid_bits: 16,
            prob_bits: 10,
            exp_bits: 15,
            std_lut_len: 256,
            std_lut_steps: 16.0,
        }
    }
}

/// Codes of one value: buffer, scale and range.
#[derive(Clone, Copy, Debug)]
struct Q {
    buf: BufId,
    scale: f64,
    lo: i64,
    hi: i64,
}

/// Calibration statistics.
#[derive(Default)]
struct Stats {
    maxabs: HashMap<NodeId, f64>,
    min: HashMap<NodeId, f64>,
    /// Per mha node: max |q|, |k|, |v|, |concatenated heads|.
    mha: HashMap<NodeId, [f64; 4]>,
}

fn collect_stats(g: &Graph, calib: &Array2<f32>) -> Result<Stats, AttnError> {
    let nodes: Vec<NodeId> = g
        .topo_order()
        .into_iter()
        .filter(|&n| !matches!(g.op(n), Op::Output { .. } | Op::Constant(_)))
        .collect();
    let mut st = Stats::default();
    probe(g, calib, &nodes, |k, _, t| {
        let id = nodes[k];
        let v = t.floats().unwrap_or_default();
        let m = v.iter().fold(0f64, |a, &x| a.max(f64::from(x).abs()));
        let lo = v.iter().fold(f64::INFINITY, |a, &x| a.min(f64::from(x)));
        let e = st.maxabs.entry(id).or_insert(0.0);
        *e = e.max(m);
        let e = st.min.entry(id).or_insert(f64::INFINITY);
        *e = e.min(lo);
        Ok(())
    })?;
    // Attention internals, from the inputs of each mha node.
    let mha: Vec<NodeId> = nodes
        .iter()
        .copied()
        .filter(|&n| g.op(n).dialect::<crate::attention::ir::MhaOp>().is_some())
        .collect();
    let operands: Vec<NodeId> = mha.iter().map(|&n| g.operands(n)[0]).collect();
    probe(g, calib, &operands, |k, _, t| {
        let Some(m) = g.op(mha[k]).dialect::<crate::attention::ir::MhaOp>() else { return Ok(()) };
        let s = t.shape.first().copied().unwrap_or(0);
        let parts = m.forward(t.floats().unwrap_or_default(), s);
        let mx = |v: &[f32]| v.iter().fold(0f64, |a, &x| a.max(f64::from(x).abs()));
        let e = st.mha.entry(mha[k]).or_insert([0.0; 4]);
        for (slot, v) in e.iter_mut().zip([&parts.q, &parts.k, &parts.v, &parts.cat]) {
            *slot = slot.max(mx(v));
        }
        Ok(())
    })?;
    Ok(st)
}

/// Symmetric signed range of `bits`.
fn srange(bits: u32) -> (i64, i64) {
    (-(1i64 << (bits - 1)), (1i64 << (bits - 1)) - 1)
}

fn scale_for(maxabs: f64, hi: i64) -> f64 {
    if maxabs > 0.0 && maxabs.is_finite() {
        maxabs / hi as f64
    } else {
        1.0
    }
}

struct Builder<'g> {
    g: &'g Graph,
    cfg: QuantConfig,
    st: Stats,
    p: Program,
    vals: HashMap<NodeId, Q>,
    /// Add nodes folded into the preceding linear layer as its bias.
    fused: HashMap<NodeId, NodeId>,
}

fn requant(m: f64, layer: &str) -> Result<Requant, AttnError> {
    Requant::from_real(m)
        .map_err(|message| AttnError::Quant { layer: layer.into(), message: message.to_string() })
}

impl<'g> Builder<'g> {
    fn name(&self, id: NodeId) -> String {
        self.g.node(id).name.clone().unwrap_or_else(|| self.g.op(id).mnemonic().to_string())
    }

    fn buffer(&mut self, name: String, len: usize, lo: i64, hi: i64, scale: f64) -> BufId {
        self.p.buffers.push(Buffer { name, len, lo, hi, scale });
        BufId(self.p.buffers.len() - 1)
    }

    /// Bits for the value of `id`: residual width when an Add, LayerNorm or Concat reads it.
    fn bits_for(&self, id: NodeId) -> u32 {
        let resid = self.g.users(id).iter().any(|(u, _)| {
            matches!(self.g.op(*u), Op::Add | Op::LayerNorm(_) | Op::Concat { .. })
                && !self.fused.contains_key(u)
        });
        if resid {
            self.cfg.resid_bits
        } else {
            self.cfg.act_bits
        }
    }

    fn is_output_only(&self, id: NodeId) -> bool {
        let users = self.g.users(id);
        !users.is_empty() && users.iter().all(|(u, _)| matches!(self.g.op(*u), Op::Output { .. }))
    }

    fn constant(&self, id: NodeId) -> Option<Vec<f32>> {
        match self.g.op(id) {
            Op::Constant(t) => t.floats().map(<[f32]>::to_vec),
            _ => None,
        }
    }

    /// A signed value buffer for `id` with its calibrated scale.
    fn value_buffer(&mut self, id: NodeId, bits: u32) -> Q {
        let (lo, hi) = srange(bits);
        let scale = scale_for(self.st.maxabs.get(&id).copied().unwrap_or(0.0), hi);
        let len = self.g.ty(id).numel();
        let buf = self.buffer(self.name(id), len, lo, hi, scale);
        Q { buf, scale, lo, hi }
    }

    /// Quantizes a linear layer reading `x` with rows of `lin.inputs` values.
    fn linear(
        &mut self,
        layer: &str,
        x: Q,
        rows: usize,
        lin: &Linear,
        out: LinearOut,
    ) -> Result<Q, AttnError> {
        let (k, n) = (lin.inputs, lin.outputs);
        let mut w = vec![0i64; n * k];
        let mut sw = vec![1f64; n];
        for j in 0..n {
            let m = (0..k).fold(0f64, |a, i| a.max(f64::from(lin.w[i * n + j]).abs()));
            sw[j] = if m > 0.0 { m / 127.0 } else { 1.0 };
            for i in 0..k {
                w[j * k + i] = ((f64::from(lin.w[i * n + j]) / sw[j]).round_ties_even() as i64)
                    .clamp(-127, 127);
            }
        }
        let acc_scale: Vec<f64> = sw.iter().map(|s| s * x.scale).collect();
        let b: Vec<i64> =
            (0..n).map(|j| (f64::from(lin.b[j]) / acc_scale[j]).round_ties_even() as i64).collect();
        // Exact accumulator bounds.
        let xm = x.lo.abs().max(x.hi.abs());
        let bound = (0..n)
            .map(|j| b[j].abs() + (0..k).map(|i| w[j * k + i].abs() * xm).sum::<i64>())
            .max()
            .unwrap_or(0);
        let (post, q) = match out {
            LinearOut::Sign => {
                let buf = self.buffer(format!("{layer}.sign"), rows * n, 0, 1, 0.0);
                (Post::Sign, Q { buf, scale: 0.0, lo: 0, hi: 1 })
            }
            LinearOut::Acc => {
                let buf = self.buffer(format!("{layer}.acc"), rows * n, -bound, bound, 0.0);
                self.p.output =
                    OutputSpec { buf, scale: (0..rows * n).map(|i| acc_scale[i % n]).collect() };
                (Post::Acc, Q { buf, scale: 0.0, lo: -bound, hi: bound })
            }
            LinearOut::Codes { maxabs, bits } => {
                let (lo, hi) = srange(bits);
                let scale = scale_for(maxabs, hi);
                let rq = acc_scale
                    .iter()
                    .map(|a| requant(a / scale, layer))
                    .collect::<Result<_, _>>()?;
                let buf = self.buffer(layer.to_string(), rows * n, lo, hi, scale);
                (Post::Requant { rq, lo, hi }, Q { buf, scale, lo, hi })
            }
        };
        self.p.ops.push(MachineOp::Linear(LinearOp {
            src: x.buf,
            dst: q.buf,
            rows,
            k,
            n,
            w,
            b,
            post,
        }));
        Ok(q)
    }
}

/// What a linear layer's accumulators become.
enum LinearOut {
    Sign,
    Acc,
    Codes { maxabs: f64, bits: u32 },
}

/// Builds the integer program of a model-level graph with one input and one output.
pub fn build(g: &Graph, calib: &Array2<f32>, cfg: &QuantConfig) -> Result<Program, AttnError> {
    crate::ir::verify(g).map_err(|es| {
        AttnError::Structure(es.iter().map(|e| e.to_string()).collect::<Vec<_>>().join("; "))
    })?;
    let (&[input], &[output]) = (g.inputs(), g.outputs()) else {
        return Err(AttnError::Structure("the graph must have one input and one output".into()));
    };
    let st = collect_stats(g, calib)?;
    let mut b = Builder {
        g,
        cfg: *cfg,
        st,
        p: Program {
            buffers: Vec::new(),
            input: InputSpec { buf: BufId(0), scale: 1.0 },
            ops: Vec::new(),
            output: OutputSpec { buf: BufId(0), scale: Vec::new() },
        },
        vals: HashMap::new(),
        fused: HashMap::new(),
    };
    // Linear layers: MatMul with a constant B, plus a following constant-bias Add.
    for id in g.topo_order() {
        if !matches!(g.op(id), Op::Add) {
            continue;
        }
        let ops = g.operands(id);
        let (mm, c) = match (g.op(ops[0]), g.op(ops[1])) {
            (Op::MatMul, Op::Constant(_)) => (ops[0], ops[1]),
            (Op::Constant(_), Op::MatMul) => (ops[1], ops[0]),
            _ => continue,
        };
        let n = g.ty(mm).shape.last().copied().unwrap_or(0);
        if g.users(mm).len() == 1 && g.ty(c).numel() == n && g.ty(id) == g.ty(mm) {
            b.fused.insert(id, mm);
        }
    }
    let in_ty = g.ty(input);
    let (imin, imax) = (
        b.st.min.get(&input).copied().unwrap_or(0.0),
        b.st.maxabs.get(&input).copied().unwrap_or(0.0),
    );
    let ab = cfg.act_bits;
    let (lo, hi) = if imin >= 0.0 { (0, (1i64 << ab) - 1) } else { srange(ab) };
    let scale = scale_for(imax, hi);
    let ibuf = b.buffer("input".into(), in_ty.numel(), lo, hi, scale);
    b.p.input = InputSpec { buf: ibuf, scale };
    b.vals.insert(input, Q { buf: ibuf, scale, lo, hi });

    for id in g.topo_order() {
        let op = g.op(id);
        let name = b.name(id);
        let err = |m: String| AttnError::Quant { layer: name.clone(), message: m };
        let operand = |b: &Builder, k: usize| -> Result<Q, AttnError> {
            let o = g.operands(id)[k];
            b.vals.get(&o).copied().ok_or_else(|| err(format!("operand {k} has no integer codes")))
        };
        let q = match &op {
            Op::Input { .. } | Op::Constant(_) => continue,
            Op::Output { .. } => {
                let x = operand(&b, 0)?;
                if b.p.output.scale.is_empty() {
                    let len = g.ty(id).numel();
                    b.p.output = OutputSpec { buf: x.buf, scale: vec![x.scale; len] };
                }
                continue;
            }
            // Row-major elements stay where they are: the value is its operand's buffer.
            Op::Reshape { .. } | Op::Flatten { .. } | Op::Identity => operand(&b, 0)?,
            Op::Gather { map, .. } => {
                let x = operand(&b, 0)?;
                let buf = b.buffer(name.clone(), map.len(), x.lo, x.hi, x.scale);
                b.p.ops.push(MachineOp::Gather { src: x.buf, dst: buf, map: map.iter().map(|&i| GatherSrc::Elem(i)).collect() });
                Q { buf, ..x }
            }
            Op::Concat { axis } => {
                let ops = g.operands(id);
                let computed: Vec<usize> = (0..ops.len()).filter(|&k| b.vals.contains_key(&ops[k])).collect();
                let [ck] = computed[..] else {
                    return Err(err("concatenation of more than one computed tensor is not supported".into()));
                };
                let x = b.vals[&ops[ck]];
                // Concatenate index maps: element sources of each operand in order.
                let rank = g.ty(id).rank() as i64;
                let ax = if *axis < 0 { axis + rank } else { *axis } as usize;
                let mut parts: Vec<(Vec<GatherSrc>, Vec<usize>)> = Vec::new();
                for (k, &o) in ops.iter().enumerate() {
                    let shape = g.ty(o).shape.clone();
                    let srcs: Vec<GatherSrc> = if k == ck {
                        (0..g.ty(o).numel() as u32).map(GatherSrc::Elem).collect()
                    } else {
                        let c = b.constant(o).ok_or_else(|| err("operand is neither computed nor constant".into()))?;
                        c.iter().map(|&v| GatherSrc::Const(((f64::from(v) / x.scale).round_ties_even() as i64).clamp(x.lo, x.hi))).collect()
                    };
                    parts.push((srcs, shape));
                }
                let refs: Vec<(&[GatherSrc], &[usize])> = parts.iter().map(|(s, sh)| (s.as_slice(), sh.as_slice())).collect();
                let map = super::ir::concat_eval(&refs, ax);
                let buf = b.buffer(name.clone(), map.len(), x.lo, x.hi, x.scale);
                b.p.ops.push(MachineOp::Gather { src: x.buf, dst: buf, map });
                Q { buf, ..x }
            }
            Op::MatMul => {
                let x = operand(&b, 0)?;
                let w = g.operands(id)[1];
                let wt = g.ty(w).clone();
                let wv = b.constant(w).ok_or_else(|| err("the weights must be a constant".into()))?;
                let [kk, n] = wt.shape[..] else { return Err(err("weights must be a matrix".into())) };
                let rows = g.ty(id).numel() / n.max(1);
                // The fused bias Add, when there is one, owns the result.
                let add = g.users(id).iter().map(|(u, _)| *u).find(|u| b.fused.get(u) == Some(&id));
                let res = add.unwrap_or(id);
                let bias = match add {
                    Some(a) => {
                        let ops = g.operands(a);
                        let c = if ops[0] == id { ops[1] } else { ops[0] };
                        b.constant(c).unwrap_or_else(|| vec![0.0; n])
                    }
                    None => vec![0.0; n],
                };
                let lin = Linear { inputs: kk, outputs: n, w: wv, b: bias };
                let out = if b.is_output_only(res) {
                    LinearOut::Acc
                } else {
                    LinearOut::Codes { maxabs: b.st.maxabs.get(&res).copied().unwrap_or(0.0), bits: b.bits_for(res) }
                };
                let q = b.linear(&b.name(res), x, rows, &lin, out)?;
                b.vals.insert(res, q);
                q
            }
            Op::Add if b.fused.contains_key(&id) => continue,
            Op::Add => {
                let ops = g.operands(id);
                let q = b.value_buffer(id, b.bits_for(id));
                let len = g.ty(id).numel();
                let (a, other) = if b.vals.contains_key(&ops[0]) { (ops[0], ops[1]) } else { (ops[1], ops[0]) };
                let xa = b.vals[&a];
                if g.ty(a).numel() != len {
                    return Err(err("the computed operand must have the result's shape".into()));
                }
                let bop = match b.vals.get(&other).copied() {
                    Some(xb) => {
                        if g.ty(other).numel() != len {
                            return Err(err("broadcasting additions of two computed tensors are not supported".into()));
                        }
                        AddOperand::Buf(xb.buf, requant(xb.scale / q.scale, &name)?)
                    }
                    None => {
                        let c = b.constant(other).ok_or_else(|| err("operand is neither computed nor constant".into()))?;
                        let cl = c.len().max(1);
                        AddOperand::Const((0..len).map(|i| ((f64::from(c[i % cl]) / q.scale).round_ties_even() as i64).clamp(q.lo, q.hi)).collect())
                    }
                };
                b.p.ops.push(MachineOp::Add(AddOp { a: xa.buf, ra: requant(xa.scale / q.scale, &name)?, b: bop, dst: q.buf, len, lo: q.lo, hi: q.hi }));
                q
            }
            Op::LayerNorm(ln) => {
                let x = operand(&b, 0)?;
                let d = ln.gamma.len();
                let rows = g.ty(id).numel() / d.max(1);
                let q = b.value_buffer(id, b.bits_for(id));
                let eps_term = (f64::from(ln.eps) * (d as f64).powi(3) / (x.scale * x.scale)).round() as u64;
                let sqd = (d as f64).sqrt();
                let gain = ln.gamma.iter().map(|&gm| (f64::from(gm) * sqd / q.scale * 2f64.powi(GAIN_BITS as i32)).round() as i64).collect();
                let bias = ln.beta.iter().map(|&bt| (f64::from(bt) / q.scale * 2f64.powi((RECIP_BITS + GAIN_BITS) as i32)).round() as i128).collect();
                let p = LnParams { d, eps_term, gain, bias, out_lo: q.lo, out_hi: q.hi };
                b.p.ops.push(MachineOp::LayerNorm { src: x.buf, dst: q.buf, rows, p });
                q
            }
            Op::Gelu { .. } | Op::Relu | Op::Tanh | Op::Sigmoid => {
                let x = operand(&b, 0)?;
                if x.hi - x.lo > 4095 {
                    return Err(err(format!("a table over {} input codes is too large; quantize its input to 12 bits or fewer", x.hi - x.lo + 1)));
                }
                let q = b.value_buffer(id, b.bits_for(id));
                let f = |v: f32| -> f32 {
                    match &op {
                        Op::Gelu { tanh } => gelu(v, *tanh),
                        Op::Relu => v.max(0.0),
                        Op::Tanh => v.tanh(),
                        _ => (1.0 / (1.0 + (-f64::from(v)).exp())) as f32,
                    }
                };
                let table = (x.lo..=x.hi)
                    .map(|c| ((f64::from(f((c as f64 * x.scale) as f32)) / q.scale).round_ties_even() as i64).clamp(q.lo, q.hi))
                    .collect();
                b.p.ops.push(MachineOp::Lut { src: x.buf, dst: q.buf, len: g.ty(id).numel(), in_lo: x.lo, table });
                q
            }
            Op::Dialect(d) if d.downcast::<crate::attention::ir::MhaOp>().is_some() => {
                let Some(m) = d.downcast::<crate::attention::ir::MhaOp>() else { continue };
                let x = operand(&b, 0)?;
                let s = g.ty(id).shape[0];
                let [mq, mk, mv, mcat] = b.st.mha.get(&id).copied().unwrap_or([0.0; 4]);
                let ab = cfg.act_bits;
                let binary = matches!(m.qk, QkMode::Binary { .. });
                let (qo, ko) = if binary {
                    (LinearOut::Sign, LinearOut::Sign)
                } else {
                    (LinearOut::Codes { maxabs: mq, bits: ab }, LinearOut::Codes { maxabs: mk, bits: ab })
                };
                let qq = b.linear(&format!("{name}.q"), x, s, &m.q, qo)?;
                let kq = b.linear(&format!("{name}.k"), x, s, &m.k, ko)?;
                let vq = b.linear(&format!("{name}.v"), x, s, &m.v, LinearOut::Codes { maxabs: mv, bits: ab })?;
                let (alo, ahi) = srange(ab);
                let sa = scale_for(mcat, ahi);
                let cat = b.buffer(format!("{name}.heads"), s * m.heads * m.d_v, alo, ahi, sa);
                let p = 2f64.powi(cfg.prob_bits as i32);
                let mut heads = Vec::with_capacity(m.heads);
                for h in 0..m.heads {
                    let (mode, lut, index) = match m.qk.sigmas(h) {
                        Some((sq, sk)) => {
                            let tau = 2.0 * f64::from(m.scale) * f64::from(sq) * f64::from(sk);
                            (CoreMode::Had, (0..=m.d_k).map(|d| exp_entry(tau * d as f64, cfg.exp_bits)).collect(), None)
                        }
                        None => {
                            let idx = requant(qq.scale * kq.scale * f64::from(m.scale) * cfg.std_lut_steps, &name)?;
                            let lut = (0..cfg.std_lut_len).map(|i| exp_entry(i as f64 / cfg.std_lut_steps, cfg.exp_bits)).collect();
                            (CoreMode::Standard, lut, Some(idx))
                        }
                    };
                    let cp = CoreParams {
                        mode,
                        s,
                        d_k: m.d_k,
                        d_v: m.d_v,
                        select: m.select,
                        exp_bits: cfg.exp_bits,
                        prob_bits: cfg.prob_bits,
                        lut,
                        index,
                        out: requant(vq.scale / (p * sa), &name)?,
                        out_lo: alo,
                        out_hi: ahi,
                        v_lo: vq.lo,
                        v_hi: vq.hi,
                        qk_lo: qq.lo,
                        qk_hi: qq.hi,
                    };
                    cp.validate().map_err(|e| err(e.to_string()))?;
                    heads.push(cp);
                }
                b.p.ops.push(MachineOp::Attention(AttentionOp { q: qq.buf, k: kq.buf, v: vq.buf, dst: cat, heads }));
                let catq = Q { buf: cat, scale: sa, lo: alo, hi: ahi };
                let out = if b.is_output_only(id) {
                    LinearOut::Acc
                } else {
                    LinearOut::Codes { maxabs: b.st.maxabs.get(&id).copied().unwrap_or(0.0), bits: b.bits_for(id) }
                };
                b.linear(&format!("{name}.o"), catq, s, &m.o, out)?
            }
            other => {
                return Err(err(format!(
                    "`{}` has no integer mapping in the attention family (supported: gather, reshape, concat, matmul [+ bias], add, layer_norm, gelu, relu, tanh, sigmoid, mha)",
                    other.mnemonic()
                )))
            }
        };
        b.vals.insert(id, q);
    }
    let _ = output;
    if b.p.output.scale.is_empty() {
        return Err(AttnError::Structure("the output is not computed".into()));
    }
    Ok(b.p)
}
