//! The lean executor of `run` and `acquire`: no Rust future, no timer and
//! no closure of its own per call.
//!
//! A call that may go at once is let go in the same crossing into wasm that
//! queued it. One that must wait is a [`Waiter`]: its promise's resolvers,
//! its work and its signal, kept by id. Waking it ([`Engine::take_woken`],
//! its timer, its signal) steps it again at once. It keeps a timer only
//! when the engine named a time, or the runtime needs one (see
//! [`super::wake`]). The functions that timers, signals and settled work
//! call are made once per throttler and bound to each call's id.
//!
//! [`Engine::take_woken`]: crate::engine::Engine::take_woken

use super::convert;
use super::heard;
use super::permit::Permit;
use super::shared::{Shared, Stop};
use super::wake;
use crate::engine::{Answer, CallId, Step};
use js_sys::{Date, Function, Promise};
use std::rc::Weak;
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use web_sys::AbortSignal;

/// What a call does once it may go.
pub(crate) enum Then {
    /// `run`: call this with the call's `report`, then report how it went.
    Run(Function),
    /// `acquire`: resolve with a `Permit`.
    Acquire,
}

/// A call waiting for its turn.
pub(crate) struct Waiter {
    /// Settles its promise (with the promise of what follows).
    resolve: Function,
    then: Then,
    signal: Option<AbortSignal>,
    /// Its timer, when its wait has a time.
    timer: Option<JsValue>,
    /// Listening to the signal's `abort`, while it waits.
    listener: Option<Function>,
    /// Where each wait needs a timer of its own (see [`super::wake`]): what
    /// wakes it, resolving a promise the call made in its own request, whose
    /// continuation steps it there.
    alarm: Option<Function>,
}

impl Waiter {
    /// Stop its timer and stop listening to its signal.
    fn disarm(&mut self) {
        if let Some(timer) = self.timer.take() {
            wake::clear(&timer);
        }
        if let (Some(signal), Some(listener)) = (&self.signal, self.listener.take()) {
            let _ = signal.remove_event_listener_with_callback("abort", &listener);
        }
    }
}

/// Where a call's steps led.
enum Led {
    Go,
    Wait(f64),
    Stopped(Stop),
}

thread_local! {
    /// The package's maker of runners (see [`use_runner`]), once a loader
    /// gave it.
    static RUNNER_MAKER: std::cell::RefCell<Option<Function>> = const { std::cell::RefCell::new(None) };
}

/// Register the package's maker of runners: `(report, finished, threw)`
/// gives `(work, id)`, which starts `work` in a microtask of its own with a
/// `report` for the call, and hands how it ended to `finished` or `threw`,
/// as [`Shared::go`] does itself with `bind` and `then` (six crossings out
/// of wasm and as many functions made, against one). The bare `.wasm`
/// (the wasm-bindgen tests) has none and goes the long way.
pub(crate) fn use_runner(maker: Function) {
    RUNNER_MAKER.with(|slot| *slot.borrow_mut() = Some(maker));
}

/// The functions a throttler's lean calls share, each bound to a call.
pub(crate) struct Hooks {
    /// `(id)`: a waiting call's timer fired or its signal aborted.
    resume: Function,
    /// `(id, headers, status?)`: a `run` call's `report`. It checks the
    /// headers (a wrong one throws at once) and keeps them, the status and
    /// the time until the work settles.
    report: Function,
    /// `(id, value)`: a `run` call's work resolved.
    finished: Function,
    /// `(id, error)`: a `run` call's work threw or rejected.
    threw: Function,
    /// `(work, id)`: the three above in one, made by the package's runner
    /// maker (see [`use_runner`]), when a loader gave one.
    runner: Option<Function>,
}

impl Hooks {
    pub(crate) fn new(this: &Weak<Shared>) -> Hooks {
        let weak = this.clone();
        let resume = Closure::<dyn Fn(f64)>::new(move |id: f64| {
            if let Some(shared) = weak.upgrade() {
                shared.resume(id as CallId);
            }
        });
        let weak = this.clone();
        let report = Closure::<dyn Fn(f64, JsValue, JsValue) -> Result<(), JsValue>>::new(move |id: f64, headers: JsValue, status: JsValue| {
            convert::header_pairs(&headers, "headers")?;
            if let Some(shared) = weak.upgrade().filter(|shared| shared.knows(id as CallId)) {
                shared.reports.borrow_mut().insert(id as CallId, (headers, status, Date::now()));
            }
            Ok(())
        });
        let ended = |failed: bool| {
            let weak = this.clone();
            Closure::<dyn Fn(f64, JsValue) -> Result<JsValue, JsValue>>::new(move |id: f64, value: JsValue| {
                if let Some(shared) = weak.upgrade() {
                    shared.ran(id as CallId, failed);
                }
                if failed {
                    Err(value)
                } else {
                    Ok(value)
                }
            })
        };
        let report: Function = report.into_js_value().unchecked_into();
        let finished: Function = ended(false).into_js_value().unchecked_into();
        let threw: Function = ended(true).into_js_value().unchecked_into();
        let runner = RUNNER_MAKER.with(|slot| {
            let maker = slot.borrow();
            maker.as_ref()?.call3(&JsValue::NULL, &report, &finished, &threw).ok()?.dyn_into::<Function>().ok()
        });
        Hooks { resume: resume.into_js_value().unchecked_into(), report, finished, threw, runner }
    }
}

