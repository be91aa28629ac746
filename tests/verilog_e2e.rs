//! End to end: integer hardware graphs evaluated by the reference interpreter, lowered to
//! Verilog, and simulated under iverilog and verilator; the RTL must match bit for bit. Each
//! check then perturbs one expected vector and requires exactly that mismatch to be reported,
//! which proves the comparison can fail.
//!
//! The MLP datapath runs on 200 seeded random vectors (plus the extreme inputs); small
//! operators run exhaustively over their whole input space, so every rounding tie, clamp and
//! argmax tie is exercised. The interpreter itself is checked against hand-computed and
//! independent oracles in `ir_interp.rs`.

use std::path::Path;
use std::process::Command;
use tessera::backend::verilog::harness::{self, SimBundle, Simulator};
use tessera::backend::verilog::hex::{pack_tensor, write_hex};
use tessera::backend::verilog::lower_int::{lower_int_graph, LowerConfig, LoweredDesign};
use tessera::backend::verilog::testbench::{self, TestbenchConfig, EXPECTED_HEX};
use tessera::backend::verilog::{print_module, Bits};
use tessera::ir::{interp, Graph, NumFormat, Op, Tensor, TensorType};

/// splitmix64: a tiny seeded generator so the vectors are reproducible without extra crates.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    /// Uniform in `lo..=hi`.
    fn range(&mut self, lo: i64, hi: i64) -> i64 {
        lo + (self.next() % (hi - lo + 1) as u64) as i64
    }
}

/// x: 8 x i8 -> W (4x8 i8) x + b (i12) -> relu -> requantize(77, >> shift, `out`) -> [argmax].
fn mlp_graph(seed: u64, out: NumFormat, shift: u32, with_argmax: bool) -> Graph {
    let mut rng = Rng(seed);
    let w: Vec<i64> = (0..32).map(|_| rng.range(-128, 127)).collect();
    let b: Vec<i64> = (0..4).map(|_| rng.range(-2048, 2047)).collect();
    let mut g = Graph::new();
    let x = g.add_input("x", TensorType::new(vec![8], NumFormat::int(8))).unwrap();
    let weights = Tensor::int(vec![4, 8], NumFormat::int(8), w).unwrap();
    let mv = g.add(Op::IntMatVec { weights }, &[x]).unwrap();
    let bias =
        g.add(Op::Constant(Tensor::int(vec![4], NumFormat::int(12), b).unwrap()), &[]).unwrap();
    let sum = g.add(Op::IntAdd, &[mv, bias]).unwrap();
    let relu = g.add(Op::IntRelu, &[sum]).unwrap();
    let rq = g.add(Op::Requantize { multiplier: 77, shift, out }, &[relu]).unwrap();
    let y = if with_argmax { g.add(Op::Argmax, &[rq]).unwrap() } else { rq };
    g.add_output("y", y).unwrap();
    g
}

/// Inputs and the interpreter's outputs, packed.
fn vectors(g: &Graph, inputs: &[Tensor]) -> (Vec<Bits>, Vec<Bits>) {
    let mut outs = Vec::new();
    for t in inputs {
        let y = interp::run(g, std::slice::from_ref(t)).unwrap();
        outs.push(pack_tensor(&y[0]).unwrap());
    }
    (inputs.iter().map(|t| pack_tensor(t).unwrap()).collect(), outs)
}

/// 200 random i8 vectors, the first three forced to all -128, all 127 and all 0.
fn random_inputs(n: usize, seed: u64) -> Vec<Tensor> {
    let mut rng = Rng(seed);
    (0..n)
        .map(|i| {
            let x: Vec<i64> = match i {
                0 => vec![-128; 8],
                1 => vec![127; 8],
                2 => vec![0; 8],
                _ => (0..8).map(|_| rng.range(-128, 127)).collect(),
            };
            Tensor::int(vec![8], NumFormat::int(8), x).unwrap()
        })
        .collect()
}

