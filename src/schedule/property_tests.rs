//! Property tests of the scheduler: random sequences of every operation it
//! takes, with the inputs a careless caller or a hostile server can produce
//! (costs of 0, fractional, huge, negative, NaN or infinite; deadlines of
//! any kind; the clock going backwards or leaping; observations with any
//! numbers, in any order; complete and cancel of unknown or repeated
//! tickets). A panic here would kill a wasm instance, so none may happen;
//! after every operation the scheduler's counts must agree with a model of
//! which calls wait and which are in flight, no reservation may go negative,
//! and a wake-up time is never NaN. Each sequence ends by draining: with
//! nothing in flight, the passage of time alone must settle every waiter.
//!
//! The generator is the scheduler's own seeded jitter, so a failure names a
//! seed that replays it exactly.

use super::jitter::Jitter;
use super::*;
use crate::budget::{Cost, Limits};
use crate::headers::{parse, Dimension, Observation, Refill, Source};
use std::collections::BTreeSet;

const T0: f64 = 1_779_141_600_000.0; // 2026-05-18T22:00:00Z
const SEQUENCES_PER_TEST: u64 = 50_000;
const PARTITIONS: [&str; 3] = ["a", "b", ""];

struct Rng(Jitter);

impl Rng {
    fn below(&mut self, n: usize) -> usize {
        (self.0.next_u64() % n as u64) as usize
    }

    fn one_in(&mut self, n: usize) -> bool {
        self.below(n) == 0
    }

    fn pick<T: Copy>(&mut self, items: &[T]) -> T {
        items[self.below(items.len())]
    }

    /// A number from anywhere: the edges, garbage, and ordinary values.
    fn number(&mut self) -> f64 {
        match self.below(14) {
            0 => 0.0,
            1 => -0.0,
            2 => f64::NAN,
            3 => f64::INFINITY,
            4 => f64::NEG_INFINITY,
            5 => f64::MAX,
            6 => 1e-3,
            7 => -5.0,
            8 => 0.37,
            9 => 1e15,
            _ => self.below(2_000) as f64,
        }
    }

    fn maybe_number(&mut self) -> Option<f64> {
        (!self.one_in(3)).then(|| self.number())
    }
}

fn random_cost(rng: &mut Rng) -> Cost {
    if rng.one_in(3) {
        Cost::new(rng.number(), rng.number(), rng.number(), rng.maybe_number())
    } else {
        // Built directly: the core must cope even with what `Cost::new` cleans.
        Cost { requests: rng.number(), input_tokens: rng.number(), output_tokens: rng.number(), tokens: rng.number() }
    }
}

fn random_observation(rng: &mut Rng, now: f64) -> Observation {
    if rng.one_in(2) {
        let reset = match rng.below(4) {
            0 => "1s".to_string(),
            1 => "2026-05-18T22:00:30Z".to_string(),
            2 => rng.number().to_string(),
            _ => "6m0s".to_string(),
        };
        let headers = [
            ("x-ratelimit-limit-requests", rng.number().to_string()),
            ("x-ratelimit-remaining-requests", rng.number().to_string()),
            ("x-ratelimit-reset-requests", reset.clone()),
            ("anthropic-ratelimit-input-tokens-limit", rng.number().to_string()),
            ("anthropic-ratelimit-input-tokens-remaining", rng.number().to_string()),
            ("anthropic-ratelimit-input-tokens-reset", reset),
            ("ratelimit-policy", format!("\"burst\";q={};w={}", rng.number(), rng.number())),
            ("ratelimit", format!("\"burst\";r={};t={}", rng.number(), rng.number())),
            ("retry-after", rng.number().to_string()),
            ("date", "Mon, 18 May 2026 23:00:00 GMT".to_string()),
        ];
        let kept: Vec<(&str, &str)> = headers.iter().filter(|_| !rng.one_in(3)).map(|(n, v)| (*n, v.as_str())).collect();
        return parse(kept, now);
    }
    let names = ["requests", "tokens", "input_tokens", "output_tokens", "priority_input_tokens", "burst"];
    let sources = [Source::Anthropic, Source::OpenAi, Source::Ietf, Source::IetfLegacy, Source::XRateLimit];
    let dimensions = (0..rng.below(4))
        .map(|_| Dimension {
            name: rng.pick(&names).to_string(),
            limit: rng.maybe_number(),
            remaining: rng.maybe_number(),
            reset_at_ms: rng.maybe_number().map(|n| if rng.one_in(2) { now + n } else { n }),
            window_ms: rng.maybe_number(),
            remaining_rounding: rng.maybe_number(),
            refill: if rng.one_in(2) { Refill::Continuous } else { Refill::Window },
            source: rng.pick(&sources),
        })
        .collect();
    Observation { dimensions, retry_after_ms: rng.maybe_number(), should_retry: None, skew_ms: rng.maybe_number() }
}

