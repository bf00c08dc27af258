//! The only code that touches JavaScript. It converts JS values to core
//! types and back, sleeps on timers for exactly as long as the core says,
//! and calls the user's `fetch`. Every decision is the core's.
//!
//! - [`throttler`]: the `Throttler` class and its drop-in `fetch`.
//! - [`options`]: reading and validating the constructor's options.
//! - [`wake`]: how a waiting call sleeps and is woken.
//! - [`request`]: a `fetch` call's URL, body, replayability and signal.
//! - [`metrics`]: OpenTelemetry instruments, when a `meter` is given.
//! - [`convert`]: headers and errors between JS and Rust.
//! - [`coordinated`] and [`coordinator`]: one budget for many isolates,
//!   through a Durable Object (see [`crate::coordinate`]).

mod convert;
mod coordinated;
mod coordinator;
mod events;
mod metrics;
mod options;
mod request;
mod throttler;

pub use coordinator::Coordinator;
pub use throttler::Throttler;
mod wake;

use wasm_bindgen::prelude::*;

/// `parseRateLimitHeaders(headers, nowMs?)`: one normalized Observation from
/// a `Headers`, a plain object or an array of `[name, value]` pairs.
#[wasm_bindgen(js_name = parseRateLimitHeaders)]
pub fn parse_rate_limit_headers(headers: JsValue, now_ms: Option<f64>) -> Result<JsValue, JsValue> {
    let pairs = convert::header_pairs(&headers, "headers")?;
    let now_ms = now_ms.filter(|n| n.is_finite()).unwrap_or_else(js_sys::Date::now);
    let observation = crate::headers::parse(pairs.iter().map(|(n, v)| (n.as_str(), v.as_str())), now_ms);
    convert::to_plain(&observation)
}

/// Called once by each loader with the package's `HeadroomError` class.
#[wasm_bindgen(js_name = useErrorClass)]
pub fn use_error_class(class: js_sys::Function) {
    convert::use_error_class(class);
}
