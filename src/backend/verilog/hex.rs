//! Test-vector files: packing tensors into bit vectors and writing `$readmemh` files.
//!
//! Packing rule (shared by every family, the testbench and the lowerings): a vector of `n`
//! elements of `w` bits occupies `n * w` bits with element `i` in bits `[i*w + w-1 : i*w]`,
//! i.e. element 0 is least significant, as `{x[n-1], ..., x[1], x[0]}` in Verilog. Signed
//! elements are two's complement. A hex file has one vector per line, exactly
//! `ceil(n*w / 4)` lowercase hex digits, most significant first, and no header.

use super::bits::{Bits, BitsError};
use crate::ir::{NumFormat, Tensor, TensorData};
use std::path::{Path, PathBuf};
use thiserror::Error;

/// A hex file problem, naming the file.
#[derive(Debug, Error)]
pub enum HexError {
    #[error("{path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
    #[error("{path}, line {line}: {source}")]
    Parse { path: PathBuf, line: usize, source: BitsError },
    /// The vectors of file `file` (`inputs.hex`) cannot be written as one hex file.
    #[error("{file}: {source}")]
    Pack { file: String, source: BitsError },
}

/// Packs integers of `elem_width` bits each (element 0 least significant). Fails when a value
/// does not fit: a silently truncated test vector would test the wrong thing.
pub fn pack(values: &[i128], elem_width: u32, signed: bool) -> Result<Bits, BitsError> {
    if values.is_empty() {
        return Err(BitsError::Empty);
    }
    let mut out = Bits::zero(elem_width * values.len() as u32);
    for (i, &v) in values.iter().enumerate() {
        let field = Bits::from_int(v, elem_width, signed)
            .map_err(|e| BitsError::Element { index: i, source: Box::new(e) })?;
        out.set_field(i as u32 * elem_width, &field);
    }
    Ok(out)
}

/// Unpacks `count` elements of `elem_width` bits (inverse of [`pack`]).
pub fn unpack(bits: &Bits, elem_width: u32, signed: bool, count: usize) -> Vec<i128> {
    (0..count as u32)
        .map(|i| bits.field(i * elem_width, elem_width).to_int(signed).unwrap_or(0))
        .collect()
}

/// Packs a tensor by its format: integers and fixed-point raw codes by width and signedness,
/// `Bool`/`Binary` as single bits, `Float32` as its IEEE bit pattern.
pub fn pack_tensor(t: &Tensor) -> Result<Bits, BitsError> {
    let w = t.format.bits();
    match (&t.data, t.format) {
        (TensorData::F32(v), NumFormat::Float32) => {
            pack(&v.iter().map(|x| i128::from(x.to_bits())).collect::<Vec<_>>(), 32, false)
        }
        (TensorData::F32(_), f) => Err(BitsError::FloatFormat(f)),
        (_, f) => {
            let vals: Vec<i128> =
                t.ints().unwrap_or_default().into_iter().map(i128::from).collect();
            pack(&vals, w, f.is_signed())
        }
    }
}

/// The text of a hex file: one line per vector. All vectors must have the same width.
pub fn hex_text(vectors: &[Bits]) -> Result<String, BitsError> {
    let Some(first) = vectors.first() else {
        return Err(BitsError::NoVectors);
    };
    let mut s = String::with_capacity(vectors.len() * (first.width() as usize / 4 + 2));
    for (i, v) in vectors.iter().enumerate() {
        if v.width() != first.width() {
            return Err(BitsError::Ragged { index: i, width: v.width(), first: first.width() });
        }
        s.push_str(&v.to_hex());
        s.push('\n');
    }
    Ok(s)
}

/// Writes vectors to a hex file.
pub fn write_hex(path: &Path, vectors: &[Bits]) -> Result<(), HexError> {
    let file = path.file_name().map_or_else(String::new, |f| f.to_string_lossy().into_owned());
    let text = hex_text(vectors).map_err(|source| HexError::Pack { file, source })?;
    std::fs::write(path, text).map_err(|source| HexError::Io { path: path.to_path_buf(), source })
}

/// Reads a hex file of `width`-bit vectors (blank lines and `//` comments are skipped).
pub fn read_hex(path: &Path, width: u32) -> Result<Vec<Bits>, HexError> {
    let text = std::fs::read_to_string(path)
        .map_err(|source| HexError::Io { path: path.to_path_buf(), source })?;
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let l = line.split("//").next().unwrap_or("").trim();
        if l.is_empty() {
            continue;
        }
        let b = Bits::from_hex(l, width).map_err(|source| HexError::Parse {
            path: path.to_path_buf(),
            line: i + 1,
            source,
        })?;
        out.push(b);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn element_zero_is_least_significant() {
        // [1, -1, 2] as i4: fields 0x1, 0xf, 0x2 -> {2, f, 1} = "2f1".
        let b = pack(&[1, -1, 2], 4, true).unwrap();
        assert_eq!(b.to_hex(), "2f1");
        assert_eq!(unpack(&b, 4, true, 3), vec![1, -1, 2]);
        // 3 x u3 = 9 bits -> 3 hex digits: [7, 0, 5] = 0b101_000_111 = 0x147.
        assert_eq!(pack(&[7, 0, 5], 3, false).unwrap().to_hex(), "147");
        assert_eq!(
            pack(&[8], 4, true).unwrap_err(),
            BitsError::Element {
                index: 0,
                source: Box::new(BitsError::DoesNotFit { value: 8, width: 4, signed: true })
            }
        );
        let t = Tensor::f32(vec![1], vec![1.0]).unwrap();
        assert_eq!(pack_tensor(&t).unwrap().to_hex(), "3f800000");
    }
}
