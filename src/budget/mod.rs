//! The budget of one partition: a bucket per dimension, and the reservations
//! of calls the server has not counted yet.
//!
//! # The model
//!
//! A bucket's *level* is what the server would say remains, as of a moment we
//! know (`at_ms`), and a refill rule says how it changes with time
//! ([`Bucket`]). A call's [`Cost`] is *reserved* when it is dispatched. What a
//! new call may use is
//!
//! ```text
//! available(now) = level(now) − Σ cost of uncounted reservations
//! ```
//!
//! When a response arrives, its headers are the truth as of the moment the
//! server answered. Every call dispatched *before or with* that one has been
//! counted by the server by then, so its reservation is dropped; the level is
//! replaced by the reported `remaining`. Calls dispatched *after* it and still
//! in flight may not be counted yet, so their reservations stay subtracted.
//!
//! Why this neither double-counts nor under-counts:
//! - a call is subtracted once: by its reservation until a response at least
//!   as new as it arrives, then by the server's `remaining`, never by both,
//!   because the same observation that puts it into `remaining` drops its
//!   reservation (ordering uses the dispatch sequence, so a response that
//!   overtakes an older one drops exactly the reservations it covers);
//! - a call is never forgotten: a reservation leaves only through an
//!   observation that covers it, or, when its response carried no headers,
//!   by being charged to the level as local consumption;
//! - an older response that arrives after a newer one is stale and is not
//!   applied, so the level never moves back to an earlier truth.
//!
//! The approximation is that the server counts calls in the order they were
//! sent; calls racing on the wire can be counted in either order, which the
//! next response corrects.

mod bucket;
mod cost;
mod ledger;

pub use bucket::{Bucket, BucketRefill, BucketView};
pub use cost::{Cost, Limits};
pub use ledger::{Admission, Budget};
