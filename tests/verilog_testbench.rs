//! The generated testbench against hand-written designs whose correct outputs are known
//! independently (`x + 1`): it must pass a design with back-pressure and latency, and count
//! exactly the missing and extra outputs of faulty designs.

use tessera::backend::verilog::harness::{self, HarnessError, SimBundle, Simulator};
use tessera::backend::verilog::hex::pack;
use tessera::backend::verilog::testbench::{self, parse_result, TestbenchConfig};
use tessera::backend::verilog::Bits;

/// Accepts an input every other cycle (`in_ready` toggles), answers `in + 1` three cycles later.
const INC_STALL: &str = "module dut (
  input clk, input rst, input in_valid, output in_ready, input [7:0] in_data,
  output out_valid, output [7:0] out_data
);
  reg toggle; reg v0, v1, v2; reg [7:0] d0, d1, d2;
  assign in_ready = toggle;
  always @(posedge clk) begin
    if (rst) begin
      toggle <= 1'b0; v0 <= 1'b0; v1 <= 1'b0; v2 <= 1'b0;
    end else begin
      toggle <= ~toggle;
      v0 <= in_valid && in_ready; d0 <= in_data + 8'd1;
      v1 <= v0; d1 <= d0; v2 <= v1; d2 <= d1;
    end
  end
  assign out_valid = v2;
  assign out_data = d2;
endmodule
";

/// Answers `in + 1` next cycle, but never for inputs whose low nibble is 0.
const DROP: &str = "module dut (
  input clk, input rst, input in_valid, output in_ready, input [7:0] in_data,
  output out_valid, output [7:0] out_data
);
  reg v; reg [7:0] d;
  assign in_ready = !rst;
  always @(posedge clk) begin
    if (rst) v <= 1'b0;
    else v <= in_valid && in_data[3:0] != 4'd0;
    if (in_valid) d <= in_data + 8'd1;
  end
  assign out_valid = v;
  assign out_data = d;
endmodule
";

/// Answers `in + 1` next cycle, and answers 8'hff a second time one cycle later.
const DUP: &str = "module dut (
  input clk, input rst, input in_valid, output in_ready, input [7:0] in_data,
  output out_valid, output [7:0] out_data
);
  reg v, again; reg [7:0] d;
  assign in_ready = !rst;
  always @(posedge clk) begin
    if (rst) begin
      v <= 1'b0; again <= 1'b0;
    end else begin
      v <= in_valid || again;
      again <= in_valid && in_data == 8'hff;
    end
    if (in_valid) d <= in_data + 8'd1;
  end
  assign out_valid = v;
  assign out_data = d;
endmodule
";

fn bytes(vals: &[u8]) -> Vec<Bits> {
    vals.iter().map(|&v| pack(&[i128::from(v)], 8, false).unwrap()).collect()
}

fn run(sim: Simulator, design: &str, inputs: &[u8]) -> harness::SimOutcome {
    let expected: Vec<u8> = inputs.iter().map(|v| v.wrapping_add(1)).collect();
    let cfg = TestbenchConfig::new("dut", 8, 8, inputs.len(), 3, 2);
    let tb = testbench::generate(&cfg).unwrap();
    let (ins, outs) = (bytes(inputs), bytes(&expected));
    let dir = tempfile::tempdir().unwrap();
    let b = SimBundle { top: "dut", design, testbench: &tb, inputs: &ins, expected: &outs };
    harness::simulate(sim, dir.path(), &b).unwrap_or_else(|e| panic!("{e}"))
}

fn check_all(sim: Simulator) {
    if !harness::require(sim) {
        return;
    }
    let all: Vec<u8> = (0..=255).collect();
    let ok = run(sim, INC_STALL, &all);
    assert_eq!((ok.vectors, ok.mismatches), (256, 0), "{}", ok.log);
    // 256 inputs at one per two cycles take at least 512 cycles.
    assert!(ok.log.contains("TESSERA-CYCLES"), "{}", ok.log);

    // DROP on 0x01..=0x3f: 63 inputs, 0x10, 0x20 and 0x30 are dropped. Outputs 0..14 match
    // (0x02..0x10); from the first drop on, every output is compared with an earlier input's
    // expectation and differs (45 mismatches); 3 outputs are missing at the end: 48 in all.
    let inputs: Vec<u8> = (1..=0x3f).collect();
    let drop = run(sim, DROP, &inputs);
    assert_eq!((drop.vectors, drop.mismatches), (63, 48), "{}", drop.log);
    assert!(drop.log.contains("MISSING 3 of 63 outputs"), "{}", drop.log);
    assert!(drop.log.contains("MISMATCH vector=15 got=12 expected=11"), "{}", drop.log);

    // DUP on 0..=255: 256 correct outputs, then one extra (0x00 again).
    let dup = run(sim, DUP, &all);
    assert_eq!((dup.vectors, dup.mismatches), (256, 1), "{}", dup.log);
    assert!(dup.log.contains("MISMATCH extra output 256 got=00"), "{}", dup.log);
}

