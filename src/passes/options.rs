//! Pass options: declarations, parsing from text, validation, and typed access in a pass.

use super::{Pass, PassError};
use crate::dsl::accel::{Accelerator, Value};
use crate::units::Quantity;
use ndarray::Array2;
use std::collections::BTreeMap;
use std::fmt;

pub use crate::dsl::accel::OptionKind;

/// A default value that can live in a `static` option table.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum DefaultValue {
    /// The option is required.
    None,
    Int(i64),
    Bool(bool),
    Symbol(&'static str),
    Dims(&'static [u64]),
    Real(f64),
}

impl DefaultValue {
    /// The default as a [`Value`], or `None` when the option is required.
    pub fn to_value(self) -> Option<Value> {
        match self {
            DefaultValue::None => None,
            DefaultValue::Int(i) => Some(Value::Number(Quantity::scalar(i as f64))),
            DefaultValue::Bool(b) => Some(Value::Bool(b)),
            DefaultValue::Symbol(s) => Some(Value::Symbol(s.to_string())),
            DefaultValue::Dims(d) => Some(Value::Dims(d.to_vec())),
            DefaultValue::Real(r) => Some(Value::Number(Quantity::scalar(r))),
        }
    }
}

impl fmt::Display for DefaultValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DefaultValue::None => f.write_str("(required)"),
            DefaultValue::Int(i) => write!(f, "{i}"),
            DefaultValue::Bool(b) => write!(f, "{b}"),
            DefaultValue::Symbol(s) => f.write_str(s),
            DefaultValue::Dims(d) => {
                f.write_str(&d.iter().map(|x| x.to_string()).collect::<Vec<_>>().join("x"))
            }
            DefaultValue::Real(r) => write!(f, "{r:?}"),
        }
    }
}

/// One option a pass declares.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct PassOption {
    /// Kebab-case name; `snake_case` spellings are accepted on input.
    pub name: &'static str,
    pub kind: OptionKind,
    pub default: DefaultValue,
    pub help: &'static str,
}

/// A number option as written in a mapping (what [`crate::passes::Pass::check_mapping`] sees:
/// canonical names, no defaults filled in); `None` when it is absent or not a number.
pub fn written_number(
    options: &std::collections::BTreeMap<String, crate::dsl::accel::Value>,
    name: &str,
) -> Option<f64> {
    match options.get(name) {
        Some(crate::dsl::accel::Value::Number(q)) => Some(q.si),
        _ => None,
    }
}

/// Canonical spelling of a pass or option name: `_` becomes `-`.
pub fn canonical(name: &str) -> String {
    name.trim().replace('_', "-")
}

/// Why an option value does not fit its option's kind: what [`parse_value`] and
/// [`check_value`] return. The pass manager and the family driver wrap it with the pass (or
/// mapping) and option names.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum ValueError {
    #[error("`{0}` is not a whole number")]
    NotWhole(String),
    #[error("`{0}` is not a number")]
    NotNumber(String),
    #[error("`{0}` is not `true` or `false`")]
    NotBool(String),
    #[error("`{0}` is not a geometry like 24x48")]
    NotGeometry(String),
    #[error("{value} is outside {min}..={max}")]
    OutOfRange { value: f64, min: i64, max: i64 },
    #[error("`{given}` is not one of {}", allowed.join(", "))]
    NotAllowed { given: String, allowed: &'static [&'static str] },
    #[error("`{given}` is neither a geometry like 24x48 nor one of {}", allowed.join(", "))]
    NeitherGeometryNor { given: String, allowed: &'static [&'static str] },
    /// A value of another kind altogether (`got` describes it: `the number 3`).
    #[error("expected {expected}, got {got}")]
    WrongKind { expected: OptionKind, got: String },
}

