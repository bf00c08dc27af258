//! The calls waiting or in flight, by ticket.
//!
//! Tickets are handed out in increasing order, so the calls sit in a deque
//! indexed by `ticket - base`: finding one is a subtraction and one read,
//! whichever call it is and however many there are. Beside each call is a
//! tag of four bytes that the scheduler sets (which partition, whether it
//! waits, whether it has a deadline), in a deque of its own: an operation
//! that needs only the tag, such as cancelling a waiting call, reads a
//! small, dense array (400 KB for 100,000 calls) rather than the calls.
//! Such a call is then forgotten: its tag is cleared at once, and the call
//! itself is dropped when the front of the deque passes it.
//!
//! Slots of calls that ended stay until every older call has ended too,
//! when the front is trimmed. So that one long call cannot keep alive a
//! slot for every ticket issued after it, the deque is kept at most twice
//! as long as the calls it holds (plus a little): past that, the calls at
//! its front move to a map of old calls, found by a hash of the ticket.

use super::scheduler::Ticket;
use crate::ids::IdMap;
use std::collections::VecDeque;

/// Slots allowed beyond two per call before old calls move out (few in
/// tests, so that calls do move out).
const SLACK: usize = if cfg!(test) { 2 } else { 64 };

/// A tag is never this: it marks an ended (or never used) slot.
const GONE: u32 = 0;

#[derive(Debug)]
pub(crate) struct Calls<E> {
    /// The ticket of `slots[0]` and `tags[0]`.
    base: Ticket,
    /// The calls from `base` on. A slot whose tag is `GONE` holds nothing
    /// alive: a forgotten call waits there to be dropped.
    slots: VecDeque<Option<E>>,
    /// The tag of each slot; the first, if any, is not `GONE`.
    tags: VecDeque<u32>,
    /// Tags that are not `GONE`.
    live: usize,
    /// Calls older than `base`, moved out of the deque, with their tags.
    old: IdMap<Ticket, (u32, E)>,
}

impl<E> Calls<E> {
    pub(crate) fn new() -> Calls<E> {
        Calls { base: 0, slots: VecDeque::new(), tags: VecDeque::new(), live: 0, old: IdMap::default() }
    }

