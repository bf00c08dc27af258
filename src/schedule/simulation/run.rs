//! The client side of the simulation: [`run`] plays a [`Setup`] to its
//! [`Outcome`], the shipped [`Engine`] driven by events on a virtual clock
//! through the same steps the JS layer takes (see the module list in
//! [`super`]). With [`Coordinated`], several isolates (an engine each) share
//! one [`Book`](crate::coordinate::Book) over a simulated RPC, which may be
//! unreachable for a while.
//!
//! The workload, the coordinator's settings and the outcome are defined in
//! files of their own and re-exported here, where the scenarios use them.

use super::api::{SimulatedApi, Style};
use super::coordinator::Coordinator;
use super::driver::{Driver, Isolate, Track};
use super::queue::{Due, Queue};
use super::workload::exponential;
use crate::engine::{Engine, Settings};
use crate::retry::RetryPolicy;
use crate::schedule::jitter::Jitter;
use crate::schedule::Config;
use std::collections::HashMap;

pub use super::coordinator::Coordinated;
pub use super::outcome::{Outcome, Record, What};
pub use super::wire::Reported;
pub use super::workload::{offered, Background, Call, Conditions, Overload, Sizes, PARTITION, T0};

/// Everything a run needs.
#[derive(Clone, Debug)]
pub struct Setup {
    pub style: Style,
    pub config: Config,
    pub retry: RetryPolicy,
    pub calls: Vec<Call>,
    pub background: Option<Background>,
    pub overload: Option<Overload>,
    /// The server sends no rate-limit headers (see [`SimulatedApi::quiet`]).
    pub quiet: bool,
    /// Share of each token bucket already spent when the run starts.
    pub drained: f64,
    /// Reserved input tokens per true input token (1: exact costs given),
    /// a cached prefix aside: the client estimates it at its full size.
    pub estimate_factor: f64,
    /// When the server computes an admitted call's headers, and when they
    /// reach the client.
    pub reported: Reported,
    pub seed: u64,
    /// Isolates sharing a coordinator; `None`: one client on its own budget.
    pub coordinated: Option<Coordinated>,
}

/// Run a setup to the end: every call answered, given up, aborted or
/// refused, and (with a coordinator) every grant reported or expired.
pub fn run(setup: Setup) -> Outcome {
    let count = setup.coordinated.as_ref().map_or(1, |c| c.isolates.max(1));
    let isolates = (0..count)
        .map(|i| {
            let coordination = setup.coordinated.as_ref().map(|c| c.coordination.clone());
            let settings = Settings { schedule: setup.config.clone(), retry: setup.retry, max_wait_ms: None, coordination, cache_reads_count: false };
            let mut engine = Engine::new(settings);
            engine.seed(setup.seed.wrapping_mul(0x9E37_79B9).wrapping_add(i as u64));
            Isolate { engine, calls: HashMap::new(), tick_at: None }
        })
        .collect();
    let coordinator = setup.coordinated.as_ref().map(|c| Coordinator::new(c, setup.retry));
    let mut api = SimulatedApi::new(setup.style, T0, setup.drained);
    api.quiet = setup.quiet;
    let mut driver = Driver {
        api,
        outstanding: setup.calls.len(),
        track: vec![Track::default(); setup.calls.len()],
        calls: setup.calls,
        isolates,
        coordinator,
        overload: setup.overload,
        processing: 0,
        dues: Queue::default(),
        random: Jitter::new(setup.seed ^ 0xB4C6_0000),
        estimate_factor: setup.estimate_factor,
        reported: setup.reported,
        answered: false,
        spent_until: f64::NEG_INFINITY,
        rate_limited: 0,
        rate_limited_after_first_answer: 0,
        overloaded: 0,
        rate_limited_at: Vec::new(),
        sent_into_spent_window: 0,
        lost_tells: 0,
        most_grants: 0,
        log: Vec::new(),
    };
    for call in 0..driver.calls.len() {
        driver.calls[call].isolate = call % count;
        let at = driver.calls[call].arrive_at;
        driver.at(at, Due::Arrive(call));
    }
    if let Some((from, until)) = setup.coordinated.as_ref().and_then(|c| c.outage) {
        driver.at(T0 + from, Due::OutageBegins);
        driver.at(T0 + until, Due::OutageEnds);
    }
    let (mut next_background, background_ends) = match setup.background.and_then(|b| b.during) {
        Some((from, until)) => (T0 + from, T0 + until),
        None => (T0, f64::INFINITY),
    };
    let mut now = T0;
    // A run that cannot finish is a failure the tests report, not a hang:
    // a day of virtual time, or a step loop that stops the clock.
    let give_up = T0 + 24.0 * 3_600_000.0;
    let mut handled = 0_u64;
    // A streamed answer is returned before its body is written: the run
    // goes on until every body is.
    while (driver.outstanding > 0 || driver.processing > 0 || driver.coordinator_busy()) && now < give_up && handled < 50_000_000 {
        handled += 1;
        if let Some(bg) = setup.background {
            while next_background <= driver.dues.next_at().unwrap_or(now) && next_background < background_ends {
                let demand = bg.sizes.draw(&mut driver.random);
                driver.at(next_background, Due::BackgroundCall(demand));
                next_background += exponential(&mut driver.random, 60_000.0 / bg.calls_per_minute);
            }
        }
        let Some((at, due)) = driver.dues.pop() else { break };
        now = at;
        driver.handle(now, due);
        driver.settle_outputs(now);
    }
    // Pauses that end after the last call are announced as they end.
    for isolate in 0..driver.isolates.len() {
        while let Some(at) = driver.isolates[isolate].engine.next_tick() {
            driver.isolates[isolate].engine.tick(at);
            driver.drain(isolate, at);
        }
    }
    Outcome {
        calls: driver.calls,
        api: driver.api,
        engines: driver.isolates.into_iter().map(|i| i.engine).collect(),
        book: driver.coordinator.map(|c| c.book),
        rate_limited: driver.rate_limited,
        rate_limited_after_first_answer: driver.rate_limited_after_first_answer,
        overloaded: driver.overloaded,
        rate_limited_at: driver.rate_limited_at,
        sent_into_spent_window: driver.sent_into_spent_window,
        lost_tells: driver.lost_tells,
        most_grants: driver.most_grants,
        log: driver.log,
        end_ms: now,
    }
}
