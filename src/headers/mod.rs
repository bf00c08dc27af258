//! Reading rate-limit response headers into one [`Observation`].
//!
//! This module owns every rule about what a header *means*: which names carry
//! limits, how each dialect writes its reset time, and how a server clock that
//! is off is moved onto the local one. It does not decide anything: the budget
//! and the scheduler read the Observation and act on it.
//!
//! Headers come in as name/value pairs and the time as a number of
//! milliseconds, so the parser is a pure function that tests drive with any
//! clock. It never fails: a malformed field is skipped and the rest of the
//! response still counts, because the IETF draft says a client MUST ignore a
//! malformed field rather than reject the response
//! (draft-ietf-httpapi-ratelimit-headers, "Intermediaries and Malformed
//! Fields"), and because a throttler that throws on a header it cannot read
//! would take the application down with it.

mod anthropic;
mod ietf;
mod ietf_legacy;
mod openai;
mod retry;
mod structured;
pub mod time;
mod x_ratelimit;

use serde::Serialize;
use std::borrow::Cow;

/// How a dimension's budget comes back.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Refill {
    /// Refills linearly up to the limit; the reset is the moment it is full
    /// again (Anthropic's token bucket, OpenAI's "time until full").
    Continuous,
    /// Stays put until the reset, then jumps to the limit (GitHub, IETF).
    Window,
}

/// The header dialect a dimension was read from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum Source {
    #[serde(rename = "anthropic")]
    Anthropic,
    #[serde(rename = "openai")]
    OpenAi,
    #[serde(rename = "ietf")]
    Ietf,
    #[serde(rename = "ietf-legacy")]
    IetfLegacy,
    #[serde(rename = "x-ratelimit")]
    XRateLimit,
}

/// One limited quantity as the server reported it.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Dimension {
    /// `requests`, `tokens`, `input_tokens`, `output_tokens`,
    /// `priority_input_tokens`, `priority_output_tokens` or an IETF policy name.
    pub name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub limit: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub remaining: Option<f64>,
    /// When the budget is back, on the local clock (skew already corrected).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reset_at_ms: Option<f64>,
    /// The window length, where the server says it (IETF `w`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub window_ms: Option<f64>,
    /// The server rounds `remaining` to a multiple of this (Anthropic: token
    /// counts to the nearest thousand), so the true figure may be up to half
    /// of it lower. The budget counts on that lower figure.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub remaining_rounding: Option<f64>,
    pub refill: Refill,
    pub source: Source,
}

/// Everything one response said about rate limits.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Observation {
    pub dimensions: Vec<Dimension>,
    /// How long the server asked us to wait, from `now_ms`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retry_after_ms: Option<f64>,
    /// `x-should-retry`, when present and readable.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub should_retry: Option<bool>,
    /// Server `Date` minus local `now_ms`, when a `Date` header is present.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub skew_ms: Option<f64>,
}

impl Observation {
    /// The dimension of this name, if the response reported it.
    pub fn dimension(&self, name: &str) -> Option<&Dimension> {
        self.dimensions.iter().find(|d| d.name == name)
    }

    /// True when the response carried no rate-limit information at all.
    pub fn is_empty(&self) -> bool {
        self.dimensions.is_empty() && self.retry_after_ms.is_none() && self.should_retry.is_none()
    }
}

/// Header pairs with lower-cased names and trimmed values, so each dialect
/// looks names up without caring about case (RFC 9110 §5.1: field names are
/// case-insensitive) or surrounding whitespace (RFC 9110 §5.5).
pub(crate) struct HeaderMap<'a> {
    /// Names lower-cased (borrowed when they already are, as `Headers`
    /// gives them), values trimmed.
    pairs: Vec<(Cow<'a, str>, &'a str)>,
}

impl<'a> HeaderMap<'a> {
    fn new<I>(headers: I) -> Self
    where
        I: IntoIterator<Item = (&'a str, &'a str)>,
    {
        let lower = |name: &'a str| -> Cow<'a, str> {
            let name = name.trim();
            if name.bytes().any(|b| b.is_ascii_uppercase()) {
                Cow::Owned(name.to_ascii_lowercase())
            } else {
                Cow::Borrowed(name)
            }
        };
        let pairs = headers.into_iter().map(|(name, value)| (lower(name), value.trim())).collect();
        HeaderMap { pairs }
    }

