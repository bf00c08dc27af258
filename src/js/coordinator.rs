//! The coordinator's side of a shared budget: the `Coordinator` class that
//! the `HeadroomCoordinator` Durable Object (pkg/durable-object.js) wraps.
//! Its state and rules are the core's [`Book`]; this file converts.

use super::convert::{self, set, to_plain};
use super::heard;
use super::options;
use super::shared::{Core, Shared, Stop};
use crate::coordinate::{Attempt, Book, GrantId, Request, Saved};
use crate::headers::Observation;
use js_sys::{Date, Object, Promise};
use std::rc::Rc;
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use wasm_bindgen_futures::future_to_promise;

/// The budget shared by many throttlers, with its book of grants.
#[wasm_bindgen]
pub struct Coordinator {
    shared: Rc<Shared>,
}

#[wasm_bindgen]
impl Coordinator {
    /// `new Coordinator(options, saved?)`: `options` as a Throttler's (its
    /// `limits`, `maxConcurrent`, `probeConcurrency`, `maxQueue` apply);
    /// `saved` what [`Coordinator::save`] returned before a restart.
    #[wasm_bindgen(constructor)]
    pub fn new(options: JsValue, saved: JsValue) -> Result<Coordinator, JsValue> {
        let options = options::read(&options)?;
        if options.coordinator.is_some() {
            return Err(convert::type_error("a coordinator cannot itself have a `coordinator`".into()));
        }
        // A state it cannot read (saved by another version, or altered)
        // is dropped rather than refused: an object that fails to start
        // would fail every isolate's calls for good, while a fresh budget
        // learns again from the next answers.
        let saved = Saved::read(&saved).and_then(Saved::check);
        let book = Book::new(options.settings.clone(), saved, Date::now());
        Ok(Coordinator { shared: Shared::new(Core::Book(book), options)? })
    }

    /// `acquire(key, cost, count, leaseMs)`: wait until a call of `cost` may
    /// go in partition `key`, then grant it and up to `count − 1` more of the
    /// same cost that may go at that moment too (the spare ones to be used
    /// within `leaseMs`). Resolves `{ grants: [id, …] }`, or `{ refused:
    /// { code, message, … } }` for a call that can never go.
    pub fn acquire(&self, key: String, cost: JsValue, count: Option<u32>, lease_ms: Option<f64>) -> Result<Promise, JsValue> {
        let (cost, guessed) = options::read_cost(&cost, "cost")?;
        let lease_ms = lease_ms.filter(|ms| ms.is_finite() && *ms >= 0.0).unwrap_or(0.0);
        let request = Request { key, cost, guessed, count: count.unwrap_or(1), lease_ms };
        let queued = self.shared.with_book(|book, now| book.request(request, now));
        let shared = self.shared.clone();
        Ok(future_to_promise(async move {
            let answer = Object::new();
            let sent = match queued {
                Some(Ok(call)) => {
                    let sent = shared.until_sent(call, None, None).await.map(|_| call);
                    if sent.is_err() {
                        // Refused while it waited: the book forgets it.
                        shared.with_book(|book, now| book.forget(call, now));
                    }
                    sent
                }
                Some(Err(refusal)) => Err(Stop::Refused(refusal)),
                None => Err(Stop::Returned),
            };
            match sent {
                Ok(call) => {
                    let granted = shared.with_book(|book, now| book.grant(call, now)).unwrap_or_default();
                    set(&answer, "grants", &granted.iter().map(|&id| JsValue::from_f64(id as f64)).collect::<js_sys::Array>());
                }
                Err(Stop::Refused(refusal)) => set(&answer, "refused", &convert::refusal_plain(&refusal)),
                Err(stop) => return Err(Shared::error(stop)),
            }
            Ok(answer.into())
        }))
    }

