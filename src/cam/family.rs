//! The tree-ensemble family: XGBoost / LightGBM / Treelite models on analog CAM
//! (MonoSparse-CAM). Pipeline: `cam-pack` → `cam-quantize` → `cam-tile`.

use crate::backend::verilog::bits::Bits;
use crate::cam::energy::CamPhysics;
use crate::cam::CamDesign;
use crate::dsl::accel::ModelFormat;
use crate::family::driver::{Lowered, Model};
use crate::family::{Compiled, Family, FlowError, HwDesign, Job, SimRun};
use crate::frontend::load_tree_model_noted;
use crate::frontend::tree_ops::Ensemble;
use crate::ir::{Graph, Op, TensorType};
use crate::passes::IrDump;
use crate::report::{LossyStep, Task};
use crate::sim::cost::Cost;
use ndarray::ArrayView2;
use std::sync::Arc;

pub struct Trees;

pub static TREES: Trees = Trees;

impl Family for Trees {
    fn name(&self) -> &'static str {
        "tree ensembles on analog CAM"
    }
    fn mapping_passes(&self) -> &'static [&'static str] {
        &["cam_pack"]
    }
    fn pipeline(&self) -> &'static [&'static dyn crate::passes::Pass] {
        super::passes::PIPELINE
    }
    fn load(&self, job: &Job) -> Result<Model, FlowError> {
        let format = job.model.format;
        if !matches!(format, ModelFormat::Xgboost | ModelFormat::Lightgbm | ModelFormat::Treelite) {
            return Err(FlowError::Description(format!(
                "model `{}` is bound with {}(...), but `{}` maps tree ensembles: bind it with \
                 xgboost(...), lightgbm(...) or treelite(...)",
                job.model.name,
                format.name(),
                job.mapping.pass
            )));
        }
        let (ensemble, notes) = load_tree_model_noted(format, &job.model.path)?;
        let task = if ensemble.is_classifier() {
            Task::Classifier { classes: ensemble.num_outputs.max(2) }
        } else {
            Task::Regressor
        };
        Ok(Model {
            graph: model_graph(ensemble)?,
            calibration: job.calibration.clone(),
            task,
            notes,
        })
    }
    fn realize(&self, job: &Job, result: Lowered) -> Result<Box<dyn Compiled>, FlowError> {
        let design = realized_design(job, &result)?;
        // The float model, the reference the lossy steps are measured against.
        let (reference, _) = load_tree_model_noted(job.model.format, &job.model.path)?;
        Ok(Box::new(TreesCompiled {
            design,
            reference,
            dumps: result.dumps,
            top: job.top.clone(),
            task: result.task,
            notes: result.notes,
        }))
    }
}

/// The design the final graph describes, on the job's cell: what [`Trees::realize`] simulates
/// and lowers to RTL (read from the graph's nodes by [`crate::cam::hardware::design`]).
pub fn realized_design(job: &Job, lowered: &Lowered) -> Result<CamDesign, FlowError> {
    let model = |e: crate::cam::CamError| FlowError::Model(e.to_string());
    let physics = CamPhysics::from_instance(&job.target).map_err(model)?;
    let train = lowered.calibration.as_ref().map(|c| c.view());
    crate::cam::hardware::design(&lowered.graph, physics, train).map_err(model)
}

/// `x: [features] f32 -> trees.ensemble -> margin: [outputs] f32`: the model-level graph the
/// tree frontends' ensembles start from.
pub fn model_graph(e: crate::frontend::trees::TreeEnsemble) -> Result<Graph, FlowError> {
    let mut g = Graph::new();
    let bad = |err: crate::ir::graph::GraphError| FlowError::Model(format!("tree ensemble: {err}"));
    let x = g.add_input("x", TensorType::f32(vec![e.num_features])).map_err(bad)?;
    let m = g.add(Op::dialect_op(Ensemble(Arc::new(e))), &[x]).map_err(bad)?;
    g.add_output("margin", m).map_err(bad)?;
    Ok(g)
}

struct TreesCompiled {
    design: CamDesign,
    reference: crate::frontend::trees::TreeEnsemble,
    dumps: Vec<IrDump>,
    top: String,
    task: Task,
    notes: Vec<String>,
}

/// Errors of running the CAM on data: a sample width that does not fit is a data error (E0126),
/// anything else a mapping error.
fn input_err(e: crate::cam::CamError) -> FlowError {
    match e {
        crate::cam::CamError::SampleWidth { .. } => {
            FlowError::Input { message: e.to_string(), code: crate::diagnostics::Code::E0126 }
        }
        other => FlowError::Model(other.to_string()),
    }
}

impl Compiled for TreesCompiled {
    fn section_name(&self) -> &'static str {
        "cam"
    }
    fn ir_dumps(&self) -> &[IrDump] {
        &self.dumps
    }
    fn simulate(&self, x: ArrayView2<f32>) -> Result<SimRun, FlowError> {
        let ev = crate::cam::evaluate(&self.design, x).map_err(input_err)?;
        let r = &ev.report;
        let order = self.design.order;
        let cost = Cost {
            energy_pj: *r.energy_pj.get(order),
            latency_ns: r.latency_ns,
            area_um2: r.area_um2,
            breakdown: r.breakdown.clone(),
        };
        let q = &self.design.quantized;
        let bound = crate::cam::lossy::stated_bound(q);
        let no_bound = bound.is_none().then(|| crate::cam::lossy::NO_BOUND_MERGED.to_string());
        let section = serde_json::to_value(r).map_err(|e| FlowError::Model(e.to_string()))?;
        Ok(SimRun { outputs: ev.margins, cost, section, bound, no_bound })
    }
    fn lossy(&self, x: ArrayView2<f32>, run: &SimRun) -> Result<Vec<LossyStep>, FlowError> {
        let err = crate::cam::lossy::max_margin_error(&self.reference, x, run.outputs.view());
        Ok(crate::cam::lossy::steps(&self.design.quantized, err))
    }
    fn hardware(&self) -> Result<HwDesign, FlowError> {
        crate::cam::rtl::lower(&self.design, &self.top)
            .map_err(|e| FlowError::Hardware(e.to_string()))
    }
    fn vectors(&self, x: ArrayView2<f32>) -> Result<(Vec<Bits>, Vec<Bits>), FlowError> {
        crate::cam::rtl::vectors(&self.design, x).map_err(input_err)
    }
    fn task(&self) -> Task {
        self.task
    }
    fn notes(&self) -> &[String] {
        &self.notes
    }
    fn views(&self) -> Vec<(String, String)> {
        let d = &self.design;
        let svg = crate::cam::svg::render(&[&d.tiled.raw, &d.tiled.reorder, &d.tiled.monosparse]);
        vec![("cam_tiles.svg".to_string(), svg)]
    }
}
