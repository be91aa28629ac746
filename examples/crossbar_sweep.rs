//! The crossbar co-design sweep: accuracy, agreement with the source framework and energy
//! against ADC resolution (3..8 bits) and device-to-device variation (0..10%), for the mapping
//! an accelerator description gives.
//!
//! ```text
//! cargo run --release --example crossbar_sweep -- examples/digits_mlp/accel.tess
//! ```
//!
//! Everything but the two swept parameters comes from the description: geometry, cell bits,
//! columns per ADC, on/off ratio, read noise and seed from the `rram_1t1r` instance, the
//! quantization and the (calibrated) ADC full scale from the mapping, energy figures from
//! `stdlib/crossbar.tess`. Data: `X_test.npy`, `y_test.npy` and `expected_output.npy` (the
//! source framework's outputs) beside the model. Each point is a freshly programmed chip from
//! the same seed, so points differ only in what is swept.

use std::path::PathBuf;
use std::process::ExitCode;
use tessera::crossbar::dataset::ExampleData;
use tessera::crossbar::family::compile_job;
use tessera::crossbar::sweep::{format_table, sweep, SweepSpec};
use tessera::crossbar::tile::{FullScale, XbarConfig};
use tessera::diagnostics::render_human;
use tessera::flow::Job;

fn run(path: PathBuf) -> Result<String, String> {
    let loaded = tessera::flow::catalog::load(std::slice::from_ref(&path));
    if loaded.has_errors() || !loaded.unreadable.is_empty() {
        return Err(format!(
            "{}{}: cannot load the description",
            render_human(&loaded.files, &loaded.diagnostics),
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
    let dir = job.model_dir();
    let data = ExampleData::load(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let net = &compiled.net;
    let spec = SweepSpec {
        // The mapping's configuration, its ADC full scale already calibrated when asked for.
        base: net.cfg,
        device: net.dev,
        params: compiled.params,
        adc_bits: (3..=8).collect(),
        d2d_sigmas: vec![0.0, 0.025, 0.05, 0.075, 0.1],
        data: &data.x_test,
        labels: &data.y_test,
        reference: &data.expected,
        full_scale_percentile: None,
        calib: &data.x_calib,
    };
    let points = sweep(&net.q, &spec).map_err(|e| e.to_string())?;
    // The same grid with the ADC full scale at the array maximum (no clipping): what the ADC
    // resolution costs when its range is not fitted to the data.
    let array_max =
        SweepSpec { base: XbarConfig { full_scale: FullScale::ArrayMax, ..net.cfg }, ..spec };
    let unfitted = sweep(&net.q, &array_max).map_err(|e| e.to_string())?;
    Ok(format!(
        "{}: {} test samples; {}x{} arrays, {}-bit cells, {} columns per ADC, ADC full scale {} \
         levels, on/off {}, read noise {}, seed {}\n\nADC full scale as mapped:\n{}\n\
         ADC full scale at the array maximum ({} levels):\n{}",
        path.display(),
        data.x_test.len(),
        net.cfg.rows,
        net.cfg.cols,
        net.cfg.cell_bits,
        net.cfg.cols_per_adc,
        net.cfg.full_scale_levels(),
        net.dev.on_off_ratio,
        net.dev.c2c_sigma,
        net.dev.seed,
        format_table(&points),
        array_max.base.full_scale_levels(),
        format_table(&unfitted)
    ))
}

fn main() -> ExitCode {
    let Some(path) = std::env::args_os().nth(1).map(PathBuf::from) else {
        eprintln!("usage: crossbar_sweep ACCEL.tess");
        return ExitCode::from(2);
    };
    match run(path) {
        Ok(table) => {
            print!("{table}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
