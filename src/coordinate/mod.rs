//! One budget for many throttlers: the bookkeeping of a coordinator and of
//! the throttlers that ask it.
//!
//! A Cloudflare Worker runs as many isolates at once; each would keep a
//! budget of its own, and together they would overrun the key's limit. A
//! coordinator (a Durable Object, one per budget) runs a [`Scheduler`] of its
//! own for every call of every isolate. An isolate's throttler still queues
//! its calls locally (priority, `maxConcurrent`, deadlines, aborts), but with
//! its local budget turned off ([`crate::schedule::Config::local_budget`]);
//! before a call is sent it asks the coordinator for a *grant*, and after
//! the answer it reports the status and headers back.
//!
//! # Grants and the lease
//!
//! The coordinator queues each request for grants like any call and answers
//! once the first can go. A throttler may ask for `count` grants of the same
//! cost at once (its *lease*): those that fit at that same moment are
//! granted too, the rest are not queued. The first grant is sent at once; the
//! spare ones wait in the throttler's [`LeasePool`] for its next calls of the
//! same partition and cost, for at most `lease_ms`. This takes the round trip
//! to the coordinator off the common path, at a price: budget granted to one
//! isolate and not yet used is budget no other isolate can have, for up to
//! `lease_ms` (when a spare grant is not used in time it is given back).
//!
//! # Which answers cover which grants
//!
//! One client sends each call as it is dispatched, so dispatch order is the
//! order the server counts calls in, which the reservation model of
//! [`crate::budget`] relies on. Grants are sent by other isolates, each
//! after a round trip of its own, and spare grants later still: the order
//! is lost. So the coordinator holds every grant's reservation until that
//! grant's own answer (`Config::hold_until_answered`, see "Held
//! reservations" in [`crate::budget`]). A response to another call never
//! drops it; its own answer does, and is charged instead of applied when a
//! newer answer came first. Counting a call twice for about one latency is
//! the price; counting it never is not possible. When a throttler uses a
//! spare grant it says so ([`Scheduler::sent`]) without waiting for an
//! answer: the grant then orders as one sent at that moment, and its answer
//! is as fresh as the calls sent before it.
//!
//! # Isolates that vanish
//!
//! An isolate may be evicted between a grant and its report. Every grant
//! therefore expires ([`Grants::expire`]): a spare grant never reported as
//! sent is released (it never reached the server), one that was sent is
//! charged at its estimated cost (it may have), [`REPORT_TIMEOUT_MS`] after
//! it went.
//!
//! # Restarts
//!
//! The coordinator saves its partitions' buckets and its grants after every
//! change ([`Saved`]: [`Scheduler::save`], [`Grants::saved`]). Made afresh,
//! it restores the buckets and puts every outstanding grant back in flight
//! ([`Scheduler::restore_in_flight`]), so the calls already granted still
//! count against the limit and their reports still find them. The state
//! carries its version ([`SAVED_VERSION`]); a state of another version, or
//! one that cannot be read, is dropped and the budget starts afresh.
//!
//! # When the coordinator cannot be reached
//!
//! A throttler whose request to the coordinator fails falls back to its own
//! budget, which it kept up to date from every response it saw, using only
//! a `share` of each limit (the rest is left to the other isolates doing the
//! same), and tries the coordinator again after `retry_ms`
//! ([`Link`]). Nothing waits on an unreachable coordinator.

use crate::budget::Cost;
use crate::schedule::{Completion, Scheduler, Ticket};
use serde::Serialize;

mod book;
mod plain;
mod saved;

pub use book::{Attempt, Book, Request, MAX_LEASE, RETRY_ATTEMPT_MS};
#[cfg(test)]
pub(crate) use plain::bucket as plain_bucket;
pub use plain::Plain;
pub use saved::{Saved, SAVED_VERSION};

/// Identifies one grant across the coordinator's restarts.
pub type GrantId = u64;

/// One call that a coordinator let go.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Grant {
    pub id: GrantId,
    pub key: String,
    pub cost: Cost,
    /// Reported as sent (the first grant of a lease is sent at once).
    pub sent: bool,
    /// When the coordinator stops waiting for its report.
    pub expires_at_ms: f64,
    /// Its call in the coordinator's scheduler (not saved: a restored
    /// scheduler numbers its calls afresh, so any value serves there).
    #[serde(skip)]
    pub ticket: Ticket,
}

