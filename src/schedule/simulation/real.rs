//! Scenarios under real conditions, each run over several seeds: what the
//! server documents (Anthropic's rate-limit page) and the kind scenarios of
//! [`super::scenarios`] leave out.
//!
//! - the headers describe the limits in effect when the call was admitted,
//!   and reach the client with the answer (its whole latency later) or, for
//!   a streamed answer, at its first token ([`Reported`]), dated (`Date`)
//!   when they leave the server;
//! - the model writes 20 to 100 % of `max_tokens` (uniformly), and the
//!   rest goes back to the output bucket when the answer is written;
//! - the server's time for a whole answer is drawn per call,
//!   log-uniformly, from 0.3 to 1.5 s ([`FAST`]), from 1 to 3 s
//!   ([`SLOW`]) or from 5 to 15 s ([`LONG`]), its first token from 0.1 to
//!   0.3 s, 0.3 to 1 s or 1.5 to 5 s;
//! - the client's estimate of a call's input tokens is exact, 25 % high or
//!   25 % low;
//! - every call may begin with a system prompt of 4,000 tokens marked for
//!   caching ([`SYSTEM_PROMPT`]): a call that reads it from the cache is
//!   charged only its other input tokens; the client estimates the prompt
//!   at full size with the prefix's breakpoint, as the estimator finds it
//!   in a body, and the engine takes the prefix off once it is warm.
//!
//! Each run is a burst of [`CALLS`] calls of [`SIZES`] offered at 5× the
//! limit to the API of [`super::scenarios`] (input tokens bind), with no
//! limits known in advance. It is judged by the time until the last answer
//! reached the client over the least it can be (the limit-bound minimum of
//! what the server charged, plus the mean latency of an answer: see
//! [`Figures::with_answer_minimum`]), and by its 429s after the first
//! answer per 1,000 calls. The target is [`TARGET_TIMES_MINIMUM`] and
//! [`TARGET_PER_THOUSAND`] for every seed (answers of 5 to 15 s are held to
//! 1.07×: see their test).

use super::api::Prefix;
use super::run::{offered, run, Background, Conditions, Outcome, Reported, Setup};
use super::scenarios::{setup, sustainable, Figures, SIZES};
use std::ops::Range;

/// Calls in each run.
pub const CALLS: usize = 1_000;
/// The seeds the example prints.
pub const SEEDS: Range<u64> = 1..11;
/// The target for every run: the time until the last answer within 5 % of
/// its minimum, and at most one 429 per 1,000 calls after the first answer.
pub const TARGET_TIMES_MINIMUM: f64 = 1.05;
pub const TARGET_PER_THOUSAND: f64 = 1.0;

/// Answers of 0.3 to 1.5 s, first token after 0.1 to 0.3 s.
pub const FAST: Conditions = Conditions { answer_ms: (300.0, 1_500.0), first_token_ms: (100.0, 300.0), written: (0.2, 1.0), prefix: None };
/// Answers of 1 to 3 s, first token after 0.3 to 1 s.
pub const SLOW: Conditions = Conditions { answer_ms: (1_000.0, 3_000.0), first_token_ms: (300.0, 1_000.0), written: (0.2, 1.0), prefix: None };
/// Answers of 5 to 15 s, first token after 1.5 to 5 s: an LLM writing a
/// long answer.
pub const LONG: Conditions = Conditions { answer_ms: (5_000.0, 15_000.0), first_token_ms: (1_500.0, 5_000.0), written: (0.2, 1.0), prefix: None };
/// A system prompt every call of [`Real::Cached`] begins with.
pub const SYSTEM_PROMPT: Prefix = Prefix { id: 1, tokens: 4_000.0 };

/// The scenarios of the family.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Real {
    /// (a) Answers of 0.3 to 1.5 s, headers with the answer, exact estimates.
    Fast,
    /// (b) Answers of 1 to 3 s.
    Slow,
    /// (c) As (a), input estimated 25 % high.
    High,
    /// (d) As (a), input estimated 25 % low.
    Low,
    /// (e) As (a), every call beginning with a cached system prompt.
    Cached,
    /// (f) As (a), answers streamed: the headers arrive at the first token.
    Streamed,
    /// (g) Answers of 5 to 15 s, exact estimates.
    Long,
}

impl Real {
    pub const ALL: [Real; 7] = [Real::Fast, Real::Slow, Real::High, Real::Low, Real::Cached, Real::Streamed, Real::Long];

