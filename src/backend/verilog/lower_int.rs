//! Lowering of an integer hardware graph to a streaming Verilog module.
//!
//! Accepted graphs: one `input` and one `output`, both with `Int` formats; in between any of
//! `const` (integer), `int_matvec`, `int_add`, `int_relu`, `requantize`, `argmax`, `identity`,
//! `reshape`, `flatten`. Nodes that reach no output are ignored.
//!
//! The datapath is combinational, one wire per tensor element (`n<N>_<i>` for node `%N`), and
//! its result is registered once: `in_ready = !rst`, and an input accepted on one edge has its
//! result on `out_data` with `out_valid` high after that edge (latency 1, one result per
//! cycle). Arithmetic follows [`crate::ir::interp`] exactly:
//!
//! - every sum and product is computed at a signed width that holds the op's exact result
//!   range (the IR type rules size results for this), so modular Verilog arithmetic is exact;
//! - `requantize` computes the full product, an arithmetic right shift, the remainder's
//!   comparison with one half (round half to even) and a two-sided clamp;
//! - `argmax` is a chain of strict `>` comparisons, so ties keep the lowest index.

use super::ast::{BinOp, Decl, Expr, Item, Module, Stmt, UnOp};
use super::build::id as ident;
use super::interface::{stream_ports, CLK, IN_DATA, IN_READY, IN_VALID, OUT_DATA, OUT_VALID, RST};
use crate::ir::printer::{print_node, Numbering};
use crate::ir::{Graph, NodeId, NumFormat, Op, TensorType};
use std::collections::HashMap;
use thiserror::Error;

/// Options for [`lower_int_graph`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LowerConfig {
    /// Name of the generated top module.
    pub top: String,
}

/// The lowered design and what a testbench needs to know about it.
#[derive(Clone, Debug, PartialEq)]
pub struct LoweredDesign {
    pub module: Module,
    /// Type of the (single) graph input, packed into `in_data`.
    pub input: TensorType,
    /// Type of the (single) graph output, packed into `out_data`.
    pub output: TensorType,
    pub in_width: u32,
    pub out_width: u32,
    /// Cycles from the accepting edge to the edge after which `out_valid` is high.
    pub latency: u32,
}

/// Why a graph cannot be lowered; names the node by its printed label.
#[derive(Debug, Error, PartialEq)]
pub enum LowerError {
    #[error("{node} ({op}): {message}")]
    Node { node: String, op: String, message: String },
    #[error("{0}")]
    Graph(String),
}

/// One tensor element during lowering: a wire, or a constant folded at compile time.
#[derive(Clone, Debug)]
enum Elem {
    Wire { name: String, fmt: NumFormat },
    Const { value: i128, fmt: NumFormat },
}

impl Elem {
    fn fmt(&self) -> NumFormat {
        match self {
            Elem::Wire { fmt, .. } | Elem::Const { fmt, .. } => *fmt,
        }
    }
}

/// Bits a signed number needs to hold every value of `fmt`.
fn swidth(fmt: NumFormat) -> u32 {
    fmt.bits() + u32::from(!fmt.is_signed())
}

fn int_bits(fmt: NumFormat) -> Result<u32, String> {
    if fmt.is_int() {
        Ok(fmt.bits())
    } else {
        Err(format!("the Verilog lowering handles integer formats only, got {fmt}"))
    }
}

