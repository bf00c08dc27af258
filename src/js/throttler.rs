//! The `Throttler` class: a drop-in `fetch` that waits for budget first,
//! plus `run`, `acquire`, `observe`, `on` and `snapshot`.
//!
//! Every call takes the same path: it is queued in the core, sleeps until the
//! core lets it go (see [`super::wake`]), is sent, and its answer goes back to
//! the core. What to retry and how long to wait are the core's decisions
//! ([`crate::retry`], [`crate::schedule`]); this file only carries them out.

use super::convert::{self, get, type_error};
use super::coordinated::{Coordinated, Verdict};
use super::events::{Events, TYPES};
use super::metrics::Metrics;
use super::options::{self, CallOptions, Options, Partitioning, DEFAULT_KEY};
use super::request::{prepare, read_request_body, Body, RequestInfo};
use super::wake::{self, Alarm};
use crate::budget::Cost;
use crate::estimate::{estimate_from, partition_key, Source};
use crate::headers::{self, Observation};
use crate::retry::{self, Attempt, Decision};
use crate::schedule::{Refusal, Scheduler, Ticket};
use js_sys::{Date, Function, Promise, Uint8Array};
use std::cell::{Cell, RefCell};
use std::collections::{BTreeMap, HashMap};
use std::rc::Rc;
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use wasm_bindgen_futures::{future_to_promise, JsFuture};
use web_sys::AbortSignal;

/// How long a waiting call that does not hold the alarm sleeps before it
/// looks again on its own. It is woken earlier by any event that lets it go;
/// this timer exists so every waiting call always has one pending.
const KEEPALIVE_MS: f64 = 30_000.0;

#[derive(Default)]
struct Waiter {
    /// How to end its current sleep early.
    alarm: Option<Alarm>,
    /// When its current sleep ends by itself.
    sleeps_until: f64,
    /// What the core decided for it, once it has.
    outcome: Option<Result<(), Refusal>>,
}

pub(crate) struct Shared {
    pub(crate) core: RefCell<Scheduler>,
    waiters: RefCell<HashMap<Ticket, Waiter>>,
    options: Options,
    pub(crate) events: Events,
    /// The coordinator that keeps the budget, when one is given.
    coordinated: Option<Coordinated>,
    /// Partitions paused by a 429, and until when: to announce `resume`.
    pauses: RefCell<BTreeMap<String, f64>>,
    /// Whether the core's jitter has been seeded (at the first call).
    seeded: Cell<bool>,
}

/// A rate-limit-aware `fetch`, bound to one budget.
#[wasm_bindgen]
pub struct Throttler {
    shared: Rc<Shared>,
    /// The bound `fetch`. JS owns the closure behind it (it is freed when the
    /// function is collected) and the closure holds the shared state, so a
    /// `fetch` taken off the throttler keeps working after the throttler
    /// itself is gone.
    fetch: Function,
}

#[wasm_bindgen]
impl Throttler {
    #[wasm_bindgen(constructor)]
    pub fn new(options: JsValue) -> Result<Throttler, JsValue> {
        let shared = Shared::new(options::read(&options)?)?;
        let bound = shared.clone();
        let fetch = Closure::<dyn Fn(JsValue, JsValue) -> Promise>::new(move |input: JsValue, init: JsValue| {
            let shared = bound.clone();
            // A call whose request reads without waiting joins the queue now,
            // in call order; a Request whose body must be read joins after.
            let prepared = prepare(&input, &init).map(|request| request.and_then(|request| shared.first_attempt(&input, &init, request)));
            future_to_promise(async move { shared.fetch(input, init, prepared).await })
        });
        Ok(Throttler { shared, fetch: fetch.into_js_value().unchecked_into() })
    }

    /// `fetch(input, init?)`: the same arguments and result as the global
    /// `fetch`. The function is bound: it may be passed around on its own.
    #[wasm_bindgen(getter)]
    pub fn fetch(&self) -> Function {
        self.fetch.clone()
    }

