//! Runs a design and its testbench under iverilog or verilator and reads the verdict.
//!
//! [`write_bundle`] writes `<top>.v`, `tb_<top>.sv`, `inputs.hex` and `expected.hex` into a
//! directory; [`run`] compiles and runs them there and parses the testbench's
//! `TESSERA-RESULT` line into a [`SimOutcome`]. Missing tools and compile errors are reported
//! with the tool's own output.

use super::bits::Bits;
use super::hex::{hex_text, HexError};
use super::testbench::{parse_result, tb_name, EXPECTED_HEX, INPUTS_HEX};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

/// Wall-clock limit of one simulation run under [`Compiled::execute`].
pub const DEFAULT_RUN_LIMIT: Duration = Duration::from_secs(600);
use thiserror::Error;

/// A supported simulator.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Simulator {
    /// `iverilog -g2012` + `vvp`.
    Iverilog,
    /// `verilator --binary` (Verilator 5 timing mode).
    Verilator,
}

impl Simulator {
    pub fn name(self) -> &'static str {
        match self {
            Simulator::Iverilog => "iverilog",
            Simulator::Verilator => "verilator",
        }
    }
}

/// Whether the simulator's programs can be started.
pub fn available(sim: Simulator) -> bool {
    let probe = |prog: &str, arg: &str| Command::new(prog).arg(arg).output().is_ok();
    match sim {
        // `iverilog -V` exits non-zero without input files but does start.
        Simulator::Iverilog => probe("iverilog", "-V") && probe("vvp", "-V"),
        Simulator::Verilator => probe("verilator", "--version"),
    }
}

/// Whether yosys can be started (for synthesis checks).
pub fn yosys_available() -> bool {
    Command::new("yosys").arg("-V").output().is_ok()
}

/// The environment variable that turns a missing simulator or yosys into a test failure.
/// CI sets it (`.ci/run`), so a cosimulation test cannot pass there by not running.
pub const REQUIRE_TOOLS_VAR: &str = "TESSERA_REQUIRE_TOOLS";

/// Whether [`REQUIRE_TOOLS_VAR`] is switched on (any value but empty or `0`).
pub fn tools_required() -> bool {
    std::env::var_os(REQUIRE_TOOLS_VAR).is_some_and(|v| !v.is_empty() && v != "0")
}

/// For tests that need `sim`: `true` when it can be started. When it cannot, the test fails
/// under [`REQUIRE_TOOLS_VAR`] (panics naming the tool); otherwise this prints a `SKIPPED:`
/// line to stderr and returns `false`, so a skip is never silent.
pub fn require(sim: Simulator) -> bool {
    gate(sim.name(), available(sim), tools_required())
}

/// [`require`] for yosys.
pub fn require_yosys() -> bool {
    gate("yosys", yosys_available(), tools_required())
}

fn gate(tool: &str, present: bool, required: bool) -> bool {
    if present {
        return true;
    }
    // libtest names each test's thread after the test (except with one test thread).
    let thread = std::thread::current();
    let test =
        thread.name().filter(|n| *n != "main").map(|n| format!(" in `{n}`")).unwrap_or_default();
    if required {
        panic!(
            "{tool} not found{test}, and {REQUIRE_TOOLS_VAR} is set, so this test may not skip: \
             install {tool} or put it on PATH (unset {REQUIRE_TOOLS_VAR} to let tests skip)"
        );
    }
    // Written to the stderr handle, not through `eprintln!`, which the test harness captures
    // and shows only for failing tests: a skip must be visible in a passing run.
    let _ = writeln!(
        std::io::stderr(),
        "SKIPPED: {tool} not found{test} (set {REQUIRE_TOOLS_VAR}=1 to make this a failure)"
    );
    false
}

/// The verdict of one simulation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SimOutcome {
    pub simulator: Simulator,
    /// Vector count the testbench reports.
    pub vectors: usize,
    /// Mismatched, missing and extra outputs.
    pub mismatches: usize,
    /// The simulator's standard output and error.
    pub log: String,
}

/// Why a simulation did not produce a verdict.
#[derive(Debug, Error)]
pub enum HarnessError {
    #[error("{tool} is not installed or cannot be started ({message})")]
    ToolMissing { tool: String, message: String },
    #[error("{path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
    #[error(transparent)]
    Hex(#[from] HexError),
    #[error("{tool} failed to compile the design ({status}):\n{output}")]
    CompileFailed { tool: String, status: String, output: String },
    #[error("the {simulator} simulation did not finish within {limit:?} and was stopped")]
    Timeout { simulator: String, limit: Duration },
    #[error("the {simulator} simulation printed no TESSERA-RESULT line ({status}):\n{log}")]
    NoResult { simulator: String, status: String, log: String },
}

/// The texts and vectors of one simulation.
#[derive(Clone, Debug)]
pub struct SimBundle<'a> {
    pub top: &'a str,
    /// The design's Verilog (every module it needs).
    pub design: &'a str,
    /// The testbench (from [`super::testbench::generate`]).
    pub testbench: &'a str,
    pub inputs: &'a [Bits],
    pub expected: &'a [Bits],
}

/// Paths of the files [`write_bundle`] wrote.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BundleFiles {
    pub design: PathBuf,
    pub testbench: PathBuf,
    pub inputs: PathBuf,
    pub expected: PathBuf,
}

fn write(path: PathBuf, text: &str) -> Result<PathBuf, HarnessError> {
    std::fs::write(&path, text)
        .map_err(|source| HarnessError::Io { path: path.clone(), source })?;
    Ok(path)
}

