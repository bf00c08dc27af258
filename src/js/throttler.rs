//! The `Throttler` class: a drop-in `fetch` that waits for budget first.

use super::convert::{self, get};
use super::options::{self, Options};
use super::wake::{self, Alarm};
use crate::estimate::{estimate, partition_key};
use crate::headers;
use crate::schedule::{Refusal, Scheduler, Ticket};
use js_sys::{Date, Function, Promise, Uint8Array};
use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use wasm_bindgen_futures::{future_to_promise, JsFuture};

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

struct Shared {
    core: RefCell<Scheduler>,
    waiters: RefCell<HashMap<Ticket, Waiter>>,
    options: Options,
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
        let options = options::read(&options)?;
        let shared = Rc::new(Shared {
            core: RefCell::new(Scheduler::new(options.config.clone())),
            waiters: RefCell::new(HashMap::new()),
            options,
        });
        let bound = shared.clone();
        let fetch = Closure::<dyn Fn(JsValue, JsValue) -> Promise>::new(move |input: JsValue, init: JsValue| {
            let shared = bound.clone();
            future_to_promise(async move { shared.fetch(input, init).await })
        });
        Ok(Throttler { shared, fetch: fetch.into_js_value().unchecked_into() })
    }

    /// `fetch(input, init?)`: the same arguments and result as the global
    /// `fetch`. The function is bound: it may be passed around on its own.
    #[wasm_bindgen(getter)]
    pub fn fetch(&self) -> Function {
        self.fetch.clone()
    }

    /// Plain JSON of the live budget: partitions with their dimensions,
    /// calls queued and in flight, and counters.
    pub fn snapshot(&self) -> Result<JsValue, JsValue> {
        convert::to_plain(&self.shared.core.borrow().snapshot(Date::now()))
    }
}

impl Shared {
    async fn fetch(self: Rc<Self>, input: JsValue, init: JsValue) -> Result<JsValue, JsValue> {
        let (origin, body) = describe_request(&input, &init).await?;
        let estimate = estimate(body.as_deref());
        let key = partition_key(self.options.partition_by, &origin, estimate.model.as_deref());
        let ticket = self.admit(&key, estimate.cost).await?;
        let sent = convert::resolve_fetch(self.options.fetch.as_ref())
            .and_then(|fetch| fetch.call2(&JsValue::UNDEFINED, &input, &init));
        let result = match sent {
            Ok(promise) => JsFuture::from(Promise::resolve(&promise)).await,
            Err(error) => Err(error),
        };
        let now = Date::now();
        match &result {
            Ok(response) => {
                let status = get(response, "status").as_f64().map(|s| s.clamp(0.0, 999.0) as u16);
                // A response whose headers cannot be read still completes the call.
                let pairs = convert::header_pairs(&get(response, "headers"), "response.headers").unwrap_or_default();
                let observation = headers::parse(pairs.iter().map(|(n, v)| (n.as_str(), v.as_str())), now);
                self.core.borrow_mut().complete(ticket, status.or(Some(200)), Some(&observation), now);
            }
            Err(_) => self.core.borrow_mut().complete(ticket, None, None, now),
        }
        self.pump();
        result
    }

    /// Queue a call and wait until the core lets it go.
    async fn admit(&self, key: &str, cost: crate::budget::Cost) -> Result<Ticket, JsValue> {
        let ticket = self
            .core
            .borrow_mut()
            .enqueue(key, cost, 0, Date::now())
            .map_err(|refusal| convert::refusal_error(&refusal))?;
        self.waiters.borrow_mut().insert(ticket, Waiter::default());
        let outcome = self.wait(ticket).await;
        self.waiters.borrow_mut().remove(&ticket);
        outcome.map(|()| ticket).map_err(|refusal| convert::refusal_error(&refusal))
    }

    async fn wait(&self, ticket: Ticket) -> Result<(), Refusal> {
        loop {
            self.pump();
            let now = Date::now();
            let holds_alarm = self.core.borrow().next_wake(now).filter(|(holder, _)| *holder == ticket);
            let until = holds_alarm.map_or(now + KEEPALIVE_MS, |(_, at)| at);
            let (sleeping, alarm) = {
                let mut waiters = self.waiters.borrow_mut();
                let waiter = waiters.entry(ticket).or_default();
                if let Some(outcome) = waiter.outcome.take() {
                    return outcome;
                }
                let (sleeping, alarm) = wake::sleep(until - now);
                waiter.alarm = Some(alarm.clone());
                waiter.sleeps_until = until;
                (sleeping, alarm)
            };
            sleeping.await;
            drop(alarm);
        }
    }

    /// Let the core dispatch what it can now, hand each waiter its outcome,
    /// and make sure the call that should hold the alarm sleeps no longer
    /// than the core's next time.
    fn pump(&self) {
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
    }
}

/// The URL origin and, where it can be read without consuming it, the body
/// text of a request given as `fetch` arguments.
async fn describe_request(input: &JsValue, init: &JsValue) -> Result<(String, Option<String>), JsValue> {
    let url = if let Some(s) = input.as_string() {
        s
    } else {
        // A URL object or a Request: both expose `href`/`url` as a string.
        get(input, "url").as_string().or_else(|| get(input, "href").as_string()).unwrap_or_else(|| {
            js_sys::JsString::from(input.clone()).into()
        })
    };
    let origin = web_sys::Url::new(&url).map(|u| u.origin()).unwrap_or(url);
    let body = get(init, "body");
    let text = if let Some(s) = body.as_string() {
        Some(s)
    } else if let Some(bytes) = body.dyn_ref::<Uint8Array>() {
        Some(String::from_utf8_lossy(&bytes.to_vec()).into_owned())
    } else if body.is_undefined() && input.is_instance_of::<web_sys::Request>() {
        let request: &web_sys::Request = input.unchecked_ref();
        match request.clone().and_then(|copy| copy.text()) {
            Ok(promise) => JsFuture::from(promise).await.ok().and_then(|t| t.as_string()),
            Err(_) => None,
        }
    } else {
        None
    };
    Ok((origin, text))
}
