//! Deterministic Verilog text from the [`super::ast`]: two-space indentation, one port per
//! line, `begin`/`end` around every procedural body, and parentheses only where precedence
//! needs them.
//!
//! Sized literals up to 64 bits print in decimal (`8'sd5`, `-8'sd3`, `4'd9`; `1'b0` for single
//! bits), wider ones and the most negative value of a width in hex (`8'sh80`).

use super::ast::*;
use std::fmt::Write;

/// Prints a module.
pub fn print_module(m: &Module) -> String {
    let mut p = Printer::default();
    p.module(m);
    p.out
}

/// Prints several modules separated by a blank line (a design file).
pub fn print_modules(ms: &[Module]) -> String {
    ms.iter().map(print_module).collect::<Vec<_>>().join("\n")
}

/// Prints one expression (for messages and tests).
pub fn print_expr(e: &Expr) -> String {
    expr(e, 0)
}

#[derive(Default)]
struct Printer {
    out: String,
    indent: usize,
}

impl Printer {
    fn line(&mut self, text: &str) {
        for _ in 0..self.indent {
            self.out.push_str("  ");
        }
        self.out.push_str(text);
        self.out.push('\n');
    }

    fn module(&mut self, m: &Module) {
        let mut head = format!("module {}", m.name);
        if !m.params.is_empty() {
            head.push_str(" #(");
            self.line(&head);
            self.indent += 1;
            for (i, prm) in m.params.iter().enumerate() {
                let sep = if i + 1 < m.params.len() { "," } else { "" };
                self.line(&format!("parameter {} = {}{sep}", prm.name, expr(&prm.value, 0)));
            }
            self.indent -= 1;
            head = ")".to_string();
        }
        if m.ports.is_empty() {
            self.line(&format!("{head};"));
        } else {
            self.line(&format!("{head} ("));
            self.indent += 1;
            for (i, port) in m.ports.iter().enumerate() {
                let sep = if i + 1 < m.ports.len() { "," } else { "" };
                let dir = match port.dir {
                    Dir::Input => "input",
                    Dir::Output => "output",
                };
                let reg = if port.reg { " reg" } else { "" };
                let signed = if port.signed { " signed" } else { "" };
                self.line(&format!("{dir}{reg}{signed}{} {}{sep}", range(&port.width), port.name));
            }
            self.indent -= 1;
            self.line(");");
        }
        self.indent += 1;
        for item in &m.items {
            self.item(item);
        }
        self.indent -= 1;
        self.line("endmodule");
    }

    fn item(&mut self, item: &Item) {
        match item {
            Item::Comment(t) => self.comment(t),
            Item::Blank => self.out.push('\n'),
            Item::Decl(d) => self.line(&decl(d)),
            Item::LocalParam { name, value } => {
                self.line(&format!("localparam {name} = {};", expr(value, 0)))
            }
            Item::Assign { lhs, rhs } => {
                self.line(&format!("assign {} = {};", expr(lhs, 0), expr(rhs, 0)))
            }
            Item::AlwaysFF { clock, body } => {
                self.line(&format!("always @(posedge {clock}) begin"));
                self.block(body);
                self.line("end");
            }
            Item::AlwaysComb(body) => {
                self.line("always @* begin");
                self.block(body);
                self.line("end");
            }
            Item::Instance { module, name, params, conns } => {
                let mut head = module.clone();
                if !params.is_empty() {
                    let ps: Vec<String> =
                        params.iter().map(|(k, v)| format!(".{k}({})", expr(v, 0))).collect();
                    let _ = write!(head, " #({})", ps.join(", "));
                }
                if conns.is_empty() {
                    self.line(&format!("{head} {name} ();"));
                    return;
                }
                self.line(&format!("{head} {name} ("));
                self.indent += 1;
                for (i, (port, e)) in conns.iter().enumerate() {
                    let sep = if i + 1 < conns.len() { "," } else { "" };
                    self.line(&format!(".{port}({}){sep}", expr(e, 0)));
                }
                self.indent -= 1;
                self.line(");");
            }
            Item::MemInit { file, mem } => {
                self.line(&format!("initial $readmemh({file:?}, {mem});"))
            }
        }
    }

