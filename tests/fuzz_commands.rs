//! Fuzzing whole commands, with time counted. Each case mutates one input of one example —
//! the model file (bytes; numbers in JSON and LightGBM text; tensor values, shapes and nodes
//! of ONNX), the `.tess` description, or the data (bytes or values) — and runs `tessera sim`
//! on it with a deadline of a few times the example's clean run. Failures are hangs (killed
//! at the deadline), panics or aborts (exit 101 or a signal) and errors without a message; a
//! non-zero exit with a message, or a normal run, is fine.
//!
//! CI runs a seeded slice (`DEFAULT_CASES`, about 40 s in release on two cores). By hand:
//! `TESSERA_FUZZ_CASES=5000 TESSERA_FUZZ_SEED=7 cargo test --release --test fuzz_commands --
//! --nocapture`. The counts (cases, outcomes by family and kind, wall time) are printed; each
//! failing input is kept under `target/tmp/fuzz-failures/` with the command that ran it.

mod robust_support;

use ndarray::Array2;
use ndarray_npy::{ReadNpyExt, WriteNpyExt};
use robust_support::{root, run_tessera, Run};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};
use tessera::frontend::onnx::proto::ModelProto;

/// Cases per CI run, spread round-robin over the families.
const DEFAULT_CASES: usize = 840;
const DEFAULT_SEED: u64 = 17;
/// A case may take this many times its family's clean run...
const SLOWDOWN: u32 = 5;
/// ...plus this much, which absorbs process start-up and scheduling noise on a shared machine.
const SLACK: Duration = Duration::from_secs(2);
/// Rows of the example's test data each run simulates (keeps a case short).
const ROWS: usize = 12;

#[derive(Clone, Copy, PartialEq)]
enum Kind {
    Json,
    Text,
    Onnx,
}

/// One example family: where its files are and how its model is stored.
struct Family {
    example: &'static str,
    model: &'static str,
    kind: Kind,
    /// Calibration data beside the model (ONNX families); the copy in the case directory
    /// would otherwise be missing.
    calib: Option<&'static str>,
}

const FAMILIES: [Family; 7] = [
    Family { example: "iris_xgb", model: "model.json", kind: Kind::Json, calib: None },
    Family { example: "diabetes_lgbm", model: "model.txt", kind: Kind::Text, calib: None },
    Family { example: "rf_treelite", model: "model.json", kind: Kind::Json, calib: None },
    Family {
        example: "breast_cancer_mlp",
        model: "model.onnx",
        kind: Kind::Onnx,
        calib: Some("X_calib.npy"),
    },
    Family {
        example: "digits_mlp",
        model: "model.onnx",
        kind: Kind::Onnx,
        calib: Some("X_calib.npy"),
    },
    Family {
        example: "qonnx_mlp",
        model: "model.onnx",
        kind: Kind::Onnx,
        calib: Some("X_calib.npy"),
    },
    Family {
        example: "vit_digits_had",
        model: "student.onnx",
        kind: Kind::Onnx,
        calib: Some("X_calib.npy"),
    },
];

/// SplitMix64: tiny, seedable, and the same on every platform, so a case number plus a seed
/// names one input for good.
struct Rng(u64);

impl Rng {
    fn new(seed: u64, case: u64) -> Rng {
        Rng(seed ^ case.wrapping_mul(0x9e37_79b9_7f4a_7c15))
    }
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            0
        } else {
            (self.next() % n as u64) as usize
        }
    }
    fn pick<'a, T>(&mut self, xs: &'a [T]) -> &'a T {
        &xs[self.below(xs.len())]
    }
}

const FLOATS: [f32; 14] = [
    f32::NAN,
    f32::INFINITY,
    f32::NEG_INFINITY,
    3e38,
    f32::MAX,
    -f32::MAX,
    1e30,
    -1e30,
    1e-30,
    1e-45,
    0.0,
    -0.0,
    65504.0,
    -1.0,
];

