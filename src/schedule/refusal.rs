//! Why a call is refused, in words a person reads and in numbers a
//! program reads.

use std::fmt;

/// Why a call can never be sent.
#[derive(Clone, Debug, PartialEq)]
pub enum Refusal {
    /// The call costs more of a dimension than its whole limit.
    CostExceedsLimit { dimension: String, cost: f64, limit: f64 },
    /// `max_queue` calls were already waiting.
    QueueFull { max_queue: usize },
    /// The call waited until its deadline without being admitted.
    QueueTimeout { waited_ms: f64 },
    /// Its partition is paused (a 429) for longer than the call would wait:
    /// `max_pause_wait_ms`, or past its deadline.
    RateLimited { retry_after_ms: f64 },
}

impl Refusal {
    /// The code of [`Refusal::RateLimited`], which `fetch` answers as a 429.
    pub const RATE_LIMITED: &'static str = "RATE_LIMITED";

    /// Every code, as `HeadroomError.code` carries them.
    pub const CODES: [&'static str; 4] = ["COST_EXCEEDS_LIMIT", "QUEUE_FULL", "QUEUE_TIMEOUT", Refusal::RATE_LIMITED];

    /// The property of the dimension a [`Refusal::CostExceedsLimit`] names.
    pub const DIMENSION: &'static str = "dimension";
    /// The property of the wait a [`Refusal::RateLimited`] names.
    pub const RETRY_AFTER_MS: &'static str = "retryAfterMs";

    /// Every property a refusal's details are given as, on a `HeadroomError`
    /// and wherever a refusal crosses to another isolate.
    pub const PROPERTIES: [&'static str; 6] = [Refusal::DIMENSION, "cost", "limit", "maxQueue", "waitedMs", Refusal::RETRY_AFTER_MS];

    /// The machine-readable code, as `HeadroomError.code`.
    pub fn code(&self) -> &'static str {
        let [cost_exceeds_limit, queue_full, queue_timeout, rate_limited] = Refusal::CODES;
        match self {
            Refusal::CostExceedsLimit { .. } => cost_exceeds_limit,
            Refusal::QueueFull { .. } => queue_full,
            Refusal::QueueTimeout { .. } => queue_timeout,
            Refusal::RateLimited { .. } => rate_limited,
        }
    }

    /// Its numbers, by property name (one of [`Refusal::PROPERTIES`]);
    /// the dimension of a [`Refusal::CostExceedsLimit`] is [`Refusal::dimension`].
    pub fn numbers(&self) -> Vec<(&'static str, f64)> {
        let [_, cost, limit, max_queue, waited_ms, retry_after_ms] = Refusal::PROPERTIES;
        match self {
            Refusal::CostExceedsLimit { cost: c, limit: l, .. } => vec![(cost, *c), (limit, *l)],
            Refusal::QueueFull { max_queue: n } => vec![(max_queue, *n as f64)],
            Refusal::QueueTimeout { waited_ms: ms } => vec![(waited_ms, ms.round())],
            Refusal::RateLimited { retry_after_ms: ms } => vec![(retry_after_ms, ms.ceil())],
        }
    }

    /// The dimension a [`Refusal::CostExceedsLimit`] names.
    pub fn dimension(&self) -> Option<&str> {
        match self {
            Refusal::CostExceedsLimit { dimension, .. } => Some(dimension),
            _ => None,
        }
    }

    /// A refusal from its code and properties as [`Refusal::numbers`] and
    /// [`Refusal::dimension`] wrote them (in another isolate); `None` for
    /// an unknown code or a property missing.
    pub fn from_parts(code: &str, dimension: Option<String>, number: impl Fn(&str) -> Option<f64>) -> Option<Refusal> {
        let [_, cost, limit, max_queue, waited_ms, retry_after_ms] = Refusal::PROPERTIES;
        let [cost_exceeds_limit, queue_full, queue_timeout, rate_limited] = Refusal::CODES;
        Some(match code {
            c if c == cost_exceeds_limit => Refusal::CostExceedsLimit { dimension: dimension?, cost: number(cost)?, limit: number(limit)? },
            c if c == queue_full => Refusal::QueueFull { max_queue: number(max_queue).filter(|n| *n >= 0.0)? as usize },
            c if c == queue_timeout => Refusal::QueueTimeout { waited_ms: number(waited_ms)? },
            c if c == rate_limited => Refusal::RateLimited { retry_after_ms: number(retry_after_ms)? },
            _ => return None,
        })
    }
}

/// A number as a person reads it: whole numbers exactly, others to two
/// decimals. Written with integer arithmetic so the wasm build carries no
/// float-formatting code (a sixth of its size before).
pub(crate) fn number(x: f64) -> String {
    if !x.is_finite() {
        return if x.is_nan() {
            "NaN".into()
        } else if x > 0.0 {
            "Infinity".into()
        } else {
            "-Infinity".into()
        };
    }
    let hundredths = (x.abs() * 100.0).round();
    if hundredths >= 9e15 {
        // Beyond exact integers: the digits that matter.
        return format!("{}{}", if x < 0.0 { "-" } else { "" }, x.abs().round() as u64);
    }
    let hundredths = hundredths as u64;
    let sign = if x < 0.0 && hundredths > 0 { "-" } else { "" };
    match hundredths % 100 {
        0 => format!("{sign}{}", hundredths / 100),
        fraction if fraction % 10 == 0 => format!("{sign}{}.{}", hundredths / 100, fraction / 10),
        fraction => format!("{sign}{}.{fraction:02}", hundredths / 100),
    }
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Refusal::CostExceedsLimit { dimension, cost, limit } => write!(
                f,
                "headroom: this call needs {} {dimension} but the limit is {} {dimension}, \
                 so it can never be sent; make it smaller (for example a lower max_tokens)",
                number(*cost),
                number(*limit)
            ),
            Refusal::QueueFull { max_queue: 0 } => write!(
                f,
                "headroom: this call cannot be sent at once and maxQueue is 0, so no call waits; \
                 it was not queued"
            ),
            Refusal::QueueFull { max_queue } => write!(
                f,
                "headroom: {max_queue} calls are already waiting, the most maxQueue allows; \
                 this call was not queued"
            ),
            Refusal::RateLimited { retry_after_ms } => write!(
                f,
                "headroom: the API asked for a wait of {} ms before the next call here (a 429's \
                 retry-after or reset), longer than this call waits (maxRetryAfterMs, maxWaitMs); \
                 it was not sent",
                number(retry_after_ms.ceil())
            ),
            Refusal::QueueTimeout { waited_ms } => write!(
                f,
                "headroom: this call waited {} ms for budget, the most maxWaitMs allows, \
                 and was not sent",
                number(waited_ms.round())
            ),
        }
    }
}
