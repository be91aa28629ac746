//! The Verilog AST printer: a module using every construct, snapshot-tested, and accepted by
//! iverilog, verilator and yosys; precedence-sensitive expressions print with exactly the
//! parentheses they need.

use std::process::Command;
use tessera::backend::verilog::ast::*;
use tessera::backend::verilog::harness::{self, Simulator};
use tessera::backend::verilog::printer::print_expr;
use tessera::backend::verilog::{print_modules, Bits};

fn id(s: &str) -> Expr {
    ident(s)
}

fn c(v: i128, w: u32, signed: bool) -> Expr {
    Expr::constant(v, w, signed).unwrap()
}

/// A leaf module instantiated by the kitchen-sink module.
fn leaf() -> Module {
    Module {
        name: "leaf".into(),
        params: vec![Param { name: "W".into(), value: Expr::Int(4) }],
        ports: vec![
            Port {
                dir: Dir::Input,
                reg: false,
                signed: false,
                width: Width::Expr(id("W")),
                name: "a".into(),
            },
            Port {
                dir: Dir::Output,
                reg: false,
                signed: false,
                width: Width::Expr(id("W")),
                name: "y".into(),
            },
        ],
        items: vec![Item::assign(id("y"), Expr::un(UnOp::Not, id("a")))],
    }
}

fn kitchen_sink() -> Module {
    let wide =
        Expr::Const { signed: false, bits: Bits::from_int((1i128 << 70) + 5, 72, false).unwrap() };
    Module {
        name: "sink".into(),
        params: vec![],
        ports: vec![
            Port::input("clk", 1),
            Port::input("rst", 1),
            Port {
                dir: Dir::Input,
                reg: false,
                signed: true,
                width: Width::Bits(8),
                name: "a".into(),
            },
            Port::input("b", 8),
            Port::input("sel", 2),
            Port {
                dir: Dir::Output,
                reg: true,
                signed: false,
                width: Width::Bits(8),
                name: "q".into(),
            },
            Port::output("y", 72),
            Port::output("flags", 4),
        ],
        items: vec![
            Item::comment("Every construct the AST has.\nSecond comment line."),
            Item::LocalParam { name: "DEPTH".into(), value: Expr::Int(4) },
            Item::Decl(Decl::wire("s", 9, true)),
            Item::Decl(Decl::reg("acc", 8, false)),
            Item::Decl(Decl::memory("rom", 8, 4)),
            Item::Decl(Decl {
                kind: NetKind::Integer,
                signed: false,
                width: Width::Bits(32),
                name: "i".into(),
                depth: None,
            }),
            Item::MemInit { file: "rom.hex".into(), mem: "rom".into() },
            Item::Blank,
            // (a - (b - 1)) needs parentheses on the right, a * b + 1 needs none.
            Item::assign(
                id("s"),
                Expr::bin(
                    BinOp::Sub,
                    Expr::Concat(vec![id("a").index(Expr::Int(7)), id("a")]).signed(),
                    Expr::bin(
                        BinOp::Sub,
                        Expr::Concat(vec![c(0, 1, false), id("b")]).signed(),
                        c(-3, 9, true),
                    ),
                ),
            ),
            Item::assign(
                id("y"),
                Expr::bin(BinOp::Or, wide, Expr::Concat(vec![c(0, 64, false), id("b")])),
            ),
            Item::assign(
                id("flags"),
                Expr::Concat(vec![
                    Expr::un(UnOp::RedXor, id("b")),
                    Expr::bin(
                        BinOp::LogicAnd,
                        Expr::un(UnOp::RedAnd, id("b")),
                        Expr::un(UnOp::LogicNot, id("rst")),
                    ),
                    Expr::bin(BinOp::Ge, id("a"), c(-128, 8, true)),
                    Expr::un(
                        UnOp::RedOr,
                        Expr::bin(BinOp::Xnor, id("b"), Expr::replicate(8, id("rst"))),
                    ),
                ]),
            ),
            Item::AlwaysComb(vec![
                Stmt::Blocking { lhs: id("acc"), rhs: c(0, 8, false) },
                Stmt::For {
                    var: "i".into(),
                    init: Expr::Int(0),
                    cond: Expr::bin(BinOp::Lt, id("i"), id("DEPTH")),
                    step: Expr::bin(BinOp::Add, id("i"), Expr::Int(1)),
                    body: vec![Stmt::Blocking {
                        lhs: id("acc"),
                        rhs: Expr::bin(BinOp::Xor, id("acc"), id("rom").index(id("i"))),
                    }],
                },
            ]),
            Item::AlwaysFF {
                clock: "clk".into(),
                body: vec![
                    Stmt::Comment("Reset, then a case on sel.".into()),
                    Stmt::If {
                        cond: id("rst"),
                        then: vec![Stmt::NonBlocking { lhs: id("q"), rhs: c(0, 8, false) }],
                        els: vec![Stmt::If {
                            cond: Expr::bin(BinOp::Eq, id("sel"), c(3, 2, false)),
                            then: vec![Stmt::NonBlocking { lhs: id("q"), rhs: id("acc") }],
                            els: vec![Stmt::Case {
                                expr: id("sel"),
                                arms: vec![
                                    CaseArm {
                                        labels: vec![c(0, 2, false)],
                                        body: vec![Stmt::NonBlocking {
                                            lhs: id("q"),
                                            rhs: Expr::bin(BinOp::Shl, id("b"), Expr::Int(1)),
                                        }],
                                    },
                                    CaseArm {
                                        labels: vec![c(1, 2, false), c(2, 2, false)],
                                        body: vec![Stmt::NonBlocking {
                                            lhs: id("q"),
                                            rhs: Expr::ternary(
                                                Expr::bin(BinOp::Gt, id("a"), c(0, 8, true)),
                                                Expr::bin(BinOp::AShr, id("a"), Expr::Int(2))
                                                    .unsigned(),
                                                Expr::ternary(
                                                    id("rst"),
                                                    id("b"),
                                                    id("s").slice(7, 0),
                                                ),
                                            ),
                                        }],
                                    },
                                ],
                                default: Some(vec![Stmt::NonBlocking {
                                    lhs: id("q"),
                                    rhs: id("q"),
                                }]),
                            }],
                        }],
                    },
                ],
            },
            Item::Decl(Decl::wire("inv", 8, false)),
            Item::Instance {
                module: "leaf".into(),
                name: "u_leaf".into(),
                params: vec![("W".into(), Expr::Int(8))],
                conns: vec![("a".into(), id("b")), ("y".into(), id("inv"))],
            },
        ],
    }
}

