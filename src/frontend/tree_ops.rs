//! The `trees` dialect: the model-level op every tree frontend produces.
//!
//! `trees.ensemble` carries a whole [`TreeEnsemble`] with its framework's exact split
//! semantics; `cam-pack` rewrites it into the CAM family's ops. It lives with the frontends
//! (not the CAM family) because it is the model, independent of any hardware.

use super::trees::{Node as TreeNode, TreeEnsemble};
use crate::ir::dialect::{expect_f32, per_sample, DialectOp};
use crate::ir::tensor::{Fnv, Tensor};
use crate::ir::OpError;
use crate::ir::TensorType;
use std::sync::Arc;

/// `trees.ensemble`: `[..., F] f32 -> [..., outputs] f32` margins
/// (see [`TreeEnsemble::predict_margin`]).
#[derive(Clone, Debug, PartialEq)]
pub struct Ensemble(pub Arc<TreeEnsemble>);

impl DialectOp for Ensemble {
    fn name(&self) -> &'static str {
        "trees.ensemble"
    }
    fn verify(&self) -> Result<(), OpError> {
        check_ensemble(&self.0)
    }
    fn infer_type(&self, operands: &[&TensorType]) -> Result<TensorType, OpError> {
        margins_type(operands[0], self.0.num_features, self.0.num_outputs)
    }
    fn attributes(&self) -> Vec<(&'static str, String)> {
        let e = &self.0;
        let mut h = Fnv::new();
        h.write(serde_json::to_string(&**e).unwrap_or_default().as_bytes());
        vec![
            ("features", e.num_features.to_string()),
            ("outputs", e.num_outputs.to_string()),
            ("trees", e.trees.len().to_string()),
            ("aggregation", format!("{:?}", e.aggregation).to_lowercase()),
            ("source", format!("{:?}", e.source)),
            ("hash", format!("#{:016x}", h.finish())),
        ]
    }
    fn eval(&self, a: &[&Tensor], ty: &TensorType) -> Result<Tensor, OpError> {
        per_sample(a[0], ty, self.0.num_features, |row| {
            Ok(self.0.predict_margin(row).into_iter().map(|m| m as f32).collect())
        })
    }
    crate::dialect_op_boilerplate!();
}

/// `[..., features] f32 -> [..., outputs] f32`: the type rule of every op that computes an
/// ensemble's margins (`trees.ensemble` and the CAM family's forms of it).
pub fn margins_type(
    x: &TensorType,
    features: usize,
    outputs: usize,
) -> Result<TensorType, OpError> {
    let x = expect_f32(x, "input")?;
    match x.shape.last() {
        Some(&f) if f == features => {
            let mut shape = x.shape.clone();
            if let Some(last) = shape.last_mut() {
                *last = outputs;
            }
            Ok(TensorType::f32(shape))
        }
        _ => {
            Err(OpError::Operand(format!("input {x} must end in the model's {features} features")))
        }
    }
}

/// Structural checks on a tree ensemble, so traversal can never index out of range or loop.
fn check_ensemble(e: &TreeEnsemble) -> Result<(), OpError> {
    if e.base_margin.len() != e.num_outputs {
        return Err(OpError::Attribute(format!(
            "tree ensemble has {} outputs but {} base margins",
            e.num_outputs,
            e.base_margin.len()
        )));
    }
    for (t, tree) in e.trees.iter().enumerate() {
        if tree.output >= e.num_outputs {
            return Err(OpError::Attribute(format!(
                "tree {t} feeds output {} of {}",
                tree.output, e.num_outputs
            )));
        }
        if tree.nodes.is_empty() {
            return Err(OpError::Attribute(format!("tree {t} has no nodes")));
        }
        // Every node must be reached exactly once from the root: no cycles, no sharing.
        let mut seen = vec![false; tree.nodes.len()];
        let mut stack = vec![0usize];
        while let Some(i) = stack.pop() {
            if seen[i] {
                return Err(OpError::Attribute(format!(
                    "tree {t}: node {i} is reached twice (cycle or shared child)"
                )));
            }
            seen[i] = true;
            if let TreeNode::Split { feature, left, right, .. } = &tree.nodes[i] {
                if *feature as usize >= e.num_features {
                    return Err(OpError::Attribute(format!(
                        "tree {t} node {i}: feature {feature} >= {}",
                        e.num_features
                    )));
                }
                for c in [*left, *right] {
                    if c as usize >= tree.nodes.len() {
                        return Err(OpError::Attribute(format!(
                            "tree {t} node {i}: child {c} does not exist"
                        )));
                    }
                    stack.push(c as usize);
                }
            }
        }
    }
    Ok(())
}
