//! `cam-pack`: every root-to-leaf path of every tree becomes one CAM row.
//!
//! A row holds one cell per feature. A cell stores the half-open float32 range `[lo, hi)` that the
//! path's splits on that feature admit, plus whether a missing value (NaN) follows the path. The
//! conversion is exact on float32 inputs:
//! - `x < t` (left) gives `hi = t`; `x >= t` (right) gives `lo = t`;
//! - `x <= t` (left) gives `hi = next_up(t)`; `x > t` (right) gives `lo = next_up(t)`, because no
//!   float32 lies strictly between `t` and `next_up(t)`;
//! - several splits on one feature intersect (largest `lo`, smallest `hi`);
//! - a cell matches NaN iff every split on that feature along the path sends NaN the way the
//!   path goes; features the path never tests are don't-care cells (they match NaN too).
//!
//! Because the paths of a tree partition the input space, exactly one row per tree matches any
//! input, the row of the leaf the reference traversal reaches (tested by property tests).

use super::error::CamError;
use crate::frontend::trees::{Aggregation, Node, SplitOp, TreeEnsemble};
use serde::Serialize;

/// The next float32 above `x` (`f32::next_up`, written out so the crate keeps its 1.85 MSRV).
/// `+inf` and NaN map to themselves.
pub fn next_up_f32(x: f32) -> f32 {
    if x.is_nan() || x == f32::INFINITY {
        return x;
    }
    if x == 0.0 {
        return f32::from_bits(1);
    }
    let b = x.to_bits();
    if x > 0.0 {
        f32::from_bits(b + 1)
    } else {
        f32::from_bits(b - 1)
    }
}

/// The float32 just below `x` (mirror of [`next_up_f32`]), used by tests that probe thresholds.
pub fn next_down_f32(x: f32) -> f32 {
    -next_up_f32(-x)
}

/// One aCAM cell: the range of one feature that a path admits.
///
/// `lo`/`hi` of `None` are wildcard bounds. A range with `lo >= hi` is empty: it arises from
/// infeasible paths (or splits at ±inf) and matches no number, though it may still match NaN.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct Cell {
    /// Inclusive lower bound: the cell needs `x >= lo`.
    pub lo: Option<f32>,
    /// Exclusive upper bound: the cell needs `x < hi`.
    pub hi: Option<f32>,
    /// Whether a missing value (NaN) matches.
    pub nan_match: bool,
}

impl Cell {
    /// The cell of a feature the path never tests: it matches everything, NaN included.
    pub const DONT_CARE: Cell = Cell { lo: None, hi: None, nan_match: true };

    /// Whether the cell matches every input, so it carries no information and can be skipped.
    pub fn is_dont_care(&self) -> bool {
        self.lo.is_none() && self.hi.is_none() && self.nan_match
    }

    /// Whether the float32 input `x` lies in the cell's range (or is NaN and NaN matches).
    pub fn matches(&self, x: f32) -> bool {
        if x.is_nan() {
            return self.nan_match;
        }
        self.lo.is_none_or(|l| x >= l) && self.hi.is_none_or(|h| x < h)
    }

    /// Narrows the cell by one split outcome.
    fn restrict(&mut self, threshold: f32, op: SplitOp, went_left: bool, missing_left: bool) {
        if missing_left != went_left {
            self.nan_match = false;
        }
        let (new_lo, new_hi) = split_range(threshold, op, went_left);
        if let Some(l) = new_lo {
            if self.lo.is_none_or(|old| l > old) {
                self.lo = Some(l);
            }
        }
        if let Some(h) = new_hi {
            if self.hi.is_none_or(|old| h < old) {
                self.hi = Some(h);
            }
        }
    }
}