/// Parses the text form of an option value (`24x48`, `true`, `monosparse`, `3`, `0.5`).
pub fn parse_value(kind: OptionKind, text: &str) -> Result<Value, ValueError> {
    let t = text.trim();
    match kind {
        OptionKind::Int { .. } => t
            .parse::<i64>()
            .map(|i| Value::Number(Quantity::scalar(i as f64)))
            .map_err(|_| ValueError::NotWhole(t.to_string())),
        OptionKind::Real => t
            .parse::<f64>()
            .ok()
            .filter(|r| r.is_finite())
            .map(|r| Value::Number(Quantity::scalar(r)))
            .ok_or_else(|| ValueError::NotNumber(t.to_string())),
        OptionKind::Bool => match t {
            "true" => Ok(Value::Bool(true)),
            "false" => Ok(Value::Bool(false)),
            _ => Err(ValueError::NotBool(t.to_string())),
        },
        OptionKind::Symbol(_) => Ok(Value::Symbol(t.to_string())),
        OptionKind::DimsOr(names) if names.contains(&t) => Ok(Value::Symbol(t.to_string())),
        OptionKind::Dims | OptionKind::DimsOr(_) => t
            .split('x')
            .map(|p| p.trim().parse::<u64>().ok().filter(|&d| d > 0))
            .collect::<Option<Vec<u64>>>()
            .map(Value::Dims)
            .ok_or_else(|| ValueError::NotGeometry(t.to_string())),
    }
}

/// Checks a value against an option kind.
pub fn check_value(kind: OptionKind, v: &Value) -> Result<(), ValueError> {
    match (kind, v) {
        (OptionKind::Int { min, max }, Value::Number(q))
            if q.dim.is_dimensionless() && q.si.fract() == 0.0 =>
        {
            if q.si < min as f64 || q.si > max as f64 {
                Err(ValueError::OutOfRange { value: q.si, min, max })
            } else {
                Ok(())
            }
        }
        (OptionKind::Real, Value::Number(q)) if q.dim.is_dimensionless() && q.si.is_finite() => {
            Ok(())
        }
        (OptionKind::Bool, Value::Bool(_)) => Ok(()),
        (OptionKind::Symbol(allowed), Value::Symbol(s) | Value::Str(s)) => {
            if allowed.contains(&s.as_str()) {
                Ok(())
            } else {
                Err(ValueError::NotAllowed { given: s.clone(), allowed })
            }
        }
        (OptionKind::Dims | OptionKind::DimsOr(_), Value::Dims(d))
            if !d.is_empty() && d.iter().all(|&x| x > 0) =>
        {
            Ok(())
        }
        (OptionKind::DimsOr(allowed), Value::Symbol(s)) => {
            if allowed.contains(&s.as_str()) {
                Ok(())
            } else {
                Err(ValueError::NeitherGeometryNor { given: s.clone(), allowed })
            }
        }
        (kind, v) => Err(ValueError::WrongKind { expected: kind, got: describe(v) }),
    }
}

fn describe(v: &Value) -> String {
    match v {
        Value::Number(q) if q.dim.is_dimensionless() => format!("the number {}", q.si),
        Value::Number(q) => format!("a quantity of dimension {}", q.dim),
        Value::Str(s) => format!("the string {s:?}"),
        Value::Symbol(s) => format!("the identifier `{s}`"),
        Value::Dims(d) => format!(
            "the geometry {}",
            d.iter().map(|x| x.to_string()).collect::<Vec<_>>().join("x")
        ),
        Value::Bool(b) => format!("the boolean {b}"),
    }
}