const NUMBERS: [&str; 18] = [
    "NaN",
    "nan",
    "inf",
    "-inf",
    "Infinity",
    "1e39",
    "-1e400",
    "1e400",
    "0",
    "-0",
    "1e-320",
    "3.4028235e38",
    "99999999999999999999",
    "-1",
    "4294967296",
    "0.5",
    "",
    "-9223372036854775809",
];

/// Byte-level mutations, any file.
fn mutate_bytes(rng: &mut Rng, b: &mut Vec<u8>) -> String {
    if b.is_empty() {
        b.push(0);
        return "empty file given one byte".into();
    }
    let at = rng.below(b.len());
    match rng.below(6) {
        0 => {
            let k = 1 + rng.below(8);
            for _ in 0..k {
                let i = rng.below(b.len());
                b[i] ^= 1 << rng.below(8);
            }
            format!("{k} bit flip(s) from byte {at}")
        }
        1 => {
            let v = *rng.pick(&[0u8, 0xff, 0x7f, 0x80, b'9', b'-', b'[', b'"']);
            b[at] = v;
            format!("byte {at} = {v:#x}")
        }
        2 => {
            b.truncate(at);
            format!("truncated at {at}")
        }
        3 => {
            let n = 1 + rng.below(64).min(b.len() - at - 1);
            b.drain(at..at + n);
            format!("deleted {n} bytes at {at}")
        }
        4 => {
            let n = (1 + rng.below(64)).min(b.len() - at);
            let chunk = b[at..at + n].to_vec();
            b.splice(at..at, chunk);
            format!("duplicated {n} bytes at {at}")
        }
        _ => {
            let n = 1 + rng.below(16);
            let junk: Vec<u8> = (0..n).map(|_| rng.next() as u8).collect();
            b.splice(at..at, junk);
            format!("inserted {n} random bytes at {at}")
        }
    }
}

/// Text mutations: a number replaced, a line deleted or duplicated, or a byte mutation.
fn mutate_text(rng: &mut Rng, b: &mut Vec<u8>) -> String {
    let Ok(text) = String::from_utf8(b.clone()) else {
        return mutate_bytes(rng, b);
    };
    match rng.below(4) {
        0 | 1 => {
            // Spans of number characters.
            let bytes = text.as_bytes();
            let mut spans = Vec::new();
            let mut i = 0;
            while i < bytes.len() {
                if bytes[i].is_ascii_digit() {
                    let s = i;
                    while i < bytes.len() && b"0123456789.eE+-".contains(&bytes[i]) {
                        i += 1;
                    }
                    spans.push((s, i));
                } else {
                    i += 1;
                }
            }
            if spans.is_empty() {
                return mutate_bytes(rng, b);
            }
            let (s, e) = *rng.pick(&spans);
            let new = *rng.pick(&NUMBERS);
            let out = format!("{}{new}{}", &text[..s], &text[e..]);
            let what = format!("number `{}` at byte {s} -> `{new}`", &text[s..e]);
            *b = out.into_bytes();
            what
        }
        2 => {
            let lines: Vec<&str> = text.split_inclusive('\n').collect();
            let k = rng.below(lines.len());
            let dup = rng.below(2) == 0;
            let mut out = String::new();
            for (i, l) in lines.iter().enumerate() {
                if i != k || dup {
                    out.push_str(l);
                }
                if i == k && dup {
                    out.push_str(l);
                }
            }
            *b = out.into_bytes();
            format!("line {} {}", k + 1, if dup { "duplicated" } else { "deleted" })
        }
        _ => mutate_bytes(rng, b),
    }
}

