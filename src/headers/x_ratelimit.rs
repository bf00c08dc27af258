//! The generic `X-RateLimit-*` fields: GitHub's and everyone else's.
//!
//! Sources: GitHub REST API docs, "Rate limits for the REST API" → "Checking
//! the status of your rate limit" (`x-ratelimit-limit`, `-remaining`,
//! `-used`, `-reset` "in UTC epoch seconds", `-resource`); and the IETF
//! draft's survey of these fields (draft-ietf-httpapi-ratelimit-headers-11,
//! "RateLimit header fields currently used on the web"), which lists the
//! `X-Rate-Limit-*` spelling too and the four ways servers write the reset.
//!
//! These are the bare names: `x-ratelimit-limit`, not OpenAI's
//! `x-ratelimit-limit-requests` (see [`super::openai`]). The result is one
//! `requests` dimension with a window refill: these servers count requests
//! in a fixed window that resets all at once (GitHub: "The time at which the
//! current rate limit window resets"). `-resource` (GitHub's `core`,
//! `search`, ...) names which of the server's windows this is; the name of
//! the dimension stays `requests`, since one response reports one resource.
//!
//! - When `-remaining` is missing but `-limit` and `-used` are given, the
//!   remaining count is `limit - used` (never below zero).
//!
//! # Telling the reset formats apart
//!
//! The value alone decides, in this order:
//!
//! 1. It starts like `YYYY-` → an RFC 3339 timestamp.
//! 2. It is an IMF-fixdate (`Sun, 06 Nov 1994 08:49:37 GMT`).
//! 3. It is a non-negative number `n`:
//!    - `n < 1e9` → delay seconds from now. 1e9 seconds is 31 years, longer
//!      than any delay, and 1e9 as an epoch is 2001, before any reset a
//!      server sends today.
//!    - `1e9 <= n < 1e11` → epoch seconds (GitHub). 1e11 seconds is the year
//!      5138.
//!    - `n >= 1e11` → epoch milliseconds. 1e11 ms is March 1973.
//!
//! Delay *milliseconds*, which the draft's survey also reports, cannot be
//! told from delay seconds by value; they are read as seconds, which errs on
//! the side of waiting longer. Every absolute time (timestamps, dates, epoch
//! values) is the server's clock and is moved onto the local clock by the
//! skew measured from `Date`. Anything else is ignored.

use super::{parse_count, sane_reset, time, Clock, Dimension, HeaderMap, Reading, Refill, Source};

/// The spellings in use, most common first; the first one present wins.
const PREFIXES: [&str; 2] = ["x-ratelimit-", "x-rate-limit-"];

/// Numbers from here up are epoch seconds rather than a delay.
const EPOCH_SECONDS_FROM: f64 = 1e9;
/// Numbers from here up are epoch milliseconds rather than epoch seconds.
const EPOCH_MILLISECONDS_FROM: f64 = 1e11;

pub(super) fn read(map: &HeaderMap, clock: &Clock, out: &mut Vec<Dimension>) {
    for prefix in PREFIXES {
        let field = |suffix: &str| map.get_parts(prefix, suffix);
        let limit = field("limit").and_then(|v| parse_count(&v));
        let used = field("used").and_then(|v| parse_count(&v));
        let remaining = field("remaining").and_then(|v| parse_count(&v)).or_else(|| Some((limit? - used?).max(0.0)));
        let reading = Reading { limit, remaining, reset_at_ms: field("reset").and_then(|v| reset_to_local(&v, clock)), window_ms: None };
        if let Some(dimension) = reading.into_dimension("requests", Refill::Window, Source::XRateLimit) {
            out.push(dimension);
            return;
        }
    }
}

/// The reset as a local time, by the rule in the module docs.
fn reset_to_local(value: &str, clock: &Clock) -> Option<f64> {
    let at = if time::looks_like_rfc3339(value) {
        clock.to_local(time::parse_rfc3339(value)?)
    } else if let Some(server) = time::parse_http_date(value) {
        clock.to_local(server)
    } else {
        let n = parse_count(value)?;
        if n < EPOCH_SECONDS_FROM {
            clock.now_ms + n * 1000.0
        } else if n < EPOCH_MILLISECONDS_FROM {
            clock.to_local(n * 1000.0)
        } else {
            clock.to_local(n)
        }
    };
    sane_reset(at, clock.now_ms)
}
