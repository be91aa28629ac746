//! Why an op, a type or a tensor is not acceptable: the error type of the dialect interface
//! and of the core op rules.
//!
//! Every family implements [`crate::ir::DialectOp`], so this type crosses every module
//! boundary; the graph builder ([`crate::ir::GraphError`]), the verifier
//! ([`crate::ir::VerifyError`]) and the interpreter ([`crate::ir::interp::InterpError`]) wrap
//! it with the node and op it concerns. The variant says which of the three questions the core
//! asks of an op failed, so a caller can tell a type-rule violation (a pass built a wrong
//! graph) from bad data (a model's constant or an input out of range) without reading the
//! text. The text is written for the user and printed as is.

use thiserror::Error;

/// A failed op rule (see the module docs).
#[derive(Clone, Debug, PartialEq, Eq, Error)]
pub enum OpError {
    /// The operands do not satisfy the op's type rule: count, number format, rank or shape.
    #[error("{0}")]
    Operand(String),
    /// The op's own attributes or payload are inconsistent (what `verify` checks; they do not
    /// depend on operands).
    #[error("{0}")]
    Attribute(String),
    /// A value does not fit where it must go: tensor data versus its declared type, an
    /// evaluated result outside its format, a real number with no fixed-point form.
    #[error("{0}")]
    Value(String),
}

impl OpError {
    /// The same failure with `context` in front of its text (`weights: ...`), keeping its kind.
    pub fn context(self, context: &str) -> OpError {
        match self {
            OpError::Operand(m) => OpError::Operand(format!("{context}: {m}")),
            OpError::Attribute(m) => OpError::Attribute(format!("{context}: {m}")),
            OpError::Value(m) => OpError::Value(format!("{context}: {m}")),
        }
    }

    /// The text, without the kind.
    pub fn message(&self) -> &str {
        match self {
            OpError::Operand(m) | OpError::Attribute(m) | OpError::Value(m) => m,
        }
    }
}
