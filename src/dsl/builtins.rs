//! Builtin functions: `min max ceil floor log2 sqrt abs pow`.
//!
//! Dimension rules: `min`/`max` need one dimension across arguments; `abs` keeps it; `sqrt`
//! halves even exponents (`sqrt(area)` is a length); `ceil`, `floor` and `log2` need
//! dimensionless arguments, because their result would depend on the unit chosen;
//! `pow(x, n)` with a dimensioned `x` needs a known whole `n`.

use crate::diagnostics::{Code, Diagnostic, Span};
use crate::dsl::accel::Value;
use crate::dsl::typecheck::found_kind;
use crate::dsl::types::{dim_pow, dim_sqrt, Ty};
use crate::dsl::value::{format_value, Val};
use crate::units::{Dim, Quantity};

pub const BUILTINS: &[&str] = &["min", "max", "ceil", "floor", "log2", "sqrt", "abs", "pow"];

/// Applies a builtin to evaluated arguments (value and span each).
pub fn call(name: &str, args: &[(Val, Span)], span: Span) -> Result<Val, Diagnostic> {
    let arity_ok = match name {
        "min" | "max" => !args.is_empty(),
        "pow" => args.len() == 2,
        _ => args.len() == 1,
    };
    if !arity_ok {
        let want = match name {
            "min" | "max" => "at least one argument",
            "pow" => "two arguments (base, exponent)",
            _ => "one argument",
        };
        return Err(Diagnostic::error(
            Code::E0013,
            format!("`{name}` takes {want}, found {}", args.len()),
        )
        .primary(span, "wrong number of arguments"));
    }
    // Every builtin takes numbers.
    let mut nums: Vec<(Option<f64>, Dim, Span)> = Vec::new();
    for (v, s) in args {
        match v.ty() {
            Ty::Num(d) => nums.push((known_si(v), d, *s)),
            t => {
                return Err(Diagnostic::error(
                    Code::E0013,
                    format!("`{name}` needs numbers, found {}", found_kind(t)),
                )
                .primary(*s, "expected a number"))
            }
        }
    }
    let (x, dx, sx) = nums[0];
    let result: (Option<f64>, Dim) = match name {
        "min" | "max" => {
            for (_, d, s) in &nums[1..] {
                if *d != dx {
                    return Err(Diagnostic::error(
                        Code::E0006,
                        format!("`{name}` of {dx} and {d}"),
                    )
                    .primary(*s, format!("this is {d}"))
                    .secondary(sx, format!("this is {dx}")));
                }
            }
            let all: Option<Vec<f64>> = nums.iter().map(|(v, _, _)| *v).collect();
            let r = all.map(|vs| {
                vs.into_iter()
                    .reduce(|a, b| if name == "min" { a.min(b) } else { a.max(b) })
                    .unwrap_or(f64::NAN)
            });
            (r, dx)
        }
        "ceil" | "floor" | "log2" => {
            if !dx.is_dimensionless() {
                return Err(dimensionless_needed(name, dx, sx));
            }
            let r = match (name, x) {
                (_, None) => None,
                ("ceil", Some(v)) => Some(v.ceil()),
                ("floor", Some(v)) => Some(v.floor()),
                (_, Some(v)) if v <= 0.0 => {
                    return Err(Diagnostic::error(
                        Code::E0017,
                        format!("`log2` of {}", format_value(&Value::Number(Quantity::scalar(v)))),
                    )
                    .primary(sx, "log2 needs a positive argument"))
                }
                (_, Some(v)) => Some(v.log2()),
            };
            (r, Dim::DIMENSIONLESS)
        }
        "sqrt" => {
            let Some(d) = dim_sqrt(dx) else {
                return Err(Diagnostic::error(
                    Code::E0006,
                    format!("`sqrt` of {dx} has no dimension"),
                )
                .primary(sx, "the unit exponents must all be even")
                .note("`sqrt(area)` is a length; `sqrt(length)` is meaningless"));
            };
            if let Some(v) = x.filter(|v| *v < 0.0) {
                return Err(Diagnostic::error(
                    Code::E0017,
                    format!(
                        "`sqrt` of a negative number ({})",
                        format_value(&Value::Number(Quantity::new(v, dx)))
                    ),
                )
                .primary(sx, "negative"));
            }
            (x.map(f64::sqrt), d)
        }
        "abs" => (x.map(f64::abs), dx),
        _ => {
            let (n, dn, sn) = nums[1];
            if !dn.is_dimensionless() {
                return Err(dimensionless_needed("pow exponent", dn, sn));
            }
            if dx.is_dimensionless() {
                (x.zip(n).map(|(a, b)| a.powf(b)), dx)
            } else {
                let whole = n.filter(|v| v.fract() == 0.0 && v.abs() <= 127.0);
                let Some(k) = whole else {
                    return Err(Diagnostic::error(
                        Code::E0013,
                        "the exponent of a number with a unit must be a known whole number",
                    )
                    .primary(sn, "not a known whole number")
                    .secondary(sx, format!("this is {dx}")));
                };
                let Some(d) = dim_pow(dx, k as i32) else {
                    return Err(Diagnostic::error(Code::E0006, "dimension exponent out of range")
                        .primary(span, "the result's unit exponent exceeds ±127"));
                };
                (x.map(|a| a.powi(k as i32)), d)
            }
        }
    };
    match result {
        (Some(v), d) if v.is_finite() => Ok(Val::num(v, d)),
        (Some(_), _) => {
            Err(Diagnostic::error(Code::E0017, format!("`{name}` gives a non-finite result"))
                .primary(span, "overflow or undefined"))
        }
        (None, d) => Ok(Val::Abstract(Ty::Num(d))),
    }
}

