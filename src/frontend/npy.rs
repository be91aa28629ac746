//! `.npy` data files: input features, labels, reference outputs, and tessera's own outputs.
//!
//! Inputs are float32 because that is what the tree frameworks compare against their
//! thresholds; float64 files are accepted and converted (rounding to nearest), with a note
//! the caller can show, since a float64 value between two float32s may take a different
//! branch than the framework would take on the original float64 data. The header is checked
//! against the file size before any allocation, so a corrupt header cannot ask for terabytes.

use std::path::Path;

use ndarray::{Array1, Array2, ArrayD, Ix2};
use ndarray_npy::npy::header::Header;
use ndarray_npy::{ReadNpyExt, WriteNpyExt};

use super::error::{DataProblem, FileCtx, FrontendError};

/// A feature matrix `[samples, features]` in float32.
#[derive(Clone, Debug, PartialEq)]
pub struct Features {
    pub data: Array2<f32>,
    /// Set when the file was not float32 and was converted, e.g. "converted from float64 to
    /// float32"; callers print it so the user knows inputs were rounded.
    pub note: Option<String>,
}

/// The element types we read, from the `.npy` type descriptor.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Dtype {
    F32,
    F64,
    I64,
    I32,
}

impl Dtype {
    fn size(self) -> usize {
        match self {
            Dtype::F32 | Dtype::I32 => 4,
            Dtype::F64 | Dtype::I64 => 8,
        }
    }
}

/// A checked `.npy` file held in memory.
struct Raw {
    bytes: Vec<u8>,
    dtype: Dtype,
    shape: Vec<usize>,
    descr: String,
}

/// Element types each reader takes, for the refusal of any other.
const FLOATS: &str = "little-endian float32 `<f4` or float64 `<f8`";
const LABEL_TYPES: &str = "little-endian float32 `<f4`, float64 `<f8`, int64 `<i8` or int32 `<i4`";

/// Reads and checks a `.npy` file; an element type no reader knows is refused listing
/// `accepted`, the types of the calling reader.
fn open(path: &Path, ctx: &FileCtx, accepted: &str) -> Result<Raw, FrontendError> {
    let bytes = std::fs::read(path).map_err(|e| FrontendError::io(path, "cannot read", e))?;
    let mut rest: &[u8] = &bytes;
    let header = Header::from_reader(&mut rest)
        .map_err(|e| ctx.syntax("header", format!("not a valid .npy file: {e}")))?;
    // The descriptor prints as a Python literal, e.g. '<f4'.
    let descr = header.type_descriptor.to_string().trim_matches('\'').to_string();
    let dtype = match descr.as_str() {
        "<f4" | "f4" => Dtype::F32,
        "<f8" | "f8" => Dtype::F64,
        "<i8" | "i8" => Dtype::I64,
        "<i4" | "i4" => Dtype::I32,
        other => {
            return Err(ctx.data(
                DataProblem::Dtype,
                format!("unsupported element type `{other}` (expected {accepted})"),
            ))
        }
    };
    let expected = header.shape.iter().try_fold(dtype.size(), |acc, d| acc.checked_mul(*d));
    if expected != Some(rest.len()) {
        return Err(ctx.syntax(
            "shape",
            format!(
                "header declares shape {:?} of `{descr}` ({} data bytes) but the file holds {} \
                 data bytes (truncated or corrupt?)",
                header.shape,
                expected.map_or("too many".to_string(), |e| e.to_string()),
                rest.len()
            ),
        ));
    }
    Ok(Raw { shape: header.shape, bytes, dtype, descr })
}

fn decode<T: ndarray_npy::ReadableElement>(
    raw: &Raw,
    ctx: &FileCtx,
) -> Result<ArrayD<T>, FrontendError> {
    ArrayD::<T>::read_npy(&raw.bytes[..]).map_err(|e| ctx.invalid("data", e.to_string()))
}

/// Reads every supported dtype as f64 (exact for f32, i32 and for i64 up to 2^53).
fn as_f64(raw: &Raw, ctx: &FileCtx) -> Result<ArrayD<f64>, FrontendError> {
    Ok(match raw.dtype {
        Dtype::F32 => decode::<f32>(raw, ctx)?.mapv(f64::from),
        Dtype::F64 => decode::<f64>(raw, ctx)?,
        Dtype::I32 => decode::<i32>(raw, ctx)?.mapv(f64::from),
        Dtype::I64 => decode::<i64>(raw, ctx)?.mapv(|v| v as f64),
    })
}