/// Every value of `ty` (all elements enumerated, element 0 fastest).
fn exhaustive(ty: &TensorType) -> Vec<Tensor> {
    let (lo, hi) = ty.format.int_range().unwrap();
    let span = (hi - lo + 1) as u64;
    let total = span.pow(ty.numel() as u32);
    (0..total)
        .map(|mut k| {
            let vals = (0..ty.numel())
                .map(|_| {
                    let v = lo + (k % span) as i128;
                    k /= span;
                    v as i64
                })
                .collect();
            Tensor::int(ty.shape.clone(), ty.format, vals).unwrap()
        })
        .collect()
}

fn write_design(dir: &Path, d: &LoweredDesign, ins: &[Bits], outs: &[Bits]) {
    let cfg =
        TestbenchConfig::new(&d.module.name, d.in_width, d.out_width, ins.len(), d.latency, 1);
    let tb = testbench::generate(&cfg).unwrap();
    let design = print_module(&d.module);
    let bundle = SimBundle {
        top: &d.module.name,
        design: &design,
        testbench: &tb,
        inputs: ins,
        expected: outs,
    };
    harness::write_bundle(dir, &bundle).unwrap();
}

/// Lowers `g`, checks it is lint-clean, simulates it on `inputs` and requires zero
/// mismatches; then flips one bit of expected vector `k` and requires exactly one mismatch.
fn check_design(sim: Simulator, g: &Graph, top: &str, inputs: &[Tensor]) {
    check_design_with(sim, g, top, inputs, 3);
}

/// [`check_design`] requiring at least `min_distinct` distinct expected outputs.
fn check_design_with(sim: Simulator, g: &Graph, top: &str, inputs: &[Tensor], min_distinct: usize) {
    if !harness::require(sim) {
        return;
    }
    let d = lower_int_graph(g, &LowerConfig { top: top.into() }).unwrap();
    let (ins, mut outs) = vectors(g, inputs);
    let distinct: std::collections::BTreeSet<String> = outs.iter().map(|b| b.to_hex()).collect();
    assert!(
        distinct.len() >= min_distinct,
        "only {} distinct outputs: the test would be weak",
        distinct.len()
    );

    let dir = tempfile::tempdir().unwrap();
    write_design(dir.path(), &d, &ins, &outs);
    lint(&dir.path().join(format!("{top}.v")));
    let compiled = harness::compile(sim, dir.path(), top).unwrap_or_else(|e| panic!("{e}"));
    let ok = compiled.execute().unwrap_or_else(|e| panic!("{e}"));
    assert_eq!((ok.vectors, ok.mismatches), (ins.len(), 0), "{}", ok.log);

    let k = ins.len() / 2;
    let mut flipped = outs[k].clone();
    flipped.set(0, !flipped.bit(0));
    outs[k] = flipped;
    write_hex(&dir.path().join(EXPECTED_HEX), &outs).unwrap();
    let bad = compiled.execute().unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(bad.mismatches, 1, "{}", bad.log);
    assert!(bad.log.contains(&format!("MISMATCH vector={k} ")), "{}", bad.log);
}

#[test]
fn mlp_argmax_iverilog() {
    let g = mlp_graph(7, NumFormat::int(8), 14, true);
    check_design(Simulator::Iverilog, &g, "mlp_argmax", &random_inputs(200, 42));
}

#[test]
fn mlp_vector_iverilog() {
    let g = mlp_graph(11, NumFormat::int(6), 15, false);
    check_design(Simulator::Iverilog, &g, "mlp_vec", &random_inputs(200, 43));
}

/// One verilator build (tens of seconds) covers the wider, vector-valued design.
#[test]
fn mlp_vector_verilator() {
    let g = mlp_graph(11, NumFormat::int(6), 15, false);
    check_design(Simulator::Verilator, &g, "mlp_vec", &random_inputs(200, 43));
}