fn random_config(rng: &mut Rng) -> Config {
    let limits = rng.one_in(2).then(|| Limits {
        requests_per_minute: rng.maybe_number().filter(|n| n.is_finite() && *n > 0.0),
        tokens_per_minute: rng.maybe_number().filter(|n| n.is_finite() && *n > 0.0),
        input_tokens_per_minute: None,
        output_tokens_per_minute: rng.maybe_number().filter(|n| n.is_finite() && *n > 0.0),
    });
    Config {
        max_concurrent: rng.pick(&[1, 2, 3, 8, u32::MAX]),
        probe_concurrency: rng.pick(&[1, 2, u32::MAX]),
        max_queue: rng.pick(&[0, 1, 4, usize::MAX]),
        max_pause_wait_ms: rng.pick(&[60_000.0, 0.0, f64::INFINITY]),
        limits,
        default_window_ms: rng.pick(&[60_000.0, 1_000.0, 1.0]),
        backfill_scan: rng.pick(&[0, 1, 4, 32]),
        seed: rng.0.next_u64(),
        local_budget: !rng.one_in(4),
        share: rng.pick(&[1.0, 0.5, 0.01, f64::NAN]),
        hold_until_answered: rng.one_in(4),
    }
}

/// Which calls wait and which are in flight, as the scheduler's answers say.
#[derive(Default)]
struct Model {
    waiting: BTreeSet<Ticket>,
    in_flight: BTreeSet<Ticket>,
    issued: Ticket,
}

impl Model {
    fn take_poll(&mut self, poll: Poll) -> Result<Vec<Ticket>, String> {
        for &ticket in &poll.granted {
            if !self.waiting.remove(&ticket) {
                return Err(format!("granted {ticket}, which was not waiting"));
            }
            self.in_flight.insert(ticket);
        }
        for (ticket, _) in &poll.refused {
            if !self.waiting.remove(ticket) {
                return Err(format!("refused {ticket}, which was not waiting"));
            }
        }
        Ok(poll.granted)
    }

    fn any_ticket(&self, rng: &mut Rng) -> Ticket {
        // Sometimes one that never existed, or one already settled.
        rng.below(self.issued as usize + 3) as Ticket
    }
}

fn check(s: &Scheduler, model: &Model, now: f64) -> Result<(), String> {
    s.check_invariants()?;
    if s.queued() != model.waiting.len() || s.in_flight() as usize != model.in_flight.len() {
        return Err(format!(
            "scheduler says {} queued, {} in flight; the calls say {} and {}",
            s.queued(),
            s.in_flight(),
            model.waiting.len(),
            model.in_flight.len()
        ));
    }
    if let Some((ticket, at)) = s.next_wake(now) {
        if at.is_nan() || !model.waiting.contains(&ticket) {
            return Err(format!("next_wake names {ticket} at {at}"));
        }
    }
    let snapshot = s.snapshot(now);
    for view in snapshot.partitions.iter().flat_map(|p| &p.dimensions) {
        if !(view.limit.is_finite() && view.limit > 0.0 && view.remaining >= 0.0) {
            return Err(format!("bucket view {view:?}"));
        }
    }
    Ok(())
}

fn step(s: &mut Scheduler, model: &mut Model, rng: &mut Rng, now: f64) -> Result<(), String> {
    match rng.below(10) {
        0..=2 => {
            let deadline = rng.one_in(3).then(|| if rng.one_in(2) { now + rng.number() } else { rng.number() });
            let priority = rng.pick(&[0, 1, -1, i32::MAX, i32::MIN]);
            // Some costs are partly guessed (NaN and infinite guesses too).
            let guessed = if rng.one_in(3) { rng.number() } else { 0.0 };
            if let Ok(ticket) = s.enqueue_until(rng.pick(&PARTITIONS), random_cost(rng), guessed, priority, deadline, now) {
                if ticket < model.issued || !model.waiting.insert(ticket) {
                    return Err(format!("ticket {ticket} issued twice"));
                }
                model.issued = ticket + 1;
            }
        }
        3 | 4 => {
            model.take_poll(s.poll(now))?;
        }
        5 | 6 => {
            let ticket = if rng.one_in(4) { model.any_ticket(rng) } else { model.in_flight.iter().next().copied().unwrap_or(0) };
            let status = rng.pick(&[None, Some(200), Some(429), Some(503), Some(529), Some(500), Some(0), Some(999)]);
            let observation = (!rng.one_in(4)).then(|| random_observation(rng, now));
            let completed = s.snapshot(now).counters.completed;
            s.complete(ticket, status, observation.as_ref(), now);
            let counted = s.snapshot(now).counters.completed - completed;
            if counted != u64::from(model.in_flight.remove(&ticket)) {
                return Err(format!("completing {ticket} counted {counted}"));
            }
        }
        7 if rng.one_in(4) => {
            let ticket = model.any_ticket(rng);
            let known = model.in_flight.remove(&ticket);
            if known {
                model.waiting.insert(ticket);
            }
            if s.requeue(ticket) != known {
                return Err(format!("requeue of {ticket} disagrees: in flight {known}"));
            }
        }
        7 => {
            let ticket = model.any_ticket(rng);
            let known = model.waiting.remove(&ticket) | model.in_flight.remove(&ticket);
            if s.cancel(ticket) != known {
                return Err(format!("cancel of {ticket} disagrees: known {known}"));
            }
        }
        8 if rng.one_in(3) => {
            // Idle partitions go; the calls and their counts stay.
            let (queued, in_flight) = (s.queued(), s.in_flight());
            s.evict_idle(now);
            if (s.queued(), s.in_flight()) != (queued, in_flight) {
                return Err("eviction changed the calls".into());
            }
        }
        8 => s.observe(rng.pick(&PARTITIONS), &random_observation(rng, now), now),
        _ => {
            s.note_retry();
            if rng.one_in(10) {
                s.reseed(rng.0.next_u64());
            }
            // A coordinator's moves: hold a grant, report it sent, switch
            // the local budget (any ticket, known or not, in any state).
            match rng.below(3) {
                0 => s.hold(model.any_ticket(rng)),
                1 => s.sent(model.any_ticket(rng), now),
                _ if rng.one_in(5) => s.set_budget(rng.one_in(2), rng.number()),
                _ => {}
            }
        }
    }
    Ok(())
}