/// Writes `<top>.v`, `tb_<top>.sv`, `inputs.hex` and `expected.hex` into `dir` (created if
/// missing).
pub fn write_bundle(dir: &Path, b: &SimBundle) -> Result<BundleFiles, HarnessError> {
    std::fs::create_dir_all(dir)
        .map_err(|source| HarnessError::Io { path: dir.to_path_buf(), source })?;
    let hex = |v: &[Bits], name: &str| {
        hex_text(v)
            .map_err(|source| HarnessError::Hex(HexError::Pack { file: name.to_string(), source }))
    };
    Ok(BundleFiles {
        design: write(dir.join(format!("{}.v", b.top)), b.design)?,
        testbench: write(dir.join(format!("{}.sv", tb_name(b.top))), b.testbench)?,
        inputs: write(dir.join(INPUTS_HEX), &hex(b.inputs, INPUTS_HEX)?)?,
        expected: write(dir.join(EXPECTED_HEX), &hex(b.expected, EXPECTED_HEX)?)?,
    })
}

/// Writes the bundle into `dir` and runs it under `sim`.
pub fn simulate(sim: Simulator, dir: &Path, b: &SimBundle) -> Result<SimOutcome, HarnessError> {
    write_bundle(dir, b)?;
    run(sim, dir, b.top)
}

fn exec(tool: &str, cmd: &mut Command) -> Result<Output, HarnessError> {
    cmd.output()
        .map_err(|e| HarnessError::ToolMissing { tool: tool.to_string(), message: e.to_string() })
}

fn text(o: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr))
}

/// A compiled simulation: run it with [`Compiled::execute`], as often as needed. The hex
/// files are read when the simulation starts, so rewriting `expected.hex` between runs (to
/// check that a wrong expectation is caught) needs no recompilation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Compiled {
    pub simulator: Simulator,
    dir: PathBuf,
    program: PathBuf,
    args: Vec<String>,
}

/// Compiles the bundle already written in `dir` for module `top`.
pub fn compile(sim: Simulator, dir: &Path, top: &str) -> Result<Compiled, HarnessError> {
    let tb = tb_name(top);
    let design = format!("{top}.v");
    let tb_file = format!("{tb}.sv");
    let (tool, args): (&str, Vec<&str>) = match sim {
        Simulator::Iverilog => {
            ("iverilog", vec!["-g2012", "-o", "sim.vvp", "-s", &tb, &design, &tb_file])
        }
        Simulator::Verilator => (
            "verilator",
            vec!["--binary", "-j", "2", "--top-module", &tb, "-Mdir", "obj_dir", &design, &tb_file],
        ),
    };
    let c = exec(tool, Command::new(tool).current_dir(dir).args(&args))?;
    if !c.status.success() {
        return Err(HarnessError::CompileFailed {
            tool: tool.into(),
            status: c.status.to_string(),
            output: text(&c),
        });
    }
    let (program, args) = match sim {
        Simulator::Iverilog => {
            (PathBuf::from("vvp"), vec!["-n".to_string(), "sim.vvp".to_string()])
        }
        Simulator::Verilator => (dir.join("obj_dir").join(format!("V{tb}")), vec![]),
    };
    Ok(Compiled { simulator: sim, dir: dir.to_path_buf(), program, args })
}

impl Compiled {
    /// Runs the simulation and parses its verdict.
    pub fn execute(&self) -> Result<SimOutcome, HarnessError> {
        self.execute_within(DEFAULT_RUN_LIMIT)
    }

    /// Runs the simulation, killing it after `limit` of wall-clock time. The testbench's own
    /// cycle timeout normally ends every run; this guards against designs that stop simulated
    /// time from advancing (a combinational loop), which would otherwise hang the caller.
    pub fn execute_within(&self, limit: Duration) -> Result<SimOutcome, HarnessError> {
        let name = self.program.to_string_lossy().into_owned();
        let mut child = Command::new(&self.program)
            .args(&self.args)
            .current_dir(&self.dir)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| HarnessError::ToolMissing {
                tool: name.clone(),
                message: e.to_string(),
            })?;
        // Drain both pipes on threads so a chatty simulation cannot block on a full pipe.
        let drain = |r: Option<Box<dyn Read + Send>>| {
            std::thread::spawn(move || {
                let mut buf = Vec::new();
                if let Some(mut r) = r {
                    let _ = r.read_to_end(&mut buf);
                }
                buf
            })
        };
        let out_t = drain(child.stdout.take().map(|r| Box::new(r) as Box<dyn Read + Send>));
        let err_t = drain(child.stderr.take().map(|r| Box::new(r) as Box<dyn Read + Send>));
        let start = Instant::now();
        let status = loop {
            match child.try_wait() {
                Ok(Some(status)) => break status,
                Ok(None) if start.elapsed() > limit => {
                    let _ = child.kill();
                    let _ = child.wait();
                    return Err(HarnessError::Timeout {
                        simulator: self.simulator.name().into(),
                        limit,
                    });
                }
                Ok(None) => std::thread::sleep(Duration::from_millis(5)),
                Err(e) => {
                    return Err(HarnessError::ToolMissing { tool: name, message: e.to_string() })
                }
            }
        };
        let out = Output {
            status,
            stdout: out_t.join().unwrap_or_default(),
            stderr: err_t.join().unwrap_or_default(),
        };
        let log = text(&out);
        match parse_result(&log) {
            Some((vectors, mismatches)) => {
                Ok(SimOutcome { simulator: self.simulator, vectors, mismatches, log })
            }
            None => Err(HarnessError::NoResult {
                simulator: self.simulator.name().into(),
                status: out.status.to_string(),
                log,
            }),
        }
    }
}

/// Compiles and runs the bundle already written in `dir` for module `top`.
pub fn run(sim: Simulator, dir: &Path, top: &str) -> Result<SimOutcome, HarnessError> {
    compile(sim, dir, top)?.execute()
}
