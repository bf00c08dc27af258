//! `retry-after-ms`, `Retry-After` and `x-should-retry`.
//!
//! - `retry-after-ms`: milliseconds, sent by the Anthropic and OpenAI APIs and
//!   read first by their SDKs; it takes precedence over `Retry-After`.
//! - `Retry-After` (RFC 9110 §10.2.3): delay-seconds or an HTTP-date. A date
//!   is measured against the server's own `Date` header when present, so a
//!   skewed server clock does not distort the delay.
//! - `x-should-retry: true|false`: the server's explicit verdict, honoured by
//!   the official SDKs before any status-code rule.

use super::{time, Clock, HeaderMap, Observation, MAX_RESET_MS};
use crate::float::clamp;

pub(super) fn read(map: &HeaderMap, clock: &Clock, out: &mut Observation) {
    let from_ms = map.get("retry-after-ms").and_then(|v| parse_delay(&v, 1.0));
    let from_header = || {
        let value = map.get("retry-after")?;
        parse_delay(&value, 1000.0).or_else(|| {
            let at = clock.to_local(time::parse_http_date(&value)?);
            Some(clamp(at - clock.now_ms, 0.0, MAX_RESET_MS))
        })
    };
    out.retry_after_ms = from_ms.or_else(from_header);
    out.should_retry = match map.get("x-should-retry").as_deref() {
        Some(v) if v.eq_ignore_ascii_case("true") => Some(true),
        Some(v) if v.eq_ignore_ascii_case("false") => Some(false),
        _ => None,
    };
}

/// A non-negative decimal delay times `unit` milliseconds; longer than
/// [`MAX_RESET_MS`] is not believed.
fn parse_delay(value: &str, unit: f64) -> Option<f64> {
    let value = value.trim();
    if value.is_empty() || !value.bytes().all(|b| b.is_ascii_digit() || b == b'.') {
        return None;
    }
    let ms = crate::float::parse_decimal(value)? * unit;
    (ms.is_finite() && ms <= MAX_RESET_MS).then_some(ms)
}
