//! NeuroSim-style cost of a crossbar inference: counted events priced per event, latency from
//! the bit-serial schedule with shared ADCs, area from instance counts. Reimplemented from the
//! model's published structure (papers.md §3), not from NeuroSim's code.
//!
//! - Energy: `row_activations * row_energy + column_reads * col_energy + adc_conversions *
//!   E_adc(b) + shift_adds * shift_add_energy + (buffer_reads + buffer_writes) * buffer_energy`.
//! - ADC scaling with resolution: `E_adc(b) = adc_energy * 2^(b - adc_bits_ref)` and the same for
//!   area (Walden figure of merit: energy per conversion grows as `2^ENOB`); `adc_energy` and
//!   `adc_area` are given at the instance's reference resolution `adc_bits`. A SAR conversion
//!   takes `b + 1` steps: `T_adc(b) = adc_time * (b + 1) / (adc_bits + 1)`.
//! - Latency per layer: `a_bits * read_time + steps * T_adc(b)`, where `steps` counts the
//!   conversion steps of the slowest array (each ADC converts its `cols_per_adc` columns in
//!   turn); layers run in sequence. [`super::sim::Events`] carries both terms (`planes`,
//!   `cycles`).
//! - Area: `arrays * (rows * cols * cell_area + array_periphery_area) + ADCs * (A_adc(b) +
//!   shift_add_area) + buffer_area`.
//! - TOPS/W: `2 * MACs / energy`; 1 op/pJ is 1 TOPS/W.

use super::sim::Events;
use super::tile::{TileStats, XbarConfig};
use crate::crossbar::error::XbarError;
use crate::dsl::accel::Instance;
use crate::sim::cost::{j_to_pj, m2_to_um2, s_to_ns, Ledger};
use crate::units::Dim;
use serde::Serialize;

/// Figures of one crossbar macro in SI units, read from a `.tess` instance.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct CrossbarParams {
    /// Energy per activated row per bit plane (word-line driver and cell currents), J.
    pub row_energy: f64,
    /// Energy per column read (bit-line precharge, sensing, mux), J.
    pub col_energy: f64,
    /// Energy per ADC conversion at `adc_bits_ref`, J.
    pub adc_energy: f64,
    pub adc_bits_ref: u32,
    /// Energy per shift-and-add, J.
    pub shift_add_energy: f64,
    /// Energy per input/output buffer word access, J.
    pub buffer_energy: f64,
    /// Array read (settling) time per bit plane, s.
    pub read_time: f64,
    /// Time per ADC conversion step, s.
    pub adc_time: f64,
    /// Area per cell, m^2.
    pub cell_area: f64,
    /// Area per ADC at `adc_bits_ref`, m^2.
    pub adc_area: f64,
    /// Area of one shift-add unit (one per ADC), m^2.
    pub shift_add_area: f64,
    /// Per-array periphery (drivers, decoders, column mux), m^2.
    pub array_periphery_area: f64,
    /// Input/output buffers, m^2.
    pub buffer_area: f64,
}

impl CrossbarParams {
    /// The `.tess` parameter names, with their dimensions, in the order above.
    pub const PARAMS: &'static [(&'static str, Dim)] = &[
        ("row_energy", Dim::ENERGY),
        ("col_energy", Dim::ENERGY),
        ("adc_energy", Dim::ENERGY),
        ("adc_bits", Dim::DIMENSIONLESS),
        ("shift_add_energy", Dim::ENERGY),
        ("buffer_energy", Dim::ENERGY),
        ("read_time", Dim::TIME),
        ("adc_time", Dim::TIME),
        ("cell_area", Dim::AREA),
        ("adc_area", Dim::AREA),
        ("shift_add_area", Dim::AREA),
        ("array_periphery_area", Dim::AREA),
        ("buffer_area", Dim::AREA),
    ];

    /// Reads every figure from an instance; the error names the instance and parameter.
    pub fn from_instance(inst: &Instance) -> Result<CrossbarParams, XbarError> {
        Ok(CrossbarParams {
            row_energy: inst.si("row_energy", Dim::ENERGY)?,
            col_energy: inst.si("col_energy", Dim::ENERGY)?,
            adc_energy: inst.si("adc_energy", Dim::ENERGY)?,
            adc_bits_ref: inst.count("adc_bits")? as u32,
            shift_add_energy: inst.si("shift_add_energy", Dim::ENERGY)?,
            buffer_energy: inst.si("buffer_energy", Dim::ENERGY)?,
            read_time: inst.si("read_time", Dim::TIME)?,
            adc_time: inst.si("adc_time", Dim::TIME)?,
            cell_area: inst.si("cell_area", Dim::AREA)?,
            adc_area: inst.si("adc_area", Dim::AREA)?,
            shift_add_area: inst.si("shift_add_area", Dim::AREA)?,
            array_periphery_area: inst.si("array_periphery_area", Dim::AREA)?,
            buffer_area: inst.si("buffer_area", Dim::AREA)?,
        })
    }

    /// Energy of one conversion at `bits` resolution, J.
    pub fn adc_energy_at(&self, bits: u32) -> f64 {
        self.adc_energy * 2f64.powi(bits as i32 - self.adc_bits_ref as i32)
    }
    /// Time of one conversion at `bits` resolution, s: a SAR ADC takes `bits + 1` steps, so
    /// `adc_time * (bits + 1) / (adc_bits_ref + 1)` (the relation stdlib/crossbar.tess assumes).
    pub fn adc_time_at(&self, bits: u32) -> f64 {
        self.adc_time * (bits + 1) as f64 / (self.adc_bits_ref + 1) as f64
    }
    /// Area of one ADC at `bits` resolution, m^2.
    pub fn adc_area_at(&self, bits: u32) -> f64 {
        self.adc_area * 2f64.powi(bits as i32 - self.adc_bits_ref as i32)
    }
}

