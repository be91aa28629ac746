//! Components: checking a definition once, and instantiating it with arguments.
//!
//! Both walk the members in order with the same code. In a definition check, parameters
//! without a default are abstract (typed, no value), so the body is type-checked and the
//! defaults are checked against their ranges and `require`s. An instantiation binds arguments,
//! then defaults, then `let`s, and finally evaluates every `require` with the known values.
//! A component whose definition has errors is never instantiated: its instances are poisoned
//! silently, so its mistakes are reported once, at the definition.

use crate::diagnostics::{did_you_mean, Code, Diagnostic, Span};
use crate::dsl::accel::{Instance, Value};
use crate::dsl::ast::{self, Component, Item, Member};
use crate::dsl::check::{Checker, Env, Local, Poisoned};
use crate::dsl::require::RequireCtx;
use crate::dsl::scope::ItemRef;
use crate::dsl::typecheck::found_kind;
use crate::dsl::types::{resolve_type, Ty};
use crate::dsl::value::{format_value, Val};
use crate::units::Quantity;
use std::collections::BTreeMap;

/// What an instantiation needs to know about a checked component.
#[derive(Clone, Debug)]
pub struct ComponentSig {
    pub params: Vec<ParamSig>,
    /// Derived values (`let`): readable as `inst.name`, not settable.
    pub lets: Vec<String>,
    /// False when the definition has errors.
    pub ok: bool,
}

#[derive(Clone, Debug)]
pub struct ParamSig {
    pub name: ast::Ident,
    pub ty: Option<Ty>,
}

/// Arguments of one instantiation: value (`None` if it failed) and span, by parameter name.
type Args = BTreeMap<String, (Option<Val>, Span)>;

/// Where and as what a component is being instantiated.
struct Site<'a> {
    span: Span,
    inst: &'a str,
    args: &'a Args,
}

/// A declared `in` range after evaluation.
struct RangeVal {
    lo: Option<f64>,
    hi: Option<f64>,
    inclusive: bool,
    span: Span,
}

impl RangeVal {
    fn contains(&self, x: f64) -> bool {
        self.lo.is_none_or(|lo| x >= lo)
            && self.hi.is_none_or(|hi| if self.inclusive { x <= hi } else { x < hi })
    }
}

