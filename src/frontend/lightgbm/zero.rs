//! LightGBM's missing type Zero, expressed with `x <= a` splits exactly.
//!
//! LightGBM sends NaN and every value within `kZeroThreshold` of zero to the split's default
//! side and compares the rest with the threshold. Over float32 that left set is either one
//! interval `(-inf, a]` (one split) or two (left, right, left, right over four intervals),
//! which takes three splits on the same feature and one extra copy of each child subtree.

use crate::frontend::threshold::next_down;
use crate::frontend::trees::{Node, SplitOp};

/// LightGBM's `kZeroThreshold` (`1e-35f` widened to double): values within it count as zero.
pub(super) const ZERO_THRESHOLD: f32 = 1e-35;

/// Upper bound on a tree's size after the Zero expansion; nested Zero splits copy each other's
/// subtrees, so pathological models could otherwise grow exponentially.
pub(super) const MAX_EXPANDED_NODES: usize = 1 << 20;

/// Replaces each marked split (placeholder `x <= a[1]` with the original children `L`, `R`) by
/// `x <= a[1] ? (x <= a[0] ? L : R) : (x <= a[2] ? L' : R')`, where `L'`, `R'` are copies.
/// Copies of subtrees that hold marked splits are expanded too. NaN keeps the placeholder's
/// side at both levels, reaching `L` (missing left) or `R'` (missing right).
pub(super) fn expand_chains(
    mut nodes: Vec<Node>,
    chains: Vec<(usize, [f32; 3])>,
) -> Option<Vec<Node>> {
    let mut marks: Vec<Option<[f32; 3]>> = vec![None; nodes.len()];
    for (i, a) in chains {
        marks[i] = Some(a);
    }
    let mut i = 0;
    while i < nodes.len() {
        if let Some(a) = marks[i].take() {
            let Node::Split { feature, left, right, missing_left, .. } = nodes[i].clone() else {
                unreachable!("only splits are marked")
            };
            let left_copy = copy_subtree(&mut nodes, &mut marks, left as usize);
            let right_copy = copy_subtree(&mut nodes, &mut marks, right as usize);
            let split = |threshold, left, right| Node::Split {
                feature,
                threshold,
                op: SplitOp::Le,
                left,
                right,
                missing_left,
            };
            let p = nodes.len() as u32;
            nodes.push(split(a[0], left, right));
            nodes.push(split(a[2], left_copy, right_copy));
            marks.extend([None, None]);
            nodes[i] = split(a[1], p, p + 1);
            if nodes.len() > MAX_EXPANDED_NODES {
                return None;
            }
        }
        i += 1;
    }
    Some(nodes)
}

/// Appends a copy of the subtree at `root` (with its marks) and returns the copy's root id.
fn copy_subtree(nodes: &mut Vec<Node>, marks: &mut Vec<Option<[f32; 3]>>, root: usize) -> u32 {
    // Preorder list of the subtree; the copy of the k-th node gets id base + k.
    let mut order = Vec::new();
    let mut stack = vec![root];
    while let Some(n) = stack.pop() {
        order.push(n);
        if let Node::Split { left, right, .. } = &nodes[n] {
            stack.push(*right as usize);
            stack.push(*left as usize);
        }
    }
    let base = nodes.len();
    let new_id: std::collections::HashMap<usize, u32> =
        order.iter().enumerate().map(|(k, n)| (*n, (base + k) as u32)).collect();
    for n in &order {
        let copy = match nodes[*n].clone() {
            Node::Split { feature, threshold, op, left, right, missing_left } => Node::Split {
                feature,
                threshold,
                op,
                left: new_id[&(left as usize)],
                right: new_id[&(right as usize)],
                missing_left,
            },
            leaf => leaf,
        };
        nodes.push(copy);
        marks.push(marks[*n]);
    }
    base as u32
}

/// How a missing-type-Zero split is expressed with `x <= a` splits.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(super) enum ZeroSplit {
    /// One split `x <= threshold`; NaN goes left iff `missing_left`.
    One { threshold: f32, missing_left: bool },
    /// Left, right, left, right over `(-inf, a0]`, `(a0, a1]`, `(a1, a2]`, `(a2, inf)`;
    /// NaN goes left iff `missing_left`.
    Chain { a: [f32; 3], missing_left: bool },
}

