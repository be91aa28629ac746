//! The `.tess` accelerator description language: lexer, parser, checker.
pub mod accel;
pub mod ast;
pub mod lexer;
pub mod parser;
