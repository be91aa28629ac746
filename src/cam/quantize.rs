//! Rank-based threshold quantization and fixed-point leaves.
//!
//! **Inputs.** Per feature, the sorted unique bounds `t_0 < ... < t_{u-1}` that the feature's cells
//! use (NaN never; ±inf may appear) form an encoder table. An input is encoded as
//! `code(x) = #{k : t_k <= x}` in `[0, u]` plus a NaN flag. Because the table is sorted and unique,
//! `x >= t_a  <=>  code(x) >= a + 1` and `x < t_b  <=>  code(x) < b + 1`, so a cell `[t_a, t_b)`
//! becomes the code range `[a + 1, b + 1)` with no loss, as long as the `u + 1` codes fit the
//! cell's `levels`. Otherwise thresholds are merged ([`super::merge`]) and the loss is measured.
//!
//! **Leaves.** Leaves become signed `leaf_bits`-bit integers with one fractional-bit count `frac`
//! for the whole model (leaves of `Aggregation::Mean` models are divided by their output's tree
//! count first, so the hardware needs no divider); the base margin uses the same `frac`.
//! The hardware margin is `(base_q + Σ leaf_q) · 2^-frac`; every rounding moves a term by at most
//! `2^-(frac+1)`, so `|margin_hw - margin_ref| <= (n_trees_of_output + 1) · 2^-(frac+1)` before the
//! final conversion to float32 (see [`FixedPoint::error_bound`]).

use super::error::CamError;
use super::merge::reduce_thresholds;
use super::pack::PackedCam;
use crate::frontend::trees::Aggregation;
use ndarray::{Array2, ArrayView2};
use serde::Serialize;

/// Quantization settings; `levels` comes from the aCAM cell, `leaf_bits` from the mapping.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct QuantConfig {
    /// Distinct codes one cell column can tell apart (256 for 8-bit cells).
    pub levels: u32,
    /// Width of a stored leaf, signed.
    pub leaf_bits: u32,
}

impl Default for QuantConfig {
    fn default() -> Self {
        QuantConfig { levels: 256, leaf_bits: 16 }
    }
}

/// The comparator table of one feature's input encoder.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct FeatureEncoder {
    /// Ascending, unique, never NaN.
    pub thresholds: Vec<f32>,
}

impl FeatureEncoder {
    /// `#{k : t_k <= x}`; meaningless for NaN (callers check the NaN flag first).
    pub fn code(&self, x: f32) -> u16 {
        self.thresholds.partition_point(|t| *t <= x) as u16
    }
}

/// An input after the encoder: one code and one NaN flag per feature.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Encoded {
    pub codes: Vec<u16>,
    pub nan: Vec<bool>,
}

/// A cell in code space: matches `lo <= code < hi`, or NaN when `nan_match`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct QCell {
    pub lo: Option<u16>,
    pub hi: Option<u16>,
    pub nan_match: bool,
}

impl QCell {
    pub fn is_dont_care(&self) -> bool {
        self.lo.is_none() && self.hi.is_none() && self.nan_match
    }
    /// The exact integer match rule the RTL implements.
    pub fn matches(&self, code: u16, nan: bool) -> bool {
        if nan {
            return self.nan_match;
        }
        self.lo.is_none_or(|l| code >= l) && self.hi.is_none_or(|h| code < h)
    }
}

/// A row in code space with its fixed-point leaf.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct QRow {
    pub cells: Vec<QCell>,
    /// Leaf as a signed integer, `|leaf_q| <= 2^(leaf_bits-1) - 1`.
    pub leaf_q: i64,
    pub output: usize,
    pub tree: usize,
}

impl QRow {
    pub fn matches(&self, e: &Encoded) -> bool {
        self.cells.iter().enumerate().all(|(f, c)| c.matches(e.codes[f], e.nan[f]))
    }
    /// Whether the cell of feature `f` carries information (is not don't-care).
    pub fn cares(&self, f: usize) -> bool {
        !self.cells[f].is_dont_care()
    }
}

