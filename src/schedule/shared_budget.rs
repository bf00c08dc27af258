//! What a shared budget needs of a scheduler: a coordinator's spare grants
//! (dispatched only if they fit at once, held until sent), calls put back
//! after a restart, and a throttler's switch between the coordinator's
//! budget and its own (see [`crate::coordinate`]).

use super::partition::{rank, tag, tagged_partition, Entry, State};
use super::{Poll, Scheduler, Ticket};
use crate::budget::Cost;
use crate::float::clamp;

impl Scheduler {
    /// Dispatch a call of `cost` in `partition` if it may go at this moment
    /// (nothing waits ahead of it, a slot is free, its cost fits); otherwise
    /// nothing is queued or counted. A coordinator's spare grants of a lease.
    pub fn dispatch_now(&mut self, partition: &str, cost: Cost, guessed: f64, now_ms: f64) -> Option<Ticket> {
        let index = self.partitions.index(partition)?;
        let key = self.partitions.key_at(index).clone();
        let guessed = if guessed > 0.0 { guessed.min(cost.input_tokens) as f32 } else { 0.0 };
        let entry = Entry { partition: key, cost: cost.cleaned(), guessed, priority: 0, state: State::Waiting, enqueued_at: now_ms, deadline: None };
        if !self.goes_at_once(&entry, index, now_ms) {
            return None;
        }
        let ticket = self.enqueue_until(partition, cost, f64::from(guessed), 0, None, now_ms).ok()?;
        self.dispatch(index, ticket, now_ms, &mut Poll::default());
        Some(ticket)
    }

    /// Keep or stop keeping the local budget, and set the share of each
    /// limit it may use (see [`Config::local_budget`] and [`Config::share`]).
    pub fn set_budget(&mut self, local_budget: bool, share: f64) {
        self.config.local_budget = local_budget;
        self.config.share = if share.is_finite() { clamp(share, 0.01, 1.0) } else { 1.0 };
    }

    /// A dispatched call will be sent later than now (a spare grant of a
    /// lease): until [`Scheduler::sent`], no response covers its reservation.
    pub fn hold(&mut self, ticket: Ticket) {
        let Some(index) = self.entries.tag(ticket).map(tagged_partition) else { return };
        if let Some(Entry { state: State::Dispatched { sequence, .. }, .. }) = self.entries.get(ticket) {
            if let Some(p) = self.partitions.at_mut(index) {
                p.budget.hold(*sequence);
            }
        }
    }

    /// A held call is being sent now: it takes its place in the dispatch
    /// order as of now.
    pub fn sent(&mut self, ticket: Ticket, now_ms: f64) {
        let now_sequence = self.next_sequence;
        let Some(index) = self.entries.tag(ticket).map(tagged_partition) else { return };
        if let Some(Entry { state: State::Dispatched { sequence, .. }, .. }) = self.entries.get_mut(ticket) {
            let moved = self.partitions.at_mut(index).is_some_and(|p| p.budget.sent(*sequence, now_sequence, now_ms));
            if moved {
                *sequence = now_sequence;
                self.next_sequence += 1;
            }
        }
    }

    /// Send a granted call back to its place in the queue (its ticket keeps
    /// its order), giving back its reservation: it was granted while the
    /// budget was kept elsewhere and must now wait for the local one.
    /// Returns false, changing nothing, for a call not in flight.
    pub fn requeue(&mut self, ticket: Ticket) -> bool {
        let Some(index) = self.entries.tag(ticket).map(tagged_partition) else { return false };
        let Some(entry) = self.entries.get_mut(ticket) else { return false };
        let State::Dispatched { sequence, .. } = entry.state else { return false };
        entry.state = State::Waiting;
        let p = self.partitions.at_mut(index).expect("tags name existing partitions");
        p.budget.release(sequence);
        p.in_flight -= 1;
        p.queue.insert((rank(entry.priority), ticket));
        p.waiting += 1;
        if p.waiting == 1 {
            self.waiting_partitions.insert(super::scheduler::waiting_item(index));
        }
        let waiting = tag(p.index, true, entry.deadline.is_some());
        if let Some(at) = entry.deadline {
            self.deadlines.insert((at.to_bits(), ticket));
        }
        self.entries.set_tag(ticket, waiting);
        self.in_flight -= 1;
        self.queued += 1;
        self.counters.dispatched -= 1;
        true
    }

    /// Put back a call that was in flight before this scheduler was made
    /// (granted by a coordinator before it restarted): it is dispatched at
    /// once, whatever the budget, because it may already be at the server.
    pub fn restore_in_flight(&mut self, partition: &str, cost: Cost, now_ms: f64) -> Ticket {
        let ticket = self.next_ticket;
        self.next_ticket += 1;
        let sequence = self.next_sequence;
        self.next_sequence += 1;
        let cost = cost.cleaned();
        let hold = self.config.hold_until_answered;
        let p = self.partition_mut(partition, now_ms);
        let index = p.index;
        p.budget.reserve(sequence, cost, now_ms);
        if hold {
            p.budget.hold(sequence);
        }
        p.in_flight += 1;
        self.in_flight += 1;
        let key = self.partitions.key_at(index).clone();
        let state = State::Dispatched { sequence, scale: 1.0 };
        self.entries.insert(
            ticket,
            tag(index, false, false),
            Entry { partition: key, cost, guessed: 0.0, priority: 0, state, enqueued_at: now_ms, deadline: None },
        );
        ticket
    }

    /// Remove a call let go by this scheduler that another refused (a
    /// coordinator, or its deadline while it waited for a grant): as
    /// [`Scheduler::cancel`], counted as refused.
    pub fn refuse(&mut self, ticket: Ticket) -> bool {
        if !self.cancel(ticket) {
            return false;
        }
        self.counters.cancelled -= 1;
        self.counters.refused += 1;
        true
    }
}
