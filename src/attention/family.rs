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
//! What `compile`/`verify` emit follows the mapping's `emit` option: `model` (the default) is
//! the whole-model sequencer; `unit` is the streaming one-head attention unit of attention layer
//! `unit_layer`, head `unit_head` (`attention::rtl::unit`), whose test vectors are
//! the Q/K/V codes that head receives in the bit-exact simulation of the whole model. The unit
//! is small enough for `compile --synth`, which compares HAD and standard attention block to
//! block; the whole model is not.
//!
//! Costs come from the description's attention instances (any of `ba_cam`, `key_sram`, ...,
//! `int8_mac`), the CAMformer 45 nm defaults for the rest; the RTL is the whole-model
//! sequencer of `attention::rtl::machine`, bit-exact with the simulator.

use super::cost::AttnUnits;
use super::design::AttnDesign;
use super::dialect::program_of;
use super::passes::quantize::AttnQuantize;
use super::passes::recognize::AttnRecognize;
use crate::backend::verilog::bits::Bits;
use crate::dsl::accel::ModelFormat;
use crate::dsl::accel::{Mapping, Value};
use crate::family::driver::{Lowered, Model};
use crate::family::{Compiled, Family, FlowError, HwDesign, Job, SimRun};
use crate::frontend::onnx::load_onnx;
use crate::passes::manager::IrDump;
use crate::passes::options::{canonical, check_value};
use crate::passes::{DefaultValue, OptionKind, PassOption};
use ndarray::ArrayView2;

/// Every pass an attention mapping may configure, in the order they run.
pub use super::passes::PIPELINE;

/// `emit = model | unit`: what the hardware and test vectors describe. A family-level option:
/// no pass reads it, the family does when it realizes the design.
pub const EMIT: PassOption = PassOption {
    name: "emit",
    kind: OptionKind::Symbol(&["model", "unit"]),
    default: DefaultValue::Symbol("model"),
    help: "hardware to emit: the whole model, or one attention head's streaming unit \
           (unit_layer, unit_head)",
};

/// `unit_layer`: the attention layer (0-based, graph order) whose unit `emit = unit` emits.
pub const UNIT_LAYER: PassOption = PassOption {
    name: "unit-layer",
    kind: OptionKind::Int { min: 0, max: 1 << 20 },
    default: DefaultValue::Int(0),
    help: "with emit = unit: the attention layer (0-based, in graph order)",
};

/// `unit_head`: the head of `unit_layer` whose unit `emit = unit` emits.
pub const UNIT_HEAD: PassOption = PassOption {
    name: "unit-head",
    kind: OptionKind::Int { min: 0, max: 1 << 20 },
    default: DefaultValue::Int(0),
    help: "with emit = unit: the head (0-based)",
};

/// The attention family's own mapping options (`tessera passes` lists them with the family).
pub static FAMILY_OPTIONS: &[PassOption] = &[EMIT, UNIT_LAYER, UNIT_HEAD];

/// What the compiled design's hardware and test vectors are.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Emit {
    /// The whole-model sequencer.
    Model,
    /// The streaming unit of one attention head.
    Unit { layer: usize, head: usize },
}

/// Reads `emit`, `unit_layer` and `unit_head` from a mapping (defaults: the whole model,
/// layer 0, head 0); unit options without `emit = unit` are an error rather than ignored.
pub fn emit_of(mapping: &Mapping) -> Result<Emit, FlowError> {
    let get = |opt: &PassOption| -> Result<Option<Value>, FlowError> {
        let Some((key, v)) = mapping.options.iter().find(|(k, _)| canonical(k) == opt.name) else {
            return Ok(None);
        };
        check_value(opt.kind, v).map_err(|e| {
            FlowError::Description(format!("mapping `{}`: option `{key}`: {e}", mapping.pass))
        })?;
        Ok(Some(v.clone()))
    };
    let index = |opt: &PassOption| -> Result<Option<usize>, FlowError> {
        Ok(get(opt)?.and_then(|v| match v {
            Value::Number(q) => Some(q.si as usize),
            _ => None,
        }))
    };
    let unit = matches!(get(&EMIT)?, Some(Value::Symbol(s) | Value::Str(s)) if s == "unit");
    let (layer, head) = (index(&UNIT_LAYER)?, index(&UNIT_HEAD)?);
    if unit {
        Ok(Emit::Unit { layer: layer.unwrap_or(0), head: head.unwrap_or(0) })
    } else if layer.is_some() || head.is_some() {
        Err(FlowError::Description(format!(
            "mapping `{}`: `unit_layer`/`unit_head` select the unit that `emit = unit` emits; \
             add `emit = unit`",
            mapping.pass
        )))
    } else {
        Ok(Emit::Model)
    }
}

