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
//!   with no static limits, only `probe_concurrency` calls are in flight,
//!   and beyond the first only while they hold [`PROBE_TOKENS`] tokens or
//!   fewer together, so an unknown limit costs at most that many 429s,
//! - and every known dimension has room for its cost after reservations.
//!
//! Within a partition the order is strict: higher priority first, then first
//! come, first served. A call at the head that must wait for budget holds the
//! calls behind it, so a large call is never starved by a stream of small ones.
//!
//! # Backfill
//!
//! A call behind a head that waits for budget may go first only when that
//! does not delay the head. With the head's cost fitting at time `T`, a
//! candidate (one of the next `backfill_scan` waiters of the same priority;
//! a lower priority never passes a higher one) goes at the time its own
//! cost fits if, with its cost reserved then, the head's cost still fits by
//! `T`, and a concurrency slot stays free for the head. In a window bucket
//! that is any call that fits before the reset (the reset refills to the
//! limit whatever was spent). In a continuously refilled bucket every unit
//! spent now delays the head, so only calls that do not draw on the
//! dimension the head waits for may pass. Because the head is never
//! delayed, no waiter waits forever.
//!
//! # Overload (AIMD)
//!
//! A 503 or 529 says the server, not our budget, is short. Each partition
//! keeps a concurrency window, starting at `max_concurrent`. The first
//! overload answer of an episode halves it (from the calls actually in
//! flight, at least 1) and pauses the partition for a backoff with equal
//! jitter (half to all of a base that doubles per episode, up to 60 s, or
//! the server's `retry-after`); answers to calls sent before that decrease
//! belong to the same episode and change nothing more. Each success grows
//! the window by `1 / window`, about one call per round of answers. The
//! jitter comes from a generator seeded by `Config::seed`: the core takes
//! randomness as an input, as it takes time.
mod answers;
mod backfill;
mod calibrate;
mod calls;
mod config;
mod evict;
#[cfg(test)]
mod invariants;
mod jitter;
mod partition;
mod partitions;
mod refusal;
mod scheduler;
mod shared_budget;
// Dev-only: the lib's tests, and `--features simulation` for the example.
#[cfg(any(test, feature = "simulation"))]
pub mod simulation;
mod views;

pub use answers::Completion;
pub use calibrate::LEAST_ESTIMATE;
pub use config::{Config, PROBE_TOKENS};
pub use refusal::Refusal;
pub use scheduler::{Scheduler, Ticket};
pub use views::{Counters, PartitionView, Poll, SavedDimension, SavedPartition, Snapshot};

#[cfg(test)]
mod property_tests;
#[cfg(test)]
mod tests;
