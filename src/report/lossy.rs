//! Lossy steps: what a compiled design loses against the float model, measured on the data at
//! hand, so no accuracy loss is silent.
//!
//! Each family names its lossy steps (threshold merging, leaf rounding, activation clipping,
//! ADC saturation, quantization error); the commands print each as one `lossy:` line, record
//! them under `lossy` in report.json, and turn them into errors under `--deny-lossy` or the
//! accelerator setting `deny_lossy = true`.

use crate::diagnostics::Code;
use serde::{Serialize, Serializer};

/// One lossy step and its measured effect.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct LossyStep {
    /// The pass or block that loses information (`cam-quantize`, `crossbar-adc`, ...).
    pub step: &'static str,
    /// The stable code the step becomes under `--deny-lossy` (`tessera explain` prints it).
    #[serde(serialize_with = "code_str")]
    pub code: Code,
    /// The console sentence, without the `lossy: ` prefix.
    pub message: String,
    /// How many things the step changed (merged thresholds, clipped activations, saturated
    /// reads), when it counts any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub count: Option<u64>,
    /// Out of how many.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub of: Option<u64>,
    /// Largest absolute output error against the float model on the data at hand.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_error: Option<f64>,
}

fn code_str<S: Serializer>(c: &Code, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(c.as_str())
}

impl LossyStep {
    /// The console line.
    pub fn line(&self) -> String {
        format!("lossy: {} {}", self.step, self.message)
    }
}

/// The largest absolute difference between two equally long sequences of outputs (NaN in
/// either counts as infinitely far unless both are NaN).
pub fn max_abs_diff(ours: impl Iterator<Item = f64>, reference: impl Iterator<Item = f64>) -> f64 {
    ours.zip(reference)
        .map(|(a, b)| {
            if a.is_nan() && b.is_nan() {
                0.0
            } else if a.is_nan() || b.is_nan() {
                f64::INFINITY
            } else {
                (a - b).abs()
            }
        })
        .fold(0.0, f64::max)
}

/// `x` with three significant digits, for console sentences.
pub fn fmt_err(x: f64) -> String {
    if x == 0.0 {
        "0".into()
    } else if (1e-3..1e4).contains(&x.abs()) {
        format!("{}", (x * 1e3).round() / 1e3).trim_end_matches('0').to_string()
    } else {
        format!("{x:.2e}")
    }
}
