//! The executor: what a throttler's calls (and a coordinator's requests)
//! share, and the loop that carries out the engine's steps for one call.
//!
//! Every decision is the engine's ([`crate::engine`]); this file sleeps for
//! as long as it says, wakes the calls it names, emits the events it
//! produces, sends the coordinator its messages and reports back.

use super::admit::{Hooks, Waiter};
use super::convert::{self, get};
use super::coordinated::Coordinated;
use super::events::Events;
use super::metrics::Metrics;
use super::options::Options;
use super::wake::{self, Alarm};
use crate::coordinate::Book;
use crate::engine::{Ask, CallId, CallSpec, Engine, Step};
use crate::ids::{IdMap, IdSet};
use crate::schedule::{Refusal, Snapshot};
use js_sys::{Date, Function, Promise, Uint8Array};
use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::rc::{Rc, Weak};
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use wasm_bindgen_futures::spawn_local;
use web_sys::AbortSignal;

/// What the engine lives in: a throttler's own, or a coordinator's book.
pub(crate) enum Core {
    Engine(Engine),
    Book(Book),
}

impl Core {
    fn engine(&mut self) -> &mut Engine {
        match self {
            Core::Engine(engine) => engine,
            Core::Book(book) => book.engine(),
        }
    }
}

/// Why a call stopped short of being sent.
pub(crate) enum Stop {
    /// The engine says the last answer is the result.
    Returned,
    Refused(Refusal),
    /// Its signal aborted: the reason.
    Aborted(JsValue),
    /// Its arguments could not be read: the error.
    Failed(JsValue),
}

pub(crate) struct Shared {
    core: RefCell<Core>,
    /// How to wake each sleeping call.
    alarms: RefCell<IdMap<CallId, Alarm>>,
    /// Calls woken while not asleep (between their step and their sleep,
    /// when a listener called back into the throttler): they step again
    /// instead of sleeping.
    pub(crate) early: RefCell<IdSet<CallId>>,
    /// The `run` and `acquire` calls that wait (see [`super::admit`]).
    pub(crate) waiters: RefCell<IdMap<CallId, Waiter>>,
    /// Lean calls woken and not yet stepped, and whether they are being
    /// stepped now.
    pub(crate) ready: RefCell<VecDeque<CallId>>,
    pub(crate) draining: Cell<bool>,
    /// Lean calls under way, and this state itself while there are any.
    pub(crate) lean: Cell<usize>,
    pub(crate) keep: RefCell<Option<Rc<Shared>>>,
    /// The functions lean calls are bound to.
    pub(crate) hooks: Hooks,
    /// What `run` calls reported (headers, status, when), until their work
    /// settles.
    pub(crate) reports: RefCell<IdMap<CallId, (JsValue, JsValue, f64)>>,
    pub(crate) options: Options,
    pub(crate) events: Events,
    /// The coordinator asked for grants, when one is given.
    coordinated: Option<Coordinated>,
    /// The timer set for [`Engine::next_tick`]: its time and id.
    ticker: RefCell<Option<(f64, JsValue)>>,
    /// What that timer calls (one function for the throttler's life).
    tick: Function,
    /// What a watched answer's `json` calls (see [`super::fetch::watcher`]).
    watcher: Function,
    pub(crate) this: Weak<Shared>,
}

impl Shared {
    pub(crate) fn new(core: Core, mut options: Options) -> Result<Rc<Shared>, JsValue> {
        let coordinated = options.coordinator.take().map(Coordinated::new);
        let meter = options.meter.take();
        let shared = Rc::new_cyclic(|this: &Weak<Shared>| {
            let weak = this.clone();
            let tick = Closure::<dyn Fn()>::new(move || {
                if let Some(shared) = weak.upgrade() {
                    shared.ticker.borrow_mut().take();
                    shared.with(|engine, now| engine.tick(now));
                }
            });
            Shared {
                core: RefCell::new(core),
                alarms: RefCell::default(),
                early: RefCell::default(),
                waiters: RefCell::default(),
                ready: RefCell::default(),
                draining: Cell::default(),
                lean: Cell::default(),
                keep: RefCell::default(),
                hooks: Hooks::new(this),
                reports: RefCell::default(),
                tick: tick.into_js_value().unchecked_into(),
                watcher: super::fetch::watcher(this.clone()),
                events: Events::new(options.on_event.clone()),
                options,
                coordinated,
                ticker: RefCell::default(),
                this: this.clone(),
            }
        });
        if let Some(meter) = meter {
            shared.events.set_metrics(Metrics::new(&meter, Rc::downgrade(&shared))?);
        }
        shared.listeners_changed();
        Ok(shared)
    }

