//! Physical dimensions and units shared by the `.tess` checker and the cost models.
//!
//! A quantity is stored in SI base units together with its dimension, expressed as integer
//! exponents of kilogram, metre, second and ampere. Four base dimensions are enough for every
//! figure an accelerator description carries (energy, power, time, frequency, voltage, current,
//! capacitance, resistance, conductance, charge, length, area), and they make derived
//! arithmetic (`13.15 mW * 1 ns` is an energy) fall out of exponent addition instead of a table.

use serde::Serialize;
use std::fmt;

/// Exponents of kg, m, s and A. Two quantities may be added only when their `Dim`s are equal.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Serialize, PartialOrd, Ord)]
pub struct Dim {
    pub kg: i8,
    pub m: i8,
    pub s: i8,
    pub a: i8,
}

impl Dim {
    pub const fn new(kg: i8, m: i8, s: i8, a: i8) -> Self {
        Dim { kg, m, s, a }
    }
    pub const DIMENSIONLESS: Dim = Dim::new(0, 0, 0, 0);
    pub const ENERGY: Dim = Dim::new(1, 2, -2, 0);
    pub const POWER: Dim = Dim::new(1, 2, -3, 0);
    pub const TIME: Dim = Dim::new(0, 0, 1, 0);
    pub const FREQUENCY: Dim = Dim::new(0, 0, -1, 0);
    pub const VOLTAGE: Dim = Dim::new(1, 2, -3, -1);
    pub const CURRENT: Dim = Dim::new(0, 0, 0, 1);
    pub const CHARGE: Dim = Dim::new(0, 0, 1, 1);
    pub const CAPACITANCE: Dim = Dim::new(-1, -2, 4, 2);
    pub const RESISTANCE: Dim = Dim::new(1, 2, -3, -2);
    pub const CONDUCTANCE: Dim = Dim::new(-1, -2, 3, 2);
    pub const LENGTH: Dim = Dim::new(0, 1, 0, 0);
    pub const AREA: Dim = Dim::new(0, 2, 0, 0);

    /// The named dimensions, used for type names in `.tess` (`param e: energy`) and messages.
    pub const NAMED: &'static [(&'static str, Dim)] = &[
        ("energy", Dim::ENERGY),
        ("power", Dim::POWER),
        ("time", Dim::TIME),
        ("frequency", Dim::FREQUENCY),
        ("voltage", Dim::VOLTAGE),
        ("current", Dim::CURRENT),
        ("charge", Dim::CHARGE),
        ("capacitance", Dim::CAPACITANCE),
        ("resistance", Dim::RESISTANCE),
        ("conductance", Dim::CONDUCTANCE),
        ("length", Dim::LENGTH),
        ("area", Dim::AREA),
        ("real", Dim::DIMENSIONLESS),
    ];

    /// Looks a dimension up by its `.tess` type name.
    pub fn by_name(name: &str) -> Option<Dim> {
        Self::NAMED.iter().find(|(n, _)| *n == name).map(|(_, d)| *d)
    }

    /// Dimension of a product. An inherent method rather than `std::ops::Mul`, so call sites read
    /// as dimension algebra and need no trait import.
    #[allow(clippy::should_implement_trait)]
    pub fn mul(self, o: Dim) -> Dim {
        Dim::new(self.kg + o.kg, self.m + o.m, self.s + o.s, self.a + o.a)
    }
    /// Dimension of a quotient.
    #[allow(clippy::should_implement_trait)]
    pub fn div(self, o: Dim) -> Dim {
        Dim::new(self.kg - o.kg, self.m - o.m, self.s - o.s, self.a - o.a)
    }
    pub fn is_dimensionless(self) -> bool {
        self == Dim::DIMENSIONLESS
    }
}

impl fmt::Display for Dim {
    /// Prints the dimension by name when it has one (`energy`), else as SI exponents (`kg^1 m^2 s^-1`).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some((n, _)) = Dim::NAMED.iter().find(|(_, d)| d == self) {
            let n = if *n == "real" { "dimensionless" } else { n };
            return f.write_str(n);
        }
        let mut parts = Vec::new();
        for (sym, e) in [("kg", self.kg), ("m", self.m), ("s", self.s), ("A", self.a)] {
            if e != 0 {
                parts.push(format!("{sym}^{e}"));
            }
        }
        f.write_str(&parts.join(" "))
    }
}