    /// `run(fn, { cost, key, priority, signal })`: wait for budget, then call
    /// `fn(report)` and resolve with its result. `report(headers, status?)`
    /// feeds what the server said.
    pub fn run(&self, work: JsValue, options: JsValue) -> Result<Promise, JsValue> {
        let work: Function =
            work.dyn_into().map_err(|w| type_error(format!("expected `run` to be given a function, got {}", convert::describe(&w))))?;
        let call = options::read_call(&options, "run")?;
        // Queued now, in call order; only the wait is asynchronous.
        let queued = self.shared.enqueue(&call.key, call.cost, call.guessed, call.priority, call.signal.as_ref());
        let shared = self.shared.clone();
        Ok(future_to_promise(async move { shared.run(work, call, queued).await }))
    }

    /// `acquire({ cost, key, priority, signal })`: wait for budget and resolve
    /// with a `Permit`; `permit.release(headers?, status?)` gives the slot back.
    pub fn acquire(&self, options: JsValue) -> Result<Promise, JsValue> {
        let call = options::read_call(&options, "acquire")?;
        let queued = self.shared.enqueue(&call.key, call.cost, call.guessed, call.priority, call.signal.as_ref());
        let shared = self.shared.clone();
        Ok(future_to_promise(async move {
            let ticket = shared.admitted(&call.key, queued, call.signal.as_ref(), 0).await?;
            Ok(Permit { shared, ticket: Cell::new(Some(ticket)) }.into())
        }))
    }

    /// `observe(headers, key?)`: feed rate-limit headers seen elsewhere.
    pub fn observe(&self, headers: JsValue, key: Option<String>) -> Result<(), JsValue> {
        let heard = read_observation(&headers, "headers", false)?;
        let now = Date::now();
        self.shared.core.borrow_mut().observe(key.as_deref().unwrap_or(DEFAULT_KEY), &heard.observation, now);
        self.shared.pump();
        Ok(())
    }

    /// `on(type, listener)`: listen to an event; returns the function that
    /// removes the listener.
    pub fn on(&self, kind: String, listener: JsValue) -> Result<Function, JsValue> {
        if !TYPES.contains(&kind.as_str()) {
            return Err(type_error(format!("unknown event type \"{kind}\"; expected one of {}", TYPES.join(", "))));
        }
        let listener: Function =
            listener.dyn_into().map_err(|l| type_error(format!("expected the listener of `on` to be a function, got {}", convert::describe(&l))))?;
        let id = self.shared.events.add(&kind, listener);
        let shared = self.shared.clone();
        let remove = Closure::<dyn Fn()>::new(move || shared.events.remove(id));
        Ok(remove.into_js_value().unchecked_into())
    }

    /// Plain JSON of the live budget: partitions with their dimensions,
    /// calls queued and in flight, and counters.
    pub fn snapshot(&self) -> Result<JsValue, JsValue> {
        convert::to_plain(&self.shared.core.borrow().snapshot(Date::now()))
    }
}

/// The right to send one call, from `acquire`.
#[wasm_bindgen]
pub struct Permit {
    shared: Rc<Shared>,
    ticket: Cell<Option<Ticket>>,
}

#[wasm_bindgen]
impl Permit {
    /// Give the slot back and feed what the server said (its headers, and
    /// its status; 200 when headers are given without one). Without headers
    /// the call's estimated cost is charged. A second release does nothing.
    pub fn release(&self, headers: JsValue, status: Option<f64>) -> Result<(), JsValue> {
        let Some(ticket) = self.ticket.get() else { return Ok(()) };
        let heard = if headers.is_undefined() || headers.is_null() {
            None
        } else {
            Some(read_observation(&headers, "headers", self.shared.coordinated.is_some())?)
        };
        self.ticket.set(None);
        let status = status.map(clamp_status).unwrap_or(200);
        self.shared.finish(ticket, Some(status), heard.as_ref());
        Ok(())
    }
}

