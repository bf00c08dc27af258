//! OpenAI: `x-ratelimit-{limit,remaining,reset}-{requests,tokens}`.
//!
//! Source: OpenAI platform docs, "Rate limits" → "Rate limits in headers".
//! The reset is "the time until the rate limit resets to its initial state",
//! written as a Go duration (`1s`, `6m0s`, `20ms`). Some servers send the same
//! names with an RFC 3339 timestamp instead; the value tells the forms apart
//! (a timestamp starts with a four-digit year and a `-`, a duration never
//! does). Refill is continuous, as for a token bucket.

use super::{parse_count, sane_reset, time, Clock, Dimension, HeaderMap, Reading, Refill, Source};

const FAMILIES: [&str; 2] = ["requests", "tokens"];

pub(super) fn read(map: &HeaderMap, clock: &Clock, out: &mut Vec<Dimension>) {
    for name in FAMILIES {
        let limit = map.get_parts("x-ratelimit-limit-", name).and_then(|v| parse_count(&v));
        let remaining = map.get_parts("x-ratelimit-remaining-", name).and_then(|v| parse_count(&v));
        let reset_at_ms = map.get_parts("x-ratelimit-reset-", name).and_then(|v| reset_to_local(&v, clock));
        let reading = Reading { limit, remaining, reset_at_ms, window_ms: None };
        out.extend(reading.into_dimension(name, Refill::Continuous, Source::OpenAi));
    }
}

fn reset_to_local(value: &str, clock: &Clock) -> Option<f64> {
    let at =
        if time::looks_like_rfc3339(value) { clock.to_local(time::parse_rfc3339(value)?) } else { clock.now_ms + time::parse_go_duration(value)? };
    sane_reset(at, clock.now_ms)
}
