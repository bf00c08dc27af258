//! The scenarios of the proof, each with the figures it is judged by.
//!
//! Each drives the shipped [`Engine`](crate::engine::Engine) (see
//! [`super::run`]): queueing, retries with backoff and `maxRetries`, the
//! pause after a 429 and its events, the concurrency window after a 529,
//! and a coordinator's grants, fallback and recovery are all the code that
//! ships.
//!
//! The Anthropic-style API limits 1,000 requests, 400,000 input tokens and
//! 160,000 output tokens a minute; calls draw input tokens log-uniformly from
//! 200 to 12,000 and `max_tokens` from 64 to 2,048, so input tokens are the
//! binding limit. The client knows no limits in advance (it probes),
//! except in the storm, where it was given wrong ones. Its retry policy is
//! `maxRetries` 10 (no call of these scenarios runs out), except in the
//! storm, which has the SDKs' default of 2.
//!
//! - [`burst`], [`shared`], [`unknown_limits`], [`window`],
//!   [`huge_among_small`], [`aborts`]: one client on its own budget;
//! - [`storm`]: 429s and 529s the client cannot foresee, met with retries,
//!   pauses and the concurrency window;
//! - [`coordinator_outage`]: four isolates sharing a coordinator that
//!   cannot be reached for 30 s.
//!
//! These scenarios are kind to the client: the server computes a call's
//! headers as it answers ([`Reported::AtAnswer`]), every call writes its
//! whole `max_tokens`, answers take 300 ms plus 10 to 20 ms per output
//! token, and nothing is cached. Their figures stay as they were measured
//! with that server. The family of [`super::real`] takes the same API and
//! sizes under real conditions (headers computed at admission, shorter
//! answers whose unused output goes back, drawn latencies, biased
//! estimates, a cached prompt, streaming) and judges each over ten seeds by
//! the time until the last answer (see [`Figures::with_answer_minimum`]).

use super::api::{Demand, Style};
use super::run::{offered, run, Background, Call, Coordinated, Outcome, Overload, Reported, Setup, Sizes, What, PARTITION, T0};
use crate::budget::Limits;
use crate::engine::{Coordination, Event};
use crate::retry::RetryPolicy;
use crate::schedule::{Config, Scheduler};
use std::collections::HashMap;

pub const API: Style = Style::Anthropic { requests: 1_000.0, input_tokens: 400_000.0, output_tokens: 160_000.0 };
pub const SIZES: Sizes = Sizes { input_tokens: (200.0, 12_000.0), max_tokens: (64.0, 2_048.0) };

/// The figures of one run, as printed in the table.
#[derive(Clone, Debug, Default)]
pub struct Figures {
    pub name: &'static str,
    pub calls: usize,
    pub answered: usize,
    pub aborted: usize,
    pub rate_limited: u32,
    pub rate_limited_after_first_answer: u32,
    /// From the first arrival to the last call the server accepted.
    pub limit_bound_ms: f64,
    /// The least that time can be, given the limits and the work.
    pub theoretical_ms: Option<f64>,
    /// From the first arrival to the last byte of the last answer at the
    /// client.
    pub answered_ms: f64,
    /// The mean time of an answer once sent: uplink, the server's time for
    /// the whole answer, and downlink, over the calls of the run.
    pub mean_latency_ms: f64,
    /// `answered_ms` over the least it can be: `theoretical_ms` plus
    /// `mean_latency_ms` (see [`Figures::with_answer_minimum`]).
    pub times_minimum: Option<f64>,
    /// Our calls admitted with a read of their cached prefix, and with a
    /// write of it.
    pub cache_reads: u32,
    pub cache_writes: u32,
    /// Our accepted units of the binding limit over what was left of it.
    pub goodput_of_left: Option<f64>,
    pub max_wait_ms: f64,
    pub backfilled: u64,
    pub sent_into_spent_window: u32,
    /// Calls returned with a refused answer after their last retry.
    pub gave_up: usize,
    /// Calls refused by the throttler (never sent, or not sent again).
    pub refused: usize,
    /// Retries sent, over all calls.
    pub retries: u32,
    /// 529 answers.
    pub overloaded: u32,
    /// `fallback` and `coordinated` events, over all isolates.
    pub fallbacks: usize,
    pub recoveries: usize,
}

