//! A partition and the calls in it: the state the scheduler keeps per
//! partition and per call, and what the head of a queue may do.

use super::{Config, Refusal, Ticket, PROBE_TOKENS};
use crate::budget::{Admission, Budget, Cost};
use std::collections::BTreeSet;
use std::sync::Arc;

/// A priority as the first half of a queue item: higher priorities rank
/// lower, so they come first. A `u64`, so that the queues and the
/// deadlines are one type of ordered set: each type of B-tree adds its own
/// copy of the B-tree's code to the `.wasm`.
pub(super) fn rank(priority: i32) -> u64 {
    (i64::from(i32::MAX) - i64::from(priority)) as u64
}

#[derive(Debug)]
pub(super) struct Partition {
    /// Its place in [`Scheduler::keys`](super::Scheduler::keys), named by its calls' tags.
    pub(super) index: u32,
    pub(super) budget: Budget,
    /// Waiting calls by [`rank`] of their priority (higher priority
    /// first), then by ticket (arrival). A cancelled call is left in place
    /// (its entry is gone) and skipped when met; see [`Partition::stale`].
    pub(super) queue: BTreeSet<(u64, Ticket)>,
    /// Calls waiting in `queue`.
    pub(super) waiting: usize,
    /// Items of `queue` whose calls were cancelled. Cancelling thus touches
    /// only the call, not the tree. A cancel that leaves them outnumbering
    /// the waiting calls (by more than [`STALE_SLACK`]) sweeps the queue, so
    /// it holds at most about twice the calls that waited at the last cancel,
    /// and each cancel pays a constant share of a sweep.
    pub(super) stale: usize,
    pub(super) in_flight: u32,
    /// A response (of any kind) has come back: the probe is over.
    pub(super) answered: bool,
    /// When its first calls past the probe went (NaN until then).
    pub(super) first_wave_ms: f64,
    pub(super) paused_until: f64,
    /// The pause after the next 429 that names no time; doubles each time.
    pub(super) backoff_ms: f64,
    /// The concurrency window (AIMD): halved by an overload answer, grown
    /// by `1 / window` per success, between 1 and `max_concurrent`.
    pub(super) window: f64,
    /// The base of the next overload pause; doubles per overload episode.
    pub(super) overload_backoff_ms: f64,
    /// Calls dispatched from this sequence on were sent after the last
    /// overload: their answers start a new episode or end the old one.
    pub(super) recovery_sequence: u64,
    /// What the server charges for a call's input tokens per token of its
    /// estimate, as learnt from answers (see [`super::calibrate`]).
    pub(super) input_scale: f64,
}

impl Partition {
    /// A partition with nothing queued, no answer yet, and its concurrency
    /// window at `window` (`max_concurrent`).
    pub(super) fn new(index: u32, budget: Budget, window: f64) -> Partition {
        Partition {
            index,
            budget,
            queue: BTreeSet::new(),
            waiting: 0,
            stale: 0,
            in_flight: 0,
            answered: false,
            first_wave_ms: f64::NAN,
            paused_until: f64::NEG_INFINITY,
            backoff_ms: FIRST_BACKOFF_MS,
            window,
            overload_backoff_ms: FIRST_BACKOFF_MS,
            recovery_sequence: 0,
            input_scale: 1.0,
        }
    }

    /// Before its first response, with no limits known: only the probe
    /// goes (see [`Config::probe_concurrency`]).
    pub(super) fn probing(&self, config: &Config) -> bool {
        config.local_budget && !self.answered && !self.budget.knows_limits()
    }

    /// Calls this partition may have in flight now.
    pub(super) fn max_in_flight(&self) -> u32 {
        // The window is at least 1 and at most max_concurrent, a u32.
        self.window.floor().max(1.0) as u32
    }
}

#[derive(Debug)]
pub(super) enum State {
    Waiting,
    /// `scale`: the calibration its cost was reserved at (an `f32`, in
    /// what would be the variant's padding).
    Dispatched {
        sequence: u64,
        scale: f32,
    },
}