impl Checker<'_> {
    /// The checked signature of a component (checked on first request).
    pub fn component_sig(&mut self, r: ItemRef) -> ComponentSig {
        if let Some(s) = self.sigs.get(&r) {
            return s.clone();
        }
        let prog = self.prog;
        let Item::Component(c) = r.get(prog) else {
            return ComponentSig { params: Vec::new(), lets: Vec::new(), ok: false };
        };
        let before = self.error_count();
        // Definitions are checked outside any instantiation.
        let saved = std::mem::take(&mut self.trace);
        let (params, lets) = self.check_definition(r, c);
        self.trace = saved;
        let sig = ComponentSig { params, lets, ok: self.error_count() == before };
        self.sigs.insert(r, sig.clone());
        sig
    }

    fn check_definition(&mut self, r: ItemRef, c: &Component) -> (Vec<ParamSig>, Vec<String>) {
        // Duplicate member names.
        let mut first: BTreeMap<&str, Span> = BTreeMap::new();
        for m in &c.members {
            let name = match m {
                Member::Param(p) => &p.name,
                Member::Let(l) => &l.name,
                _ => continue,
            };
            if let Some(prev) = first.get(name.name.as_str()) {
                self.emit(
                    Diagnostic::error(
                        Code::E0005,
                        format!("`{}` is defined twice in component `{}`", name.name, c.name.name),
                    )
                    .primary(name.span, "defined again here")
                    .secondary(*prev, "first defined here"),
                );
            } else {
                first.insert(&name.name, name.span);
            }
        }
        let mut params = Vec::new();
        let mut lets = Vec::new();
        let _ = self.walk(r, c, None, Some((&mut params, &mut lets)));
        (params, lets)
    }

    /// Walks the members in order, binding each name; returns the bound values when all are
    /// known (instantiation). `sig_out` collects the signature in a definition check.
    fn walk(
        &mut self,
        r: ItemRef,
        c: &Component,
        site: Option<&Site>,
        mut sig_out: Option<(&mut Vec<ParamSig>, &mut Vec<String>)>,
    ) -> Result<BTreeMap<String, Value>, Poisoned> {
        let mut locals: BTreeMap<String, Local> = BTreeMap::new();
        let mut later: BTreeMap<String, Span> = BTreeMap::new();
        for m in &c.members {
            match m {
                Member::Param(p) => later.insert(p.name.name.clone(), p.name.span),
                Member::Let(l) => later.insert(l.name.name.clone(), l.name.span),
                _ => None,
            };
        }
        let mut requires: Vec<&ast::Require> = Vec::new();
        for m in &c.members {
            match m {
                Member::Param(p) => {
                    later.remove(&p.name.name);
                    let val = {
                        let env = Env { module: r.module, locals: &locals, later: &later };
                        self.param_value(&env, c, p, site)
                    };
                    if let Some((params, _)) = sig_out.as_mut() {
                        let ty = match &p.ty {
                            Some(t) => resolve_type(t, &mut Vec::new()),
                            None => val.as_ref().ok().map(Val::ty),
                        };
                        params.push(ParamSig { name: p.name.clone(), ty });
                    }
                    if !locals.contains_key(&p.name.name) {
                        locals.insert(
                            p.name.name.clone(),
                            Local::Value { val: val.ok(), span: p.name.span },
                        );
                    }
                }
                Member::Let(l) => {
                    later.remove(&l.name.name);
                    let val = {
                        let env = Env { module: r.module, locals: &locals, later: &later };
                        self.eval(&env, &l.value)
                    };
                    if let Some((_, lets)) = sig_out.as_mut() {
                        lets.push(l.name.name.clone());
                    }
                    if !locals.contains_key(&l.name.name) {
                        locals.insert(
                            l.name.name.clone(),
                            Local::Value { val: val.ok(), span: l.name.span },
                        );
                    }
                }
                Member::Require(q) => requires.push(q),
                Member::Error => {}
            }
        }
        let env = Env { module: r.module, locals: &locals, later: &later };
        let mut failed = false;
        for q in requires {
            let ctx = match site {
                Some(s) => {
                    RequireCtx::Instance { span: s.span, inst: s.inst, component: &c.name.name }
                }
                None => RequireCtx::Definition { component: &c.name.name },
            };
            if self.check_require(&env, q, ctx).is_err() {
                failed = true;
            }
        }
        let mut out = BTreeMap::new();
        for (name, local) in &locals {
            match local {
                Local::Value { val: Some(Val::Known(v)), .. } => {
                    out.insert(name.clone(), v.clone());
                }
                _ => failed = true,
            }
        }
        if failed {
            Err(Poisoned)
        } else {
            Ok(out)
        }
    }

    /// The value of one parameter: the argument, else the default, else abstract (definition)
    /// or E0007 (instantiation); then its range check.
    fn param_value(
        &mut self,
        env: &Env,
        c: &Component,
        p: &ast::Param,
        site: Option<&Site>,
    ) -> Result<Val, Poisoned> {
        let what = format!("parameter `{}`", p.name.name);
        let ty = match &p.ty {
            Some(t) => {
                let mut tdiags = Vec::new();
                let ty = resolve_type(t, &mut tdiags);
                // Type errors are reported by the definition check only.
                if site.is_none() {
                    for d in tdiags {
                        self.emit(d);
                    }
                }
                Some(ty.ok_or(Poisoned)?)
            }
            None => None,
        };
        let range = match &p.range {
            Some(rg) => Some(self.eval_range(env, rg, ty, &what)?),
            None => None,
        };
        let arg = site.and_then(|s| s.args.get(&p.name.name));
        let (val, span) = match (arg, &p.default) {
            (Some((v, s)), _) => (v.clone().ok_or(Poisoned)?, *s),
            (None, Some(d)) => {
                let v = match ty {
                    Some(t) => self.eval_as(env, d, t, &what)?,
                    None => self.eval(env, d)?,
                };
                (v, d.span)
            }
            (None, None) => match (site, ty) {
                (None, Some(t)) => return Ok(Val::Abstract(t)),
                (None, None) => {
                    self.emit(
                        Diagnostic::error(
                            Code::E0013,
                            format!("parameter `{}` has neither a type nor a default", p.name.name),
                        )
                        .primary(p.name.span, "cannot tell what this holds")
                        .help(format!("declare a type: `param {}: energy;`", p.name.name)),
                    );
                    return Err(Poisoned);
                }
                (Some(s), _) => {
                    let ty_text = ty.map_or(String::new(), |t| format!(" ({t})"));
                    self.emit(
                        Diagnostic::error(
                            Code::E0007,
                            format!(
                                "missing parameter `{}` for instance `{}` of `{}`",
                                p.name.name, s.inst, c.name.name
                            ),
                        )
                        .primary(s.span, format!("`{}` is not set here", p.name.name))
                        .secondary(p.name.span, "declared without a default")
                        .help(format!("add `{} = ...`{ty_text} to the arguments", p.name.name)),
                    );
                    return Err(Poisoned);
                }
            },
        };
        if let (Some(rg), Val::Known(Value::Number(q))) = (&range, &val) {
            if !rg.contains(q.si) {
                let shown = format_value(&Value::Number(*q));
                let bounds = range_text(rg, q.dim);
                // An argument's own span already locates the problem in the instantiation.
                let saved =
                    if arg.is_some() { std::mem::take(&mut self.trace) } else { Vec::new() };
                self.emit(
                    Diagnostic::error(
                        Code::E0008,
                        format!("{what} is {shown}, outside its range {bounds}"),
                    )
                    .primary(span, format!("{shown} is out of range"))
                    .secondary(rg.span, "range declared here"),
                );
                if arg.is_some() {
                    self.trace = saved;
                }
                return Err(Poisoned);
            }
        }
        Ok(val)
    }

    fn eval_range(
        &mut self,
        env: &Env,
        rg: &ast::RangeExpr,
        ty: Option<Ty>,
        what: &str,
    ) -> Result<RangeVal, Poisoned> {
        let bound = |c: &mut Self, e: &Option<ast::Expr>| -> Result<Option<f64>, Poisoned> {
            let Some(e) = e else { return Ok(None) };
            let v = match ty {
                Some(Ty::Int) => c.eval_as(
                    env,
                    e,
                    Ty::Num(crate::units::Dim::DIMENSIONLESS),
                    &format!("the range of {what}"),
                )?,
                Some(t @ Ty::Num(_)) => c.eval_as(env, e, t, &format!("the range of {what}"))?,
                Some(t) => {
                    c.emit(
                        Diagnostic::error(
                            Code::E0013,
                            format!("{what} is {t}; ranges apply to numbers only"),
                        )
                        .primary(rg.span, "remove this range"),
                    );
                    return Err(Poisoned);
                }
                None => c.eval(env, e)?,
            };
            match v {
                Val::Known(Value::Number(q)) => Ok(Some(q.si)),
                Val::Abstract(Ty::Num(_)) => Ok(None),
                other => {
                    c.emit(
                        Diagnostic::error(
                            Code::E0013,
                            format!("range bound is {}, not a number", found_kind(other.ty())),
                        )
                        .primary(e.span, "expected a number"),
                    );
                    Err(Poisoned)
                }
            }
        };
        let lo = bound(self, &rg.lo)?;
        let hi = bound(self, &rg.hi)?;
        Ok(RangeVal { lo, hi, inclusive: rg.inclusive, span: rg.span })
    }

    /// Elaborates `inst NAME = COMPONENT(args);` in an accelerator.
    pub fn instantiate(&mut self, env: &Env, stmt: &ast::InstStmt) -> Option<Instance> {
        let r = self.resolve_item(env.module, &stmt.component, &[]).ok()?;
        let prog = self.prog;
        let Item::Component(c) = r.get(prog) else {
            let kind = crate::dsl::scope::item_kind(r.get(prog));
            self.emit(
                Diagnostic::error(
                    Code::E0013,
                    format!("`{}` is a {kind}, not a component", stmt.component.text()),
                )
                .primary(stmt.component.span, "only components can be instantiated"),
            );
            return None;
        };
        let qualified = self.qualified_name(r);
        let sig = self.component_sig(r);
        let site_span = stmt.call_span;
        let mut args: Args = BTreeMap::new();
        let mut arg_failed = false;
        for a in &stmt.args {
            let Some(name) = &a.name else {
                let _ = self.eval(env, &a.value);
                self.emit(
                    Diagnostic::error(Code::E0013, "component arguments must be named")
                        .primary(a.span, "positional argument")
                        .help(format!(
                            "write `NAME = value`; `{qualified}` takes {}",
                            sig.params
                                .iter()
                                .map(|p| p.name.name.as_str())
                                .collect::<Vec<_>>()
                                .join(", ")
                        )),
                );
                arg_failed = true;
                continue;
            };
            let Some(param) = sig.params.iter().find(|p| p.name.name == name.name) else {
                let _ = self.eval(env, &a.value);
                let mut d = Diagnostic::error(
                    Code::E0014,
                    format!("`{qualified}` has no parameter `{}`", name.name),
                )
                .primary(name.span, "unknown parameter");
                if sig.lets.contains(&name.name) {
                    d = d.note(format!(
                        "`{}` is derived (`let`) from the parameters and cannot be set",
                        name.name
                    ));
                } else {
                    d = d.help_opt(did_you_mean(
                        &name.name,
                        sig.params.iter().map(|p| p.name.name.as_str()),
                    ));
                }
                if sig.ok {
                    d = d.secondary(c.name.span, "component defined here");
                }
                self.emit(d);
                arg_failed = true;
                continue;
            };
            if let Some((_, prev)) = args.get(&name.name) {
                let prev = *prev;
                self.emit(
                    Diagnostic::error(
                        Code::E0005,
                        format!("parameter `{}` is set twice", name.name),
                    )
                    .primary(name.span, "set again here")
                    .secondary(prev, "first set here"),
                );
                arg_failed = true;
                continue;
            }
            let what = format!("parameter `{}` of `{qualified}`", name.name);
            let v = match param.ty {
                Some(t) => self.eval_as(env, &a.value, t, &what),
                None => self.eval(env, &a.value),
            };
            args.insert(name.name.clone(), (v.ok(), a.value.span));
        }
        if !sig.ok || arg_failed {
            return None;
        }
        let site = Site { span: site_span, inst: &stmt.name.name, args: &args };
        self.trace.push((site_span, format!("in instance `{}` of `{qualified}`", stmt.name.name)));
        let params = self.walk(r, c, Some(&site), None);
        self.trace.pop();
        Some(Instance { name: stmt.name.name.clone(), component: qualified, params: params.ok()? })
    }
}

/// `1..=4096`, `0 V..`, ... with the bounds in the value's unit.
fn range_text(rg: &RangeVal, dim: crate::units::Dim) -> String {
    let f = |x: Option<f64>| {
        x.map(|v| format_value(&Value::Number(Quantity::new(v, dim)))).unwrap_or_default()
    };
    format!("{}{}{}", f(rg.lo), if rg.inclusive { "..=" } else { ".." }, f(rg.hi))
}
