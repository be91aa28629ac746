//! The `tessera` command line: argument parsing and dispatch only. Each subcommand's work lives
//! in `tessera::commands`, so it can be tested as a library and the binary stays thin.

use clap::{Args, Parser, Subcommand, ValueEnum};
use std::path::PathBuf;
use std::process::ExitCode;
use tessera::backend::verilog::harness::Simulator;
use tessera::commands::{self, common::JobArgs};

#[derive(Parser)]
#[command(
    name = "tessera",
    version,
    about = "Compile trained ML models onto in-memory-computing accelerators",
    long_about = "tessera reads a trained model and an accelerator description (.tess), lowers the model \
                  through named passes, and emits synthesizable Verilog, a self-checking testbench, and a \
                  bit-exact simulation with energy, latency and area."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

/// Options shared by compile, sim and verify.
#[derive(Args)]
struct Common {
    /// The accelerator description.
    tess: PathBuf,
    /// Use this model file instead of the path the description binds.
    #[arg(long)]
    model: Option<PathBuf>,
    /// Which accelerator of the file to use (needed when it defines several).
    #[arg(long)]
    accel: Option<String>,
    /// Calibration/training data (.npy); default: X_train.npy or X_calib.npy beside the model.
    #[arg(long)]
    calib: Option<PathBuf>,
    /// Print the IR at a point of the pipeline: `after:PASS`, `before:PASS` or `all` (repeatable).
    #[arg(long = "dump-ir", value_name = "POINT")]
    dump_ir: Vec<String>,
    /// Refuse lossy steps (threshold merging, leaf rounding, clipping, ADC saturation,
    /// quantization error): each becomes an error with its code (E0110..E0115).
    #[arg(long = "deny-lossy")]
    deny_lossy: bool,
}

impl Common {
    fn job_args(&self) -> JobArgs {
        JobArgs {
            tess: self.tess.clone(),
            model: self.model.clone(),
            accel: self.accel.clone(),
            dump_ir: self.dump_ir.clone(),
            deny_lossy: self.deny_lossy,
        }
    }
}

#[derive(Clone, Copy, ValueEnum)]
enum SimulatorArg {
    Iverilog,
    Verilator,
}

#[derive(Subcommand)]
enum Command {
    /// Check `.tess` files and report every problem found, with error codes.
    Lint {
        /// The `.tess` files to check.
        #[arg(required = true)]
        files: Vec<PathBuf>,
        /// Output format: human-readable text or one JSON array of diagnostics.
        #[arg(long, value_enum, default_value = "human")]
        format: commands::lint::Format,
    },
    /// Compile to Verilog, a testbench, test vectors and report.json in an output directory.
    Compile {
        #[command(flatten)]
        common: Common,
        /// Output directory.
        #[arg(short = 'o', long = "out-dir", value_name = "DIR")]
        out: PathBuf,
        /// Input data (.npy float32 [n, features]) for vectors and energy; default: X_test.npy
        /// beside the model.
        #[arg(long)]
        data: Option<PathBuf>,
        /// Also synthesize with yosys and add cell and transistor counts to the report.
        #[arg(long)]
        synth: bool,
    },
    /// Simulate bit-exactly on data and report outputs, energy, latency and area.
    Sim {
        #[command(flatten)]
        common: Common,
        /// Input data, float32 .npy of shape [n, features].
        #[arg(long, required = true)]
        data: PathBuf,
        /// Labels (.npy) to report accuracy.
        #[arg(long)]
        labels: Option<PathBuf>,
        /// Write the raw outputs (float32 .npy [n, outputs]) here.
        #[arg(long)]
        out: Option<PathBuf>,
        /// Write report.json here.
        #[arg(long)]
        report: Option<PathBuf>,
    },
    /// Check that the emitted RTL reproduces the simulator bit for bit (exit 0 iff it does).
    Verify {
        #[command(flatten)]
        common: Common,
        /// Input data, float32 .npy of shape [n, features].
        #[arg(long, required = true)]
        data: PathBuf,
        /// The Verilog simulator to run.
        #[arg(long, value_enum, default_value = "iverilog")]
        simulator: SimulatorArg,
        /// Keep the simulation files in this directory instead of a temporary one.
        #[arg(long, value_name = "DIR")]
        keep: Option<PathBuf>,
    },
    /// List the passes with their descriptions and options.
    Passes,
    /// Explain an error or warning code (`tessera explain E0008`).
    Explain {
        /// The code, e.g. E0008.
        code: String,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let code = match cli.command {
        Command::Lint { files, format } => commands::lint::run(&files, format),
        Command::Compile { common, out, data, synth } => {
            commands::flowcmd::compile(&common.job_args(), &out, data, common.calib.clone(), synth)
        }
        Command::Sim { common, data, labels, out, report } => commands::flowcmd::sim(
            &common.job_args(),
            &data,
            common.calib.clone(),
            labels,
            out,
            report,
        ),
        Command::Verify { common, data, simulator, keep } => {
            let sim = match simulator {
                SimulatorArg::Iverilog => Simulator::Iverilog,
                SimulatorArg::Verilator => Simulator::Verilator,
            };
            commands::flowcmd::verify(&common.job_args(), &data, common.calib.clone(), sim, keep)
        }
        Command::Passes => commands::passes::run(),
        Command::Explain { code } => commands::explain::run(&code),
    };
    ExitCode::from(code)
}