fn known_si(v: &Val) -> Option<f64> {
    match v {
        Val::Known(Value::Number(q)) => Some(q.si),
        _ => None,
    }
}

fn dimensionless_needed(what: &str, d: Dim, s: Span) -> Diagnostic {
    Diagnostic::error(Code::E0006, format!("`{what}` needs a dimensionless number, found {d}"))
        .primary(s, format!("this is {d}"))
        .help("divide by a unit first, e.g. `x / 1 ns`")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::diagnostics::FileId;

    fn s() -> Span {
        Span::new(FileId(0), 0, 0)
    }
    fn n(v: f64, d: Dim) -> (Val, Span) {
        (Val::num(v, d), s())
    }
    fn si(r: Result<Val, Diagnostic>) -> (f64, Dim) {
        match r {
            Ok(Val::Known(Value::Number(q))) => (q.si, q.dim),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn values_and_dimensions() {
        assert_eq!(
            si(call("max", &[n(1e-15, Dim::ENERGY), n(3e-15, Dim::ENERGY)], s())),
            (3e-15, Dim::ENERGY)
        );
        assert_eq!(
            si(call("log2", &[n(256.0, Dim::DIMENSIONLESS)], s())),
            (8.0, Dim::DIMENSIONLESS)
        );
        assert_eq!(si(call("ceil", &[n(2.1, Dim::DIMENSIONLESS)], s())), (3.0, Dim::DIMENSIONLESS));
        // sqrt(4 um2) = 2 um.
        let (v, d) = si(call("sqrt", &[n(4e-12, Dim::AREA)], s()));
        assert!((v - 2e-6).abs() < 1e-20);
        assert_eq!(d, Dim::LENGTH);
        // pow(2 V, 2) = 4 V^2.
        let (v, d) = si(call("pow", &[n(2.0, Dim::VOLTAGE), n(2.0, Dim::DIMENSIONLESS)], s()));
        assert_eq!((v, d), (4.0, Dim::VOLTAGE.mul(Dim::VOLTAGE)));
    }

    #[test]
    fn errors_have_codes() {
        let code = |r: Result<Val, Diagnostic>| r.err().map(|d| d.code);
        assert_eq!(code(call("log2", &[n(0.0, Dim::DIMENSIONLESS)], s())), Some(Code::E0017));
        assert_eq!(code(call("log2", &[n(1.0, Dim::TIME)], s())), Some(Code::E0006));
        assert_eq!(
            code(call("min", &[n(1.0, Dim::TIME), n(1.0, Dim::ENERGY)], s())),
            Some(Code::E0006)
        );
        assert_eq!(code(call("sqrt", &[n(1.0, Dim::LENGTH)], s())), Some(Code::E0006));
        assert_eq!(
            code(call("pow", &[n(2.0, Dim::TIME), n(0.5, Dim::DIMENSIONLESS)], s())),
            Some(Code::E0013)
        );
        assert_eq!(
            code(call("pow", &[n(2.0, Dim::ENERGY), n(100.0, Dim::DIMENSIONLESS)], s())),
            Some(Code::E0006)
        );
        assert_eq!(
            code(call("pow", &[n(10.0, Dim::DIMENSIONLESS), n(400.0, Dim::DIMENSIONLESS)], s())),
            Some(Code::E0017)
        );
        assert_eq!(code(call("abs", &[], s())), Some(Code::E0013));
    }
}
