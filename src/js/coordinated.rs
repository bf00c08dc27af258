//! A throttler's messages to its coordinator (a Durable Object, or one
//! given directly such as the Redis one): requests
//! for grants and the reports that need no answer. When to ask, what to do
//! with the answer and when to fall back are the engine's
//! ([`crate::engine`]); this file only talks to the object.

use super::convert::{self, get, to_plain};
use super::options::Binding;
use crate::coordinate::GrantId;
use crate::engine::{Ask, Grants, Tell};
use crate::schedule::Refusal;
use js_sys::{Array, Function, Promise, Reflect};
use std::future::Future;
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use wasm_bindgen_futures::{spawn_local, JsFuture};

pub(crate) struct Coordinated {
    binding: Binding,
}

impl Coordinated {
    pub(crate) fn new(binding: Binding) -> Coordinated {
        Coordinated { binding }
    }

    /// Send a request for grants; the future gives its answer
    /// ([`Grants::Failed`] when the request fails or the answer is not one).
    pub(crate) fn ask(&self, ask: &Ask) -> impl Future<Output = Grants> {
        let sent = self.stub().and_then(|stub| {
            let cost = to_plain(&ask.cost)?;
            if ask.guessed > 0.0 {
                convert::set(cost.unchecked_ref(), "guessedInputTokens", &JsValue::from_f64(ask.guessed));
            }
            let args = [JsValue::from_str(&ask.key), cost, JsValue::from(ask.count), JsValue::from_f64(ask.lease_ms)];
            call(&stub, "acquire", &args)
        });
        async move {
            let Ok(sent) = sent else { return Grants::Failed };
            match JsFuture::from(sent).await {
                Ok(answer) => read_answer(&answer),
                Err(_) => Grants::Failed,
            }
        }
    }

    /// Send a message that needs no answer. A failure is ignored: the
    /// grants it concerns expire at the coordinator.
    pub(crate) fn tell(&self, tell: Tell) {
        let (method, args) = match tell {
            Tell::Sent(granted) => ("sent", vec![ids(&granted)]),
            Tell::Release(granted) => ("release", vec![ids(&granted)]),
            // `complete(id, status, fields, unreported)`: a status without
            // fields is an answer whose headers said nothing of limits,
            // unless `unreported` says the call ended without a report.
            Tell::Complete { grant, status, fields } => {
                let unreported = status.is_some() && fields.is_none();
                let fields = fields.map_or(JsValue::NULL, |fields| {
                    fields.iter().map(|(n, v)| JsValue::from(Array::of2(&n.into(), &v.into()))).collect::<Array>().into()
                });
                let status = status.map_or(JsValue::NULL, JsValue::from);
                ("complete", vec![JsValue::from_f64(grant as f64), status, fields, JsValue::from_bool(unreported)])
            }
        };
        if let Ok(promise) = self.stub().and_then(|stub| call(&stub, method, &args)) {
            spawn_local(async move {
                let _ = JsFuture::from(promise).await;
            });
        }
    }

    /// A stub of the coordinator object, made afresh for each request: a
    /// stub belongs to the Worker request that made it. A coordinator given
    /// directly is its own stub.
    fn stub(&self) -> Result<JsValue, JsValue> {
        match &self.binding {
            Binding::Direct(coordinator) => Ok(coordinator.clone()),
            Binding::Namespace { namespace, name } => {
                let id = call_sync(namespace, "idFromName", &[JsValue::from_str(name)])?;
                call_sync(namespace, "get", &[id])
            }
        }
    }
}

/// `{ grants: [id, …] }` or `{ refused: { code, … } }`, as the coordinator
/// answers (see `Coordinator.acquire`).
fn read_answer(answer: &JsValue) -> Grants {
    let refused = get(answer, "refused");
    if refused.is_object() {
        let dimension = get(&refused, Refusal::DIMENSION).as_string();
        let code = get(&refused, "code").as_string().unwrap_or_default();
        return Refusal::from_parts(&code, dimension, |name| get(&refused, name).as_f64()).map_or(Grants::Failed, Grants::Refused);
    }
    match get(answer, "grants").dyn_ref::<Array>() {
        Some(granted) => {
            Grants::Granted(granted.iter().filter_map(|id| id.as_f64()).filter(|id| id.is_finite() && *id >= 0.0).map(|id| id as GrantId).collect())
        }
        None => Grants::Failed,
    }
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
