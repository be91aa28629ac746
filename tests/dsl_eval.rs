//! Evaluator tests: unit arithmetic, ranges, requires, defaults, symbols, settings, model paths.
//! Every expected number is computed by hand in the comment next to it.

use tessera::diagnostics::{render_human, Code};
use tessera::dsl::accel::{Accelerator, Value};
use tessera::dsl::{self, LoadOptions, Loaded};
use tessera::units::Dim;

fn load(src: &str) -> Loaded {
    let opts = LoadOptions { check_model_paths: false, ..tessera::flow::catalog::load_options() };
    dsl::load_sources(&[("test.tess", src)], &opts)
}

/// Loads a source that must be clean and returns its only accelerator.
fn accel(src: &str) -> Accelerator {
    let l = load(src);
    assert!(l.diagnostics.is_empty(), "{}", render_human(&l.files, &l.diagnostics));
    assert_eq!(l.accelerators.len(), 1);
    l.accelerators.into_iter().next().unwrap()
}

/// The codes of all diagnostics.
fn codes(src: &str) -> Vec<Code> {
    load(src).diagnostics.iter().map(|d| d.code).collect()
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() <= 1e-12 * a.abs().max(b.abs())
}

fn si(acc: &Accelerator, inst: &str, param: &str, dim: Dim) -> f64 {
    acc.instances[inst].si(param, dim).unwrap()
}

#[test]
fn unit_arithmetic() {
    let acc = accel(
        r#"
        component c {
            param p: power = 13.15 mW;
            param t: time = 1 ns;
            param c_ml: capacitance = 0.2 fF;
            param cols: int = 48;
            param v_ml: voltage = 0.8 V;
            param k1: current / voltage / voltage = 1 uA / 1 V / 1 V;
            param a: area = 0.52 um2;
            let e = p * t;
            let e_row = c_ml * cols * v_ml * v_ml;
            let f = 1 / t;
            let side = sqrt(a);
            let r = 0.5 V / 10 uA;
        }
        accelerator x { inst i = c(); }
        "#,
    );
    // 13.15 mW x 1 ns = 13.15 pJ.
    assert!(close(si(&acc, "i", "e", Dim::ENERGY), 13.15e-12));
    // 0.2 fF x 48 x (0.8 V)^2 = 9.6 fF x 0.64 V^2 = 6.144 fJ.
    assert!(close(si(&acc, "i", "e_row", Dim::ENERGY), 6.144e-15));
    // 1 / 1 ns = 1 GHz.
    assert!(close(si(&acc, "i", "f", Dim::FREQUENCY), 1e9));
    // 1 uA / V^2: current over voltage squared.
    let k1_dim = Dim::CURRENT.div(Dim::VOLTAGE).div(Dim::VOLTAGE);
    assert!(close(si(&acc, "i", "k1", k1_dim), 1e-6));
    // sqrt(0.52 um2) = 0.7211 um (0.7211^2 = 0.52).
    assert!(close(si(&acc, "i", "side", Dim::LENGTH), 0.52e-12_f64.sqrt()));
    // 0.5 V / 10 uA = 50 kOhm.
    assert!(close(si(&acc, "i", "r", Dim::RESISTANCE), 5e4));
}

#[test]
fn literals_are_rounded_once() {
    let acc = accel("component c { param e: energy = 0.9 fJ; param a: area = 0.52 um2; param f: frequency = 2.5e-3 GHz; } accelerator x { inst i = c(); }");
    // The decimal 0.9e-15 parsed directly, bit for bit.
    assert_eq!(si(&acc, "i", "e", Dim::ENERGY), 0.9e-15);
    assert_eq!(si(&acc, "i", "a", Dim::AREA), 0.52e-12);
    assert_eq!(si(&acc, "i", "f", Dim::FREQUENCY), 2.5e6);
}

