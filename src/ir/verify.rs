//! The IR verifier, run after every pass (and on every graph a frontend produces).
//!
//! It reports every problem it finds, each naming the node by its printed `%N` label and op,
//! so a broken pass shows all the damage at once. Checks:
//!
//! - the graph is acyclic (each node on a cycle is reported);
//! - operand positions of each node are exactly `0..n` and `n` is within the op's arity;
//! - op invariants hold (attribute ranges, constant contents, tree structure);
//! - the stored result type equals the type recomputed from the operands;
//! - the input/output declaration lists match the `input`/`output` nodes, there is at least
//!   one output, outputs have no users, and input names and output names are each unique.
//!
//! Source names (`loc("...")`) are provenance and may repeat.

use super::graph::Graph;
use super::op::Op;
use super::printer::Numbering;
use std::collections::{BTreeMap, HashSet};
use std::fmt;

/// One verifier finding.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VerifyError {
    /// Printed label of the node (`%3`), or `graph` for whole-graph problems.
    pub node: String,
    /// The node's op mnemonic, empty for whole-graph problems.
    pub op: String,
    pub message: String,
}

impl fmt::Display for VerifyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.op.is_empty() {
            write!(f, "{}: {}", self.node, self.message)
        } else {
            write!(f, "{} ({}): {}", self.node, self.op, self.message)
        }
    }
}

/// Verifies `g`; `Err` holds every problem found, in printed node order.
pub fn verify(g: &Graph) -> Result<(), Vec<VerifyError>> {
    let num = Numbering::new(g);
    let mut errs = Vec::new();
    let err = |errs: &mut Vec<VerifyError>, id, message: String| {
        errs.push(VerifyError { node: num.label(id), op: g.op(id).mnemonic().to_string(), message })
    };

    // Cycles: every strongly connected component with more than one node, or a self-loop.
    let mut on_cycle = HashSet::new();
    for scc in petgraph::algo::tarjan_scc(g.raw()) {
        let self_loop = scc.len() == 1 && g.raw().find_edge(scc[0], scc[0]).is_some();
        if scc.len() > 1 || self_loop {
            let ids: Vec<_> = scc.iter().map(|&i| super::NodeId(i)).collect();
            let mut labels: Vec<String> = ids.iter().map(|&i| num.label(i)).collect();
            labels
                .sort_by_key(|l| l.trim_start_matches('%').parse::<usize>().unwrap_or(usize::MAX));
            for &id in &ids {
                on_cycle.insert(id);
            }
            for &id in &ids {
                err(&mut errs, id, format!("lies on a cycle through {}", labels.join(", ")));
            }
        }
    }

    for id in g.topo_order() {
        let node = g.node(id);
        let positions = g.operand_positions(id);
        let (lo, hi) = node.op.arity();
        let mut operands_ok = true;
        if positions.iter().enumerate().any(|(i, &p)| p as usize != i) {
            err(
                &mut errs,
                id,
                format!("operand positions {positions:?} are not 0..{}", positions.len()),
            );
            operands_ok = false;
        }
        if positions.len() < lo || positions.len() > hi {
            let want = if lo == hi { format!("{lo}") } else { format!("{lo} to {hi}") };
            err(&mut errs, id, format!("takes {want} operands, has {}", positions.len()));
            operands_ok = false;
        }
        if let Err(m) = node.op.check_invariants() {
            err(&mut errs, id, m.to_string());
            continue;
        }
        if operands_ok && !on_cycle.contains(&id) {
            let ops = g.operands(id);
            let tys: Vec<_> = ops.iter().map(|&o| g.ty(o)).collect();
            match node.op.infer_type(&tys) {
                Ok(t) if t != node.ty => err(
                    &mut errs,
                    id,
                    format!("stored type {} but its operands give {}", node.ty, t),
                ),
                Ok(_) => {}
                Err(m) => err(&mut errs, id, m.to_string()),
            }
        }
        if matches!(node.op, Op::Output { .. }) && !g.users(id).is_empty() {
            err(&mut errs, id, "an output must not be used by other nodes".to_string());
        }
        if matches!(node.op, Op::Input { .. }) && !g.inputs().contains(&id) {
            err(&mut errs, id, "input node missing from the input list".to_string());
        }
        if matches!(node.op, Op::Output { .. }) && !g.outputs().contains(&id) {
            err(&mut errs, id, "output node missing from the output list".to_string());
        }
    }

    for (what, list) in [("input", g.inputs()), ("output", g.outputs())] {
        let mut seen: BTreeMap<&str, usize> = BTreeMap::new();
        for &id in list {
            match &g.node(id).op {
                Op::Input { name, .. } | Op::Output { name } => {
                    let n = seen.entry(name).or_insert(0);
                    *n += 1;
                    if *n == 2 {
                        err(
                            &mut errs,
                            id,
                            format!("{what} name {name:?} is declared more than once"),
                        );
                    }
                }
                _ => {
                    err(&mut errs, id, format!("listed as a graph {what} but is not an {what} op"))
                }
            }
        }
    }
    if g.outputs().is_empty() {
        errs.push(VerifyError {
            node: "graph".into(),
            op: String::new(),
            message: "the graph has no outputs".into(),
        });
    }

    if errs.is_empty() {
        Ok(())
    } else {
        Err(errs)
    }
}
