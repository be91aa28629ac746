//! The pass manager: the [`Pass`] trait, options, [`registry`] look-up, the [`manager`], and
//! the passes every family can use (`dce`, `fold-identity`). It names no family: a family's
//! passes live in its own folder (`src/cam/passes/`, ...) and reach the registry through its
//! `Family::pipeline` (`crate::flow::registry`).
//!
//! A pass is a pure function from a graph to a new graph, with a kebab-case name, a one-line
//! description, typed options with defaults, and preconditions that are checked before it runs
//! (not written in comments). The [`manager::PassManager`] verifies the graph after every pass.
//!
//! Adding a pass: write it in its family's `passes/` folder as a unit struct implementing
//! [`Pass`], then list it in the family's pipeline (a family-independent pass goes in this
//! folder and in [`registry::CORE`]). Options come from a `.tess` mapping
//! (`map m -> a using cam_pack(tile = 24x48)`) or the command line (`cam-pack:tile=24x48`) and
//! reach the pass already validated, with defaults filled in, through [`PassContext`].

pub mod dce;
pub mod fold_identity;
pub mod manager;
pub mod options;
pub mod pattern;
pub mod registry;
pub mod rewrite;

pub use manager::{DumpPoint, IrDump, PassInvocation, PassManager, PipelineResult};
pub use options::{written_number, DefaultValue, OptionKind, PassContext, PassEnv, PassOption};
pub use registry::{lookup, lookup_in};

use crate::ir::{Graph, VerifyError};
use std::sync::Arc;
use thiserror::Error;

/// A named graph transformation.
///
/// `Sync` so the registry can be a `static` array of trait objects (no global mutable state).
pub trait Pass: Sync {
    /// Kebab-case name (`cam-pack`); the snake_case spelling (`cam_pack`) is always accepted too.
    fn name(&self) -> &'static str;
    /// Other accepted names (besides the automatic snake_case spelling).
    fn aliases(&self) -> &'static [&'static str] {
        &[]
    }
    /// One sentence saying what the pass does and why one would run it.
    fn description(&self) -> &'static str;
    /// The options the pass accepts.
    fn options(&self) -> &'static [PassOption] {
        &[]
    }
    /// What the input graph must satisfy, checked by the manager before `run`; the error says
    /// what is missing and which pass (or frontend) establishes it.
    fn preconditions(&self, _graph: &Graph) -> Result<(), Unmet> {
        Ok(())
    }
    /// Checks the options a `.tess` mapping gives this pass against the instance the mapping
    /// targets, before any model is read: everything `run` would reject about a description
    /// belongs here, so `lint` reports it first with the option's span. `options` holds the
    /// options as written (canonical names, no defaults filled in).
    fn check_mapping(
        &self,
        _options: &std::collections::BTreeMap<String, crate::dsl::accel::Value>,
        _target: &crate::dsl::accel::Instance,
    ) -> Result<(), OptionProblem> {
        Ok(())
    }
    /// Transforms the graph. Must not modify its input; returns the new graph.
    fn run(&self, graph: &Graph, cx: &PassContext) -> Result<Graph, PassError>;
}

/// A mapping option that does not fit the hardware it configures.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OptionProblem {
    /// The option at fault (canonical name).
    pub option: String,
    pub message: String,
}

/// An unmet precondition: the graph is not yet what an earlier pass or the frontend makes it.
/// Structured rather than a sentence so the error always names the provider, and a driver
/// could schedule it.
#[derive(Clone, Debug, PartialEq, Eq, Error)]
#[error("{problem} (run `{provider}` first)")]
pub struct Unmet {
    /// What is wrong with the graph (`the graph has no quantized layers`).
    pub problem: String,
    /// The pass or frontend that establishes what the pass needs.
    pub provider: String,
}

impl Unmet {
    /// The graph has no `what`, which `provider` produces.
    pub fn missing(what: &str, provider: &str) -> Unmet {
        Unmet { problem: format!("the graph has no {what}"), provider: provider.to_string() }
    }
}

/// Everything that can go wrong while selecting, configuring or running passes. Every variant
/// names the pass involved.
#[derive(Debug, Error)]
pub enum PassError {
    #[error("unknown pass `{name}`{}", did_you_mean(suggestion))]
    UnknownPass { name: String, suggestion: Option<String> },
    #[error(
        "pass `{pass}` has no option `{option}`{}; its options are: {}",
        did_you_mean(suggestion),
        list_or_none(valid)
    )]
    UnknownOption { pass: String, option: String, suggestion: Option<String>, valid: Vec<String> },
    #[error("pass `{pass}`, option `{option}`: {message}")]
    BadOption { pass: String, option: String, message: String },
    #[error("pass `{pass}` needs option `{option}`, which has no default")]
    MissingOption { pass: String, option: String },
    #[error("invalid pass specification `{spec}`: {message}")]
    BadSpec { spec: String, message: String },
    #[error("pass `{pass}` cannot run: {unmet}")]
    Precondition { pass: String, unmet: Unmet },
    /// `cause`, when the pass kept its typed error, lets a driver tell failures apart without
    /// reading `message` (which is its text).
    #[error("pass `{pass}` failed: {message}")]
    Failed {
        pass: String,
        message: String,
        cause: Option<Arc<dyn std::error::Error + Send + Sync>>,
    },
    #[error("the input graph is invalid:\n{}", lines(errors))]
    InvalidInput { errors: Vec<VerifyError> },
    #[error("the graph after pass `{pass}` (step {step}) is invalid:\n{}", lines(errors))]
    Verify { pass: String, step: usize, errors: Vec<VerifyError>, ir: String },
}

impl PassError {
    /// A run-time failure inside pass `pass`.
    pub fn failed(pass: &str, message: impl Into<String>) -> PassError {
        PassError::Failed { pass: pass.to_string(), message: message.into(), cause: None }
    }

    /// A run-time failure inside pass `pass` that keeps its typed error as the cause.
    pub fn failed_with(
        pass: &str,
        cause: impl std::error::Error + Send + Sync + 'static,
    ) -> PassError {
        PassError::Failed {
            pass: pass.to_string(),
            message: cause.to_string(),
            cause: Some(Arc::new(cause)),
        }
    }

    /// The typed cause of a [`PassError::Failed`], if it is a `T`.
    pub fn cause<T: std::error::Error + 'static>(&self) -> Option<&T> {
        match self {
            PassError::Failed { cause: Some(c), .. } => c.downcast_ref::<T>(),
            _ => None,
        }
    }
}

fn did_you_mean(s: &Option<String>) -> String {
    s.as_ref().map(|s| format!(" (did you mean `{s}`?)")).unwrap_or_default()
}

fn list_or_none(v: &[String]) -> String {
    if v.is_empty() {
        "(none)".to_string()
    } else {
        v.join(", ")
    }
}

fn lines(errors: &[VerifyError]) -> String {
    errors.iter().map(|e| format!("  {e}")).collect::<Vec<_>>().join("\n")
}
