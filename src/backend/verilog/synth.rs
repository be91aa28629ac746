//! Logic synthesis with yosys for area and transistor counts.
//!
//! `stat -tech cmos` does not count flip-flops (it prints `N+`), so designs are mapped onto
//! tessera's own five-cell library (`cells/tessera_cells.lib`: INV, BUF, NAND2, NOR2, DFF, with
//! NanGate 45 nm X1 areas) and counted there:
//!
//! ```text
//! read_verilog -sv <every .v in the directory>
//! synth -top TOP -flatten
//! dfflegalize -cell $_DFF_P_ 01      (resets and enables become logic before a plain DFF)
//! dfflibmap -liberty L; abc -liberty L; opt_clean
//! stat -liberty L
//! ```
//!
//! Transistors are the mapped cell counts times [`TRANSISTORS`] per cell.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use thiserror::Error;

/// The liberty file, compiled into the binary.
pub const LIBERTY: &str = include_str!("cells/tessera_cells.lib");

/// Transistors per library cell: static CMOS INV 2, BUF (two inverters) 4, NAND2 4, NOR2 4,
/// and 24 for a transmission-gate master-slave D flip-flop with local clock inversion.
pub const TRANSISTORS: &[(&str, u64)] =
    &[("INV", 2), ("BUF", 4), ("NAND2", 4), ("NOR2", 4), ("DFF", 24)];

/// Synthesis results of one top module.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct SynthStats {
    pub cells: u64,
    pub transistors: u64,
    /// Area in um^2 from the liberty file.
    pub area: f64,
    /// Cell counts by library cell.
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
    let lib = work.path().join("tessera_cells.lib");
    std::fs::write(&lib, LIBERTY).map_err(io(&lib))?;
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
         dfflibmap -liberty tessera_cells.lib; abc -liberty tessera_cells.lib; opt_clean; \
         tee -q -o stat.txt stat -liberty tessera_cells.lib",
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

/// Reads cell counts and the chip area from `stat -liberty` output.
pub fn parse_stat(text: &str) -> Result<SynthStats, SynthError> {
    let mut by_cell = BTreeMap::new();
    let mut cells = None;
    let mut area = None;
    for line in text.lines() {
        let t = line.trim();
        if let Some(rest) = t.strip_prefix("Number of cells:") {
            cells = rest.trim().parse::<u64>().ok();
        } else if let Some(rest) = t.strip_prefix("Chip area for module") {
            area = rest.rsplit(':').next().and_then(|a| a.trim().parse::<f64>().ok());
        } else if let [name, count] = t.split_whitespace().collect::<Vec<_>>()[..] {
            if let (Some(_), Ok(c)) =
                (TRANSISTORS.iter().find(|(n, _)| *n == name), count.parse::<u64>())
            {
                by_cell.insert(name.to_string(), c);
            }
        }
    }
    let cells = cells.ok_or_else(|| SynthError::Parse("no `Number of cells` line".into()))?;
    let area = area.ok_or_else(|| SynthError::Parse("no `Chip area` line".into()))?;
    let counted: u64 = by_cell.values().sum();
    if counted != cells {
        return Err(SynthError::Parse(format!(
            "{cells} cells but {counted} of library cells: the design kept unmapped cells"
        )));
    }
    let transistors = by_cell
        .iter()
        .map(|(n, c)| c * TRANSISTORS.iter().find(|(m, _)| m == n).map_or(0, |x| x.1))
        .sum();
    Ok(SynthStats { cells, transistors, area, by_cell })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_yosys_statistics() {
        let text = "=== t ===\n   Number of cells:                178\n     DFF                             8\n     INV                            26\n     NAND2                          80\n     NOR2                           64\n\n   Chip area for module '\\t': 164.920000\n";
        let s = parse_stat(text).unwrap();
        // 8 DFF x 24 + 26 INV x 2 + 80 NAND2 x 4 + 64 NOR2 x 4 = 192 + 52 + 320 + 256 = 820.
        assert_eq!(s.transistors, 820);
        assert_eq!(s.cells, 178);
        assert!((s.area - 164.92).abs() < 1e-9);
        // 8 x 4.522 + 26 x 0.532 + 144 x 0.798 = 36.176 + 13.832 + 114.912 = 164.92: the library
        // areas reproduce yosys's total.
        assert!((8.0 * 4.522 + 26.0 * 0.532 + 144.0 * 0.798 - s.area).abs() < 1e-9);
        assert!(parse_stat("Number of cells: 3\n  XOR 3\nChip area for module 'x': 1.0").is_err());
    }
}