/// Missing type Zero: NaN and |x| <= z (z = `kZeroThreshold`) go to the default side, every
/// other float32 goes left iff `x <= t32`. Returns splits with exactly that left set over
/// float32 (and NaN on the default side).
pub(super) fn zero_as_missing(t32: f32, default_left: bool) -> ZeroSplit {
    let z = ZERO_THRESHOLD;
    let below = next_down(-z); // the largest float32 under the zero band
    let one = |threshold| ZeroSplit::One { threshold, missing_left: default_left };
    if default_left {
        if t32 >= below {
            // Left = (-inf, t32] ∪ [-z, z], one interval since they touch or overlap.
            one(t32.max(z))
        } else {
            // Left = (-inf, t32] ∪ [-z, z], with (t32, -z) going right between them.
            ZeroSplit::Chain { a: [t32, below, z], missing_left: true }
        }
    } else if t32 < -z {
        // Left = (-inf, t32], disjoint from the zero band.
        one(t32)
    } else if t32 <= z {
        // Left = (-inf, t32] minus [-z, z] = (-inf, below].
        one(below)
    } else {
        // Left = (-inf, -z) ∪ (z, t32], with the zero band going right between them.
        ZeroSplit::Chain { a: [below, z, t32], missing_left: false }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::frontend::threshold::next_up;
    use crate::frontend::trees::Tree;

    /// LightGBM's NumericalDecision for missing type Zero on a float32 input, written from its
    /// definition (the oracle for `zero_as_missing`).
    fn lightgbm_goes_left(x: f32, t: f32, default_left: bool) -> bool {
        let v = if x.is_nan() { 0.0 } else { x as f64 };
        let z = ZERO_THRESHOLD as f64;
        if (-z..=z).contains(&v) {
            default_left
        } else {
            v <= t as f64
        }
    }

    fn probes(t: f32) -> Vec<f32> {
        let z = ZERO_THRESHOLD;
        let mut v = vec![
            f32::NAN,
            0.0,
            -0.0,
            f32::from_bits(1),
            -f32::from_bits(1),
            z,
            -z,
            next_up(z),
            next_down(-z),
            next_down(z),
            next_up(-z),
            1.0,
            -1.0,
            f32::INFINITY,
            f32::NEG_INFINITY,
        ];
        v.extend([t, next_up(t), next_down(t)]);
        v
    }

    /// Where `zero_as_missing`'s splits send `x`.
    fn ours_goes_left(split: ZeroSplit, x: f32) -> bool {
        match split {
            ZeroSplit::One { threshold, missing_left } => {
                if x.is_nan() {
                    missing_left
                } else {
                    x <= threshold
                }
            }
            ZeroSplit::Chain { a, missing_left } => {
                if x.is_nan() {
                    missing_left
                } else {
                    x <= a[0] || (x > a[1] && x <= a[2])
                }
            }
        }
    }

    #[test]
    fn zero_missing_type_is_exact() {
        let z = ZERO_THRESHOLD;
        let thresholds = [
            -1.0,
            next_down(next_down(-z)),
            next_down(-z),
            -z,
            -1e-40,
            0.0,
            1e-40,
            z,
            next_up(z),
            0.5,
        ];
        let mut chains = 0;
        for &t in &thresholds {
            for default_left in [false, true] {
                let split = zero_as_missing(t, default_left);
                if let ZeroSplit::Chain { a, .. } = split {
                    chains += 1;
                    assert!(a[0] < a[1] && a[1] < a[2], "{a:?}");
                }
                for x in probes(t) {
                    assert_eq!(
                        ours_goes_left(split, x),
                        lightgbm_goes_left(x, t, default_left),
                        "t={t:e} default_left={default_left} x={x:e}"
                    );
                }
            }
        }
        // Chains only where one split cannot do: default left with t32 < prev(-z) (2 of the
        // thresholds), default right with t32 > z (2).
        assert_eq!(chains, 4);
    }

    #[test]
    fn chain_expansion_copies_subtrees_and_keeps_original_ids() {
        // 0: x0 <= [chain] ? 1 : 2, 1: leaf 1, 2: x1 <= 0.5 ? 3 : 4, 3: leaf 2, 4: leaf 3.
        let split = |feature, threshold, left, right| Node::Split {
            feature,
            threshold,
            op: SplitOp::Le,
            left,
            right,
            missing_left: true,
        };
        let leaf = |v| Node::Leaf { value: v };
        let a = [-1.0f32, 0.0, 1.0];
        let nodes =
            vec![split(0, a[1], 1, 2), leaf(1.0), split(1, 0.5, 3, 4), leaf(2.0), leaf(3.0)];
        let out = expand_chains(nodes.clone(), vec![(0, a)]).unwrap();
        assert_eq!(out[1..5], nodes[1..5]);
        let tree = Tree { output: 0, nodes: out };
        // Reference: left (subtree 1) on x0 <= -1 or 0 < x0 <= 1, else right (subtree 2).
        for x0 in [-2.0f32, -1.0, -0.5, 0.0, 0.5, 1.0, 2.0, f32::NAN] {
            for x1 in [0.0f32, 1.0] {
                let go_left = x0.is_nan() || x0 <= -1.0 || (x0 > 0.0 && x0 <= 1.0);
                let want = if go_left {
                    1.0
                } else if x1 <= 0.5 {
                    2.0
                } else {
                    3.0
                };
                assert_eq!(tree.leaf_value(&[x0, x1]), want, "x0={x0} x1={x1}");
            }
        }
    }
}
