//! Number formats and tensor types carried by every IR value.
//!
//! Textual forms (used by the IR printer and in error messages):
//!
//! | format | text | meaning |
//! |---|---|---|
//! | `Float32` | `f32` | IEEE-754 binary32 |
//! | `Fixed { signed: true, int_bits: 4, frac_bits: 12 }` | `fixed<s4.12>` | 16-bit two's complement, value = raw / 2^12; `int_bits` counts the sign bit |
//! | `Fixed { signed: false, .. }` | `fixed<u4.12>` | unsigned, value = raw / 2^frac_bits |
//! | `Int { signed: true, bits: 8 }` | `i8` | two's complement integer |
//! | `Int { signed: false, bits: 4 }` | `u4` | unsigned integer |
//! | `Binary` | `bin` | one bit encoding {-1, +1} (bit 0 is -1, bit 1 is +1) |
//! | `Bool` | `bool` | one bit, 0 or 1 |
//!
//! A tensor type prints as `tensor<4x8xi8>`; a scalar (rank 0) as `tensor<i8>`.

use super::error::OpError;
use std::fmt;

/// Largest integer width the IR carries. Interpreter values are `i64`, so every integer format
/// must fit in it; a type rule that would need more is an error, never a silent wrap.
pub const MAX_INT_BITS: u32 = 64;

/// How the elements of a tensor are represented.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum NumFormat {
    Float32,
    /// Fixed point: `int_bits + frac_bits` bits in total; `int_bits` includes the sign bit when
    /// `signed`, like `ap_fixed<W, I>`.
    Fixed {
        signed: bool,
        int_bits: u32,
        frac_bits: u32,
    },
    /// An integer of `bits` bits (two's complement when signed).
    Int {
        signed: bool,
        bits: u32,
    },
    /// {-1, +1} stored as one bit (1 means +1).
    Binary,
    /// 0 or 1.
    Bool,
}

impl NumFormat {
    /// Signed integer of `bits` bits.
    pub const fn int(bits: u32) -> NumFormat {
        NumFormat::Int { signed: true, bits }
    }
    /// Unsigned integer of `bits` bits.
    pub const fn uint(bits: u32) -> NumFormat {
        NumFormat::Int { signed: false, bits }
    }

    /// Storage width in bits: what a hardware port or a hex field of this format occupies.
    pub fn bits(self) -> u32 {
        match self {
            NumFormat::Float32 => 32,
            NumFormat::Fixed { int_bits, frac_bits, .. } => int_bits + frac_bits,
            NumFormat::Int { bits, .. } => bits,
            NumFormat::Binary | NumFormat::Bool => 1,
        }
    }

    /// Whether values are stored as two's complement.
    pub fn is_signed(self) -> bool {
        match self {
            NumFormat::Float32 => true,
            NumFormat::Fixed { signed, .. } | NumFormat::Int { signed, .. } => signed,
            NumFormat::Binary | NumFormat::Bool => false,
        }
    }

    /// Whether this is an integer format (`Int`), the only kind the integer hardware ops accept.
    pub fn is_int(self) -> bool {
        matches!(self, NumFormat::Int { .. })
    }

    /// The inclusive range of an `Int` format, or `None` for other formats.
    pub fn int_range(self) -> Option<(i128, i128)> {
        match self {
            NumFormat::Int { signed: true, bits } => {
                let half = 1i128 << (bits - 1);
                Some((-half, half - 1))
            }
            NumFormat::Int { signed: false, bits } => Some((0, (1i128 << bits) - 1)),
            _ => None,
        }
    }

    /// Whether `v` is representable in this (integer) format.
    pub fn holds(self, v: i128) -> bool {
        self.int_range().is_some_and(|(lo, hi)| lo <= v && v <= hi)
    }

    /// The narrowest `Int` format holding every value in `lo..=hi`: unsigned when `lo >= 0`,
    /// otherwise signed. Errors when the range is empty or needs more than [`MAX_INT_BITS`].
    ///
    /// Type rules of the integer ops use this so accumulators are exactly as wide as the
    /// worst case needs: no overflow by construction, and no wasted hardware. The width comes
    /// from [`unsigned_width`] / [`signed_width`], the same arithmetic the Verilog generators
    /// size their signals with.
    pub fn int_for_range(lo: i128, hi: i128) -> Result<NumFormat, OpError> {
        if lo > hi {
            return Err(OpError::Value(format!(
                "the range [{lo}, {hi}] is empty and has no integer format"
            )));
        }
        let (signed, bits) = if lo >= 0 {
            (false, unsigned_width(hi as u128))
        } else {
            (true, signed_width(lo, hi))
        };
        if bits > MAX_INT_BITS {
            return Err(OpError::Value(format!(
                "values in [{lo}, {hi}] need {bits} bits, more than the {MAX_INT_BITS} the IR supports"
            )));
        }
        Ok(NumFormat::Int { signed, bits })
    }

    /// Checks the format's own parameters (widths in range).
    pub fn validate(self) -> Result<(), OpError> {
        match self {
            NumFormat::Int { bits, .. } if bits == 0 || bits > MAX_INT_BITS => Err(
                OpError::Attribute(format!("integer width {bits} is outside 1..={MAX_INT_BITS}")),
            ),
            NumFormat::Fixed { signed, int_bits, frac_bits } => {
                let total = int_bits + frac_bits;
                if total == 0 || total > MAX_INT_BITS || (signed && int_bits == 0) {
                    Err(OpError::Attribute(format!("{self} has an invalid width")))
                } else {
                    Ok(())
                }
            }
            _ => Ok(()),
        }
    }
}

