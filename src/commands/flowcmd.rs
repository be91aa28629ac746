//! `tessera compile`, `sim` and `verify`: the family-independent orchestration.

use super::common::{check_dir_path, create_dir, fail, load_job, read_data, write_file, JobArgs};
use crate::backend::verilog::harness::{self, SimBundle, Simulator};
use crate::backend::verilog::printer::print_modules;
use crate::backend::verilog::testbench::{self, TestbenchConfig};
use crate::diagnostics::Code;
use crate::flow::{family_for, Compiled, FlowError, HwDesign, Job, SimRun};
use crate::frontend::npy;
use crate::report::{compare_outputs, Agreement, LabelScore, LossyStep, Report, Scored, Task};
use indicatif::{ProgressBar, ProgressStyle};
use ndarray::Array2;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Reference outputs looked up beside the model, when the data is the model folder's X_test.
const REFERENCES: &[&str] = &["expected_margin.npy", "expected_output.npy"];
/// Calibration data looked up beside the model when `--calib` is absent.
const CALIBRATION: &[&str] = &["X_train.npy", "X_calib.npy"];

/// A spinner on stderr for a long step; hidden when stderr is not a terminal.
fn step(msg: &str) -> ProgressBar {
    let pb = ProgressBar::new_spinner();
    pb.set_style(
        ProgressStyle::with_template("{spinner} {msg} ({elapsed})").expect("static template"),
    );
    pb.set_message(msg.to_string());
    pb.enable_steady_tick(Duration::from_millis(120));
    pb
}

/// Compiles the job's mapping with its family, after attaching calibration data.
fn compile_job(mut job: Job, calib: Option<&Path>) -> Result<(Job, Box<dyn Compiled>), FlowError> {
    let family = family_for(&job.mapping.pass).ok_or_else(|| {
        FlowError::Description(format!(
            "mapping pass `{}` selects no model family (known: cam_pack, crossbar_tile, binarize, \
             sparsify, lif_fixpoint)",
            job.mapping.pass
        ))
    })?;
    let calib_path = match calib {
        Some(p) => Some(p.to_path_buf()),
        None => CALIBRATION.iter().map(|f| job.model_dir().join(f)).find(|p| p.is_file()),
    };
    if let Some(p) = &calib_path {
        job.calibration = Some(read_data(p)?);
    }
    let pb = step(&format!("compiling {} for {}", job.model.written, job.accel.name));
    let compiled = crate::flow::driver::compile(family, &job);
    pb.finish_and_clear();
    // Input-value errors while compiling are about the calibration data: name the file.
    let compiled = match (compiled, &calib_path) {
        (Err(e), Some(p)) => return Err(e.in_file(p)),
        (c, _) => c?,
    };
    for n in compiled.notes() {
        eprintln!("note: {n}");
    }
    for d in compiled.ir_dumps() {
        println!("{}", d.render());
    }
    Ok((job, compiled))
}

/// Measures the design's lossy steps on `x`, prints one `lossy:` line each, and refuses the
/// first when lossy steps are denied (`--deny-lossy` or `deny_lossy = true;`).
fn lossy_steps(
    job: &Job,
    compiled: &dyn Compiled,
    x: &Array2<f32>,
    run: &SimRun,
    deny: bool,
) -> Result<Vec<LossyStep>, FlowError> {
    let steps = compiled.lossy(x.view(), run)?;
    for s in &steps {
        eprintln!("{}", s.line());
    }
    let by = match (deny, job.deny_lossy()) {
        (true, _) => "--deny-lossy",
        (false, true) => "`deny_lossy = true` in the description",
        (false, false) => return Ok(steps),
    };
    match steps.first() {
        Some(s) => Err(FlowError::Lossy {
            code: s.code,
            message: format!("lossy step refused by {by}: {} {}", s.step, s.message),
        }),
        None => Ok(steps),
    }
}

