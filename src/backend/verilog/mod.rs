//! Verilog backend: a small Verilog AST and its printer, the streaming top-level interface
//! every family uses, hex test-vector files, testbench generation, the simulator harness, and
//! the lowering of integer hardware IR.

pub mod ast;
pub mod bits;
pub mod build;
pub mod harness;
pub mod hex;
pub mod interface;
pub mod lower_int;
pub mod printer;
pub mod synth;
pub mod testbench;

pub use bits::Bits;
pub use printer::{print_module, print_modules};