/// One layer's cost per inference.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct LayerCost {
    pub name: String,
    pub energy_pj: f64,
    pub latency_ns: f64,
    pub area_um2: f64,
    pub arrays: usize,
    pub adcs: usize,
    pub utilization: f64,
}

/// The cost of one inference.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct CrossbarCost {
    pub layers: Vec<LayerCost>,
    /// Priced events and areas (component breakdown for `report.json`).
    pub ledger: Ledger,
    pub tops_per_w: f64,
}

/// Prices events summed over `samples` inferences (`events[l]` for layer `l`) into the mean
/// cost of one inference, with the mapping figures of each layer.
pub fn price(
    names: &[String],
    events: &[Events],
    samples: u64,
    stats: &[TileStats],
    cfg: &XbarConfig,
    p: &CrossbarParams,
) -> CrossbarCost {
    let n = samples.max(1) as f64;
    let mut ledger = Ledger::default();
    let mut layers = Vec::with_capacity(events.len());
    let e_adc = j_to_pj(p.adc_energy_at(cfg.adc_bits));
    let mut macs = 0u64;
    for ((name, ev), st) in names.iter().zip(events).zip(stats) {
        let terms = [
            ("row_activations", "crossbar.array", ev.row_activations, j_to_pj(p.row_energy)),
            ("column_reads", "crossbar.array", ev.column_reads, j_to_pj(p.col_energy)),
            ("adc_conversions", "crossbar.adc", ev.adc_conversions, e_adc),
            ("shift_adds", "crossbar.shift_add", ev.shift_adds, j_to_pj(p.shift_add_energy)),
            (
                "buffer_accesses",
                "crossbar.buffer",
                ev.buffer_reads + ev.buffer_writes,
                j_to_pj(p.buffer_energy),
            ),
        ];
        let mut energy = 0.0;
        for (event, component, count, pj) in terms {
            ledger.add(&format!("{name}.{event}"), component, count as f64 / n, pj);
            energy += count as f64 / n * pj;
        }
        let latency = s_to_ns(
            (ev.planes as f64 * p.read_time + ev.cycles as f64 * p.adc_time_at(cfg.adc_bits)) / n,
        );
        let array_area = m2_to_um2(
            st.arrays as f64
                * ((cfg.rows * cfg.cols) as f64 * p.cell_area + p.array_periphery_area),
        );
        let adc_area = m2_to_um2(st.adcs as f64 * p.adc_area_at(cfg.adc_bits));
        let sa_area = m2_to_um2(st.adcs as f64 * p.shift_add_area);
        ledger.add_area("crossbar.array", array_area);
        ledger.add_area("crossbar.adc", adc_area);
        ledger.add_area("crossbar.shift_add", sa_area);
        ledger.latency_ns += latency;
        macs += ev.macs / samples.max(1);
        layers.push(LayerCost {
            name: name.clone(),
            energy_pj: energy,
            latency_ns: latency,
            area_um2: array_area + adc_area + sa_area,
            arrays: st.arrays,
            adcs: st.adcs,
            utilization: st.utilization,
        });
    }
    ledger.add_area("crossbar.buffer", m2_to_um2(p.buffer_area));
    let e = ledger.energy_pj();
    CrossbarCost { layers, tops_per_w: if e > 0.0 { 2.0 * macs as f64 / e } else { 0.0 }, ledger }
}
