//! Scoring outputs against a labels file, by what the model is rather than by what the labels
//! look like.
//!
//! Guessing the metric from the labels alone went wrong both ways: {-1, +1} labels made a binary
//! classifier report an RMSE, and 1-based class labels scored a good classifier at accuracy
//! 0.0000. So a classifier always reports accuracy; labels that are not its class indices are
//! either read through a mapping that is stated on the console ({-1, +1} → {0, 1} for a binary
//! classifier, 1..=k → 0..k-1) or refused with the values found.

use super::predicted_class;
use ndarray::Array2;
use std::collections::BTreeSet;

/// What a model predicts, which decides how labels score it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Task {
    /// Class `argmax` of the outputs, or the sign of a single margin (then `classes` is 2).
    Classifier { classes: usize },
    /// One regression target per output.
    Regressor,
    /// The model format does not say (an ONNX network): several outputs, or one output with
    /// labels in {0, 1} or {-1, 1}, mean a classifier; one output with other labels a regressor.
    Unknown,
}

/// How outputs score against labels.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum LabelScore {
    Accuracy(f64),
    Rmse(f64),
}

/// A score, and the label mapping it used when the labels were not the class indices.
#[derive(Clone, Debug, PartialEq)]
pub struct Scored {
    pub score: LabelScore,
    /// E.g. "labels {-1, 1} read as classes {0, 1} of the binary classifier".
    pub mapping: Option<String>,
}

/// At most this many distinct label values are listed in a message.
const SHOWN_VALUES: usize = 8;

/// The distinct values of `labels`, sorted, as `{-1, 1}` (shortened past [`SHOWN_VALUES`]).
fn value_set(labels: &[f64]) -> String {
    let mut seen: Vec<f64> = Vec::new();
    let bits: BTreeSet<u64> = labels.iter().map(|y| y.to_bits()).collect();
    seen.extend(bits.into_iter().map(f64::from_bits));
    seen.sort_by(f64::total_cmp);
    let n = seen.len();
    let mut parts: Vec<String> = seen.iter().take(SHOWN_VALUES).map(|v| format!("{v}")).collect();
    if n > SHOWN_VALUES {
        parts.push(format!("... ({n} distinct values)"));
    }
    format!("{{{}}}", parts.join(", "))
}

/// Why labels cannot score a model's outputs; `found` lists the label values seen
/// (`{0, 1, 7}`). The caller names the file.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum LabelError {
    #[error(
        "one label per sample, but the regressor has {outputs} outputs: RMSE needs one target \
         per output"
    )]
    RegressorOutputs { outputs: usize },
    #[error(
        "the model is a {classes}-class classifier, so labels must be class indices 0..={}; \
         found values {found}",
        classes - 1
    )]
    NotWhole { classes: usize, found: String },
    #[error(
        "labels {found} do not fit the model's {classes} classes: expected class indices \
         0..={}{} or 1..={classes}",
        classes - 1,
        if *classes == 2 { ", {-1, 1}" } else { "" }
    )]
    OutOfRange { classes: usize, found: String },
}

/// Scores `outputs` (`[n, k]`) against `labels` for a model doing `task`. The error says which
/// label values were found and why they do not fit; the caller names the file.
pub fn score(outputs: &Array2<f32>, labels: &[f64], task: Task) -> Result<Scored, LabelError> {
    let k = outputs.ncols();
    let whole = labels.iter().all(|y| y.is_finite() && y.fract() == 0.0);
    // Without the model's word, one output with labels other than 0/1 (or ±1) is a regressor.
    let binary_like = labels.iter().all(|&y| y == -1.0 || y == 0.0 || y == 1.0);
    let task = match task {
        Task::Unknown if k == 1 && !binary_like => Task::Regressor,
        Task::Unknown => Task::Classifier { classes: k.max(2) },
        t => t,
    };
    match task {
        Task::Regressor => {
            if k != 1 {
                return Err(LabelError::RegressorOutputs { outputs: k });
            }
            let n = labels.len().max(1) as f64;
            let se: f64 =
                outputs.column(0).iter().zip(labels).map(|(&p, &y)| (p as f64 - y).powi(2)).sum();
            Ok(Scored { score: LabelScore::Rmse((se / n).sqrt()), mapping: None })
        }
        Task::Classifier { classes } => classify(outputs, labels, classes, whole),
        Task::Unknown => unreachable!("resolved above"),
    }
}

