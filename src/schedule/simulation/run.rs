//! The client side of the simulation: the real [`Scheduler`], driven by
//! events on a virtual clock exactly as the JS layer drives it.
//!
//! A call is enqueued when it arrives; after every event the driver polls,
//! sends what was granted, and sets one timer at [`Scheduler::next_wake`].
//! A sent call reaches the server after an uplink delay, is charged or
//! refused there, and its answer comes back after processing and a downlink
//! delay; its headers are parsed by [`crate::headers::parse`] from strings,
//! and the call is completed. A 429 or overload answer is sent again as a
//! new call (as the JS layer's retries do) after [`Scheduler::note_retry`].

use super::api::{Demand, SimulatedApi, Style};
use crate::budget::Cost;
use crate::headers::{parse, Refill};
use crate::schedule::jitter::Jitter;
use crate::schedule::{Config, Scheduler, Ticket};
use std::cmp::Ordering;
use std::collections::{BinaryHeap, HashMap};

/// 2026-05-18T22:00:00Z, a whole minute, where every run starts.
pub const T0: f64 = 1_779_141_600_000.0;

/// One call the application makes.
#[derive(Clone, Debug, Default)]
pub struct Call {
    pub arrive_at: f64,
    pub demand: Demand,
    /// Milliseconds to the server, processing there, and back.
    pub uplink_ms: f64,
    pub processing_ms: f64,
    pub downlink_ms: f64,
    /// The application gives up on it at this time, if still waiting.
    pub abort_at: Option<f64>,
    // What happened to it.
    pub first_dispatch: Option<f64>,
    pub accepted_at: Option<f64>,
    pub answered_at: Option<f64>,
    pub aborted: bool,
    pub refused: bool,
    pub rate_limited: u32,
}

