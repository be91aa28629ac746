//! tessera: compiles trained machine-learning models onto in-memory-computing accelerators.
//!
//! The pipeline (see ARCHITECTURE.md): a `.tess` description is parsed and checked by [`dsl`]
//! into an [`dsl::accel::Accelerator`]; a model file is read by a [`frontend`] into the [`ir`];
//! named [`passes`] lower it to hardware level; [`sim`] interprets the result bit-exactly and
//! counts events for the cost model; [`backend::verilog`] emits RTL and testbenches; [`report`]
//! writes the figures.

pub mod attention;
pub mod backend;
pub mod cam;
pub mod commands;
pub mod crossbar;
pub mod diagnostics;
pub mod dsl;
pub mod family;
pub mod flow;
pub mod frontend;
pub mod ir;
pub mod passes;
pub mod report;
pub mod sim;
pub mod stdlib;
pub mod units;
