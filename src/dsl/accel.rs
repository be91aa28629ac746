//! The elaborated accelerator description: what the `.tess` checker hands to the rest of the
//! compiler once names are resolved, units checked, defaults filled in and `require`s evaluated.
//!
//! Everything downstream (frontends, passes, simulator, cost models, Verilog backend) reads only
//! this type, never the AST, so the language can evolve without touching them.

use crate::units::{Dim, Quantity};
use serde::Serialize;
use std::collections::BTreeMap;
use std::path::PathBuf;

/// A constant value after evaluation.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub enum Value {
    /// A number with a dimension, in SI units (`0.9 fJ` is stored as 9e-16 with `Dim::ENERGY`).
    Number(Quantity),
    /// A quoted string.
    Str(String),
    /// A bare identifier used as an enumeration value (`order = monosparse`).
    Symbol(String),
    /// A geometry such as `24x48` (rows x columns).
    Dims(Vec<u64>),
    Bool(bool),
}

impl Value {
    /// The SI value when this is a number of dimension `dim`.
    pub fn as_si(&self, dim: Dim) -> Option<f64> {
        match self {
            Value::Number(q) if q.dim == dim => Some(q.si),
            _ => None,
        }
    }
    /// The value as a non-negative integer count, when it is a dimensionless whole number.
    pub fn as_count(&self) -> Option<u64> {
        match self {
            Value::Number(q) if q.dim.is_dimensionless() && q.si >= 0.0 && q.si.fract() == 0.0 => {
                Some(q.si as u64)
            }
            _ => None,
        }
    }
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::Str(s) | Value::Symbol(s) => Some(s),
            _ => None,
        }
    }
}

/// Model file formats a description can bind.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum ModelFormat {
    Xgboost,
    Lightgbm,
    Treelite,
    Onnx,
    Nir,
}

impl ModelFormat {
    /// The `.tess` function name that binds a model of this format (`xgboost("m.json")`).
    pub const ALL: &'static [(&'static str, ModelFormat)] = &[
        ("xgboost", ModelFormat::Xgboost),
        ("lightgbm", ModelFormat::Lightgbm),
        ("treelite", ModelFormat::Treelite),
        ("onnx", ModelFormat::Onnx),
        ("nir", ModelFormat::Nir),
    ];
    pub fn by_name(name: &str) -> Option<ModelFormat> {
        Self::ALL.iter().find(|(n, _)| *n == name).map(|(_, f)| *f)
    }
    pub fn name(self) -> &'static str {
        Self::ALL.iter().find(|(_, f)| *f == self).map(|(n, _)| *n).unwrap_or("?")
    }
}

/// `model m = xgboost("model.json");`
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ModelBinding {
    pub name: String,
    pub format: ModelFormat,
    /// The path as written in the description.
    pub written: String,
    /// The path resolved against the directory of the `.tess` file that wrote it.
    pub path: PathBuf,
}

/// An instantiated component (`inst array = acam_6t2m(rows = 24);`) with every parameter
/// resolved: explicit arguments, then the component's defaults.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Instance {
    pub name: String,
    /// Qualified component name, e.g. `cam::acam_6t2m`.
    pub component: String,
    pub params: BTreeMap<String, Value>,
}

/// Why a model cannot read the instance parameter it needs (what [`Instance::si`] and
/// [`Instance::count`] return): every variant names the instance, its component and the
/// parameter, so a cost model that needs a figure the description lacks says exactly which.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ParamError {
    #[error("parameter `{param}` of instance `{instance}` ({component}) must be a {expected}")]
    WrongKind { instance: String, component: String, param: String, expected: String },
    #[error(
        "instance `{instance}` ({component}) has no parameter `{param}`, which this model needs"
    )]
    Missing { instance: String, component: String, param: String },
}

/// Family code that still reports failures as text takes a parameter error through `?`.
impl From<ParamError> for String {
    fn from(e: ParamError) -> String {
        e.to_string()
    }
}

impl Instance {
    /// Reads a parameter in SI units.
    pub fn si(&self, param: &str, dim: Dim) -> Result<f64, ParamError> {
        let v = self.param(param)?;
        v.as_si(dim).ok_or_else(|| self.wrong_kind(param, dim.to_string()))
    }
    /// Reads a dimensionless whole-number parameter.
    pub fn count(&self, param: &str) -> Result<u64, ParamError> {
        let v = self.param(param)?;
        v.as_count().ok_or_else(|| self.wrong_kind(param, "whole number".into()))
    }
    fn param(&self, param: &str) -> Result<&Value, ParamError> {
        self.params.get(param).ok_or_else(|| ParamError::Missing {
            instance: self.name.clone(),
            component: self.component.clone(),
            param: param.to_string(),
        })
    }
    fn wrong_kind(&self, param: &str, expected: String) -> ParamError {
        ParamError::WrongKind {
            instance: self.name.clone(),
            component: self.component.clone(),
            param: param.to_string(),
            expected,
        }
    }
}

/// `map m -> array using cam_pack(tile = 24x48, order = monosparse);`
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Mapping {
    pub model: String,
    pub target: String,
    /// Pass (or pass pipeline) name as written, e.g. `cam_pack`.
    pub pass: String,
    pub options: BTreeMap<String, Value>,
}

/// One elaborated `accelerator` block.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Accelerator {
    pub name: String,
    /// The `.tess` file that defined it.
    pub source_path: PathBuf,
    /// Top-level settings such as `clock = 1 GHz;`.
    pub settings: BTreeMap<String, Value>,
    pub instances: BTreeMap<String, Instance>,
    pub models: BTreeMap<String, ModelBinding>,
    pub mappings: Vec<Mapping>,
}

/// The type of an option value, with its constraints.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum OptionKind {
    /// A whole number in `min..=max`.
    Int {
        min: i64,
        max: i64,
    },
    Bool,
    /// One of the listed identifiers.
    Symbol(&'static [&'static str]),
    /// A geometry such as `24x48`.
    Dims,
    /// A geometry, or one of the listed identifiers (`tile = auto`).
    DimsOr(&'static [&'static str]),
    /// A dimensionless real number.
    Real,
}

impl std::fmt::Display for OptionKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            OptionKind::Int { min, max } => write!(f, "int {min}..={max}"),
            OptionKind::Bool => f.write_str("bool"),
            OptionKind::Symbol(s) => write!(f, "one of {}", s.join("|")),
            OptionKind::Dims => f.write_str("dims (e.g. 24x48)"),
            OptionKind::DimsOr(s) => write!(f, "dims (e.g. 24x48) or {}", s.join("|")),
            OptionKind::Real => f.write_str("real"),
        }
    }
}
