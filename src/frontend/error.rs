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
    /// A size the file declares (a feature count) that what the file holds does not back
    /// (E0124), refused before anything is allocated from it.
    #[error("{file}: {field}: {message}")]
    Declared { file: String, field: String, message: String },
    /// A model larger than the mapping's storage can hold (E0125), refused before allocating.
    #[error("{file}: {field}: {message}")]
    TooLarge { file: String, field: String, message: String },
    /// A data file whose shape, size or element type does not fit (E0126, E0127, E0128).
    #[error("{file}: {}: {message}", kind.field())]
    Data { file: String, kind: DataProblem, message: String },
    /// A parameter (threshold, leaf value, base score) that is not finite or cannot be
    /// represented (E0101, E0102).
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
            | FrontendError::Unsupported { file, .. }
            | FrontendError::Declared { file, .. }
            | FrontendError::TooLarge { file, .. }
            | FrontendError::Data { file, .. } => file,
            FrontendError::Param(p) => &p.file,
        }
    }

    /// The stable code of the error (every variant has one).
    pub fn code(&self) -> crate::diagnostics::Code {
        use crate::diagnostics::Code;
        match self {
            FrontendError::Io { .. } => Code::E0120,
            FrontendError::Syntax { .. } => Code::E0121,
            FrontendError::Invalid { .. } => Code::E0122,
            FrontendError::Unsupported { .. } => Code::E0123,
            FrontendError::Declared { .. } => Code::E0124,
            FrontendError::TooLarge { .. } => Code::E0125,
            FrontendError::Data { kind, .. } => kind.code(),
            FrontendError::Param(p) => p.code,
        }
    }

    pub(crate) fn io(path: &Path, action: &'static str, source: std::io::Error) -> Self {
        FrontendError::Io { file: path.display().to_string(), action, source }
    }
}

/// What is wrong with a data file; each has its own code.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DataProblem {
    /// The array's shape does not fit (rank, feature count, sample count): E0126.
    Shape,
    /// The array holds no samples: E0127.
    Empty,
    /// The element type is not one tessera reads: E0128.
    Dtype,
}

impl DataProblem {
    /// The field the message names (as before the problems had codes).
    pub fn field(self) -> &'static str {
        match self {
            DataProblem::Shape | DataProblem::Empty => "shape",
            DataProblem::Dtype => "dtype",
        }
    }
    pub fn code(self) -> crate::diagnostics::Code {
        use crate::diagnostics::Code;
        match self {
            DataProblem::Shape => Code::E0126,
            DataProblem::Empty => Code::E0127,
            DataProblem::Dtype => Code::E0128,
        }
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

    /// A data-file problem with its own code (shape, empty, dtype).
    pub fn data(&self, kind: DataProblem, message: impl Into<String>) -> FrontendError {
        FrontendError::Data { file: self.file.clone(), kind, message: message.into() }
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
