//! The attention family's passes: `binarize` → `sparsify` → `attn-quantize`.

pub mod binarize;
pub mod quantize;
pub mod sparsify;

/// The passes a `binarize` or `sparsify` mapping may run, in order; every mapping ends with
/// `attn-quantize`, which turns the model-level graph into the integer program.
pub static PIPELINE: &[&dyn crate::passes::Pass] =
    &[&binarize::Binarize, &sparsify::Sparsify, &quantize::AttnQuantize];
