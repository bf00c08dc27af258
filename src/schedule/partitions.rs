//! The partitions, by key and by index.
//!
//! A partition is found by its key once, when a call is queued; after that
//! the scheduler reaches it by its index (which every call's tag holds), a
//! read of a vector. Keys of customers often share a long prefix, so that
//! each comparison in a search of the keys reads it again: with thousands
//! of partitions, a dozen such searches per call were most of its cost.
//! Keys are found through a hash map ([`KeyMap`], SipHash: a key may be
//! chosen by whoever sends the calls), which hashes the key once instead of
//! comparing it a dozen times, and weighs a fraction of an ordered map in
//! the `.wasm`.
//! Whatever lists the partitions (a snapshot, what is saved, a sweep of idle
//! ones) still lists them in the order of their keys: it sorts them.

use super::partition::Partition;
use crate::ids::KeyMap;
use std::cell::Cell;
use std::sync::Arc;

#[derive(Debug, Default)]
pub(super) struct Partitions {
    by_key: KeyMap<u32>,
    /// By [`Partition::index`]; `None` where an evicted one was.
    slots: Vec<Option<Partition>>,
    /// The key of each index (of an evicted partition, until its index is
    /// given to a new one).
    keys: Vec<Arc<str>>,
    /// Indices of evicted partitions, the next new one's first.
    free: Vec<u32>,
    /// The index found last: a burst on one key compares the key once
    /// instead of hashing it.
    last: Cell<u32>,
}

impl Partitions {
    pub(super) fn len(&self) -> usize {
        self.by_key.len()
    }

    /// The index of the partition of `key`.
    pub(super) fn index(&self, key: &str) -> Option<u32> {
        let last = self.last.get();
        if self.at(last).is_some() && *self.keys[last as usize] == *key {
            return Some(last);
        }
        let index = *self.by_key.get(key)?;
        self.last.set(index);
        Some(index)
    }

    pub(super) fn get(&self, key: &str) -> Option<&Partition> {
        self.at(self.index(key)?)
    }

    pub(super) fn get_mut(&mut self, key: &str) -> Option<&mut Partition> {
        let index = self.index(key)?;
        self.at_mut(index)
    }

    /// The partition of this index.
    pub(super) fn at(&self, index: u32) -> Option<&Partition> {
        self.slots.get(index as usize)?.as_ref()
    }

    pub(super) fn at_mut(&mut self, index: u32) -> Option<&mut Partition> {
        self.slots.get_mut(index as usize)?.as_mut()
    }

    /// The key of the partition of this index.
    pub(super) fn key_at(&self, index: u32) -> &Arc<str> {
        &self.keys[index as usize]
    }

    /// Add the partition `make` makes for a new `key` with the index it is
    /// given (an evicted partition's, if any); returns the index.
    pub(super) fn add(&mut self, key: &str, make: impl FnOnce(&Arc<str>, u32) -> Partition) -> u32 {
        let key: Arc<str> = Arc::from(key);
        let index = match self.free.pop() {
            Some(index) => {
                self.keys[index as usize] = key.clone();
                index
            }
            None => {
                // Tags hold the index in 29 bits: far more partitions than memory does.
                let index = u32::try_from(self.keys.len()).ok().filter(|i| *i < 1 << 29).expect("fewer than 2^29 partitions");
                self.keys.push(key.clone());
                self.slots.push(None);
                index
            }
        };
        debug_assert!(self.slots[index as usize].is_none(), "a partition's index is its own");
        self.slots[index as usize] = Some(make(&key, index));
        self.by_key.insert(key, index);
        index
    }

    /// Take out the partition of `key`; its index goes to the next new one.
    pub(super) fn remove(&mut self, key: &str) -> Option<Partition> {
        let index = self.by_key.remove(key)?;
        self.free.push(index);
        self.slots.get_mut(index as usize)?.take()
    }

    /// Every partition with its key, in the order of the keys (sorted here:
    /// O(P log P), for listings and sweeps, which come once per P calls).
    pub(super) fn iter(&self) -> impl Iterator<Item = (&Arc<str>, &Partition)> {
        let mut live: Vec<(&Arc<str>, &Partition)> =
            self.keys.iter().zip(&self.slots).filter_map(|(key, slot)| Some((key, slot.as_ref()?))).collect();
        heapsort(&mut live, |a, b| a.0 < b.0);
        live.into_iter()
    }

    /// Slots holding a partition (for the invariants: as many as keys).
    #[cfg(test)]
    pub(super) fn slots_held(&self) -> usize {
        self.slots.iter().filter(|slot| slot.is_some()).count()
    }

    #[cfg(test)]
    pub(super) fn values(&self) -> impl Iterator<Item = &Partition> {
        self.iter().map(|(_, p)| p)
    }
}

/// Sort `items` by `less`, in place and in O(n log n) (not stable). The
/// standard library's sort weighed about 10 KB (5 KB gzipped) in the
/// `.wasm` at opt-level 2; a listing, once per many calls, needs none of
/// its speed.
fn heapsort<T>(items: &mut [T], less: impl Fn(&T, &T) -> bool) {
    // Move `items[node]` down the max-heap held in `items[..end]`.
    let sift = |items: &mut [T], mut node: usize, end: usize| loop {
        let mut child = 2 * node + 1;
        if child >= end {
            break;
        }
        if child + 1 < end && less(&items[child], &items[child + 1]) {
            child += 1;
        }
        if !less(&items[node], &items[child]) {
            break;
        }
        items.swap(node, child);
        node = child;
    };
    for node in (0..items.len() / 2).rev() {
        sift(items, node, items.len());
    }
    for end in (1..items.len()).rev() {
        items.swap(0, end);
        sift(items, 0, end);
    }
}

#[cfg(test)]
mod tests {
    use super::super::jitter::Jitter;
    use super::heapsort;

    #[test]
    fn heapsort_orders_as_the_standard_sort_does() {
        let mut random = Jitter::new(7);
        for len in (0..40).chain([100, 257, 1000]) {
            for spread in [2, 10, u64::MAX] {
                let items: Vec<u64> = (0..len).map(|_| random.next_u64() % spread).collect();
                let (mut ours, mut theirs) = (items.clone(), items);
                heapsort(&mut ours, |a, b| a < b);
                theirs.sort_unstable();
                assert_eq!(ours, theirs, "{len} items below {spread}");
            }
        }
    }
}
