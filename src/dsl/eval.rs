//! Expression evaluation with physical units.
//!
//! Numbers are SI values with a [`Dim`]: `+`, `-` and comparisons need equal dimensions, `*`
//! and `/` combine them, and a result that is not finite (overflow, `x / 0`) is an error rather
//! than a silent `inf` in a cost model. Abstract values ([`Val::Abstract`]) flow through the
//! same code so a component body is type-checked before any instantiation.

use crate::diagnostics::{did_you_mean, Code, Diagnostic, Span};
use crate::dsl::accel::{ModelFormat, Value};
use crate::dsl::ast::Item;
use crate::dsl::ast::{self, BinOp, Expr, ExprKind, UnOp};
use crate::dsl::builtins::{self, BUILTINS};
use crate::dsl::check::{Checker, Env, Local, Poisoned};
use crate::dsl::typecheck::found_kind;
use crate::dsl::types::{dim_div, dim_mul, Ty};
use crate::dsl::value::Val;
use crate::units::{known_unit_symbols, parse_unit, Dim, Quantity};

type Res = Result<Val, Poisoned>;

/// Deepest nesting of expression evaluation, counting through constant references.
pub const MAX_EVAL_DEPTH: u32 = 1000;

impl Checker<'_> {
    /// Evaluates an expression; errors are reported and give `Err(Poisoned)`.
    ///
    /// Recursion is bounded by [`MAX_EVAL_DEPTH`] across constant references (each expression
    /// is already at most `MAX_EXPR_DEPTH` deep), so no input can overflow the stack.
    pub fn eval(&mut self, env: &Env, e: &Expr) -> Res {
        if self.eval_depth >= MAX_EVAL_DEPTH {
            if !self.depth_reported {
                self.depth_reported = true;
                self.emit(
                    Diagnostic::error(
                        Code::E0016,
                        format!("evaluation nested more than {MAX_EVAL_DEPTH} levels deep"),
                    )
                    .primary(e.span, "too deep here")
                    .note("expressions and the constants they refer to nest too deeply"),
                );
            }
            return Err(Poisoned);
        }
        self.eval_depth += 1;
        let r = self.eval_inner(env, e);
        self.eval_depth -= 1;
        r
    }

    fn eval_inner(&mut self, env: &Env, e: &Expr) -> Res {
        match &e.kind {
            ExprKind::Error => Err(Poisoned),
            ExprKind::Num { text, unit } => self.eval_num(text, unit.as_ref(), e.span),
            ExprKind::Str(s) => Ok(Val::Known(Value::Str(s.clone()))),
            ExprKind::Bool(b) => Ok(Val::Known(Value::Bool(*b))),
            ExprKind::Dims(t) => self.eval_dims(t, e.span),
            ExprKind::Path(p) => self.eval_path(env, p),
            ExprKind::Call { callee, args } => self.eval_call(env, callee, args, e.span),
            ExprKind::Member { base, field } => self.eval_member(env, base, field),
            ExprKind::Unary { op, operand } => {
                let v = self.eval(env, operand)?;
                self.eval_unary(*op, v, operand.span, e.span)
            }
            ExprKind::Binary { op, lhs, rhs } => {
                let a = self.eval(env, lhs);
                let b = self.eval(env, rhs);
                self.eval_binary(*op, (a?, lhs.span), (b?, rhs.span), e.span)
            }
        }
    }

    fn eval_num(&mut self, text: &str, unit: Option<&ast::Ident>, span: Span) -> Res {
        let Ok(n) = text.parse::<f64>() else {
            self.emit(
                Diagnostic::error(Code::E0001, format!("invalid number `{text}`"))
                    .primary(span, "here"),
            );
            return Err(Poisoned);
        };
        let (scale, dim) = match unit {
            None => (1.0, Dim::DIMENSIONLESS),
            Some(u) => match parse_unit(&u.name) {
                Some(sd) => sd,
                None => {
                    let known = known_unit_symbols();
                    self.emit(
                        Diagnostic::error(Code::E0011, format!("unknown unit `{}`", u.name))
                            .primary(u.span, "not a unit symbol")
                            .help_opt(did_you_mean(&u.name, known.iter().map(String::as_str)))
                            .note("units are J W s Hz V A C F Ohm S m and m2 (area), with a prefix a f p n u m k M G T"),
                    );
                    return Err(Poisoned);
                }
            },
        };
        let si = scaled_literal(text, scale).unwrap_or(n * scale);
        if !si.is_finite() {
            self.emit(
                Diagnostic::error(Code::E0017, format!("number `{text}` is too large"))
                    .primary(span, "does not fit a 64-bit float"),
            );
            return Err(Poisoned);
        }
        Ok(Val::num(si, dim))
    }

    fn eval_dims(&mut self, text: &str, span: Span) -> Res {
        let mut out = Vec::new();
        for part in text.split('x') {
            match part.parse::<u64>() {
                Ok(0) => {
                    self.emit(
                        Diagnostic::error(Code::E0008, format!("`{text}` has a zero size"))
                            .primary(span, "every size must be at least 1"),
                    );
                    return Err(Poisoned);
                }
                Ok(v) => out.push(v),
                Err(_) => {
                    self.emit(
                        Diagnostic::error(Code::E0008, format!("size `{part}` is too large"))
                            .primary(span, "sizes must fit in 64 bits"),
                    );
                    return Err(Poisoned);
                }
            }
        }
        Ok(Val::Known(Value::Dims(out)))
    }

    fn eval_path(&mut self, env: &Env, p: &ast::Path) -> Res {
        if let [id] = p.segments.as_slice() {
            match env.locals.get(&id.name) {
                Some(Local::Value { val, .. }) => return val.clone().ok_or(Poisoned),
                Some(Local::Instance { component, .. }) => {
                    let component = component.clone();
                    self.emit(
                        Diagnostic::error(
                            Code::E0013,
                            format!("`{}` is an instance of `{component}`, not a value", id.name),
                        )
                        .primary(id.span, "an instance")
                        .help(format!("read one of its parameters: `{}.NAME`", id.name)),
                    );
                    return Err(Poisoned);
                }
                Some(Local::Model { .. }) => {
                    self.emit(
                        Diagnostic::error(
                            Code::E0013,
                            format!("`{}` is a model, not a value", id.name),
                        )
                        .primary(id.span, "a model binding"),
                    );
                    return Err(Poisoned);
                }
                None => {}
            }
            if self.scopes[env.module.0].get(&id.name).is_none() {
                return Err(self.unknown_value(env, id));
            }
        }
        let r = self.resolve_item(env.module, p, &[])?;
        match r.get(self.prog) {
            Item::Const(_) => self.eval_const(r, p.span),
            _ => {
                self.not_a_value(r, p.span);
                Err(Poisoned)
            }
        }
    }

    /// E0004 for a bare name, suggesting local and module names and pointing at a later
    /// definition when there is one.
    fn unknown_value(&mut self, env: &Env, id: &ast::Ident) -> Poisoned {
        let scope = &self.scopes[env.module.0];
        let cands: Vec<&str> = env.locals.keys().map(String::as_str).chain(scope.names()).collect();
        let mut d = Diagnostic::error(Code::E0004, format!("unknown name `{}`", id.name))
            .primary(id.span, "not found in this scope");
        if let Some(later) = env.later.get(&id.name) {
            d = d
                .secondary(*later, "defined here, after its use")
                .note("definitions in a body are evaluated in order; move this one up");
        } else {
            d = d.help_opt(did_you_mean(&id.name, cands.iter().copied()));
        }
        self.emit(d);
        Poisoned
    }

    fn eval_member(&mut self, env: &Env, base: &Expr, field: &ast::Ident) -> Res {
        let ExprKind::Path(p) = &base.kind else {
            let _ = self.eval(env, base)?;
            self.emit(
                Diagnostic::error(Code::E0013, format!("cannot read `.{}` here", field.name))
                    .primary(base.span, "only instances have members"),
            );
            return Err(Poisoned);
        };
        let local = match p.segments.as_slice() {
            [id] => env.locals.get(&id.name),
            _ => None,
        };
        match local {
            Some(Local::Instance { component, params, .. }) => {
                let Some(params) = params else {
                    return Err(Poisoned);
                };
                if let Some(v) = params.get(&field.name) {
                    return Ok(Val::Known(v.clone()));
                }
                let help = did_you_mean(&field.name, params.keys().map(String::as_str));
                let d = Diagnostic::error(
                    Code::E0004,
                    format!(
                        "instance `{}` of `{component}` has no parameter `{}`",
                        p.text(),
                        field.name
                    ),
                )
                .primary(field.span, "no such parameter")
                .help_opt(help);
                self.emit(d);
                Err(Poisoned)
            }
            _ => {
                let _ = self.eval(env, base)?;
                self.emit(
                    Diagnostic::error(
                        Code::E0013,
                        format!("cannot read `.{}` of `{}`", field.name, p.text()),
                    )
                    .primary(base.span, "not an instance")
                    .note("`.name` reads a parameter of an instance declared with `inst`"),
                );
                Err(Poisoned)
            }
        }
    }

    fn eval_call(&mut self, env: &Env, callee: &ast::Path, args: &[ast::Arg], span: Span) -> Res {
        let name = match callee.segments.as_slice() {
            [id] if BUILTINS.contains(&id.name.as_str()) => id.name.as_str(),
            [id] if self.scopes[env.module.0].get(&id.name).is_none() => {
                let mut d =
                    Diagnostic::error(Code::E0004, format!("unknown function `{}`", id.name))
                        .primary(id.span, "not a builtin function")
                        .help_opt(did_you_mean(&id.name, BUILTINS.iter().copied()))
                        .note(format!("builtins: {}", BUILTINS.join(", ")));
                if ModelFormat::by_name(&id.name).is_some() {
                    d = d.help(format!(
                        "bind a model in an accelerator: `model m = {}(\"file\");`",
                        id.name
                    ));
                }
                self.emit(d);
                return Err(Poisoned);
            }
            _ => {
                let r = self.resolve_item(env.module, callee, BUILTINS)?;
                self.not_a_value(r, callee.span);
                return Err(Poisoned);
            }
        };
        let mut vals = Vec::new();
        let mut failed = false;
        for a in args {
            if let Some(n) = &a.name {
                self.emit(
                    Diagnostic::error(Code::E0013, format!("`{name}` takes no named arguments"))
                        .primary(n.span, "remove `NAME =`"),
                );
                failed = true;
            }
            match self.eval(env, &a.value) {
                Ok(v) => vals.push((v, a.value.span)),
                Err(_) => failed = true,
            }
        }
        if failed {
            return Err(Poisoned);
        }
        builtins::call(name, &vals, span).map_err(|d| {
            self.emit(d);
            Poisoned
        })
    }

    fn eval_unary(&mut self, op: UnOp, v: Val, operand: Span, span: Span) -> Res {
        match (op, v.ty()) {
            (UnOp::Neg, Ty::Num(d)) => Ok(match v {
                Val::Known(Value::Number(q)) => Val::num(-q.si, q.dim),
                _ => Val::Abstract(Ty::Num(d)),
            }),
            (UnOp::Not, Ty::Bool) => Ok(match v {
                Val::Known(Value::Bool(b)) => Val::Known(Value::Bool(!b)),
                _ => Val::Abstract(Ty::Bool),
            }),
            (op, t) => {
                let (sym, need) = match op {
                    UnOp::Neg => ("-", "a number"),
                    UnOp::Not => ("!", "a bool"),
                };
                self.emit(
                    Diagnostic::error(
                        Code::E0013,
                        format!("cannot apply `{sym}` to {}", found_kind(t)),
                    )
                    .primary(operand, format!("expected {need}"))
                    .secondary(span, "in this expression"),
                );
                Err(Poisoned)
            }
        }
    }

    fn eval_binary(
        &mut self,
        op: BinOp,
        (a, sa): (Val, Span),
        (b, sb): (Val, Span),
        span: Span,
    ) -> Res {
        let (ta, tb) = (a.ty(), b.ty());
        let known = match (&a, &b) {
            (Val::Known(x), Val::Known(y)) => Some((x.clone(), y.clone())),
            _ => None,
        };
        match op {
            BinOp::And | BinOp::Or => {
                for (t, s) in [(ta, sa), (tb, sb)] {
                    if t != Ty::Bool {
                        self.emit(
                            Diagnostic::error(
                                Code::E0013,
                                format!("`{}` needs bools, found {}", op.symbol(), found_kind(t)),
                            )
                            .primary(s, "expected a bool"),
                        );
                        return Err(Poisoned);
                    }
                }
                Ok(match known {
                    Some((Value::Bool(x), Value::Bool(y))) => {
                        Val::Known(Value::Bool(if op == BinOp::And { x && y } else { x || y }))
                    }
                    _ => Val::Abstract(Ty::Bool),
                })
            }
            BinOp::Eq | BinOp::Ne if !matches!(ta, Ty::Num(_)) || !matches!(tb, Ty::Num(_)) => {
                if ta != tb {
                    self.emit(
                        Diagnostic::error(
                            Code::E0013,
                            format!("cannot compare {} with {}", found_kind(ta), found_kind(tb)),
                        )
                        .primary(sb, format!("this is {}", found_kind(tb)))
                        .secondary(sa, format!("this is {}", found_kind(ta))),
                    );
                    return Err(Poisoned);
                }
                Ok(match known {
                    Some((x, y)) => Val::Known(Value::Bool((x == y) == (op == BinOp::Eq))),
                    None => Val::Abstract(Ty::Bool),
                })
            }
            _ => self.arith(op, (ta, sa), (tb, sb), known, span),
        }
    }

    /// Arithmetic and ordering on numbers.
    fn arith(
        &mut self,
        op: BinOp,
        (ta, sa): (Ty, Span),
        (tb, sb): (Ty, Span),
        known: Option<(Value, Value)>,
        span: Span,
    ) -> Res {
        let (Ty::Num(da), Ty::Num(db)) = (ta, tb) else {
            let (t, s) = if matches!(ta, Ty::Num(_)) { (tb, sb) } else { (ta, sa) };
            self.emit(
                Diagnostic::error(
                    Code::E0013,
                    format!("cannot apply `{}` to {}", op.symbol(), found_kind(t)),
                )
                .primary(s, "expected a number"),
            );
            return Err(Poisoned);
        };
        let dim = match op {
            BinOp::Mul => dim_mul(da, db),
            BinOp::Div => dim_div(da, db),
            _ => {
                if da != db {
                    let verb = match op {
                        BinOp::Add => "add",
                        BinOp::Sub => "subtract",
                        _ => "compare",
                    };
                    let conj = if matches!(op, BinOp::Add | BinOp::Sub) { "and" } else { "with" };
                    self.emit(
                        Diagnostic::error(
                            Code::E0006,
                            format!("cannot {verb} {} {conj} {}", da, db),
                        )
                        .primary(sb, format!("this is {}", db))
                        .secondary(sa, format!("this is {}", da))
                        .note(format!("`{}` needs both sides in the same dimension", op.symbol())),
                    );
                    return Err(Poisoned);
                }
                Some(da)
            }
        };
        let Some(dim) = dim else {
            self.emit(
                Diagnostic::error(Code::E0006, "dimension exponent out of range")
                    .primary(span, "this product has a unit exponent beyond ±127"),
            );
            return Err(Poisoned);
        };
        let is_cmp = op.is_comparison();
        let Some((Value::Number(x), Value::Number(y))) = known else {
            return Ok(Val::Abstract(if is_cmp { Ty::Bool } else { Ty::Num(dim) }));
        };
        let (x, y) = (x.si, y.si);
        if is_cmp {
            let r = match op {
                BinOp::Lt => x < y,
                BinOp::Le => x <= y,
                BinOp::Gt => x > y,
                BinOp::Ge => x >= y,
                BinOp::Eq => x == y,
                _ => x != y,
            };
            return Ok(Val::Known(Value::Bool(r)));
        }
        if op == BinOp::Div && y == 0.0 {
            self.emit(
                Diagnostic::error(Code::E0017, "division by zero")
                    .primary(sb, "this is zero")
                    .secondary(span, "in this division"),
            );
            return Err(Poisoned);
        }
        let r = match op {
            BinOp::Add => x + y,
            BinOp::Sub => x - y,
            BinOp::Mul => x * y,
            _ => x / y,
        };
        if !r.is_finite() {
            self.emit(
                Diagnostic::error(Code::E0017, "result is not a finite number")
                    .primary(span, "this overflows a 64-bit float"),
            );
            return Err(Poisoned);
        }
        Ok(Val::Known(Value::Number(Quantity::new(r, dim))))
    }
}

/// A literal times a power-of-ten unit scale, rounded once: `0.9 fJ` is parsed as the decimal
/// `0.9e-15`, so it is the double nearest 9e-16 (multiplying `0.9 * 1e-15` can be 1 ULP off).
fn scaled_literal(text: &str, scale: f64) -> Option<f64> {
    let exp = scale.log10().round();
    if 10f64.powf(exp) != scale && scale != 1.0 {
        return None;
    }
    let (mantissa, e0) = match text.find(['e', 'E']) {
        Some(i) => (&text[..i], text[i + 1..].parse::<i64>().ok()?),
        None => (text, 0),
    };
    format!("{mantissa}e{}", e0 + exp as i64).parse().ok()
}
