//! The crossbar family for the compile/simulate/verify flow: an ONNX MLP mapped with
//! `map m -> xbar using crossbar_tile(...)` onto an `rram_1t1r` instance.
//!
//! Pipeline ([`PIPELINE`]): `quantize` → `crossbar-tile` → `crossbar-program`, run by the pass
//! manager on the model-level graph the ONNX importer builds (core `matmul`, `add`, `relu`,
//! `quant`, ... ops; `quantize` recognises the dense-layer chain in it), verified after every
//! pass and dumpable with `--dump-ir`. The mapping's options are the union of the three passes' options (`tessera
//! passes` lists them); geometry, read-out and device figures default to the instance's
//! (`stdlib/crossbar.tess`). Activation ranges are calibrated on the job's calibration data or
//! `X_calib.npy` beside the model.
//!
//! The RTL is the digital twin of the programmed arrays
//! (`crate::crossbar::rtl`): the same integer conductance codes, ADC and shift-add as
//! the simulator, so `verify` compares bit for bit. Read noise (`c2c_sigma > 0`) is
//! simulator-only: the RTL is then the noise-free chip, and `verify` says it cannot compare.

use super::cost::{price, CrossbarParams};
use super::graph::Network;
use super::mlp::{extract_mlp, import_graph, layout};
use super::report::summarize;
use super::sim::{BatchRun, CrossbarNet, Events};
use crate::backend::verilog::bits::Bits;
use crate::backend::verilog::hex::pack_tensor;
use crate::dsl::accel::ModelFormat;
use crate::family::driver::{Lowered, Model};
use crate::family::error::finite_inputs;
use crate::family::{Compiled, Family, FlowError, HwDesign, Job, SimRun};
use crate::frontend::onnx::load_onnx;
use crate::ir::{Tensor, TensorType};
use crate::passes::IrDump;
use ndarray::{Array2, ArrayView2};
use std::sync::{Arc, Mutex};

/// The passes a `crossbar_tile` mapping runs, in order.
pub use super::passes::PIPELINE;

/// The family; registered in `crate::flow::families`.
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
    fn pipeline(&self) -> &'static [&'static dyn crate::passes::Pass] {
        PIPELINE
    }
    fn load(&self, job: &Job) -> Result<Model, FlowError> {
        if job.model.format != ModelFormat::Onnx {
            return Err(FlowError::Description(format!(
                "`{}` maps model `{}` ({}); crossbar mapping reads ONNX models",
                job.mapping.pass,
                job.model.name,
                job.model.format.name()
            )));
        }
        let mut model = load_onnx(&job.model.path)?;
        let imported = import_graph(&model).map_err(|e| FlowError::Model(e.to_string()))?;
        // The imported graph holds the weights now: the file's decoded copy goes (the
        // representable check reads only node names from it), so the weights are held once.
        model.constants.clear();
        // The chain is recognised here too (its layout, without copying the weights), so a
        // model outside the mapping is refused naming its file and node before any pass runs;
        // `quantize` recognises it again on the graph.
        let mlp = layout(&imported, &model.file).map_err(|e| FlowError::Model(e.to_string()))?;
        let calib = calibration(job)?;
        super::representable::check(&model, &imported, &mlp, &calib)?;
        Ok(Model::new(imported, Some(calib)))
    }
    /// A requantization overflow in `quantize` is E0102 on the layer's weight tensor (the
    /// model is read again to name it; this runs only on failure).
    fn explain(&self, job: &Job, e: crate::passes::PassError) -> FlowError {
        match load_onnx(&job.model.path).map(|m| (extract_mlp(&m), m)) {
            Ok((Ok(mlp), model)) => super::representable::explain(&model, &mlp, e),
            _ => e.into(),
        }
    }
    fn realize(&self, job: &Job, lowered: Lowered) -> Result<Box<dyn Compiled>, FlowError> {
        Ok(Box::new(realize(job, lowered)?))
    }
}

/// A compiled crossbar design.
pub struct CrossbarCompiled {
    /// The network the pipeline's final graph describes (read from its nodes).
    pub network: Network,
    /// The event-counting simulator's plan of the same nodes.
    pub net: CrossbarNet,
    pub params: CrossbarParams,
    pub dumps: Vec<IrDump>,
    pub top: String,
    /// Seed of the read-noise stream in simulation (the programming seed).
    pub seed: u64,
    /// The model-level graph the passes started from: the float reference the lossy steps
    /// are measured against ([`super::mlp::reference`]).
    pub model: Arc<crate::ir::Graph>,
    /// The last noise-free `simulate`'s per-row codes and accumulators: `compile` writes the
    /// test vectors from the rows it just simulated instead of simulating them again.
    last_run: Mutex<Option<NoiseFreeRun>>,
}

