//! The crossbar family for the compile/simulate/verify flow: an ONNX MLP mapped with
//! `map m -> xbar using crossbar_tile(...)` onto an `rram_1t1r` instance.
//!
//! Geometry, read-out and device figures come from the instance (`stdlib/crossbar.tess`);
//! `crossbar_tile` options (`rows`, `cols`, `cell_bits`, `w_bits`, `a_bits`, `adc_bits`,
//! `cols_per_adc`, `signed = differential | offset`) override them. Quantization uses one scale
//! per layer for weights and hidden activations (one requantization multiplier per layer, which
//! the IR's `Requantize` and so the RTL need) and one per feature for the graph input.
//! Activation ranges are calibrated on the job's calibration data or `X_calib.npy` beside the
//! model.
//!
//! The RTL is the integer datapath of an *ideal* crossbar (lossless ADC, exactly programmed
//! cells), equal to the simulator there; for lossy ADCs or device nonidealities the digital
//! twin of the arrays is not built yet, and `hardware` says so instead of emitting RTL that
//! would disagree with the simulator.

use super::cost::{price, CrossbarParams};
use super::dataset::read_rows_f32;
use super::device::DeviceConfig;
use super::lower_ir::quantized_to_ir;
use super::mlp::extract_mlp;
use super::quant::{quantize, QuantConfig, ScaleGranularity};
use super::report::summarize;
use super::sim::CrossbarNet;
use super::tile::{FullScale, SignedEncoding, XbarConfig};
use crate::backend::verilog::bits::Bits;
use crate::backend::verilog::hex::pack_tensor;
use crate::backend::verilog::lower_int::{lower_int_graph, LowerConfig};
use crate::dsl::accel::{Instance, ModelFormat, Value};
use crate::flow::{Compiled, Family, FlowError, HwDesign, Job, SimRun};
use crate::frontend::onnx::load_onnx;
use crate::ir::{Graph, Tensor};
use crate::passes::manager::IrDump;
use ndarray::{Array2, ArrayView2};

/// The family; register it in `crate::flow::families`.
pub struct CrossbarFamily;

/// The crossbar family instance.
pub static CROSSBAR_FAMILY: CrossbarFamily = CrossbarFamily;

impl Family for CrossbarFamily {
    fn name(&self) -> &'static str {
        "neural networks on crossbars"
    }
    fn mapping_passes(&self) -> &'static [&'static str] {
        &["crossbar_tile"]
    }
    fn compile(&self, job: &Job) -> Result<Box<dyn Compiled>, FlowError> {
        Ok(Box::new(compile_job(job)?))
    }
}

/// A compiled crossbar design.
pub struct CrossbarCompiled {
    pub net: CrossbarNet,
    pub params: CrossbarParams,
    pub graph: Graph,
    pub top: String,
    /// Seed of the read-noise stream in simulation.
    pub seed: u64,
}

fn opt_count(job: &Job, name: &str, default: u64) -> Result<u64, FlowError> {
    match job.mapping.options.get(name) {
        None => Ok(default),
        Some(v) => v.as_count().ok_or_else(|| {
            FlowError::Description(format!(
                "mapping option `{name}` of `{}` must be a whole number",
                job.mapping.pass
            ))
        }),
    }
}

fn inst_or(inst: &Instance, name: &str, default: u64) -> Result<u64, FlowError> {
    match inst.params.get(name) {
        None => Ok(default),
        Some(_) => inst.count(name).map_err(FlowError::Description),
    }
}

/// Builds the design for a job.
pub fn compile_job(job: &Job) -> Result<CrossbarCompiled, FlowError> {
    if job.model.format != ModelFormat::Onnx {
        return Err(FlowError::Description(format!(
            "`{}` maps model `{}` ({}); crossbar mapping reads ONNX models",
            job.mapping.pass,
            job.model.name,
            job.model.format.name()
        )));
    }
    let inst = &job.target;
    let geo = |name: &str, default: u64| -> Result<u64, FlowError> {
        opt_count(job, name, inst_or(inst, name, default)?)
    };
    let encoding = match job.mapping.options.get("signed").and_then(Value::as_str) {
        None | Some("differential") => SignedEncoding::Differential,
        Some("offset") => SignedEncoding::Offset,
        Some(o) => {
            return Err(FlowError::Description(format!(
                "mapping option `signed = {o}`: expected differential or offset"
            )))
        }
    };
    let cfg = XbarConfig {
        rows: geo("rows", 128)? as usize,
        cols: geo("cols", 128)? as usize,
        cell_bits: geo("cell_bits", 1)? as u32,
        encoding,
        cols_per_adc: geo("cols_per_adc", 8)? as usize,
        adc_bits: geo("adc_bits", 8)? as u32,
        full_scale: FullScale::ArrayMax,
    };
    let seed = opt_count(job, "seed", 0)?;
    let mut dev = DeviceConfig::from_instance(inst, seed, 0).map_err(FlowError::Description)?;
    if !dev.programs_exactly() || dev.c2c_sigma > 0.0 {
        dev.frac_bits = 6;
    }
    let params = CrossbarParams::from_instance(inst).map_err(FlowError::Description)?;
    let quant = QuantConfig {
        w_bits: opt_count(job, "w_bits", 8)? as u32,
        a_bits: opt_count(job, "a_bits", 8)? as u32,
        weight_scale: ScaleGranularity::PerTensor,
        input_scale: ScaleGranularity::PerChannel,
        act_scale: ScaleGranularity::PerTensor,
        ..QuantConfig::default()
    };
    let path = &job.model.path;
    let model = load_onnx(path).map_err(|e| FlowError::Model(e.to_string()))?;
    let mlp = extract_mlp(&model).map_err(FlowError::Model)?;
    let calib: Vec<Vec<f32>> = match &job.calibration {
        Some(c) => c.rows().into_iter().map(|r| r.to_vec()).collect(),
        None => {
            let p = job.model_dir().join("X_calib.npy");
            read_rows_f32(&p).map_err(|message| FlowError::Data {
                path: p.display().to_string(),
                message: format!(
                    "{message}; crossbar quantization calibrates activation ranges on it"
                ),
            })?
        }
    };
    let q = quantize(&mlp, &calib, &quant).map_err(FlowError::Model)?;
    let graph = quantized_to_ir(&q).map_err(FlowError::Model)?;
    let net = CrossbarNet::build(&q, &cfg, &dev).map_err(FlowError::Model)?;
    Ok(CrossbarCompiled { net, params, graph, top: job.top.clone(), seed })
}

