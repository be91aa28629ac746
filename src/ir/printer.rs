//! Stable textual form of a graph, for `--dump-ir`, snapshots and messages.
//!
//! Syntax (one node per line, in [`Graph::topo_order`]):
//!
//! ```text
//! graph {
//!   %0 = input "x" : tensor<8xi8>
//!   %1 = const dense<[3, -1]> : tensor<2xi8>
//!   %2 = int_matvec(%0) {weights = dense<#1f0e9a3c5b7d2e40> : tensor<4x8xi8>} : tensor<4xi16>
//!   %3 = int_add(%2, %1) : tensor<4xi17> loc("fc1")
//!   %4 = output "y"(%3) : tensor<4xi17>
//! }
//! ```
//!
//! - `%N` numbers nodes by position in the structural order, never by raw id, so a rewrite
//!   that rebuilds a graph differently prints the same text when the result is the same.
//! - Operands are listed in operand order; attributes in `{key = value, ...}`; then `:` and the
//!   result type; then `loc("name")` when the node has a source name.
//! - Tensors of at most [`INLINE_ELEMENTS`] elements print in full (`dense<[..]>`, floats in
//!   shortest round-trip form); larger ones print a 64-bit FNV-1a content hash
//!   (`dense<#hash>`) so dumps of real models stay small and stable.
//! - Dialect ops print the attributes they declare ([`super::dialect::DialectOp::attributes`]).

use super::graph::Graph;
use super::ids::NodeId;
use super::op::Op;
use super::tensor::{Fnv, Tensor, TensorData};
use std::collections::HashMap;
use std::fmt::Write;

/// Tensors up to this many elements are printed in full.
pub const INLINE_ELEMENTS: usize = 16;

/// The printer's node numbering: `%N` labels shared by the printer, the verifier and every
/// error message that names a node.
#[derive(Clone, Debug)]
pub struct Numbering {
    map: HashMap<NodeId, usize>,
}

impl Numbering {
    pub fn new(g: &Graph) -> Numbering {
        Numbering { map: g.topo_order().into_iter().enumerate().map(|(i, n)| (n, i)).collect() }
    }

    /// `%N` for a node of the graph this numbering was made from (`%?` for a foreign id).
    pub fn label(&self, id: NodeId) -> String {
        match self.map.get(&id) {
            Some(n) => format!("%{n}"),
            None => "%?".to_string(),
        }
    }
}

/// Prints the whole graph.
pub fn print_graph(g: &Graph) -> String {
    let num = Numbering::new(g);
    let mut out = String::from("graph {\n");
    for id in g.topo_order() {
        out.push_str("  ");
        out.push_str(&print_node(g, &num, id));
        out.push('\n');
    }
    out.push_str("}\n");
    out
}

/// Prints one node as it appears in [`print_graph`] (without indentation).
pub fn print_node(g: &Graph, num: &Numbering, id: NodeId) -> String {
    let node = g.node(id);
    let mut s = format!("{} = {}", num.label(id), node.op.mnemonic());
    match &node.op {
        Op::Input { name, .. } | Op::Output { name } => {
            let _ = write!(s, " {name:?}");
        }
        Op::Constant(t) => {
            let _ = write!(s, " {}", dense(t));
        }
        _ => {}
    }
    let operands = g.operands(id);
    if !operands.is_empty() {
        let labels: Vec<String> = operands.iter().map(|&o| num.label(o)).collect();
        let _ = write!(s, "({})", labels.join(", "));
    }
    let mut attrs: Vec<(&str, String)> = node.op.attributes();
    if let Op::IntMatVec { weights } = &node.op {
        attrs.insert(0, ("weights", format!("{} : {}", dense(weights), weights.ty())));
    }
    if !attrs.is_empty() {
        let parts: Vec<String> = attrs.iter().map(|(k, v)| format!("{k} = {v}")).collect();
        let _ = write!(s, " {{{}}}", parts.join(", "));
    }
    let _ = write!(s, " : {}", node.ty);
    if let Some(name) = &node.name {
        let _ = write!(s, " loc({name:?})");
    }
    s
}

/// `dense<[...]>` for small tensors, `dense<#hash>` for large ones.
pub fn dense(t: &Tensor) -> String {
    if t.numel() > INLINE_ELEMENTS {
        return format!("dense<#{:016x}>", t.content_hash());
    }
    let items: Vec<String> = match &t.data {
        TensorData::F32(v) => v.iter().map(|x| format!("{x:?}")).collect(),
        _ => t.ints().unwrap_or_default().iter().map(|x| x.to_string()).collect(),
    };
    format!("dense<[{}]>", items.join(", "))
}

/// A stable 64-bit content hash of integers, printed as `#` and 16 hex digits.
pub fn hash_ints<I: IntoIterator<Item = i64>>(v: I) -> String {
    let mut h = Fnv::new();
    v.into_iter().for_each(|x| h.write(&x.to_le_bytes()));
    format!("#{:016x}", h.finish())
}

/// Values in full when there are at most 16, else their count and content hash.
pub fn ints_attr(v: &[i64]) -> String {
    if v.len() <= INLINE_ELEMENTS {
        format!("[{}]", v.iter().map(|x| x.to_string()).collect::<Vec<_>>().join(", "))
    } else {
        format!("<{} x {}>", v.len(), hash_ints(v.iter().copied()))
    }
}

/// [`ints_attr`] for reals (shortest round-trip form).
pub fn reals_attr(v: &[f64]) -> String {
    if v.len() <= INLINE_ELEMENTS {
        format!("[{}]", v.iter().map(|x| format!("{x:?}")).collect::<Vec<_>>().join(", "))
    } else {
        format!("<{} x {}>", v.len(), hash_ints(v.iter().map(|x| x.to_bits() as i64)))
    }
}