/// The fixed-point format of leaves and accumulator.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct FixedPoint {
    /// Value = integer · 2^-frac_bits (may be negative for huge leaves).
    pub frac_bits: i32,
    pub leaf_bits: u32,
    /// Signed accumulator width that cannot overflow (see [`choose_fixed_point`]).
    pub acc_bits: u32,
}

impl FixedPoint {
    /// Scale of one least-significant bit.
    pub fn lsb(&self) -> f64 {
        2f64.powi(-self.frac_bits)
    }
    /// The stated bound on `|margin_hw - margin_ref|` (before float32 conversion) for an output
    /// fed by `n` trees: `n` leaf roundings and one base rounding of at most half an LSB each.
    pub fn error_bound(&self, n: usize) -> f64 {
        (n as f64 + 1.0) * 0.5 * self.lsb()
    }
    /// The float32 margin of an integer accumulator value (round to nearest, exactly defined).
    pub fn to_margin(&self, total: i64) -> f32 {
        (total as f64 * self.lsb()) as f32
    }
}

/// A feature whose thresholds had to be merged to fit the cell.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct MergedFeature {
    pub feature: usize,
    pub unique_before: usize,
    pub unique_after: usize,
}

/// What quantization cost, measured on the training set when one is given.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct QuantReport {
    /// True when every feature fit its levels: leaf assignment is then exact for every input.
    pub lossless: bool,
    pub levels: u32,
    /// Largest `u + 1` (codes needed) over features before merging.
    pub max_codes_needed: usize,
    pub merged_features: Vec<MergedFeature>,
    pub frac_bits: i32,
    pub leaf_bits: u32,
    pub acc_bits: u32,
    /// `(max trees per output + 1) · 2^-(frac+1)`: worst fixed-point margin error.
    pub fixed_point_error_bound: f64,
    /// Training samples the loss figures below were measured on (0 when none were given).
    pub train_samples: usize,
    /// Fraction of training samples whose leaf assignment changed in some tree (None: not measured).
    pub fraction_leaf_changed: Option<f64>,
    /// Fraction of training samples whose float margin changed because of merged thresholds.
    pub fraction_margin_changed: Option<f64>,
    /// Largest margin change over the training samples due to merged thresholds.
    pub max_margin_change: Option<f64>,
}

/// The CAM in code space: encoder tables, code-range rows, fixed-point leaves.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct QuantizedCam {
    pub num_features: usize,
    pub num_outputs: usize,
    pub num_trees: usize,
    pub levels: u32,
    pub encoders: Vec<FeatureEncoder>,
    pub rows: Vec<QRow>,
    /// Base margin per output in the same fixed-point format as the leaves.
    pub base_q: Vec<i64>,
    pub fixed: FixedPoint,
    pub trees_per_output: Vec<usize>,
    pub report: QuantReport,
}

impl QuantizedCam {
    /// Rejects a batch whose rows do not have one value per model feature, naming `what` the
    /// batch is (evaluation data, test vectors) so the user knows which input was wrong.
    pub fn check_width(&self, what: &str, got: usize) -> Result<(), CamError> {
        if got == self.num_features {
            return Ok(());
        }
        Err(CamError::SampleWidth { what: what.into(), expected: self.num_features, got })
    }

    /// Fraction of cells that are don't-care. Quantization keeps a cell's missing bounds and
    /// NaN bit, so this equals the float rows' [`super::pack::PackedCam::sparsity`].
    pub fn sparsity(&self) -> f64 {
        let total = self.rows.len() * self.num_features;
        if total == 0 {
            return 0.0;
        }
        let dc: usize =
            self.rows.iter().map(|r| r.cells.iter().filter(|c| c.is_dont_care()).count()).sum();
        dc as f64 / total as f64
    }

