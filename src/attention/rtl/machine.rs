//! The whole model as a sequencer: one data memory holding every buffer of the
//! [`Program`], one state per machine operation, and a datapath per operation kind; the
//! attention operations drive one core ([`super::core`]) per head. Bit-exact with
//! [`crate::attention::sim::run`].
//!
//! Per operation (cycles):
//! - gather: one element per cycle from a map ROM (`len`);
//! - linear: one multiply-accumulate per cycle, weights, biases and per-column requantizers
//!   in ROMs (`rows * n * k`);
//! - add: one element per cycle (`len`);
//! - layer_norm, per row: sum (`d`), sum of squares (`d`), a bit-serial square root
//!   (`ceil(w / 2)` for a `w`-bit radicand), a restoring division `2^R / r` (`R + 1`), output
//!   (`d`);
//! - lut: one element per cycle (`len`);
//! - attention, per head: load Q, K, V into the core (`s (2 d_k + d_v)`), start (1), run.
//!
//! The input is copied into memory one element per cycle; the output is read straight from
//! memory when `out_valid` rises. ROMs are `$readmemh` memories whose hex files are returned
//! with the design.

use super::core::{core_module, ports, run_cycles};
use super::prims::*;
use super::AttnVerilog;
use crate::attention::error::AttnError;
use crate::attention::lnorm::{GAIN_BITS, RECIP_BITS};
use crate::attention::program::{AddOperand, GatherSrc, MachineOp, Post, Program};
use crate::backend::verilog::ast::{BinOp, Expr, Item, Module, Stmt};
use crate::backend::verilog::bits::Bits;
use crate::backend::verilog::interface::stream_ports;

const CW: u32 = 16;

struct Gen<'p> {
    top: String,
    p: &'p Program,
    r: Rtl,
    files: Vec<(String, String)>,
    base: Vec<usize>,
    dw: u32,
    modules: Vec<Module>,
    cycles: u64,
    /// Statements run while idle: every operation's own registers back to their start values.
    init: Vec<Stmt>,
}

/// Element width of the input port: unsigned when the codes are non-negative.
pub fn input_elem(p: &Program) -> (u32, bool) {
    let b = p.buf(p.input.buf);
    if b.lo >= 0 {
        (ubits(b.hi as u128), false)
    } else {
        (sbits(i128::from(b.lo), i128::from(b.hi)), true)
    }
}

/// Element width of the output port (signed).
pub fn output_elem(p: &Program) -> u32 {
    let b = p.buf(p.output.buf);
    sbits(i128::from(b.lo), i128::from(b.hi))
}

impl Gen<'_> {
    /// A `$readmemh` ROM named `{top}_{name}` with `values` of `w` bits.
    fn rom(
        &mut self,
        name: &str,
        w: u32,
        signed: bool,
        values: &[i128],
    ) -> Result<Expr, AttnError> {
        let mem = format!("rom_{name}");
        let e = self.r.mem(&mem, w, signed, values.len());
        let file = format!("{}_{name}.hex", self.top);
        let mut text = String::with_capacity(values.len() * (w as usize / 4 + 2));
        for &v in values {
            let b = if signed || v < 0 {
                Bits::from_int(v, w, true)?
            } else {
                Bits::from_int(v, w, false)?
            };
            text.push_str(&b.to_hex());
            text.push('\n');
        }
        self.files.push((file.clone(), text));
        self.r.items.push(Item::MemInit { file, mem });
        Ok(e)
    }

    fn addr(&self, b: crate::attention::program::BufId, off: Expr) -> Expr {
        add(n(self.base[b.0] as i64), off)
    }
}

fn dm() -> Expr {
    id("dm")
}

