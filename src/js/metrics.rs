//! OpenTelemetry metrics, when the `meter` option gives a `Meter` (from
//! `@opentelemetry/api`; headroom imports nothing of it: the user's meter
//! makes the instruments).
//!
//! The instruments are fed by the same moments as the events (see
//! [`super::events`]), and the gauges read the live budget when the meter's
//! reader collects. Names and attributes follow OpenTelemetry's conventions:
//! dotted lower-case names, durations in seconds, `error.type` and
//! `http.response.status_code` where those apply, the rest under
//! `headroom.`. No attribute holds more than a partition key (an origin and
//! a model), a dimension's name, a status or an error code.

use super::convert::{describe, get, set, type_error};
use super::shared::Shared;
use js_sys::{Array, Function, Object};
use std::rc::Weak;
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;

/// One instrument: its name, what it measures, its unit.
struct Instrument {
    name: &'static str,
    description: &'static str,
    unit: &'static str,
}

/// Every instrument, as the README lists them.
const WAIT: Instrument = Instrument { name: "headroom.wait.duration", description: "Time calls waited for budget before they were sent", unit: "s" };
const SENT: Instrument =
    Instrument { name: "headroom.calls.sent", description: "Calls sent (each attempt of a retried call counts)", unit: "{call}" };
const RETRIED: Instrument =
    Instrument { name: "headroom.calls.retried", description: "Retries of fetch calls after a retryable answer or a network error", unit: "{call}" };
const REFUSED: Instrument = Instrument {
    name: "headroom.calls.refused",
    description: "Calls refused: too large, queue full, waited too long or paused too long",
    unit: "{call}",
};
const RATE_LIMITED: Instrument = Instrument { name: "headroom.responses.rate_limited", description: "429 answers seen", unit: "{response}" };
const REMAINING: Instrument =
    Instrument { name: "headroom.budget.remaining", description: "Budget a new call may use now, net of calls in flight", unit: "1" };
const LIMIT: Instrument = Instrument { name: "headroom.budget.limit", description: "A dimension's limit, as last reported or given", unit: "1" };

const PARTITION: &str = "headroom.partition";
const DIMENSION: &str = "headroom.dimension";
const STATUS: &str = "http.response.status_code";
const ERROR_TYPE: &str = "error.type";

/// The instruments made on the user's meter.
pub(crate) struct Metrics {
    meter: JsValue,
    wait: JsValue,
    sent: JsValue,
    retried: JsValue,
    refused: JsValue,
    rate_limited: JsValue,
    /// The observable gauges (remaining, limit) and their one callback.
    gauges: Array,
    callback: Function,
}

impl Metrics {
    /// Make the instruments on `meter`; the gauges read `shared`'s budget
    /// for as long as it lives.
    pub(crate) fn new(meter: &JsValue, shared: Weak<Shared>) -> Result<Metrics, JsValue> {
        let method = |name: &str| -> Result<Function, JsValue> { get(meter, name).dyn_into().map_err(|_| not_a_meter(meter)) };
        let make = |create: &str, instrument: &Instrument| -> Result<JsValue, JsValue> {
            let options = Object::new();
            set(&options, "description", &JsValue::from_str(instrument.description));
            set(&options, "unit", &JsValue::from_str(instrument.unit));
            method(create)?.call2(meter, &JsValue::from_str(instrument.name), &options)
        };
        let (wait, sent) = (make("createHistogram", &WAIT)?, make("createCounter", &SENT)?);
        let (retried, refused) = (make("createCounter", &RETRIED)?, make("createCounter", &REFUSED)?);
        let rate_limited = make("createCounter", &RATE_LIMITED)?;
        let (remaining, limit) = (make("createObservableGauge", &REMAINING)?, make("createObservableGauge", &LIMIT)?);
        let gauges = Array::of2(&remaining, &limit);
        let add = method("addBatchObservableCallback")?;
        // The last step that can fail: nothing is registered on a meter
        // that is refused.
        method("removeBatchObservableCallback")?;
        let callback = Closure::<dyn Fn(JsValue)>::new(move |result: JsValue| {
            if let Some(shared) = shared.upgrade() {
                observe_budget(&shared, &result, &remaining, &limit);
            }
        })
        .into_js_value()
        .unchecked_into::<Function>();
        add.call2(meter, &callback, &gauges)?;
        Ok(Metrics { meter: meter.clone(), wait, sent, retried, refused, rate_limited, gauges, callback })
    }

    /// Record what an event says; `field` reads one of its fields.
    pub(crate) fn record(&self, kind: &str, field: impl Fn(&str) -> Option<JsValue>) {
        let partition = field("partition").unwrap_or(JsValue::UNDEFINED);
        let attributes = |extra: Option<(&str, JsValue)>| {
            let attributes = Object::new();
            set(&attributes, PARTITION, &partition);
            if let Some((name, value)) = extra.filter(|(_, v)| !v.is_null() && !v.is_undefined()) {
                set(&attributes, name, &value);
            }
            attributes
        };
        let (instrument, extra) = match kind {
            "dispatched" => {
                let waited = field("waitedMs").and_then(|v| v.as_f64()).unwrap_or(0.0);
                call(&self.wait, "record", waited / 1000.0, &attributes(None));
                (&self.sent, None)
            }
            "retry" => (&self.retried, field("status").map(|s| (STATUS, s))),
            "rejected" => (&self.refused, field("code").map(|c| (ERROR_TYPE, c))),
            "response" if field("status").and_then(|s| s.as_f64()) == Some(429.0) => (&self.rate_limited, None),
            _ => return,
        };
        call(instrument, "add", 1.0, &attributes(extra));
    }

    /// Whether an event of `kind` feeds an instrument.
    pub(crate) fn wants(kind: &str) -> bool {
        matches!(kind, "dispatched" | "retry" | "rejected" | "response")
    }
}

impl Drop for Metrics {
    /// A throttler that is gone stops being observed.
    fn drop(&mut self) {
        if let Ok(remove) = get(&self.meter, "removeBatchObservableCallback").dyn_into::<Function>() {
            let _ = remove.call2(&self.meter, &self.callback, &self.gauges);
        }
    }
}

/// Observe every partition's dimensions: what remains, and the limit.
fn observe_budget(shared: &Shared, result: &JsValue, remaining: &JsValue, limit: &JsValue) {
    let Ok(observe) = get(result, "observe").dyn_into::<Function>() else {
        return;
    };
    let snapshot = shared.snapshot();
    for partition in &snapshot.partitions {
        for dimension in &partition.dimensions {
            let attributes = Object::new();
            set(&attributes, PARTITION, &JsValue::from_str(&partition.key));
            set(&attributes, DIMENSION, &JsValue::from_str(&dimension.name));
            let _ = observe.call3(result, remaining, &dimension.remaining.into(), &attributes);
            let _ = observe.call3(result, limit, &dimension.limit.into(), &attributes);
        }
    }
}

fn call(instrument: &JsValue, method: &str, value: f64, attributes: &Object) {
    if let Ok(f) = get(instrument, method).dyn_into::<Function>() {
        let _ = f.call2(instrument, &JsValue::from_f64(value), attributes);
    }
}

fn not_a_meter(meter: &JsValue) -> JsValue {
    type_error(format!(
        "expected `meter` to be an OpenTelemetry Meter (with createHistogram, createCounter, createObservableGauge and addBatchObservableCallback), got {}",
        describe(meter)
    ))
}
