//! The layer rules of ARCHITECTURE.md, checked on the source: a module may use its own layer and
//! the layers below it, never one above, and the top-level modules form no cycle.
//!
//! Reads every `src/**/*.rs` (comments and `#[cfg(test)]` modules stripped) and collects the
//! `crate::MODULE` paths each top-level module names. Families may not name one another.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// Layers from the bottom up; a module may name modules of its own layer or of any layer
/// before it. Families share a layer but may not name each other (checked separately).
const LAYERS: &[&[&str]] = &[
    &["units", "diagnostics", "ir", "sim", "stdlib"],
    &["backend"],
    &["dsl", "frontend"],
    &["passes"],
    &["family", "report"],
    &["cam", "crossbar", "attention"],
    &["flow"],
    &["commands"],
];
const FAMILIES: &[&str] = &["cam", "crossbar", "attention"];

fn layer_of(m: &str) -> Option<usize> {
    LAYERS.iter().position(|l| l.contains(&m))
}

/// Source text without comments and without the trailing `#[cfg(test)]` module.
fn strip(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for line in text.lines() {
        let code = match line.find("//") {
            Some(i) => &line[..i],
            None => line,
        };
        out.push_str(code);
        out.push('\n');
    }
    match out.find("#[cfg(test)]") {
        Some(i) => out[..i].to_string(),
        None => out,
    }
}