impl Figures {
    pub(super) fn of(name: &'static str, outcome: &Outcome) -> Figures {
        let calls = &outcome.calls;
        let last_accept = calls.iter().filter_map(|c| c.accepted_at).fold(T0, f64::max);
        let waits = calls.iter().filter_map(|c| Some(c.first_dispatch? - c.arrive_at));
        let last_byte = calls.iter().filter_map(|c| c.completed_at).fold(T0, f64::max);
        let latency: f64 = calls.iter().map(|c| c.uplink_ms + c.processing_ms + c.downlink_ms).sum();
        Figures {
            name,
            calls: calls.len(),
            answered: calls.iter().filter(|c| c.answered_at.is_some()).count(),
            aborted: calls.iter().filter(|c| c.aborted).count(),
            rate_limited: outcome.rate_limited,
            rate_limited_after_first_answer: outcome.rate_limited_after_first_answer,
            limit_bound_ms: last_accept - T0,
            answered_ms: last_byte - T0,
            mean_latency_ms: latency / calls.len().max(1) as f64,
            cache_reads: outcome.api.cache_reads,
            cache_writes: outcome.api.cache_writes,
            max_wait_ms: waits.fold(0.0, f64::max),
            backfilled: outcome.engines.iter().map(|e| e.snapshot(outcome.end_ms).counters.backfilled).sum(),
            sent_into_spent_window: outcome.sent_into_spent_window,
            gave_up: calls.iter().filter(|c| c.gave_up).count(),
            refused: calls.iter().filter(|c| c.refused).count(),
            retries: calls.iter().map(|c| c.retries).sum(),
            overloaded: outcome.overloaded,
            fallbacks: events(outcome).filter(|(_, e)| matches!(e, Event::Fallback { .. })).count(),
            recoveries: events(outcome).filter(|(_, e)| matches!(e, Event::Coordinated { .. })).count(),
            ..Figures::default()
        }
    }

    /// `theoretical_ms`: for each limit, the work beyond a full bucket at
    /// the refill rate; the largest is the least time the limits allow.
    fn with_theoretical_minimum(mut self, outcome: &Outcome) -> Figures {
        let families = outcome.api.families();
        let minimum =
            families.iter().zip(outcome.api.accepted_ours).map(|((_, limit), work)| (work - limit).max(0.0) / (limit / 60_000.0)).fold(0.0, f64::max);
        self.theoretical_ms = Some(minimum);
        self
    }

    /// `theoretical_ms` as above, counting what the server charged (input
    /// tokens but cache reads, output tokens written), and `times_minimum`:
    /// the time until the last answer reached the client over that minimum
    /// plus the mean latency of an answer (the last call accepted is still
    /// to be answered).
    pub fn with_answer_minimum(self, outcome: &Outcome) -> Figures {
        let mut figures = self.with_theoretical_minimum(outcome);
        figures.times_minimum = figures.theoretical_ms.map(|t| figures.answered_ms / (t + figures.mean_latency_ms));
        figures
    }

    /// 429s after the first answer, per 1,000 calls.
    pub fn rate_limited_per_thousand(&self) -> f64 {
        f64::from(self.rate_limited_after_first_answer) * 1000.0 / self.calls.max(1) as f64
    }

    /// `goodput_of_left`: of the binding limit (input tokens), what we got
    /// over what a full bucket plus refill, less the background's use, left.
    fn with_goodput(mut self, outcome: &Outcome) -> Figures {
        let (index, limit) = (1, 400_000.0);
        let end = T0 + self.limit_bound_ms;
        let background: f64 = outcome.api.background_log.iter().filter(|(t, _)| *t <= end).map(|(_, a)| a[index]).sum();
        let left = limit + limit / 60_000.0 * self.limit_bound_ms - background;
        self.goodput_of_left = Some(outcome.api.accepted_ours[index] / left);
        self
    }
}

