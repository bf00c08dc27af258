//! Maps keyed by the numbers the crate counts up (calls, tickets, requests,
//! prefix hashes), and by partition keys.
//!
//! Every map is a `Slab` of its entries and one `Index` of their
//! positions: open addressing with linear probing, deletion by backward
//! shift. Each slot holds 32 bits of its entry's hash beside the position,
//! so that probing, growing and deleting never read an entry; only a
//! match is confirmed against the key. The index is not generic, so its
//! code is in the `.wasm` once whatever the maps hold. (The standard
//! library's map compiles its table code anew for every type of entry:
//! sixteen copies of its rehash alone weighed 14 KB.)
//!
//! Counted ids are hashed by one multiplication instead of SipHash, which
//! guards against keys chosen by an attacker: counted ids are chosen by
//! nobody, and the prefix map is too small for collisions to cost much.
//! Partition keys may be chosen by whoever sends the calls: [`KeyMap`]
//! hashes them with the standard library's SipHash (`RandomState`).

use std::collections::VecDeque;
use std::hash::{BuildHasher, RandomState};
use std::sync::Arc;

const FIBONACCI: u64 = 0x9E37_79B9_7F4A_7C15;

/// Ids in a row that share a run of slots: 2^3. See [`hash_id`].
const RUN_BITS: u32 = 3;
const RUN: u32 = (1 << RUN_BITS) - 1;

/// A slot of the index that holds no entry.
const EMPTY: u64 = u64::MAX;

/// The fewest slots of an index that holds anything.
const MIN_SLOTS: usize = 8;

/// The most slots: a hash's top 29 bits name a run of slots.
const MAX_SLOTS: usize = 1 << (32 - RUN_BITS);

/// What a slot keeps of a hash: its top 29 bits, which name a run of
/// slots, and its low [`RUN_BITS`], a slot in the run (see [`hash_id`]).
fn fragment(hash: u64) -> u32 {
    ((hash >> 32) as u32 & !RUN) | (hash as u32 & RUN)
}

/// Positions of a map's entries by hash: a power of two of slots, at most
/// half of them full. A slot holds an entry's hash [`fragment`] in its
/// high half and the entry's position in its low half.
#[derive(Clone, Debug, Default)]
struct Index {
    slots: Vec<u64>,
    /// 32 less log2 of the slots.
    shift: u32,
}

impl Index {
    fn home(&self, fragment: u32) -> usize {
        ((fragment >> self.shift) as usize + (fragment & RUN) as usize) & (self.slots.len() - 1)
    }

    fn next(&self, slot: usize) -> usize {
        (slot + 1) & (self.slots.len() - 1)
    }

    /// The slot holding the entry that `is` names among those whose hash
    /// has this fragment. (Generic, unlike the rest: a search is most of a
    /// map's work, and inlined in each map it is as fast as the standard
    /// map's.)
    #[inline]
    fn find(&self, fragment: u32, is: impl Fn(usize) -> bool) -> Option<usize> {
        if self.slots.is_empty() {
            return None;
        }
        let mut slot = self.home(fragment);
        loop {
            match self.slots[slot] {
                EMPTY => return None,
                held if (held >> 32) as u32 == fragment && is(held as u32 as usize) => return Some(slot),
                _ => slot = self.next(slot),
            }
        }
    }

    fn position(&self, slot: usize) -> usize {
        self.slots[slot] as u32 as usize
    }

    /// Index the new entry at `pos`, one of `count` entries.
    fn add(&mut self, fragment: u32, pos: usize, count: usize) {
        if 2 * count > self.slots.len() {
            let slots = (2 * self.slots.len()).max(MIN_SLOTS);
            assert!(slots <= MAX_SLOTS, "a map of at most 2^28 entries");
            for held in self.empty(slots).into_iter().filter(|held| *held != EMPTY) {
                self.place(held);
            }
        }
        // Positions fit in 32 bits: the assertion above bounds them (a
        // slab's positions are fewer than its most entries at once).
        self.place(u64::from(fragment) << 32 | pos as u64);
    }

    /// Make the index `slots` empty slots (a power of two); returns the
    /// slots it had.
    fn empty(&mut self, slots: usize) -> Vec<u64> {
        self.shift = 32 - slots.trailing_zeros();
        std::mem::replace(&mut self.slots, vec![EMPTY; slots])
    }

