//! LightGBM text models (`Booster.save_model("model.txt")`, format `version=v4`).
//!
//! Semantics carried over exactly:
//! - a split sends `x` left when `x <= threshold`, with float64 thresholds compared against the
//!   float32 input widened to float64; each threshold becomes the largest float32 not above it,
//!   which decides identically for every float32 input (see `threshold.rs`);
//! - `decision_type` bits: 0 categorical (rejected), 1 default-left, 2–3 missing type
//!   (None / Zero / NaN), applied as LightGBM's `NumericalDecision` does:
//!   - None: NaN is replaced by 0.0 and compared, so NaN goes where 0.0 goes;
//!   - NaN: NaN goes to the default side, every number is compared;
//!   - Zero: NaN and every value in [-1e-35f, 1e-35f] (LightGBM's `kZeroThreshold`, which
//!     includes ±0 and all subnormals) go to the default side. When the resulting left set is
//!     one interval `(-inf, a]` over float32 it is encoded exactly as `x <= a`. Otherwise the
//!     zero band sits on the default side, cut off from the rest of that side by the threshold,
//!     and the float32 line splits into four intervals going left, right, left, right; the node
//!     becomes three `<=` splits on the same feature with one extra copy of each child subtree
//!     (exact; the copies are appended after the original nodes, so original ids are kept);
//! - leaf values are float64 with shrinkage already applied; the init score is folded into the
//!   first tree, so the base margin is 0;
//! - tree `i` feeds output `i % num_tree_per_iteration`; `average_output` (random-forest mode)
//!   averages per output. Note LightGBM's own `predict(raw_score=True)` returns the *sum* for
//!   such models (its averaging happens only on the transformed path); tessera's margin is the
//!   average, the value LightGBM feeds to its sigmoid/softmax;
//! - node layout: split `i` of LightGBM is node `i`, leaf `j` is node `num_leaves - 1 + j`, so a
//!   leaf index minus `num_leaves - 1` is LightGBM's own leaf id (`pred_leaf=True`); nodes
//!   added by the Zero expansion come after these.
//!
//! Linear trees and categorical splits are rejected naming the tree and field.

mod zero;

use std::path::Path;

use super::check::{check_declared_outputs, check_ensemble, check_tree, Side};
use super::error::{FileCtx, FrontendError};
use super::read_text;
use super::threshold::f32_at_or_below;
use super::trees::{Aggregation, Node, SplitOp, Tree, TreeEnsemble};
use zero::{expand_chains, zero_as_missing, ZeroSplit, MAX_EXPANDED_NODES};

/// Reads a LightGBM text model file.
pub fn load(path: &Path) -> Result<TreeEnsemble, FrontendError> {
    let ctx = FileCtx::new(path);
    let text = read_text(path, &ctx)?;
    parse_with(&text, &ctx)
}

/// Parses a LightGBM text model held in memory; `file` names it in errors.
pub fn parse_str(text: &str, file: &str) -> Result<TreeEnsemble, FrontendError> {
    let ctx = FileCtx { file: file.into() };
    parse_with(text, &ctx)
}

/// One `key=value` line.
#[derive(Clone, Copy, Debug)]
struct Entry<'a> {
    key: &'a str,
    value: &'a str,
    line: usize,
}

/// The header, or one `Tree=N` block.
#[derive(Debug)]
struct Block<'a> {
    /// `None` for the header, `Some("Tree=3")` for a tree.
    name: Option<&'a str>,
    line: usize,
    entries: Vec<Entry<'a>>,
    /// Lines without `=` (e.g. `average_output`).
    flags: Vec<&'a str>,
}