/// Validates `given` against `pass.options()`: unknown options (with a suggestion), values of
/// the wrong kind, missing required options. Returns the full option map with defaults.
pub fn resolve_options(
    pass: &dyn Pass,
    given: &BTreeMap<String, Value>,
) -> Result<BTreeMap<String, Value>, PassError> {
    let decl = pass.options();
    let mut out = BTreeMap::new();
    for (k, v) in given {
        let key = canonical(k);
        let Some(opt) = decl.iter().find(|o| o.name == key) else {
            let names: Vec<&str> = decl.iter().map(|o| o.name).collect();
            return Err(PassError::UnknownOption {
                pass: pass.name().to_string(),
                option: k.clone(),
                suggestion: closest(&key, &names),
                valid: names.iter().map(|s| s.to_string()).collect(),
            });
        };
        check_value(opt.kind, v).map_err(|e| PassError::BadOption {
            pass: pass.name().to_string(),
            option: opt.name.to_string(),
            message: e.to_string(),
        })?;
        out.insert(key, v.clone());
    }
    for opt in decl {
        if !out.contains_key(opt.name) {
            let v = opt.default.to_value().ok_or_else(|| PassError::MissingOption {
                pass: pass.name().to_string(),
                option: opt.name.to_string(),
            })?;
            out.insert(opt.name.to_string(), v);
        }
    }
    Ok(out)
}

/// The closest candidate by Jaro-Winkler similarity, when it is close enough to be a typo.
pub(crate) fn closest(name: &str, candidates: &[&str]) -> Option<String> {
    candidates
        .iter()
        .map(|c| (strsim::jaro_winkler(name, c), *c))
        .filter(|(s, _)| *s > 0.8)
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, c)| c.to_string())
}

/// What the whole pipeline shares: the target accelerator and calibration data, when known.
#[derive(Clone, Copy, Debug, Default)]
pub struct PassEnv<'a> {
    pub accelerator: Option<&'a Accelerator>,
    /// Calibration inputs `[samples, features]` for passes that pick scales or thresholds.
    pub calibration: Option<&'a Array2<f32>>,
}

/// What one pass invocation sees: its validated options (defaults filled in) and the shared
/// environment.
#[derive(Clone, Debug)]
pub struct PassContext<'a> {
    pass: &'static str,
    pub options: BTreeMap<String, Value>,
    pub accelerator: Option<&'a Accelerator>,
    pub calibration: Option<&'a Array2<f32>>,
}

impl<'a> PassContext<'a> {
    /// Validates `options` for `pass` and builds its context.
    pub fn new(
        pass: &dyn Pass,
        options: &BTreeMap<String, Value>,
        env: PassEnv<'a>,
    ) -> Result<Self, PassError> {
        Ok(PassContext {
            pass: pass.name(),
            options: resolve_options(pass, options)?,
            accelerator: env.accelerator,
            calibration: env.calibration,
        })
    }

    fn get(&self, name: &str) -> Result<&Value, PassError> {
        self.options
            .get(name)
            .ok_or_else(|| PassError::failed(self.pass, format!("option `{name}` is not declared")))
    }

    fn wrong(&self, name: &str, what: &str) -> PassError {
        PassError::failed(self.pass, format!("option `{name}` is not {what}"))
    }

    pub fn int(&self, name: &str) -> Result<i64, PassError> {
        match self.get(name)? {
            Value::Number(q) if q.si.fract() == 0.0 => Ok(q.si as i64),
            _ => Err(self.wrong(name, "an integer")),
        }
    }
    pub fn real(&self, name: &str) -> Result<f64, PassError> {
        match self.get(name)? {
            Value::Number(q) => Ok(q.si),
            _ => Err(self.wrong(name, "a number")),
        }
    }
    pub fn bool(&self, name: &str) -> Result<bool, PassError> {
        match self.get(name)? {
            Value::Bool(b) => Ok(*b),
            _ => Err(self.wrong(name, "a boolean")),
        }
    }
    pub fn symbol(&self, name: &str) -> Result<&str, PassError> {
        self.get(name)?.as_str().ok_or_else(|| self.wrong(name, "a symbol"))
    }
    pub fn dims(&self, name: &str) -> Result<&[u64], PassError> {
        match self.get(name)? {
            Value::Dims(d) => Ok(d),
            _ => Err(self.wrong(name, "a geometry")),
        }
    }
}
