//! Helpers passes share: finding the mapped instance, checking for and rewriting ops in place.

use super::{PassContext, PassError, Unmet};
use crate::dsl::accel::Instance;
use crate::ir::{Graph, NodeId, Op};

/// The instance the accelerator maps its model onto (tessera compiles one mapping per
/// accelerator, so it is the first mapping's target).
pub fn mapped_cell<'a>(pass: &str, cx: &PassContext<'a>) -> Result<&'a Instance, PassError> {
    let acc = cx.accelerator.ok_or_else(|| {
        PassError::failed(pass, "needs the accelerator description (the cell's parameters)")
    })?;
    let mapping = acc.mappings.first().ok_or_else(|| {
        PassError::failed(pass, format!("accelerator `{}` maps no model", acc.name))
    })?;
    acc.instances.get(&mapping.target).ok_or_else(|| {
        PassError::failed(pass, format!("mapping target `{}` is not an instance", mapping.target))
    })
}

/// Nodes whose op satisfies `pred`, in structural order.
pub fn nodes_where(g: &Graph, pred: impl Fn(&Op) -> bool) -> Vec<NodeId> {
    g.topo_order().into_iter().filter(|&id| pred(g.op(id))).collect()
}

/// Precondition: at least one node satisfies `pred`; otherwise say which pass provides it.
pub fn require_op(
    g: &Graph,
    pred: impl Fn(&Op) -> bool,
    what: &str,
    provider: &str,
) -> Result<(), Unmet> {
    if nodes_where(g, pred).is_empty() {
        Err(Unmet::missing(what, provider))
    } else {
        Ok(())
    }
}

/// Precondition: the graph has at least one dialect op of type `T`.
pub fn require_dialect<T: crate::ir::DialectOp>(
    g: &Graph,
    what: &str,
    provider: &str,
) -> Result<(), Unmet> {
    require_op(g, |op| op.dialect::<T>().is_some(), what, provider)
}

/// Replaces every dialect op of type `T` by `f(op)`, keeping operands and name (the type is
/// inferred anew).
pub fn rewrite_dialect<T: crate::ir::DialectOp>(
    pass: &str,
    g: &Graph,
    mut f: impl FnMut(&T) -> Result<Op, PassError>,
) -> Result<Graph, PassError> {
    rewrite(
        pass,
        g,
        |op| op.dialect::<T>().is_some(),
        |op| match op.dialect::<T>() {
            Some(t) => f(t),
            None => Err(PassError::failed(pass, "rewrite reached an op it did not select")),
        },
    )
}

/// Replaces the op of every node matching `pred` by `f(op)`, keeping operands, type and name.
pub fn rewrite(
    pass: &str,
    g: &Graph,
    pred: impl Fn(&Op) -> bool,
    mut f: impl FnMut(&Op) -> Result<Op, PassError>,
) -> Result<Graph, PassError> {
    let mut out = g.clone();
    for id in nodes_where(g, &pred) {
        let op = f(g.op(id))?;
        let operands = g.operands(id);
        out.replace_node(id, op, &operands).map_err(|e| PassError::failed(pass, e.to_string()))?;
    }
    Ok(out)
}

/// Infers every node's type anew from its operands, in dataflow order: after a rewrite that
/// changes a node's result type (a wider accumulator), its users' types follow.
pub fn retype(pass: &str, g: &mut Graph) -> Result<(), PassError> {
    for id in g.topo_order() {
        let tys: Vec<crate::ir::TensorType> =
            g.operands(id).iter().map(|&o| g.ty(o).clone()).collect();
        let refs: Vec<&crate::ir::TensorType> = tys.iter().collect();
        let ty = g
            .op(id)
            .infer_type(&refs)
            .map_err(|m| PassError::failed(pass, format!("`{}`: {m}", g.op(id).mnemonic())))?;
        g.node_mut(id).ty = ty;
    }
    Ok(())
}