/// Traffic from another client sharing the budget, unseen by ours.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Background {
    /// Calls per minute, arriving as a Poisson process.
    pub calls_per_minute: f64,
    /// The calls it makes, drawn like ours from `sizes`.
    pub sizes: Sizes,
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
        Demand { input_tokens: log_uniform(self.input_tokens, random.unit()), output_tokens: log_uniform(self.max_tokens, random.unit()) }
    }

    /// The mean of each draw (log-uniform: `(b − a) / ln(b / a)`).
    pub fn mean(&self) -> Demand {
        let mean = |(low, high): (f64, f64)| if high > low { (high - low) / (high / low).ln() } else { low };
        Demand { input_tokens: mean(self.input_tokens), output_tokens: mean(self.max_tokens) }
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

fn exponential(random: &mut Jitter, mean: f64) -> f64 {
    -mean * (1.0 - random.unit()).ln()
}

/// Everything a run needs.
#[derive(Clone, Debug)]
pub struct Setup {
    pub style: Style,
    pub config: Config,
    pub calls: Vec<Call>,
    pub background: Option<Background>,
    /// Share of each token bucket already spent when the run starts.
    pub drained: f64,
    /// Reserved input tokens per true input token (1: exact costs given).
    pub estimate_factor: f64,
    pub seed: u64,
}

/// What a run did.
#[derive(Debug)]
pub struct Outcome {
    pub calls: Vec<Call>,
    pub api: SimulatedApi,
    pub scheduler: Scheduler,
    /// Our 429s, in all and after the first answer reached the client.
    pub rate_limited: u32,
    pub rate_limited_after_first_answer: u32,
    /// Calls sent while an observed window was spent, before its reset.
    pub sent_into_spent_window: u32,
    /// The time of the last event.
    pub end_ms: f64,
}

#[derive(Debug)]
enum Event {
    Arrive(usize),
    Timer,
    Abort(usize),
    Receive(usize),
    Answer { call: usize, status: u16 },
    Deliver { call: usize, status: u16, headers: Vec<(String, String)> },
    BackgroundCall(Demand),
}

struct Queued {
    at: f64,
    order: u64,
    event: Event,
}

impl PartialEq for Queued {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}
impl Eq for Queued {}
impl PartialOrd for Queued {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Queued {
    // Earliest first in a max-heap; ties in the order scheduled.
    fn cmp(&self, other: &Self) -> Ordering {
        other.at.total_cmp(&self.at).then(other.order.cmp(&self.order))
    }
}

struct Driver {
    scheduler: Scheduler,
    api: SimulatedApi,
    calls: Vec<Call>,
    tickets: HashMap<Ticket, usize>,
    current: HashMap<usize, Ticket>,
    events: BinaryHeap<Queued>,
    order: u64,
    timer: Option<f64>,
    random: Jitter,
    estimate_factor: f64,
    outstanding: usize,
    answered: bool,
    spent_until: f64,
    outcome_counts: (u32, u32, u32),
}

impl Driver {
    fn at(&mut self, at: f64, event: Event) {
        self.order += 1;
        self.events.push(Queued { at, order: self.order, event });
    }

    fn enqueue(&mut self, call: usize, now: f64) {
        let demand = self.calls[call].demand;
        let cost = Cost::new(1.0, demand.input_tokens * self.estimate_factor, demand.output_tokens, None);
        match self.scheduler.enqueue("https://api.example.com model", cost, 0, now) {
            Ok(ticket) => {
                self.tickets.insert(ticket, call);
                self.current.insert(call, ticket);
            }
            Err(_) => self.settle(call, |c| c.refused = true),
        }
    }

    fn settle(&mut self, call: usize, mark: impl FnOnce(&mut Call)) {
        mark(&mut self.calls[call]);
        self.outstanding -= 1;
        self.current.remove(&call);
    }

    /// What the JS layer does after every event.
    fn pump(&mut self, now: f64) {
        let poll = self.scheduler.poll(now);
        for ticket in poll.granted {
            let Some(&call) = self.tickets.get(&ticket) else { continue };
            if now < self.spent_until {
                self.outcome_counts.2 += 1;
            }
            let c = &mut self.calls[call];
            c.first_dispatch.get_or_insert(now);
            let uplink = c.uplink_ms;
            self.at(now + uplink, Event::Receive(call));
        }
        for (ticket, _) in poll.refused {
            if let Some(call) = self.tickets.remove(&ticket) {
                self.settle(call, |c| c.refused = true);
            }
        }
        if let Some((_, at)) = self.scheduler.next_wake(now) {
            if self.timer.is_none_or(|t| at < t || t < now) {
                self.timer = Some(at);
                self.at(at, Event::Timer);
            }
        }
    }

    fn handle(&mut self, now: f64, event: Event) {
        match event {
            Event::Arrive(call) => {
                self.enqueue(call, now);
                if let Some(at) = self.calls[call].abort_at {
                    self.at(at, Event::Abort(call));
                }
            }
            Event::Timer => {
                if self.timer.is_some_and(|t| t <= now) {
                    self.timer = None;
                }
            }
            Event::Abort(call) => {
                if let Some(&ticket) = self.current.get(&call) {
                    if self.scheduler.is_waiting(ticket) && self.scheduler.cancel(ticket) {
                        self.tickets.remove(&ticket);
                        self.settle(call, |c| c.aborted = true);
                    }
                }
            }
            Event::Receive(call) => {
                let c = &self.calls[call];
                let (demand, processing) = (c.demand, c.processing_ms);
                match self.api.receive(&demand, now, true) {
                    Ok(()) => {
                        self.calls[call].accepted_at = Some(now);
                        let at = now + processing;
                        self.at(at, Event::Answer { call, status: 200 });
                    }
                    Err(wait) => {
                        let headers = self.api.headers(now + 5.0, Some(wait));
                        self.at(now + 5.0, Event::Deliver { call, status: 429, headers });
                    }
                }
            }
            Event::Answer { call, status } => {
                // The headers describe the server as it answers.
                let headers = self.api.headers(now, None);
                let downlink = self.calls[call].downlink_ms;
                self.at(now + downlink, Event::Deliver { call, status, headers });
            }
            Event::Deliver { call, status, headers } => {
                let Some(&ticket) = self.current.get(&call) else { return };
                let observation = parse(headers.iter().map(|(n, v)| (n.as_str(), v.as_str())), now);
                for d in observation.dimensions.iter().filter(|d| d.refill == Refill::Window && d.remaining == Some(0.0)) {
                    self.spent_until = self.spent_until.max(d.reset_at_ms.unwrap_or(now));
                }
                self.scheduler.complete(ticket, Some(status), Some(&observation), now);
                self.tickets.remove(&ticket);
                if status == 429 {
                    self.outcome_counts.0 += 1;
                    if self.answered {
                        self.outcome_counts.1 += 1;
                    }
                    self.calls[call].rate_limited += 1;
                    self.scheduler.note_retry();
                    self.enqueue(call, now);
                } else {
                    self.settle(call, |c| c.answered_at = Some(now));
                }
                self.answered = true;
            }
            Event::BackgroundCall(demand) => {
                if let Err(wait) = self.api.receive(&demand, now, false) {
                    // The other client retries after the server's retry-after.
                    let again = now + (wait / 1000.0).ceil().max(1.0) * 1000.0;
                    self.at(again, Event::BackgroundCall(demand));
                }
            }
        }
    }
}

/// Run a setup to the end: every call answered, aborted or refused.
pub fn run(setup: Setup) -> Outcome {
    let mut driver = Driver {
        scheduler: Scheduler::new(setup.config.clone()),
        api: SimulatedApi::new(setup.style, T0, setup.drained),
        outstanding: setup.calls.len(),
        calls: setup.calls,
        tickets: HashMap::new(),
        current: HashMap::new(),
        events: BinaryHeap::new(),
        order: 0,
        timer: None,
        random: Jitter::new(setup.seed ^ 0xB4C6_0000),
        estimate_factor: setup.estimate_factor,
        answered: false,
        spent_until: f64::NEG_INFINITY,
        outcome_counts: (0, 0, 0),
    };
    for call in 0..driver.calls.len() {
        let at = driver.calls[call].arrive_at;
        driver.at(at, Event::Arrive(call));
    }
    let mut next_background = T0;
    let mut now = T0;
    // A run that cannot finish is a failure the tests report, not a hang.
    let give_up = T0 + 24.0 * 3_600_000.0;
    while driver.outstanding > 0 && now < give_up {
        if let Some(bg) = setup.background {
            while next_background <= driver.events.peek().map_or(now, |q| q.at) {
                let demand = bg.sizes.draw(&mut driver.random);
                driver.at(next_background, Event::BackgroundCall(demand));
                next_background += exponential(&mut driver.random, 60_000.0 / bg.calls_per_minute);
            }
        }
        let Some(Queued { at, event, .. }) = driver.events.pop() else { break };
        now = at;
        driver.handle(now, event);
        driver.pump(now);
    }
    let (rate_limited, rate_limited_after_first_answer, sent_into_spent_window) = driver.outcome_counts;
    Outcome {
        calls: driver.calls,
        api: driver.api,
        scheduler: driver.scheduler,
        rate_limited,
        rate_limited_after_first_answer,
        sent_into_spent_window,
        end_ms: now,
    }
}