    /// Act on the engine at the current time, then carry out what it produced.
    pub(crate) fn with<T>(&self, act: impl FnOnce(&mut Engine, f64) -> T) -> T {
        let result = act(self.core.borrow_mut().engine(), Date::now());
        self.flush();
        result
    }

    /// Act on a coordinator's book, then carry out what its engine produced.
    pub(crate) fn with_book<T>(&self, act: impl FnOnce(&mut Book, f64) -> T) -> Option<T> {
        let result = match &mut *self.core.borrow_mut() {
            Core::Book(book) => Some(act(book, Date::now())),
            Core::Engine(_) => None,
        };
        self.flush();
        result
    }

    /// Tell the engine whether anyone listens, after a change of listeners.
    pub(crate) fn listeners_changed(&self) {
        let any = self.events.any();
        self.core.borrow_mut().engine().listen(any);
    }

    /// Whether the engine still knows call `id`.
    pub(crate) fn knows(&self, id: CallId) -> bool {
        self.core.borrow_mut().engine().knows(id)
    }

    pub(crate) fn watcher(&self) -> &Function {
        &self.watcher
    }

    /// Whether a coordinator keeps the budget (answers then carry their
    /// rate-limit fields to it).
    pub(crate) fn coordinated(&self) -> bool {
        self.coordinated.is_some()
    }

    pub(crate) fn snapshot(&self) -> Snapshot {
        self.core.borrow_mut().engine().snapshot(Date::now())
    }

    /// Wake the calls the engine named, send its messages and emit its
    /// events (outside any borrow: a listener may call the throttler).
    fn flush(&self) {
        loop {
            let (woken, tells, events) = {
                let mut core = self.core.borrow_mut();
                let engine = core.engine();
                if !engine.has_output() {
                    break;
                }
                // A call that already left (a request a coordinator's book
                // granted or refused at once) has no step to wake.
                let woken: Vec<CallId> = engine.take_woken().into_iter().filter(|id| engine.knows(*id)).collect();
                (woken, engine.take_tells(), engine.take_events())
            };
            let (alarms, lean): (Vec<Alarm>, Vec<CallId>) = {
                let mut sleeping = self.alarms.borrow_mut();
                let waiting = self.waiters.borrow();
                let mut early = self.early.borrow_mut();
                let mut lean = Vec::new();
                let alarms = woken
                    .iter()
                    .filter_map(|id| {
                        let alarm = sleeping.remove(id);
                        match (&alarm, waiting.contains_key(id)) {
                            (None, true) => lean.push(*id),
                            (None, false) => drop(early.insert(*id)),
                            (Some(_), _) => {}
                        }
                        alarm
                    })
                    .collect();
                (alarms, lean)
            };
            // Waking only queues the sleeper's continuation.
            alarms.iter().for_each(Alarm::wake);
            if let Some(coordinated) = &self.coordinated {
                tells.into_iter().for_each(|tell| coordinated.tell(tell));
            }
            events.iter().for_each(|event| self.events.emit(event));
            // Stepped now (or right after the lean call being stepped).
            for id in lean {
                self.wake_waiter(id);
            }
        }
        self.set_ticker();
    }

    /// Keep one timer for the engine's next tick (a pause that ends with no
    /// call waiting). It does not keep the process alive.
    fn set_ticker(&self) {
        let next = self.core.borrow_mut().engine().next_tick();
        let mut ticker = self.ticker.borrow_mut();
        if ticker.as_ref().map(|(at, _)| *at) == next {
            return;
        }
        if let Some((_, timer)) = ticker.take() {
            wake::clear(&timer);
        }
        let Some(at) = next else { return };
        *ticker = Some((at, wake::background(&self.tick, at - Date::now())));
    }

    /// Queue a call now, in call order. With a `signal` already aborted it
    /// is not queued.
    pub(crate) fn enqueue(&self, spec: CallSpec, signal: Option<&AbortSignal>) -> Result<CallId, Stop> {
        if let Some(signal) = signal.filter(|s| s.aborted()) {
            return Err(Stop::Aborted(signal.reason()));
        }
        self.with(|engine, now| {
            if engine.wants_seed() {
                engine.seed((js_sys::Math::random() * 9_007_199_254_740_992.0) as u64);
            }
            engine.enqueue(spec, now)
        })
        .map_err(Stop::Refused)
    }

