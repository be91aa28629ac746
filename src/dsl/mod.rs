//! The `.tess` accelerator description language: lexer, parser, checker.
pub mod accel;
