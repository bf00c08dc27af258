//! The client side of the simulation: the shipped [`Engine`], driven by
//! events on a virtual clock through the same steps the JS layer takes.
//!
//! A call is given to [`Engine::enqueue`] when it arrives, then stepped
//! ([`Engine::step`]) and its step carried out: [`Step::Wait`] sets a timer
//! for that call (a stale one is harmless: a call stepped early waits
//! again), [`Step::Send`] sends it, [`Step::Ask`] asks the coordinator,
//! [`Step::ReadBody`] hands over the body of a refused answer, and
//! [`Step::Return`] or [`Step::Refuse`] settle it. After every event the
//! driver steps each call [`Engine::take_woken`] names, logs
//! [`Engine::take_events`], carries [`Engine::take_tells`] to the
//! coordinator, and sets a timer at [`Engine::next_tick`] for a pause that
//! ends with nobody waiting.
//!
//! A sent call reaches the server after an uplink delay, is charged or
//! refused there, and its answer comes back after processing and a downlink
//! delay; its headers are parsed by [`crate::headers::parse`] from strings
//! and reported with [`Engine::answered`]. Whether and when a refused call
//! is sent again (the server's `retry-after`, backoff, `maxRetries`), and the
//! pause of its partition, are the engine's decisions.
//!
//! With [`Coordinated`], several isolates (an engine each) share one
//! [`Book`] over a simulated RPC, which may be unreachable for a while.

use super::api::{Demand, SimulatedApi, Style};
use crate::budget::Cost;
use crate::coordinate::{Book, Request};
use crate::engine::{Answer, Ask, AskId, CallId, CallSpec, Coordination, Engine, Event, Grants, Settings, Step, Tell};
use crate::headers::{parse, Refill};
use crate::retry::RetryPolicy;
use crate::schedule::jitter::Jitter;
use crate::schedule::{Config, Scheduler};
use std::cmp::Ordering;
use std::collections::{BinaryHeap, HashMap};

/// 2026-05-18T22:00:00Z, a whole minute, where every run starts.
pub const T0: f64 = 1_779_141_600_000.0;

/// The partition every call of the simulation goes to.
pub const PARTITION: &str = "https://api.example.com model";

/// The body of the simulated API's 429, as the engine reads it when a 429
/// names no time (a rate limit, not a spend limit).
const RATE_LIMIT_BODY: &str =
    r#"{"type":"error","error":{"type":"rate_limit_error","message":"Number of request tokens has exceeded your per-minute rate limit"}}"#;

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
    /// The isolate that makes it (0 with one client).
    pub isolate: usize,
    // What happened to it.
    pub first_dispatch: Option<f64>,
    pub accepted_at: Option<f64>,
    /// When its answer (a success) was returned to the application.
    pub answered_at: Option<f64>,
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

/// Several isolates of one client (an engine each) sharing one
/// coordinator's [`Book`] over a simulated RPC.
#[derive(Clone, Debug, PartialEq)]
pub struct Coordinated {
    pub isolates: usize,
    pub coordination: Coordination,
    /// The coordinator's own settings (its limits, `maxConcurrent`).
    pub book: Config,
    /// One way, an isolate to the coordinator or back.
    pub rpc_ms: f64,
    /// The coordinator cannot be reached from and until these times (ms
    /// after [`T0`]). A request for grants that arrives then fails after
    /// the RPC latency; requests waiting at the coordinator when it drops
    /// out fail (and are forgotten there); messages that arrive then are
    /// lost. Its book (budget and grants) is kept, as a restart restores it.
    pub outage: Option<(f64, f64)>,
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
    pub retry: RetryPolicy,
    pub calls: Vec<Call>,
    pub background: Option<Background>,
    pub overload: Option<Overload>,
    /// The server sends no rate-limit headers (see [`SimulatedApi::quiet`]).
    pub quiet: bool,
    /// Share of each token bucket already spent when the run starts.
    pub drained: f64,
    /// Reserved input tokens per true input token (1: exact costs given).
    pub estimate_factor: f64,
    pub seed: u64,
    /// Isolates sharing a coordinator; `None`: one client on its own budget.
    pub coordinated: Option<Coordinated>,
}