    /// The value of a header; repeated headers are joined with ", " as
    /// RFC 9110 §5.3 allows for list-valued fields.
    pub(crate) fn get(&self, name: &str) -> Option<Cow<'a, str>> {
        self.find(|n| n == name)
    }

    /// [`HeaderMap::get`] for the name `prefix` + `suffix`, compared in
    /// place: dialects look up families of names, and building each name
    /// would allocate on every response.
    pub(crate) fn get_parts(&self, prefix: &str, suffix: &str) -> Option<Cow<'a, str>> {
        self.find(|n| n.len() == prefix.len() + suffix.len() && n.starts_with(prefix) && n.ends_with(suffix))
    }

    fn find(&self, matches: impl Fn(&str) -> bool) -> Option<Cow<'a, str>> {
        let mut values = self.pairs.iter().filter(|(n, _)| matches(n)).map(|(_, v)| *v);
        let first = values.next()?;
        match values.next() {
            None => Some(Cow::Borrowed(first)),
            Some(second) => {
                let mut joined = format!("{first}, {second}");
                for v in values {
                    joined.push_str(", ");
                    joined.push_str(v);
                }
                Some(Cow::Owned(joined))
            }
        }
    }
}

/// What the parser needs besides the headers: the local time and the skew
/// to move server times onto the local clock.
pub(crate) struct Clock {
    pub now_ms: f64,
    /// Server time minus local time; 0 when unknown.
    pub skew_ms: f64,
}

impl Clock {
    /// A server's absolute epoch time, moved onto the local clock.
    pub(crate) fn to_local(&self, server_epoch_ms: f64) -> f64 {
        server_epoch_ms - self.skew_ms
    }
}

/// How far behind ours a server's `Date` may read while both clocks agree:
/// `Date` has whole seconds only (RFC 9110 §5.6.7 IMF-fixdate, truncated),
/// and the response spends time in transit after the server stamps it.
pub const DATE_RESOLUTION_MS: f64 = 2_000.0;

/// The correction applied to the server's absolute times, given the raw
/// reading `Date − now`. A reading in (−2 s, 0] is what a server in sync
/// with us produces, so it corrects nothing; correcting by it would delay
/// every reset by up to two seconds. Any other reading is a real skew and is
/// applied whole, which errs late (safe) by at most the same two seconds.
fn clock_correction(raw_skew_ms: f64) -> f64 {
    if raw_skew_ms <= 0.0 && raw_skew_ms > -DATE_RESOLUTION_MS {
        0.0
    } else {
        raw_skew_ms
    }
}

/// Whether a header may matter to [`parse`]: the fields of every dialect,
/// `Retry-After` and friends, and `Date`. Only these are passed on to a
/// coordinator, so no other header (a cookie, an id) leaves the isolate.
pub fn is_rate_limit_field(name: &str) -> bool {
    let name = name.trim();
    let has = |part: &str| name.as_bytes().windows(part.len()).any(|w| w.eq_ignore_ascii_case(part.as_bytes()));
    has("ratelimit") || has("rate-limit") || ["retry-after", "retry-after-ms", "x-should-retry", "date"].iter().any(|f| name.eq_ignore_ascii_case(f))
}