#[test]
fn dimension_errors() {
    assert_eq!(codes("const x = 1 pJ + 1 ns;"), vec![Code::E0006]);
    assert_eq!(codes("const x = 1 V < 1 A;"), vec![Code::E0006]);
    assert_eq!(codes("const x: energy = 1 mW;"), vec![Code::E0006]);
    assert_eq!(codes("const x = log2(4 ns);"), vec![Code::E0006]);
    assert_eq!(codes("const x = min(1 V, 2 A);"), vec![Code::E0006]);
    assert_eq!(codes("const x = ceil(1.5 V);"), vec![Code::E0006]);
    // Dimensionless transcendental arguments are fine: 1 ns / 1 ps = 1000.
    assert!(codes("const x = log2(1 ns / 1 ps);").is_empty());
    // pow with a unit needs a whole exponent.
    assert_eq!(codes("const x = pow(2 V, 0.5);"), vec![Code::E0013]);
    assert!(codes("const x: voltage * voltage = pow(2 V, 2);").is_empty());
    // The message names both dimensions.
    let l = load("const x = 1 pJ + 1 ns;");
    assert_eq!(l.diagnostics[0].message, "cannot add energy and time");
}

#[test]
fn ranges_are_checked_at_their_edges() {
    let comp = r#"
        component c {
            param rows: int in 1..=4096 = 24;
            param frac: real in 0..1 = 0.5;
            param cap: int in ..=10 = 10;
            param low: int in 5.. = 5;
            param vdd: voltage in 0.5 V..=1.2 V = 0.9 V;
        }
    "#;
    let with = |args: &str| codes(&format!("{comp} accelerator x {{ inst i = c({args}); }}"));
    assert!(with("rows = 4096, frac = 0.999, cap = 10, low = 5, vdd = 1.2 V").is_empty());
    assert!(with("rows = 1, frac = 0, vdd = 0.5 V").is_empty());
    assert_eq!(with("rows = 4097"), vec![Code::E0008]);
    assert_eq!(with("rows = 0"), vec![Code::E0008]);
    assert_eq!(with("frac = 1"), vec![Code::E0008]);
    assert_eq!(with("cap = 11"), vec![Code::E0008]);
    assert_eq!(with("low = 4"), vec![Code::E0008]);
    assert_eq!(with("vdd = 1.3 V"), vec![Code::E0008]);
    // All bad arguments are reported, not just the first.
    assert_eq!(with("rows = 0, vdd = 2 V"), vec![Code::E0008, Code::E0008]);
    // A default outside its own range is reported at the definition.
    assert_eq!(codes("component c { param n: int in 1..=4 = 5; }"), vec![Code::E0008]);
    // Range bounds must have the parameter's dimension.
    assert_eq!(codes("component c { param v: voltage in 0..=1 = 0.5 V; }"), vec![Code::E0006]);
    // Dims must be positive.
    assert_eq!(codes("const t = 24x0;"), vec![Code::E0008]);
}

#[test]
fn requires_report_the_failing_comparison() {
    let comp = r#"
        component m {
            param rows: int = 64;
            param cols: int = 64;
            require rows * cols <= 4096 && rows >= 8, "macro too large";
        }
    "#;
    // 64 x 64 = 4096 <= 4096 holds.
    assert!(codes(&format!("{comp} accelerator x {{ inst i = m(); }}")).is_empty());
    // 65 x 64 = 4160 > 4096.
    let l = load(&format!("{comp} accelerator x {{ inst i = m(rows = 65); }}"));
    assert_eq!(l.diagnostics.len(), 1);
    let d = &l.diagnostics[0];
    assert_eq!(d.code, Code::E0009);
    assert!(d.message.contains("macro too large"), "{}", d.message);
    assert!(d.labels.iter().any(|lab| lab.message == "4160 <= 4096 is false"));
    // The second conjunct: 4 >= 8 fails while 4 x 64 = 256 <= 4096 holds.
    let l = load(&format!("{comp} accelerator x {{ inst i = m(rows = 4); }}"));
    assert!(l.diagnostics[0].labels.iter().any(|lab| lab.message == "4 >= 8 is false"));
    // Accelerator requires read instance parameters.
    let src = format!(
        "{comp} accelerator x {{ inst i = m(rows = 32); require i.rows * i.cols < 2048, \"small\"; }}"
    );
    let l = load(&src);
    assert_eq!(l.diagnostics.len(), 1);
    // 32 x 64 = 2048, not < 2048.
    assert!(l.diagnostics[0].labels.iter().any(|lab| lab.message == "2048 < 2048 is false"));
    // A requirement must be a bool.
    assert_eq!(codes("accelerator x { require 3, \"n\"; }"), vec![Code::E0013]);
}

