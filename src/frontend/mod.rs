//! Model-file frontends, one module per format.
//!
//! Each frontend reads one framework's native export and produces the model-level
//! [`trees::TreeEnsemble`] with the framework's exact semantics (comparison, missing-value
//! direction, base score, float32 thresholds). Errors name the file and the field at fault.

mod check;
pub mod error;
mod json;
pub mod lightgbm;
pub mod npy;
pub mod onnx;
pub mod param;
pub mod threshold;
pub mod tree_ops;
pub mod treelite;
pub mod trees;
pub mod xgboost;

use std::path::Path;

use crate::dsl::accel::ModelFormat;
use error::FileCtx;
pub use error::FrontendError;
pub use param::ParamError;
use trees::TreeEnsemble;

/// Loads a tree-ensemble model file in the given format.
///
/// The per-format modules also expose `load` and `parse_str` for direct use; the CLI reads
/// through [`load_tree_model_noted`] to print how the file was read.
pub fn load_tree_model(format: ModelFormat, path: &Path) -> Result<TreeEnsemble, FrontendError> {
    load_tree_model_noted(format, path).map(|(e, _)| e)
}

/// [`load_tree_model`], with notes for the user on how the file was read (XGBoost trees dropped
/// after early stopping), which the commands print.
pub fn load_tree_model_noted(
    format: ModelFormat,
    path: &Path,
) -> Result<(TreeEnsemble, Vec<String>), FrontendError> {
    match format {
        ModelFormat::Xgboost => xgboost::load_noted(path),
        ModelFormat::Lightgbm => lightgbm::load(path).map(|e| (e, Vec::new())),
        ModelFormat::Treelite => treelite::load(path).map(|e| (e, Vec::new())),
        other => Err(FrontendError::Unsupported {
            file: path.display().to_string(),
            field: "(model format)".into(),
            message: format!("`{}` is not a tree-ensemble format", other.name()),
        }),
    }
}

/// Reads a whole text file, naming the file when it cannot be read or is not UTF-8.
pub(crate) fn read_text(path: &Path, ctx: &FileCtx) -> Result<String, FrontendError> {
    let bytes = std::fs::read(path).map_err(|e| FrontendError::io(path, "cannot read", e))?;
    String::from_utf8(bytes).map_err(|e| {
        ctx.syntax(
            format!("byte {}", e.utf8_error().valid_up_to()),
            "not UTF-8 text (is this a binary model, e.g. UBJSON? save it as .json)",
        )
    })
}
