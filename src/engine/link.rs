//! A throttler's link to its coordinator: the lease pool, requests for
//! grants in progress, and falling back to the local budget and back.

use super::io::{AskId, CallId, Event, Grants, Tell};
use super::{Engine, Phase};
use crate::coordinate::{LeasePool, Link};
use crate::ids::IdMap;

/// Pauses before each request for grants when the one before it failed:
/// long enough for a restarting coordinator to come back (a Durable Object
/// is back in tens of milliseconds), short enough that a call is not held
/// long before it falls back to the local budget.
pub const ASK_PAUSES_MS: [f64; 4] = [0.0, 50.0, 200.0, 500.0];

/// How a throttler shares one budget through a coordinator.
#[derive(Clone, Debug, PartialEq)]
pub struct Coordination {
    /// Grants asked for at once; the spare ones serve the next calls.
    pub lease_size: u32,
    /// How long a spare grant may wait for a call.
    pub lease_ms: f64,
    /// The part of each limit used while the coordinator cannot be reached.
    pub share: f64,
    /// How long to use the local budget before asking the coordinator again.
    pub retry_ms: f64,
}

impl Default for Coordination {
    fn default() -> Coordination {
        Coordination { lease_size: 4, lease_ms: 1_000.0, share: 0.5, retry_ms: 5_000.0 }
    }
}

/// The engine's side of the link.
#[derive(Debug)]
pub(super) struct Linked {
    pub(super) settings: Coordination,
    pub(super) pool: LeasePool,
    link: Link,
    /// Requests for grants not yet answered, and the call each is for
    /// (`None` once that call stopped waiting for it).
    asks: IdMap<AskId, Option<CallId>>,
    next_ask: AskId,
    /// While falling back: when to stop using the local budget and ask the
    /// coordinator again (the queued calls then go and ask, whatever the
    /// local budget would have let go by then).
    pub(super) fallback_until: Option<f64>,
}

impl Linked {
    pub(super) fn new(settings: Coordination) -> Linked {
        Linked { link: Link::new(settings.retry_ms), settings, pool: LeasePool::default(), asks: IdMap::default(), next_ask: 0, fallback_until: None }
    }

    /// Whether to ask the coordinator at `now` (else the local budget rules).
    pub(super) fn up(&self, now: f64) -> bool {
        self.link.up(now)
    }

    pub(super) fn ask(&mut self, call: CallId) -> AskId {
        let id = self.next_ask;
        self.next_ask += 1;
        self.asks.insert(id, Some(call));
        id
    }

    /// Requests for grants not yet answered.
    #[cfg(test)]
    pub(super) fn asks_pending(&self) -> usize {
        self.asks.len()
    }

    /// The call stopped waiting for `ask`: what it grants is given back.
    pub(super) fn abandon(&mut self, ask: AskId) {
        if let Some(owner) = self.asks.get_mut(&ask) {
            *owner = None;
        }
    }
}

impl Engine {
    /// At the end of a fallback, the budget is the coordinator's again: the
    /// calls waiting go and ask it.
    pub(super) fn end_fallback(&mut self, now: f64) {
        let Some(link) = self.link.as_mut() else { return };
        if link.fallback_until.is_some_and(|until| until <= now) {
            link.fallback_until = None;
            self.scheduler.set_budget(false, 1.0);
        }
    }

    /// The coordinator answered a request for grants (or it failed).
    pub fn coordinator_answered(&mut self, ask: AskId, answer: Grants, now: f64) {
        let Some(link) = self.link.as_mut() else { return };
        let Some(owner) = link.asks.remove(&ask) else { return };
        let asking = owner.and_then(|id| match self.calls.get(&id)?.phase {
            Phase::Asking { ticket, ask: a, tries } if a == ask => Some((id, ticket, tries)),
            _ => None,
        });
        let Some((id, ticket, tries)) = asking else {
            // Nobody waits for it any more: give back whatever it granted.
            if let Grants::Granted(ids) = answer {
                if !ids.is_empty() {
                    self.tells.push(Tell::Release(ids));
                }
            }
            return;
        };
        let call = self.calls.get_mut(&id).expect("found above");
        self.woken.push(id);
        match answer {
            Grants::Granted(ids) if !ids.is_empty() => {
                let (first, spares) = ids.split_first().expect("not empty");
                // At the cost the coordinator granted them for: the call's as
                // dispatched (calibrated, less a warm prompt prefix).
                let cost = self.scheduler.cost(ticket).unwrap_or(call.cost);
                link.pool.put(&call.key, spares, cost, now + link.settings.lease_ms);
                call.phase = Phase::Cleared { ticket, grant: Some(*first) };
                link.fallback_until = None;
                if link.link.succeeded() {
                    self.scheduler.set_budget(false, 1.0);
                    self.events.push(Event::Coordinated { partition: call.key.clone() });
                }
            }
            Grants::Refused(refusal) => {
                self.by_ticket.remove(&ticket);
                self.scheduler.refuse(ticket);
                self.events.push(Event::Rejected { partition: call.key.clone(), code: refusal.code() });
                call.phase = Phase::Refused(refusal);
            }
            Grants::Granted(_) | Grants::Failed => {
                let tries = tries + 1;
                if let Some(pause) = ASK_PAUSES_MS.get(tries) {
                    call.phase = Phase::AskAgain { ticket, tries, at: now + pause };
                } else {
                    if let Some(until) = link.link.failed(now) {
                        link.fallback_until = Some(until);
                        self.scheduler.set_budget(true, link.settings.share);
                        // Spare grants cannot be given back now; the coordinator lets them expire.
                        link.pool.drain();
                        self.events.push(Event::Fallback { partition: call.key.clone(), retry_in_ms: (until - now).round() });
                    }
                    // Back to its place in the queue, under the local budget.
                    self.scheduler.requeue(ticket);
                    call.phase = Phase::Queued { ticket, sleeps_until: f64::INFINITY };
                }
            }
        }
        self.pump(now);
    }
}
