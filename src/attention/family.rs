//! The attention family for the compile/simulate/verify flow: a transformer exported to ONNX
//! mapped with `map vit -> cam using binarize(per_head = false, top_n = 6);` (or `sparsify(..)`
//! for standard int8 attention with top-N) onto instances of `stdlib/attention.tess`.
//!
//! Pipeline. A `binarize` mapping runs `binarize`, then `sparsify` when the mapping gives
//! `top_n`; a `sparsify` mapping runs `sparsify` alone (standard int8 scores, unless the model
//! was trained with HAD and carries `Sign` on Q and K, which the importer keeps). The mapping's
//! options are the union of the two passes' options. Calibration data (the job's, or
//! `X_calib.npy` beside the model) set sigma_Q/sigma_K and every activation scale.
//!
//! Costs come from the description's attention instances (any of `ba_cam`, `key_sram`, ...,
//! `int8_mac`), the CAMformer 45 nm defaults for the rest; the RTL is the whole-model
//! sequencer of `backend::verilog::attention::machine`, bit-exact with the simulator.

use super::design::AttnDesign;
use super::quant::QuantConfig;
use crate::backend::verilog::bits::Bits;
use crate::dsl::accel::ModelFormat;
use crate::flow::pipeline::distribute;
use crate::flow::{Compiled, Family, FlowError, HwDesign, Job, SimRun};
use crate::frontend::onnx::load_onnx;
use crate::passes::manager::IrDump;
use crate::passes::options::canonical;
use crate::passes::{PassEnv, PassManager};
use ndarray::ArrayView2;

/// Every pass an attention mapping may configure, in the order they run.
pub const PIPELINE: &[&str] = &["binarize", "sparsify"];

/// The family; listed in `crate::flow::families`.
pub struct AttentionFamily;

/// The attention family instance.
pub static ATTENTION_FAMILY: AttentionFamily = AttentionFamily;

impl Family for AttentionFamily {
    fn name(&self) -> &'static str {
        "binarized attention"
    }
    fn mapping_passes(&self) -> &'static [&'static str] {
        &["binarize", "sparsify"]
    }
    fn pipeline(&self) -> &'static [&'static str] {
        PIPELINE
    }
    fn compile(&self, job: &Job) -> Result<Box<dyn Compiled>, FlowError> {
        Ok(Box::new(compile_job(job)?))
    }
}

/// The passes a mapping runs: `binarize` maps run both passes (`sparsify` only with `top_n`),
/// `sparsify` maps run `sparsify`.
fn pass_names(job: &Job) -> Result<Vec<&'static str>, FlowError> {
    let entry = canonical(&job.mapping.pass);
    let has_top_n = job.mapping.options.keys().any(|k| canonical(k) == "top-n");
    match entry.as_str() {
        "binarize" if has_top_n => Ok(vec!["binarize", "sparsify"]),
        "binarize" => {
            // Options only sparsify declares would be lost without top_n: say so.
            let sparse_only = ["hierarchical", "tile", "per-tile"];
            if let Some(k) =
                job.mapping.options.keys().find(|k| sparse_only.contains(&canonical(k).as_str()))
            {
                return Err(FlowError::Description(format!(
                    "mapping `{}`: option `{k}` configures top-N selection, which needs `top_n`",
                    job.mapping.pass
                )));
            }
            Ok(vec!["binarize"])
        }
        "sparsify" => Ok(vec!["sparsify"]),
        other => Err(FlowError::Description(format!(
            "mapping pass `{other}` does not select the attention family"
        ))),
    }
}

/// Builds the design for a job.
pub fn compile_job(job: &Job) -> Result<AttentionCompiled, FlowError> {
    if job.model.format != ModelFormat::Onnx {
        return Err(FlowError::Description(format!(
            "`{}` maps model `{}` ({}); attention mapping reads ONNX models",
            job.mapping.pass,
            job.model.name,
            job.model.format.name()
        )));
    }
    let names = pass_names(job)?;
    let mut steps = distribute(&job.mapping, &names)?;
    // Both passes declare `layer`; `distribute` hands an option to the first pass declaring
    // it, but one mapping's `layer` means the same layer for binarization and selection.
    if let Some(layer) = steps.first().and_then(|(_, o)| o.get("layer").cloned()) {
        for (_, opts) in steps.iter_mut().skip(1) {
            opts.insert("layer".into(), layer.clone());
        }
    }
    let path = &job.model.path;
    let model = load_onnx(path).map_err(|e| FlowError::Model(e.to_string()))?;
    let graph = super::import::import(&model).map_err(|e| FlowError::Model(e.to_string()))?;
    let calib = job.calibration.as_ref().ok_or_else(|| FlowError::Data {
        path: job.model_dir().join("X_calib.npy").display().to_string(),
        message: "attention quantization needs calibration data (sample inputs): give --calib \
                  or put X_calib.npy beside the model"
            .into(),
    })?;
    let pm = PassManager::from_passes(steps)?.with_dumps(job.dumps.clone());
    let env = PassEnv { accelerator: Some(&job.accel), calibration: Some(calib) };
    let result = pm.run(&graph, env)?;
    let mut design = AttnDesign::from_graph(
        result.graph,
        Some(&job.accel),
        &QuantConfig::default(),
        calib,
        &job.top,
    )
    .map_err(|e| FlowError::Model(e.to_string()))?;
    design.units.clock_ghz = job.clock_hz() / 1e9;
    Ok(AttentionCompiled { design, dumps: result.dumps })
}

/// A compiled transformer.
pub struct AttentionCompiled {
    pub design: AttnDesign,
    pub dumps: Vec<IrDump>,
}

fn model_err(e: super::AttnError) -> FlowError {
    FlowError::Model(e.to_string())
}

impl Compiled for AttentionCompiled {
    fn section_name(&self) -> &'static str {
        "attention"
    }
    fn ir_dumps(&self) -> &[IrDump] {
        &self.dumps
    }
    fn simulate(&self, x: ArrayView2<f32>) -> Result<SimRun, FlowError> {
        let (outputs, ledger, section) = self.design.simulate(&x.to_owned()).map_err(model_err)?;
        Ok(SimRun { outputs, cost: ledger.cost(), section, bound: None })
    }
    fn hardware(&self) -> Result<HwDesign, FlowError> {
        let v = self.design.verilog().map_err(model_err)?;
        let latency = u32::try_from(v.latency).map_err(|_| {
            FlowError::Hardware(format!("latency of {} cycles does not fit 32 bits", v.latency))
        })?;
        Ok(HwDesign {
            top: v.top,
            modules: v.modules,
            in_width: v.in_width,
            out_width: v.out_width,
            latency,
            // One input at a time: the sequencer accepts the next after the output.
            interval: latency.saturating_add(1),
            files: v.data_files,
        })
    }
    fn vectors(&self, x: ArrayView2<f32>) -> Result<(Vec<Bits>, Vec<Bits>), FlowError> {
        self.design.test_vectors(&x.to_owned()).map_err(model_err)
    }
}
