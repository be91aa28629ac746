//! The family-independent compile/simulate/verify flow behind the CLI.
//!
//! A [`Job`] names one mapping of an accelerator description (`map m -> cam using cam_pack(..)`);
//! the mapping's pass decides the model [`Family`]. Each family turns the job into a
//! [`Compiled`] design that can be simulated bit-exactly, lowered to Verilog, and asked for
//! test vectors. The commands in `crate::commands` only orchestrate these calls and write files,
//! so a new family plugs in by implementing two traits and adding one line to [`families`].

pub mod error;
pub mod job;
pub mod pipeline;
pub mod trees;

pub use error::FlowError;
pub use job::Job;

use crate::backend::verilog::ast::Module;
use crate::backend::verilog::bits::Bits;
use crate::passes::manager::IrDump;
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
    /// What the user should know about how the model was read (e.g. trees dropped after early
    /// stopping), printed by the commands as notes.
    fn notes(&self) -> &[String] {
        &[]
    }
}

/// One model family: which mapping passes select it and how it compiles a job.
pub trait Family: Sync {
    fn name(&self) -> &'static str;
    /// The `.tess` mapping pass names (`cam_pack`) that select this family.
    fn mapping_passes(&self) -> &'static [&'static str];
    /// The registered passes a mapping runs, in order (empty while the family is not built).
    /// The mapping's options are the union of these passes' options.
    fn pipeline(&self) -> &'static [&'static str] {
        &[]
    }
    fn compile(&self, job: &Job) -> Result<Box<dyn Compiled>, FlowError>;
}

/// A family that is designed but not built yet: selecting it fails with a clear message.
struct NotBuilt {
    name: &'static str,
    passes: &'static [&'static str],
}

impl Family for NotBuilt {
    fn name(&self) -> &'static str {
        self.name
    }
    fn mapping_passes(&self) -> &'static [&'static str] {
        self.passes
    }
    fn compile(&self, job: &Job) -> Result<Box<dyn Compiled>, FlowError> {
        Err(FlowError::NotBuilt { family: self.name, pass: job.mapping.pass.clone() })
    }
}

static SPIKING: NotBuilt = NotBuilt { name: "spiking networks", passes: &["lif_fixpoint"] };

/// Every family, in the order their mapping passes are matched.
pub fn families() -> [&'static dyn Family; 4] {
    [
        &trees::TREES,
        &crate::crossbar::family::CROSSBAR_FAMILY,
        &crate::attention::family::ATTENTION_FAMILY,
        &SPIKING,
    ]
}

/// The family a mapping pass selects (`cam_pack` and `cam-pack` both select the tree family).
pub fn family_for(pass: &str) -> Option<&'static dyn Family> {
    let norm = pass.replace('-', "_");
    families().into_iter().find(|f| f.mapping_passes().contains(&norm.as_str()))
}