/// Parse every dialect present in `headers` into one Observation.
///
/// `now_ms` is the local time at which the response was received, in epoch
/// milliseconds. Never panics and never fails; unreadable fields are skipped.
pub fn parse<'a, I>(headers: I, now_ms: f64) -> Observation
where
    I: IntoIterator<Item = (&'a str, &'a str)>,
{
    let map = HeaderMap::new(headers);
    let now_ms = if now_ms.is_finite() { now_ms } else { 0.0 };
    // `Date` (RFC 9110 §6.6.1) is the server's clock at the response; the
    // difference to ours corrects every absolute time the server sends.
    let skew_ms = map.get("date").and_then(|v| time::parse_http_date(&v)).map(|server| server - now_ms);
    let clock = Clock { now_ms, skew_ms: skew_ms.map_or(0.0, clock_correction) };

    let mut observation = Observation { skew_ms, ..Observation::default() };
    anthropic::read(&map, &clock, &mut observation.dimensions);
    openai::read(&map, &clock, &mut observation.dimensions);
    ietf::read(&map, &clock, &mut observation.dimensions);
    ietf_legacy::read(&map, &clock, &mut observation.dimensions);
    x_ratelimit::read(&map, &clock, &mut observation.dimensions);
    retry::read(&map, &clock, &mut observation);
    observation
}

/// What a dialect read for one dimension, before the rules every dialect
/// shares turn it into a [`Dimension`].
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Reading {
    pub limit: Option<f64>,
    pub remaining: Option<f64>,
    pub reset_at_ms: Option<f64>,
    pub window_ms: Option<f64>,
}

impl Reading {
    /// The dimension, or `None` when the server gave neither a limit nor a
    /// remaining count (a reset alone says nothing to budget with).
    ///
    /// A remaining count above the limit is capped at the limit: the budget
    /// never holds more than its capacity, whatever a server reports.
    pub(crate) fn into_dimension(self, name: &str, refill: Refill, source: Source) -> Option<Dimension> {
        if self.limit.is_none() && self.remaining.is_none() {
            return None;
        }
        let remaining = match (self.limit, self.remaining) {
            (Some(limit), Some(remaining)) => Some(remaining.min(limit)),
            _ => self.remaining,
        };
        Some(Dimension {
            name: name.to_string(),
            limit: self.limit,
            remaining,
            reset_at_ms: self.reset_at_ms,
            window_ms: self.window_ms,
            remaining_rounding: None,
            refill,
            source,
        })
    }
}

/// Parse a count (`limit`, `remaining`): a non-negative decimal number.
/// Anything else (negative, NaN, text) is treated as absent.
pub(crate) fn parse_count(value: &str) -> Option<f64> {
    let value = value.trim();
    if value.is_empty() || !value.bytes().all(|b| b.is_ascii_digit() || b == b'.') {
        return None;
    }
    let number = crate::float::parse_decimal(value)?;
    (0.0..=MAX_COUNT).contains(&number).then_some(number)
}

/// Counts above this are not believed: no API limits anything to more than a
/// quadrillion per window, and beyond 2^53 f64 stops counting exactly.
pub const MAX_COUNT: f64 = 1e15;

/// Resets further away than this are dropped: a day-long window is the
/// longest any documented dialect uses, so a week leaves a wide margin while
/// stopping a garbage value from parking every call for years.
pub const MAX_RESET_MS: f64 = 7.0 * 24.0 * 3600.0 * 1000.0;

/// Windows longer than this are dropped: the longest quota window any
/// documented server uses is a month, so a year keeps every real one while
/// refusing a `w` that would roll a bucket forward only once a century.
pub const MAX_WINDOW_MS: f64 = 366.0 * 24.0 * 3600.0 * 1000.0;

/// Accept a window length in whole seconds (IETF `w`) only when it is
/// positive and at most [`MAX_WINDOW_MS`]; the draft says a window is
/// "non-negative, non-zero".
pub(crate) fn sane_window(seconds: f64) -> Option<f64> {
    let ms = seconds * 1000.0;
    (ms.is_finite() && ms > 0.0 && ms <= MAX_WINDOW_MS).then_some(ms)
}

/// Accept a reset (an absolute local time) only if it is at most
/// [`MAX_RESET_MS`] ahead; one in the past means "already reset" and is
/// clamped to now.
pub(crate) fn sane_reset(reset_at_ms: f64, now_ms: f64) -> Option<f64> {
    if !reset_at_ms.is_finite() || reset_at_ms - now_ms > MAX_RESET_MS {
        return None;
    }
    Some(reset_at_ms.max(now_ms))
}

#[cfg(test)]
mod property_tests;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod vector_tests;