    /// Runs the input encoder: codes and NaN flags, exactly as the RTL comparators do.
    pub fn encode(&self, x: &[f32]) -> Result<Encoded, CamError> {
        if x.len() != self.num_features {
            return Err(CamError::SampleWidth {
                what: "input sample".into(),
                expected: self.num_features,
                got: x.len(),
            });
        }
        let nan: Vec<bool> = x.iter().map(|v| v.is_nan()).collect();
        let codes = x
            .iter()
            .zip(&self.encoders)
            .map(|(v, e)| if v.is_nan() { 0 } else { e.code(*v) })
            .collect();
        Ok(Encoded { codes, nan })
    }

    /// Rows matching an encoded input, by brute force over all rows (the tiled simulator must
    /// agree with this).
    pub fn matching_rows(&self, e: &Encoded) -> Vec<usize> {
        (0..self.rows.len()).filter(|&i| self.rows[i].matches(e)).collect()
    }

    /// `base_q + Σ leaf_q` per output over the matching rows, by brute force: the integer the
    /// tiled simulator and the RTL must reproduce whatever their schedule.
    pub fn totals(&self, e: &Encoded) -> Vec<i64> {
        let mut t = self.base_q.clone();
        for i in self.matching_rows(e) {
            t[self.rows[i].output] += self.rows[i].leaf_q;
        }
        t
    }
}

/// Copies row-major samples into an array, checking every row has `width` values.
pub fn samples_to_array(rows: &[Vec<f32>], width: usize) -> Result<Array2<f32>, CamError> {
    let mut a = Array2::<f32>::zeros((rows.len(), width));
    for (i, r) in rows.iter().enumerate() {
        if r.len() != width {
            return Err(CamError::SampleWidth {
                what: format!("sample {i}"),
                expected: width,
                got: r.len(),
            });
        }
        for (j, v) in r.iter().enumerate() {
            a[[i, j]] = *v;
        }
    }
    Ok(a)
}

