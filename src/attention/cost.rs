//! Cost of HAD and standard attention hardware: per-unit figures (power, area, cycles per use,
//! copies), the architecture each variant uses them in, and pricing of simulated events.
//!
//! Units and figures. The HAD datapath follows CAMformer (papers.md section 1, 45 nm, 1 GHz,
//! energy per use = power x cycles x copies / clock): a query buffer; a key SRAM streaming
//! 16-key tiles into a 16 x d_k BA-CAM (binary attention CAM) that returns 16 Hamming
//! distances per search through 16 six-bit ADCs; top-2 per tile and a global top-k; a softmax
//! of look-up table, divider and accumulator; a value SRAM and BF16 MACs. The scale tau is
//! folded into tessera's exponent table, so the fixed scalers are not used for HAD.
//!
//! The standard counterpart at the same shapes stores int8 keys (8x the key SRAM bits and
//! query buffer), computes the 16 scores of a tile with 16 x d_k int8 MACs, scales every score
//! (fixed scalers), runs the softmax over all S scores and the value product over all S rows.
//! Its int8 MAC is not in the CAMformer table: tessera uses Horowitz, "Computing's energy
//! problem", ISSCC 2014 (45 nm): 8-bit multiply 0.2 pJ / 282 um2 plus a 32-bit add 0.1 pJ /
//! 137 um2, i.e. 0.3 pJ and 419 um2 per MAC. SRAM areas and per-access energies scale with the
//! bits stored and read relative to the CAMformer reference (1024 keys, d_k = 64, BF16 values).
//!
//! Figures come from the accelerator description's `attention` stdlib instances when one is
//! given (matched by component name: `ba_cam`, `key_sram`, ...); [`AttnUnits::camformer_45nm`]
//! holds the same defaults for use without a description.

use super::core::CoreEvents;
use crate::attention::error::AttnError;
use crate::dsl::accel::Accelerator;
use crate::sim::cost::Ledger;
use crate::units::Dim;
use serde::Serialize;

/// One hardware unit: power while active, area of one copy, cycles per use, copies per use.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct Unit {
    pub power_mw: f64,
    pub area_um2: f64,
    pub cycles: f64,
    pub count: f64,
}

impl Unit {
    const fn new(power_mw: f64, area_um2: f64, cycles: f64, count: f64) -> Unit {
        Unit { power_mw, area_um2, cycles, count }
    }
    /// Energy of one use in pJ at `clock_ghz` (mW x ns = pJ).
    pub fn energy_pj(&self, clock_ghz: f64) -> f64 {
        self.power_mw * self.cycles * self.count / clock_ghz
    }
    pub fn total_area(&self) -> f64 {
        self.area_um2 * self.count
    }
}

/// Every unit the two attention datapaths use.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct AttnUnits {
    pub clock_ghz: f64,
    pub query_buffer: Unit,
    pub key_sram: Unit,
    pub ba_cam: Unit,
    pub adc: Unit,
    pub scaler: Unit,
    pub top2: Unit,
    pub topk: Unit,
    pub softmax_lut: Unit,
    pub softmax_div: Unit,
    pub softmax_acc: Unit,
    pub value_sram: Unit,
    pub value_mac: Unit,
    /// One int8 multiply-accumulate (standard scores and the linear layers).
    pub int8_mac: Unit,
    /// Keys per BA-CAM tile (rows) and bits per key (columns) of the reference design.
    pub tile_rows: usize,
    pub tile_cols: usize,
    /// Candidates the top-k unit ranks in one use (128 in CAMformer).
    pub topk_candidates: usize,
    /// Reference sequence length the SRAM figures were given for.
    pub ref_seq: usize,
}

