//! The standard library of `.tess` modules, compiled into the binary.
//!
//! `build.rs` lists every `stdlib/*.tess` file; each is embedded with `include_str!` so the
//! binary works from any folder. A module is addressed by its file stem (`use tech;`).

include!(concat!(env!("OUT_DIR"), "/stdlib_modules.rs"));

/// The source of a stdlib module, by name.
pub fn module(name: &str) -> Option<&'static str> {
    MODULES.iter().find(|(n, _)| *n == name).map(|(_, s)| *s)
}

/// The names of all stdlib modules, sorted.
pub fn names() -> impl Iterator<Item = &'static str> {
    MODULES.iter().map(|(n, _)| *n)
}

/// The display path of a stdlib module in diagnostics (never a path on disk).
pub fn display_path(name: &str) -> String {
    format!("<stdlib>/{name}.tess")
}

#[cfg(test)]
mod tests {
    #[test]
    fn every_stdlib_file_is_embedded() {
        let on_disk: Vec<String> =
            std::fs::read_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/stdlib"))
                .unwrap()
                .filter_map(|e| {
                    let p = e.unwrap().path();
                    (p.extension()? == "tess")
                        .then(|| p.file_stem().unwrap().to_string_lossy().into_owned())
                })
                .collect();
        let mut on_disk = on_disk;
        on_disk.sort();
        let embedded: Vec<String> = super::names().map(String::from).collect();
        assert_eq!(embedded, on_disk);
        for m in ["tech", "cam", "crossbar", "attention", "neuron"] {
            assert!(super::module(m).is_some(), "stdlib module {m} missing");
        }
    }
}
