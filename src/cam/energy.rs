//! Energy, latency and area of aCAM searches: X-TIME's per-search model (cycle_accurate/src/acam.cc)
//! applied to the event counts of [`super::sim`], plus the digital periphery.
//!
//! Per searched array (`R` rows, `C` columns), every power figure multiplied by `T_clk`:
//! - data lines: `V_dd^2 / R_out · C` with `R_out = T_clk / (R · C_dl) - R_w · (R - 1) / 2`;
//! - DACs: `P_dac · C`; static registers: `P_reg_static · R`.
//!
//! Per enabled (precharged and sensed) row:
//! - match line: `0.5 · (C_ml · C + C_pre + C_mlso) / T_clk · (V_ml - V_ns)^2`;
//! - sense amplifier `P_sa`, precharge `P_pc`, and the write of the row's match register,
//!   `P_reg_dynamic` (X-TIME). With liveness that register *is* the row's status bit (the sense
//!   result is ANDed into it), so in monosparse each enabled row pays `P_live_reg` for that
//!   write instead of `P_reg_dynamic` (both are X-TIME's 1 uW by default);
//! - source lines, per cell of the row (wildcards included): `n_sub · V_sl · (I_lo + I_hi)` with
//!   `I = min(V_sl · g, I_max)`, `I_max = 0.5 · K1 · (V_ml - V_th)^2`, where `g` is `g_HRS` for a
//!   wildcard low bound, `g_LRS` for a wildcard high bound (X-TIME's rule) and otherwise the mean
//!   of X-TIME's programmable conductance table (the programmed value depends on the threshold;
//!   the mean is our representative).
//!
//! Periphery: encoder comparisons `e_compare` each; per matching row a leaf read `P_leaf_read`
//! and an addition `P_leaf_add`.

use super::error::CamError;
use super::sim::SearchEvents;
use super::tile::{Geometry, TiledCam};
use crate::dsl::accel::Instance;
use crate::units::Dim;
use serde::Serialize;
use std::collections::BTreeMap;

/// The aCAM cell's parameters in SI units, read from a `cam::acam_6t2m` instance.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct CamPhysics {
    pub rows: usize,
    pub cols: usize,
    pub levels: u32,
    pub c_ml: f64,
    pub c_pre: f64,
    pub c_mlso: f64,
    pub c_dl: f64,
    pub r_w: f64,
    pub k1: f64,
    pub v_th: f64,
    pub v_ml: f64,
    pub v_ns: f64,
    pub v_sl: f64,
    pub v_dd: f64,
    pub t_clk: f64,
    pub g_hrs: f64,
    pub g_min: f64,
    pub g_max: f64,
    pub g_bits: u32,
    pub p_dac: f64,
    pub p_sa: f64,
    pub p_pc: f64,
    pub p_reg_static: f64,
    pub p_reg_dynamic: f64,
    pub sl_subcells: u32,
    pub search_cycles: u32,
    pub p_live_reg: f64,
    pub p_leaf_read: f64,
    pub p_leaf_add: f64,
    pub e_compare: f64,
    pub area_cell: f64,
    pub area_sense_amp: f64,
    pub area_dac: f64,
    pub area_reg_bit: f64,
    pub area_rom_bit: f64,
    pub area_comparator: f64,
    pub area_adder_bit: f64,
}

fn small(inst: &Instance, name: &str, max: u64) -> Result<u32, CamError> {
    let v = inst.count(name).map_err(|e| CamError::Param(e.to_string()))?;
    if v == 0 || v > max {
        return Err(CamError::Param(format!(
            "parameter `{name}` of instance `{}` is {v}, outside 1..={max}",
            inst.name
        )));
    }
    Ok(v as u32)
}