    fn comment(&mut self, text: &str) {
        for l in text.lines() {
            if l.is_empty() {
                self.line("//");
            } else {
                self.line(&format!("// {l}"));
            }
        }
    }

    fn block(&mut self, body: &[Stmt]) {
        self.indent += 1;
        for s in body {
            self.stmt(s);
        }
        self.indent -= 1;
    }

    fn stmt(&mut self, s: &Stmt) {
        match s {
            Stmt::NonBlocking { lhs, rhs } => {
                self.line(&format!("{} <= {};", expr(lhs, 0), expr(rhs, 0)))
            }
            Stmt::Blocking { lhs, rhs } => {
                self.line(&format!("{} = {};", expr(lhs, 0), expr(rhs, 0)))
            }
            Stmt::Comment(t) => self.comment(t),
            Stmt::If { cond, then, els } => {
                self.line(&format!("if ({}) begin", expr(cond, 0)));
                self.block(then);
                let mut els = els;
                // `else if` chains print flat instead of nesting.
                loop {
                    match els.as_slice() {
                        [] => {
                            self.line("end");
                            break;
                        }
                        [Stmt::If { cond, then, els: next }] => {
                            self.line(&format!("end else if ({}) begin", expr(cond, 0)));
                            self.block(then);
                            els = next;
                        }
                        _ => {
                            self.line("end else begin");
                            self.block(els);
                            self.line("end");
                            break;
                        }
                    }
                }
            }
            Stmt::Case { expr: sel, arms, default } => {
                self.line(&format!("case ({})", expr(sel, 0)));
                self.indent += 1;
                for arm in arms {
                    let labels: Vec<String> = arm.labels.iter().map(|l| expr(l, 0)).collect();
                    self.line(&format!("{}: begin", labels.join(", ")));
                    self.block(&arm.body);
                    self.line("end");
                }
                if let Some(d) = default {
                    self.line("default: begin");
                    self.block(d);
                    self.line("end");
                }
                self.indent -= 1;
                self.line("endcase");
            }
            Stmt::For { var, init, cond, step, body } => {
                self.line(&format!(
                    "for ({var} = {}; {}; {var} = {}) begin",
                    expr(init, 0),
                    expr(cond, 0),
                    expr(step, 0)
                ));
                self.block(body);
                self.line("end");
            }
        }
    }
}

/// ` [msb:lsb]`, or nothing for a one-bit net.
fn range(w: &Width) -> String {
    match w {
        Width::Bits(1) => String::new(),
        Width::Bits(n) => format!(" [{}:0]", n - 1),
        Width::Expr(e) => format!(" [{}-1:0]", expr(e, PREC_ADD + 1)),
    }
}

fn decl(d: &Decl) -> String {
    let kind = match d.kind {
        NetKind::Wire => "wire",
        NetKind::Reg => "reg",
        NetKind::Integer => return format!("integer {};", d.name),
    };
    let signed = if d.signed { " signed" } else { "" };
    let depth = d.depth.map(|n| format!(" [0:{}]", n.saturating_sub(1))).unwrap_or_default();
    format!("{kind}{signed}{} {}{depth};", range(&d.width), d.name)
}

const PREC_TERNARY: u8 = 0;
const PREC_ADD: u8 = 9;
const PREC_UNARY: u8 = 12;
const PREC_ATOM: u8 = 13;

fn bin_prec(op: BinOp) -> u8 {
    match op {
        BinOp::Mul | BinOp::Div | BinOp::Mod => 10,
        BinOp::Add | BinOp::Sub => PREC_ADD,
        BinOp::Shl | BinOp::Shr | BinOp::AShr => 8,
        BinOp::Lt | BinOp::Le | BinOp::Gt | BinOp::Ge => 7,
        BinOp::Eq | BinOp::Ne => 6,
        BinOp::And => 5,
        BinOp::Xor | BinOp::Xnor => 4,
        BinOp::Or => 3,
        BinOp::LogicAnd => 2,
        BinOp::LogicOr => 1,
    }
}