impl CrossbarCompiled {
    /// True when the simulated crossbar equals the integer datapath the RTL implements.
    /// Cells count as exactly programmed when every conductance code equals its level (a
    /// very large on/off ratio rounds the leakage away).
    pub fn is_ideal(&self) -> bool {
        let c = &self.net.cfg;
        let exact =
            self.net.maps.iter().zip(&self.net.programmed).all(|(m, p)| {
                m.levels.iter().zip(&p.g).all(|(l, g)| (*l as i64) << p.frac_bits == *g)
            });
        exact
            && self.net.dev.c2c_sigma == 0.0
            && c.full_scale == FullScale::ArrayMax
            && c.adc_bits >= c.lossless_adc_bits()
    }
    fn rows(x: ArrayView2<f32>) -> Vec<Vec<f32>> {
        x.rows().into_iter().map(|r| r.to_vec()).collect()
    }
}

impl Compiled for CrossbarCompiled {
    fn section_name(&self) -> &'static str {
        "crossbar"
    }
    fn ir_dumps(&self) -> &[IrDump] {
        &[]
    }
    fn simulate(&self, x: ArrayView2<f32>) -> Result<SimRun, FlowError> {
        let n_in = self.net.q.layers.first().map(|l| l.n_in).unwrap_or(0);
        if x.ncols() != n_in {
            return Err(FlowError::Model(format!(
                "the data have {} features per sample; the model takes {n_in}",
                x.ncols()
            )));
        }
        let run = self.net.run_batch(&Self::rows(x), self.seed);
        let cost = price(
            &self.net.layer_names(),
            &run.events,
            run.samples,
            &self.net.tile_stats(),
            &self.net.cfg,
            &self.params,
        );
        let width = run.outputs.first().map(Vec::len).unwrap_or(0);
        let flat: Vec<f32> = run.outputs.iter().flatten().copied().collect();
        let outputs = Array2::from_shape_vec((run.outputs.len(), width), flat)
            .map_err(|e| FlowError::Model(e.to_string()))?;
        let section = serde_json::to_value(summarize(&self.net, &run, &cost))
            .map_err(|e| FlowError::Model(e.to_string()))?;
        Ok(SimRun { outputs, cost: cost.ledger.cost(), section, bound: None })
    }
    fn hardware(&self) -> Result<HwDesign, FlowError> {
        if !self.is_ideal() {
            return Err(FlowError::Hardware(format!(
                "the RTL digital twin of lossy ADCs and varied cells is not built yet: RTL is \
                 emitted for ideal crossbars (adc_bits >= {} for {} rows of {}-bit cells, no \
                 device nonidealities)",
                self.net.cfg.lossless_adc_bits(),
                self.net.cfg.rows,
                self.net.cfg.cell_bits
            )));
        }
        let d = lower_int_graph(&self.graph, &LowerConfig { top: self.top.clone() })
            .map_err(|e| FlowError::Hardware(e.to_string()))?;
        Ok(HwDesign {
            top: self.top.clone(),
            modules: vec![d.module],
            in_width: d.in_width,
            out_width: d.out_width,
            latency: d.latency,
            interval: 1,
            files: Vec::new(),
        })
    }
    fn vectors(&self, x: ArrayView2<f32>) -> Result<(Vec<Bits>, Vec<Bits>), FlowError> {
        let in_ty = self.graph.ty(self.graph.inputs()[0]).clone();
        let out_ty = self.graph.ty(self.graph.outputs()[0]).clone();
        let mut rng = super::device::stream(self.seed, 2, 0);
        let (mut ins, mut outs) = (Vec::new(), Vec::new());
        for row in Self::rows(x) {
            let inf = self.net.infer(&row, Some(&mut rng));
            let pack = |ty: &crate::ir::TensorType, v: Vec<i64>| {
                Tensor::int(ty.shape.clone(), ty.format, v)
                    .and_then(|t| pack_tensor(&t))
                    .map_err(FlowError::Hardware)
            };
            ins.push(pack(&in_ty, inf.codes)?);
            outs.push(pack(&out_ty, inf.accumulators)?);
        }
        Ok((ins, outs))
    }
}