fn single_op(input: TensorType, op: Op) -> Graph {
    let mut g = Graph::new();
    let x = g.add_input("x", input).unwrap();
    let y = g.add(op, &[x]).unwrap();
    g.add_output("y", y).unwrap();
    g
}

/// Requantize over all 256 i8 inputs for several (multiplier, shift, format) settings:
/// frequent exact ties (3x/4), both clamps, a negative multiplier into an unsigned format,
/// shift 0 and shift 1.
#[test]
fn requantize_exhaustive_iverilog() {
    let cases = [
        (3, 2, NumFormat::int(6)),
        (-5, 3, NumFormat::uint(4)),
        (1, 0, NumFormat::int(4)),
        (1, 1, NumFormat::int(8)),
        (-7, 5, NumFormat::int(5)),
        (1000, 12, NumFormat::int(16)),
    ];
    let ty = TensorType::new(vec![1], NumFormat::int(8));
    for (i, (m, s, out)) in cases.into_iter().enumerate() {
        let g = single_op(ty.clone(), Op::Requantize { multiplier: m, shift: s, out });
        check_design(Simulator::Iverilog, &g, &format!("rq{i}"), &exhaustive(&ty));
    }
}

/// Argmax over every 3 x i2 and 3 x u2 vector: ties everywhere, lowest index must win.
#[test]
fn argmax_exhaustive_iverilog() {
    for (i, f) in [NumFormat::int(2), NumFormat::uint(2)].into_iter().enumerate() {
        let ty = TensorType::new(vec![3], f);
        check_design(
            Simulator::Iverilog,
            &single_op(ty.clone(), Op::Argmax),
            &format!("am{i}"),
            &exhaustive(&ty),
        );
    }
}

/// Matrix-vector product with the special weights (0, 1, -1, the most negative i8, an
/// all-zero row) on unsigned inputs, then relu: every 2 x u3 input.
#[test]
fn matvec_relu_exhaustive_iverilog() {
    let w = Tensor::int(vec![4, 2], NumFormat::int(8), vec![1, -1, -128, 0, 0, 0, -1, 5]).unwrap();
    let mut g = Graph::new();
    let ty = TensorType::new(vec![2], NumFormat::uint(3));
    let x = g.add_input("x", ty.clone()).unwrap();
    let mv = g.add(Op::IntMatVec { weights: w }, &[x]).unwrap();
    let r = g.add(Op::IntRelu, &[mv]).unwrap();
    let bias = g
        .add(
            Op::Constant(Tensor::int(vec![4], NumFormat::int(3), vec![-4, 3, 0, -1]).unwrap()),
            &[],
        )
        .unwrap();
    let s = g.add(Op::IntAdd, &[r, bias]).unwrap();
    g.add_output("y", s).unwrap();
    check_design(Simulator::Iverilog, &g, "mv", &exhaustive(&ty));
}

/// `verilator --lint-only -Wall` must print nothing (when verilator is installed).
fn lint(path: &Path) {
    if harness::require(Simulator::Verilator) {
        let o =
            Command::new("verilator").args(["--lint-only", "-Wall"]).arg(path).output().unwrap();
        let text =
            format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr));
        assert!(
            o.status.success() && text.trim().is_empty(),
            "verilator lint of {}:\n{text}",
            path.display()
        );
    }
}

/// The generated RTL is clean under `verilator --lint-only -Wall` and synthesizes with yosys.
#[test]
fn lint_and_synthesis() {
    let g = mlp_graph(7, NumFormat::int(8), 14, true);
    let d = lower_int_graph(&g, &LowerConfig { top: "mlp_argmax".into() }).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("mlp_argmax.v");
    std::fs::write(&path, print_module(&d.module)).unwrap();
    lint(&path);
    if harness::require_yosys() {
        let script = format!("read_verilog {}; synth -top mlp_argmax; stat", path.display());
        let o = Command::new("yosys").args(["-q", "-p", &script]).output().unwrap();
        let text =
            format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr));
        assert!(o.status.success(), "yosys:\n{text}");
        assert!(!text.to_lowercase().contains("warning"), "yosys warnings:\n{text}");
    }
}

