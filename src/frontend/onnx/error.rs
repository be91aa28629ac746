//! Errors of the ONNX frontend. Every one names the file and the protobuf field (or node) at
//! fault, so a user can find the problem with `onnx.load` and a debugger in a minute.

use std::fmt;

/// One operator the frontend cannot lower, reported together with every other one.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UnsupportedOp {
    /// The node name, or `#index` when the node has none.
    pub node: String,
    pub op_type: String,
    /// The operator domain (`""` is the default ONNX domain).
    pub domain: String,
    /// Why it is unsupported when the op type itself is known (an attribute value, say).
    pub reason: Option<String>,
}

impl fmt::Display for UnsupportedOp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let dom = if self.domain.is_empty() { "ai.onnx" } else { &self.domain };
        write!(f, "node `{}`: {} (domain {dom})", self.node, self.op_type)?;
        if let Some(r) = &self.reason {
            write!(f, ": {r}")?;
        }
        Ok(())
    }
}

/// Why an ONNX file could not be turned into a model.
#[derive(Debug, thiserror::Error)]
pub enum OnnxError {
    #[error("{file}: cannot read the file: {source}")]
    Io {
        file: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{file}: not a valid ONNX protobuf ({detail}); the file may be truncated or not an ONNX model")]
    Decode { file: String, detail: String },
    #[error("{file}: {field}: {message}")]
    Invalid { file: String, field: String, message: String },
    #[error("{file}: {} unsupported operator(s):\n{}", ops.len(), list_ops(ops))]
    Unsupported { file: String, ops: Vec<UnsupportedOp> },
    /// A node the IR importer understands in general but not in this configuration.
    #[error("{file}: node `{node}`: {message}")]
    Node { file: String, node: String, message: String },
    /// Nodes the IR importer cannot convert (no one-to-one rule covers them),
    /// all listed with their op types.
    #[error("{file}: {} node(s) cannot be imported:\n{}", ops.len(), list_ops(ops))]
    NotImported { file: String, ops: Vec<UnsupportedOp> },
    /// A parameter (initializer, `Constant`, float attribute) that is not finite or cannot be
    /// represented; it carries a stable code.
    #[error(transparent)]
    Param(#[from] crate::frontend::param::ParamError),
}

impl OnnxError {
    /// The stable code of the error (every variant has one).
    pub fn code(&self) -> crate::diagnostics::Code {
        use crate::diagnostics::Code;
        match self {
            OnnxError::Io { .. } => Code::E0120,
            OnnxError::Decode { .. } => Code::E0121,
            OnnxError::Invalid { .. } => Code::E0122,
            OnnxError::Unsupported { .. } | OnnxError::NotImported { .. } => Code::E0123,
            OnnxError::Node { .. } => Code::E0123,
            OnnxError::Param(p) => p.code,
        }
    }
}

fn list_ops(ops: &[UnsupportedOp]) -> String {
    ops.iter().map(|o| format!("  - {o}")).collect::<Vec<_>>().join("\n")
}

/// Builds [`OnnxError::Invalid`] values for one file without repeating its name everywhere.
#[derive(Clone, Debug)]
pub struct Ctx {
    pub file: String,
}

impl Ctx {
    pub fn invalid(&self, field: impl Into<String>, message: impl Into<String>) -> OnnxError {
        OnnxError::Invalid { file: self.file.clone(), field: field.into(), message: message.into() }
    }
}
