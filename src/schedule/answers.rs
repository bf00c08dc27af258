//! What answers do to a partition: a 429 pauses it, a 503 or 529 halves
//! its concurrency window (AIMD), a success grows it back (see "Overload
//! (AIMD)" in the docs of [`crate::schedule`]).

use super::partition::{tagged_partition, Entry, State, FIRST_BACKOFF_MS, MAX_BACKOFF_MS};
use super::{Scheduler, Ticket};
use crate::headers::Observation;

/// How a dispatched call ended, as the scheduler learns from it.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Completion<'a> {
    /// No answer came (a network error, an abort in flight): nothing was
    /// spent, nothing is learnt.
    NoAnswer,
    /// It ended and nobody said how (a `run` without a report, a grant
    /// whose report never came): its estimate is charged, and it counts
    /// neither as a success nor as a failure.
    Unreported,
    /// The server answered with `status`, its headers saying `observation`.
    Heard { status: u16, observation: Option<&'a Observation> },
}

impl Scheduler {
    /// The JS layer sent a call again after a retryable answer.
    pub fn note_retry(&mut self) {
        self.counters.retried += 1;
    }

    /// A dispatched call ended. `status` is the HTTP status, or `None` when no
    /// response came (a network error); `observation` what its headers said.
    pub fn complete(&mut self, ticket: Ticket, status: Option<u16>, observation: Option<&Observation>, now_ms: f64) {
        let completion = match status {
            Some(status) => Completion::Heard { status, observation },
            None => Completion::NoAnswer,
        };
        self.finish(ticket, completion, now_ms);
    }

    /// A dispatched call ended, as `completion` says.
    pub fn finish(&mut self, ticket: Ticket, completion: Completion, now_ms: f64) {
        // Only a call in flight completes: a waiting one stays in its queue.
        if !matches!(self.entries.get(ticket), Some(Entry { state: State::Dispatched { .. }, .. })) {
            return;
        }
        let Some(index) = self.entries.tag(ticket).map(tagged_partition) else { return };
        let Some(Entry { partition, state: State::Dispatched { sequence, .. }, .. }) = self.entries.remove(ticket) else {
            return;
        };
        debug_assert_eq!(*self.partitions.key_at(index), partition, "a call's tag names its partition");
        let window = self.config.default_window_ms;
        let p = self.partitions.at_mut(index).expect("tags name existing partitions");
        p.in_flight -= 1;
        self.in_flight -= 1;
        self.counters.completed += 1;
        let (status, observation) = match completion {
            Completion::NoAnswer => {
                p.budget.release(sequence);
                return;
            }
            Completion::Unreported => {
                p.answered = true;
                p.budget.reconcile(sequence, None, now_ms, window);
                return;
            }
            Completion::Heard { status, observation } => (status, observation),
        };
        p.answered = true;
        if status == 429 {
            // The server refused it: it used nothing, whatever the headers say.
            p.budget.refused(sequence, observation, now_ms, window);
        } else {
            p.budget.reconcile(sequence, observation, now_ms, window);
        }
        match status {
            429 => {
                self.counters.rate_limited += 1;
                // One pause for the whole partition: the server's retry-after,
                // else the reset of an exhausted dimension, else a backoff that
                // doubles with each 429 that names no time.
                let until = match retry_after(observation) {
                    Some(ms) => now_ms + ms,
                    None => p.budget.exhausted_reset(now_ms).unwrap_or_else(|| {
                        let pause = p.backoff_ms;
                        p.backoff_ms = (p.backoff_ms * 2.0).min(MAX_BACKOFF_MS);
                        now_ms + pause
                    }),
                };
                p.paused_until = p.paused_until.max(until);
            }
            503 | 529 => {
                self.counters.overloaded += 1;
                // One decrease per episode: the answers of calls sent before
                // the last decrease describe the load that caused it.
                if sequence >= p.recovery_sequence {
                    let in_use = f64::from(p.in_flight + 1);
                    p.window = (p.window.min(in_use) / 2.0).max(1.0);
                    p.recovery_sequence = self.next_sequence;
                    let base = p.overload_backoff_ms;
                    p.overload_backoff_ms = (base * 2.0).min(MAX_BACKOFF_MS);
                    // Equal jitter: between half and all of the base, so
                    // clients that failed together do not return together.
                    let pause = retry_after(observation).unwrap_or(base * (0.5 + 0.5 * self.jitter.unit()));
                    p.paused_until = p.paused_until.max(now_ms + pause);
                }
            }
            status if status < 400 => {
                p.backoff_ms = FIRST_BACKOFF_MS;
                let cap = f64::from(self.config.max_concurrent.max(1));
                p.window = (p.window + 1.0 / p.window).min(cap);
                if sequence >= p.recovery_sequence {
                    p.overload_backoff_ms = FIRST_BACKOFF_MS;
                }
            }
            _ => {}
        }
    }

    /// Until when `partition` is paused, if it is at `now_ms`.
    pub fn paused_until(&self, partition: &str, now_ms: f64) -> Option<f64> {
        self.partitions.get(partition).map(|p| p.paused_until).filter(|until| *until > now_ms)
    }

    /// A random number in [0, 1) from the seeded generator (the jitter of
    /// retry backoffs).
    pub fn jitter(&mut self) -> f64 {
        self.jitter.unit()
    }

    /// Headers seen outside a dispatched call, for a partition.
    pub fn observe(&mut self, partition: &str, observation: &Observation, now_ms: f64) {
        let window = self.config.default_window_ms;
        let p = self.partition_mut(partition, now_ms);
        p.budget.observe(observation, now_ms, window);
        if !observation.dimensions.is_empty() {
            p.answered = true;
        }
    }
}

/// The server's wait, where it is a usable number of milliseconds (the
/// parser never gives another, but a pause must never be NaN or endless).
fn retry_after(observation: Option<&Observation>) -> Option<f64> {
    observation.and_then(|o| o.retry_after_ms).filter(|ms| ms.is_finite()).map(|ms| ms.max(0.0))
}