/// Lowers `g` to a module named `cfg.top` with the streaming interface.
pub fn lower_int_graph(g: &Graph, cfg: &LowerConfig) -> Result<LoweredDesign, LowerError> {
    crate::ir::verify(g).map_err(|es| {
        LowerError::Graph(format!(
            "the graph is invalid:\n{}",
            es.iter().map(|e| format!("  {e}")).collect::<Vec<_>>().join("\n")
        ))
    })?;
    let (&[input], &[output]) = (g.inputs(), g.outputs()) else {
        return Err(LowerError::Graph(format!(
            "the integer lowering needs exactly one input and one output, the graph has {} and {}",
            g.inputs().len(),
            g.outputs().len()
        )));
    };
    let (in_ty, out_ty) = (g.ty(input).clone(), g.ty(output).clone());
    let mut cx = Lowering { g, num: Numbering::new(g), items: Vec::new(), elems: HashMap::new() };
    let live = g.live_nodes();
    for id in g.topo_order() {
        if !live.contains(&id) && id != input {
            continue;
        }
        cx.items.push(Item::comment(print_node(g, &cx.num, id)));
        cx.node(id).map_err(|message| LowerError::Node {
            node: cx.num.label(id),
            op: g.op(id).mnemonic().to_string(),
            message,
        })?;
    }
    let bad_width = |what: &str, t: &TensorType| {
        LowerError::Graph(format!(
            "{what} {t} needs {} bits, more than a port can have",
            t.total_bits()
        ))
    };
    let in_width = u32::try_from(in_ty.total_bits()).map_err(|_| bad_width("input", &in_ty))?;
    let out_width = u32::try_from(out_ty.total_bits()).map_err(|_| bad_width("output", &out_ty))?;
    let out_fmt = out_ty.format;
    let result: Vec<Expr> = cx.elems[&output]
        .iter()
        .rev()
        .map(|e| raw(e, out_fmt))
        .collect::<Result<_, _>>()
        .map_err(LowerError::Graph)?;

    let mut items =
        vec![Item::assign(ident(IN_READY), Expr::un(UnOp::LogicNot, ident(RST))), Item::Blank];
    items.append(&mut cx.items);
    items.extend([
        Item::Blank,
        Item::comment("Result register: one result per accepted input, latency 1."),
        Item::Decl(Decl::wire("result", out_width, false)),
        Item::assign(
            ident("result"),
            if result.len() == 1 { result[0].clone() } else { Expr::Concat(result) },
        ),
        Item::Decl(Decl::reg("out_valid_r", 1, false)),
        Item::Decl(Decl::reg("out_data_r", out_width, false)),
        Item::AlwaysFF {
            clock: CLK.into(),
            body: vec![
                Stmt::If {
                    cond: ident(RST),
                    then: vec![Stmt::NonBlocking {
                        lhs: ident("out_valid_r"),
                        rhs: Expr::bit(false),
                    }],
                    els: vec![Stmt::NonBlocking {
                        lhs: ident("out_valid_r"),
                        rhs: ident(IN_VALID),
                    }],
                },
                Stmt::If {
                    cond: Expr::bin(
                        BinOp::LogicAnd,
                        ident(IN_VALID),
                        Expr::un(UnOp::LogicNot, ident(RST)),
                    ),
                    then: vec![Stmt::NonBlocking {
                        lhs: ident("out_data_r"),
                        rhs: ident("result"),
                    }],
                    els: vec![],
                },
            ],
        },
        Item::assign(ident(OUT_VALID), ident("out_valid_r")),
        Item::assign(ident(OUT_DATA), ident("out_data_r")),
    ]);
    let module = Module {
        name: cfg.top.clone(),
        params: vec![],
        ports: stream_ports(in_width, out_width),
        items: waive_unread(items),
    };
    Ok(LoweredDesign { module, input: in_ty, output: out_ty, in_width, out_width, latency: 1 })
}

/// Wraps declarations of wires nothing reads (an input element whose weights are all zero, a
/// value multiplied away) in a lint waiver: they stay, so the RTL mirrors the IR node by node,
/// and `verilator -Wall` stays quiet.
fn waive_unread(items: Vec<Item>) -> Vec<Item> {
    let mut read = std::collections::HashSet::new();
    for item in &items {
        item.visit_reads(&mut |n: &str| {
            read.insert(n.to_string());
        });
    }
    let mut out = Vec::with_capacity(items.len());
    for item in items {
        match &item {
            Item::Decl(d) if !read.contains(&d.name) => {
                out.push(Item::comment("verilator lint_off UNUSEDSIGNAL"));
                out.push(item);
                out.push(Item::comment("verilator lint_on UNUSEDSIGNAL"));
            }
            _ => out.push(item),
        }
    }
    out
}

/// An element at its own format's width (for packing and selection), unsigned bit pattern for
/// constants.
fn raw(e: &Elem, fmt: NumFormat) -> Result<Expr, String> {
    match e {
        Elem::Wire { name, .. } => Ok(ident(name)),
        Elem::Const { value, .. } => Expr::constant(*value, fmt.bits(), fmt.is_signed()),
    }
}

/// The element as a signed expression of exactly `w` bits (`w >= swidth(fmt)`).
fn ext(e: &Elem, w: u32) -> Result<Expr, String> {
    match e {
        Elem::Const { value, .. } => Expr::constant(*value, w, true),
        Elem::Wire { name, fmt } => {
            let b = fmt.bits();
            let x = ident(name);
            if fmt.is_signed() {
                if w == b {
                    return Ok(x);
                }
                let sign =
                    if b == 1 { x.clone() } else { x.clone().index(Expr::Int(i64::from(b - 1))) };
                Ok(Expr::Concat(vec![Expr::replicate(w - b, sign), x]).signed())
            } else {
                let zeros = Expr::constant(0, w - b, false)?;
                Ok(Expr::Concat(vec![zeros, x]).signed())
            }
        }
    }
}

