//! `crossbar-tile`: quantized layers → bit-sliced weights on arrays with shared ADCs.

use super::common::{calibration_rows, require_stage};
use crate::crossbar::adc::Adc;
use crate::crossbar::dialect::XbarDense;
use crate::crossbar::error::XbarError;
use crate::crossbar::graph::{add_placed, read};
use crate::crossbar::ops::XbarLayerHw;
use crate::crossbar::sim::calibrate_full_scale;
use crate::crossbar::tile::{FullScale, SignedEncoding, XbarConfig};
use crate::dsl::accel::{Instance, Value};
use crate::ir::Graph;
use crate::passes::rewrite::{mapped_cell, nodes_where, retype};
use crate::passes::{
    written_number, DefaultValue, OptionKind, OptionProblem, Pass, PassContext, PassError,
    PassOption,
};
use std::collections::BTreeMap;
use std::sync::Arc;

/// Places every layer on arrays of the mapped instance's geometry: weights split into cell
/// slices and polarities, inputs into row tiles, outputs into column tiles, columns shared by
/// ADCs. The ADC's full scale is fixed here (the array maximum, a given level count, or a
/// percentile of the calibration data's column sums).
pub struct CrossbarTile;

const fn from_instance(max: i64) -> OptionKind {
    OptionKind::Int { min: 0, max }
}

static OPTIONS: &[PassOption] = &[
    PassOption {
        name: "rows",
        kind: from_instance(65536),
        default: DefaultValue::Int(0),
        help: "array rows; 0 takes the instance's `rows`",
    },
    PassOption {
        name: "cols",
        kind: from_instance(65536),
        default: DefaultValue::Int(0),
        help: "array columns; 0 takes the instance's `cols`",
    },
    PassOption {
        name: "cell-bits",
        kind: from_instance(8),
        default: DefaultValue::Int(0),
        help: "bits stored per cell; 0 takes the instance's `cell_bits`",
    },
    PassOption {
        name: "cols-per-adc",
        kind: from_instance(65536),
        default: DefaultValue::Int(0),
        help: "columns sharing one ADC (converted in turn); 0 takes the instance's `cols_per_adc`",
    },
    PassOption {
        name: "adc-bits",
        kind: from_instance(16),
        default: DefaultValue::Int(0),
        help: "ADC resolution; 0 takes the instance's `adc_bits`",
    },
    PassOption {
        name: "signed",
        kind: OptionKind::Symbol(&["differential", "offset"]),
        default: DefaultValue::Symbol("differential"),
        help: "signed weights as differential column pairs, or offset by the smallest code \
               with a digital correction",
    },
    PassOption {
        name: "adc-full-scale",
        kind: OptionKind::Int { min: 0, max: 1 << 40 },
        default: DefaultValue::Int(0),
        help: "ADC full scale in cell levels; 0 takes the array maximum rows * (2^cell_bits - 1) \
               (no clipping)",
    },
    PassOption {
        name: "adc-percentile",
        kind: OptionKind::Real,
        default: DefaultValue::Real(0.0),
        help: "when above 0, calibrate the full scale as this percentile (e.g. 99.9) of the \
               column sums the calibration data produce: finer steps where the data are",
    },
];

fn geometry(inst: &Instance, cx: &PassContext) -> Result<XbarConfig, String> {
    let pick = |opt: &str, param: &str| -> Result<u64, String> {
        match cx.int(opt).map_err(|e| e.to_string())? {
            0 => Ok(inst.count(param)?),
            v => Ok(v as u64),
        }
    };
    let encoding = match cx.symbol("signed").map_err(|e| e.to_string())? {
        "offset" => SignedEncoding::Offset,
        _ => SignedEncoding::Differential,
    };
    let cfg = XbarConfig {
        rows: pick("rows", "rows")? as usize,
        cols: pick("cols", "cols")? as usize,
        cell_bits: pick("cell-bits", "cell_bits")? as u32,
        encoding,
        cols_per_adc: pick("cols-per-adc", "cols_per_adc")? as usize,
        adc_bits: pick("adc-bits", "adc_bits")? as u32,
        full_scale: FullScale::ArrayMax,
    };
    if cfg.rows == 0 || cfg.cols == 0 || cfg.cols_per_adc == 0 || cfg.cell_bits == 0 {
        return Err("rows, cols, cell_bits and cols_per_adc must be positive".into());
    }
    if !(1..=16).contains(&cfg.adc_bits) || cfg.cell_bits > 8 {
        return Err(format!(
            "cell_bits {} must be 1..=8 and adc_bits {} 1..=16",
            cfg.cell_bits, cfg.adc_bits
        ));
    }
    Ok(cfg)
}

