//! HAD against standard attention for the vit_digits_had example: yosys synthesis of one
//! attention core (one head) at the model's shape and at longer sequences, and the CAMformer
//! cost model's trend with sequence length 64..4096.
//!
//! `cargo run --release --example attention_costs [-- --max-seq N]` (yosys on PATH).
//!
//! The cores compared are the ones tessera compiles for the model: layer 0, head 0 of the
//! HAD-distilled student (binary Q/K storage, XNOR-popcount scores, exponent table indexed by
//! the Hamming distance; all 17 keys or top-6) and of the float teacher (int8 Q/K storage and
//! dot products, full softmax through a 256-entry exponent table). Both keep int8 values and
//! the same value MAC and divider, so the difference is the score path and the Q/K storage.
//! Longer sequences reuse the compiled core parameters with `s` changed (the RTL is generic
//! in `s`). Cells are yosys generic gates after `synth -flatten` and `dfflegalize`, priced
//! per cell by `backend::verilog::synth::CELLS` (static-CMOS transistors, NanGate 45 nm areas).

use std::path::Path;
use tessera::attention::core::CoreParams;
use tessera::attention::cost::{head_cost, scaling, AttnShape, AttnUnits, Variant};
use tessera::attention::dialect::program_of;
use tessera::attention::family::ATTENTION_FAMILY;
use tessera::attention::program::MachineOp;
use tessera::attention::rtl::unit_design;
use tessera::attention::select::Selection;
use tessera::backend::verilog::print_modules;
use tessera::backend::verilog::synth::{run_yosys, SynthStats};
use tessera::flow::{driver, Job};

/// Layer 0, head 0 of `model` compiled as `tessera compile` does: the example's description
/// with `mapping` as its mapping line, lowered by the one driver, the core read from the
/// hardware nodes of the final graph.
fn core_of(model: &str, mapping: &str) -> Result<CoreParams, String> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/vit_digits_had");
    let calib: ndarray::Array2<f32> =
        ndarray_npy::read_npy(dir.join("X_calib.npy")).map_err(|e| e.to_string())?;
    let text = format!(
        "use attention;\naccelerator v {{\n    model vit = onnx(\"{model}\");\n    \
         inst cam = attention::ba_cam(rows = 16, cols = 16);\n    map vit -> cam using {mapping};\n}}\n"
    );
    let name = dir.join("variant.tess").display().to_string();
    let loaded = tessera::dsl::load_sources(
        &[(&name, text.as_str())],
        &tessera::flow::catalog::load_options(),
    );
    if loaded.has_errors() {
        return Err(format!("{:?}", loaded.diagnostics));
    }
    let accel = loaded.accelerators.into_iter().next().ok_or("no accelerator")?;
    let mut job = Job::new(accel, None).map_err(|e| e.to_string())?;
    job.calibration = Some(calib);
    let lowered = driver::lower(&ATTENTION_FAMILY, &job).map_err(|e| e.to_string())?;
    let g = &lowered.graph;
    let (program, _) = program_of(g).map_err(|e| e.to_string())?;
    program
        .ops
        .iter()
        .find_map(|o| match o {
            MachineOp::Attention(a) => a.heads.first().cloned(),
            _ => None,
        })
        .ok_or_else(|| "the model has no attention layer".to_string())
}

