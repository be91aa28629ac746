//! A compiled transformer as the attention family realizes it from the final graph: simulate
//! it with costs, lower it to Verilog and produce test vectors.

use super::core::CoreMode;
use super::cost::{head_cost, price_cores, scaling, AttnShape, AttnUnits, Variant};
use super::error::AttnError;
use super::program::{MachineOp, Program};
use super::rtl::machine::{input_elem, machine_design, output_elem};
use super::rtl::{unit_design, unit_vectors, AttnVerilog};
use super::sim::{head_operands, run, run_observed, SimEvents};
use crate::backend::verilog::bits::Bits;
use crate::backend::verilog::hex::pack;
use crate::sim::cost::Ledger;
use ndarray::Array2;
use serde_json::json;
use std::sync::Arc;

/// Sequence lengths of the scaling study in reports.
pub const SCALING_SEQS: &[usize] = &[64, 128, 256, 512, 1024, 2048, 4096];

/// A compiled transformer: the integer program `attn-quantize` left in the final graph, and
/// the unit figures its costs use.
#[derive(Clone, Debug)]
pub struct AttnDesign {
    pub program: Arc<Program>,
    pub units: AttnUnits,
    pub top: String,
}

impl AttnDesign {
    /// Integer codes of every row: (input codes, output codes), with summed events.
    fn run_all(&self, x: &Array2<f32>) -> Result<RunCodes, AttnError> {
        let mut ins = Vec::with_capacity(x.nrows());
        let mut outs = Vec::with_capacity(x.nrows());
        let mut ev = SimEvents::default();
        for (i, r) in x.rows().into_iter().enumerate() {
            let codes = self
                .program
                .quantize_input(&r.to_vec())
                .map_err(|e| AttnError::Input(format!("row {i}: {e}")))?;
            let (o, e) = run(&self.program, &codes)
                .map_err(|e| AttnError::Input(format!("row {i}: {e}")))?;
            ev.linear_macs += e.linear_macs;
            ev.ln_elements += e.ln_elements;
            ev.ln_rows += e.ln_rows;
            ev.lut_lookups += e.lut_lookups;
            ev.adds += e.adds;
            ev.had += e.had;
            ev.standard += e.standard;
            ins.push(codes);
            outs.push(o);
        }
        Ok((ins, outs, ev))
    }

    /// Bit-exact simulation of `x` (rows are samples): float outputs in the model's output
    /// space, the cost ledger per inference, and the report's `attention` section.
    pub fn simulate(
        &self,
        x: &Array2<f32>,
    ) -> Result<(Array2<f32>, Ledger, serde_json::Value), AttnError> {
        if x.nrows() == 0 {
            return Err(AttnError::Input("no samples".into()));
        }
        let (_, outs, ev) = self.run_all(x)?;
        let y = to_array(outs.iter().map(|o| self.program.dequantize(o)).collect())?;
        let n = x.nrows() as f64;
        let u = &self.units;
        let mut l = Ledger::default();
        let mac = u.int8_mac.energy_pj(u.clock_ghz);
        l.add("linear_mac", "linear", ev.linear_macs as f64 / n, mac);
        l.add("residual_add", "linear", ev.adds as f64 / n, mac);
        l.add("layer_norm_element", "layer_norm", 3.0 * ev.ln_elements as f64 / n, mac);
        l.add(
            "layer_norm_row",
            "layer_norm",
            2.0 * ev.ln_rows as f64 / n,
            u.softmax_div.energy_pj(u.clock_ghz),
        );
        l.add(
            "activation_lut",
            "activation",
            ev.lut_lookups as f64 / n,
            u.softmax_lut.energy_pj(u.clock_ghz),
        );
        let mut layers = Vec::new();
        let mut head_shapes = Vec::new();
        for op in &self.program.ops {
            if let MachineOp::Attention(a) = op {
                let c = &a.heads[0];
                let shape =
                    AttnShape { seq: c.s, d_k: c.d_k, d_v: c.d_v, kept: c.select.kept(c.s) };
                let variant =
                    if c.mode == CoreMode::Had { Variant::Had } else { Variant::Standard };
                head_shapes.push((variant, shape));
                layers.push(json!({
                    "mode": c.mode, "heads": a.heads.len(), "seq": c.s, "d_k": c.d_k, "d_v": c.d_v,
                    "select": c.select, "kept": shape.kept,
                }));
            }
        }
        let (had_q, std_q) = (ev.had.queries.max(1) as f64, ev.standard.queries.max(1) as f64);
        if let Some((_, sh)) = head_shapes.iter().find(|(v, _)| *v == Variant::Had) {
            let mut e = ev.had;
            e.queries = (had_q / n).round() as u64;
            price_cores(&mut l, u, Variant::Had, &e, sh, "attention.had");
        }
        if let Some((_, sh)) = head_shapes.iter().find(|(v, _)| *v == Variant::Standard) {
            let mut e = ev.standard;
            e.queries = (std_q / n).round() as u64;
            price_cores(&mut l, u, Variant::Standard, &e, sh, "attention.standard");
        }
        // Area: one attention unit at the largest layer shape, the linear engine's MAC lanes.
        if let Some((v, sh)) = head_shapes.first() {
            for (name, a) in head_cost(u, *v, sh).area_um2 {
                l.add_area(&format!("attention.{name}"), a);
            }
        }
        l.add_area("linear.macs", 8.0 * u.int8_mac.total_area());
        let verilog = machine_design(&self.top, &self.program)?;
        l.latency_ns = verilog.latency as f64 / u.clock_ghz;
        // HAD against standard at the model's first attention shape, and at BERT-like shapes.
        let comparison = head_shapes.first().map(|(_, sh)| {
            let had = head_cost(u, Variant::Had, &AttnShape { kept: sh.kept.min(sh.seq), ..*sh });
            let std = head_cost(u, Variant::Standard, &AttnShape { kept: sh.seq, ..*sh });
            json!({
                "shape": sh,
                "had": {"energy_pj_per_query": had.energy_total(), "area_um2": had.area_total(), "cycles_per_query": had.cycles},
                "standard": {"energy_pj_per_query": std.energy_total(), "area_um2": std.area_total(), "cycles_per_query": std.cycles},
                "area_saving": 1.0 - had.area_total() / std.area_total(),
                "energy_saving": 1.0 - had.energy_total() / std.energy_total(),
            })
        });
        let section = json!({
            "layers": layers,
            "events_per_inference": {
                "linear_macs": ev.linear_macs as f64 / n,
                "had_scores": ev.had.scores as f64 / n,
                "had_kept": ev.had.kept as f64 / n,
                "standard_scores": ev.standard.scores as f64 / n,
                "standard_kept": ev.standard.kept as f64 / n,
                "value_macs": (ev.had.value_macs + ev.standard.value_macs) as f64 / n,
            },
            "rtl_cycles_per_inference": verilog.latency,
            "comparison": comparison,
            "scaling_d64_top32": scaling(u, SCALING_SEQS, 64, 64, 32),
        });
        Ok((y, l, section))
    }

