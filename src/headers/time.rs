//! The time formats rate-limit headers use, each parsed to milliseconds.
//!
//! - RFC 3339 timestamps (`2026-05-18T22:01:00Z`, `...00.5+02:00`): Anthropic
//!   resets and the ISO variant of the `x-ratelimit-reset-*` names.
//! - Go durations as `time.Duration.String()` prints them (`1h2m3.5s`, `20ms`,
//!   `1.5ms`, `500µs`, `0s`): OpenAI resets.
//! - IMF-fixdate (RFC 9110 §5.6.7, `Sun, 06 Nov 1994 08:49:37 GMT`): the
//!   `Date` header and `Retry-After` as an HTTP-date.
//!
//! All return `None` on anything they do not fully understand.

/// Days from 1970-01-01 to the given civil date (proleptic Gregorian).
/// Howard Hinnant's `days_from_civil`, exact for every year we accept.
fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let m = i64::from(month);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(day) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn days_in_month(year: i64, month: u32) -> u32 {
    match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        _ if (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 => 29,
        _ => 28,
    }
}

/// Epoch milliseconds of a UTC civil time, or None when a field is out of range.
fn civil_to_ms(year: i64, month: u32, day: u32, hour: u32, minute: u32, second: u32) -> Option<f64> {
    let valid = (1970..=9999).contains(&year)
        && (1..=12).contains(&month)
        && day >= 1
        && day <= days_in_month(year, month)
        && hour <= 23
        && minute <= 59
        && second <= 60; // a leap second is read as the next second
    if !valid {
        return None;
    }
    let days = days_from_civil(year, month, day);
    let seconds = days * 86_400 + i64::from(hour) * 3600 + i64::from(minute) * 60 + i64::from(second);
    Some(seconds as f64 * 1000.0)
}

fn digits(s: &str) -> Option<u32> {
    (!s.is_empty() && s.len() <= 9 && s.bytes().all(|b| b.is_ascii_digit())).then(|| s.parse().ok())?
}

/// True when `value` starts like an RFC 3339 date (`YYYY-`), which a Go
/// duration or a number of seconds never does.
pub fn looks_like_rfc3339(value: &str) -> bool {
    let b = value.trim().as_bytes();
    b.len() >= 5 && b[..4].iter().all(u8::is_ascii_digit) && b[4] == b'-'
}

/// RFC 3339 `date-time` (§5.6): `YYYY-MM-DDTHH:MM:SS[.frac](Z|±HH:MM)`.
/// `t`/`z` in lower case and a space instead of `T` are accepted (§5.6 NOTE).
pub fn parse_rfc3339(value: &str) -> Option<f64> {
    let s = value.trim();
    if !s.is_ascii() || s.len() < 20 {
        return None;
    }
    let (date, rest) = s.split_at(10);
    let sep = rest.as_bytes()[0];
    if !matches!(sep, b'T' | b't' | b' ') {
        return None;
    }
    let rest = &rest[1..];
    let mut date_parts = date.split('-');
    let year = digits(date_parts.next()?)?;
    let month = digits(date_parts.next()?)?;
    let day = digits(date_parts.next()?)?;
    if date_parts.next().is_some() || date.as_bytes()[4] != b'-' || date.as_bytes()[7] != b'-' {
        return None;
    }
    if rest.len() < 9 || rest.as_bytes()[2] != b':' || rest.as_bytes()[5] != b':' {
        return None;
    }
    let hour = digits(&rest[0..2])?;
    let minute = digits(&rest[3..5])?;
    let second = digits(&rest[6..8])?;
    let mut tail = &rest[8..];
    let mut fraction_ms = 0.0;
    if let Some(after_dot) = tail.strip_prefix('.') {
        let end = after_dot.bytes().position(|b| !b.is_ascii_digit()).unwrap_or(after_dot.len());
        if end == 0 {
            return None;
        }
        let frac = &after_dot[..end];
        fraction_ms = crate::float::parse_decimal(&["0.", frac].concat())? * 1000.0;
        tail = &after_dot[end..];
    }
    let offset_ms = match tail {
        "Z" | "z" => 0.0,
        _ => {
            let b = tail.as_bytes();
            if b.len() != 6 || !matches!(b[0], b'+' | b'-') || b[3] != b':' {
                return None;
            }
            let hours = digits(&tail[1..3])?;
            let minutes = digits(&tail[4..6])?;
            if hours > 23 || minutes > 59 {
                return None;
            }
            let ms = f64::from(hours * 60 + minutes) * 60_000.0;
            if b[0] == b'+' {
                ms
            } else {
                -ms
            }
        }
    };
    let base = civil_to_ms(i64::from(year), month, day, hour, minute, second)?;
    Some(base + fraction_ms - offset_ms)
}

/// A Go `time.Duration` string: an optional sign is refused (a reset is never
/// negative), then one or more `<decimal><unit>` with units `h`, `m`, `s`,
/// `ms`, `us`, `µs` (U+00B5) or `μs` (U+03BC), `ns`. Returns milliseconds.
pub fn parse_go_duration(value: &str) -> Option<f64> {
    let s = value.trim();
    if s == "0" {
        return Some(0.0);
    }
    if s.is_empty() {
        return None;
    }
    let mut rest = s;
    let mut total_ms = 0.0;
    while !rest.is_empty() {
        let number_end = rest.find(|c: char| !(c.is_ascii_digit() || c == '.'))?;
        if number_end == 0 {
            return None;
        }
        let number = crate::float::parse_decimal(&rest[..number_end])?;
        rest = &rest[number_end..];
        let unit_end = rest.find(|c: char| c.is_ascii_digit() || c == '.').unwrap_or(rest.len());
        let unit_ms = match &rest[..unit_end] {
            "h" => 3_600_000.0,
            "m" => 60_000.0,
            "s" => 1_000.0,
            "ms" => 1.0,
            "us" | "µs" | "μs" => 0.001,
            "ns" => 0.000_001,
            _ => return None,
        };
        rest = &rest[unit_end..];
        total_ms += number * unit_ms;
    }
    total_ms.is_finite().then_some(total_ms)
}

const MONTHS: [&str; 12] = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
const WEEKDAYS: [&str; 7] = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"];

/// IMF-fixdate (RFC 9110 §5.6.7): `Sun, 06 Nov 1994 08:49:37 GMT`.
/// The obsolete RFC 850 and asctime forms are not sent by any API we read.
pub fn parse_http_date(value: &str) -> Option<f64> {
    let s = value.trim();
    // A comma, then a space: searched as a character, not as a string (the
    // standard library's substring search weighs 2.6 KB in the `.wasm`).
    let (weekday, rest) = s.split_once(',')?;
    let rest = rest.strip_prefix(' ')?;
    if !WEEKDAYS.contains(&weekday) {
        return None;
    }
    let mut fields = rest.split(' ');
    let day = digits(fields.next().filter(|d| d.len() == 2)?)?;
    let month_name = fields.next()?;
    let month = MONTHS.iter().position(|m| *m == month_name)? as u32 + 1;
    let year = digits(fields.next().filter(|y| y.len() == 4)?)?;
    let clock = fields.next()?;
    if fields.next()? != "GMT" || fields.next().is_some() || clock.len() != 8 {
        return None;
    }
    let mut hms = clock.split(':');
    let hour = digits(hms.next()?)?;
    let minute = digits(hms.next()?)?;
    let second = digits(hms.next()?)?;
    civil_to_ms(i64::from(year), month, day, hour, minute, second)
}
