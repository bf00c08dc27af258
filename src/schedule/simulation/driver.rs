//! The driver of a run: the shipped [`Engine`] of each isolate, driven by
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
//! A sent call's trip to the server and back is in `wire`; the coordinator
//! and the RPC to it, in `coordinator`.

use super::api::SimulatedApi;
use super::coordinator::Coordinator;
use super::outcome::{Record, What};
use super::queue::{Due, Queue};
use super::wire::Reported;
use super::workload::{Call, Overload, PARTITION};
use crate::budget::Cost;
use crate::engine::{CallId, CallSpec, Engine, Step};
use crate::estimate::cache::TTL_MS;
use crate::estimate::Breakpoint;
use crate::schedule::jitter::Jitter;
use std::collections::HashMap;

/// The body of the simulated API's 429, as the engine reads it when a 429
/// names no time (a rate limit, not a spend limit).
const RATE_LIMIT_BODY: &str =
    r#"{"type":"error","error":{"type":"rate_limit_error","message":"Number of request tokens has exceeded your per-minute rate limit"}}"#;

/// The driver's side of a call.
#[derive(Clone, Debug, Default)]
pub(super) struct Track {
    /// Its id in its isolate's engine, once queued.
    pub(super) id: Option<CallId>,
    pub(super) in_flight: bool,
    pub(super) done: bool,
    /// The earliest timer set for it and not yet fired.
    pub(super) wake_at: Option<f64>,
    /// The status of its last answer.
    pub(super) status: Option<u16>,
}

pub(super) struct Isolate {
    pub(super) engine: Engine,
    /// The simulation's call of each engine call.
    pub(super) calls: HashMap<CallId, usize>,
    pub(super) tick_at: Option<f64>,
}

pub(super) struct Driver {
    pub(super) api: SimulatedApi,
    pub(super) calls: Vec<Call>,
    pub(super) track: Vec<Track>,
    pub(super) isolates: Vec<Isolate>,
    pub(super) coordinator: Option<Coordinator>,
    pub(super) overload: Option<Overload>,
    /// Our calls being processed at the server (a streamed answer's body
    /// may still be written after the engine has returned it).
    pub(super) processing: usize,
    pub(super) dues: Queue,
    pub(super) random: Jitter,
    pub(super) estimate_factor: f64,
    pub(super) reported: Reported,
    pub(super) outstanding: usize,
    pub(super) answered: bool,
    pub(super) spent_until: f64,
    pub(super) rate_limited: u32,
    pub(super) rate_limited_after_first_answer: u32,
    pub(super) overloaded: u32,
    pub(super) rate_limited_at: Vec<f64>,
    pub(super) sent_into_spent_window: u32,
    pub(super) lost_tells: u32,
    pub(super) most_grants: usize,
    pub(super) log: Vec<Record>,
}

impl Driver {
    pub(super) fn at(&mut self, at: f64, due: Due) {
        self.dues.push(at, due);
    }

    pub(super) fn settle(&mut self, call: usize, mark: impl FnOnce(&mut Call)) {
        let track = &mut self.track[call];
        if track.done {
            return;
        }
        track.done = true;
        mark(&mut self.calls[call]);
        self.outstanding -= 1;
    }

    /// The client's estimate of a call's input tokens: a cached prefix at
    /// full size (as the estimator weighs a prompt; its breakpoint says
    /// which part a warm cache does not charge), the rest of the input at
    /// `estimate_factor`.
    pub(super) fn estimated_input(&self, call: usize) -> f64 {
        let c = &self.calls[call];
        let prefix = c.demand.prefix.map_or(0.0, |p| p.tokens);
        (c.demand.input_tokens - prefix) * self.estimate_factor + prefix
    }

    fn arrive(&mut self, call: usize, now: f64) {
        let input_tokens = self.estimated_input(call);
        let c = &self.calls[call];
        let cost = Cost::new(1.0, input_tokens, c.demand.output_tokens, None);
        // A prefix marked for caching, as the estimator finds it in a body.
        let breakpoints = c.demand.prefix.map(|p| Breakpoint { hash: u64::from(p.id), tokens: p.tokens, ttl_ms: TTL_MS }).into_iter().collect();
        let spec = CallSpec { key: PARTITION.to_string(), cost, guessed: 0.0, priority: 0, retries: true, breakpoints };
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
    pub(super) fn step(&mut self, call: usize, now: f64) {
        let isolate = self.calls[call].isolate;
        let Some(id) = self.track[call].id else { return };
        if self.track[call].done || self.track[call].in_flight {
            return;
        }
        loop {
            let step = self.isolates[isolate].engine.step(id, now);
            self.drain(isolate, now);
            match step {
                // With no time (`until` = ∞) only a wake ends the wait.
                Step::Wait { until } => {
                    let track = &mut self.track[call];
                    if until.is_finite() && track.wake_at.is_none_or(|w| until < w) {
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

    pub(super) fn forget(&mut self, call: usize) {
        if let Some(id) = self.track[call].id {
            self.isolates[self.calls[call].isolate].calls.remove(&id);
        }
    }

    /// Take an isolate's events and messages for the coordinator.
    pub(super) fn drain(&mut self, isolate: usize, now: f64) {
        let engine = &mut self.isolates[isolate].engine;
        let events = engine.take_events();
        let tells = engine.take_tells();
        self.log.extend(events.into_iter().map(|event| Record { at: now, isolate, what: What::Event(event) }));
        self.tell(tells, now);
    }

    /// After every event: step the calls the engines woke, and set their
    /// timers for pauses that end with nobody waiting.
    pub(super) fn settle_outputs(&mut self, now: f64) {
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
            if self.step_book_woken(now) {
                stepped = true;
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
        self.set_book_timers(now);
    }

    pub(super) fn handle(&mut self, now: f64, due: Due) {
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
            Due::Receive(call) => self.receive(call, now),
            Due::Answer { call, status, report } => self.answer(call, status, report, now),
            Due::Deliver { call, status, headers } => self.deliver(call, status, headers, now),
            Due::BackgroundCall(demand) => self.background_call(demand, now),
            Due::AskArrives { isolate, ask } => self.ask_arrives(isolate, ask, now),
            Due::AskAnswered { isolate, ask, grants } => self.ask_answered(isolate, ask, grants, now),
            Due::TellArrives(tell) => self.tell_arrives(tell, now),
            Due::BookWake(call) => self.book_wake(call, now),
            Due::BookTick => self.book_tick(now),
            Due::BookExpire => self.book_expire(now),
            Due::OutageBegins => self.outage_begins(now),
            Due::OutageEnds => self.outage_ends(),
        }
    }
}
