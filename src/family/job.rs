//! A job: one accelerator, its (single) mapping, the model it binds and the target instance.

use super::FlowError;
use crate::dsl::accel::{Accelerator, Instance, Mapping, ModelBinding};
use crate::passes::DumpPoint;
use ndarray::Array2;
use std::path::PathBuf;

/// Everything a family needs to compile one mapping.
#[derive(Clone, Debug)]
pub struct Job {
    pub accel: Accelerator,
    pub mapping: Mapping,
    /// The bound model, with `--model` already substituted.
    pub model: ModelBinding,
    /// The instance the model is mapped onto.
    pub target: Instance,
    /// Calibration / training data for passes that need it (threshold merging, activation
    /// ranges, binarization scales).
    pub calibration: Option<Array2<f32>>,
    /// Where to dump the IR (`--dump-ir`).
    pub dumps: Vec<DumpPoint>,
    /// Name of the emitted top module.
    pub top: String,
}

impl Job {
    /// Builds the job for `accel`: exactly one mapping is compiled per accelerator, so a
    /// description with several says which it means by splitting them into accelerators.
    pub fn new(accel: Accelerator, model_override: Option<PathBuf>) -> Result<Job, FlowError> {
        let mapping = match accel.mappings.as_slice() {
            [m] => m.clone(),
            [] => {
                return Err(FlowError::Description(format!(
                    "accelerator `{}` maps no model: add `map MODEL -> INSTANCE using PASS(...);`",
                    accel.name
                )))
            }
            ms => {
                return Err(FlowError::Description(format!(
                "accelerator `{}` has {} mappings; tessera compiles one mapping per accelerator, \
                     so put each in its own accelerator block",
                accel.name,
                ms.len()
            )))
            }
        };
        let mut model = accel.models.get(&mapping.model).cloned().ok_or_else(|| {
            FlowError::Description(format!(
                "accelerator `{}`: mapping uses model `{}`, which is not bound",
                accel.name, mapping.model
            ))
        })?;
        if let Some(p) = model_override {
            model.written = p.display().to_string();
            model.path = p;
        }
        let target = accel.instances.get(&mapping.target).cloned().ok_or_else(|| {
            FlowError::Description(format!(
                "accelerator `{}`: mapping targets `{}`, which is not an instance",
                accel.name, mapping.target
            ))
        })?;
        let top = match accel.settings.get("top").and_then(|v| v.as_str()) {
            Some(t) => t.to_string(),
            None => accel.name.clone(),
        };
        Ok(Job { accel, mapping, model, target, calibration: None, dumps: Vec::new(), top })
    }

    /// Whether the description refuses lossy steps (`deny_lossy = true;`, default false).
    pub fn deny_lossy(&self) -> bool {
        matches!(self.accel.settings.get("deny_lossy"), Some(crate::dsl::accel::Value::Bool(true)))
    }

    /// The clock frequency in Hz (`clock = 1 GHz;`, default 1 GHz).
    pub fn clock_hz(&self) -> f64 {
        self.accel
            .settings
            .get("clock")
            .and_then(|v| v.as_si(crate::units::Dim::FREQUENCY))
            .unwrap_or(1e9)
    }

    /// The directory holding the model file, where reference outputs are looked up.
    pub fn model_dir(&self) -> PathBuf {
        self.model.path.parent().map(PathBuf::from).unwrap_or_default()
    }
}