/// What a run did.
#[derive(Debug)]
pub struct Outcome {
    pub calls: Vec<Call>,
    pub api: SimulatedApi,
    /// The engine of each isolate (one without a coordinator).
    pub engines: Vec<Engine>,
    /// The coordinator's book, when there is one.
    pub book: Option<Book>,
    /// Our 429s, in all and after the first answer reached the client.
    pub rate_limited: u32,
    pub rate_limited_after_first_answer: u32,
    /// Our 529s.
    pub overloaded: u32,
    /// When the server refused each of our calls with a 429.
    pub rate_limited_at: Vec<f64>,
    /// Calls sent while an observed window was spent, before its reset.
    pub sent_into_spent_window: u32,
    /// Messages to the coordinator lost while it could not be reached.
    pub lost_tells: u32,
    /// The most grants outstanding at the coordinator at any moment.
    pub most_grants: usize,
    /// Every event of every isolate and every attempt sent, in order.
    pub log: Vec<Record>,
    /// The time of the last event.
    pub end_ms: f64,
}

impl Outcome {
    /// The scheduler of the first (with one client, the only) isolate.
    pub fn scheduler(&self) -> &Scheduler {
        self.engines[0].scheduler()
    }
}

/// One line of the log of a run.
#[derive(Clone, Debug, PartialEq)]
pub struct Record {
    pub at: f64,
    pub isolate: usize,
    pub what: What,
}

#[derive(Clone, Debug, PartialEq)]
pub enum What {
    /// An engine's event.
    Event(Event),
    /// The driver sent attempt `attempt` of call `call` (as [`Step::Send`] said).
    Sent { call: usize, attempt: u32 },
    /// The driver asked the coordinator for grants for call `call` (as [`Step::Ask`] said).
    Asked { call: usize },
}

/// What happens at a moment of the virtual clock.
#[derive(Debug)]
enum Due {
    Arrive(usize),
    /// A call's timer: step it.
    Wake(usize),
    /// An isolate's timer at [`Engine::next_tick`].
    Tick(usize),
    Abort(usize),
    Receive(usize),
    Answer {
        call: usize,
        status: u16,
    },
    Deliver {
        call: usize,
        status: u16,
        headers: Vec<(String, String)>,
    },
    BackgroundCall(Demand),
    /// A request for grants reaches the coordinator.
    AskArrives {
        isolate: usize,
        ask: Ask,
    },
    /// The coordinator's answer reaches an isolate.
    AskAnswered {
        isolate: usize,
        ask: AskId,
        grants: Grants,
    },
    TellArrives(Tell),
    /// A request's timer at the coordinator.
    BookWake(CallId),
    /// The coordinator's timer at [`Engine::next_tick`], and its alarm for
    /// expiring grants.
    BookTick,
    BookExpire,
    OutageBegins,
    OutageEnds,
}

struct Queued {
    at: f64,
    order: u64,
    due: Due,
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

/// The driver's side of a call.
#[derive(Clone, Debug, Default)]
struct Track {
    /// Its id in its isolate's engine, once queued.
    id: Option<CallId>,
    in_flight: bool,
    done: bool,
    /// The earliest timer set for it and not yet fired.
    wake_at: Option<f64>,
    /// The status of its last answer.
    status: Option<u16>,
}

struct Isolate {
    engine: Engine,
    /// The simulation's call of each engine call.
    calls: HashMap<CallId, usize>,
    tick_at: Option<f64>,
}

struct Coordinator {
    book: Book,
    rpc_ms: f64,
    down: bool,
    /// Requests waiting in the book: the isolate and request each answers.
    waiting: HashMap<CallId, (usize, AskId)>,
    wake_at: HashMap<CallId, f64>,
    tick_at: Option<f64>,
    expire_at: Option<f64>,
    /// Messages on their way, either way.
    in_transit: usize,
}

struct Driver {
    api: SimulatedApi,
    calls: Vec<Call>,
    track: Vec<Track>,
    isolates: Vec<Isolate>,
    coordinator: Option<Coordinator>,
    overload: Option<Overload>,
    /// Our calls being processed at the server.
    processing: usize,
    dues: BinaryHeap<Queued>,
    order: u64,
    random: Jitter,
    estimate_factor: f64,
    outstanding: usize,
    answered: bool,
    spent_until: f64,
    rate_limited: u32,
    rate_limited_after_first_answer: u32,
    overloaded: u32,
    rate_limited_at: Vec<f64>,
    sent_into_spent_window: u32,
    lost_tells: u32,
    most_grants: usize,
    log: Vec<Record>,
}

impl Driver {
    fn at(&mut self, at: f64, due: Due) {
        self.order += 1;
        self.dues.push(Queued { at, order: self.order, due });
    }

