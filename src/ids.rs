//! Maps keyed by the numbers the crate counts up (calls, tickets, requests)
//! and by prefix hashes (at most [`crate::engine::MAX_PREFIXES`] of them):
//! hashed by one multiplication instead of SipHash, which guards against
//! keys chosen by an attacker; counted ids are chosen by nobody, and the
//! prefix map is too small for collisions to cost much.

use std::collections::{HashMap, HashSet};
use std::hash::{BuildHasherDefault, Hasher};

/// A map keyed by an id the crate counts up.
pub type IdMap<K, V> = HashMap<K, V, BuildHasherDefault<IdHasher>>;

/// A set of ids the crate counts up.
pub type IdSet<K> = HashSet<K, BuildHasherDefault<IdHasher>>;

/// Bits of a hash that are the key's own: hashbrown picks a key's bucket
/// from the low bits, so ids in a row sit in buckets in a row, and a
/// burst of calls (woken, answered, looked up in the order they came)
/// walks the table's memory in order instead of at random.
const OWN_BITS: u64 = (1 << 25) - 1;

/// Ids in a row take buckets in a row (the low 25 bits are the id's own,
/// see [`OWN_BITS`]); the bits above are Fibonacci hashing of the id,
/// which gives hashbrown's control bytes (the top 7 bits of 64, or of 32
/// on wasm32) their spread.
#[derive(Clone, Copy, Default)]
pub struct IdHasher(u64);

impl Hasher for IdHasher {
    fn finish(&self) -> u64 {
        (self.0.wrapping_mul(0x9E37_79B9_7F4A_7C15) & !OWN_BITS) | (self.0 & OWN_BITS)
    }

    fn write(&mut self, bytes: &[u8]) {
        for byte in bytes {
            self.write_u64(u64::from(*byte));
        }
    }

    fn write_u32(&mut self, n: u32) {
        self.write_u64(u64::from(n));
    }

    fn write_usize(&mut self, n: usize) {
        self.write_u64(n as u64);
    }

    fn write_u64(&mut self, n: u64) {
        self.0 = self.0.rotate_left(5) ^ n;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_in_a_row_keep_distinct_buckets_and_mixed_control_bits() {
        let hash = |n: u64| {
            let mut h = IdHasher::default();
            h.write_u64(n);
            h.finish()
        };
        let low: HashSet<u64> = (0..4096).map(|n| hash(n) & 4095).collect();
        assert_eq!(low.len(), 4096, "a bijection mod 2^12 for 4096 ids in a row");
        assert!((1..4096).all(|n| hash(n) & 4095 == (hash(n - 1) + 1) & 4095), "ids in a row take buckets in a row");
        // hashbrown's control bits: the top 7 of 64 (64-bit targets), or of
        // the low 32 (wasm32).
        let top: HashSet<u64> = (0..4096).map(|n| hash(n) >> 57).collect();
        assert!(top.len() > 100, "control bits vary: {}", top.len());
        let top32: HashSet<u64> = (0..4096).map(|n| (hash(n) >> 25) & 127).collect();
        assert!(top32.len() > 100, "control bits vary on wasm32: {}", top32.len());
        let mut map: IdMap<u64, u64> = IdMap::default();
        map.extend((0..10_000).map(|n| (n, n * 2)));
        assert!((0..10_000).all(|n| map[&n] == n * 2));
    }
}
