//! `binarize`: HAD post-training binarization of attention queries and keys.

use crate::attention::calib::{had_sigmas, mha_nodes, probe, require_mha};
use crate::attention::ir::{MhaOp, QkMode, SigmaOrigin};
use crate::ir::{Graph, Op};
use crate::passes::{DefaultValue, OptionKind, Pass, PassContext, PassError, PassOption};

/// Turns every float `mha` (or the one selected by `layer`) into HAD form: Q and K become
/// `sigma * sign(.)` with `sign(0) = +1`, so scores are `tau * (d_k - 2 HD)` and the hardware
/// computes integer Hamming distances. The sigmas are estimated on the calibration data
/// (`--data`) from the float model, as HAD does (papers.md section 1). Attention that a HAD-trained
/// model already binarizes (Sign in the graph) keeps its trained scales exactly.
pub struct Binarize;

const OPTIONS: &[PassOption] = &[
    PassOption {
        name: "per-head",
        kind: OptionKind::Bool,
        default: DefaultValue::Bool(false),
        help: "one sigma_Q/sigma_K pair per head instead of per layer",
    },
    PassOption {
        name: "layer",
        kind: OptionKind::Int { min: -1, max: 1 << 20 },
        default: DefaultValue::Int(-1),
        help: "binarize only this attention layer (0-based, in graph order); -1 means all",
    },
    // Read by the attention family (`crate::attention::family`), not by this pass.
];

impl Pass for Binarize {
    fn name(&self) -> &'static str {
        "binarize"
    }
    fn description(&self) -> &'static str {
        "HAD: binarize attention Q/K to sigma*sign(.) with calibrated scales, scores become Hamming distances."
    }
    fn options(&self) -> &'static [PassOption] {
        OPTIONS
    }
    fn preconditions(&self, graph: &Graph) -> Result<(), crate::passes::Unmet> {
        require_mha(graph)
    }
    fn run(&self, graph: &Graph, cx: &PassContext) -> Result<Graph, PassError> {
        let per_head = cx.bool("per-head")?;
        let layer = cx.int("layer")?;
        let fail = |m: String| PassError::failed(self.name(), m);
        let nodes = mha_nodes(graph);
        if layer >= nodes.len() as i64 {
            return Err(PassError::BadOption {
                pass: self.name().into(),
                option: "layer".into(),
                message: format!("the graph has {} attention layers", nodes.len()),
            });
        }
        let todo: Vec<usize> = (0..nodes.len())
            .filter(|&i| layer < 0 || i as i64 == layer)
            .filter(|&i| {
                graph.op(nodes[i]).dialect::<MhaOp>().is_some_and(|m| m.qk == QkMode::Float)
            })
            .collect();
        if todo.is_empty() {
            return Ok(graph.clone()); // everything selected is binarized already
        }
        let calib = cx.calibration.ok_or_else(|| {
            fail("needs calibration data to estimate sigma_Q and sigma_K (give --data)".into())
        })?;
        // Inputs of the selected layers, observed on the float graph.
        let operands: Vec<_> = todo.iter().map(|&i| graph.operands(nodes[i])[0]).collect();
        let mut seen: Vec<Vec<Vec<f32>>> = vec![Vec::new(); todo.len()];
        probe(graph, calib, &operands, |k, _, t| {
            seen[k].push(t.floats().unwrap_or_default().to_vec());
            Ok(())
        })
        .map_err(|e| fail(e.to_string()))?;
        let mut g = graph.clone();
        for (k, &i) in todo.iter().enumerate() {
            let Some(m) = graph.op(nodes[i]).dialect::<MhaOp>() else { continue };
            let (sigma_q, sigma_k) = had_sigmas(m, &seen[k], per_head);
            if sigma_q.iter().chain(&sigma_k).any(|s| !(*s > 0.0 && s.is_finite())) {
                return Err(fail(format!(
                    "attention layer {i}: Q or K is constant on the calibration data (sigma = 0)"
                )));
            }
            let mut new = m.clone();
            new.qk = QkMode::Binary { sigma_q, sigma_k, origin: SigmaOrigin::Calibrated };
            g.node_mut(nodes[i]).op = Op::dialect_op(new);
        }
        Ok(g)
    }
}
