//! Verilog backend: a small Verilog AST, its printer, testbench generation and simulator harness.