fn files(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            files(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

/// Every source file as `(top-level module, path under src/, stripped text)`.
fn sources() -> Vec<(String, String, String)> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut all = Vec::new();
    files(&src, &mut all);
    all.into_iter()
        .map(|f| {
            let rel = f.strip_prefix(&src).unwrap();
            let top = rel.components().next().unwrap().as_os_str().to_string_lossy();
            let top = top.trim_end_matches(".rs").to_string();
            (top, rel.display().to_string(), strip(&std::fs::read_to_string(&f).unwrap()))
        })
        .collect()
}

/// `module -> {named module -> first file naming it}`.
fn uses() -> BTreeMap<String, BTreeMap<String, String>> {
    let mut out: BTreeMap<String, BTreeMap<String, String>> = BTreeMap::new();
    for (top, rel, text) in sources() {
        if top == "main" || top == "lib" {
            continue;
        }
        let entry = out.entry(top.clone()).or_default();
        for (i, _) in text.match_indices("crate::") {
            let name: String = text[i + 7..]
                .chars()
                .take_while(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '_')
                .collect();
            if !name.is_empty() && name != top {
                entry.entry(name).or_insert_with(|| rel.clone());
            }
        }
    }
    out
}

#[test]
fn every_top_level_module_has_a_layer() {
    let missing: Vec<String> = uses().into_keys().filter(|m| layer_of(m).is_none()).collect();
    assert!(missing.is_empty(), "modules without a layer in ARCHITECTURE.md: {missing:?}");
}

#[test]
fn no_module_names_a_layer_above_it_and_families_do_not_name_each_other() {
    let mut bad = Vec::new();
    for (m, named) in uses() {
        let Some(lm) = layer_of(&m) else { continue };
        for (n, file) in named {
            let Some(ln) = layer_of(&n) else { continue };
            if ln > lm {
                bad.push(format!("{file}: `{m}` (layer {lm}) names `{n}` (layer {ln})"));
            }
            if FAMILIES.contains(&m.as_str()) && FAMILIES.contains(&n.as_str()) {
                bad.push(format!("{file}: family `{m}` names family `{n}`"));
            }
        }
    }
    assert!(bad.is_empty(), "layer violations:\n{}", bad.join("\n"));
}

#[test]
fn the_core_ir_names_nothing_outside_the_core() {
    let named: BTreeSet<String> = uses().remove("ir").unwrap_or_default().into_keys().collect();
    let outside: Vec<&String> = named.iter().filter(|n| layer_of(n) != Some(0)).collect();
    assert!(outside.is_empty(), "src/ir names {outside:?}");
}

#[test]
fn the_checker_sees_a_violation() {
    // The rules must be able to fail: a core module naming a family is caught.
    assert!(layer_of("cam").unwrap() > layer_of("ir").unwrap());
    assert!(layer_of("flow").unwrap() > layer_of("cam").unwrap());
    assert_eq!(
        strip("use crate::cam; // crate::flow\n#[cfg(test)]\nuse crate::x;"),
        "use crate::cam; \n"
    );
}

/// `(visibility, name)` of every `fn` in `text` whose return type is `Result<_, String>`;
/// visibility is the `pub...` word before `fn` on its line (empty for private functions and
/// trait methods).
fn string_error_fns(text: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for (i, _) in text.match_indices("fn ") {
        if i > 0 && text[..i].chars().next_back().is_some_and(|c| c.is_alphanumeric() || c == '_') {
            continue;
        }
        let rest = &text[i + 3..];
        let name: String = rest.chars().take_while(|c| c.is_alphanumeric() || *c == '_').collect();
        if name.is_empty() {
            continue;
        }
        // The parameter list, then the return type up to the body, `;` or `where`.
        let Some(open) = rest.find('(') else { continue };
        let (mut depth, mut close) = (0i32, None);
        for (k, c) in rest[open..].char_indices() {
            match c {
                '(' => depth += 1,
                ')' => {
                    depth -= 1;
                    if depth == 0 {
                        close = Some(open + k);
                        break;
                    }
                }
                _ => {}
            }
        }
        let Some(close) = close else { continue };
        let tail = rest[close + 1..].trim_start();
        let Some(ret) = tail.strip_prefix("->") else { continue };
        let end = ret.find(['{', ';']).unwrap_or(ret.len());
        let ret = ret[..end].split(" where").next().unwrap_or("");
        // Without whitespace and rustfmt's trailing comma of a multi-line generic list.
        let ret: String = ret.chars().filter(|c| !c.is_whitespace()).collect();
        let ret = ret.replace(",>", ">");
        if ret.starts_with("Result<") && ret.ends_with(",String>") {
            let line_start = text[..i].rfind('\n').map_or(0, |p| p + 1);
            let vis = text[line_start..i].trim().to_string();
            out.push((vis, name));
        }
    }
    out
}

/// Errors that cross a module boundary are typed. Below the families (core IR, backend,
/// language, pass manager, family interface and reports) no function returns
/// `Result<_, String>` at all — their traits are what families implement and their functions
/// what every module calls. The frontends keep text errors only inside a frontend (private or
/// `pub(super)`), wrapped into `FrontendError`/`OnnxError` at their boundary. In a family, a
/// text error may only be a private helper's inside one file: whatever another module calls
/// returns the family's error type (`XbarError`, `AttnError`, ...).
#[test]
fn errors_that_cross_a_module_are_typed() {
    let mut bad = Vec::new();
    for (top, rel, text) in sources() {
        let Some(layer) = layer_of(&top) else { continue };
        let family = layer >= layer_of("cam").unwrap();
        for (vis, name) in string_error_fns(&text) {
            let allowed = if family {
                vis.is_empty()
            } else {
                top == "frontend" && (vis.is_empty() || vis == "pub(super)")
            };
            if !allowed {
                bad.push(format!("{rel}: {vis} fn {name} returns Result<_, String>"));
            }
        }
    }
    assert!(bad.is_empty(), "untyped errors across modules:\n{}", bad.join("\n"));
}

#[test]
fn the_error_checker_sees_text_errors() {
    let text = "pub fn a(x: &[u8]) -> Result<Vec<u8>, String> {\n}\n\
                fn b(&self) -> Result<(), String>;\n\
                pub(super) fn c<T>(f: impl Fn(u8) -> u8) -> Result<\n    T,\n    String,\n> where T: Copy {\n}\n\
                pub fn d() -> Result<(), OpError> {}\nfn e() -> String {}\n";
    let found = string_error_fns(text);
    let want = [("pub", "a"), ("", "b"), ("pub(super)", "c")];
    assert_eq!(found, want.map(|(v, n)| (v.to_string(), n.to_string())));
}

/// The modules above the families (`flow`, `commands`) reach a family only through its
/// registration (`crate::FAMILY::family::...`, the `Family` trait object whose errors are
/// `FlowError`), so a family's internal text errors never cross its boundary.
#[test]
fn families_are_reached_only_through_their_registration() {
    let mut bad = Vec::new();
    for (top, rel, text) in sources() {
        if FAMILIES.contains(&top.as_str()) {
            continue;
        }
        for fam in FAMILIES {
            let path = format!("crate::{fam}::");
            for (i, _) in text.match_indices(&path) {
                if !text[i + path.len()..].starts_with("family::") {
                    bad.push(format!("{rel}: {}", &text[i..(i + 60).min(text.len())]));
                }
            }
        }
    }
    assert!(bad.is_empty(), "family internals named from outside:\n{}", bad.join("\n"));
}
