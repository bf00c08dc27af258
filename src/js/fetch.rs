//! The drop-in `fetch`: read a call's cost and partition, then carry out
//! the engine's steps, sending the request each time it says to.

use super::convert::{self, get, prop, type_error};
use super::heard;
use super::options::{self, Partitioning};
use super::request::{read_request_body, Body, RequestInfo};
use super::shared::{Shared, Stop};
use crate::budget::Cost;
use crate::engine::{rate_limited_answer, CallId, CallSpec};
use crate::estimate::usage::prompt_tokens;
use crate::estimate::{estimate_from, partition_key, Breakpoint, Source};
use crate::schedule::LEAST_ESTIMATE;
use js_sys::{Function, Promise};
use std::rc::{Rc, Weak};
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use wasm_bindgen_futures::{future_to_promise, JsFuture};
use web_sys::AbortSignal;

/// A `fetch` call in the engine, its signal, and what its answer's usage
/// is compared with (none when nothing can be learnt from it).
pub(crate) struct FetchCall {
    id: CallId,
    signal: Option<AbortSignal>,
    watch: Option<Rc<Watch>>,
}

/// What an answer's `usage` is read for: the call's partition, its estimated
/// input tokens (when none of them is a guess, for the calibration), and
/// the prefixes it marked for caching (to learn whether the server caches them).
struct Watch {
    key: String,
    input: Option<f64>,
    breakpoints: Vec<Breakpoint>,
}

impl Shared {
    /// Read a call's cost, key and signal and queue it. The request's body
    /// text serves the estimate here and is not kept.
    pub(crate) fn queue_fetch(&self, input: &JsValue, init: &JsValue, request: RequestInfo) -> Result<FetchCall, Stop> {
        let signal = options::read_signal(&prop(init, "signal"), "init.signal").map_err(Stop::Failed)?.or(request.signal);
        let (cost, guessed, key, breakpoints) =
            self.cost_and_key(input, init, &request.origin, request.body.as_ref().map(Body::source)).map_err(Stop::Failed)?;
        // Only an estimate that can teach the calibration is watched.
        let input_tokens = (guessed == 0.0 && cost.input_tokens >= LEAST_ESTIMATE).then_some(cost.input_tokens);
        let watch = (input_tokens.is_some() || !breakpoints.is_empty())
            .then(|| Rc::new(Watch { key: key.clone(), input: input_tokens, breakpoints: breakpoints.clone() }));
        let spec = CallSpec { key, cost, guessed, priority: 0, retries: request.replayable, breakpoints };
        let id = self.enqueue(spec, signal.as_ref())?;
        Ok(FetchCall { id, signal, watch })
    }

    /// The whole call: wait, send, and again as long as the engine says.
    pub(crate) async fn fetch(self: Rc<Self>, input: JsValue, init: JsValue, queued: Option<Result<FetchCall, Stop>>) -> Result<JsValue, JsValue> {
        let queued = match queued {
            Some(queued) => queued,
            // Boxed: only a Request's body is read here, and its state would
            // otherwise weigh in every call's future.
            None => match Box::pin(read_request_body(&input, &init)).await {
                Ok(request) => self.queue_fetch(&input, &init, request),
                Err(error) => Err(Stop::Failed(error)),
            },
        };
        match queued {
            Ok(call) => self.fetch_on(input, init, call).await,
            Err(stop) => settle(stop, None),
        }
    }

