//! Values during checking, and how values are printed in messages.
//!
//! A component is checked once on its own, before any instantiation; its required parameters
//! then have a type but no value. [`Val::Abstract`] stands for such a value: arithmetic on it
//! still checks dimensions and kinds, while range checks, `require`s and division by zero wait
//! for known values. One evaluator thus serves as both type checker and interpreter.

use crate::dsl::accel::Value;
use crate::dsl::types::Ty;
use crate::units::{Dim, Quantity};

/// A value being checked: known, or only its type known.
#[derive(Clone, Debug, PartialEq)]
pub enum Val {
    Known(Value),
    Abstract(Ty),
}

impl Val {
    pub fn num(si: f64, dim: Dim) -> Val {
        Val::Known(Value::Number(Quantity::new(si, dim)))
    }
    pub fn ty(&self) -> Ty {
        match self {
            Val::Abstract(Ty::Int) => Ty::Num(Dim::DIMENSIONLESS),
            Val::Abstract(t) => *t,
            Val::Known(v) => value_ty(v),
        }
    }
    pub fn known(&self) -> Option<&Value> {
        match self {
            Val::Known(v) => Some(v),
            Val::Abstract(_) => None,
        }
    }
}

/// The type of a known value (numbers are reported by dimension; `int` is a check, not a kind).
pub fn value_ty(v: &Value) -> Ty {
    match v {
        Value::Number(q) => Ty::Num(q.dim),
        Value::Str(_) => Ty::Str,
        Value::Symbol(_) => Ty::Symbol,
        Value::Dims(_) => Ty::Dims,
        Value::Bool(_) => Ty::Bool,
    }
}

/// Unit symbols used to print each named dimension.
const DISPLAY_UNITS: &[(Dim, &str)] = &[
    (Dim::ENERGY, "J"),
    (Dim::POWER, "W"),
    (Dim::TIME, "s"),
    (Dim::FREQUENCY, "Hz"),
    (Dim::VOLTAGE, "V"),
    (Dim::CURRENT, "A"),
    (Dim::CHARGE, "C"),
    (Dim::CAPACITANCE, "F"),
    (Dim::RESISTANCE, "Ohm"),
    (Dim::CONDUCTANCE, "S"),
    (Dim::LENGTH, "m"),
];

const PREFIXES: &[(&str, f64)] = &[
    ("T", 1e12),
    ("G", 1e9),
    ("M", 1e6),
    ("k", 1e3),
    ("", 1.0),
    ("m", 1e-3),
    ("u", 1e-6),
    ("n", 1e-9),
    ("p", 1e-12),
    ("f", 1e-15),
    ("a", 1e-18),
];

/// A number with up to six significant digits, without trailing zeros; exponent notation
/// outside 1e-4..1e15.
pub fn format_number(x: f64) -> String {
    if !x.is_finite() {
        return format!("{x}");
    }
    if x == 0.0 {
        return "0".to_string();
    }
    let a = x.abs();
    if x.fract() == 0.0 && a < 1e15 {
        return format!("{x:.0}");
    }
    if !(1e-4..1e15).contains(&a) {
        let s = format!("{x:.5e}");
        // Trim zeros in the mantissa: 1.50000e-7 -> 1.5e-7.
        return match s.split_once('e') {
            Some((m, e)) => {
                let m = m.trim_end_matches('0').trim_end_matches('.');
                format!("{m}e{e}")
            }
            None => s,
        };
    }
    let digits = 5 - a.log10().floor() as i32;
    let s = format!("{x:.*}", digits.max(0) as usize);
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        s
    }
}

/// A quantity in engineering notation with a unit symbol (`900 aJ`, `1 GHz`, `0.52 um2`);
/// dimensions without a unit symbol print in SI with their exponents.
pub fn format_quantity(q: &Quantity) -> String {
    if q.dim.is_dimensionless() {
        return format_number(q.si);
    }
    if q.dim == Dim::AREA {
        // Areas read best in um2 or mm2: pick the largest prefix leaving at least 0.01.
        for (p, s) in PREFIXES.iter().filter(|(p, _)| ["", "m", "u", "n"].contains(p)) {
            let m = q.si / (s * s);
            if m.abs() >= 0.01 || *p == "n" {
                return format!("{} {p}m2", format_number(m));
            }
        }
    }
    if let Some((_, unit)) = DISPLAY_UNITS.iter().find(|(d, _)| *d == q.dim) {
        return engineering(q.si, unit);
    }
    // A ratio or product of two named units (`200 pF/m`, `2 V*s`).
    for (a, ua) in DISPLAY_UNITS {
        for (b, ub) in DISPLAY_UNITS {
            if crate::dsl::types::dim_div(*a, *b) == Some(q.dim) {
                return format!("{}/{ub}", engineering(q.si, ua));
            }
        }
    }
    for (i, (a, ua)) in DISPLAY_UNITS.iter().enumerate() {
        for (b, ub) in &DISPLAY_UNITS[i..] {
            if crate::dsl::types::dim_mul(*a, *b) == Some(q.dim) {
                return format!("{}*{ub}", engineering(q.si, ua));
            }
        }
    }
    format!("{} ({})", format_number(q.si), q.dim)
}

/// `si` with the SI prefix that leaves a mantissa in [1, 1000).
fn engineering(si: f64, unit: &str) -> String {
    if si == 0.0 {
        return format!("0 {unit}");
    }
    for (p, s) in PREFIXES {
        let m = si / s;
        if m.abs() >= 1.0 || *p == "a" {
            return format!("{} {p}{unit}", format_number(m));
        }
    }
    format!("{} {unit}", format_number(si))
}

/// A value as it would be written in `.tess`.
pub fn format_value(v: &Value) -> String {
    match v {
        Value::Number(q) => format_quantity(q),
        Value::Str(s) => format!("{s:?}"),
        Value::Symbol(s) => s.clone(),
        Value::Dims(d) => d.iter().map(|x| x.to_string()).collect::<Vec<_>>().join("x"),
        Value::Bool(b) => b.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn engineering_notation() {
        assert_eq!(format_quantity(&Quantity::new(9e-16, Dim::ENERGY)), "900 aJ");
        assert_eq!(format_quantity(&Quantity::new(1e9, Dim::FREQUENCY)), "1 GHz");
        assert_eq!(format_quantity(&Quantity::new(5.2e-13, Dim::AREA)), "0.52 um2");
        assert_eq!(format_quantity(&Quantity::new(2.58e-7, Dim::AREA)), "0.258 mm2");
        assert_eq!(format_quantity(&Quantity::new(1e5, Dim::RESISTANCE)), "100 kOhm");
        assert_eq!(format_quantity(&Quantity::new(-0.5, Dim::VOLTAGE)), "-500 mV");
        assert_eq!(format_quantity(&Quantity::scalar(4096.0)), "4096");
        assert_eq!(format_quantity(&Quantity::scalar(1.0 / 3.0)), "0.333333");
        assert_eq!(format_number(2.5e-7), "2.5e-7");
        // 0.2 fF/um = 2e-10 F/m.
        let c_wire = Quantity::new(2e-10, Dim::CAPACITANCE.div(Dim::LENGTH));
        assert_eq!(format_quantity(&c_wire), "200 pF/m");
        let k1 = Dim::CURRENT.div(Dim::VOLTAGE).div(Dim::VOLTAGE);
        assert_eq!(format_quantity(&Quantity::new(1e-6, k1)), "1 uS/V");
    }
}
