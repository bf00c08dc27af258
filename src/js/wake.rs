//! How a waiting call sleeps and is woken.
//!
//! A `fetch` call waits in its own future (a `run` or `acquire` call in a
//! record, see [`super::admit`]): in Cloudflare Workers on a JS promise the
//! call made itself, elsewhere on a flag that wakes its task directly, with
//! no promise of its own (and a closure only when a timer or a signal can
//! end the wait). Anything
//! that changes the state (a response, a release) ends it; a wait the core
//! gave a time (the call its next time concerns, a deadline, a backoff, a
//! coordinator's retry or fallback) also has a timer that ends it then.
//! A wait with no time (`∞`) has no timer: the core names the call when it
//! may go. Two runtime facts shape this:
//! - in Cloudflare Workers a request whose code awaits only something another
//!   request will resolve is cancelled as hung; a pending timer of its own
//!   keeps it alive, and a promise's continuation runs in the request that
//!   awaited it, so each call resumes in its own context. There every wait
//!   has a timer, of [`KEEPALIVE_MS`] at most (stepping a call again before
//!   its time changes nothing);
//! - a timer left pending keeps Node alive, so every timer is cleared as soon
//!   as its wait ends.

use super::convert::get;
use crate::float::clamp;
use js_sys::{Array, Function, Promise};
use std::cell::{Cell, RefCell};
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll, Waker};
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use wasm_bindgen_futures::JsFuture;
use web_sys::AbortSignal;

#[wasm_bindgen]
extern "C" {
    #[wasm_bindgen(js_name = setTimeout)]
    fn set_timeout(handler: &Function, ms: f64) -> JsValue;
    #[wasm_bindgen(js_name = clearTimeout)]
    fn clear_timeout(id: &JsValue);
}

/// The longest delay `setTimeout` takes (2^31 − 1 ms); longer waits re-arm.
const MAX_TIMER_MS: f64 = 2_147_483_647.0;

/// In Cloudflare Workers, the longest a waiting call goes without a timer
/// of its own firing.
pub(crate) const KEEPALIVE_MS: f64 = 30_000.0;

thread_local! {
    /// Whether this runtime cancels a request that waits on nothing of its
    /// own: Cloudflare Workers, by `navigator.userAgent` as workerd sets it,
    /// or by its `WebSocketPair` global (Workers with no `navigator`: an
    /// old compatibility date or `no_global_navigator`).
    static KEEP_ALIVE: bool = {
        let global = js_sys::global();
        let agent = get(&get(&global, "navigator"), "userAgent");
        agent.as_string().is_some_and(|agent| agent == "Cloudflare-Workers") || get(&global, "WebSocketPair").is_function()
    };
}

/// Whether each waiting call must keep a timer of its own, and be stepped
/// in its own request (Cloudflare Workers).
pub(crate) fn keeps_alive() -> bool {
    KEEP_ALIVE.with(|keep| *keep)
}

/// The timer of a wait of `ms` milliseconds (∞ for none) that calls
/// `callback`: its id, or `None` when the wait keeps no timer.
pub(crate) fn timer(callback: &Function, ms: f64) -> Option<JsValue> {
    let ms = if keeps_alive() { ms.min(KEEPALIVE_MS) } else { ms };
    (!ms.is_nan() && ms < f64::INFINITY).then(|| set_timeout(callback, clamp(ms, 0.0, MAX_TIMER_MS)))
}

/// A new promise and its resolver (`None` only if the Promise constructor
/// did not run its executor at once, as ECMAScript says it does).
pub(crate) fn pending() -> (Promise, Option<Function>) {
    let mut resolver = None;
    let promise = Promise::new(&mut |resolve, _reject| resolver = Some(resolve));
    (promise, resolver)
}

/// A way to end one wait early.
#[derive(Clone)]
pub(crate) struct Alarm(Ends);

#[derive(Clone)]
enum Ends {
    /// Resolves the promise the wait awaits (Cloudflare Workers).
    Promise(Function),
    /// Ends the wait in Rust.
    Wait(Rc<Wait>),
}

impl Alarm {
    pub(crate) fn wake(&self) {
        match &self.0 {
            // Resolving a settled promise again is a no-op; it cannot throw.
            Ends::Promise(resolve) => drop(resolve.call0(&JsValue::UNDEFINED)),
            Ends::Wait(wait) => wait.end(),
        }
    }
}

/// A wait that Rust ends: no promise, no closure and no timer of its own
/// unless a time or a signal can end it too.
#[derive(Default)]
struct Wait {
    ended: Cell<bool>,
    waker: RefCell<Option<Waker>>,
}

