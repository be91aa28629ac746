//! The dataflow graph: nodes are ops with their result type, edges carry operand positions.

use super::ids::NodeId;
use super::op::Op;
use super::types::TensorType;
use petgraph::stable_graph::StableGraph;
use petgraph::visit::EdgeRef;
use petgraph::Direction;
use std::collections::HashSet;
use thiserror::Error;

/// What a node holds: its op, the type of its result, and an optional source name (an ONNX
/// node name, a layer name) kept for messages and reports.
#[derive(Clone, Debug, PartialEq)]
pub struct NodeData {
    pub op: Op,
    pub ty: TensorType,
    pub name: Option<String>,
}

/// An edge from an operand's producer to its user; `operand` is the position in the user's
/// operand list.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EdgeData {
    pub operand: u32,
}

/// Errors from building or editing a graph.
#[derive(Debug, Error, PartialEq)]
pub enum GraphError {
    #[error("{op}: {message}")]
    Type { op: &'static str, message: super::OpError },
    #[error("node {0:?} does not exist in this graph")]
    NoSuchNode(NodeId),
}

/// A model or hardware dataflow graph.
///
/// Inputs and outputs keep their declaration order (the order of a model's inputs and of a
/// streaming port's fields), independent of node ids. Cloning is cheap enough that passes
/// return a new graph instead of mutating the one they are given.
#[derive(Clone, Debug, Default)]
pub struct Graph {
    g: StableGraph<NodeData, EdgeData>,
    inputs: Vec<NodeId>,
    outputs: Vec<NodeId>,
}

impl Graph {
    pub fn new() -> Graph {
        Graph::default()
    }

    /// Adds a node with its operands, inferring and checking its result type. This is how
    /// frontends and passes build graphs; a type error names the op.
    pub fn add(&mut self, op: Op, operands: &[NodeId]) -> Result<NodeId, GraphError> {
        self.add_named(op, operands, None)
    }

    /// Like [`Graph::add`], recording a source name for the node.
    pub fn add_named(
        &mut self,
        op: Op,
        operands: &[NodeId],
        name: Option<String>,
    ) -> Result<NodeId, GraphError> {
        let mut tys = Vec::with_capacity(operands.len());
        for &o in operands {
            tys.push(&self.try_node(o)?.ty);
        }
        let ty = op
            .infer_type(&tys)
            .map_err(|message| GraphError::Type { op: op.mnemonic(), message })?;
        let id = self.add_raw(op, ty, name);
        for (i, &o) in operands.iter().enumerate() {
            self.connect(o, id, i as u32);
        }
        Ok(id)
    }

    /// Adds a graph input of type `ty`, appended to the input declaration order.
    pub fn add_input(&mut self, name: &str, ty: TensorType) -> Result<NodeId, GraphError> {
        self.add(Op::Input { name: name.to_string(), ty }, &[])
    }

    /// Adds a graph output named `name` that returns `value`.
    pub fn add_output(&mut self, name: &str, value: NodeId) -> Result<NodeId, GraphError> {
        self.add(Op::Output { name: name.to_string() }, &[value])
    }

    /// Adds a node with a given type and no operands, without checking anything. For passes
    /// that wire operands themselves with [`Graph::connect`] and for tests that build malformed
    /// graphs on purpose; the verifier catches what this lets through.
    pub fn add_raw(&mut self, op: Op, ty: TensorType, name: Option<String>) -> NodeId {
        let is_input = matches!(op, Op::Input { .. });
        let is_output = matches!(op, Op::Output { .. });
        let id = NodeId(self.g.add_node(NodeData { op, ty, name }));
        if is_input {
            self.inputs.push(id);
        }
        if is_output {
            self.outputs.push(id);
        }
        id
    }

    /// Makes `from` operand number `operand` of `to`.
    pub fn connect(&mut self, from: NodeId, to: NodeId, operand: u32) {
        self.g.add_edge(from.index(), to.index(), EdgeData { operand });
    }