/// The read-out options' own rule, shared by [`Pass::check_mapping`] (so `lint` reports it with
/// the option's span) and [`Pass::run`]: the percentile is a percentage, and a full scale is
/// either given or calibrated, not both.
fn check_full_scale(full_scale: i64, percentile: f64) -> Result<(), OptionProblem> {
    let problem = |option: &str, message: String| OptionProblem { option: option.into(), message };
    if !(0.0..=100.0).contains(&percentile) {
        return Err(problem(
            "adc-percentile",
            format!("adc-percentile = {percentile} must be in 0..=100"),
        ));
    }
    if full_scale > 0 && percentile > 0.0 {
        return Err(problem(
            "adc-percentile",
            "give adc-full-scale or adc-percentile, not both".into(),
        ));
    }
    Ok(())
}

impl Pass for CrossbarTile {
    fn name(&self) -> &'static str {
        "crossbar-tile"
    }
    fn description(&self) -> &'static str {
        "Place quantized layers on crossbar arrays: weights in bit slices of cells (differential \
         pairs or offset encoding), row and column tiles, shared ADCs with a fixed or calibrated \
         full scale."
    }
    fn options(&self) -> &'static [PassOption] {
        OPTIONS
    }
    fn check_mapping(
        &self,
        options: &BTreeMap<String, Value>,
        _target: &Instance,
    ) -> Result<(), OptionProblem> {
        let number = |name: &str| written_number(options, name).unwrap_or(0.0);
        check_full_scale(number("adc-full-scale") as i64, number("adc-percentile"))
    }
    fn preconditions(&self, g: &Graph) -> Result<(), crate::passes::Unmet> {
        require_stage(g, |op| op.dialect::<XbarDense>().is_some(), "quantized layers", "quantize")
    }
    fn run(&self, g: &Graph, cx: &PassContext) -> Result<Graph, PassError> {
        let fail = |m: String| PassError::failed(self.name(), m);
        let xfail = |e: XbarError| PassError::failed_with(self.name(), e);
        let inst = mapped_cell(self.name(), cx)?;
        let mut cfg =
            geometry(inst, cx).map_err(|m| fail(format!("instance `{}`: {m}", inst.name)))?;
        let fs = cx.int("adc-full-scale")? as u64;
        let pct = cx.real("adc-percentile")?;
        check_full_scale(fs as i64, pct).map_err(|p| fail(p.message))?;
        // `check_full_scale` has refused a percentile together with a full scale.
        // Placement does not depend on the ADC: every layer is placed once, and the full-scale
        // calibration runs on those very cells (no second placement and bit-plane build).
        let mut placed = Vec::new();
        for id in nodes_where(g, |op| op.dialect::<XbarDense>().is_some()) {
            let Some(XbarDense(l)) = g.op(id).dialect::<XbarDense>() else { continue };
            let hw = XbarLayerHw::place(l, &cfg)
                .map_err(|m| fail(format!("layer `{}`: {m}", l.name)))?;
            placed.push((id, hw));
        }
        cfg.full_scale = if pct > 0.0 {
            let q = read(g).map_err(xfail)?.quantized();
            let n_in = q.input.scale.len();
            let calib = calibration_rows(self.name(), cx, n_in, "adc-percentile")?;
            // The cells of each quantized layer, in the network's order.
            let cells = q.layers.iter().map(|l| {
                let hw = placed.iter().map(|(_, h)| h).find(|h| Arc::ptr_eq(&h.layer, l));
                hw.map(|h| (h.map.clone(), h.prog.clone()))
                    .ok_or_else(|| fail(format!("layer `{}` was not placed", l.name)))
            });
            let cells = cells.collect::<Result<Vec<_>, _>>()?;
            FullScale::Levels(calibrate_full_scale(&q, &cfg, &cells, &calib, pct).map_err(xfail)?)
        } else if fs > 0 {
            FullScale::Levels(fs)
        } else {
            FullScale::ArrayMax
        };
        // Each `xbar.dense` node becomes its layer's arrays and their read-out; the
        // accumulator types after it widen to the arrays' bounds.
        let mut out = g.clone();
        for (id, hw) in placed {
            let adc = Adc { full_scale: cfg.full_scale_levels(), ..hw.adc };
            let hw = XbarLayerHw { cfg, adc, ..hw };
            let readout =
                add_placed(&mut out, g.operands(id)[0], &Arc::new(hw), false).map_err(xfail)?;
            out.replace_all_uses(id, readout);
            out.remove_node(id);
        }
        retype(self.name(), &mut out)?;
        Ok(out)
    }
}
