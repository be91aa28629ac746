//! The crossbar family's passes: `quantize` → `crossbar-tile` → `crossbar-program`.

pub mod common;
pub mod program;
pub mod quantize;
pub mod tile;

/// The passes a `crossbar_tile` mapping runs, in order.
pub static PIPELINE: &[&dyn crate::passes::Pass] =
    &[&quantize::Quantize, &tile::CrossbarTile, &program::CrossbarProgram];