#[test]
fn ints_must_be_whole() {
    let comp = "component c { param n: int = 1; }";
    let with = |v: &str| codes(&format!("{comp} accelerator x {{ inst i = c(n = {v}); }}"));
    assert!(with("48 / 2").is_empty());
    assert_eq!(with("7 / 2"), vec![Code::E0013]);
    assert_eq!(with("24.5"), vec![Code::E0013]);
    assert_eq!(with("2 V"), vec![Code::E0006]);
    assert_eq!(with("\"2\""), vec![Code::E0013]);
}

#[test]
fn defaults_lets_and_order() {
    let acc = accel(
        r#"
        component c {
            param rows: int = 24;
            param cols: int = rows * 2;
            let cells = rows * cols;
        }
        accelerator x {
            inst a = c();
            inst b = c(rows = 10);
            inst d = c(rows = b.cells / 10, cols = a.rows);
        }
        "#,
    );
    let n = |i: &str, p: &str| acc.instances[i].count(p).unwrap();
    // Defaults: 24 rows, 48 cols, 1152 cells.
    assert_eq!((n("a", "rows"), n("a", "cols"), n("a", "cells")), (24, 48, 1152));
    // rows = 10 gives cols = 20, cells = 200.
    assert_eq!((n("b", "rows"), n("b", "cols"), n("b", "cells")), (10, 20, 200));
    // Arguments read earlier instances: rows = 200 / 10 = 20, cols = 24, cells = 480.
    assert_eq!((n("d", "rows"), n("d", "cols"), n("d", "cells")), (20, 24, 480));
    // Using an instance before its definition is an error that points at the definition.
    let l = load("component c { param r: int = 1; } accelerator x { let y = z.r; inst z = c(); }");
    assert_eq!(l.diagnostics[0].code, Code::E0004);
    assert!(l.diagnostics[0].labels.iter().any(|lab| lab.message.contains("after its use")));
}

#[test]
fn missing_and_unknown_parameters() {
    let comp = "component c { param e: energy; param n: int = 1; let d = n * 2; }";
    let with = |args: &str| codes(&format!("{comp} accelerator x {{ inst i = c({args}); }}"));
    assert_eq!(with(""), vec![Code::E0007]);
    assert_eq!(with("e = 1 fJ, m = 2"), vec![Code::E0014]);
    // A let cannot be set.
    assert_eq!(with("e = 1 fJ, d = 2"), vec![Code::E0014]);
    assert_eq!(with("e = 1 fJ, e = 2 fJ"), vec![Code::E0005]);
    assert_eq!(with("1 fJ"), vec![Code::E0013]);
}

