//! The checker: walks every loaded module, evaluates constants, checks component definitions,
//! and elaborates accelerators. Expression evaluation lives in `eval`, components in
//! `component`, accelerators in `elaborate`; this file holds the shared state and name lookup.
//!
//! The checker keeps going after errors: a value that failed is "poisoned" ([`Poisoned`]), and
//! anything computed from it fails silently, so one mistake gives one diagnostic.

use crate::diagnostics::{did_you_mean, Code, Diagnostic, Span};
use crate::dsl::accel::Accelerator;
use crate::dsl::accel::Value;
use crate::dsl::ast::{self, Item};
use crate::dsl::component::ComponentSig;
use crate::dsl::program::{ModuleId, Origin, Program};
use crate::dsl::scope::{build_scopes, item_kind, item_name, ItemRef, Scope};
use crate::dsl::types::resolve_type;
use crate::dsl::value::Val;
use crate::stdlib;
use std::collections::{BTreeMap, HashMap};

/// Marks a value whose computation failed; the failure has already been reported.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Poisoned;

/// Deepest chain of constants referring to constants.
pub const MAX_CONST_DEPTH: usize = 64;

/// What checking needs to know besides the sources.
#[derive(Clone, Copy)]
pub struct CheckOptions {
    /// Report model files that cannot be read (E0012). Off when the caller will substitute its
    /// own model (`--model`).
    pub check_model_paths: bool,
    /// The built families' mapping passes and their options (`crate::flow::catalog`); without
    /// it only the declared mappings of families not built yet are known.
    pub catalog: Option<&'static dyn crate::dsl::mappings::MappingCatalog>,
}

impl Default for CheckOptions {
    fn default() -> Self {
        CheckOptions { check_model_paths: true, catalog: None }
    }
}

impl std::fmt::Debug for CheckOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CheckOptions")
            .field("check_model_paths", &self.check_model_paths)
            .field("catalog", &self.catalog.is_some())
            .finish()
    }
}

/// A name bound inside a component or accelerator body.
#[derive(Clone, Debug)]
pub enum Local {
    /// A parameter, `let` or setting value; `None` when poisoned.
    Value { val: Option<Val>, span: Span },
    /// An instance in an accelerator; `params` is `None` when its elaboration failed.
    Instance { component: String, params: Option<BTreeMap<String, Value>>, span: Span },
    /// A model binding in an accelerator.
    Model { span: Span },
}

/// Where an expression is evaluated: a module's names plus the local names of a body.
pub struct Env<'a> {
    pub module: ModuleId,
    pub locals: &'a BTreeMap<String, Local>,
    /// Names defined further down the same body, for "defined later" hints.
    pub later: &'a BTreeMap<String, Span>,
}

enum ConstState {
    InProgress,
    Done(Option<Val>),
}

pub struct Checker<'p> {
    pub prog: &'p Program,
    pub scopes: Vec<Scope>,
    pub diags: Vec<Diagnostic>,
    pub opts: CheckOptions,
    consts: HashMap<ItemRef, ConstState>,
    pub(crate) sigs: HashMap<ItemRef, ComponentSig>,
    /// Instantiations being evaluated (innermost last), added as labels to diagnostics
    /// raised inside component bodies.
    pub(crate) trace: Vec<(Span, String)>,
    const_depth: usize,
    pub(crate) eval_depth: u32,
    /// E0016 for evaluation depth is reported once per run.
    pub(crate) depth_reported: bool,
}

/// Checks every module of `prog`; returns the diagnostics and the accelerators of the root
/// modules that elaborated without error.
pub fn check_program(prog: &Program, opts: CheckOptions) -> (Vec<Diagnostic>, Vec<Accelerator>) {
    let mut diags = Vec::new();
    let scopes = build_scopes(prog, &mut diags);
    let mut c = Checker {
        prog,
        scopes,
        diags,
        opts,
        consts: HashMap::new(),
        sigs: HashMap::new(),
        trace: Vec::new(),
        const_depth: 0,
        eval_depth: 0,
        depth_reported: false,
    };
    let mut accelerators = Vec::new();
    for (m, module) in prog.modules.iter().enumerate() {
        let module_id = ModuleId(m);
        for (index, item) in module.ast.items.iter().enumerate() {
            let r = ItemRef { module: module_id, index };
            match item {
                Item::Const(k) => {
                    let _ = c.eval_const(r, k.name.span);
                }
                Item::Component(_) => {
                    let _ = c.component_sig(r);
                }
                Item::Accelerator(a) => {
                    if let Some(acc) = c.elaborate(module_id, a) {
                        if prog.roots.contains(&module_id) {
                            accelerators.push(acc);
                        }
                    }
                }
                Item::Use(_) | Item::Import(_) | Item::Error => {}
            }
        }
    }
    (c.diags, accelerators)
}

impl<'p> Checker<'p> {
    /// Records a diagnostic, labelled with the instantiation being evaluated (if any).
    pub fn emit(&mut self, mut d: Diagnostic) {
        if let Some((span, label)) = self.trace.last() {
            if d.primary_span() != Some(*span) {
                d = d.secondary(*span, label.clone());
            }
        }
        self.diags.push(d);
    }

    pub fn error_count(&self) -> usize {
        self.diags.iter().filter(|d| d.is_error()).count()
    }