    fn settle(&mut self, call: usize, mark: impl FnOnce(&mut Call)) {
        let track = &mut self.track[call];
        if track.done {
            return;
        }
        track.done = true;
        mark(&mut self.calls[call]);
        self.outstanding -= 1;
    }

    fn arrive(&mut self, call: usize, now: f64) {
        let c = &self.calls[call];
        let cost = Cost::new(1.0, c.demand.input_tokens * self.estimate_factor, c.demand.output_tokens, None);
        let spec = CallSpec { key: PARTITION.to_string(), cost, guessed: 0.0, priority: 0, retries: true };
        let isolate = c.isolate;
        let abort_at = c.abort_at;
        let queued = self.isolates[isolate].engine.enqueue(spec, now);
        self.drain(isolate, now);
        match queued {
            Ok(id) => {
                self.track[call].id = Some(id);
                self.isolates[isolate].calls.insert(id, call);
                if let Some(at) = abort_at {
                    self.at(at, Due::Abort(call));
                }
                self.step(call, now);
            }
            Err(_) => self.settle(call, |c| c.refused = true),
        }
    }

    /// Step a call and carry its steps out, until it waits or is settled.
    fn step(&mut self, call: usize, now: f64) {
        let isolate = self.calls[call].isolate;
        let Some(id) = self.track[call].id else { return };
        if self.track[call].done || self.track[call].in_flight {
            return;
        }
        loop {
            let step = self.isolates[isolate].engine.step(id, now);
            self.drain(isolate, now);
            match step {
                Step::Wait { until } => {
                    let track = &mut self.track[call];
                    if track.wake_at.is_none_or(|w| until < w) {
                        track.wake_at = Some(until);
                        self.at(until, Due::Wake(call));
                    }
                    return;
                }
                Step::Send { attempt } => {
                    self.send(call, attempt, now);
                    return;
                }
                // The call waits for the answer: the next step says so.
                Step::Ask(ask) => {
                    self.log.push(Record { at: now, isolate, what: What::Asked { call } });
                    self.ask(isolate, ask, now);
                }
                Step::ReadBody { .. } => self.isolates[isolate].engine.body_read(id, RATE_LIMIT_BODY),
                Step::Return => {
                    let status = self.track[call].status;
                    let refused_answer = status.is_some_and(|s| crate::retry::RETRIED_STATUSES.contains(&s));
                    self.forget(call);
                    self.settle(call, |c| if refused_answer { c.gave_up = true } else { c.answered_at = Some(now) });
                    return;
                }
                Step::Refuse(_) => {
                    self.forget(call);
                    self.settle(call, |c| c.refused = true);
                    return;
                }
            }
        }
    }

    fn forget(&mut self, call: usize) {
        if let Some(id) = self.track[call].id {
            self.isolates[self.calls[call].isolate].calls.remove(&id);
        }
    }

    fn send(&mut self, call: usize, attempt: u32, now: f64) {
        if now < self.spent_until {
            self.sent_into_spent_window += 1;
        }
        let isolate = self.calls[call].isolate;
        self.log.push(Record { at: now, isolate, what: What::Sent { call, attempt } });
        self.track[call].in_flight = true;
        let c = &mut self.calls[call];
        c.first_dispatch.get_or_insert(now);
        c.sends += 1;
        c.retries = attempt - 1;
        let uplink = c.uplink_ms;
        self.at(now + uplink, Due::Receive(call));
    }

    /// Take an isolate's events and messages for the coordinator.
    fn drain(&mut self, isolate: usize, now: f64) {
        let engine = &mut self.isolates[isolate].engine;
        let events = engine.take_events();
        let tells = engine.take_tells();
        self.log.extend(events.into_iter().map(|event| Record { at: now, isolate, what: What::Event(event) }));
        if let Some(coordinator) = &mut self.coordinator {
            let rpc = coordinator.rpc_ms;
            coordinator.in_transit += tells.len();
            for tell in tells {
                self.at(now + rpc, Due::TellArrives(tell));
            }
        }
    }