#[test]
fn testbench_iverilog() {
    check_all(Simulator::Iverilog);
}

#[test]
fn testbench_verilator() {
    check_all(Simulator::Verilator);
}

#[test]
fn result_line_parsing() {
    assert_eq!(parse_result("x\nTESSERA-RESULT vectors=12 mismatches=3\n"), Some((12, 3)));
    assert_eq!(parse_result("TESSERA-RESULT vectors=12\n"), None);
    assert_eq!(parse_result("nothing here"), None);
}

#[test]
fn testbench_rejects_empty_runs() {
    let cfg = TestbenchConfig::new("dut", 8, 8, 0, 1, 1);
    assert_eq!(testbench::generate(&cfg).unwrap_err(), testbench::TestbenchError::NoVectors);
    let cfg = TestbenchConfig::new("dut", 0, 8, 4, 1, 1);
    assert_eq!(testbench::generate(&cfg).unwrap_err(), testbench::TestbenchError::ZeroWidth);
}

#[test]
fn compile_errors_carry_the_tool_output() {
    if !harness::require(Simulator::Iverilog) {
        return;
    }
    let cfg = TestbenchConfig::new("dut", 8, 8, 1, 1, 1);
    let tb = testbench::generate(&cfg).unwrap();
    let ins = bytes(&[1]);
    let dir = tempfile::tempdir().unwrap();
    let b = SimBundle {
        top: "dut",
        design: "module dut(; endmodule",
        testbench: &tb,
        inputs: &ins,
        expected: &ins,
    };
    match harness::simulate(Simulator::Iverilog, dir.path(), &b) {
        Err(HarnessError::CompileFailed { tool, output, .. }) => {
            assert_eq!(tool, "iverilog");
            assert!(output.contains("dut.v"), "{output}");
        }
        other => panic!("expected a compile failure, got {other:?}"),
    }
}

/// A design that oscillates at zero delay (a register toggling itself through its own event
/// control) never lets simulated time advance past the oscillation, so the testbench's cycle
/// timeout never fires; the harness must stop it and say so.
#[test]
fn runaway_simulation_is_stopped() {
    if !harness::require(Simulator::Iverilog) {
        return;
    }
    let spin = "module dut (
  input clk, input rst, input in_valid, output in_ready, input [7:0] in_data,
  output out_valid, output [7:0] out_data
);
  reg x = 1'b0;
  always @(x) x <= ~x;
  initial #2 x = 1'b1;
  assign in_ready = 1'b1;
  assign out_valid = 1'b0;
  assign out_data = in_data;
endmodule
";
    let cfg = TestbenchConfig::new("dut", 8, 8, 1, 1, 1);
    let tb = testbench::generate(&cfg).unwrap();
    let ins = bytes(&[1]);
    let dir = tempfile::tempdir().unwrap();
    let b = SimBundle { top: "dut", design: spin, testbench: &tb, inputs: &ins, expected: &ins };
    harness::write_bundle(dir.path(), &b).unwrap();
    let compiled = harness::compile(Simulator::Iverilog, dir.path(), "dut").unwrap();
    match compiled.execute_within(std::time::Duration::from_millis(1500)) {
        Err(HarnessError::Timeout { simulator, .. }) => assert_eq!(simulator, "iverilog"),
        other => panic!("expected a timeout, got {other:?}"),
    }
}

/// With no simulator on `PATH`, `available` says so and compiling names the missing tool.
/// Runs itself in a child process with an empty `PATH`, so other tests are unaffected.
#[test]
fn missing_tools_are_reported() {
    if std::env::var_os("TESSERA_TEST_EMPTY_PATH").is_some() {
        assert!(!harness::available(Simulator::Iverilog));
        assert!(!harness::available(Simulator::Verilator));
        let dir = tempfile::tempdir().unwrap();
        match harness::compile(Simulator::Verilator, dir.path(), "dut") {
            Err(e @ HarnessError::ToolMissing { .. }) => {
                assert!(
                    e.to_string().starts_with("verilator is not installed or cannot be started"),
                    "{e}"
                )
            }
            other => panic!("expected ToolMissing, got {other:?}"),
        }
        return;
    }
    let out = std::process::Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "missing_tools_are_reported", "--test-threads=1"])
        .env("TESSERA_TEST_EMPTY_PATH", "1")
        .env("PATH", "")
        .output()
        .unwrap();
    let text =
        format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success() && text.contains("1 passed"), "{text}");
}
