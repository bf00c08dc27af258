//! Events: `on(type, listener)` and the `onEvent` option.
//!
//! Each event is a plain object with a `type` and the numbers of the moment.
//! Payloads carry partition keys (an origin, maybe a model), statuses and
//! times, never a URL path, a header or a body, so no secret can leak into a
//! log through them. A listener that throws is ignored: an observer must not
//! be able to break the calls it observes.

use super::convert::{get, to_plain};
use super::metrics::Metrics;
use crate::engine::Event;
use js_sys::Function;
use std::cell::RefCell;
use wasm_bindgen::prelude::*;

#[derive(Default)]
pub(crate) struct Events {
    on_event: Option<Function>,
    listeners: RefCell<Vec<(u64, String, Function)>>,
    next_id: std::cell::Cell<u64>,
    /// OpenTelemetry instruments fed by the same moments, when a `meter`
    /// was given.
    metrics: RefCell<Option<Metrics>>,
}

impl Events {
    pub(crate) fn new(on_event: Option<Function>) -> Events {
        Events { on_event, ..Events::default() }
    }

    /// Add a listener; returns the id that removes it.
    pub(crate) fn add(&self, kind: &str, listener: Function) -> u64 {
        let id = self.next_id.get();
        self.next_id.set(id + 1);
        self.listeners.borrow_mut().push((id, kind.to_string(), listener));
        id
    }

    pub(crate) fn remove(&self, id: u64) {
        self.listeners.borrow_mut().retain(|(i, _, _)| *i != id);
    }

    /// Feed every event to these instruments too.
    pub(crate) fn set_metrics(&self, metrics: Metrics) {
        *self.metrics.borrow_mut() = Some(metrics);
    }

    /// True when anyone listens to any event.
    pub(crate) fn any(&self) -> bool {
        self.on_event.is_some() || !self.listeners.borrow().is_empty() || self.metrics.borrow().is_some()
    }

    /// True when anyone listens to `kind` (so payloads are built only then).
    pub(crate) fn wanted(&self, kind: &str) -> bool {
        self.on_event.is_some()
            || self.listeners.borrow().iter().any(|(_, k, _)| k == kind)
            || (Metrics::wants(kind) && self.metrics.borrow().is_some())
    }

    /// Emit an event of the engine, as plain JSON of it.
    pub(crate) fn emit(&self, event: &Event) {
        let kind = event.kind();
        if !self.wanted(kind) {
            return;
        }
        let Ok(payload) = to_plain(event) else { return };
        if let Some(metrics) = self.metrics.borrow().as_ref() {
            metrics.record(kind, |name| Some(get(&payload, name)).filter(|v| !v.is_undefined()));
        }
        let targets: Vec<Function> =
            self.on_event.iter().cloned().chain(self.listeners.borrow().iter().filter(|(_, k, _)| k == kind).map(|(_, _, f)| f.clone())).collect();
        for listener in targets {
            let _ = listener.call1(&JsValue::UNDEFINED, &payload);
        }
    }
}
