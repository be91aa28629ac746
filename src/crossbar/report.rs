//! The `crossbar` section of `report.json`: mapping figures, mean events and cost per layer.

use super::cost::CrossbarCost;
use super::sim::{BatchRun, CrossbarNet};
use super::tile::SignedEncoding;
use serde::Serialize;

/// One layer's figures.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct LayerSummary {
    pub name: String,
    pub inputs: usize,
    pub outputs: usize,
    /// Stored weight magnitude bits, slices and columns per weight.
    pub stored_bits: u32,
    pub slices: u32,
    pub cols_per_weight: usize,
    pub arrays: usize,
    pub row_tiles: usize,
    pub col_tiles: usize,
    pub utilization: f64,
    pub adcs: usize,
    pub accumulator_bits: u32,
    /// Mean events per inference.
    pub row_activations: f64,
    pub adc_conversions: f64,
    pub shift_adds: f64,
    pub cycles: f64,
    pub energy_pj: f64,
    pub latency_ns: f64,
    pub area_um2: f64,
}

/// The whole section.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct CrossbarSummary {
    pub rows: usize,
    pub cols: usize,
    pub cell_bits: u32,
    pub encoding: &'static str,
    pub cols_per_adc: usize,
    pub adc_bits: u32,
    /// ADC full scale in cell levels.
    pub adc_full_scale: u64,
    pub arrays: usize,
    pub adcs: usize,
    pub cycles_per_inference: f64,
    pub tops_per_w: f64,
    pub stuck_cells: (usize, usize),
    pub layers: Vec<LayerSummary>,
}

/// Summarises a run priced by [`super::cost::price`].
pub fn summarize(net: &CrossbarNet, run: &BatchRun, cost: &CrossbarCost) -> CrossbarSummary {
    let n = run.samples.max(1) as f64;
    let stats = net.tile_stats();
    let layers: Vec<LayerSummary> = net
        .maps
        .iter()
        .zip(&stats)
        .zip(&run.events)
        .zip(&cost.layers)
        .zip(net.q.layers.iter().zip(&net.q.tails))
        .map(|((((m, st), ev), c), (ql, tail))| LayerSummary {
            name: m.name.clone(),
            inputs: m.n_in,
            outputs: m.n_out,
            stored_bits: m.stored_bits,
            slices: m.slices,
            cols_per_weight: m.cols_per_weight(),
            arrays: st.arrays,
            row_tiles: st.row_tiles,
            col_tiles: st.col_tiles,
            utilization: st.utilization,
            adcs: st.adcs,
            accumulator_bits: ql.acc_bits(&tail.bias),
            row_activations: ev.row_activations as f64 / n,
            adc_conversions: ev.adc_conversions as f64 / n,
            shift_adds: ev.shift_adds as f64 / n,
            cycles: ev.cycles as f64 / n,
            energy_pj: c.energy_pj,
            latency_ns: c.latency_ns,
            area_um2: c.area_um2,
        })
        .collect();
    let stuck = net.programmed.iter().fold((0, 0), |a, p| (a.0 + p.stuck.0, a.1 + p.stuck.1));
    CrossbarSummary {
        rows: net.cfg.rows,
        cols: net.cfg.cols,
        cell_bits: net.cfg.cell_bits,
        encoding: match net.cfg.encoding {
            SignedEncoding::Differential => "differential",
            SignedEncoding::Offset => "offset",
        },
        cols_per_adc: net.cfg.cols_per_adc,
        adc_bits: net.cfg.adc_bits,
        adc_full_scale: net.cfg.full_scale_levels(),
        arrays: stats.iter().map(|s| s.arrays).sum(),
        adcs: stats.iter().map(|s| s.adcs).sum(),
        cycles_per_inference: layers.iter().map(|l| l.cycles).sum(),
        tops_per_w: cost.tops_per_w,
        stuck_cells: stuck,
        layers,
    }
}
