//! headroom: a rate-limit-aware `fetch`, as a pure core and a thin JS skin.
//!
//! The pure modules take time as a number of milliseconds and headers as
//! name/value pairs; they build and test natively. Only [`js`] (compiled for
//! `wasm32` alone) touches JavaScript, and it owns no policy.
#![forbid(unsafe_code)]

pub mod budget;
pub mod coordinate;
pub mod engine;
pub mod estimate;
pub mod float;
pub mod headers;
pub mod ids;
pub mod retry;
pub mod schedule;
pub mod small_map;

#[cfg(target_arch = "wasm32")]
pub mod js;