impl Wait {
    fn end(&self) {
        self.ended.set(true);
        // Waking only queues the waiting task's next poll (taken first: no
        // borrow is held while it wakes).
        let waker = self.waker.borrow_mut().take();
        if let Some(waker) = waker {
            waker.wake();
        }
    }
}

/// What a sleeping call awaits.
enum Sleeper {
    Promise(Promise),
    Wait(Rc<Wait>),
}

/// Awaits a [`Wait`]'s end.
struct Ending(Rc<Wait>);

impl Future for Ending {
    type Output = ();

    fn poll(self: Pin<&mut Self>, context: &mut Context<'_>) -> Poll<()> {
        if self.0.ended.get() {
            return Poll::Ready(());
        }
        *self.0.waker.borrow_mut() = Some(context.waker().clone());
        Poll::Pending
    }
}

/// Start a wait of `ms` milliseconds (∞: until woken), ended early by the
/// alarm or by `signal` aborting: the future to await and its alarm. The
/// timer and the abort listener are removed when the wait ends, however it
/// ends.
pub(crate) fn sleep(ms: f64, signal: Option<&AbortSignal>) -> (impl Future<Output = ()>, Option<Alarm>) {
    let (sleeper, ends) = match keeps_alive() {
        // In Workers the wait is a promise of the call's own, so that the
        // call resumes in its own request (see the module's note).
        true => match pending() {
            (promise, Some(resolve)) => (Some(Sleeper::Promise(promise)), Some(Ends::Promise(resolve))),
            // Without a resolver (never, see `pending`) the wait simply ends at once.
            (_, None) => (None, None),
        },
        false => {
            let wait = Rc::new(Wait::default());
            (Some(Sleeper::Wait(wait.clone())), Some(Ends::Wait(wait)))
        }
    };
    // What a timer or the signal calls: the promise's resolver, or a
    // function ending the wait, made only when either is there to call it.
    let caller: Option<Function> = match &ends {
        Some(Ends::Promise(resolve)) => Some(resolve.clone()),
        Some(Ends::Wait(wait)) if signal.is_some() || ms < f64::INFINITY => {
            let wait = wait.clone();
            Some(Closure::<dyn Fn()>::new(move || wait.end()).into_js_value().unchecked_into())
        }
        _ => None,
    };
    let timer = caller.as_ref().and_then(|caller| timer(caller, ms));
    let listener = caller.filter(|_| signal.is_some());
    if let (Some(signal), Some(listener)) = (signal, &listener) {
        let _ = signal.add_event_listener_with_callback("abort", listener);
    }
    let signal = signal.cloned();
    let future = async move {
        match sleeper {
            None => return,
            Some(Sleeper::Promise(promise)) => drop(JsFuture::from(promise).await),
            Some(Sleeper::Wait(wait)) => Ending(wait).await,
        }
        if let Some(timer) = timer {
            clear_timeout(&timer);
        }
        if let (Some(signal), Some(listener)) = (signal, listener) {
            let _ = signal.remove_event_listener_with_callback("abort", &listener);
        }
    };
    (future, ends.map(Alarm))
}

/// Call `callback` after `ms` milliseconds on a timer that does not keep
/// the process alive (`unref` in Node, `Deno.unrefTimer` in Deno); its id.
pub(crate) fn background(callback: &Function, ms: f64) -> JsValue {
    let timer = set_timeout(callback, clamp(ms, 0.0, MAX_TIMER_MS));
    let unref = get(&timer, "unref");
    if let Some(unref) = unref.dyn_ref::<Function>() {
        let _ = unref.call0(&timer);
    } else if let Some(unref) = get(&get(&js_sys::global(), "Deno"), "unrefTimer").dyn_ref::<Function>() {
        let _ = unref.call1(&JsValue::UNDEFINED, &timer);
    }
    timer
}

/// Clear a timer of [`background`].
pub(crate) fn clear(timer: &JsValue) {
    clear_timeout(timer);
}

/// Wait for `promise` at most `ms` milliseconds: `None` when the time ran
/// out first. The timer is cleared either way. `promise` must not resolve
/// to `undefined` (that reads as the time running out).
pub(crate) async fn within(promise: &Promise, ms: f64) -> Option<Result<JsValue, JsValue>> {
    let (timeout, resolver) = pending();
    let timer = set_timeout(&resolver?, clamp(ms, 0.0, MAX_TIMER_MS));
    let result = JsFuture::from(Promise::race(&Array::of2(promise, &timeout))).await;
    clear_timeout(&timer);
    match result {
        Ok(value) if value.is_undefined() => None,
        settled => Some(settled),
    }
}
