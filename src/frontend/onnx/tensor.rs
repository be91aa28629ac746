//! Decoding `TensorProto` payloads (initializers and `Constant` values) into dense tensors.
//!
//! ONNX stores the same numbers in several places: `raw_data` (little-endian bytes, what
//! PyTorch and `numpy_helper.from_array` write) or the typed repeated fields (`float_data`,
//! `int32_data` holding int8 values and float16 bit patterns, `int64_data`, `double_data`).
//! Both are read; a payload whose length disagrees with `dims` is an error, never padded.

use super::error::{Ctx, OnnxError};
use super::proto::{data_type, TensorProto};
use crate::frontend::param::{check_finite, check_limit};

/// The element type a tensor was stored with. Values are widened to `f32` (exactly: every
/// int8, uint8 and float16 value is an `f32`) or kept as `i64` for shape tensors.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StoredType {
    F32,
    F16,
    F64,
    I8,
    U8,
    I32,
    I64,
}

/// A dense tensor in row-major order.
#[derive(Clone, Debug, PartialEq)]
pub struct Tensor {
    pub shape: Vec<usize>,
    pub data: TensorData,
    pub stored: StoredType,
}

/// Tensor values: floating point (weights, activations) or integer (shapes, axes).
#[derive(Clone, Debug, PartialEq)]
pub enum TensorData {
    F32(Vec<f32>),
    I64(Vec<i64>),
}

impl Tensor {
    /// A float32 tensor.
    pub fn f32(shape: Vec<usize>, data: Vec<f32>) -> Tensor {
        Tensor { shape, data: TensorData::F32(data), stored: StoredType::F32 }
    }
    pub fn len(&self) -> usize {
        match &self.data {
            TensorData::F32(v) => v.len(),
            TensorData::I64(v) => v.len(),
        }
    }
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// The values as floats (integer tensors converted), for arithmetic.
    pub fn to_f32(&self) -> Vec<f32> {
        match &self.data {
            TensorData::F32(v) => v.clone(),
            TensorData::I64(v) => v.iter().map(|x| *x as f32).collect(),
        }
    }
    /// The values as integers, when the tensor holds integers.
    pub fn as_i64(&self) -> Option<&[i64]> {
        match &self.data {
            TensorData::I64(v) => Some(v),
            TensorData::F32(_) => None,
        }
    }
}

/// Converts an IEEE 754 binary16 bit pattern to `f32` (exact: every half is a float).
pub fn f16_to_f32(bits: u16) -> f32 {
    let sign = ((bits >> 15) & 1) as u32;
    let exp = ((bits >> 10) & 0x1f) as u32;
    let man = (bits & 0x3ff) as u32;
    let out = match (exp, man) {
        (0, 0) => sign << 31,
        (0, m) => {
            // Subnormal half: value = m * 2^-24, exact in f32.
            let v = m as f32 * f32::from_bits(0x3380_0000); // 2^-24
            return if sign == 1 { -v } else { v };
        }
        (0x1f, 0) => (sign << 31) | 0x7f80_0000,
        (0x1f, m) => (sign << 31) | 0x7fc0_0000 | (m << 13),
        (e, m) => (sign << 31) | ((e + 127 - 15) << 23) | (m << 13),
    };
    f32::from_bits(out)
}

