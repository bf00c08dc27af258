//! What an answer said: its status and the rate-limit headers, read into
//! the core's [`Answer`].

use super::convert::{self, prop};
use crate::engine::Answer;
use crate::float::clamp;
use crate::headers::{self, Observation};
use js_sys::Date;
use wasm_bindgen::prelude::*;

/// What headers said, and the rate-limit fields that said it (passed on
/// to a coordinator, which reads them itself).
#[derive(Default)]
pub(crate) struct Heard {
    pub(crate) observation: Observation,
    pub(crate) fields: Vec<(String, String)>,
}

impl Heard {
    pub(crate) fn answer(self, status: u16) -> Answer {
        Answer::Heard { status, observation: self.observation, fields: self.fields }
    }

    pub(crate) fn parts(self) -> (Observation, Vec<(String, String)>) {
        (self.observation, self.fields)
    }
}

/// Read headers; `keep_fields` keeps their rate-limit fields too (for a
/// coordinator).
pub(crate) fn read(headers: &JsValue, what: &str, keep_fields: bool) -> Result<Heard, JsValue> {
    read_at(headers, what, keep_fields, Date::now())
}

/// [`read`] of headers seen at `at` (epoch ms).
pub(crate) fn read_at(headers: &JsValue, what: &str, keep_fields: bool, at: f64) -> Result<Heard, JsValue> {
    let mut pairs = convert::header_pairs(headers, what)?;
    let observation = headers::parse(pairs.iter().map(|(n, v)| (n.as_str(), v.as_str())), at);
    pairs.retain(|(name, _)| keep_fields && headers::is_rate_limit_field(name));
    Ok(Heard { observation, fields: pairs })
}

/// A `Response`'s status and headers. Headers that cannot be read still
/// give an answer (with nothing learnt from them).
pub(crate) fn response(response: &JsValue, keep_fields: bool) -> Answer {
    let status = status(prop(response, "status").as_f64().unwrap_or(200.0));
    read(&prop(response, "headers"), "response.headers", keep_fields).unwrap_or_default().answer(status)
}

/// A status as a number from 0 to 999.
pub(crate) fn status(status: f64) -> u16 {
    if status.is_finite() {
        clamp(status, 0.0, 999.0) as u16
    } else {
        0
    }
}