    /// Carry out a call's steps until the engine says to send it (the
    /// attempt's number) or it stops. `answer` is the last answer, whose
    /// body the engine may ask to read.
    pub(crate) async fn until_sent(&self, id: CallId, signal: Option<&AbortSignal>, answer: Option<&JsValue>) -> Result<u32, Stop> {
        let result = self.steps(id, signal, answer).await;
        // Woken by its own last step: nothing is left to wake.
        self.early.borrow_mut().remove(&id);
        result
    }

    async fn steps(&self, id: CallId, signal: Option<&AbortSignal>, answer: Option<&JsValue>) -> Result<u32, Stop> {
        loop {
            if let Some(signal) = signal.filter(|s| s.aborted()) {
                // Given up: it goes no further, and hands back only an
                // answer the engine would return anyway.
                self.early.borrow_mut().remove(&id);
                let keep = self.with(|engine, now| engine.give_up(id, now));
                return Err(if keep { Stop::Returned } else { Stop::Aborted(signal.reason()) });
            }
            self.early.borrow_mut().remove(&id);
            let step = self.with(|engine, now| engine.step(id, now));
            match step {
                Step::Return => return Err(Stop::Returned),
                Step::Refuse(refusal) => return Err(Stop::Refused(refusal)),
                Step::Send { attempt } => return Ok(attempt),
                Step::Wait { until } => {
                    let (sleeping, alarm) = wake::sleep(until - Date::now(), signal);
                    // Woken, or aborted, by a listener of its own step: no sleep.
                    let now_due = self.early.borrow_mut().remove(&id) || signal.is_some_and(AbortSignal::aborted);
                    match alarm {
                        Some(alarm) if now_due => alarm.wake(),
                        Some(alarm) => {
                            self.alarms.borrow_mut().insert(id, alarm);
                        }
                        None => {}
                    }
                    sleeping.await;
                    self.alarms.borrow_mut().remove(&id);
                }
                Step::Ask(ask) => self.ask(ask),
                Step::ReadBody { bytes, ms } => {
                    let text = match answer {
                        // Boxed: a rare step, whose state would otherwise
                        // weigh in every waiting call's future.
                        Some(response) => Box::pin(read_body(response, bytes, ms)).await,
                        None => String::new(),
                    };
                    self.with(|engine, _| engine.body_read(id, &text));
                }
            }
        }
    }

    /// Send a request for grants; its answer goes to the engine when it comes.
    pub(crate) fn ask(&self, ask: Ask) {
        let id = ask.id;
        let Some(asked) = self.coordinated.as_ref().map(|c| c.ask(&ask)) else { return };
        let this = self.this.clone();
        spawn_local(async move {
            let answer = asked.await;
            if let Some(shared) = this.upgrade() {
                shared.with(|engine, now| engine.coordinator_answered(id, answer, now));
            }
        });
    }

    /// The error a call that stopped rejects with.
    pub(crate) fn error(stop: Stop) -> JsValue {
        match stop {
            Stop::Refused(refusal) => convert::refusal_error(&refusal),
            Stop::Aborted(error) | Stop::Failed(error) => error,
            Stop::Returned => convert::type_error("the call ended without an answer".into()),
        }
    }
}

/// Read at most `bytes` of a copy of a response's body within `ms`, then
/// let the copy go: a body that never ends does not hold the call.
async fn read_body(response: &JsValue, bytes: usize, ms: f64) -> String {
    let Some(response) = response.dyn_ref::<web_sys::Response>() else { return String::new() };
    let Some(body) = response.clone().ok().and_then(|copy| copy.body()) else { return String::new() };
    let reader = body.get_reader();
    let read: Option<Function> = get(&reader, "read").dyn_into().ok();
    let mut read_bytes = Vec::new();
    let deadline = Date::now() + ms;
    while let Some(read) = read.as_ref().filter(|_| read_bytes.len() < bytes) {
        let Ok(chunk) = read.call0(&reader) else { break };
        let Some(Ok(chunk)) = wake::within(&Promise::resolve(&chunk), deadline - Date::now()).await else { break };
        let Ok(value) = get(&chunk, "value").dyn_into::<Uint8Array>() else { break };
        read_bytes.extend(value.to_vec());
    }
    // Done with the copy, whatever is left of it.
    if let Ok(cancel) = get(&reader, "cancel").dyn_into::<Function>() {
        let _ = cancel.call0(&reader);
    }
    read_bytes.truncate(bytes);
    String::from_utf8_lossy(&read_bytes).into_owned()
}
