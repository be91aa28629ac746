//! The attention family's passes: `attn-recognize` → `binarize` → `sparsify` → `attn-quantize`.

pub mod binarize;
pub mod quantize;
pub mod recognize;
pub mod sparsify;

/// The passes a `binarize` or `sparsify` mapping may run, in order; every mapping starts with
/// `attn-recognize`, which finds the attention blocks in the imported core ops, and ends with
/// `attn-quantize`, which turns the model-level graph into the integer program.
pub static PIPELINE: &[&dyn crate::passes::Pass] =
    &[&recognize::AttnRecognize, &binarize::Binarize, &sparsify::Sparsify, &quantize::AttnQuantize];
