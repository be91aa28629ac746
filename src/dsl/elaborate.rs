//! Accelerators: statements evaluated in order into an [`Accelerator`].
//!
//! Settings are checked against a table (`clock: frequency`, default 1 GHz; `top: string`,
//! default the accelerator's name) and defaults are filled in, so downstream code always finds
//! both. Model paths are resolved against the directory of the file that wrote them.

use crate::diagnostics::{did_you_mean, Code, Diagnostic, Span};
use crate::dsl::accel::{Accelerator, ModelBinding, ModelFormat, Value};
use crate::dsl::ast::{self, AcceleratorDef, ExprKind, Stmt};
use crate::dsl::check::{Checker, Env, Local, Poisoned};
use crate::dsl::program::{ModuleId, Origin};
use crate::dsl::require::RequireCtx;
use crate::dsl::types::Ty;
use crate::dsl::value::{format_value, Val};
use crate::units::{Dim, Quantity};
use std::collections::BTreeMap;
use std::path::PathBuf;

/// Known accelerator settings and their types.
pub const SETTINGS: &[(&str, Ty)] =
    &[("clock", Ty::Num(Dim::FREQUENCY)), ("top", Ty::Str), ("deny_lossy", Ty::Bool)];

/// Default clock when a description sets none.
pub const DEFAULT_CLOCK_HZ: f64 = 1e9;

