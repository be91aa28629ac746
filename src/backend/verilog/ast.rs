//! A small Verilog-2005 AST: just what our lowerings emit, so they build data, not strings.
//!
//! Lowerings construct a [`Module`] with the helper constructors below; [`super::printer`]
//! turns it into text. Nothing here knows about the IR.

use super::bits::{Bits, BitsError};

/// A Verilog module.
#[derive(Clone, Debug, PartialEq)]
pub struct Module {
    pub name: String,
    pub params: Vec<Param>,
    pub ports: Vec<Port>,
    pub items: Vec<Item>,
}

/// `parameter NAME = value`.
#[derive(Clone, Debug, PartialEq)]
pub struct Param {
    pub name: String,
    pub value: Expr,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Dir {
    Input,
    Output,
}

/// A vector width: a number of bits, or an expression (`[W-1:0]` for a parameter `W`).
#[derive(Clone, Debug, PartialEq)]
pub enum Width {
    Bits(u32),
    Expr(Expr),
}

/// An ANSI-style port; `reg` makes it `output reg`.
#[derive(Clone, Debug, PartialEq)]
pub struct Port {
    pub dir: Dir,
    pub reg: bool,
    pub signed: bool,
    pub width: Width,
    pub name: String,
}

/// What a declaration declares.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NetKind {
    Wire,
    Reg,
    /// `integer` (loop variables).
    Integer,
}

/// `wire signed [7:0] name [0:depth-1];`
#[derive(Clone, Debug, PartialEq)]
pub struct Decl {
    pub kind: NetKind,
    pub signed: bool,
    pub width: Width,
    pub name: String,
    /// Memory depth: `Some(d)` declares `name [0:d-1]`.
    pub depth: Option<u32>,
}

/// Module-level items.
#[derive(Clone, Debug, PartialEq)]
pub enum Item {
    /// `// text` (one line per `\n`).
    Comment(String),
    /// An empty line, to group items.
    Blank,
    Decl(Decl),
    LocalParam {
        name: String,
        value: Expr,
    },
    /// `assign lhs = rhs;`
    Assign {
        lhs: Expr,
        rhs: Expr,
    },
    /// `always @(posedge clock) begin ... end`
    AlwaysFF {
        clock: String,
        body: Vec<Stmt>,
    },
    /// `always @* begin ... end`
    AlwaysComb(Vec<Stmt>),
    /// `module #(.P(v)) name (.port(expr), ...);`
    Instance {
        module: String,
        name: String,
        params: Vec<(String, Expr)>,
        conns: Vec<(String, Expr)>,
    },
    /// `initial $readmemh("file", mem);` — a ROM initialised from a hex file beside the design.
    MemInit {
        file: String,
        mem: String,
    },
}

/// Procedural statements.
#[derive(Clone, Debug, PartialEq)]
pub enum Stmt {
    /// `lhs <= rhs;`
    NonBlocking {
        lhs: Expr,
        rhs: Expr,
    },
    /// `lhs = rhs;`
    Blocking {
        lhs: Expr,
        rhs: Expr,
    },
    /// `if (cond) begin ... end else begin ... end` (no `else` when `els` is empty).
    If {
        cond: Expr,
        then: Vec<Stmt>,
        els: Vec<Stmt>,
    },
    Case {
        expr: Expr,
        arms: Vec<CaseArm>,
        default: Option<Vec<Stmt>>,
    },
    /// `for (var = init; cond; var = step) begin ... end`
    For {
        var: String,
        init: Expr,
        cond: Expr,
        step: Expr,
        body: Vec<Stmt>,
    },
    Comment(String),
}

