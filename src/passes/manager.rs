//! Runs a pipeline of passes: resolves names and options up front, checks preconditions, runs
//! each pass, verifies the graph after it (like cranelift's `verify_if`), and records IR dumps
//! for `--dump-ir`.

use super::options::{canonical, parse_value, PassEnv};
use super::registry::{lookup_in, suggest_in};
use super::{Pass, PassContext, PassError};
use crate::dsl::accel::Value;
use crate::ir::{print_graph, verify, Graph};
use std::borrow::Cow;
use std::collections::BTreeMap;

/// One requested pass with its (unvalidated) options, as a `.tess` mapping or the command line
/// gives them.
#[derive(Clone, Debug, PartialEq)]
pub struct PassInvocation {
    pub pass: String,
    pub options: BTreeMap<String, Value>,
}

impl PassInvocation {
    pub fn new(pass: &str) -> PassInvocation {
        PassInvocation { pass: pass.to_string(), options: BTreeMap::new() }
    }

    /// Adds an option (builder style).
    pub fn with(mut self, option: &str, value: Value) -> PassInvocation {
        self.options.insert(option.to_string(), value);
        self
    }

    /// Parses the command-line form `name` or `name:key=value,key=value`
    /// (`cam-pack:tile=24x48,order=monosparse`). Values are parsed by the option's declared
    /// kind, so the pass must exist.
    pub fn parse(registry: &[&'static dyn Pass], spec: &str) -> Result<PassInvocation, PassError> {
        let bad = |message: String| PassError::BadSpec { spec: spec.to_string(), message };
        let (name, rest) = match spec.split_once(':') {
            Some((n, r)) => (n.trim(), Some(r)),
            None => (spec.trim(), None),
        };
        if name.is_empty() {
            return Err(bad("the pass name is empty".into()));
        }
        let pass = resolve(registry, name)?;
        let mut inv = PassInvocation::new(pass.name());
        for kv in rest.into_iter().flat_map(|r| r.split(',')) {
            let (k, v) =
                kv.split_once('=').ok_or_else(|| bad(format!("`{kv}` is not key=value")))?;
            let key = canonical(k);
            let Some(opt) = pass.options().iter().find(|o| o.name == key) else {
                // Let option resolution produce the uniform unknown-option error.
                inv.options.insert(key, Value::Str(v.to_string()));
                continue;
            };
            let value = parse_value(opt.kind, v).map_err(|e| PassError::BadOption {
                pass: pass.name().to_string(),
                option: key.clone(),
                message: e.to_string(),
            })?;
            inv.options.insert(key, value);
        }
        Ok(inv)
    }
}

fn resolve(registry: &[&'static dyn Pass], name: &str) -> Result<&'static dyn Pass, PassError> {
    lookup_in(registry, name).ok_or_else(|| PassError::UnknownPass {
        name: name.to_string(),
        suggestion: suggest_in(registry, name),
    })
}

/// Where `--dump-ir` records the graph.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DumpPoint {
    /// Before every run of the named pass.
    Before(String),
    /// After every run of the named pass.
    After(String),
    /// The input graph and the graph after every pass.
    All,
}

impl DumpPoint {
    /// Parses `all`, `before:PASS` or `after:PASS` (pass names resolved, aliases accepted).
    pub fn parse(registry: &[&'static dyn Pass], text: &str) -> Result<DumpPoint, PassError> {
        let t = text.trim();
        if t == "all" {
            return Ok(DumpPoint::All);
        }
        match t.split_once(':') {
            Some(("before", p)) => Ok(DumpPoint::Before(resolve(registry, p)?.name().to_string())),
            Some(("after", p)) => Ok(DumpPoint::After(resolve(registry, p)?.name().to_string())),
            _ => Err(PassError::BadSpec {
                spec: t.to_string(),
                message: "expected `all`, `before:PASS` or `after:PASS`".into(),
            }),
        }
    }
}

/// One recorded dump.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IrDump {
    /// `input`, `before dce (step 1)`, `after dce (step 1)`.
    pub label: String,
    /// The printed graph.
    pub text: String,
}

impl IrDump {
    /// The dump with a header line, as `--dump-ir` writes it.
    pub fn render(&self) -> String {
        format!("// ----- IR {} -----\n{}", self.label, self.text)
    }
}

/// The result of a pipeline: the final graph and the dumps requested.
#[derive(Clone, Debug)]
pub struct PipelineResult {
    pub graph: Graph,
    pub dumps: Vec<IrDump>,
}

struct Step {
    pass: &'static dyn Pass,
    options: BTreeMap<String, Value>,
}

/// A validated pipeline.
pub struct PassManager {
    steps: Vec<Step>,
    dumps: Vec<DumpPoint>,
}

impl PassManager {
    /// Resolves every pass and validates every option before anything runs, so a typo in the
    /// last pass fails fast.
    pub fn new(
        registry: &[&'static dyn Pass],
        pipeline: &[PassInvocation],
    ) -> Result<PassManager, PassError> {
        let mut steps = Vec::with_capacity(pipeline.len());
        for inv in pipeline {
            let pass = resolve(registry, &inv.pass)?;
            super::options::resolve_options(pass, &inv.options)?;
            steps.push(Step { pass, options: inv.options.clone() });
        }
        Ok(PassManager { steps, dumps: Vec::new() })
    }

    /// A pipeline of passes given directly rather than by registry name: for family code that
    /// drives its own passes, and for tests. Options are validated here as in [`PassManager::new`].
    pub fn from_passes(
        steps: Vec<(&'static dyn Pass, BTreeMap<String, Value>)>,
    ) -> Result<PassManager, PassError> {
        let mut out = Vec::with_capacity(steps.len());
        for (pass, options) in steps {
            super::options::resolve_options(pass, &options)?;
            out.push(Step { pass, options });
        }
        Ok(PassManager { steps: out, dumps: Vec::new() })
    }

    /// Parses a comma-separated list of pass names (`dce,fold-identity`).
    pub fn parse_pipeline(
        registry: &[&'static dyn Pass],
        text: &str,
    ) -> Result<PassManager, PassError> {
        let invs = text
            .split(',')
            .filter(|s| !s.trim().is_empty())
            .map(|spec| PassInvocation::parse(registry, spec))
            .collect::<Result<Vec<_>, _>>()?;
        PassManager::new(registry, &invs)
    }

    /// Requests IR dumps.
    pub fn with_dumps(mut self, dumps: Vec<DumpPoint>) -> PassManager {
        self.dumps = dumps;
        self
    }

    /// The canonical names of the passes, in order.
    pub fn pass_names(&self) -> Vec<&'static str> {
        self.steps.iter().map(|s| s.pass.name()).collect()
    }

    fn wants(&self, before: bool, pass: &str) -> bool {
        self.dumps.iter().any(|d| match d {
            DumpPoint::All => !before,
            DumpPoint::Before(p) => before && p == pass,
            DumpPoint::After(p) => !before && p == pass,
        })
    }

    /// Runs the pipeline on `graph`. The input graph is verified first; after each pass the
    /// result is verified, and a failure names the pass, its step number and every problem.
    pub fn run(&self, graph: &Graph, env: PassEnv) -> Result<PipelineResult, PassError> {
        verify(graph).map_err(|errors| PassError::InvalidInput { errors })?;
        let mut dumps = Vec::new();
        if self.dumps.contains(&DumpPoint::All) {
            dumps.push(IrDump { label: "input".into(), text: print_graph(graph) });
        }
        // The caller's graph is where the first pass starts, not a copy of it: a model-level
        // graph holds every weight, and a copy would hold them twice while the passes run.
        let mut g = Cow::Borrowed(graph);
        for (i, step) in self.steps.iter().enumerate() {
            let (name, n) = (step.pass.name(), i + 1);
            if self.wants(true, name) {
                dumps.push(IrDump {
                    label: format!("before {name} (step {n})"),
                    text: print_graph(&g),
                });
            }
            step.pass
                .preconditions(&g)
                .map_err(|unmet| PassError::Precondition { pass: name.to_string(), unmet })?;
            let cx = PassContext::new(step.pass, &step.options, env)?;
            let next = step.pass.run(&g, &cx)?;
            if let Err(errors) = verify(&next) {
                return Err(PassError::Verify {
                    pass: name.to_string(),
                    step: n,
                    errors,
                    ir: print_graph(&next),
                });
            }
            g = Cow::Owned(next);
            if self.wants(false, name) {
                dumps.push(IrDump {
                    label: format!("after {name} (step {n})"),
                    text: print_graph(&g),
                });
            }
        }
        Ok(PipelineResult { graph: g.into_owned(), dumps })
    }
}
