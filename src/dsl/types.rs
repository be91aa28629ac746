//! Types of `.tess` values and the type expressions that name them.
//!
//! Numbers carry a physical dimension ([`Dim`]); `int` is a dimensionless number that must be
//! whole, `real` any dimensionless number. Dimension arithmetic here is checked: the exponents
//! are `i8`, and `pow(x, 200)` must be an error, not an overflow panic.

use crate::diagnostics::{did_you_mean, Code, Diagnostic};
use crate::dsl::ast::{TypeExpr, TypeKind};
use crate::units::Dim;
use std::fmt;

/// The type of a value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ty {
    /// A dimensionless whole number.
    Int,
    /// A number of the given dimension (`real` is `Num(Dim::DIMENSIONLESS)`).
    Num(Dim),
    Bool,
    Str,
    /// A bare name used as an enumeration value (`order = monosparse`).
    Symbol,
    /// A geometry such as `24x48`.
    Dims,
}

impl Ty {
    /// The dimension when this is a numeric type.
    pub fn dim(self) -> Option<Dim> {
        match self {
            Ty::Int => Some(Dim::DIMENSIONLESS),
            Ty::Num(d) => Some(d),
            _ => None,
        }
    }
}

impl fmt::Display for Ty {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Ty::Int => f.write_str("int"),
            Ty::Num(d) if d.is_dimensionless() => f.write_str("real"),
            Ty::Num(d) => write!(f, "{d}"),
            Ty::Bool => f.write_str("bool"),
            Ty::Str => f.write_str("string"),
            Ty::Symbol => f.write_str("symbol"),
            Ty::Dims => f.write_str("dims"),
        }
    }
}

/// Names of the non-dimension types.
const BASIC: &[(&str, Ty)] = &[
    ("int", Ty::Int),
    ("bool", Ty::Bool),
    ("string", Ty::Str),
    ("symbol", Ty::Symbol),
    ("dims", Ty::Dims),
];

/// Every type name, for "did you mean" suggestions.
pub fn type_names() -> Vec<&'static str> {
    BASIC.iter().map(|(n, _)| *n).chain(Dim::NAMED.iter().map(|(n, _)| *n)).collect()
}

/// `a * b` on dimensions, or `None` when an exponent leaves the `i8` range.
pub fn dim_mul(a: Dim, b: Dim) -> Option<Dim> {
    Some(Dim::new(
        a.kg.checked_add(b.kg)?,
        a.m.checked_add(b.m)?,
        a.s.checked_add(b.s)?,
        a.a.checked_add(b.a)?,
    ))
}

/// `a / b` on dimensions, or `None` on exponent overflow.
pub fn dim_div(a: Dim, b: Dim) -> Option<Dim> {
    Some(Dim::new(
        a.kg.checked_sub(b.kg)?,
        a.m.checked_sub(b.m)?,
        a.s.checked_sub(b.s)?,
        a.a.checked_sub(b.a)?,
    ))
}

/// `a ^ n`, or `None` on exponent overflow.
pub fn dim_pow(a: Dim, n: i32) -> Option<Dim> {
    let p = |e: i8| -> Option<i8> { i8::try_from(i32::from(e).checked_mul(n)?).ok() };
    Some(Dim::new(p(a.kg)?, p(a.m)?, p(a.s)?, p(a.a)?))
}

/// The square root of a dimension, when every exponent is even (`sqrt(area)` is a length).
pub fn dim_sqrt(a: Dim) -> Option<Dim> {
    let h = |e: i8| (e % 2 == 0).then_some(e / 2);
    Some(Dim::new(h(a.kg)?, h(a.m)?, h(a.s)?, h(a.a)?))
}

