//! The tile map: every layer's arrays as an SVG picture, one line of arrays per row tile.
//!
//! Each array is drawn to scale (rows down, columns across): the grey frame is the whole
//! array, the blue block the cells the layer uses, shaded by their mean programmed conductance
//! (darker = more conductance), with a white line between the column groups of consecutive
//! outputs. Under each array a bar shows its ADCs. The header of a layer gives its mapping
//! figures. Plain text without timestamps or paths, so the output is snapshot-tested.

use super::sim::CrossbarNet;
use super::tile::{tile_stats, SignedEncoding};
use std::fmt::Write;

/// Pixels of the longer side of an array.
const ARRAY_PX: f64 = 128.0;
const GAP: f64 = 14.0;
const MARGIN: f64 = 10.0;
const HEADER: f64 = 30.0;
const LABEL: f64 = 26.0;

/// Layers with more arrays than this are drawn as one summary block: the picture of a
/// network at real size would otherwise grow with its weights (about 2 KB an array, 35 MB for
/// 17 M weights on 128x128 arrays), and nobody can read 16,000 arrays.
pub const MAX_ARRAYS_DRAWN: usize = 4096;

/// Whether `m` is drawn as one summary block.
fn summarised(m: &super::tile::LayerMap) -> bool {
    m.arrays.len() > MAX_ARRAYS_DRAWN
}

/// `(row tiles, column tiles)` drawn for `m`.
fn drawn_tiles(m: &super::tile::LayerMap) -> (usize, usize) {
    if summarised(m) {
        (1, 1)
    } else {
        (m.row_tiles, m.col_tiles)
    }
}

/// `#rrggbb` from light to dark blue.
fn colour(t: f64) -> String {
    let t = t.clamp(0.0, 1.0);
    let (lo, hi) = ([0xdeu8, 0xeb, 0xf7], [0x08u8, 0x30, 0x6b]);
    let c: Vec<u8> =
        (0..3).map(|i| (lo[i] as f64 + (hi[i] as f64 - lo[i] as f64) * t).round() as u8).collect();
    format!("#{:02x}{:02x}{:02x}", c[0], c[1], c[2])
}