impl<'a> Block<'a> {
    fn get(&self, key: &str) -> Option<Entry<'a>> {
        self.entries.iter().rev().find(|e| e.key == key).copied()
    }

    fn label(&self) -> String {
        self.name.map_or_else(|| "header".to_string(), |n| n.to_string())
    }

    fn req(&self, ctx: &FileCtx, key: &str) -> Result<Entry<'a>, FrontendError> {
        self.get(key).ok_or_else(|| {
            ctx.invalid(
                format!("{} (line {})", self.label(), self.line),
                format!("required field `{key}` is missing"),
            )
        })
    }

    /// Names a field (or one element of it) for errors: `Tree=3 threshold[2] (line 57)`.
    fn at(&self, e: &Entry, index: Option<usize>) -> String {
        let idx = index.map_or(String::new(), |i| format!("[{i}]"));
        format!("{} {}{idx} (line {})", self.label(), e.key, e.line)
    }

    fn scalar<T: std::str::FromStr>(
        &self,
        ctx: &FileCtx,
        key: &str,
        what: &str,
    ) -> Result<T, FrontendError> {
        let e = self.req(ctx, key)?;
        e.value.trim().parse().map_err(|_| {
            ctx.invalid(self.at(&e, None), format!("expected {what}, found `{}`", e.value))
        })
    }

    fn list<T: std::str::FromStr>(
        &self,
        ctx: &FileCtx,
        key: &str,
        what: &str,
        len: usize,
    ) -> Result<(Entry<'a>, Vec<T>), FrontendError> {
        let e = self.req(ctx, key)?;
        // `len` comes from the file (num_leaves): reserve no more than the text can hold.
        let mut out = Vec::with_capacity(len.min(e.value.len() / 2 + 1));
        for (i, tok) in e.value.split_whitespace().enumerate() {
            let v = tok.parse().map_err(|_| {
                ctx.invalid(self.at(&e, Some(i)), format!("expected {what}, found `{tok}`"))
            })?;
            out.push(v);
        }
        if out.len() != len {
            return Err(ctx.invalid(
                self.at(&e, None),
                format!("has {} entries but num_leaves implies {len}", out.len()),
            ));
        }
        Ok((e, out))
    }
}

/// Splits the text into the header and tree blocks, up to `end of trees`.
fn blocks<'a>(text: &'a str, ctx: &FileCtx) -> Result<Vec<Block<'a>>, FrontendError> {
    let mut lines = text.lines().enumerate().map(|(i, l)| (i + 1, l.trim_end_matches('\r')));
    let first = lines.by_ref().find(|(_, l)| !l.trim().is_empty());
    match first {
        Some((_, l)) if l.trim() == "tree" => {}
        Some((n, _)) => {
            return Err(ctx.syntax(
                format!("line {n}"),
                "not a LightGBM text model (the first line should be `tree`; JSON from \
                 `dump_model()` is not read, use `save_model`)",
            ))
        }
        None => return Err(ctx.syntax("line 1", "file is empty")),
    }
    let mut out = vec![Block { name: None, line: 1, entries: Vec::new(), flags: Vec::new() }];
    for (n, line) in lines {
        let l = line.trim();
        if l == "end of trees" {
            return Ok(out);
        }
        if l.is_empty() {
            continue;
        }
        if l.starts_with("Tree=") {
            out.push(Block { name: Some(l), line: n, entries: Vec::new(), flags: Vec::new() });
            continue;
        }
        let block = out.last_mut().expect("the header block is always present");
        match l.split_once('=') {
            Some((k, v)) => block.entries.push(Entry { key: k.trim(), value: v.trim(), line: n }),
            None => block.flags.push(l),
        }
    }
    let last = text.lines().count();
    Err(ctx.syntax(format!("line {last}"), "file ends before `end of trees` (truncated?)"))
}

