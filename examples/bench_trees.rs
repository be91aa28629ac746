//! Throughput and compile-time benchmark of the tree family, for `benches/trees_vs_peers.py`.
//!
//! `cargo run --release --example bench_trees -- ACCEL.tess [--accel NAME] [--data X.npy] [--repeat N]`
//! prints one JSON object: compile time (model load + passes) and simulator throughput
//! (bit-exact CAM search with event counting, all three policies, on the rayon pool: set
//! `RAYON_NUM_THREADS=1` for one thread) on the given data. The Python
//! script runs the peers (xgboost's own predict, conifer's conversion) on the same data in the
//! same process tree and prints the ratios.

use std::path::PathBuf;
use std::time::Instant;
use tessera::commands::common::{load_job, read_data, JobArgs};
use tessera::flow::family_for;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut job_args = JobArgs::default();
    let mut data: Option<PathBuf> = None;
    let mut repeat = 3usize;
    let mut i = 0;
    while i < args.len() {
        match args[i].as_str() {
            "--accel" => {
                job_args.accel = args.get(i + 1).cloned();
                i += 1;
            }
            "--data" => {
                data = args.get(i + 1).map(PathBuf::from);
                i += 1;
            }
            "--repeat" => {
                repeat = args.get(i + 1).and_then(|s| s.parse().ok()).unwrap_or(3);
                i += 1;
            }
            path => job_args.tess = PathBuf::from(path),
        }
        i += 1;
    }
    if job_args.tess.as_os_str().is_empty() {
        eprintln!("usage: bench_trees ACCEL.tess [--accel NAME] [--data X.npy] [--repeat N]");
        std::process::exit(2);
    }
    let Ok(mut job) = load_job(&job_args) else { std::process::exit(1) };
    let data = data.unwrap_or_else(|| job.model_dir().join("X_test.npy"));
    let calib = job.model_dir().join("X_train.npy");
    let mut run = || -> Result<(), String> {
        let x = read_data(&data).map_err(|e| e.to_string())?;
        if calib.is_file() {
            job.calibration = Some(read_data(&calib).map_err(|e| e.to_string())?);
        }
        let family = family_for(&job.mapping.pass).ok_or("no family")?;
        let mut compile_s = f64::INFINITY;
        let mut compiled = None;
        for _ in 0..repeat {
            let t = Instant::now();
            compiled =
                Some(tessera::flow::driver::compile(family, &job).map_err(|e| e.to_string())?);
            compile_s = compile_s.min(t.elapsed().as_secs_f64());
        }
        let compiled = compiled.ok_or("no compile ran")?;
        let mut sim_s = f64::INFINITY;
        for _ in 0..repeat {
            let t = Instant::now();
            compiled.simulate(x.view()).map_err(|e| e.to_string())?;
            sim_s = sim_s.min(t.elapsed().as_secs_f64());
        }
        println!(
            "{{\"samples\": {}, \"threads\": {}, \"compile_s\": {compile_s:.6}, \
             \"sim_s\": {sim_s:.6}, \"sim_inferences_per_s\": {:.1}}}",
            x.nrows(),
            rayon::current_num_threads(),
            x.nrows() as f64 / sim_s
        );
        Ok(())
    };
    if let Err(e) = run() {
        eprintln!("error: {e}");
        std::process::exit(1);
    }
}
