//! The attention family in the compile/simulate/verify flow, driven by the example's real
//! `.tess` description (examples/vit_digits_had/accel.tess: the HAD student, top-6) and the
//! stdlib `attention` components. References are onnxruntime/torch outputs written by the
//! example's train.py, never tessera's own.

use ndarray::{s, Array1, Array2};
use ndarray_npy::read_npy;
use std::path::PathBuf;
use tessera::attention::family::ATTENTION_FAMILY;
use tessera::backend::verilog::harness::{self, SimBundle, Simulator};
use tessera::backend::verilog::print_modules;
use tessera::backend::verilog::testbench::{self, TestbenchConfig};
use tessera::dsl;
use tessera::flow::{Family, Job};

fn dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("examples/vit_digits_had")
}

fn npy(name: &str) -> Array2<f32> {
    read_npy(dir().join(name)).unwrap()
}

fn job_from(source: Option<&str>) -> Job {
    let loaded = match source {
        None => tessera::flow::catalog::load(&[dir().join("accel.tess")]),
        Some(text) => {
            let name = dir().join("variant.tess");
            let name = name.to_str().unwrap().to_string();
            dsl::load_sources(&[(&name, text)], &tessera::flow::catalog::load_options())
        }
    };
    assert!(!loaded.has_errors(), "{:?}", loaded.diagnostics);
    let mut job = Job::new(loaded.accelerators.into_iter().next().unwrap(), None).unwrap();
    job.calibration = Some(npy("X_calib.npy"));
    job
}

fn argmax(r: ndarray::ArrayView1<f32>) -> usize {
    r.iter().enumerate().fold(0, |b, (i, v)| if *v > r[b] { i } else { b })
}

/// A variant description of the example with another mapping line.
fn variant(model: &str, mapping: &str) -> String {
    format!(
        "use attention;\naccelerator v {{\n    model vit = onnx(\"{model}\");\n    \
         inst cam = attention::ba_cam(rows = 16, cols = 16);\n    map vit -> cam using {mapping};\n}}\n"
    )
}

#[test]
fn student_top6_simulates_like_torch_and_keeps_the_accuracy() {
    let job = job_from(None);
    let c = ATTENTION_FAMILY.compile(&job).unwrap();
    assert_eq!(c.section_name(), "attention");
    let x = npy("X_test.npy");
    let y: Array1<i64> = read_npy(dir().join("y_test.npy")).unwrap();
    let reference = npy("student_top6_logits.npy"); // torch, top-6 attention
    let run = c.simulate(x.view()).unwrap();
    let n = x.nrows();
    let agree = (0..n).filter(|&i| argmax(run.outputs.row(i)) == argmax(reference.row(i))).count();
    let right = (0..n).filter(|&i| argmax(run.outputs.row(i)) as i64 == y[i]).count();
    eprintln!("vit student top-6: argmax agreement {agree}/{n}, accuracy {right}/{n}");
    // int8 activations and fixed-point softmax/LayerNorm against float torch: a few
    // near-tied samples may flip, the accuracy stays within 3 points of the float teacher's
    // 0.9689 (accuracy.json, torch).
    assert!(agree as f64 >= 0.97 * n as f64);
    assert!(right as f64 >= (0.9689 - 0.03) * n as f64);
    // Two layers, each binarized by training (Sign in the graph) and top-6 of 17 keys.
    let layers = run.section["layers"].as_array().unwrap();
    assert_eq!(layers.len(), 2);
    for l in layers {
        assert_eq!(l["mode"], "had");
        assert_eq!(l["seq"], 17);
        assert_eq!(l["d_k"], 16);
        assert_eq!(l["kept"], 6);
    }
    // Per inference: 2 layers x 2 heads x 17 queries x 17 keys = 1156 Hamming scores, of
    // which 6 per query (408) are kept.
    assert_eq!(run.section["events_per_inference"]["had_scores"], 1156.0);
    assert_eq!(run.section["events_per_inference"]["had_kept"], 408.0);
    assert!(run.cost.breakdown.contains_key("attention.had.ba_cam"));
    assert!(!run.cost.breakdown.keys().any(|k| k.starts_with("attention.standard")));
}

