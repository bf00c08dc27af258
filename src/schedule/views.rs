//! The scheduler as plain data: what a poll decided, the running totals,
//! a snapshot for people, and what a restarted coordinator carries on from.

use super::{Refusal, Scheduler, Ticket};
use crate::budget::{Bucket, BucketView, Budget, SavedBucket};
use crate::float::clamp;
use serde::Serialize;

/// What one [`Scheduler::poll`] decided.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Poll {
    /// Calls that go now; their cost is reserved.
    pub granted: Vec<Ticket>,
    /// Calls that can never go; they have left the queue.
    pub refused: Vec<(Ticket, Refusal)>,
}

/// Running totals since the scheduler was made.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Counters {
    /// Calls sent: granted, less those cancelled before they went out.
    pub dispatched: u64,
    pub completed: u64,
    pub rate_limited: u64,
    pub refused: u64,
    pub cancelled: u64,
    /// Calls the JS layer sent again after a retryable answer ([`Scheduler::note_retry`]).
    pub retried: u64,
    /// 503 and 529 answers (overload), each lowering its partition's concurrency.
    pub overloaded: u64,
    /// Calls dispatched past a head that had to wait (backfill).
    pub backfilled: u64,
    /// Sum over dispatched calls of the time from enqueue to dispatch.
    pub total_wait_ms: f64,
}

/// A partition as plain data.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PartitionView {
    pub key: String,
    pub queued: usize,
    pub in_flight: u32,
    /// Calls this partition may have in flight now: `maxConcurrent` until an
    /// overload halves it, then growing back by one per round of successes.
    pub max_in_flight: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub paused_until_ms: Option<f64>,
    /// Input tokens the server charges per token estimated, as learnt
    /// from answers (1 until one says otherwise).
    pub input_scale: f64,
    pub dimensions: Vec<BucketView>,
}

/// The whole scheduler as plain data.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Snapshot {
    pub queued: usize,
    pub in_flight: u32,
    pub partitions: Vec<PartitionView>,
    pub counters: Counters,
}

/// What a partition knows, saved so that a scheduler made afresh (a
/// coordinator evicted and restarted) can carry on from it.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SavedPartition {
    pub key: String,
    /// Each bucket with its dimension's name, in the order of the names.
    pub buckets: Vec<SavedDimension>,
    pub answered: bool,
    pub paused_until_ms: Option<f64>,
    pub window: f64,
}

/// One bucket of a [`SavedPartition`], as [`Bucket::saved`], with the name
/// of its dimension.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SavedDimension {
    pub name: String,
    pub bucket: SavedBucket,
}

impl Scheduler {
    pub fn snapshot(&self, now_ms: f64) -> Snapshot {
        let partitions = self
            .partitions
            .iter()
            .map(|(key, p)| PartitionView {
                key: key.to_string(),
                queued: p.waiting,
                in_flight: p.in_flight,
                max_in_flight: p.max_in_flight().min(self.config.max_concurrent),
                paused_until_ms: (p.paused_until > now_ms).then_some(p.paused_until),
                input_scale: p.input_scale,
                dimensions: p.budget.views(now_ms),
            })
            .collect();
        Snapshot { queued: self.queued(), in_flight: self.in_flight, partitions, counters: self.counters.clone() }
    }

    /// What every partition knows (not its calls), to save.
    pub fn save(&self, now_ms: f64) -> Vec<SavedPartition> {
        self.partitions
            .iter()
            .map(|(key, p)| SavedPartition {
                key: key.to_string(),
                buckets: p.budget.buckets().map(|(name, b)| SavedDimension { name: name.clone(), bucket: b.saved() }).collect(),
                answered: p.answered,
                paused_until_ms: (p.paused_until > now_ms).then_some(p.paused_until),
                window: p.window,
            })
            .collect()
    }

    /// Take back what [`Scheduler::save`] saved, before any call is queued.
    pub fn restore(&mut self, saved: Vec<SavedPartition>, now_ms: f64) {
        let cap = f64::from(self.config.max_concurrent.max(1));
        for s in saved {
            let p = self.partition_mut(&s.key, now_ms);
            // A bucket whose numbers are not sane is dropped: its dimension
            // is learned again from the next answer.
            p.budget = Budget::from_buckets(s.buckets.into_iter().filter_map(|d| Some((d.name, Bucket::restore(&d.bucket)?))));
            p.answered = s.answered;
            p.paused_until = s.paused_until_ms.filter(|t| t.is_finite()).unwrap_or(f64::NEG_INFINITY);
            p.window = if s.window.is_finite() { clamp(s.window, 1.0, cap) } else { cap };
        }
    }
}
