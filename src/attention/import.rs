//! The model-level graph the attention family reads: the one ONNX importer
//! ([`crate::frontend::onnx::import`]), then the family's patterns ([`super::recognize`], the
//! rewrite `attn-recognize` performs), then a check that every op left has an attention
//! mapping. The float reference of the lossy step and the parameter check read this graph.

use super::error::AttnError;
use super::recognize::{recognize, unmapped};
use crate::frontend::onnx::{OnnxError, OnnxModel};
use crate::ir::Graph;

/// Imports a transformer (or any graph of the supported ops) as a model-level IR graph with
/// its attention blocks, LayerNorms and GELUs recognised.
pub fn import(model: &OnnxModel) -> Result<Graph, AttnError> {
    let g = crate::frontend::onnx::import(model).map_err(import_error)?;
    recognized(model, &g)
}

/// The importer's error as the family reports it.
pub fn import_error(e: OnnxError) -> AttnError {
    match e {
        OnnxError::Node { file, node, message } => AttnError::Import { file, node, message },
        OnnxError::NotImported { file, ops } => AttnError::Unsupported { file, ops },
        other => AttnError::Onnx(other),
    }
}

/// `g` (the importer's graph of `model`) with the family's patterns rewritten, refused when an
/// op is left that the family cannot map.
pub fn recognized(model: &OnnxModel, g: &Graph) -> Result<Graph, AttnError> {
    let file = model.file.clone();
    let g = recognize(g).map_err(|r| AttnError::Import {
        file: file.clone(),
        node: r.node,
        message: r.message,
    })?;
    let ops = unmapped(&g);
    if !ops.is_empty() {
        return Err(AttnError::Unsupported { file, ops });
    }
    Ok(g)
}