    /// A queued call from its wait on, and again as long as the engine says.
    async fn fetch_on(self: Rc<Self>, input: JsValue, init: JsValue, call: FetchCall) -> Result<JsValue, JsValue> {
        let FetchCall { id, signal, watch } = call;
        let keep_fields = self.coordinated();
        let mut last: Option<Result<JsValue, JsValue>> = None;
        loop {
            let answer = last.as_ref().and_then(|result| result.as_ref().ok());
            if let Err(stop) = self.until_sent(id, signal.as_ref(), answer).await {
                return settle(stop, last);
            }
            let result = self.send(&input, &init).await;
            let answer = match &result {
                Ok(response) => {
                    if let Some(watch) = &watch {
                        self.watch_usage(response, watch);
                    }
                    heard::response(response, keep_fields)
                }
                Err(_) => crate::engine::Answer::NoAnswer,
            };
            self.with(|engine, now| engine.answered(id, answer, now));
            last = Some(result);
        }
    }

    /// When the caller reads a successful answer with `response.json()`,
    /// its `usage` tells the engine what the call's prompt really was (see
    /// [`crate::estimate::usage`]). The body is neither held nor copied:
    /// the answer's own `json` is wrapped, and only the caller reads it.
    fn watch_usage(&self, response: &JsValue, watch: &Rc<Watch>) {
        let status = prop(response, "status").as_f64().unwrap_or(0.0);
        let Ok(json) = prop(response, "json").dyn_into::<Function>() else { return };
        if !(200.0..300.0).contains(&status) {
            return;
        }
        // Wrapped once (a `fetch` may hand out the same object again).
        if !js_sys::Object::get_own_property_descriptor(response.unchecked_ref::<js_sys::Object>(), &JsValue::from_str("json")).is_undefined() {
            return;
        }
        // The throttler's one watcher, bound in JS to the answer and to a
        // slot holding what this call's usage is compared with: nothing is
        // allocated in wasm per call, and the answer, its wrapper and the
        // slot are collected together.
        let slot = js_sys::Object::new();
        let Watch { key, input, breakpoints } = watch.as_ref();
        convert::set(&slot, "json", &json);
        convert::set(&slot, "key", &JsValue::from_str(key));
        if let Some(input) = input {
            convert::set(&slot, "input", &JsValue::from_f64(*input));
        }
        if !breakpoints.is_empty() {
            let numbers: Vec<f64> =
                breakpoints.iter().flat_map(|b| [(b.hash >> 32) as f64, (b.hash & 0xffff_ffff) as f64, b.tokens, b.ttl_ms]).collect();
            convert::set(&slot, "breakpoints", &js_sys::Float64Array::from(numbers.as_slice()));
        }
        convert::set(response.unchecked_ref(), "json", &self.watcher().bind2(&JsValue::NULL, &slot, response));
    }

    /// Call the user's `fetch` (or the global one) once.
    async fn send(&self, input: &JsValue, init: &JsValue) -> Result<JsValue, JsValue> {
        // A Request's body is read when it is sent: send a copy each time
        // so that a retry still has one.
        let sent_input = match input.dyn_ref::<web_sys::Request>() {
            Some(request) => request.clone().map(JsValue::from).unwrap_or_else(|_| input.clone()),
            None => input.clone(),
        };
        let sent = convert::resolve_fetch(self.options.fetch.as_ref()).and_then(|fetch| fetch.call2(&JsValue::UNDEFINED, &sent_input, init));
        match sent {
            Ok(promise) => JsFuture::from(Promise::resolve(&promise)).await,
            Err(error) => Err(error),
        }
    }

    /// The cost (with its guessed input tokens) and partition of a `fetch`
    /// call: the caller's `estimate` and `partitionBy` functions where given,
    /// else the core's estimate.
    /// A call's cost, the part of it that is a guess, its partition, and its
    /// prefixes marked for caching (none with the caller's own `estimate`).
    fn cost_and_key(
        &self,
        input: &JsValue,
        init: &JsValue,
        origin: &str,
        body: Option<&dyn Source>,
    ) -> Result<(Cost, f64, String, Vec<Breakpoint>), JsValue> {
        let estimated = estimate_from(body);
        let (cost, guessed, breakpoints) = match &self.options.estimate {
            Some(f) => {
                let (cost, guessed) = options::read_cost(&f.call2(&JsValue::UNDEFINED, input, init)?, "the result of `estimate`")?;
                (cost, guessed, Vec::new())
            }
            None => (estimated.cost, estimated.guessed_input_tokens, estimated.breakpoints),
        };
        let key = match &self.options.partition_by {
            Partitioning::Mode(mode) => partition_key(*mode, origin, estimated.model.as_deref()),
            Partitioning::Function(f) => {
                let key = f.call2(&JsValue::UNDEFINED, input, init)?;
                key.as_string().ok_or_else(|| type_error(format!("expected `partitionBy` to return a string, got {}", convert::describe(&key))))?
            }
        };
        Ok((cost, guessed, key, breakpoints))
    }
}

