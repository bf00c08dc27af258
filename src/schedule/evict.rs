//! Partitions that go away: a partition with nothing waiting or in flight,
//! not paused, whose buckets are full again, holds nothing a call needs,
//! and is evicted when partitions pile up (a proxy that partitions by
//! customer meets each key once in a while). What it learnt of its limits
//! is kept, bounded, so a returning key does not probe again.
//!
//! The sweep runs when a new partition would make the count reach
//! `sweep_at` (twice the partitions left by the last sweep, at least
//! [`MIN_SWEEP`]): each new partition pays a constant share of it.

use super::partition::Partition;
use super::Scheduler;
use crate::budget::{Bucket, Budget};
use crate::ids::KeyMap;
use std::collections::VecDeque;
use std::sync::Arc;

/// No sweep while fewer partitions than this exist.
pub const MIN_SWEEP: usize = 1_024;

/// The most evicted partitions whose learning is kept (the oldest go first).
pub const MAX_LEARNED: usize = 4_096;

/// What evicted partitions had learnt, by key.
#[derive(Debug, Default)]
pub(super) struct Learned {
    by_key: KeyMap<(u64, Kept)>,
    /// Keys in the order they were kept, with the generation they were kept
    /// at (a key taken back and kept again is found by its newer one).
    order: VecDeque<(u64, Arc<str>)>,
    generation: u64,
}

#[derive(Debug)]
struct Kept {
    buckets: Vec<(String, Bucket)>,
    answered: bool,
    window: f64,
    input_scale: f64,
}

impl Learned {
    /// Keep what `p` learnt of its limits, if anything: its buckets, its
    /// calibration, a concurrency window an overload narrowed. (An answer
    /// that showed no limits is not kept: a returning key probes once.)
    fn keep(&mut self, key: Arc<str>, p: Partition, max_window: f64) {
        let buckets: Vec<(String, Bucket)> = p.budget.buckets().map(|(name, b)| (name.clone(), b.clone())).collect();
        if buckets.is_empty() && p.input_scale == 1.0 && p.window >= max_window {
            return;
        }
        self.generation += 1;
        self.order.push_back((self.generation, key.clone()));
        self.by_key.insert(key, (self.generation, Kept { buckets, answered: p.answered, window: p.window, input_scale: p.input_scale }));
        while self.by_key.len() > MAX_LEARNED {
            let Some((generation, key)) = self.order.pop_front() else { break };
            if self.by_key.get(&key).is_some_and(|(g, _)| *g == generation) {
                self.by_key.remove(&key);
            }
        }
        // Keys taken back leave stale items behind: drop them when they pile up.
        if self.order.len() > 2 * MAX_LEARNED {
            let by_key = &self.by_key;
            self.order.retain(|(g, key)| by_key.get(key).is_some_and(|(kept, _)| kept == g));
        }
    }

    /// A new partition of `key` takes back what an evicted one learnt.
    pub(super) fn take_back(&mut self, key: &str, p: &mut Partition) {
        let Some((_, kept)) = self.by_key.remove(key) else { return };
        if !kept.buckets.is_empty() {
            p.budget = Budget::from_buckets(kept.buckets);
        }
        p.answered = kept.answered;
        p.window = kept.window;
        p.input_scale = kept.input_scale;
    }

    /// Keys whose learning is kept.
    pub(super) fn len(&self) -> usize {
        self.by_key.len()
    }
}

impl Scheduler {
    /// Evict every partition that is idle at `now_ms` (nothing waiting or
    /// in flight, not paused, its buckets full), keeping what it learnt.
    /// Returns how many went.
    pub fn evict_idle(&mut self, now_ms: f64) -> usize {
        let idle: Vec<Arc<str>> = self
            .partitions
            .iter()
            .filter(|(_, p)| p.waiting == 0 && p.in_flight == 0 && p.paused_until <= now_ms && p.budget.idle_and_full(now_ms))
            .map(|(key, _)| key.clone())
            .collect();
        let max_window = f64::from(self.config.max_concurrent.max(1));
        for key in &idle {
            let p = self.partitions.remove(key).expect("listed above");
            self.learned.keep(key.clone(), p, max_window);
        }
        self.sweep_at = (2 * self.partitions.len()).max(MIN_SWEEP);
        idle.len()
    }

    /// Partitions kept (live, or idle and not yet evicted).
    pub fn partitions(&self) -> usize {
        self.partitions.len()
    }

    /// Evicted partitions whose learning is kept.
    pub fn learned(&self) -> usize {
        self.learned.len()
    }
}