fn shape_error(ctx: &FileCtx, raw: &Raw, want: &str) -> FrontendError {
    ctx.data(DataProblem::Shape, format!("expected {want}, found shape {:?}", raw.shape))
}

/// Reads a float32 feature matrix `[samples, features]`; float64 is converted with a note.
pub fn read_features(path: &Path) -> Result<Features, FrontendError> {
    let ctx = FileCtx::new(path);
    let raw = open(path, &ctx, FLOATS)?;
    if raw.shape.len() != 2 {
        return Err(shape_error(&ctx, &raw, "a 2-D array [samples, features]"));
    }
    let (data, note) = match raw.dtype {
        Dtype::F32 => (decode::<f32>(&raw, &ctx)?, None),
        Dtype::F64 => (
            decode::<f64>(&raw, &ctx)?.mapv(|v| v as f32),
            Some(format!(
                "{}: converted from float64 to float32 (the precision tree frameworks compare \
                 thresholds in); values between two float32s were rounded to nearest",
                ctx.file
            )),
        ),
        _ => {
            return Err(ctx.data(
                DataProblem::Dtype,
                format!("features must be float32 (or float64), found `{}`", raw.descr),
            ))
        }
    };
    let data = data
        .into_dimensionality::<Ix2>()
        .map_err(|e| ctx.data(DataProblem::Shape, e.to_string()))?;
    Ok(Features { data, note })
}

/// Reads a reference-output matrix (float32 or float64) as f64; a 1-D array `[n]` is read as
/// `[n, 1]` (XGBoost and LightGBM return 1-D margins for single-output models).
pub fn read_matrix_f64(path: &Path) -> Result<Array2<f64>, FrontendError> {
    let ctx = FileCtx::new(path);
    let raw = open(path, &ctx, FLOATS)?;
    if !matches!(raw.dtype, Dtype::F32 | Dtype::F64) {
        return Err(ctx.data(
            DataProblem::Dtype,
            format!("expected float32 or float64, found `{}`", raw.descr),
        ));
    }
    let a = as_f64(&raw, &ctx)?;
    let a = match raw.shape.len() {
        1 => {
            let n = raw.shape[0];
            a.into_shape_with_order((n, 1))
                .map_err(|e| ctx.data(DataProblem::Shape, e.to_string()))?
                .into_dyn()
        }
        2 => a,
        _ => return Err(shape_error(&ctx, &raw, "a 1-D or 2-D array")),
    };
    a.into_dimensionality::<Ix2>().map_err(|e| ctx.data(DataProblem::Shape, e.to_string()))
}

/// Reads labels `[n]` (or `[n, 1]`): int64/int32 class indices or float32/float64 targets.
pub fn read_labels(path: &Path) -> Result<Array1<f64>, FrontendError> {
    let ctx = FileCtx::new(path);
    let raw = open(path, &ctx, LABEL_TYPES)?;
    let n = match raw.shape.as_slice() {
        [n] | [n, 1] => *n,
        _ => return Err(shape_error(&ctx, &raw, "a 1-D array [samples] (or [samples, 1])")),
    };
    let a = as_f64(&raw, &ctx)?;
    a.into_shape_with_order(n).map_err(|e| ctx.data(DataProblem::Shape, e.to_string()))
}

/// Writes a float32 matrix `[samples, outputs]`, the format of `tessera sim --out`.
pub fn write_outputs(path: &Path, data: &Array2<f32>) -> Result<(), FrontendError> {
    let file =
        std::fs::File::create(path).map_err(|e| FrontendError::io(path, "cannot create", e))?;
    let mut w = std::io::BufWriter::new(file);
    data.write_npy(&mut w).map_err(|e| FrontendError::Invalid {
        file: path.display().to_string(),
        field: "data".into(),
        message: format!("cannot write: {e}"),
    })?;
    use std::io::Write;
    w.flush().map_err(|e| FrontendError::io(path, "cannot write", e))
}
