//! Verilog backend: a small Verilog AST and its printer, the streaming top-level interface
//! every family uses, the shorthands and shared builders the family generators compose
//! (`build`), hex test-vector files, testbench generation, the simulator harness and synthesis.

pub mod ast;
pub mod bits;
pub mod build;
pub mod harness;
pub mod hex;
pub mod interface;
pub mod printer;
pub mod synth;
pub mod testbench;

pub use bits::Bits;
pub use printer::{print_module, print_modules};