/// How long after a grant is sent its report may take (a call's whole
/// duration, streaming included) before the coordinator charges it.
pub const REPORT_TIMEOUT_MS: f64 = 600_000.0;

/// A spare grant is kept this much longer by the coordinator than by the
/// throttler, for the message that says it was sent to arrive.
const SENT_GRACE_MS: f64 = 5_000.0;

/// The grants a coordinator has made and not yet seen reported.
#[derive(Clone, Debug)]
pub struct Grants {
    /// In the order they were made (ids ascend). A plain list: grants
    /// outstanding are about the calls in flight, and a map of its own
    /// would add to the wasm more than this saves in time.
    outstanding: Vec<Grant>,
    next_id: GrantId,
    report_timeout_ms: f64,
}

/// What a coordinator saves of its grants.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SavedGrants {
    pub next_id: GrantId,
    pub grants: Vec<Grant>,
}

impl Grants {
    /// Grants whose report may take `report_timeout_ms` after they are sent.
    pub fn new(report_timeout_ms: f64) -> Grants {
        Grants { outstanding: Vec::new(), next_id: 1, report_timeout_ms }
    }

    /// The same book, its first id `id`.
    pub fn first_id(mut self, id: GrantId) -> Grants {
        self.next_id = id.max(1);
        self
    }

    pub fn report_timeout_ms(&self) -> f64 {
        self.report_timeout_ms
    }

    /// Record the grant of a dispatched call. A spare grant (`sent` false,
    /// to be used within `lease_ms`) is held in the scheduler until it is
    /// reported sent.
    #[allow(clippy::too_many_arguments)]
    pub fn issue(&mut self, scheduler: &mut Scheduler, ticket: Ticket, key: &str, cost: Cost, sent: bool, lease_ms: f64, now_ms: f64) -> GrantId {
        let id = self.next_id;
        self.next_id += 1;
        if !sent {
            scheduler.hold(ticket);
        }
        let expires_at_ms = now_ms + if sent { self.report_timeout_ms } else { lease_ms.max(0.0) + SENT_GRACE_MS };
        self.outstanding.push(Grant { id, key: key.to_string(), cost, sent, expires_at_ms, ticket });
        id
    }

    /// A spare grant is being sent now. Unknown or already sent: nothing.
    pub fn sent(&mut self, scheduler: &mut Scheduler, id: GrantId, now_ms: f64) {
        if let Some(grant) = self.outstanding.iter_mut().find(|g| g.id == id && !g.sent) {
            grant.sent = true;
            grant.expires_at_ms = now_ms + self.report_timeout_ms;
            scheduler.sent(grant.ticket, now_ms);
        }
    }

    /// The grant's call ended (or the grant is given back): it leaves the
    /// book. `None` for a grant this coordinator does not know (already
    /// expired, or made by a coordinator whose state was lost).
    pub fn take(&mut self, id: GrantId) -> Option<Grant> {
        let at = self.outstanding.iter().position(|g| g.id == id)?;
        Some(self.outstanding.remove(at))
    }

    /// Settle every grant whose time is up: a spare one never sent is
    /// released, a sent one is completed at its estimated cost. Returns how
    /// many expired.
    pub fn expire(&mut self, scheduler: &mut Scheduler, now_ms: f64) -> usize {
        let (expired, kept): (Vec<Grant>, Vec<Grant>) = std::mem::take(&mut self.outstanding).into_iter().partition(|g| g.expires_at_ms <= now_ms);
        self.outstanding = kept;
        for grant in &expired {
            if grant.sent {
                // It may have reached the server: charge its estimate.
                scheduler.finish(grant.ticket, Completion::Unreported, now_ms);
            } else {
                scheduler.cancel(grant.ticket);
            }
        }
        expired.len()
    }

    /// The earliest expiry, for the coordinator's alarm.
    pub fn next_expiry(&self) -> Option<f64> {
        self.outstanding.iter().map(|g| g.expires_at_ms).reduce(f64::min)
    }

    pub fn len(&self) -> usize {
        self.outstanding.len()
    }

    pub fn is_empty(&self) -> bool {
        self.outstanding.is_empty()
    }

    pub fn saved(&self) -> SavedGrants {
        SavedGrants { next_id: self.next_id, grants: self.outstanding.clone() }
    }