    pub fn name(self) -> &'static str {
        match self {
            Real::Fast => "(a) answers 0.3-1.5 s, exact estimate",
            Real::Slow => "(b) answers 1-3 s, exact estimate",
            Real::High => "(c) as (a), estimate +25%",
            Real::Low => "(d) as (a), estimate -25%",
            Real::Cached => "(e) as (a), cached prompt of 4,000",
            Real::Streamed => "(f) as (a), headers at first token",
            Real::Long => "(g) answers 5-15 s, exact estimate",
        }
    }

    fn conditions(self) -> Conditions {
        match self {
            Real::Slow => SLOW,
            Real::Long => LONG,
            Real::Cached => Conditions { prefix: Some(SYSTEM_PROMPT), ..FAST },
            Real::Fast | Real::High | Real::Low | Real::Streamed => FAST,
        }
    }

    fn estimate_factor(self) -> f64 {
        match self {
            Real::High => 1.25,
            Real::Low => 0.75,
            _ => 1.0,
        }
    }

    fn reported(self) -> Reported {
        match self {
            Real::Streamed => Reported::Streamed,
            _ => Reported::AtAdmission,
        }
    }
}

/// One run of a scenario: the calls (arrivals, sizes and conditions) and
/// the engine's jitter drawn from `seed`. Two scenarios with the same seed
/// see the same calls, but for the cached prefix.
pub fn real(which: Real, seed: u64) -> (Figures, Outcome) {
    let outcome = run(real_setup(which, seed));
    (Figures::of(which.name(), &outcome).with_answer_minimum(&outcome), outcome)
}

fn real_setup(which: Real, seed: u64) -> Setup {
    let mut calls = offered(CALLS, 5.0 * sustainable(&SIZES), &SIZES, 1_000 + seed);
    which.conditions().apply(&mut calls, seed);
    let mut setup = setup(calls);
    setup.estimate_factor = which.estimate_factor();
    setup.reported = which.reported();
    setup.seed = seed;
    setup
}

/// A run of `which` while another client on the same key, unseen, takes
/// 30 % of what the limit sustains (in calls like ours, arriving at
/// random): the time against the minimum means nothing here, its 429s do.
pub fn with_another_client(which: Real, seed: u64) -> Outcome {
    let mut setup = real_setup(which, seed);
    setup.background = Some(Background { calls_per_minute: 0.3 * sustainable(&SIZES), sizes: SIZES, during: None });
    run(setup)
}

/// A scenario over several seeds.
#[derive(Clone, Debug, PartialEq)]
pub struct Spread {
    pub name: &'static str,
    pub seeds: Range<u64>,
    /// Calls over all runs, and those answered.
    pub calls: usize,
    pub answered: usize,
    /// The least, median and greatest `times_minimum` of the runs.
    pub times_minimum: [f64; 3],
    /// 429s after the first answer, over all runs and in the worst run.
    pub rate_limited_after_first_answer: u32,
    pub worst_run: u32,
    /// The same in the worst run per 1,000 of its calls.
    pub worst_per_thousand: f64,
    /// Cache reads and writes over all runs.
    pub cache_reads: u32,
    pub cache_writes: u32,
}

impl Spread {
    /// 429s after the first answer per 1,000 calls, over all runs.
    pub fn per_thousand(&self) -> f64 {
        f64::from(self.rate_limited_after_first_answer) * 1000.0 / self.calls.max(1) as f64
    }
}

/// Run a scenario once per seed.
pub fn spread(which: Real, seeds: Range<u64>) -> Spread {
    let runs: Vec<Figures> = seeds.clone().map(|seed| real(which, seed).0).collect();
    let mut ratios: Vec<f64> = runs.iter().map(|f| f.times_minimum.unwrap_or(f64::NAN)).collect();
    ratios.sort_by(f64::total_cmp);
    let n = ratios.len();
    let median = if n == 0 { f64::NAN } else { (ratios[(n - 1) / 2] + ratios[n / 2]) / 2.0 };
    let worst = runs.iter().max_by(|a, b| a.rate_limited_per_thousand().total_cmp(&b.rate_limited_per_thousand()));
    Spread {
        name: which.name(),
        seeds,
        calls: runs.iter().map(|f| f.calls).sum(),
        answered: runs.iter().map(|f| f.answered).sum(),
        times_minimum: [ratios.first().copied().unwrap_or(f64::NAN), median, ratios.last().copied().unwrap_or(f64::NAN)],
        rate_limited_after_first_answer: runs.iter().map(|f| f.rate_limited_after_first_answer).sum(),
        worst_run: worst.map_or(0, |f| f.rate_limited_after_first_answer),
        worst_per_thousand: worst.map_or(0.0, Figures::rate_limited_per_thousand),
        cache_reads: runs.iter().map(|f| f.cache_reads).sum(),
        cache_writes: runs.iter().map(|f| f.cache_writes).sum(),
    }
}
