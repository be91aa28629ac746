//! Checking values against declared types: dimensions (E0006), kinds and whole numbers
//! (E0013), and the two places where a bare name is not a lookup (symbols, forgotten quotes).

use crate::diagnostics::{Code, Diagnostic, Span};
use crate::dsl::accel::Value;
use crate::dsl::ast::{Expr, ExprKind};
use crate::dsl::check::{Checker, Env, Poisoned};
use crate::dsl::types::Ty;
use crate::dsl::value::{format_value, Val};
use crate::units::Dim;

impl Checker<'_> {
    /// Evaluates where a value of type `ty` is expected, then checks it. A bare name where a
    /// `symbol` is expected is that symbol (`order = monosparse`), never a lookup.
    pub fn eval_as(&mut self, env: &Env, e: &Expr, ty: Ty, what: &str) -> Result<Val, Poisoned> {
        if ty == Ty::Symbol {
            if let ExprKind::Path(p) = &e.kind {
                if let [id] = p.segments.as_slice() {
                    return Ok(Val::Known(Value::Symbol(id.name.clone())));
                }
            }
        }
        if ty == Ty::Str {
            if let ExprKind::Path(p) = &e.kind {
                if let [id] = p.segments.as_slice() {
                    let bound = env.locals.contains_key(&id.name)
                        || self.scopes[env.module.0].get(&id.name).is_some();
                    if !bound {
                        self.emit(
                            Diagnostic::error(
                                Code::E0013,
                                format!(
                                    "type mismatch: {what} is string, found the bare name `{}`",
                                    id.name
                                ),
                            )
                            .primary(e.span, "expected a string")
                            .help(format!("put the text in double quotes: \"{}\"", id.name)),
                        );
                        return Err(Poisoned);
                    }
                }
            }
        }
        let v = self.eval(env, e)?;
        self.check_type(&v, ty, e.span, what)?;
        Ok(v)
    }

    /// Checks a value against a declared type: E0006 for a wrong dimension, E0013 for a wrong
    /// kind or a non-whole `int`.
    pub fn check_type(&mut self, v: &Val, ty: Ty, span: Span, what: &str) -> Result<(), Poisoned> {
        let found = v.ty();
        let ok_kind = match (ty, found) {
            (Ty::Int, Ty::Num(_)) | (Ty::Num(_), Ty::Num(_)) => {
                let (want, got) = (
                    ty.dim().unwrap_or(Dim::DIMENSIONLESS),
                    found.dim().unwrap_or(Dim::DIMENSIONLESS),
                );
                if want != got {
                    let exp = if ty == Ty::Int {
                        "int (dimensionless)".to_string()
                    } else {
                        ty.to_string()
                    };
                    self.emit(
                        Diagnostic::error(
                            Code::E0006,
                            format!("dimension mismatch: {what} is {exp}, found {got}"),
                        )
                        .primary(span, format!("this is {}", got)),
                    );
                    return Err(Poisoned);
                }
                true
            }
            (a, b) => a == b,
        };
        if !ok_kind {
            let shown = match v {
                Val::Known(k) => format!("{} `{}`", found_kind(found), format_value(k)),
                Val::Abstract(_) => found_kind(found).to_string(),
            };
            let mut d = Diagnostic::error(
                Code::E0013,
                format!("type mismatch: {what} is {ty}, found {shown}"),
            )
            .primary(span, format!("expected {ty}"));
            if ty == Ty::Symbol && found == Ty::Str {
                d = d.help("write the name without quotes");
            }
            if ty == Ty::Str && found == Ty::Symbol {
                d = d.help("put the text in double quotes");
            }
            self.emit(d);
            return Err(Poisoned);
        }
        if ty == Ty::Int {
            if let Some(Value::Number(q)) = v.known() {
                if q.si.fract() != 0.0 || q.si.abs() > 9.007_199_254_740_992e15 {
                    self.emit(
                        Diagnostic::error(
                            Code::E0013,
                            format!(
                                "type mismatch: {what} is int, found {} (not a whole number)",
                                format_value(&Value::Number(*q))
                            ),
                        )
                        .primary(span, "expected a whole number")
                        .help("use `floor(...)` or `ceil(...)` to round"),
                    );
                    return Err(Poisoned);
                }
            }
        }
        Ok(())
    }
}

/// A kind of value in messages: "a string", "a number of dimension energy", ...
pub fn found_kind(t: Ty) -> String {
    match t {
        Ty::Int => "an int".to_string(),
        Ty::Num(d) if d.is_dimensionless() => "a number".to_string(),
        Ty::Num(d) => format!("{d}"),
        Ty::Bool => "a bool".to_string(),
        Ty::Str => "a string".to_string(),
        Ty::Symbol => "a symbol".to_string(),
        Ty::Dims => "dims".to_string(),
    }
}
