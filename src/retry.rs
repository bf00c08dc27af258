//! Which answers are retried, and after how long.
//!
//! The rules follow the official Anthropic and OpenAI SDKs, so that a
//! throttler in front of an SDK (or instead of its retries) behaves as users
//! already expect:
//! - `x-should-retry: false` is final; `x-should-retry: true` retries whatever
//!   the status (both SDKs read this header before any status rule);
//! - otherwise 408, 409, 429, 500, 502, 503, 504 and 529 are retried, and so
//!   is a network error (no response at all); any other status is returned;
//! - the wait is `retry-after-ms`, else `Retry-After` (seconds or an
//!   HTTP-date; see [`crate::headers`]), else exponential backoff from
//!   [`FIRST_BACKOFF_MS`] doubling to [`MAX_BACKOFF_MS`], less up to 25 %
//!   jitter (the SDKs' formula);
//! - a wait longer than `max_retry_after_ms` is not slept: the answer is
//!   returned as it is, for the caller to decide;
//! - a 429 without a retry time whose body says a spend or quota limit is
//!   reached is returned at once: waiting does not lift a billing limit;
//! - a request whose body cannot be sent twice (a stream) is never retried.
//!
//! A retry goes back through the budget like a new call: it is queued, costs
//! again, and waits for the partition's pause after a 429.

use crate::float::clamp;
use crate::headers::Observation;

/// Backoff before the first retry when the server named no time.
pub const FIRST_BACKOFF_MS: f64 = 500.0;
/// The longest backoff between retries when the server named no time.
pub const MAX_BACKOFF_MS: f64 = 8_000.0;

/// Statuses retried unless the server says otherwise.
pub const RETRIED_STATUSES: [u16; 8] = [408, 409, 429, 500, 502, 503, 504, 529];

/// The caller's retry settings.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RetryPolicy {
    pub max_retries: u32,
    pub max_retry_after_ms: f64,
}

impl Default for RetryPolicy {
    fn default() -> RetryPolicy {
        RetryPolicy { max_retries: 2, max_retry_after_ms: 60_000.0 }
    }
}

/// How an attempt ended.
#[derive(Clone, Copy, Debug)]
pub enum Attempt<'a> {
    /// The server answered with this status and these headers;
    /// `spend_limit_reached` when its body says so (see [`says_spend_limit`]).
    Answered { status: u16, observation: &'a Observation, spend_limit_reached: bool },
    /// No answer: the connection failed.
    NetworkError,
}

/// What to do after an attempt.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Decision {
    /// Hand the answer (or the error) to the caller.
    Return,
    /// Try again after this many milliseconds.
    RetryAfter(f64),
}

/// Decide about the attempt numbered `retries_done` (0 for the first try).
/// `replayable` says whether the body can be sent again; `jitter` is a random
/// number in [0, 1) drawn by the caller (the core draws no random numbers).
pub fn decide(policy: &RetryPolicy, attempt: Attempt, retries_done: u32, replayable: bool, jitter: f64) -> Decision {
    if retries_done >= policy.max_retries || !replayable {
        return Decision::Return;
    }
    let server_wait = match attempt {
        Attempt::NetworkError => None,
        Attempt::Answered { status, observation, spend_limit_reached } => {
            match observation.should_retry {
                Some(false) => return Decision::Return,
                Some(true) => {}
                None if !RETRIED_STATUSES.contains(&status) => return Decision::Return,
                None => {}
            }
            if status == 429 && observation.retry_after_ms.is_none() && spend_limit_reached {
                return Decision::Return;
            }
            observation.retry_after_ms
        }
    };
    let jitter = if jitter.is_finite() { clamp(jitter, 0.0, 1.0) } else { 0.0 };
    let wait = server_wait.unwrap_or_else(|| {
        let exponent = i32::try_from(retries_done.min(16)).unwrap_or(16);
        (FIRST_BACKOFF_MS * 2f64.powi(exponent)).min(MAX_BACKOFF_MS) * (1.0 - 0.25 * jitter)
    });
    if wait > policy.max_retry_after_ms {
        Decision::Return
    } else {
        Decision::RetryAfter(wait)
    }
}

/// Whether the decision about an answer needs its body first: a 429 that
/// names no time would be retried unless its body says a spend or quota
/// limit is reached (see [`says_spend_limit`]).
pub fn needs_body(policy: &RetryPolicy, status: u16, observation: &Observation, retries_done: u32, replayable: bool) -> bool {
    status == 429
        && observation.retry_after_ms.is_none()
        && observation.should_retry != Some(false)
        && replayable
        && retries_done < policy.max_retries
}

