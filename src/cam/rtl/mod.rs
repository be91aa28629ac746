//! Synthesizable Verilog for the analog-CAM tree-ensemble accelerator, bit-exact with
//! [`crate::cam::sim`] and following the hardware tiling's schedule literally.
//!
//! The design is a digital twin of the aCAM datapath with the streaming interface of
//! [`crate::backend::verilog::interface`]:
//!
//! 1. **Input encoder** ([`encoder`]): per feature, `#{t_k <= x}` by a binary search over its
//!    sorted thresholds (a ROM of IEEE-754 order keys), one comparison per feature per cycle,
//!    all features in parallel; NaN sets the feature's NaN flag.
//! 2. **Array search** ([`array`]): one scheduled `rows x cols` array per cycle, its cells and
//!    its column-to-feature map read from ROMs indexed by the array's place in the schedule,
//!    so the RTL's size depends on the geometry, not on the model (the model is in the ROMs).
//! 3. **Sequencer** ([`sequencer`]): row tiles in order, each row tile's arrays in order, a
//!    row-liveness vector with early exit under `monosparse`, leaf accumulation per output.
//!
//! The memory images are returned in [`HwDesign::files`] (see [`roms`] for their layout) and
//! read with `$readmemh` from the simulator's working directory.
//!
//! **Vectors.** `in_data` holds the raw float32 bit pattern of each feature, feature 0 in bits
//! `[31:0]`. `out_data` is described by [`OutputLayout`]: per output `k` the integer
//! `base_q[k] + Σ leaf_q` in `acc_bits` two's complement at bits `[k*acc_bits +: acc_bits]`,
//! and, for models with several outputs, the argmax class above them (ties to the lowest
//! index). The margin is that integer times `2^-frac_bits`, as in the simulator.
//!
//! **Cycles.** Per inference, from the accepting edge: `enc_run` encoder cycles (the
//! simulator's `encoder_steps`), one cycle per searched array (`arrays_searched`, with the
//! early exits of the schedule), one cycle per row tile that has no array, and one `DONE`
//! cycle, during which the next input can already be accepted ([`cycles`]). The cost model in
//! `energy.rs` instead assumes a fully parallel array: row tiles search concurrently (and,
//! without liveness, so do a row tile's arrays), each search takes `search_cycles`, and partial
//! sums are added in a tree. The RTL time-multiplexes one array's worth of match logic over the
//! schedule so the digital twin stays small; the energy events (arrays searched, rows enabled,
//! encoder comparisons, leaf additions) are the same, only the latency differs.

pub mod array;
pub mod encoder;
pub mod roms;
pub mod sequencer;
mod shape;
mod vectors;
mod vl;

pub use vectors::{argmax, vectors, OutputLayout};

use crate::backend::verilog::ast::{Decl, Item, Module};
use crate::backend::verilog::bits::Bits;
use crate::backend::verilog::hex::hex_text;
use crate::backend::verilog::interface::stream_ports;
use crate::cam::design::CamDesign;
use crate::cam::error::CamError;
use crate::cam::sim::SearchEvents;
use crate::family::HwDesign;
use shape::Shape;

/// Names of the memory-image files of a design whose top module is `top`.
pub fn memory_files(top: &str) -> [String; 4] {
    [
        format!("{top}_thresholds.hex"),
        format!("{top}_columns.hex"),
        format!("{top}_cam.hex"),
        format!("{top}_rowtiles.hex"),
    ]
}

/// Cycles the RTL spends on the inferences whose events are `ev` (summed over
/// `ev.samples`): encoder steps, searched arrays, one cycle per row tile without arrays and
/// one `DONE` cycle per inference. Back to back, inference `i + 1` is accepted this many
/// cycles after inference `i`.
pub fn cycles(design: &CamDesign, ev: &SearchEvents) -> u64 {
    let empty =
        design.hardware().row_tiles.iter().filter(|r| r.column_tiles.is_empty()).count() as u64;
    ev.encoder_steps + ev.arrays_searched + (empty + 1) * ev.samples
}

/// The most cycles one inference can take: every encoder step, every scheduled array.
pub fn worst_case_cycles(design: &CamDesign) -> u64 {
    let steps = design
        .quantized
        .encoders
        .iter()
        .map(|e| u64::from(shape::bit_len(e.thresholds.len() as u64)))
        .max()
        .unwrap_or(0);
    let searches: u64 =
        design.hardware().row_tiles.iter().map(|r| r.column_tiles.len().max(1) as u64).sum();
    steps + searches + 1
}

