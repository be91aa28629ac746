//! Shared steps of `compile`, `sim` and `verify`: load the description, pick the accelerator,
//! read data, print errors.

use crate::diagnostics::{self, HumanStyle};
use crate::dsl::{self, LoadOptions};
use crate::flow::{FlowError, Job};
use crate::frontend::npy;
use ndarray::Array2;
use std::path::{Path, PathBuf};

/// Exit code for a failed command (bad input, failed pass, mismatching RTL).
pub const EXIT_FAIL: u8 = 1;

/// Options every flow command shares.
#[derive(Clone, Debug, Default)]
pub struct JobArgs {
    pub tess: PathBuf,
    /// `--model`: replaces the path of the description's model binding.
    pub model: Option<PathBuf>,
    /// `--accel`: which accelerator of the file (default: the only one).
    pub accel: Option<String>,
    /// `--dump-ir` points.
    pub dump_ir: Vec<String>,
    /// `--deny-lossy`: every lossy step is an error.
    pub deny_lossy: bool,
}

/// Loads the description and builds the job, printing diagnostics to stderr on failure.
pub fn load_job(args: &JobArgs) -> Result<Job, u8> {
    let opts = LoadOptions {
        check_model_paths: args.model.is_none(),
        ..crate::flow::catalog::load_options()
    };
    let loaded = dsl::load_with(std::slice::from_ref(&args.tess), &opts);
    if !loaded.diagnostics.is_empty() {
        diagnostics::emit_human_stderr(
            &loaded.files,
            &loaded.diagnostics,
            HumanStyle { colour: std::io::IsTerminal::is_terminal(&std::io::stderr()) },
        );
    }
    if loaded.has_errors() || !loaded.unreadable.is_empty() {
        return Err(EXIT_FAIL);
    }
    let mut accels = loaded.accelerators;
    let accel = match (&args.accel, accels.len()) {
        (Some(name), _) => match accels.iter().position(|a| &a.name == name) {
            Some(i) => accels.swap_remove(i),
            None => {
                let names: Vec<_> = accels.iter().map(|a| a.name.as_str()).collect();
                return Err(fail(&FlowError::Description(format!(
                    "{}: no accelerator `{name}` (found: {})",
                    args.tess.display(),
                    names.join(", ")
                ))));
            }
        },
        (None, 1) => accels.remove(0),
        (None, 0) => {
            return Err(fail(&FlowError::Description(format!(
                "{}: defines no accelerator",
                args.tess.display()
            ))))
        }
        (None, n) => {
            return Err(fail(&FlowError::Description(format!(
                "{}: defines {n} accelerators; choose one with --accel",
                args.tess.display()
            ))))
        }
    };
    let mut job = Job::new(accel, args.model.clone()).map_err(|e| fail(&e))?;
    for d in &args.dump_ir {
        job.dumps.push(
            crate::passes::DumpPoint::parse(&crate::flow::registry(), d)
                .map_err(|e| fail(&e.into()))?,
        );
    }
    Ok(job)
}

/// Reads a float32 `[n, features]` `.npy`, naming the file on failure.
pub fn read_data(path: &Path) -> Result<Array2<f32>, FlowError> {
    let f = npy::read_features(path)?;
    // The note names the file already.
    if let Some(note) = f.note {
        eprintln!("note: {note}");
    }
    Ok(f.data)
}

/// Prints an error with its code (`error[E0101]: ...`, as `.tess` diagnostics do) and returns
/// the failure exit code.
pub fn fail(e: &FlowError) -> u8 {
    eprintln!("error[{}]: {e}", e.code());
    EXIT_FAIL
}

/// Refuses an output directory path that is an existing file (create_dir_all would say only
/// "File exists"), so a command can check before doing any work.
pub fn check_dir_path(dir: &Path) -> Result<(), FlowError> {
    if dir.is_file() {
        return Err(FlowError::Data {
            path: dir.display().to_string(),
            message: "the output directory path is an existing file, not a directory".into(),
            code: crate::diagnostics::Code::E0137,
        });
    }
    Ok(())
}

/// Creates a directory, naming it on failure.
pub fn create_dir(dir: &Path) -> Result<(), FlowError> {
    check_dir_path(dir)?;
    std::fs::create_dir_all(dir)
        .map_err(|source| FlowError::Io { path: dir.display().to_string(), source })
}

/// Writes a file, naming it on failure.
pub fn write_file(path: &Path, text: &str) -> Result<(), FlowError> {
    std::fs::write(path, text)
        .map_err(|source| FlowError::Io { path: path.display().to_string(), source })
}
