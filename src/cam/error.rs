//! Errors of the analog-CAM flow. Every variant names the tree, node, feature or parameter at
//! fault so a user can find the problem in the model file or the `.tess` description; none of
//! the CAM functions panics on bad input.

use thiserror::Error;

/// What can go wrong while packing, quantizing, tiling or costing a tree ensemble on aCAM.
#[derive(Debug, Error, Clone, PartialEq)]
pub enum CamError {
    /// The ensemble declares no features, no outputs or no trees.
    #[error("model is empty: {0}")]
    EmptyModel(String),
    /// `base_margin` does not have one entry per output.
    #[error("model has {outputs} outputs but {base} base margins")]
    BaseMarginCount { outputs: usize, base: usize },
    /// A tree's structure is unusable (child out of range, a node reachable twice, no nodes).
    #[error("tree {tree}: {message}")]
    BadTree { tree: usize, message: String },
    /// A split names a feature the model does not have.
    #[error("tree {tree} node {node}: split feature {feature} is out of range (model has {num_features} features)")]
    FeatureOutOfRange { tree: usize, node: usize, feature: u32, num_features: usize },
    /// A split threshold is NaN: no comparison with it is meaningful.
    #[error("tree {tree} node {node}: split threshold is NaN")]
    NanThreshold { tree: usize, node: usize },
    /// A leaf (or base margin) is not a finite number.
    #[error("{what} is not finite ({value})")]
    NonFinite { what: String, value: f64 },
    /// A tree writes to an output the model does not have.
    #[error("tree {tree}: output {output} is out of range (model has {num_outputs} outputs)")]
    OutputOutOfRange { tree: usize, output: usize, num_outputs: usize },
    /// A configuration value is outside what the hardware or the arithmetic supports.
    #[error("invalid option `{option}`: {message}")]
    BadOption { option: String, message: String },
    /// Input samples have the wrong shape.
    #[error("{what}: expected {expected} features per sample, got {got}")]
    SampleWidth { what: String, expected: usize, got: usize },
    /// A parameter of the aCAM cell instance is missing, has the wrong dimension or an unusable value.
    #[error("{0}")]
    Param(String),
    /// A broken internal invariant (a bug in tessera, never a property of the input).
    #[error("internal error (please report): {0}")]
    Internal(String),
    /// A model needs more accumulator bits than the simulator's 64-bit integers hold.
    #[error("accumulator would need {bits} bits (more than 63): reduce `leaf_bits` or the number of trees")]
    AccumulatorTooWide { bits: u32 },
}
