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
    out.push_str(
        "\nFamilies (a mapping `using PASS(...)` selects one; each of its options goes to \
         every pass above that declares it, or to the family's own options):\n",
    );
    for f in crate::flow::families() {
        let _ = write!(out, "\n{}\n    mapping: {}", f.name(), f.mapping_passes().join(", "));
        let names: Vec<&str> = f.pipeline().iter().map(|p| p.name()).collect();
        if names.is_empty() {
            let _ = writeln!(out, "\n    pipeline: not built yet");
        } else {
            let _ = writeln!(out, "\n    pipeline: {}", names.join(" -> "));
        }
        options(&mut out, "family options", f.options());
    }
    out
}

fn options(out: &mut String, what: &str, opts: &[crate::passes::PassOption]) {
    if opts.is_empty() {
        let _ = writeln!(out, "    {what}: none");
        return;
    }
    let _ = writeln!(out, "    {what}:");
    for o in opts {
        let _ = writeln!(out, "      {} = {}  [{}]", o.name, o.default, o.kind);
        let _ = writeln!(out, "          {}", o.help);
    }
}

fn describe(out: &mut String, p: &dyn Pass) {
    let _ = write!(out, "{}", p.name());
    if !p.aliases().is_empty() {
        let _ = write!(out, "  (aliases: {})", p.aliases().join(", "));
    }
    let _ = writeln!(out, "\n    {}", p.description());
    options(out, "options", p.options());
}

/// Prints the pass listing; returns the exit code.
pub fn run() -> u8 {
    print!("{}", listing());
    0
}
