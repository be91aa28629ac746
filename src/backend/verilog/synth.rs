//! Logic synthesis with yosys for area and transistor counts.
//!
//! Designs are synthesized to yosys's generic gate cells and counted with tessera's own
//! per-cell table, flip-flops included (`stat -tech cmos` in yosys 0.23 has no flip-flop
//! cost and prints `N+`):
//!
//! ```text
//! read_verilog -sv <every .v in the directory>
//! synth -top TOP -flatten
//! dfflegalize -cell $_DFF_P_ 01      (enables and resets become gates before a plain DFF)
//! opt_clean
//! stat
//! ```
//!
//! Transistors per cell are yosys's static-CMOS costs (`kernel/cost.h`: NOT 2, NAND/NOR 4,
//! AND/OR/ANDNOT/ORNOT 6, XOR/XNOR 12, MUX 12, ...) plus 24 for a transmission-gate
//! master-slave D flip-flop; areas are the NanGate 45 nm open cell library's X1 cells (INV 0.532,
//! NAND2/NOR2/BUF 0.798, AND2/OR2 1.064, XOR2/XNOR2 1.596, MUX2 1.862, DFF 4.522 um^2).
//! Mapping onto a liberty file with `abc -liberty` gives the same kind of count but took
//! minutes per attention core on this machine, so the generic netlist is counted directly.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use thiserror::Error;

/// `(yosys cell, transistors, area in um^2)` of every cell the flow can leave.
pub const CELLS: &[(&str, u64, f64)] = &[
    ("$_BUF_", 4, 0.798),
    ("$_NOT_", 2, 0.532),
    ("$_NAND_", 4, 0.798),
    ("$_NOR_", 4, 0.798),
    ("$_AND_", 6, 1.064),
    ("$_OR_", 6, 1.064),
    // a AND NOT b / a OR NOT b: NAND/NOR with an input inverter.
    ("$_ANDNOT_", 6, 1.064),
    ("$_ORNOT_", 6, 1.064),
    ("$_XOR_", 12, 1.596),
    ("$_XNOR_", 12, 1.596),
    ("$_AOI3_", 6, 1.064),
    ("$_OAI3_", 6, 1.064),
    ("$_AOI4_", 8, 1.33),
    ("$_OAI4_", 8, 1.33),
    ("$_MUX_", 12, 1.862),
    ("$_NMUX_", 10, 1.862),
    ("$_DFF_P_", 24, 4.522),
];

/// Synthesis results of one top module.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct SynthStats {
    pub cells: u64,
    pub transistors: u64,
    /// Area in um^2 ([`CELLS`]).
    pub area: f64,
    /// Cell counts by yosys cell type.
    pub by_cell: BTreeMap<String, u64>,
}

#[derive(Debug, Error)]
pub enum SynthError {
    #[error("{path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
    #[error("no .v files in {0}")]
    NoSources(PathBuf),
    #[error("yosys is not installed or cannot be started ({0})")]
    ToolMissing(String),
    #[error("yosys failed ({status}):\n{log}")]
    Failed { status: String, log: String },
    #[error("cannot read yosys statistics: {0}")]
    Parse(String),
}