impl Shared {
    pub(crate) fn new(mut options: Options) -> Result<Rc<Shared>, JsValue> {
        let coordinated = options.coordinator.take().map(Coordinated::new);
        // With a coordinator the budget is kept there (see crate::coordinate).
        options.config.local_budget = coordinated.is_none();
        let meter = options.meter.take();
        let shared = Rc::new(Shared {
            core: RefCell::new(Scheduler::new(options.config.clone())),
            waiters: RefCell::new(HashMap::new()),
            events: Events::new(options.on_event.clone()),
            options,
            coordinated,
            pauses: RefCell::new(BTreeMap::new()),
            seeded: Cell::new(false),
        });
        if let Some(meter) = meter {
            shared.events.set_metrics(Metrics::new(&meter, Rc::downgrade(&shared))?);
        }
        Ok(shared)
    }

    /// Read a call's cost, key and signal and queue its first attempt. The
    /// request's body text serves the estimate here and is not kept.
    fn first_attempt(&self, input: &JsValue, init: &JsValue, request: RequestInfo) -> Result<FetchCall, JsValue> {
        let signal = options::read_signal(&get(init, "signal"), "init.signal")?.or(request.signal);
        let (cost, guessed, key) = self.cost_and_key(input, init, request.origin.as_str(), request.body.as_ref().map(Body::source))?;
        let first = self.enqueue(&key, cost, guessed, 0, signal.as_ref());
        Ok(FetchCall { cost, guessed: guessed as f32, key, signal, replayable: request.replayable, first })
    }

    async fn fetch(self: Rc<Self>, input: JsValue, init: JsValue, prepared: Option<Result<FetchCall, JsValue>>) -> Result<JsValue, JsValue> {
        let prepared = match prepared {
            Some(prepared) => prepared,
            None => read_request_body(&input, &init).await.and_then(|request| self.first_attempt(&input, &init, request)),
        };
        let FetchCall { cost, guessed, key, signal, replayable, first } = prepared?;
        let mut attempt = first;
        let mut retries = 0;
        loop {
            let ticket = match self.admitted(&key, attempt, signal.as_ref(), retries).await {
                Ok(ticket) => ticket,
                // A pause longer than the call would wait: the answer it would meet.
                Err(error) => return rate_limited_response(&error).ok_or(error),
            };
            // A Request's body is read when it is sent: send a copy each time
            // so that a retry still has one.
            let sent_input = match input.dyn_ref::<web_sys::Request>() {
                Some(request) => request.clone().map(JsValue::from).unwrap_or_else(|_| input.clone()),
                None => input.clone(),
            };
            let sent = convert::resolve_fetch(self.options.fetch.as_ref()).and_then(|fetch| fetch.call2(&JsValue::UNDEFINED, &sent_input, &init));
            let result = match sent {
                Ok(promise) => JsFuture::from(Promise::resolve(&promise)).await,
                Err(error) => Err(error),
            };
            let (decision, status) = match &result {
                Ok(response) => {
                    let status = clamp_status(get(response, "status").as_f64().unwrap_or(200.0));
                    // A response whose headers cannot be read still completes the call.
                    let heard = read_observation(&get(response, "headers"), "response.headers", self.coordinated.is_some()).unwrap_or_default();
                    self.finish(ticket, Some(status), Some(&heard));
                    let observation = heard.observation;
                    self.events.emit("response", &[("partition", key.as_str().into()), ("status", status.into()), ("attempt", (retries + 1).into())]);
                    let spend_limit_reached = status == 429 && observation.retry_after_ms.is_none() && says_spend_limit(response).await;
                    let attempt = Attempt::Answered { status, observation: &observation, spend_limit_reached };
                    (retry::decide(&self.options.retry, attempt, retries, replayable, js_sys::Math::random()), Some(status))
                }
                Err(_) => {
                    self.finish(ticket, None, None);
                    let aborted = signal.as_ref().is_some_and(AbortSignal::aborted);
                    let decision = if aborted {
                        Decision::Return
                    } else {
                        retry::decide(&self.options.retry, Attempt::NetworkError, retries, replayable, js_sys::Math::random())
                    };
                    (decision, None)
                }
            };
            let Decision::RetryAfter(delay_ms) = decision else { return result };
            // Aborted while the answer was read: an abort listener added now
            // would never fire, so do not sleep first.
            if let Some(signal) = signal.as_ref().filter(|s| s.aborted()) {
                return Err(signal.reason());
            }
            retries += 1;
            self.core.borrow_mut().note_retry();
            self.events.emit(
                "retry",
                &[
                    ("partition", key.as_str().into()),
                    ("attempt", (retries + 1).into()),
                    ("delayMs", delay_ms.round().into()),
                    ("status", status.map_or(JsValue::NULL, JsValue::from)),
                ],
            );
            let (sleeping, _alarm) = wake::sleep(delay_ms, signal.as_ref());
            sleeping.await;
            if let Some(signal) = signal.as_ref().filter(|s| s.aborted()) {
                return Err(signal.reason());
            }
            // A retry goes back through the budget like a new call.
            attempt = self.enqueue(&key, cost, f64::from(guessed), 0, signal.as_ref());
        }
    }

