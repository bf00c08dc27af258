//! The scheduler: its partitions, their queues and the calls in flight;
//! queueing, dispatch, cancelling (see the module docs of
//! [`crate::schedule`]). The rules for answers are in `answers.rs`,
//! backfill and the next wake-up in `backfill.rs`, the plain-data views and
//! saving in `views.rs`.

use super::calls::Calls;
use super::jitter::Jitter;
use super::partition::{
    head_admission, pause_too_long, rank, tag, tagged_partition, Entry, HeadAdmission, Partition, State, STALE_SLACK, TAG_DEADLINE, TAG_WAITING,
};
use super::partitions::Partitions;
use super::{Config, Counters, Poll, Refusal};
use crate::budget::{Admission, Budget, Cost};
use std::collections::BTreeSet;

/// Identifies one call for its whole life in the scheduler.
pub type Ticket = u64;

/// A partition's item in [`Scheduler::waiting_partitions`]: its index, and
/// a ticket that is always 0. Of the type of the queues' items, so that one
/// copy of the B-tree's code in the `.wasm` serves every ordered set.
pub(super) fn waiting_item(index: u32) -> (u64, Ticket) {
    (u64::from(index), 0)
}

/// Decides, for every waiting call, when it may be sent.
#[derive(Debug)]
pub struct Scheduler {
    pub(super) config: Config,
    pub(super) partitions: Partitions,
    /// The partitions with calls waiting (see [`waiting_item`]), in the
    /// order of their indices: only they have anything to dispatch or a
    /// time to wake at.
    pub(super) waiting_partitions: BTreeSet<(u64, Ticket)>,
    /// What evicted partitions had learnt (see [`super::evict`]).
    pub(super) learned: super::evict::Learned,
    /// Sweep idle partitions when this many exist.
    pub(super) sweep_at: usize,
    /// Every call waiting or in flight, found by its ticket in one step.
    pub(super) entries: Calls<Entry>,
    pub(super) next_ticket: Ticket,
    pub(super) next_sequence: u64,
    pub(super) in_flight: u32,
    pub(super) queued: usize,
    /// Waiting calls with a deadline, earliest first (deadlines are positive,
    /// finite times, whose bit patterns order as the numbers do). Cancelled
    /// calls are left in place and skipped, as in a partition's queue.
    pub(super) deadlines: BTreeSet<(u64, Ticket)>,
    /// Items of `deadlines` whose calls were cancelled.
    pub(super) stale_deadlines: usize,
    pub(super) counters: Counters,
    pub(super) jitter: Jitter,
}

impl Scheduler {
    pub fn new(config: Config) -> Scheduler {
        Scheduler {
            jitter: Jitter::new(config.seed),
            config,
            partitions: Partitions::default(),
            waiting_partitions: BTreeSet::new(),
            learned: super::evict::Learned::default(),
            sweep_at: super::evict::MIN_SWEEP,
            entries: Calls::new(),
            next_ticket: 0,
            next_sequence: 0,
            in_flight: 0,
            queued: 0,
            deadlines: BTreeSet::new(),
            stale_deadlines: 0,
            counters: Counters::default(),
        }
    }

    /// Seed the jitter generator afresh, so that throttlers sharing an API
    /// do not back off in step. The JS layer calls it at a throttler's first
    /// call: Workers refuse random numbers at module scope, where a
    /// throttler is typically made.
    pub fn reseed(&mut self, seed: u64) {
        self.jitter = Jitter::new(seed);
    }

    pub fn config(&self) -> &Config {
        &self.config
    }

    pub(super) fn partition_mut(&mut self, key: &str, now_ms: f64) -> &mut Partition {
        let index = match self.partitions.index(key) {
            Some(index) => index,
            None => self.new_partition(key, now_ms),
        };
        self.partitions.at_mut(index).expect("made above")
    }

    /// Make the partition of `key` (taking back what it learnt if it was
    /// evicted); returns its index.
    fn new_partition(&mut self, key: &str, now_ms: f64) -> u32 {
        if self.partitions.len() >= self.sweep_at {
            self.evict_idle(now_ms);
        }
        let budget = match &self.config.limits {
            Some(limits) => Budget::with_limits(limits, now_ms),
            None => Budget::default(),
        };
        let window = f64::from(self.config.max_concurrent.max(1));
        let learned = &mut self.learned;
        self.partitions.add(key, |key, index| {
            let mut partition = Partition::new(index, budget, window);
            learned.take_back(key, &mut partition);
            partition
        })
    }