#[wasm_bindgen]
extern "C" {
    /// A promise or a function, seen untyped: `then` and `bind` with any
    /// functions (`js_sys` types them).
    type Untyped;
    #[wasm_bindgen(method, js_name = then)]
    fn then_do(this: &Untyped, fulfilled: &JsValue) -> Promise;
    #[wasm_bindgen(method, js_name = then)]
    fn then_or(this: &Untyped, fulfilled: &JsValue, rejected: &JsValue) -> Promise;
    #[wasm_bindgen(method, js_name = bind)]
    fn bind_one(this: &Untyped, context: &JsValue, a: &JsValue) -> Function;
    #[wasm_bindgen(method, js_name = bind)]
    fn bind_two(this: &Untyped, context: &JsValue, a: &JsValue, b: &JsValue) -> Function;
}

/// `promise.then(fulfilled)`.
fn after(promise: &Promise, fulfilled: &Function) -> Promise {
    promise.unchecked_ref::<Untyped>().then_do(fulfilled)
}

/// `function.bind(null, a, b)`.
fn bind2(function: &Function, a: &JsValue, b: &JsValue) -> Function {
    function.unchecked_ref::<Untyped>().bind_two(&JsValue::NULL, a, b)
}

/// `function.bind(context, a)`.
fn bind(function: &Function, context: &JsValue, a: &JsValue) -> Function {
    function.unchecked_ref::<Untyped>().bind_one(context, a)
}

thread_local! {
    /// A settled promise to start work from, so that it begins in a
    /// microtask of its own, as an `async` function's body would after
    /// `await`.
    static SETTLED: Promise = Promise::resolve(&JsValue::UNDEFINED);

    /// `(work, report)`: call `work(report)`, with that one argument (a
    /// throw rejects the promise it runs in).
    static START: Function = Closure::<dyn Fn(JsValue, JsValue) -> Result<JsValue, JsValue>>::new(|work: JsValue, report: JsValue| {
        work.unchecked_ref::<Function>().call1(&JsValue::UNDEFINED, &report)
    })
    .into_js_value()
    .unchecked_into();
}

impl Shared {
    /// Carry a queued `run` or `acquire` call on to its end: the promise
    /// its caller gets.
    pub(crate) fn admit(&self, id: CallId, then: Then, signal: Option<AbortSignal>) -> Promise {
        self.hold();
        match self.advance(id, signal.as_ref()) {
            Led::Go => self.go(id, then),
            Led::Stopped(stop) => self.stopped(stop),
            Led::Wait(until) => {
                let (promise, resolve) = wake::pending();
                let Some(resolve) = resolve else {
                    self.release_hold();
                    return promise;
                };
                self.park(id, Waiter { resolve, then, signal, timer: None, listener: None, alarm: None }, until);
                promise
            }
        }
    }

    /// Step a call until it may go, must wait, or stops.
    fn advance(&self, id: CallId, signal: Option<&AbortSignal>) -> Led {
        loop {
            self.early.borrow_mut().remove(&id);
            if let Some(signal) = signal.filter(|s| s.aborted()) {
                let keep = self.with(|engine, now| engine.give_up(id, now));
                return Led::Stopped(if keep { Stop::Returned } else { Stop::Aborted(signal.reason()) });
            }
            let led = match self.with(|engine, now| engine.step(id, now)) {
                Step::Send { .. } => Led::Go,
                Step::Wait { until } => return Led::Wait(until),
                Step::Ask(ask) => {
                    self.ask(ask);
                    continue;
                }
                // Sent once: no answer of theirs is read.
                Step::ReadBody { .. } => {
                    self.with(|engine, _| engine.body_read(id, ""));
                    continue;
                }
                Step::Return => Led::Stopped(Stop::Returned),
                Step::Refuse(refusal) => Led::Stopped(Stop::Refused(refusal)),
            };
            // Named by its own step (its grant): nothing is left to wake.
            self.early.borrow_mut().remove(&id);
            return led;
        }
    }

    /// Keep a waiting call until it is woken, with a timer when its wait
    /// has a time.
    fn park(&self, id: CallId, mut waiter: Waiter, until: f64) {
        // A wait with no time and no signal, where the runtime needs no
        // timer, is ended by the engine alone (`ready`): nothing to make.
        if wake::keeps_alive() || waiter.signal.is_some() || until < f64::INFINITY {
            self.arm(id, &mut waiter, until);
        }
        let aborted = waiter.signal.as_ref().is_some_and(AbortSignal::aborted);
        self.waiters.borrow_mut().insert(id, waiter);
        // Woken, or aborted, while it was being parked (by a listener of its
        // own step): its `abort` event has passed.
        if self.early.borrow_mut().remove(&id) || aborted {
            self.ready(id);
        }
    }