/// Simulates `x` and builds the report, comparing with the framework's reference outputs when
/// the data is the model folder's own test set; lossy steps are measured, printed and
/// recorded (an error when denied).
fn simulate(
    job: &Job,
    compiled: &dyn Compiled,
    data: &Path,
    x: &Array2<f32>,
    deny: bool,
) -> Result<(SimRun, Report), FlowError> {
    let pb = step(&format!("simulating {} samples", x.nrows()));
    let run = compiled.simulate(x.view());
    pb.finish_and_clear();
    // Simulation fails on data the model cannot take (width, values): name the data file.
    let run = run.map_err(|e| FlowError::Data {
        path: data.display().to_string(),
        message: e.to_string(),
        code: e.code(),
    })?;
    let mut report =
        Report::from_cost(&job.accel.name, &job.model.written, compiled.section_name(), &run.cost);
    report
        .section(compiled.section_name(), &run.section)
        .map_err(|e| FlowError::Model(format!("report section: {e}")))?;
    report.lossy = lossy_steps(job, compiled, x, &run, deny)?;
    if let Some(agreement) = agreement(job, data, &run)? {
        report.agreement = Some(agreement);
    }
    Ok((run, report))
}

fn same_file(a: &Path, b: &Path) -> bool {
    match (a.canonicalize(), b.canonicalize()) {
        (Ok(a), Ok(b)) => a == b,
        _ => false,
    }
}

/// Agreement with `expected_*.npy` beside the model, when `data` is that folder's `X_test.npy`.
fn agreement(job: &Job, data: &Path, run: &SimRun) -> Result<Option<Agreement>, FlowError> {
    let dir = job.model_dir();
    if !same_file(data, &dir.join("X_test.npy")) {
        return Ok(None);
    }
    let Some(reference) = REFERENCES.iter().map(|f| dir.join(f)).find(|p| p.is_file()) else {
        return Ok(None);
    };
    let r = npy::read_matrix_f64(&reference)?;
    if r.dim() != run.outputs.dim() {
        return Err(FlowError::Data {
            path: reference.display().to_string(),
            message: format!(
                "shape {:?} does not match the simulated outputs {:?}",
                r.dim(),
                run.outputs.dim()
            ),
            code: Code::E0126,
        });
    }
    let rows = |a: &Array2<f32>| a.rows().into_iter().map(|r| r.to_vec()).collect::<Vec<_>>();
    let refs: Array2<f32> = r.mapv(|v| v as f32);
    let (argmax, max_abs_error) = compare_outputs(&rows(&run.outputs), &rows(&refs));
    let name = reference.file_name().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
    Ok(Some(Agreement {
        reference: name,
        samples: run.outputs.nrows(),
        argmax,
        max_abs_error,
        bound: run.bound,
        no_bound: run.no_bound.clone(),
    }))
}

/// Scores the outputs against a labels file by the model's metric (see `report::labels`);
/// labels that do not fit the model are an error naming the file.
fn score(outputs: &Array2<f32>, labels: &Path, task: Task) -> Result<Scored, FlowError> {
    let y = npy::read_labels(labels)?;
    let bad = |message: String| FlowError::Data {
        path: labels.display().to_string(),
        message,
        code: Code::E0126,
    };
    if y.len() != outputs.nrows() {
        return Err(bad(format!("{} labels for {} samples", y.len(), outputs.nrows())));
    }
    crate::report::labels::score(outputs, &y.to_vec(), task).map_err(|e| bad(e.to_string()))
}

fn print_summary(r: &Report) {
    println!("accelerator {}  model {}  family {}", r.accelerator, r.model, r.family);
    println!("  energy   {:>12.3} pJ/inference", r.energy_pj_per_inference);
    println!("  latency  {:>12.3} ns/inference", r.latency_ns_per_inference);
    println!("  area     {:>12.1} um2", r.area_um2);
    for (k, v) in &r.breakdown {
        println!("    {k:<28} {v:>12.3} pJ");
    }
    if let Some(a) = &r.accuracy {
        println!("  accuracy {:.4}", a);
    }
    if let Some(e) = &r.rmse {
        println!("  rmse     {:.4}", e);
    }
    if let Some(a) = &r.agreement {
        let bound = match (&a.bound, &a.no_bound) {
            (Some(b), _) => format!(" (bound {b:.3e})"),
            (None, Some(why)) => format!(" (no bound: {why})"),
            (None, None) => String::new(),
        };
        println!(
            "  agreement with {}: argmax {:.4} over {} samples, max |error| {:.3e}{bound}",
            a.reference, a.argmax, a.samples, a.max_abs_error
        );
    }
}

