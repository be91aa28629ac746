//! Per-frontend fuzzing: every model and data reader (XGBoost JSON, LightGBM text, Treelite
//! JSON, ONNX protobuf, `.npy`) is fed mutations of the real files the repository ships
//! (examples/*/ and tests/fixtures/) and must never panic. Readers run in-process under
//! `catch_unwind`, so a case costs a file write and a parse; a loaded tree model is also
//! packed into CAM rows and evaluated on one sample, and a loaded ONNX model goes through the
//! crossbar's MLP extraction, so what a reader accepts is exercised one step further. An
//! allocation failure (a size taken from the file) aborts the whole test, which fails it too.
//!
//! Mutations (tests/fuzz_support): bit flips, byte edits, truncation, deleted, duplicated or
//! random byte runs; numbers replaced by extreme or malformed ones and lines deleted or
//! duplicated (text); values replaced by other kinds or extreme numbers, members and array
//! elements removed or duplicated (JSON structure); initializer values and dimensions, node op
//! types, inputs and node removal (ONNX structure); cell values, fills and column counts, and
//! the `.npy` header text (data). One to three are stacked per case.
//!
//! CI runs `DEFAULT_CASES` per frontend (a few seconds in release). By hand:
//! `TESSERA_FUZZ_CASES=20000 TESSERA_FUZZ_SEED=3 cargo test --release --test fuzz_frontends
//! -- --nocapture` (`TESSERA_FUZZ_ONLY=lightgbm,onnx` for some frontends). Each failing input is kept under `target/tmp/fuzz-frontends/` with what
//! was done to it.

mod fuzz_support;

use fuzz_support::{
    mutate_bytes, mutate_data, mutate_json, mutate_onnx, mutate_text, Rng, NUMBERS,
};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::time::Instant;

/// Cases per frontend in a CI run.
const DEFAULT_CASES: u64 = 400;
const DEFAULT_SEED: u64 = 23;

type Mutator = fn(&mut Rng, &mut Vec<u8>) -> String;
type Reader = fn(&Path) -> Result<(), String>;

/// One frontend: its seed files, how to mutate them and how to read the result.
struct Frontend {
    name: &'static str,
    /// Extension of the case file (readers do not look at it, but a human does).
    ext: &'static str,
    files: Vec<PathBuf>,
    mutators: &'static [Mutator],
    read: Reader,
}

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Files under `dirs` (relative to the crate) whose name satisfies `keep`, sorted.
fn files(dirs: &[&str], keep: impl Fn(&str) -> bool) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for d in dirs {
        let Ok(rd) = std::fs::read_dir(root().join(d)) else { continue };
        for e in rd.flatten() {
            let p = e.path();
            if p.is_dir() {
                if let Ok(inner) = std::fs::read_dir(&p) {
                    for f in inner.flatten() {
                        let name = f.file_name().to_string_lossy().into_owned();
                        if f.path().is_file() && keep(&name) {
                            out.push(f.path());
                        }
                    }
                }
            } else {
                let name = e.file_name().to_string_lossy().into_owned();
                if keep(&name) {
                    out.push(p);
                }
            }
        }
    }
    out.sort();
    out
}

/// Whether a JSON file is an XGBoost model (it has a `learner`) rather than a Treelite one.
fn is_xgboost(p: &Path) -> bool {
    std::fs::read_to_string(p).is_ok_and(|t| t.contains("\"learner\""))
}

/// Tree models: load, pack into CAM rows, evaluate the reference traversal on one sample.
fn trees(e: tessera::frontend::trees::TreeEnsemble) -> Result<(), String> {
    let x = vec![0.5f32; e.num_features.min(1 << 16)];
    if x.len() == e.num_features {
        let _ = e.predict_margin(&x);
    }
    tessera::cam::pack::pack(&e).map(|_| ()).map_err(|e| e.to_string())
}

fn read_xgboost(p: &Path) -> Result<(), String> {
    trees(tessera::frontend::xgboost::load(p).map_err(|e| e.to_string())?)
}

fn read_lightgbm(p: &Path) -> Result<(), String> {
    trees(tessera::frontend::lightgbm::load(p).map_err(|e| e.to_string())?)
}