/// A random integer format of 1 to `max_bits` bits, signed or not.
fn random_format(rng: &mut Rng, max_bits: i64) -> NumFormat {
    let bits = rng.range(1, max_bits) as u32;
    if rng.range(0, 1) == 1 {
        NumFormat::int(bits)
    } else {
        NumFormat::uint(bits)
    }
}

fn random_values(rng: &mut Rng, f: NumFormat, n: usize) -> Vec<i64> {
    let (lo, hi) = f.int_range().unwrap();
    (0..n).map(|_| rng.range(lo as i64, hi as i64)).collect()
}

/// A random chain of integer ops over random widths and signedness (1-bit formats, unsigned
/// inputs, wide products, every requantize clamp side), to cover the lowering's width and
/// sign-extension cases.
fn random_graph(seed: u64) -> Graph {
    let mut rng = Rng(seed);
    let mut g = Graph::new();
    let k = rng.range(1, 3) as usize;
    let mut cur = g.add_input("x", TensorType::new(vec![k], random_format(&mut rng, 6))).unwrap();
    for _ in 0..rng.range(1, 4) {
        let ty = g.ty(cur).clone();
        let n = ty.shape[0];
        cur = match rng.range(0, 3) {
            0 => {
                let m = rng.range(1, 3) as usize;
                let wf = random_format(&mut rng, 8);
                let w = Tensor::int(vec![m, n], wf, random_values(&mut rng, wf, m * n)).unwrap();
                g.add(Op::IntMatVec { weights: w }, &[cur]).unwrap()
            }
            1 => {
                let cf = random_format(&mut rng, 10);
                let c = Tensor::int(vec![n], cf, random_values(&mut rng, cf, n)).unwrap();
                let c = g.add(Op::Constant(c), &[]).unwrap();
                let (a, b) = if rng.range(0, 1) == 0 { (cur, c) } else { (c, cur) };
                g.add(Op::IntAdd, &[a, b]).unwrap()
            }
            2 => g.add(Op::IntRelu, &[cur]).unwrap(),
            _ => {
                let multiplier = rng.range(-300, 300) as i32;
                let shift = rng.range(0, 12) as u32;
                let out = random_format(&mut rng, 10);
                g.add(Op::Requantize { multiplier, shift, out }, &[cur]).unwrap()
            }
        };
    }
    if rng.range(0, 2) == 0 {
        cur = g.add(Op::Argmax, &[cur]).unwrap();
    }
    g.add_output("y", cur).unwrap();
    g
}

/// Every input when there are at most 1024, else 300 random ones (extremes first).
fn sample_inputs(ty: &TensorType, seed: u64) -> Vec<Tensor> {
    let (lo, hi) = ty.format.int_range().unwrap();
    if ((hi - lo + 1) as f64).powi(ty.numel() as i32) <= 1024.0 {
        return exhaustive(ty);
    }
    let mut rng = Rng(seed);
    (0..300)
        .map(|i| {
            let vals = match i {
                0 => vec![lo as i64; ty.numel()],
                1 => vec![hi as i64; ty.numel()],
                _ => random_values(&mut rng, ty.format, ty.numel()),
            };
            Tensor::int(ty.shape.clone(), ty.format, vals).unwrap()
        })
        .collect()
}

/// 40 random graphs, each on its whole input space or 300 samples of it.
#[test]
fn random_graphs_iverilog() {
    for seed in 0..40u64 {
        let g = random_graph(1000 + seed);
        let x = g.ty(g.inputs()[0]).clone();
        let printed = tessera::ir::print_graph(&g);
        let inputs = sample_inputs(&x, seed);
        let result = std::panic::catch_unwind(|| {
            check_design_with(Simulator::Iverilog, &g, &format!("rnd{seed}"), &inputs, 1)
        });
        assert!(result.is_ok(), "seed {seed} failed on\n{printed}");
    }
}
