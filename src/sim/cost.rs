//! The event-counting cost framework shared by every model family.
//!
//! A family's simulator counts *events* (rows precharged, ADC conversions, popcounts, spikes);
//! its cost model prices each kind of event from the accelerator description. Keeping counts and
//! prices apart means a report can always show both, and a changed `.tess` parameter re-prices
//! a simulation without re-running it.

use serde::Serialize;
use std::collections::BTreeMap;

/// One priced kind of event: how often it happened per inference and what each costs.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct EventCost {
    /// Events per inference (a mean over the simulated batch, hence fractional).
    pub count: f64,
    /// Energy of one event in picojoules.
    pub pj_each: f64,
    /// The component this event is attributed to in the breakdown (`cam.match_line`, `adc`, ...).
    pub component: String,
}

impl EventCost {
    pub fn energy_pj(&self) -> f64 {
        self.count * self.pj_each
    }
}

/// A ledger of priced events plus area and latency: the cost of one inference.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Ledger {
    /// Keyed by event name, so the report is ordered and stable.
    pub events: BTreeMap<String, EventCost>,
    /// Area per component in um^2.
    pub area_um2: BTreeMap<String, f64>,
    /// Latency of one inference in nanoseconds (from the schedule, not from the event energies).
    pub latency_ns: f64,
}

impl Ledger {
    /// Adds `count` events of kind `event`, each costing `pj_each`, attributed to `component`.
    /// Adding the same event twice accumulates the count; the per-event price must agree.
    pub fn add(&mut self, event: &str, component: &str, count: f64, pj_each: f64) {
        let e = self.events.entry(event.to_string()).or_insert_with(|| EventCost {
            count: 0.0,
            pj_each,
            component: component.to_string(),
        });
        debug_assert!(
            (e.pj_each - pj_each).abs() <= 1e-12 * pj_each.abs().max(1.0),
            "event {event} priced twice differently"
        );
        e.count += count;
    }

    /// Adds `um2` of area to `component`.
    pub fn add_area(&mut self, component: &str, um2: f64) {
        *self.area_um2.entry(component.to_string()).or_insert(0.0) += um2;
    }

    /// Total energy per inference in picojoules.
    pub fn energy_pj(&self) -> f64 {
        self.events.values().map(EventCost::energy_pj).sum()
    }

    /// Total area in um^2.
    pub fn area_um2_total(&self) -> f64 {
        self.area_um2.values().sum()
    }

    /// Energy per component (the report's `breakdown`), in picojoules.
    pub fn breakdown(&self) -> BTreeMap<String, f64> {
        let mut out = BTreeMap::new();
        for e in self.events.values() {
            *out.entry(e.component.clone()).or_insert(0.0) += e.energy_pj();
        }
        out
    }
}

/// The figures every report carries, however a family computed them.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Cost {
    pub energy_pj: f64,
    pub latency_ns: f64,
    pub area_um2: f64,
    /// Energy per component in picojoules; sums to `energy_pj`.
    pub breakdown: BTreeMap<String, f64>,
}

impl Ledger {
    /// The ledger's totals.
    pub fn cost(&self) -> Cost {
        Cost {
            energy_pj: self.energy_pj(),
            latency_ns: self.latency_ns,
            area_um2: self.area_um2_total(),
            breakdown: self.breakdown(),
        }
    }
}

/// Converts joules to picojoules; parameters arrive in SI units from the description.
pub fn j_to_pj(j: f64) -> f64 {
    j * 1e12
}

/// Converts square metres to square micrometres.
pub fn m2_to_um2(m2: f64) -> f64 {
    m2 * 1e12
}

/// Converts seconds to nanoseconds.
pub fn s_to_ns(s: f64) -> f64 {
    s * 1e9
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ledger_sums_energy_per_component() {
        let mut l = Ledger::default();
        l.add("ml_precharge", "cam.match_line", 10.0, 0.5);
        l.add("ml_precharge", "cam.match_line", 2.0, 0.5);
        l.add("dac", "cam.dac", 3.0, 2.0);
        // 12 precharges x 0.5 pJ + 3 DAC activations x 2 pJ = 6 + 6 pJ.
        assert_eq!(l.energy_pj(), 12.0);
        assert_eq!(l.breakdown()["cam.match_line"], 6.0);
        assert_eq!(l.breakdown()["cam.dac"], 6.0);
        l.add_area("cam.array", 100.0);
        l.add_area("cam.array", 20.0);
        assert_eq!(l.area_um2_total(), 120.0);
    }

    #[test]
    fn unit_conversions() {
        assert!((j_to_pj(0.9e-15) - 0.9e-3).abs() < 1e-18);
        assert!((m2_to_um2(0.52e-12) - 0.52).abs() < 1e-15);
        assert!((s_to_ns(10e-9) - 10.0).abs() < 1e-12);
    }
}