    async fn run(self: Rc<Self>, work: Function, call: CallOptions, queued: Queued) -> Result<JsValue, JsValue> {
        let ticket = self.admitted(&call.key, queued, call.signal.as_ref(), 0).await?;
        let reported: Rc<RefCell<Option<(u16, Heard)>>> = Rc::default();
        let slot = reported.clone();
        let keep_fields = self.coordinated.is_some();
        let report = Closure::<dyn Fn(JsValue, JsValue) -> Result<(), JsValue>>::new(move |headers: JsValue, status: JsValue| {
            let heard = read_observation(&headers, "headers", keep_fields)?;
            *slot.borrow_mut() = Some((status.as_f64().map_or(200, clamp_status), heard));
            Ok(())
        });
        let report: Function = report.into_js_value().unchecked_into();
        let result = match work.call1(&JsValue::UNDEFINED, &report) {
            Ok(value) => JsFuture::from(Promise::resolve(&value)).await,
            Err(error) => Err(error),
        };
        let reported = reported.borrow_mut().take();
        match (&result, reported) {
            (_, Some((status, heard))) => self.finish(ticket, Some(status), Some(&heard)),
            // Done without a report: charge the estimate.
            (Ok(_), None) => self.finish(ticket, Some(200), None),
            // Failed without a report: assume nothing was spent.
            (Err(_), None) => self.finish(ticket, None, None),
        }
        result
    }

    /// The cost (with its guessed input tokens) and partition of a `fetch`
    /// call: the caller's `estimate` and `partitionBy` functions where given,
    /// else the core's estimate.
    fn cost_and_key(&self, input: &JsValue, init: &JsValue, origin: &str, body: Option<&dyn Source>) -> Result<(Cost, f64, String), JsValue> {
        let estimated = estimate_from(body);
        let (cost, guessed) = match &self.options.estimate {
            Some(f) => options::read_cost(&f.call2(&JsValue::UNDEFINED, input, init)?, "the result of `estimate`")?,
            None => (estimated.cost, estimated.guessed_input_tokens),
        };
        let key = match &self.options.partition_by {
            Partitioning::Mode(mode) => partition_key(*mode, origin, estimated.model.as_deref()),
            Partitioning::Function(f) => {
                let key = f.call2(&JsValue::UNDEFINED, input, init)?;
                key.as_string().ok_or_else(|| type_error(format!("expected `partitionBy` to return a string, got {}", convert::describe(&key))))?
            }
        };
        Ok((cost, guessed, key))
    }

