//! Shared by the robustness tests (non-finite parameters, fuzzing whole commands): run the
//! built `tessera` binary with a deadline, and edit ONNX initializers through the project's
//! own prost types, so no test needs Python or a committed mutated model.

#![allow(dead_code)] // each test binary uses a part

use prost::Message;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};
use tessera::frontend::onnx::proto::ModelProto;

pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// How one run of the binary ended.
#[derive(Debug)]
pub struct Run {
    /// `None` when it was killed at the deadline.
    pub status: Option<ExitStatus>,
    pub stdout: String,
    pub stderr: String,
    pub elapsed: Duration,
}

impl Run {
    pub fn timed_out(&self) -> bool {
        self.status.is_none()
    }
    /// A panic (exit 101) or death by a signal (abort, stack overflow, out of memory).
    pub fn crashed(&self) -> bool {
        match self.status {
            Some(s) => s.code().is_none_or(|c| c == 101),
            None => false,
        }
    }
    pub fn code(&self) -> Option<i32> {
        self.status.and_then(|s| s.code())
    }
}

/// Runs `tessera ARGS` from the repository root; kills it at `timeout`. `TESSERA_BIN` names
/// another build to run instead (to check an old binary, or that the harness catches a hang).
pub fn run_tessera(args: &[&str], timeout: Duration) -> Run {
    let bin = std::env::var_os("TESSERA_BIN")
        .map_or_else(|| PathBuf::from(env!("CARGO_BIN_EXE_tessera")), PathBuf::from);
    let start = Instant::now();
    let mut child = Command::new(bin)
        .args(args)
        .current_dir(root())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the tessera binary starts");
    let mut out = child.stdout.take().expect("piped");
    let mut err = child.stderr.take().expect("piped");
    let t_out = std::thread::spawn(move || {
        let mut s = Vec::new();
        let _ = out.read_to_end(&mut s);
        s
    });
    let t_err = std::thread::spawn(move || {
        let mut s = Vec::new();
        let _ = err.read_to_end(&mut s);
        s
    });
    let status = loop {
        if let Some(s) = child.try_wait().expect("waiting on tessera") {
            break Some(s);
        }
        if start.elapsed() > timeout {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    let elapsed = start.elapsed();
    let text = |b: Vec<u8>| String::from_utf8_lossy(&b).into_owned();
    Run {
        status,
        stdout: text(t_out.join().unwrap_or_default()),
        stderr: text(t_err.join().unwrap_or_default()),
        elapsed,
    }
}

/// Decodes an ONNX file with the frontend's own messages.
pub fn read_model(path: &Path) -> ModelProto {
    let bytes = std::fs::read(path).expect("model file");
    ModelProto::decode(bytes.as_slice()).expect("a valid ONNX file")
}

/// Names and element counts of the FLOAT initializers.
pub fn float_initializers(m: &ModelProto) -> Vec<(String, usize)> {
    let g = m.graph.as_ref().expect("graph");
    g.initializer
        .iter()
        .filter(|t| t.data_type == Some(1))
        .map(|t| {
            let n = t.raw_data.as_ref().map_or(t.float_data.len(), |r| r.len() / 4);
            (t.name.clone().unwrap_or_default(), n)
        })
        .collect()
}

/// Sets element `index` of FLOAT initializer `name` (raw or `float_data`) to `value`.
pub fn set_float(m: &mut ModelProto, name: &str, index: usize, value: f32) {
    let g = m.graph.as_mut().expect("graph");
    let t = g
        .initializer
        .iter_mut()
        .find(|t| t.name.as_deref() == Some(name))
        .unwrap_or_else(|| panic!("no initializer `{name}`"));
    assert_eq!(t.data_type, Some(1), "`{name}` is not FLOAT");
    match t.raw_data.as_mut().filter(|r| !r.is_empty()) {
        Some(raw) => raw[index * 4..index * 4 + 4].copy_from_slice(&value.to_le_bytes()),
        None => t.float_data[index] = value,
    }
}

/// Writes `m` to `dir/name`, returning the path.
pub fn write_model(m: &ModelProto, dir: &Path, name: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, m.encode_to_vec()).expect("write model");
    p
}
