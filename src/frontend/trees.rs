//! The model-level form of a tree ensemble, shared by the XGBoost, LightGBM and Treelite
//! frontends and consumed by `cam-pack`.
//!
//! Each frontend carries its framework's exact semantics here instead of normalising early:
//! the comparison (`<` for XGBoost, `<=` for LightGBM and scikit-learn), the default direction
//! for missing values, the margin offset and whether trees are summed or averaged. `predict_margin`
//! is the reference traversal every later stage is checked against.

use serde::Serialize;

/// How a split compares the feature value with its threshold; `true` sends the sample left.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum SplitOp {
    /// `x < t` (XGBoost).
    Lt,
    /// `x <= t` (LightGBM, scikit-learn via Treelite).
    Le,
}

/// A tree node. Node 0 of a tree is its root.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub enum Node {
    Split {
        feature: u32,
        /// Threshold as the framework compares it on float32 inputs. Frameworks that keep float64
        /// thresholds (LightGBM, scikit-learn) are converted by the frontend to the float32 that
        /// gives the same decision on every float32 input.
        threshold: f32,
        op: SplitOp,
        left: u32,
        right: u32,
        /// Where a missing (NaN) value goes.
        missing_left: bool,
    },
    Leaf {
        value: f64,
    },
}

/// One tree contributing its leaf value to output `output` (the class for multi-class models).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Tree {
    pub output: usize,
    pub nodes: Vec<Node>,
}

/// How tree outputs combine into a margin.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum Aggregation {
    /// Boosting: margin = base + sum of leaves.
    Sum,
    /// Random forests: margin = base + mean of leaves over the trees of each output.
    Mean,
}

/// A whole ensemble in the framework's raw output ("margin") space.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct TreeEnsemble {
    pub num_features: usize,
    /// 1 for regression and binary classification, the class count for multi-class.
    pub num_outputs: usize,
    /// Margin offset per output (XGBoost's `base_score` already turned into margin space).
    pub base_margin: Vec<f64>,
    pub trees: Vec<Tree>,
    pub aggregation: Aggregation,
    /// The framework's objective name, for reports (`binary:logistic`, `multiclass`, ...).
    pub objective: String,
    /// Which framework this came from, for reports and error messages.
    pub source: String,
}

impl TreeEnsemble {
    /// Whether the model is a classifier whose prediction is an argmax (or sign) of margins.
    pub fn is_classifier(&self) -> bool {
        let o = self.objective.to_ascii_lowercase();
        o.contains("binary") || o.contains("multi") || o.contains("softmax") || o.contains("class")
    }

    /// Number of trees feeding each output, the divisor of `Aggregation::Mean`.
    pub fn trees_per_output(&self) -> Vec<usize> {
        let mut n = vec![0usize; self.num_outputs];
        for t in &self.trees {
            n[t.output] += 1;
        }
        n
    }

    /// Reference traversal: the margins the framework computes for one float32 sample.
    pub fn predict_margin(&self, x: &[f32]) -> Vec<f64> {
        let mut sums = vec![0.0f64; self.num_outputs];
        for t in &self.trees {
            sums[t.output] += t.leaf_value(x);
        }
        let per = self.trees_per_output();
        sums.iter()
            .enumerate()
            .map(|(k, s)| {
                let s = match self.aggregation {
                    Aggregation::Sum => *s,
                    Aggregation::Mean => *s / per[k].max(1) as f64,
                };
                self.base_margin[k] + s
            })
            .collect()
    }
}

impl Tree {
    /// Index of the leaf a sample reaches.
    pub fn leaf_index(&self, x: &[f32]) -> usize {
        let mut i = 0usize;
        loop {
            match &self.nodes[i] {
                Node::Leaf { .. } => return i,
                Node::Split { feature, threshold, op, left, right, missing_left } => {
                    let v = x[*feature as usize];
                    let go_left = if v.is_nan() {
                        *missing_left
                    } else {
                        match op {
                            SplitOp::Lt => v < *threshold,
                            SplitOp::Le => v <= *threshold,
                        }
                    };
                    i = if go_left { *left } else { *right } as usize;
                }
            }
        }
    }

    /// Value of the leaf a sample reaches.
    pub fn leaf_value(&self, x: &[f32]) -> f64 {
        match &self.nodes[self.leaf_index(x)] {
            Node::Leaf { value } => *value,
            Node::Split { .. } => unreachable!("leaf_index returns leaves only"),
        }
    }
}
