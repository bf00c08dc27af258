//! A throttler's side of a shared budget: asking its coordinator (a Durable
//! Object) for grants, keeping the spare ones, reporting answers, and
//! falling back to the local budget when the coordinator cannot be reached.
//! The rules are the core's ([`crate::coordinate`]); this file only talks
//! to the Durable Object.

use super::convert::{self, get, set, to_plain};
use super::options::Coordination;
use super::throttler::Shared;
use super::wake;
use crate::budget::Cost;
use crate::coordinate::{GrantId, LeasePool, Link};
use crate::schedule::{Refusal, Ticket};
use js_sys::{Array, Date, Function, Object, Promise, Reflect};
use std::cell::RefCell;
use std::future::{poll_fn, Future};
use std::pin::Pin;
use std::task::Poll;
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use wasm_bindgen_futures::{spawn_local, JsFuture};
use web_sys::AbortSignal;

/// How long a call waiting for its grant sleeps between looks at its
/// signal and deadline (each wait must keep a timer of its own in Workers).
const KEEPALIVE_MS: f64 = 30_000.0;

/// Pauses before each request for grants when the one before it failed:
/// long enough for a restarting Durable Object to come back (it is back in
/// tens of milliseconds), short enough that a call is not held long before
/// it falls back to the local budget.
const RETRY_PAUSES_MS: [f64; 4] = [0.0, 50.0, 200.0, 500.0];

pub(crate) struct Coordinated {
    options: Coordination,
    pool: RefCell<LeasePool>,
    link: RefCell<Link>,
    /// The grant of each call in flight, to report its answer against (a
    /// list: calls in flight are at most `maxConcurrent`).
    grants: RefCell<Vec<(Ticket, GrantId)>>,
}

/// What to do with a call the local scheduler let go.
pub(crate) enum Verdict {
    /// The coordinator granted it (or the local budget did, while the
    /// coordinator cannot be reached): send it.
    Go,
    /// The coordinator could not be reached just now: the call goes back to
    /// its place in the local queue, under the local budget.
    Requeue,
    /// Refused by the coordinator, timed out or aborted: reject with this.
    Stop(JsValue),
}

/// One answer of the coordinator to a request for grants.
enum Answer {
    Granted(Vec<GrantId>),
    Refused(JsValue),
    Failed,
}

impl Coordinated {
    pub(crate) fn new(options: Coordination) -> Coordinated {
        let link = Link::new(options.retry_ms);
        Coordinated { options, pool: RefCell::default(), link: RefCell::new(link), grants: RefCell::default() }
    }

