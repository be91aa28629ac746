//! The one driver behind the CLI: the registry of model families and of passes.
//!
//! A [`Job`] names one mapping of an accelerator description (`map m -> cam using cam_pack(..)`);
//! the mapping's pass selects the [`Family`] (registered in [`families`]), which compiles the
//! job through the pass manager into a [`Compiled`] design the commands simulate, lower to
//! Verilog and ask for test vectors. The interface lives in `crate::family`, below the
//! families; this module is above them and is the only place that names them all.

pub mod catalog;

pub use crate::family::{
    driver, error, job, pipeline, Compiled, Cost, Family, FlowError, HwDesign, Job, SimRun,
};
use crate::passes::Pass;
use driver::{Lowered, Model};

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
    fn load(&self, job: &Job) -> Result<Model, FlowError> {
        Err(FlowError::NotBuilt { family: self.name, pass: job.mapping.pass.clone() })
    }
    fn realize(&self, job: &Job, _: Lowered) -> Result<Box<dyn Compiled>, FlowError> {
        Err(FlowError::NotBuilt { family: self.name, pass: job.mapping.pass.clone() })
    }
}

static SPIKING: NotBuilt = NotBuilt { name: "spiking networks", passes: &["lif_fixpoint"] };

/// Every family, in the order their mapping passes are matched. Adding a family is one line
/// here (see docs/adding-a-family.md).
pub fn families() -> [&'static dyn Family; 4] {
    [
        &crate::cam::family::TREES,
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

/// Compiles a job with the family its mapping selects, through the one driver.
pub fn compile(job: &Job) -> Result<Box<dyn Compiled>, FlowError> {
    let family = family_for(&job.mapping.pass).ok_or_else(|| {
        FlowError::Description(format!("no family is selected by `{}`", job.mapping.pass))
    })?;
    driver::compile(family, job)
}

/// Every registered pass, in the order `tessera passes` lists them: the family-independent
/// passes of `crate::passes`, then each family's pipeline.
pub fn registry() -> Vec<&'static dyn Pass> {
    let mut out: Vec<&'static dyn Pass> = crate::passes::registry::CORE.to_vec();
    for f in families() {
        for &p in f.pipeline() {
            if !out.iter().any(|q| q.name() == p.name()) {
                out.push(p);
            }
        }
    }
    out
}