struct Lowering<'g> {
    g: &'g Graph,
    num: Numbering,
    items: Vec<Item>,
    elems: HashMap<NodeId, Vec<Elem>>,
}

impl Lowering<'_> {
    fn base(&self, id: NodeId) -> String {
        format!("n{}", self.num.label(id).trim_start_matches('%'))
    }

    /// Declares a wire of `fmt` and returns it as an element.
    fn wire(&mut self, name: String, fmt: NumFormat) -> Elem {
        self.items.push(Item::Decl(Decl::wire(name.clone(), fmt.bits(), fmt.is_signed())));
        Elem::Wire { name, fmt }
    }

    /// Declares a signed work wire of which only some bits are read, with the lint waiver
    /// saying so.
    fn partial_wire(&mut self, name: &str, width: u32) {
        self.items.push(Item::comment("verilator lint_off UNUSEDSIGNAL"));
        self.items.push(Item::Decl(Decl::wire(name, width, true)));
        self.items.push(Item::comment("verilator lint_on UNUSEDSIGNAL"));
    }

    /// Assigns a signed `w`-bit expression to a new element of format `fmt`, through a work wire
    /// when `fmt` is narrower or unsigned (the value fits `fmt`, so its low bits are exact).
    fn define(&mut self, name: String, fmt: NumFormat, e: Expr, w: u32) -> Elem {
        let out = self.wire(name.clone(), fmt);
        if fmt.is_signed() && fmt.bits() == w {
            self.items.push(Item::assign(ident(&name), e));
        } else {
            let work = format!("{name}_w");
            self.partial_wire(&work, w);
            self.items.push(Item::assign(ident(&work), e));
            self.items.push(Item::assign(ident(&name), ident(&work).slice(fmt.bits() - 1, 0)));
        }
        out
    }

    fn node(&mut self, id: NodeId) -> Result<(), String> {
        let g = self.g;
        let ty = g.ty(id).clone();
        let fmt = ty.format;
        let args: Vec<Vec<Elem>> = g.operands(id).iter().map(|o| self.elems[o].clone()).collect();
        let base = self.base(id);
        let elems = match g.op(id) {
            Op::Input { .. } => {
                let b = int_bits(fmt)?;
                (0..ty.numel() as u32)
                    .map(|i| {
                        let e = self.wire(format!("{base}_{i}"), fmt);
                        let src = ident(IN_DATA).slice((i + 1) * b - 1, i * b);
                        self.items.push(Item::assign(ident(&format!("{base}_{i}")), src));
                        e
                    })
                    .collect()
            }
            Op::Constant(t) => {
                int_bits(fmt)?;
                let vals = t.ints().ok_or("constant without integer data")?;
                vals.into_iter().map(|v| Elem::Const { value: i128::from(v), fmt }).collect()
            }
            Op::Identity | Op::Output { .. } | Op::Reshape { .. } | Op::Flatten { .. } => {
                args[0].clone()
            }
            Op::IntMatVec { weights } => {
                let x = &args[0];
                let w = weights.ints().ok_or("weights without integer data")?;
                let k = weights.shape[1];
                let wbits = w
                    .iter()
                    .map(|&v| NumFormat::int_for_range(i128::from(v), i128::from(v)).map(swidth))
                    .try_fold(1, |a, b| b.map(|b| a.max(b)))?;
                let xw = x.iter().map(|e| swidth(e.fmt())).max().unwrap_or(1);
                let width = swidth(fmt).max(xw).max(wbits);
                let mut out = Vec::with_capacity(ty.numel());
                for (m, row) in w.chunks(k.max(1)).enumerate() {
                    let mut acc: Option<Expr> = None;
                    for (wk, xe) in row.iter().zip(x) {
                        let term = match *wk {
                            0 => continue,
                            1 => ext(xe, width)?,
                            -1 => {
                                let xv = ext(xe, width)?;
                                acc = Some(match acc {
                                    Some(a) => Expr::bin(BinOp::Sub, a, xv),
                                    None => Expr::un(UnOp::Neg, xv),
                                });
                                continue;
                            }
                            c => Expr::bin(
                                BinOp::Mul,
                                Expr::constant(i128::from(c), width, true)?,
                                ext(xe, width)?,
                            ),
                        };
                        acc = Some(match acc {
                            Some(a) => Expr::bin(BinOp::Add, a, term),
                            None => term,
                        });
                    }
                    let e = match acc {
                        Some(e) => e,
                        None => Expr::constant(0, width, true)?,
                    };
                    out.push(self.define(format!("{base}_{m}"), fmt, e, width));
                }
                out
            }
            Op::IntAdd => {
                let mut out = Vec::new();
                for (i, (a, b)) in args[0].iter().zip(&args[1]).enumerate() {
                    if let (Elem::Const { value: p, .. }, Elem::Const { value: q, .. }) = (a, b) {
                        out.push(Elem::Const { value: p + q, fmt });
                        continue;
                    }
                    let w = swidth(fmt).max(swidth(a.fmt())).max(swidth(b.fmt()));
                    let e = Expr::bin(BinOp::Add, ext(a, w)?, ext(b, w)?);
                    out.push(self.define(format!("{base}_{i}"), fmt, e, w));
                }
                out
            }
            Op::IntRelu => {
                let mut out = Vec::new();
                for (i, a) in args[0].iter().enumerate() {
                    let af = a.fmt();
                    out.push(match a {
                        Elem::Const { value, .. } => Elem::Const { value: (*value).max(0), fmt },
                        Elem::Wire { .. } if !af.is_signed() => a.clone(),
                        Elem::Wire { .. } if af.bits() == 1 => Elem::Const { value: 0, fmt },
                        Elem::Wire { name, .. } => {
                            let b = af.bits();
                            let x = ident(name);
                            let e = Expr::ternary(
                                x.clone().index(Expr::Int(i64::from(b - 1))),
                                Expr::constant(0, b - 1, false)?,
                                if b == 2 { x.index(Expr::Int(0)) } else { x.slice(b - 2, 0) },
                            );
                            let name = format!("{base}_{i}");
                            let el = self.wire(name.clone(), fmt);
                            self.items.push(Item::assign(ident(&name), e));
                            el
                        }
                    });
                }
                out
            }
            Op::Requantize { multiplier, shift, out } => {
                let mut res = Vec::new();
                for (i, a) in args[0].iter().enumerate() {
                    res.push(self.requantize(
                        &format!("{base}_{i}"),
                        a,
                        *multiplier,
                        *shift,
                        *out,
                    )?);
                }
                res
            }
            Op::Argmax => vec![self.argmax(&base, &args[0], fmt)?],
            other => return Err(format!("`{}` has no integer Verilog lowering", other.mnemonic())),
        };
        self.elems.insert(id, elems);
        Ok(())
    }

    fn requantize(
        &mut self,
        name: &str,
        a: &Elem,
        m: i32,
        s: u32,
        out: NumFormat,
    ) -> Result<Elem, String> {
        if let Elem::Const { value, .. } = a {
            let v = i64::try_from(*value).map_err(|e| e.to_string())?;
            return Ok(Elem::Const {
                value: crate::ir::interp::requantize(v, m, s, out),
                fmt: out,
            });
        }
        let (xlo, xhi) = a.fmt().int_range().ok_or("requantize input must be an integer")?;
        let (p1, p2) = (xlo * i128::from(m), xhi * i128::from(m));
        let (plo, phi) = (p1.min(p2), p1.max(p2));
        let pw = swidth(NumFormat::int_for_range(plo, phi)?)
            .max(swidth(a.fmt()))
            .max(swidth(NumFormat::int_for_range(i128::from(m), i128::from(m))?))
            .max(s + 2);
        let (olo, ohi) = out.int_range().ok_or("requantize output must be an integer")?;
        let (qlo, qhi) = (round_shift(plo, s), round_shift(phi, s));
        // The clamp compares all bits of the rounded value; without it only the low bits are read.
        let all_bits_read = olo > qlo || ohi < qhi || out.bits() >= pw;
        let p = format!("{name}_p");
        if s == 0 && !all_bits_read {
            self.partial_wire(&p, pw);
        } else {
            self.items.push(Item::Decl(Decl::wire(&p, pw, true)));
        }
        let prod = if m == 1 {
            ext(a, pw)?
        } else {
            Expr::bin(BinOp::Mul, ext(a, pw)?, Expr::constant(i128::from(m), pw, true)?)
        };
        self.items.push(Item::assign(ident(&p), prod));
        let qname = if s == 0 {
            p.clone()
        } else {
            let (f, r, u, q) = (
                format!("{name}_f"),
                format!("{name}_r"),
                format!("{name}_u"),
                format!("{name}_q"),
            );
            let half = 1i128 << (s - 1);
            self.items.push(Item::Decl(Decl::wire(&f, pw, true)));
            self.items.push(Item::assign(
                ident(&f),
                Expr::bin(BinOp::AShr, ident(&p), Expr::Int(i64::from(s))),
            ));
            self.items.push(Item::Decl(Decl::wire(&r, s, false)));
            let rem =
                if s == 1 { ident(&p).index(Expr::Int(0)) } else { ident(&p).slice(s - 1, 0) };
            self.items.push(Item::assign(ident(&r), rem));
            self.items.push(Item::Decl(Decl::wire(&u, 1, false)));
            let halfc = Expr::constant(half, s, false)?;
            // With one fractional bit the remainder cannot exceed one half: it is a tie or zero.
            let round_up = if s == 1 {
                Expr::bin(BinOp::And, ident(&r), ident(&f).index(Expr::Int(0)))
            } else {
                Expr::bin(
                    BinOp::Or,
                    Expr::bin(BinOp::Gt, ident(&r), halfc.clone()),
                    Expr::bin(
                        BinOp::And,
                        Expr::bin(BinOp::Eq, ident(&r), halfc),
                        ident(&f).index(Expr::Int(0)),
                    ),
                )
            };
            self.items.push(Item::assign(ident(&u), round_up));
            if all_bits_read {
                self.items.push(Item::Decl(Decl::wire(&q, pw, true)));
            } else {
                self.partial_wire(&q, pw);
            }
            let inc = Expr::Concat(vec![Expr::constant(0, pw - 1, false)?, ident(&u)]).signed();
            self.items.push(Item::assign(ident(&q), Expr::bin(BinOp::Add, ident(&f), inc)));
            q
        };
        let ob = out.bits();
        let qx = ident(&qname);
        let mut e = if ob <= pw {
            if ob == 1 && pw > 1 {
                qx.clone().index(Expr::Int(0))
            } else if ob == pw {
                qx.clone()
            } else {
                qx.clone().slice(ob - 1, 0)
            }
        } else {
            Expr::Concat(vec![
                Expr::replicate(ob - pw, qx.clone().index(Expr::Int(i64::from(pw - 1)))),
                qx.clone(),
            ])
        };
        if olo > qlo {
            let cond = Expr::bin(BinOp::Lt, qx.clone(), Expr::constant(olo, pw, true)?);
            e = Expr::ternary(cond, Expr::constant(olo, ob, out.is_signed())?, e);
        }
        if ohi < qhi {
            let cond = Expr::bin(BinOp::Gt, qx, Expr::constant(ohi, pw, true)?);
            e = Expr::ternary(cond, Expr::constant(ohi, ob, out.is_signed())?, e);
        }
        let el = self.wire(name.to_string(), out);
        self.items.push(Item::assign(ident(name), e));
        Ok(el)
    }

    fn argmax(&mut self, base: &str, x: &[Elem], fmt: NumFormat) -> Result<Elem, String> {
        let rb = fmt.bits();
        if x.len() == 1 {
            return Ok(Elem::Const { value: 0, fmt });
        }
        let xf = x[0].fmt();
        let cw = swidth(xf);
        let mut best = x[0].clone();
        let mut idx = Elem::Const { value: 0, fmt };
        for (i, xi) in x.iter().enumerate().skip(1) {
            let g = format!("{base}_g{i}");
            self.items.push(Item::Decl(Decl::wire(&g, 1, false)));
            self.items
                .push(Item::assign(ident(&g), Expr::bin(BinOp::Gt, ext(xi, cw)?, ext(&best, cw)?)));
            let last = i + 1 == x.len();
            let iname = if last { format!("{base}_0") } else { format!("{base}_i{i}") };
            let new_idx = self.wire(iname.clone(), fmt);
            let sel =
                Expr::ternary(ident(&g), Expr::constant(i as i128, rb, false)?, raw(&idx, fmt)?);
            self.items.push(Item::assign(ident(&iname), sel));
            idx = new_idx;
            if !last {
                let bname = format!("{base}_b{i}");
                let new_best = self.wire(bname.clone(), xf);
                let sel = Expr::ternary(ident(&g), raw(xi, xf)?, raw(&best, xf)?);
                self.items.push(Item::assign(ident(&bname), sel));
                best = new_best;
            }
        }
        Ok(idx)
    }
}

/// `round_half_even(p / 2^s)` without clamping: the bounds of a requantized range.
fn round_shift(p: i128, s: u32) -> i128 {
    if s == 0 {
        return p;
    }
    let floor = p >> s;
    let rem = p - (floor << s);
    let half = 1i128 << (s - 1);
    if rem > half || (rem == half && floor & 1 == 1) {
        floor + 1
    } else {
        floor
    }
}