    /// `tryAcquire(key, cost, count, leaseMs, again)`: as `acquire`, for a
    /// budget kept where no request can wait (a state shared through Redis):
    /// grants at once what may go now, else nothing. `again`: the request was
    /// told to wait before (see [`Book::attempt`]). Returns `{ grants: [id,
    /// …] }`, `{ refused: { code, … } }`, or `{ retryAt }` (epoch ms) when
    /// nothing could be granted; nothing is queued.
    #[wasm_bindgen(js_name = tryAcquire)]
    pub fn try_acquire(
        &self,
        key: String,
        cost: JsValue,
        count: Option<u32>,
        lease_ms: Option<f64>,
        again: Option<bool>,
    ) -> Result<JsValue, JsValue> {
        let (cost, guessed) = options::read_cost(&cost, "cost")?;
        let lease_ms = lease_ms.filter(|ms| ms.is_finite() && *ms >= 0.0).unwrap_or(0.0);
        let request = Request { key, cost, guessed, count: count.unwrap_or(1), lease_ms };
        let attempt = self.shared.with_book(|book, now| book.attempt(request, again.unwrap_or(false), now));
        let answer = Object::new();
        match attempt {
            Some(Attempt::Granted(granted)) => {
                set(&answer, "grants", &granted.iter().map(|&id| JsValue::from_f64(id as f64)).collect::<js_sys::Array>())
            }
            Some(Attempt::Refused(refusal)) => set(&answer, "refused", &convert::refusal_plain(&refusal)),
            Some(Attempt::Wait { until }) => set(&answer, "retryAt", &JsValue::from_f64(until)),
            None => return Err(convert::type_error("this coordinator has no book".into())),
        }
        Ok(answer.into())
    }

    /// `sent(ids)`: spare grants are being used now.
    pub fn sent(&self, ids: Vec<f64>) {
        let ids: Vec<GrantId> = ids.into_iter().filter_map(grant_id).collect();
        self.shared.with_book(|book, now| book.sent(&ids, now));
    }

    /// `complete(id, status, headers, unreported?)`: the answer to a granted
    /// call: `status` null when no response came; `headers` the rate-limit
    /// fields of the response as `[name, value]` pairs (null: none);
    /// `unreported` true when the call ended without saying how (its
    /// estimate is charged, and it counts as no success).
    pub fn complete(&self, id: f64, status: Option<f64>, headers: JsValue, unreported: Option<bool>) -> Result<(), JsValue> {
        let observation = if headers.is_null() || headers.is_undefined() { None } else { Some(heard::read(&headers, "headers", false)?.observation) };
        let Some(id) = grant_id(id) else { return Ok(()) };
        let status = status.map(heard::status);
        // A status without headers (from a throttler of an earlier version too) is an answer.
        let observation = match (&status, observation, unreported.unwrap_or(false)) {
            (Some(_), None, false) => Some(Observation::default()),
            (_, observation, _) => observation,
        };
        self.shared.with_book(|book, now| book.complete(id, status, observation.as_ref(), now));
        Ok(())
    }

    /// `release(ids)`: grants that were never used; nothing is charged.
    pub fn release(&self, ids: Vec<f64>) {
        let ids: Vec<GrantId> = ids.into_iter().filter_map(grant_id).collect();
        self.shared.with_book(|book, now| book.release(&ids, now));
    }

    /// `expire()`: settle the grants whose time is up (see
    /// [`crate::coordinate::Grants::expire`]); returns the next expiry, or undefined.
    pub fn expire(&self) -> Option<f64> {
        self.shared.with_book(|book, now| book.expire(now)).flatten()
    }

    /// When the next grant expires, or undefined.
    #[wasm_bindgen(js_name = nextExpiry)]
    pub fn next_expiry(&self) -> Option<f64> {
        self.shared.with_book(|book, _| book.next_expiry()).flatten()
    }

    /// What to save: the partitions' buckets and the outstanding grants.
    pub fn save(&self) -> Result<JsValue, JsValue> {
        let saved = self.shared.with_book(|book, now| book.save(now));
        to_plain(&saved)
    }

    /// Plain JSON of the shared budget, as `Throttler.snapshot()`, with the
    /// number of outstanding grants.
    pub fn snapshot(&self) -> Result<JsValue, JsValue> {
        let snapshot = to_plain(&self.shared.snapshot())?;
        let outstanding = self.shared.with_book(|book, _| book.outstanding()).unwrap_or(0);
        set(snapshot.unchecked_ref(), "grants", &JsValue::from(outstanding as f64));
        Ok(snapshot)
    }
}

fn grant_id(id: f64) -> Option<GrantId> {
    (id.is_finite() && id >= 0.0 && id.fract() == 0.0).then_some(id as GrantId)
}
