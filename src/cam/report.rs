//! Running a compiled CAM design on data: margins plus the `cam` section of `report.json`,
//! comparing the three policies under one cost model.

use super::batch::{simulate_batch, BatchRun};
use super::design::{AutoCandidate, ByPolicy, CamDesign};
use super::error::CamError;
use super::quantize::QuantReport;
use super::tile::{ColumnOrder, Policy};
use ndarray::{Array2, ArrayView2};
use serde::Serialize;
use std::collections::BTreeMap;

/// Mean event counts per inference.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct EventMeans {
    pub arrays_searched: f64,
    pub rows_enabled: f64,
    pub cells_searched: f64,
    pub data_lines_driven: f64,
    pub liveness_updates: f64,
    pub early_exits: f64,
    pub leaf_adds: f64,
    pub encoder_comparisons: f64,
    pub cycles: f64,
}

/// Energy ratios between policies (higher is better for the second policy).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Ratios {
    pub raw_over_monosparse: f64,
    pub reorder_over_monosparse: f64,
    pub raw_over_reorder: f64,
}

impl Ratios {
    fn of(e: &ByPolicy<f64>) -> Ratios {
        Ratios {
            raw_over_monosparse: e.raw / e.monosparse,
            reorder_over_monosparse: e.reorder / e.monosparse,
            raw_over_reorder: e.raw / e.reorder,
        }
    }
}

/// The `cam` section of `report.json`.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct CamReport {
    /// CAM rows (root-to-leaf paths).
    pub rows: usize,
    pub features: usize,
    pub trees: usize,
    pub outputs: usize,
    /// Fraction of don't-care cells.
    pub sparsity: f64,
    /// Array geometry used by all policies, `RxC`.
    pub geometry: String,
    /// The policy the hardware implements.
    pub order: Policy,
    pub cluster: bool,
    pub column_order: ColumnOrder,
    /// Arrays of the natural grid (what `raw` builds).
    pub tiles_total: usize,
    /// Arrays holding a care cell after Pedretti reordering (what `reorder` builds).
    pub tiles_nonempty: usize,
    /// Arrays each policy builds.
    pub tiles_scheduled: ByPolicy<usize>,
    /// Inferences the figures are averaged over.
    pub samples: usize,
    /// Mean energy per inference, arrays plus digital periphery.
    pub energy_pj: ByPolicy<f64>,
    /// Mean energy per inference of the analog arrays alone (the scope of X-TIME and the paper).
    pub energy_pj_array: ByPolicy<f64>,
    pub ratios_total: Ratios,
    pub ratios_array: Ratios,
    /// Mean latency per inference of the `order` policy.
    pub latency_ns: f64,
    pub latency_ns_by_policy: ByPolicy<f64>,
    /// Area of the `order` policy's layout.
    pub area_um2: f64,
    pub area_um2_by_policy: ByPolicy<f64>,
    pub area_breakdown: BTreeMap<String, f64>,
    pub events: ByPolicy<EventMeans>,
    pub quantization: QuantReport,
    /// Component -> pJ per inference for the `order` policy.
    pub breakdown: BTreeMap<String, f64>,
    pub breakdown_by_policy: ByPolicy<BTreeMap<String, f64>>,
    /// Geometries scored by `tile = auto`.
    pub auto_candidates: Option<Vec<AutoCandidate>>,
}

/// Margins of every sample (identical under all policies) and the report.
#[derive(Clone, Debug, PartialEq)]
pub struct CamEvaluation {
    /// `[samples, outputs]` float32 margins.
    pub margins: Array2<f32>,
    /// `[samples, outputs]` integer results `base_q + Σ leaf_q` (what the RTL outputs).
    pub totals: Array2<i64>,
    pub report: CamReport,
}

/// Simulates every sample under the three policies (checking they agree bit for bit) and
/// averages the costs.
pub fn evaluate(d: &CamDesign, data: ArrayView2<f32>) -> Result<CamEvaluation, CamError> {
    let q = &d.quantized;
    q.check_width("evaluation data", data.ncols())?;
    let n = data.nrows();
    if n == 0 {
        return Err(CamError::BadOption {
            option: "data".into(),
            message: "no samples to evaluate on".into(),
        });
    }
    let BatchRun { totals, events } = simulate_batch(d, data)?;
    let margins = totals.mapv(|t| q.fixed.to_margin(t));
    let per = 1.0 / n as f64;
    let energy = events
        .try_map(|p, e| d.physics.energy(d.tiled.get(p).geometry, e).map(|b| b.scaled(per)))?;
    let cycles =
        events.map(|p, e| d.physics.cycles(e, d.tiled.get(p).row_tiles.len()) as f64 * per);
    let areas = d.tiled.map(|_, t| d.physics.area(t, q));
    let energy_pj = energy.map(|_, b| b.total());
    let energy_pj_array = energy.map(|_, b| b.array());
    let order = d.order;
    let t_ns = d.physics.t_clk * 1e9;
    let latency = cycles.map(|_, c| c * t_ns);
    let report = CamReport {
        rows: q.rows.len(),
        features: q.num_features,
        trees: q.num_trees,
        outputs: q.num_outputs,
        sparsity: q.sparsity(),
        geometry: d.geometry.to_string(),
        order,
        cluster: d.tile_options.cluster,
        column_order: d.tile_options.column_order,
        tiles_total: d.tiled.raw.grid_tiles,
        tiles_nonempty: d.tiled.reorder.nonempty_tiles(),
        tiles_scheduled: d.tiled.map(|_, t| t.scheduled_tiles()),
        samples: n,
        ratios_total: Ratios::of(&energy_pj),
        ratios_array: Ratios::of(&energy_pj_array),
        energy_pj,
        energy_pj_array,
        latency_ns: *latency.get(order),
        latency_ns_by_policy: latency,
        area_um2: areas.get(order).values().sum(),
        area_um2_by_policy: areas.map(|_, a| a.values().sum()),
        area_breakdown: areas.get(order).clone(),
        events: events.map(|p, e| EventMeans {
            arrays_searched: e.arrays_searched as f64 * per,
            rows_enabled: e.rows_enabled as f64 * per,
            cells_searched: e.cells_searched as f64 * per,
            data_lines_driven: e.data_lines_driven as f64 * per,
            liveness_updates: e.liveness_updates as f64 * per,
            early_exits: e.early_exits as f64 * per,
            leaf_adds: e.leaf_adds as f64 * per,
            encoder_comparisons: e.encoder_comparisons as f64 * per,
            cycles: *cycles.get(p),
        }),
        quantization: q.report.clone(),
        breakdown: energy.get(order).to_map(),
        breakdown_by_policy: energy.map(|_, b| b.to_map()),
        auto_candidates: d.auto.clone(),
    };
    Ok(CamEvaluation { margins, totals, report })
}
