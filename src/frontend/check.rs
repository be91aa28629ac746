//! Structural checks shared by the tree frontends.
//!
//! A model file is untrusted input: child pointers may point outside the tree, back at an
//! ancestor (a cycle that would make the reference traversal loop forever) or at a node that
//! another parent already owns. Each frontend builds its `Vec<Node>` in the framework's own
//! node numbering and then calls [`check_tree`], passing a closure that names a node's child
//! field in the framework's vocabulary, so the error points into the user's file.

use super::error::{FileCtx, FrontendError};
use super::trees::{Node, TreeEnsemble};

/// Which child pointer of a split a structural problem is in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Side {
    Left,
    Right,
}

/// Checks that `nodes` form one tree rooted at node 0: every child index is in range and every
/// node is reached at most once (no cycles, no shared subtrees). Nodes not reachable from the
/// root (XGBoost keeps pruned nodes in its arrays) are dropped and the rest renumbered in their
/// original order; when every node is reachable the framework's numbering is kept, so leaf
/// indices match the framework's own (`pred_leaf`) ids.
pub(crate) fn check_tree(
    ctx: &FileCtx,
    tree_path: &str,
    nodes: Vec<Node>,
    locate: impl Fn(usize, Side) -> String,
) -> Result<Vec<Node>, FrontendError> {
    let n = nodes.len();
    if n == 0 {
        return Err(ctx.invalid(tree_path, "tree has no nodes"));
    }
    let mut seen = vec![false; n];
    seen[0] = true;
    let mut stack = vec![0usize];
    while let Some(i) = stack.pop() {
        if let Node::Split { left, right, .. } = &nodes[i] {
            for (side, child) in [(Side::Left, *left), (Side::Right, *right)] {
                let c = child as usize;
                if c >= n {
                    return Err(ctx.invalid(
                        locate(i, side),
                        format!("child index {c} is out of range: the tree has {n} nodes"),
                    ));
                }
                if seen[c] {
                    let what = if c == 0 {
                        "points back at the root (cycle)".to_string()
                    } else {
                        format!("node {c} is reached twice (a cycle or a shared subtree)")
                    };
                    return Err(ctx.invalid(locate(i, side), what));
                }
                seen[c] = true;
                stack.push(c);
            }
        }
    }
    if seen.iter().all(|s| *s) {
        return Ok(nodes);
    }
    Ok(compact(nodes, &seen))
}

/// Drops unreachable nodes, keeping the relative order of the rest.
fn compact(nodes: Vec<Node>, keep: &[bool]) -> Vec<Node> {
    let mut new_id = vec![u32::MAX; nodes.len()];
    let mut next = 0u32;
    for (i, k) in keep.iter().enumerate() {
        if *k {
            new_id[i] = next;
            next += 1;
        }
    }
    nodes
        .into_iter()
        .zip(keep)
        .filter(|(_, k)| **k)
        .map(|(node, _)| match node {
            Node::Split { feature, threshold, op, left, right, missing_left } => Node::Split {
                feature,
                threshold,
                op,
                left: new_id[left as usize],
                right: new_id[right as usize],
                missing_left,
            },
            leaf => leaf,
        })
        .collect()
}

/// Declared features that no split reads beyond which a file is refused (E0124): every sample
/// would need that many columns and every per-feature table as many entries, so a count far
/// beyond what the trees use is a corrupt or hostile header, not a model.
pub const MAX_UNUSED_FEATURES: usize = 1 << 20;

/// Most CAM cells (leaves x features) the dense CAM storage holds (E0125); one cell takes
/// tens of bytes across packing and quantization, so this is tens of GB. Lean storage for
/// wide sparse models belongs to the tree-scale work.
pub const MAX_DENSE_CELLS: u64 = 1 << 28;

/// Declared outputs (classes) beyond the trees a file holds above which it is refused (E0124):
/// each output gets a base margin and a row of every output table.
pub const MAX_UNUSED_OUTPUTS: usize = 1 << 16;

/// Checks a declared output count (named `field`) against the number of trees in the file
/// before the base margins are allocated from it: each output of a real model has trees.
pub(crate) fn check_declared_outputs(
    ctx: &FileCtx,
    field: &str,
    declared: usize,
    trees: usize,
) -> Result<(), FrontendError> {
    if declared.saturating_sub(trees) > MAX_UNUSED_OUTPUTS {
        return Err(FrontendError::Declared {
            file: ctx.file.clone(),
            field: field.to_string(),
            message: format!(
                "declares {declared} outputs, but the file holds only {trees} trees; more than \
                 {MAX_UNUSED_OUTPUTS} outputs without trees are refused"
            ),
        });
    }
    Ok(())
}