/// Generates the whole-model design.
pub fn machine_design(top: &str, p: &Program) -> Result<AttnVerilog, AttnError> {
    let total: usize = p.buffers.iter().map(|b| b.len).sum();
    let mut base = Vec::with_capacity(p.buffers.len());
    let mut at = 0;
    for b in &p.buffers {
        base.push(at);
        at += b.len;
    }
    let dw = p
        .buffers
        .iter()
        .map(|b| sbits(i128::from(b.lo), i128::from(b.hi)))
        .max()
        .unwrap_or(8)
        .max(9);
    let mut g = Gen {
        top: top.to_string(),
        p,
        r: Rtl::default(),
        files: vec![],
        base,
        dw,
        modules: vec![],
        cycles: 0,
        init: vec![],
    };
    g.r.comment(LINT_WAIVER);
    g.r.comment(format!(
        "{} operations over {} buffers ({total} words of {dw} bits)",
        p.ops.len(),
        p.buffers.len()
    ));
    g.r.mem("dm", dw, true, total);
    let nops = p.ops.len() as i64;
    let pcw = ubits(nops as u128 + 3);
    let pc = g.r.reg("pc", pcw, false);
    let ph = g.r.reg("ph", 3, false);
    let (rr, jj, ii) =
        (g.r.reg("rr", CW, false), g.r.reg("jj", CW, false), g.r.reg("ii", CW, false));
    let ovalid = g.r.reg("ovalid", 1, false);

    // Input and output.
    let ib = p.buf(p.input.buf);
    let (iew, isigned) = input_elem(p);
    let in_w = iew * ib.len as u32;
    let inbuf = g.r.reg("inbuf", in_w, false);
    let insh = g.r.let_(
        "in_shifted",
        in_w,
        false,
        bin(BinOp::Shr, inbuf.clone(), mul(ii.clone(), n(i64::from(iew)))),
    );
    let in_el = insh.slice(iew - 1, 0);
    let in_val = if isigned { in_el.signed() } else { zext(in_el) };
    let ob = p.buf(p.output.buf);
    let oew = output_elem(p);
    let out_fields: Vec<Expr> = (0..ob.len)
        .rev()
        .map(|e| dm().index(n((g.base[p.output.buf.0] + e) as i64)).slice(oew - 1, 0))
        .collect();
    let out_w = oew * ob.len as u32;
    g.r.assign(id("out_data"), Expr::Concat(out_fields));
    g.r.assign(id("out_valid"), ovalid.clone());
    g.r.assign(id("in_ready"), eq(pc.clone(), uc(0, pcw)?));

    let next = |pcv: i64| -> Result<Vec<Stmt>, AttnError> {
        Ok(vec![
            nb(pc.clone(), uc((pcv + 1) as u128, pcw)?),
            nb(ph.clone(), uc(0, 3)?),
            nb(rr.clone(), uc(0, CW)?),
            nb(jj.clone(), uc(0, CW)?),
            nb(ii.clone(), uc(0, CW)?),
        ])
    };
    let step = |c: &Expr| nb(c.clone(), add(c.clone(), n(1)));
    let mut arms: Vec<(Vec<Expr>, Vec<Stmt>)> = Vec::new();
    arms.push((
        vec![uc(0, pcw)?],
        vec![if_(
            id("in_valid"),
            vec![
                nb(inbuf.clone(), id("in_data")),
                nb(pc.clone(), uc(1, pcw)?),
                nb(ii.clone(), uc(0, CW)?),
            ],
            vec![],
        )],
    ));
    arms.push((
        vec![uc(1, pcw)?],
        vec![
            nb(dm().index(g.addr(p.input.buf, ii.clone())), in_val),
            if_(eq(ii.clone(), n(ib.len as i64 - 1)), next(1)?, vec![step(&ii)]),
        ],
    ));
    g.cycles = 1 + ib.len as u64;

    for (k, op) in p.ops.iter().enumerate() {
        let pcv = 2 + k as i64;
        g.r.comment(format!("op {k}: {} into `{}`", op.kind(), p.buf(op.dst()).name));
        let body = match op {
            MachineOp::Gather { src, dst, map } => {
                let addrs: Vec<i128> = map
                    .iter()
                    .map(|m| if let GatherSrc::Elem(i) = m { i128::from(*i) } else { 0 })
                    .collect();
                let consts: Vec<i128> = map
                    .iter()
                    .map(|m| if let GatherSrc::Const(c) = m { i128::from(*c) } else { 0 })
                    .collect();
                let flags: Vec<i128> =
                    map.iter().map(|m| i128::from(matches!(m, GatherSrc::Const(_)))).collect();
                let aw = ubits(addrs.iter().copied().max().unwrap_or(0) as u128);
                let ga = g.rom(&format!("g{k}_addr"), aw, false, &addrs)?;
                let gc = g.rom(&format!("g{k}_const"), dw, true, &consts)?;
                let gf = g.rom(&format!("g{k}_flag"), 1, false, &flags)?;
                let mut b = Vec::new();
                let src_v = dm().index(g.addr(*src, ga.index(ii.clone())));
                let v = g.r.tmp(
                    &mut b,
                    &format!("g{k}_v"),
                    dw,
                    true,
                    Expr::ternary(gf.index(ii.clone()), gc.index(ii.clone()), src_v),
                );
                g.cycles += map.len() as u64;
                b.push(nb(dm().index(g.addr(*dst, ii.clone())), v));
                b.push(if_(eq(ii.clone(), n(map.len() as i64 - 1)), next(pcv)?, vec![step(&ii)]));
                b
            }
            MachineOp::Linear(l) => {
                let (kk, nn) = (l.k as i64, l.n as i64);
                let lanes = [8usize, 4, 2, 1].into_iter().find(|d| l.n % d == 0).unwrap_or(1);
                let groups = (l.n / lanes) as i64;
                let xb = p.buf(l.src);
                let xm = xb.lo.abs().max(xb.hi.abs()) as i128;
                let bound = (0..l.n)
                    .map(|j| {
                        i128::from(l.b[j]).abs()
                            + (0..l.k)
                                .map(|i| i128::from(l.w[j * l.k + i]).abs() * xm)
                                .sum::<i128>()
                    })
                    .max()
                    .unwrap_or(0);
                let aw = sbits(-bound, bound) + 1;
                // Weight words: lane l of word (g * k + i) is w[(g * lanes + l) * k + i].
                let mut words = Vec::with_capacity(l.w.len() / lanes);
                for gi in 0..l.n / lanes {
                    for i in 0..l.k {
                        let mut v: i128 = 0;
                        for ln in 0..lanes {
                            let w8 = (l.w[(gi * lanes + ln) * l.k + i] as i128) & 0xff;
                            v |= w8 << (8 * ln);
                        }
                        words.push(v);
                    }
                }
                let w = g.rom(&format!("l{k}_w"), 8 * lanes as u32, false, &words)?;
                let bw = sbits(
                    l.b.iter().map(|&v| i128::from(v)).min().unwrap_or(0),
                    l.b.iter().map(|&v| i128::from(v)).max().unwrap_or(0),
                );
                let bs = g.rom(
                    &format!("l{k}_b"),
                    bw,
                    true,
                    &l.b.iter().map(|&v| i128::from(v)).collect::<Vec<_>>(),
                )?;
                let rq_roms = match &l.post {
                    Post::Requant { rq, .. } => Some((
                        g.rom(
                            &format!("l{k}_m"),
                            31,
                            false,
                            &rq.iter().map(|r| i128::from(r.multiplier)).collect::<Vec<_>>(),
                        )?,
                        g.rom(
                            &format!("l{k}_s"),
                            7,
                            false,
                            &rq.iter().map(|r| i128::from(r.shift)).collect::<Vec<_>>(),
                        )?,
                    )),
                    _ => None,
                };
                let mut b = Vec::new();
                let x = g.r.tmp(
                    &mut b,
                    &format!("l{k}_x"),
                    dw,
                    true,
                    dm().index(g.addr(l.src, add(mul(rr.clone(), n(kk)), ii.clone()))),
                );
                let word = g.r.tmp(
                    &mut b,
                    &format!("l{k}_word"),
                    8 * lanes as u32,
                    false,
                    w.index(add(mul(jj.clone(), n(kk)), ii.clone())),
                );
                let mut writes = Vec::new();
                let mut keep = Vec::new();
                for ln in 0..lanes {
                    let acc = g.r.reg(&format!("l{k}_acc{ln}"), aw, true);
                    let col = add(mul(jj.clone(), n(lanes as i64)), n(ln as i64));
                    let wl = word.clone().slice(8 * ln as u32 + 7, 8 * ln as u32).signed();
                    let accin = Expr::ternary(
                        eq(ii.clone(), n(0)),
                        bs.clone().index(col.clone()),
                        acc.clone(),
                    );
                    let sum = g.r.tmp(
                        &mut b,
                        &format!("l{k}_sum{ln}"),
                        aw,
                        true,
                        add(accin, mul(x.clone(), wl)),
                    );
                    let out = match (&l.post, &rq_roms) {
                        (Post::Requant { lo, hi, .. }, Some((ms, ss))) => g.r.requant_proc(
                            &mut b,
                            &format!("l{k}_rq{ln}"),
                            sum.clone(),
                            aw,
                            ms.clone().index(col.clone()),
                            ss.clone().index(col.clone()),
                            *lo,
                            *hi,
                            dw,
                        )?,
                        (Post::Sign, _) => {
                            Expr::ternary(ge(sum.clone(), sc(0, aw)?), sc(1, dw)?, sc(0, dw)?)
                        }
                        _ => sum.clone(),
                    };
                    writes
                        .push(nb(dm().index(g.addr(l.dst, add(mul(rr.clone(), n(nn)), col))), out));
                    keep.push(nb(acc, sum));
                }
                g.cycles += (l.rows * (l.n / lanes) * l.k) as u64;
                let row_done =
                    if_(eq(rr.clone(), n(l.rows as i64 - 1)), next(pcv)?, vec![step(&rr)]);
                writes.push(nb(ii.clone(), uc(0, CW)?));
                writes.push(if_(
                    eq(jj.clone(), n(groups - 1)),
                    vec![nb(jj.clone(), uc(0, CW)?), row_done],
                    vec![step(&jj)],
                ));
                keep.push(step(&ii));
                b.push(if_(eq(ii.clone(), n(kk - 1)), writes, keep));
                b
            }
            MachineOp::Add(a) => {
                let wide = dw + 12;
                let big = 1i64 << (dw + 8);
                let mut b = Vec::new();
                let xa = dm().index(g.addr(a.a, ii.clone()));
                let ra = g.r.requant_proc(
                    &mut b,
                    &format!("a{k}_ra"),
                    xa,
                    dw,
                    uc(a.ra.multiplier as u128, 31)?,
                    n(i64::from(a.ra.shift)),
                    -big,
                    big,
                    wide,
                )?;
                let rb = match &a.b {
                    AddOperand::Buf(bf, rb) => {
                        let xb = dm().index(g.addr(*bf, ii.clone()));
                        g.r.requant_proc(
                            &mut b,
                            &format!("a{k}_rb"),
                            xb,
                            dw,
                            uc(rb.multiplier as u128, 31)?,
                            n(i64::from(rb.shift)),
                            -big,
                            big,
                            wide,
                        )?
                    }
                    AddOperand::Const(c) => {
                        let rom = g.rom(
                            &format!("a{k}_c"),
                            dw,
                            true,
                            &c.iter().map(|&v| i128::from(v)).collect::<Vec<_>>(),
                        )?;
                        rom.index(ii.clone())
                    }
                };
                let s = g.r.tmp(&mut b, &format!("a{k}_s"), wide, true, add(ra, rb));
                let y = clamp(s, wide, a.lo, a.hi, dw)?;
                g.cycles += a.len as u64;
                b.push(nb(dm().index(g.addr(a.dst, ii.clone())), y));
                b.push(if_(eq(ii.clone(), n(a.len as i64 - 1)), next(pcv)?, vec![step(&ii)]));
                b
            }
            MachineOp::Lut { src, dst, len, in_lo, table } => {
                let rom = g.rom(
                    &format!("t{k}"),
                    dw,
                    true,
                    &table.iter().map(|&v| i128::from(v)).collect::<Vec<_>>(),
                )?;
                let mut b = Vec::new();
                let x = dm().index(g.addr(*src, ii.clone()));
                let ix = g.r.tmp(
                    &mut b,
                    &format!("t{k}_ix"),
                    dw + 1,
                    true,
                    sub(x, sc(i128::from(*in_lo), dw + 1)?),
                );
                g.cycles += *len as u64;
                b.push(nb(dm().index(g.addr(*dst, ii.clone())), rom.index(ix)));
                b.push(if_(eq(ii.clone(), n(*len as i64 - 1)), next(pcv)?, vec![step(&ii)]));
                b
            }
            MachineOp::LayerNorm { src, dst, rows, p: lp } => {
                layer_norm(&mut g, k, pcv, *src, *dst, *rows, lp, &next, &rr, &ii, &ph)?
            }
            MachineOp::Attention(a) => attention(&mut g, k, pcv, a, &next, &ph)?,
        };
        arms.push((vec![uc(pcv as u128, pcw)?], body));
    }
    let mut idle = g.init.clone();
    idle.extend(std::mem::take(&mut arms[0].1));
    arms[0].1 = idle;
    let last = 2 + nops;
    arms.push((
        vec![uc(last as u128, pcw)?],
        vec![nb(ovalid.clone(), Expr::bit(true)), nb(pc.clone(), uc(0, pcw)?)],
    ));
    g.cycles += 1;
    let fsm = case(pc.clone(), arms, Some(vec![nb(pc.clone(), uc(0, pcw)?)]));
    g.r.items.push(Item::AlwaysFF {
        clock: "clk".into(),
        body: vec![
            nb(ovalid, Expr::bit(false)),
            if_(id("rst"), vec![nb(pc, uc(0, pcw)?), nb(ph, uc(0, 3)?)], vec![fsm]),
        ],
    });
    let mut modules = vec![Module {
        name: top.to_string(),
        params: vec![],
        ports: stream_ports(in_w, out_w),
        items: g.r.items,
    }];
    modules.extend(g.modules);
    Ok(AttnVerilog {
        top: top.to_string(),
        modules,
        data_files: g.files,
        in_width: in_w,
        out_width: out_w,
        latency: g.cycles,
    })
}