/// Prints the design and writes it with its memory files into `dir`.
fn write_design(dir: &Path, hw: &HwDesign) -> Result<String, FlowError> {
    let text = print_modules(&hw.modules);
    write_file(&dir.join(format!("{}.v", hw.top)), &text)?;
    hw.write_files(dir)?;
    Ok(text)
}

fn testbench_for(hw: &HwDesign, vectors: usize) -> Result<String, FlowError> {
    let cfg =
        TestbenchConfig::new(&hw.top, hw.in_width, hw.out_width, vectors, hw.latency, hw.interval);
    testbench::generate(&cfg).map_err(|e| FlowError::Hardware(e.to_string()))
}

/// The data for `compile`: `--data`, else the model folder's `X_test.npy`.
fn default_data(job: &Job, data: Option<PathBuf>) -> Option<PathBuf> {
    data.or_else(|| Some(job.model_dir().join("X_test.npy")).filter(|p| p.is_file()))
}

/// `tessera compile`.
pub fn compile(
    args: &JobArgs,
    out: &Path,
    data: Option<PathBuf>,
    calib: Option<PathBuf>,
    synth: bool,
) -> u8 {
    let job = match load_job(args) {
        Ok(j) => j,
        Err(code) => return code,
    };
    match compile_inner(job, out, data, calib.as_deref(), synth, args.deny_lossy) {
        Ok(()) => 0,
        Err(e) => fail(&e),
    }
}

fn compile_inner(
    job: Job,
    out: &Path,
    data: Option<PathBuf>,
    calib: Option<&Path>,
    synth: bool,
    deny: bool,
) -> Result<(), FlowError> {
    let data = default_data(&job, data);
    check_dir_path(out)?;
    let (job, compiled) = compile_job(job, calib)?;
    // Simulate first: a refused lossy step leaves no output directory behind.
    let simulated = match &data {
        Some(path) => {
            let x = read_data(path)?;
            let (_run, report) = simulate(&job, compiled.as_ref(), path, &x, deny)?;
            Some((path, x, report))
        }
        None => None,
    };
    create_dir(out)?;
    // Views before the design: their text and the design's RTL are not held at once.
    for (name, contents) in compiled.views() {
        write_file(&out.join(name), &contents)?;
    }
    let hw = compiled.hardware()?;
    write_design(out, &hw)?;
    let report = match simulated {
        Some((path, x, report)) => {
            let (inputs, expected) = compiled.vectors(x.view()).map_err(|e| e.in_file(path))?;
            crate::backend::verilog::hex::write_hex(&out.join(testbench::INPUTS_HEX), &inputs)
                .map_err(|e| FlowError::Hardware(e.to_string()))?;
            crate::backend::verilog::hex::write_hex(&out.join(testbench::EXPECTED_HEX), &expected)
                .map_err(|e| FlowError::Hardware(e.to_string()))?;
            write_file(
                &out.join(format!("{}.sv", testbench::tb_name(&hw.top))),
                &testbench_for(&hw, inputs.len())?,
            )?;
            report
        }
        None => {
            eprintln!(
                "note: no --data and no X_test.npy beside the model: wrote the design without test vectors, \
                 data-dependent energy figures or measured lossy steps"
            );
            let mut r = Report::from_ledger(
                &job.accel.name,
                &job.model.written,
                compiled.section_name(),
                &Default::default(),
            );
            r.family = compiled.section_name().to_string();
            r
        }
    };
    write_file(&out.join("report.json"), &report.to_json_pretty())?;
    print_summary(&report);
    if synth {
        let pb = step(&format!("synthesizing {} with yosys", hw.top));
        let stats = crate::backend::verilog::synth::run_yosys(out, &hw.top);
        pb.finish_and_clear();
        let stats = stats.map_err(|e| FlowError::Hardware(format!("synthesis: {e}")))?;
        let json = serde_json::to_string_pretty(&stats)
            .map_err(|e| FlowError::Hardware(format!("synthesis statistics: {e}")))?;
        write_file(&out.join("synth.json"), &json)?;
        println!(
            "  synthesis {} cells, {} transistors, {:.1} um2 (yosys generic gates, NanGate 45 nm X1 areas)",
            stats.cells, stats.transistors, stats.area
        );
    }
    println!("wrote {}", out.display());
    Ok(())
}