fn parse_with(text: &str, ctx: &FileCtx) -> Result<TreeEnsemble, FrontendError> {
    let blocks = blocks(text, ctx)?;
    let (header, tree_blocks) = blocks.split_first().expect("blocks() returns the header first");

    let max_feature_idx: i64 = header.scalar(ctx, "max_feature_idx", "an integer")?;
    let num_features = max_feature_idx.checked_add(1).and_then(|n| usize::try_from(n).ok());
    let num_features = num_features.ok_or_else(|| {
        let e = header.get("max_feature_idx").expect("read above");
        ctx.invalid(
            header.at(&e, None),
            format!("must be at least -1 and below {}, found {max_feature_idx}", i64::MAX),
        )
    })?;
    let num_class: usize = header.scalar(ctx, "num_class", "a positive integer")?;
    let per_iter: usize = match header.get("num_tree_per_iteration") {
        Some(_) => header.scalar(ctx, "num_tree_per_iteration", "a positive integer")?,
        None => num_class,
    };
    if per_iter == 0 {
        let e = header.req(ctx, "num_tree_per_iteration")?;
        return Err(ctx.invalid(header.at(&e, None), "must be at least 1"));
    }
    let objective =
        header.get("objective").map_or_else(|| "unknown".to_string(), |e| e.value.to_string());
    let version = header.get("version").map_or("", |e| e.value);
    let aggregation =
        if header.flags.contains(&"average_output") { Aggregation::Mean } else { Aggregation::Sum };
    if let Some(e) = header.get("tree_sizes") {
        let n = e.value.split_whitespace().count();
        if n != tree_blocks.len() {
            return Err(ctx.invalid(
                header.at(&e, None),
                format!(
                    "lists {n} trees but the file holds {} `Tree=` blocks (truncated?)",
                    tree_blocks.len()
                ),
            ));
        }
    }

    let field = if header.get("num_tree_per_iteration").is_some() {
        "num_tree_per_iteration"
    } else {
        "num_class"
    };
    check_declared_outputs(ctx, field, per_iter, tree_blocks.len())?;
    let mut trees = Vec::with_capacity(tree_blocks.len());
    for (i, b) in tree_blocks.iter().enumerate() {
        let nodes = parse_tree(b, ctx, num_features)?;
        trees.push(Tree { output: i % per_iter, nodes });
    }
    let ensemble = TreeEnsemble {
        num_features,
        num_outputs: per_iter,
        base_margin: vec![0.0; per_iter],
        trees,
        aggregation,
        objective,
        source: format!("lightgbm {version}").trim_end().to_string(),
    };
    check_ensemble(ctx, "max_feature_idx", &ensemble)?;
    Ok(ensemble)
}