/// One noise-free simulation of data `x`: everything `lossy` and `vectors` need from it.
struct NoiseFreeRun {
    x: Array2<f32>,
    codes: Vec<Vec<i64>>,
    accumulators: Vec<Vec<i64>>,
    /// Column reads above the ADC full scale and all reads (counted in the same pass, so the
    /// lossy measurement on the same data does not simulate it again).
    saturated: (u64, u64),
}

/// The calibration samples: the job's, else `X_calib.npy` beside the model.
fn calibration(job: &Job) -> Result<Array2<f32>, FlowError> {
    if let Some(c) = &job.calibration {
        finite_inputs(c.view(), "crossbar")?;
        return Ok(c.clone());
    }
    let p = job.model_dir().join("X_calib.npy");
    // The frontend error names the file already.
    let c =
        crate::frontend::npy::read_features(&p).map(|f| f.data).map_err(|e| FlowError::Input {
            message: format!("{e}; crossbar quantization calibrates activation ranges on it"),
            code: e.code(),
        })?;
    finite_inputs(c.view(), "crossbar").map_err(|e| e.in_file(&p))?;
    Ok(c)
}

/// Builds the design for a job through the driver (for tools that want the concrete design).
pub fn compile_job(job: &Job) -> Result<CrossbarCompiled, FlowError> {
    realize(job, crate::family::driver::lower(&CROSSBAR_FAMILY, job)?)
}

/// The design the pipeline's final graph describes.
fn realize(job: &Job, result: Lowered) -> Result<CrossbarCompiled, FlowError> {
    let network = super::graph::read(&result.graph).map_err(|e| FlowError::Model(e.to_string()))?;
    let net = network.net().map_err(|e| FlowError::Model(e.to_string()))?;
    let params = CrossbarParams::from_instance(&job.target)
        .map_err(|e| FlowError::Description(e.to_string()))?;
    Ok(CrossbarCompiled {
        model: Arc::new(result.model),
        seed: net.dev.seed,
        network,
        net,
        params,
        dumps: result.dumps,
        top: job.top.clone(),
        last_run: Mutex::new(None),
    })
}

impl CrossbarCompiled {
    /// True when the chip computes the exact integer products (ideal cells, lossless ADC).
    pub fn is_exact(&self) -> bool {
        self.network.layers.iter().all(|l| l.stage.hw().is_some_and(|h| h.is_exact()))
    }
    fn rows(x: ArrayView2<f32>) -> Vec<Vec<f32>> {
        x.rows().into_iter().map(|r| r.to_vec()).collect()
    }
    /// Simulates `xs` as [`CrossbarNet::run_batch`] does without read noise (the same outputs
    /// and events: the noise stream is only drawn from when `c2c_sigma > 0`), keeping each
    /// row's codes and accumulators for `vectors`. Saturated reads are not counted here: a
    /// counting hook takes the kernel off its fused path, and `sim` throughput matters more.
    fn run_noise_free(&self, x: ArrayView2<f32>, xs: &[Vec<f32>]) -> BatchRun {
        let mut events = vec![Events::default(); self.net.maps.len()];
        let (mut codes, mut accumulators) = (Vec::new(), Vec::new());
        let mut exceeding = self.net.exceeding();
        // A few rows at a time: each layer's cells are read once per batch, not once per row.
        let outputs = xs
            .chunks(self.net.batch_rows())
            .flat_map(|rows| self.net.infer_batch(rows, &mut exceeding))
            .map(|inf| {
                for (t, e) in events.iter_mut().zip(inf.events) {
                    *t += e;
                }
                codes.push(inf.codes);
                accumulators.push(inf.accumulators);
                inf.output
            })
            .collect();
        let saturated = (exceeding.over, exceeding.total);
        let run = NoiseFreeRun { x: x.to_owned(), codes, accumulators, saturated };
        *self.last_run.lock().unwrap_or_else(|e| e.into_inner()) = Some(run);
        BatchRun { outputs, events, samples: xs.len() as u64 }
    }
    /// Runs `f` on the last noise-free run if it simulated exactly `x`.
    fn with_run<T>(&self, x: ArrayView2<f32>, f: impl FnOnce(&mut NoiseFreeRun) -> T) -> Option<T> {
        let mut guard = self.last_run.lock().unwrap_or_else(|e| e.into_inner());
        guard.as_mut().filter(|r| r.x.view() == x).map(f)
    }
}

