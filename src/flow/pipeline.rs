//! Turning a `.tess` mapping into a pass pipeline: the mapping names a family's entry pass
//! (`cam_pack`) and carries the options of all the family's passes; each option goes to the
//! pass that declares it, so one mapping line configures the whole lowering.

use super::FlowError;
use crate::dsl::accel::{Mapping, Value};
use crate::passes::options::canonical;
use crate::passes::{lookup, Pass};
use std::collections::BTreeMap;

/// One pipeline step: a pass and the options it was given.
pub type Step = (&'static dyn Pass, BTreeMap<String, Value>);

/// The passes of `names` with the mapping's options distributed among them. An option no pass
/// declares is an error listing every option the pipeline accepts.
pub fn distribute(mapping: &Mapping, names: &[&str]) -> Result<Vec<Step>, FlowError> {
    let passes: Vec<&'static dyn Pass> = names
        .iter()
        .map(|n| {
            lookup(n).ok_or_else(|| FlowError::Description(format!("pass `{n}` is not registered")))
        })
        .collect::<Result<_, _>>()?;
    let mut out: Vec<Step> = passes.iter().map(|p| (*p, BTreeMap::new())).collect();
    for (key, value) in &mapping.options {
        let k = canonical(key);
        match out.iter_mut().find(|(p, _)| p.options().iter().any(|o| o.name == k)) {
            Some((_, opts)) => {
                opts.insert(k, value.clone());
            }
            None => {
                let all: Vec<&str> =
                    passes.iter().flat_map(|p| p.options().iter().map(|o| o.name)).collect();
                return Err(FlowError::Description(format!(
                    "mapping `{}` has no option `{key}`; its options are: {}",
                    mapping.pass,
                    all.join(", ")
                )));
            }
        }
    }
    Ok(out)
}

/// Every option the passes of `names` declare (for `.tess` checking and help text), once each:
/// an option several passes share (the attention passes' `layer`) is one mapping option, and
/// [`distribute`] hands it to each of them; the first pass's declaration describes it.
pub fn schema(names: &[&str]) -> Vec<&'static crate::passes::PassOption> {
    let mut out: Vec<&'static crate::passes::PassOption> = Vec::new();
    for o in names.iter().filter_map(|n| lookup(n)).flat_map(|p| p.options().iter()) {
        if !out.iter().any(|seen| seen.name == o.name) {
            out.push(o);
        }
    }
    out
}