#[test]
fn mappings_symbols_and_settings() {
    let acc = accel(
        r#"
        component c { param n: int = 1; }
        accelerator breast_cancer {
            model m = xgboost("model.json");
            inst cam = c();
            map m -> cam using cam_pack(tile = 24x48, order = monosparse, leaf_bits = 16, cluster = true);
            map m -> cam using cam_pack(tile = auto);
        }
        "#,
    );
    // Settings get their defaults: 1 GHz, and the accelerator's name as top.
    assert_eq!(acc.settings["clock"].as_si(Dim::FREQUENCY), Some(1e9));
    assert_eq!(acc.settings["top"], Value::Str("breast_cancer".into()));
    let opts = &acc.mappings[0].options;
    assert_eq!(opts["tile"], Value::Dims(vec![24, 48]));
    assert_eq!(opts["order"], Value::Symbol("monosparse".into()));
    assert_eq!(opts["leaf_bits"].as_count(), Some(16));
    assert_eq!(opts["cluster"], Value::Bool(true));
    assert_eq!(acc.mappings[1].options["tile"], Value::Symbol("auto".into()));
    assert_eq!(acc.mappings[0].pass, "cam_pack");
    assert_eq!((acc.mappings[0].model.as_str(), acc.mappings[0].target.as_str()), ("m", "cam"));

    let acc = accel("accelerator a { clock = 1 / 2 ns; top = \"chip\"; }");
    // 1 / 2 ns = 500 MHz (to rounding).
    assert!(close(acc.settings["clock"].as_si(Dim::FREQUENCY).unwrap(), 5e8));
    assert_eq!(acc.settings["top"], Value::Str("chip".into()));
    assert_eq!(codes("accelerator a { clock = 0 Hz; }"), vec![Code::E0008]);
    assert_eq!(codes("accelerator a { top = \"1chip\"; }"), vec![Code::E0008]);
    assert_eq!(codes("accelerator a { freq = 1 GHz; }"), vec![Code::E0004]);
}

#[test]
fn model_paths_resolve_against_the_defining_file() {
    let dir = tempfile::tempdir().unwrap();
    let sub = dir.path().join("sub");
    std::fs::create_dir(&sub).unwrap();
    std::fs::write(sub.join("m.json"), "{}").unwrap();
    let file = sub.join("acc.tess");
    std::fs::write(
        &file,
        "component c { param n: int = 1; }\naccelerator a { model m = xgboost(\"m.json\"); inst i = c(); map m -> i using cam_pack(); }\n",
    )
    .unwrap();
    let l = tessera::flow::catalog::load(std::slice::from_ref(&file));
    assert!(l.diagnostics.is_empty(), "{}", render_human(&l.files, &l.diagnostics));
    let b = &l.accelerators[0].models["m"];
    assert_eq!(b.written, "m.json");
    assert_eq!(b.path, sub.join("m.json"));
    assert_eq!(l.accelerators[0].source_path, file);
    // A missing model is E0012 unless the caller substitutes its own.
    std::fs::remove_file(sub.join("m.json")).unwrap();
    let l = tessera::flow::catalog::load(std::slice::from_ref(&file));
    assert_eq!(l.diagnostics.iter().map(|d| d.code).collect::<Vec<_>>(), vec![Code::E0012]);
    let l = dsl::load_with(
        std::slice::from_ref(&file),
        &LoadOptions { check_model_paths: false, ..tessera::flow::catalog::load_options() },
    );
    assert!(l.diagnostics.is_empty());
    assert_eq!(l.accelerators[0].models["m"].path, sub.join("m.json"));
}

