//! The crossbar family's named passes (`quantize`, `crossbar-tile`, `crossbar-program`) as
//! `--dump-ir` shows them, and their options' effect, on breast_cancer_mlp (30-16-8-2) with
//! its accel.tess (1-bit cells, 128x128 arrays, differential pairs, 4-bit ADCs sharing 8
//! columns, full scale calibrated on X_calib).

use std::path::PathBuf;
use tessera::crossbar::family::CROSSBAR_FAMILY;
use tessera::dsl;
use tessera::flow::{Family, Job};
use tessera::passes::DumpPoint;

fn dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("examples/breast_cancer_mlp")
}

fn job(mapping: Option<&str>) -> Job {
    let text = std::fs::read_to_string(dir().join("accel.tess")).unwrap();
    let text = match mapping {
        None => text,
        Some(m) => {
            let start = text.find("map net").unwrap();
            let end = start + text[start..].find(";\n").unwrap() + 1;
            format!("{}{m}{}", &text[..start], &text[end..])
        }
    };
    let name = dir().join("variant.tess").to_str().unwrap().to_string();
    let loaded = dsl::load_sources(&[(&name, &text)], &tessera::flow::catalog::load_options());
    assert!(!loaded.has_errors(), "{:?}", loaded.diagnostics);
    Job::new(loaded.accelerators.into_iter().next().unwrap(), None).unwrap()
}

fn dump(job: &mut Job, point: &str) -> String {
    job.dumps = vec![DumpPoint::parse(&tessera::flow::registry(), point).unwrap()];
    let c = CROSSBAR_FAMILY.compile(job).unwrap();
    let d = c.ir_dumps();
    assert_eq!(d.len(), 1);
    d[0].text.clone()
}

/// `quantize` starts on the ONNX importer's graph itself: core `matmul` by an `[in][out]`
/// constant, `add` of the bias constant, `relu` (30 -> 16 -> 8 -> 2, the last layer without an
/// activation), and replaces that chain by the integer layers.
#[test]
fn quantize_starts_on_the_imported_core_ops() {
    let before = dump(&mut job(None), "before:quantize");
    let ops: Vec<&str> = before
        .lines()
        .filter_map(|l| l.split(" = ").nth(1))
        .map(|r| r.split(['(', ' ']).next().unwrap_or(""))
        .collect();
    assert_eq!(
        ops,
        [
            "input", "const", "matmul", "const", "add", "relu", "const", "matmul", "const", "add",
            "relu", "const", "matmul", "const", "add", "output"
        ],
        "{before}"
    );
    let after = dump(&mut job(None), "after:quantize");
    for gone in ["matmul(", "relu(", " add("] {
        assert!(!after.contains(gone), "{gone} left after quantize:\n{after}");
    }
    assert_eq!(after.matches("xbar.dense(").count(), 3, "{after}");
}

/// Reviewed by hand: an input quantizer with 30 per-feature scales to u8, then per layer its
/// arrays and their read-out (8-bit weights: 7 magnitude bits = 7 one-bit slices x 2
/// polarities = 14 columns per weight; layer 0 needs 16 x 14 = 224 columns = 2 column tiles of
/// 128: `xbar.array` [0, 0] holds outputs 0..9 in columns 0..126, [0, 1] outputs 9..16 in
/// 126..224, each of its 30 rows; per bit plane a column sums at most 30 one-bit levels, u5),
/// the bias, per-channel requantization (ReLU = clamp at 0) and the dequantized logits.
#[test]
fn dump_after_crossbar_tile() {
    let text = dump(&mut job(None), "after:crossbar-tile");
    insta::assert_snapshot!(text);
}

/// After programming, the levels are conductance codes: on/off 17 leaks 1/16 of a level per
/// off cell, so codes carry fraction bits (a column of 30 cells now sums to at most 30 x 64,
/// u11).
#[test]
fn programming_bakes_the_off_state_into_codes() {
    let text = dump(&mut job(None), "after:crossbar-program");
    assert!(text.contains("frac_bits = 6, on_off = 17.0"), "{text}");
    insta::assert_snapshot!(text);
}

#[test]
fn options_reach_the_tiles() {
    let text = dump(
        &mut job(Some(
            "map net -> xbar using crossbar_tile(w_bits = 4, a_bits = 8, input_scale = per_channel, \
             adc_full_scale = 40, adc_bits = 6, rows = 64, cols = 64);",
        )),
        "after:crossbar-tile",
    );
    // 4-bit weights: 3 magnitude bits -> 3 slices x 2 = 6 columns per weight; layer 0: 16 x 6 =
    // 96 columns on 64-column arrays = 2 column tiles, 30 rows = 1 row tile.
    assert!(text.contains("slices = 3, cols_per_weight = 6, tiles = 1x2"), "{text}");
    assert!(text.contains("adc = 6b/8cols, full_scale = 40"), "{text}");
    assert!(text.contains("array = 64x64"), "{text}");
}

/// The tile map `compile` writes (`crossbar_tiles.svg`), checked against hand-computed
/// placement: 14 columns per weight; layer 0 (30 x 16) needs 224 columns, so two 128-column
/// arrays holding 9 and 7 outputs (126 and 98 columns, drawn 1 px per column), utilization
/// 6720 / 32768 = 20.5%; layer 1 (16 x 8) 112 columns; layer 2 (8 x 2) 28 columns. ADCs in use
/// (8 columns each): 16 + 13 + 14 + 4 = 47 of 4 x 16 = 64.
#[test]
fn tile_map_shows_every_array() {
    let c = CROSSBAR_FAMILY.compile(&job(None)).unwrap();
    let views = c.views();
    assert_eq!(views.len(), 1);
    let (name, svg) = &views[0];
    assert_eq!(name, "crossbar_tiles.svg");
    assert!(svg.starts_with("<svg xmlns=\"http://www.w3.org/2000/svg\""), "{svg}");
    assert!(svg.trim_end().ends_with("</svg>"));
    assert_eq!(svg.matches("fill=\"#f0f0f0\"").count(), 4, "array frames");
    assert_eq!(svg.matches("fill=\"#e6550d\"").count(), 47, "ADCs in use");
    assert_eq!(svg.matches("fill=\"#fdd0a2\"").count(), 64 - 47, "idle ADCs");
    for used in [
        "width=\"126.0\" height=\"30.0\"",
        "width=\"98.0\" height=\"30.0\"",
        "width=\"112.0\" height=\"16.0\"",
        "width=\"28.0\" height=\"8.0\"",
    ] {
        assert!(svg.contains(used), "{used}");
    }
    for text in [
        "node_matmul: 30 inputs x 16 outputs, 7 slice(s) x 2 polarity = 14 columns per weight; \
         1 x 2 arrays, utilization 20.5%",
        "[0,0] rows 0..29, outputs 0..8",
        "[0,1] rows 0..29, outputs 9..15",
        "node_matmul_2: 8 inputs x 2 outputs",
    ] {
        assert!(svg.contains(text), "{text}");
    }
}