    /// Queue a call now. Refused at once (a `HeadroomError`) when it can
    /// never fit or the queue is full; rejected with the reason when `signal`
    /// has already aborted.
    pub(crate) fn enqueue(&self, key: &str, cost: Cost, guessed: f64, priority: i32, signal: Option<&AbortSignal>) -> Queued {
        if let Some(signal) = signal.filter(|s| s.aborted()) {
            return Err(signal.reason());
        }
        if !self.seeded.replace(true) {
            let seed = (js_sys::Math::random() * 9_007_199_254_740_992.0) as u64;
            self.core.borrow_mut().reseed(seed);
        }
        let now = Date::now();
        let deadline = self.options.max_wait_ms.map(|ms| now + ms);
        let queued = self.core.borrow_mut().enqueue_until(key, cost, guessed, priority, deadline, now);
        let ticket = queued.map_err(|refusal| self.rejected(key, &refusal))?;
        self.waiters.borrow_mut().insert(ticket, Waiter::default());
        // Read before emitting: a listener may call back into the throttler.
        let waiting = self.core.borrow().queued() as f64;
        self.events.emit("queued", &[("partition", key.into()), ("queued", waiting.into())]);
        // A call that may go now is granted now, so it does not hold a place
        // in the queue while its future has yet to run.
        self.pump();
        Ok(QueuedCall { ticket, cost, at: now, deadline })
    }

    /// Wait until the core lets a queued call go (and, with a coordinator,
    /// until it grants the call), the call is refused, or `signal` aborts
    /// (then it leaves the queue and rejects with the reason).
    pub(crate) async fn admitted(&self, key: &str, queued: Queued, signal: Option<&AbortSignal>, retries: u32) -> Result<Ticket, JsValue> {
        let QueuedCall { ticket, cost, at: now, deadline } = queued?;
        loop {
            let outcome = self.wait(ticket, deadline, signal).await;
            self.waiters.borrow_mut().remove(&ticket);
            match outcome {
                Ok(Ok(())) => {
                    if let Some(coordinated) = &self.coordinated {
                        match coordinated.grant(self, key, ticket, cost, signal, now, deadline).await {
                            Verdict::Go => {}
                            Verdict::Requeue => {
                                self.waiters.borrow_mut().insert(ticket, Waiter::default());
                                self.core.borrow_mut().requeue(ticket);
                                self.pump();
                                continue;
                            }
                            Verdict::Stop(error) => {
                                self.core.borrow_mut().cancel(ticket);
                                self.pump();
                                return Err(error);
                            }
                        }
                    }
                    let waited = Date::now() - now;
                    self.events
                        .emit("dispatched", &[("partition", key.into()), ("attempt", (retries + 1).into()), ("waitedMs", waited.round().into())]);
                    return Ok(ticket);
                }
                Ok(Err(refusal)) => return Err(self.rejected(key, &refusal)),
                Err(reason) => {
                    self.core.borrow_mut().cancel(ticket);
                    self.pump();
                    return Err(reason);
                }
            }
        }
    }

    /// Queue a call and grant it only if it may go at once; otherwise it
    /// leaves the queue again (a coordinator's spare grants of a lease).
    pub(crate) fn grant_now(&self, key: &str, cost: Cost, guessed: f64) -> Option<Ticket> {
        let QueuedCall { ticket, .. } = self.enqueue(key, cost, guessed, 0, None).ok()?;
        let outcome = self.waiters.borrow_mut().remove(&ticket).and_then(|w| w.outcome);
        if let Some(Ok(())) = outcome {
            return Some(ticket);
        }
        self.core.borrow_mut().cancel(ticket);
        self.pump();
        None
    }

    fn rejected(&self, key: &str, refusal: &Refusal) -> JsValue {
        self.events.emit("rejected", &[("partition", key.into()), ("code", refusal.code().into())]);
        convert::refusal_error(refusal)
    }