    fn place(&mut self, held: u64) {
        let mut slot = self.home((held >> 32) as u32);
        while self.slots[slot] != EMPTY {
            slot = self.next(slot);
        }
        self.slots[slot] = held;
    }

    /// Empty `slot`, moving back the entries after it that may move (so
    /// that no search stops early at the hole).
    fn clear(&mut self, slot: usize) {
        let mask = self.slots.len() - 1;
        let mut hole = slot;
        let mut at = self.next(slot);
        while self.slots[at] != EMPTY {
            let home = self.home((self.slots[at] >> 32) as u32);
            // It may fill the hole when its home is not after the hole.
            if at.wrapping_sub(home) & mask >= at.wrapping_sub(hole) & mask {
                self.slots[hole] = self.slots[at];
                hole = at;
            }
            at = self.next(at);
        }
        self.slots[hole] = EMPTY;
    }

    /// Empty `slot`; returns the position its entry had.
    fn remove(&mut self, slot: usize) -> usize {
        let pos = self.position(slot);
        self.clear(slot);
        pos
    }

    /// Index afresh the `count` entries at these positions, with these
    /// fragments, in as few slots as they may take.
    fn rebuild(&mut self, held: impl Iterator<Item = (u32, usize)>, count: usize) {
        self.empty((2 * count).next_power_of_two().max(MIN_SLOTS));
        for (fragment, pos) in held {
            self.place(u64::from(fragment) << 32 | pos as u64);
        }
    }
}

/// Entries at stable positions: a removed entry leaves a hole, filled by
/// the next entry added. Holes are filled in the order they were made, so
/// that calls added in a row after calls removed in a row sit in a row.
#[derive(Clone, Debug)]
struct Slab<T> {
    items: Vec<Option<T>>,
    holes: VecDeque<u32>,
    len: usize,
}

impl<T> Default for Slab<T> {
    fn default() -> Self {
        Slab { items: Vec::new(), holes: VecDeque::new(), len: 0 }
    }
}

impl<T> Slab<T> {
    fn get(&self, pos: usize) -> Option<&T> {
        self.items.get(pos)?.as_ref()
    }

    fn get_mut(&mut self, pos: usize) -> Option<&mut T> {
        self.items.get_mut(pos)?.as_mut()
    }

    fn add(&mut self, item: T) -> usize {
        self.len += 1;
        match self.holes.pop_front() {
            Some(pos) => {
                self.items[pos as usize] = Some(item);
                pos as usize
            }
            None => {
                self.items.push(Some(item));
                self.items.len() - 1
            }
        }
    }

    fn take(&mut self, pos: usize) -> Option<T> {
        let item = self.items.get_mut(pos)?.take()?;
        self.len -= 1;
        // Positions fit in 32 bits: see [`Index::add`].
        self.holes.push_back(pos as u32);
        Some(item)
    }

    /// The entries with their positions.
    fn iter(&self) -> impl Iterator<Item = (usize, &T)> {
        self.items.iter().enumerate().filter_map(|(pos, item)| Some((pos, item.as_ref()?)))
    }
}

/// A number the crate counts up, as a map's key.
pub trait Id: Copy + Eq {
    fn id(self) -> u64;
}

impl Id for u64 {
    fn id(self) -> u64 {
        self
    }
}

impl Id for u32 {
    fn id(self) -> u64 {
        u64::from(self)
    }
}

/// Ids in a row go in runs of eight to slots in a row: the low
/// [`RUN_BITS`] of the fragment are the id's own, and the top bits are
/// Fibonacci hashing of the rest, so the runs themselves are scattered. A
/// burst of calls looked up in the order they came reads one line of the
/// index for eight calls, instead of one each; scattering the runs keeps a
/// block of long-waiting calls from becoming one long run of full slots
/// that later ids would probe through.
fn hash_id(id: u64) -> u32 {
    ((id >> RUN_BITS).wrapping_mul(FIBONACCI) >> 32) as u32 & !RUN | (id as u32 & RUN)
}

/// A map keyed by an id the crate counts up. Iteration order is the
/// order of the entries' positions (see `Slab`).
#[derive(Clone, Debug)]
pub struct IdMap<K, V> {
    entries: Slab<(K, V)>,
    index: Index,
}

