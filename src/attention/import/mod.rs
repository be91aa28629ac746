//! The attention family's patterns for the one ONNX importer ([`crate::frontend::onnx::import`]):
//! multi-head self-attention becomes one `attn.mha` node ([`mha`]), LayerNorm one
//! `layer_norm`, GELU one `gelu` ([`norm`]). They are matched on the ONNX graph, where the
//! exporters' data-movement chains are still visible; everything else is the importer's
//! one-to-one conversion, the same an MLP model gets.

pub mod mha;
pub mod norm;

use super::error::AttnError;
use crate::frontend::onnx::view::View;
use crate::frontend::onnx::{import_with, OnnxError, OnnxModel, Recognizer, Replacement};
use crate::frontend::onnx::{model::Op as OOp, ops_ext::ExtOp};
use crate::ir::{Graph, Op};

/// Multi-head attention anchored on a Softmax.
struct Mha;
/// `LayerNormalization`, its decomposition (anchored on the final Add), `Gelu` and GELU's erf
/// form (anchored on the Erf).
struct Norms;

impl Recognizer for Mha {
    fn at(&self, view: &View, i: usize) -> Result<Option<Replacement>, String> {
        if !matches!(view.node(i).op, OOp::Softmax { .. }) {
            return Ok(None);
        }
        let m = mha::match_at(view, i).map_err(|e| format!("attention block: {e}"))?;
        Ok(m.map(|m| Replacement {
            op: Op::dialect_op(m.op),
            input: m.input,
            output: m.output,
            claimed: m.claimed,
        }))
    }
}

impl Recognizer for Norms {
    fn at(&self, view: &View, i: usize) -> Result<Option<Replacement>, String> {
        let u = match &view.node(i).op {
            OOp::Ext(ExtOp::LayerNormalization { .. }) => norm::layer_norm_node(view, i)?,
            OOp::Add => norm::layer_norm_decomposed(view, i),
            OOp::Ext(ExtOp::Erf) => norm::gelu_erf(view, i),
            OOp::Ext(ExtOp::Gelu { .. }) => norm::gelu_node(view, i),
            _ => None,
        };
        Ok(u.map(|u| Replacement {
            op: u.op,
            input: u.input,
            output: u.output,
            claimed: u.claimed,
        }))
    }
}

/// The attention family's recognisers, in the order they are tried at each node.
pub static PATTERNS: &[&dyn Recognizer] = &[&Mha, &Norms];

/// Imports a transformer (or any graph of the supported ops) as a model-level IR graph.
pub fn import(model: &OnnxModel) -> Result<Graph, AttnError> {
    import_with(model, PATTERNS).map_err(|e| match e {
        OnnxError::Node { file, node, message } => AttnError::Import { file, node, message },
        OnnxError::NotImported { file, ops } => AttnError::Unsupported { file, ops },
        other => AttnError::Onnx(other),
    })
}
