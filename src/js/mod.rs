//! The only code that touches JavaScript: an executor for the core's
//! engine ([`crate::engine`]). It converts JS values to core types and
//! back, waits for exactly as long as the engine says, calls the user's
//! `fetch` and the coordinator, and reports back. Every decision is
//! the engine's.
//!
//! - [`throttler`] and [`permit`]: the `Throttler` and `Permit` classes.
//! - [`fetch`]: the drop-in `fetch`, its cost and partition.
//! - [`shared`]: the executor loop every call runs, and what calls share;
//!   [`admit`]: the lean one of `run` and `acquire`, with no future per call.
//! - [`options`]: reading and validating the constructor's options.
//! - [`wake`]: how a waiting call sleeps and is woken.
//! - [`request`]: a `fetch` call's URL, body, replayability and signal.
//! - [`heard`]: an answer's status and headers.
//! - [`events`] and [`metrics`]: listeners, and OpenTelemetry instruments.
//! - [`convert`]: headers and errors between JS and Rust; [`to_js`]: core
//!   values as plain JS values.
//! - [`coordinated`] and [`coordinator`]: one budget for many isolates,
//!   through a Durable Object (see [`crate::coordinate`]).

mod admit;
mod convert;
mod coordinated;
mod coordinator;
mod events;
mod fetch;
mod heard;
mod metrics;
mod options;
mod permit;
mod request;
mod shared;
mod throttler;
mod to_js;
mod wake;

pub use coordinator::Coordinator;
pub use permit::Permit;
pub use throttler::Throttler;

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

/// Called once by each loader with the package's maker of `run`'s runner
/// (see [`admit::use_runner`]).
#[wasm_bindgen(js_name = useRunner)]
pub fn use_runner(maker: js_sys::Function) {
    admit::use_runner(maker);
}