    /// Queue a call. Refused at once if its cost can never fit, or if
    /// `max_queue` calls already wait.
    pub fn enqueue(&mut self, partition: &str, cost: Cost, priority: i32, now_ms: f64) -> Result<Ticket, Refusal> {
        self.enqueue_until(partition, cost, 0.0, priority, None, now_ms)
    }

    /// [`Scheduler::enqueue`] with a deadline: a call still waiting at
    /// `deadline_ms` is refused with [`Refusal::QueueTimeout`] by the next
    /// [`Scheduler::poll`] at or after it. `guessed` of its input tokens
    /// are a guess: they never make it refused as too large (see
    /// [`crate::budget::Budget::admission`]).
    pub fn enqueue_until(
        &mut self,
        partition: &str,
        cost: Cost,
        guessed: f64,
        priority: i32,
        deadline_ms: Option<f64>,
        now_ms: f64,
    ) -> Result<Ticket, Refusal> {
        let ticket = self.next_ticket;
        // Made (or taken back from what an evicted one learnt) first, so
        // that its calibration applies to this call too.
        let p = self.partition_mut(partition, now_ms);
        let index = p.index;
        // Kept as estimated: checked here, and read later, at the
        // partition's scale of that moment.
        let (cost, guessed) = super::calibrate::queued(cost, guessed);
        let guessed = guessed as f32;
        let full = self.queued >= self.config.max_queue;
        // A full queue refuses only a call that would have to wait in it.
        if full && self.config.max_queue > 0 {
            self.counters.refused += 1;
            return Err(Refusal::QueueFull { max_queue: self.config.max_queue });
        }
        let p = self.partitions.at(index).expect("made above");
        let (calibrated, calibrated_guessed) = super::calibrate::scaled(cost, f64::from(guessed), p.input_scale);
        if let Admission::Never { dimension, cost, limit } = p.budget.admission(&calibrated, calibrated_guessed, now_ms) {
            self.counters.refused += 1;
            return Err(Refusal::CostExceedsLimit { dimension, cost, limit });
        }
        let deadline = deadline_ms.filter(|d| d.is_finite()).map(|d| d.max(0.0));
        if let Some(retry_after_ms) = pause_too_long(p, deadline, &self.config, now_ms) {
            self.counters.refused += 1;
            return Err(Refusal::RateLimited { retry_after_ms });
        }
        let key = self.partitions.key_at(index).clone();
        let entry = Entry { partition: key, cost, guessed, priority, state: State::Waiting, enqueued_at: now_ms, deadline };
        // `maxQueue: 0`: a call goes at once or not at all.
        if full && !self.goes_at_once(&entry, index, now_ms) {
            self.counters.refused += 1;
            return Err(Refusal::QueueFull { max_queue: self.config.max_queue });
        }
        let p = self.partitions.at_mut(index).expect("made above");
        p.queue.insert((rank(priority), ticket));
        p.waiting += 1;
        if p.waiting == 1 {
            self.waiting_partitions.insert(waiting_item(index));
        }
        if let Some(at) = deadline {
            self.deadlines.insert((at.to_bits(), ticket));
        }
        self.entries.insert(ticket, tag(index, true, deadline.is_some()), entry);
        self.queued += 1;
        self.next_ticket += 1;
        Ok(ticket)
    }

    /// Whether a call would be dispatched by a poll at `now_ms`, were it
    /// queued: nothing waits ahead of it in its partition, a slot is free,
    /// and its cost fits now.
    pub(super) fn goes_at_once(&self, entry: &Entry, index: u32, now_ms: f64) -> bool {
        let Some(p) = self.partitions.at(index) else { return false };
        self.in_flight < self.config.max_concurrent && p.waiting == 0 && matches!(head_admission(p, entry, &self.config, now_ms), HeadAdmission::Go)
    }

    /// A call's cost and the input tokens of it that are a guess:
    /// calibrated at its partition's scale while it waits, as dispatched
    /// after (see [`Entry::at_scale`]). `None` for a call not known.
    fn calibrated(&self, ticket: Ticket) -> Option<(Cost, f64)> {
        let tag = self.entries.tag(ticket)?;
        let scale = self.partitions.at(tagged_partition(tag)).map_or(1.0, |p| p.input_scale);
        Some(self.entries.get(ticket)?.at_scale(scale))
    }