fn read_treelite(p: &Path) -> Result<(), String> {
    trees(tessera::frontend::treelite::load(p).map_err(|e| e.to_string())?)
}

fn read_onnx(p: &Path) -> Result<(), String> {
    let m = tessera::frontend::onnx::load_onnx(p).map_err(|e| e.to_string())?;
    tessera::crossbar::mlp::extract_mlp(&m).map(|_| ()).map_err(|e| e.to_string())
}

/// `.npy`: every reader the commands use (features, reference outputs, labels); accepted when
/// any of them takes the file.
fn read_npy(p: &Path) -> Result<(), String> {
    use tessera::frontend::npy;
    let a = npy::read_features(p).map(|_| ()).map_err(|e| e.to_string());
    let b = npy::read_matrix_f64(p).map(|_| ()).map_err(|e| e.to_string());
    let c = npy::read_labels(p).map(|_| ()).map_err(|e| e.to_string());
    a.or(b).or(c)
}

/// The `.npy` header (a Python dict literal) mutated as text, its length field kept in step.
fn mutate_npy_header(rng: &mut Rng, b: &mut Vec<u8>) -> String {
    if b.len() < 10 || &b[..6] != b"\x93NUMPY" || b[6] != 1 {
        return mutate_bytes(rng, b);
    }
    let len = u16::from_le_bytes([b[8], b[9]]) as usize;
    if b.len() < 10 + len {
        return mutate_bytes(rng, b);
    }
    let mut header = b[10..10 + len].to_vec();
    let what = if rng.below(2) == 0 {
        mutate_text(rng, &mut header)
    } else {
        // The shape: a dimension replaced by an extreme or malformed number.
        let text = String::from_utf8_lossy(&header).into_owned();
        let Some(s) = text.find("'shape': (") else { return mutate_bytes(rng, b) };
        let open = s + "'shape': (".len();
        let close = text[open..].find(')').map_or(text.len(), |c| open + c);
        let new = format!("{}, {}", rng.pick(&NUMBERS), rng.pick(&["1", "0", "4000000000"]));
        header = format!("{}{new}{}", &text[..open], &text[close..]).into_bytes();
        format!("shape -> ({new})")
    };
    let Ok(n) = u16::try_from(header.len()) else { return what };
    let body = b.split_off(10 + len);
    b.truncate(8);
    b.extend_from_slice(&n.to_le_bytes());
    b.extend_from_slice(&header);
    b.extend_from_slice(&body);
    format!("header: {what}")
}

fn frontends() -> Vec<Frontend> {
    let json = |n: &str| n.ends_with(".json") && n != "tensors.json";
    let ex_and_fixtures = ["examples", "tests/fixtures/trees"];
    let all_json = files(&ex_and_fixtures, json);
    let (xgb, tl): (Vec<PathBuf>, Vec<PathBuf>) = all_json
        .into_iter()
        .filter(|p| !p.to_string_lossy().contains("vit_digits_had"))
        .partition(|p| is_xgboost(p));
    vec![
        Frontend {
            name: "xgboost",
            ext: "json",
            files: xgb,
            mutators: &[mutate_json, mutate_json, mutate_text, mutate_bytes],
            read: read_xgboost,
        },
        Frontend {
            name: "lightgbm",
            ext: "txt",
            files: files(&ex_and_fixtures, |n| n == "model.txt" || n.starts_with("lgbm_")),
            mutators: &[mutate_text, mutate_text, mutate_bytes],
            read: read_lightgbm,
        },
        Frontend {
            name: "treelite",
            ext: "json",
            files: tl,
            mutators: &[mutate_json, mutate_json, mutate_text, mutate_bytes],
            read: read_treelite,
        },
        Frontend {
            name: "onnx",
            ext: "onnx",
            files: files(&["examples", "tests/fixtures/onnx"], |n| n.ends_with(".onnx")),
            mutators: &[mutate_onnx, mutate_onnx, mutate_bytes],
            read: read_onnx,
        },
        Frontend {
            name: "npy",
            ext: "npy",
            files: files(&["examples", "tests/fixtures/trees", "tests/fixtures/onnx"], |n| {
                n.ends_with(".npy")
            })
            .into_iter()
            // The small ones: a case rewrites the whole file.
            .filter(|p| std::fs::metadata(p).is_ok_and(|m| m.len() <= 70_000))
            .collect(),
            mutators: &[mutate_data, mutate_npy_header, mutate_bytes],
            read: read_npy,
        },
    ]
}

