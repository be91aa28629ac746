//! `tessera passes`: the listing (snapshot) and the command's output and exit code.

use assert_cmd::Command;
use tessera::commands::passes::listing;

#[test]
fn listing_snapshot() {
    insta::assert_snapshot!(listing());
}

#[test]
fn command_prints_the_listing() {
    let out = Command::cargo_bin("tessera").unwrap().arg("passes").assert().success();
    assert_eq!(String::from_utf8_lossy(&out.get_output().stdout), listing());
}

#[test]
fn registry_names_are_unique_kebab_case_with_defaults_that_validate() {
    let mut names = std::collections::BTreeSet::new();
    for p in tessera::flow::registry() {
        for n in std::iter::once(p.name()).chain(p.aliases().iter().copied()) {
            assert!(
                n.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-'),
                "{n}"
            );
            assert!(names.insert(n), "duplicate pass name {n}");
        }
        assert!(!p.description().is_empty());
        for o in p.options() {
            if let Some(v) = o.default.to_value() {
                tessera::passes::options::check_value(o.kind, &v).unwrap_or_else(|e| {
                    panic!("{}: default of `{}` is invalid: {e}", p.name(), o.name)
                });
            }
        }
    }
}