/// Resolves a written type. Errors (unknown names, `int * energy`) are pushed to `diags` and
/// give `None`.
pub fn resolve_type(t: &TypeExpr, diags: &mut Vec<Diagnostic>) -> Option<Ty> {
    match &t.kind {
        TypeKind::Error => None,
        TypeKind::Name(id) => {
            if let Some((_, ty)) = BASIC.iter().find(|(n, _)| *n == id.name) {
                return Some(*ty);
            }
            if let Some(d) = Dim::by_name(&id.name) {
                return Some(Ty::Num(d));
            }
            let names = type_names();
            diags.push(
                Diagnostic::error(Code::E0004, format!("unknown type `{}`", id.name))
                    .primary(id.span, "not a type")
                    .help_opt(did_you_mean(&id.name, names.iter().copied()))
                    .note(format!("types are {}", names.join(", "))),
            );
            None
        }
        TypeKind::Mul(a, b) | TypeKind::Div(a, b) => {
            let div = matches!(t.kind, TypeKind::Div(..));
            let ta = resolve_type(a, diags);
            let tb = resolve_type(b, diags);
            let da = numeric(ta, a, diags)?;
            let db = numeric(tb, b, diags)?;
            let d = if div { dim_div(da, db) } else { dim_mul(da, db) };
            match d {
                Some(d) => Some(Ty::Num(d)),
                None => {
                    diags.push(overflow(t));
                    None
                }
            }
        }
        TypeKind::Pow(a, n) => {
            let ta = resolve_type(a, diags);
            let da = numeric(ta, a, diags)?;
            match dim_pow(da, *n) {
                Some(d) => Some(Ty::Num(d)),
                None => {
                    diags.push(overflow(t));
                    None
                }
            }
        }
    }
}

/// The dimension of a type used in type arithmetic; `int`, `bool`, ... cannot be combined.
fn numeric(ty: Option<Ty>, t: &TypeExpr, diags: &mut Vec<Diagnostic>) -> Option<Dim> {
    match ty? {
        Ty::Num(d) => Some(d),
        other => {
            diags.push(
                Diagnostic::error(
                    Code::E0013,
                    format!("`{other}` cannot be combined with `*`, `/` or `^`"),
                )
                .primary(t.span, format!("this is `{other}`"))
                .help("only dimensions (energy, time, ..., real) combine into new types"),
            );
            None
        }
    }
}

fn overflow(t: &TypeExpr) -> Diagnostic {
    Diagnostic::error(Code::E0006, "dimension exponent out of range")
        .primary(t.span, "this type has an exponent beyond ±127")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::diagnostics::FileId;
    use crate::dsl::parser::parse;

    fn ty_of(src: &str) -> (Option<Ty>, Vec<Diagnostic>) {
        let (f, d) = parse(&format!("const x: {src} = 1;"), FileId(0));
        assert!(d.is_empty(), "{d:?}");
        let crate::dsl::ast::Item::Const(c) = &f.items[0] else { panic!() };
        let mut diags = Vec::new();
        let t = resolve_type(c.ty.as_ref().unwrap(), &mut diags);
        (t, diags)
    }

    #[test]
    fn type_arithmetic_follows_dimensions() {
        // K1 of the aCAM cell: A / V^2.
        let (t, _) = ty_of("current / voltage / voltage");
        assert_eq!(t, Some(Ty::Num(Dim::CURRENT.div(Dim::VOLTAGE).div(Dim::VOLTAGE))));
        assert_eq!(ty_of("power * time").0, Some(Ty::Num(Dim::ENERGY)));
        assert_eq!(ty_of("length ^ 2").0, Some(Ty::Num(Dim::AREA)));
        assert_eq!(ty_of("real / time").0, Some(Ty::Num(Dim::FREQUENCY)));
        assert_eq!(ty_of("int").0, Some(Ty::Int));
    }

    #[test]
    fn type_errors() {
        let (t, d) = ty_of("enrgy");
        assert_eq!(t, None);
        assert_eq!(d[0].code, Code::E0004);
        assert_eq!(d[0].help, vec!["did you mean `energy`?".to_string()]);
        let (t, d) = ty_of("int * energy");
        assert_eq!(t, None);
        assert_eq!(d[0].code, Code::E0013);
    }

    #[test]
    fn checked_dimension_arithmetic() {
        assert_eq!(dim_pow(Dim::ENERGY, 100), None);
        assert_eq!(dim_sqrt(Dim::AREA), Some(Dim::LENGTH));
        assert_eq!(dim_sqrt(Dim::LENGTH), None);
        assert_eq!(dim_mul(Dim::new(127, 0, 0, 0), Dim::new(1, 0, 0, 0)), None);
    }
}