/// ONNX structure and value mutations through the frontend's prost types.
fn mutate_onnx(rng: &mut Rng, b: &mut Vec<u8>) -> String {
    use prost::Message;
    let Ok(mut m) = ModelProto::decode(b.as_slice()) else {
        return mutate_bytes(rng, b);
    };
    let Some(g) = m.graph.as_mut() else {
        return mutate_bytes(rng, b);
    };
    let what = match rng.below(5) {
        0 | 1 => {
            // Tensor values: a few elements of one FLOAT initializer.
            let floats: Vec<usize> = (0..g.initializer.len())
                .filter(|i| g.initializer[*i].data_type == Some(1))
                .collect();
            if floats.is_empty() {
                return mutate_bytes(rng, b);
            }
            let t = &mut g.initializer[*rng.pick(&floats)];
            let raw = t.raw_data.as_ref().is_some_and(|r| !r.is_empty());
            let n = if raw {
                t.raw_data.as_ref().map_or(0, |r| r.len() / 4)
            } else {
                t.float_data.len()
            };
            if n == 0 {
                return mutate_bytes(rng, b);
            }
            let k = 1 + rng.below(3);
            let mut edits = Vec::new();
            for _ in 0..k {
                let i = rng.below(n);
                let v = *rng.pick(&FLOATS);
                match t.raw_data.as_mut().filter(|r| !r.is_empty()) {
                    Some(r) => r[i * 4..i * 4 + 4].copy_from_slice(&v.to_le_bytes()),
                    None => t.float_data[i] = v,
                }
                edits.push(format!("[{i}] = {v:e}"));
            }
            format!("initializer `{}`: {}", t.name.clone().unwrap_or_default(), edits.join(", "))
        }
        2 => {
            // A dimension of an initializer.
            if g.initializer.is_empty() {
                return mutate_bytes(rng, b);
            }
            let k = rng.below(g.initializer.len());
            let t = &mut g.initializer[k];
            if t.dims.is_empty() {
                t.dims.push(1 + rng.below(3) as i64);
                format!("initializer `{}` given a dimension", t.name.clone().unwrap_or_default())
            } else {
                let d = rng.below(t.dims.len());
                let v = *rng.pick(&[0i64, -1, 1, 2, 1 << 20, 1 << 40, i64::MAX]);
                let old = t.dims[d];
                t.dims[d] = v;
                format!(
                    "initializer `{}` dims[{d}] {old} -> {v}",
                    t.name.clone().unwrap_or_default()
                )
            }
        }
        3 => {
            // A node removed, or its op type changed.
            if g.node.is_empty() {
                return mutate_bytes(rng, b);
            }
            let k = rng.below(g.node.len());
            if rng.below(2) == 0 {
                let n = g.node.remove(k);
                format!("node #{k} ({}) removed", n.op_type.unwrap_or_default())
            } else {
                let op = *rng.pick(&[
                    "Relu",
                    "Softmax",
                    "Sigmoid",
                    "Tanh",
                    "Erf",
                    "Sqrt",
                    "Add",
                    "MatMul",
                    "Identity",
                    "Transpose",
                    "Gelu",
                    "LayerNormalization",
                    "Reshape",
                    "Flatten",
                    "Concat",
                ]);
                let old = g.node[k].op_type.replace(op.to_string());
                format!("node #{k} op {} -> {op}", old.unwrap_or_default())
            }
        }
        _ => {
            // Two inputs of one node swapped, or an input renamed to another value.
            if g.node.is_empty() {
                return mutate_bytes(rng, b);
            }
            let k = rng.below(g.node.len());
            let names: Vec<String> = g.node.iter().flat_map(|n| n.output.clone()).collect();
            let n = &mut g.node[k];
            if n.input.len() >= 2 && rng.below(2) == 0 {
                n.input.swap(0, 1);
                format!("node #{k}: inputs 0 and 1 swapped")
            } else if !n.input.is_empty() && !names.is_empty() {
                let i = rng.below(n.input.len());
                let to = rng.pick(&names).clone();
                n.input[i] = to.clone();
                format!("node #{k}: input {i} -> `{to}`")
            } else {
                return mutate_bytes(rng, b);
            }
        }
    };
    *b = m.encode_to_vec();
    what
}