impl CamPhysics {
    /// Reads every figure from the instance, failing with a message naming the parameter.
    pub fn from_instance(inst: &Instance) -> Result<CamPhysics, CamError> {
        let si =
            |name: &str, dim: Dim| inst.si(name, dim).map_err(|e| CamError::Param(e.to_string()));
        let k1_dim = Dim::CURRENT.div(Dim::VOLTAGE).div(Dim::VOLTAGE);
        let p = CamPhysics {
            rows: small(inst, "rows", 65536)? as usize,
            cols: small(inst, "cols", 65536)? as usize,
            levels: small(inst, "levels", 65536)?,
            c_ml: si("c_ml", Dim::CAPACITANCE)?,
            c_pre: si("c_pre", Dim::CAPACITANCE)?,
            c_mlso: si("c_mlso", Dim::CAPACITANCE)?,
            c_dl: si("c_dl", Dim::CAPACITANCE)?,
            r_w: si("r_w", Dim::RESISTANCE)?,
            k1: si("k1", k1_dim)?,
            v_th: si("v_th", Dim::VOLTAGE)?,
            v_ml: si("v_ml", Dim::VOLTAGE)?,
            v_ns: si("v_ns", Dim::VOLTAGE)?,
            v_sl: si("v_sl", Dim::VOLTAGE)?,
            v_dd: si("v_dd", Dim::VOLTAGE)?,
            t_clk: si("t_clk", Dim::TIME)?,
            g_hrs: si("g_hrs", Dim::CONDUCTANCE)?,
            g_min: si("g_min", Dim::CONDUCTANCE)?,
            g_max: si("g_max", Dim::CONDUCTANCE)?,
            g_bits: small(inst, "g_bits", 16)?,
            p_dac: si("p_dac", Dim::POWER)?,
            p_sa: si("p_sa", Dim::POWER)?,
            p_pc: si("p_pc", Dim::POWER)?,
            p_reg_static: si("p_reg_static", Dim::POWER)?,
            p_reg_dynamic: si("p_reg_dynamic", Dim::POWER)?,
            sl_subcells: small(inst, "sl_subcells", 64)?,
            search_cycles: small(inst, "search_cycles", 4096)?,
            p_live_reg: si("p_live_reg", Dim::POWER)?,
            p_leaf_read: si("p_leaf_read", Dim::POWER)?,
            p_leaf_add: si("p_leaf_add", Dim::POWER)?,
            e_compare: si("e_compare", Dim::ENERGY)?,
            area_cell: si("area_cell", Dim::AREA)?,
            area_sense_amp: si("area_sense_amp", Dim::AREA)?,
            area_dac: si("area_dac", Dim::AREA)?,
            area_reg_bit: si("area_reg_bit", Dim::AREA)?,
            area_rom_bit: si("area_rom_bit", Dim::AREA)?,
            area_comparator: si("area_comparator", Dim::AREA)?,
            area_adder_bit: si("area_adder_bit", Dim::AREA)?,
        };
        if !(p.t_clk > 0.0 && p.t_clk.is_finite()) {
            return Err(CamError::Param(format!(
                "parameter `t_clk` of instance `{}` must be positive",
                inst.name
            )));
        }
        Ok(p)
    }

    /// `g_LRS = g_max + g_delta` with `g_delta = (g_max - g_min) / (2^g_bits - 1)` (configure.py).
    pub fn g_lrs(&self) -> f64 {
        self.g_max + self.g_delta()
    }
    fn g_delta(&self) -> f64 {
        (self.g_max - self.g_min) / ((1u64 << self.g_bits) - 1) as f64
    }
    /// Mean of X-TIME's table `g_min + g_delta · k`, `k = 0 .. 2^g_bits - 2`.
    pub fn g_representative(&self) -> f64 {
        self.g_min + self.g_delta() * ((1u64 << self.g_bits) - 2) as f64 / 2.0
    }