    /// The whole-model RTL.
    pub fn verilog(&self) -> Result<AttnVerilog, AttnError> {
        machine_design(&self.top, &self.program)
    }

    /// The streaming one-head unit of attention layer `layer`, head `head`, for block-level
    /// verification and synthesis.
    pub fn unit_verilog(&self, layer: usize, head: usize) -> Result<AttnVerilog, AttnError> {
        let cp = self.core(layer, head)?;
        unit_design(&format!("{}_unit", self.top), cp)
    }

    /// The core parameters of attention layer `layer`, head `head`.
    pub fn core(&self, layer: usize, head: usize) -> Result<&super::core::CoreParams, AttnError> {
        self.program
            .ops
            .iter()
            .filter_map(|o| if let MachineOp::Attention(a) = o { Some(a) } else { None })
            .nth(layer)
            .and_then(|a| a.heads.get(head))
            .ok_or_else(|| AttnError::Structure(format!("no attention layer {layer} head {head}")))
    }

    /// Packed input vectors and the simulator's expected outputs for the whole-model RTL.
    pub fn test_vectors(&self, x: &Array2<f32>) -> Result<(Vec<Bits>, Vec<Bits>), AttnError> {
        let (ins, outs, _) = self.run_all(x)?;
        let (iew, isigned) = input_elem(&self.program);
        let oew = output_elem(&self.program);
        let wide = |v: &[i64]| v.iter().map(|&c| i128::from(c)).collect::<Vec<_>>();
        let pin = ins
            .iter()
            .map(|c| pack(&wide(c), iew, isigned))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| AttnError::Verilog(e.to_string()))?;
        let pout = outs
            .iter()
            .map(|c| pack(&wide(c), oew, true))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| AttnError::Verilog(e.to_string()))?;
        Ok((pin, pout))
    }

    /// Test vectors for [`Self::unit_verilog`]: for every row of `x`, the Q/K/V codes head
    /// `head` of attention layer `layer` receives in the bit-exact simulation of the whole
    /// model, and the unit output the simulator's core computes from them.
    pub fn unit_test_vectors(
        &self,
        layer: usize,
        head: usize,
        x: &Array2<f32>,
    ) -> Result<(Vec<Bits>, Vec<Bits>), AttnError> {
        let cp = self.core(layer, head)?;
        let op_index = self
            .program
            .ops
            .iter()
            .enumerate()
            .filter(|(_, o)| matches!(o, MachineOp::Attention(_)))
            .nth(layer)
            .map(|(i, _)| i)
            .ok_or_else(|| AttnError::Structure(format!("no attention layer {layer}")))?;
        let MachineOp::Attention(op) = &self.program.ops[op_index] else {
            return Err(AttnError::Structure(format!("op {op_index} is not attention")));
        };
        let (mut ins, mut outs) = (Vec::with_capacity(x.nrows()), Vec::with_capacity(x.nrows()));
        for (i, r) in x.rows().into_iter().enumerate() {
            let row_err = |e: AttnError| AttnError::Input(format!("row {i}: {e}"));
            let codes = self.program.quantize_input(&r.to_vec()).map_err(row_err)?;
            let mut operands = None;
            run_observed(&self.program, &codes, &mut |j, mem| {
                if j == op_index {
                    operands = Some(head_operands(op, mem, head));
                }
            })
            .map_err(row_err)?;
            let [q, k, v] = operands.ok_or_else(|| {
                AttnError::Input(format!("row {i}: attention layer {layer} did not run"))
            })?;
            let (input, expected) = unit_vectors(cp, &q, &k, &v)?;
            ins.push(input);
            outs.push(expected);
        }
        Ok((ins, outs))
    }
}

/// Input codes and output codes of every row, with the summed simulator events.
type RunCodes = (Vec<Vec<i64>>, Vec<Vec<i64>>, SimEvents);

fn to_array(rows: Vec<Vec<f32>>) -> Result<Array2<f32>, AttnError> {
    let n = rows.len();
    let m = rows.first().map_or(0, Vec::len);
    Array2::from_shape_vec((n, m), rows.into_iter().flatten().collect())
        .map_err(|e| AttnError::Input(e.to_string()))
}