    /// The grant for a call the local scheduler let go as `ticket`.
    // Each argument is a different fact of the call; a struct of them would
    // only be unpacked again here.
    #[allow(clippy::too_many_arguments)]
    pub(crate) async fn grant(
        &self,
        shared: &Shared,
        key: &str,
        ticket: Ticket,
        cost: Cost,
        signal: Option<&AbortSignal>,
        since: f64,
        deadline: Option<f64>,
    ) -> Verdict {
        let now = Date::now();
        if self.link.borrow().down(now) {
            // Admitted by the local budget, which is in charge until then.
            return Verdict::Go;
        }
        self.give_back_expired(now);
        let spare = self.pool.borrow_mut().take(key, &cost, now);
        if let Some(id) = spare {
            self.grants.borrow_mut().push((ticket, id));
            self.tell("sent", &[ids(&[id])]);
            return Verdict::Go;
        }
        // A coordinator restarting drops the requests it was serving: ask
        // again, a little later each time, before falling back.
        for pause_ms in RETRY_PAUSES_MS {
            if pause_ms > 0.0 {
                let (sleeping, _alarm) = wake::sleep(pause_ms, signal);
                sleeping.await;
                if let Some(signal) = signal.filter(|s| s.aborted()) {
                    return Verdict::Stop(signal.reason());
                }
            }
            let asked = match self.ask(key, cost, shared.core.borrow().guessed(ticket)) {
                Ok(asked) => asked,
                Err(_) => continue,
            };
            let answer = match wait_for(asked.clone(), signal, deadline).await {
                Waited::Done(answer) => answer,
                Waited::Aborted(reason) => {
                    // Whatever it grants is given back once it answers.
                    self.give_back_later(asked);
                    return Verdict::Stop(reason);
                }
                Waited::TimedOut => {
                    self.give_back_later(asked);
                    return Verdict::Stop(convert::refusal_error(&Refusal::QueueTimeout { waited_ms: Date::now() - since }));
                }
            };
            match answer {
                Answer::Granted(granted) => {
                    let Some((&first, spares)) = granted.split_first() else { continue };
                    self.grants.borrow_mut().push((ticket, first));
                    self.pool.borrow_mut().put(key, spares, cost, Date::now() + self.options.lease_ms);
                    if self.link.borrow_mut().succeeded() {
                        shared.core.borrow_mut().set_budget(false, 1.0);
                        shared.events.emit("coordinated", &[("partition", key.into())]);
                    }
                    return Verdict::Go;
                }
                Answer::Refused(error) => return Verdict::Stop(error),
                Answer::Failed => continue,
            }
        }
        let now = Date::now();
        let fell_back = self.link.borrow_mut().failed(now);
        if let Some(until) = fell_back {
            shared.core.borrow_mut().set_budget(true, self.options.share);
            // Spare grants cannot be given back now; the coordinator lets them expire.
            self.pool.borrow_mut().drain();
            shared.events.emit("fallback", &[("partition", key.into()), ("retryInMs", (until - now).round().into())]);
        }
        Verdict::Requeue
    }

    /// Report the answer to a call sent with a grant.
    pub(crate) fn finished(&self, ticket: Ticket, status: Option<u16>, fields: Option<&[(String, String)]>) {
        let found = self.grants.borrow().iter().position(|(t, _)| *t == ticket);
        let Some((_, id)) = found.map(|at| self.grants.borrow_mut().swap_remove(at)) else { return };
        let status = status.map_or(JsValue::NULL, JsValue::from);
        let fields = fields
            .map_or(JsValue::NULL, |fields| fields.iter().map(|(n, v)| JsValue::from(Array::of2(&n.into(), &v.into()))).collect::<Array>().into());
        self.tell("complete", &[JsValue::from_f64(id as f64), status, fields]);
    }

    fn give_back_expired(&self, now: f64) {
        let expired = self.pool.borrow_mut().expired(now);
        if !expired.is_empty() {
            self.tell("release", &[ids(&expired)]);
        }
    }

    /// Give back what a request still in progress grants, once it does.
    fn give_back_later(&self, asked: Promise) {
        let stub = self.stub();
        spawn_local(async move {
            let Ok(answer) = JsFuture::from(asked).await else { return };
            let granted = read_grants(&answer);
            if let (Some(granted), Ok(stub)) = (granted, stub) {
                if !granted.is_empty() {
                    if let Ok(released) = call(&stub, "release", &[ids(&granted)]) {
                        let _ = JsFuture::from(released).await;
                    }
                }
            }
        });
    }

    /// Ask the coordinator for up to `lease_size` grants of `cost`, of whose
    /// input tokens `guessed` are a guess.
    fn ask(&self, key: &str, cost: Cost, guessed: f64) -> Result<Promise, JsValue> {
        let stub = self.stub()?;
        let plain = to_plain(&cost)?;
        if guessed > 0.0 {
            super::convert::set(plain.unchecked_ref(), "guessedInputTokens", &JsValue::from_f64(guessed));
        }
        let args = [JsValue::from_str(key), plain, JsValue::from(self.options.lease_size), JsValue::from_f64(self.options.lease_ms)];
        call(&stub, "acquire", &args)
    }

    /// Send a message that needs no answer. A failure is ignored: the
    /// grants it concerns expire at the coordinator.
    fn tell(&self, method: &str, args: &[JsValue]) {
        let sent = self.stub().and_then(|stub| call(&stub, method, args));
        if let Ok(promise) = sent {
            spawn_local(async move {
                let _ = JsFuture::from(promise).await;
            });
        }
    }