    /// A call's cost, calibrated, if the call is known.
    pub fn cost(&self, ticket: Ticket) -> Option<Cost> {
        self.calibrated(ticket).map(|(cost, _)| cost)
    }

    /// Charge a waiting call anew: `cost` (with `guessed` input tokens a
    /// guess), kept as estimated and calibrated when read. False for a
    /// call not waiting.
    pub fn reprice(&mut self, ticket: Ticket, cost: Cost, guessed: f64) -> bool {
        if self.entries.tag(ticket).is_none_or(|tag| tag & TAG_WAITING == 0) {
            return false;
        }
        let Some(entry) = self.entries.get_mut(ticket) else { return false };
        let (cost, guessed) = super::calibrate::queued(cost, guessed);
        entry.cost = cost;
        entry.guessed = guessed as f32;
        true
    }

    /// The input tokens of a call's cost that are a guess, calibrated (0
    /// for a call not known).
    pub fn guessed(&self, ticket: Ticket) -> f64 {
        self.calibrated(ticket).map_or(0.0, |(_, guessed)| guessed)
    }

    /// Take a waiting call out of its queue (it was dispatched, refused or
    /// cancelled).
    fn unqueue(&mut self, ticket: Ticket) -> Option<Entry> {
        self.leave_queue(ticket)?;
        self.entries.remove(ticket)
    }

    /// Take a waiting call out of its queue and its deadline, keeping its
    /// entry. False, changing nothing, for a call not waiting.
    fn leave_queue(&mut self, ticket: Ticket) -> Option<()> {
        let index = tagged_partition(self.entries.tag(ticket)?);
        let entry = self.entries.get(ticket)?;
        if !matches!(entry.state, State::Waiting) {
            return None;
        }
        debug_assert_eq!(*self.partitions.key_at(index), entry.partition, "a call's tag names its partition");
        let p = self.partitions.at_mut(index)?;
        p.queue.remove(&(rank(entry.priority), ticket));
        p.waiting -= 1;
        if p.waiting == 0 {
            self.waiting_partitions.remove(&waiting_item(index));
        }
        if let Some(at) = entry.deadline {
            self.deadlines.remove(&(at.to_bits(), ticket));
        }
        self.queued -= 1;
        Some(())
    }

    /// Dispatch every call that may go at `now_ms`, refuse those that never can.
    pub fn poll(&mut self, now_ms: f64) -> Poll {
        let mut poll = Poll::default();
        while let Some(&(bits, ticket)) = self.deadlines.first() {
            if f64::from_bits(bits) > now_ms {
                break;
            }
            if let Some(entry) = self.unqueue(ticket) {
                self.counters.refused += 1;
                poll.refused.push((ticket, Refusal::QueueTimeout { waited_ms: now_ms - entry.enqueued_at }));
            } else {
                // Its call was cancelled.
                self.deadlines.pop_first();
                self.stale_deadlines -= 1;
            }
        }
        // Every slot is taken: nothing goes, whoever waits.
        if self.in_flight >= self.config.max_concurrent {
            return poll;
        }
        // Only partitions with waiters have anything to dispatch; they are
        // copied because dispatching borrows the scheduler.
        let waiting: Vec<u32> = self.waiting_partitions.iter().map(|&(index, _)| index as u32).collect();
        for index in waiting {
            loop {
                if self.in_flight >= self.config.max_concurrent {
                    return poll;
                }
                let Some(ticket) = self.head(index) else { break };
                let p = self.partitions.at(index).expect("a partition with waiters");
                let entry = self.entries.get(ticket).expect("queues name waiting calls");
                match head_admission(p, entry, &self.config, now_ms) {
                    HeadAdmission::Go => self.dispatch(index, ticket, now_ms, &mut poll),
                    HeadAdmission::Never(refusal) => {
                        self.unqueue(ticket);
                        self.counters.refused += 1;
                        poll.refused.push((ticket, refusal));
                    }
                    HeadAdmission::Budget(head_at) => match self.backfill(index, ticket, head_at, now_ms) {
                        Some((passer, at)) if at <= now_ms => {
                            self.counters.backfilled += 1;
                            self.dispatch(index, passer, now_ms, &mut poll);
                        }
                        _ => break,
                    },
                    HeadAdmission::At(_) | HeadAdmission::OnEvent => break,
                }
            }
        }
        poll
    }

    /// The first waiting call of a partition, dropping the stale items
    /// before it.
    fn head(&mut self, index: u32) -> Option<Ticket> {
        let p = self.partitions.at_mut(index)?;
        while let Some(&(_, ticket)) = p.queue.first() {
            if self.entries.get(ticket).is_some() {
                return Some(ticket);
            }
            p.queue.pop_first();
            p.stale -= 1;
        }
        None
    }

