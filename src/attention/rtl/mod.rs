//! Verilog for the attention family: the attention core (HAD or standard), a streaming
//! one-head unit around it, and the whole-model sequencer that runs an integer
//! [`crate::attention::program::Program`].
//!
//! Everything is built as [`crate::backend::verilog::ast`] data; ROMs too large for case
//! statements are `$readmemh` memories whose hex files travel with the design
//! ([`AttnVerilog::data_files`]).

pub mod core;
pub mod machine;
pub mod prims;
pub mod unit;

use crate::attention::core::{attend, CoreMode, CoreParams};
use crate::attention::error::AttnError;
use crate::backend::verilog::ast::Module;
use crate::backend::verilog::bits::Bits;
use crate::backend::verilog::hex::pack;
use std::path::Path;

/// A generated design: modules (top first), the files its ROMs read, and what a testbench
/// needs to know.
#[derive(Clone, Debug, PartialEq)]
pub struct AttnVerilog {
    pub top: String,
    pub modules: Vec<Module>,
    /// `(file name, contents)` of the `$readmemh` files, to be written next to the design (the
    /// simulators read them from their working directory).
    pub data_files: Vec<(String, String)>,
    pub in_width: u32,
    pub out_width: u32,
    /// Cycles from accepting an input to `out_valid`.
    pub latency: u64,
}

impl AttnVerilog {
    /// The design text (every module).
    pub fn text(&self) -> String {
        crate::backend::verilog::print_modules(&self.modules)
    }

    /// Writes the ROM files into `dir`.
    pub fn write_data_files(&self, dir: &Path) -> std::io::Result<()> {
        for (name, text) in &self.data_files {
            std::fs::write(dir.join(name), text)?;
        }
        Ok(())
    }
}

/// The streaming one-head unit for `p`.
pub fn unit_design(top: &str, p: &CoreParams) -> Result<AttnVerilog, AttnError> {
    let modules = unit::unit_modules(top, p)?;
    let (in_width, out_width) = unit::widths(p);
    Ok(AttnVerilog {
        top: top.to_string(),
        modules,
        data_files: vec![],
        in_width,
        out_width,
        latency: unit::latency(p),
    })
}

/// Packs one unit input (`q`, `k` as `[s, d_k]`, `v` as `[s, d_v]` codes) and its expected
/// output, computed by the simulator's core.
pub fn unit_vectors(
    p: &CoreParams,
    q: &[i64],
    k: &[i64],
    v: &[i64],
) -> Result<(Bits, Bits), AttnError> {
    let (out, _) = attend(p, q, k, v);
    let qkb = unit::qk_bits(p);
    let mut vals: Vec<(i128, u32)> = Vec::new();
    for &x in q.iter().chain(k) {
        vals.push((i128::from(x), qkb));
    }
    for &x in v {
        vals.push((i128::from(x), 8));
    }
    let (in_w, _) = unit::widths(p);
    let mut input = Bits::zero(in_w);
    let mut pos = 0;
    for (x, w) in vals {
        let field = Bits::from_int(x, w, p.mode == CoreMode::Standard || w == 8)?;
        input.set_field(pos, &field);
        pos += w;
    }
    let expected = pack(&out.iter().map(|&x| i128::from(x)).collect::<Vec<_>>(), 8, true)?;
    Ok((input, expected))
}
