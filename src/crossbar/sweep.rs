//! The co-design table: accuracy and energy as ADC resolution and device variation change.

use super::cost::{price, CrossbarParams};
use super::dataset::argmax;
use super::device::DeviceConfig;
use super::quant::{argmax_agreement, QuantizedMlp};
use super::sim::{calibrate_full_scale, CrossbarNet};
use super::tile::{FullScale, XbarConfig};
use crate::crossbar::error::XbarError;
use serde::Serialize;

/// What to sweep and on which data.
#[derive(Clone, Debug)]
pub struct SweepSpec<'a> {
    pub base: XbarConfig,
    /// Device settings other than `d2d_sigma` (seed, on/off ratio, read noise, stuck cells).
    pub device: DeviceConfig,
    pub params: CrossbarParams,
    pub adc_bits: Vec<u32>,
    /// Relative device-to-device variation values (0.05 is 5%).
    pub d2d_sigmas: Vec<f64>,
    pub data: &'a [Vec<f32>],
    pub labels: &'a [i64],
    /// The source framework's outputs on `data`.
    pub reference: &'a [Vec<f32>],
    /// When set, the ADC full scale is calibrated as this percentile of the column partial
    /// sums on `calib` (see [`calibrate_full_scale`]) instead of `base.full_scale`.
    pub full_scale_percentile: Option<f64>,
    pub calib: &'a [Vec<f32>],
}

/// One row of the table.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct SweepPoint {
    pub adc_bits: u32,
    /// The ADC full scale used, in cell levels.
    pub full_scale: u64,
    pub d2d_sigma: f64,
    /// Fraction of samples classified as labelled.
    pub accuracy: f64,
    /// Argmax agreement with the source framework.
    pub agreement: f64,
    pub energy_pj: f64,
    pub adc_energy_pj: f64,
    pub latency_ns: f64,
    pub area_um2: f64,
    pub tops_per_w: f64,
}

/// Runs the grid `adc_bits x d2d_sigmas` (each point a freshly programmed chip from the same
/// seed, so points differ only in the swept parameters).
pub fn sweep(q: &QuantizedMlp, spec: &SweepSpec<'_>) -> Result<Vec<SweepPoint>, XbarError> {
    let mut out = Vec::new();
    let full_scale = match spec.full_scale_percentile {
        Some(p) => {
            let ideal = CrossbarNet::build(q, &spec.base, &DeviceConfig::ideal())?;
            let cells: Vec<_> = ideal.maps.into_iter().zip(ideal.programmed).collect();
            FullScale::Levels(calibrate_full_scale(q, &spec.base, &cells, spec.calib, p)?)
        }
        None => spec.base.full_scale,
    };
    for &bits in &spec.adc_bits {
        for &sigma in &spec.d2d_sigmas {
            let cfg = XbarConfig { adc_bits: bits, full_scale, ..spec.base };
            let dev = DeviceConfig {
                d2d_sigma: sigma,
                frac_bits: if sigma > 0.0 {
                    spec.device.frac_bits.max(6)
                } else {
                    spec.device.frac_bits
                },
                ..spec.device
            };
            let net = CrossbarNet::build(q, &cfg, &dev)?;
            let run = net.run_batch(spec.data, spec.device.seed);
            let cost = price(
                &net.layer_names(),
                &run.events,
                run.samples,
                &net.tile_stats(),
                &cfg,
                &spec.params,
            );
            let correct = run
                .outputs
                .iter()
                .zip(spec.labels)
                .filter(|(o, y)| argmax(o) as i64 == **y)
                .count();
            out.push(SweepPoint {
                adc_bits: bits,
                full_scale: cfg.full_scale_levels(),
                d2d_sigma: sigma,
                accuracy: correct as f64 / spec.data.len().max(1) as f64,
                agreement: argmax_agreement(&run.outputs, spec.reference),
                energy_pj: cost.ledger.energy_pj(),
                adc_energy_pj: cost.ledger.breakdown().get("crossbar.adc").copied().unwrap_or(0.0),
                latency_ns: cost.ledger.latency_ns,
                area_um2: cost.ledger.area_um2_total(),
                tops_per_w: cost.tops_per_w,
            });
        }
    }
    Ok(out)
}

/// The table as aligned text, one row per point.
pub fn format_table(points: &[SweepPoint]) -> String {
    let mut s = String::from("adc_bits  full_scale  d2d_sigma  accuracy  agreement   energy_pj  adc_pj  latency_ns   area_um2  TOPS/W\n");
    for p in points {
        s.push_str(&format!(
            "{:>8}  {:>10}  {:>9.3}  {:>8.4}  {:>9.4}  {:>10.2}  {:>6.2}  {:>10.1}  {:>9.0}  {:>6.2}\n",
            p.adc_bits, p.full_scale, p.d2d_sigma, p.accuracy, p.agreement, p.energy_pj, p.adc_energy_pj, p.latency_ns, p.area_um2, p.tops_per_w
        ));
    }
    s
}