fn config() -> Config {
    Config { max_concurrent: 100, ..Config::default() }
}

/// Calls a minute the binding limit sustains, for calls of `sizes`.
pub(super) fn sustainable(sizes: &Sizes) -> f64 {
    400_000.0 / sizes.mean().input_tokens
}

/// Enough retries that no call of the scenarios that expect every call
/// answered gives up; the server's waits are within `maxRetryAfterMs`.
fn patient() -> RetryPolicy {
    RetryPolicy { max_retries: 10, ..RetryPolicy::default() }
}

pub(super) fn setup(calls: Vec<super::run::Call>) -> Setup {
    Setup {
        style: API,
        config: config(),
        retry: patient(),
        calls,
        background: None,
        overload: None,
        quiet: false,
        drained: 0.0,
        estimate_factor: 1.0,
        reported: Reported::AtAnswer,
        seed: 1,
        coordinated: None,
    }
}

/// 2,000 calls of mixed size offered at 5× the limit.
pub fn burst() -> (Figures, Outcome) {
    let outcome = run(setup(offered(2_000, 5.0 * sustainable(&SIZES), &SIZES, 11)));
    (Figures::of("burst of 2,000 at 5x the limit", &outcome).with_theoretical_minimum(&outcome), outcome)
}

/// The burst while another client spends 30% of the input tokens, unseen.
pub fn shared() -> (Figures, Outcome) {
    let mut setup = setup(offered(2_000, 5.0 * sustainable(&SIZES), &SIZES, 12));
    setup.background = Some(Background { calls_per_minute: 0.3 * sustainable(&SIZES), sizes: SIZES, during: None });
    let outcome = run(setup);
    (Figures::of("same, another client takes 30%", &outcome).with_goodput(&outcome), outcome)
}

pub const PROBE: u32 = 4;

/// No limits known, a probe of 4, and token buckets another client has
/// just emptied: the probe meets 429s, nothing after it does.
pub fn unknown_limits() -> (Figures, Outcome) {
    let mut setup = setup(offered(300, 5.0 * sustainable(&SIZES), &SIZES, 13));
    setup.config.probe_concurrency = PROBE;
    setup.drained = 1.0;
    let outcome = run(setup);
    (Figures::of("unknown limits, probe of 4, empty", &outcome), outcome)
}

/// A GitHub-style window of 100 requests a minute, 300 calls at once.
pub fn window() -> (Figures, Outcome) {
    let mut setup = setup(offered(300, 3_000.0, &SIZES, 14));
    setup.style = Style::GitHub { requests: 100.0, window_ms: 60_000.0 };
    let outcome = run(setup);
    (Figures::of("window limits (X-RateLimit)", &outcome), outcome)
}

pub const HUGE: usize = 50;
pub const SMALL: Sizes = Sizes { input_tokens: (300.0, 3_000.0), max_tokens: (64.0, 512.0) };

/// 400 small calls at twice the limit, the 50th a huge one (300,000 input
/// tokens of 400,000), with backfill scanning `backfill_scan` waiters.
pub fn huge_among_small(backfill_scan: usize) -> (Figures, Outcome) {
    let mut calls = offered(400, 2.0 * sustainable(&SMALL), &SMALL, 15);
    calls[HUGE].demand = Demand { input_tokens: 300_000.0, output_tokens: 4_096.0, prefix: None };
    let mut setup = setup(calls);
    setup.config.backfill_scan = backfill_scan;
    let outcome = run(setup);
    let name = if backfill_scan > 0 { "huge call among small ones" } else { "  the same without backfill" };
    (Figures::of(name, &outcome), outcome)
}