    /// Sleep until the core decides; `Err(reason)` when the signal aborts.
    async fn wait(&self, ticket: Ticket, deadline: Option<f64>, signal: Option<&AbortSignal>) -> Result<Result<(), Refusal>, JsValue> {
        loop {
            let next = self.pump();
            if let Some(signal) = signal.filter(|s| s.aborted()) {
                // Granted in the same instant it aborted: the core counts it
                // as dispatched, and cancel below gives the slot back.
                return Err(signal.reason());
            }
            let now = Date::now();
            let holds_alarm = next.filter(|(holder, _)| *holder == ticket);
            let until = holds_alarm.map_or(now + KEEPALIVE_MS, |(_, at)| at).min(deadline.unwrap_or(f64::INFINITY));
            let (sleeping, alarm) = {
                let mut waiters = self.waiters.borrow_mut();
                let waiter = waiters.entry(ticket).or_default();
                if let Some(outcome) = waiter.outcome.take() {
                    return Ok(outcome);
                }
                let (sleeping, alarm) = wake::sleep(until - now, signal);
                waiter.alarm = alarm.clone();
                waiter.sleeps_until = until;
                (sleeping, alarm)
            };
            sleeping.await;
            drop(alarm);
        }
    }

    /// A dispatched call ended: tell the core, announce a pause it caused,
    /// and let waiting calls go.
    pub(crate) fn finish(&self, ticket: Ticket, status: Option<u16>, heard: Option<&Heard>) {
        if let Some(coordinated) = &self.coordinated {
            coordinated.finished(ticket, status, heard.map(|h| h.fields.as_slice()));
        }
        let now = Date::now();
        self.core.borrow_mut().complete(ticket, status, heard.map(|h| &h.observation), now);
        if status == Some(429) {
            let snapshot = self.core.borrow().snapshot(now);
            for partition in snapshot.partitions {
                let Some(until) = partition.paused_until_ms else { continue };
                let known = self.pauses.borrow_mut().insert(partition.key.clone(), until);
                if known != Some(until) {
                    self.events.emit("pause", &[("partition", partition.key.as_str().into()), ("untilMs", until.into())]);
                }
            }
        }
        self.pump();
    }

    /// Let the core dispatch what it can now, hand each waiter its outcome,
    /// and make sure the call that should hold the alarm sleeps no longer
    /// than the core's next time, which it returns (see
    /// [`Scheduler::next_wake`]).
    pub(crate) fn pump(&self) -> Option<(Ticket, f64)> {
        let now = Date::now();
        let poll = self.core.borrow_mut().poll(now);
        let next = self.core.borrow().next_wake(now);
        let mut to_wake = Vec::new();
        {
            let mut waiters = self.waiters.borrow_mut();
            let decided = poll.granted.into_iter().map(|t| (t, Ok(()))).chain(poll.refused.into_iter().map(|(t, r)| (t, Err(r))));
            for (ticket, outcome) in decided {
                if let Some(waiter) = waiters.get_mut(&ticket) {
                    waiter.outcome = Some(outcome);
                    to_wake.extend(waiter.alarm.take());
                }
            }
            if let Some((holder, at)) = next {
                if let Some(waiter) = waiters.get_mut(&holder).filter(|w| w.sleeps_until > at) {
                    to_wake.extend(waiter.alarm.take());
                }
            }
        }
        // Wake outside the borrow: resolving only queues the continuation.
        for alarm in to_wake {
            alarm.wake();
        }
        let resumed: Vec<String> = {
            let mut pauses = self.pauses.borrow_mut();
            let over: Vec<String> = pauses.iter().filter(|(_, until)| **until <= now).map(|(k, _)| k.clone()).collect();
            over.iter().for_each(|k| {
                pauses.remove(k);
            });
            over
        };
        for key in resumed {
            self.events.emit("resume", &[("partition", key.as_str().into())]);
        }
        next
    }
}

fn clamp_status(status: f64) -> u16 {
    if status.is_finite() {
        status.clamp(0.0, 999.0) as u16
    } else {
        0
    }
}

/// What a response's headers said, and the rate-limit fields that said it
/// (passed on to a coordinator, which reads them itself).
#[derive(Default)]
pub(crate) struct Heard {
    pub(crate) observation: Observation,
    pub(crate) fields: Vec<(String, String)>,
}