/// Quantizes a packed CAM. `train` (one row per sample, model feature order) steers threshold
/// merging and measures its loss; it is only needed when some feature does not fit `levels`.
pub fn quantize(
    p: &PackedCam,
    cfg: &QuantConfig,
    train: Option<ArrayView2<f32>>,
) -> Result<QuantizedCam, CamError> {
    if !(2..=65536).contains(&cfg.levels) {
        return Err(CamError::BadOption {
            option: "levels".into(),
            message: format!("{} is outside 2..=65536", cfg.levels),
        });
    }
    if !(2..=32).contains(&cfg.leaf_bits) {
        return Err(CamError::BadOption {
            option: "leaf_bits".into(),
            message: format!("{} is outside 2..=32", cfg.leaf_bits),
        });
    }
    if let Some(t) = &train {
        if t.ncols() != p.num_features {
            return Err(CamError::SampleWidth {
                what: "training set".into(),
                expected: p.num_features,
                got: t.ncols(),
            });
        }
    }
    let max_keep = cfg.levels as usize - 1;
    let mut encoders = Vec::with_capacity(p.num_features);
    // Per feature: original unique thresholds and where each went.
    let mut tables: Vec<(Vec<f32>, Vec<usize>)> = Vec::with_capacity(p.num_features);
    let mut merged_features = Vec::new();
    let mut max_codes_needed = 1;
    for f in 0..p.num_features {
        let unique = feature_bounds(p, f);
        max_codes_needed = max_codes_needed.max(unique.len() + 1);
        let column: Option<Vec<f32>> = train.as_ref().map(|t| t.column(f).to_vec());
        let red = reduce_thresholds(&unique, max_keep, column.as_deref());
        if red.kept.len() < unique.len() {
            merged_features.push(MergedFeature {
                feature: f,
                unique_before: unique.len(),
                unique_after: red.kept.len(),
            });
        }
        encoders.push(FeatureEncoder { thresholds: red.kept });
        tables.push((unique, red.map));
    }
    let code_of = |f: usize, v: f32| -> u16 {
        let (unique, map) = &tables[f];
        // Every bound is in its feature's table by construction.
        let k = unique.partition_point(|t| *t < v);
        map[k] as u16 + 1
    };
    let leaves: Vec<f64> = p
        .rows
        .iter()
        .map(|r| match p.aggregation {
            Aggregation::Sum => r.leaf,
            Aggregation::Mean => r.leaf / p.trees_per_output[r.output].max(1) as f64,
        })
        .collect();
    let fixed = choose_fixed_point(&leaves, p, cfg.leaf_bits)?;
    let scale = 2f64.powi(fixed.frac_bits);
    let rows: Vec<QRow> = p
        .rows
        .iter()
        .zip(&leaves)
        .map(|(r, leaf)| QRow {
            cells: r
                .cells
                .iter()
                .enumerate()
                .map(|(f, c)| QCell {
                    lo: c.lo.map(|v| code_of(f, v)),
                    hi: c.hi.map(|v| code_of(f, v)),
                    nan_match: c.nan_match,
                })
                .collect(),
            leaf_q: (leaf * scale).round() as i64,
            output: r.output,
            tree: r.tree,
        })
        .collect();
    let base_q = p.base_margin.iter().map(|b| (b * scale).round() as i64).collect();
    let max_n = p.trees_per_output.iter().copied().max().unwrap_or(0);
    let mut q = QuantizedCam {
        num_features: p.num_features,
        num_outputs: p.num_outputs,
        num_trees: p.num_trees,
        levels: cfg.levels,
        encoders,
        rows,
        base_q,
        fixed,
        trees_per_output: p.trees_per_output.clone(),
        report: QuantReport {
            lossless: merged_features.is_empty(),
            levels: cfg.levels,
            max_codes_needed,
            merged_features,
            frac_bits: fixed.frac_bits,
            leaf_bits: fixed.leaf_bits,
            acc_bits: fixed.acc_bits,
            fixed_point_error_bound: fixed.error_bound(max_n),
            train_samples: 0,
            fraction_leaf_changed: None,
            fraction_margin_changed: None,
            max_margin_change: None,
        },
    };
    if let Some(t) = train {
        measure_loss(p, &mut q, &leaves, t)?;
    }
    Ok(q)
}

/// Sorted unique non-NaN bounds of feature `f` over all rows (`-0.0` and `0.0` are one value,
/// as every comparison treats them).
fn feature_bounds(p: &PackedCam, f: usize) -> Vec<f32> {
    let mut v: Vec<f32> =
        p.rows.iter().flat_map(|r| [r.cells[f].lo, r.cells[f].hi]).flatten().collect();
    v.sort_by(|a, b| a.total_cmp(b));
    v.dedup_by(|a, b| a == b);
    v
}

