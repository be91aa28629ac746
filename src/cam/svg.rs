//! SVG maps of tiled CAMs, one panel per policy: each row tile is a line of array slots; a built
//! array is filled by its care density (care cells / (rows x used columns), square-root scale
//! so sparse tiles stay visible) and labelled with its search position; slots of the natural
//! grid that the policy does not build or search are grey and crossed. Plain text, no
//! timestamps or absolute paths, so the output is deterministic and snapshot-tested.

use super::tile::TiledCam;
use std::fmt::Write;

const CELL: usize = 14;
const GAP: usize = 2;
const MARGIN: usize = 10;
const HEADER: usize = 34;
const PANEL_GAP: usize = 30;

/// `#rrggbb` between a light and a dark blue, by `sqrt(density)`.
fn colour(density: f64) -> String {
    let t = density.clamp(0.0, 1.0).sqrt();
    let (lo, hi) = ([0xf7u8, 0xfb, 0xff], [0x08u8, 0x30, 0x6b]);
    let c: Vec<u8> =
        (0..3).map(|i| (lo[i] as f64 + (hi[i] as f64 - lo[i] as f64) * t).round() as u8).collect();
    format!("#{:02x}{:02x}{:02x}", c[0], c[1], c[2])
}

/// Renders the given tilings side by side (typically raw, reorder, monosparse of one model).
pub fn render(tilings: &[&TiledCam]) -> String {
    let panels: Vec<(usize, usize)> = tilings
        .iter()
        .map(|t| {
            let slots = t
                .row_tiles
                .iter()
                .map(|r| r.column_tiles.len())
                .max()
                .unwrap_or(0)
                .max(t.grid_tiles / t.row_tiles.len().max(1));
            (slots.max(1), t.row_tiles.len().max(1))
        })
        .collect();
    let width_of = |slots: usize| slots * (CELL + GAP);
    let panel_w: Vec<usize> = panels.iter().map(|(s, _)| width_of(*s).max(150)).collect();
    let width =
        2 * MARGIN + panel_w.iter().sum::<usize>() + PANEL_GAP * tilings.len().saturating_sub(1);
    let height =
        2 * MARGIN + HEADER + panels.iter().map(|(_, r)| r * (CELL + GAP)).max().unwrap_or(0) + 20;
    let mut s = String::new();
    let _ = writeln!(
        s,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" viewBox="0 0 {width} {height}" font-family="sans-serif" font-size="9">"#
    );
    let _ = writeln!(s, r##"<rect width="{width}" height="{height}" fill="#ffffff"/>"##);
    let mut x0 = MARGIN;
    for (k, t) in tilings.iter().enumerate() {
        let (slots, _) = panels[k];
        let built = t.scheduled_tiles();
        let _ = writeln!(
            s,
            r#"<text x="{x0}" y="{}" font-size="11" font-weight="bold">{} {}</text>"#,
            MARGIN + 10,
            t.policy.name(),
            t.geometry
        );
        let _ = writeln!(
            s,
            r#"<text x="{x0}" y="{}">{} of {} grid arrays built{}</text>"#,
            MARGIN + 24,
            built,
            t.grid_tiles,
            if t.liveness { ", liveness" } else { "" }
        );
        for (i, rt) in t.row_tiles.iter().enumerate() {
            let y = MARGIN + HEADER + i * (CELL + GAP);
            for j in 0..slots {
                let x = x0 + j * (CELL + GAP);
                match rt.column_tiles.get(j) {
                    Some(ct) => {
                        let cells = rt.rows.len() * ct.features.len();
                        let density =
                            if cells == 0 { 0.0 } else { ct.care_cells as f64 / cells as f64 };
                        let _ = writeln!(
                            s,
                            r##"<rect x="{x}" y="{y}" width="{CELL}" height="{CELL}" fill="{}" stroke="#4a4a4a" stroke-width="0.5"><title>row tile {i}, array {j}: {} rows x {} features, {} care cells</title></rect>"##,
                            colour(density),
                            rt.rows.len(),
                            ct.features.len(),
                            ct.care_cells
                        );
                        let fg = if density.sqrt() > 0.5 { "#ffffff" } else { "#000000" };
                        let _ = writeln!(
                            s,
                            r#"<text x="{}" y="{}" text-anchor="middle" font-size="8" fill="{fg}">{j}</text>"#,
                            x + CELL / 2,
                            y + CELL - 4
                        );
                    }
                    None => {
                        let _ = writeln!(
                            s,
                            r##"<rect x="{x}" y="{y}" width="{CELL}" height="{CELL}" fill="#e0e0e0" stroke="#bdbdbd" stroke-width="0.5"/><path d="M{x} {y}L{} {}M{} {y}L{x} {}" stroke="#9e9e9e" stroke-width="0.7"/>"##,
                            x + CELL,
                            y + CELL,
                            x + CELL,
                            y + CELL
                        );
                    }
                }
            }
        }
        x0 += panel_w[k] + PANEL_GAP;
    }
    let _ = writeln!(
        s,
        r#"<text x="{MARGIN}" y="{}">fill: care density (sqrt scale); number: search order within the row tile; grey cross: not built, not searched</text>"#,
        height - MARGIN
    );
    s.push_str("</svg>\n");
    s
}
