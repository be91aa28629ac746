//! The streaming top-level interface shared by every family's top module and the testbench.
//!
//! ```verilog
//! module TOP (
//!   input clk,
//!   input rst,                 // synchronous, active high
//!   input in_valid,
//!   output in_ready,
//!   input [IN_W-1:0] in_data,
//!   output out_valid,
//!   output [OUT_W-1:0] out_data
//! );
//! ```
//!
//! Contract: an input vector is accepted on a rising edge of `clk` where `in_valid && in_ready`
//! (and `rst` is low). Each accepted input eventually produces exactly one cycle with
//! `out_valid` high carrying its result on `out_data`; results come out in input order. The
//! consumer never applies back-pressure, so a design must be able to deliver every result.
//! Vectors are packed with element 0 in the least significant bits (see [`super::hex`]).

use super::ast::Port;

pub const CLK: &str = "clk";
pub const RST: &str = "rst";
pub const IN_VALID: &str = "in_valid";
pub const IN_READY: &str = "in_ready";
pub const IN_DATA: &str = "in_data";
pub const OUT_VALID: &str = "out_valid";
pub const OUT_DATA: &str = "out_data";

/// The seven ports of the streaming interface, in the order above.
pub fn stream_ports(in_width: u32, out_width: u32) -> Vec<Port> {
    vec![
        Port::input(CLK, 1),
        Port::input(RST, 1),
        Port::input(IN_VALID, 1),
        Port::output(IN_READY, 1),
        Port::input(IN_DATA, in_width),
        Port::output(OUT_VALID, 1),
        Port::output(OUT_DATA, out_width),
    ]
}