/// Data mutations: special values in a few cells, a column dropped, or bytes.
fn mutate_data(rng: &mut Rng, b: &mut Vec<u8>) -> String {
    let Ok(mut x) = <Array2<f32> as ReadNpyExt>::read_npy(b.as_slice()) else {
        return mutate_bytes(rng, b);
    };
    let what = match rng.below(4) {
        0 | 1 => {
            let k = 1 + rng.below(4);
            let mut edits = Vec::new();
            for _ in 0..k {
                let (r, c) = (rng.below(x.nrows()), rng.below(x.ncols()));
                let v = *rng.pick(&FLOATS);
                x[[r, c]] = v;
                edits.push(format!("[{r}, {c}] = {v:e}"));
            }
            edits.join(", ")
        }
        2 => {
            let v = *rng.pick(&FLOATS);
            x.fill(v);
            format!("every value = {v:e}")
        }
        _ => {
            let keep = rng.below(x.ncols() + 2);
            let cols = keep.min(x.ncols());
            let mut y = Array2::<f32>::zeros((x.nrows(), keep));
            for c in 0..cols {
                y.column_mut(c).assign(&x.column(c));
            }
            x = y;
            format!("{keep} columns instead of {}", x.ncols().max(cols))
        }
    };
    b.clear();
    x.write_npy(&mut *b).expect("write npy to memory");
    what
}

/// The files of one case in its own directory.
struct CaseFiles {
    tess: PathBuf,
    model: PathBuf,
    data: PathBuf,
    calib: Option<PathBuf>,
}

fn write_case(dir: &Path, f: &Family, tess: &[u8], model: &[u8], data: &[u8]) -> CaseFiles {
    let ex = root().join("examples").join(f.example);
    std::fs::create_dir_all(dir).unwrap();
    let files = CaseFiles {
        tess: dir.join("accel.tess"),
        model: dir.join(f.model),
        data: dir.join("X.npy"),
        calib: f.calib.map(|c| ex.join(c)),
    };
    std::fs::write(&files.tess, tess).unwrap();
    std::fs::write(&files.model, model).unwrap();
    std::fs::write(&files.data, data).unwrap();
    files
}

fn args(c: &CaseFiles) -> Vec<String> {
    let mut a = vec![
        "sim".to_string(),
        c.tess.display().to_string(),
        "--model".into(),
        c.model.display().to_string(),
        "--data".into(),
        c.data.display().to_string(),
    ];
    if let Some(cal) = &c.calib {
        a.push("--calib".into());
        a.push(cal.display().to_string());
    }
    a
}

fn run(c: &CaseFiles, timeout: Duration) -> Run {
    let a = args(c);
    let refs: Vec<&str> = a.iter().map(String::as_str).collect();
    run_tessera(&refs, timeout)
}

/// The clean inputs of a family: its `.tess`, model and the first [`ROWS`] test rows.
fn clean_inputs(f: &Family) -> (Vec<u8>, Vec<u8>, Vec<u8>) {
    let ex = root().join("examples").join(f.example);
    let tess = std::fs::read(ex.join("accel.tess")).unwrap();
    let model = std::fs::read(ex.join(f.model)).unwrap();
    let x =
        <Array2<f32> as ReadNpyExt>::read_npy(std::fs::File::open(ex.join("X_test.npy")).unwrap())
            .unwrap();
    let n = x.nrows().min(ROWS);
    let mut data = Vec::new();
    x.slice(ndarray::s![..n, ..]).to_owned().write_npy(&mut data).unwrap();
    (tess, model, data)
}

fn env_usize(name: &str) -> Option<u64> {
    std::env::var(name).ok().and_then(|v| v.trim().parse().ok())
}