/// Bits of an unsigned integer holding every value in `0..=max`: at least 1, at most 128.
///
/// The one width rule of the compiler: [`NumFormat::int_for_range`] (IR types, capped at
/// [`MAX_INT_BITS`]) and the Verilog generators' signal widths (`backend::verilog::build`)
/// both call it, so an IR value and the wire carrying it cannot disagree. Every `u128` has a
/// width, so it cannot fail; the callers that cap the width report the error.
pub const fn unsigned_width(max: u128) -> u32 {
    let bits = 128 - max.leading_zeros();
    if bits == 0 {
        1
    } else {
        bits
    }
}

/// Bits of a two's-complement integer holding every value in `lo..=hi` (or `hi..=lo`): at
/// least 1, at most 128. The signed twin of [`unsigned_width`].
pub const fn signed_width(lo: i128, hi: i128) -> u32 {
    // b bits hold [-2^(b-1), 2^(b-1) - 1]: a value needs its magnitude bits plus a sign bit.
    const fn need(v: i128) -> u32 {
        let magnitude = if v >= 0 { v } else { !v };
        129 - magnitude.leading_zeros()
    }
    let (a, b) = (need(lo), need(hi));
    if a > b {
        a
    } else {
        b
    }
}

impl fmt::Display for NumFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NumFormat::Float32 => f.write_str("f32"),
            NumFormat::Fixed { signed, int_bits, frac_bits } => {
                let s = if *signed { 's' } else { 'u' };
                write!(f, "fixed<{s}{int_bits}.{frac_bits}>")
            }
            NumFormat::Int { signed: true, bits } => write!(f, "i{bits}"),
            NumFormat::Int { signed: false, bits } => write!(f, "u{bits}"),
            NumFormat::Binary => f.write_str("bin"),
            NumFormat::Bool => f.write_str("bool"),
        }
    }
}

/// The type of an IR value: a dense tensor of one number format.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct TensorType {
    pub shape: Vec<usize>,
    pub format: NumFormat,
}

impl TensorType {
    pub fn new(shape: impl Into<Vec<usize>>, format: NumFormat) -> TensorType {
        TensorType { shape: shape.into(), format }
    }
    /// A float32 tensor.
    pub fn f32(shape: impl Into<Vec<usize>>) -> TensorType {
        TensorType::new(shape, NumFormat::Float32)
    }
    /// Number of elements (1 for a scalar).
    pub fn numel(&self) -> usize {
        self.shape.iter().product()
    }
    pub fn rank(&self) -> usize {
        self.shape.len()
    }
    /// Total bits of the flattened tensor: the width of a streaming port carrying it.
    pub fn total_bits(&self) -> u64 {
        self.numel() as u64 * u64::from(self.format.bits())
    }
}

impl fmt::Display for TensorType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("tensor<")?;
        for d in &self.shape {
            write!(f, "{d}x")?;
        }
        write!(f, "{}>", self.format)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_print_as_documented() {
        let fixed = NumFormat::Fixed { signed: true, int_bits: 4, frac_bits: 12 };
        assert_eq!(fixed.to_string(), "fixed<s4.12>");
        assert_eq!(fixed.bits(), 16);
        assert_eq!(NumFormat::int(8).to_string(), "i8");
        assert_eq!(NumFormat::uint(4).to_string(), "u4");
        assert_eq!(TensorType::new(vec![4, 8], NumFormat::int(8)).to_string(), "tensor<4x8xi8>");
        assert_eq!(TensorType::new(vec![], NumFormat::Bool).to_string(), "tensor<bool>");
    }

    #[test]
    fn narrowest_int_formats() {
        // Hand-derived: i8 holds [-128, 127]; u8 holds [0, 255].
        assert_eq!(NumFormat::int_for_range(-128, 127), Ok(NumFormat::int(8)));
        assert_eq!(NumFormat::int_for_range(-129, 0), Ok(NumFormat::int(9)));
        assert_eq!(NumFormat::int_for_range(-1, 128), Ok(NumFormat::int(9)));
        assert_eq!(NumFormat::int_for_range(0, 255), Ok(NumFormat::uint(8)));
        assert_eq!(NumFormat::int_for_range(0, 0), Ok(NumFormat::uint(1)));
        assert_eq!(NumFormat::int_for_range(-1, -1), Ok(NumFormat::int(1)));
        assert_eq!(NumFormat::int_for_range(-5, -3), Ok(NumFormat::int(4)));
        assert!(NumFormat::int_for_range(0, 1i128 << 64).is_err());
        assert!(NumFormat::int_for_range(1, 0).is_err());
        assert_eq!(
            NumFormat::int_for_range(i64::MIN.into(), i64::MAX.into()),
            Ok(NumFormat::int(64))
        );
        assert!(NumFormat::int_for_range(i128::MIN, i128::MAX).is_err());
        assert_eq!(NumFormat::int(8).int_range(), Some((-128, 127)));
        assert!(NumFormat::uint(4).holds(15) && !NumFormat::uint(4).holds(16));
    }
}
