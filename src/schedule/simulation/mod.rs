//! A deterministic simulation of an API and its rate limits, driven by the
//! shipped [`Engine`](crate::engine::Engine): the proof that a burst runs at
//! the limit without 429s, and that retries, pauses, overload and a
//! coordinator's outage go as designed.
//!
//! Everything runs on a virtual clock in milliseconds and every random draw
//! (call sizes, latencies, background arrivals, backoff jitter) comes from a
//! seeded generator, so a run is a pure function of its setup: the same
//! figures every time, in a fraction of a second for tens of simulated
//! minutes.
//!
//! - [`api`]: the server, with the buckets and headers of a real one
//!   (Anthropic-style continuous token buckets, or GitHub-style windows);
//! - [`run`]: the client, the engine stepped through the same steps as the
//!   JS layer takes them (wait, send, ask the coordinator, read a body,
//!   return), with headers parsed from strings by [`crate::headers::parse`];
//!   with a coordinator, several isolates share one
//!   [`Book`](crate::coordinate::Book) over a simulated RPC;
//! - [`scenarios`]: the scenarios of the proof and the figures each is
//!   judged by. `cargo test` asserts them; `cargo run --release --features
//!   simulation --example simulate` prints them as a table.
//!
//! It is built for the crate's own tests and with the `simulation` feature
//! only: the library never carries it.

pub mod api;
pub mod run;
pub mod scenarios;

#[cfg(test)]
mod tests;