/// What a `fetch` call that stopped settles with: the last answer when the
/// engine returns it; for a call refused because its partition is paused
/// longer than it waits, the 429 it would have met (an SDK sees its usual
/// rate-limit error); else the error.
fn settle(stop: Stop, last: Option<Result<JsValue, JsValue>>) -> Result<JsValue, JsValue> {
    match (stop, last) {
        (Stop::Returned, Some(last)) => last,
        (Stop::Refused(refusal), _) if rate_limited_answer(&refusal).is_some() => synthesized(&refusal),
        (stop, _) => Err(Shared::error(stop)),
    }
}

/// The function behind every watched answer's `json` (see
/// [`Shared::watch_usage`]): `(slot, answer)` parses the answer with its
/// own `json`, tells the engine what its `usage` says, and resolves as that
/// `json` would.
pub(crate) fn watcher(this: Weak<Shared>) -> Function {
    let watch = Closure::<dyn Fn(JsValue, JsValue) -> Promise>::new(move |slot: JsValue, target: JsValue| {
        let parsing = get(&slot, "json").dyn_into::<Function>().and_then(|json| json.call0(&target));
        let this = this.clone();
        future_to_promise(async move {
            let value = JsFuture::from(Promise::resolve(&parsing?)).await?;
            let usage = get(&value, "usage");
            let field = |name: &str| get(&usage, name).as_f64().filter(|n| n.is_finite() && *n >= 0.0);
            let (Some(shared), Some(key)) = (this.upgrade(), get(&slot, "key").as_string()) else { return Ok(value) };
            if let (Some(estimated), Some(used)) = (get(&slot, "input").as_f64(), prompt_tokens(field)) {
                shared.with(|engine, now| engine.usage(&key, estimated, used, now));
            }
            let breakpoints: Vec<Breakpoint> = get(&slot, "breakpoints")
                .dyn_into::<js_sys::Float64Array>()
                .map(|numbers| {
                    numbers
                        .to_vec()
                        .chunks_exact(4)
                        .map(|b| Breakpoint { hash: ((b[0] as u64) << 32) | b[1] as u64, tokens: b[2], ttl_ms: b[3] })
                        .collect()
                })
                .unwrap_or_default();
            if let (false, Some(read), Some(written)) =
                (breakpoints.is_empty(), field("cache_read_input_tokens"), field("cache_creation_input_tokens"))
            {
                shared.with(|engine, now| engine.cache_usage(&key, &breakpoints, read, written, now));
            }
            Ok(value)
        })
    });
    watch.into_js_value().unchecked_into()
}

/// The 429 of [`rate_limited_answer`] as a `Response`.
fn synthesized(refusal: &crate::schedule::Refusal) -> Result<JsValue, JsValue> {
    let answer = rate_limited_answer(refusal).ok_or_else(|| convert::refusal_error(refusal))?;
    let headers = web_sys::Headers::new()?;
    for (name, value) in &answer.headers {
        headers.set(name, value)?;
    }
    let init = web_sys::ResponseInit::new();
    init.set_status(answer.status);
    init.set_headers(&headers);
    web_sys::Response::new_with_opt_str_and_init(Some(&answer.body), &init).map(JsValue::from)
}
