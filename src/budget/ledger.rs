//! A partition's buckets and the reservations of calls in flight.

use super::bucket::{Bucket, BucketView};
use super::cost::{Cost, Limits};
use crate::headers::Observation;
use std::collections::BTreeMap;

/// Whether a cost fits now, later, or never.
#[derive(Clone, Debug, PartialEq)]
pub enum Admission {
    /// Every known dimension has room now.
    Now,
    /// Refill makes room at this time (epoch ms), if nothing else changes.
    At(f64),
    /// Refill alone cannot make room: reservations of calls in flight must
    /// come back first (a response, or their release).
    AfterInFlight,
    /// More than the dimension's limit: it can never be admitted.
    Never { dimension: String, cost: f64, limit: f64 },
}

/// The buckets of one partition and its uncounted reservations.
#[derive(Clone, Debug, Default)]
pub struct Budget {
    buckets: BTreeMap<String, Bucket>,
    /// Reservations by dispatch sequence that no observation has covered yet.
    uncounted: BTreeMap<u64, Cost>,
    /// Their sum, kept so admission is O(dimensions), not O(calls in flight).
    reserved: Cost,
    /// The dispatch sequence of the newest call whose response was applied.
    newest_applied: Option<u64>,
}

impl Budget {
    /// A budget that knows `limits` before any response, each full at `now_ms`.
    pub fn with_limits(limits: &Limits, now_ms: f64) -> Budget {
        let mut budget = Budget::default();
        for (name, per_minute) in limits.per_minute() {
            budget.buckets.insert(name.to_string(), Bucket::full_continuous(per_minute, 60_000.0, now_ms));
        }
        budget
    }

    /// True when any dimension is known (from limits or a response).
    pub fn knows_limits(&self) -> bool {
        !self.buckets.is_empty()
    }

    /// The bucket of a dimension, if known.
    pub fn bucket(&self, name: &str) -> Option<&Bucket> {
        self.buckets.get(name)
    }

    /// Whether `cost` fits at `now_ms`, and if not, when it could.
    pub fn admission(&self, cost: &Cost, now_ms: f64) -> Admission {
        let mut at = now_ms;
        let mut after_in_flight = false;
        for (name, bucket) in &self.buckets {
            let need = cost.for_dimension(name);
            if need <= 0.0 {
                continue;
            }
            if need > bucket.limit {
                return Admission::Never { dimension: name.clone(), cost: need, limit: bucket.limit };
            }
            let reserved = self.reserved.for_dimension(name);
            match bucket.time_to_reach(need + reserved, now_ms) {
                Some(t) => at = at.max(t),
                None => after_in_flight = true,
            }
        }
        match () {
            _ if after_in_flight => Admission::AfterInFlight,
            _ if at <= now_ms => Admission::Now,
            _ => Admission::At(at),
        }
    }

    /// Hold `cost` for the call dispatched as `sequence`.
    pub fn reserve(&mut self, sequence: u64, cost: Cost) {
        self.reserved.add(&cost);
        self.uncounted.insert(sequence, cost);
    }

    /// A response arrived for the call dispatched as `sequence`.
    ///
    /// With rate-limit dimensions in `observation`, and unless a newer
    /// response was already applied, the reported levels replace ours and
    /// every reservation up to and including `sequence` is dropped (the
    /// server has counted those calls). Without them, the call's own
    /// reservation is charged to the buckets as local consumption.
    pub fn reconcile(&mut self, sequence: u64, observation: Option<&Observation>, now_ms: f64, default_window_ms: f64) {
        let fresh = self.newest_applied.map_or(true, |newest| sequence >= newest);
        match observation.filter(|o| !o.dimensions.is_empty()) {
            Some(observation) if fresh => {
                self.apply(observation, now_ms, default_window_ms);
                self.newest_applied = Some(sequence);
                let newer = self.uncounted.split_off(&(sequence + 1));
                for cost in std::mem::replace(&mut self.uncounted, newer).values() {
                    self.reserved.subtract(cost);
                }
            }
            // A stale response: a newer one already covered this call.
            Some(_) => {
                self.drop_reservation(sequence);
            }
            None => {
                if let Some(cost) = self.drop_reservation(sequence) {
                    for (name, bucket) in self.buckets.iter_mut() {
                        bucket.take(cost.for_dimension(name), now_ms);
                    }
                }
            }
        }
    }

    /// The call dispatched as `sequence` never reached the server (it was
    /// cancelled before sending, or the connection failed): give back its
    /// reservation without charging anything.
    pub fn release(&mut self, sequence: u64) {
        self.drop_reservation(sequence);
    }

    /// Apply headers seen outside a dispatched call (`Throttler.observe`):
    /// they are as new as anything, so they cover every call in flight.
    pub fn observe(&mut self, observation: &Observation, latest_sequence: Option<u64>, now_ms: f64, default_window_ms: f64) {
        match latest_sequence {
            Some(sequence) => self.reconcile(sequence, Some(observation), now_ms, default_window_ms),
            None => self.apply(observation, now_ms, default_window_ms),
        }
    }

    fn apply(&mut self, observation: &Observation, now_ms: f64, default_window_ms: f64) {
        for dim in &observation.dimensions {
            let previous = self.buckets.get(&dim.name);
            if let Some(bucket) = Bucket::from_observation(dim, previous, now_ms, default_window_ms) {
                self.buckets.insert(dim.name.clone(), bucket);
            }
        }
    }

    fn drop_reservation(&mut self, sequence: u64) -> Option<Cost> {
        let cost = self.uncounted.remove(&sequence)?;
        self.reserved.subtract(&cost);
        Some(cost)
    }

    /// The earliest reset among dimensions that are exhausted at `now_ms`.
    pub fn exhausted_reset(&self, now_ms: f64) -> Option<f64> {
        self.buckets
            .iter()
            .filter(|(name, b)| b.level_at(now_ms) - self.reserved.for_dimension(name) < 1.0)
            .filter_map(|(_, b)| b.reset_at(now_ms))
            .filter(|t| *t > now_ms)
            .reduce(f64::min)
    }

    /// Plain views of every bucket, remaining net of reservations.
    pub fn views(&self, now_ms: f64) -> Vec<BucketView> {
        self.buckets.iter().map(|(name, b)| b.view(name, self.reserved.for_dimension(name), now_ms)).collect()
    }
}
