//! The bit-exact simulator of a [`Program`]: integer arithmetic identical to the RTL, plus the
//! events the cost model prices.

use super::core::{attend, CoreEvents, CoreMode};
use super::lnorm::layer_norm_row;
use super::program::{AddOperand, AttentionOp, GatherSrc, MachineOp, Post, Program};
use crate::attention::error::AttnError;
use serde::Serialize;

/// Events of one inference.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize)]
pub struct SimEvents {
    /// int8 multiply-accumulates of the linear layers (projections, MLP, head).
    pub linear_macs: u64,
    /// Elements normalised by LayerNorm.
    pub ln_elements: u64,
    /// Rows normalised (square root and reciprocal each).
    pub ln_rows: u64,
    /// Table look-ups of element-wise activations.
    pub lut_lookups: u64,
    /// Residual additions.
    pub adds: u64,
    /// Attention cores in HAD mode.
    pub had: CoreEvents,
    /// Attention cores in standard mode.
    pub standard: CoreEvents,
}

/// Runs the program on input codes and returns the output buffer's codes.
pub fn run(p: &Program, input: &[i64]) -> Result<(Vec<i64>, SimEvents), AttnError> {
    run_observed(p, input, &mut |_, _| {})
}

/// Q, K and V codes of head `h` of an attention op (`[s, d_k]`, `[s, d_k]`, `[s, d_v]`, row
/// major) cut from the buffers `mem`, which interleave the heads per token.
pub fn head_operands(a: &AttentionOp, mem: &[Vec<i64>], h: usize) -> [Vec<i64>; 3] {
    let heads = a.heads.len();
    let (s, dk, dv) = (a.heads[0].s, a.heads[0].d_k, a.heads[0].d_v);
    let cols = |buf: &[i64], d: usize| -> Vec<i64> {
        (0..s)
            .flat_map(|t| buf[t * heads * d + h * d..t * heads * d + (h + 1) * d].to_vec())
            .collect()
    };
    [cols(&mem[a.q.0], dk), cols(&mem[a.k.0], dk), cols(&mem[a.v.0], dv)]
}

/// [`run`], calling `observe(i, mem)` with every buffer's codes before op `i` executes (to
/// capture the operands of one op, e.g. the inputs of an attention head for its unit's test
/// vectors).
pub fn run_observed(
    p: &Program,
    input: &[i64],
    observe: &mut dyn FnMut(usize, &[Vec<i64>]),
) -> Result<(Vec<i64>, SimEvents), AttnError> {
    let mut mem: Vec<Vec<i64>> = p.buffers.iter().map(|b| vec![0; b.len]).collect();
    let ib = p.input.buf.0;
    if input.len() != mem[ib].len() {
        return Err(AttnError::Sim(format!(
            "{} input codes given, the program takes {}",
            input.len(),
            mem[ib].len()
        )));
    }
    mem[ib].copy_from_slice(input);
    let mut ev = SimEvents::default();
    for (i, op) in p.ops.iter().enumerate() {
        observe(i, &mem);
        let out = step(op, &mem, &mut ev)?;
        let dst = op.dst().0;
        let b = &p.buffers[dst];
        if let Some(bad) = out.iter().find(|&&v| v < b.lo || v > b.hi) {
            return Err(AttnError::Sim(format!(
                "{} produced {bad}, outside buffer `{}` [{}, {}]",
                op.kind(),
                b.name,
                b.lo,
                b.hi
            )));
        }
        mem[dst] = out;
    }
    Ok((mem[p.output.buf.0].clone(), ev))
}

/// Executes one machine operation on the buffers `mem` (its sources are read, its destination
/// is not) and returns the destination's codes, counting its events into `ev`. The simulator
/// runs it for every op of a program; an `attn.*` unit node's reference semantics is this
/// function on its operands.
pub fn step(op: &MachineOp, mem: &[Vec<i64>], ev: &mut SimEvents) -> Result<Vec<i64>, AttnError> {
    Ok(match op {
        MachineOp::Gather { src, map, .. } => map
            .iter()
            .map(|m| match *m {
                GatherSrc::Elem(i) => mem[src.0][i as usize],
                GatherSrc::Const(c) => c,
            })
            .collect(),
        MachineOp::Linear(l) => {
            let x = &mem[l.src.0];
            let mut y = Vec::with_capacity(l.rows * l.n);
            for r in 0..l.rows {
                for j in 0..l.n {
                    let mut acc = l.b[j];
                    for i in 0..l.k {
                        acc += x[r * l.k + i] * l.w[j * l.k + i];
                    }
                    y.push(match &l.post {
                        Post::Requant { rq, lo, hi } => rq[j].apply(acc).clamp(*lo, *hi),
                        Post::Sign => i64::from(acc >= 0),
                        Post::Acc => acc,
                    });
                }
            }
            ev.linear_macs += (l.rows * l.n * l.k) as u64;
            y
        }
        MachineOp::Add(a) => {
            let xa = &mem[a.a.0];
            ev.adds += a.len as u64;
            (0..a.len)
                .map(|i| {
                    let b = match &a.b {
                        AddOperand::Buf(b, rb) => rb.apply(mem[b.0][i]),
                        AddOperand::Const(c) => c[i],
                    };
                    (a.ra.apply(xa[i]) + b).clamp(a.lo, a.hi)
                })
                .collect()
        }
        MachineOp::LayerNorm { src, rows, p: lp, .. } => {
            let x = &mem[src.0];
            ev.ln_rows += *rows as u64;
            ev.ln_elements += (*rows * lp.d) as u64;
            (0..*rows).flat_map(|r| layer_norm_row(lp, &x[r * lp.d..(r + 1) * lp.d]).y).collect()
        }
        MachineOp::Lut { src, len, in_lo, table, .. } => {
            ev.lut_lookups += *len as u64;
            mem[src.0][..*len]
                .iter()
                .map(|&x| {
                    let i = x - in_lo;
                    usize::try_from(i).ok().and_then(|i| table.get(i).copied()).ok_or_else(|| {
                        AttnError::Sim(format!("code {x} is outside the activation table"))
                    })
                })
                .collect::<Result<_, _>>()?
        }
        MachineOp::Attention(a) => {
            let heads = a.heads.len();
            let (s, dv) = (a.heads[0].s, a.heads[0].d_v);
            let mut out = vec![0i64; s * heads * dv];
            for (h, cp) in a.heads.iter().enumerate() {
                let [q, k, v] = head_operands(a, mem, h);
                let (o, e) = attend(cp, &q, &k, &v);
                for t in 0..s {
                    out[t * heads * dv + h * dv..t * heads * dv + (h + 1) * dv]
                        .copy_from_slice(&o[t * dv..(t + 1) * dv]);
                }
                match cp.mode {
                    CoreMode::Had => ev.had += e,
                    CoreMode::Standard => ev.standard += e,
                }
            }
            out
        }
    })
}
