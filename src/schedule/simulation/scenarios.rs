//! The six scenarios of the proof, each with the figures it is judged by.
//!
//! The Anthropic-style API limits 1,000 requests, 400,000 input tokens and
//! 160,000 output tokens a minute; calls draw input tokens log-uniformly from
//! 200 to 12,000 and `max_tokens` from 64 to 2,048, so input tokens are the
//! binding limit. The client knows no limits in advance (it probes).

use super::api::{Demand, Style};
use super::run::{offered, run, Background, Outcome, Setup, Sizes, T0};
use crate::schedule::{Config, Scheduler};

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
    /// Our accepted units of the binding limit over what was left of it.
    pub goodput_of_left: Option<f64>,
    pub max_wait_ms: f64,
    pub backfilled: u64,
    pub sent_into_spent_window: u32,
}

impl Figures {
    fn of(name: &'static str, outcome: &Outcome) -> Figures {
        let calls = &outcome.calls;
        let last_accept = calls.iter().filter_map(|c| c.accepted_at).fold(T0, f64::max);
        let waits = calls.iter().filter_map(|c| Some(c.first_dispatch? - c.arrive_at));
        Figures {
            name,
            calls: calls.len(),
            answered: calls.iter().filter(|c| c.answered_at.is_some()).count(),
            aborted: calls.iter().filter(|c| c.aborted).count(),
            rate_limited: outcome.rate_limited,
            rate_limited_after_first_answer: outcome.rate_limited_after_first_answer,
            limit_bound_ms: last_accept - T0,
            max_wait_ms: waits.fold(0.0, f64::max),
            backfilled: outcome.scheduler.snapshot(outcome.end_ms).counters.backfilled,
            sent_into_spent_window: outcome.sent_into_spent_window,
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
fn sustainable(sizes: &Sizes) -> f64 {
    400_000.0 / sizes.mean().input_tokens
}

fn setup(calls: Vec<super::run::Call>) -> Setup {
    Setup { style: API, config: config(), calls, background: None, drained: 0.0, estimate_factor: 1.0, seed: 1 }
}

/// 2,000 calls of mixed size offered at 5× the limit.
pub fn burst() -> (Figures, Outcome) {
    let outcome = run(setup(offered(2_000, 5.0 * sustainable(&SIZES), &SIZES, 11)));
    (Figures::of("burst of 2,000 at 5x the limit", &outcome).with_theoretical_minimum(&outcome), outcome)
}

/// The burst while another client spends 30% of the input tokens, unseen.
pub fn shared() -> (Figures, Outcome) {
    let mut setup = setup(offered(2_000, 5.0 * sustainable(&SIZES), &SIZES, 12));
    setup.background = Some(Background { calls_per_minute: 0.3 * sustainable(&SIZES), sizes: SIZES });
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
    calls[HUGE].demand = Demand { input_tokens: 300_000.0, output_tokens: 4_096.0 };
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
    let scheduler: &Scheduler = &outcome.scheduler;
    let snapshot = scheduler.snapshot(later);
    scheduler.queued() == 0 && scheduler.in_flight() == 0 && snapshot.partitions.iter().flat_map(|p| &p.dimensions).all(|d| d.remaining >= d.limit)
}