/// With nothing in flight, time alone must settle every waiting call.
fn drain(s: &mut Scheduler, model: &mut Model, mut now: f64) -> Result<(), String> {
    for ticket in std::mem::take(&mut model.in_flight) {
        s.complete(ticket, Some(200), None, now);
    }
    for _ in 0..10_000 {
        // Each completion is followed by another poll, as in the JS layer.
        loop {
            let granted = model.take_poll(s.poll(now))?;
            if granted.is_empty() {
                break;
            }
            for ticket in granted {
                model.in_flight.remove(&ticket);
                s.complete(ticket, Some(200), None, now);
            }
        }
        check(s, model, now)?;
        // Past any clock a runtime will show (year 33,000), only the
        // absence of panics is asserted: float sums of times overflow there.
        if model.waiting.is_empty() || now > 1e15 {
            return Ok(());
        }
        match s.next_wake(now) {
            Some((_, at)) if at.is_finite() => now = now.max(at),
            other => return Err(format!("{} calls wait with nothing in flight, and next_wake is {other:?}", model.waiting.len())),
        }
    }
    Err(format!("{} calls still wait after 10,000 wake-ups", model.waiting.len()))
}

fn run_sequence(seed: u64) -> Result<(), String> {
    let mut rng = Rng(Jitter::new(seed));
    let mut s = Scheduler::new(random_config(&mut rng));
    let mut model = Model::default();
    let mut now = T0;
    for _ in 0..rng.below(40) + 1 {
        now += match rng.below(10) {
            0 => -(rng.below(100_000) as f64),
            1 => -1e9,
            2 => 1e6,
            3 => 0.5,
            _ => rng.below(2_000) as f64,
        };
        step(&mut s, &mut model, &mut rng, now)?;
        check(&s, &model, now)?;
    }
    drain(&mut s, &mut model, now)
}

fn run(first_seed: u64) {
    for seed in first_seed..first_seed + SEQUENCES_PER_TEST {
        if let Err(message) = run_sequence(seed) {
            panic!("sequence {seed} (replay with run_sequence({seed})): {message}");
        }
    }
}

#[test]
fn random_operation_sequences_keep_every_invariant_part_1() {
    run(0);
}

#[test]
fn random_operation_sequences_keep_every_invariant_part_2() {
    run(SEQUENCES_PER_TEST);
}

#[test]
fn random_operation_sequences_keep_every_invariant_part_3() {
    run(2 * SEQUENCES_PER_TEST);
}

#[test]
fn random_operation_sequences_keep_every_invariant_part_4() {
    run(3 * SEQUENCES_PER_TEST);
}

#[test]
fn the_clock_may_be_nan_or_infinite_without_a_panic() {
    for seed in 0..20_000u64 {
        let mut rng = Rng(Jitter::new(seed ^ 0x5EED));
        let mut s = Scheduler::new(random_config(&mut rng));
        let mut model = Model::default();
        for _ in 0..20 {
            let now = match rng.below(4) {
                0 => f64::NAN,
                1 => f64::INFINITY,
                2 => f64::NEG_INFINITY,
                _ => T0,
            };
            // Only the absence of a panic is asserted: no runtime passes
            // such a clock, but the core must not bring an instance down.
            let _ = step(&mut s, &mut model, &mut rng, now);
            let _ = s.next_wake(now);
            let _ = s.snapshot(now);
        }
    }
}