    /// A stub of the coordinator object, made afresh for each request: a
    /// stub belongs to the Worker request that made it.
    fn stub(&self) -> Result<JsValue, JsValue> {
        let namespace = &self.options.namespace;
        let id = call_sync(namespace, "idFromName", &[JsValue::from_str(&self.options.name)])?;
        call_sync(namespace, "get", &[id])
    }
}

enum Waited {
    Done(Answer),
    Aborted(JsValue),
    TimedOut,
}

/// Wait for the coordinator's answer, or for the call's signal or deadline.
async fn wait_for(asked: Promise, signal: Option<&AbortSignal>, deadline: Option<f64>) -> Waited {
    let mut answer = JsFuture::from(asked.clone());
    loop {
        let now = Date::now();
        if let Some(signal) = signal.filter(|s| s.aborted()) {
            return Waited::Aborted(signal.reason());
        }
        if deadline.is_some_and(|d| d <= now) {
            return Waited::TimedOut;
        }
        let until = deadline.unwrap_or(f64::INFINITY).min(now + KEEPALIVE_MS);
        let (sleeping, alarm) = wake::sleep(until - now, signal);
        let mut sleeping = Box::pin(sleeping);
        let done = poll_fn(|cx| {
            if let Poll::Ready(result) = Pin::new(&mut answer).poll(cx) {
                return Poll::Ready(Some(result));
            }
            sleeping.as_mut().poll(cx).map(|_| None)
        })
        .await;
        if let Some(result) = done {
            // End the sleep so its timer is cleared.
            if let Some(alarm) = alarm {
                alarm.wake();
            }
            sleeping.await;
            return Waited::Done(match result {
                Err(_) => Answer::Failed,
                Ok(answer) => match (read_grants(&answer), get(&answer, "refused")) {
                    (_, refused) if refused.is_object() => rebuild_error(&refused).map_or(Answer::Failed, Answer::Refused),
                    (Some(granted), _) => Answer::Granted(granted),
                    _ => Answer::Failed,
                },
            });
        }
    }
}

fn read_grants(answer: &JsValue) -> Option<Vec<GrantId>> {
    let grants = get(answer, "grants");
    let grants = grants.dyn_ref::<Array>()?;
    Some(grants.iter().filter_map(|id| id.as_f64()).filter(|id| id.is_finite() && *id >= 0.0).map(|id| id as GrantId).collect())
}

/// The coordinator's refusal as this throttler's `HeadroomError`; `None`
/// for an answer that is not one of the documented refusals.
fn rebuild_error(refused: &JsValue) -> Option<JsValue> {
    let code = get(refused, "code").as_string().filter(|c| Refusal::CODES.contains(&c.as_str()))?;
    let message = get(refused, "message").as_string()?;
    let details = Object::new();
    for key in Refusal::PROPERTIES {
        let value = get(refused, key);
        if !value.is_undefined() {
            set(&details, key, &value);
        }
    }
    Some(convert::headroom_error(&code, &message, &details))
}

fn ids(ids: &[GrantId]) -> JsValue {
    ids.iter().map(|&id| JsValue::from_f64(id as f64)).collect::<Array>().into()
}

/// `target[method](...args)`, through `Reflect.apply`: a stub's method is
/// a proxy on which even `.apply` would be taken for a remote method.
fn call_sync(target: &JsValue, method: &str, args: &[JsValue]) -> Result<JsValue, JsValue> {
    let function: Function = Reflect::get(target, &JsValue::from_str(method))?.unchecked_into();
    Reflect::apply(&function, target, &args.iter().collect::<Array>())
}

/// Call a method of a stub; its answer as a promise.
fn call(stub: &JsValue, method: &str, args: &[JsValue]) -> Result<Promise, JsValue> {
    let result = call_sync(stub, method, args)?;
    Ok(Promise::resolve(&result))
}