/// Signed clamp of a `w`-bit value into `[lo, hi]`, `ow` bits wide.
fn clamp(x: Expr, w: u32, lo: i64, hi: i64, ow: u32) -> Result<Expr, AttnError> {
    Ok(Expr::ternary(
        lt(x.clone(), sc(i128::from(lo), w)?),
        sc(i128::from(lo), ow)?,
        Expr::ternary(
            gt(x.clone(), sc(i128::from(hi), w)?),
            sc(i128::from(hi), ow)?,
            x.slice(ow - 1, 0).signed(),
        ),
    ))
}

#[allow(clippy::too_many_arguments)]
fn layer_norm(
    g: &mut Gen,
    k: usize,
    pcv: i64,
    src: crate::attention::program::BufId,
    dst: crate::attention::program::BufId,
    rows: usize,
    lp: &crate::attention::lnorm::LnParams,
    next: &dyn Fn(i64) -> Result<Vec<Stmt>, AttnError>,
    rr: &Expr,
    ii: &Expr,
    ph: &Expr,
) -> Result<Vec<Stmt>, AttnError> {
    let d = lp.d as i64;
    let xb = g.p.buf(src);
    let xm = i128::from(xb.lo.abs().max(xb.hi.abs()));
    let cmax = 2 * i128::from(d) * xm;
    let radicand = (i128::from(d) * cmax * cmax + i128::from(lp.eps_term)) as u128;
    let radw = ubits(radicand) + 1;
    let m = radw.div_ceil(2);
    let cw = sbits(-cmax, cmax) + 1;
    let s1w = sbits(-(i128::from(d) * xm), i128::from(d) * xm);
    let s1 = g.r.reg(&format!("n{k}_s1"), s1w, true);
    let ss = g.r.reg(&format!("n{k}_ss"), 2 * m, false);
    let sx = g.r.reg(&format!("n{k}_sx"), 2 * m, false);
    let sres = g.r.reg(&format!("n{k}_sres"), 2 * m, false);
    let sbit = g.r.reg(&format!("n{k}_sbit"), 2 * m, false);
    let rootw = m + 1;
    let drem = g.r.reg(&format!("n{k}_drem"), rootw + 1, false);
    let dq = g.r.reg(&format!("n{k}_inv"), RECIP_BITS + 2, false);
    let dcnt = g.r.reg(&format!("n{k}_dcnt"), 7, false);
    let gv: Vec<i128> = lp.gain.iter().map(|&v| i128::from(v)).collect();
    let gw = sbits(gv.iter().copied().min().unwrap_or(0), gv.iter().copied().max().unwrap_or(0));
    let bwid = sbits(
        lp.bias.iter().copied().min().unwrap_or(0),
        lp.bias.iter().copied().max().unwrap_or(0),
    );
    if gw + cmax.unsigned_abs().ilog2() + RECIP_BITS + 4 > 126 || bwid > 126 {
        return Err(AttnError::Verilog(format!(
            "layer norm {k}: gains or biases too wide for the 128-bit datapath"
        )));
    }
    let gains = g.rom(&format!("n{k}_g"), gw, true, &gv)?;
    let biases = g.rom(&format!("n{k}_b"), bwid, true, &lp.bias.to_vec())?;
    // Procedural temporaries, evaluated only while this operation runs.
    let mut pre = Vec::new();
    let x = g.r.tmp(
        &mut pre,
        &format!("n{k}_x"),
        g.dw,
        true,
        dm().index(g.addr(src, add(mul(rr.clone(), n(d)), ii.clone()))),
    );
    let c = g.r.tmp(&mut pre, &format!("n{k}_c"), cw, true, sub(mul(x.clone(), n(d)), s1.clone()));
    let csq = g.r.tmp(&mut pre, &format!("n{k}_csq"), 2 * m, false, mul(c.clone(), c.clone()));
    let ssn = g.r.tmp(
        &mut pre,
        &format!("n{k}_ssn"),
        2 * m,
        false,
        add(Expr::ternary(eq(ii.clone(), n(0)), uc(0, 2 * m)?, ss.clone()), csq),
    );
    let trial =
        g.r.tmp(&mut pre, &format!("n{k}_trial"), 2 * m, false, add(sres.clone(), sbit.clone()));
    let root = g.r.tmp(
        &mut pre,
        &format!("n{k}_root"),
        rootw,
        false,
        Expr::ternary(eq(sres.clone(), n(0)), uc(1, rootw)?, sres.clone().slice(rootw - 1, 0)),
    );
    let dbit = g.r.tmp(
        &mut pre,
        &format!("n{k}_dbit"),
        1,
        false,
        eq(dcnt.clone(), n(i64::from(RECIP_BITS))),
    );
    let dtrial = g.r.tmp(
        &mut pre,
        &format!("n{k}_dtrial"),
        rootw + 1,
        false,
        Expr::Concat(vec![drem.clone().slice(rootw - 1, 0), dbit]),
    );
    let dge = g.r.tmp(
        &mut pre,
        &format!("n{k}_dge"),
        1,
        false,
        ge(dtrial.clone(), Expr::Concat(vec![Expr::bit(false), root.clone()])),
    );
    let sh = RECIP_BITS + GAIN_BITS;
    let vw = 128;
    let v = g.r.tmp(
        &mut pre,
        &format!("n{k}_v"),
        vw,
        true,
        add(
            add(mul(mul(c, zext(dq.clone())), gains.index(ii.clone())), biases.index(ii.clone())),
            sc(1i128 << (sh - 1), vw)?,
        ),
    );
    let y = g.r.tmp(&mut pre, &format!("n{k}_y"), vw, true, bin(BinOp::AShr, v, n(i64::from(sh))));
    let yc = clamp(y, vw, lp.out_lo, lp.out_hi, g.dw)?;
    let last_el = eq(ii.clone(), n(d - 1));
    let step = |c: &Expr| nb(c.clone(), add(c.clone(), n(1)));
    let mut body = pre;
    body.push(case(
        ph.clone(),
        vec![
            (
                vec![uc(0, 3)?],
                vec![
                    nb(
                        s1.clone(),
                        add(Expr::ternary(eq(ii.clone(), n(0)), sc(0, s1w)?, s1.clone()), x),
                    ),
                    if_(
                        last_el.clone(),
                        vec![nb(ph.clone(), uc(1, 3)?), nb(ii.clone(), uc(0, CW)?)],
                        vec![step(ii)],
                    ),
                ],
            ),
            (
                vec![uc(1, 3)?],
                vec![
                    nb(ss.clone(), ssn.clone()),
                    if_(
                        last_el.clone(),
                        vec![
                            nb(ph.clone(), uc(2, 3)?),
                            nb(ii.clone(), uc(0, CW)?),
                            nb(sx.clone(), add(ssn, uc(u128::from(lp.eps_term), 2 * m)?)),
                            nb(sres.clone(), uc(0, 2 * m)?),
                            nb(sbit.clone(), uc(1u128 << (2 * m - 2), 2 * m)?),
                        ],
                        vec![step(ii)],
                    ),
                ],
            ),
            (
                vec![uc(2, 3)?],
                vec![
                    if_(
                        ge(sx.clone(), trial.clone()),
                        vec![
                            nb(sx.clone(), sub(sx.clone(), trial)),
                            nb(
                                sres.clone(),
                                add(bin(BinOp::Shr, sres.clone(), n(1)), sbit.clone()),
                            ),
                        ],
                        vec![nb(sres.clone(), bin(BinOp::Shr, sres.clone(), n(1)))],
                    ),
                    nb(sbit.clone(), bin(BinOp::Shr, sbit.clone(), n(2))),
                    if_(
                        eq(sbit.clone(), n(1)),
                        vec![
                            nb(ph.clone(), uc(3, 3)?),
                            nb(drem.clone(), uc(0, rootw + 1)?),
                            nb(dq.clone(), uc(0, RECIP_BITS + 2)?),
                            nb(dcnt.clone(), n(i64::from(RECIP_BITS))),
                        ],
                        vec![],
                    ),
                ],
            ),
            (
                vec![uc(3, 3)?],
                vec![
                    if_(
                        dge.clone(),
                        vec![nb(drem.clone(), sub(dtrial.clone(), root))],
                        vec![nb(drem.clone(), dtrial)],
                    ),
                    nb(dq.clone(), Expr::Concat(vec![dq.clone().slice(RECIP_BITS, 0), dge])),
                    if_(
                        eq(dcnt.clone(), n(0)),
                        vec![nb(ph.clone(), uc(4, 3)?), nb(ii.clone(), uc(0, CW)?)],
                        vec![nb(dcnt.clone(), sub(dcnt.clone(), n(1)))],
                    ),
                ],
            ),
            (
                vec![uc(4, 3)?],
                vec![
                    nb(dm().index(g.addr(dst, add(mul(rr.clone(), n(d)), ii.clone()))), yc),
                    if_(
                        last_el,
                        vec![
                            nb(ph.clone(), uc(0, 3)?),
                            nb(ii.clone(), uc(0, CW)?),
                            if_(eq(rr.clone(), n(rows as i64 - 1)), next(pcv)?, vec![step(rr)]),
                        ],
                        vec![step(ii)],
                    ),
                ],
            ),
        ],
        Some(vec![]),
    ));
    g.cycles += rows as u64 * (3 * d as u64 + u64::from(m) + u64::from(RECIP_BITS) + 1);
    Ok(body)
}