/// `label, label: begin ... end`
#[derive(Clone, Debug, PartialEq)]
pub struct CaseArm {
    pub labels: Vec<Expr>,
    pub body: Vec<Stmt>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UnOp {
    /// `~`
    Not,
    /// `!`
    LogicNot,
    /// `-`
    Neg,
    /// `&` reduction
    RedAnd,
    /// `|` reduction
    RedOr,
    /// `^` reduction
    RedXor,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BinOp {
    Add,
    Sub,
    Mul,
    /// `/` (integer division; by constants in the generated designs)
    Div,
    /// `%`
    Mod,
    And,
    Or,
    Xor,
    Xnor,
    Shl,
    /// `>>` (logical)
    Shr,
    /// `>>>` (arithmetic on signed operands)
    AShr,
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
    LogicAnd,
    LogicOr,
}

/// Expressions.
#[derive(Clone, Debug, PartialEq)]
pub enum Expr {
    Ident(String),
    /// A sized literal (`8'sh80`, `1'b1`) of any width.
    Const {
        signed: bool,
        bits: Bits,
    },
    /// An unsized decimal (`3`), for indices, parameters and loop bounds.
    Int(i64),
    Unary(UnOp, Box<Expr>),
    Binary(BinOp, Box<Expr>, Box<Expr>),
    /// `base[index]`
    Index(Box<Expr>, Box<Expr>),
    /// `base[msb:lsb]`
    Slice {
        base: Box<Expr>,
        msb: u32,
        lsb: u32,
    },
    /// `base[start +: width]`: an indexed part-select whose start may be any expression.
    PartSelect {
        base: Box<Expr>,
        start: Box<Expr>,
        width: u32,
    },
    /// `{a, b, c}` (first element is most significant)
    Concat(Vec<Expr>),
    /// `{n{e}}`
    Replicate(u32, Box<Expr>),
    /// `c ? a : b`
    Ternary(Box<Expr>, Box<Expr>, Box<Expr>),
    /// `$signed(e)`
    Signed(Box<Expr>),
    /// `$unsigned(e)`
    Unsigned(Box<Expr>),
}

/// `name`
pub fn ident(name: impl Into<String>) -> Expr {
    Expr::Ident(name.into())
}

impl Expr {
    /// A sized literal holding `value` in `width` bits; fails when it does not fit.
    pub fn constant(value: i128, width: u32, signed: bool) -> Result<Expr, BitsError> {
        Ok(Expr::Const { signed, bits: Bits::from_int(value, width, signed)? })
    }
    /// `1'b0` / `1'b1`.
    pub fn bit(v: bool) -> Expr {
        Expr::Const {
            signed: false,
            bits: Bits::from_int(i128::from(v), 1, false).unwrap_or_else(|_| Bits::zero(1)),
        }
    }
    pub fn bin(op: BinOp, a: Expr, b: Expr) -> Expr {
        Expr::Binary(op, Box::new(a), Box::new(b))
    }
    pub fn un(op: UnOp, a: Expr) -> Expr {
        Expr::Unary(op, Box::new(a))
    }
    pub fn index(self, i: Expr) -> Expr {
        Expr::Index(Box::new(self), Box::new(i))
    }
    pub fn slice(self, msb: u32, lsb: u32) -> Expr {
        Expr::Slice { base: Box::new(self), msb, lsb }
    }
    /// `self[start +: width]`.
    pub fn part(self, start: Expr, width: u32) -> Expr {
        Expr::PartSelect { base: Box::new(self), start: Box::new(start), width }
    }
    pub fn ternary(cond: Expr, a: Expr, b: Expr) -> Expr {
        Expr::Ternary(Box::new(cond), Box::new(a), Box::new(b))
    }
    pub fn signed(self) -> Expr {
        Expr::Signed(Box::new(self))
    }
    pub fn unsigned(self) -> Expr {
        Expr::Unsigned(Box::new(self))
    }
    pub fn replicate(n: u32, e: Expr) -> Expr {
        Expr::Replicate(n, Box::new(e))
    }

    /// Calls `f` on every identifier the expression reads.
    pub fn visit_idents(&self, f: &mut impl FnMut(&str)) {
        match self {
            Expr::Ident(n) => f(n),
            Expr::Const { .. } | Expr::Int(_) => {}
            Expr::Unary(_, a)
            | Expr::Replicate(_, a)
            | Expr::Signed(a)
            | Expr::Unsigned(a)
            | Expr::Slice { base: a, .. } => a.visit_idents(f),
            Expr::Binary(_, a, b)
            | Expr::Index(a, b)
            | Expr::PartSelect { base: a, start: b, .. } => {
                a.visit_idents(f);
                b.visit_idents(f);
            }
            Expr::Concat(es) => es.iter().for_each(|e| e.visit_idents(f)),
            Expr::Ternary(c, a, b) => {
                c.visit_idents(f);
                a.visit_idents(f);
                b.visit_idents(f);
            }
        }
    }
}

impl Stmt {
    /// Calls `f` on every identifier the statement reads (right-hand sides, conditions,
    /// case selectors, indices on the left-hand side).
    pub fn visit_reads(&self, f: &mut impl FnMut(&str)) {
        let lhs_reads = |lhs: &Expr, f: &mut dyn FnMut(&str)| {
            let mut g = |n: &str| f(n);
            match lhs {
                Expr::Index(_, i) | Expr::PartSelect { start: i, .. } => i.visit_idents(&mut g),
                Expr::Ident(_) | Expr::Slice { .. } => {}
                other => other.visit_idents(&mut g),
            }
        };
        match self {
            Stmt::NonBlocking { lhs, rhs } | Stmt::Blocking { lhs, rhs } => {
                lhs_reads(lhs, f);
                rhs.visit_idents(f);
            }
            Stmt::If { cond, then, els } => {
                cond.visit_idents(f);
                then.iter().chain(els).for_each(|s| s.visit_reads(f));
            }
            Stmt::Case { expr, arms, default } => {
                expr.visit_idents(f);
                for arm in arms {
                    arm.labels.iter().for_each(|l| l.visit_idents(f));
                    arm.body.iter().for_each(|s| s.visit_reads(f));
                }
                default.iter().flatten().for_each(|s| s.visit_reads(f));
            }
            Stmt::For { init, cond, step, body, .. } => {
                init.visit_idents(f);
                cond.visit_idents(f);
                step.visit_idents(f);
                body.iter().for_each(|s| s.visit_reads(f));
            }
            Stmt::Comment(_) => {}
        }
    }
}

impl Item {
    /// Calls `f` on every identifier the item reads.
    pub fn visit_reads(&self, f: &mut impl FnMut(&str)) {
        match self {
            Item::Assign { lhs, rhs } => {
                if let Expr::Index(_, i) | Expr::PartSelect { start: i, .. } = lhs {
                    i.visit_idents(f);
                }
                rhs.visit_idents(f);
            }
            Item::AlwaysFF { clock, body } => {
                f(clock);
                body.iter().for_each(|s| s.visit_reads(f));
            }
            Item::AlwaysComb(body) => body.iter().for_each(|s| s.visit_reads(f)),
            Item::Instance { params, conns, .. } => {
                params.iter().chain(conns).for_each(|(_, e)| e.visit_idents(f));
            }
            Item::LocalParam { value, .. } => value.visit_idents(f),
            Item::Comment(_) | Item::Blank | Item::Decl(_) | Item::MemInit { .. } => {}
        }
    }
}

impl Decl {
    /// `wire [width-1:0] name;` (`signed` when asked).
    pub fn wire(name: impl Into<String>, width: u32, signed: bool) -> Decl {
        Decl {
            kind: NetKind::Wire,
            signed,
            width: Width::Bits(width),
            name: name.into(),
            depth: None,
        }
    }
    /// `reg [width-1:0] name;`
    pub fn reg(name: impl Into<String>, width: u32, signed: bool) -> Decl {
        Decl {
            kind: NetKind::Reg,
            signed,
            width: Width::Bits(width),
            name: name.into(),
            depth: None,
        }
    }
    /// `reg [width-1:0] name [0:depth-1];`
    pub fn memory(name: impl Into<String>, width: u32, depth: u32) -> Decl {
        Decl {
            kind: NetKind::Reg,
            signed: false,
            width: Width::Bits(width),
            name: name.into(),
            depth: Some(depth),
        }
    }
}

impl Port {
    pub fn input(name: impl Into<String>, width: u32) -> Port {
        Port {
            dir: Dir::Input,
            reg: false,
            signed: false,
            width: Width::Bits(width),
            name: name.into(),
        }
    }
    pub fn output(name: impl Into<String>, width: u32) -> Port {
        Port {
            dir: Dir::Output,
            reg: false,
            signed: false,
            width: Width::Bits(width),
            name: name.into(),
        }
    }
}

impl Item {
    pub fn assign(lhs: Expr, rhs: Expr) -> Item {
        Item::Assign { lhs, rhs }
    }
    pub fn comment(text: impl Into<String>) -> Item {
        Item::Comment(text.into())
    }
}
