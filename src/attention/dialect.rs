//! The attention family's hardware-level op: `attn.program`, the integer machine program the
//! `attn-quantize` pass builds from the model-level graph.
//!
//! The simulator (`AttentionCompiled::simulate`) and the RTL generator (`attention::rtl`) both
//! read the program from this node of the final graph, so nothing reaches the design around the
//! pass manager. Its reference semantics are the bit-exact simulator's: quantize the float
//! input on the host, run the machine operations, dequantize the output.

use super::program::{MachineOp, Program};
use super::quant::QuantConfig;
use super::sim::run;
use crate::ir::dialect::{expect_f32, f32_tensor, operand_f32, DialectOp};
use crate::ir::{Tensor, TensorType};
use std::sync::Arc;

/// The whole integer program of a transformer: buffers, the machine operations in execution
/// order (gather, linear, add, layer_norm, lut, attention), host-side input quantization and
/// output dequantization.
#[derive(Clone, Debug, PartialEq)]
pub struct ProgramOp {
    /// Shared: passes copy graphs, the program is built once.
    pub program: Arc<Program>,
    /// The number formats the program was built with (the pass's options).
    pub config: QuantConfig,
    /// Shape of the float result (the model output's).
    pub out_shape: Vec<usize>,
}

impl ProgramOp {
    /// Every buffer an operation names exists, and the output scales cover the output buffer.
    fn check_program(&self) -> Result<(), String> {
        let p = &*self.program;
        let n = p.buffers.len();
        let has = |b: super::program::BufId, what: &str| -> Result<(), String> {
            if b.0 < n {
                Ok(())
            } else {
                Err(format!("{what} names buffer {} of {n}", b.0))
            }
        };
        has(p.input.buf, "the input")?;
        has(p.output.buf, "the output")?;
        for (i, op) in p.ops.iter().enumerate() {
            has(op.dst(), &format!("op {i} ({})", op.kind()))?;
            let srcs: Vec<_> = match op {
                MachineOp::Gather { src, .. }
                | MachineOp::LayerNorm { src, .. }
                | MachineOp::Lut { src, .. } => vec![*src],
                MachineOp::Linear(l) => vec![l.src],
                MachineOp::Add(a) => match &a.b {
                    super::program::AddOperand::Buf(b, _) => vec![a.a, *b],
                    super::program::AddOperand::Const(_) => vec![a.a],
                },
                MachineOp::Attention(a) => vec![a.q, a.k, a.v],
            };
            for s in srcs {
                has(s, &format!("op {i} ({})", op.kind()))?;
            }
        }
        let out_len = p.buf(p.output.buf).len;
        if p.output.scale.len() != out_len {
            return Err(format!(
                "{} output scales for an output buffer of {out_len} codes",
                p.output.scale.len()
            ));
        }
        if self.out_shape.iter().product::<usize>() != out_len {
            return Err(format!(
                "result shape {:?} does not hold the {out_len} output codes",
                self.out_shape
            ));
        }
        Ok(())
    }
}

impl DialectOp for ProgramOp {
    fn name(&self) -> &'static str {
        "attn.program"
    }
    fn verify(&self) -> Result<(), String> {
        self.check_program()
    }
    fn infer_type(&self, operands: &[&TensorType]) -> Result<TensorType, String> {
        let x = expect_f32(operands[0], "input")?;
        let want = self.program.buf(self.program.input.buf).len;
        let have: usize = x.shape.iter().product();
        if have != want {
            return Err(format!("input {x} has {have} values, the program reads {want}"));
        }
        Ok(TensorType::f32(self.out_shape.clone()))
    }
    fn attributes(&self) -> Vec<(&'static str, String)> {
        let p = &*self.program;
        let c = &self.config;
        let kinds: Vec<&str> = p.ops.iter().map(MachineOp::kind).collect();
        let attention = p
            .ops
            .iter()
            .filter_map(|o| if let MachineOp::Attention(a) = o { Some(a) } else { None })
            .map(|a| {
                let h = &a.heads[0];
                format!("{:?} {}x(s={}, d_k={}, kept={})", h.mode, a.heads.len(), h.s, h.d_k, {
                    h.select.kept(h.s)
                })
                .to_lowercase()
            })
            .collect::<Vec<_>>();
        vec![
            ("act_bits", c.act_bits.to_string()),
            ("resid_bits", c.resid_bits.to_string()),
            ("prob_bits", c.prob_bits.to_string()),
            ("exp_bits", c.exp_bits.to_string()),
            ("std_lut", format!("{}x{:?}", c.std_lut_len, c.std_lut_steps)),
            ("buffers", p.buffers.len().to_string()),
            ("ops", format!("[{}]", kinds.join(", "))),
            ("attention", format!("[{}]", attention.join(", "))),
            ("input_scale", format!("{:?}", p.input.scale)),
        ]
    }
    fn eval(&self, a: &[&Tensor], ty: &TensorType) -> Result<Tensor, String> {
        let codes = self.program.quantize_input(operand_f32(a[0])?)?;
        let (out, _) = run(&self.program, &codes)?;
        Ok(f32_tensor(ty, self.program.dequantize(&out)))
    }
    crate::dialect_op_boilerplate!();
}