#[derive(Debug)]
pub(super) struct Entry {
    /// The key the partition map holds, shared: no string per call.
    pub(super) partition: Arc<str>,
    /// As estimated, never calibrated: read it through [`Entry::at_scale`].
    pub(super) cost: Cost,
    /// Input tokens of `cost` that are a guess (an `f32` beside `priority`
    /// costs no space: a guess needs no more precision).
    pub(super) guessed: f32,
    pub(super) priority: i32,
    pub(super) state: State,
    pub(super) enqueued_at: f64,
    pub(super) deadline: Option<f64>,
}

/// Stale items a queue, or the deadlines, may hold beyond one per waiting
/// call before a cancel sweeps them (few in tests, so that sweeps happen).
pub(super) const STALE_SLACK: usize = if cfg!(test) { 2 } else { 64 };

/// A call's tag (see [`Calls`](super::calls::Calls)): its partition's index, whether it waits,
/// and whether it has a deadline, so that a waiting call can be cancelled
/// without reading the call. Never 0, which marks an ended call.
pub(super) fn tag(partition: u32, waiting: bool, deadline: bool) -> u32 {
    1 | u32::from(waiting) << 1 | u32::from(deadline) << 2 | partition << 3
}

/// The partition index a tag holds.
pub(super) fn tagged_partition(tag: u32) -> u32 {
    tag >> 3
}

pub(super) const TAG_WAITING: u32 = 1 << 1;
pub(super) const TAG_DEADLINE: u32 = 1 << 2;

pub(super) const FIRST_BACKOFF_MS: f64 = 1_000.0;
pub(super) const MAX_BACKOFF_MS: f64 = 60_000.0;

pub(super) enum HeadAdmission {
    Go,
    /// Paused: nothing in the partition goes before this time.
    At(f64),
    /// Its cost fits at this time; calls behind may backfill until then.
    Budget(f64),
    /// Waits for an event: a response or a release, not a time.
    OnEvent,
    Never(Refusal),
}

/// How long a partition stays paused, when that is longer than a call would
/// wait: [`Config::max_pause_wait_ms`], or beyond the call's deadline.
pub(super) fn pause_too_long(p: &Partition, deadline: Option<f64>, config: &Config, now_ms: f64) -> Option<f64> {
    let wait = p.paused_until - now_ms;
    (wait > 0.0 && (wait > config.max_pause_wait_ms || deadline.is_some_and(|d| p.paused_until > d))).then_some(wait)
}

/// What the head of a partition's queue may do. A call that can never fit
/// is refused when it reaches the head, so a limit that shrinks after it was
/// queued still settles it.
pub(super) fn head_admission(p: &Partition, head: &Entry, config: &Config, now_ms: f64) -> HeadAdmission {
    let probing = p.probing(config);
    let (cost, guessed) = head.at_scale(p.input_scale);
    let admission = match p.budget.admission_with_share(&cost, guessed, now_ms, config.share) {
        // The budget is kept elsewhere: only a cost no limit can hold stops here.
        Admission::Now | Admission::At(_) | Admission::AfterInFlight if !config.local_budget => Admission::Now,
        admission => admission,
    };
    if let Some(retry_after_ms) = pause_too_long(p, head.deadline, config, now_ms).filter(|_| !matches!(admission, Admission::Never { .. })) {
        return HeadAdmission::Never(Refusal::RateLimited { retry_after_ms });
    }
    match admission {
        Admission::Never { dimension, cost, limit } => HeadAdmission::Never(Refusal::CostExceedsLimit { dimension, cost, limit }),
        _ if probing && p.in_flight >= config.probe_concurrency => HeadAdmission::OnEvent,
        _ if probing && p.in_flight > 0 && p.budget.reserved().tokens + cost.tokens > PROBE_TOKENS => HeadAdmission::OnEvent,
        _ if p.in_flight >= p.max_in_flight() => HeadAdmission::OnEvent,
        _ if p.paused_until > now_ms => HeadAdmission::At(p.paused_until),
        Admission::Now => HeadAdmission::Go,
        Admission::At(at) => HeadAdmission::Budget(at),
        Admission::AfterInFlight if p.in_flight > 0 => HeadAdmission::OnEvent,
        // Nothing in flight will bring news and refill alone cannot make
        // room: only possible when local charges overdrew a bucket. Wait one
        // default window, after which that estimate is stale anyway.
        Admission::AfterInFlight => HeadAdmission::At(now_ms + config.default_window_ms),
    }
}