/// Read headers; `keep_fields` keeps their rate-limit fields too (for a
/// coordinator).
fn read_observation(headers: &JsValue, what: &str, keep_fields: bool) -> Result<Heard, JsValue> {
    let mut pairs = convert::header_pairs(headers, what)?;
    let observation = headers::parse(pairs.iter().map(|(n, v)| (n.as_str(), v.as_str())), Date::now());
    pairs.retain(|(name, _)| keep_fields && headers::is_rate_limit_field(name));
    Ok(Heard { observation, fields: pairs })
}

/// Whether a 429's body says a spend or quota limit is reached. Reads a
/// copy of the body, at most [`retry::SPEND_LIMIT_READ_BYTES`] within
/// [`retry::SPEND_LIMIT_READ_MS`], then lets the copy go: a body that never
/// ends does not hold the call.
async fn says_spend_limit(response: &JsValue) -> bool {
    let Some(response) = response.dyn_ref::<web_sys::Response>() else { return false };
    let Some(body) = response.clone().ok().and_then(|copy| copy.body()) else { return false };
    let reader = body.get_reader();
    let read: Option<Function> = get(&reader, "read").dyn_into().ok();
    let mut bytes = Vec::new();
    let deadline = Date::now() + retry::SPEND_LIMIT_READ_MS;
    while let Some(read) = read.as_ref().filter(|_| bytes.len() < retry::SPEND_LIMIT_READ_BYTES) {
        let Ok(chunk) = read.call0(&reader) else { break };
        let Some(Ok(chunk)) = wake::within(&Promise::resolve(&chunk), deadline - Date::now()).await else { break };
        let Ok(value) = get(&chunk, "value").dyn_into::<Uint8Array>() else { break };
        bytes.extend(value.to_vec());
    }
    // Done with the copy, whatever is left of it.
    if let Ok(cancel) = get(&reader, "cancel").dyn_into::<Function>() {
        let _ = cancel.call0(&reader);
    }
    bytes.truncate(retry::SPEND_LIMIT_READ_BYTES);
    retry::says_spend_limit(&String::from_utf8_lossy(&bytes))
}

/// What a `fetch` call refused as [`Refusal::RateLimited`] settles with: the
/// 429 it would have met, with the wait the server asked for, so that an
/// SDK sees its usual rate-limit error. `x-should-retry: false` keeps an
/// SDK from retrying it at once.
fn rate_limited_response(error: &JsValue) -> Option<JsValue> {
    if get(error, "code").as_string().as_deref() != Some(Refusal::RATE_LIMITED) {
        return None;
    }
    let wait_ms = get(error, Refusal::RETRY_AFTER_MS).as_f64()?;
    let message = get(error, "message").as_string().unwrap_or_default();
    let body = format!(
        r#"{{"type":"error","error":{{"type":"rate_limit_error","message":{}}}}}"#,
        js_sys::JSON::stringify(&message.into()).ok()?.as_string()?
    );
    let headers = web_sys::Headers::new().ok()?;
    let seconds = (wait_ms / 1000.0).ceil();
    for (name, value) in [
        ("content-type", "application/json".to_string()),
        ("retry-after", convert::js_number(seconds)),
        ("retry-after-ms", convert::js_number(wait_ms)),
        ("x-should-retry", "false".to_string()),
    ] {
        headers.set(name, &value).ok()?;
    }
    let init = web_sys::ResponseInit::new();
    init.set_status(429);
    init.set_headers(&headers);
    web_sys::Response::new_with_opt_str_and_init(Some(&body), &init).ok().map(JsValue::from)
}

/// A `fetch` call once read: what it costs, where it queues, whether its
/// body can be sent again, and its first attempt in the queue.
struct FetchCall {
    cost: Cost,
    /// Input tokens of `cost` that are a guess (precision enough in an f32).
    guessed: f32,
    key: String,
    signal: Option<AbortSignal>,
    replayable: bool,
    first: Queued,
}

/// A call in the queue, or why it could not join it.
pub(crate) type Queued = Result<QueuedCall, JsValue>;

pub(crate) struct QueuedCall {
    ticket: Ticket,
    cost: Cost,
    /// When it joined the queue.
    at: f64,
    deadline: Option<f64>,
}
