//! `map MODEL -> INSTANCE using PASS(options);`: checks the model and target names and the
//! options against the pass's schema from [`crate::dsl::mappings::mapping_schema`].

use crate::diagnostics::{did_you_mean, Code, Diagnostic, Span};
use crate::dsl::accel::OptionKind;
use crate::dsl::accel::{Instance, Mapping, Value};
use crate::dsl::ast::{self, ExprKind};
use crate::dsl::check::{Checker, Env, Local, Poisoned};
use crate::dsl::mappings::{describe, mapping_schema, pass_names, Schema};
use crate::dsl::types::Ty;
use crate::dsl::value::{format_value, Val};
use std::collections::BTreeMap;

impl Checker<'_> {
    /// Checks one `map` statement; `None` when it has errors (reported).
    pub(crate) fn mapping(
        &mut self,
        env: &Env,
        m: &ast::MapStmt,
        instances: &BTreeMap<String, Instance>,
    ) -> Option<Mapping> {
        let mut ok = true;
        match env.locals.get(&m.model.name) {
            Some(Local::Model { .. }) => {}
            Some(_) => {
                self.emit(
                    Diagnostic::error(Code::E0013, format!("`{}` is not a model", m.model.name))
                        .primary(m.model.span, "expected a model bound with `model`"),
                );
                ok = false;
            }
            None => {
                self.unknown_local(env, &m.model, |l| matches!(l, Local::Model { .. }), "model");
                ok = false;
            }
        }
        match env.locals.get(&m.target.name) {
            Some(Local::Instance { .. }) => {}
            Some(_) => {
                self.emit(
                    Diagnostic::error(
                        Code::E0013,
                        format!("`{}` is not an instance", m.target.name),
                    )
                    .primary(m.target.span, "expected an instance declared with `inst`"),
                );
                ok = false;
            }
            None => {
                self.unknown_local(
                    env,
                    &m.target,
                    |l| matches!(l, Local::Instance { .. }),
                    "instance",
                );
                ok = false;
            }
        }
        let Some(schema) = mapping_schema(self.opts.catalog, &m.pass.name) else {
            let names: Vec<&str> = pass_names(self.opts.catalog);
            self.emit(
                Diagnostic::error(Code::E0015, format!("unknown mapping pass `{}`", m.pass.name))
                    .primary(m.pass.span, "no pass of this name")
                    .help_opt(did_you_mean(&m.pass.name, names.iter().copied()))
                    .note(format!("passes are: {}", names.join(", "))),
            );
            return None;
        };
        let options = self.map_options(env, &schema, &m.args);
        let options = options.ok()?;
        let target = instances.get(&m.target.name)?;
        if !ok {
            return None;
        }
        let mapping = Mapping {
            model: m.model.name.clone(),
            target: m.target.name.clone(),
            pass: m.pass.name.clone(),
            options,
        };
        // What the passes would reject about these options on this instance, reported here
        // with the option's span so `lint` and `compile` agree.
        let problems = self.opts.catalog.map(|c| c.check(&mapping, target)).unwrap_or_default();
        for (option, message) in &problems {
            let at = m.args.iter().find(|a| a.name.as_ref().is_some_and(|n| n.name == *option));
            let span = at.map_or(m.pass.span, |a| a.value.span);
            self.emit(
                Diagnostic::error(
                    Code::E0020,
                    format!("option `{option}` is refused on instance `{}`", m.target.name),
                )
                .primary(span, message.clone()),
            );
        }
        if problems.is_empty() {
            Some(mapping)
        } else {
            None
        }
    }

    fn unknown_local(
        &mut self,
        env: &Env,
        id: &ast::Ident,
        want: impl Fn(&Local) -> bool,
        kind: &str,
    ) {
        let cands: Vec<&str> =
            env.locals.iter().filter(|(_, l)| want(l)).map(|(n, _)| n.as_str()).collect();
        let mut d = Diagnostic::error(Code::E0004, format!("unknown {kind} `{}`", id.name))
            .primary(id.span, format!("no {kind} of this name"));
        if let Some(later) = env.later.get(&id.name) {
            d = d
                .secondary(*later, "defined here, after its use")
                .note("statements are evaluated in order; move the definition up");
        } else {
            d = d.help_opt(did_you_mean(&id.name, cands.iter().copied()));
        }
        self.emit(d);
    }

    /// Checks `PASS(options)` against the pass's schema.
    fn map_options(
        &mut self,
        env: &Env,
        schema: &Schema,
        args: &[ast::Arg],
    ) -> Result<BTreeMap<String, Value>, Poisoned> {
        let mut out = BTreeMap::new();
        let mut spans: BTreeMap<String, Span> = BTreeMap::new();
        let mut failed = false;
        for a in args {
            let Some(name) = &a.name else {
                self.emit(
                    Diagnostic::error(Code::E0013, "pass options must be named")
                        .primary(a.span, "positional option")
                        .help(format!(
                            "write `NAME = value`; `{}` takes {}",
                            schema.pass,
                            option_list(schema)
                        )),
                );
                failed = true;
                continue;
            };
            let Some(spec) = schema.option(&name.name) else {
                self.emit(
                    Diagnostic::error(
                        Code::E0015,
                        format!("pass `{}` has no option `{}`", schema.pass, name.name),
                    )
                    .primary(name.span, "unknown option")
                    .help_opt(did_you_mean(
                        &name.name,
                        schema.options.iter().map(|o| o.name.as_str()),
                    ))
                    .note(format!(
                        "`{}` takes {}",
                        schema.pass,
                        option_list(schema)
                    )),
                );
                failed = true;
                continue;
            };
            if let Some(prev) = spans.get(&name.name) {
                self.emit(
                    Diagnostic::error(Code::E0005, format!("option `{}` is set twice", name.name))
                        .primary(name.span, "set again here")
                        .secondary(*prev, "first set here"),
                );
                failed = true;
                continue;
            }
            spans.insert(name.name.clone(), name.span);
            match self.option_value(env, schema, &spec.name, spec.kind, &a.value) {
                Ok(v) => {
                    out.insert(name.name.clone(), v);
                }
                Err(_) => failed = true,
            }
        }
        if failed {
            Err(Poisoned)
        } else {
            Ok(out)
        }
    }

    fn option_value(
        &mut self,
        env: &Env,
        schema: &Schema,
        name: &str,
        kind: OptionKind,
        e: &ast::Expr,
    ) -> Result<Value, Poisoned> {
        let what = format!("option `{name}` of `{}`", schema.pass);
        let v = match kind {
            OptionKind::Int { .. } => self.eval_as(env, e, Ty::Int, &what)?,
            OptionKind::Real => {
                self.eval_as(env, e, Ty::Num(crate::units::Dim::DIMENSIONLESS), &what)?
            }
            OptionKind::Bool => self.eval_as(env, e, Ty::Bool, &what)?,
            OptionKind::Symbol(_) => self.eval_as(env, e, Ty::Symbol, &what)?,
            OptionKind::Dims => self.eval_as(env, e, Ty::Dims, &what)?,
            OptionKind::DimsOr(_) => match &e.kind {
                ExprKind::Path(_) => self.eval_as(env, e, Ty::Symbol, &what)?,
                _ => self.eval_as(env, e, Ty::Dims, &what)?,
            },
        };
        let Val::Known(v) = v else {
            return Err(Poisoned);
        };
        let bad = |c: &mut Self, msg: String, label: &str| {
            c.emit(
                Diagnostic::error(Code::E0008, msg)
                    .primary(e.span, label.to_string())
                    .note(format!("{what} takes {}", describe(kind))),
            );
            Err(Poisoned)
        };
        match (kind, &v) {
            (OptionKind::Int { min, max }, Value::Number(q))
                if q.si < min as f64 || q.si > max as f64 =>
            {
                bad(
                    self,
                    format!("{what} is {}, outside {min}..={max}", format_value(&v)),
                    "out of range",
                )
            }
            (OptionKind::Symbol(vs), Value::Symbol(s)) if !vs.contains(&s.as_str()) => {
                let help = did_you_mean(s, vs.iter().copied());
                self.emit(
                    Diagnostic::error(Code::E0008, format!("`{s}` is not a value of {what}"))
                        .primary(e.span, "unknown value")
                        .help_opt(help)
                        .note(format!("{what} takes {}", describe(kind))),
                );
                Err(Poisoned)
            }
            (OptionKind::DimsOr(vs), Value::Symbol(s)) if !vs.contains(&s.as_str()) => bad(
                self,
                format!("{what} must be ROWSxCOLS or one of {}, found `{s}`", vs.join(", ")),
                "expected a geometry like 24x48",
            ),
            (OptionKind::Dims | OptionKind::DimsOr(_), Value::Dims(d)) if d.len() != 2 => bad(
                self,
                format!("{what} needs two sizes (ROWSxCOLS), found {}", d.len()),
                "expected ROWSxCOLS",
            ),
            _ => Ok(v),
        }
    }
}

fn option_list(schema: &Schema) -> String {
    schema
        .options
        .iter()
        .map(|o| format!("{} ({})", o.name, describe(o.kind)))
        .collect::<Vec<_>>()
        .join(", ")
}