    pub fn contains(&self, id: NodeId) -> bool {
        self.g.contains_node(id.index())
    }

    fn try_node(&self, id: NodeId) -> Result<&NodeData, GraphError> {
        self.g.node_weight(id.index()).ok_or(GraphError::NoSuchNode(id))
    }

    /// The node's data. Panics on an id from another graph or a removed node: ids are
    /// produced by this graph, so that is a compiler bug, not bad input.
    pub fn node(&self, id: NodeId) -> &NodeData {
        &self.g[id.index()]
    }

    /// Mutable node data (for passes that retype or rename in place on their own copy).
    pub fn node_mut(&mut self, id: NodeId) -> &mut NodeData {
        &mut self.g[id.index()]
    }

    pub fn op(&self, id: NodeId) -> &Op {
        &self.node(id).op
    }

    pub fn ty(&self, id: NodeId) -> &TensorType {
        &self.node(id).ty
    }

    /// Number of live nodes.
    pub fn len(&self) -> usize {
        self.g.node_count()
    }

    pub fn is_empty(&self) -> bool {
        self.g.node_count() == 0
    }

    /// All live node ids in id order (creation order, with gaps where nodes were removed).
    pub fn node_ids(&self) -> Vec<NodeId> {
        self.g.node_indices().map(NodeId).collect()
    }

    /// Input nodes in declaration order.
    pub fn inputs(&self) -> &[NodeId] {
        &self.inputs
    }

    /// Output nodes in declaration order.
    pub fn outputs(&self) -> &[NodeId] {
        &self.outputs
    }

    /// Operands of `id` ordered by operand position. Edges with duplicate or missing positions
    /// are not reported here; [`crate::ir::verify()`] does that.
    pub fn operands(&self, id: NodeId) -> Vec<NodeId> {
        let mut es: Vec<(u32, NodeId)> = self
            .g
            .edges_directed(id.index(), Direction::Incoming)
            .map(|e| (e.weight().operand, NodeId(e.source())))
            .collect();
        es.sort();
        es.into_iter().map(|(_, n)| n).collect()
    }

    /// Operand positions of `id` as stored on its incoming edges, sorted.
    pub fn operand_positions(&self, id: NodeId) -> Vec<u32> {
        let mut ps: Vec<u32> = self
            .g
            .edges_directed(id.index(), Direction::Incoming)
            .map(|e| e.weight().operand)
            .collect();
        ps.sort();
        ps
    }

    /// Users of `id` as `(user, operand position)`, sorted by user id then position.
    pub fn users(&self, id: NodeId) -> Vec<(NodeId, u32)> {
        let mut us: Vec<(NodeId, u32)> = self
            .g
            .edges_directed(id.index(), Direction::Outgoing)
            .map(|e| (NodeId(e.target()), e.weight().operand))
            .collect();
        us.sort();
        us
    }

    /// Rewires every use of `old` to use `new` instead, keeping operand positions.
    pub fn replace_all_uses(&mut self, old: NodeId, new: NodeId) {
        for (user, pos) in self.users(old) {
            if let Some(e) = self.g.find_edge(old.index(), user.index()) {
                self.g.remove_edge(e);
            }
            self.connect(new, user, pos);
        }
    }

    /// Removes the edges from `id`'s operands to `id`, leaving it without operands (a pass
    /// does this only to a node it is about to remove). Unlinking an edge walks its producer's
    /// edge list, newest edge first: a pass deleting the thousands of arrays one layer input
    /// feeds detaches them newest first, before adding their replacements, so each unlink is
    /// a step instead of a walk past every other array.
    pub fn detach_operands(&mut self, id: NodeId) {
        let edges: Vec<_> =
            self.g.edges_directed(id.index(), Direction::Incoming).map(|e| e.id()).collect();
        for e in edges {
            self.g.remove_edge(e);
        }
    }

    /// Removes a node and its edges; it also leaves the input/output declaration lists.
    pub fn remove_node(&mut self, id: NodeId) -> Option<NodeData> {
        self.inputs.retain(|&i| i != id);
        self.outputs.retain(|&o| o != id);
        self.g.remove_node(id.index())
    }

