//! The family interface: what every model family implements and what it returns, below both
//! the families and the driver.
//!
//! A family (`crate::cam`, `crate::crossbar`, `crate::attention`) implements [`Family`]: which
//! `.tess` mapping passes select it, its pipeline of registered passes, and `compile`, which
//! runs that pipeline through the pass manager and wraps the final graph as a [`Compiled`]
//! design (simulate, hardware, vectors, views). The driver (`crate::flow`) holds the registry of
//! families and calls only this interface, so a family never names the driver and the driver
//! names a family only in its one registration line.

pub mod driver;
pub mod error;
pub mod job;
pub mod pipeline;

pub use error::FlowError;
pub use job::Job;

use crate::backend::verilog::ast::Module;
use crate::backend::verilog::bits::Bits;
use crate::passes::manager::IrDump;
use crate::passes::Pass;
pub use crate::sim::cost::Cost;
use ndarray::{Array2, ArrayView2};

/// What a simulation of a batch produced.
#[derive(Clone, Debug)]
pub struct SimRun {
    /// Outputs in the source framework's raw output space, `[n, outputs]`.
    pub outputs: Array2<f32>,
    /// Energy, latency and area per inference (means over the batch).
    pub cost: Cost,
    /// The family's report section (`cam`, `crossbar`, ...), already serialised.
    pub section: serde_json::Value,
    /// The bound the compiler guarantees on |output - framework output|, when it states one.
    pub bound: Option<f64>,
    /// Why no bound is stated, when a lossy step makes none hold.
    pub no_bound: Option<String>,
}

/// The RTL of a compiled design, ready to print.
#[derive(Clone, Debug)]
pub struct HwDesign {
    /// Name of the top module (it has the streaming interface of `backend::verilog::interface`).
    pub top: String,
    /// Every module, the top one included.
    pub modules: Vec<Module>,
    pub in_width: u32,
    pub out_width: u32,
    /// Cycles from accepting an input to its output, worst case.
    pub latency: u32,
    /// Cycles between accepted inputs, worst case.
    pub interval: u32,
    /// Extra files the design reads (memory initialisation), `(file name, contents)`.
    pub files: Vec<(String, String)>,
    /// Files too large to hold as text (a crossbar's conductance-code images grow with the
    /// weights), written straight to disk by [`HwDesign::write_files`].
    pub streamed: Vec<StreamedFile>,
}

/// Prints a streamed file's contents into a writer.
pub type FileWriter =
    std::sync::Arc<dyn Fn(&mut dyn std::io::Write) -> std::io::Result<()> + Send + Sync>;

/// A data file produced by a writer: the design keeps the compact data it is printed from,
/// never the printed text.
#[derive(Clone)]
pub struct StreamedFile {
    pub name: String,
    pub write: FileWriter,
}

impl std::fmt::Debug for StreamedFile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StreamedFile").field("name", &self.name).finish_non_exhaustive()
    }
}

impl HwDesign {
    /// Writes every data file the design reads (`files` and `streamed`) into `dir`.
    pub fn write_files(&self, dir: &std::path::Path) -> Result<(), FlowError> {
        let io = |path: std::path::PathBuf| {
            move |source| FlowError::Io { path: path.display().to_string(), source }
        };
        for (name, contents) in &self.files {
            let path = dir.join(name);
            std::fs::write(&path, contents).map_err(io(path))?;
        }
        for f in &self.streamed {
            let path = dir.join(&f.name);
            let write = || -> std::io::Result<()> {
                let mut out = std::io::BufWriter::new(std::fs::File::create(&path)?);
                (f.write)(&mut out)?;
                std::io::Write::flush(&mut out)
            };
            write().map_err(io(path.clone()))?;
        }
        Ok(())
    }
}

/// A design compiled for one mapping.
pub trait Compiled {
    /// The family's report section name (`cam`, `crossbar`, `attention`).
    fn section_name(&self) -> &'static str;
    /// IR dumps requested with `--dump-ir`.
    fn ir_dumps(&self) -> &[IrDump];
    /// Simulates a batch bit-exactly and counts events.
    fn simulate(&self, x: ArrayView2<f32>) -> Result<SimRun, FlowError>;
    /// The design's Verilog.
    fn hardware(&self) -> Result<HwDesign, FlowError>;
    /// Input and expected-output vectors for the testbench, from the simulator.
    fn vectors(&self, x: ArrayView2<f32>) -> Result<(Vec<Bits>, Vec<Bits>), FlowError>;
    /// Views for humans (`(file name, contents)`: SVG/HTML).
    fn views(&self) -> Vec<(String, String)> {
        Vec::new()
    }
    /// What the model predicts, so `--labels` are scored by the model's metric (accuracy for a
    /// classifier, whatever its labels look like). `Unknown` when the model format does not say.
    fn task(&self) -> crate::report::Task {
        crate::report::Task::Unknown
    }
    /// The design's lossy steps, measured on `x` whose simulated outputs are `run.outputs`
    /// (see `report::lossy`). Empty when the design computes the float model exactly (up to
    /// float32 rounding).
    fn lossy(
        &self,
        _x: ArrayView2<f32>,
        _run: &SimRun,
    ) -> Result<Vec<crate::report::LossyStep>, FlowError> {
        Ok(Vec::new())
    }
    /// What the user should know about how the model was read (e.g. trees dropped after early
    /// stopping), printed by the commands as notes.
    fn notes(&self) -> &[String] {
        &[]
    }
}

/// One model family: which mapping passes select it, how its model is loaded, which of its
/// passes a mapping runs, and how the final graph becomes a design. [`driver`] runs the steps
/// in between for every family alike.
pub trait Family: Sync {
    fn name(&self) -> &'static str;
    /// The `.tess` mapping pass names (`cam_pack`) that select this family.
    fn mapping_passes(&self) -> &'static [&'static str];
    /// The family's registered passes, in pipeline order (empty while the family is not built).
    /// `tessera passes` lists them; the mapping's options are the union of these passes'
    /// options and the family's own [`Family::options`].
    fn pipeline(&self) -> &'static [&'static dyn Pass] {
        &[]
    }
    /// Options a mapping carries that configure the family rather than a pass (the attention
    /// family's `emit`): the driver keeps them from the passes and checks their values.
    fn options(&self) -> &'static [crate::passes::PassOption] {
        &[]
    }
    /// The frontend step: the job's model as a model-level graph, with calibration data.
    fn load(&self, job: &Job) -> Result<driver::Model, FlowError>;
    /// The passes this job's mapping runs (by default the whole pipeline).
    fn select(&self, _job: &Job) -> Result<Vec<&'static dyn Pass>, FlowError> {
        Ok(self.pipeline().to_vec())
    }
    /// Wraps the final graph as a design.
    fn realize(&self, job: &Job, lowered: driver::Lowered) -> Result<Box<dyn Compiled>, FlowError>;
    /// The error the user sees for a failed pass. The default passes it on; a family that can
    /// trace a failure back to a model parameter names it (the crossbar family reports a
    /// requantization overflow as E0102 on the weight tensor).
    fn explain(&self, _job: &Job, e: crate::passes::PassError) -> FlowError {
        e.into()
    }
    /// Loads, lowers through the pass manager and realizes: [`driver::compile`].
    fn compile(&self, job: &Job) -> Result<Box<dyn Compiled>, FlowError>
    where
        Self: Sized,
    {
        driver::compile(self, job)
    }
}