fn classify(
    outputs: &Array2<f32>,
    labels: &[f64],
    classes: usize,
    whole: bool,
) -> Result<Scored, LabelError> {
    let c = classes as f64;
    let found = value_set(labels);
    if !whole {
        return Err(LabelError::NotWhole { classes, found });
    }
    let (lo, hi) = labels
        .iter()
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), &y| (lo.min(y), hi.max(y)));
    let (shift, mapping): (fn(f64) -> f64, Option<String>) = if labels.is_empty()
        || (lo >= 0.0 && hi < c)
    {
        (|y| y, None)
    } else if classes == 2 && labels.iter().all(|&y| y == -1.0 || y == 1.0) {
        let m =
            format!("labels {found} read as classes {{0, 1}} of the binary classifier (-1 → 0)");
        (|y| if y < 0.0 { 0.0 } else { 1.0 }, Some(m))
    } else if lo >= 1.0 && hi == c {
        let m = format!(
            "labels {found} read as 1-based classes of the {classes}-class classifier \
             (label y → class y - 1)"
        );
        (|y| y - 1.0, Some(m))
    } else {
        return Err(LabelError::OutOfRange { classes, found });
    };
    let right = outputs
        .rows()
        .into_iter()
        .zip(labels)
        .filter(|(row, &y)| predicted_class(&row.to_vec()) as f64 == shift(y))
        .count();
    let accuracy = right as f64 / labels.len().max(1) as f64;
    Ok(Scored { score: LabelScore::Accuracy(accuracy), mapping })
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::array;

    const BINARY: Task = Task::Classifier { classes: 2 };

    fn accuracy(s: Result<Scored, LabelError>) -> (f64, Option<String>) {
        match s.unwrap() {
            Scored { score: LabelScore::Accuracy(a), mapping } => (a, mapping),
            other => panic!("expected accuracy, got {other:?}"),
        }
    }

    #[test]
    fn binary_margins_score_by_sign() {
        // Margins -1.2, 0.3, 2.0 predict classes 0, 1, 1; the labels 0, 0, 1 agree on two of three.
        let out = array![[-1.2f32], [0.3], [2.0]];
        assert_eq!(accuracy(score(&out, &[0.0, 0.0, 1.0], BINARY)), (2.0 / 3.0, None));
    }

    #[test]
    fn plus_minus_one_labels_are_mapped_and_said() {
        let out = array![[-1.2f32], [0.3], [2.0]];
        let (a, m) = accuracy(score(&out, &[-1.0, -1.0, 1.0], BINARY));
        assert_eq!(a, 2.0 / 3.0);
        let m = m.unwrap();
        assert!(m.starts_with("labels {-1, 1} read as classes {0, 1}"), "{m}");
        // Without the model's word, ±1 used to be a regression target.
        let (a, _) = accuracy(score(&out, &[-1.0, -1.0, 1.0], Task::Unknown));
        assert_eq!(a, 2.0 / 3.0);
    }

    #[test]
    fn multiclass_scores_by_argmax_and_reads_one_based_labels() {
        // Predicted classes 1, 0, 2.
        let out = array![[0.1f32, 0.7, 0.2], [0.5, 0.1, 0.4], [0.0, 0.0, 1.0]];
        let three = Task::Classifier { classes: 3 };
        assert_eq!(accuracy(score(&out, &[1.0, 2.0, 2.0], three)), (2.0 / 3.0, None));
        // The same classes written 1-based (the label 3 cannot be a 0-based class).
        let (a, m) = accuracy(score(&out, &[2.0, 1.0, 3.0], three));
        assert_eq!(a, 1.0);
        let m = m.unwrap();
        assert!(m.starts_with("labels {1, 2, 3} read as 1-based classes"), "{m}");
        // Labels up to 2 fit 0-based classes and are read so, even without a class 0.
        assert_eq!(accuracy(score(&out, &[2.0, 1.0, 1.0], three)), (0.0, None));
    }

    #[test]
    fn labels_outside_the_classes_are_refused_with_the_values() {
        let out = array![[0.1f32, 0.7, 0.2], [0.5, 0.1, 0.4]];
        let three = Task::Classifier { classes: 3 };
        let e = score(&out, &[0.0, 5.0], three).unwrap_err();
        assert_eq!(e, LabelError::OutOfRange { classes: 3, found: "{0, 5}".into() });
        assert_eq!(
            e.to_string(),
            "labels {0, 5} do not fit the model's 3 classes: expected class indices 0..=2 or 1..=3"
        );
        let e = score(&out, &[0.5, 1.0], three).unwrap_err();
        assert!(e.to_string().ends_with("found values {0.5, 1}"), "{e}");
    }

    #[test]
    fn regressors_score_by_rmse_whatever_the_labels() {
        // Errors 1 and -3: sqrt((1 + 9) / 2) = sqrt(5).
        let out = array![[151.0f32], [72.0]];
        let want = Scored { score: LabelScore::Rmse(5f64.sqrt()), mapping: None };
        assert_eq!(score(&out, &[150.0, 75.0], Task::Regressor).unwrap(), want);
        assert_eq!(score(&out, &[150.0, 75.0], Task::Unknown).unwrap(), want);
        // Whole-number targets of a regressor are still targets (errors 1 and 1).
        let small = array![[1.0f32], [0.0]];
        let s = score(&small, &[0.0, 1.0], Task::Regressor).unwrap();
        assert_eq!(s.score, LabelScore::Rmse(1.0));
        let wide = array![[1.0f32, 2.0]];
        assert_eq!(
            score(&wide, &[1.0], Task::Regressor).unwrap_err(),
            LabelError::RegressorOutputs { outputs: 2 }
        );
    }

    #[test]
    fn long_value_lists_are_shortened() {
        let ys: Vec<f64> = (0..20).map(f64::from).collect();
        assert_eq!(value_set(&ys), "{0, 1, 2, 3, 4, 5, 6, 7, ... (20 distinct values)}");
    }
}
