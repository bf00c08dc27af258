//! What a coordinator's book of grants needs of its engine: a request that
//! leaves the engine once it may go (its ticket becomes a grant), spare
//! grants that go only if they fit at once, and the answers to grants.

use super::{CallId, Engine, Phase};
use crate::budget::Cost;
use crate::schedule::{Completion, Ticket};

impl Engine {
    /// A call that was just told to send leaves the engine, its reservation
    /// staying in flight under its ticket (a coordinator's grant: the book
    /// of grants completes it).
    pub fn hand_over(&mut self, id: CallId) -> Option<Ticket> {
        let Phase::InFlight { ticket, .. } = self.calls.get(&id)?.phase else { return None };
        self.end(id);
        self.by_ticket.remove(&ticket);
        Some(ticket)
    }

    /// Dispatch a call of `cost` in `key` only if it may go at this moment;
    /// nothing is queued or counted otherwise (a lease's spare grants).
    pub fn grant_now(&mut self, key: &str, cost: Cost, guessed: f64, now: f64) -> Option<Ticket> {
        self.scheduler.dispatch_now(key, cost, guessed, now)
    }

    /// A handed-over call ended (see [`Engine::hand_over`]).
    pub fn complete_ticket(&mut self, ticket: Ticket, key: &str, answer: Completion, now: f64) {
        self.scheduler.finish(ticket, answer, now);
        self.announce_pause(key, now);
        self.pump(now);
    }
}
