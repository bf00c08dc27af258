//! The `Throttler` class: a drop-in `fetch` that waits for budget first,
//! plus `run`, `acquire`, `observe`, `on` and `snapshot`. Each method
//! converts its arguments and hands the call to the executor
//! ([`super::shared`]); every decision is the engine's.

use super::convert::{self, type_error};
use super::heard;
use super::options::{self, CallOptions, DEFAULT_KEY};
use super::permit::Permit;
use super::request::prepare;
use super::shared::{Core, Shared};
use crate::engine::{Answer, CallId, CallSpec, Engine, Event};
use js_sys::{Function, Promise};
use std::rc::Rc;
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use wasm_bindgen_futures::{future_to_promise, JsFuture};

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
        let options = options::read(&options)?;
        let shared = Shared::new(Core::Engine(Engine::new(options.settings.clone())), options)?;
        let bound = shared.clone();
        let fetch = Closure::<dyn Fn(JsValue, JsValue) -> Promise>::new(move |input: JsValue, init: JsValue| {
            let shared = bound.clone();
            // A call whose request reads without waiting joins the queue now,
            // in call order; a Request whose body must be read joins after.
            let queued = prepare(&input, &init).map(|request| match request {
                Ok(request) => shared.queue_fetch(&input, &init, request),
                Err(error) => Err(super::shared::Stop::Failed(error)),
            });
            future_to_promise(async move { shared.fetch(input, init, queued).await })
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
        let queued = self.shared.enqueue(spec(&call), call.signal.as_ref());
        let shared = self.shared.clone();
        Ok(future_to_promise(async move {
            let id = queued.map_err(Shared::error)?;
            shared.until_sent(id, call.signal.as_ref(), None).await.map_err(Shared::error)?;
            run(&shared, id, work).await
        }))
    }

    /// `acquire({ cost, key, priority, signal })`: wait for budget and resolve
    /// with a `Permit`; `permit.release(headers?, status?)` gives the slot back.
    pub fn acquire(&self, options: JsValue) -> Result<Promise, JsValue> {
        let call = options::read_call(&options, "acquire")?;
        let queued = self.shared.enqueue(spec(&call), call.signal.as_ref());
        let shared = self.shared.clone();
        Ok(future_to_promise(async move {
            let id = queued.map_err(Shared::error)?;
            shared.until_sent(id, call.signal.as_ref(), None).await.map_err(Shared::error)?;
            Ok(Permit::new(shared, id).into())
        }))
    }

    /// `observe(headers, key?)`: feed rate-limit headers seen elsewhere.
    pub fn observe(&self, headers: JsValue, key: Option<String>) -> Result<(), JsValue> {
        let heard = heard::read(&headers, "headers", false)?;
        self.shared.with(|engine, now| engine.observe(key.as_deref().unwrap_or(DEFAULT_KEY), &heard.observation, now));
        Ok(())
    }

    /// `on(type, listener)`: listen to an event; returns the function that
    /// removes the listener.
    pub fn on(&self, kind: String, listener: JsValue) -> Result<Function, JsValue> {
        if !Event::TYPES.contains(&kind.as_str()) {
            return Err(type_error(format!("unknown event type \"{kind}\"; expected one of {}", Event::TYPES.join(", "))));
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
        convert::to_plain(&self.shared.snapshot())
    }
}

/// `run` and `acquire` calls are sent once: the caller sends them.
fn spec(call: &CallOptions) -> CallSpec {
    CallSpec { key: call.key.clone(), cost: call.cost, guessed: call.guessed, priority: call.priority, retries: false, breakpoints: Vec::new() }
}

/// Call `work(report)` for a call the engine let go, and report how it went.
async fn run(shared: &Rc<Shared>, id: CallId, work: Function) -> Result<JsValue, JsValue> {
    // The call's own `report`: the one function every call shares, bound
    // to an object of its own that takes what it is told (no Rust closure
    // per call: bound functions are plain JS, collected as any).
    let slot = js_sys::Object::new();
    let report = REPORT.with(|report| report.bind1(&JsValue::NULL, &slot));
    let result = match work.call1(&JsValue::UNDEFINED, &report) {
        Ok(value) => JsFuture::from(Promise::resolve(&value)).await,
        Err(error) => Err(error),
    };
    let (status, headers) = match convert::get(&slot, "at").as_f64() {
        Some(at) => {
            let heard = heard::read_at(&convert::get(&slot, "headers"), "headers", shared.coordinated(), at).unwrap_or_default();
            (Some(convert::get(&slot, "status").as_f64().map_or(200, heard::status)), Some(heard.parts()))
        }
        None => (None, None),
    };
    let answer = Answer::reported(status, headers, result.is_err());
    shared.with(|engine, now| {
        engine.answered(id, answer, now);
        engine.step(id, now)
    });
    result
}

thread_local! {
    /// `report(headers, status?)` as `run` hands it out, bound to each
    /// call's slot: it checks the headers (a wrong one throws at once) and
    /// keeps them, the status and the time in the slot.
    static REPORT: Function = Closure::<dyn Fn(JsValue, JsValue, JsValue) -> Result<(), JsValue>>::new(
        |slot: JsValue, headers: JsValue, status: JsValue| {
            convert::header_pairs(&headers, "headers")?;
            convert::set(slot.unchecked_ref(), "headers", &headers);
            convert::set(slot.unchecked_ref(), "status", &status);
            convert::set(slot.unchecked_ref(), "at", &JsValue::from_f64(js_sys::Date::now()));
            Ok(())
        },
    )
    .into_js_value()
    .unchecked_into();
}