/// Decodes one tensor. `field` is the path used in error messages
/// (`graph.initializer[fc1.weight]`).
pub fn decode_tensor(t: &TensorProto, ctx: &Ctx, field: &str) -> Result<Tensor, OnnxError> {
    if t.data_location == Some(1) {
        return Err(ctx.invalid(
            field,
            "tensor data is stored in an external file; re-save the model with \
             `onnx.save(model, path, save_as_external_data=False)`",
        ));
    }
    let mut shape = Vec::with_capacity(t.dims.len());
    for (i, d) in t.dims.iter().enumerate() {
        let d = usize::try_from(*d).map_err(|_| {
            ctx.invalid(format!("{field}.dims[{i}]"), format!("negative dimension {d}"))
        })?;
        shape.push(d);
    }
    let n = shape
        .iter()
        .try_fold(1usize, |a, d| a.checked_mul(*d))
        .ok_or_else(|| ctx.invalid(format!("{field}.dims"), "element count overflows"))?;
    let dt = t.data_type.unwrap_or(0);
    let raw = t.raw_data.as_deref();
    let check = |got: usize, what: &str| -> Result<(), OnnxError> {
        if got == n {
            Ok(())
        } else {
            Err(ctx.invalid(
                format!("{field}.{what}"),
                format!("holds {got} values but dims {shape:?} need {n}"),
            ))
        }
    };
    // An iterator, not a collected `Vec<&[u8]>`: that is 16 bytes of slice per element.
    let raw_chunks = |width: usize| -> Result<Option<std::slice::ChunksExact<'_, u8>>, OnnxError> {
        match raw {
            Some(b) if !b.is_empty() || n == 0 => {
                if b.len() != n * width {
                    return Err(ctx.invalid(
                        format!("{field}.raw_data"),
                        format!(
                            "holds {} bytes but dims {shape:?} of {} need {}",
                            b.len(),
                            data_type::name(dt),
                            n * width
                        ),
                    ));
                }
                Ok(Some(b.chunks_exact(width)))
            }
            _ => Ok(None),
        }
    };
    // Checked where read, so no later stage (folding, calibration, quantization) sees one.
    let finite = |v: &mut dyn Iterator<Item = f64>| check_finite(&ctx.file, field, Some(&shape), v);
    let (data, stored) = match dt {
        data_type::FLOAT => {
            let v: Vec<f32> = match raw_chunks(4)? {
                Some(c) => c.map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect(),
                None => t.float_data.clone(),
            };
            check(v.len(), "float_data")?;
            finite(&mut v.iter().map(|x| *x as f64))?;
            (TensorData::F32(v), StoredType::F32)
        }
        data_type::DOUBLE => {
            let v: Vec<f64> = match raw_chunks(8)? {
                Some(c) => c
                    .map(|b| f64::from_le_bytes([b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]]))
                    .collect(),
                None => t.double_data.clone(),
            };
            check(v.len(), "double_data")?;
            finite(&mut v.iter().copied())?;
            // Values are used as f32; a finite double beyond f32 would become infinite.
            check_limit(&ctx.file, field, Some(&shape), v.iter().copied(), f32::MAX as f64, "the largest f32")?;
            (TensorData::F32(v.iter().map(|x| *x as f32).collect()), StoredType::F64)
        }
        data_type::FLOAT16 => {
            let v: Vec<f32> = match raw_chunks(2)? {
                Some(c) => c.map(|b| f16_to_f32(u16::from_le_bytes([b[0], b[1]]))).collect(),
                // int32_data holds the 16-bit patterns, one per element.
                None => t.int32_data.iter().map(|x| f16_to_f32(*x as u16)).collect(),
            };
            check(v.len(), "int32_data")?;
            finite(&mut v.iter().map(|x| *x as f64))?;
            (TensorData::F32(v), StoredType::F16)
        }
        data_type::INT8 => {
            let v: Vec<f32> = match raw_chunks(1)? {
                Some(c) => c.map(|b| b[0] as i8 as f32).collect(),
                None => t.int32_data.iter().map(|x| *x as i8 as f32).collect(),
            };
            check(v.len(), "int32_data")?;
            (TensorData::F32(v), StoredType::I8)
        }
        data_type::UINT8 => {
            let v: Vec<f32> = match raw_chunks(1)? {
                Some(c) => c.map(|b| b[0] as f32).collect(),
                None => t.int32_data.iter().map(|x| *x as u8 as f32).collect(),
            };
            check(v.len(), "int32_data")?;
            (TensorData::F32(v), StoredType::U8)
        }
        data_type::INT32 => {
            let v: Vec<i64> = match raw_chunks(4)? {
                Some(c) => c.map(|b| i32::from_le_bytes([b[0], b[1], b[2], b[3]]) as i64).collect(),
                None => t.int32_data.iter().map(|x| *x as i64).collect(),
            };
            check(v.len(), "int32_data")?;
            (TensorData::I64(v), StoredType::I32)
        }
        data_type::INT64 => {
            let v: Vec<i64> = match raw_chunks(8)? {
                Some(c) => c
                    .map(|b| i64::from_le_bytes([b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]]))
                    .collect(),
                None => t.int64_data.clone(),
            };
            check(v.len(), "int64_data")?;
            (TensorData::I64(v), StoredType::I64)
        }
        other => {
            return Err(ctx.invalid(
                format!("{field}.data_type"),
                format!(
                    "element type {} ({other}) is not supported; use FLOAT, FLOAT16, DOUBLE, INT8, UINT8, INT32 or INT64",
                    data_type::name(other)
                ),
            ))
        }
    };
    Ok(Tensor { shape, data, stored })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn half_precision_values_by_hand() {
        // Bit patterns from the IEEE 754 binary16 definition.
        assert_eq!(f16_to_f32(0x3c00), 1.0);
        assert_eq!(f16_to_f32(0xc000), -2.0);
        assert_eq!(f16_to_f32(0x3555), 0.333_251_95); // 0x155/1024 * 2^-2 + 2^-2
        assert_eq!(f16_to_f32(0x7bff), 65504.0); // largest normal
        assert_eq!(f16_to_f32(0x0001), 2f32.powi(-24)); // smallest subnormal
        assert_eq!(f16_to_f32(0x8000).to_bits(), 0x8000_0000); // -0
        assert!(f16_to_f32(0x7c00).is_infinite());
        assert!(f16_to_f32(0x7e00).is_nan());
    }

    fn ctx() -> Ctx {
        Ctx { file: "m.onnx".into() }
    }

    #[test]
    fn raw_and_typed_float_payloads_agree() {
        let mut t = TensorProto { dims: vec![2], data_type: Some(1), ..Default::default() };
        t.float_data = vec![1.5, -2.0];
        let a = decode_tensor(&t, &ctx(), "w").unwrap();
        t.float_data.clear();
        t.raw_data = Some([1.5f32.to_le_bytes(), (-2.0f32).to_le_bytes()].concat());
        let b = decode_tensor(&t, &ctx(), "w").unwrap();
        assert_eq!(a.data, TensorData::F32(vec![1.5, -2.0]));
        assert_eq!(a, b);
    }

    #[test]
    fn int8_from_int32_data_and_raw() {
        let mut t = TensorProto { dims: vec![3], data_type: Some(3), ..Default::default() };
        t.int32_data = vec![-128, 0, 127];
        assert_eq!(
            decode_tensor(&t, &ctx(), "w").unwrap().data,
            TensorData::F32(vec![-128.0, 0.0, 127.0])
        );
        t.int32_data.clear();
        t.raw_data = Some(vec![0x80, 0x00, 0x7f]);
        assert_eq!(
            decode_tensor(&t, &ctx(), "w").unwrap().data,
            TensorData::F32(vec![-128.0, 0.0, 127.0])
        );
    }

    #[test]
    fn wrong_payload_length_names_the_field() {
        let t = TensorProto {
            dims: vec![2, 2],
            data_type: Some(1),
            raw_data: Some(vec![0; 12]),
            ..Default::default()
        };
        let e = decode_tensor(&t, &ctx(), "graph.initializer[w]").unwrap_err().to_string();
        assert_eq!(e, "m.onnx: graph.initializer[w].raw_data: holds 12 bytes but dims [2, 2] of FLOAT need 16");
        let t = TensorProto { dims: vec![1], data_type: Some(8), ..Default::default() };
        let e = decode_tensor(&t, &ctx(), "w").unwrap_err().to_string();
        assert!(e.contains("w.data_type: element type STRING (8) is not supported"), "{e}");
    }
}
