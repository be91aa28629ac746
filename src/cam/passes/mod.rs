//! The tree family's passes: `cam-pack` → `cam-quantize` → `cam-tile`, each an IR → IR rewrite
//! between the `trees` and `cam` dialects.

mod emit;
pub mod pack;
pub mod quantize;
pub mod tile;

/// The passes a `cam_pack` mapping runs, in order.
pub static PIPELINE: &[&dyn crate::passes::Pass] =
    &[&pack::CamPack, &quantize::CamQuantize, &tile::CamTile];
