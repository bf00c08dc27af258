//! `f64` helpers that keep the `.wasm` small.

/// `x` held within `lo..=hi`, as `f64::clamp` does (a NaN `x` stays NaN),
/// without its check that `lo <= hi`: that check formats both bounds on
/// failure, which alone brings the whole of float formatting (some 25 KB)
/// into the `.wasm`. With `lo > hi` it does not panic: `x` above `hi`
/// gives `hi`, and below `lo`, `lo`.
#[inline]
pub fn clamp(x: f64, lo: f64, hi: f64) -> f64 {
    if x > hi {
        hi
    } else if x < lo {
        lo
    } else {
        x
    }
}

#[cfg(test)]
mod tests {
    use super::clamp;

    #[test]
    #[allow(clippy::disallowed_methods)]
    fn matches_the_standard_clamp_where_its_bounds_are_ordered() {
        let values = [f64::NEG_INFINITY, -2.5, -1.0, -0.0, 0.0, 0.5, 1.0, 7.0, f64::INFINITY];
        for &lo in &values {
            for &hi in values.iter().filter(|hi| **hi >= lo) {
                for &x in &values {
                    assert_eq!(clamp(x, lo, hi).to_bits(), x.clamp(lo, hi).to_bits(), "{x} in {lo}..={hi}");
                }
                assert!(clamp(f64::NAN, lo, hi).is_nan());
            }
        }
        assert_eq!(clamp(5.0, 3.0, 1.0), 1.0);
    }
}