    /// After every event: step the calls the engines woke, and set their
    /// timers for pauses that end with nobody waiting.
    fn settle_outputs(&mut self, now: f64) {
        loop {
            let mut stepped = false;
            for isolate in 0..self.isolates.len() {
                let woken = self.isolates[isolate].engine.take_woken();
                self.drain(isolate, now);
                for id in woken {
                    if let Some(&call) = self.isolates[isolate].calls.get(&id) {
                        stepped = true;
                        self.step(call, now);
                    }
                }
            }
            if let Some(coordinator) = &mut self.coordinator {
                let woken = coordinator.book.engine().take_woken();
                for call in woken {
                    stepped = true;
                    self.step_book(call, now);
                }
            }
            if !stepped {
                break;
            }
        }
        for isolate in 0..self.isolates.len() {
            let next = self.isolates[isolate].engine.next_tick();
            if let Some(at) = next.filter(|at| self.isolates[isolate].tick_at.is_none_or(|t| *at < t || t < now)) {
                self.isolates[isolate].tick_at = Some(at);
                self.at(at, Due::Tick(isolate));
            }
        }
        let Some(coordinator) = &mut self.coordinator else { return };
        coordinator.book.engine().take_events();
        let tick = coordinator.book.engine().next_tick().filter(|at| coordinator.tick_at.is_none_or(|t| *at < t || t < now));
        let expiry = coordinator.book.next_expiry().filter(|at| coordinator.expire_at.is_none_or(|t| *at < t || t < now));
        self.most_grants = self.most_grants.max(coordinator.book.outstanding());
        if let Some(at) = tick {
            coordinator.tick_at = Some(at);
        }
        if let Some(at) = expiry {
            coordinator.expire_at = Some(at);
        }
        if let Some(at) = tick {
            self.at(at, Due::BookTick);
        }
        if let Some(at) = expiry {
            self.at(at, Due::BookExpire);
        }
    }

    fn ask(&mut self, isolate: usize, ask: Ask, now: f64) {
        let Some(coordinator) = &mut self.coordinator else { return };
        coordinator.in_transit += 1;
        let rpc = coordinator.rpc_ms;
        self.at(now + rpc, Due::AskArrives { isolate, ask });
    }

    /// The coordinator answers a request, one RPC latency later.
    fn reply(&mut self, isolate: usize, ask: AskId, grants: Grants, now: f64) {
        let Some(coordinator) = &mut self.coordinator else { return };
        coordinator.in_transit += 1;
        let rpc = coordinator.rpc_ms;
        self.at(now + rpc, Due::AskAnswered { isolate, ask, grants });
    }

    /// Step a request at the coordinator, as its `acquire` does.
    fn step_book(&mut self, call: CallId, now: f64) {
        let Some(coordinator) = &mut self.coordinator else { return };
        let Some(&(isolate, ask)) = coordinator.waiting.get(&call) else { return };
        match coordinator.book.engine().step(call, now) {
            Step::Wait { until } => {
                if coordinator.wake_at.get(&call).is_none_or(|w| until < *w) {
                    coordinator.wake_at.insert(call, until);
                    self.at(until, Due::BookWake(call));
                }
            }
            Step::Send { .. } => {
                let grants = coordinator.book.grant(call, now);
                coordinator.waiting.remove(&call);
                coordinator.wake_at.remove(&call);
                self.reply(isolate, ask, Grants::Granted(grants), now);
            }
            Step::Refuse(refusal) => {
                coordinator.waiting.remove(&call);
                coordinator.wake_at.remove(&call);
                self.reply(isolate, ask, Grants::Refused(refusal), now);
            }
            step => panic!("a request for grants at {now} stepped to {step:?}"),
        }
    }