impl Compiled for CrossbarCompiled {
    fn section_name(&self) -> &'static str {
        "crossbar"
    }
    fn ir_dumps(&self) -> &[IrDump] {
        &self.dumps
    }
    fn simulate(&self, x: ArrayView2<f32>) -> Result<SimRun, FlowError> {
        let n_in = self.net.q.input.scale.len();
        if x.ncols() != n_in {
            return Err(FlowError::Input {
                message: format!(
                    "the data have {} features per sample; the model takes {n_in}",
                    x.ncols()
                ),
                code: crate::diagnostics::Code::E0126,
            });
        }
        finite_inputs(x, "crossbar")?;
        let xs = Self::rows(x);
        let run = if self.net.dev.c2c_sigma > 0.0 {
            self.net.run_batch(&xs, self.seed)
        } else {
            self.run_noise_free(x, &xs)
        };
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
        Ok(SimRun { outputs, cost: cost.ledger.cost(), section, bound: None, no_bound: None })
    }
    fn lossy(
        &self,
        x: ArrayView2<f32>,
        run: &SimRun,
    ) -> Result<Vec<crate::report::LossyStep>, FlowError> {
        let rows = |a: ArrayView2<f32>| Self::rows(a);
        let (xs, ys) = (rows(x), rows(run.outputs.view()));
        let counted = self.with_run(x, |r| r.saturated);
        super::lossy::steps(&self.net, &self.model, &xs, &ys, self.is_exact(), counted)
            .map_err(|e| FlowError::Model(e.to_string()))
    }
    fn hardware(&self) -> Result<HwDesign, FlowError> {
        let d = super::rtl::lower(&self.network, &self.top)
            .map_err(|e| FlowError::Hardware(e.to_string()))?;
        Ok(d.into_hw_design())
    }
    fn vectors(&self, x: ArrayView2<f32>) -> Result<(Vec<Bits>, Vec<Bits>), FlowError> {
        if self.net.dev.c2c_sigma > 0.0 {
            return Err(FlowError::Hardware(format!(
                "read noise (c2c_sigma = {}) is simulated, not built: the RTL is the noise-free \
                 chip, so its outputs cannot be compared with the noisy simulation; set \
                 `c2c_sigma = 0` on the instance to verify the RTL",
                self.net.dev.c2c_sigma
            )));
        }
        finite_inputs(x, "crossbar")?;
        let in_ty = self.network.codes.clone();
        let out_ty =
            self.network.accumulators().map_err(|e| FlowError::Hardware(e.to_string()))?.clone();
        let pack = |ty: &TensorType, v: Vec<i64>| {
            Tensor::int(ty.shape.clone(), ty.format, v)
                .map_err(|e| FlowError::Hardware(e.to_string()))
                .and_then(|t| pack_tensor(&t).map_err(|e| FlowError::Hardware(e.to_string())))
        };
        let cached = self
            .with_run(x, |r| (std::mem::take(&mut r.codes), std::mem::take(&mut r.accumulators)));
        let (codes, accumulators) = match cached {
            Some((c, a)) if c.len() == x.nrows() => (c, a),
            _ => Self::rows(x)
                .iter()
                .map(|row| {
                    let inf = self.net.infer(row, None);
                    (inf.codes, inf.accumulators)
                })
                .unzip(),
        };
        let (mut ins, mut outs) = (Vec::new(), Vec::new());
        for (c, a) in codes.into_iter().zip(accumulators) {
            ins.push(pack(&in_ty, c)?);
            outs.push(pack(&out_ty, a)?);
        }
        Ok((ins, outs))
    }
    fn views(&self) -> Vec<(String, String)> {
        vec![("crossbar_tiles.svg".to_string(), super::svg::render(&self.net))]
    }
    /// A network ending in a softmax is a classifier; otherwise the ONNX file does not say.
    fn task(&self) -> crate::report::Task {
        match self.net.q.layers.last() {
            Some(l) if self.net.q.output.softmax => {
                crate::report::Task::Classifier { classes: l.n_out.max(2) }
            }
            _ => crate::report::Task::Unknown,
        }
    }
}
