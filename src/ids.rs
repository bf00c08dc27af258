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

/// Ids in a row that share a block of buckets: 2^3, a group of
/// hashbrown's control bytes (or two on wasm32). See [`IdHasher`].
const RUN_BITS: u32 = 3;

const FIBONACCI: u64 = 0x9E37_79B9_7F4A_7C15;

/// Ids in a row go in runs of eight to buckets in a row: the low
/// [`RUN_BITS`] of the hash are the id's own, and the bits above are
/// Fibonacci hashing of the rest, so the runs themselves are scattered
/// (as are hashbrown's control bytes, the top 7 bits of 64, or of 32 on
/// wasm32). A burst of calls looked up in the order they came reads each
/// group of control bytes once for eight calls, instead of once for each;
/// scattering the runs keeps a block of long-waiting calls from becoming
/// one long run of full buckets that later ids would probe through.
#[derive(Clone, Copy, Default)]
pub struct IdHasher(u64);

impl Hasher for IdHasher {
    fn finish(&self) -> u64 {
        ((self.0 >> RUN_BITS).wrapping_mul(FIBONACCI) << RUN_BITS) | (self.0 & ((1 << RUN_BITS) - 1))
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

    /// A key of one number is that number; of several, each is mixed in.
    fn write_u64(&mut self, n: u64) {
        self.0 = self.0.wrapping_mul(FIBONACCI) ^ n;
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
        assert!((1..4096).filter(|n| n % 8 != 0).all(|n| hash(n) == hash(n - 1) + 1), "ids in a run of eight take buckets in a row");
        // Runs are scattered: the runs of 512 ids in a row start in 512
        // distinct places of a table of 4096, none next to the one before.
        let starts: Vec<u64> = (0..512).map(|run| hash(run * 8) & 4095).collect();
        assert_eq!(starts.iter().collect::<HashSet<_>>().len(), 512);
        assert!(starts.windows(2).all(|w| w[0].abs_diff(w[1]) > 8), "runs of ids in a row are not next to each other");
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
