//! The workload of a run: our calls ([`Call`], drawn by [`offered`] from
//! [`Sizes`], and made real by [`Conditions`]), another client's
//! [`Background`] traffic on the same budget, and an [`Overload`] of the
//! server.

use super::api::{Demand, Prefix};
use crate::schedule::jitter::Jitter;

/// 2026-05-18T22:00:00Z, a whole minute, where every run starts.
pub const T0: f64 = 1_779_141_600_000.0;

/// The partition every call of the simulation goes to.
pub const PARTITION: &str = "https://api.example.com model";

/// One call the application makes.
#[derive(Clone, Debug, Default)]
pub struct Call {
    pub arrive_at: f64,
    pub demand: Demand,
    /// Milliseconds to the server, processing there (from admission to the
    /// last token), and back.
    pub uplink_ms: f64,
    pub processing_ms: f64,
    pub downlink_ms: f64,
    /// From admission to the first token: when a streamed answer's headers
    /// leave the server, and when the prefix it writes to the cache becomes
    /// readable.
    pub first_token_ms: f64,
    /// The output tokens the model writes; `None`: its whole `max_tokens`.
    pub written_tokens: Option<f64>,
    /// The application gives up on it at this time, if still waiting.
    pub abort_at: Option<f64>,
    /// The isolate that makes it (0 with one client).
    pub isolate: usize,
    // What happened to it.
    pub first_dispatch: Option<f64>,
    pub accepted_at: Option<f64>,
    /// When its answer (a success) was returned to the application.
    pub answered_at: Option<f64>,
    /// When the last byte of its answer reached the client (later than
    /// `answered_at` when the answer is streamed).
    pub completed_at: Option<f64>,
    pub aborted: bool,
    pub refused: bool,
    /// Returned with a refused answer (429, 529): no retry was left, or
    /// the server's wait was longer than `maxRetryAfterMs`.
    pub gave_up: bool,
    /// 429 and 529 answers it met.
    pub rate_limited: u32,
    pub overloaded: u32,
    /// Attempts sent, and the retries among them (the engine's attempt
    /// number, less one, of its last attempt).
    pub sends: u32,
    pub retries: u32,
}

/// Traffic from another client sharing the budget, unseen by ours.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Background {
    /// Calls per minute, arriving as a Poisson process.
    pub calls_per_minute: f64,
    /// The calls it makes, drawn like ours from `sizes`.
    pub sizes: Sizes,
    /// Only from and until these times (ms after [`T0`]); `None`: always.
    pub during: Option<(f64, f64)>,
}

/// The server is short of capacity for a while: it processes at most
/// `capacity` of our calls at once, and answers 529 to the others at once
/// (charging nothing).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Overload {
    /// From and until (ms after [`T0`]).
    pub during: (f64, f64),
    pub capacity: usize,
}

/// Call sizes, drawn log-uniformly.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Sizes {
    pub input_tokens: (f64, f64),
    pub max_tokens: (f64, f64),
}

impl Sizes {
    pub fn draw(&self, random: &mut Jitter) -> Demand {
        let log_uniform = |(low, high): (f64, f64), u: f64| (low.ln() + u * (high.ln() - low.ln())).exp().round();
        let input_tokens = log_uniform(self.input_tokens, random.unit());
        Demand { input_tokens, output_tokens: log_uniform(self.max_tokens, random.unit()), prefix: None }
    }

    /// The mean of each draw (log-uniform: `(b − a) / ln(b / a)`).
    pub fn mean(&self) -> Demand {
        let mean = |(low, high): (f64, f64)| if high > low { (high - low) / (high / low).ln() } else { low };
        Demand { input_tokens: mean(self.input_tokens), output_tokens: mean(self.max_tokens), prefix: None }
    }
}

/// Calls of `sizes` arriving at `per_minute` (Poisson), from `start`, with
/// latencies drawn per call so that two runs see the same calls.
pub fn offered(count: usize, per_minute: f64, sizes: &Sizes, seed: u64) -> Vec<Call> {
    let mut random = Jitter::new(seed);
    let mut at = T0;
    (0..count)
        .map(|_| {
            let demand = sizes.draw(&mut random);
            let call = Call {
                arrive_at: at,
                demand,
                uplink_ms: 20.0 + 40.0 * random.unit(),
                // Time to first byte, then 10 to 20 ms per output token.
                processing_ms: 300.0 + demand.output_tokens * (10.0 + 10.0 * random.unit()),
                downlink_ms: 20.0 + 40.0 * random.unit(),
                ..Call::default()
            };
            at += exponential(&mut random, 60_000.0 / per_minute);
            call
        })
        .collect()
}

/// The conditions of a real API, laid over calls drawn by [`offered`]:
/// latencies drawn per call, answers shorter than `max_tokens`, and a
/// prefix shared by every call. Drawn from a generator of their own, so
/// the same seed gives the same arrivals and sizes with or without them.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Conditions {
    /// The server's time for a whole answer, from admission to its last
    /// token, drawn log-uniformly (uplink and downlink, 20 to 60 ms each,
    /// are as [`offered`] drew them).
    pub answer_ms: (f64, f64),
    /// Its time to the first token, drawn log-uniformly, and at most the
    /// whole answer.
    pub first_token_ms: (f64, f64),
    /// The share of `max_tokens` the model writes, drawn uniformly.
    pub written: (f64, f64),
    /// A prefix every call begins with, marked for caching (on top of the
    /// input tokens drawn).
    pub prefix: Option<Prefix>,
}

impl Conditions {
    /// Lay these conditions over `calls`.
    pub fn apply(&self, calls: &mut [Call], seed: u64) {
        let mut random = Jitter::new(seed ^ 0xC0_4D17_1045);
        let log_uniform = |(low, high): (f64, f64), u: f64| (low.ln() + u * (high.ln() - low.ln())).exp();
        for call in calls {
            call.processing_ms = log_uniform(self.answer_ms, random.unit());
            call.first_token_ms = log_uniform(self.first_token_ms, random.unit()).min(call.processing_ms);
            let (low, high) = self.written;
            let share = low + (high - low) * random.unit();
            call.written_tokens = Some((call.demand.output_tokens * share).round().max(1.0));
            if let Some(prefix) = self.prefix {
                call.demand.input_tokens += prefix.tokens;
                call.demand.prefix = Some(prefix);
            }
        }
    }
}

/// A wait drawn from the exponential distribution of `mean` (the gaps of a
/// Poisson process).
pub(super) fn exponential(random: &mut Jitter, mean: f64) -> f64 {
    -mean * (1.0 - random.unit()).ln()
}
