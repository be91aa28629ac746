//! `attn-recognize`: the attention family's patterns as a rewrite of the model-level graph.

use crate::attention::recognize::recognize;
use crate::ir::Graph;
use crate::passes::{Pass, PassContext, PassError};

/// Rewrites what the importer left as core ops into the family's model-level ops: each
/// multi-head self-attention block (projections, head split, scores, softmax, value product,
/// head merge, output projection) into one `attn.mha`, each decomposed LayerNorm into
/// `layer_norm`, each GELU written out (erf or tanh form) into `gelu`. Runs first in every
/// attention pipeline.
pub struct AttnRecognize;

impl Pass for AttnRecognize {
    fn name(&self) -> &'static str {
        "attn-recognize"
    }
    fn description(&self) -> &'static str {
        "Recognise multi-head self-attention, decomposed LayerNorm and GELU (erf or tanh form) in the imported core ops and rewrite each into one attn.mha, layer_norm or gelu node."
    }
    fn run(&self, graph: &Graph, _cx: &PassContext) -> Result<Graph, PassError> {
        recognize(graph).map_err(|r| {
            PassError::failed(self.name(), format!("node `{}`: {}", r.node, r.message))
        })
    }
}
