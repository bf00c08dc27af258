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
/// code and power tables in the `.wasm`. This one gives the same `f64`
/// whenever the number's significant digits, as a whole number, are at most
/// 2^53 and the power of ten that scales them is within ±22 (`1500`,
/// `0.25`, `59.999`, `1.5e3`: every count, delay and time an API sends).
/// Beyond, it is within a few units in the last place, and a number within
/// a few of them of `f64::MAX` may read as infinity.
pub fn parse_decimal(s: &str) -> Option<f64> {
    let bytes = s.as_bytes();
    let (negative, rest) = match bytes.first() {
        Some(b'-') => (true, &bytes[1..]),
        Some(b'+') => (false, &bytes[1..]),
        _ => (false, bytes),
    };
    let digits_of = |from: &[u8]| from.iter().take_while(|b| b.is_ascii_digit()).count();
    let whole = &rest[..digits_of(rest)];
    let mut at = whole.len();
    let fraction = match rest.get(at) {
        Some(b'.') => {
            let fraction = &rest[at + 1..at + 1 + digits_of(&rest[at + 1..])];
            at += 1 + fraction.len();
            fraction
        }
        _ => &[][..],
    };
    if whole.is_empty() && fraction.is_empty() {
        return None;
    }
    let mut exponent: i64 = 0;
    if let Some(b'e' | b'E') = rest.get(at) {
        at += 1;
        let negative_exponent = rest.get(at) == Some(&b'-');
        at += usize::from(matches!(rest.get(at), Some(b'-' | b'+')));
        let written = &rest[at..at + digits_of(&rest[at..])];
        if written.is_empty() {
            return None;
        }
        at += written.len();
        // Capped: beyond a million, every value is 0 or infinite anyway.
        let value = written.iter().fold(0i64, |n, d| (n * 10 + i64::from(d - b'0')).min(1_000_000));
        exponent = if negative_exponent { -value } else { value };
    }
    if at != rest.len() {
        return None;
    }
    // The significant digits: without leading zeros, and without trailing
    // ones (each moves the exponent instead); at most 19 of them are read.
    let all = || whole.iter().chain(fraction);
    let leading = all().take_while(|d| **d == b'0').count();
    let trailing = all().rev().take_while(|d| **d == b'0').count();
    let total = whole.len() + fraction.len();
    let significant = total.saturating_sub(leading + trailing);
    exponent += trailing as i64 - fraction.len() as i64;
    let kept = significant.min(19);
    exponent += (significant - kept) as i64;
    let mantissa = all().skip(leading).take(kept).fold(0u64, |n, d| n * 10 + u64::from(d - b'0'));
    let magnitude = scale(mantissa, exponent);
    Some(if negative { -magnitude } else { magnitude })
}

/// `mantissa` × 10^`exponent`, in steps of at most 10^22 (each power exact
/// in an `f64`), each rounding once, until the value is reached, infinite
/// or zero. A mantissa up to 2^53 with an exponent within ±22 takes one
/// step from an exact `f64`: one rounding, the correct one (Clinger's fast
/// path).
fn scale(mantissa: u64, exponent: i64) -> f64 {
    const EXACT: [f64; 23] =
        [1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22];
    let mut value = mantissa as f64;
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
    fn std(s: &str) -> Option<f64> {
        s.parse().ok()
    }

    /// Whether the doc promises the same `f64` as the standard parser: the
    /// significant digits, as a whole number, at most 2^53, scaled by a
    /// power of ten within ±22.
    fn promised_exact(text: &str) -> bool {
        let (number, written) = match text.split_once(['e', 'E']) {
            Some((number, written)) => (number, written.parse::<i64>().unwrap()),
            None => (text, 0),
        };
        let number = number.trim_start_matches(['-', '+']);
        let fraction = number.split_once('.').map_or(0, |(_, f)| f.len()) as i64;
        let digits: String = number.chars().filter(char::is_ascii_digit).collect();
        let digits = digits.trim_start_matches('0');
        let significant = digits.trim_end_matches('0');
        let exponent = written - fraction + (digits.len() - significant.len()) as i64;
        significant.is_empty() || (significant.len() <= 16 && significant.parse::<u64>().unwrap() <= 1 << 53 && exponent.abs() <= 22)
    }

    fn check(text: &str) {
        let ours = parse_decimal(text).unwrap_or_else(|| panic!("{text} not read"));
        let theirs = std(text).unwrap();
        if promised_exact(text) {
            assert_eq!(ours.to_bits(), theirs.to_bits(), "{text}: {ours} against {theirs}");
        } else {
            assert!(theirs == 0.0 && ours == 0.0 || ((ours - theirs) / theirs).abs() <= 4.0 * f64::EPSILON, "{text}: {ours} against {theirs}");
        }
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
            "123456789012345.000",
            "9007199254740991.0",
            "1200.0",
            "0.000",
            "4.10651797012541e-10",
            "1e-23",
            "1.5e3",
            "2026.1200",
            "0.10000000000000000000000001",
        ];
        for case in cases {
            check(case);
        }
        assert!(promised_exact("123456789012345.000") && promised_exact("9007199254740991.0") && !promised_exact("1e-23"));
        assert_eq!(parse_decimal("-0.0").map(f64::to_bits), Some((-0.0f64).to_bits()));
    }

    #[test]
    fn refuses_what_is_not_a_decimal_number() {
        for case in ["", "-", "+", ".", "..", "1.2.3", "1e", "1e+", "e5", "1 ", " 1", "0x10", "inf", "NaN", "1,5", "--1", "1_000", "١", "1e5.5"] {
            assert_eq!(parse_decimal(case), None, "{case:?}");
            assert!(std(case).is_none() || matches!(case, "inf" | "NaN"), "{case:?}");
        }
    }

    #[test]
    fn matches_the_standard_parser_on_random_decimals() {
        // A small xorshift generator: the same cases every run.
        let mut state: u64 = 0x9E37_79B9_7F4A_7C15;
        let mut next = move |n: u64| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state % n
        };
        for _ in 0..200_000 {
            // Up to 22 digits before the point, up to 8 after, and often a
            // run of zeros at either end.
            let whole: String = (0..next(23)).map(|_| char::from(b'0' + next(10) as u8)).collect();
            let whole = if next(4) == 0 { format!("{whole}{}", "0".repeat(next(6) as usize)) } else { whole };
            let fraction: String = (0..next(9)).map(|_| char::from(b'0' + next(10) as u8)).collect();
            let fraction =
                if next(3) == 0 { format!("{}{fraction}{}", "0".repeat(next(4) as usize), "0".repeat(next(6) as usize)) } else { fraction };
            let text = match (whole.is_empty(), fraction.is_empty()) {
                (true, true) => continue,
                (_, true) => whole,
                _ => format!("{whole}.{fraction}"),
            };
            check(&text);
            check(&format!("{text}e{}", next(61) as i64 - 30));
        }
    }
}
