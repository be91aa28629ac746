//! `report.json`, the terminal summary, and the HTML/SVG views.
//!
//! The report is the contract with users' scripts (design.md): it always has
//! `energy_pj_per_inference`, `latency_ns_per_inference`, `area_um2` and `breakdown`, and each
//! family adds its own section (`cam`, `crossbar`, `attention`, `snn`). Keys are ordered so the
//! file diffs cleanly between runs.

pub mod labels;
pub mod lossy;

pub use labels::{LabelScore, Scored, Task};
pub use lossy::LossyStep;

use crate::sim::cost::{Cost, Ledger};
use serde::Serialize;
use serde_json::{Map, Value};
use std::collections::BTreeMap;

/// Agreement of the simulator's outputs with the source framework's own predictions.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Agreement {
    /// The reference file compared against (relative to the model folder).
    pub reference: String,
    pub samples: usize,
    /// Fraction of samples whose predicted class (argmax, or sign for one output) agrees.
    pub argmax: f64,
    /// Largest absolute difference of any raw output.
    pub max_abs_error: f64,
    /// The bound the compiler guarantees for `max_abs_error`, when it states one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bound: Option<f64>,
    /// Why no bound is stated when a lossy step makes none hold (thresholds merged).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub no_bound: Option<String>,
}

/// One run's figures.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Report {
    pub accelerator: String,
    pub model: String,
    pub family: String,
    pub energy_pj_per_inference: f64,
    pub latency_ns_per_inference: f64,
    pub area_um2: f64,
    pub breakdown: BTreeMap<String, f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub accuracy: Option<f64>,
    /// Root-mean-square error against the labels, for regressors (labels that are not class
    /// indices of the outputs).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rmse: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub agreement: Option<Agreement>,
    /// Every lossy step with its measured effect (absent when the design loses nothing).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub lossy: Vec<LossyStep>,
    /// Family sections and extras (`cam`, `crossbar`, `synth`, ...), merged at top level.
    #[serde(flatten)]
    pub sections: Map<String, Value>,
}

impl Report {
    /// Starts a report from a priced ledger.
    pub fn from_ledger(accelerator: &str, model: &str, family: &str, ledger: &Ledger) -> Self {
        Self::from_cost(accelerator, model, family, &ledger.cost())
    }

    /// Starts a report from cost figures.
    pub fn from_cost(accelerator: &str, model: &str, family: &str, cost: &Cost) -> Self {
        Report {
            accelerator: accelerator.to_string(),
            model: model.to_string(),
            family: family.to_string(),
            energy_pj_per_inference: cost.energy_pj,
            latency_ns_per_inference: cost.latency_ns,
            area_um2: cost.area_um2,
            breakdown: cost.breakdown.clone(),
            ..Default::default()
        }
    }

    /// Adds a family section such as `cam`.
    pub fn section(&mut self, name: &str, value: impl Serialize) -> Result<(), serde_json::Error> {
        self.sections.insert(name.to_string(), serde_json::to_value(value)?);
        Ok(())
    }

    /// The report as written to report.json. A negative zero (an energy summed from no events
    /// times a negative-signed factor) is written as 0.0: `-0.0` reads as a bug to users.
    pub fn to_json_pretty(&self) -> String {
        serde_json::to_value(self)
            .map(|mut v| {
                positive_zeros(&mut v);
                v
            })
            .and_then(|v| serde_json::to_string_pretty(&v))
            .unwrap_or_else(|e| format!("{{\"error\": \"{e}\"}}"))
    }
}

/// Replaces every `-0.0` in `v` by `0.0`.
fn positive_zeros(v: &mut Value) {
    match v {
        Value::Number(n) if n.as_f64().is_some_and(|f| f == 0.0 && f.is_sign_negative()) => {
            *v = Value::from(0.0);
        }
        Value::Array(a) => a.iter_mut().for_each(positive_zeros),
        Value::Object(m) => m.values_mut().for_each(positive_zeros),
        _ => {}
    }
}

/// Classification agreement between two output matrices (rows = samples).
///
/// With one output column the class is the sign of the margin (`> 0`), as for binary
/// XGBoost margins; otherwise the argmax, ties going to the lowest index as numpy does.
pub fn compare_outputs(ours: &[Vec<f32>], reference: &[Vec<f32>]) -> (f64, f64) {
    let n = ours.len().min(reference.len());
    if n == 0 {
        return (0.0, 0.0);
    }
    let mut agree = 0usize;
    let mut max_err = 0.0f64;
    for (a, b) in ours.iter().zip(reference) {
        if predicted_class(a) == predicted_class(b) {
            agree += 1;
        }
        for (x, y) in a.iter().zip(b) {
            max_err = max_err.max((*x as f64 - *y as f64).abs());
        }
    }
    (agree as f64 / n as f64, max_err)
}

/// The class a row of raw outputs predicts (sign for one output, first argmax otherwise).
pub fn predicted_class(row: &[f32]) -> usize {
    if row.len() == 1 {
        return usize::from(row[0] > 0.0);
    }
    let mut best = 0usize;
    for (i, v) in row.iter().enumerate() {
        if *v > row[best] {
            best = i;
        }
    }
    best
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn report_has_contract_keys() {
        let mut l = Ledger::default();
        l.add("search", "cam.match_line", 2.0, 1.5);
        l.add_area("cam.array", 10.0);
        l.latency_ns = 4.0;
        let mut r = Report::from_ledger("a", "m", "trees", &l);
        r.section("cam", serde_json::json!({"rows": 3})).unwrap();
        let v: Value = serde_json::from_str(&r.to_json_pretty()).unwrap();
        assert_eq!(v["energy_pj_per_inference"], 3.0);
        assert_eq!(v["latency_ns_per_inference"], 4.0);
        assert_eq!(v["area_um2"], 10.0);
        assert_eq!(v["breakdown"]["cam.match_line"], 3.0);
        assert_eq!(v["cam"]["rows"], 3);
        assert!(v.get("accuracy").is_none());
    }

    #[test]
    fn classes_by_sign_and_argmax() {
        assert_eq!(predicted_class(&[0.3]), 1);
        assert_eq!(predicted_class(&[-0.3]), 0);
        assert_eq!(predicted_class(&[0.0]), 0);
        assert_eq!(predicted_class(&[0.1, 0.5, 0.5]), 1);
        let (agree, err) =
            compare_outputs(&[vec![0.1, 0.9], vec![0.8, 0.2]], &[vec![0.2, 0.7], vec![0.1, 0.9]]);
        assert_eq!(agree, 0.5);
        assert!((err - 0.7).abs() < 1e-6);
    }
}
