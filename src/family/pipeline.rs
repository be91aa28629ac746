//! Turning a `.tess` mapping into a pass pipeline: the mapping selects a family and carries the
//! options of all the family's passes; each option goes to every pass that declares it, so one
//! mapping line configures the whole lowering.

use super::FlowError;
use crate::dsl::accel::{Mapping, Value};
use crate::passes::options::canonical;
use crate::passes::Pass;
use std::collections::BTreeMap;

/// One pipeline step: a pass and the options it was given.
pub type Step = (&'static dyn Pass, BTreeMap<String, Value>);

/// The passes of `pipeline` with the mapping's options distributed among them: an option goes
/// to every pass that declares it (the attention passes share `layer`). An option no pass
/// declares is an error listing every option the pipeline accepts.
pub fn distribute(
    mapping: &Mapping,
    pipeline: &[&'static dyn Pass],
) -> Result<Vec<Step>, FlowError> {
    let mut out: Vec<Step> = pipeline.iter().map(|p| (*p, BTreeMap::new())).collect();
    for (key, value) in &mapping.options {
        let k = canonical(key);
        let mut taken = false;
        for (p, opts) in out.iter_mut() {
            if p.options().iter().any(|o| o.name == k) {
                opts.insert(k.clone(), value.clone());
                taken = true;
            }
        }
        if !taken {
            let all: Vec<&str> = schema(pipeline).iter().map(|o| o.name).collect();
            return Err(FlowError::Description(format!(
                "mapping `{}` has no option `{key}`; its options are: {}",
                mapping.pass,
                all.join(", ")
            )));
        }
    }
    Ok(out)
}

/// Every option the passes of `pipeline` declare (for `.tess` checking and help text), once
/// each: an option several passes share is one mapping option, and [`distribute`] hands it to
/// each of them; the first pass's declaration describes it.
pub fn schema(pipeline: &[&'static dyn Pass]) -> Vec<&'static crate::passes::PassOption> {
    let mut out: Vec<&'static crate::passes::PassOption> = Vec::new();
    for o in pipeline.iter().flat_map(|p| p.options().iter()) {
        if !out.iter().any(|seen| seen.name == o.name) {
            out.push(o);
        }
    }
    out
}