    /// Calls held.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.live + self.old.len()
    }

    /// Where a ticket of the deque is, if it is in the deque.
    fn index(&self, ticket: Ticket) -> Option<usize> {
        let index = usize::try_from(ticket.checked_sub(self.base)?).ok()?;
        (index < self.tags.len()).then_some(index)
    }

    /// The tag of a call held (never `GONE`).
    pub(crate) fn tag(&self, ticket: Ticket) -> Option<u32> {
        if ticket < self.base {
            return self.old.get(&ticket).map(|(tag, _)| *tag);
        }
        Some(self.tags[self.index(ticket)?]).filter(|tag| *tag != GONE)
    }

    /// Change the tag of a call held; `tag` must not be `GONE`.
    pub(crate) fn set_tag(&mut self, ticket: Ticket, tag: u32) {
        debug_assert_ne!(tag, GONE);
        if ticket < self.base {
            if let Some((old, _)) = self.old.get_mut(&ticket) {
                *old = tag;
            }
        } else if let Some(index) = self.index(ticket) {
            if self.tags[index] != GONE {
                self.tags[index] = tag;
            }
        }
    }

    pub(crate) fn get(&self, ticket: Ticket) -> Option<&E> {
        if ticket < self.base {
            return self.old.get(&ticket).map(|(_, call)| call);
        }
        let index = self.index(ticket)?;
        if self.tags[index] == GONE {
            return None;
        }
        self.slots[index].as_ref()
    }

    pub(crate) fn get_mut(&mut self, ticket: Ticket) -> Option<&mut E> {
        if ticket < self.base {
            return self.old.get_mut(&ticket).map(|(_, call)| call);
        }
        let index = self.index(ticket)?;
        if self.tags[index] == GONE {
            return None;
        }
        self.slots[index].as_mut()
    }

    /// Add the call of a new ticket, later than every ticket held before,
    /// with its tag (not `GONE`).
    pub(crate) fn insert(&mut self, ticket: Ticket, tag: u32, call: E) {
        debug_assert_ne!(tag, GONE);
        if self.tags.is_empty() {
            self.base = ticket;
        }
        debug_assert!(ticket >= self.base + self.tags.len() as u64, "tickets are new and increasing");
        while self.base + (self.tags.len() as u64) < ticket {
            self.slots.push_back(None);
            self.tags.push_back(GONE);
        }
        self.slots.push_back(Some(call));
        self.tags.push_back(tag);
        self.live += 1;
        self.compact();
    }

    pub(crate) fn remove(&mut self, ticket: Ticket) -> Option<E> {
        if ticket < self.base {
            return self.old.remove(&ticket).map(|(_, call)| call);
        }
        let index = self.index(ticket)?;
        if self.tags[index] == GONE {
            return None;
        }
        let call = self.slots[index].take();
        self.tags[index] = GONE;
        self.live -= 1;
        self.compact();
        call
    }

    /// Remove a call without reading it: it is dropped later, when the
    /// front of the deque passes it. True if it was held.
    pub(crate) fn forget(&mut self, ticket: Ticket) -> bool {
        if ticket < self.base {
            return self.old.remove(&ticket).is_some();
        }
        let Some(index) = self.index(ticket) else { return false };
        if self.tags[index] == GONE {
            return false;
        }
        self.tags[index] = GONE;
        self.live -= 1;
        self.compact();
        true
    }

    /// Keep the deque dense: move the oldest calls out of a long, sparse
    /// one, then drop the ended slots at its front. Each call moves at most
    /// once, and each slot is dropped once.
    fn compact(&mut self) {
        while self.tags.len() > 2 * self.live + SLACK {
            let tag = self.tags.pop_front().unwrap_or(GONE);
            let call = self.slots.pop_front().flatten();
            if let (true, Some(call)) = (tag != GONE, call) {
                self.live -= 1;
                self.old.insert(self.base, (tag, call));
            }
            self.base += 1;
        }
        while self.tags.front() == Some(&GONE) {
            self.tags.pop_front();
            self.slots.pop_front();
            self.base += 1;
        }
    }

    /// Every call with its ticket and tag, oldest first.
    #[cfg(test)]
    pub(crate) fn iter(&self) -> impl Iterator<Item = (Ticket, u32, &E)> {
        let deque = self.tags.iter().zip(&self.slots).enumerate();
        let deque = deque.filter(|(_, (tag, _))| **tag != GONE).filter_map(|(i, (tag, call))| Some((self.base + i as u64, *tag, call.as_ref()?)));
        let mut old: Vec<_> = self.old.iter().map(|(t, (tag, call))| (*t, *tag, call)).collect();
        old.sort_by_key(|(t, _, _)| *t);
        old.into_iter().chain(deque)
    }

    /// The deque's own bookkeeping holds (for the property tests).
    #[cfg(test)]
    pub(crate) fn check(&self) -> Result<(), String> {
        if self.tags.len() != self.slots.len() {
            return Err(format!("{} tags for {} slots", self.tags.len(), self.slots.len()));
        }
        let live = self.tags.iter().filter(|tag| **tag != GONE).count();
        if live != self.live {
            return Err(format!("{} calls counted in the deque but {live} held", self.live));
        }
        if self.tags.iter().zip(&self.slots).any(|(tag, call)| *tag != GONE && call.is_none()) {
            return Err("a tag names an empty slot".into());
        }
        if self.tags.front() == Some(&GONE) {
            return Err("the deque starts with an ended slot".into());
        }
        if self.tags.len() > 2 * self.live + SLACK {
            return Err(format!("the deque spans {} slots for {} calls", self.tags.len(), self.live));
        }
        if self.old.keys().any(|t| *t >= self.base) {
            return Err("an old call is not older than the deque".into());
        }
        if self.old.values().any(|(tag, _)| *tag == GONE) {
            return Err("an old call has no tag".into());
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
        calls.insert(0, 1, "long");
        for t in 1..10_000 {
            calls.insert(t, 2, "short");
            if t % 2 == 0 {
                assert_eq!(calls.remove(t), Some("short"));
            } else {
                assert!(calls.forget(t));
                assert!(!calls.forget(t));
            }
            assert_eq!(calls.get(t), None);
            calls.check().unwrap();
        }
        assert!(calls.tags.len() <= 2 * calls.live + SLACK);
        assert_eq!(calls.get(0), Some(&"long"));
        assert_eq!(calls.tag(0), Some(1));
        calls.set_tag(0, 3);
        assert_eq!(calls.tag(0), Some(3));
        assert_eq!(calls.len(), 1);
        assert_eq!(calls.remove(0), Some("long"));
        assert_eq!(calls.len(), 0);
        calls.insert(10_000, 4, "next");
        assert_eq!(calls.get(10_000), Some(&"next"));
        assert_eq!(calls.get(9_999), None);
        assert_eq!(calls.tag(9_999), None);
        assert_eq!(calls.iter().map(|(t, tag, _)| (t, tag)).collect::<Vec<_>>(), [(10_000, 4)]);
        calls.check().unwrap();
    }
}