impl AttnUnits {
    /// The CAMformer 45 nm table of papers.md section 1 and Horowitz's int8 MAC.
    pub fn camformer_45nm() -> AttnUnits {
        AttnUnits {
            clock_ghz: 1.0,
            query_buffer: Unit::new(0.803, 2475.0, 1.0, 1.0),
            key_sram: Unit::new(28.4, 27728.6, 1.0, 1.0),
            ba_cam: Unit::new(13.15, 2230.0, 1.0, 1.0),
            adc: Unit::new(0.95, 4000.0, 2.0, 16.0),
            scaler: Unit::new(0.0245, 83.6, 2.0, 16.0),
            top2: Unit::new(6.08, 8801.0, 2.0, 1.0),
            topk: Unit::new(52.08, 67017.0, 6.0, 1.0),
            softmax_lut: Unit::new(1.418, 1612.0, 1.0, 1.0),
            softmax_div: Unit::new(0.071, 442.0, 3.0, 1.0),
            softmax_acc: Unit::new(1.117, 2880.0, 1.0, 1.0),
            value_sram: Unit::new(34.7, 44820.0, 1.0, 1.0),
            value_mac: Unit::new(1.117, 2880.0, 4.0, 8.0),
            int8_mac: Unit::new(0.3, 419.0, 1.0, 1.0),
            tile_rows: 16,
            tile_cols: 64,
            topk_candidates: 128,
            ref_seq: 1024,
        }
    }

    /// The defaults overridden by the description's instances of the attention stdlib
    /// components (`power`, `area`, `cycles`, `count`, `clock`; `rows`/`cols` of `ba_cam`).
    pub fn from_accelerator(acc: &Accelerator) -> Result<AttnUnits, AttnError> {
        let mut u = AttnUnits::camformer_45nm();
        for inst in acc.instances.values() {
            let comp = inst.component.rsplit("::").next().unwrap_or(&inst.component);
            let slot = match comp {
                "query_buffer" => &mut u.query_buffer,
                "key_sram" => &mut u.key_sram,
                "ba_cam" => &mut u.ba_cam,
                "adc_6b" => &mut u.adc,
                "fixed_scaler" => &mut u.scaler,
                "top2" => &mut u.top2,
                "top32" => &mut u.topk,
                "softmax_lut" => &mut u.softmax_lut,
                "softmax_div" => &mut u.softmax_div,
                "softmax_acc" => &mut u.softmax_acc,
                "value_sram" => &mut u.value_sram,
                "bf16_mac" => &mut u.value_mac,
                "int8_mac" => &mut u.int8_mac,
                _ => continue,
            };
            *slot = Unit {
                power_mw: inst.si("power", Dim::POWER)? * 1e3,
                area_um2: inst.si("area", Dim::AREA)? * 1e12,
                cycles: inst.count("cycles")? as f64,
                count: inst.count("count")? as f64,
            };
            if let Ok(f) = inst.si("clock", Dim::FREQUENCY) {
                u.clock_ghz = f / 1e9;
            }
            if comp == "ba_cam" {
                u.tile_rows = inst.count("rows")? as usize;
                u.tile_cols = inst.count("cols")? as usize;
            }
            if comp == "top32" {
                if let Ok(c) = inst.count("candidates") {
                    u.topk_candidates = c as usize;
                }
            }
        }
        Ok(u)
    }
}

/// Shape of one attention head's workload.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct AttnShape {
    pub seq: usize,
    pub d_k: usize,
    pub d_v: usize,
    /// Keys kept per query (top-k); `seq` for full softmax.
    pub kept: usize,
}

/// Which datapath.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Variant {
    Had,
    Standard,
}

/// Energy per query by component (pJ), latency per query (cycles) and area (um^2).
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct AttnCost {
    pub energy_pj: Vec<(String, f64)>,
    pub area_um2: Vec<(String, f64)>,
    pub cycles: f64,
}

impl AttnCost {
    pub fn energy_total(&self) -> f64 {
        self.energy_pj.iter().map(|x| x.1).sum()
    }
    pub fn area_total(&self) -> f64 {
        self.area_um2.iter().map(|x| x.1).sum()
    }
    /// Average power while computing, in mW (pJ per ns).
    pub fn power_mw(&self, clock_ghz: f64) -> f64 {
        self.energy_total() / (self.cycles / clock_ghz).max(1e-12)
    }
}

