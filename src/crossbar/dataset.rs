//! Sample data for calibration, accuracy and agreement: `.npy` files in the layout every
//! example folder uses (`X_test.npy`, `y_test.npy`, `expected_output.npy`, `X_calib.npy`).

use crate::crossbar::error::XbarError;
use ndarray::ArrayD;
use ndarray_npy::read_npy;
use std::path::Path;

/// Reads a float32 `.npy` of shape `[n, ...]` as `n` flattened rows.
pub fn read_rows_f32(path: &Path) -> Result<Vec<Vec<f32>>, XbarError> {
    let a: ArrayD<f32> = read_npy(path).map_err(|e| {
        XbarError::Data(format!("{}: {e} (expected a float32 array)", path.display()))
    })?;
    if a.ndim() == 0 {
        return Err(XbarError::Data(format!(
            "{}: expected an array of shape [n, ...], got a scalar",
            path.display()
        )));
    }
    let n = a.shape()[0];
    let per: usize = a.shape()[1..].iter().product();
    let flat: Vec<f32> = a.iter().copied().collect();
    Ok((0..n).map(|i| flat[i * per..(i + 1) * per].to_vec()).collect())
}

/// Reads integer class labels (`int64` or `int32` `.npy`, shape `[n]`).
pub fn read_labels(path: &Path) -> Result<Vec<i64>, XbarError> {
    if let Ok(a) = read_npy::<_, ArrayD<i64>>(path) {
        return Ok(a.iter().copied().collect());
    }
    let a: ArrayD<i32> = read_npy(path).map_err(|e| {
        XbarError::Data(format!("{}: {e} (expected int64 or int32 labels)", path.display()))
    })?;
    Ok(a.iter().map(|v| *v as i64).collect())
}

/// One example folder's data.
#[derive(Clone, Debug)]
pub struct ExampleData {
    pub x_test: Vec<Vec<f32>>,
    pub y_test: Vec<i64>,
    /// The source framework's outputs on `x_test` (onnxruntime, or qonnx's executor).
    pub expected: Vec<Vec<f32>>,
    pub x_calib: Vec<Vec<f32>>,
}

impl ExampleData {
    /// Loads `X_test.npy`, `y_test.npy`, `expected_output.npy` and `X_calib.npy` from `dir`.
    pub fn load(dir: &Path) -> Result<ExampleData, XbarError> {
        let d = ExampleData {
            x_test: read_rows_f32(&dir.join("X_test.npy"))?,
            y_test: read_labels(&dir.join("y_test.npy"))?,
            expected: read_rows_f32(&dir.join("expected_output.npy"))?,
            x_calib: read_rows_f32(&dir.join("X_calib.npy"))?,
        };
        if d.x_test.len() != d.y_test.len() || d.x_test.len() != d.expected.len() {
            return Err(XbarError::Data(format!(
                "{}: X_test has {} rows, y_test {}, expected_output {}",
                dir.display(),
                d.x_test.len(),
                d.y_test.len(),
                d.expected.len()
            )));
        }
        Ok(d)
    }
}

/// Index of the largest value, ties to the lowest index (numpy's `argmax`).
pub fn argmax(row: &[f32]) -> usize {
    let mut best = 0;
    for (i, v) in row.iter().enumerate() {
        if *v > row[best] {
            best = i;
        }
    }
    best
}
