//! The `Permit` class: the right to send one call, from `acquire`.

use super::heard;
use super::shared::Shared;
use crate::engine::{Answer, CallId};
use std::cell::Cell;
use std::rc::Rc;
use wasm_bindgen::prelude::*;

/// The right to send one call, from `acquire`.
#[wasm_bindgen]
pub struct Permit {
    shared: Rc<Shared>,
    id: Cell<Option<CallId>>,
}

impl Permit {
    pub(crate) fn new(shared: Rc<Shared>, id: CallId) -> Permit {
        Permit { shared, id: Cell::new(Some(id)) }
    }
}

#[wasm_bindgen]
impl Permit {
    /// Give the slot back and feed what the server said: its headers and
    /// its status (200 when headers are given without one). Without headers
    /// or a status the call's estimated cost is charged. A second release
    /// does nothing.
    pub fn release(&self, headers: JsValue, status: Option<f64>) -> Result<(), JsValue> {
        let Some(id) = self.id.get() else { return Ok(()) };
        let keep_fields = self.shared.coordinated();
        let headers = match headers.is_undefined() || headers.is_null() {
            true => None,
            false => Some(heard::read(&headers, "headers", keep_fields)?.parts()),
        };
        let answer = Answer::reported(status.map(heard::status), headers, false);
        self.id.set(None);
        self.shared.with(|engine, now| {
            engine.answered(id, answer, now);
            engine.step(id, now)
        });
        Ok(())
    }
}