/// The `[lo, hi)` range (on non-NaN float32) that one branch of a split admits.
fn split_range(t: f32, op: SplitOp, left: bool) -> (Option<f32>, Option<f32>) {
    // `x >= -inf` holds for every number: no lower bound.
    let lower = |l: f32| {
        if l == f32::NEG_INFINITY {
            None
        } else {
            Some(l)
        }
    };
    match (op, left) {
        (SplitOp::Lt, true) => (None, Some(t)),
        (SplitOp::Lt, false) => (lower(t), None),
        // `x <= +inf` holds for every number; `x > +inf` for none (`x < -inf` is empty).
        (SplitOp::Le, true) if t == f32::INFINITY => (None, None),
        (SplitOp::Le, false) if t == f32::INFINITY => (None, Some(f32::NEG_INFINITY)),
        (SplitOp::Le, true) => (None, Some(next_up_f32(t))),
        (SplitOp::Le, false) => (lower(next_up_f32(t)), None),
    }
}

/// One root-to-leaf path.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct CamRow {
    /// One cell per feature, in model feature order.
    pub cells: Vec<Cell>,
    /// The leaf value as the model stores it (not yet divided for `Aggregation::Mean`).
    pub leaf: f64,
    /// The output (class) the tree contributes to.
    pub output: usize,
    /// Index of the tree in the ensemble.
    pub tree: usize,
    /// Index of the leaf node inside its tree, to relate rows back to the model.
    pub leaf_node: usize,
}

impl CamRow {
    /// Whether every cell matches `x`.
    pub fn matches(&self, x: &[f32]) -> bool {
        self.cells.iter().zip(x).all(|(c, v)| c.matches(*v))
    }
}

/// The whole ensemble as CAM rows, in tree order and, within a tree, in left-first depth-first
/// leaf order.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct PackedCam {
    pub num_features: usize,
    pub num_outputs: usize,
    pub num_trees: usize,
    pub rows: Vec<CamRow>,
    pub base_margin: Vec<f64>,
    pub aggregation: Aggregation,
    /// Trees feeding each output (the divisor of `Aggregation::Mean`).
    pub trees_per_output: Vec<usize>,
}

impl PackedCam {
    /// Fraction of cells that are don't-care (match everything), the quantity MonoSparse exploits.
    pub fn sparsity(&self) -> f64 {
        let total = self.rows.len() * self.num_features;
        if total == 0 {
            return 0.0;
        }
        let dc: usize =
            self.rows.iter().map(|r| r.cells.iter().filter(|c| c.is_dont_care()).count()).sum();
        dc as f64 / total as f64
    }

    /// Indices of the rows matching a float32 sample (one per tree for a well-formed ensemble).
    pub fn matching_rows(&self, x: &[f32]) -> Vec<usize> {
        (0..self.rows.len()).filter(|&i| self.rows[i].matches(x)).collect()
    }

    /// Margins computed from the matching rows, with the same float64 arithmetic as
    /// [`TreeEnsemble::predict_margin`], so the two agree exactly when the row sets agree.
    pub fn predict_margin(&self, x: &[f32]) -> Vec<f64> {
        let mut sums = vec![0.0f64; self.num_outputs];
        for i in self.matching_rows(x) {
            let r = &self.rows[i];
            sums[r.output] += r.leaf;
        }
        sums.iter()
            .enumerate()
            .map(|(k, s)| {
                let s = match self.aggregation {
                    Aggregation::Sum => *s,
                    Aggregation::Mean => *s / self.trees_per_output[k].max(1) as f64,
                };
                self.base_margin[k] + s
            })
            .collect()
    }
}

