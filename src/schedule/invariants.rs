//! The scheduler's internal counts, checked against the calls they count
//! (for the tests).

use super::partition::{rank, tag, Entry, State};
use super::Scheduler;

impl Scheduler {
    /// Every internal count agrees with the entries it counts, and no
    /// reservation is negative or NaN (for the property tests).
    pub(crate) fn check_invariants(&self) -> Result<(), String> {
        self.entries.check()?;
        for (ticket, found, e) in self.entries.iter() {
            let index = self.partitions.get(&e.partition).map(|p| p.index);
            let waiting = matches!(e.state, State::Waiting);
            if index.map(|i| tag(i, waiting, waiting && e.deadline.is_some())) != Some(found)
                || index.map(|i| self.partitions.key_at(i)) != Some(&e.partition)
            {
                return Err(format!("call {ticket} has tag {found:#x} but waits {waiting} in {}", e.partition));
            }
        }
        let waiting = self.entries.iter().map(|(_, _, e)| e).filter(|e| matches!(e.state, State::Waiting)).count();
        let dispatched = self.entries.len() - waiting;
        let queued: usize = self.partitions.values().map(|p| p.waiting).sum();
        let in_flight: u32 = self.partitions.values().map(|p| p.in_flight).sum();
        if (self.queued, queued) != (waiting, waiting) {
            return Err(format!("queued {} and partitions {queued} but {waiting} entries wait", self.queued));
        }
        let mut with_waiters: Vec<_> =
            self.partitions.iter().filter(|(_, p)| p.waiting > 0).map(|(_, p)| super::scheduler::waiting_item(p.index)).collect();
        with_waiters.sort_unstable();
        if !with_waiters.iter().eq(self.waiting_partitions.iter()) {
            return Err(format!("partitions with waiters {with_waiters:?} but the index names {:?}", self.waiting_partitions));
        }
        if self.partitions.values().any(|p| self.partitions.get(self.partitions.key_at(p.index)).is_none_or(|q| q.index != p.index)) {
            return Err("a partition's index names another key".into());
        }
        if self.partitions.slots_held() != self.partitions.len() {
            return Err(format!("{} partitions by key but {} slots held", self.partitions.len(), self.partitions.slots_held()));
        }
        if (self.in_flight, in_flight as usize) != (dispatched as u32, dispatched) {
            return Err(format!("in flight {} and partitions {in_flight} but {dispatched} entries dispatched", self.in_flight));
        }
        // Each item of a queue names a call waiting in that partition at that
        // priority, or a cancelled call (no entry), counted as stale; each
        // waiting call is in its queue (the items are distinct, so counting
        // them suffices).
        for (key, p) in self.partitions.iter() {
            let mut live = 0;
            for &(level, t) in &p.queue {
                match self.entries.get(t) {
                    None => {}
                    Some(Entry { partition, priority: q, state: State::Waiting, .. }) if partition == key && rank(*q) == level => live += 1,
                    Some(_) => return Err(format!("queue {key} holds {t}, which does not wait there")),
                }
            }
            let waiting = self.entries.iter().filter(|(_, _, e)| matches!(e.state, State::Waiting) && e.partition == *key).count();
            if (p.waiting, live, p.queue.len() - live) != (waiting, waiting, p.stale) {
                return Err(format!(
                    "partition {key} counts {} waiting and {} stale; its queue holds {live} of {} live, and {waiting} entries wait",
                    p.waiting,
                    p.stale,
                    p.queue.len()
                ));
            }
        }
        // The same for the deadlines.
        let mut live = 0;
        for &(bits, t) in &self.deadlines {
            match self.entries.get(t) {
                None => {}
                Some(Entry { state: State::Waiting, deadline: Some(at), .. }) if at.to_bits() == bits => live += 1,
                Some(_) => return Err("a deadline outlived its waiting call".into()),
            }
        }
        let with_deadline = self.entries.iter().filter(|(_, _, e)| matches!(e.state, State::Waiting) && e.deadline.is_some()).count();
        if (live, self.deadlines.len() - live) != (with_deadline, self.stale_deadlines) {
            return Err(format!(
                "{live} live deadlines and {} stale of {}, but {with_deadline} waiting calls have one",
                self.stale_deadlines,
                self.deadlines.len()
            ));
        }
        for (key, p) in self.partitions.iter() {
            let r = p.budget.reserved();
            if [r.requests, r.input_tokens, r.output_tokens, r.tokens].iter().any(|x| x.is_nan() || *x < 0.0) {
                return Err(format!("partition {key} reserves {r:?}"));
            }
            if p.paused_until.is_nan() || p.window.is_nan() || p.window < 1.0 {
                return Err(format!("partition {key} paused until {} with window {}", p.paused_until, p.window));
            }
        }
        Ok(())
    }
}