/// Checks the declared feature count (named `field` in the framework's vocabulary) against what
/// the file holds, before any stage allocates per feature or per cell: E0124 when it exceeds
/// the features the splits read by more than [`MAX_UNUSED_FEATURES`], E0125 when the dense CAM
/// (one row per leaf, one cell per feature) would exceed [`MAX_DENSE_CELLS`].
pub(crate) fn check_sizes(
    ctx: &FileCtx,
    field: &str,
    m: &TreeEnsemble,
) -> Result<(), FrontendError> {
    let mut used = 0usize;
    let mut leaves = 0u64;
    for tree in &m.trees {
        for node in &tree.nodes {
            match node {
                Node::Split { feature, .. } => used = used.max(*feature as usize + 1),
                Node::Leaf { .. } => leaves += 1,
            }
        }
    }
    let n = m.num_features;
    if n.saturating_sub(used) > MAX_UNUSED_FEATURES {
        return Err(FrontendError::Declared {
            file: ctx.file.clone(),
            field: field.to_string(),
            message: format!(
                "declares {n} features, but the trees split only on features below {used}; \
                 more than {MAX_UNUSED_FEATURES} declared features that no split reads are \
                 refused (each sample would need {n} columns)"
            ),
        });
    }
    let cells = leaves.saturating_mul(n as u64);
    if cells > MAX_DENSE_CELLS {
        return Err(FrontendError::TooLarge {
            file: ctx.file.clone(),
            field: field.to_string(),
            message: format!(
                "{leaves} leaves x {n} features = {cells} CAM cells, more than the dense CAM \
                 storage holds ({MAX_DENSE_CELLS})"
            ),
        });
    }
    Ok(())
}

/// Last line of defence after a frontend has built an ensemble: the invariants every later
/// stage relies on. The frontends check each of these with a precise field path first, so a
/// failure here is a frontend bug, reported rather than left to panic downstream. `size_field`
/// names the declared feature count for [`check_sizes`].
pub(crate) fn check_ensemble(
    ctx: &FileCtx,
    size_field: &str,
    m: &TreeEnsemble,
) -> Result<(), FrontendError> {
    if m.num_outputs == 0 {
        return Err(ctx.invalid("(model)", "the model has no outputs"));
    }
    if m.base_margin.len() != m.num_outputs {
        return Err(ctx.invalid(
            "(model)",
            format!("{} base margins for {} outputs", m.base_margin.len(), m.num_outputs),
        ));
    }
    if m.base_margin.iter().any(|b| !b.is_finite()) {
        return Err(ctx.invalid("(model)", "a base margin is not finite"));
    }
    for (t, tree) in m.trees.iter().enumerate() {
        if tree.output >= m.num_outputs {
            return Err(ctx.invalid(
                format!("(tree {t})"),
                format!(
                    "output {} is out of range: the model has {} outputs",
                    tree.output, m.num_outputs
                ),
            ));
        }
        for (i, node) in tree.nodes.iter().enumerate() {
            let bad = match node {
                Node::Split { feature, threshold, left, right, .. } => {
                    if *feature as usize >= m.num_features {
                        Some(format!("feature {feature} is out of range"))
                    } else if threshold.is_nan() {
                        Some("threshold is NaN".to_string())
                    } else if *left as usize >= tree.nodes.len()
                        || *right as usize >= tree.nodes.len()
                    {
                        Some("child index is out of range".to_string())
                    } else {
                        None
                    }
                }
                Node::Leaf { value } => {
                    (!value.is_finite()).then(|| "leaf value is not finite".to_string())
                }
            };
            if let Some(msg) = bad {
                return Err(ctx.invalid(format!("(tree {t}, node {i})"), msg));
            }
        }
    }
    check_sizes(ctx, size_field, m)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::frontend::trees::SplitOp;

    fn split(left: u32, right: u32) -> Node {
        Node::Split { feature: 0, threshold: 0.5, op: SplitOp::Lt, left, right, missing_left: true }
    }

    fn leaf(v: f64) -> Node {
        Node::Leaf { value: v }
    }

    fn locate(i: usize, s: Side) -> String {
        format!("n[{i}].{}", if s == Side::Left { "l" } else { "r" })
    }

    fn ctx() -> FileCtx {
        FileCtx { file: "t".into() }
    }

    #[test]
    fn well_formed_tree_keeps_numbering() {
        let nodes = vec![split(2, 1), leaf(1.0), leaf(2.0)];
        let out = check_tree(&ctx(), "tree", nodes.clone(), locate).unwrap();
        assert_eq!(out, nodes);
    }

    #[test]
    fn cycle_to_root_is_rejected() {
        let nodes = vec![split(1, 2), split(0, 3), leaf(1.0), leaf(2.0)];
        let e = check_tree(&ctx(), "tree", nodes, locate).unwrap_err().to_string();
        assert_eq!(e, "t: n[1].l: points back at the root (cycle)");
    }

    #[test]
    fn shared_child_is_rejected() {
        let nodes = vec![split(1, 2), split(3, 3), leaf(1.0), leaf(2.0)];
        let e = check_tree(&ctx(), "tree", nodes, locate).unwrap_err().to_string();
        assert_eq!(e, "t: n[1].r: node 3 is reached twice (a cycle or a shared subtree)");
    }

    #[test]
    fn out_of_range_child_is_rejected() {
        let nodes = vec![split(1, 7), leaf(1.0)];
        let e = check_tree(&ctx(), "tree", nodes, locate).unwrap_err().to_string();
        assert_eq!(e, "t: n[0].r: child index 7 is out of range: the tree has 2 nodes");
    }

    #[test]
    fn unreachable_nodes_are_dropped_and_ids_renumbered() {
        // Node 1 is a pruned leftover; 0 -> (2, 3) becomes 0 -> (1, 2).
        let nodes = vec![split(2, 3), leaf(9.0), leaf(1.0), leaf(2.0)];
        let out = check_tree(&ctx(), "tree", nodes, locate).unwrap();
        assert_eq!(out, vec![split(1, 2), leaf(1.0), leaf(2.0)]);
    }

    #[test]
    fn empty_tree_is_rejected() {
        let e = check_tree(&ctx(), "trees[2]", vec![], locate).unwrap_err().to_string();
        assert_eq!(e, "t: trees[2]: tree has no nodes");
    }
}