    /// Per-event energies (joules) for arrays of this geometry.
    pub fn costs(&self, g: Geometry) -> Result<EventCosts, CamError> {
        let (r, c) = (g.rows as f64, g.cols as f64);
        let r_out = self.t_clk / (r * self.c_dl) - 0.5 * self.r_w * (r - 1.0);
        if !(r_out > 0.0 && r_out.is_finite()) {
            return Err(CamError::BadOption {
                option: "tile".into(),
                message: format!(
                    "{g}: data-line driver resistance R_out = T_clk/(rows*C_dl) - R_w*(rows-1)/2 = {r_out:.4e} Ohm is not positive; the array is too tall for the clock"
                ),
            });
        }
        let t = self.t_clk;
        let i_max = 0.5 * self.k1 * (self.v_ml - self.v_th).powi(2);
        let i = |g: f64| (self.v_sl * g).min(i_max);
        let (i_rep, i_hrs, i_lrs) = (i(self.g_representative()), i(self.g_hrs), i(self.g_lrs()));
        let sl = |i_lo: f64, i_hi: f64| self.sl_subcells as f64 * self.v_sl * (i_lo + i_hi) * t;
        Ok(EventCosts {
            data_lines: self.v_dd * self.v_dd / r_out * c * t,
            dacs: self.p_dac * c * t,
            registers_static: self.p_reg_static * r * t,
            match_line: 0.5
                * (self.c_ml * c + self.c_pre + self.c_mlso)
                * (self.v_ml - self.v_ns).powi(2),
            sense_amp: self.p_sa * t,
            precharge: self.p_pc * t,
            register_dynamic: self.p_reg_dynamic * t,
            source_line: [sl(i_rep, i_rep), sl(i_hrs, i_rep), sl(i_rep, i_lrs), sl(i_hrs, i_lrs)],
            encoder_comparison: self.e_compare,
            leaf_add: (self.p_leaf_read + self.p_leaf_add) * t,
            liveness_update: self.p_live_reg * t,
        })
    }

    /// Energy of the events, in picojoules per component (summed over the events' samples).
    pub fn energy(&self, g: Geometry, ev: &SearchEvents) -> Result<EnergyBreakdown, CamError> {
        let k = self.costs(g)?;
        let pj = 1e12;
        let n = |x: u64| x as f64;
        Ok(EnergyBreakdown {
            data_lines: k.data_lines * n(ev.arrays_searched) * pj,
            dacs: k.dacs * n(ev.arrays_searched) * pj,
            registers_static: k.registers_static * n(ev.arrays_searched) * pj,
            match_lines: k.match_line * n(ev.rows_enabled) * pj,
            sense_amps: k.sense_amp * n(ev.rows_enabled) * pj,
            precharge: k.precharge * n(ev.rows_enabled) * pj,
            registers_dynamic: k.register_dynamic
                * n(ev.rows_enabled.saturating_sub(ev.liveness_updates))
                * pj,
            source_lines: (0..4).map(|i| k.source_line[i] * n(ev.cells_by_bounds[i])).sum::<f64>()
                * pj,
            encoder: k.encoder_comparison * n(ev.encoder_comparisons) * pj,
            leaf_accumulation: k.leaf_add * n(ev.leaf_adds) * pj,
            liveness_register: k.liveness_update * n(ev.liveness_updates) * pj,
        })
    }

    /// Cycles of the events (summed over their samples): encoder steps, `search_cycles` per
    /// sequential search, and `1 + ceil(log2(row tiles))` to add the row tiles' partial sums.
    pub fn cycles(&self, ev: &SearchEvents, row_tiles: usize) -> u64 {
        let reduce = 1 + (usize::BITS - row_tiles.saturating_sub(1).leading_zeros()) as u64;
        ev.encoder_steps + ev.critical_searches * self.search_cycles as u64 + reduce * ev.samples
    }

