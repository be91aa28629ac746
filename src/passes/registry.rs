//! The list of passes the CLI, `.tess` mappings and pipelines can name.
//!
//! A `static` array of trait objects: no global mutable state, nothing to initialise, and a new
//! pass is one line here.

use super::options::{canonical, closest};
use super::{
    binarize, cam_pack, cam_quantize, cam_tile, dce, fold_identity, sparsify, xbar_program,
    xbar_quantize, xbar_tile, Pass,
};

/// Every registered pass, in the order `tessera passes` lists them.
pub static PASSES: &[&dyn Pass] = &[
    &dce::Dce,
    &fold_identity::FoldIdentity,
    &cam_pack::CamPack,
    &cam_quantize::CamQuantize,
    &cam_tile::CamTile,
    &xbar_quantize::Quantize,
    &xbar_tile::CrossbarTile,
    &xbar_program::CrossbarProgram,
    &binarize::Binarize,
    &sparsify::Sparsify,
];

/// All registered passes.
pub fn registry() -> &'static [&'static dyn Pass] {
    PASSES
}

/// Finds a pass by name or alias; `_` and `-` are interchangeable (`cam_pack` is `cam-pack`).
pub fn lookup(name: &str) -> Option<&'static dyn Pass> {
    let key = canonical(name);
    registry()
        .iter()
        .copied()
        .find(|p| p.name() == key || p.aliases().iter().any(|a| canonical(a) == key))
}

/// The registered name closest to a misspelt one, for "did you mean" hints.
pub fn suggest(name: &str) -> Option<String> {
    let names: Vec<&str> = registry()
        .iter()
        .flat_map(|p| std::iter::once(p.name()).chain(p.aliases().iter().copied()))
        .collect();
    closest(&canonical(name), &names)
}
