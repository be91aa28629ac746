//! The attention core as a sequential Verilog module, one per [`CoreParams`]; bit-exact with
//! [`crate::attention::core::attend`].
//!
//! ```text
//! module NAME (clk, rst,
//!   ld_en, ld_sel[1:0] (0 = Q, 1 = K, 2 = V), ld_row, ld_col, ld_data[7:0] (signed code; HAD Q/K: bit 0),
//!   start, done, res_valid, res_row, res_col, res_data[7:0] (signed));
//! ```
//!
//! Storage: Q, K (HAD: one sign bit per element, the binary query/key store; standard: int8
//! codes) and V (int8). After `start`, for every query `t`:
//!
//! - SCORE, one key per cycle: XOR then a sum of bits (HAD: the XNOR-popcount as a Hamming
//!   distance) or the int8 dot product (standard, key = -dot) of `q_t` and `k_j`, into the kept
//!   list. All keys: the list is the score buffer in key order with a running minimum. Top-N: a
//!   sorted insertion list of N entries; a new key goes behind every entry whose key is `<=`
//!   its own, so ties keep the lower index. Hierarchical: a `per_tile` list per tile, flushed
//!   into the global top-N list one candidate per cycle (FLUSH).
//! - EXP, one kept entry per cycle: `e = lut(key - min)` (case ROM), `Z += e`.
//! - DIV: restoring division `inv = 2^(P+E+8) / Z`, one quotient bit per cycle.
//! - PROB, one entry per cycle: `p_i = (e_i * inv) >> (E + 8)`.
//! - AV: per value column, one entry per cycle `acc += p_i * v[idx_i][c]`; the last entry
//!   requantizes and emits `res_*` for one cycle. After the last query `done` pulses.

use super::prims::*;
use crate::attention::core::{CoreMode, CoreParams, INV_GUARD};
use crate::attention::error::AttnError;
use crate::attention::select::Selection;
use crate::backend::verilog::ast::{BinOp, Expr, Item, Module, Port, Stmt};

const IDLE: u128 = 0;
const SCORE: u128 = 1;
const FLUSH: u128 = 2;
const EXP: u128 = 3;
const DIV: u128 = 4;
const PROB: u128 = 5;
const AV: u128 = 6;

/// Widths of a core's load and result ports.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CorePorts {
    pub row_w: u32,
    pub col_w: u32,
}

pub fn ports(p: &CoreParams) -> CorePorts {
    CorePorts {
        row_w: ubits(p.s.max(2) as u128 - 1),
        col_w: ubits(p.d_k.max(p.d_v).max(2) as u128 - 1),
    }
}

/// Bits of the reciprocal's dividend `2^(P+E+8)`: the divider's cycle count.
pub fn div_cycles(p: &CoreParams) -> u64 {
    u64::from(p.prob_bits + p.exp_bits + INV_GUARD + 1)
}

/// Cycles of the hierarchical first stage's flushes per query.
pub fn flush_cycles(p: &CoreParams) -> u64 {
    match p.select {
        Selection::Hierarchical { tile, per_tile, .. } => {
            (0..p.s).step_by(tile.max(1)).map(|st| (p.s - st).min(tile).min(per_tile) as u64).sum()
        }
        _ => 0,
    }
}

/// Cycles the core spends on one query.
pub fn query_cycles(p: &CoreParams) -> u64 {
    let k = p.select.kept(p.s) as u64;
    p.s as u64 + flush_cycles(p) + 2 * k + div_cycles(p) + p.d_v as u64 * k
}

/// Cycles from the `start` edge to the `done` pulse.
pub fn run_cycles(p: &CoreParams) -> u64 {
    1 + p.s as u64 * query_cycles(p)
}

fn st(v: u128) -> Result<Expr, AttnError> {
    Ok(uc(v, 3)?)
}

/// A sorted insertion list of registers.
struct List {
    keys: Vec<Expr>,
    idxs: Vec<Expr>,
    count: Expr,
    cw: u32,
}

impl List {
    fn new(r: &mut Rtl, tag: &str, len: usize, kw: u32, rw: u32) -> List {
        let keys = (0..len).map(|e| r.reg(&format!("{tag}_k{e}"), kw, true)).collect();
        let idxs = (0..len).map(|e| r.reg(&format!("{tag}_i{e}"), rw, false)).collect();
        let cw = ubits(len as u128);
        let count = r.reg(&format!("{tag}_n"), cw, false);
        List { keys, idxs, count, cw }
    }