/// Synthesizes the core module alone (the unit's streaming wrapper excluded).
fn synth_core(p: &CoreParams) -> Result<SynthStats, String> {
    let d = unit_design("u", p).map_err(|e| e.to_string())?;
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let core: Vec<_> = d.modules.iter().filter(|m| m.name == "u_core").cloned().collect();
    if core.is_empty() {
        return Err("the unit has no `u_core` module".into());
    }
    let text = print_modules(&core);
    if let Ok(out) = std::env::var("ATTN_CORE_DIR") {
        // Keep the synthesized Verilog for inspection (one file per core and length).
        let name = format!("core_{:?}_{}_s{}.v", p.mode, p.select.kept(p.s), p.s).to_lowercase();
        std::fs::write(Path::new(&out).join(name), &text).map_err(|e| e.to_string())?;
    }
    std::fs::write(dir.path().join("core.v"), text).map_err(|e| e.to_string())?;
    run_yosys(dir.path(), "u_core").map_err(|e| e.to_string())
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let max_seq = match args.as_slice() {
        [flag, n] if flag == "--max-seq" => n.parse().unwrap_or(17),
        [] => 32,
        _ => {
            eprintln!("usage: attention_costs [--max-seq N]");
            std::process::exit(2);
        }
    };
    let run = || -> Result<(), String> {
        // The student carries Sign on Q and K, so `binarize` keeps its trained scales.
        let had_all = core_of("student.onnx", "binarize()")?;
        let had_top = core_of("student.onnx", "binarize(top_n = 6)")?;
        // The teacher keeps float Q/K (standard attention); a mapping is `binarize` or
        // `sparsify`, so it is compiled with all 17 keys kept and its core reads them all.
        let std_all = core_of("teacher.onnx", "sparsify(top_n = 17)")?;
        let std_all = CoreParams { select: Selection::All, ..std_all };
        println!("## Synthesis of one attention core (yosys 0.23 generic gates; transistors and NanGate 45 nm X1 areas per `backend::verilog::synth::CELLS`)\n");
        println!("| S | d_k | d_v | core | cells | DFF | transistors | area um2 | transistors vs int8 | area vs int8 |");
        println!("|---|---|---|---|---|---|---|---|---|---|");
        let mut seqs = vec![had_all.s];
        seqs.extend([32usize, 64, 128].into_iter().filter(|&s| s <= max_seq));
        for s in seqs {
            let at = |p: &CoreParams| CoreParams { s, ..p.clone() };
            let std = synth_core(&at(&std_all))?;
            let rows = [
                ("int8 dot product, full softmax", std.clone()),
                ("HAD XNOR-popcount, all keys", synth_core(&at(&had_all))?),
                ("HAD XNOR-popcount, top-6", synth_core(&at(&had_top))?),
            ];
            for (name, st) in rows {
                println!(
                    "| {s} | {} | {} | {name} | {} | {} | {} | {:.0} | {:+.1}% | {:+.1}% |",
                    std_all.d_k,
                    std_all.d_v,
                    st.cells,
                    st.by_cell.get("$_DFF_P_").copied().unwrap_or(0),
                    st.transistors,
                    st.area,
                    100.0 * (st.transistors as f64 / std.transistors as f64 - 1.0),
                    100.0 * (st.area / std.area - 1.0),
                );
            }
        }
        // Selection is only meaningful below S keys.
        debug_assert!(matches!(had_top.select, Selection::TopN { .. }));
        let u = AttnUnits::camformer_45nm();
        println!("\n## Cost model per query and head (CAMformer 45 nm units, int8 MAC from Horowitz 2014)\n");
        for (dk, kept) in [(64usize, 32usize), (had_all.d_k, 6)] {
            println!("d_k = d_v = {dk}, HAD keeps top-{kept}, standard keeps all:\n");
            println!("| S | HAD pJ | std pJ | energy saving | HAD mW | std mW | power saving | HAD um2 | std um2 | area saving |");
            println!("|---|---|---|---|---|---|---|---|---|---|");
            for p in scaling(&u, &[64, 128, 256, 512, 1024, 2048, 4096], dk, dk, kept) {
                println!(
                    "| {} | {:.0} | {:.0} | {:.1}% | {:.1} | {:.1} | {:.1}% | {:.0} | {:.0} | {:.1}% |",
                    p.seq,
                    p.had_energy_pj,
                    p.std_energy_pj,
                    100.0 * p.energy_saving,
                    p.had_power_mw,
                    p.std_power_mw,
                    100.0 * p.power_saving,
                    p.had_area_um2,
                    p.std_area_um2,
                    100.0 * p.area_saving
                );
            }
            println!();
        }
        let sh = AttnShape { seq: had_all.s, d_k: had_all.d_k, d_v: had_all.d_v, kept: 6 };
        let (h, s) = (
            head_cost(&u, Variant::Had, &sh),
            head_cost(&u, Variant::Standard, &AttnShape { kept: sh.seq, ..sh }),
        );
        println!(
            "model shape S = {}, d_k = {}: HAD top-6 {:.0} pJ / {:.0} um2, standard {:.0} pJ / {:.0} um2 per query",
            sh.seq,
            sh.d_k,
            h.energy_total(),
            h.area_total(),
            s.energy_total(),
            s.area_total()
        );
        Ok(())
    };
    if let Err(e) = run() {
        eprintln!("error: {e}");
        std::process::exit(1);
    }
}
