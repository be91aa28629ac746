//! The standard library of `.tess` modules, compiled into the binary.
