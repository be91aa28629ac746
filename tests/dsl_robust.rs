//! Hostile input: deep nesting, huge files, long chains, binary data. Each must give a
//! diagnostic (E0016 or E0001), never a panic or a stack overflow. These run on the test
//! harness's threads (2 MiB stacks), a stricter setting than the CLI's main thread.

use tessera::diagnostics::Code;
use tessera::dsl::{self, Loaded};

fn load(src: &str) -> Loaded {
    dsl::load_sources(&[("big.tess", src)], &tessera::flow::catalog::load_options())
}

fn codes(l: &Loaded) -> Vec<Code> {
    l.diagnostics.iter().map(|d| d.code).collect()
}

#[test]
fn ten_thousand_nested_parentheses() {
    let src = format!("const x = {}1{};", "(".repeat(10_000), ")".repeat(10_000));
    assert_eq!(codes(&load(&src)), vec![Code::E0016]);
    let src = format!("component c {}", "{".repeat(10_000));
    assert_eq!(codes(&load(&src)), vec![Code::E0016]);
    // Unbalanced: only openers.
    let src = "(".repeat(10_000);
    assert_eq!(codes(&load(&src)), vec![Code::E0016]);
}

#[test]
fn long_unbracketed_chains() {
    for src in [
        format!("const x = 1{};", " + 1".repeat(100_000)),
        format!("const x = {}1;", "-".repeat(10_000)),
        format!("const x = {}true;", "!".repeat(10_000)),
        format!("const x = a{};", ".b".repeat(10_000)),
        format!("const x: real{} = 1;", " * real".repeat(10_000)),
        format!("const x = 1{};", " < 1 && 1".repeat(20_000)),
    ] {
        let l = load(&src);
        assert_eq!(codes(&l), vec![Code::E0016], "{}", &src[..40]);
    }
}

#[test]
fn constants_referring_deeply() {
    // c0 = c1 + 1, c1 = c2 + 1, ...: evaluating c0 recurses through all of them.
    let mut src = String::new();
    for i in 0..5_000 {
        src.push_str(&format!("const c{i} = c{} + 1;\n", i + 1));
    }
    src.push_str("const c5000 = 0;\n");
    let l = load(&src);
    assert!(codes(&l).contains(&Code::E0016), "{:?}", codes(&l));
    // Deep expressions inside each of a chain of constants: bounded by the evaluation depth.
    let mut src = String::new();
    let deep = |next: &str| format!("{}{next}{}", "(".repeat(60), " + 1)".repeat(60));
    for i in 0..60 {
        src.push_str(&format!("const d{i} = {};\n", deep(&format!("d{}", i + 1))));
    }
    src.push_str("const d60 = 0;\n");
    let l = load(&src);
    assert!(codes(&l).iter().all(|c| *c == Code::E0016), "{:?}", codes(&l));
    assert!(!l.diagnostics.is_empty());
}

#[test]
fn huge_files_are_refused_not_parsed() {
    let dir = tempfile::tempdir().unwrap();
    let big = dir.path().join("big.tess");
    // 10 MB of valid constants.
    let line = "const x = 1;\n";
    std::fs::write(&big, line.repeat(10 * 1024 * 1024 / line.len() + 1)).unwrap();
    let l = tessera::flow::catalog::load(std::slice::from_ref(&big));
    assert_eq!(codes(&l), vec![Code::E0016]);
    assert!(l.diagnostics[0].message.contains("bytes"));
    // Imported, it is reported at the import.
    let root = dir.path().join("root.tess");
    std::fs::write(&root, "import \"big.tess\";\n").unwrap();
    let l = tessera::flow::catalog::load(std::slice::from_ref(&root));
    assert_eq!(codes(&l), vec![Code::E0016]);
    assert!(l.diagnostics[0].primary_span().is_some());
}

#[test]
fn a_large_valid_file_still_checks() {
    // About 1 MB of distinct, valid constants: under the size limit, no diagnostics.
    let src: String = (0..60_000).map(|i| format!("const k{i} = {i} fJ;\n")).collect();
    assert!(src.len() > 1_000_000);
    assert!(load(&src).diagnostics.is_empty());
}

#[test]
fn deep_import_chains_stop() {
    let dir = tempfile::tempdir().unwrap();
    for i in 0..100 {
        std::fs::write(
            dir.path().join(format!("f{i}.tess")),
            format!("import \"f{}.tess\";\nconst x{i} = 1;\n", i + 1),
        )
        .unwrap();
    }
    std::fs::write(dir.path().join("f100.tess"), "const end = 1;\n").unwrap();
    let l = tessera::flow::catalog::load(&[dir.path().join("f0.tess")]);
    assert_eq!(codes(&l), vec![Code::E0016]);
}

#[test]
fn binary_and_non_utf8_input() {
    let dir = tempfile::tempdir().unwrap();
    let bin = dir.path().join("bin.tess");
    let bytes: Vec<u8> =
        (0..100_000u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8).collect();
    std::fs::write(&bin, &bytes).unwrap();
    let l = tessera::flow::catalog::load(std::slice::from_ref(&bin));
    assert_eq!(codes(&l), vec![Code::E0001]);
    // Valid text with one bad byte: located by line and column.
    let bad = dir.path().join("bad.tess");
    std::fs::write(&bad, b"const a = 1;\nconst b = \xff;\n").unwrap();
    let l = tessera::flow::catalog::load(std::slice::from_ref(&bad));
    assert_eq!(codes(&l), vec![Code::E0001]);
    assert!(
        l.diagnostics[0].notes[0].contains("line 2, column 11"),
        "{:?}",
        l.diagnostics[0].notes
    );
    // Control characters and stray Unicode in valid UTF-8 are lexical errors, capped.
    let junk: String = (0..5_000).map(|i| if i % 2 == 0 { '\u{7}' } else { 'é' }).collect();
    let l = load(&junk);
    assert!(!l.diagnostics.is_empty() && l.diagnostics.len() <= 60);
    assert!(l.diagnostics.iter().all(|d| matches!(d.code, Code::E0001 | Code::E0016)));
}

#[test]
fn many_syntax_errors_are_capped() {
    let src = "const = ;\n".repeat(10_000);
    let l = load(&src);
    assert!(l.diagnostics.len() <= 51, "{}", l.diagnostics.len());
    assert_eq!(l.diagnostics.last().map(|d| d.code), Some(Code::E0016));
}