#[test]
fn sim_never_hangs_or_panics_on_mutated_inputs() {
    let cases = env_usize("TESSERA_FUZZ_CASES").map_or(DEFAULT_CASES, |n| n as usize);
    let seed = env_usize("TESSERA_FUZZ_SEED").unwrap_or(DEFAULT_SEED);
    let work = tempfile::tempdir().unwrap();
    let keep = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("fuzz-failures");
    let started = Instant::now();

    // Clean runs: they must succeed, and they set each family's deadline.
    let mut limits = Vec::new();
    let mut inputs = Vec::new();
    for f in &FAMILIES {
        let (tess, model, data) = clean_inputs(f);
        let files =
            write_case(&work.path().join(format!("clean-{}", f.example)), f, &tess, &model, &data);
        let mut best = Duration::MAX;
        for _ in 0..2 {
            let r = run(&files, Duration::from_secs(120));
            assert_eq!(r.code(), Some(0), "{}: the clean run fails:\n{}", f.example, r.stderr);
            best = best.min(r.elapsed);
        }
        limits.push(best * SLOWDOWN + SLACK);
        inputs.push((tess, model, data));
    }

    let mut counts: BTreeMap<(&str, &str), usize> = BTreeMap::new();
    let mut failures = Vec::new();
    for case in 0..cases {
        let fi = case % FAMILIES.len();
        let f = &FAMILIES[fi];
        let mut rng = Rng::new(seed, case as u64);
        let (mut tess, mut model, mut data) = inputs[fi].clone();
        let what = match rng.below(8) {
            0..=3 => {
                let m = match f.kind {
                    Kind::Onnx if rng.below(3) != 0 => mutate_onnx(&mut rng, &mut model),
                    Kind::Json | Kind::Text if rng.below(3) != 0 => {
                        mutate_text(&mut rng, &mut model)
                    }
                    _ => mutate_bytes(&mut rng, &mut model),
                };
                format!("model: {m}")
            }
            4 | 5 => format!("data: {}", mutate_data(&mut rng, &mut data)),
            _ => format!("tess: {}", mutate_text(&mut rng, &mut tess)),
        };
        let dir = work.path().join(format!("case{case}"));
        let files = write_case(&dir, f, &tess, &model, &data);
        let r = run(&files, limits[fi]);
        let kind = if r.timed_out() {
            "HANG"
        } else if r.crashed() {
            "PANIC"
        } else if r.code() == Some(0) {
            "ok"
        } else if r.stderr.trim().is_empty() {
            "NO-MESSAGE"
        } else {
            "refused"
        };
        *counts.entry((f.example, kind)).or_default() += 1;
        if kind.chars().all(|c| c.is_ascii_uppercase() || c == '-') {
            let saved = keep.join(format!("seed{seed}-case{case}-{}", f.example));
            let _ = std::fs::remove_dir_all(&saved);
            let kept = write_case(&saved, f, &tess, &model, &data);
            let cmd = format!("tessera {}", args(&kept).join(" "));
            let _ = std::fs::write(saved.join("command.txt"), &cmd);
            failures.push(format!(
                "{kind} case {case} ({}; {what}) after {:?} (limit {:?}): {cmd}\n{}",
                f.example,
                r.elapsed,
                limits[fi],
                r.stderr.lines().take(12).collect::<Vec<_>>().join("\n")
            ));
        }
        let _ = std::fs::remove_dir_all(&dir);
    }

    let wall = started.elapsed();
    eprintln!("fuzz_commands: {cases} cases, seed {seed}, {wall:?} wall");
    for (i, f) in FAMILIES.iter().enumerate() {
        let by: Vec<String> = counts
            .iter()
            .filter(|((e, _), _)| *e == f.example)
            .map(|((_, k), n)| format!("{k} {n}"))
            .collect();
        eprintln!("  {:<18} limit {:>8.2?}  {}", f.example, limits[i], by.join(", "));
    }
    let mut totals: BTreeMap<&str, usize> = BTreeMap::new();
    for ((_, k), n) in &counts {
        *totals.entry(k).or_default() += n;
    }
    eprintln!("  total: {totals:?}");
    assert!(failures.is_empty(), "{} failing case(s):\n{}", failures.len(), failures.join("\n\n"));
}