impl<K, V> Default for IdMap<K, V> {
    fn default() -> Self {
        IdMap { entries: Slab::default(), index: Index::default() }
    }
}

impl<K: Id, V> IdMap<K, V> {
    pub fn len(&self) -> usize {
        self.entries.len
    }

    pub fn is_empty(&self) -> bool {
        self.entries.len == 0
    }

    fn slot(&self, key: K) -> Option<usize> {
        self.index.find(hash_id(key.id()), |pos| self.entries.get(pos).is_some_and(|(k, _)| *k == key))
    }

    fn position(&self, key: K) -> Option<usize> {
        Some(self.index.position(self.slot(key)?))
    }

    pub fn get(&self, key: &K) -> Option<&V> {
        Some(&self.entries.get(self.position(*key)?)?.1)
    }

    pub fn get_mut(&mut self, key: &K) -> Option<&mut V> {
        let pos = self.position(*key)?;
        Some(&mut self.entries.get_mut(pos)?.1)
    }

    pub fn contains_key(&self, key: &K) -> bool {
        self.slot(*key).is_some()
    }

    /// Insert or replace; returns the value replaced.
    pub fn insert(&mut self, key: K, value: V) -> Option<V> {
        match self.get_mut(&key) {
            Some(held) => Some(std::mem::replace(held, value)),
            None => {
                self.add(key, value);
                None
            }
        }
    }

    fn add(&mut self, key: K, value: V) -> usize {
        let pos = self.entries.add((key, value));
        self.index.add(hash_id(key.id()), pos, self.entries.len);
        pos
    }

    /// The value of `key`, inserting `value` first when there is none.
    pub fn get_or_insert(&mut self, key: K, value: V) -> &mut V {
        let pos = match self.position(key) {
            Some(pos) => pos,
            None => self.add(key, value),
        };
        &mut self.entries.items[pos].as_mut().expect("an entry where the index says").1
    }

    pub fn remove(&mut self, key: &K) -> Option<V> {
        let slot = self.slot(*key)?;
        let pos = self.index.remove(slot);
        Some(self.entries.take(pos)?.1)
    }

    /// Keep only the entries `keep` accepts (O(n), indexed afresh).
    pub fn retain(&mut self, mut keep: impl FnMut(&K, &mut V) -> bool) {
        let before = self.entries.len;
        for pos in 0..self.entries.items.len() {
            if self.entries.get_mut(pos).is_some_and(|(key, value)| !keep(key, value)) {
                self.entries.take(pos);
            }
        }
        if self.entries.len != before {
            let held = self.entries.iter().map(|(pos, (key, _))| (hash_id(key.id()), pos));
            self.index.rebuild(held, self.entries.len);
        }
    }

    pub fn iter(&self) -> impl Iterator<Item = (&K, &V)> {
        self.entries.iter().map(|(_, (key, value))| (key, value))
    }

    pub fn keys(&self) -> impl Iterator<Item = &K> {
        self.iter().map(|(key, _)| key)
    }

    pub fn values(&self) -> impl Iterator<Item = &V> {
        self.iter().map(|(_, value)| value)
    }
}

/// A set of ids the crate counts up.
#[derive(Clone, Debug)]
pub struct IdSet<K>(IdMap<K, ()>);

impl<K> Default for IdSet<K> {
    fn default() -> Self {
        IdSet(IdMap::default())
    }
}

impl<K: Id> IdSet<K> {
    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn contains(&self, key: &K) -> bool {
        self.0.contains_key(key)
    }

    /// True when it was not there before.
    pub fn insert(&mut self, key: K) -> bool {
        self.0.insert(key, ()).is_none()
    }

    /// True when it was there.
    pub fn remove(&mut self, key: &K) -> bool {
        self.0.remove(key).is_some()
    }
}

/// A map keyed by strings that whoever sends the calls may choose
/// (partition keys), hashed with the standard library's SipHash.
#[derive(Debug)]
pub struct KeyMap<V, S = RandomState> {
    entries: Slab<(Arc<str>, V)>,
    index: Index,
    hasher: S,
}

impl<V, S: Default> Default for KeyMap<V, S> {
    fn default() -> Self {
        KeyMap { entries: Slab::default(), index: Index::default(), hasher: S::default() }
    }
}

