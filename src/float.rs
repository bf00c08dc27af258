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

/// A decimal number as `str::parse::<f64>` reads it, without its tables:
/// an optional sign, digits with at most one `.` (at least one digit in
/// all), and an optional exponent (`e` or `E`, a sign, digits). No `inf`,
/// `nan` or other words: headers and JSON never carry them here.
///
/// The standard parser rounds correctly in every case, with some 15 KB of
/// code and power tables in the `.wasm`. This one is exact (the same `f64`)
/// whenever the significant digits fit in 19 and the number is a whole
/// number up to 2^53 or has at most 15 significant digits and an exponent
/// within ±22: every count, delay and time any API sends. Beyond, it is
/// within a few units in the last place.
pub fn parse_decimal(s: &str) -> Option<f64> {
    let bytes = s.as_bytes();
    let mut at = 0;
    let negative = match bytes.first() {
        Some(b'-') => {
            at = 1;
            true
        }
        Some(b'+') => {
            at = 1;
            false
        }
        _ => false,
    };
    // Up to 19 significant digits in `mantissa`; the rest only move the
    // exponent (or, after the point, are dropped).
    let mut mantissa: u64 = 0;
    let mut kept = 0u32;
    let mut exponent: i64 = 0;
    let mut digits = 0usize;
    let mut seen_point = false;
    while let Some(&b) = bytes.get(at) {
        match b {
            b'0'..=b'9' => {
                digits += 1;
                if kept < 19 {
                    if mantissa != 0 || b != b'0' {
                        kept += 1;
                    }
                    mantissa = mantissa * 10 + u64::from(b - b'0');
                    if seen_point {
                        exponent -= 1;
                    }
                } else if !seen_point {
                    exponent += 1;
                }
            }
            b'.' if !seen_point => seen_point = true,
            _ => break,
        }
        at += 1;
    }
    if digits == 0 {
        return None;
    }
    if let Some(b'e' | b'E') = bytes.get(at) {
        at += 1;
        let sign = match bytes.get(at) {
            Some(b'-') => {
                at += 1;
                -1
            }
            Some(b'+') => {
                at += 1;
                1
            }
            _ => 1,
        };
        let start = at;
        let mut value: i64 = 0;
        while let Some(&b @ b'0'..=b'9') = bytes.get(at) {
            value = (value * 10 + i64::from(b - b'0')).min(1_000_000);
            at += 1;
        }
        if at == start {
            return None;
        }
        exponent += sign * value;
    }
    if at != bytes.len() {
        return None;
    }
    let magnitude = scale(mantissa, exponent);
    Some(if negative { -magnitude } else { magnitude })
}

/// `mantissa` × 10^`exponent`. Exact in one rounding when both the mantissa
/// and the power of ten are exact in an `f64` (Clinger's fast path).
fn scale(mantissa: u64, exponent: i64) -> f64 {
    const EXACT: [f64; 23] =
        [1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22];
    if mantissa == 0 {
        return 0.0;
    }
    let mut value = mantissa as f64;
    if mantissa <= 1 << 53 && (-22..=22).contains(&exponent) {
        let power = EXACT[exponent.unsigned_abs() as usize];
        return if exponent < 0 { value / power } else { value * power };
    }
    // Far from every count an API sends: steps of at most 10^22, each
    // rounding once. Below 10^-300 the last steps keep a subnormal from
    // flushing to zero before its mantissa is divided in.
    let mut left = exponent;
    while left != 0 && value != 0.0 && value.is_finite() {
        let step = left.clamp(-22, 22);
        let power = EXACT[step.unsigned_abs() as usize];
        value = if step < 0 { value / power } else { value * power };
        left -= step;
    }
    value
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

#[cfg(test)]
mod parse_tests {
    use super::parse_decimal;

    /// The standard parser on the same text, for the grammar both accept.
    #[allow(clippy::disallowed_methods)]
    fn std(s: &str) -> Option<f64> {
        s.parse().ok()
    }

    #[test]
    fn reads_what_the_standard_parser_reads_to_the_same_f64_for_counts_delays_and_times() {
        let cases = [
            "0",
            "00",
            "1",
            "-1",
            "+1",
            "5.",
            ".5",
            "0.5",
            "59.999",
            "1000",
            "30000",
            "9007199254740992",
            "9007199254740993",
            "123456789012345",
            "0.000123",
            "1e3",
            "1E3",
            "1e+3",
            "1e-3",
            "2.5e-7",
            "-0",
            "-0.0",
            "4.2e22",
            "18446744073709551615",
            "99999999999999999999",
            "0.1",
            "0.2",
            "0.3",
            "1.15",
            "3600.5",
            "0.001",
            "1e300",
        ];
        for case in cases {
            let ours = parse_decimal(case).unwrap_or_else(|| panic!("{case} not read"));
            let theirs = std(case).unwrap();
            let exact = !matches!(case, "18446744073709551615" | "99999999999999999999" | "1e300");
            if exact {
                assert_eq!(ours.to_bits(), theirs.to_bits(), "{case}: {ours} against {theirs}");
            } else {
                assert!(((ours - theirs) / theirs).abs() < 1e-15, "{case}: {ours} against {theirs}");
            }
        }
    }

    #[test]
    fn refuses_what_is_not_a_decimal_number() {
        for case in ["", "-", "+", ".", "..", "1.2.3", "1e", "1e+", "e5", "1 ", " 1", "0x10", "inf", "NaN", "1,5", "--1", "1_000", "١"] {
            assert_eq!(parse_decimal(case), None, "{case:?}");
            assert!(std(case).is_none() || matches!(case, "inf" | "NaN"), "{case:?}");
        }
    }

    #[test]
    fn matches_the_standard_parser_on_random_decimals() {
        // A small linear congruential generator: the same cases every run.
        let mut state: u64 = 0x9E37_79B9_7F4A_7C15;
        let mut next = move || {
            state = state.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
            state >> 33
        };
        for _ in 0..200_000 {
            let whole = next() % 10u64.pow((next() % 16) as u32 + 1);
            let places = (next() % 7) as usize;
            let fraction = next() % 10u64.pow(places as u32);
            let text = if places == 0 { whole.to_string() } else { format!("{whole}.{fraction:0places$}") };
            let ours = parse_decimal(&text).unwrap();
            let theirs = std(&text).unwrap();
            let significant = text.replace('.', "").trim_start_matches('0').len();
            if significant <= 15 {
                assert_eq!(ours.to_bits(), theirs.to_bits(), "{text}");
            } else {
                assert!(((ours - theirs) / theirs).abs() <= 2.0 * f64::EPSILON, "{text}: {ours} against {theirs}");
            }
            let exponent = (next() % 60) as i64 - 30;
            let scientific = format!("{text}e{exponent}");
            let ours = parse_decimal(&scientific).unwrap();
            let theirs = std(&scientific).unwrap();
            assert!(theirs == 0.0 && ours == 0.0 || ((ours - theirs) / theirs).abs() <= 4.0 * f64::EPSILON, "{scientific}: {ours} against {theirs}");
        }
    }
}
