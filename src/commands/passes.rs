//! `tessera passes`: list the registered passes with their options.

use crate::passes::Pass;
use std::fmt::Write;

/// The listing `tessera passes` prints: for each pass its name, aliases, description and
/// options (kind, default, help). Pure, so it can be snapshot-tested.
pub fn listing() -> String {
    let mut out = String::from(
        "Passes (run in the order given; `_` and `-` are interchangeable in names):\n",
    );
    for p in crate::flow::registry() {
        out.push('\n');
        describe(&mut out, p);
    }
    out
}

fn describe(out: &mut String, p: &dyn Pass) {
    let _ = write!(out, "{}", p.name());
    if !p.aliases().is_empty() {
        let _ = write!(out, "  (aliases: {})", p.aliases().join(", "));
    }
    let _ = writeln!(out, "\n    {}", p.description());
    if p.options().is_empty() {
        let _ = writeln!(out, "    options: none");
        return;
    }
    let _ = writeln!(out, "    options:");
    for o in p.options() {
        let _ = writeln!(out, "      {} = {}  [{}]", o.name, o.default, o.kind);
        let _ = writeln!(out, "          {}", o.help);
    }
}

/// Prints the pass listing; returns the exit code.
pub fn run() -> u8 {
    print!("{}", listing());
    0
}
