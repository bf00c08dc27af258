//! Anthropic: `anthropic-ratelimit-{requests,tokens,input-tokens,output-tokens}-{limit,remaining,reset}`
//! and `anthropic-priority-{input,output}-tokens-{limit,remaining,reset}`.
//!
//! Source: Anthropic API docs, "Rate limits" → "Response headers". Resets are
//! RFC 3339 timestamps; the limits are a token bucket that is "continuously
//! replenished up to your maximum limit", so refill is continuous. Token
//! counts in `-remaining` are "rounded to the nearest thousand", so token
//! dimensions carry a `remaining_rounding` of 1,000; request counts are exact.

use super::{parse_count, sane_reset, time, Clock, Dimension, HeaderMap, Reading, Refill, Source};

const FAMILIES: [(&str, &str); 6] = [
    ("anthropic-ratelimit-requests", "requests"),
    ("anthropic-ratelimit-tokens", "tokens"),
    ("anthropic-ratelimit-input-tokens", "input_tokens"),
    ("anthropic-ratelimit-output-tokens", "output_tokens"),
    ("anthropic-priority-input-tokens", "priority_input_tokens"),
    ("anthropic-priority-output-tokens", "priority_output_tokens"),
];

/// Anthropic rounds remaining token counts to the nearest thousand.
const TOKEN_ROUNDING: f64 = 1_000.0;

pub(super) fn read(map: &HeaderMap, clock: &Clock, out: &mut Vec<Dimension>) {
    for (prefix, name) in FAMILIES {
        let limit = map.get_parts(prefix, "-limit").and_then(|v| parse_count(&v));
        let remaining = map.get_parts(prefix, "-remaining").and_then(|v| parse_count(&v));
        let reset_at_ms =
            map.get_parts(prefix, "-reset").and_then(|v| time::parse_rfc3339(&v)).and_then(|server| sane_reset(clock.to_local(server), clock.now_ms));
        let reading = Reading { limit, remaining, reset_at_ms, window_ms: None };
        out.extend(reading.into_dimension(name, Refill::Continuous, Source::Anthropic).map(|mut dimension| {
            if name != "requests" {
                dimension.remaining_rounding = Some(TOKEN_ROUNDING);
            }
            dimension
        }));
    }
}