fn attention(
    g: &mut Gen,
    k: usize,
    pcv: i64,
    a: &crate::attention::program::AttentionOp,
    next: &dyn Fn(i64) -> Result<Vec<Stmt>, AttnError>,
    ph: &Expr,
) -> Result<Vec<Stmt>, AttnError> {
    let heads = a.heads.len();
    let (s, dk, dv) = (a.heads[0].s as i64, a.heads[0].d_k as i64, a.heads[0].d_v as i64);
    let hh = g.r.reg(&format!("m{k}_h"), ubits(heads as u128), false);
    let sel = g.r.reg(&format!("m{k}_sel"), 2, false);
    let row = g.r.reg(&format!("m{k}_row"), CW, false);
    let col = g.r.reg(&format!("m{k}_col"), CW, false);
    let hw = heads as i64;
    for reg in [&hh, &sel, &row, &col] {
        g.init.push(nb(reg.clone(), n(0)));
    }
    // Address of the element being loaded: buffer base + row * H * d + h * d + col.
    let off = |d: i64| add(add(mul(row.clone(), n(hw * d)), mul(hh.clone(), n(d))), col.clone());
    let addr = Expr::ternary(
        eq(sel.clone(), uc(0, 2)?),
        g.addr(a.q, off(dk)),
        Expr::ternary(eq(sel.clone(), uc(1, 2)?), g.addr(a.k, off(dk)), g.addr(a.v, off(dv))),
    );
    let ld_data = g.r.let_(&format!("m{k}_ld"), 8, true, dm().index(addr).slice(7, 0).signed());
    let active = |h: usize, phase: u128| -> Result<Expr, AttnError> {
        Ok(and(
            and(eq(id("pc"), n(pcv)), eq(ph.clone(), uc(phase, 3)?)),
            eq(hh.clone(), n(h as i64)),
        ))
    };
    let mut res_valid = Vec::new();
    let mut res_row = Vec::new();
    let mut res_col = Vec::new();
    let mut res_data = Vec::new();
    let mut done = Vec::new();
    for (h, cp) in a.heads.iter().enumerate() {
        let name = format!("{}_core{k}_{h}", g.top);
        g.modules.push(core_module(&name, cp)?);
        let pr = ports(cp);
        let w = |nm: &str, width: u32, signed: bool, r: &mut Rtl| {
            r.wire(&format!("m{k}_{h}_{nm}"), width, signed)
        };
        let rv = w("res_valid", 1, false, &mut g.r);
        let rrw = w("res_row", pr.row_w, false, &mut g.r);
        let rcw = w("res_col", pr.col_w, false, &mut g.r);
        let rdw = w("res_data", 8, true, &mut g.r);
        let dn = w("done", 1, false, &mut g.r);
        let ld_en = g.r.let_(&format!("m{k}_{h}_ld_en"), 1, false, active(h, 0)?);
        let start = g.r.let_(&format!("m{k}_{h}_start"), 1, false, active(h, 1)?);
        g.r.items.push(Item::Instance {
            module: name,
            name: format!("core{k}_{h}"),
            params: vec![],
            conns: vec![
                ("clk".into(), id("clk")),
                ("rst".into(), id("rst")),
                ("ld_en".into(), ld_en),
                ("ld_sel".into(), sel.clone()),
                ("ld_row".into(), row.clone().slice(pr.row_w - 1, 0)),
                ("ld_col".into(), col.clone().slice(pr.col_w - 1, 0)),
                ("ld_data".into(), ld_data.clone()),
                ("start".into(), start),
                ("done".into(), dn.clone()),
                ("res_valid".into(), rv.clone()),
                ("res_row".into(), rrw.clone()),
                ("res_col".into(), rcw.clone()),
                ("res_data".into(), rdw.clone()),
            ],
        });
        res_valid.push(rv);
        res_row.push(rrw);
        res_col.push(rcw);
        res_data.push(rdw);
        done.push(dn);
        g.cycles += (s * (2 * dk + dv)) as u64 + 1 + run_cycles(cp) + 1;
    }
    // Results of the running head into dst[row * H * d_v + h * d_v + col].
    let mut wait = Vec::new();
    for h in 0..heads {
        let dst = g.addr(
            a.dst,
            add(add(mul(res_row[h].clone(), n(hw * dv)), n(h as i64 * dv)), res_col[h].clone()),
        );
        let last_head = if h + 1 == heads {
            next(pcv)?
        } else {
            vec![
                nb(hh.clone(), add(hh.clone(), n(1))),
                nb(ph.clone(), uc(0, 3)?),
                nb(sel.clone(), uc(0, 2)?),
                nb(row.clone(), uc(0, CW)?),
                nb(col.clone(), uc(0, CW)?),
            ]
        };
        wait.push(if_(
            eq(hh.clone(), n(h as i64)),
            vec![
                if_(res_valid[h].clone(), vec![nb(dm().index(dst), res_data[h].clone())], vec![]),
                if_(done[h].clone(), last_head, vec![]),
            ],
            vec![],
        ));
    }
    let last_col = Expr::ternary(eq(sel.clone(), uc(2, 2)?), n(dv - 1), n(dk - 1));
    let load = vec![if_(
        eq(col.clone(), last_col),
        vec![
            nb(col.clone(), uc(0, CW)?),
            if_(
                eq(row.clone(), n(s - 1)),
                vec![
                    nb(row.clone(), uc(0, CW)?),
                    if_(
                        eq(sel.clone(), uc(2, 2)?),
                        vec![nb(ph.clone(), uc(1, 3)?)],
                        vec![nb(sel.clone(), add(sel.clone(), n(1)))],
                    ),
                ],
                vec![nb(row.clone(), add(row.clone(), n(1)))],
            ),
        ],
        vec![nb(col.clone(), add(col.clone(), n(1)))],
    )];
    Ok(vec![case(
        ph.clone(),
        vec![
            (vec![uc(0, 3)?], load),
            (vec![uc(1, 3)?], vec![nb(ph.clone(), uc(2, 3)?)]),
            (vec![uc(2, 3)?], wait),
        ],
        Some(vec![]),
    )])
}
