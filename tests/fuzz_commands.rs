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

mod fuzz_support;
mod robust_support;

use fuzz_support::{mutate_bytes, mutate_data, mutate_onnx, mutate_text, Rng};
use ndarray::Array2;
use ndarray_npy::{ReadNpyExt, WriteNpyExt};
use robust_support::{root, run_tessera, Run};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

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