#[test]
fn float_teacher_without_binarize_uses_standard_attention() {
    // `sparsify` alone keeps int8 scores; the teacher matches onnxruntime's float logits.
    let job = job_from(Some(&variant("teacher.onnx", "sparsify(top_n = 17)")));
    let c = ATTENTION_FAMILY.compile(&job).unwrap();
    let x = npy("X_test.npy").slice(s![..60, ..]).to_owned();
    let reference = npy("teacher_logits.npy"); // onnxruntime, full softmax (17 of 17 kept)
    let run = c.simulate(x.view()).unwrap();
    let agree = (0..60).filter(|&i| argmax(run.outputs.row(i)) == argmax(reference.row(i))).count();
    assert!(agree >= 58, "{agree}/60");
    for l in run.section["layers"].as_array().unwrap() {
        assert_eq!(l["mode"], "standard");
    }
    assert!(run.cost.breakdown.contains_key("attention.standard.score_macs"));
}

#[test]
fn mapping_errors_name_the_option_or_model() {
    let job = job_from(Some(&variant("student.onnx", "binarize(hierarchical = true)")));
    let e = ATTENTION_FAMILY.compile(&job).err().unwrap().to_string();
    assert_eq!(
        e,
        "mapping `binarize`: option `hierarchical` configures top-N selection, which needs `top_n`"
    );
    // (Unknown options are refused by the description checker already, from `pipeline()`.)
    let mut job = job_from(Some(&variant("student.onnx", "binarize()")));
    job.calibration = None;
    let e = ATTENTION_FAMILY.compile(&job).err().unwrap().to_string();
    assert!(e.contains("attention quantization needs calibration data"), "{e}");
    let src = "use attention;\naccelerator v {\n    model vit = xgboost(\"student.onnx\");\n    \
               inst cam = attention::ba_cam();\n    map vit -> cam using binarize();\n}\n";
    let e = ATTENTION_FAMILY.compile(&job_from(Some(src))).err().unwrap().to_string();
    assert_eq!(e, "`binarize` maps model `vit` (xgboost); attention mapping reads ONNX models");
}

/// Runs the whole-model RTL on `rows` test samples; `corrupt` flips one expected bit.
fn run_rtl(sim: Simulator, rows: usize, corrupt: bool) -> (usize, usize) {
    let c = ATTENTION_FAMILY.compile(&job_from(None)).unwrap();
    let hw = c.hardware().unwrap();
    let x = npy("X_test.npy").slice(s![..rows, ..]).to_owned();
    let (ins, mut outs) = c.vectors(x.view()).unwrap();
    if corrupt {
        let last = outs.len() - 1;
        let b = &mut outs[last];
        b.set(3, !b.bit(3));
    }
    let tb = testbench::generate(&TestbenchConfig::new(
        &hw.top,
        hw.in_width,
        hw.out_width,
        ins.len(),
        hw.latency,
        hw.interval,
    ))
    .unwrap();
    let design = print_modules(&hw.modules);
    let tmp = tempfile::tempdir().unwrap();
    for (name, text) in &hw.files {
        std::fs::write(tmp.path().join(name), text).unwrap();
    }
    let bundle =
        SimBundle { top: &hw.top, design: &design, testbench: &tb, inputs: &ins, expected: &outs };
    let r = harness::simulate(sim, tmp.path(), &bundle).unwrap();
    (r.vectors, r.mismatches)
}

#[test]
fn whole_model_rtl_is_bit_exact_under_iverilog() {
    if !harness::require(Simulator::Iverilog) {
        return;
    }
    assert_eq!(run_rtl(Simulator::Iverilog, 3, false), (3, 0));
    // A single flipped expected bit must be caught.
    assert_eq!(run_rtl(Simulator::Iverilog, 2, true), (2, 1));
}

#[test]
fn whole_model_rtl_is_bit_exact_under_verilator() {
    if !harness::require(Simulator::Verilator) {
        return;
    }
    assert_eq!(run_rtl(Simulator::Verilator, 2, false), (2, 0));
}

#[test]
fn layer_option_applies_to_binarization_and_selection() {
    // Post-training binarization and top-6 of the teacher's second block only.
    let job = job_from(Some(&variant("teacher.onnx", "binarize(layer = 1, top_n = 6)")));
    let c = ATTENTION_FAMILY.compile(&job).unwrap();
    let x = npy("X_test.npy").slice(s![..4, ..]).to_owned();
    let run = c.simulate(x.view()).unwrap();
    let layers = run.section["layers"].as_array().unwrap();
    assert_eq!(
        (layers[0]["mode"].as_str(), layers[0]["kept"].as_u64()),
        (Some("standard"), Some(17))
    );
    assert_eq!((layers[1]["mode"].as_str(), layers[1]["kept"].as_u64()), (Some("had"), Some(6)));
}

