//! The `Throttler` class: a drop-in `fetch` that waits for budget first,
//! plus `run`, `acquire`, `observe`, `on` and `snapshot`. Each method
//! converts its arguments and hands the call to the executor
//! ([`super::shared`]); every decision is the engine's.

use super::admit::Then;
use super::convert::{self, type_error};
use super::heard;
use super::options::{self, CallOptions, DEFAULT_KEY};
use super::request::prepare;
use super::shared::{Core, Shared};
use crate::engine::{CallSpec, Engine, Event};
use js_sys::{Function, Promise};
use std::rc::Rc;
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use wasm_bindgen_futures::future_to_promise;

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
            // (Its wait is not the lean one of `run`: sent from there, bursts
            // through the SDK met more 429s under real conditions.)
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
        Ok(self.admit(call, Then::Run(work)))
    }

    /// `acquire({ cost, key, priority, signal })`: wait for budget and resolve
    /// with a `Permit`; `permit.release(headers?, status?)` gives the slot back.
    pub fn acquire(&self, options: JsValue) -> Result<Promise, JsValue> {
        let call = options::read_call(&options, "acquire")?;
        Ok(self.admit(call, Then::Acquire))
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
        self.shared.listeners_changed();
        let shared = self.shared.clone();
        let remove = Closure::<dyn Fn()>::new(move || {
            shared.events.remove(id);
            shared.listeners_changed();
        });
        Ok(remove.into_js_value().unchecked_into())
    }

    /// Plain JSON of the live budget: partitions with their dimensions,
    /// calls queued and in flight, and counters.
    pub fn snapshot(&self) -> Result<JsValue, JsValue> {
        convert::to_plain(&self.shared.snapshot())
    }
}

impl Throttler {
    /// Queue a `run` or `acquire` call now, in call order, and carry it on.
    fn admit(&self, call: CallOptions, then: Then) -> Promise {
        let spec =
            CallSpec { key: call.key, cost: call.cost, guessed: call.guessed, priority: call.priority, retries: false, breakpoints: Vec::new() };
        match self.shared.enqueue(spec, call.signal.as_ref()) {
            Ok(id) => self.shared.admit(id, then, call.signal),
            Err(stop) => Promise::reject(&Shared::error(stop)),
        }
    }
}
