//! Constant tensors: weights, biases, and interpreter values.

use super::error::OpError;
use super::types::{NumFormat, TensorType};

/// Element storage. Float formats use `F32`; integer formats (and `Bool`/`Binary`, stored as 0/1)
/// use `I32` or `I64` (interpreter results are always `I64`).
#[derive(Clone, Debug, PartialEq)]
pub enum TensorData {
    F32(Vec<f32>),
    I32(Vec<i32>),
    I64(Vec<i64>),
}

impl TensorData {
    pub fn len(&self) -> usize {
        match self {
            TensorData::F32(v) => v.len(),
            TensorData::I32(v) => v.len(),
            TensorData::I64(v) => v.len(),
        }
    }
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// A dense row-major tensor with its number format.
///
/// The format travels with the data (not only in the node type) so an integer weight matrix
/// says how wide its elements are, which fixes the accumulator width of the op that uses it.
#[derive(Clone, Debug, PartialEq)]
pub struct Tensor {
    pub shape: Vec<usize>,
    pub format: NumFormat,
    pub data: TensorData,
}

impl Tensor {
    /// A float32 tensor. Fails when `data` does not have `shape`'s element count.
    pub fn f32(shape: impl Into<Vec<usize>>, data: Vec<f32>) -> Result<Tensor, OpError> {
        let t =
            Tensor { shape: shape.into(), format: NumFormat::Float32, data: TensorData::F32(data) };
        t.validate()?;
        Ok(t)
    }

    /// An integer tensor of `format`. Fails when the element count is wrong or a value does
    /// not fit the format.
    pub fn int(
        shape: impl Into<Vec<usize>>,
        format: NumFormat,
        data: Vec<i64>,
    ) -> Result<Tensor, OpError> {
        let t = Tensor { shape: shape.into(), format, data: TensorData::I64(data) };
        t.validate()?;
        Ok(t)
    }

    /// The tensor's type.
    pub fn ty(&self) -> TensorType {
        TensorType::new(self.shape.clone(), self.format)
    }

    pub fn numel(&self) -> usize {
        self.shape.iter().product()
    }

    /// Elements as `i64` when the storage is integer.
    pub fn ints(&self) -> Option<Vec<i64>> {
        match &self.data {
            TensorData::I32(v) => Some(v.iter().map(|&x| i64::from(x)).collect()),
            TensorData::I64(v) => Some(v.clone()),
            TensorData::F32(_) => None,
        }
    }

    /// Elements as `f32` slice when the storage is float.
    pub fn floats(&self) -> Option<&[f32]> {
        match &self.data {
            TensorData::F32(v) => Some(v),
            _ => None,
        }
    }

    /// Checks element count, storage kind against format, and that integer values fit.
    pub fn validate(&self) -> Result<(), OpError> {
        self.format.validate()?;
        if self.data.len() != self.numel() {
            return Err(OpError::Value(format!(
                "tensor of shape {:?} needs {} elements but has {}",
                self.shape,
                self.numel(),
                self.data.len()
            )));
        }
        match (&self.data, self.format) {
            (TensorData::F32(_), NumFormat::Float32) => Ok(()),
            (TensorData::F32(_), f) => {
                Err(OpError::Value(format!("float32 data cannot have format {f}")))
            }
            (_, NumFormat::Float32) => {
                Err(OpError::Value("integer data cannot have format f32".to_string()))
            }
            (_, NumFormat::Int { .. }) => {
                let vals = self.ints().unwrap_or_default();
                match vals.iter().position(|&v| !self.format.holds(i128::from(v))) {
                    Some(i) => Err(OpError::Value(format!(
                        "element {i} = {} does not fit format {}",
                        vals[i], self.format
                    ))),
                    None => Ok(()),
                }
            }
            (_, NumFormat::Bool | NumFormat::Binary) => {
                let vals = self.ints().unwrap_or_default();
                match vals.iter().position(|&v| v != 0 && v != 1) {
                    Some(i) => {
                        Err(OpError::Value(format!("element {i} = {} is not 0 or 1", vals[i])))
                    }
                    None => Ok(()),
                }
            }
            (_, f @ NumFormat::Fixed { .. }) => {
                // Raw two's-complement (or unsigned) fixed-point codes.
                let (signed, bits) = (f.is_signed(), f.bits());
                let as_int = NumFormat::Int { signed, bits };
                let vals = self.ints().unwrap_or_default();
                match vals.iter().position(|&v| !as_int.holds(i128::from(v))) {
                    Some(i) => {
                        Err(OpError::Value(format!("raw code {} does not fit format {f}", vals[i])))
                    }
                    None => Ok(()),
                }
            }
        }
    }

    /// A 64-bit FNV-1a hash of shape, format and element bits: stable across runs, platforms
    /// and compiler versions (unlike `std`'s hasher), so printed IR can abbreviate large
    /// constants by it and snapshots stay stable.
    pub fn content_hash(&self) -> u64 {
        let mut h = Fnv::new();
        for d in &self.shape {
            h.write(&(*d as u64).to_le_bytes());
        }
        h.write(self.format.to_string().as_bytes());
        match &self.data {
            TensorData::F32(v) => v.iter().for_each(|x| h.write(&x.to_bits().to_le_bytes())),
            _ => self.ints().unwrap_or_default().iter().for_each(|x| h.write(&x.to_le_bytes())),
        }
        h.finish()
    }
}

/// FNV-1a, 64-bit: tiny, specified, and stable forever.
pub(crate) struct Fnv(u64);

impl Fnv {
    pub(crate) fn new() -> Fnv {
        Fnv(0xcbf2_9ce4_8422_2325)
    }
    pub(crate) fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 ^= u64::from(*b);
            self.0 = self.0.wrapping_mul(0x0100_0000_01b3);
        }
    }
    pub(crate) fn finish(&self) -> u64 {
        self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fnv_matches_published_vectors() {
        // Test vectors from the FNV reference (draft-eastlake-fnv): "" and "a".
        assert_eq!(Fnv::new().finish(), 0xcbf29ce484222325);
        let mut h = Fnv::new();
        h.write(b"a");
        assert_eq!(h.finish(), 0xaf63dc4c8601ec8c);
    }

    #[test]
    fn tensors_reject_bad_data() {
        assert!(Tensor::int(vec![2], NumFormat::int(4), vec![7, -8]).is_ok());
        let e = Tensor::int(vec![2], NumFormat::int(4), vec![8, 0]).unwrap_err();
        assert!(matches!(&e, OpError::Value(m) if m.contains("element 0 = 8")), "{e:?}");
        let e = Tensor::f32(vec![2, 2], vec![1.0]).unwrap_err();
        assert!(
            matches!(&e, OpError::Value(m) if m.contains("needs 4 elements but has 1")),
            "{e:?}"
        );
    }
}