impl Checker<'_> {
    /// Elaborates one accelerator; `None` when it has errors (they are reported).
    pub fn elaborate(&mut self, module: ModuleId, acc: &AcceleratorDef) -> Option<Accelerator> {
        let before = self.error_count();
        let mut locals: BTreeMap<String, Local> = BTreeMap::new();
        let mut later: BTreeMap<String, Span> = BTreeMap::new();
        for s in &acc.stmts {
            if let Some(id) = bound_name(s) {
                later.entry(id.name.clone()).or_insert(id.span);
            }
        }
        let mut settings: BTreeMap<String, (Value, Span)> = BTreeMap::new();
        let mut setting_spans: BTreeMap<String, Span> = BTreeMap::new();
        let mut instances = BTreeMap::new();
        let mut models: BTreeMap<String, ModelBinding> = BTreeMap::new();
        let mut model_spans: BTreeMap<String, Span> = BTreeMap::new();
        let mut mapped: Vec<String> = Vec::new();
        let mut mappings = Vec::new();
        let mut incomplete = false;

        for stmt in &acc.stmts {
            if let Some(id) = bound_name(stmt) {
                if later.get(&id.name) == Some(&id.span) {
                    later.remove(&id.name);
                }
                if let Some(prev) = local_span(locals.get(&id.name)) {
                    self.emit(
                        Diagnostic::error(
                            Code::E0005,
                            format!(
                                "`{}` is defined twice in accelerator `{}`",
                                id.name, acc.name.name
                            ),
                        )
                        .primary(id.span, "defined again here")
                        .secondary(prev, "first defined here"),
                    );
                    continue;
                }
            }
            let env = Env { module, locals: &locals, later: &later };
            match stmt {
                Stmt::Setting { name, value, .. } => {
                    if let Some(prev) = setting_spans.get(&name.name) {
                        let prev = *prev;
                        self.emit(
                            Diagnostic::error(
                                Code::E0005,
                                format!("setting `{}` is set twice", name.name),
                            )
                            .primary(name.span, "set again here")
                            .secondary(prev, "first set here"),
                        );
                        continue;
                    }
                    setting_spans.insert(name.name.clone(), name.span);
                    match self.setting(&env, name, value) {
                        Ok(v) => {
                            settings.insert(name.name.clone(), (v, value.span));
                        }
                        Err(_) => incomplete = true,
                    }
                }
                Stmt::Inst(i) => {
                    let inst = self.instantiate(&env, i);
                    let component = inst
                        .as_ref()
                        .map(|x| x.component.clone())
                        .unwrap_or_else(|| i.component.text());
                    locals.insert(
                        i.name.name.clone(),
                        Local::Instance {
                            component,
                            params: inst.as_ref().map(|x| x.params.clone()),
                            span: i.name.span,
                        },
                    );
                    match inst {
                        Some(inst) => {
                            instances.insert(inst.name.clone(), inst);
                        }
                        None => incomplete = true,
                    }
                }
                Stmt::Model(m) => {
                    match self.model_binding(module, m) {
                        Some(b) => {
                            models.insert(b.name.clone(), b);
                            model_spans.insert(m.name.name.clone(), m.name.span);
                        }
                        None => incomplete = true,
                    }
                    locals.insert(m.name.name.clone(), Local::Model { span: m.name.span });
                }
                Stmt::Map(m) => {
                    mapped.push(m.model.name.clone());
                    match self.mapping(&env, m, &instances) {
                        Some(mp) => mappings.push(mp),
                        None => incomplete = true,
                    }
                }
                Stmt::Let(l) => {
                    let v = self.eval(&env, &l.value).ok();
                    incomplete |= v.is_none();
                    locals.insert(l.name.name.clone(), Local::Value { val: v, span: l.name.span });
                }
                Stmt::Require(q) => {
                    incomplete |= self.check_require(&env, q, RequireCtx::Accelerator).is_err();
                }
                Stmt::Error => incomplete = true,
            }
        }
        for (name, span) in &model_spans {
            if !mapped.contains(name) {
                self.emit(
                    Diagnostic::warning(Code::W0001, format!("model `{name}` is never mapped"))
                        .primary(*span, "bound here")
                        .help(format!("add `map {name} -> INSTANCE using PASS(...);`")),
                );
            }
        }
        // A statement can fail silently when it depends on something already reported
        // (a broken component, a failed constant): such an accelerator is never returned.
        if self.error_count() != before || incomplete {
            return None;
        }
        let mut settings: BTreeMap<String, Value> =
            settings.into_iter().map(|(k, (v, _))| (k, v)).collect();
        settings
            .entry("clock".to_string())
            .or_insert(Value::Number(Quantity::new(DEFAULT_CLOCK_HZ, Dim::FREQUENCY)));
        settings.entry("top".to_string()).or_insert_with(|| Value::Str(acc.name.name.clone()));
        let source_path = match &self.prog.modules[module.0].origin {
            Origin::User { given, .. } => given.clone(),
            Origin::Stdlib(n) => PathBuf::from(crate::stdlib::display_path(n)),
        };
        Some(Accelerator {
            name: acc.name.name.clone(),
            source_path,
            settings,
            instances,
            models,
            mappings,
        })
    }

    fn setting(
        &mut self,
        env: &Env,
        name: &ast::Ident,
        value: &ast::Expr,
    ) -> Result<Value, Poisoned> {
        let Some((_, ty)) = SETTINGS.iter().find(|(n, _)| *n == name.name) else {
            let _ = self.eval(env, value);
            let names: Vec<&str> = SETTINGS.iter().map(|(n, _)| *n).collect();
            let mut d = Diagnostic::error(Code::E0004, format!("unknown setting `{}`", name.name))
                .primary(name.span, "not a setting")
                .help_opt(did_you_mean(&name.name, names.iter().copied()))
                .note(format!("settings are: {}", names.join(", ")));
            if self.scopes[env.module.0].get(&name.name).is_some() {
                d = d.help(format!("to instantiate a component write `inst {} = ...;`", name.name));
            }
            self.emit(d);
            return Err(Poisoned);
        };
        let v = self.eval_as(env, value, *ty, &format!("setting `{}`", name.name))?;
        let Val::Known(v) = v else {
            return Err(Poisoned);
        };
        match (name.name.as_str(), &v) {
            ("clock", Value::Number(q)) if q.si <= 0.0 => {
                self.emit(
                    Diagnostic::error(
                        Code::E0008,
                        format!("clock must be positive, found {}", format_value(&v)),
                    )
                    .primary(value.span, "not a positive frequency"),
                );
                Err(Poisoned)
            }
            ("top", Value::Str(s)) if !is_verilog_ident(s) => {
                self.emit(
                    Diagnostic::error(
                        Code::E0008,
                        format!("`{s}` is not a valid Verilog module name"),
                    )
                    .primary(value.span, "used as the top module name")
                    .help("use letters, digits and `_`, starting with a letter or `_`"),
                );
                Err(Poisoned)
            }
            _ => Ok(v),
        }
    }

    fn model_binding(&mut self, module: ModuleId, m: &ast::ModelStmt) -> Option<ModelBinding> {
        let Some(format) = ModelFormat::by_name(&m.format.name) else {
            let names: Vec<&str> = ModelFormat::ALL.iter().map(|(n, _)| *n).collect();
            self.emit(
                Diagnostic::error(Code::E0004, format!("unknown model format `{}`", m.format.name))
                    .primary(m.format.span, "not a model format")
                    .help_opt(did_you_mean(&m.format.name, names.iter().copied()))
                    .note(format!("formats are: {}", names.join(", "))),
            );
            return None;
        };
        let (written, span) = match m.args.as_slice() {
            [ast::Arg { name: None, value, .. }] => match &value.kind {
                ExprKind::Str(s) => (s.clone(), value.span),
                _ => {
                    self.emit(
                        Diagnostic::error(Code::E0013, "a model path must be a string literal")
                            .primary(value.span, "expected a quoted path"),
                    );
                    return None;
                }
            },
            _ => {
                self.emit(
                    Diagnostic::error(
                        Code::E0013,
                        format!("`{}` takes one argument, the model file path", m.format.name),
                    )
                    .primary(
                        m.span,
                        format!("write `model {} = {}(\"file\");`", m.name.name, m.format.name),
                    ),
                );
                return None;
            }
        };
        let dir = self.prog.modules[module.0].dir().unwrap_or_default();
        let path = dir.join(&written);
        if self.opts.check_model_paths {
            let problem = match std::fs::metadata(&path) {
                Ok(md) if md.is_dir() => Some("it is a directory".to_string()),
                Ok(_) => std::fs::File::open(&path).err().map(|e| reason(&e)),
                Err(e) => Some(reason(&e)),
            };
            if let Some(why) = problem {
                self.emit(
                    Diagnostic::error(Code::E0012, format!("cannot read model file `{}`: {why}", path.display()))
                        .primary(span, "model path")
                        .note("model paths are relative to the directory of the .tess file that names them"),
                );
                return None;
            }
        }
        Some(ModelBinding { name: m.name.name.clone(), format, written, path })
    }
}

/// The name a statement binds in the accelerator's local namespace.
fn bound_name(s: &Stmt) -> Option<&ast::Ident> {
    match s {
        Stmt::Inst(i) => Some(&i.name),
        Stmt::Model(m) => Some(&m.name),
        Stmt::Let(l) => Some(&l.name),
        _ => None,
    }
}

fn local_span(l: Option<&Local>) -> Option<Span> {
    match l? {
        Local::Value { span, .. } | Local::Instance { span, .. } | Local::Model { span } => {
            Some(*span)
        }
    }
}

/// Verilog-2005 simple identifiers (keywords are not checked).
fn is_verilog_ident(s: &str) -> bool {
    let mut cs = s.chars();
    cs.next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && cs.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '$')
}

fn reason(e: &std::io::Error) -> String {
    match e.kind() {
        std::io::ErrorKind::NotFound => "no such file".to_string(),
        std::io::ErrorKind::PermissionDenied => "permission denied".to_string(),
        _ => {
            let s = e.to_string();
            s.split(" (os error").next().unwrap_or(&s).to_string()
        }
    }
}