/// Cost of one query of one head on the given datapath.
pub fn head_cost(u: &AttnUnits, v: Variant, sh: &AttnShape) -> AttnCost {
    let ghz = u.clock_ghz;
    let tiles = sh.seq.div_ceil(u.tile_rows) as f64;
    let width = sh.d_k as f64 / u.tile_cols as f64; // BA-CAM / dot-product column scaling
    let kbits = match v {
        Variant::Had => 1.0,
        Variant::Standard => 8.0,
    };
    let seq_scale = sh.seq as f64 / u.ref_seq as f64;
    let dv_scale = sh.d_v as f64 / u.tile_cols as f64;
    let mut c = AttnCost::default();
    let mut e = |name: &str, pj: f64| c.energy_pj.push((name.to_string(), pj));
    // Storage: query buffer and the key SRAM (one tile read per search); values per kept row.
    e("query_buffer", u.query_buffer.energy_pj(ghz) * kbits * width);
    e("key_sram", tiles * u.key_sram.energy_pj(ghz) * kbits * width);
    let (exp_n, rows) = match v {
        Variant::Had => {
            e("ba_cam", tiles * u.ba_cam.energy_pj(ghz) * width);
            e("adc", tiles * u.adc.energy_pj(ghz));
            e("top2", tiles * u.top2.energy_pj(ghz));
            let cand = (tiles * 2.0).min(sh.seq as f64);
            e("topk", (cand / u.topk_candidates as f64).ceil() * u.topk.energy_pj(ghz));
            (sh.kept as f64, sh.kept as f64)
        }
        Variant::Standard => {
            e("score_macs", sh.seq as f64 * sh.d_k as f64 * u.int8_mac.energy_pj(ghz));
            e("scaler", tiles * u.scaler.energy_pj(ghz));
            (sh.seq as f64, sh.seq as f64)
        }
    };
    e("softmax_lut", exp_n * u.softmax_lut.energy_pj(ghz));
    e("softmax_div", exp_n * u.softmax_div.energy_pj(ghz));
    e("softmax_acc", exp_n * u.softmax_acc.energy_pj(ghz));
    e("value_sram", rows * u.value_sram.energy_pj(ghz) * dv_scale);
    let macs = rows * sh.d_v as f64;
    e("value_mac", macs / u.value_mac.count * u.value_mac.energy_pj(ghz));
    // Latency: searches (1 cycle + ADC or dot-product adder tree + top-2), the global top-k,
    // then softmax (look-up, divide, accumulate per kept score) and the value MACs.
    c.cycles = match v {
        Variant::Had => {
            tiles * (u.ba_cam.cycles + u.adc.cycles + u.top2.cycles)
                + u.topk.cycles
                    * ((tiles * 2.0).min(sh.seq as f64) / u.topk_candidates as f64).ceil()
        }
        Variant::Standard => tiles * (1.0 + (sh.d_k as f64).log2().ceil() + u.scaler.cycles),
    } + exp_n * (u.softmax_lut.cycles + u.softmax_div.cycles + u.softmax_acc.cycles)
        + (macs / u.value_mac.count).ceil() * u.value_mac.cycles;
    // Area.
    let mut a = |name: &str, um2: f64| c.area_um2.push((name.to_string(), um2));
    a("query_buffer", u.query_buffer.total_area() * kbits * width);
    a("key_sram", u.key_sram.total_area() * kbits * width * seq_scale);
    match v {
        Variant::Had => {
            a("ba_cam", u.ba_cam.total_area() * width);
            a("adc", u.adc.total_area());
            a("top2", u.top2.total_area());
            a("topk", u.topk.total_area());
        }
        Variant::Standard => {
            a("score_macs", u.tile_rows as f64 * sh.d_k as f64 * u.int8_mac.total_area());
            a("scaler", u.scaler.total_area());
        }
    }
    a(
        "softmax",
        u.softmax_lut.total_area() + u.softmax_div.total_area() + u.softmax_acc.total_area(),
    );
    a("value_sram", u.value_sram.total_area() * seq_scale * dv_scale);
    a("value_mac", u.value_mac.total_area());
    c
}

/// One row of the sequence-length study.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ScalingPoint {
    pub seq: usize,
    pub had_energy_pj: f64,
    pub std_energy_pj: f64,
    pub had_area_um2: f64,
    pub std_area_um2: f64,
    pub had_power_mw: f64,
    pub std_power_mw: f64,
    /// `1 - had/std`.
    pub area_saving: f64,
    pub energy_saving: f64,
    pub power_saving: f64,
}