    fn handle(&mut self, now: f64, due: Due) {
        match due {
            Due::Arrive(call) => self.arrive(call, now),
            Due::Wake(call) => {
                let track = &mut self.track[call];
                if track.wake_at == Some(now) {
                    track.wake_at = None;
                }
                self.step(call, now);
            }
            Due::Tick(isolate) => {
                if self.isolates[isolate].tick_at.is_some_and(|t| t <= now) {
                    self.isolates[isolate].tick_at = None;
                }
                self.isolates[isolate].engine.tick(now);
                self.drain(isolate, now);
            }
            Due::Abort(call) => {
                let track = &self.track[call];
                if track.done || track.in_flight {
                    return;
                }
                let isolate = self.calls[call].isolate;
                if let Some(id) = track.id {
                    self.isolates[isolate].engine.abort(id, now);
                    self.drain(isolate, now);
                    self.forget(call);
                    self.settle(call, |c| c.aborted = true);
                }
            }
            Due::Receive(call) => {
                let c = &self.calls[call];
                let (demand, processing) = (c.demand, c.processing_ms);
                let overloaded = self.overload.is_some_and(|o| {
                    let (from, until) = o.during;
                    (T0 + from..T0 + until).contains(&now) && self.processing >= o.capacity
                });
                if overloaded {
                    // Turned away before any work: nothing is charged.
                    let headers = self.api.headers(now + 5.0, None);
                    self.at(now + 5.0, Due::Deliver { call, status: 529, headers });
                    return;
                }
                match self.api.receive(&demand, now, true) {
                    Ok(()) => {
                        self.calls[call].accepted_at = Some(now);
                        self.processing += 1;
                        self.at(now + processing, Due::Answer { call, status: 200 });
                    }
                    Err(wait) => {
                        self.rate_limited_at.push(now);
                        let headers = self.api.headers(now + 5.0, Some(wait));
                        self.at(now + 5.0, Due::Deliver { call, status: 429, headers });
                    }
                }
            }
            Due::Answer { call, status } => {
                self.processing -= 1;
                // The headers describe the server as it answers.
                let headers = self.api.headers(now, None);
                let downlink = self.calls[call].downlink_ms;
                self.at(now + downlink, Due::Deliver { call, status, headers });
            }
            Due::Deliver { call, status, headers } => {
                let observation = parse(headers.iter().map(|(n, v)| (n.as_str(), v.as_str())), now);
                for d in observation.dimensions.iter().filter(|d| d.refill == Refill::Window && d.remaining == Some(0.0)) {
                    self.spent_until = self.spent_until.max(d.reset_at_ms.unwrap_or(now));
                }
                match status {
                    429 => {
                        self.rate_limited += 1;
                        if self.answered {
                            self.rate_limited_after_first_answer += 1;
                        }
                        self.calls[call].rate_limited += 1;
                    }
                    529 => {
                        self.overloaded += 1;
                        self.calls[call].overloaded += 1;
                    }
                    _ => {}
                }
                self.answered = true;
                let isolate = self.calls[call].isolate;
                let track = &mut self.track[call];
                track.in_flight = false;
                track.status = Some(status);
                let Some(id) = track.id else { return };
                self.isolates[isolate].engine.answered(id, Answer::Heard { status, observation, fields: headers }, now);
                self.drain(isolate, now);
                self.step(call, now);
            }
            Due::BackgroundCall(demand) => {
                if let Err(wait) = self.api.receive(&demand, now, false) {
                    // The other client retries after the server's retry-after.
                    let again = now + (wait / 1000.0).ceil().max(1.0) * 1000.0;
                    self.at(again, Due::BackgroundCall(demand));
                }
            }
            Due::AskArrives { isolate, ask } => {
                let Some(coordinator) = &mut self.coordinator else { return };
                coordinator.in_transit -= 1;
                if coordinator.down {
                    self.reply(isolate, ask.id, Grants::Failed, now);
                    return;
                }
                let request = Request { key: ask.key, cost: ask.cost, guessed: ask.guessed, count: ask.count, lease_ms: ask.lease_ms };
                match coordinator.book.request(request, now) {
                    Ok(call) => {
                        coordinator.waiting.insert(call, (isolate, ask.id));
                        self.step_book(call, now);
                    }
                    Err(refusal) => self.reply(isolate, ask.id, Grants::Refused(refusal), now),
                }
            }
            Due::AskAnswered { isolate, ask, grants } => {
                if let Some(coordinator) = &mut self.coordinator {
                    coordinator.in_transit -= 1;
                }
                self.isolates[isolate].engine.coordinator_answered(ask, grants, now);
                self.drain(isolate, now);
            }
            Due::TellArrives(tell) => {
                let Some(coordinator) = &mut self.coordinator else { return };
                coordinator.in_transit -= 1;
                if coordinator.down {
                    self.lost_tells += 1;
                    return;
                }
                let book = &mut coordinator.book;
                match tell {
                    Tell::Sent(ids) => book.sent(&ids, now),
                    Tell::Complete { grant, status, fields } => {
                        let observation = fields.map(|f| parse(f.iter().map(|(n, v)| (n.as_str(), v.as_str())), now));
                        book.complete(grant, status, observation.as_ref(), now);
                    }
                    Tell::Release(ids) => book.release(&ids, now),
                }
            }
            Due::BookWake(call) => {
                let Some(coordinator) = &mut self.coordinator else { return };
                if coordinator.wake_at.get(&call) == Some(&now) {
                    coordinator.wake_at.remove(&call);
                }
                self.step_book(call, now);
            }
            Due::BookTick => {
                let Some(coordinator) = &mut self.coordinator else { return };
                if coordinator.tick_at.is_some_and(|t| t <= now) {
                    coordinator.tick_at = None;
                }
                coordinator.book.engine().tick(now);
            }
            Due::BookExpire => {
                let Some(coordinator) = &mut self.coordinator else { return };
                if coordinator.expire_at.is_some_and(|t| t <= now) {
                    coordinator.expire_at = None;
                }
                coordinator.book.expire(now);
            }
            Due::OutageBegins => {
                let Some(coordinator) = &mut self.coordinator else { return };
                coordinator.down = true;
                // The requests waiting there fail with their connections.
                let mut waiting: Vec<(CallId, (usize, AskId))> = coordinator.waiting.drain().collect();
                waiting.sort_unstable_by_key(|(call, _)| *call);
                for (call, _) in &waiting {
                    coordinator.book.forget(*call, now);
                    coordinator.wake_at.remove(call);
                }
                for (_, (isolate, ask)) in waiting {
                    self.reply(isolate, ask, Grants::Failed, now);
                }
            }
            Due::OutageEnds => {
                if let Some(coordinator) = &mut self.coordinator {
                    coordinator.down = false;
                }
            }
        }
    }