impl<V, S: BuildHasher> KeyMap<V, S> {
    pub fn len(&self) -> usize {
        self.entries.len
    }

    pub fn is_empty(&self) -> bool {
        self.entries.len == 0
    }

    fn hash(&self, key: &str) -> u32 {
        fragment(self.hasher.hash_one(key))
    }

    fn slot(&self, key: &str) -> Option<usize> {
        self.slot_of(key, self.hash(key))
    }

    fn slot_of(&self, key: &str, hash: u32) -> Option<usize> {
        self.index.find(hash, |pos| self.entries.get(pos).is_some_and(|(k, _)| **k == *key))
    }

    pub fn get(&self, key: &str) -> Option<&V> {
        Some(&self.entries.get(self.index.position(self.slot(key)?))?.1)
    }

    /// Insert or replace; returns the value replaced.
    pub fn insert(&mut self, key: Arc<str>, value: V) -> Option<V> {
        let hash = self.hash(&key);
        if let Some(slot) = self.slot_of(&key, hash) {
            let held = self.entries.get_mut(self.index.position(slot))?;
            return Some(std::mem::replace(&mut held.1, value));
        }
        let pos = self.entries.add((key, value));
        self.index.add(hash, pos, self.entries.len);
        None
    }

    pub fn remove(&mut self, key: &str) -> Option<V> {
        let slot = self.slot(key)?;
        let pos = self.index.remove(slot);
        Some(self.entries.take(pos)?.1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;
    use std::hash::BuildHasherDefault;

    /// A small generator of pseudo-random numbers (xorshift), for a fixed seed.
    struct Rng(u64);

    impl Rng {
        fn below(&mut self, n: u64) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0 % n
        }
    }

    #[test]
    fn an_id_map_does_what_the_standard_map_does_on_a_random_sequence() {
        for (seed, span) in [(1, 40), (2, 600), (3, 5_000), (4, u64::MAX)] {
            let mut rng = Rng(0x2545_F491_4F6C_DD1D ^ seed);
            let mut map: IdMap<u64, u64> = IdMap::default();
            let mut model: HashMap<u64, u64> = HashMap::new();
            for step in 0..40_000u64 {
                let key = rng.below(span);
                match rng.below(10) {
                    0..=3 => assert_eq!(map.insert(key, step), model.insert(key, step)),
                    4..=6 => assert_eq!(map.remove(&key), model.remove(&key)),
                    7 => {
                        *map.get_or_insert(key, step) += 1;
                        *model.entry(key).or_insert(step) += 1;
                    }
                    8 => assert_eq!(map.get(&key), model.get(&key)),
                    _ => assert_eq!(map.contains_key(&key), model.contains_key(&key)),
                }
                if step % 1_000 == 999 {
                    map.retain(|k, v| (k ^ *v) % 3 != 0);
                    model.retain(|k, v| (k ^ *v) % 3 != 0);
                }
                assert_eq!(map.len(), model.len());
            }
            for (key, value) in &model {
                assert_eq!(map.get(key), Some(value), "seed {seed}: key {key}");
            }
            let mut listed: Vec<(u64, u64)> = map.iter().map(|(k, v)| (*k, *v)).collect();
            let mut expected: Vec<(u64, u64)> = model.into_iter().collect();
            listed.sort_unstable();
            expected.sort_unstable();
            assert_eq!(listed, expected, "seed {seed}");
        }
    }

    #[test]
    fn ids_in_a_row_spread_over_the_index() {
        let mut map: IdMap<u64, ()> = IdMap::default();
        for id in 0..4_096 {
            map.insert(id, ());
        }
        // 8,192 slots for 4,096 ids in a row: most sit in their home slot.
        let displaced = (0..4_096u64).filter(|id| map.index.home(hash_id(*id)) != map.slot(*id).unwrap()).count();
        assert!(displaced < 400, "{displaced} of 4,096 ids in a row are not in their home slot");
        // Ids in a run of eight take slots in a row; the runs themselves
        // start in 512 distinct places, none next to the one before.
        assert!((1..4_096u64).filter(|id| id % 8 != 0).all(|id| map.index.home(hash_id(id)) == (map.index.home(hash_id(id - 1)) + 1) % 8_192));
        let starts: Vec<usize> = (0..512u64).map(|run| map.index.home(hash_id(run * 8))).collect();
        assert_eq!(starts.iter().collect::<std::collections::HashSet<_>>().len(), 512);
        assert!(starts.windows(2).all(|w| w[0].abs_diff(w[1]) > 8), "runs of ids in a row are not next to each other");
    }

    /// Every key hashes alike: each search walks the whole run.
    #[derive(Clone, Copy, Default)]
    struct Same;

    impl std::hash::Hasher for Same {
        fn finish(&self) -> u64 {
            7 << 60
        }

        fn write(&mut self, _: &[u8]) {}
    }

    #[test]
    fn a_key_map_compares_keys_of_equal_hash_and_survives_removals_in_a_run() {
        let mut map: KeyMap<usize, BuildHasherDefault<Same>> = KeyMap::default();
        let keys: Vec<Arc<str>> = (0..50).map(|n| Arc::from(format!("customer-{n}"))).collect();
        for (n, key) in keys.iter().enumerate() {
            assert_eq!(map.insert(key.clone(), n), None);
        }
        assert_eq!(map.insert(keys[3].clone(), 300), Some(3));
        for n in (0..50).step_by(3) {
            assert_eq!(map.remove(&keys[n]), Some(if n == 3 { 300 } else { n }));
            assert_eq!(map.remove(&keys[n]), None);
        }
        for (n, key) in keys.iter().enumerate() {
            assert_eq!(map.get(key), (n % 3 != 0).then_some(&n), "{key}");
        }
        assert_eq!(map.len(), 33);
        assert_eq!(map.get("customer-"), None);

        let mut random: KeyMap<usize> = KeyMap::default();
        for (n, key) in keys.iter().enumerate() {
            random.insert(key.clone(), n);
        }
        assert!(keys.iter().enumerate().all(|(n, key)| random.get(key) == Some(&n)));
    }

    #[test]
    fn ids_added_after_ids_removed_in_a_row_take_their_places_in_a_row() {
        let mut map: IdMap<u64, u64> = IdMap::default();
        for id in 0..16 {
            map.insert(id, id);
        }
        for id in 0..8 {
            map.remove(&id);
        }
        for id in 16..24 {
            map.insert(id, id);
        }
        let order: Vec<u64> = map.keys().copied().collect();
        assert_eq!(order, (16..24).chain(8..16).collect::<Vec<_>>());
        assert!((8..24).all(|id| map.get(&id) == Some(&id)));
    }

    #[test]
    fn churn_reuses_the_room_of_removed_entries() {
        let mut map: IdMap<u64, u64> = IdMap::default();
        let mut keys: KeyMap<u64> = KeyMap::default();
        for id in 0..200_000u64 {
            map.insert(id, id);
            keys.insert(Arc::from(format!("key-{id}")), id);
            if id >= 64 {
                assert_eq!(map.remove(&(id - 64)), Some(id - 64));
                assert_eq!(keys.remove(&format!("key-{}", id - 64)), Some(id - 64));
            }
        }
        assert_eq!((map.len(), keys.len()), (64, 64));
        // At most 65 entries at once: room for 65, and the index's next
        // power of two above twice that.
        assert_eq!((map.entries.items.len(), map.index.slots.len()), (65, 256));
        assert_eq!((keys.entries.items.len(), keys.index.slots.len()), (65, 256));
        assert!((200_000 - 64..200_000).all(|id| map.get(&id) == Some(&id) && keys.get(&format!("key-{id}")) == Some(&id)));
        // Keeping 3 of the 64 indexes them afresh in as few slots as they take.
        map.retain(|id, _| id % 21 == 0);
        assert_eq!((map.len(), map.index.slots.len()), (3, 8));
        assert!((200_000 - 64..200_000).all(|id| map.get(&id).is_some() == (id % 21 == 0)));
    }

    #[test]
    fn an_id_set_says_what_changed() {
        let mut set: IdSet<u64> = IdSet::default();
        assert!(set.insert(5) && !set.insert(5));
        assert!(set.contains(&5) && !set.contains(&6));
        assert!(set.remove(&5) && !set.remove(&5));
        assert!(set.is_empty());
    }
}
