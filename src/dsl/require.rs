//! `require` conditions: evaluation and failure reports that show the failing comparison
//! with its evaluated operands, located where the user can act on them.

use crate::diagnostics::{Code, Diagnostic, Span};
use crate::dsl::accel::Value;
use crate::dsl::ast;
use crate::dsl::check::{Checker, Env, Poisoned};
use crate::dsl::typecheck::found_kind;
use crate::dsl::types::Ty;
use crate::dsl::value::{format_value, Val};

/// Where a `require` is evaluated, which decides where a failure is reported.
#[derive(Clone, Copy, Debug)]
pub enum RequireCtx<'a> {
    /// In an accelerator body.
    Accelerator,
    /// In a component definition check, with default parameter values.
    Definition { component: &'a str },
    /// In an instantiation: reported at the instance, pointing at the component's `require`.
    Instance { span: Span, inst: &'a str, component: &'a str },
}

impl Checker<'_> {
    /// Evaluates a `require`; a false one is reported according to `ctx`.
    pub fn check_require(
        &mut self,
        env: &Env,
        q: &ast::Require,
        ctx: RequireCtx,
    ) -> Result<(), Poisoned> {
        let v = self.eval(env, &q.cond)?;
        match v {
            Val::Known(Value::Bool(true)) | Val::Abstract(Ty::Bool) => Ok(()),
            Val::Known(Value::Bool(false)) => {
                let msg = q.message.clone().unwrap_or_else(|| "condition is false".to_string());
                let (at, why) = self
                    .explain_false(env, &q.cond)
                    .unwrap_or((q.cond.span, "this is false".to_string()));
                let d = match ctx {
                    RequireCtx::Instance { span, inst, component } => Diagnostic::error(
                        Code::E0009,
                        format!("requirement of `{component}` failed for instance `{inst}`: {msg}"),
                    )
                    .primary(span, "this instance violates the requirement")
                    .secondary(at, why),
                    RequireCtx::Accelerator => {
                        Diagnostic::error(Code::E0009, format!("requirement failed: {msg}"))
                            .primary(at, why)
                    }
                    RequireCtx::Definition { component } => Diagnostic::error(
                        Code::E0009,
                        format!("the defaults of `{component}` fail a requirement: {msg}"),
                    )
                    .primary(at, why)
                    .note("evaluated with the default parameter values"),
                };
                // The instantiation label would duplicate the primary.
                let saved = std::mem::take(&mut self.trace);
                self.emit(d);
                self.trace = saved;
                Err(Poisoned)
            }
            other => {
                self.emit(
                    Diagnostic::error(
                        Code::E0013,
                        format!("a requirement must be a bool, found {}", found_kind(other.ty())),
                    )
                    .primary(q.cond.span, "expected a comparison or other bool"),
                );
                Err(Poisoned)
            }
        }
    }

    /// Finds the comparison that makes a condition false (the first false conjunct of `&&`)
    /// and spells it out with values: `1152 <= 1000 is false`.
    fn explain_false(&mut self, env: &Env, e: &ast::Expr) -> Option<(Span, String)> {
        match &e.kind {
            ast::ExprKind::Binary { op: ast::BinOp::And, lhs, rhs } => match self.eval(env, lhs) {
                Ok(Val::Known(Value::Bool(false))) => self.explain_false(env, lhs),
                _ => self.explain_false(env, rhs),
            },
            ast::ExprKind::Binary { op, lhs, rhs } if op.is_comparison() => {
                let Ok(Val::Known(a)) = self.eval(env, lhs) else {
                    return None;
                };
                let Ok(Val::Known(b)) = self.eval(env, rhs) else {
                    return None;
                };
                Some((
                    e.span,
                    format!("{} {} {} is false", format_value(&a), op.symbol(), format_value(&b)),
                ))
            }
            _ => None,
        }
    }
}