    /// Whether the coordinator still has work: grants outstanding, or
    /// messages on their way.
    fn coordinator_busy(&self) -> bool {
        self.coordinator.as_ref().is_some_and(|c| c.in_transit > 0 || c.book.outstanding() > 0)
    }
}

/// Run a setup to the end: every call answered, given up, aborted or
/// refused, and (with a coordinator) every grant reported or expired.
pub fn run(setup: Setup) -> Outcome {
    let count = setup.coordinated.as_ref().map_or(1, |c| c.isolates.max(1));
    let isolates = (0..count)
        .map(|i| {
            let coordination = setup.coordinated.as_ref().map(|c| c.coordination.clone());
            let settings = Settings { schedule: setup.config.clone(), retry: setup.retry, max_wait_ms: None, coordination };
            let mut engine = Engine::new(settings);
            engine.seed(setup.seed.wrapping_mul(0x9E37_79B9).wrapping_add(i as u64));
            Isolate { engine, calls: HashMap::new(), tick_at: None }
        })
        .collect();
    let coordinator = setup.coordinated.as_ref().map(|c| {
        let settings = Settings { schedule: c.book.clone(), retry: setup.retry, max_wait_ms: None, coordination: None };
        Coordinator {
            book: Book::new(settings, None, T0),
            rpc_ms: c.rpc_ms,
            down: false,
            waiting: HashMap::new(),
            wake_at: HashMap::new(),
            tick_at: None,
            expire_at: None,
            in_transit: 0,
        }
    });
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
        dues: BinaryHeap::new(),
        order: 0,
        random: Jitter::new(setup.seed ^ 0xB4C6_0000),
        estimate_factor: setup.estimate_factor,
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
    while (driver.outstanding > 0 || driver.coordinator_busy()) && now < give_up && handled < 50_000_000 {
        handled += 1;
        if let Some(bg) = setup.background {
            while next_background <= driver.dues.peek().map_or(now, |q| q.at) && next_background < background_ends {
                let demand = bg.sizes.draw(&mut driver.random);
                driver.at(next_background, Due::BackgroundCall(demand));
                next_background += exponential(&mut driver.random, 60_000.0 / bg.calls_per_minute);
            }
        }
        let Some(Queued { at, due, .. }) = driver.dues.pop() else { break };
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
