//! A deterministic simulation of an API and its rate limits, driven by the
//! real scheduler: the proof that a burst runs at the limit without 429s.
//!
//! Everything runs on a virtual clock in milliseconds and every random draw
//! (call sizes, latencies, background arrivals) comes from a seeded
//! generator, so a run is a pure function of its setup: the same figures
//! every time, in a fraction of a second for tens of simulated minutes.
//!
//! - [`api`]: the server, with the buckets and headers of a real one
//!   (Anthropic-style continuous token buckets, or GitHub-style windows);
//! - [`run`]: the client, the real [`Scheduler`](crate::schedule::Scheduler)
//!   called in the same order as the JS layer calls it, with headers parsed
//!   from strings by [`crate::headers::parse`];
//! - [`scenarios`]: the scenarios of the proof and the figures each is
//!   judged by. `cargo test` asserts them; `cargo run --release --example
//!   simulate` prints them as a table.
//!
//! It is compiled on native targets only: the wasm build never carries it.

pub mod api;
pub mod run;
pub mod scenarios;

#[cfg(test)]
mod tests;
