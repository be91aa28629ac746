//! The one driver every family runs through: load the model into its model-level graph, pick
//! the pipeline the mapping asks for, give each pass its options, run the pass manager
//! (verifying after every pass, dumping where asked), and hand the final graph to the family to
//! realize. No family lowers a model any other way, so `sim`, `compile` and `verify` all see
//! the graph the passes produced.

use super::pipeline::distribute;
use super::{Compiled, Family, FlowError, Job};
use crate::dsl::accel::Mapping;
use crate::ir::Graph;
use crate::passes::options::canonical;
use crate::passes::{IrDump, PassEnv, PassManager};
use crate::report::Task;
use ndarray::Array2;

/// What a family's frontend step produces.
pub struct Model {
    /// The model-level graph the passes start from.
    pub graph: Graph,
    /// Calibration or training samples the passes may read (threshold merging, activation
    /// ranges, binarization scales), when the family has any.
    pub calibration: Option<Array2<f32>>,
    /// What the model predicts, when its format says (scores `--labels`).
    pub task: Task,
    /// What the user should know about how the model was read (printed as notes).
    pub notes: Vec<String>,
}

impl Model {
    /// A model whose format states no task and reading which needed no note.
    pub fn new(graph: Graph, calibration: Option<Array2<f32>>) -> Model {
        Model { graph, calibration, task: Task::Unknown, notes: Vec::new() }
    }
}

/// The pipeline's result, handed to [`Family::realize`].
pub struct Lowered {
    /// The final (hardware-level) graph.
    pub graph: Graph,
    /// The model-level graph the passes started from (held while they ran): the float model,
    /// for a family's reference, without reading the model file again.
    pub model: Graph,
    /// The `--dump-ir` dumps recorded on the way.
    pub dumps: Vec<IrDump>,
    pub calibration: Option<Array2<f32>>,
    pub task: Task,
    pub notes: Vec<String>,
}

/// Loads `job`'s model with `family` and runs the mapping's pipeline on it.
pub fn lower(family: &dyn Family, job: &Job) -> Result<Lowered, FlowError> {
    lower_model(family, job, family.load(job)?)
}

/// Runs the mapping's pipeline on an already loaded model: every step of [`lower`] after the
/// frontend.
pub fn lower_model(family: &dyn Family, job: &Job, model: Model) -> Result<Lowered, FlowError> {
    let passes = family.select(job)?;
    let steps = distribute(&pass_options(family, &job.mapping)?, &passes)?;
    let pm = PassManager::from_passes(steps)?.with_dumps(job.dumps.clone());
    let env = PassEnv { accelerator: Some(&job.accel), calibration: model.calibration.as_ref() };
    let result = pm.run(&model.graph, env).map_err(|e| family.explain(job, e))?;
    Ok(Lowered {
        graph: result.graph,
        model: model.graph,
        dumps: result.dumps,
        calibration: model.calibration,
        task: model.task,
        notes: model.notes,
    })
}

/// Lowers `job` and realizes the design.
pub fn compile(family: &dyn Family, job: &Job) -> Result<Box<dyn Compiled>, FlowError> {
    let lowered = lower(family, job)?;
    family.realize(job, lowered)
}

/// The mapping without the family-level options (checked here against their declared kinds):
/// what remains configures the passes.
fn pass_options(family: &dyn Family, mapping: &Mapping) -> Result<Mapping, FlowError> {
    let mut out = mapping.clone();
    out.options.retain(|k, _| !family.options().iter().any(|o| o.name == canonical(k)));
    for (k, v) in &mapping.options {
        let key = canonical(k);
        if let Some(o) = family.options().iter().find(|o| o.name == key) {
            crate::passes::options::check_value(o.kind, v).map_err(|message| {
                FlowError::Description(format!(
                    "mapping `{}`, option `{k}`: {message}",
                    mapping.pass
                ))
            })?;
        }
    }
    Ok(out)
}