/// `tessera sim`.
pub fn sim(
    args: &JobArgs,
    data: &Path,
    calib: Option<PathBuf>,
    labels: Option<PathBuf>,
    out: Option<PathBuf>,
    report_path: Option<PathBuf>,
) -> u8 {
    let job = match load_job(args) {
        Ok(j) => j,
        Err(code) => return code,
    };
    let result = (|| -> Result<(), FlowError> {
        let x = read_data(data)?;
        let (job, compiled) = compile_job(job, calib.as_deref())?;
        let (run, mut report) = simulate(&job, compiled.as_ref(), data, &x, args.deny_lossy)?;
        if let Some(l) = &labels {
            let scored = score(&run.outputs, l, compiled.task())?;
            if let Some(m) = &scored.mapping {
                println!("note: {}: {m}", l.display());
            }
            match scored.score {
                LabelScore::Accuracy(a) => report.accuracy = Some(a),
                LabelScore::Rmse(e) => report.rmse = Some(e),
            }
        }
        if let Some(o) = &out {
            npy::write_outputs(o, &run.outputs)?;
        }
        if let Some(r) = &report_path {
            write_file(r, &report.to_json_pretty())?;
        }
        print_summary(&report);
        Ok(())
    })();
    match result {
        Ok(()) => 0,
        Err(e) => fail(&e),
    }
}

/// `tessera verify`: exit 0 iff the RTL reproduces the simulator on every vector.
pub fn verify(
    args: &JobArgs,
    data: &Path,
    calib: Option<PathBuf>,
    simulator: Simulator,
    keep: Option<PathBuf>,
) -> u8 {
    let job = match load_job(args) {
        Ok(j) => j,
        Err(code) => return code,
    };
    let result = (|| -> Result<bool, FlowError> {
        let x = read_data(data)?;
        if x.nrows() == 0 {
            return Err(FlowError::Data {
                path: data.display().to_string(),
                message: format!(
                    "holds no samples (shape {:?}): verify needs at least one test vector",
                    x.dim()
                ),
                code: Code::E0127,
            });
        }
        let (job, compiled) = compile_job(job, calib.as_deref())?;
        // The vectors are the simulator's outputs: measure (and maybe refuse) its lossy steps.
        let run = compiled.simulate(x.view()).map_err(|e| e.in_file(data))?;
        lossy_steps(&job, compiled.as_ref(), &x, &run, args.deny_lossy)?;
        drop(run);
        let hw = compiled.hardware()?;
        let (inputs, expected) = compiled.vectors(x.view()).map_err(|e| e.in_file(data))?;
        let tmp;
        let dir = match &keep {
            Some(d) => d.clone(),
            None => {
                tmp = tempfile::tempdir().map_err(|source| FlowError::Io {
                    path: "temporary directory".into(),
                    source,
                })?;
                tmp.path().to_path_buf()
            }
        };
        create_dir(&dir)?;
        let design = write_design(&dir, &hw)?;
        let tb = testbench_for(&hw, inputs.len())?;
        let bundle = SimBundle {
            top: &hw.top,
            design: &design,
            testbench: &tb,
            inputs: &inputs,
            expected: &expected,
        };
        let pb = step(&format!("running {} on {} vectors", simulator.name(), inputs.len()));
        let outcome = harness::simulate(simulator, &dir, &bundle);
        pb.finish_and_clear();
        let outcome = outcome?;
        println!(
            "{}: {} vectors, {} mismatches{}",
            simulator.name(),
            outcome.vectors,
            outcome.mismatches,
            if outcome.mismatches == 0 && outcome.vectors == inputs.len() {
                " — RTL matches the simulator bit for bit"
            } else {
                ""
            }
        );
        if outcome.mismatches != 0 {
            eprintln!("{}", outcome.log.lines().take(30).collect::<Vec<_>>().join("\n"));
        }
        Ok(outcome.mismatches == 0 && outcome.vectors == inputs.len())
    })();
    match result {
        Ok(true) => 0,
        Ok(false) => super::common::EXIT_FAIL,
        Err(e) => fail(&e),
    }
}
