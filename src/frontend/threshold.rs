//! Float64 thresholds on float32 inputs.
//!
//! LightGBM and scikit-learn keep thresholds as float64 but are fed float32 features, which they
//! widen to float64 before comparing. The hardware (and `TreeEnsemble`) compares float32 with
//! float32, so each float64 threshold `t` is replaced by a float32 that makes the same decision
//! for every float32 input:
//!
//! - `x <= t`  ⟺  `x <= down(t)`, with `down(t)` the largest float32 not above `t`:
//!   if `x <= t` then `x` is a float32 not above `t`, so `x <= down(t)`; conversely
//!   `x <= down(t) <= t`.
//! - `x < t`   ⟺  `x < up(t)`, with `up(t)` the smallest float32 not below `t`:
//!   if `x < t <= up(t)` then `x < up(t)`; conversely if `x < up(t)` and `x >= t`, `x` would be a
//!   float32 in `[t, up(t))`, contradicting the minimality of `up(t)`.
//!
//! Both hold for infinite `x` too; `down`/`up` may return ±infinity for thresholds beyond the
//! float32 range, which keeps the equivalence (e.g. `x <= -inf` only for `x = -inf`).

/// Largest float32 `<= t` (`t` must not be NaN).
pub fn f32_at_or_below(t: f64) -> f32 {
    let c = t as f32; // round to nearest
    if (c as f64) > t {
        next_down(c)
    } else {
        c
    }
}

/// Smallest float32 `>= t` (`t` must not be NaN).
pub fn f32_at_or_above(t: f64) -> f32 {
    let c = t as f32;
    if (c as f64) < t {
        next_up(c)
    } else {
        c
    }
}

/// The next float32 towards -infinity (`f32::next_down` needs Rust 1.86; our MSRV is 1.85).
pub fn next_down(x: f32) -> f32 {
    -next_up(-x)
}

/// The next float32 towards +infinity.
pub fn next_up(x: f32) -> f32 {
    if x.is_nan() || x == f32::INFINITY {
        return x;
    }
    if x == 0.0 {
        return f32::from_bits(1); // smallest positive subnormal, from +0 and -0 alike
    }
    let b = x.to_bits();
    if x > 0.0 {
        f32::from_bits(b + 1)
    } else {
        f32::from_bits(b - 1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn exact_float32_thresholds_are_kept() {
        for t in [0.0f32, 1.5, -3.25, f32::MAX, f32::MIN_POSITIVE, 1e-45] {
            assert_eq!(f32_at_or_below(t as f64), t);
            assert_eq!(f32_at_or_above(t as f64), t);
        }
    }

    #[test]
    fn between_two_float32s() {
        // 0.1 as float64 lies between two float32s; f32(0.1) rounds up (0.100000001490116...).
        let t = 0.1f64;
        let lo = f32_at_or_below(t);
        let hi = f32_at_or_above(t);
        assert!((lo as f64) < t && t < (hi as f64));
        assert_eq!(next_up(lo), hi);
        assert_eq!(hi, 0.1f32);
    }

    #[test]
    fn beyond_float32_range() {
        assert_eq!(f32_at_or_below(1e300), f32::MAX);
        assert_eq!(f32_at_or_above(1e300), f32::INFINITY);
        assert_eq!(f32_at_or_below(-1e300), f32::NEG_INFINITY);
        assert_eq!(f32_at_or_above(-1e300), f32::MIN);
    }

    #[test]
    fn next_up_and_down_cross_zero() {
        assert_eq!(next_up(-f32::from_bits(1)), -0.0);
        assert_eq!(next_down(0.0), -f32::from_bits(1));
        assert_eq!(next_up(f32::MAX), f32::INFINITY);
        assert_eq!(next_down(f32::MIN), f32::NEG_INFINITY);
    }

    /// Float32 values near a float64 threshold, where the equivalence could break.
    fn neighbours(t: f64) -> Vec<f32> {
        let c = t as f32;
        let mut v = vec![c, next_up(c), next_down(c), next_up(next_up(c)), next_down(next_down(c))];
        v.extend([0.0, -0.0, f32::INFINITY, f32::NEG_INFINITY]);
        v
    }

    proptest! {
        /// The documented equivalence, checked against the float64 comparison the frameworks
        /// perform, on the float32s right around arbitrary float64 thresholds.
        #[test]
        fn same_decision_as_float64_compare(bits in any::<u64>(), x_bits in any::<u32>()) {
            let t = f64::from_bits(bits);
            prop_assume!(!t.is_nan());
            let le = f32_at_or_below(t);
            let lt = f32_at_or_above(t);
            let mut xs = neighbours(t);
            let x = f32::from_bits(x_bits);
            if !x.is_nan() {
                xs.push(x);
            }
            for x in xs {
                prop_assert_eq!((x as f64) <= t, x <= le, "x={} t={} le={}", x, t, le);
                prop_assert_eq!((x as f64) < t, x < lt, "x={} t={} lt={}", x, t, lt);
            }
        }

        /// The same in the range real thresholds live in, including midpoints of two float32s
        /// (what scikit-learn computes) and float32 values themselves.
        #[test]
        fn same_decision_for_typical_thresholds(a in -1e4f32..1e4, kind in 0u8..3) {
            let t = match kind {
                0 => (a as f64 + next_up(a) as f64) / 2.0,
                1 => a as f64,
                _ => a as f64 * (1.0 + 1e-12),
            };
            let le = f32_at_or_below(t);
            let lt = f32_at_or_above(t);
            for x in neighbours(t) {
                prop_assert_eq!((x as f64) <= t, x <= le, "x={} t={} le={}", x, t, le);
                prop_assert_eq!((x as f64) < t, x < lt, "x={} t={} lt={}", x, t, lt);
            }
        }
    }
}