    /// Take back saved grants into a scheduler made afresh: each is in
    /// flight again (held when it was not yet sent), with its old id.
    pub fn restore(report_timeout_ms: f64, saved: SavedGrants, scheduler: &mut Scheduler, now_ms: f64) -> Grants {
        let mut grants = Grants::new(report_timeout_ms);
        grants.next_id = saved.next_id.max(1);
        for mut grant in saved.grants {
            grant.ticket = scheduler.restore_in_flight(&grant.key, grant.cost, now_ms);
            if !grant.sent {
                scheduler.hold(grant.ticket);
            }
            grants.next_id = grants.next_id.max(grant.id + 1);
            grants.outstanding.push(grant);
        }
        grants
    }
}

/// A throttler's spare grants, by partition.
#[derive(Clone, Debug, Default)]
pub struct LeasePool {
    /// A few at most (`leaseSize − 1` per partition in use): a list.
    spares: Vec<Spare>,
}

#[derive(Clone, Debug)]
struct Spare {
    key: String,
    id: GrantId,
    cost: Cost,
    use_by_ms: f64,
}

impl LeasePool {
    /// Keep spare grants of `cost` for `key`, usable until `use_by_ms`.
    pub fn put(&mut self, key: &str, ids: &[GrantId], cost: Cost, use_by_ms: f64) {
        self.spares.extend(ids.iter().map(|&id| Spare { key: key.to_string(), id, cost, use_by_ms }));
    }

    /// A spare grant of `key` that covers `cost`, still usable at `now_ms`.
    pub fn take(&mut self, key: &str, cost: &Cost, now_ms: f64) -> Option<GrantId> {
        let found = self.spares.iter().position(|s| s.key == key && s.use_by_ms > now_ms && covers(&s.cost, cost))?;
        Some(self.spares.remove(found).id)
    }

    /// Spare grants no longer usable at `now_ms`, taken out to be given back.
    pub fn expired(&mut self, now_ms: f64) -> Vec<GrantId> {
        let (expired, kept): (Vec<Spare>, Vec<Spare>) = std::mem::take(&mut self.spares).into_iter().partition(|s| s.use_by_ms <= now_ms);
        self.spares = kept;
        expired.into_iter().map(|s| s.id).collect()
    }

    /// When the first spare grant still held stops being usable.
    pub fn next_expiry(&self) -> Option<f64> {
        self.spares.iter().map(|s| s.use_by_ms).reduce(f64::min)
    }

    /// Every spare grant, taken out (to give back when the coordinator is
    /// left for the local budget).
    pub fn drain(&mut self) -> Vec<GrantId> {
        std::mem::take(&mut self.spares).into_iter().map(|s| s.id).collect()
    }

    pub fn len(&self) -> usize {
        self.spares.len()
    }

    pub fn is_empty(&self) -> bool {
        self.spares.is_empty()
    }
}

/// A grant of `granted` is enough for a call of `cost`.
fn covers(granted: &Cost, cost: &Cost) -> bool {
    granted.requests >= cost.requests
        && granted.input_tokens >= cost.input_tokens
        && granted.output_tokens >= cost.output_tokens
        && granted.tokens >= cost.tokens
}

/// Whether a throttler asks its coordinator or falls back to its own budget.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Link {
    /// After a failure, the coordinator is tried again this long after.
    pub retry_ms: f64,
    /// The coordinator is not asked before this time.
    down_until_ms: f64,
}

impl Link {
    pub fn new(retry_ms: f64) -> Link {
        Link { retry_ms, down_until_ms: f64::NEG_INFINITY }
    }

    /// Whether to ask the coordinator at `now_ms`.
    pub fn up(&self, now_ms: f64) -> bool {
        now_ms >= self.down_until_ms
    }

    /// Whether the link is down (falling back) at `now_ms`.
    pub fn down(&self, now_ms: f64) -> bool {
        !self.up(now_ms)
    }

    /// A request to the coordinator failed: fall back until the returned
    /// time. `None` when the link was already down (calls that were asking
    /// together fail together; the fallback began with the first).
    pub fn failed(&mut self, now_ms: f64) -> Option<f64> {
        if self.down(now_ms) {
            return None;
        }
        self.down_until_ms = now_ms + self.retry_ms;
        Some(self.down_until_ms)
    }

    /// A request succeeded: returns true when that ends a fallback.
    pub fn succeeded(&mut self) -> bool {
        let was_down = self.down_until_ms > f64::NEG_INFINITY;
        self.down_until_ms = f64::NEG_INFINITY;
        was_down
    }
}

#[cfg(test)]
mod tests;