fn env_u64(name: &str) -> Option<u64> {
    std::env::var(name).ok().and_then(|v| v.trim().parse().ok())
}

fn panic_text(p: &(dyn std::any::Any + Send)) -> String {
    p.downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| p.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "(non-string panic)".into())
}

#[test]
fn frontends_never_panic_on_mutated_files() {
    let cases = env_u64("TESSERA_FUZZ_CASES").unwrap_or(DEFAULT_CASES);
    let seed = env_u64("TESSERA_FUZZ_SEED").unwrap_or(DEFAULT_SEED);
    let dir = tempfile::tempdir().unwrap();
    let keep = root().join("target/tmp/fuzz-frontends");
    let mut failures = Vec::new();
    // `TESSERA_FUZZ_ONLY=onnx,npy` fuzzes only those frontends (by hand, to dig into one).
    let only = std::env::var("TESSERA_FUZZ_ONLY").ok();
    for (fi, f) in frontends().iter().enumerate() {
        if only.as_ref().is_some_and(|o| !o.split(',').any(|n| n.trim() == f.name)) {
            continue;
        }
        assert!(!f.files.is_empty(), "{}: no seed files found", f.name);
        let seeds: Vec<Vec<u8>> = f.files.iter().map(|p| std::fs::read(p).unwrap()).collect();
        // Every seed file loads cleanly, or the fuzzing would start from a broken input.
        let start = Instant::now();
        let (mut accepted, mut refused) = (0usize, 0usize);
        for case in 0..cases {
            let mut rng = Rng::new(seed ^ ((fi as u64) << 56), case);
            let k = rng.below(seeds.len());
            let mut bytes = seeds[k].clone();
            let mut what = Vec::new();
            for _ in 0..1 + rng.below(3) {
                let m = *rng.pick(f.mutators);
                what.push(m(&mut rng, &mut bytes));
            }
            let path = dir.path().join(format!("case.{}", f.ext));
            std::fs::write(&path, &bytes).unwrap();
            match catch_unwind(AssertUnwindSafe(|| (f.read)(&path))) {
                Ok(Ok(())) => accepted += 1,
                Ok(Err(_)) => refused += 1,
                Err(p) => {
                    let name = format!("{}-{case}.{}", f.name, f.ext);
                    std::fs::create_dir_all(&keep).unwrap();
                    std::fs::write(keep.join(&name), &bytes).unwrap();
                    failures.push(format!(
                        "{} case {case} (seed {seed}) from {}: {}: panicked: {} [kept as {}]",
                        f.name,
                        f.files[k].strip_prefix(root()).unwrap_or(&f.files[k]).display(),
                        what.join("; "),
                        panic_text(p.as_ref()),
                        name
                    ));
                }
            }
        }
        eprintln!(
            "{}: {cases} cases from {} files in {:.1?}: {accepted} accepted, {refused} refused \
             with an error",
            f.name,
            f.files.len(),
            start.elapsed()
        );
        // A fuzzer whose every case is refused at the first byte tests nothing further in.
        assert!(
            refused > 0 || cases == 0,
            "{}: no case was refused; are mutations applied?",
            f.name
        );
    }
    assert!(failures.is_empty(), "{} panics:\n{}", failures.len(), failures.join("\n"));
}

#[test]
fn seed_files_load_cleanly() {
    for f in frontends() {
        for p in &f.files {
            let r = catch_unwind(AssertUnwindSafe(|| (f.read)(p)));
            let Ok(r) = r else { panic!("{}: {} panics unmutated", f.name, p.display()) };
            // Seeds include deliberately broken fixtures (tests/fixtures/trees/corrupt) and ONNX
            // models that are not MLPs; only the shipped tree models must load and pack.
            let corrupt = p.to_string_lossy().contains("corrupt");
            if matches!(f.name, "xgboost" | "lightgbm" | "treelite") && !corrupt {
                assert!(r.is_ok(), "{}: {}: {:?}", f.name, p.display(), r);
            }
        }
    }
}