/// 600 calls at 5× the limit; 30% of them are aborted at a random moment
/// in their first two minutes, while still waiting if they are.
pub fn aborts() -> (Figures, Outcome) {
    let mut calls = offered(600, 5.0 * sustainable(&SIZES), &SIZES, 16);
    let mut random = crate::schedule::jitter::Jitter::new(17);
    for call in &mut calls {
        if random.unit() < 0.3 {
            call.abort_at = Some(call.arrive_at + 120_000.0 * random.unit());
        }
    }
    let outcome = run(setup(calls));
    (Figures::of("aborts of random waiters", &outcome), outcome)
}

/// True when, two minutes after the run, every bucket is back to its limit
/// with nothing reserved and nothing waiting or in flight.
pub fn budget_returns_to_full(outcome: &Outcome) -> bool {
    let later = outcome.end_ms + 120_000.0;
    let scheduler: &Scheduler = outcome.scheduler();
    let snapshot = scheduler.snapshot(later);
    scheduler.queued() == 0 && scheduler.in_flight() == 0 && snapshot.partitions.iter().flat_map(|p| &p.dimensions).all(|d| d.remaining >= d.limit)
}

/// Every event of a run, with its isolate.
pub fn events(outcome: &Outcome) -> impl Iterator<Item = (usize, &Event)> {
    outcome.log.iter().filter_map(|r| match &r.what {
        What::Event(event) => Some((r.isolate, event)),
        What::Sent { .. } | What::Asked { .. } => None,
    })
}

/// Retries with the SDKs' default: a call gives up after its third refusal.
pub const STORM_RETRIES: u32 = 2;
/// The stretch (ms after the start) when another client drains the buckets.
pub const DRAIN: (f64, f64) = (60_000.0, 120_000.0);
/// The stretch when the server takes only `OVERLOAD_CAPACITY` of our calls at once.
pub const OVERLOAD: (f64, f64) = (20_000.0, 50_000.0);
pub const OVERLOAD_CAPACITY: usize = 8;

/// A 429 storm: 600 calls at 1.5× the limit, with the SDKs' retries
/// (`maxRetries` 2), to a server that names only `retry-after` (no
/// rate-limit headers) while the client was given static limits twice the
/// server's: its budget lets calls go too fast, and only the server's
/// refusals hold it back. From 60 s to 120 s another client, unseen, sends
/// at 3× the limit too (and retries whatever is refused after the server's
/// wait, so its backlog goes on after 120 s); from 200 s to 260 s the
/// server processes no more than 8 of our calls at once and answers the
/// others 529 (an overload, with no time named).
pub fn storm() -> (Figures, Outcome) {
    let mut setup = setup(offered(600, 1.5 * sustainable(&SIZES), &SIZES, 18));
    setup.retry = RetryPolicy { max_retries: STORM_RETRIES, ..RetryPolicy::default() };
    let twice = Limits {
        requests_per_minute: Some(2_000.0),
        input_tokens_per_minute: Some(800_000.0),
        output_tokens_per_minute: Some(320_000.0),
        ..Limits::default()
    };
    setup.config.limits = Some(twice);
    setup.quiet = true;
    setup.background = Some(Background { calls_per_minute: 3.0 * sustainable(&SIZES), sizes: SIZES, during: Some(DRAIN) });
    setup.overload = Some(Overload { during: OVERLOAD, capacity: OVERLOAD_CAPACITY });
    let outcome = run(setup);
    (Figures::of("429 storm, static limits 2x, maxRetries 2", &outcome), outcome)
}

/// How the pauses of each isolate went, read from its events and the
/// attempts the driver sent.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Pauses {
    /// `pause` events (a pause that grows is announced again).
    pub announced: usize,
    /// Pauses that ended: a `resume` after one or more `pause`.
    pub resumed: usize,
    /// `resume` events before the end their pause announced, or with no
    /// pause to end.
    pub resumed_early: usize,
    /// Pauses never resumed.
    pub never_resumed: usize,
    /// Attempts sent between a pause and its `resume`.
    pub sent_while_paused: usize,
}

