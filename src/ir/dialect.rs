//! The dialect interface: how a model family adds ops to the IR without the core knowing it.
//!
//! The core IR ([`crate::ir::Op`]) holds the ops every family shares: graph inputs and outputs,
//! constants, the model-level float ops that ONNX exporters write, and the exact integer ops of
//! a hardware datapath. Everything a single family needs — `trees.ensemble`, `cam.rows`,
//! `xbar.array`, `attn.mha` — is a [`DialectOp`] implemented in that family's folder and
//! carried by [`Op::Dialect`](crate::ir::Op::Dialect). This is MLIR's split (and pliron's in
//! safe Rust): the core defines the op interface and verifies through it; a dialect defines
//! the ops.
//!
//! Every dialect op answers for itself the four questions the core asks of any op: its name
//! (`dialect.op`, as printed), its attributes (for the printer, large payloads summarised),
//! its result type given its operand types (which checks the operands), and its invariants
//! ([`DialectOp::verify`], which has no default: the verifier checks every op of every dialect,
//! there is no wildcard arm). Ops with reference semantics implement [`DialectOp::eval`], which
//! the interpreter calls. Passes recover the concrete op with [`Op::dialect`] (a downcast
//! through [`Any`]), never by matching on names.
//!
//! [`Op::dialect`]: crate::ir::Op::dialect

use super::error::OpError;
use super::tensor::Tensor;
use super::types::TensorType;
use std::any::Any;
use std::fmt;
use std::sync::Arc;

/// An op defined outside the core IR.
///
/// `Send + Sync` so graphs can be shared between the threads of a batch simulation; payloads
/// are immutable once built (a pass that changes an op builds a new one).
pub trait DialectOp:
    Any + fmt::Debug + Send + Sync + std::panic::RefUnwindSafe + std::panic::UnwindSafe
{
    /// Printed name, `dialect.op` (`cam.tiles`). Unique across dialects.
    fn name(&self) -> &'static str;
    /// Inclusive bounds on the operand count (most dialect ops take one operand).
    fn arity(&self) -> (usize, usize) {
        (1, 1)
    }
    /// Invariants that do not depend on operands (attribute ranges, payload consistency).
    /// Required: every op states what makes it well formed.
    fn verify(&self) -> Result<(), OpError>;
    /// The result type given the operand types, or why the operands are not acceptable.
    fn infer_type(&self, operands: &[&TensorType]) -> Result<TensorType, OpError>;
    /// Attributes as `(key, value)` text for the printer, large payloads summarised
    /// (`<1322x320 codes>`, a content hash).
    fn attributes(&self) -> Vec<(&'static str, String)>;
    /// Reference semantics: the result for operand values, of type `ty`. Ops that only exist
    /// between two passes of a family still have one, so `--dump-ir` graphs can be run.
    fn eval(&self, operands: &[&Tensor], ty: &TensorType) -> Result<Tensor, OpError>;
    /// For downcasting to the concrete op ([`crate::ir::Op::dialect`]).
    fn as_any(&self) -> &dyn Any;
    /// Structural equality with another dialect op (false for ops of other types).
    fn same_as(&self, other: &dyn DialectOp) -> bool;
}

/// `same_as` for op types that derive `PartialEq`: equal iff `other` is a `T` equal to `a`.
pub fn same_as<T: PartialEq + 'static>(a: &T, other: &dyn DialectOp) -> bool {
    other.as_any().downcast_ref::<T>().is_some_and(|b| a == b)
}

/// A shared handle to a dialect op: cheap to clone (passes copy graphs), compared by value.
#[derive(Clone)]
pub struct DialectHandle(pub Arc<dyn DialectOp>);

impl DialectHandle {
    pub fn new(op: impl DialectOp) -> DialectHandle {
        DialectHandle(Arc::new(op))
    }

    /// The op as its concrete type, if it is one.
    pub fn downcast<T: DialectOp>(&self) -> Option<&T> {
        self.0.as_any().downcast_ref::<T>()
    }
}

impl fmt::Debug for DialectHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl PartialEq for DialectHandle {
    fn eq(&self, other: &DialectHandle) -> bool {
        Arc::ptr_eq(&self.0, &other.0) || self.0.same_as(&*other.0)
    }
}

impl std::ops::Deref for DialectHandle {
    type Target = dyn DialectOp;
    fn deref(&self) -> &(dyn DialectOp + 'static) {
        &*self.0
    }
}

/// Implements the two boilerplate methods of [`DialectOp`] (`as_any`, `same_as`) for an op
/// type that derives `PartialEq`.
#[macro_export]
macro_rules! dialect_op_boilerplate {
    () => {
        fn as_any(&self) -> &dyn std::any::Any {
            self
        }
        fn same_as(&self, other: &dyn $crate::ir::dialect::DialectOp) -> bool {
            $crate::ir::dialect::same_as(self, other)
        }
    };
}

/// Checks that an operand is float32 (the model-level dialects' common precondition).
pub fn expect_f32<'a>(t: &'a TensorType, what: &str) -> Result<&'a TensorType, OpError> {
    if t.format == super::NumFormat::Float32 {
        Ok(t)
    } else {
        Err(OpError::Operand(format!("operand {what} must be f32, got {t}")))
    }
}

/// Checks that an operand has an integer format.
pub fn expect_int<'a>(t: &'a TensorType, what: &str) -> Result<&'a TensorType, OpError> {
    if t.format.is_int() {
        Ok(t)
    } else {
        Err(OpError::Operand(format!("operand {what} must have an integer format, got {t}")))
    }
}

/// A float result tensor of type `ty`.
pub fn f32_tensor(ty: &TensorType, data: Vec<f32>) -> Tensor {
    Tensor { shape: ty.shape.clone(), format: ty.format, data: super::TensorData::F32(data) }
}

/// An integer result tensor of type `ty`, checking every value fits its format (a violation
/// means a type rule is wrong, and is reported rather than wrapped).
pub fn int_tensor(ty: &TensorType, data: Vec<i128>) -> Result<Tensor, OpError> {
    let mut out = Vec::with_capacity(data.len());
    for v in data {
        if !ty.format.holds(v) {
            return Err(OpError::Value(format!(
                "result {v} does not fit {} (type rule violated)",
                ty.format
            )));
        }
        out.push(v as i64);
    }
    Ok(Tensor { shape: ty.shape.clone(), format: ty.format, data: super::TensorData::I64(out) })
}

/// The float data of an operand.
pub fn operand_f32(t: &Tensor) -> Result<&[f32], OpError> {
    t.floats().ok_or_else(|| OpError::Operand("expected float data".to_string()))
}

/// The integer data of an operand.
pub fn operand_ints(t: &Tensor) -> Result<Vec<i64>, OpError> {
    t.ints().ok_or_else(|| OpError::Operand("expected integer data".to_string()))
}

/// Applies a per-sample function (`features` values in, one output row out) to every row of a
/// float operand: how model-level ops over `[..., features]` are evaluated.
pub fn per_sample(
    x: &Tensor,
    ty: &TensorType,
    features: usize,
    f: impl Fn(&[f32]) -> Result<Vec<f32>, OpError>,
) -> Result<Tensor, OpError> {
    let x = operand_f32(x)?;
    let mut out = Vec::with_capacity(ty.numel());
    for row in x.chunks(features.max(1)) {
        out.extend(f(row)?);
    }
    Ok(f32_tensor(ty, out))
}
