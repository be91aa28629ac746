//! Generates the `.tess` parser from `grammar/tessera.lalrpop`, and the table of standard-library
//! modules from every `stdlib/*.tess` (embedded with `include_str!`, so `use tech;` works from
//! any folder and a new stdlib file needs no code change).
use std::fmt::Write as _;
use std::path::PathBuf;

fn main() {
    let out_dir = PathBuf::from(std::env::var("OUT_DIR").expect("cargo sets OUT_DIR"));
    lalrpop::Configuration::new()
        .set_in_dir("grammar")
        .set_out_dir(&out_dir)
        .process()
        .expect("lalrpop grammar must compile");
    println!("cargo:rerun-if-changed=grammar/tessera.lalrpop");

    let manifest = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets it"));
    let dir = manifest.join("stdlib");
    let mut modules: Vec<(String, PathBuf)> = std::fs::read_dir(&dir)
        .expect("stdlib/ exists")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "tess"))
        .filter_map(|p| {
            let stem = p.file_stem()?.to_str()?.to_string();
            let ident = stem.chars().next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
                && stem.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
            assert!(ident, "stdlib module file name `{stem}` is not a .tess identifier");
            Some((stem, p))
        })
        .collect();
    modules.sort();
    let mut code = String::from("/// Every `stdlib/*.tess`, sorted by module name.\n");
    code.push_str("pub const MODULES: &[(&str, &str)] = &[\n");
    for (name, path) in &modules {
        writeln!(code, "    ({name:?}, include_str!({:?})),", path.display().to_string())
            .expect("writing to a String");
    }
    code.push_str("];\n");
    std::fs::write(out_dir.join("stdlib_modules.rs"), code).expect("write stdlib table");
    println!("cargo:rerun-if-changed=stdlib");
}