#[test]
fn stdlib_values() {
    let acc = accel(
        r#"
        use tech; use crossbar; use neuron; use attention;
        accelerator a {
            inst n45 = tech::n45();
            inst n22 = tech::n22();
            inst x = crossbar::rram_1t1r();
            inst l = neuron::lif();
            inst cam = attention::ba_cam();
        }
        "#,
    );
    assert_eq!(acc.instances["n45"].component, "tech::n45");
    // The 45 nm reference node returns Horowitz's figures unscaled.
    assert!(close(si(&acc, "n45", "e_add32", Dim::ENERGY), 0.1e-12));
    // 22 nm, 0.8 V: 0.1 pJ x (22/45) x (0.8/0.9)^2 = 0.1 pJ x 0.488889 x 0.790123 = 38.628 fJ.
    let e22 = 0.1e-12 * (22.0 / 45.0) * (0.8f64 / 0.9).powi(2);
    assert!(close(si(&acc, "n22", "e_add32", Dim::ENERGY), e22));
    assert!((e22 - 38.628e-15).abs() < 1e-18);
    // NeuroSim V1.4: 0.5 V across 100 kOhm for 10 ns = 0.25 V^2 x 10 uS x 10 ns = 25 fJ.
    assert!(close(si(&acc, "x", "e_read_on", Dim::ENERGY), 25e-15));
    // 1T1R cell 4F x 12F at F = 40 nm: 48 x 1600 nm2 = 0.0768 um2.
    assert!(close(si(&acc, "x", "cell_area", Dim::AREA), 0.0768e-12));
    // 128 columns / 8 per ADC = 16 ADCs; 4-bit ADC energy = 1.9 pJ x 2^(4-6) = 0.475 pJ.
    assert_eq!(acc.instances["x"].count("adcs"), Ok(16));
    assert!(close(si(&acc, "x", "adc_energy", Dim::ENERGY), 0.475e-12));
    // Word line: 128 cells x 12 F x 40 nm = 61.44 um at 0.2 fF/um = 12.288 fF, x 1.1^2 V^2
    // = 14.868 fJ; cells: 128 x 0.25 V^2 x (10 uS + 10/17 uS)/2 x 10 ns = 1694.12 fJ.
    let row = 12.288e-15 * 1.21 + 128.0 * 0.25 * (1e-5 + 1e-5 / 17.0) / 2.0 * 1e-8;
    assert!(close(si(&acc, "x", "row_energy", Dim::ENERGY), row));
    assert!((row - 1.70899e-12).abs() < 1e-17);
    // Bit line: 128 cells x 4 F x 40 nm = 20.48 um = 4.096 fF, x 0.25 V^2 = 1.024 fJ.
    assert!(close(si(&acc, "x", "col_energy", Dim::ENERGY), 1.024e-15));
    // Buffer: 256 words x 64 bits x 0.092 um2 = 1507.328 um2.
    assert!(close(si(&acc, "x", "buffer_area", Dim::AREA), 1507.328e-12));
    // LIF PSP normalisation for eta = 4: 4^(4/3) / 3 = 6.349604 / 3 = 2.116535.
    let v0 = si(&acc, "l", "v0", Dim::DIMENSIONLESS);
    assert!((v0 - 2.116535).abs() < 1e-6);
    // BA-CAM: 13.15 mW for 1 cycle at 1 GHz = 13.15 pJ per search.
    assert!(close(si(&acc, "cam", "energy", Dim::ENERGY), 13.15e-12));
}

#[test]
fn imports_are_not_transitive_and_only_root_accelerators_are_returned() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path();
    std::fs::write(p.join("c.tess"), "const deep = 1;\n").unwrap();
    std::fs::write(
        p.join("b.tess"),
        "import \"c.tess\";\nconst mid = deep + 1;\naccelerator lib_acc { }\n",
    )
    .unwrap();
    std::fs::write(
        p.join("a.tess"),
        "import \"b.tess\";\nconst top = mid + 1;\nconst bad = deep;\naccelerator main1 { }\naccelerator main2 { }\n",
    )
    .unwrap();
    let l = tessera::flow::catalog::load(&[p.join("a.tess")]);
    // `deep` is visible in b (which imports c) but not in a.
    let codes: Vec<Code> = l.diagnostics.iter().map(|d| d.code).collect();
    assert_eq!(codes, vec![Code::E0004]);
    let names: Vec<&str> = l.accelerators.iter().map(|a| a.name.as_str()).collect();
    assert_eq!(names, vec!["main1", "main2"]);
}

#[test]
fn accelerators_depending_on_failed_items_are_not_returned() {
    // `bad` fails (reported once); the component default that reads it fails silently, so the
    // instance is missing: the accelerator must not be handed on half-built.
    let l = load(
        "const bad = 1 V + 1 s;\ncomponent c { param v: voltage = bad; }\naccelerator a { inst i = c(); }\n",
    );
    assert_eq!(l.diagnostics.iter().map(|d| d.code).collect::<Vec<_>>(), vec![Code::E0006]);
    assert!(l.accelerators.is_empty());
}