#[test]
fn activation_bits_are_an_attn_quantize_option_in_the_description() {
    let x = npy("X_test.npy").slice(s![..8, ..]).to_owned();
    let sim = |mapping: &str| {
        let job = job_from(Some(&variant("student.onnx", mapping)));
        ATTENTION_FAMILY.compile(&job).unwrap().simulate(x.view()).unwrap().outputs
    };
    // The default is 8 bits: saying so changes nothing; 4-bit activations change the outputs.
    let default = sim("binarize(top_n = 6)");
    assert_eq!(default, sim("binarize(top_n = 6, act_bits = 8)"));
    assert_ne!(default, sim("binarize(top_n = 6, act_bits = 4)"));
    // Out of range: the description checker names the option.
    let name = dir().join("variant.tess").display().to_string();
    let text = variant("student.onnx", "binarize(top_n = 6, act_bits = 40)");
    let loaded =
        dsl::load_sources(&[(&name, text.as_str())], &tessera::flow::catalog::load_options());
    assert!(loaded.has_errors());
    let msg = format!("{:?}", loaded.diagnostics);
    assert!(msg.contains("act_bits") || msg.contains("act-bits"), "{msg}");
}

#[test]
fn dump_after_attn_quantize_shows_the_program() {
    let mut job = job_from(None);
    job.dumps =
        vec![tessera::passes::DumpPoint::parse(&tessera::flow::registry(), "after:attn-quantize")
            .unwrap()];
    let c = ATTENTION_FAMILY.compile(&job).unwrap();
    let text: String = c.ir_dumps().iter().map(|d| d.render()).collect();
    insta::assert_snapshot!(text);
}

#[test]
fn the_hardware_nodes_evaluated_one_by_one_give_the_simulators_outputs() {
    // `attn-quantize` leaves one node per machine operation; the IR interpreter runs them
    // through each node's own reference semantics and wiring, the simulator runs the program
    // read back from the same graph. Both must agree bit for bit on every sample.
    let job = job_from(None);
    let lowered = tessera::flow::driver::lower(&ATTENTION_FAMILY, &job).unwrap();
    let g = &lowered.graph;
    let names: Vec<&str> = g.topo_order().iter().map(|&n| g.op(n).mnemonic()).collect();
    for unit in
        ["attn.input_quant", "attn.linear", "attn.attention", "attn.layer_norm", "attn.dequant"]
    {
        assert!(names.contains(&unit), "{unit} missing from {names:?}");
    }
    let x = npy("X_test.npy").slice(s![..6, ..]).to_owned();
    let sim = ATTENTION_FAMILY.compile(&job).unwrap().simulate(x.view()).unwrap().outputs;
    for (r, row) in x.rows().into_iter().enumerate() {
        let input = tessera::ir::Tensor::f32(vec![row.len()], row.to_vec()).unwrap();
        let out = tessera::ir::interp::run(g, &[input]).unwrap();
        let got = out[0].floats().unwrap().to_vec();
        let want: Vec<f32> = sim.row(r).to_vec();
        assert_eq!(
            got.iter().map(|v| v.to_bits()).collect::<Vec<_>>(),
            want.iter().map(|v| v.to_bits()).collect::<Vec<_>>(),
            "row {r}"
        );
    }
}

#[test]
fn a_schedule_with_a_gap_is_refused_when_read_back() {
    use tessera::attention::dialect::{program_of, AttnUnit};
    let job = job_from(None);
    let mut g = tessera::flow::driver::lower(&ATTENTION_FAMILY, &job).unwrap().graph;
    assert!(program_of(&g).is_ok());
    // Move the last unit one step later: step k is then missing.
    let last = g
        .topo_order()
        .into_iter()
        .filter(|&n| g.op(n).dialect::<AttnUnit>().is_some())
        .max_by_key(|&n| g.op(n).dialect::<AttnUnit>().map(|u| u.step))
        .unwrap();
    let mut unit = g.op(last).dialect::<AttnUnit>().unwrap().clone();
    unit.step += 1;
    g.node_mut(last).op = tessera::ir::Op::dialect_op(unit);
    let e = program_of(&g).unwrap_err().to_string();
    assert!(e.contains("schedule step") && e.contains("missing"), "{e}");
}
