//! `cam-pack`: tree ensemble → CAM rows (X-TIME layout, MonoSparse-CAM §2 of papers.md).

use crate::cam::dialect::CamRows;
use crate::cam::pack::pack;
use crate::frontend::tree_ops::Ensemble;
use crate::ir::{Graph, Op};
use crate::passes::rewrite::{require_dialect, rewrite_dialect};
use crate::passes::{Pass, PassContext, PassError};
use std::sync::Arc;

/// Turns every root-to-leaf path into one CAM row. Kept separate from quantization so the
/// float ranges can be dumped and checked against the traversal before any rounding happens.
pub struct CamPack;

impl Pass for CamPack {
    fn name(&self) -> &'static str {
        "cam-pack"
    }
    fn description(&self) -> &'static str {
        "Turn every root-to-leaf path of a tree ensemble into a CAM row of half-open float32 \
         ranges [lo, hi) with don't-care cells; `<` and `<=` splits and missing-value directions \
         are kept exactly."
    }
    fn preconditions(&self, g: &Graph) -> Result<(), crate::passes::Unmet> {
        require_dialect::<Ensemble>(g, "tree ensemble", "a tree frontend")
    }
    fn run(&self, g: &Graph, _cx: &PassContext) -> Result<Graph, PassError> {
        rewrite_dialect::<Ensemble>(self.name(), g, |Ensemble(e)| {
            let rows = pack(e).map_err(|err| PassError::failed(self.name(), err.to_string()))?;
            Ok(Op::dialect_op(CamRows(Arc::new(rows))))
        })
    }
}
