//! The queue: which waiting call may go now, and when to ask again.
//!
//! The scheduler owns the partitions (each with its [`Budget`](crate::budget::Budget)),
//! the waiting calls in priority-then-arrival order, and the calls in flight.
//! It never reads a clock and never sleeps: every method takes `now_ms` and
//! returns a decision. [`Scheduler::poll`] says which calls go now and which
//! are refused for good; [`Scheduler::next_wake`] names the earliest moment
//! anything could change by the passage of time alone, and which waiting call
//! should hold the timer for it. Between those moments only events change
//! anything (a response, a release, an abort, a new call), and each event is
//! followed by another `poll`. Nothing polls on a period.
//!
//! A call goes when
//! - fewer than `max_concurrent` calls are in flight in all,
//! - its partition is not paused by a 429,
//! - its partition is past probing: before the first response of a partition
//!   with no static limits, only `probe_concurrency` calls are in flight, so
//!   an unknown limit costs at most that many 429s,
//! - and every known dimension has room for its cost after reservations.
//!
//! Within a partition the order is strict: higher priority first, then first
//! come, first served. A call at the head that must wait holds the calls
//! behind it, so a large call is never starved by a stream of small ones.

mod scheduler;

pub use scheduler::{Config, Counters, PartitionView, Poll, Refusal, Scheduler, Snapshot, Ticket};

#[cfg(test)]
mod tests;
