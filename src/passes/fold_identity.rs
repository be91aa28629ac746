//! `fold-identity`: removes ops that return their operand unchanged.

use super::{DefaultValue, OptionKind, Pass, PassContext, PassError, PassOption};
use crate::ir::{Graph, Op};

/// Removes `identity` nodes and, with `reshapes = true`, `reshape`/`flatten` nodes whose result
/// type equals their operand's type; users read the operand directly. Frontends produce these
/// (ONNX exporters insert Identity and no-op Reshape freely) and later passes pattern-match
/// more easily without them.
pub struct FoldIdentity;

const OPTIONS: &[PassOption] = &[PassOption {
    name: "reshapes",
    kind: OptionKind::Bool,
    default: DefaultValue::Bool(true),
    help: "also fold reshape and flatten nodes whose result shape equals their operand's",
}];

impl Pass for FoldIdentity {
    fn name(&self) -> &'static str {
        "fold-identity"
    }
    fn description(&self) -> &'static str {
        "Remove identity nodes and no-op reshapes, wiring users to the original value."
    }
    fn options(&self) -> &'static [PassOption] {
        OPTIONS
    }
    fn run(&self, graph: &Graph, cx: &PassContext) -> Result<Graph, PassError> {
        let reshapes = cx.bool("reshapes")?;
        let mut g = graph.clone();
        for id in graph.topo_order() {
            let foldable = match graph.op(id) {
                Op::Identity => true,
                Op::Reshape { .. } | Op::Flatten { .. } => reshapes,
                _ => false,
            };
            if !foldable {
                continue;
            }
            let operands = g.operands(id);
            let [src] = operands.as_slice() else {
                return Err(PassError::failed(
                    self.name(),
                    "a verified graph gives these ops one operand",
                ));
            };
            if g.ty(*src) == g.ty(id) {
                g.replace_all_uses(id, *src);
                g.remove_node(id);
            }
        }
        Ok(g)
    }
}