/// HAD (top-`kept`) against standard attention (full softmax) for each sequence length.
pub fn scaling(
    u: &AttnUnits,
    seqs: &[usize],
    d_k: usize,
    d_v: usize,
    kept: usize,
) -> Vec<ScalingPoint> {
    seqs.iter()
        .map(|&seq| {
            let h = head_cost(u, Variant::Had, &AttnShape { seq, d_k, d_v, kept: kept.min(seq) });
            let s = head_cost(u, Variant::Standard, &AttnShape { seq, d_k, d_v, kept: seq });
            let (hp, sp) = (h.power_mw(u.clock_ghz), s.power_mw(u.clock_ghz));
            ScalingPoint {
                seq,
                had_energy_pj: h.energy_total(),
                std_energy_pj: s.energy_total(),
                had_area_um2: h.area_total(),
                std_area_um2: s.area_total(),
                had_power_mw: hp,
                std_power_mw: sp,
                area_saving: 1.0 - h.area_total() / s.area_total(),
                energy_saving: 1.0 - h.energy_total() / s.energy_total(),
                power_saving: 1.0 - hp / sp,
            }
        })
        .collect()
}

/// Adds the attention cores' simulated events to a ledger: every query's cost from
/// [`head_cost`] at the model's shape, scaled by the simulated counts.
pub fn price_cores(
    l: &mut Ledger,
    u: &AttnUnits,
    v: Variant,
    ev: &CoreEvents,
    shape: &AttnShape,
    prefix: &str,
) {
    if ev.queries == 0 {
        return;
    }
    let per = head_cost(u, v, shape);
    for (name, pj) in &per.energy_pj {
        l.add(&format!("{prefix}.{name}"), &format!("{prefix}.{name}"), ev.queries as f64, *pj);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn camformer_reference_by_hand() {
        // BERT-Large head: seq 1024, d_k = d_v = 64, top-32. HAD per query:
        // 64 tiles; BA-CAM 13.15 pJ x 64 = 841.6; ADC 0.95 x 2 x 16 = 30.4 pJ x 64 = 1945.6;
        // key SRAM 28.4 x 64 = 1817.6; top-2 6.08 x 2 = 12.16 x 64 = 778.24; top-32 over 128
        // candidates: one use, 52.08 x 6 = 312.48.
        let u = AttnUnits::camformer_45nm();
        let h = head_cost(&u, Variant::Had, &AttnShape { seq: 1024, d_k: 64, d_v: 64, kept: 32 });
        let get = |n: &str| h.energy_pj.iter().find(|x| x.0 == n).map(|x| x.1).unwrap();
        assert!((get("ba_cam") - 841.6).abs() < 1e-9);
        assert!((get("adc") - 1945.6).abs() < 1e-9);
        assert!((get("key_sram") - 1817.6).abs() < 1e-9);
        assert!((get("top2") - 778.24).abs() < 1e-9);
        assert!((get("topk") - 312.48).abs() < 1e-9);
        // Softmax over 32 kept scores: (1.418 + 0.071 x 3 + 1.117) x 32 = 2.748 x 32 = 87.936.
        let sm = get("softmax_lut") + get("softmax_div") + get("softmax_acc");
        assert!((sm - 87.936).abs() < 1e-9);
        // Value MACs: 32 x 64 = 2048 MACs on 8 units, each use 1.117 x 4 x 8 = 35.744 pJ.
        assert!((get("value_mac") - 2048.0 / 8.0 * 35.744).abs() < 1e-9);
    }

    #[test]
    fn had_beats_standard_and_gains_grow_with_length() {
        let u = AttnUnits::camformer_45nm();
        let pts = scaling(&u, &[64, 256, 1024, 4096], 64, 64, 32);
        for p in &pts {
            assert!(p.had_area_um2 < p.std_area_um2 && p.had_energy_pj < p.std_energy_pj, "{p:?}");
        }
        assert!(pts[3].energy_saving > pts[0].energy_saving);
    }
}