const KEYWORDS: &[&str] = &[
    "always",
    "and",
    "assign",
    "automatic",
    "begin",
    "buf",
    "case",
    "casex",
    "casez",
    "cell",
    "config",
    "default",
    "defparam",
    "design",
    "disable",
    "edge",
    "else",
    "end",
    "endcase",
    "endconfig",
    "endfunction",
    "endgenerate",
    "endmodule",
    "endprimitive",
    "endspecify",
    "endtable",
    "endtask",
    "event",
    "for",
    "force",
    "forever",
    "fork",
    "function",
    "generate",
    "genvar",
    "if",
    "initial",
    "inout",
    "input",
    "integer",
    "join",
    "localparam",
    "logic",
    "module",
    "nand",
    "negedge",
    "nor",
    "not",
    "or",
    "output",
    "parameter",
    "posedge",
    "real",
    "reg",
    "release",
    "repeat",
    "signed",
    "specify",
    "supply0",
    "supply1",
    "table",
    "task",
    "time",
    "tri",
    "unsigned",
    "wait",
    "while",
    "wire",
    "xor",
];

/// Checks that `top` can name a Verilog module (and the files derived from it).
fn check_top(top: &str) -> Result<(), CamError> {
    let mut chars = top.chars();
    let ok_start = chars.next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_');
    let ok_rest = chars.all(|c| c.is_ascii_alphanumeric() || c == '_');
    if !ok_start || !ok_rest || KEYWORDS.contains(&top) || top.starts_with("tb_") {
        return Err(CamError::BadOption {
            option: "top".into(),
            message: format!(
                "`{top}` is not usable as a module name: use letters, digits and `_`, start with a \
                 letter or `_`, avoid Verilog keywords and the testbench prefix `tb_`"
            ),
        });
    }
    Ok(())
}

fn hex(words: &[Bits], what: &str) -> Result<String, CamError> {
    hex_text(words).map_err(|e| CamError::Internal(format!("{what} image: {e}")))
}

/// Lowers a compiled CAM design to a Verilog module named `top` implementing the hardware
/// tiling (`design.hardware()`, the `order` policy), with its memory images.
pub fn lower(design: &CamDesign, top: &str) -> Result<HwDesign, CamError> {
    check_top(top)?;
    let sh = Shape::new(design)?;
    let q = &design.quantized;
    let t = design.hardware();
    let layout = OutputLayout::of(design);
    let [thr_file, col_file, cam_file, rt_file] = memory_files(top);
    let (columns, cells) = roms::arrays(q, t, &sh)?;
    let rts = roms::row_tiles(q, t, &sh)?;
    let mut files = Vec::new();
    let mut items = vec![
        Item::comment(format!(
            "Analog-CAM tree ensemble (digital twin), generated by tessera.\n\
             {} features, {} outputs, {} trees, {} CAM rows; {} arrays of {}x{} searched in the `{}` \
             schedule ({} row tiles{}).\n\
             in_data: float32 bit pattern of feature f at [32*f +: 32].\n\
             out_data: output k's total (base_q + sum of leaf_q, margin = total * 2^-{}) as {}-bit \
             two's complement at [{}*k +: {}]{}.",
            q.num_features,
            q.num_outputs,
            q.num_trees,
            q.rows.len(),
            sh.arrays,
            sh.rows,
            sh.cols,
            t.policy.name(),
            sh.row_tiles,
            if sh.liveness { ", row liveness with early exit" } else { "" },
            q.fixed.frac_bits,
            layout.acc_bits,
            layout.acc_bits,
            layout.acc_bits,
            if layout.class_bits > 0 {
                format!(
                    "; the argmax class at [{} +: {}]",
                    layout.outputs as u32 * layout.acc_bits,
                    layout.class_bits
                )
            } else {
                String::new()
            }
        )),
        Item::Blank,
    ];
    let mut rom =
        |name: &str, width: u32, words: Vec<Bits>, file: String| -> Result<(), CamError> {
            items.push(Item::Decl(Decl::memory(name, width, words.len() as u32)));
            items.push(Item::MemInit { file: file.clone(), mem: name.to_string() });
            files.push((file, hex(&words, name)?));
            Ok(())
        };
    if sh.total_thresholds > 0 {
        rom(encoder::THR_ROM, 32, roms::thresholds(q), thr_file)?;
    }
    rom(array::COL_ROM, sh.column_word_bits(), columns, col_file)?;
    rom(array::CAM_ROM, sh.array_word_bits(), cells, cam_file)?;
    rom(sequencer::RT_ROM, sh.row_tile_word_bits(), rts, rt_file)?;
    items.push(Item::Blank);
    let enc = encoder::encoder(q, &sh)?;
    items.extend(enc.items);
    items.extend(array::array(&sh)?);
    items.extend(sequencer::sequencer(&sh, &q.base_q, enc.on_accept, enc.on_step)?);
    let module = Module {
        name: top.to_string(),
        params: vec![],
        ports: stream_ports(sh.in_bits(), layout.width()),
        items,
    };
    let worst = u32::try_from(worst_case_cycles(design)).map_err(|_| CamError::BadOption {
        option: "tile".into(),
        message: "the schedule is longer than 2^32 cycles".into(),
    })?;
    Ok(HwDesign {
        top: top.to_string(),
        modules: vec![module],
        in_width: sh.in_bits(),
        out_width: layout.width(),
        latency: worst,
        interval: worst,
        files,
        streamed: Vec::new(),
    })
}