fn parse_tree(b: &Block, ctx: &FileCtx, num_features: usize) -> Result<Vec<Node>, FrontendError> {
    if let Some(e) = b.get("is_linear") {
        if e.value != "0" {
            return Err(ctx
                .unsupported(b.at(&e, None), "linear trees (linear_tree=true) are not supported"));
        }
    }
    if let Some(e) = b.get("num_cat") {
        if e.value != "0" {
            return Err(ctx.unsupported(b.at(&e, None), "categorical splits are not supported"));
        }
    }
    let num_leaves: usize = b.scalar(ctx, "num_leaves", "a positive integer")?;
    if num_leaves == 0 {
        let e = b.req(ctx, "num_leaves")?;
        return Err(ctx.invalid(b.at(&e, None), "a tree needs at least one leaf"));
    }
    let (lve, leaf_value) = b.list::<f64>(ctx, "leaf_value", "a number", num_leaves)?;
    ctx.finite(&b.at(&lve, None), leaf_value.iter().copied())?;
    if num_leaves == 1 {
        return Ok(vec![Node::Leaf { value: leaf_value[0] }]);
    }
    let n_int = num_leaves - 1;
    let (sfe, split_feature) = b.list::<i64>(ctx, "split_feature", "an integer", n_int)?;
    let (the, threshold) = b.list::<f64>(ctx, "threshold", "a number", n_int)?;
    // NaN has no place on the number line; an infinite threshold is no real split either.
    ctx.finite(&b.at(&the, None), threshold.iter().copied())?;
    let (dte, decision_type) = b.list::<i64>(ctx, "decision_type", "an integer", n_int)?;
    let (lce, left_child) = b.list::<i64>(ctx, "left_child", "an integer", n_int)?;
    let (rce, right_child) = b.list::<i64>(ctx, "right_child", "an integer", n_int)?;

    let total = n_int + num_leaves;
    let child = |e: &Entry, i: usize, c: i64| -> Result<u32, FrontendError> {
        let node = if c >= 0 {
            usize::try_from(c).ok().filter(|c| *c < n_int)
        } else {
            // Leaves are encoded as ~leaf_index.
            usize::try_from(!c).ok().filter(|l| *l < num_leaves).map(|l| n_int + l)
        };
        node.map(|n| n as u32).ok_or_else(|| {
            ctx.invalid(
                b.at(e, Some(i)),
                format!("child {c} is out of range: the tree has {n_int} splits and {num_leaves} leaves"),
            )
        })
    };

    let mut nodes = Vec::with_capacity(total);
    // Missing-type-Zero splits that need three `<=` splits: (node, thresholds).
    let mut chains: Vec<(usize, [f32; 3])> = Vec::new();
    for i in 0..n_int {
        let feature = u32::try_from(split_feature[i])
            .ok()
            .filter(|f| (*f as usize) < num_features)
            .ok_or_else(|| {
                ctx.invalid(
                    b.at(&sfe, Some(i)),
                    format!(
                        "feature index {} is out of range: max_feature_idx is {}",
                        split_feature[i],
                        num_features as i64 - 1
                    ),
                )
            })?;
        let t = threshold[i];
        let dt = decision_type[i];
        if !(0..=15).contains(&dt) {
            return Err(ctx.invalid(b.at(&dte, Some(i)), format!("unknown decision type {dt}")));
        }
        if dt & 1 != 0 {
            return Err(
                ctx.unsupported(b.at(&dte, Some(i)), "categorical splits are not supported")
            );
        }
        let default_left = dt & 2 != 0;
        let t32 = f32_at_or_below(t);
        let (threshold, missing_left) = match (dt >> 2) & 3 {
            // None: NaN becomes 0.0 and is compared like any value.
            0 => (t32, 0.0 <= t32),
            // NaN: only NaN is missing.
            2 => (t32, default_left),
            1 => match zero_as_missing(t32, default_left) {
                ZeroSplit::One { threshold, missing_left } => (threshold, missing_left),
                ZeroSplit::Chain { a, missing_left } => {
                    chains.push((i, a));
                    // Placeholder with the original children, expanded after the checks.
                    (a[1], missing_left)
                }
            },
            _ => {
                return Err(ctx.invalid(
                    b.at(&dte, Some(i)),
                    format!("unknown missing type 3 in decision type {dt}"),
                ))
            }
        };
        nodes.push(Node::Split {
            feature,
            threshold,
            op: SplitOp::Le,
            left: child(&lce, i, left_child[i])?,
            right: child(&rce, i, right_child[i])?,
            missing_left,
        });
    }
    nodes.extend(leaf_value.iter().map(|v| Node::Leaf { value: *v }));
    let total = nodes.len();
    let nodes = check_tree(ctx, &b.label(), nodes, |i, side| match side {
        Side::Left => b.at(&lce, Some(i)),
        Side::Right => b.at(&rce, Some(i)),
    })?;
    if nodes.len() != total {
        return Err(ctx.invalid(
            format!("{} (line {})", b.label(), b.line),
            format!("{} of its {total} nodes are not reachable from the root", total - nodes.len()),
        ));
    }
    if chains.is_empty() {
        return Ok(nodes);
    }
    expand_chains(nodes, chains).ok_or_else(|| {
        ctx.unsupported(
            format!("{} (line {})", b.label(), b.line),
            format!(
                "expanding its missing-type-Zero splits exactly would exceed {MAX_EXPANDED_NODES} \
                 nodes (retrain with zero_as_missing=false)"
            ),
        )
    })
}