/// Phrases that mark a 429 as a spend or quota limit rather than a rate
/// limit: OpenAI's `insufficient_quota` error ("You exceeded your current
/// quota"), and the spend-limit and credit messages of Anthropic's API.
const SPEND_LIMIT_PHRASES: [&str; 5] = ["insufficient_quota", "exceeded your current quota", "spend limit", "usage limits", "credit balance"];

/// The most of a refused answer's body read to look for those phrases:
/// bytes, and milliseconds. A body that never ends (headers sent, body held
/// open) must not hold its call; the phrases come in the first bytes.
pub const SPEND_LIMIT_READ_BYTES: usize = 64 * 1024;
pub const SPEND_LIMIT_READ_MS: f64 = 2_000.0;

/// True when an error body says a spend or quota limit is reached.
pub fn says_spend_limit(body: &str) -> bool {
    let lower = body.to_ascii_lowercase();
    // Compared window by window: the bodies are short, and the standard
    // library's substring search weighs 2.6 KB in the `.wasm`.
    SPEND_LIMIT_PHRASES.iter().any(|phrase| lower.as_bytes().windows(phrase.len()).any(|window| window == phrase.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::headers::parse;

    fn answered(status: u16, headers: &[(&str, &str)]) -> Decision {
        let observation = parse(headers.iter().copied(), 0.0);
        decide(&RetryPolicy::default(), Attempt::Answered { status, observation: &observation, spend_limit_reached: false }, 0, true, 0.0)
    }

    #[test]
    fn the_sdk_statuses_are_retried_and_others_returned() {
        for status in RETRIED_STATUSES {
            assert!(matches!(answered(status, &[]), Decision::RetryAfter(_)), "{status}");
        }
        for status in [200, 400, 401, 403, 404, 422] {
            assert_eq!(answered(status, &[]), Decision::Return, "{status}");
        }
    }

    #[test]
    fn x_should_retry_overrides_the_status() {
        assert_eq!(answered(503, &[("x-should-retry", "false")]), Decision::Return);
        assert!(matches!(answered(400, &[("x-should-retry", "true")]), Decision::RetryAfter(_)));
    }

    #[test]
    fn the_server_time_comes_first_then_backoff_with_jitter() {
        assert_eq!(answered(429, &[("retry-after", "2"), ("retry-after-ms", "1500")]), Decision::RetryAfter(1_500.0));
        assert_eq!(answered(429, &[("retry-after", "2")]), Decision::RetryAfter(2_000.0));
        let policy = RetryPolicy { max_retries: 10, ..RetryPolicy::default() };
        let waits: Vec<Decision> = (0..6).map(|n| decide(&policy, Attempt::NetworkError, n, true, 0.0)).collect();
        let expected = [500.0, 1_000.0, 2_000.0, 4_000.0, 8_000.0, 8_000.0].map(Decision::RetryAfter);
        assert_eq!(waits, expected);
        assert_eq!(decide(&policy, Attempt::NetworkError, 0, true, 1.0), Decision::RetryAfter(375.0));
    }

    #[test]
    fn retries_stop_at_max_retries_and_for_bodies_that_cannot_be_replayed() {
        let policy = RetryPolicy { max_retries: 2, ..RetryPolicy::default() };
        assert!(matches!(decide(&policy, Attempt::NetworkError, 1, true, 0.0), Decision::RetryAfter(_)));
        assert_eq!(decide(&policy, Attempt::NetworkError, 2, true, 0.0), Decision::Return);
        assert_eq!(decide(&policy, Attempt::NetworkError, 0, false, 0.0), Decision::Return);
    }

    #[test]
    fn a_wait_above_max_retry_after_is_not_slept() {
        assert_eq!(answered(429, &[("retry-after", "61")]), Decision::Return);
        assert_eq!(answered(429, &[("retry-after", "60")]), Decision::RetryAfter(60_000.0));
    }

    #[test]
    fn a_spend_limit_429_without_retry_after_is_returned_at_once() {
        let body = r#"{"error":{"message":"You exceeded your current quota","type":"insufficient_quota"}}"#;
        assert!(says_spend_limit(body));
        assert!(!says_spend_limit(r#"{"type":"error","error":{"type":"rate_limit_error"}}"#));
        let observation = parse([], 0.0);
        let attempt = Attempt::Answered { status: 429, observation: &observation, spend_limit_reached: true };
        assert_eq!(decide(&RetryPolicy::default(), attempt, 0, true, 0.0), Decision::Return);
        let with_time = parse([("retry-after", "1")], 0.0);
        let attempt = Attempt::Answered { status: 429, observation: &with_time, spend_limit_reached: true };
        assert_eq!(decide(&RetryPolicy::default(), attempt, 0, true, 0.0), Decision::RetryAfter(1_000.0));
    }
}