/// Checks the pauses of a run: each `pause` is ended by a `resume` at or
/// after its `until_ms`, and nothing is sent to a partition in between.
pub fn pauses(outcome: &Outcome) -> Pauses {
    let mut found = Pauses::default();
    // The end of the pause each isolate's partition is in, if it is.
    let mut paused: HashMap<(usize, &str), f64> = HashMap::new();
    for record in &outcome.log {
        match &record.what {
            What::Event(Event::Pause { partition, until_ms }) => {
                found.announced += 1;
                let until = paused.entry((record.isolate, partition.as_str())).or_insert(*until_ms);
                *until = until.max(*until_ms);
            }
            What::Event(Event::Resume { partition }) => match paused.remove(&(record.isolate, partition.as_str())) {
                Some(until) if record.at >= until => found.resumed += 1,
                _ => found.resumed_early += 1,
            },
            What::Sent { .. } if paused.contains_key(&(record.isolate, PARTITION)) => found.sent_while_paused += 1,
            _ => {}
        }
    }
    found.never_resumed = paused.len();
    found
}

pub const ISOLATES: usize = 4;
/// When the coordinator cannot be reached (ms after the start).
pub const OUTAGE: (f64, f64) = (120_000.0, 150_000.0);
/// After the outage, the time the coordinator is given to learn what the
/// isolates spent without it.
pub const RECOVERY_MS: f64 = 10_000.0;

/// Four isolates share a coordinator (leases of 4, 5 ms each way) that
/// cannot be reached from 120 s to 150 s; each falls back to `share` of
/// each limit meanwhile. 480 calls arrive at 0.8× the limit, so the
/// buckets have room when the coordinator drops out, and 160 more in a
/// burst 5 to 10 s into the outage.
pub fn coordinator_outage(share: f64) -> (Figures, Outcome) {
    let mut calls = offered(480, 0.8 * sustainable(&SIZES), &SIZES, 19);
    let burst_at = T0 + OUTAGE.0 + 5_000.0;
    calls.extend(offered(160, 1_920.0, &SIZES, 20).into_iter().map(|c| Call { arrive_at: c.arrive_at - T0 + burst_at, ..c }));
    let mut setup = setup(calls);
    setup.config = Config::default();
    let coordination = Coordination { share, ..Coordination::default() };
    setup.coordinated = Some(Coordinated { isolates: ISOLATES, coordination, book: config(), rpc_ms: 5.0, outage: Some(OUTAGE) });
    let outcome = run(setup);
    let name = if share <= 0.25 { "coordinator out 30 s, 4 isolates" } else { "  the same with share 0.5" };
    (Figures::of(name, &outcome), outcome)
}

/// Our 429s, by when the server refused them: during the outage, in the
/// recovery after it, and later.
pub fn rate_limited_around_outage(outcome: &Outcome) -> [usize; 3] {
    let (from, until) = (T0 + OUTAGE.0, T0 + OUTAGE.1);
    let count = |range: std::ops::Range<f64>| outcome.rate_limited_at.iter().filter(|t| range.contains(t)).count();
    [count(from..until), count(until..until + RECOVERY_MS), count(until + RECOVERY_MS..f64::INFINITY)]
}

/// The `fallback` and `coordinated` events of each isolate, in order, with
/// their times.
pub fn link_events(outcome: &Outcome) -> Vec<Vec<(f64, &'static str)>> {
    let mut each = vec![Vec::new(); outcome.engines.len()];
    for record in &outcome.log {
        if let What::Event(event @ (Event::Fallback { .. } | Event::Coordinated { .. })) = &record.what {
            each[record.isolate].push((record.at, event.kind()));
        }
    }
    each
}

/// How long after the coordinator was back each isolate asked it again
/// (its first request for grants after the outage).
pub fn back_to_coordinator_ms(outcome: &Outcome) -> Vec<Option<f64>> {
    let back = T0 + OUTAGE.1;
    let mut first = vec![None; outcome.engines.len()];
    for record in outcome.log.iter().filter(|r| r.at >= back && matches!(r.what, What::Asked { .. })) {
        first[record.isolate].get_or_insert(record.at - back);
    }
    first
}
