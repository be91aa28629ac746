//! `cam-quantize`: float CAM rows → per-feature rank codes and fixed-point leaves.

use crate::cam::dialect::{CamCodes, CamRows};
use crate::cam::quantize::{quantize, QuantConfig};
use crate::ir::{Graph, Op};
use crate::passes::rewrite::{mapped_cell, require_dialect, rewrite_dialect};
use crate::passes::{DefaultValue, OptionKind, Pass, PassContext, PassError, PassOption};
use std::sync::Arc;

/// Rank-based threshold codes per feature: lossless while a feature has fewer unique thresholds
/// than the cell has levels; beyond that thresholds are merged where the training set is least
/// affected, and the loss is reported rather than hidden.
pub struct CamQuantize;

static OPTIONS: &[PassOption] = &[
    PassOption {
        name: "levels",
        kind: OptionKind::Int { min: 0, max: 65536 },
        default: DefaultValue::Int(0),
        help: "levels one cell stores; 0 takes the mapped cell's `levels` (never more than it has)",
    },
    PassOption {
        name: "leaf-bits",
        kind: OptionKind::Int { min: 2, max: 32 },
        default: DefaultValue::Int(16),
        help: "signed fixed-point width of each leaf value",
    },
];

impl Pass for CamQuantize {
    fn name(&self) -> &'static str {
        "cam-quantize"
    }
    fn description(&self) -> &'static str {
        "Encode thresholds as per-feature rank codes (exact while the cell has enough levels, \
         else merge the least-used thresholds and report the loss) and leaves as fixed point."
    }
    fn options(&self) -> &'static [PassOption] {
        OPTIONS
    }
    fn preconditions(&self, g: &Graph) -> Result<(), crate::passes::Unmet> {
        require_dialect::<CamRows>(g, "CAM rows", "cam-pack")
    }
    fn run(&self, g: &Graph, cx: &PassContext) -> Result<Graph, PassError> {
        let cell = mapped_cell(self.name(), cx)?;
        let cell_levels = cell.count("levels").map_err(|m| PassError::failed(self.name(), m))?;
        let asked = cx.int("levels")? as u64;
        if asked > cell_levels {
            return Err(PassError::failed(
                self.name(),
                format!(
                    "levels = {asked} exceeds the {cell_levels} levels of cell `{}`",
                    cell.name
                ),
            ));
        }
        let cfg = QuantConfig {
            levels: if asked == 0 { cell_levels as u32 } else { asked as u32 },
            leaf_bits: cx.int("leaf-bits")? as u32,
        };
        let train = cx.calibration.map(|c| c.view());
        rewrite_dialect::<CamRows>(self.name(), g, |CamRows(p)| {
            let q = quantize(p, &cfg, train)
                .map_err(|e| PassError::failed(self.name(), e.to_string()))?;
            Ok(Op::dialect_op(CamCodes { quantized: Arc::new(q) }))
        })
    }
}