/// The family; listed in `crate::family::families`.
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
    fn pipeline(&self) -> &'static [&'static dyn crate::passes::Pass] {
        PIPELINE
    }
    fn options(&self) -> &'static [PassOption] {
        FAMILY_OPTIONS
    }
    fn load(&self, job: &Job) -> Result<Model, FlowError> {
        if job.model.format != ModelFormat::Onnx {
            return Err(FlowError::Description(format!(
                "`{}` maps model `{}` ({}); attention mapping reads ONNX models",
                job.mapping.pass,
                job.model.name,
                job.model.format.name()
            )));
        }
        emit_of(&job.mapping)?;
        let model = load_onnx(&job.model.path)?;
        // The pipeline's `attn-recognize` rewrites the imported graph; the same rewrite here
        // refuses unmappable models before any pass runs and gives the parameter check the
        // graph whose nodes the passes calibrate.
        let graph = crate::frontend::onnx::import(&model)
            .map_err(|e| FlowError::Model(super::import::import_error(e).to_string()))?;
        let recognized = super::import::recognized(&model, &graph)
            .map_err(|e| FlowError::Model(e.to_string()))?;
        let calib = job.calibration.clone().ok_or_else(|| FlowError::Data {
            path: job.model_dir().join("X_calib.npy").display().to_string(),
            message: "attention quantization needs calibration data (sample inputs): give \
                      --calib or put X_calib.npy beside the model"
                .into(),
            code: crate::diagnostics::Code::E0120,
        })?;
        crate::family::error::finite_inputs(calib.view(), "attention")?;
        super::representable::check(&model, &recognized, &calib)?;
        Ok(Model::new(graph, Some(calib)))
    }
    /// `binarize` maps run both passes (`sparsify` only with `top_n`), `sparsify` maps run
    /// `sparsify`. Both passes declare `layer`: the driver hands it to each, so one mapping's
    /// `layer` means the same layer for binarization and selection.
    fn select(&self, job: &Job) -> Result<Vec<&'static dyn crate::passes::Pass>, FlowError> {
        pass_names(job)
    }
    fn realize(&self, job: &Job, lowered: Lowered) -> Result<Box<dyn Compiled>, FlowError> {
        Ok(Box::new(realize(job, lowered)?))
    }
}

/// The passes a mapping runs: `binarize` maps run both passes (`sparsify` only with `top_n`),
/// `sparsify` maps run `sparsify`; every mapping starts with `attn-recognize` and ends with
/// `attn-quantize`.
fn pass_names(job: &Job) -> Result<Vec<&'static dyn crate::passes::Pass>, FlowError> {
    let entry = canonical(&job.mapping.pass);
    let has_top_n = job.mapping.options.keys().any(|k| canonical(k) == "top-n");
    match entry.as_str() {
        "binarize" if has_top_n => Ok(PIPELINE.to_vec()),
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
            Ok(vec![&AttnRecognize, &super::passes::binarize::Binarize, &AttnQuantize])
        }
        "sparsify" => Ok(vec![&AttnRecognize, &super::passes::sparsify::Sparsify, &AttnQuantize]),
        other => Err(FlowError::Description(format!(
            "mapping pass `{other}` does not select the attention family"
        ))),
    }
}

/// The design the pipeline's final graph describes.
fn realize(job: &Job, result: Lowered) -> Result<AttentionCompiled, FlowError> {
    let emit = emit_of(&job.mapping)?;
    // The program is read back from the hardware nodes `attn-quantize` left in the final graph.
    let (program, _) = program_of(&result.graph).map_err(|e| FlowError::Model(e.to_string()))?;
    let program = std::sync::Arc::new(program);
    let units =
        AttnUnits::from_accelerator(&job.accel).map_err(|e| FlowError::Model(e.to_string()))?;
    let mut design = AttnDesign { program, units, top: job.top.clone() };
    design.units.clock_ghz = job.clock_hz() / 1e9;
    if let Emit::Unit { layer, head } = emit {
        // Fail at compile time, naming the options, when the model has no such head.
        design.core(layer, head).map_err(|e| {
            FlowError::Description(format!(
                "mapping `{}`: `unit_layer = {layer}`, `unit_head = {head}`: {e}",
                job.mapping.pass
            ))
        })?;
    }
    // The float model, the reference the lossy step is measured against.
    let reference = load_onnx(&job.model.path)?;
    Ok(AttentionCompiled { design, dumps: result.dumps, emit, reference })
}