#[test]
fn printer_snapshot() {
    insta::assert_snapshot!(print_modules(&[leaf(), kitchen_sink()]));
}

#[test]
fn precedence_parentheses() {
    let (a, b, c2) = (id("a"), id("b"), id("c"));
    let cases = [
        (
            Expr::bin(BinOp::Mul, Expr::bin(BinOp::Add, a.clone(), b.clone()), c2.clone()),
            "(a + b) * c",
        ),
        (
            Expr::bin(BinOp::Add, Expr::bin(BinOp::Mul, a.clone(), b.clone()), c2.clone()),
            "a * b + c",
        ),
        (
            Expr::bin(BinOp::Sub, a.clone(), Expr::bin(BinOp::Sub, b.clone(), c2.clone())),
            "a - (b - c)",
        ),
        (
            Expr::bin(BinOp::Sub, Expr::bin(BinOp::Sub, a.clone(), b.clone()), c2.clone()),
            "a - b - c",
        ),
        (Expr::un(UnOp::Neg, Expr::un(UnOp::Neg, a.clone())), "-(-a)"),
        (Expr::un(UnOp::Not, Expr::bin(BinOp::And, a.clone(), b.clone())), "~(a & b)"),
        (
            Expr::ternary(
                Expr::ternary(a.clone(), b.clone(), c2.clone()),
                b.clone(),
                Expr::ternary(a.clone(), b.clone(), c2.clone()),
            ),
            "(a ? b : c) ? b : a ? b : c",
        ),
        (
            Expr::bin(BinOp::Add, Expr::ternary(a.clone(), b.clone(), c2.clone()), a.clone()),
            "(a ? b : c) + a",
        ),
        (Expr::bin(BinOp::Mul, c(-3, 8, true), a.clone()), "-8'sd3 * a"),
        (Expr::un(UnOp::Neg, c(-3, 8, true)), "-(-8'sd3)"),
        (c(-128, 8, true), "8'sh80"),
        (c(255, 8, false), "8'd255"),
        (c(1, 1, false), "1'b1"),
        (c(-1, 1, true), "1'sh1"),
    ];
    for (e, want) in cases {
        assert_eq!(print_expr(&e), want);
    }
}

/// The printed kitchen sink is legal Verilog for all three tools.
#[test]
fn tools_accept_the_printed_module() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("sink.v");
    std::fs::write(&path, print_modules(&[leaf(), kitchen_sink()])).unwrap();
    std::fs::write(dir.path().join("rom.hex"), "01\n02\n04\n08\n").unwrap();
    let run = |cmd: &mut Command| {
        let o = cmd.current_dir(dir.path()).output().unwrap();
        let text =
            format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr));
        assert!(o.status.success(), "{cmd:?}:\n{text}");
        text
    };
    if harness::require(Simulator::Iverilog) {
        run(Command::new("iverilog")
            .args(["-g2012", "-Wall", "-o", "sink.vvp", "-s", "sink", "sink.v"]));
    }
    if harness::require(Simulator::Verilator) {
        run(Command::new("verilator").args(["--lint-only", "--top-module", "sink", "sink.v"]));
    }
    if harness::require_yosys() {
        run(Command::new("yosys").args(["-q", "-p", "read_verilog sink.v; synth -top sink"]));
    }
}
