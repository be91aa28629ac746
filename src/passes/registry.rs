//! Looking passes up by name in a registry, and the family-independent passes.
//!
//! A registry is a slice of `&'static dyn Pass`: no global mutable state and nothing to
//! initialise. The pass manager knows no family, so the complete registry (these passes plus
//! every family's) is assembled by the driver (`crate::flow::registry`) and handed to whatever
//! resolves names.

use super::options::{canonical, closest};
use super::{dce, fold_identity, Pass};

/// The passes every family can use, in the order `tessera passes` lists them.
pub static CORE: &[&dyn Pass] = &[&dce::Dce, &fold_identity::FoldIdentity];

/// Finds a family-independent pass by name or alias.
pub fn lookup(name: &str) -> Option<&'static dyn Pass> {
    lookup_in(CORE, name)
}

/// Finds a pass of `registry` by name or alias; `_` and `-` are interchangeable (`cam_pack` is
/// `cam-pack`).
pub fn lookup_in(registry: &[&'static dyn Pass], name: &str) -> Option<&'static dyn Pass> {
    let key = canonical(name);
    registry
        .iter()
        .copied()
        .find(|p| p.name() == key || p.aliases().iter().any(|a| canonical(a) == key))
}

/// The name in `registry` closest to a misspelt one, for "did you mean" hints.
pub fn suggest_in(registry: &[&'static dyn Pass], name: &str) -> Option<String> {
    let names: Vec<&str> = registry
        .iter()
        .flat_map(|p| std::iter::once(p.name()).chain(p.aliases().iter().copied()))
        .collect();
    closest(&canonical(name), &names)
}