/// Synthesizes module `top` from every `.v` file in `verilog_dir` (its `.hex`/`.mem` memory
/// files are made visible to `$readmemh`).
pub fn run_yosys(verilog_dir: &Path, top: &str) -> Result<SynthStats, SynthError> {
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source| SynthError::Io { path, source }
    };
    let entries: Vec<PathBuf> = std::fs::read_dir(verilog_dir)
        .map_err(io(verilog_dir))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_file())
        .collect();
    let is_v = |p: &PathBuf| p.extension().is_some_and(|x| x == "v");
    let mut sources: Vec<PathBuf> = entries.iter().filter(|p| is_v(p)).cloned().collect();
    sources.sort();
    // Memory initialisation files (`$readmemh`) are read from the working directory.
    let data: Vec<&PathBuf> = entries
        .iter()
        .filter(|p| p.extension().is_some_and(|x| x == "hex" || x == "mem"))
        .collect();
    if sources.is_empty() {
        return Err(SynthError::NoSources(verilog_dir.to_path_buf()));
    }
    let work = tempfile::tempdir().map_err(io(Path::new("(temporary directory)")))?;
    let stat = work.path().join("stat.txt");
    // Sources are copied under plain names so no path needs quoting in the yosys script.
    let mut files = Vec::with_capacity(sources.len());
    for (i, src) in sources.iter().enumerate() {
        let name = format!("src{i}.v");
        std::fs::copy(src, work.path().join(&name)).map_err(io(src))?;
        files.push(name);
    }
    for d in data {
        if let Some(name) = d.file_name() {
            std::fs::copy(d, work.path().join(name)).map_err(io(d))?;
        }
    }
    let script = format!(
        "read_verilog -sv {files}; synth -top {top} -flatten; dfflegalize -cell $_DFF_P_ 01; \
         opt_clean; tee -q -o stat.txt stat",
        files = files.join(" ")
    );
    let out = Command::new("yosys")
        .arg("-q")
        .arg("-p")
        .arg(&script)
        .current_dir(work.path())
        .output()
        .map_err(|e| SynthError::ToolMissing(e.to_string()))?;
    if !out.status.success() {
        let log = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        return Err(SynthError::Failed { status: out.status.to_string(), log });
    }
    let text = std::fs::read_to_string(&stat).map_err(io(&stat))?;
    parse_stat(&text)
}

/// Reads cell counts from `stat` output and prices them with [`CELLS`].
pub fn parse_stat(text: &str) -> Result<SynthStats, SynthError> {
    let mut by_cell = BTreeMap::new();
    let mut cells = None;
    let mut unknown = Vec::new();
    for line in text.lines() {
        let t = line.trim();
        if let Some(rest) = t.strip_prefix("Number of cells:") {
            cells = rest.trim().parse::<u64>().ok();
        } else if let [name, count] = t.split_whitespace().collect::<Vec<_>>()[..] {
            if let (true, Ok(c)) = (name.starts_with('$'), count.parse::<u64>()) {
                if CELLS.iter().any(|(n, _, _)| *n == name) {
                    by_cell.insert(name.to_string(), c);
                } else {
                    unknown.push(name.to_string());
                }
            }
        }
    }
    let cells = cells.ok_or_else(|| SynthError::Parse("no `Number of cells` line".into()))?;
    if !unknown.is_empty() {
        return Err(SynthError::Parse(format!(
            "the netlist kept cells without a cost: {}",
            unknown.join(", ")
        )));
    }
    let counted: u64 = by_cell.values().sum();
    if counted != cells {
        return Err(SynthError::Parse(format!("{cells} cells but {counted} were counted")));
    }
    let cost = |n: &str| CELLS.iter().find(|(m, _, _)| *m == n).map_or((0, 0.0), |c| (c.1, c.2));
    let transistors = by_cell.iter().map(|(n, c)| c * cost(n).0).sum();
    let area = by_cell.iter().map(|(n, c)| *c as f64 * cost(n).1).sum();
    Ok(SynthStats { cells, transistors, area, by_cell })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_yosys_statistics() {
        let text = "=== t ===\n   Number of cells:                178\n     $_DFF_P_                        8\n     $_NOT_                         26\n     $_NAND_                        80\n     $_XOR_                         64\n";
        let s = parse_stat(text).unwrap();
        // 8 DFF x 24 + 26 NOT x 2 + 80 NAND x 4 + 64 XOR x 12 = 192 + 52 + 320 + 768 = 1332.
        assert_eq!(s.transistors, 1332);
        assert_eq!(s.cells, 178);
        // 8 x 4.522 + 26 x 0.532 + 80 x 0.798 + 64 x 1.596 = 36.176 + 13.832 + 63.84 + 102.144.
        assert!((s.area - 215.992).abs() < 1e-9);
        let e = parse_stat("Number of cells: 3\n  $_FOO_ 3\n").unwrap_err().to_string();
        assert_eq!(
            e,
            "cannot read yosys statistics: the netlist kept cells without a cost: $_FOO_"
        );
        assert!(parse_stat("Number of cells: 4\n  $_NOT_ 3\n").is_err());
    }
}