/// A compiled transformer.
pub struct AttentionCompiled {
    pub design: AttnDesign,
    pub dumps: Vec<IrDump>,
    pub emit: Emit,
    pub reference: crate::frontend::onnx::OnnxModel,
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
        crate::family::error::finite_inputs(x, "attention")?;
        let (outputs, ledger, mut section) =
            self.design.simulate(&x.to_owned()).map_err(model_err)?;
        if let Emit::Unit { layer, head } = self.emit {
            // The report's figures are the whole model's; say which block the RTL is.
            let v = self.design.unit_verilog(layer, head).map_err(model_err)?;
            section["rtl_unit"] = serde_json::json!({
                "layer": layer, "head": head, "top": v.top, "latency_cycles": v.latency,
            });
        }
        Ok(SimRun { outputs, cost: ledger.cost(), section, bound: None, no_bound: None })
    }
    fn lossy(
        &self,
        x: ArrayView2<f32>,
        run: &SimRun,
    ) -> Result<Vec<crate::report::LossyStep>, FlowError> {
        super::lossy::steps(&self.reference, x, run.outputs.view())
            .map_err(|e| FlowError::Model(e.to_string()))
    }
    fn hardware(&self) -> Result<HwDesign, FlowError> {
        let v = match self.emit {
            Emit::Model => self.design.verilog(),
            Emit::Unit { layer, head } => self.design.unit_verilog(layer, head),
        }
        .map_err(model_err)?;
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
            streamed: Vec::new(),
        })
    }
    fn vectors(&self, x: ArrayView2<f32>) -> Result<(Vec<Bits>, Vec<Bits>), FlowError> {
        crate::family::error::finite_inputs(x, "attention")?;
        match self.emit {
            Emit::Model => self.design.test_vectors(&x.to_owned()),
            Emit::Unit { layer, head } => self.design.unit_test_vectors(layer, head, &x.to_owned()),
        }
        .map_err(model_err)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::units::Quantity;

    fn mapping(opts: &[(&str, Value)]) -> Mapping {
        Mapping {
            model: "vit".into(),
            target: "cam".into(),
            pass: "binarize".into(),
            options: opts.iter().map(|(k, v)| (k.to_string(), v.clone())).collect(),
        }
    }
    fn int(i: i64) -> Value {
        Value::Number(Quantity::scalar(i as f64))
    }

    #[test]
    fn emit_defaults_to_the_whole_model() {
        assert_eq!(emit_of(&mapping(&[("top_n", int(6))])).unwrap(), Emit::Model);
        let m = mapping(&[("emit", Value::Symbol("model".into()))]);
        assert_eq!(emit_of(&m).unwrap(), Emit::Model);
    }

    #[test]
    fn emit_unit_selects_layer_and_head() {
        let unit = Value::Symbol("unit".into());
        assert_eq!(
            emit_of(&mapping(&[("emit", unit.clone())])).unwrap(),
            Emit::Unit { layer: 0, head: 0 }
        );
        let m = mapping(&[("emit", unit), ("unit_layer", int(1)), ("unit-head", int(1))]);
        assert_eq!(emit_of(&m).unwrap(), Emit::Unit { layer: 1, head: 1 });
    }

    #[test]
    fn bad_emit_options_are_errors_naming_the_option() {
        let e = emit_of(&mapping(&[("emit", Value::Symbol("core".into()))])).unwrap_err();
        assert!(e.to_string().contains("option `emit`"), "{e}");
        assert!(e.to_string().contains("model, unit"), "{e}");
        let e = emit_of(&mapping(&[("unit_head", int(1))])).unwrap_err();
        assert!(e.to_string().contains("add `emit = unit`"), "{e}");
        let m = mapping(&[("emit", Value::Symbol("unit".into())), ("unit_layer", int(-1))]);
        let e = emit_of(&m).unwrap_err();
        assert!(e.to_string().contains("option `unit_layer`"), "{e}");
    }
}
