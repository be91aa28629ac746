//! `sparsify`: top-N attention.

use crate::attention::calib::{mha_nodes, require_mha};
use crate::attention::ir::MhaOp;
use crate::attention::select::Selection;
use crate::ir::{Graph, Op};
use crate::passes::{DefaultValue, OptionKind, Pass, PassContext, PassError, PassOption};

/// Keeps the `top-n` best scores of every query row before the softmax and masks the rest
/// (ties to the lower key index; see `crate::attention::select`). With `hierarchical`, the
/// first stage keeps the top `per-tile` of every `tile` consecutive scores and the second the
/// global top N of those candidates (CAMformer). `layer` restricts it to one attention layer,
/// so running the pass once per layer gives each its own N.
pub struct Sparsify;

const OPTIONS: &[PassOption] = &[
    PassOption {
        name: "top-n",
        kind: OptionKind::Int { min: 1, max: 1 << 20 },
        default: DefaultValue::None,
        help: "scores kept per query row",
    },
    PassOption {
        name: "hierarchical",
        kind: OptionKind::Bool,
        default: DefaultValue::Bool(false),
        help: "two-stage top-k: top per-tile of each tile, then the global top-n",
    },
    PassOption {
        name: "tile",
        kind: OptionKind::Int { min: 1, max: 1 << 16 },
        default: DefaultValue::Int(16),
        help: "scores per first-stage tile (hierarchical)",
    },
    PassOption {
        name: "per-tile",
        kind: OptionKind::Int { min: 1, max: 1 << 16 },
        default: DefaultValue::Int(2),
        help: "candidates each tile passes on (hierarchical)",
    },
    PassOption {
        name: "layer",
        kind: OptionKind::Int { min: -1, max: 1 << 20 },
        default: DefaultValue::Int(-1),
        help: "sparsify only this attention layer (0-based, in graph order); -1 means all",
    },
    // Read by the attention family (`crate::attention::family`), not by this pass.
];

impl Pass for Sparsify {
    fn name(&self) -> &'static str {
        "sparsify"
    }
    fn description(&self) -> &'static str {
        "Top-N attention: keep the N best scores per query (optionally hierarchical top-k), mask the rest."
    }
    fn options(&self) -> &'static [PassOption] {
        OPTIONS
    }
    fn preconditions(&self, graph: &Graph) -> Result<(), crate::passes::Unmet> {
        require_mha(graph)
    }
    fn run(&self, graph: &Graph, cx: &PassContext) -> Result<Graph, PassError> {
        let n = cx.int("top-n")? as usize;
        let layer = cx.int("layer")?;
        let sel = if cx.bool("hierarchical")? {
            Selection::Hierarchical {
                n,
                tile: cx.int("tile")? as usize,
                per_tile: cx.int("per-tile")? as usize,
            }
        } else {
            Selection::TopN { n }
        };
        let nodes = mha_nodes(graph);
        if layer >= nodes.len() as i64 {
            return Err(PassError::BadOption {
                pass: self.name().into(),
                option: "layer".into(),
                message: format!("the graph has {} attention layers", nodes.len()),
            });
        }
        let mut g = graph.clone();
        for (i, &id) in nodes.iter().enumerate() {
            if layer >= 0 && i as i64 != layer {
                continue;
            }
            let Some(m) = graph.op(id).dialect::<MhaOp>() else { continue };
            let s = graph.ty(id).shape.first().copied().unwrap_or(0);
            sel.validate(s).map_err(|e| PassError::BadOption {
                pass: self.name().into(),
                option: "top-n".into(),
                message: format!("attention layer {i}: {e}"),
            })?;
            let mut new = m.clone();
            new.select = sel;
            g.node_mut(id).op = Op::dialect_op(new);
        }
        Ok(g)
    }
}