    /// Name of a component for messages and for `Instance::component`: `module::name` for
    /// stdlib components, the bare name for user components.
    pub fn qualified_name(&self, r: ItemRef) -> String {
        let name = item_name(r.get(self.prog)).map_or("?", |i| i.name.as_str());
        match &self.prog.modules[r.module.0].origin {
            Origin::Stdlib(m) => format!("{m}::{name}"),
            Origin::User { .. } => name.to_string(),
        }
    }

    /// Resolves a path to a module-level item (`x`, `m::x`), reporting E0004/E0011.
    pub fn resolve_item(
        &mut self,
        module: ModuleId,
        path: &ast::Path,
        extra: &[&str],
    ) -> Result<ItemRef, Poisoned> {
        let scope = &self.scopes[module.0];
        match path.segments.as_slice() {
            [name] => {
                if let Some(r) = scope.get(&name.name) {
                    return Ok(r);
                }
                let cands: Vec<&str> = scope.names().chain(extra.iter().copied()).collect();
                let help = did_you_mean(&name.name, cands.iter().copied());
                self.emit(
                    Diagnostic::error(Code::E0004, format!("unknown name `{}`", name.name))
                        .primary(name.span, "not found in this scope")
                        .help_opt(help),
                );
                Err(Poisoned)
            }
            [m, name] => {
                let Some(target) = scope.modules.get(&m.name).copied() else {
                    let d = if stdlib::module(&m.name).is_some() {
                        Diagnostic::error(
                            Code::E0011,
                            format!("module `{}` is not in scope", m.name),
                        )
                        .primary(m.span, "not imported")
                        .help(format!("add `use {};` at the top of the file", m.name))
                    } else {
                        let names: Vec<&str> = scope.modules.keys().map(String::as_str).collect();
                        Diagnostic::error(Code::E0011, format!("unknown module `{}`", m.name))
                            .primary(m.span, "no module of this name is in scope")
                            .help_opt(did_you_mean(&m.name, names.iter().copied()))
                    };
                    self.emit(d);
                    return Err(Poisoned);
                };
                let tscope = &self.scopes[target.0];
                if let Some(r) = tscope.local.get(&name.name) {
                    return Ok(*r);
                }
                let help = did_you_mean(&name.name, tscope.local.keys().map(String::as_str));
                self.emit(
                    Diagnostic::error(
                        Code::E0004,
                        format!("module `{}` has no item `{}`", m.name, name.name),
                    )
                    .primary(name.span, "not found")
                    .help_opt(help),
                );
                Err(Poisoned)
            }
            _ => {
                self.emit(
                    Diagnostic::error(
                        Code::E0011,
                        format!("unknown module path `{}`", path.text()),
                    )
                    .primary(path.span, "paths have at most two parts: `module::item`"),
                );
                Err(Poisoned)
            }
        }
    }

    /// The value of a module-level constant, evaluated once (on first use or in file order).
    pub fn eval_const(&mut self, r: ItemRef, use_span: Span) -> Result<Val, Poisoned> {
        let prog = self.prog;
        let Item::Const(k) = r.get(prog) else {
            return Err(Poisoned);
        };
        match self.consts.get(&r) {
            Some(ConstState::Done(v)) => return v.clone().ok_or(Poisoned),
            Some(ConstState::InProgress) => {
                self.emit(
                    Diagnostic::error(
                        Code::E0018,
                        format!("constant `{}` is defined in terms of itself", k.name.name),
                    )
                    .primary(use_span, "this refers back to the constant being defined")
                    .secondary(k.name.span, "defined here"),
                );
                return Err(Poisoned);
            }
            None => {}
        }
        if self.const_depth >= MAX_CONST_DEPTH {
            self.emit(
                Diagnostic::error(
                    Code::E0016,
                    format!("constants refer to constants more than {MAX_CONST_DEPTH} levels deep"),
                )
                .primary(use_span, "too deep here"),
            );
            return Err(Poisoned);
        }
        self.consts.insert(r, ConstState::InProgress);
        self.const_depth += 1;
        // Constants are evaluated outside any instantiation.
        let saved = std::mem::take(&mut self.trace);
        let result = self.eval_const_body(r.module, k);
        self.trace = saved;
        self.const_depth -= 1;
        self.consts.insert(r, ConstState::Done(result.clone().ok()));
        result
    }

    fn eval_const_body(&mut self, module: ModuleId, k: &ast::ConstItem) -> Result<Val, Poisoned> {
        let locals = BTreeMap::new();
        let later = BTreeMap::new();
        let env = Env { module, locals: &locals, later: &later };
        match &k.ty {
            Some(t) => {
                let mut tdiags = Vec::new();
                let ty = resolve_type(t, &mut tdiags);
                for d in tdiags {
                    self.emit(d);
                }
                let ty = ty.ok_or(Poisoned)?;
                let what = format!("constant `{}`", k.name.name);
                self.eval_as(&env, &k.value, ty, &what)
            }
            None => self.eval(&env, &k.value),
        }
    }

    /// A message for using a non-value item where a value is needed.
    pub fn not_a_value(&mut self, r: ItemRef, span: Span) {
        let kind = item_kind(r.get(self.prog));
        let name = self.qualified_name(r);
        let mut d = Diagnostic::error(Code::E0013, format!("`{name}` is a {kind}, not a value"))
            .primary(span, format!("this names a {kind}"));
        if kind == "component" {
            d = d.help(format!(
                "instantiate it in an accelerator with `inst NAME = {name}(...);` and read its parameters as `NAME.param`"
            ));
        }
        self.emit(d);
    }
}
