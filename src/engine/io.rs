//! What goes into the engine and what comes out of it: plain data, no I/O.

use crate::budget::Cost;
use crate::coordinate::GrantId;
use crate::headers::Observation;
use crate::schedule::Refusal;
use serde::Serialize;

/// Identifies one call for its whole life, across its attempts.
pub type CallId = u64;

/// Identifies one request for grants to a coordinator.
pub type AskId = u64;

/// A call as its caller makes it.
#[derive(Clone, Debug, PartialEq)]
pub struct CallSpec {
    /// Its partition.
    pub key: String,
    pub cost: Cost,
    /// Input tokens of `cost` that are a guess (see [`crate::estimate`]).
    pub guessed: f64,
    /// Higher goes first within its partition.
    pub priority: i32,
    /// Whether it may be sent again after a retryable answer: a `fetch`
    /// whose body can be sent twice. `run` and `acquire` are sent once.
    pub retries: bool,
    /// The prefixes of its prompt marked for caching (see
    /// [`crate::estimate::cache`]); none for most calls.
    pub breakpoints: Vec<crate::estimate::Breakpoint>,
}

/// What the caller of a call does next, as [`super::Engine::step`] says.
#[derive(Clone, Debug, PartialEq)]
pub enum Step {
    /// Sleep until `until`, or until [`super::Engine::take_woken`] names the
    /// call, then ask again. `until` is `f64::INFINITY` when only a wake
    /// ends the wait.
    Wait { until: f64 },
    /// Send it now; `attempt` counts from 1. Report how it ended with
    /// [`super::Engine::answered`].
    Send { attempt: u32 },
    /// Ask the coordinator for grants; report its answer with
    /// [`super::Engine::coordinator_answered`], then ask again (the call
    /// waits for the answer with [`Step::Wait`]).
    Ask(Ask),
    /// Read at most `bytes` of the answer's body within `ms` milliseconds
    /// and give the text to [`super::Engine::body_read`].
    ReadBody { bytes: usize, ms: f64 },
    /// Done: hand the last answer (or error) to the caller.
    Return,
    /// Done: the call was refused and not sent (again).
    Refuse(Refusal),
}

/// A request for grants: up to `count` grants of `cost` in partition `key`,
/// the spare ones usable for `lease_ms`.
#[derive(Clone, Debug, PartialEq)]
pub struct Ask {
    pub id: AskId,
    pub key: String,
    pub cost: Cost,
    pub guessed: f64,
    pub count: u32,
    pub lease_ms: f64,
}

/// How a sent attempt ended.
#[derive(Clone, Debug, PartialEq)]
pub enum Answer {
    /// The server answered: its status, what its headers said, and their
    /// rate-limit fields (passed on to a coordinator, which reads them itself).
    Heard { status: u16, observation: Observation, fields: Vec<(String, String)> },
    /// Done, and nothing said of what it spent: its estimate is charged,
    /// and nothing is learnt from it.
    Unreported,
    /// No answer came (a network error, an abort in flight): assume nothing
    /// was spent.
    NoAnswer,
}

impl Answer {
    /// How a call its caller sent (`run`, `acquire`) ended, from the
    /// caller's own report: headers, with their status (200 when none is
    /// given); a status alone; or nothing, when the estimate is charged, or
    /// nothing is if the work `failed`.
    pub fn reported(status: Option<u16>, headers: Option<(Observation, Vec<(String, String)>)>, failed: bool) -> Answer {
        match (status, headers) {
            (status, Some((observation, fields))) => Answer::Heard { status: status.unwrap_or(200), observation, fields },
            (Some(status), None) => Answer::Heard { status, observation: Observation::default(), fields: Vec::new() },
            (None, None) if failed => Answer::NoAnswer,
            (None, None) => Answer::Unreported,
        }
    }
}

/// A coordinator's answer to an [`Ask`].
#[derive(Clone, Debug, PartialEq)]
pub enum Grants {
    /// Grants, the first for the call that asked; none reads as a failure.
    Granted(Vec<GrantId>),
    /// The call can never go.
    Refused(Refusal),
    /// No answer: the request failed or the coordinator is restarting.
    Failed,
}

/// A message to the coordinator that needs no answer. A lost one does no
/// harm: the grants it concerns expire at the coordinator.
#[derive(Clone, Debug, PartialEq)]
pub enum Tell {
    /// Spare grants are being used now.
    Sent(Vec<GrantId>),
    /// The answer to a granted call: its status (`None`: no answer) and its
    /// rate-limit fields (`None`: it ended unreported, and its estimate is
    /// charged; an answer without such fields has an empty list).
    Complete { grant: GrantId, status: Option<u16>, fields: Option<Vec<(String, String)>> },
    /// Grants never used: nothing is charged.
    Release(Vec<GrantId>),
}

/// What happened, for listeners, logs and metrics. Payloads carry partition
/// keys, statuses, counts and times, never a URL, a header or a body.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(tag = "type", rename_all = "camelCase", rename_all_fields = "camelCase")]
pub enum Event {
    /// A call joined the queue; `queued` calls now wait in all.
    Queued { partition: String, queued: usize },
    /// An attempt goes out after waiting `waited_ms` in the queue.
    Dispatched { partition: String, attempt: u32, waited_ms: f64 },
    /// An attempt was answered.
    Response { partition: String, status: u16, attempt: u32 },
    /// The call will be sent again (`attempt` is the next one) after `delay_ms`.
    Retry { partition: String, attempt: u32, delay_ms: f64, status: Option<u16> },
    /// Nothing is sent to the partition before `until_ms` (a 429, or an overload).
    Pause { partition: String, until_ms: f64 },
    /// The partition's pause is over.
    Resume { partition: String },
    /// A call was refused.
    Rejected { partition: String, code: &'static str },
    /// The coordinator could not be reached: the local budget is used, and
    /// the coordinator asked again after `retry_in_ms`.
    Fallback { partition: String, retry_in_ms: f64 },
    /// The coordinator answers again after a fallback.
    Coordinated { partition: String },
}

impl Event {
    /// Every type, as `on(type, …)` takes them.
    pub const TYPES: [&'static str; 9] = ["queued", "dispatched", "response", "retry", "pause", "resume", "rejected", "fallback", "coordinated"];

    /// Its type, one of [`Event::TYPES`].
    pub fn kind(&self) -> &'static str {
        let [queued, dispatched, response, retry, pause, resume, rejected, fallback, coordinated] = Event::TYPES;
        match self {
            Event::Queued { .. } => queued,
            Event::Dispatched { .. } => dispatched,
            Event::Response { .. } => response,
            Event::Retry { .. } => retry,
            Event::Pause { .. } => pause,
            Event::Resume { .. } => resume,
            Event::Rejected { .. } => rejected,
            Event::Fallback { .. } => fallback,
            Event::Coordinated { .. } => coordinated,
        }
    }
}
