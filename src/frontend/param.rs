//! Checks on model parameters, done where a frontend reads them.
//!
//! A NaN or infinite weight, threshold or leaf value has no meaning a mapping could keep: in
//! the float reference it poisons every later value (and once drove a power series into an
//! endless loop), in the integer datapath it turns into an arbitrary code. Refusing it when
//! the file is read, with the tensor or field named, the index of the first bad element and
//! the number of bad elements, lets the user find it in their export; refusing it later, in a
//! pass, could only name a pass. Parameter errors carry stable codes (E0101, E0102) so scripts
//! can tell a bad model from a bad description.

use crate::diagnostics::Code;

/// A model parameter tessera refuses. Displayed as `file: location: message`, like every
/// frontend error; the CLI prints the code in front (`error[E0101]: ...`).
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
#[error("{file}: {location}: {message}")]
pub struct ParamError {
    /// [`Code::E0101`] (not finite) or [`Code::E0102`] (finite, but not representable).
    pub code: Code,
    /// The model file, as the user named it.
    pub file: String,
    /// The tensor (`graph.initializer[fc1.weight]`) or node and field (`Tree=3 threshold`).
    pub location: String,
    /// Flat index of the first offending element.
    pub first: usize,
    /// How many elements are at fault.
    pub count: usize,
    /// The complete explanation, index and count included.
    pub message: String,
}

/// Refuses `values` when any is NaN or infinite (E0101). `shape`, when known, turns the flat
/// index into a multi-index (`[0, 0] of [4, 32]`), which is what a user types to find it.
pub fn check_finite(
    file: &str,
    location: &str,
    shape: Option<&[usize]>,
    values: impl IntoIterator<Item = f64>,
) -> Result<(), ParamError> {
    let mut bad = values.into_iter().enumerate().filter(|(_, v)| !v.is_finite());
    let Some((first, value)) = bad.next() else {
        return Ok(());
    };
    let count = 1 + bad.count();
    let message = format!(
        "{count} non-finite value{} (the first, {}, at index {}); a model parameter must be a \
         finite number: retrain or re-export the model without NaN/inf",
        if count == 1 { "" } else { "s" },
        show(value),
        at(first, shape),
    );
    Err(ParamError {
        code: Code::E0101,
        file: file.into(),
        location: location.into(),
        first,
        count,
        message,
    })
}

/// Refuses finite `values` whose magnitude exceeds `limit` (E0102). `what` says what the
/// limit is (`the largest f32`), since the user must know which bound they crossed.
pub fn check_limit(
    file: &str,
    location: &str,
    shape: Option<&[usize]>,
    values: impl IntoIterator<Item = f64>,
    limit: f64,
    what: &str,
) -> Result<(), ParamError> {
    let mut bad = values.into_iter().enumerate().filter(|(_, v)| v.abs() > limit);
    let Some((first, value)) = bad.next() else {
        return Ok(());
    };
    let count = 1 + bad.count();
    Err(not_representable(
        file,
        location,
        first,
        count,
        format!(
            "{count} value{} beyond {what} ({limit:e}) (the first, {value:e}, at index {})",
            if count == 1 { "" } else { "s" },
            at(first, shape),
        ),
    ))
}

/// A finite parameter the mapping cannot represent (E0102), explained by `message`.
pub fn not_representable(
    file: &str,
    location: &str,
    first: usize,
    count: usize,
    message: String,
) -> ParamError {
    ParamError {
        code: Code::E0102,
        file: file.into(),
        location: location.into(),
        first,
        count,
        message,
    }
}

fn show(v: f64) -> &'static str {
    if v.is_nan() {
        "NaN"
    } else if v > 0.0 {
        "inf"
    } else {
        "-inf"
    }
}

/// `7` or, with a shape of more than one dimension, `7 = [0, 7] of [4, 32]`.
fn at(flat: usize, shape: Option<&[usize]>) -> String {
    match shape {
        Some(s) if s.len() > 1 && s.iter().all(|d| *d > 0) => {
            let mut idx = vec![0usize; s.len()];
            let mut rest = flat;
            for (k, d) in s.iter().enumerate().rev() {
                idx[k] = rest % d;
                rest /= d;
            }
            format!("{flat} = {idx:?} of {s:?}")
        }
        _ => flat.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_first_index_and_count() {
        let e = check_finite(
            "m.onnx",
            "w",
            Some(&[2, 3]),
            [1.0, 2.0, f64::NAN, 3.0, f64::INFINITY, 0.0],
        )
        .unwrap_err();
        assert_eq!((e.code, e.first, e.count), (Code::E0101, 2, 2));
        assert_eq!(
            e.to_string(),
            "m.onnx: w: 2 non-finite values (the first, NaN, at index 2 = [0, 2] of [2, 3]); a \
             model parameter must be a finite number: retrain or re-export the model without NaN/inf"
        );
        assert!(check_finite("m", "w", None, [0.0, -0.0, f64::MIN_POSITIVE / 4.0]).is_ok());
    }

    #[test]
    fn limit_is_named() {
        let e = check_limit("m", "w", None, [1.0, -1e300], f32::MAX as f64, "the largest f32")
            .unwrap_err();
        assert_eq!((e.code, e.first, e.count), (Code::E0102, 1, 1));
        assert!(e.message.contains("the largest f32 (3.4028234663852886e38)"), "{}", e.message);
    }
}
