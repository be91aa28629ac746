//! The one error type of every model-file and data-file reader.
//!
//! A user who hands tessera a broken or unsupported model must be told which file and which
//! field is at fault, in the framework's own vocabulary (a JSON path such as
//! `learner.gradient_booster.model.trees[3].split_type[7]`, or `Tree=4 threshold[2]` for a
//! LightGBM text model), so they can find it in their own export. Every variant therefore
//! carries the file as the user named it and, where there is one, the location inside it.

use std::path::Path;

/// Why a model or data file could not be turned into tessera's model-level form.
#[derive(Debug, thiserror::Error)]
pub enum FrontendError {
    /// The file could not be read (or written) at all.
    #[error("{file}: {action}: {source}")]
    Io {
        file: String,
        action: &'static str,
        #[source]
        source: std::io::Error,
    },
    /// The file is not well formed (bad JSON, a truncated text model, a broken `.npy` header).
    #[error("{file}: {location}: {message}")]
    Syntax {
        file: String,
        /// `line 3, column 17` for JSON, `line 12` for text models, `header` for `.npy`.
        location: String,
        message: String,
    },
    /// A field is present but holds a value that cannot be right (wrong type, index out of
    /// range, a cycle in child pointers, a NaN threshold, ...), or a required field is missing.
    #[error("{file}: {field}: {message}")]
    Invalid { file: String, field: String, message: String },
    /// The file is valid for its framework but uses a feature tessera does not compile
    /// (categorical splits, linear trees, `gblinear`, an unknown objective, ...).
    #[error("{file}: {field}: {message}")]
    Unsupported { file: String, field: String, message: String },
    /// A parameter (threshold, leaf value, base score) that is not finite or cannot be
    /// represented; it carries a stable code, unlike the variants above.
    #[error(transparent)]
    Param(#[from] super::param::ParamError),
}

impl FrontendError {
    /// The file the error is about, as the user named it.
    pub fn file(&self) -> &str {
        match self {
            FrontendError::Io { file, .. }
            | FrontendError::Syntax { file, .. }
            | FrontendError::Invalid { file, .. }
            | FrontendError::Unsupported { file, .. } => file,
            FrontendError::Param(p) => &p.file,
        }
    }

    /// The stable code of the error, for the errors that have one (model parameters).
    pub fn code(&self) -> Option<crate::diagnostics::Code> {
        match self {
            FrontendError::Param(p) => Some(p.code),
            _ => None,
        }
    }

    pub(crate) fn io(path: &Path, action: &'static str, source: std::io::Error) -> Self {
        FrontendError::Io { file: path.display().to_string(), action, source }
    }
}

/// Names the file in errors and builds them, so a reader never formats a message without
/// saying where it comes from.
#[derive(Clone, Debug)]
pub(crate) struct FileCtx {
    pub file: String,
}

impl FileCtx {
    pub fn new(path: &Path) -> Self {
        FileCtx { file: path.display().to_string() }
    }

    pub fn syntax(&self, location: impl Into<String>, message: impl Into<String>) -> FrontendError {
        FrontendError::Syntax {
            file: self.file.clone(),
            location: location.into(),
            message: message.into(),
        }
    }

    pub fn invalid(&self, field: impl Into<String>, message: impl Into<String>) -> FrontendError {
        FrontendError::Invalid {
            file: self.file.clone(),
            field: field.into(),
            message: message.into(),
        }
    }

    /// E0101 when any of `values` is NaN or infinite; `location` names the field.
    pub fn finite(
        &self,
        location: &str,
        values: impl IntoIterator<Item = f64>,
    ) -> Result<(), FrontendError> {
        super::param::check_finite(&self.file, location, None, values).map_err(Into::into)
    }

    pub fn unsupported(
        &self,
        field: impl Into<String>,
        message: impl Into<String>,
    ) -> FrontendError {
        FrontendError::Unsupported {
            file: self.file.clone(),
            field: field.into(),
            message: message.into(),
        }
    }
}
