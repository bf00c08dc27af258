//! The calls waiting or in flight, by ticket.
//!
//! Tickets are handed out in increasing order, so the calls sit in a deque
//! indexed by `ticket - base`: finding one is a subtraction and one read,
//! whichever call it is and however many there are. Slots of calls that
//! ended stay empty until every older call has ended too, when the front
//! is trimmed. So that one long call cannot keep alive a slot for every
//! ticket issued after it, the deque is kept at most twice as long as the
//! calls it holds (plus a little): past that, the calls at its front move
//! to an ordered map of old calls, found in a logarithmic number of steps.

use super::scheduler::Ticket;
use std::collections::{BTreeMap, VecDeque};

/// Empty slots allowed beyond one per call before old calls move out (few
/// in tests, so that calls do move out).
const SLACK: usize = if cfg!(test) { 2 } else { 64 };

#[derive(Debug)]
pub(crate) struct Calls<E> {
    /// The ticket of `slots[0]`.
    base: Ticket,
    /// The calls from `base` on; the first slot, if any, holds a call.
    slots: VecDeque<Option<E>>,
    /// Calls in `slots`.
    live: usize,
    /// Calls older than `base`, moved out of the deque.
    old: BTreeMap<Ticket, E>,
}

impl<E> Calls<E> {
    pub(crate) fn new() -> Calls<E> {
        Calls { base: 0, slots: VecDeque::new(), live: 0, old: BTreeMap::new() }
    }

    /// Calls held.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.live + self.old.len()
    }

    pub(crate) fn get(&self, ticket: Ticket) -> Option<&E> {
        if ticket < self.base {
            return self.old.get(&ticket);
        }
        self.slots.get(usize::try_from(ticket - self.base).ok()?)?.as_ref()
    }

    pub(crate) fn get_mut(&mut self, ticket: Ticket) -> Option<&mut E> {
        if ticket < self.base {
            return self.old.get_mut(&ticket);
        }
        self.slots.get_mut(usize::try_from(ticket - self.base).ok()?)?.as_mut()
    }

    /// Add the call of a new ticket, later than every ticket held before.
    pub(crate) fn insert(&mut self, ticket: Ticket, call: E) {
        if self.slots.is_empty() {
            self.base = ticket;
        }
        debug_assert!(ticket >= self.base + self.slots.len() as u64, "tickets are new and increasing");
        while self.base + (self.slots.len() as u64) < ticket {
            self.slots.push_back(None);
        }
        self.slots.push_back(Some(call));
        self.live += 1;
        self.compact();
    }

    pub(crate) fn remove(&mut self, ticket: Ticket) -> Option<E> {
        if ticket < self.base {
            return self.old.remove(&ticket);
        }
        let call = self.slots.get_mut(usize::try_from(ticket - self.base).ok()?)?.take()?;
        self.live -= 1;
        self.compact();
        Some(call)
    }

    /// Keep the deque dense: move the oldest calls out of a long, sparse
    /// one, then drop the empty slots at its front. Each call moves at most
    /// once, and each slot is dropped once.
    fn compact(&mut self) {
        while self.slots.len() > 2 * self.live + SLACK {
            if let Some(call) = self.slots.pop_front().flatten() {
                self.live -= 1;
                self.old.insert(self.base, call);
            }
            self.base += 1;
        }
        while let Some(None) = self.slots.front() {
            self.slots.pop_front();
            self.base += 1;
        }
    }

    /// Every call with its ticket, oldest first.
    #[cfg(test)]
    pub(crate) fn iter(&self) -> impl Iterator<Item = (Ticket, &E)> {
        let slots = self.slots.iter().enumerate().filter_map(|(i, call)| Some((self.base + i as u64, call.as_ref()?)));
        self.old.iter().map(|(t, call)| (*t, call)).chain(slots)
    }

    /// The deque's own bookkeeping holds (for the property tests).
    #[cfg(test)]
    pub(crate) fn check(&self) -> Result<(), String> {
        let live = self.slots.iter().filter(|s| s.is_some()).count();
        if live != self.live {
            return Err(format!("{} calls counted in the deque but {live} held", self.live));
        }
        if matches!(self.slots.front(), Some(None)) {
            return Err("the deque starts with an empty slot".into());
        }
        if self.slots.len() > 2 * self.live + SLACK {
            return Err(format!("the deque spans {} slots for {} calls", self.slots.len(), self.live));
        }
        if self.old.keys().next_back().is_some_and(|t| *t >= self.base) {
            return Err("an old call is not older than the deque".into());
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_long_call_does_not_keep_every_later_slot() {
        let mut calls = Calls::new();
        calls.insert(0, "long");
        for t in 1..10_000 {
            calls.insert(t, "short");
            assert_eq!(calls.remove(t), Some("short"));
            calls.check().unwrap();
        }
        assert!(calls.slots.len() <= 2 * calls.live + SLACK);
        assert_eq!(calls.get(0), Some(&"long"));
        assert_eq!(calls.len(), 1);
        assert_eq!(calls.remove(0), Some("long"));
        assert_eq!(calls.len(), 0);
        calls.insert(10_000, "next");
        assert_eq!(calls.get(10_000), Some(&"next"));
        assert_eq!(calls.get(9_999), None);
        assert_eq!(calls.iter().map(|(t, _)| t).collect::<Vec<_>>(), [10_000]);
        calls.check().unwrap();
    }
}