    /// Silicon area of a layout in um2 per component.
    pub fn area(&self, t: &TiledCam, q: &super::quantize::QuantizedCam) -> BTreeMap<String, f64> {
        let um2 = 1e12;
        let arrays = t.scheduled_tiles() as f64;
        let (r, c) = (t.geometry.rows as f64, t.geometry.cols as f64);
        let table_bits: usize = q.encoders.iter().map(|e| e.thresholds.len() * 32).sum();
        let used_features = q.encoders.iter().filter(|e| !e.thresholds.is_empty()).count();
        let mut a = BTreeMap::new();
        a.insert("cells".to_string(), arrays * r * c * self.area_cell * um2);
        a.insert("sense_amps".to_string(), arrays * r * self.area_sense_amp * um2);
        a.insert("match_registers".to_string(), arrays * r * self.area_reg_bit * um2);
        a.insert("dacs".to_string(), arrays * c * self.area_dac * um2);
        if t.liveness {
            let rows: f64 = t.row_tiles.iter().map(|rt| rt.rows.len() as f64).sum();
            a.insert("liveness_register".to_string(), rows * self.area_reg_bit * um2);
        }
        a.insert(
            "encoder".to_string(),
            (used_features as f64 * self.area_comparator + table_bits as f64 * self.area_rom_bit)
                * um2,
        );
        a.insert(
            "leaf_memory".to_string(),
            (q.rows.len() * q.fixed.leaf_bits as usize) as f64 * self.area_rom_bit * um2,
        );
        a.insert(
            "accumulators".to_string(),
            (q.num_outputs * q.fixed.acc_bits as usize) as f64
                * (self.area_adder_bit + self.area_reg_bit)
                * um2,
        );
        a
    }
}

/// Energy (joules) of each event kind for one geometry.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct EventCosts {
    /// Per searched array.
    pub data_lines: f64,
    pub dacs: f64,
    pub registers_static: f64,
    /// Per enabled row.
    pub match_line: f64,
    pub sense_amp: f64,
    pub precharge: f64,
    pub register_dynamic: f64,
    /// Per cell of an enabled row, by bounds: both set, low wildcard, high wildcard, both wildcard.
    pub source_line: [f64; 4],
    pub encoder_comparison: f64,
    /// Leaf read plus accumulator addition, per matching row.
    pub leaf_add: f64,
    pub liveness_update: f64,
}

/// Energy per component, in picojoules.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize)]
pub struct EnergyBreakdown {
    pub data_lines: f64,
    pub dacs: f64,
    pub registers_static: f64,
    pub match_lines: f64,
    pub sense_amps: f64,
    pub precharge: f64,
    pub registers_dynamic: f64,
    pub source_lines: f64,
    pub encoder: f64,
    pub leaf_accumulation: f64,
    pub liveness_register: f64,
}

impl EnergyBreakdown {
    /// The arrays with their per-row registers (the scope of X-TIME's aCAM model and of the
    /// paper): everything but the input encoder and the leaf accumulation.
    pub fn array(&self) -> f64 {
        self.data_lines
            + self.dacs
            + self.registers_static
            + self.match_lines
            + self.sense_amps
            + self.precharge
            + self.registers_dynamic
            + self.source_lines
            + self.liveness_register
    }
    /// Arrays plus digital periphery.
    pub fn total(&self) -> f64 {
        self.array() + self.encoder + self.leaf_accumulation
    }
    pub fn scaled(&self, s: f64) -> EnergyBreakdown {
        EnergyBreakdown {
            data_lines: self.data_lines * s,
            dacs: self.dacs * s,
            registers_static: self.registers_static * s,
            match_lines: self.match_lines * s,
            sense_amps: self.sense_amps * s,
            precharge: self.precharge * s,
            registers_dynamic: self.registers_dynamic * s,
            source_lines: self.source_lines * s,
            encoder: self.encoder * s,
            leaf_accumulation: self.leaf_accumulation * s,
            liveness_register: self.liveness_register * s,
        }
    }
    /// Component name -> pJ, for `report.json`'s `breakdown`.
    pub fn to_map(&self) -> BTreeMap<String, f64> {
        [
            ("cam.data_lines", self.data_lines),
            ("cam.dacs", self.dacs),
            ("cam.registers_static", self.registers_static),
            ("cam.match_lines", self.match_lines),
            ("cam.sense_amps", self.sense_amps),
            ("cam.precharge", self.precharge),
            ("cam.registers_dynamic", self.registers_dynamic),
            ("cam.source_lines", self.source_lines),
            ("cam.encoder", self.encoder),
            ("cam.leaf_accumulation", self.leaf_accumulation),
            ("cam.liveness_register", self.liveness_register),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect()
    }
}