/// Picks the fractional-bit count and accumulator width.
///
/// `frac` is the largest value for which every (pre-divided) leaf rounds into
/// `[-(2^(B-1)-1), 2^(B-1)-1]`, further lowered if needed so the accumulator fits 63 bits.
///
/// Accumulator width, and why it cannot overflow: for output `k` let
/// `M_k = |base_q_k| + Σ_{trees t of k} max_{rows r of t} |leaf_q_r|`. Exactly one row per tree
/// matches (the packing invariant, kept by quantization because merging rewrites a threshold the
/// same way in every cell, i.e. it rewrites the tree's split), and the accumulator of output `k`
/// only ever holds `base_q_k` plus the leaves of matching rows of some subset of `k`'s trees, in
/// whatever order the row tiles deliver them. By the triangle inequality every such partial sum
/// has magnitude `<= M_k <= M = max_k M_k`. With `acc_bits = ceil(log2(M + 1)) + 1` we have
/// `M <= 2^(acc_bits-1) - 1`, the largest value of a signed `acc_bits`-bit integer, so no partial
/// sum overflows.
pub fn choose_fixed_point(
    leaves: &[f64],
    p: &PackedCam,
    leaf_bits: u32,
) -> Result<FixedPoint, CamError> {
    let limit = (1i64 << (leaf_bits - 1)) - 1;
    let max_abs = leaves.iter().fold(0.0f64, |m, v| m.max(v.abs()));
    let fits = |f: i32| (max_abs * 2f64.powi(f)).round() <= limit as f64;
    let mut frac: i32 = if max_abs == 0.0 {
        leaf_bits as i32 - 1
    } else {
        ((limit as f64 / max_abs).log2().floor() as i32).clamp(-1000, 1000)
    };
    while frac > -1000 && !fits(frac) {
        frac -= 1;
    }
    while frac < 1000 && fits(frac + 1) && max_abs != 0.0 {
        frac += 1;
    }
    loop {
        let m = acc_magnitude(leaves, p, frac);
        if m < (1u64 << 62) as f64 {
            let m = m as u64;
            let acc_bits = (64 - m.leading_zeros()) + 1;
            return Ok(FixedPoint { frac_bits: frac, leaf_bits, acc_bits });
        }
        if frac <= -1000 {
            return Err(CamError::AccumulatorTooWide { bits: 64 });
        }
        frac -= 1;
    }
}

/// `M` of [`choose_fixed_point`] at a given `frac`, in floating point (exact below 2^53).
fn acc_magnitude(leaves: &[f64], p: &PackedCam, frac: i32) -> f64 {
    let scale = 2f64.powi(frac);
    let mut per_tree = vec![0.0f64; p.num_trees];
    for (r, v) in p.rows.iter().zip(leaves) {
        per_tree[r.tree] = per_tree[r.tree].max((v * scale).round().abs());
    }
    let mut m = vec![0.0f64; p.num_outputs];
    for (k, b) in p.base_margin.iter().enumerate() {
        m[k] = (b * scale).round().abs();
    }
    // Add each tree's maximum once, to the output the tree feeds.
    let mut seen = vec![false; p.num_trees];
    for r in &p.rows {
        if !seen[r.tree] {
            seen[r.tree] = true;
            m[r.output] += per_tree[r.tree];
        }
    }
    m.into_iter().fold(0.0, f64::max)
}

/// Measures what threshold merging changed on the training set (float leaves, so the figures
/// isolate merging from fixed-point rounding, which is bounded separately).
fn measure_loss(
    p: &PackedCam,
    q: &mut QuantizedCam,
    leaves: &[f64],
    train: ArrayView2<f32>,
) -> Result<(), CamError> {
    let n = train.nrows();
    q.report.train_samples = n;
    if q.report.lossless || n == 0 {
        q.report.fraction_leaf_changed = Some(0.0);
        q.report.fraction_margin_changed = Some(0.0);
        q.report.max_margin_change = Some(0.0);
        return Ok(());
    }
    let (mut leaf_changed, mut margin_changed, mut max_change) = (0usize, 0usize, 0.0f64);
    for s in train.rows() {
        let x: Vec<f32> = s.to_vec();
        let reference = p.matching_rows(&x);
        let e = q.encode(&x)?;
        let hw = q.matching_rows(&e);
        if reference != hw {
            leaf_changed += 1;
        }
        let sum = |rows: &[usize]| {
            let mut m = vec![0.0f64; p.num_outputs];
            for &r in rows {
                m[p.rows[r].output] += leaves[r];
            }
            m
        };
        let (a, b) = (sum(&reference), sum(&hw));
        let d = a.iter().zip(&b).map(|(u, v)| (u - v).abs()).fold(0.0, f64::max);
        if d > 0.0 {
            margin_changed += 1;
        }
        max_change = max_change.max(d);
    }
    q.report.fraction_leaf_changed = Some(leaf_changed as f64 / n as f64);
    q.report.fraction_margin_changed = Some(margin_changed as f64 / n as f64);
    q.report.max_margin_change = Some(max_change);
    Ok(())
}
