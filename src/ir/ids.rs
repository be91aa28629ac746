//! Typed node ids.
//!
//! A [`NodeId`] wraps petgraph's `NodeIndex` of the [`StableGraph`](petgraph::stable_graph::StableGraph)
//! behind [`crate::ir::Graph`], so that ids of removed nodes are never reused by accident and
//! code outside the graph cannot mix node ids up with other integers. Raw indices depend on the
//! order a graph was built and rewritten in, so they are never printed: the IR printer renumbers
//! nodes (`%0`, `%1`, ...) in a structural order and every diagnostic uses those numbers.

use petgraph::stable_graph::NodeIndex;
use std::fmt;

/// Identifies a node of one [`crate::ir::Graph`]. Only meaningful for the graph that issued it
/// (and for its clones, which keep the same ids).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct NodeId(pub(crate) NodeIndex<u32>);

impl NodeId {
    /// The underlying petgraph index, for code inside `ir` that talks to petgraph directly.
    pub(crate) fn index(self) -> NodeIndex<u32> {
        self.0
    }
}

impl fmt::Debug for NodeId {
    /// Debug output shows the raw index as `n3`; it is for debugging only and never appears in
    /// printed IR or snapshots.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "n{}", self.0.index())
    }
}