    /// Move a waiting call to in flight and reserve its cost.
    pub(super) fn dispatch(&mut self, index: u32, ticket: Ticket, now_ms: f64, poll: &mut Poll) {
        if self.leave_queue(ticket).is_none() {
            return;
        }
        let Some(p) = self.partitions.at_mut(index) else { return };
        self.entries.set_tag(ticket, tag(p.index, false, false));
        let Some(entry) = self.entries.get_mut(ticket) else { return };
        let sequence = self.next_sequence;
        self.next_sequence += 1;
        // The calibration of this moment is the call's from now on.
        entry.state = State::Dispatched { sequence, scale: p.input_scale as f32 };
        p.budget.reserve(sequence, entry.at_scale(p.input_scale).0, now_ms);
        if self.config.hold_until_answered {
            p.budget.hold(sequence);
        }
        // A probe's calls, and the calls that go at once when the probe is
        // over (or first, with limits known, or once a coordinator's
        // client falls back to its own budget), are sent on new connections,
        // often as their process is busiest: the server may count one long
        // after calls sent later. Only its own report covers it.
        let probing = p.probing(&self.config);
        if !probing && self.config.local_budget && p.first_wave_ms.is_nan() {
            p.first_wave_ms = now_ms;
        }
        if probing || p.first_wave_ms == now_ms {
            p.budget.keep(sequence);
        }
        p.in_flight += 1;
        self.in_flight += 1;
        self.counters.dispatched += 1;
        self.counters.total_wait_ms += (now_ms - entry.enqueued_at).max(0.0);
        poll.granted.push(ticket);
    }

    /// Remove a call: from the queue if waiting, or give back its reservation
    /// if it was dispatched but never sent. Returns false for unknown tickets.
    pub fn cancel(&mut self, ticket: Ticket) -> bool {
        let Some(tag) = self.entries.tag(ticket) else { return false };
        if tag & TAG_WAITING != 0 {
            self.forget_waiting(ticket, tag);
        } else {
            let Some(Entry { state: State::Dispatched { sequence, .. }, .. }) = self.entries.remove(ticket) else {
                return false;
            };
            let p = self.partitions.at_mut(tagged_partition(tag)).expect("tags name existing partitions");
            p.budget.release(sequence);
            p.in_flight -= 1;
            self.in_flight -= 1;
            // It was never sent: `dispatched` counts calls that went out
            // (one restored in flight from a saved state was not counted).
            self.counters.dispatched = self.counters.dispatched.saturating_sub(1);
        }
        self.counters.cancelled += 1;
        true
    }

    /// Drop a waiting call, leaving its items in its queue and the
    /// deadlines to be skipped (see [`Partition::stale`]).
    /// Only the call's tag is read: the call itself is dropped later.
    fn forget_waiting(&mut self, ticket: Ticket, tag: u32) {
        if !self.entries.forget(ticket) {
            return;
        }
        self.queued -= 1;
        let index = tagged_partition(tag);
        let p = self.partitions.at_mut(index).expect("tags name existing partitions");
        p.waiting -= 1;
        if p.waiting == 0 {
            p.queue.clear();
            p.stale = 0;
            self.waiting_partitions.remove(&waiting_item(index));
        } else {
            p.stale += 1;
            if p.stale > p.waiting + STALE_SLACK {
                let entries = &self.entries;
                p.queue.retain(|&(_, t)| entries.get(t).is_some());
                p.stale = 0;
            }
        }
        if tag & TAG_DEADLINE != 0 {
            self.stale_deadlines += 1;
            if self.stale_deadlines > self.deadlines.len() - self.stale_deadlines + STALE_SLACK {
                let entries = &self.entries;
                self.deadlines.retain(|&(_, t)| entries.get(t).is_some());
                self.stale_deadlines = 0;
            }
        }
    }

    /// True while the call waits in a queue.
    pub fn is_waiting(&self, ticket: Ticket) -> bool {
        self.entries.tag(ticket).is_some_and(|tag| tag & TAG_WAITING != 0)
    }

    /// Calls waiting, in all partitions.
    pub fn queued(&self) -> usize {
        self.queued
    }

    /// Calls in flight, in all partitions.
    pub fn in_flight(&self) -> u32 {
        self.in_flight
    }
}