    /// Replaces `old` by a new node computing `op` on `operands` (type inferred): users of
    /// `old` are rewired and `old` is removed. The new node keeps `old`'s name.
    pub fn replace_node(
        &mut self,
        old: NodeId,
        op: Op,
        operands: &[NodeId],
    ) -> Result<NodeId, GraphError> {
        let name = self.try_node(old)?.name.clone();
        let new = self.add_named(op, operands, name)?;
        self.replace_all_uses(old, new);
        self.remove_node(old);
        Ok(new)
    }

    /// Whether the graph has a directed cycle.
    pub fn has_cycle(&self) -> bool {
        petgraph::algo::is_cyclic_directed(&self.g)
    }

    /// A deterministic order of all live nodes in which every operand precedes its users
    /// (when the graph is acyclic).
    ///
    /// The order is structural, not by id, so two graphs that differ only in how they were
    /// built print identically: inputs in declaration order, then a post-order walk from each
    /// output in declaration order visiting operands in position order, then whatever is left
    /// (nodes reaching no output) the same way in id order.
    pub fn topo_order(&self) -> Vec<NodeId> {
        let mut order = Vec::with_capacity(self.len());
        let mut done: HashSet<NodeId> = HashSet::new();
        let mut on_stack: HashSet<NodeId> = HashSet::new();
        for &i in &self.inputs {
            if done.insert(i) {
                order.push(i);
            }
        }
        let roots: Vec<NodeId> = self.outputs.iter().copied().chain(self.dead_roots()).collect();
        for root in roots {
            self.post_order(root, &mut done, &mut on_stack, &mut order);
        }
        // Anything still missing sits on a cycle that reaches no sink; keep it, in id order.
        for id in self.node_ids() {
            self.post_order(id, &mut done, &mut on_stack, &mut order);
        }
        order
    }

    /// Nodes without users that are not outputs, in id order: the roots of dead subgraphs.
    fn dead_roots(&self) -> Vec<NodeId> {
        self.node_ids()
            .into_iter()
            .filter(|&n| !matches!(self.op(n), Op::Output { .. }) && self.users(n).is_empty())
            .collect()
    }

    /// Iterative post-order from `root` (no recursion: graphs can be deep).
    fn post_order(
        &self,
        root: NodeId,
        done: &mut HashSet<NodeId>,
        on_stack: &mut HashSet<NodeId>,
        order: &mut Vec<NodeId>,
    ) {
        if done.contains(&root) {
            return;
        }
        // Each frame keeps its node's sorted operands: a node with k operands (a read-out of
        // thousands of arrays) is listed once, not once per visit (k^2 log k).
        let mut stack: Vec<(NodeId, Vec<NodeId>, usize)> = vec![(root, self.operands(root), 0)];
        on_stack.insert(root);
        while let Some((n, ops, next)) = stack.last_mut() {
            let n = *n;
            if *next < ops.len() {
                let o = ops[*next];
                *next += 1;
                if !done.contains(&o) && !on_stack.contains(&o) {
                    on_stack.insert(o);
                    stack.push((o, self.operands(o), 0));
                }
            } else {
                stack.pop();
                on_stack.remove(&n);
                if done.insert(n) {
                    order.push(n);
                }
            }
        }
    }

    /// Nodes from which some output is reachable (including the outputs themselves).
    pub fn live_nodes(&self) -> HashSet<NodeId> {
        let mut live: HashSet<NodeId> = HashSet::new();
        let mut stack: Vec<NodeId> = self.outputs.clone();
        while let Some(n) = stack.pop() {
            if live.insert(n) {
                stack.extend(self.operands(n));
            }
        }
        live
    }

    /// The raw petgraph graph, for algorithms in `ir` (cycle detection in the verifier).
    pub(crate) fn raw(&self) -> &StableGraph<NodeData, EdgeData> {
        &self.g
    }
}
