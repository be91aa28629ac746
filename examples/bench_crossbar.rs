//! Throughput of the bit-exact crossbar simulator on an example's test data, for
//! `benches/crossbar_vs_onnxruntime.py` (which times onnxruntime on the same model and data).
//!
//! ```text
//! cargo run --release --example bench_crossbar -- examples/digits_mlp/accel.tess [MIN_SECONDS]
//! ```
//!
//! Compiles the description once (quantization, tiling, programming and calibration are not
//! timed), then simulates `X_test.npy` beside the model repeatedly for at least `MIN_SECONDS`
//! (default 2) on one thread, every inference bit-exact with event counting and pricing as
//! `tessera sim` does. Prints one JSON line: samples, seconds, samples per second.

use ndarray::Array2;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;
use tessera::crossbar::dataset::read_rows_f32;
use tessera::crossbar::family::compile_job;
use tessera::flow::{Compiled, Job};

fn run(path: PathBuf, min_seconds: f64) -> Result<String, String> {
    let loaded = tessera::flow::catalog::load(std::slice::from_ref(&path));
    if loaded.has_errors() || !loaded.unreadable.is_empty() {
        return Err(format!(
            "{}{}: cannot load the description",
            tessera::diagnostics::render_human(&loaded.files, &loaded.diagnostics),
            path.display()
        ));
    }
    let accel = loaded
        .accelerators
        .into_iter()
        .next()
        .ok_or_else(|| format!("{}: defines no accelerator", path.display()))?;
    let job = Job::new(accel, None).map_err(|e| e.to_string())?;
    let compiled = compile_job(&job).map_err(|e| e.to_string())?;
    let rows = read_rows_f32(&job.model_dir().join("X_test.npy")).map_err(|e| e.to_string())?;
    let width = rows.first().map(Vec::len).unwrap_or(0);
    let x =
        Array2::from_shape_vec((rows.len(), width), rows.concat()).map_err(|e| e.to_string())?;
    compiled.simulate(x.view()).map_err(|e| e.to_string())?; // warm-up
    let start = Instant::now();
    let mut samples = 0usize;
    while samples == 0 || start.elapsed().as_secs_f64() < min_seconds {
        let run = compiled.simulate(x.view()).map_err(|e| e.to_string())?;
        samples += run.outputs.nrows();
    }
    let seconds = start.elapsed().as_secs_f64();
    Ok(format!(
        "{{\"samples\": {samples}, \"seconds\": {seconds:.6}, \"per_second\": {:.3}}}",
        samples as f64 / seconds
    ))
}

fn main() -> ExitCode {
    let mut args = std::env::args_os().skip(1);
    let Some(path) = args.next().map(PathBuf::from) else {
        eprintln!("usage: bench_crossbar ACCEL.tess [MIN_SECONDS]");
        return ExitCode::from(2);
    };
    let min_seconds = match args.next().map(|a| a.to_string_lossy().parse::<f64>()) {
        None => 2.0,
        Some(Ok(s)) if s > 0.0 => s,
        Some(_) => {
            eprintln!("error: MIN_SECONDS must be a positive number");
            return ExitCode::from(2);
        }
    };
    match run(path, min_seconds) {
        Ok(line) => {
            println!("{line}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
