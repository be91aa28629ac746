//! The `.tess` syntax tree, as the parser builds it. Every node has a [`Span`].
//!
//! The tree is a faithful record of what was written; names are resolved, types checked and
//! values computed later (`check`, `eval`, `elaborate`). `Error` variants stand where the
//! parser recovered from a syntax error, so later stages skip them silently.

use crate::diagnostics::Span;

/// Deepest expression or type tree the parser builds; deeper input becomes an `Error` node
/// with one E0016 diagnostic. Bracket depth is limited separately, before parsing.
pub const MAX_EXPR_DEPTH: u32 = 200;

#[derive(Clone, Debug, PartialEq)]
pub struct Ident {
    pub name: String,
    pub span: Span,
}

#[derive(Clone, Debug, PartialEq)]
pub struct File {
    pub items: Vec<Item>,
}

#[derive(Clone, Debug, PartialEq)]
pub enum Item {
    Use(UseItem),
    Import(ImportItem),
    Const(ConstItem),
    Component(Component),
    Accelerator(AcceleratorDef),
    Error,
}

/// `use tech;` (one segment: a module) or `use cam::acam_6t2m;` (two: one item).
#[derive(Clone, Debug, PartialEq)]
pub struct UseItem {
    pub path: Vec<Ident>,
    pub span: Span,
}

/// `import "common.tess";`
#[derive(Clone, Debug, PartialEq)]
pub struct ImportItem {
    pub path: String,
    pub path_span: Span,
    pub span: Span,
}

/// `const x: voltage = 0.8 V;`
#[derive(Clone, Debug, PartialEq)]
pub struct ConstItem {
    pub name: Ident,
    pub ty: Option<TypeExpr>,
    pub value: Expr,
    pub span: Span,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Component {
    pub name: Ident,
    pub members: Vec<Member>,
    pub span: Span,
}

#[derive(Clone, Debug, PartialEq)]
pub enum Member {
    Param(Box<Param>),
    Let(Let),
    Require(Require),
    Error,
}

/// `param rows: int in 1..=4096 = 24;`
#[derive(Clone, Debug, PartialEq)]
pub struct Param {
    pub name: Ident,
    pub ty: Option<TypeExpr>,
    pub range: Option<RangeExpr>,
    pub default: Option<Expr>,
    pub span: Span,
}

/// `lo..=hi`, `lo..hi`, `lo..`, `..=hi`, `..hi`.
#[derive(Clone, Debug, PartialEq)]
pub struct RangeExpr {
    pub lo: Option<Expr>,
    pub hi: Option<Expr>,
    pub inclusive: bool,
    pub span: Span,
}

/// `let e_row = c_ml * cols * v_ml * v_ml;`
#[derive(Clone, Debug, PartialEq)]
pub struct Let {
    pub name: Ident,
    pub value: Expr,
    pub span: Span,
}

/// `require levels <= 256, "message";`
#[derive(Clone, Debug, PartialEq)]
pub struct Require {
    pub cond: Expr,
    pub message: Option<String>,
    pub span: Span,
}

#[derive(Clone, Debug, PartialEq)]
pub struct AcceleratorDef {
    pub name: Ident,
    pub stmts: Vec<Stmt>,
    pub span: Span,
}

#[derive(Clone, Debug, PartialEq)]
pub enum Stmt {
    /// `clock = 1 GHz;`
    Setting {
        name: Ident,
        value: Expr,
        span: Span,
    },
    Inst(InstStmt),
    Model(ModelStmt),
    Map(MapStmt),
    Let(Let),
    Require(Require),
    Error,
}

/// `inst cam = acam_6t2m(rows = 24);`
#[derive(Clone, Debug, PartialEq)]
pub struct InstStmt {
    pub name: Ident,
    pub component: Path,
    pub args: Vec<Arg>,
    /// From the component name to the closing parenthesis.
    pub call_span: Span,
    pub span: Span,
}

/// `model m = xgboost("model.json");`
#[derive(Clone, Debug, PartialEq)]
pub struct ModelStmt {
    pub name: Ident,
    pub format: Ident,
    pub args: Vec<Arg>,
    pub span: Span,
}

/// `map m -> cam using cam_pack(tile = 24x48);`
#[derive(Clone, Debug, PartialEq)]
pub struct MapStmt {
    pub model: Ident,
    pub target: Ident,
    pub pass: Ident,
    pub args: Vec<Arg>,
    pub span: Span,
}

/// A call argument, named (`rows = 24`) or positional.
#[derive(Clone, Debug, PartialEq)]
pub struct Arg {
    pub name: Option<Ident>,
    pub value: Expr,
    pub span: Span,
}

/// `name` or `module::name`.
#[derive(Clone, Debug, PartialEq)]
pub struct Path {
    pub segments: Vec<Ident>,
    pub span: Span,
}

impl Path {
    pub fn text(&self) -> String {
        self.segments.iter().map(|s| s.name.as_str()).collect::<Vec<_>>().join("::")
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UnOp {
    Neg,
    Not,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BinOp {
    Add,
    Sub,
    Mul,
    Div,
    Lt,
    Le,
    Gt,
    Ge,
    Eq,
    Ne,
    And,
    Or,
}

impl BinOp {
    pub fn symbol(self) -> &'static str {
        match self {
            BinOp::Add => "+",
            BinOp::Sub => "-",
            BinOp::Mul => "*",
            BinOp::Div => "/",
            BinOp::Lt => "<",
            BinOp::Le => "<=",
            BinOp::Gt => ">",
            BinOp::Ge => ">=",
            BinOp::Eq => "==",
            BinOp::Ne => "!=",
            BinOp::And => "&&",
            BinOp::Or => "||",
        }
    }
    pub fn is_comparison(self) -> bool {
        matches!(self, BinOp::Lt | BinOp::Le | BinOp::Gt | BinOp::Ge | BinOp::Eq | BinOp::Ne)
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct Expr {
    pub kind: ExprKind,
    pub span: Span,
    /// Height of this tree (a leaf is 1), kept to bound recursion in later stages.
    pub depth: u32,
}

#[derive(Clone, Debug, PartialEq)]
pub enum ExprKind {
    /// A number as written, with an optional unit symbol (`0.9 fJ`).
    Num {
        text: String,
        unit: Option<Ident>,
    },
    Str(String),
    Bool(bool),
    /// `24x48` as written.
    Dims(String),
    Path(Path),
    Call {
        callee: Path,
        args: Vec<Arg>,
    },
    /// `inst.param`
    Member {
        base: Box<Expr>,
        field: Ident,
    },
    Unary {
        op: UnOp,
        operand: Box<Expr>,
    },
    Binary {
        op: BinOp,
        lhs: Box<Expr>,
        rhs: Box<Expr>,
    },
    /// Stands for a subtree dropped because it was too deep (already reported).
    Error,
}

impl Expr {
    pub fn leaf(kind: ExprKind, span: Span) -> Expr {
        Expr { kind, span, depth: 1 }
    }
    pub fn is_error(&self) -> bool {
        matches!(self.kind, ExprKind::Error)
    }
}

/// A type: `int`, `energy`, `current / voltage / voltage`, `length^2`.
#[derive(Clone, Debug, PartialEq)]
pub struct TypeExpr {
    pub kind: TypeKind,
    pub span: Span,
    pub depth: u32,
}

#[derive(Clone, Debug, PartialEq)]
pub enum TypeKind {
    Name(Ident),
    Mul(Box<TypeExpr>, Box<TypeExpr>),
    Div(Box<TypeExpr>, Box<TypeExpr>),
    Pow(Box<TypeExpr>, i32),
    Error,
}