    /// Statements inserting `(nk, ni)`; `tag` names the comparison wires.
    fn insert(&self, r: &mut Rtl, tag: &str, nk: Expr, ni: Expr) -> Vec<Stmt> {
        let lts: Vec<Expr> = (0..self.keys.len())
            .map(|e| {
                let cond = Expr::ternary(
                    lt(n(e as i64), self.count.clone()),
                    lt(nk.clone(), self.keys[e].clone()),
                    Expr::bit(true),
                );
                r.let_(&format!("{tag}_lt{e}"), 1, false, cond)
            })
            .collect();
        let mut out = Vec::new();
        for e in 0..self.keys.len() {
            let put =
                vec![nb(self.keys[e].clone(), nk.clone()), nb(self.idxs[e].clone(), ni.clone())];
            if e == 0 {
                out.push(if_(lts[0].clone(), put, vec![]));
            } else {
                let here = and(lts[e].clone(), not(lts[e - 1].clone()));
                let shift = and(lts[e].clone(), lts[e - 1].clone());
                let moved = vec![
                    nb(self.keys[e].clone(), self.keys[e - 1].clone()),
                    nb(self.idxs[e].clone(), self.idxs[e - 1].clone()),
                ];
                out.push(if_(here, put, vec![if_(shift, moved, vec![])]));
            }
        }
        let len = self.keys.len() as i64;
        out.push(if_(
            lt(self.count.clone(), n(len)),
            vec![nb(self.count.clone(), add(self.count.clone(), n(1)))],
            vec![],
        ));
        out
    }

    fn clear(&self) -> Result<Stmt, AttnError> {
        Ok(nb(self.count.clone(), uc(0, self.cw)?))
    }

    /// `(key, idx)` of entry `sel` through a combinational mux.
    fn select(
        &self,
        r: &mut Rtl,
        tag: &str,
        sel: Expr,
        kw: u32,
        rw: u32,
    ) -> Result<(Expr, Expr), AttnError> {
        let k = r.reg(&format!("{tag}_kr"), kw, true);
        let i = r.reg(&format!("{tag}_ir"), rw, false);
        let arms = (0..self.keys.len())
            .map(|e| {
                (
                    vec![n(e as i64)],
                    vec![bl(k.clone(), self.keys[e].clone()), bl(i.clone(), self.idxs[e].clone())],
                )
            })
            .collect();
        r.items.push(Item::AlwaysComb(vec![case(
            sel,
            arms,
            Some(vec![bl(k.clone(), sc(0, kw)?), bl(i.clone(), uc(0, rw)?)]),
        )]));
        Ok((k, i))
    }
}

