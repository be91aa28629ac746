//! `crossbar-program`: placed layers → the device's conductance codes.

use super::common::require_stage;
use crate::crossbar::device::DeviceConfig;
use crate::crossbar::dialect::XbarReadout;
use crate::crossbar::error::XbarError;
use crate::crossbar::graph::add_placed;
use crate::ir::Graph;
use crate::passes::rewrite::{mapped_cell, nodes_where, retype};
use crate::passes::{DefaultValue, OptionKind, Pass, PassContext, PassError, PassOption};
use std::sync::Arc;

/// Programs the chip: every cell's level becomes an integer conductance code (in `2^-frac`
/// level units) with the instance's device-to-device variation, stuck cells and on/off ratio,
/// drawn from PRNG streams of `seed`. The codes are what the RTL's weight memories hold, so a
/// varied chip is reproduced bit for bit; read noise (`c2c_sigma`) stays in the simulator.
pub struct CrossbarProgram;

static OPTIONS: &[PassOption] = &[
    PassOption {
        name: "seed",
        kind: OptionKind::Int { min: 0, max: 1 << 53 },
        default: DefaultValue::Int(0),
        help: "seed of the device-variation and read-noise streams (same seed, same chip)",
    },
    PassOption {
        name: "frac-bits",
        kind: OptionKind::Int { min: 0, max: 16 },
        default: DefaultValue::Int(6),
        help: "fraction bits of the conductance codes of a nonideal device (an ideal one stores \
               whole levels)",
    },
];

impl Pass for CrossbarProgram {
    fn name(&self) -> &'static str {
        "crossbar-program"
    }
    fn description(&self) -> &'static str {
        "Program the placed arrays on the instance's device: seeded device-to-device variation, \
         stuck cells and off-state leakage baked into integer conductance codes."
    }
    fn options(&self) -> &'static [PassOption] {
        OPTIONS
    }
    fn preconditions(&self, g: &Graph) -> Result<(), crate::passes::Unmet> {
        require_stage(
            g,
            |op| op.dialect::<XbarReadout>().is_some_and(|t| !t.programmed),
            "placed layers",
            "crossbar-tile",
        )
    }
    fn run(&self, g: &Graph, cx: &PassContext) -> Result<Graph, PassError> {
        let fail = |m: String| PassError::failed(self.name(), m);
        let xfail = |e: XbarError| PassError::failed_with(self.name(), e);
        let inst = mapped_cell(self.name(), cx)?;
        let seed = cx.int("seed")? as u64;
        let mut dev =
            DeviceConfig::from_instance(inst, seed, cx.int("frac-bits")? as u32).map_err(xfail)?;
        if dev.programs_exactly() && dev.c2c_sigma == 0.0 {
            dev.frac_bits = 0;
        }
        // Each layer's arrays and read-out are replaced by programmed ones; layer `i` (in
        // dataflow order) draws its chip from PRNG stream `i`. Programmed codes change the
        // bounds, so the types after each layer are inferred anew.
        let mut out = g.clone();
        let readouts = nodes_where(g, |op| op.dialect::<XbarReadout>().is_some());
        for (index, id) in readouts.into_iter().enumerate() {
            let Some(t) = g.op(id).dialect::<XbarReadout>() else { continue };
            let hw =
                t.hw.program(&dev, index)
                    .map_err(|m| fail(format!("layer `{}`: {m}", t.hw.layer.name)))?;
            let operands = g.operands(id);
            // The old arrays leave the layer input's edge list before the new ones join it
            // (newest first: see `Graph::detach_operands`).
            for a in operands[1..].iter().rev() {
                out.detach_operands(*a);
            }
            let readout = add_placed(&mut out, operands[0], &Arc::new(hw), true).map_err(xfail)?;
            out.replace_all_uses(id, readout);
            out.remove_node(id);
            for a in &operands[1..] {
                out.remove_node(*a);
            }
        }
        retype(self.name(), &mut out)?;
        Ok(out)
    }
}