/// Packs a tree ensemble into CAM rows, checking the model's structure on the way.
pub fn pack(model: &TreeEnsemble) -> Result<PackedCam, CamError> {
    if model.num_features == 0 || model.num_outputs == 0 || model.trees.is_empty() {
        return Err(CamError::EmptyModel(format!(
            "{} features, {} outputs, {} trees",
            model.num_features,
            model.num_outputs,
            model.trees.len()
        )));
    }
    if model.base_margin.len() != model.num_outputs {
        return Err(CamError::BaseMarginCount {
            outputs: model.num_outputs,
            base: model.base_margin.len(),
        });
    }
    for (k, b) in model.base_margin.iter().enumerate() {
        if !b.is_finite() {
            return Err(CamError::NonFinite {
                what: format!("base margin of output {k}"),
                value: *b,
            });
        }
    }
    let mut rows = Vec::new();
    for (ti, tree) in model.trees.iter().enumerate() {
        if tree.output >= model.num_outputs {
            return Err(CamError::OutputOutOfRange {
                tree: ti,
                output: tree.output,
                num_outputs: model.num_outputs,
            });
        }
        pack_tree(model, ti, &mut rows)?;
    }
    Ok(PackedCam {
        num_features: model.num_features,
        num_outputs: model.num_outputs,
        num_trees: model.trees.len(),
        rows,
        base_margin: model.base_margin.clone(),
        aggregation: model.aggregation,
        trees_per_output: model.trees_per_output(),
    })
}

/// One split outcome along a path.
#[derive(Clone, Copy)]
struct Step {
    feature: usize,
    threshold: f32,
    op: SplitOp,
    went_left: bool,
    missing_left: bool,
}

/// Depth-first walk of one tree with an explicit stack (deep trees must not overflow the call
/// stack), emitting one row per leaf, left subtree first.
fn pack_tree(model: &TreeEnsemble, ti: usize, rows: &mut Vec<CamRow>) -> Result<(), CamError> {
    let tree = &model.trees[ti];
    let n = tree.nodes.len();
    if n == 0 {
        return Err(CamError::BadTree { tree: ti, message: "has no nodes".into() });
    }
    let mut visited = vec![false; n];
    let mut path: Vec<Step> = Vec::new();
    let mut stack: Vec<(usize, usize, Option<Step>)> = vec![(0, 0, None)];
    while let Some((node, depth, step)) = stack.pop() {
        path.truncate(depth);
        if let Some(s) = step {
            path.push(s);
        }
        if visited[node] {
            return Err(CamError::BadTree {
                tree: ti,
                message: format!("node {node} is reachable twice, so this is not a tree"),
            });
        }
        visited[node] = true;
        match &tree.nodes[node] {
            Node::Leaf { value } => {
                if !value.is_finite() {
                    return Err(CamError::NonFinite {
                        what: format!("leaf value of tree {ti} node {node}"),
                        value: *value,
                    });
                }
                let mut cells = vec![Cell::DONT_CARE; model.num_features];
                for s in &path {
                    cells[s.feature].restrict(s.threshold, s.op, s.went_left, s.missing_left);
                }
                rows.push(CamRow {
                    cells,
                    leaf: *value,
                    output: tree.output,
                    tree: ti,
                    leaf_node: node,
                });
            }
            Node::Split { feature, threshold, op, left, right, missing_left } => {
                if *feature as usize >= model.num_features {
                    return Err(CamError::FeatureOutOfRange {
                        tree: ti,
                        node,
                        feature: *feature,
                        num_features: model.num_features,
                    });
                }
                if threshold.is_nan() {
                    return Err(CamError::NanThreshold { tree: ti, node });
                }
                for (side, child) in [("left", *left), ("right", *right)] {
                    if child as usize >= n {
                        return Err(CamError::BadTree {
                            tree: ti,
                            message: format!(
                                "node {node}: {side} child {child} is out of range ({n} nodes)"
                            ),
                        });
                    }
                }
                let step = |went_left| Step {
                    feature: *feature as usize,
                    threshold: *threshold,
                    op: *op,
                    went_left,
                    missing_left: *missing_left,
                };
                let d = path.len();
                stack.push((*right as usize, d, Some(step(false))));
                stack.push((*left as usize, d, Some(step(true))));
            }
        }
    }
    Ok(())
}
