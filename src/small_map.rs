//! A map kept as a vector sorted by key, for maps of a few entries (a
//! partition's dimensions, the partitions paused now): it iterates in key
//! order, as a `BTreeMap` does, at a fraction of the code a `BTreeMap`
//! brings into the `.wasm` for each pair of types it is used with.
//! Inserting or removing moves the entries after it, so it is not for maps
//! that grow with the number of calls.

use std::borrow::Borrow;

#[derive(Clone, Debug, PartialEq)]
pub struct SmallMap<K, V> {
    entries: Vec<(K, V)>,
}

impl<K, V> Default for SmallMap<K, V> {
    fn default() -> Self {
        SmallMap { entries: Vec::new() }
    }
}

impl<K: Ord, V> SmallMap<K, V> {
    pub fn new() -> Self {
        Self::default()
    }

    fn find<Q: Ord + ?Sized>(&self, key: &Q) -> Result<usize, usize>
    where
        K: Borrow<Q>,
    {
        self.entries.binary_search_by(|(k, _)| k.borrow().cmp(key))
    }

    pub fn get<Q: Ord + ?Sized>(&self, key: &Q) -> Option<&V>
    where
        K: Borrow<Q>,
    {
        self.find(key).ok().map(|i| &self.entries[i].1)
    }

    /// Set `key` to `value`; returns the value it replaced.
    pub fn insert(&mut self, key: K, value: V) -> Option<V> {
        match self.find(&key) {
            Ok(i) => Some(std::mem::replace(&mut self.entries[i].1, value)),
            Err(i) => {
                self.entries.insert(i, (key, value));
                None
            }
        }
    }

    pub fn remove<Q: Ord + ?Sized>(&mut self, key: &Q) -> Option<V>
    where
        K: Borrow<Q>,
    {
        self.find(key).ok().map(|i| self.entries.remove(i).1)
    }

    /// Keep only the entries `keep` returns true for, in key order.
    pub fn retain(&mut self, mut keep: impl FnMut(&K, &mut V) -> bool) {
        self.entries.retain_mut(|(k, v)| keep(k, v));
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// The entries in key order.
    pub fn iter(&self) -> impl Iterator<Item = (&K, &V)> {
        self.entries.iter().map(|(k, v)| (k, v))
    }

    /// The entries in key order, values mutable.
    pub fn iter_mut(&mut self) -> impl Iterator<Item = (&K, &mut V)> {
        self.entries.iter_mut().map(|(k, v)| (&*k, v))
    }

    pub fn values(&self) -> impl Iterator<Item = &V> {
        self.entries.iter().map(|(_, v)| v)
    }
}

impl<K: Ord, V> FromIterator<(K, V)> for SmallMap<K, V> {
    /// As `BTreeMap`'s: of equal keys, the last wins.
    fn from_iter<I: IntoIterator<Item = (K, V)>>(items: I) -> Self {
        let mut map = SmallMap::new();
        for (k, v) in items {
            map.insert(k, v);
        }
        map
    }
}

#[cfg(test)]
mod tests {
    use super::SmallMap;
    use std::collections::BTreeMap;

    /// Every operation against a `BTreeMap` on the same random sequence.
    #[test]
    fn behaves_as_an_ordered_map() {
        let mut seed = 0x2545_f491_4f6c_dd1du64;
        let mut next = move |n: u64| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed % n
        };
        let mut small = SmallMap::new();
        let mut model = BTreeMap::new();
        for step in 0..20_000u64 {
            let key = format!("k{}", next(40));
            match next(4) {
                0 | 1 => assert_eq!(small.insert(key.clone(), step), model.insert(key.clone(), step)),
                2 => assert_eq!(small.remove(key.as_str()), model.remove(key.as_str())),
                _ => {
                    let cut = next(40);
                    small.retain(|_, v| *v % 40 != cut);
                    model.retain(|_, v| *v % 40 != cut);
                }
            }
            assert_eq!(small.get(key.as_str()), model.get(key.as_str()));
            assert_eq!(small.len(), model.len());
            assert!(small.iter().eq(model.iter()), "after step {step}");
        }
        let rebuilt: SmallMap<_, _> = [("b", 1), ("a", 2), ("b", 3)].into_iter().collect();
        assert_eq!(rebuilt.iter().collect::<Vec<_>>(), [(&"a", &2), (&"b", &3)]);
    }
}