/// Generates the core module `name`.
pub fn core_module(name: &str, p: &CoreParams) -> Result<Module, AttnError> {
    p.validate().map_err(|e| AttnError::Verilog(e.to_string()))?;
    let (s, dk, dv) = (p.s, p.d_k, p.d_v);
    let had = p.mode == CoreMode::Had;
    let CorePorts { row_w: rw, col_w: cw } = ports(p);
    let nlist = p.select.kept(s);
    let iw = ubits(nlist as u128);
    let ew = p.exp_bits + 1;
    let zw = ew + ubits(nlist as u128);
    let numw = div_cycles(p) as u32;
    let invw = p.prob_bits + INV_GUARD + 2;
    let pw = p.prob_bits + 1;
    let qm = i128::from(p.qk_lo.abs().max(p.qk_hi.abs()));
    let (klo, khi) =
        if had { (0i128, dk as i128) } else { (-(dk as i128) * qm * qm, dk as i128 * qm * qm) };
    let kw = sbits(klo, khi);
    let vm = i128::from(p.v_lo.abs().max(p.v_hi.abs()));
    let amax = nlist as i128 * (1i128 << p.prob_bits) * vm;
    let aw = sbits(-amax, amax);
    let mut r = Rtl::default();
    r.comment(LINT_WAIVER);
    r.comment(format!(
        "{} attention core: {s} tokens, d_k {dk}, d_v {dv}, {} of {s} keys kept, {} cycles per query",
        if had { "HAD (XNOR-popcount)" } else { "standard (int8 dot product)" },
        nlist,
        query_cycles(p)
    ));
    let el = if had { 1 } else { 8 };
    let qmem = r.mem("qmem", el, !had, s * dk);
    let kmem = r.mem("kmem", el, !had, s * dk);
    let vmem = r.mem("vmem", 8, true, s * dv);
    let state = r.reg("state", 3, false);
    let t = r.reg("t", rw, false);
    let j = r.reg("j", rw, false);
    let i = r.reg("i", iw, false);
    let c = r.reg("c", cw, false);
    let z = r.reg("z", zw, false);
    let inv = r.reg("inv", invw, false);
    let drem = r.reg("drem", zw + 1, false);
    let dcnt = r.reg("dcnt", ubits(u128::from(numw)), false);
    let acc = r.reg("acc", aw, true);
    let elist = r.mem("elist", ew, false, nlist);
    let plist = r.mem("plist", pw, false, nlist);
    let (done, rv, rrow, rcol, rdata) =
        (id("done"), id("res_valid"), id("res_row"), id("res_col"), id("res_data"));

    r.comment("score of query t against key j");
    let qa = |b: usize| add(mul(t.clone(), n(dk as i64)), n(b as i64));
    let ka = |b: usize| add(mul(j.clone(), n(dk as i64)), n(b as i64));
    let key = if had {
        let bits: Vec<Expr> = (0..dk)
            .rev()
            .map(|b| bin(BinOp::Xor, qmem.clone().index(qa(b)), kmem.clone().index(ka(b))))
            .collect();
        let x = r.let_("qk_xor", dk as u32, false, Expr::Concat(bits));
        let sum = (0..dk).map(|b| x.clone().index(n(b as i64))).reduce(add).unwrap_or(n(0));
        let hd = r.let_("hd", ubits(dk as u128), false, sum);
        r.let_("key", kw, true, zext(hd))
    } else {
        let sum = (0..dk)
            .map(|b| mul(qmem.clone().index(qa(b)), kmem.clone().index(ka(b))))
            .reduce(add)
            .unwrap_or(n(0));
        let dot = r.let_("dot", kw, true, sum);
        r.let_("key", kw, true, neg(dot))
    };

    // The kept list, its current entry i, and its minimum.
    let mut score_stmts: Vec<Stmt> = Vec::new();
    let mut query_reset: Vec<Stmt> = Vec::new();
    let mut flush_body: Vec<Stmt> = vec![nb(state.clone(), st(IDLE)?)];
    let last_key = eq(j.clone(), n(s as i64 - 1));
    let to_exp =
        vec![nb(state.clone(), st(EXP)?), nb(i.clone(), uc(0, iw)?), nb(z.clone(), uc(0, zw)?)];
    let (cur_key, cur_idx, min_key, count): (Expr, Expr, Expr, Expr);
    match p.select {
        Selection::All => {
            let lkey = r.mem("lkey", kw, true, s);
            let mk = r.reg("minkey", kw, true);
            score_stmts.push(nb(lkey.clone().index(j.clone()), key.clone()));
            score_stmts.push(if_(
                or(eq(j.clone(), n(0)), lt(key.clone(), mk.clone())),
                vec![nb(mk.clone(), key.clone())],
                vec![],
            ));
            score_stmts.push(if_(
                last_key.clone(),
                to_exp.clone(),
                vec![nb(j.clone(), add(j.clone(), n(1)))],
            ));
            cur_key = r.let_("cur_key", kw, true, lkey.index(i.clone()));
            cur_idx = r.let_("cur_idx", rw, false, resize(i.clone(), iw, rw)?);
            min_key = mk;
            count = n(s as i64);
        }
        Selection::TopN { .. } => {
            let g = List::new(&mut r, "top", nlist, kw, rw);
            score_stmts.extend(g.insert(&mut r, "ins", key.clone(), j.clone()));
            score_stmts.push(if_(
                last_key.clone(),
                to_exp.clone(),
                vec![nb(j.clone(), add(j.clone(), n(1)))],
            ));
            query_reset.push(g.clear()?);
            let (k, ix) = g.select(&mut r, "cur", i.clone(), kw, rw)?;
            cur_key = k;
            cur_idx = ix;
            min_key = g.keys[0].clone();
            count = g.count.clone();
        }
        Selection::Hierarchical { tile, per_tile, .. } => {
            r.comment(format!("hierarchical top-k: top-{per_tile} of every {tile} keys, then the global top-{nlist}"));
            let g = List::new(&mut r, "top", nlist, kw, rw);
            let tl = List::new(&mut r, "tile", per_tile, kw, rw);
            let f = r.reg("f", tl.cw, false);
            let last_tile = r.reg("last_tile", 1, false);
            score_stmts.extend(tl.insert(&mut r, "tins", key.clone(), j.clone()));
            let jn = r.let_(
                "j_next",
                rw + 1,
                false,
                add(Expr::Concat(vec![Expr::bit(false), j.clone()]), n(1)),
            );
            let ends = (1..=s.div_ceil(tile))
                .map(|m| eq(jn.clone(), n((m * tile) as i64)))
                .reduce(or)
                .unwrap_or(Expr::bit(false));
            score_stmts.push(if_(
                or(last_key.clone(), ends),
                vec![
                    nb(state.clone(), st(FLUSH)?),
                    nb(f.clone(), uc(0, tl.cw)?),
                    nb(last_tile.clone(), last_key.clone()),
                ],
                vec![],
            ));
            score_stmts.push(nb(j.clone(), add(j.clone(), n(1))));
            let (fk, fi) = tl.select(&mut r, "fsel", f.clone(), kw, rw)?;
            let gins = g.insert(&mut r, "gins", fk, fi);
            flush_body = vec![
                if_(lt(f.clone(), tl.count.clone()), gins, vec![]),
                if_(
                    ge(add(f.clone(), n(1)), tl.count.clone()),
                    vec![
                        tl.clear()?,
                        if_(last_tile.clone(), to_exp.clone(), vec![nb(state.clone(), st(SCORE)?)]),
                    ],
                    vec![nb(f.clone(), add(f.clone(), n(1)))],
                ),
            ];
            query_reset.push(g.clear()?);
            query_reset.push(tl.clear()?);
            let (k, ix) = g.select(&mut r, "cur", i.clone(), kw, rw)?;
            cur_key = k;
            cur_idx = ix;
            min_key = g.keys[0].clone();
            count = g.count.clone();
        }
    }

    r.comment("exponent table (tau folded into the entries)");
    let delta = r.let_("delta", kw, true, sub(cur_key, min_key));
    let lut: Vec<i128> = p.lut.iter().map(|&v| v as i128).collect();
    let aw_lut = ubits(lut.len() as u128 - 1);
    let addr = match (p.mode, p.index) {
        (CoreMode::Standard, Some(rq)) => {
            let hi = lut.len() as i64 - 1;
            let ix = r.requant(
                "lut_ix",
                delta,
                kw,
                uc(rq.multiplier as u128, 31)?,
                n(i64::from(rq.shift)),
                0,
                hi,
                aw_lut + 1,
            )?;
            r.let_("lut_addr", aw_lut, false, ix.slice(aw_lut - 1, 0))
        }
        _ => r.let_("lut_addr", aw_lut, false, delta.slice(aw_lut - 1, 0)),
    };
    let e_val = r.case_rom("lut_e", ew, false, addr, &lut)?;

    r.comment("probabilities and the value product");
    let prod_w = ew + invw;
    let eprod = r.let_("eprod", prod_w, false, mul(elist.clone().index(i.clone()), inv.clone()));
    let prob =
        r.let_("prob", pw, false, bin(BinOp::Shr, eprod, n(i64::from(p.exp_bits + INV_GUARD))));
    let vaddr =
        r.let_("vaddr", ubits((s * dv) as u128), false, add(mul(cur_idx, n(dv as i64)), c.clone()));
    let term = r.let_(
        "term",
        aw,
        true,
        mul(zext(plist.clone().index(i.clone())), vmem.clone().index(vaddr)),
    );
    let total = r.let_("total", aw, true, add(acc.clone(), term));
    let outq = r.requant(
        "outq",
        total.clone(),
        aw,
        uc(p.out.multiplier as u128, 31)?,
        n(i64::from(p.out.shift)),
        p.out_lo,
        p.out_hi,
        8,
    )?;
    r.comment("restoring division step");
    let dbit = r.let_("dbit", 1, false, eq(dcnt.clone(), n(i64::from(numw) - 1)));
    let dtrial =
        r.let_("dtrial", zw + 1, false, Expr::Concat(vec![drem.clone().slice(zw - 1, 0), dbit]));
    let dge = r.let_(
        "dge",
        1,
        false,
        ge(dtrial.clone(), Expr::Concat(vec![Expr::bit(false), z.clone()])),
    );

    // Loads (element-addressed).
    let ld = |k: usize| add(mul(id("ld_row"), n(k as i64)), id("ld_col"));
    let qk_data = if had { id("ld_data").index(n(0)) } else { id("ld_data") };
    let load = if_(
        id("ld_en"),
        vec![case(
            id("ld_sel"),
            vec![
                (vec![uc(0, 2)?], vec![nb(qmem.clone().index(ld(dk)), qk_data.clone())]),
                (vec![uc(1, 2)?], vec![nb(kmem.clone().index(ld(dk)), qk_data)]),
            ],
            Some(vec![nb(vmem.clone().index(ld(dv)), id("ld_data"))]),
        )],
        vec![],
    );

    // State machine.
    let last_i = eq(add(Expr::Concat(vec![Expr::bit(false), i.clone()]), n(1)), count);
    let exp_body = vec![
        nb(elist.clone().index(i.clone()), e_val.clone()),
        nb(z.clone(), add(z.clone(), e_val)),
        if_(
            last_i.clone(),
            vec![
                nb(state.clone(), st(DIV)?),
                nb(drem.clone(), uc(0, zw + 1)?),
                nb(inv.clone(), uc(0, invw)?),
                nb(dcnt.clone(), n(i64::from(numw) - 1)),
            ],
            vec![nb(i.clone(), add(i.clone(), n(1)))],
        ),
    ];
    let div_body = vec![
        if_(
            dge,
            vec![nb(drem.clone(), sub(dtrial.clone(), z.clone()))],
            vec![nb(drem.clone(), dtrial)],
        ),
        nb(inv.clone(), Expr::Concat(vec![inv.clone().slice(invw - 2, 0), id("dge")])),
        if_(
            eq(dcnt.clone(), n(0)),
            vec![nb(state.clone(), st(PROB)?), nb(i.clone(), uc(0, iw)?)],
            vec![nb(dcnt.clone(), sub(dcnt.clone(), n(1)))],
        ),
    ];
    let prob_body = vec![
        nb(plist.clone().index(i.clone()), prob),
        if_(
            last_i.clone(),
            vec![
                nb(state.clone(), st(AV)?),
                nb(i.clone(), uc(0, iw)?),
                nb(c.clone(), uc(0, cw)?),
                nb(acc.clone(), sc(0, aw)?),
            ],
            vec![nb(i.clone(), add(i.clone(), n(1)))],
        ),
    ];
    let mut next_query = vec![
        nb(t.clone(), add(t.clone(), n(1))),
        nb(j.clone(), uc(0, rw)?),
        nb(state.clone(), st(SCORE)?),
    ];
    next_query.extend(query_reset.clone());
    let av_body = vec![if_(
        last_i,
        vec![
            nb(rv.clone(), Expr::bit(true)),
            nb(rrow, t.clone()),
            nb(rcol, c.clone()),
            nb(rdata, outq),
            nb(acc.clone(), sc(0, aw)?),
            nb(i.clone(), uc(0, iw)?),
            if_(
                eq(c.clone(), n(dv as i64 - 1)),
                vec![if_(
                    eq(t.clone(), n(s as i64 - 1)),
                    vec![nb(state.clone(), st(IDLE)?), nb(done.clone(), Expr::bit(true))],
                    next_query,
                )],
                vec![nb(c.clone(), add(c.clone(), n(1)))],
            ),
        ],
        vec![nb(acc.clone(), total), nb(i.clone(), add(i.clone(), n(1)))],
    )];
    let mut start =
        vec![nb(t.clone(), uc(0, rw)?), nb(j.clone(), uc(0, rw)?), nb(state.clone(), st(SCORE)?)];
    start.extend(query_reset);
    let fsm = case(
        state.clone(),
        vec![
            (vec![st(IDLE)?], vec![if_(id("start"), start, vec![])]),
            (vec![st(SCORE)?], score_stmts),
            (vec![st(FLUSH)?], flush_body),
            (vec![st(EXP)?], exp_body),
            (vec![st(DIV)?], div_body),
            (vec![st(PROB)?], prob_body),
            (vec![st(AV)?], av_body),
        ],
        Some(vec![nb(state.clone(), st(IDLE)?)]),
    );
    r.items.push(Item::AlwaysFF {
        clock: "clk".into(),
        body: vec![
            nb(rv, Expr::bit(false)),
            nb(done, Expr::bit(false)),
            if_(id("rst"), vec![nb(state, st(IDLE)?)], vec![load, fsm]),
        ],
    });

    let mut ports = vec![
        Port::input("clk", 1),
        Port::input("rst", 1),
        Port::input("ld_en", 1),
        Port::input("ld_sel", 2),
        Port::input("ld_row", rw),
        Port::input("ld_col", cw),
        Port { signed: true, ..Port::input("ld_data", 8) },
        Port::input("start", 1),
    ];
    for (nm, w, signed) in [
        ("done", 1, false),
        ("res_valid", 1, false),
        ("res_row", rw, false),
        ("res_col", cw, false),
        ("res_data", 8, true),
    ] {
        ports.push(Port { reg: true, signed, ..Port::output(nm, w) });
    }
    Ok(Module { name: name.to_string(), params: vec![], ports, items: r.items })
}

/// Zero-extends or truncates an unsigned value from `from` to `to` bits.
fn resize(x: Expr, from: u32, to: u32) -> Result<Expr, AttnError> {
    Ok(if from == to {
        x
    } else if from > to {
        x.slice(to - 1, 0)
    } else {
        Expr::Concat(vec![uc(0, to - from)?, x])
    })
}
