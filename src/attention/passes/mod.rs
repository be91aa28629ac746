//! The attention family's passes: `binarize` → `sparsify`.

pub mod binarize;
pub mod sparsify;

/// The passes a `binarize` or `sparsify` mapping runs, in order.
pub static PIPELINE: &[&dyn crate::passes::Pass] = &[&binarize::Binarize, &sparsify::Sparsify];