fn bin_text(op: BinOp) -> &'static str {
    match op {
        BinOp::Add => "+",
        BinOp::Sub => "-",
        BinOp::Mul => "*",
        BinOp::Div => "/",
        BinOp::Mod => "%",
        BinOp::And => "&",
        BinOp::Or => "|",
        BinOp::Xor => "^",
        BinOp::Xnor => "~^",
        BinOp::Shl => "<<",
        BinOp::Shr => ">>",
        BinOp::AShr => ">>>",
        BinOp::Eq => "==",
        BinOp::Ne => "!=",
        BinOp::Lt => "<",
        BinOp::Le => "<=",
        BinOp::Gt => ">",
        BinOp::Ge => ">=",
        BinOp::LogicAnd => "&&",
        BinOp::LogicOr => "||",
    }
}

fn un_text(op: UnOp) -> &'static str {
    match op {
        UnOp::Not => "~",
        UnOp::LogicNot => "!",
        UnOp::Neg => "-",
        UnOp::RedAnd => "&",
        UnOp::RedOr => "|",
        UnOp::RedXor => "^",
    }
}

fn prec(e: &Expr) -> u8 {
    match e {
        Expr::Binary(op, ..) => bin_prec(*op),
        Expr::Ternary(..) => PREC_TERNARY,
        Expr::Unary(..) => PREC_UNARY,
        Expr::Const { signed: true, bits } if bits.width() > 1 && bits.bit(bits.width() - 1) => {
            PREC_UNARY
        }
        _ => PREC_ATOM,
    }
}

/// Prints `e`, parenthesised when its precedence is below `min`.
fn expr(e: &Expr, min: u8) -> String {
    let s = match e {
        Expr::Ident(n) => n.clone(),
        Expr::Int(i) => i.to_string(),
        Expr::Const { signed, bits } => constant(*signed, bits),
        Expr::Unary(op, a) => format!("{}{}", un_text(*op), expr(a, PREC_ATOM)),
        Expr::Binary(op, a, b) => {
            let p = bin_prec(*op);
            format!("{} {} {}", expr(a, p), bin_text(*op), expr(b, p + 1))
        }
        Expr::Index(b, i) => format!("{}[{}]", expr(b, PREC_ATOM), expr(i, 0)),
        Expr::Slice { base, msb, lsb } => format!("{}[{msb}:{lsb}]", expr(base, PREC_ATOM)),
        Expr::PartSelect { base, start, width } => {
            format!("{}[{} +: {width}]", expr(base, PREC_ATOM), expr(start, 0))
        }
        Expr::Concat(es) => {
            format!("{{{}}}", es.iter().map(|x| expr(x, 0)).collect::<Vec<_>>().join(", "))
        }
        Expr::Replicate(n, x) => format!("{{{n}{{{}}}}}", expr(x, 0)),
        Expr::Ternary(c, a, b) => {
            format!(
                "{} ? {} : {}",
                expr(c, PREC_TERNARY + 1),
                expr(a, PREC_TERNARY + 1),
                expr(b, PREC_TERNARY)
            )
        }
        Expr::Signed(x) => format!("$signed({})", expr(x, 0)),
        Expr::Unsigned(x) => format!("$unsigned({})", expr(x, 0)),
    };
    if prec(e) < min {
        format!("({s})")
    } else {
        s
    }
}

fn constant(signed: bool, bits: &super::bits::Bits) -> String {
    let w = bits.width();
    if w == 1 && !signed {
        return format!("1'b{}", u8::from(bits.bit(0)));
    }
    let s = if signed { "s" } else { "" };
    if w <= 64 {
        if let Some(v) = bits.to_int(signed) {
            let min_signed = signed && v == -(1i128 << (w - 1));
            if v >= 0 {
                return format!("{w}'{s}d{v}");
            } else if !min_signed {
                return format!("-{w}'{s}d{}", -v);
            }
        }
    }
    // Leading zero digits add nothing to a sized literal (it is zero-extended to its width).
    let hex = bits.to_hex();
    let digits = hex.trim_start_matches('0');
    format!("{w}'{s}h{}", if digits.is_empty() { "0" } else { digits })
}
