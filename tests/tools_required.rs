//! `TESSERA_REQUIRE_TOOLS`: with it a missing simulator fails the test that needs it, naming
//! the tool; without it the test skips and says so on stderr. Each case runs this test binary
//! again in a child process with an empty `PATH`, so no tool can be found there.

use std::process::{Command, Output};
use tessera::backend::verilog::harness::{self, Simulator, REQUIRE_TOOLS_VAR};

/// Set in the child processes only.
const CHILD: &str = "TESSERA_TEST_TOOLS_CHILD";

/// What a cosimulation test does first; in the child no simulator is on `PATH`.
#[test]
#[ignore = "run by the tests below, in a child process without tools"]
fn child_needs_iverilog() {
    assert!(std::env::var_os(CHILD).is_some(), "run only as a child of this binary's tests");
    if !harness::require(Simulator::Iverilog) {
        return;
    }
    panic!("iverilog was found with an empty PATH");
}

/// [`child_needs_iverilog`] for yosys.
#[test]
#[ignore = "run by the tests below, in a child process without tools"]
fn child_needs_yosys() {
    assert!(std::env::var_os(CHILD).is_some(), "run only as a child of this binary's tests");
    if !harness::require_yosys() {
        return;
    }
    panic!("yosys was found with an empty PATH");
}

fn run_child(test: &str, require: Option<&str>) -> (Output, String) {
    let mut cmd = Command::new(std::env::current_exe().unwrap());
    cmd.args(["--exact", test, "--ignored", "--test-threads=2"]).env(CHILD, "1").env("PATH", "");
    match require {
        Some(v) => cmd.env(REQUIRE_TOOLS_VAR, v),
        None => cmd.env_remove(REQUIRE_TOOLS_VAR),
    };
    let out = cmd.output().unwrap();
    let text =
        format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    (out, text)
}

#[test]
fn missing_tool_fails_when_required() {
    for (test, tool) in [("child_needs_iverilog", "iverilog"), ("child_needs_yosys", "yosys")] {
        let (out, text) = run_child(test, Some("1"));
        assert!(!out.status.success(), "{test} passed without {tool}:\n{text}");
        let want = format!("{tool} not found in `{test}`, and {REQUIRE_TOOLS_VAR} is set");
        assert!(text.contains(&want), "{text}");
        assert!(!text.contains("SKIPPED"), "{text}");
    }
}

#[test]
fn missing_tool_skips_visibly_otherwise() {
    for require in [None, Some("0"), Some("")] {
        let (out, text) = run_child("child_needs_iverilog", require);
        assert!(out.status.success() && text.contains("1 passed"), "{require:?}:\n{text}");
        // Visible in a passing run: not swallowed by the test harness's output capture.
        assert!(
            text.contains("SKIPPED: iverilog not found in `child_needs_iverilog`"),
            "{require:?}:\n{text}"
        );
    }
}
