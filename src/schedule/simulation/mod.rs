//! A deterministic simulation of an API and its rate limits, driven by the
//! shipped [`Engine`](crate::engine::Engine): the proof that a burst runs at
//! the limit without 429s, and that retries, pauses, overload and a
//! coordinator's outage go as designed; and, under real conditions, the
//! measure of how close to that the client comes.
//!
//! Everything runs on a virtual clock in milliseconds and every random draw
//! (call sizes, latencies, output written, background arrivals, backoff
//! jitter) comes from a seeded generator, so a run is a pure function of its
//! setup: the same figures every time, in a fraction of a second for tens of
//! simulated minutes.
//!
//! - [`api`]: the server, with the buckets and headers of a real one
//!   (Anthropic-style continuous token buckets, or GitHub-style windows),
//!   output given back when an answer is shorter than its `max_tokens`, and
//!   prompt caching;
//! - [`run`]: the client, [`run::run`] playing a [`run::Setup`] to its
//!   [`run::Outcome`]; its parts, in files of their own, private (what the
//!   scenarios use is re-exported from [`run`]):
//!   - `workload`: our calls ([`run::Call`], drawn by [`run::offered`], and
//!     the [`run::Conditions`] of a real API laid over them: latencies,
//!     output written, a cached prefix), another client's background
//!     traffic, an overload of the server;
//!   - `queue`: the events of the virtual clock, earliest first;
//!   - `driver`: the engine stepped through the same steps as the JS layer
//!     takes them (wait, send, ask the coordinator, read a body, return);
//!   - `wire`: a call's trip to the server and back, with headers parsed
//!     from strings by [`crate::headers::parse`], computed as the server
//!     answers or at admission, and sent with the answer or at the first
//!     token ([`run::Reported`]);
//!   - `coordinator`: with a coordinator, several isolates share one
//!     [`Book`](crate::coordinate::Book) over a simulated RPC;
//!   - `outcome`: what a run did, and the log of its events;
//! - [`scenarios`]: the scenarios of the proof and the figures each is
//!   judged by, with a server kind to the client (headers as it answers,
//!   whole `max_tokens` written, no cache);
//! - [`real`]: bursts under real conditions, each over ten seeds, judged by
//!   the time until the last answer over its minimum and the 429s after the
//!   first answer, against a target some of them miss today (their tests
//!   assert what they meet and name the gap).
//!
//! `cargo test` asserts them; `cargo run --release --features simulation
//! --example simulate` prints them as tables.
//!
//! It is built for the crate's own tests and with the `simulation` feature
//! only: the library never carries it.

pub mod api;
mod coordinator;
mod driver;
mod outcome;
mod queue;
pub mod real;
pub mod run;
pub mod scenarios;
mod wire;
mod workload;

#[cfg(test)]
mod real_tests;
#[cfg(test)]
mod tests;
