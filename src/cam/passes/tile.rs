//! `cam-tile`: quantized rows → the hardware: an input encoder, the arrays of the cell's
//! geometry in search order, the accumulator (see [`crate::cam::dialect`]).

use super::emit::emit;
use crate::cam::design::{choose_geometry, default_auto_candidates, encode_all, TileChoice};
use crate::cam::dialect::{CamCodes, Schedule};
use crate::cam::energy::CamPhysics;
use crate::cam::tile::{check_options, tile, ColumnOrder, Geometry, Policy, TileOptions};
use crate::cam::CamError;
use crate::dsl::accel::{Instance, Value};
use crate::ir::Graph;
use crate::passes::rewrite::{mapped_cell, nodes_where, require_dialect};
use crate::passes::{
    DefaultValue, OptionKind, OptionProblem, Pass, PassContext, PassError, PassOption,
};
use std::collections::BTreeMap;

/// Lays the rows out on arrays for the policy `order` picks and writes them as hardware nodes.
/// The report's comparison with the other two policies rebuilds their layouts from the graph
/// ([`crate::cam::hardware::design`]).
pub struct CamTile;

static OPTIONS: &[PassOption] = &[
    PassOption {
        name: "tile",
        kind: OptionKind::DimsOr(&["cell", "auto"]),
        default: DefaultValue::Symbol("cell"),
        help: "array geometry rows x columns; `cell` uses the cell's own, `auto` picks the \
               candidate with the least MonoSparse energy on the calibration data",
    },
    PassOption {
        name: "order",
        kind: OptionKind::Symbol(&["raw", "reorder", "monosparse"]),
        default: DefaultValue::Symbol("monosparse"),
        help: "the policy the generated hardware implements (all three are reported)",
    },
    PassOption {
        name: "cluster",
        kind: OptionKind::Bool,
        default: DefaultValue::Bool(false),
        help: "group rows that test the same features so each row tile touches few arrays \
               (beyond the paper)",
    },
    PassOption {
        name: "column-order",
        kind: OptionKind::Symbol(&["care_count", "rejection"]),
        default: DefaultValue::Symbol("care_count"),
        help: "search order of a row tile's arrays: most care cells first, or greedily by how \
               many live rows each rejects on the calibration data (beyond the paper)",
    },
];

/// The geometry `tile = RxC` asks for, checked against the cell instance: a valid size, no larger
/// than the instance's arrays, and an array the cell's data-line drivers can drive within one
/// clock (X-TIME's `R_out > 0`). The pass and `lint` (through [`Pass::check_mapping`]) share it.
fn fixed_tile(dims: &[u64], physics: &CamPhysics) -> Result<Geometry, String> {
    let [r, c] = dims else {
        return Err("tile must be rows x columns, e.g. 24x48".into());
    };
    let plain = |e: CamError| match e {
        CamError::BadOption { message, .. } => message,
        e => e.to_string(),
    };
    let g = Geometry::new(*r as usize, *c as usize).map_err(plain)?;
    if g.rows > physics.rows || g.cols > physics.cols {
        return Err(format!(
            "a {g} tile does not fit the instance's {}x{} arrays",
            physics.rows, physics.cols
        ));
    }
    physics.costs(g).map_err(plain)?;
    Ok(g)
}

impl Pass for CamTile {
    fn name(&self) -> &'static str {
        "cam-tile"
    }
    fn description(&self) -> &'static str {
        "Tile the CAM onto arrays: raw (every array, every row), reorder (skip all-don't-care \
         arrays) and monosparse (also a row-liveness register and early exit); `order` selects \
         what the RTL implements."
    }
    fn options(&self) -> &'static [PassOption] {
        OPTIONS
    }
    fn check_mapping(
        &self,
        options: &BTreeMap<String, Value>,
        target: &Instance,
    ) -> Result<(), OptionProblem> {
        let (Some(Value::Dims(d)), Ok(physics)) =
            (options.get("tile"), CamPhysics::from_instance(target))
        else {
            return Ok(());
        };
        fixed_tile(d, &physics)
            .map(|_| ())
            .map_err(|message| OptionProblem { option: "tile".into(), message })
    }
    fn preconditions(&self, g: &Graph) -> Result<(), crate::passes::Unmet> {
        require_dialect::<CamCodes>(g, "quantized CAM", "cam-quantize")
    }
    fn run(&self, g: &Graph, cx: &PassContext) -> Result<Graph, PassError> {
        let fail = |m: String| PassError::failed(self.name(), m);
        let cell = mapped_cell(self.name(), cx)?;
        let physics = CamPhysics::from_instance(cell).map_err(|e| fail(e.to_string()))?;
        let tile_choice = match cx.options.get("tile") {
            Some(Value::Dims(d)) => TileChoice::Fixed(fixed_tile(d, &physics).map_err(fail)?),
            Some(Value::Symbol(s)) if s == "auto" => TileChoice::Auto(default_auto_candidates()),
            _ => TileChoice::Cell,
        };
        let order =
            Policy::by_name(cx.symbol("order")?).ok_or_else(|| fail("unknown order".into()))?;
        let column_order = ColumnOrder::by_name(cx.symbol("column-order")?)
            .ok_or_else(|| fail("unknown column order".into()))?;
        let options = TileOptions { cluster: cx.bool("cluster")?, column_order };
        let train = cx.calibration.map(|c| c.view());
        let mut out = g.clone();
        for id in nodes_where(g, |op| op.dialect::<CamCodes>().is_some()) {
            let Some(CamCodes { quantized: q }) = g.op(id).dialect::<CamCodes>() else {
                continue;
            };
            let encoded = encode_all(q, train).map_err(|e| fail(e.to_string()))?;
            let (geometry, auto) = match &tile_choice {
                TileChoice::Cell => (Geometry::new(physics.rows, physics.cols), None),
                TileChoice::Fixed(g) => (Geometry::new(g.rows, g.cols), None),
                TileChoice::Auto(candidates) => {
                    match choose_geometry(q, &physics, candidates, &options, &encoded) {
                        Ok((g, scored)) => (Ok(g), Some(scored)),
                        Err(e) => (Err(e), None),
                    }
                }
            };
            let geometry = geometry.map_err(|e| fail(e.to_string()))?;
            physics.costs(geometry).map_err(|e| fail(e.to_string()))?;
            // The report compares all three layouts, so what the monosparse one needs is
            // checked whatever `order` the hardware implements.
            check_options(&options, &encoded).map_err(|e| fail(e.to_string()))?;
            let layout =
                tile(q, geometry, order, &options, &encoded).map_err(|e| fail(e.to_string()))?;
            let schedule = Schedule { geometry, policy: order, options, auto };
            let x = *g.operands(id).first().ok_or_else(|| fail("cam.codes has no input".into()))?;
            let bad = |e: crate::ir::graph::GraphError| fail(e.to_string());
            let margins = emit(&mut out, x, q, &layout, schedule).map_err(bad)?;
            out.node_mut(margins).name = g.node(id).name.clone();
            out.replace_all_uses(id, margins);
            out.remove_node(id);
        }
        Ok(out)
    }
}
