//! The energy study on a model shaped like `examples/wide_xgb` (320 features, 40 depth-6 trees),
//! synthetic until the real example is merged. Prints the figures (run with `--nocapture`) and
//! asserts what must hold whatever the numbers: exact margins, the policy ordering in aggregate.

mod cam_common;

use cam_common::*;
use tessera::cam::design::{compile, default_auto_candidates, CamOptions, TileChoice};
use tessera::cam::quantize::samples_to_array;
use tessera::cam::report::{evaluate, CamReport};
use tessera::cam::tile::{ColumnOrder, Geometry, TileOptions};

fn line(name: &str, r: &CamReport) -> String {
    format!(
        "{name:<34} {:>6} arrays raw/reo/mono {:>4}/{:>4}/{:>4}  total pJ {:>9.1} {:>9.1} {:>8.1}  raw/mono {:>5.2}x reo/mono {:>5.2}x | array-only raw/mono {:>5.2}x reo/mono {:>5.2}x | latency {:.0} ns",
        r.geometry,
        r.tiles_scheduled.raw,
        r.tiles_scheduled.reorder,
        r.tiles_scheduled.monosparse,
        r.energy_pj.raw,
        r.energy_pj.reorder,
        r.energy_pj.monosparse,
        r.ratios_total.raw_over_monosparse,
        r.ratios_total.reorder_over_monosparse,
        r.ratios_array.raw_over_monosparse,
        r.ratios_array.reorder_over_monosparse,
        r.latency_ns,
    )
}

#[test]
fn wide_model_energy_study() {
    let (model, data) = wide_like(2024);
    let train = samples_to_array(&data[..400], 320).unwrap();
    let test = samples_to_array(&data[400..], 320).unwrap();
    let configs: Vec<(&str, TileChoice, bool, ColumnOrder)> = vec![
        (
            "paper (reorder + liveness)",
            TileChoice::Fixed(Geometry { rows: 24, cols: 48 }),
            false,
            ColumnOrder::CareCount,
        ),
        (
            "+ column order by rejection",
            TileChoice::Fixed(Geometry { rows: 24, cols: 48 }),
            false,
            ColumnOrder::Rejection,
        ),
        (
            "+ row clustering",
            TileChoice::Fixed(Geometry { rows: 24, cols: 48 }),
            true,
            ColumnOrder::CareCount,
        ),
        (
            "+ clustering + rejection",
            TileChoice::Fixed(Geometry { rows: 24, cols: 48 }),
            true,
            ColumnOrder::Rejection,
        ),
        (
            "tile=auto + clustering + rejection",
            TileChoice::Auto(default_auto_candidates()),
            true,
            ColumnOrder::Rejection,
        ),
    ];
    let mut out = Vec::new();
    for (name, tile, cluster, column_order) in configs {
        let opts = CamOptions {
            tile,
            tile_options: TileOptions {
                cluster,
                column_order,
            },
            ..CamOptions::default()
        };
        let d = compile(&model, &cell_instance(), &opts, Some(train.view())).unwrap();
        let ev = evaluate(&d, test.view()).unwrap();
        let r = &ev.report;
        assert!(r.quantization.lossless);
        for (i, x) in test.rows().into_iter().enumerate() {
            let reference = model.predict_margin(&x.to_vec())[0];
            let bound = d.quantized.fixed.error_bound(40) + reference.abs() * 1e-7;
            assert!((ev.margins[[i, 0]] as f64 - reference).abs() <= bound);
        }
        assert!(
            r.energy_pj.monosparse < r.energy_pj.reorder && r.energy_pj.reorder < r.energy_pj.raw
        );
        assert!(r.energy_pj_array.monosparse < r.energy_pj_array.reorder);
        out.push(line(name, r));
        if name.starts_with("paper") {
            out.push(format!(
                "  rows {} features {} sparsity {:.4} tiles_total {} tiles_nonempty {} | per inference: raw rows enabled {:.0}, reorder {:.0}, mono {:.1}; mono arrays searched {:.1}, early exits {:.1}",
                r.rows, r.features, r.sparsity, r.tiles_total, r.tiles_nonempty,
                r.events.raw.rows_enabled, r.events.reorder.rows_enabled, r.events.monosparse.rows_enabled,
                r.events.monosparse.arrays_searched, r.events.monosparse.early_exits
            ));
            out.push(format!("  monosparse breakdown (pJ): {:?}", r.breakdown));
        }
    }
    println!("{}", out.join("\n"));
}