/// SI prefixes accepted in front of a unit symbol.
const PREFIXES: &[(&str, f64)] = &[
    ("a", 1e-18),
    ("f", 1e-15),
    ("p", 1e-12),
    ("n", 1e-9),
    ("u", 1e-6),
    ("m", 1e-3),
    ("", 1.0),
    ("k", 1e3),
    ("M", 1e6),
    ("G", 1e9),
    ("T", 1e12),
];

/// Unit symbols without prefix, with their dimension.
const BASE_UNITS: &[(&str, Dim)] = &[
    ("J", Dim::ENERGY),
    ("W", Dim::POWER),
    ("s", Dim::TIME),
    ("Hz", Dim::FREQUENCY),
    ("V", Dim::VOLTAGE),
    ("A", Dim::CURRENT),
    ("C", Dim::CHARGE),
    ("F", Dim::CAPACITANCE),
    ("Ohm", Dim::RESISTANCE),
    ("S", Dim::CONDUCTANCE),
    ("m", Dim::LENGTH),
];

/// Parses a unit symbol such as `fJ`, `GHz`, `um2`, `mm2`, `kOhm` into (scale to SI, dimension).
///
/// A trailing `2` squares a length unit (`um2` = 1e-12 m^2): area is written that way in every
/// paper we draw numbers from. Returns `None` for anything else so the checker can report it.
pub fn parse_unit(sym: &str) -> Option<(f64, Dim)> {
    if let Some(len) = sym.strip_suffix('2') {
        let (scale, dim) = parse_unit(len)?;
        return (dim == Dim::LENGTH).then_some((scale * scale, Dim::AREA));
    }
    for (base, dim) in BASE_UNITS {
        if let Some(prefix) = sym.strip_suffix(base) {
            if let Some((_, scale)) = PREFIXES.iter().find(|(p, _)| *p == prefix) {
                return Some((*scale, *dim));
            }
        }
    }
    None
}

/// All unit symbols with common prefixes, used for "did you mean" suggestions on unknown units.
pub fn known_unit_symbols() -> Vec<String> {
    let mut out = Vec::new();
    for (p, _) in PREFIXES {
        for (b, _) in BASE_UNITS {
            out.push(format!("{p}{b}"));
        }
        out.push(format!("{p}m2"));
    }
    out
}

/// A value with a dimension, in SI base units.
#[derive(Clone, Copy, PartialEq, Debug, Serialize)]
pub struct Quantity {
    pub si: f64,
    pub dim: Dim,
}

impl Quantity {
    pub fn new(si: f64, dim: Dim) -> Self {
        Quantity { si, dim }
    }
    pub fn scalar(v: f64) -> Self {
        Quantity::new(v, Dim::DIMENSIONLESS)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn units_parse_with_prefixes_and_areas() {
        assert_eq!(parse_unit("fJ"), Some((1e-15, Dim::ENERGY)));
        assert_eq!(parse_unit("GHz"), Some((1e9, Dim::FREQUENCY)));
        let (s, d) = parse_unit("um2").unwrap();
        assert_eq!(d, Dim::AREA);
        assert!((s - 1e-12).abs() < 1e-27);
        assert_eq!(parse_unit("kOhm"), Some((1e3, Dim::RESISTANCE)));
        assert_eq!(parse_unit("mm"), Some((1e-3, Dim::LENGTH)));
        assert_eq!(parse_unit("fF"), Some((1e-15, Dim::CAPACITANCE)));
        assert_eq!(parse_unit("Js"), None);
        assert_eq!(parse_unit("V2"), None);
    }

    #[test]
    fn derived_dimensions_compose() {
        assert_eq!(Dim::POWER.mul(Dim::TIME), Dim::ENERGY);
        assert_eq!(Dim::VOLTAGE.mul(Dim::CURRENT), Dim::POWER);
        assert_eq!(Dim::CAPACITANCE.mul(Dim::VOLTAGE).mul(Dim::VOLTAGE), Dim::ENERGY);
        assert_eq!(Dim::DIMENSIONLESS.div(Dim::TIME), Dim::FREQUENCY);
        assert_eq!(Dim::VOLTAGE.div(Dim::CURRENT), Dim::RESISTANCE);
        assert_eq!(Dim::ENERGY.to_string(), "energy");
    }
}