/// Renders the placed network.
pub fn render(net: &CrossbarNet) -> String {
    let cfg = &net.cfg;
    let k = ARRAY_PX / cfg.rows.max(cfg.cols) as f64;
    let (aw, ah) = (cfg.cols as f64 * k, cfg.rows as f64 * k);
    let cell_w = aw + GAP;
    let layer_h = |rt: usize| HEADER + rt as f64 * (ah + LABEL + GAP) + GAP;
    let width = 2.0 * MARGIN
        + net.maps.iter().map(|m| drawn_tiles(m).1 as f64 * cell_w).fold(360.0, f64::max);
    let height =
        2.0 * MARGIN + net.maps.iter().map(|m| layer_h(drawn_tiles(m).0)).sum::<f64>() + 16.0;
    let gmax =
        net.programmed.iter().zip(&net.maps).map(|(p, m)| p.max_code(m)).max().unwrap_or(1).max(1);
    let mut s = String::new();
    let _ = writeln!(
        s,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{width:.0}" height="{height:.0}" viewBox="0 0 {width:.0} {height:.0}" font-family="sans-serif" font-size="9">"#
    );
    let _ = writeln!(s, r##"<rect width="{width:.0}" height="{height:.0}" fill="#ffffff"/>"##);
    let enc = match cfg.encoding {
        SignedEncoding::Differential => "differential pairs",
        SignedEncoding::Offset => "offset encoding",
    };
    let _ = writeln!(
        s,
        r#"<text x="{MARGIN}" y="{:.0}" font-size="11" font-weight="bold">{}x{} arrays, {}-bit cells, {enc}, {} columns per {}-bit ADC</text>"#,
        MARGIN + 10.0,
        cfg.rows,
        cfg.cols,
        cfg.cell_bits,
        cfg.cols_per_adc,
        cfg.adc_bits
    );
    let mut y0 = MARGIN + 16.0;
    for (m, p) in net.maps.iter().zip(&net.programmed) {
        let st = tile_stats(m, cfg);
        let _ = writeln!(
            s,
            r#"<text x="{MARGIN}" y="{:.0}" font-size="10" font-weight="bold">{}: {} inputs x {} outputs, {} slice(s) x {} polarity = {} columns per weight; {} x {} arrays, utilization {:.1}%</text>"#,
            y0 + 14.0,
            m.name,
            m.n_in,
            m.n_out,
            m.slices,
            m.polarities,
            m.cols_per_weight(),
            m.row_tiles,
            m.col_tiles,
            100.0 * st.utilization
        );
        let cpw = m.cols_per_weight();
        if summarised(m) {
            // The arrays partition the cells: the layer's code sum is their column sums'.
            let sum: i64 =
                (0..m.arrays.len()).map(|k| p.column_sums(m, k).iter().sum::<i64>()).sum();
            let mean = sum as f64 / m.cells().max(1) as f64 / gmax as f64;
            let (x, y) = (MARGIN, y0 + HEADER);
            let _ = writeln!(
                s,
                r##"<rect x="{x:.1}" y="{y:.1}" width="{aw:.1}" height="{ah:.1}" fill="{}" stroke="#999999" stroke-width="0.5"/>"##,
                colour(mean.sqrt())
            );
            let _ = writeln!(
                s,
                r##"<text x="{x:.1}" y="{:.1}" fill="#b30000">{} arrays: more than {MAX_ARRAYS_DRAWN}, not drawn one by one (shaded by the layer's mean conductance; tiling figures in report.json)</text>"##,
                y + ah + 15.0,
                m.arrays.len()
            );
            y0 += layer_h(1);
            continue;
        }
        for (ka, a) in m.arrays.iter().enumerate() {
            let x = MARGIN + a.col_tile as f64 * cell_w;
            let y = y0 + HEADER + a.row_tile as f64 * (ah + LABEL + GAP);
            let used = a.nouts * cpw;
            let sum: i64 = p.column_sums(m, ka).iter().sum();
            let mean = sum as f64 / (a.nrows * used).max(1) as f64 / gmax as f64;
            let _ = writeln!(
                s,
                r##"<rect x="{x:.1}" y="{y:.1}" width="{aw:.1}" height="{ah:.1}" fill="#f0f0f0" stroke="#999999" stroke-width="0.5"/>"##
            );
            let _ = writeln!(
                s,
                r#"<rect x="{x:.1}" y="{y:.1}" width="{:.1}" height="{:.1}" fill="{}"/>"#,
                used as f64 * k,
                a.nrows as f64 * k,
                colour(mean.sqrt())
            );
            if cpw as f64 * k >= 3.0 {
                for o in 1..a.nouts {
                    let lx = x + (o * cpw) as f64 * k;
                    let _ = writeln!(
                        s,
                        r##"<line x1="{lx:.1}" y1="{y:.1}" x2="{lx:.1}" y2="{:.1}" stroke="#ffffff" stroke-width="0.6"/>"##,
                        y + a.nrows as f64 * k
                    );
                }
            }
            let adcs = cfg.adcs_per_array();
            let bw = aw / adcs as f64;
            for i in 0..adcs {
                let fill = if i * cfg.cols_per_adc < used { "#e6550d" } else { "#fdd0a2" };
                let _ = writeln!(
                    s,
                    r#"<rect x="{:.1}" y="{:.1}" width="{:.1}" height="3" fill="{fill}"/>"#,
                    x + i as f64 * bw + 0.3,
                    y + ah + 2.0,
                    (bw - 0.6).max(0.2)
                );
            }
            let _ = writeln!(
                s,
                r#"<text x="{x:.1}" y="{:.1}">[{},{}] rows {}..{}, outputs {}..{}</text>"#,
                y + ah + 15.0,
                a.row_tile,
                a.col_tile,
                a.row0,
                a.row0 + a.nrows - 1,
                a.out0,
                a.out0 + a.nouts - 1
            );
        }
        y0 += layer_h(m.row_tiles);
    }
    let _ = writeln!(
        s,
        r##"<text x="{MARGIN}" y="{:.0}" fill="#555555">blue: used cells, shaded by mean conductance; white lines separate outputs; orange: ADCs in use</text>"##,
        height - MARGIN
    );
    s.push_str("</svg>\n");
    s
}
