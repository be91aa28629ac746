//! Fixed-width bit vectors of any width: Verilog constants, packed test vectors.

use crate::ir::NumFormat;
use std::fmt;

/// Why a value has no bit pattern of the requested shape: the error of the literal, packing
/// and hex helpers every RTL generator and testbench uses. A generator must stop rather than
/// print a truncated or zero literal that would compile and compute something else.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum BitsError {
    #[error("width must be at least 1")]
    ZeroWidth,
    #[error("{value} does not fit in {width} {} bits", if *signed { "signed" } else { "unsigned" })]
    DoesNotFit { value: i128, width: u32, signed: bool },
    /// An unsigned constant beyond `i128` (only `uconst` can be given one).
    #[error("constant {value} does not fit in {width} bits")]
    TooLarge { value: u128, width: u32 },
    #[error("`{digit}` is not a hex digit in `{text}`")]
    NotHex { digit: char, text: String },
    #[error("`{text}` has bits set beyond width {width}")]
    BeyondWidth { text: String, width: u32 },
    #[error("cannot pack an empty vector")]
    Empty,
    #[error("element {index}: {source}")]
    Element { index: usize, source: Box<BitsError> },
    #[error("float data with format {0}")]
    FloatFormat(NumFormat),
    #[error("no vectors")]
    NoVectors,
    #[error("vector {index} has {width} bits, vector 0 has {first}")]
    Ragged { index: usize, width: u32, first: u32 },
}

/// Generators that still report failures as text (the families' `rtl/` builders) take a
/// literal's failure through `?` as its message.
impl From<BitsError> for String {
    fn from(e: BitsError) -> String {
        e.to_string()
    }
}

/// A vector of `width` bits, least significant word first. Bits above `width` are always zero.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Bits {
    width: u32,
    words: Vec<u64>,
}

impl Bits {
    /// All zeros. `width` must be at least 1.
    pub fn zero(width: u32) -> Bits {
        assert!(width >= 1, "a bit vector has at least one bit");
        Bits { width, words: vec![0; width.div_ceil(64) as usize] }
    }

    /// The two's-complement (signed) or plain binary (unsigned) encoding of `value` in `width`
    /// bits. Fails, naming the value and width, when the value does not fit: truncating
    /// silently would hide a wrong test vector or constant.
    pub fn from_int(value: i128, width: u32, signed: bool) -> Result<Bits, BitsError> {
        if width == 0 {
            return Err(BitsError::ZeroWidth);
        }
        let fits = if signed {
            width >= 128 || {
                let half = 1i128 << (width - 1);
                -half <= value && value < half
            }
        } else {
            value >= 0 && (width >= 127 || value < (1i128 << width))
        };
        if !fits {
            return Err(BitsError::DoesNotFit { value, width, signed });
        }
        let mut b = Bits::zero(width);
        for i in 0..width {
            // Arithmetic shift: bits above 127 repeat the sign.
            let bit = (value >> i.min(127)) & 1 == 1;
            b.set(i, bit);
        }
        Ok(b)
    }

    pub fn width(&self) -> u32 {
        self.width
    }

    pub fn bit(&self, i: u32) -> bool {
        i < self.width && (self.words[(i / 64) as usize] >> (i % 64)) & 1 == 1
    }

    pub fn set(&mut self, i: u32, v: bool) {
        assert!(i < self.width, "bit {i} outside width {}", self.width);
        let w = &mut self.words[(i / 64) as usize];
        if v {
            *w |= 1 << (i % 64);
        } else {
            *w &= !(1 << (i % 64));
        }
    }

    /// Copies `field` into bits `lsb..lsb + field.width()`.
    pub fn set_field(&mut self, lsb: u32, field: &Bits) {
        for i in 0..field.width {
            self.set(lsb + i, field.bit(i));
        }
    }

    /// Bits `lsb..lsb + width` as a new vector.
    pub fn field(&self, lsb: u32, width: u32) -> Bits {
        let mut b = Bits::zero(width);
        for i in 0..width {
            b.set(i, self.bit(lsb + i));
        }
        b
    }

    /// Interprets the vector as an integer (two's complement when `signed`). `None` when it does
    /// not fit in `i128`.
    pub fn to_int(&self, signed: bool) -> Option<i128> {
        let top = self.width - 1;
        for i in 127..self.width {
            // Bits beyond i128 must all equal the sign (signed) or be zero (unsigned).
            let expect = signed && self.bit(top);
            if self.bit(i) != expect {
                return None;
            }
        }
        let mut v: i128 = if signed && self.bit(top) { -1 } else { 0 };
        for i in (0..self.width.min(127)).rev() {
            v = (v << 1) | i128::from(self.bit(i));
        }
        if !signed && self.width >= 128 && self.bit(127) {
            return None;
        }
        Some(v)
    }

    /// Hex digits, most significant first, exactly `ceil(width / 4)` of them: the line format
    /// `$readmemh` reads.
    pub fn to_hex(&self) -> String {
        let digits = self.width.div_ceil(4);
        (0..digits)
            .rev()
            .map(|d| {
                let nib = (0..4).fold(0u32, |acc, j| acc | (u32::from(self.bit(d * 4 + j)) << j));
                char::from_digit(nib, 16).unwrap_or('0')
            })
            .collect()
    }

    /// Parses hex digits (as [`Bits::to_hex`] writes them; `_` separators allowed) into `width`
    /// bits; fails on bad digits or set bits beyond `width`.
    pub fn from_hex(text: &str, width: u32) -> Result<Bits, BitsError> {
        let mut b = Bits::zero(width.max(1));
        let digits: Vec<char> = text.trim().chars().filter(|&c| c != '_').collect();
        for (k, c) in digits.iter().rev().enumerate() {
            let nib = c
                .to_digit(16)
                .ok_or_else(|| BitsError::NotHex { digit: *c, text: text.to_string() })?;
            for j in 0..4 {
                if (nib >> j) & 1 == 1 {
                    let i = k as u32 * 4 + j;
                    if i >= width {
                        return Err(BitsError::BeyondWidth { text: text.to_string(), width });
                    }
                    b.set(i, true);
                }
            }
        }
        Ok(b)
    }
}

impl fmt::Debug for Bits {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}'h{}", self.width, self.to_hex())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodings_match_hand_values() {
        assert_eq!(Bits::from_int(-1, 8, true).unwrap().to_hex(), "ff");
        assert_eq!(Bits::from_int(-128, 8, true).unwrap().to_hex(), "80");
        assert_eq!(Bits::from_int(5, 3, false).unwrap().to_hex(), "5");
        assert_eq!(Bits::from_int(-2, 70, true).unwrap().to_hex(), "3ffffffffffffffffe");
        assert!(Bits::from_int(128, 8, true).is_err());
        assert!(Bits::from_int(-1, 8, false).is_err());
        assert!(Bits::from_int(256, 8, false).is_err());
        let b = Bits::from_int(-3, 70, true).unwrap();
        assert_eq!(b.to_int(true), Some(-3));
        assert_eq!(Bits::from_hex("3f_ff", 14).unwrap().to_int(false), Some(0x3fff));
        assert!(Bits::from_hex("7fff", 14).is_err());
    }
}
