//! The coordinator's side of a shared budget: the `Coordinator` class that
//! the `HeadroomCoordinator` Durable Object (pkg/durable-object.js) wraps.
//! It queues every isolate's requests for grants in the same scheduler a
//! throttler uses, and keeps the book of grants ([`crate::coordinate`]).

use super::convert::{self, get, set, to_plain};
use super::options;
use super::throttler::{Heard, Shared};
use crate::coordinate::{GrantId, Grants, Saved, REPORT_TIMEOUT_MS};
use crate::headers;
use js_sys::{Date, Object, Promise};
use std::cell::RefCell;
use std::rc::Rc;
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use wasm_bindgen_futures::future_to_promise;

/// The budget shared by many throttlers, with its book of grants.
#[wasm_bindgen]
pub struct Coordinator {
    shared: Rc<Shared>,
    grants: Rc<RefCell<Grants>>,
}

#[wasm_bindgen]
impl Coordinator {
    /// `new Coordinator(options, saved?)`: `options` as a Throttler's (its
    /// `limits`, `maxConcurrent`, `probeConcurrency`, `maxQueue` apply);
    /// `saved` what [`Coordinator::save`] returned before a restart (a
    /// state it cannot read is dropped: the budget starts afresh).
    #[wasm_bindgen(constructor)]
    pub fn new(options: JsValue, saved: JsValue) -> Result<Coordinator, JsValue> {
        let mut options = options::read(&options)?;
        if options.coordinator.is_some() {
            return Err(convert::type_error("a coordinator cannot itself have a `coordinator`".into()));
        }
        // Its grants are sent by other isolates, in an order it cannot see.
        options.config.hold_until_answered = true;
        let shared = Shared::new(options)?;
        let now = Date::now();
        // A state it cannot read (saved by another version, or altered)
        // is dropped rather than refused: an object that fails to start
        // would fail every isolate's calls for good, while a fresh budget
        // learns again from the next answers.
        let grants = match serde_wasm_bindgen::from_value::<Saved>(saved).ok().and_then(Saved::check) {
            Some(saved) => saved.restore(&mut shared.core.borrow_mut(), REPORT_TIMEOUT_MS, now),
            None => Grants::new(REPORT_TIMEOUT_MS),
        };
        Ok(Coordinator { shared, grants: Rc::new(RefCell::new(grants)) })
    }

    /// `acquire(key, cost, count, leaseMs)`: wait until a call of `cost` may
    /// go in partition `key`, then grant it and up to `count − 1` more of the
    /// same cost that may go at that moment too (the spare ones to be used
    /// within `leaseMs`). Resolves `{ grants: [id, …] }`, or `{ refused:
    /// { code, message, … } }` for a call that can never go.
    pub fn acquire(&self, key: String, cost: JsValue, count: Option<u32>, lease_ms: Option<f64>) -> Result<Promise, JsValue> {
        let (cost, guessed) = options::read_cost(&cost, "cost")?;
        let count = count.unwrap_or(1).clamp(1, 64);
        let lease_ms = lease_ms.filter(|ms| ms.is_finite() && *ms >= 0.0).unwrap_or(0.0);
        let queued = self.shared.enqueue(&key, cost, guessed, 0, None);
        let shared = self.shared.clone();
        let grants = self.grants.clone();
        Ok(future_to_promise(async move {
            let answer = Object::new();
            let first = match shared.admitted(&key, queued, None, 0).await {
                Ok(ticket) => ticket,
                Err(error) => {
                    set(&answer, "refused", &plain_error(&error));
                    return Ok(answer.into());
                }
            };
            let now = Date::now();
            let mut granted = vec![grants.borrow_mut().issue(&mut shared.core.borrow_mut(), first, &key, cost, true, lease_ms, now)];
            for _ in 1..count {
                let Some(ticket) = shared.grant_now(&key, cost, guessed) else { break };
                granted.push(grants.borrow_mut().issue(&mut shared.core.borrow_mut(), ticket, &key, cost, false, lease_ms, now));
            }
            set(&answer, "grants", &granted.iter().map(|&id| JsValue::from_f64(id as f64)).collect::<js_sys::Array>());
            Ok(answer.into())
        }))
    }

    /// `sent(ids)`: spare grants are being used now.
    pub fn sent(&self, ids: Vec<f64>) {
        let now = Date::now();
        for id in ids.into_iter().filter_map(grant_id) {
            self.grants.borrow_mut().sent(&mut self.shared.core.borrow_mut(), id, now);
        }
    }

    /// `complete(id, status, headers)`: the answer to a granted call
    /// (`status` null when no response came; `headers` the rate-limit
    /// fields of the response as `[name, value]` pairs, or null).
    pub fn complete(&self, id: f64, status: Option<f64>, headers: JsValue) -> Result<(), JsValue> {
        let heard = if headers.is_null() || headers.is_undefined() {
            None
        } else {
            let pairs = convert::header_pairs(&headers, "headers")?;
            let observation = headers::parse(pairs.iter().map(|(n, v)| (n.as_str(), v.as_str())), Date::now());
            Some(Heard { observation, fields: Vec::new() })
        };
        let Some(grant) = grant_id(id).and_then(|id| self.grants.borrow_mut().take(id)) else { return Ok(()) };
        let status = status.filter(|s| s.is_finite()).map(|s| s.clamp(0.0, 999.0) as u16);
        self.shared.finish(grant.ticket, status, heard.as_ref());
        Ok(())
    }

    /// `release(ids)`: grants that were never used; nothing is charged.
    pub fn release(&self, ids: Vec<f64>) {
        for id in ids.into_iter().filter_map(grant_id) {
            let grant = self.grants.borrow_mut().take(id);
            if let Some(grant) = grant {
                self.shared.core.borrow_mut().cancel(grant.ticket);
            }
        }
        self.shared.pump();
    }

    /// `expire()`: settle the grants whose time is up (see
    /// [`Grants::expire`]); returns the next expiry, or undefined.
    pub fn expire(&self) -> Option<f64> {
        let expired = self.grants.borrow_mut().expire(&mut self.shared.core.borrow_mut(), Date::now());
        if expired > 0 {
            self.shared.pump();
        }
        self.next_expiry()
    }

    /// When the next grant expires, or undefined.
    #[wasm_bindgen(js_name = nextExpiry)]
    pub fn next_expiry(&self) -> Option<f64> {
        self.grants.borrow().next_expiry()
    }

    /// What to save: the partitions' buckets and the outstanding grants.
    pub fn save(&self) -> Result<JsValue, JsValue> {
        to_plain(&Saved::new(&self.shared.core.borrow(), &self.grants.borrow(), Date::now()))
    }

    /// Plain JSON of the shared budget, as `Throttler.snapshot()`, with the
    /// number of outstanding grants.
    pub fn snapshot(&self) -> Result<JsValue, JsValue> {
        let snapshot = to_plain(&self.shared.core.borrow().snapshot(Date::now()))?;
        set(snapshot.unchecked_ref(), "grants", &JsValue::from(self.grants.borrow().len() as f64));
        Ok(snapshot)
    }
}

fn grant_id(id: f64) -> Option<GrantId> {
    (id.is_finite() && id >= 0.0 && id.fract() == 0.0).then_some(id as GrantId)
}

/// A refusal as plain data that crosses to another isolate: its code,
/// message and numbers.
fn plain_error(error: &JsValue) -> JsValue {
    let plain = Object::new();
    for key in ["code", "message"].into_iter().chain(crate::schedule::Refusal::PROPERTIES) {
        let value = get(error, key);
        if !value.is_undefined() {
            set(&plain, key, &value);
        }
    }
    plain.into()
}