    /// Give a waiting call what ends its wait besides the engine: its
    /// timer, its signal's listener, and where each wait needs a timer of
    /// its own, its alarm.
    fn arm(&self, id: CallId, waiter: &mut Waiter, until: f64) {
        let resume = bind(&self.hooks.resume, &JsValue::NULL, &JsValue::from_f64(id as f64));
        let wake = match wake::keeps_alive() {
            false => resume,
            true => {
                let (woken, alarm) = wake::pending();
                let _ = after(&woken, &resume);
                waiter.alarm = alarm.clone();
                alarm.unwrap_or(resume)
            }
        };
        waiter.timer = wake::timer(&wake, until - Date::now());
        if let Some(signal) = &waiter.signal {
            let _ = signal.add_event_listener_with_callback("abort", &wake);
            waiter.listener = Some(wake);
        }
    }

    /// A waiting call was woken: step it again.
    pub(crate) fn resume(&self, id: CallId) {
        let Some(mut waiter) = self.waiters.borrow_mut().remove(&id) else { return };
        waiter.disarm();
        match self.advance(id, waiter.signal.as_ref()) {
            Led::Go => {
                let going = self.go(id, std::mem::replace(&mut waiter.then, Then::Acquire));
                let _ = waiter.resolve.call1(&JsValue::UNDEFINED, &going);
            }
            Led::Stopped(stop) => {
                let stopped = self.stopped(stop);
                let _ = waiter.resolve.call1(&JsValue::UNDEFINED, &stopped);
            }
            Led::Wait(until) => self.park(id, waiter, until),
        }
    }

    /// A call that may go: its work starts in a microtask (`run`), or its
    /// permit is handed over (`acquire`).
    fn go(&self, id: CallId, then: Then) -> Promise {
        match then {
            Then::Run(work) => {
                let handle = JsValue::from_f64(id as f64);
                if let Some(runner) = &self.hooks.runner {
                    if let Ok(started) = runner.call2(&JsValue::NULL, &work, &handle) {
                        return started.unchecked_into();
                    }
                }
                let report = bind(&self.hooks.report, &JsValue::NULL, &handle);
                let start = START.with(|start| bind2(start, &work, &report));
                let started = SETTLED.with(|settled| after(settled, &start));
                started
                    .unchecked_ref::<Untyped>()
                    .then_or(&bind(&self.hooks.finished, &JsValue::NULL, &handle), &bind(&self.hooks.threw, &JsValue::NULL, &handle))
            }
            Then::Acquire => match self.this.upgrade() {
                Some(shared) => {
                    self.release_hold();
                    Promise::resolve(&JsValue::from(Permit::new(shared, id)))
                }
                None => self.stopped(Stop::Returned),
            },
        }
    }

    /// A call that stopped before it was sent.
    fn stopped(&self, stop: Stop) -> Promise {
        self.release_hold();
        Promise::reject(&Shared::error(stop))
    }

    /// A `run` call's work settled: report how it went (what it reported
    /// through `report`, if anything).
    fn ran(&self, id: CallId, failed: bool) {
        let reported = self.reports.borrow_mut().remove(&id);
        let (status, headers) = match reported {
            Some((headers, status, at)) => {
                let heard = heard::read_at(&headers, "headers", self.coordinated(), at).unwrap_or_default();
                (Some(status.as_f64().map_or(200, heard::status)), Some(heard.parts()))
            }
            None => (None, None),
        };
        let answer = Answer::reported(status, headers, failed);
        self.with(|engine, now| {
            engine.answered(id, answer, now);
            engine.step(id, now)
        });
        self.release_hold();
    }

    /// One more lean call is under way: while any is, the throttler's state
    /// holds itself, so that the calls end even if every handle to the
    /// throttler is collected meanwhile.
    fn hold(&self) {
        let count = self.lean.get();
        self.lean.set(count + 1);
        if count == 0 {
            *self.keep.borrow_mut() = self.this.upgrade();
        }
    }

    fn release_hold(&self) {
        let count = self.lean.get().saturating_sub(1);
        self.lean.set(count);
        if count == 0 {
            // Dropped outside the borrow: it may be the last handle.
            let kept = self.keep.borrow_mut().take();
            drop(kept);
        }
    }

    /// Wake a lean waiter: now if no waiter is being woken already, else
    /// right after that one (a timer or a signal may still wake one between
    /// another call's step and its parking: `early` covers that).
    pub(crate) fn ready(&self, id: CallId) {
        self.ready.borrow_mut().push_back(id);
        if self.draining.replace(true) {
            return;
        }
        loop {
            let next = self.ready.borrow_mut().pop_front();
            let Some(id) = next else { break };
            self.resume(id);
        }
        self.draining.set(false);
    }

    /// Wake the lean call waiting as `id`: false when none waits so.
    pub(crate) fn wake_waiter(&self, id: CallId) -> bool {
        let alarm = match self.waiters.borrow().get(&id) {
            None => return false,
            Some(waiter) => waiter.alarm.clone(),
        };
        match alarm {
            // Stepped in its own request, a microtask later.
            Some(alarm) => drop(alarm.call0(&JsValue::UNDEFINED)),
            None => self.ready(id),
        }
        true
    }
}
