//! `dce`: dead-code elimination.

use super::{Pass, PassContext, PassError};
use crate::ir::{Graph, Op};

/// Removes every node whose result reaches no output. Inputs stay even when unused: they are
/// the model's interface, and dropping one would shift the declaration order callers rely on.
pub struct Dce;

impl Pass for Dce {
    fn name(&self) -> &'static str {
        "dce"
    }
    fn aliases(&self) -> &'static [&'static str] {
        &["dead-code-elimination"]
    }
    fn description(&self) -> &'static str {
        "Remove nodes whose results reach no output (graph inputs are always kept)."
    }
    fn run(&self, graph: &Graph, _cx: &PassContext) -> Result<Graph, PassError> {
        let live = graph.live_nodes();
        let mut g = graph.clone();
        for id in graph.node_ids() {
            if !live.contains(&id) && !matches!(graph.op(id), Op::Input { .. }) {
                g.remove_node(id);
            }
        }
        Ok(g)
    }
}
