//! `cam.encode`: the input encoder, the first hardware node of a tiled CAM.
//!
//! Per feature, `code(x) = #{k : t_k <= x}` over the feature's sorted thresholds (the RTL's
//! binary search over a threshold ROM). The result is one `{nan, code}` word per feature, as the
//! RTL's flat feature vector holds it: the code in the low `code_bits` bits (0 for NaN), the NaN
//! flag in bit `code_bits`. The arrays read codes from it; nothing else of the input reaches them.

use crate::cam::quantize::{FeatureEncoder, QuantReport};
use crate::ir::dialect::{expect_f32, int_tensor, operand_f32, DialectOp};
use crate::ir::OpError;
use crate::ir::{NumFormat, Tensor, TensorType};
use std::sync::Arc;

/// `cam.encode`.
#[derive(Clone, Debug, PartialEq)]
pub struct CamEncode {
    /// Levels one cell stores: every feature's `u_f + 1` codes fit in them.
    pub levels: u32,
    /// One comparator table per feature, model feature order.
    pub encoders: Arc<[FeatureEncoder]>,
    /// What quantization cost (merged thresholds, measured loss): the report states it, and
    /// the encoder is where the merged tables live.
    pub report: Arc<QuantReport>,
}

impl CamEncode {
    /// Width of a code: codes run `0..=u_f` ([`code_bits_of`]).
    pub fn code_bits(&self) -> u32 {
        code_bits_of(&self.encoders)
    }

    /// The result format: `{nan, code}` as an unsigned integer of `code_bits + 1` bits.
    pub fn word_format(&self) -> NumFormat {
        NumFormat::uint(self.code_bits() + 1)
    }

    /// The encoder's word for one input value of feature `f`.
    pub fn word(&self, f: usize, x: f32) -> u32 {
        if x.is_nan() {
            1 << self.code_bits()
        } else {
            u32::from(self.encoders[f].code(x))
        }
    }
}

/// Bits to write `max u_f` in binary, at least 1: the one definition of the code width, which
/// the RTL's flat feature vector uses too.
pub fn code_bits_of(encoders: &[FeatureEncoder]) -> u32 {
    let max_u = encoders.iter().map(|e| e.thresholds.len()).max().unwrap_or(0);
    (usize::BITS - max_u.leading_zeros()).max(1)
}

/// Splits an encoder word of a `code_bits`-bit code into `(code, nan)`.
pub fn split_word(word: i64, code_bits: u32) -> (u16, bool) {
    let code = (word & ((1i64 << code_bits) - 1)) as u16;
    (code, (word >> code_bits) & 1 == 1)
}

impl DialectOp for CamEncode {
    fn name(&self) -> &'static str {
        "cam.encode"
    }
    fn verify(&self) -> Result<(), OpError> {
        if self.encoders.is_empty() {
            return Err(OpError::Attribute("an encoder for no features".into()));
        }
        for (f, e) in self.encoders.iter().enumerate() {
            let t = &e.thresholds;
            if let Some(k) = t.iter().position(|v| v.is_nan()) {
                return Err(OpError::Attribute(format!("feature {f}: threshold {k} is NaN")));
            }
            if let Some(k) = t.windows(2).position(|w| w[0] >= w[1]) {
                return Err(OpError::Attribute(format!(
                    "feature {f}: thresholds {k} and {} are not ascending",
                    k + 1
                )));
            }
            if t.len() as u64 >= u64::from(self.levels) {
                return Err(OpError::Attribute(format!(
                    "feature {f}: {} thresholds need {} codes, more than the {} levels",
                    t.len(),
                    t.len() + 1,
                    self.levels
                )));
            }
        }
        if self.code_bits() > 16 {
            return Err(OpError::Attribute(format!(
                "{}-bit codes exceed the 16 bits a cell bound holds",
                self.code_bits()
            )));
        }
        Ok(())
    }
    fn infer_type(&self, operands: &[&TensorType]) -> Result<TensorType, OpError> {
        let x = expect_f32(operands[0], "input")?;
        let n = self.encoders.len();
        if x.shape != [n] {
            return Err(OpError::Operand(format!("input {x} must be the model's {n} features")));
        }
        Ok(TensorType::new(vec![n], self.word_format()))
    }
    fn attributes(&self) -> Vec<(&'static str, String)> {
        let total: usize = self.encoders.iter().map(|e| e.thresholds.len()).sum();
        vec![
            ("features", self.encoders.len().to_string()),
            ("thresholds", format!("<{total} in {} tables>", self.encoders.len())),
            ("levels", self.levels.to_string()),
            ("lossless", self.report.lossless.to_string()),
        ]
    }
    fn eval(&self, a: &[&Tensor], ty: &TensorType) -> Result<Tensor, OpError> {
        let x = operand_f32(a[0])?;
        let words = x.iter().enumerate().map(|(f, v)| i128::from(self.word(f, *v))).collect();
        int_tensor(ty, words)
    }
    crate::dialect_op_boilerplate!();
}
